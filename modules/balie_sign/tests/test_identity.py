# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Identity verification in the call: the citizen logs in at a real OpenID
provider (the npm package oidc-provider, started on a free port by
tests/oidc_provider.js) through the portal's routes, and the clerk's
visual check of the identity card.  State, nonce, PKCE and a tampered ID
token are each refused with a clear page, and nothing entered is lost."""
import base64
import datetime as dt
import json
import re
import unittest
import urllib.parse
from unittest.mock import patch

from trytond.pool import Pool
from trytond.transaction import Transaction

from balie_sign.tests.tools import (
    CALLBACK, CLIENT_SECRET, HIGH, JAN, MARIA, OTHER, SUBSTANTIAL,
    OIDCProvider, SignCase, card_number)
from digitale_balie.tests.tools import BASE, START, csrf_of


def local_path(url):
    "The portal path and query of an absolute address."
    parts = urllib.parse.urlsplit(url)
    return parts.path + ('?' + parts.query if parts.query else '')


class IdentityTestCase(SignCase):
    "Test identity verification: online login and the visual check"

    provider = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        from joserfc.jwk import RSAKey
        key = RSAKey.generate_key(2048, private=True)
        cls.private_key = key.as_pem(private=True).decode()
        jwks = {'keys': [dict(key.as_dict(private=False), use='sig')]}
        try:
            cls.provider = OIDCProvider([CALLBACK], jwks=jwks)
        except unittest.SkipTest as exception:
            cls.provider_missing = str(exception)
        else:
            cls.addClassCleanup(cls.provider.stop)
            cls.oidc_settings = {
                'oidc_issuer': cls.provider.issuer,
                'oidc_client_id': 'balie',
                'oidc_client_secret': CLIENT_SECRET,
                'oidc_auth_method': 'client_secret_basic',
                'oidc_private_key': None,
                'oidc_acr_values': HIGH + ' ' + SUBSTANTIAL,
                'oidc_high_acr': HIGH,
                }

    def setUp(self):
        super().setUp()
        from balie_sign import oidc
        oidc.clear_cache()

    def need_provider(self):
        if self.provider is None:
            raise unittest.SkipTest(self.provider_missing)

    def start_login(self, client, status=303):
        csrf = self.csrf(client, '/balie/identiteit')
        response = client.post('/balie/identiteit/start', base_url=BASE,
            data={'csrf': csrf})
        self.assertEqual(response.status_code, status,
            response.get_data(as_text=True))
        return response.headers.get('Location')

    def checks(self, appointment):
        with self.transaction():
            Check = Pool().get('balie.identity.check')
            return [{f: getattr(c, f) for f in [
                        'id', 'method', 'state', 'assurance', 'acr',
                        'national_number', 'card_number', 'reason',
                        'nonce', 'code_verifier', 'state_hash', 'provider']}
                for c in Check.search([('appointment', '=', appointment)],
                    order=[('id', 'ASC')])]

    def dossier_identity(self, appointment):
        with self.transaction():
            Dossier = Pool().get('balie.dossier')
            dossier = Dossier(self.dossier_id(appointment))
            return dossier.identity, dossier.identity_assurance

    # -- online login ------------------------------------------------------

    def test_login_verifies_identity(self):
        "Test the full login: PKCE, ID token, userinfo, rrn matches"
        self.need_provider()
        appointment = self.call()
        client = self.open(appointment)
        status, html = self.page(client, '/balie')
        self.assertIn('href="/balie/identiteit"', html)
        url = self.start_login(client)
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
        self.assertTrue(url.startswith(self.provider.issuer + '/auth?'))
        self.assertEqual(query['code_challenge_method'], 'S256')
        self.assertEqual(query['scope'], 'openid profile rrn')
        self.assertEqual(query['acr_values'], HIGH + ' ' + SUBSTANTIAL)
        self.assertEqual(query['redirect_uri'], CALLBACK)
        self.assertEqual(query['ui_locales'], 'en')
        pending, = self.checks(appointment)
        self.assertEqual(pending['state'], 'pending')
        # only a hash of the state is kept
        self.assertNotIn(query['state'], json.dumps(pending, default=str))

        back = self.provider.login(url, '85.07.30-033.28')
        response = client.get(local_path(back), base_url=BASE)
        self.assertEqual(response.status_code, 303)
        self.assertEqual(response.headers['Location'],
            '/balie/identiteit?uitkomst=ok')
        status, html = self.page(client, response.headers['Location'])
        self.assertIn('We know now that it is you', html)
        self.assertIn('id="identity-done"', html)
        self.assertNotIn('/balie/identiteit/start', html)
        check, = self.checks(appointment)
        self.assertEqual({k: check[k] for k in [
                    'method', 'state', 'assurance', 'acr',
                    'national_number', 'nonce', 'code_verifier',
                    'state_hash']}, {
                'method': 'oidc', 'state': 'verified', 'assurance': 'high',
                'acr': HIGH, 'national_number': MARIA, 'nonce': None,
                'code_verifier': None, 'state_hash': None})
        self.assertEqual(self.dossier_identity(appointment),
            ('verified', 'high'))
        event, = self.events(appointment, 'identity')
        self.assertIn('online login', event)
        # reloading the way back does nothing twice
        self.assertEqual(client.get(local_path(back),
                base_url=BASE).status_code, 400)
        self.assertEqual(len(self.checks(appointment)), 1)
        # the task next to the call is done
        with self.transaction():
            pool = Pool()
            Session = pool.get('balie.portal.session')
            Portal = pool.get('balie.portal')
            session, = Session.search([
                    ('token.appointment', '=', appointment)], limit=1)
            task, = [t for t in Portal.call_tasks(session)
                if t['href'] == '/balie/identiteit']
            self.assertTrue(task['done'])

    def test_login_with_another_number_is_shown_to_the_clerk(self):
        "Test that a login with another national number is a mismatch"
        self.need_provider()
        appointment = self.call()
        client = self.open(appointment)
        url = self.start_login(client)
        back = self.provider.login(url, OTHER, acr=SUBSTANTIAL)
        response = client.get(local_path(back), base_url=BASE)
        self.assertEqual(response.headers['Location'],
            '/balie/identiteit?uitkomst=mismatch')
        status, html = self.page(client, response.headers['Location'])
        self.assertIn('does not match the details we have', html)
        check, = self.checks(appointment)
        self.assertEqual(check['state'], 'mismatch')
        self.assertEqual(check['national_number'], OTHER)
        self.assertIn(OTHER, check['reason'])
        self.assertIn(MARIA, check['reason'])
        self.assertEqual(self.dossier_identity(appointment),
            ('mismatch', None))
        self.assertIn('Not accepted', self.events(appointment,
                'identity')[0])
        # the citizen may try again and succeed
        url = self.start_login(client)
        back = self.provider.login(url, MARIA, acr=SUBSTANTIAL)
        client.get(local_path(back), base_url=BASE)
        self.assertEqual(self.dossier_identity(appointment),
            ('verified', 'substantial'))

    def test_citizen_without_number_is_not_accepted_silently(self):
        "Test that a dossier without a national number is a mismatch"
        self.need_provider()
        appointment = self.call(national_number=None)
        client = self.open(appointment)
        back = self.provider.login(self.start_login(client), MARIA)
        client.get(local_path(back), base_url=BASE)
        check, = self.checks(appointment)
        self.assertEqual(check['state'], 'mismatch')

    def test_wrong_state_is_refused_and_nothing_is_lost(self):
        "Test that a wrong or missing state is refused, the login kept"
        self.need_provider()
        appointment = self.call()
        client = self.open(appointment)
        back = self.provider.login(self.start_login(client), MARIA)
        wrong = re.sub(r'state=[^&]+', 'state=forged-state', back)
        for path in [local_path(wrong),
                '/balie/identiteit/terug?code=abc',
                '/balie/identiteit/terug']:
            with self.subTest(path=path):
                status, html = self.page(client, path)
                self.assertEqual(status, 400)
                self.assertIn('This login is no longer valid', html)
        check, = self.checks(appointment)
        self.assertEqual(check['state'], 'pending')
        # the real answer still works
        response = client.get(local_path(back), base_url=BASE)
        self.assertEqual(response.headers['Location'],
            '/balie/identiteit?uitkomst=ok')

    def test_wrong_nonce_is_refused(self):
        "Test that an ID token with another nonce is refused"
        self.need_provider()
        appointment = self.call()
        client = self.open(appointment)
        back = self.provider.login(self.start_login(client), MARIA)
        with self.transaction():
            Check = Pool().get('balie.identity.check')
            check, = Check.search([('appointment', '=', appointment)])
            check.nonce = 'another-nonce'
            check.save()
        response = client.get(local_path(back), base_url=BASE)
        self.assertEqual(response.headers['Location'],
            '/balie/identiteit?uitkomst=failed')
        status, html = self.page(client, response.headers['Location'])
        self.assertIn('The login did not work. Nothing has changed', html)
        check, = self.checks(appointment)
        self.assertEqual((check['state'], check['reason']),
            ('failed', 'nonce'))
        self.assertEqual(self.dossier_identity(appointment), (None, None))

    def test_wrong_pkce_verifier_is_refused(self):
        "Test that the provider refuses the code with another verifier"
        self.need_provider()
        appointment = self.call()
        client = self.open(appointment)
        back = self.provider.login(self.start_login(client), MARIA)
        with self.transaction():
            Check = Pool().get('balie.identity.check')
            check, = Check.search([('appointment', '=', appointment)])
            check.code_verifier = 'x' * 64
            check.save()
        response = client.get(local_path(back), base_url=BASE)
        self.assertEqual(response.headers['Location'],
            '/balie/identiteit?uitkomst=failed')
        check, = self.checks(appointment)
        self.assertEqual(check['state'], 'failed')
        self.assertIn('invalid_grant', check['reason'])

    def test_tampered_id_token_is_refused(self):
        "Test that a changed or unsigned ID token is refused"
        self.need_provider()
        from authlib.integrations.requests_client import OAuth2Session
        original = OAuth2Session.fetch_token

        def encode(data):
            return base64.urlsafe_b64encode(json.dumps(data).encode()
                ).rstrip(b'=').decode()

        def decode(part):
            return json.loads(base64.urlsafe_b64decode(
                    part + '=' * (-len(part) % 4)))

        def changed_claim(token):
            header, payload, signature = token.split('.')
            claims = decode(payload)
            claims['sub'] = 'test-' + OTHER
            return '.'.join([header, encode(claims), signature])

        def unsigned(token):
            _, payload, _ = token.split('.')
            return '.'.join([encode({'alg': 'none'}), payload, ''])

        def other_key(token):
            from joserfc import jwt
            from joserfc.jwk import RSAKey
            claims = decode(token.split('.')[1])
            return jwt.encode({'alg': 'RS256'}, claims,
                RSAKey.generate_key(2048, private=True))

        for hour, tamper in enumerate([changed_claim, unsigned, other_key]):
            with self.subTest(tamper=tamper.__name__):
                appointment = self.call(
                    name="Citizen %s" % tamper.__name__,
                    start=START + dt.timedelta(minutes=30 * hour))
                client = self.open(appointment)
                back = self.provider.login(self.start_login(client), MARIA)

                def fetch_token(session, *args, **kwargs):
                    token = original(session, *args, **kwargs)
                    token['id_token'] = tamper(token['id_token'])
                    return token
                with patch.object(OAuth2Session, 'fetch_token',
                        fetch_token):
                    response = client.get(local_path(back), base_url=BASE)
                self.assertEqual(response.headers['Location'],
                    '/balie/identiteit?uitkomst=failed')
                check, = self.checks(appointment)
                self.assertEqual(check['state'], 'failed')
                self.assertTrue(check['reason'].startswith('id_token'),
                    check['reason'])
                self.assertEqual(self.dossier_identity(appointment),
                    (None, None))

    def test_cancelled_login(self):
        "Test that a login the citizen stops is recorded, with a way back"
        self.need_provider()
        appointment = self.call()
        client = self.open(appointment)
        back = self.provider.login(self.start_login(client), MARIA,
            cancel=True)
        self.assertIn('error=access_denied', back)
        response = client.get(local_path(back), base_url=BASE)
        self.assertEqual(response.headers['Location'],
            '/balie/identiteit?uitkomst=denied')
        status, html = self.page(client, response.headers['Location'])
        self.assertIn('You stopped the login', html)
        self.assertIn('/balie/identiteit/start', html)
        check, = self.checks(appointment)
        self.assertEqual(check['state'], 'failed')

    def test_another_session_never_finishes_a_login(self):
        "Test that one citizen's session cannot finish another's (IDOR)"
        self.need_provider()
        maria = self.call()
        jan = self.call(name="Jan Peeters", national_number=JAN,
            start=START + dt.timedelta(hours=1))
        maria_client = self.open(maria)
        jan_client = self.open(jan)
        back = self.provider.login(self.start_login(maria_client), MARIA)
        status, html = self.page(jan_client, local_path(back))
        self.assertEqual(status, 400)
        self.assertNotIn('Maria', html)
        self.assertEqual(self.checks(jan), [])
        self.assertEqual(self.checks(maria)[0]['state'], 'pending')
        # Jan's page with Maria's CSRF token: refused
        maria_csrf = self.csrf(maria_client, '/balie/identiteit')
        response = jan_client.post('/balie/identiteit/start', base_url=BASE,
            data={'csrf': maria_csrf})
        self.assertEqual(response.status_code, 403)
        self.assertEqual(self.checks(jan), [])
        response = maria_client.get(local_path(back), base_url=BASE)
        self.assertEqual(response.headers['Location'],
            '/balie/identiteit?uitkomst=ok')
        self.assertEqual(self.dossier_identity(jan), (None, None))

    def test_private_key_jwt(self):
        "Test the login with a client that authenticates with a signed JWT"
        self.need_provider()
        appointment = self.call()
        self.configure(oidc_client_id='balie-jwt',
            oidc_auth_method='private_key_jwt', oidc_client_secret=None,
            oidc_private_key=self.private_key)
        client = self.open(appointment)
        back = self.provider.login(self.start_login(client), MARIA)
        response = client.get(local_path(back), base_url=BASE)
        self.assertEqual(response.headers['Location'],
            '/balie/identiteit?uitkomst=ok')

    def test_login_not_configured_or_not_now(self):
        "Test a clear page without configuration, and outside the call"
        appointment = self.call()
        self.configure(oidc_issuer=None)
        client = self.open(appointment)
        status, html = self.page(client, '/balie/identiteit')
        self.assertNotIn('/balie/identiteit/start', html)
        self.assertIn('show your identity card', html)
        csrf = csrf_of(html)
        response = client.post('/balie/identiteit/start', base_url=BASE,
            data={'csrf': csrf})
        self.assertEqual(response.status_code, 503)
        self.assertIn('The online login is not configured',
            response.get_data(as_text=True))
        self.assertEqual(self.checks(appointment), [])

        later = self.call(name="Jan Peeters", national_number=JAN,
            start=START + dt.timedelta(hours=1), started=False)
        client = self.open(later)
        status, html = self.page(client, '/balie/identiteit')
        self.assertIn('during the video call', html)
        self.assertNotIn('href="/balie/identiteit"',
            self.page(client, '/balie')[1])
        response = client.post('/balie/identiteit/start', base_url=BASE,
            data={'csrf': csrf_of(html)})
        self.assertEqual(response.status_code, 409)
        self.assertEqual(self.checks(later), [])

    def test_preview_records_nothing(self):
        "Test that the clerk's preview starts no login"
        self.need_provider()
        appointment = self.call()
        client = self.open(appointment, purpose='preview')
        status, html = self.page(client, '/balie/identiteit')
        self.assertNotIn('/balie/identiteit/start', html)
        response = client.post('/balie/identiteit/start', base_url=BASE,
            data={'csrf': csrf_of(html)})
        self.assertEqual(response.status_code, 409)
        self.assertEqual(self.checks(appointment), [])

    # -- the clerk's visual check -------------------------------------------

    def visual(self, appointment, national_number, card, photo=True):
        with self.transaction():
            pool = Pool()
            Wizard = pool.get('balie.identity.visual', type='wizard')
            dossier = self.dossier_id(appointment)
            session_id, _, _ = Wizard.create()
            with Transaction().set_context(active_model='balie.dossier',
                    active_id=dossier, active_ids=[dossier]):
                result = Wizard.execute(session_id, {}, 'start')
                defaults = result['view']['defaults']
                self.assertEqual(defaults['appointment'], appointment)
                return Wizard.execute(session_id, {'start': {
                            'appointment': appointment,
                            'dossier': dossier,
                            'national_number': national_number,
                            'card_number': card,
                            'photo_matches': photo}}, 'save')

    def test_visual_check(self):
        "Test the clerk's check of the card shown to the camera"
        from balie_sign.exceptions import IdentityValidationError
        appointment = self.call()
        for number, card, photo, message in [
                ('12345678901', card_number(), True,
                    'national register'),
                (OTHER, card_number(), True, 'Check the card again'),
                (MARIA, '591234567800', True, 'not a valid identity card'),
                (MARIA, card_number(), False, 'Tick'),
                ]:
            with self.subTest(number=number, card=card, photo=photo):
                with self.assertRaisesRegex(IdentityValidationError,
                        message):
                    self.visual(appointment, number, card, photo)
        self.assertEqual(self.checks(appointment), [])
        self.visual(appointment, '85.07.30-033.28',
            card_number()[:3] + '-' + card_number()[3:10] + '-'
            + card_number()[10:])
        check, = self.checks(appointment)
        self.assertEqual({k: check[k] for k in [
                    'method', 'state', 'assurance', 'national_number',
                    'card_number']}, {
                'method': 'visual', 'state': 'verified', 'assurance': 'low',
                'national_number': MARIA, 'card_number': card_number()})
        self.assertEqual(self.dossier_identity(appointment),
            ('verified', 'low'))
        self.assertIn('identity card shown in the call',
            self.events(appointment, 'identity')[0])

    def test_visual_check_gives_the_citizen_a_number(self):
        "Test that a citizen without number gets the one on the card"
        appointment = self.call(national_number=None)
        self.visual(appointment, JAN, 'B0123456789')
        with self.transaction():
            Appointment = Pool().get('balie.appointment')
            self.assertEqual(re.sub(r'\D', '',
                    Appointment(appointment).party.national_number), JAN)
