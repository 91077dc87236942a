# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The video pages in headless Chromium with a fake camera and microphone:
the device check, the waiting room with its delay banner, the embedded
meeting (Jitsi's external_api.js replaced by a stand-in served at the
configured domain), the page after the call, and axe-core on every page of
the portal in Dutch and French at phone and desktop width."""
import datetime as dt
import time

import jwt

from trytond import config
from trytond.pool import Pool

from digitale_balie.tests.browser import WIDTHS, BrowserTestCase
from digitale_balie.tests.tools import START

DOMAIN = 'meet.voorbeeld.test'
SECRET = 'jitsi-browser-secret-0123456789abcdef'

# What the page calls of Jitsi's IFrame API, recorded for the test
STAND_IN = """
window.JitsiMeetExternalAPI = function (domain, options) {
    var listeners = {};
    var frame = document.createElement('iframe');
    frame.title = 'Jitsi Meet';
    frame.src = 'about:blank';
    options.parentNode.appendChild(frame);
    var copy = JSON.parse(JSON.stringify(Object.assign({}, options,
        {parentNode: null})));
    window.jitsiStandIn = {domain: domain, options: copy,
        listeners: listeners};
    this.addListener = function (name, callback) {
        listeners[name] = callback;
    };
    window.jitsiStandIn.fire = function (name) { listeners[name]({}); };
};
"""


class VideoBrowserTestCase(BrowserTestCase):
    "Test the video pages in Chromium"
    modules = ['balie_video']

    def setUp(self):
        super().setUp()
        if not config.has_section('balie_video'):
            config.add_section('balie_video')
        self.addCleanup(config.set, 'balie_video', 'poll_seconds',
            config.get('balie_video', 'poll_seconds', default=None) or '10')
        config.set('balie_video', 'poll_seconds', '1')

    def video(self, language='nl', name="Maria Janssens", start=START):
        if not getattr(self, 'service', None):
            _, _, self.service = self.setup_balie(call_backend='jitsi',
                jitsi_domain=DOMAIN, jitsi_app_id='balie',
                jitsi_secret=SECRET)
        return self.book(self.service, start=start, language=language,
            name=name, notify_by='email')

    def record(self, appointment, *names):
        with self.transaction():
            record = Pool().get('balie.appointment')(appointment)
            return {n: getattr(record, n) for n in names}

    def test_device_check(self):
        "Test the camera check with fake devices; the clerk sees it"
        appointment = self.video()
        page = self.new_page(360)
        self.open_personal_link(page, appointment)
        page.get_by_role('link', name='Test camera en micro').click()
        page.wait_for_url(self.url('/balie/test'))
        self.check_axe(page, 'device-start-nl')
        page.get_by_role('button', name='Start de test').click()
        page.wait_for_function(
            "() => document.getElementById('preview').videoWidth > 0")
        page.wait_for_selector('#camera-state.ok')
        page.wait_for_function(
            "() => document.getElementById('meter').value > 0")
        self.screenshot(page, 'device-running-nl')
        self.check_axe(page, 'device-running-nl')
        page.get_by_role('button', name='Ja, het werkt').click()
        page.wait_for_function("() => document.getElementById('device-check')"
            ".dataset.result === 'passed'")
        self.assertIn('Uw camera en micro werken',
            page.locator('#check-result').inner_text())
        self.assertEqual(self.record(appointment, 'device_tested'),
            {'device_tested': 'passed'})
        with self.transaction():
            check, = Pool().get('balie.appointment')(
                appointment).device_checks
            self.assertEqual(check.browser.split(' on ')[0], 'Chrome')
            self.assertTrue(check.camera and check.microphone)
        page.goto(self.url('/balie'))
        self.assertIn('Uw camera en micro werken',
            page.locator('main').inner_text())
        self.assertNoPageErrors(page)

    def test_refused_camera_is_explained(self):
        "Test that a refused camera gives guidance and is recorded"
        appointment = self.video(language='fr', name="Claire Dubois")
        page = self.new_page(1280, locale='fr-BE', permissions=[])
        self.open_personal_link(page, appointment)
        page.goto(self.url('/balie/test'))
        # the citizen answers the browser's question with "block"
        page.evaluate("""() => {
            navigator.mediaDevices.getUserMedia = () => Promise.reject(
                new DOMException('denied', 'NotAllowedError'));
        }""")
        page.get_by_role('button', name='Commencer le test').click()
        page.wait_for_function("() => document.getElementById('check-result')"
            ".textContent.length > 0")
        self.assertIn("Vous n'avez pas autorisé",
            page.locator('#check-result').inner_text())
        page.wait_for_function("() => document.getElementById('device-check')"
            ".dataset.result === 'failed'")
        with self.transaction():
            check, = Pool().get('balie.appointment')(
                appointment).device_checks
            self.assertEqual((check.result, check.problem),
                ('failed', 'denied'))
        page.get_by_text("J'ai touché « Bloquer » par erreur").click()
        self.assertTrue(page.get_by_text('Suivez les étapes').is_visible())

    def test_waiting_room_delay_and_call(self):
        "Test the waiting room: presence, delay banner, embed, after call"
        appointment = self.video()
        self.clock.now = START - dt.timedelta(minutes=5)
        page = self.new_page(360)
        page.route('https://%s/external_api.js' % DOMAIN,
            lambda route: route.fulfill(status=200, body=STAND_IN,
                content_type='text/javascript'))
        self.open_personal_link(page, appointment)
        page.get_by_role('link', name='Naar de wachtkamer').click()
        page.wait_for_url(self.url('/balie/wachtkamer'))
        self.assertIn('Uw medewerker komt zo bij u',
            page.locator('main').inner_text())
        page.wait_for_function(
            "() => document.getElementById('self-view').videoWidth > 0")
        self.wait_for(lambda: self.record(appointment, 'citizen_waiting')[
                'citizen_waiting'])
        self.screenshot(page, 'waiting-nl')
        self.check_axe(page, 'waiting-nl')

        with self.transaction():
            Appointment = Pool().get('balie.appointment')
            Appointment.write([Appointment(appointment)],
                {'delay_minutes': 10})
        banner = page.locator('#delay-banner')
        banner.wait_for(state='visible')
        self.assertIn('10 minuten', banner.inner_text())
        self.assertEqual(banner.get_attribute('role'), 'status')
        self.screenshot(page, 'waiting-delay-nl')

        self.clock.now = START + dt.timedelta(minutes=10)
        with self.transaction():
            Appointment = Pool().get('balie.appointment')
            Appointment.start_call([Appointment(appointment)])
            room = Appointment(appointment).video_room
            room_name = room.name
        page.wait_for_function('() => window.jitsiStandIn !== undefined')
        stand_in = page.evaluate('window.jitsiStandIn')
        self.assertEqual(stand_in['domain'], DOMAIN)
        options = stand_in['options']
        self.assertEqual(options['roomName'], room_name)
        self.assertEqual(options['userInfo']['displayName'], "Maria Janssens")
        self.assertEqual(options['lang'], 'nl')
        overwrite = options['configOverwrite']
        self.assertTrue(overwrite['disableDeepLinking'])
        self.assertEqual(overwrite['toolbarButtons'],
            ['microphone', 'camera', 'desktop', 'chat', 'hangup'])
        claims = jwt.decode(options['jwt'], SECRET, algorithms=['HS256'],
            audience='jitsi', options={'verify_exp': False,
                'verify_nbf': False})
        self.assertEqual(claims['room'], room_name)
        self.assertEqual(claims['context']['user']['affiliation'], 'member')
        self.assertTrue(page.locator('#meeting iframe').is_visible())
        self.assertNoPageErrors(page)

        # the clerk ends the call; the citizen hangs up and reads what next
        with self.transaction():
            pool = Pool()
            Room = pool.get('balie.video.room')
            Room.close([Room(room.id)],
                next_steps="U krijgt binnen 2 weken een brief.")
        page.evaluate("window.jitsiStandIn.fire('readyToClose')")
        page.wait_for_url(self.url('/balie/einde'))
        self.assertIn('U krijgt binnen 2 weken een brief.',
            page.locator('main').inner_text())
        self.check_axe(page, 'after-nl')

    def wait_for(self, condition, seconds=10):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.2)
        self.fail('condition not met in %s s' % seconds)

    def test_every_page_is_accessible(self):
        "Test every portal page with axe in nl and fr, phone and desktop"
        pages = ['/balie', '/balie/uitleg', '/balie/test', '/balie/oefenen',
            '/balie/wachtkamer', '/balie/verzetten', '/balie/annuleren',
            '/balie/einde']
        for language, name in [('nl', "Maria Janssens"),
                ('fr', "Claire Dubois")]:
            appointment = self.video(language=language, name=name,
                start=START if language == 'nl'
                else START + dt.timedelta(hours=1))
            self.clock.now = START - dt.timedelta(minutes=10)
            for width in WIDTHS:
                page = self.new_page(width,
                    locale='fr-BE' if language == 'fr' else 'nl-BE')
                self.open_personal_link(page, appointment)
                for path in pages:
                    with self.subTest(language=language, width=width,
                            path=path):
                        self.check_page(page, path, language, '%s-%s' % (
                                path.strip('/').replace('/', '-'), language))
                page.close()

    def test_practice_room(self):
        "Test the practice waiting room: own camera, the clerk 'joins'"
        appointment = self.video()
        page = self.new_page(1280)
        self.open_personal_link(page, appointment)
        page.get_by_role('link', name='Probeer het eens').click()
        page.wait_for_url(self.url('/balie/oefenen'))
        self.assertIn('Dit is een oefening',
            page.locator('main').inner_text())
        page.wait_for_function(
            "() => document.getElementById('self-view').videoWidth > 0")
        banner = page.locator('#delay-banner')
        banner.wait_for(state='visible', timeout=8000)
        self.assertIn('uw medewerker', banner.inner_text())
        self.assertFalse(self.record(appointment, 'citizen_waiting')[
                'citizen_waiting'])
        self.assertNoPageErrors(page)
