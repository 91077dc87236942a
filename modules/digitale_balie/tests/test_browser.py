# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The citizen portal in a real browser: headless Chromium, axe-core and
screenshots at phone and desktop width (see browser.py)."""
from digitale_balie.tests.browser import WIDTHS, BrowserTestCase

COOKIE = '__Host-balie'
UNKNOWN = 'abcd-efgh-jkmn-pqrs-tvwx-yz01-2345'


class PortalBrowserTestCase(BrowserTestCase):
    "Test the citizen portal in Chromium"

    def assertPersonalPage(self, page, response, raw, first_name, language):
        "The link became a session cookie, a clean address and the page."
        self.assertEqual(response.status, 200)
        self.assertEqual(page.url, self.url('/balie'))
        self.assertNotIn(raw, page.url)
        # the link answered with a redirect, the token is gone
        link = response.request.redirected_from
        self.assertIsNotNone(link)
        self.assertIn('/a/', link.url)
        self.assertEqual(link.response().status, 303)
        self.assertEqual(page.evaluate('location.href'), self.url('/balie'))

        self.assertIn(first_name,
            page.get_by_role('heading', level=1).first.inner_text())
        self.assertEqual(
            page.locator('html').get_attribute('lang'), language)

        # the cookie stuck, and scripts cannot read it
        cookies = {c['name']: c for c in page.context.cookies()}
        self.assertIn(COOKIE, cookies)
        self.assertTrue(cookies[COOKIE]['httpOnly'])
        self.assertTrue(cookies[COOKIE]['secure'])
        self.assertEqual(cookies[COOKIE]['path'], '/')
        self.assertNotIn(raw, cookies[COOKIE]['value'])
        self.assertNotIn(COOKIE, page.evaluate('document.cookie'))
        self.assertTrue(page.evaluate('window.isSecureContext'))

        # the page survives a reload: the browser sends the cookie back
        self.assertEqual(page.reload().status, 200)
        self.assertIn(first_name,
            page.get_by_role('heading', level=1).first.inner_text())

    def check_personal_page(self, language, name):
        _, _, service = self.setup_balie()
        appointment = self.book(service, language=language, name=name)
        first_name = name.split()[0]
        for width in WIDTHS:
            with self.subTest(width=width):
                page = self.new_page(width)
                raw, response = self.open_personal_link(page, appointment)
                self.assertPersonalPage(
                    page, response, raw, first_name, language)
                self.screenshot(page, 'personal-%s' % language)
                self.check_axe(page, 'personal-%s' % language)
                self.assertNoPageErrors(page)

    def test_personal_page_nl(self):
        "Test the personal link in Dutch: cookie, clean address, axe"
        self.check_personal_page('nl', "Maria Janssens")

    def test_personal_page_fr(self):
        "Test the personal link in French: cookie, clean address, axe"
        self.check_personal_page('fr', "Claire Dubois")

    def test_bad_link(self):
        "Test that a bad link shows the 404 page, in nl and fr, axe-clean"
        self.setup_balie()
        for language in ['nl', 'fr']:
            # without a session the page speaks the browser's language or
            # the municipality's default: both are this language
            self.configure(default_language=language)
            for width in WIDTHS:
                with self.subTest(language=language, width=width):
                    page = self.new_page(width, locale='%s-BE' % language)
                    response = page.goto(self.url('/a/%s' % UNKNOWN))
                    self.assertEqual(response.status, 404)
                    self.assertEqual(page.url, self.url('/a/%s' % UNKNOWN))
                    self.assertEqual(page.context.cookies(), [])
                    self.assertEqual(
                        page.locator('html').get_attribute('lang'), language)
                    self.assertTrue(page.get_by_role(
                            'heading', level=1).first.inner_text().strip())
                    self.screenshot(page, 'not-found-%s' % language)
                    self.check_axe(page, 'not-found-%s' % language)
                    self.assertNoPageErrors(page)

                    # without a session the personal page is the same 404
                    self.assertEqual(
                        page.goto(self.url('/balie')).status, 404)

    def test_axe_finds_violations(self):
        "Test that check_axe fails on a page with serious violations"
        page = self.new_page(1280)
        page.route(self.url('/broken'), lambda route: route.fulfill(
                content_type='text/html',
                body='<!DOCTYPE html><html><title>Broken</title>'
                '<img src="data:,"><button></button></html>'))
        page.goto(self.url('/broken'))
        with self.assertRaises(AssertionError) as context:
            self.check_axe(page, 'axe-self-test')
        message = str(context.exception)
        for rule in ['html-has-lang', 'image-alt', 'button-name']:
            self.assertIn(rule, message)

    def test_fake_camera_and_microphone(self):
        "Test that pages of the portal's origin get the fake camera and mic"
        # a page of our own at the portal's origin: the portal's pages may
        # forbid the camera (Permissions-Policy), the browser must not
        page = self.new_page(360)
        page.route(self.url('/camera-test'), lambda route: route.fulfill(
                content_type='text/html',
                body='<!DOCTYPE html><html lang="en"><title>Camera</title>'
                '<h1>Camera</h1></html>'))
        page.goto(self.url('/camera-test'))
        self.assertTrue(page.evaluate('window.isSecureContext'))
        devices = page.evaluate("""async () => {
            const stream = await navigator.mediaDevices.getUserMedia(
                {video: true, audio: true});
            const tracks = stream.getTracks();
            const video = stream.getVideoTracks()[0].getSettings();
            tracks.forEach(t => t.stop());
            return {kinds: tracks.map(t => t.kind).sort(),
                width: video.width, height: video.height};
        }""")
        self.assertEqual(devices['kinds'], ['audio', 'video'])
        self.assertGreater(devices['width'], 0)
        self.assertGreater(devices['height'], 0)
