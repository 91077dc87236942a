# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Booking online in Chromium: the whole path with the code by SMS (the
local gateway), axe-core on every page in Dutch and French, and a frame on
a foreign origin refused."""
import http.server
import re
import threading

from trytond.pool import Pool

from digitale_balie import routes_booking
from digitale_balie.tests.browser import BrowserTestCase
from digitale_balie.tests.sms_server import FakeSMSGateway


class BookingBrowserTestCase(BrowserTestCase):
    "Test booking online in Chromium"

    def setUp(self):
        super().setUp()
        routes_booking.reset_limits()
        self.addCleanup(routes_booking.reset_limits)
        self.gateway = FakeSMSGateway()
        self.gateway.start()
        self.addCleanup(self.gateway.close)

    def online(self):
        _, _, service = self.setup_balie(sms_url=self.gateway.url,
            sms_api_key='test-key', sms_api_secret='test-secret',
            sms_sender='Voorbeeld')
        with self.transaction():
            Service = Pool().get('balie.service')
            record = Service(service)
            record.online_booking = True
            record.code = 'MZP%d' % service
            record.save()
            return record.code

    def test_book_online_by_sms(self):
        "Test the whole online booking in nl and fr, axe on every page"
        code = self.online()
        for language, locale, name, mobile in [
                ('nl', 'nl-BE', "Maria Peeters", '0470 12 34 56'),
                ('fr', 'fr-BE', "Claire Dubois", '0470 65 43 21')]:
            with self.subTest(language=language):
                page = self.new_page(360, locale=locale)
                page.goto(self.url('/boeken'))
                self.assertEqual(
                    page.locator('html').get_attribute('lang'), language)
                self.check_axe(page, 'book-services-%s' % language)
                page.locator('a[href="/boeken/%s"]' % code).click()
                page.wait_for_url(self.url('/boeken/%s' % code))
                self.screenshot(page, 'book-service-%s' % language)
                self.check_axe(page, 'book-service-%s' % language)

                # send without anything: clear errors, nothing lost
                page.locator('button[type=submit]').click()
                page.wait_for_selector('p.error[role=alert]')
                self.check_axe(page, 'book-errors-%s' % language)

                page.locator('input[name=slot]').first.check()
                page.locator('#name').fill(name)
                page.locator('#mobile').fill(mobile)
                page.locator('input[name=code_channel][value=sms]').check()
                page.locator('input[name=consent]').check()
                page.locator('button[type=submit]').click()
                page.wait_for_selector('#code')
                self.check_axe(page, 'book-code-%s' % language)
                text = self.gateway.messages[-1]['text']
                sms_code = re.search(r'\b(\d{6})\b', text).group(1)
                page.locator('#code').fill(sms_code)
                page.locator('button[type=submit]').click()
                page.wait_for_selector('a[target=_top]')
                self.screenshot(page, 'book-done-%s' % language)
                self.check_axe(page, 'book-done-%s' % language)
                page.locator('a[target=_top]').click()
                page.wait_for_url(self.url('/balie'))
                self.assertIn(name.split()[0],
                    page.get_by_role('heading', level=1).inner_text())
                self.assertNoPageErrors(page)
        with self.transaction():
            Appointment = Pool().get('balie.appointment')
            origins = [a.origin for a in Appointment.search([])]
            self.assertEqual(origins, ['portal', 'portal'])

    def test_frame_on_a_foreign_origin_is_refused(self):
        "Test that only the configured website shows the pages in a frame"
        code = self.online()
        website = Website(self.url('/boeken/%s' % code))
        self.addCleanup(website.close)
        page = self.new_page(1280)
        # not configured: no website may frame the booking pages
        page.goto(website.url)
        page.wait_for_timeout(1000)
        self.assertNotIn('Mantelzorgpremie', framed_text(page))
        self.configure(booking_embed_origins=website.origin)
        page.goto(website.url)
        page.wait_for_timeout(1000)
        self.assertIn('Mantelzorgpremie', framed_text(page))
        # another origin stays refused
        self.configure(booking_embed_origins='https://www.voorbeeld.be')
        page.goto(website.url)
        page.wait_for_timeout(1000)
        self.assertNotIn('Mantelzorgpremie', framed_text(page))


class Website:
    "A municipality's web page that frames a booking page (another origin)."

    def __init__(self, src):
        html = ('<!DOCTYPE html><html lang="nl"><title>Gemeente</title>'
            '<iframe src="%s" title="Afspraak"></iframe></html>' % src
            ).encode('utf-8')

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header('Content-Type', 'text/html; charset=utf-8')
                self.end_headers()
                self.wfile.write(html)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(('127.0.0.1', 0),
            Handler)
        self.origin = 'http://127.0.0.1:%s' % self.server.server_port
        self.url = self.origin + '/afspraak'
        threading.Thread(target=self.server.serve_forever,
            daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def framed_text(page):
    "The text of the page's frame, or '' when the browser refused it."
    for frame in page.frames[1:]:
        try:
            return frame.evaluate(
                '() => document.body ? document.body.innerText : ""')
        except Exception:
            return ''
    return ''
