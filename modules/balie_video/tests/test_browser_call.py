# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The built-in call in two headless Chromium contexts (citizen: phone,
clerk: desktop) with fake cameras and microphones, over loopback only:
media both ways (RTCPeerConnection.getStats), the clerk's shared screen
on the citizen's phone, a reload of the citizen's page in the middle of
the call, and the end of the call with the next steps and the survey.

Loopback: the test's Chromium runs in a network namespace of its own whose
only interface is lo (digitale_balie/tests/netns.py), so it has no other
address to gather candidates on nor a route to anywhere else; the test
server is reached through a forwarder from 127.0.0.1:<port> in there to
127.0.0.1:<port> outside.  Chromium gathers 127.0.0.1 candidates only with
--allow-loopback-in-peer-connection, and the server's
[balie_video] call_loopback_only makes both pages drop every other
candidate (data attribute / "loopback" in the status answer).  The test
asserts that every local and remote candidate in getStats is in
127.0.0.0/8.

The figures (click to first frame, signalling requests, server CPU) are
printed, not asserted: see bench/call.py for the method."""
import datetime as dt
import ipaddress
import resource
import sys
import tempfile
import time
import unittest

from trytond import config
from trytond.pool import Pool
from trytond.transaction import Transaction

from digitale_balie.tests import browser as browser_module
from digitale_balie.tests.browser import BrowserTestCase
from digitale_balie.tests.netns import (
    LoopbackNamespace, NamespaceUnavailable)
from digitale_balie.tests.tools import START

LOOPBACK = ipaddress.ip_network('127.0.0.0/8')
MEDIA_SECONDS = 15
EXTRA_ARGS = [
    '--allow-loopback-in-peer-connection',  # 127.0.0.1 ICE candidates
    '--autoplay-policy=no-user-gesture-required',
    ]
# the inbound media of the page's RTCPeerConnection, every candidate and
# candidate pair it knows, and the pair in use: [type, address]
STATS = """async () => {
    const call = window.balieCall;
    const pc = call && call.pc();
    if (!pc) { return null; }
    const report = await pc.getStats();
    const out = {video: 0, audio: 0, width: 0, height: 0,
        state: pc.iceConnectionState, local: null, remote: null,
        candidates: [], own: [], pairs: [], gets: call.counters.gets, posts: call.counters.posts};
    const byId = {};
    report.forEach(s => { byId[s.id] = s; });
    report.forEach(s => {
        if (s.type === 'inbound-rtp' && s.kind === 'video') {
            out.video += s.framesDecoded || 0;
            out.width = s.frameWidth || out.width;
            out.height = s.frameHeight || out.height;
        }
        if (s.type === 'inbound-rtp' && s.kind === 'audio') {
            out.audio += s.packetsReceived || 0;
        }
        if (s.type === 'remote-candidate') {
            out.candidates.push([s.candidateType, s.address || s.ip || null]);
        }
        if (s.type === 'local-candidate') {
            out.own.push([s.candidateType, s.address || s.ip || null]);
        }
        if (s.type === 'transport' && s.selectedCandidatePairId) {
            const pair = byId[s.selectedCandidatePairId];
            if (pair) {
                const l = byId[pair.localCandidateId];
                const r = byId[pair.remoteCandidateId];
                out.local = l && [l.candidateType, l.address || l.ip];
                out.remote = r && [r.candidateType, r.address || r.ip];
            }
        }
        if (s.type === 'candidate-pair') {
            const l = byId[s.localCandidateId];
            const r = byId[s.remoteCandidateId];
            out.pairs.push([l ? l.address || l.ip || null : null,
                r ? r.address || r.ip || null : null, s.state]);
        }
    });
    return out;
}"""


def cpu_seconds():
    "CPU time of this process (the server's threads run in it)."
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# the fake camera is 640x480 and the fake screen 1280x720: the receiver
# tells them apart by their shape, which survives WebRTC scaling them down
CAMERA, SCREEN = 4 / 3, 16 / 9


def shaped(stats, aspect):
    return bool(stats['height']) and abs(
        stats['width'] / stats['height'] - aspect) < 0.02


class CallBrowserTestCase(BrowserTestCase):
    "Test the built-in call between two browsers"
    # balie_survey: its dialog follows the call
    modules = ['balie_video', 'balie_survey']

    @classmethod
    def start_browser(cls):
        from playwright.sync_api import sync_playwright
        # Chromium in a namespace with lo only; never without it
        try:
            cls.namespace = LoopbackNamespace()
        except NamespaceUnavailable as error:
            message = ('the call test needs a network namespace with '
                'loopback only for its Chromium: %s' % error)
            if browser_module.browser_required():
                raise RuntimeError(message + ' (BALIE_REQUIRE_BROWSER is set)')
            print('%s: skipped, %s' % (cls.__name__, message),
                file=sys.stderr)
            raise unittest.SkipTest(message)
        cls.addClassCleanup(cls.namespace.close)
        # the test server, same URL inside
        port = int(cls.base_url.rsplit(':', 1)[1])
        forwarder = cls.namespace.forward(port)
        cls.addClassCleanup(forwarder.close)
        directory = tempfile.TemporaryDirectory(prefix='balie-netns-')
        cls.addClassCleanup(directory.cleanup)
        chromium = cls.namespace.wrapper(browser_module.CHROMIUM,
            directory.name, 'chromium')
        cls.playwright = sync_playwright().start()
        cls.addClassCleanup(cls.playwright.stop)
        cls.browser = cls.playwright.chromium.launch(
            executable_path=chromium,
            args=browser_module.CHROMIUM_ARGS + EXTRA_ARGS, headless=True)
        cls.addClassCleanup(cls.browser.close)
        cls.axe_source = browser_module.AXE_JS.read_text(encoding='utf-8')

    def setUp(self):
        super().setUp()
        if not config.has_section('balie_video'):
            config.add_section('balie_video')
        for option, value in [('poll_seconds', '1'),
                ('call_loopback_only', 'True')]:
            self.addCleanup(config.set, 'balie_video', option,
                config.get('balie_video', option, default=None) or '')
            config.set('balie_video', option, value)

    def stats(self, page):
        return page.evaluate(STATS)

    def wait_for_media(self, page, seconds=MEDIA_SECONDS, since=None,
            aspect=None):
        """Wait until the page decodes video frames and receives audio
        packets (more than `since` had), of the `aspect` ratio if given;
        return the stats and the time."""
        started = time.monotonic()
        deadline = started + seconds
        stats = None
        while time.monotonic() < deadline:
            stats = self.stats(page)
            if (stats and stats['video'] > (since or {}).get('video', 0)
                    and stats['audio'] > (since or {}).get('audio', 0)
                    and (aspect is None or shaped(stats, aspect))):
                return stats, time.monotonic() - started
            time.sleep(0.1)
        self.fail('no media on %s within %s s: %s' % (
                page.url, seconds, stats))

    def assertLoopback(self, stats):
        """Media between the two pages over 127.0.0.0/8 only: every local
        and remote candidate the page knows, every candidate pair and the
        pair in use join addresses of 127.0.0.0/8 (host candidates: no
        server reflexive or relay ones, iceServers is empty)."""
        def loopback(address):
            return (address is not None
                and ipaddress.ip_address(address) in LOOPBACK)
        self.assertTrue(stats['own'] and stats['candidates']
            and stats['pairs'], stats)
        for name in ['own', 'candidates']:
            for kind, address in stats[name]:
                self.assertTrue(loopback(address),
                    '%s candidate %s %s' % (name, kind, address))
                self.assertEqual(kind, 'host', stats[name])
        for local, remote, state in stats['pairs']:
            self.assertTrue(loopback(local) and loopback(remote),
                'candidate pair %s -> %s (%s)' % (local, remote, state))
        for end in ['local', 'remote']:
            kind, address = stats[end]
            self.assertEqual(kind, 'host', end)
            self.assertTrue(loopback(address), '%s: %s' % (end, address))
        print('pair in use: %s -> %s; candidates %s / %s' % (
                stats['local'], stats['remote'], stats['own'],
                stats['candidates']), file=sys.stderr)

    @staticmethod
    def start_call(appointment):
        Appointment = Pool().get('balie.appointment')
        return Appointment.start_call([Appointment(appointment)])

    def test_call(self):
        "Test media both ways, screen sharing, a reload, the end of the call"
        _, _, service = self.setup_balie()
        appointment = self.book(service, start=START, notify_by='email')
        network = self.namespace.counters()
        self.clock.now = START - dt.timedelta(minutes=5)

        # the citizen checks the camera, then waits (phone)
        citizen = self.new_page(360)
        self.open_personal_link(citizen, appointment)
        citizen.goto(self.url('/balie/test'))
        citizen.get_by_role('button', name='Start de test').click()
        citizen.wait_for_selector('#camera-state.ok')
        citizen.wait_for_function(
            "() => document.getElementById('meter').value > 3")
        citizen.get_by_role('button', name='Ja, het werkt').click()
        citizen.wait_for_function("() => document.getElementById("
            "'device-check').dataset.result === 'passed'")
        self.assertIn('video', citizen.evaluate(
                "localStorage.getItem('balie.devices')"))
        citizen.goto(self.url('/balie/wachtkamer'))
        citizen.wait_for_function(
            "() => document.getElementById('self-view').videoWidth > 0")

        # the clerk presses Start Video Call: a new tab (desktop)
        cpu = cpu_seconds()
        clicked = time.monotonic()
        # as the clerk's button: started again if the citizen's page
        # creates the room at the same moment
        action = self.rpc(lambda: self.start_call(appointment))
        self.assertTrue(action['url'].startswith(
                self.url('/balie/gesprek/')))
        clerk = self.new_page(1280)
        clerk.goto(action['url'])
        self.assertEqual(clerk.url, self.url('/balie/gesprek'))
        citizen_stats, _ = self.wait_for_media(citizen)
        first_frame = time.monotonic() - clicked
        clerk_stats, _ = self.wait_for_media(clerk)
        # both ways, a while later: still flowing
        time.sleep(1)
        citizen_stats = self.wait_for_media(citizen, since=citizen_stats)[0]
        clerk_stats = self.wait_for_media(clerk, since=clerk_stats)[0]
        for stats in [citizen_stats, clerk_stats]:
            self.assertLoopback(stats)
            # the camera's 4:3 (640x480 unless WebRTC scaled it down on a
            # busy machine)
            self.assertTrue(shaped(stats, CAMERA), stats)
        self.assertTrue(citizen.locator('#builtin-call').is_visible())
        self.assertIn('verbonden', citizen.locator('#call-message')
            .inner_text())
        for name in ['Micro aan', 'Camera aan', 'Ophangen']:
            self.assertTrue(citizen.get_by_role('button', name=name)
                .is_visible())
        self.assertTrue(citizen.locator('.call-help').is_visible())
        # the clerk sees the citizen's readiness
        clerk.wait_for_function("() => document.getElementById("
            "'ready-connection').textContent === 'connected'")
        self.assertIn('passed', clerk.locator('#ready-device').inner_text())
        self.screenshot(citizen, 'call-citizen-nl')
        self.screenshot(clerk, 'call-clerk')
        self.check_axe(citizen, 'call-citizen-nl')
        self.check_axe(clerk, 'call-clerk')

        # the clerk shares the screen: the citizen's big picture is it
        clerk.locator('#call-share').click()
        shared = self.wait_for_media(citizen, since=citizen_stats,
            aspect=SCREEN)[0]
        self.assertTrue(shaped(shared, SCREEN), shared)
        citizen.wait_for_function(
            "() => { const v = document.getElementById('remote-video');"
            " return v.videoHeight && v.videoWidth * 9 === v.videoHeight"
            " * 16; }")
        later = self.wait_for_media(citizen, since=shared, aspect=SCREEN)[0]
        self.assertGreater(later['video'], shared['video'])
        citizen.wait_for_function("() => document.getElementById("
            "'builtin-call').classList.contains('screen')")
        self.assertIn('scherm van uw medewerker',
            citizen.locator('#call-message').inner_text())
        self.screenshot(citizen, 'call-citizen-screen-nl')

        # the citizen reloads: media again without the clerk doing anything
        reloaded = time.monotonic()
        citizen.reload()
        after_reload, _ = self.wait_for_media(citizen)
        self.wait_for_media(clerk, since={'video': 0, 'audio': 0})
        again = time.monotonic() - reloaded
        self.assertLess(again, MEDIA_SECONDS)
        # a new connection on the clerk's side too, the screen still shared
        self.wait_for_media(citizen, since=after_reload, aspect=SCREEN)
        clerk_after = self.wait_for_media(clerk)[0]
        self.assertLoopback(clerk_after)
        self.assertLoopback(self.stats(citizen))

        # the clerk ends the call (the End Call wizard): next steps, survey
        self.clock.now = START + dt.timedelta(minutes=20)
        with self.transaction():
            pool = Pool()
            EndCall = pool.get('balie.video.end_call', type='wizard')
            session_id, _, _ = EndCall.create()
            with Transaction().set_context(active_model='balie.appointment',
                    active_id=appointment, active_ids=[appointment]):
                EndCall.execute(session_id, {}, 'start')
                EndCall.execute(session_id, {'start': {
                            'next_steps': "U krijgt binnen 2 weken een "
                            "brief.", 'send_to_citizen': False,
                            'follow_up': False}}, 'close')
        citizen.wait_for_url(self.url('/balie/einde'), timeout=10_000)
        self.assertIn('U krijgt binnen 2 weken een brief.',
            citizen.locator('main').inner_text())
        dialog = citizen.get_by_role('dialog')
        dialog.wait_for(state='visible')
        citizen.wait_for_function("() => document.getElementById("
            "'survey-invite').matches(':modal')")
        clerk.wait_for_function("() => document.getElementById("
            "'clerk-call').classList.contains('ended')")
        self.check_axe(citizen, 'call-after-nl')
        self.screenshot(citizen, 'call-after-nl')
        counters = clerk.evaluate('window.balieCall.counters')
        used = cpu_seconds() - cpu
        with self.transaction():
            Signal = Pool().get('balie.video.signal')
            self.assertEqual(Signal.search_count(
                    [('appointment', '=', appointment)]), 0)
        self.assertNoPageErrors(clerk)
        network = {name: self.namespace.counters()[group][name]
            - network[group][name] for group, name in [
                ('Udp', 'OutDatagrams'), ('Ip', 'OutNoRoutes'),
                ('Ip6', 'Ip6OutNoRoutes')]}
        # no route: Chromium's connect() to the resolver of resolv.conf and
        # its default-route probes (8.8.8.8, 2001:4860:4860::8888) fail
        print('\nChromium\'s network namespace (lo only) during the call: '
            '%(OutDatagrams)d UDP datagrams sent (to 127.0.0.0/8, there is '
            'no other route), %(OutNoRoutes)d (IPv4) and %(Ip6OutNoRoutes)d '
            '(IPv6) attempts refused with no route' % network,
            file=sys.stderr)
        print('\nbuilt-in call: clerk click -> first decoded frame on the '
            'citizen\'s phone %.2f s; media again %.2f s after a reload; '
            'clerk page signalling requests %d GET + %d POST; server and '
            'test process CPU %.2f s for the whole call' % (
                first_frame, again, counters['gets'], counters['posts'],
                used), file=sys.stderr)

    def test_third_browser_cannot_join(self):
        "Test that another citizen's browser reads nothing of the call"
        _, _, service = self.setup_balie()
        maria = self.book(service, start=START, notify_by='email')
        jan = self.book(service, start=START + dt.timedelta(hours=1),
            name="Jan Peeters", notify_by='email')
        self.clock.now = START - dt.timedelta(minutes=5)
        # as the clerk's button: started again if the citizen's page
        # creates the room at the same moment
        action = self.rpc(lambda: self.start_call(maria))
        clerk = self.new_page(1280)
        clerk.goto(action['url'])
        other = self.new_page(360)
        self.open_personal_link(other, jan)
        answers = other.evaluate("""async () => {
            const get = await fetch('/balie/call/signals?after=0');
            const gesprek = await fetch('/balie/gesprek/signals?after=0');
            const page = await fetch('/balie/gesprek');
            return [get.status, gesprek.status, page.status];
        }""")
        self.assertEqual(answers, [404, 404, 404])
        # the used link in the third browser: the 404 page
        response = other.goto(action['url'])
        self.assertEqual(response.status, 404)
