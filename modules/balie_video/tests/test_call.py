# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The built-in call without a browser: the backend setting, TURN
credentials, the clerk's single-use link, and who may read and post the
call's signalling (werkzeug's client against trytond's WSGI app)."""
import base64
import datetime as dt
import hashlib
import hmac
import json
import re
import unittest
from urllib.parse import urlsplit

from werkzeug.test import Client

from trytond.pool import Pool
from trytond.tests.test_tryton import DB_NAME
from trytond.transaction import Transaction
from trytond.wsgi import app

from balie_video import turn
from balie_video.webrtc import CLERK_COOKIE, MAX_SIGNAL
from digitale_balie import web
from digitale_balie.tests.translations import load_translations
from digitale_balie.tests.tools import BASE, OutboxCase, START

OFFER = {'type': 'offer', 'sdp': 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n',
    'pc': 'abc'}


def data_of(html, name):
    match = re.search(r'data-%s="([^"]*)"' % name, html)
    return match.group(1) if match else None


class TurnTestCase(unittest.TestCase):
    "coturn's time-limited credentials"

    def test_credentials_as_coturn_checks_them(self):
        "Test user name = expiry:id, password = base64(HMAC-SHA1)"
        expires = dt.datetime(2026, 12, 8, 10, 30)
        username, credential = turn.credentials('north', 'citizen-7',
            expires)
        self.assertEqual(username, '1796725800:citizen-7')
        self.assertEqual(credential, base64.b64encode(hmac.new(
                    b'north', b'1796725800:citizen-7',
                    hashlib.sha1).digest()).decode())
        # the example of draft-uberti-behave-turn-rest / coturn's docs
        self.assertEqual(turn.credentials('north', 'mytestuser',
                1600000000)[1],
            base64.b64encode(hmac.new(b'north', b'1600000000:mytestuser',
                    hashlib.sha1).digest()).decode())

    def test_ice_servers(self):
        "Test STUN as is, TURN with credentials only when there is a secret"
        urls = turn.parse_urls('stun:turn.example:3478\n\n# comment\n'
            'turn:turn.example:3478?transport=udp\nturns:turn.example:5349')
        self.assertEqual(len(urls), 3)
        self.assertEqual(turn.ice_servers(urls), [
                {'urls': ['stun:turn.example:3478']}])
        servers = turn.ice_servers(urls, 's3cret', 'user-1', 1900000000)
        self.assertEqual(servers[1]['urls'], [
                'turn:turn.example:3478?transport=udp',
                'turns:turn.example:5349'])
        self.assertEqual(servers[1]['username'], '1900000000:user-1')
        self.assertEqual(turn.ice_servers([]), [])
        self.assertEqual(turn.invalid_urls(
                'stun:a.example\nhttp://b.example\nturn:c d'),
            ['http://b.example', 'turn:c d'])


class CallTestCase(OutboxCase):
    "The built-in call's signalling and the clerk's link"
    modules = ['balie_video']

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        with Transaction().start(DB_NAME, 0) as transaction:
            load_translations(['digitale_balie', 'balie_video'])
            transaction.commit()

    def setUp(self):
        super().setUp()
        self.portal_database()
        web.LINK_LIMITER.reset()
        web.FAILED_LINK_LIMITER.reset()

    def call(self, name="Maria Janssens", start=START, **configuration):
        "A municipality with the default backend and a video appointment."
        if not getattr(self, 'service', None):
            # the tests share a database: say everything
            configuration.setdefault('call_backend', 'builtin')
            configuration.setdefault('call_ice_servers', None)
            configuration.setdefault('turn_secret', None)
            self.company, self.employees, self.service = self.setup_balie(
                **configuration)
        return self.book(self.service, start, notify_by='email', name=name)

    def citizen(self, appointment, purpose='card'):
        "The citizen's browser in the waiting room: (client, csrf)."
        raw = self.link(appointment, purpose)
        client = Client(app)
        self.assertEqual(client.get('/a/%s' % raw, base_url=BASE)
            .status_code, 303)
        page = client.get('/balie/wachtkamer', base_url=BASE)
        self.assertEqual(page.status_code, 200)
        return client, data_of(page.get_data(as_text=True), 'csrf')

    def start_call(self, appointment):
        "The clerk presses Start Video Call: the link of the action."
        with self.transaction():
            Appointment = Pool().get('balie.appointment')
            action = Appointment.start_call([Appointment(appointment)])
        self.assertEqual(action['type'], 'ir.action.url')
        return action['url']

    def clerk(self, url):
        "The clerk's new tab: (client, {csrf, call-token})."
        client = Client(app)
        parts = urlsplit(url)
        response = client.get(parts.path, base_url=BASE)
        self.assertEqual(response.status_code, 303)
        self.assertEqual(response.headers['Location'], '/balie/gesprek')
        page = client.get('/balie/gesprek', base_url=BASE)
        self.assertEqual(page.status_code, 200)
        html = page.get_data(as_text=True)
        return client, {'X-CSRF-Token': data_of(html, 'csrf'),
            'X-Call-Token': data_of(html, 'call-token')}

    def post(self, client, path, headers, message=None, data=None):
        return client.post(path, base_url=BASE, headers=headers,
            data=data if data is not None else json.dumps(message),
            content_type='application/json')

    def read(self, client, path, after=0):
        response = client.get('%s?after=%s' % (path, after), base_url=BASE)
        return response.status_code, (json.loads(response.get_data())
            if response.is_json else None)

    def signal_count(self, appointment=None):
        with self.transaction():
            return Pool().get('balie.video.signal').search_count(
                [('appointment', '=', appointment)] if appointment else [])

    def test_builtin_is_the_default(self):
        "Test that a new configuration uses the built-in call"
        self.call()
        with self.transaction():
            Configuration = Pool().get('balie.configuration')
            self.assertEqual(Configuration.default_call_backend(),
                'builtin')
            config = Configuration(1)
            self.assertFalse(config.call_loopback_only)
            config.call_ice_servers = 'https://turn.example'
            with self.assertRaisesRegex(Exception, 'STUN'):
                config.save()

    def test_call_between_the_two_parties(self):
        "Test the clerk's link, the cookie, and messages both ways"
        appointment = self.call(
            call_ice_servers='stun:turn.voorbeeld.example:3478\n'
            'turn:turn.voorbeeld.example:3478',
            turn_secret='coturn-secret')
        self.clock.now = START - dt.timedelta(minutes=5)
        citizen, csrf = self.citizen(appointment)
        # before the clerk starts: no signalling
        self.assertEqual(self.read(citizen, '/balie/call/signals')[0], 404)

        url = self.start_call(appointment)
        raw = url.rsplit('/', 1)[1]
        self.assertTrue(url.startswith(BASE + '/balie/gesprek/'))
        self.assertGreaterEqual(len(raw), 43)  # 256 bits
        with self.transaction():
            CallAccess = Pool().get('balie.video.call.access')
            access, = CallAccess.search([('link_hash', '=',
                        hashlib.sha256(raw.encode()).hexdigest())])
            self.assertEqual(access.appointment.id, appointment)
            self.assertNotIn(raw, repr(CallAccess.read([access.id], [
                            'link_hash', 'session_hash'])))
        client = Client(app)
        response = client.get('/balie/gesprek/' + raw, base_url=BASE)
        self.assertEqual(response.status_code, 303)
        self.assertEqual(response.headers['Location'], '/balie/gesprek')
        cookie = response.headers['Set-Cookie']
        self.assertTrue(cookie.startswith(CLERK_COOKIE + '='))
        for attribute in ['Secure', 'HttpOnly', 'SameSite=Lax', 'Path=/']:
            self.assertIn(attribute, cookie)
        self.assertNotIn(raw, cookie)
        # single use: the same link again, in any browser, is the 404 page
        for other in [client, Client(app)]:
            self.assertEqual(other.get('/balie/gesprek/' + raw,
                    base_url=BASE).status_code, 404)
        page = client.get('/balie/gesprek', base_url=BASE)
        self.assertEqual(page.status_code, 200)
        html = page.get_data(as_text=True)
        # in the clerk's language (the test user's: English)
        self.assertIn('Video call with Maria Janssens', html)
        self.assertNotIn(raw, html)
        self.assertIn("script-src 'self'",
            page.headers['Content-Security-Policy'])
        ice = json.loads(data_of(html, 'ice-servers').replace(
                '&#34;', '"').replace('&quot;', '"'))
        self.assertEqual(ice[0], {'urls': [
                    'stun:turn.voorbeeld.example:3478']})
        username = ice[1]['username']
        self.assertTrue(username.endswith(':user-1'))
        self.assertEqual(ice[1]['credential'],
            turn.credentials('coturn-secret', 'user-1',
                int(username.split(':')[0]))[1])
        clerk = {'X-CSRF-Token': data_of(html, 'csrf'),
            'X-Call-Token': data_of(html, 'call-token')}

        # the waiting room learns how to join
        status = json.loads(citizen.post('/balie/status', base_url=BASE,
                headers={'X-CSRF-Token': csrf}).get_data())
        self.assertEqual(status['state'], 'open')
        call = status['call']
        self.assertEqual(call['backend'], 'builtin')
        self.assertEqual(call['signals'], '/balie/call/signals')
        self.assertTrue(call['iceServers'][1]['username'].endswith(
                ':citizen-%d' % appointment))
        self.assertEqual(int(call['iceServers'][1]['username'].split(':')[0]),
            turn.timestamp(START + dt.timedelta(minutes=60)))
        self.assertIs(call['loopback'], False)

        # the citizen says hello, the clerk reads it and offers
        status, data = self.read(citizen, '/balie/call/signals', -1)
        self.assertEqual((status, data['state'], data['messages']),
            (200, 'open', []))
        response = self.post(citizen, '/balie/call/signals',
            {'X-CSRF-Token': csrf}, {'kind': 'hello', 'payload': {
                    'peer': 'p1'}})
        self.assertEqual(response.status_code, 200, response.get_data())
        hello = json.loads(response.get_data())['seq']
        status, data = self.read(client, '/balie/gesprek/signals')
        self.assertEqual(status, 200)
        self.assertEqual(data['messages'], [{'seq': hello, 'kind': 'hello',
                    'payload': {'peer': 'p1'}}])
        self.assertEqual(data['cursor'], hello)
        response = self.post(client, '/balie/gesprek/signals', clerk,
            {'kind': 'offer', 'payload': OFFER})
        self.assertEqual(response.status_code, 200, response.get_data())
        # each side reads only the other's messages
        status, data = self.read(citizen, '/balie/call/signals', hello)
        self.assertEqual([m['kind'] for m in data['messages']], ['offer'])
        self.assertEqual(data['messages'][0]['payload'], OFFER)
        status, data = self.read(client, '/balie/gesprek/signals', hello)
        self.assertEqual(data['messages'], [])
        # the clerk's page asks for the citizen's readiness now and then
        response = client.get('/balie/gesprek/signals?after=0&status=1',
            base_url=BASE)
        citizen_state = json.loads(response.get_data())['citizen']
        self.assertEqual(citizen_state['device'], None)
        self.assertIs(citizen_state['waiting'], True)
        # the clerk's own token is needed for a post
        response = self.post(client, '/balie/gesprek/signals',
            {'X-CSRF-Token': clerk['X-CSRF-Token']},
            {'kind': 'hangup', 'payload': {}})
        self.assertEqual(response.status_code, 403)

        # the clerk ends the call: closed for both, messages deleted
        self.clock.now = START + dt.timedelta(minutes=20)
        with self.transaction():
            Room = Pool().get('balie.video.room')
            Room.close(Room.search([('appointment', '=', appointment)]),
                next_steps="U krijgt een brief.")
        self.assertEqual(self.signal_count(appointment), 0)
        status, data = self.read(citizen, '/balie/call/signals', hello)
        self.assertEqual((status, data['state'], data['next']),
            (200, 'closed', '/balie/einde'))
        status, data = self.read(client, '/balie/gesprek/signals', hello)
        self.assertEqual((status, data['state']), (200, 'closed'))
        response = self.post(citizen, '/balie/call/signals',
            {'X-CSRF-Token': csrf}, {'kind': 'hello', 'payload': {}})
        self.assertEqual(response.status_code, 409)
        self.assertEqual(self.signal_count(appointment), 0)
        # after the end of the call plus the margin: over for everybody
        self.clock.now = START + dt.timedelta(minutes=51)
        self.assertEqual(self.read(citizen, '/balie/call/signals')[0], 404)
        self.assertEqual(self.read(client, '/balie/gesprek/signals')[0],
            404)
        self.assertEqual(client.get('/balie/gesprek', base_url=BASE)
            .status_code, 404)

    def test_third_parties_get_404(self):
        "Test another citizen, no session, a preview, old and other links"
        maria = self.call()
        jan = self.call(name="Jan Peeters",
            start=START + dt.timedelta(hours=1))
        self.clock.now = START - dt.timedelta(minutes=5)
        citizen, csrf = self.citizen(maria)
        jan_client, jan_csrf = self.citizen(jan)
        preview, preview_csrf = self.citizen(maria, purpose='preview')
        url = self.start_call(maria)
        clerk, headers = self.clerk(url)
        self.post(citizen, '/balie/call/signals', {'X-CSRF-Token': csrf},
            {'kind': 'hello', 'payload': {'secret': 'maria-marker'}})
        # a link that came too late: expired after five minutes
        late = self.start_call(maria)
        # the clerk link of Jan's call opens Jan's call only
        self.clock.now = START + dt.timedelta(minutes=50)
        jan_clerk, jan_headers = self.clerk(self.start_call(jan))
        self.clock.now = START - dt.timedelta(minutes=4)
        before = self.signal_count()

        strangers = [
            (jan_client, {'X-CSRF-Token': jan_csrf}),
            (preview, {'X-CSRF-Token': preview_csrf}),
            (Client(app), {}),
            ]
        for client, strange in strangers:
            with self.subTest(client=strange):
                status, data = self.read(client, '/balie/call/signals')
                self.assertEqual(status, 404)
                self.assertNotIn('maria-marker', json.dumps(data))
                response = self.post(client, '/balie/call/signals', strange,
                    {'kind': 'hello', 'payload': {}})
                self.assertIn(response.status_code, {403, 404})
                self.assertEqual(self.read(client, '/balie/gesprek/signals')
                    [0], 404)
        # Jan's clerk cannot reach Maria's call (not open for Jan yet)
        self.assertEqual(self.read(jan_clerk, '/balie/gesprek/signals')[0],
            404)
        # the expired link
        self.clock.now = START + dt.timedelta(minutes=2)
        response = Client(app).get(urlsplit(late).path, base_url=BASE)
        self.assertEqual(response.status_code, 404)
        self.assertNotIn('Set-Cookie', response.headers)
        # an expired clerk cookie (session past the call's window)
        self.assertEqual(self.read(clerk, '/balie/gesprek/signals')[0], 200)
        self.clock.now = START + dt.timedelta(minutes=61)
        self.assertEqual(self.read(clerk, '/balie/gesprek/signals')[0], 404)
        self.assertEqual(self.post(clerk, '/balie/gesprek/signals', headers,
                {'kind': 'hello', 'payload': {}}).status_code, 404)
        # a made-up clerk cookie
        forged = Client(app)
        forged.set_cookie(CLERK_COOKIE, 'x' * 43, domain='localhost')
        self.assertEqual(self.read(forged, '/balie/gesprek/signals')[0], 404)
        self.assertEqual(self.signal_count(), before)

    def test_bad_messages_get_400(self):
        "Test oversized and malformed messages: 400, nothing stored"
        appointment = self.call()
        self.clock.now = START
        citizen, csrf = self.citizen(appointment)
        clerk, headers = self.clerk(self.start_call(appointment))
        before = self.signal_count()
        big = {'kind': 'offer', 'payload': {'type': 'offer',
                'sdp': 'a' * MAX_SIGNAL}}
        bad = [
            json.dumps(big),
            '{"kind": "hello"',
            '[1, 2]',
            '"hello"',
            json.dumps({'kind': 'launch', 'payload': {}}),
            json.dumps({'kind': 'hello', 'payload': [1]}),
            json.dumps({'kind': 'offer', 'payload': {'type': 'offer'}}),
            json.dumps({'kind': 'answer', 'payload': {'type': 'offer',
                        'sdp': 'v=0'}}),
            json.dumps({'kind': 'candidate', 'payload': {
                        'candidate': 'x'}}),
            '\xff\xfe',
            ]
        for client, path, who in [
                (citizen, '/balie/call/signals', {'X-CSRF-Token': csrf}),
                (clerk, '/balie/gesprek/signals', headers)]:
            for body in bad:
                with self.subTest(path=path, body=body[:40]):
                    response = self.post(client, path, who,
                        data=body.encode('utf-8', 'surrogateescape')
                        if isinstance(body, str) else body)
                    self.assertEqual(response.status_code, 400)
                    self.assertIn('error', json.loads(response.get_data()))
            # not JSON at all
            response = client.post(path, base_url=BASE, headers=who,
                data='kind=hello', content_type='text/plain')
            self.assertEqual(response.status_code, 400)
            for after in ['x', '-2', '1e3', str(2 ** 70)]:
                response = client.get('%s?after=%s' % (path, after),
                    base_url=BASE)
                self.assertEqual(response.status_code, 400, after)
        self.assertEqual(self.signal_count(), before)
        # just under the limit is fine
        response = self.post(citizen, '/balie/call/signals',
            {'X-CSRF-Token': csrf}, {'kind': 'answer', 'payload': {
                    'type': 'answer', 'sdp': 'a' * (MAX_SIGNAL - 100)}})
        self.assertEqual(response.status_code, 200)

    def test_retention_deletes_signals_and_links(self):
        "Test that old signalling and clerk links go with the call data"
        appointment = self.call()
        self.clock.now = START
        citizen, csrf = self.citizen(appointment)
        self.clerk(self.start_call(appointment))
        self.post(citizen, '/balie/call/signals', {'X-CSRF-Token': csrf},
            {'kind': 'hello', 'payload': {}})
        self.assertEqual(self.signal_count(appointment), 1)
        self.clock.now = START + dt.timedelta(days=2)
        with self.transaction():
            pool = Pool()
            pool.get('balie.video.room').clean_up()
            self.assertEqual(
                pool.get('balie.video.call.access').search_count([]), 0)
        self.assertEqual(self.signal_count(), 0)

    def test_jitsi_by_configuration_only(self):
        "Test that the Jitsi backend closes the built-in routes"
        appointment = self.call(call_backend='jitsi',
            jitsi_domain='meet.voorbeeld.example', jitsi_app_id='balie',
            jitsi_secret='jitsi-secret-0123456789abcdef0123')
        self.clock.now = START
        citizen, csrf = self.citizen(appointment)
        url = self.start_call(appointment)
        self.assertTrue(url.startswith('https://meet.voorbeeld.example/'))
        self.assertEqual(self.read(citizen, '/balie/call/signals')[0], 404)
        status = json.loads(citizen.post('/balie/status', base_url=BASE,
                headers={'X-CSRF-Token': csrf}).get_data())
        self.assertEqual(status['call']['domain'], 'meet.voorbeeld.example')



