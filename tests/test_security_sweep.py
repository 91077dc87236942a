# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""A security sweep over every portal route (issue #8).

All four modules are activated on a database of this file's own.  Two
citizens, Maria (A) and Jan (B), each have a video appointment; Maria's
call runs, with documents, a form, a signature request and a payment on
her dossier; a third citizen's call ended, so that a survey is open.
Every route that our modules register on trytond's WSGI application is
listed in ROUTES with what it answers without a session: a new route that
the sweep does not know fails test_every_route_is_known.

Through werkzeug's test client the sweep checks: no session, another
citizen's session (IDOR), bad links, missing CSRF tokens, the security
headers of every HTML answer, XSS and CSV-formula payloads in every field
a citizen types (rendered on the portal and in the clerk-side outputs we
generate: booking card, form PDF HTML, e-mails, survey report and CSV),
and hypothesis fuzzing of the portal forms.

sao, the clerks' web client, renders field values as text (never as
HTML), so what a citizen typed is only checked in the HTML we render
ourselves."""
import csv
import datetime as dt
import html
import inspect
import io
import re
import string
import unicodedata
from decimal import Decimal
from urllib.parse import unquote

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from werkzeug.test import Client

from trytond.pool import Pool
from trytond.tests.test_tryton import DB_NAME
from trytond.transaction import Transaction
from trytond.wsgi import app

from balie_sign.tests.tools import (
    BIC, IBAN, PASSPHRASE, SignCase, photo, signing_certificate)
from balie_survey.report import csv_file, export_csv
from balie_video.tests.test_video import JITSI
from digitale_balie import routes_booking, web
from digitale_balie.slots import to_utc
from digitale_balie.web import COOKIE
from digitale_balie.tests.tools import (
    BASE, NOW, OutboxCase, START, TUESDAY, create_citizen, csrf_of)

LATER = to_utc(TUESDAY, dt.time(11, 30))
OUR_MODULES = {'digitale_balie', 'balie_video', 'balie_sign',
    'balie_survey'}
MODULES = sorted(OUR_MODULES)
MARIA = {'name': "Maria Janssens", 'email': 'maria.janssens@example.be',
    'mobile': '+32470123456'}
JAN = {'name': "Jan Peeters", 'email': 'jan.peeters@example.be',
    'mobile': '+32470654321'}
ELS = {'name': "Els Wouters", 'email': 'els.wouters@example.be',
    'mobile': '+32470111222'}

XSS = ['<script>alert(1)</script>', '"><img src=x onerror=alert(1)>']
FORMULAS = ['=HYPERLINK("http://x")', "+cmd|' /C calc'!A0", '@SUM(1)',
    '-1+1']
PAYLOADS = XSS + FORMULAS
# what must never appear unescaped in HTML we render
RAW_MARKUP = ['<script>alert(1)', '<img src=x', 'onerror=alert(1)>']

# -- the routes of our modules and what they answer without a session --------
# (rule, method): statuses allowed without a session.  404 is the portal's
# friendly "this page does not exist" (the same for every bad link); 403
# the "page was open too long" of a POST without its form token.
NOT_FOUND = {404}
ROUTES = {
    ('/a/<token>', 'GET'): NOT_FOUND,
    ('/e/<token>', 'GET'): NOT_FOUND,
    ('/balie', 'GET'): NOT_FOUND,
    ('/balie/afspraak.ics', 'GET'): NOT_FOUND,
    ('/balie/annuleren', 'GET'): NOT_FOUND,
    ('/balie/annuleren', 'POST'): NOT_FOUND,
    ('/balie/verzetten', 'GET'): NOT_FOUND,
    ('/balie/verzetten', 'POST'): NOT_FOUND,
    ('/balie/taal', 'POST'): NOT_FOUND,
    ('/balie/uitleg', 'GET'): {200},
    ('/balie/handleiding.pdf', 'GET'): {200},
    ('/balie/theme.css', 'GET'): {200},
    ('/balie/logo', 'GET'): NOT_FOUND,  # no logo configured
    ('/balie/static/<name>', 'GET'): {200},
    ('/balie/video/static/<name>', 'GET'): {200},
    ('/balie/sign/static/<name>', 'GET'): {200},
    ('/balie/survey/static/<name>', 'GET'): {200},
    ('/boeken', 'GET'): {200},
    ('/boeken/<code>', 'GET'): {200},
    ('/boeken/<code>', 'POST'): {403},
    ('/boeken/bevestigen', 'POST'): {403},
    ('/balie/test', 'GET'): NOT_FOUND,
    ('/balie/test', 'POST'): NOT_FOUND,
    ('/balie/oefenen', 'GET'): NOT_FOUND,
    ('/balie/wachtkamer', 'GET'): NOT_FOUND,
    ('/balie/status', 'GET'): NOT_FOUND,
    ('/balie/status', 'POST'): NOT_FOUND,
    ('/balie/einde', 'GET'): NOT_FOUND,
    ('/balie/call/signals', 'GET'): NOT_FOUND,
    ('/balie/call/signals', 'POST'): NOT_FOUND,
    ('/balie/gesprek/<token>', 'GET'): NOT_FOUND,
    ('/balie/gesprek', 'GET'): NOT_FOUND,
    ('/balie/gesprek/signals', 'GET'): NOT_FOUND,
    ('/balie/gesprek/signals', 'POST'): {403},
    ('/balie/identiteit', 'GET'): NOT_FOUND,
    ('/balie/identiteit/start', 'POST'): NOT_FOUND,
    ('/balie/identiteit/terug', 'GET'): NOT_FOUND,
    ('/balie/gegevens', 'GET'): NOT_FOUND,
    ('/balie/gegevens', 'POST'): NOT_FOUND,
    ('/balie/documenten', 'GET'): NOT_FOUND,
    ('/balie/documenten', 'POST'): NOT_FOUND,
    ('/balie/documenten/<key>', 'GET'): NOT_FOUND,
    ('/balie/formulier', 'GET'): NOT_FOUND,
    ('/balie/formulier', 'POST'): NOT_FOUND,
    ('/balie/formulier/stand', 'GET'): NOT_FOUND,
    ('/balie/formulier/stand', 'POST'): NOT_FOUND,
    ('/balie/ondertekenen/<reference>', 'GET'): NOT_FOUND,
    ('/balie/ondertekenen/<reference>', 'POST'): NOT_FOUND,
    ('/balie/ondertekenen/<reference>/code', 'GET'): NOT_FOUND,
    ('/balie/ondertekenen/<reference>/code', 'POST'): NOT_FOUND,
    ('/balie/ondertekenen/<reference>/document.pdf', 'GET'): NOT_FOUND,
    ('/balie/ondertekenen/<reference>/ondertekend.pdf', 'GET'): NOT_FOUND,
    ('/balie/betalen/<reference>', 'GET'): NOT_FOUND,
    ('/balie/betalen/<reference>', 'POST'): NOT_FOUND,
    ('/balie/betalen/<reference>/terug', 'GET'): NOT_FOUND,
    ('/balie/betalen/<reference>/overschrijving.pdf', 'GET'): NOT_FOUND,
    ('/balie/enquete', 'GET'): NOT_FOUND,
    ('/balie/enquete', 'POST'): NOT_FOUND,
    ('/balie/enquete/nee', 'POST'): NOT_FOUND,
    ('/balie/enquete/klaar', 'GET'): NOT_FOUND,
    # machine-to-machine: the payment provider and the SMS gateway (no
    # id, no signature: refused; never a page)
    ('/<database_name>/balie/betalen/webhook', 'POST'): {400},
    ('/<database_name>/balie/sms/status', 'POST'): {403},
    }
# the personal pages reached through a session (no value in the address)
SESSION_PAGES = sorted(rule for (rule, method), statuses in ROUTES.items()
    if method == 'GET' and statuses == NOT_FOUND and '<' not in rule
    and rule != '/balie/logo')
STATIC_FILE = {
    '/balie/static/<name>': 'balie.css',
    '/balie/video/static/<name>': 'device.js',
    '/balie/sign/static/<name>': 'contact.css',
    '/balie/survey/static/<name>': 'survey.css',
    }


def our_rules():
    "(rule, method) of every route registered by our modules."
    found = set()
    for rule in app.url_map.iter_rules():
        function = inspect.unwrap(rule.endpoint)
        module = (getattr(function, '__module__', '') or '').split('.')[0]
        if module in OUR_MODULES:
            for method in rule.methods - {'HEAD', 'OPTIONS'}:
                found.add((rule.rule, method))
    return found



def visible(text):
    "The characters of a text that are neither spaces nor controls."
    return [c for c in text
        if not c.isspace() and unicodedata.category(c) != 'Cc']


def body_of(response):
    return response.get_data(as_text=True)


class SecuritySweepTestCase(OutboxCase):
    "A security sweep over every portal route"
    slow = True  # scheduled first (conftest.py)
    modules = ['balie_sign', 'balie_survey']
    languages = ('nl', 'fr')
    world = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.world = None

    def setUp(self):
        super().setUp()
        self.portal_database()
        self.reset_limits()
        self.addCleanup(self.reset_limits)
        self.clock.now = START + dt.timedelta(minutes=5)
        if self.__class__.world is None:
            self.__class__.world = self.build_world()
        self.w = self.__class__.world
        self.context = {'company': self.w['company']}

    @staticmethod
    def reset_limits():
        web.LINK_LIMITER.reset()
        web.FAILED_LINK_LIMITER.reset()
        routes_booking.reset_limits()

    # -- the world ---------------------------------------------------------

    def build_world(self):
        "Three citizens and everything Maria's dossier has (committed)."
        self.clock.now = NOW
        company, employees, service = self.setup_balie(
            payment_iban=IBAN, payment_bic=BIC,
            payment_beneficiary="Gemeente Voorbeeld",
            signing_certificate=signing_certificate(),
            signing_passphrase=PASSPHRASE,
            document_max_size=10,
            document_formats=['pdf', 'jpeg', 'png'],
            **JITSI)
        self.service = service
        with self.transaction():
            pool = Pool()
            Service = pool.get('balie.service')
            ModelData = pool.get('ir.model.data')
            record = Service(service)
            record.form_definition = ModelData.get_id(
                'balie_sign', 'form_caregiver_allowance')
            record.fee = Decimal('25.00')
            record.online_booking = True
            record.online_channel = 'video'
            record.code = 'MZP%d' % service
            record.save()
            code = record.code
        maria = self.book(service, START, **MARIA)
        els = self.book(service, START, **ELS)
        jan = self.book(service, LATER, **JAN)
        self.clock.now = START - dt.timedelta(minutes=1)
        with self.transaction():
            Appointment = Pool().get('balie.appointment')
            Appointment.start_call([Appointment(maria)])
        with self.transaction():
            Appointment = Pool().get('balie.appointment')
            Appointment.start_call([Appointment(els)])
        # Els's call ends: her survey is open
        self.clock.now = START + dt.timedelta(minutes=4)
        with self.transaction():
            EndCall = Pool().get('balie.video.end_call', type='wizard')
            session_id, _, _ = EndCall.create()
            with Transaction().set_context(active_model='balie.appointment',
                    active_id=els, active_ids=[els]):
                EndCall.execute(session_id, {}, 'start')
                EndCall.execute(session_id, {'start': {
                            'next_steps': "U krijgt een brief.",
                            'send_to_citizen': False,
                            'follow_up': False}}, 'close')
        self.clock.now = START + dt.timedelta(minutes=5)
        world = {'company': company, 'service': service, 'code': code,
            'maria': maria, 'jan': jan, 'els': els}
        self.context = {'company': company}

        # Maria's dossier: her upload, a shared document, the form, a
        # signature request and a payment
        client = self.open(maria)
        page = body_of(client.get('/balie/documenten', base_url=BASE))
        response = client.post('/balie/documenten', base_url=BASE, data={
                'csrf': csrf_of(page), 'type': 'identity',
                'description': "Identiteitskaart van Maria",
                'file': (io.BytesIO(photo()),
                    'maria-identiteitskaart.jpg')})
        self.assertEqual(response.status_code, 303, body_of(response))
        signature_document = SignCase.signature_document(
            self, maria, text="Aanvraag van Maria Janssens")
        world['signature'] = SignCase.ask_signature(
            self, maria, document=signature_document)
        with self.transaction():
            Form = Pool().get('balie.form')
            Appointment = Pool().get('balie.appointment')
            form = Form.for_dossier(Appointment(maria).dossier, create=True)
            form.save_answers({'caregiver_name': "Maria Janssens",
                    'city': "Gent"}, editor='citizen')
        world['payment'] = SignCase.request_payment(
            self, maria)
        with self.transaction():
            pool = Pool()
            Document = pool.get('balie.document')
            Document.write(Document.search([('id', '=', signature_document)]),
                {'shared': True})
            Appointment = pool.get('balie.appointment')
            documents = Document.search(
                [('dossier', '=', Appointment(maria).dossier.id)])
            world['document_keys'] = [d.portal_key for d in documents]
            world['document_bytes'] = [d.get_bytes() for d in documents]
            dossier = Appointment(maria).dossier
            world['dossier_number'] = dossier.number
            Room = pool.get('balie.video.room')
            room, = Room.search([('appointment', '=', maria)])
            world['room'] = room.name
        world['markers'] = [MARIA['name'], 'Maria', 'Janssens',
            MARIA['email'], MARIA['mobile'], '0470 12 34 56',
            world['signature'], world['payment'],
            *world['document_keys'], 'maria-identiteitskaart',
            world['dossier_number'], world['room']]
        return world

    def book(self, service, start, name, email, mobile):
        with self.transaction():
            pool = Pool()
            Appointment = pool.get('balie.appointment')
            party = create_citizen(name)
            return Appointment.book_slot({
                    'service': service, 'party': party.id, 'start': start,
                    'notify_by': 'email', 'contact_email': email,
                    'contact_mobile': mobile})

    def link(self, appointment, purpose='card', **values):
        with self.transaction():
            pool = Pool()
            Token = pool.get('balie.access.token')
            Appointment = pool.get('balie.appointment')
            token, raw = Token.generate(Appointment(appointment), purpose,
                **values)
            return token.id, raw

    def open(self, appointment, purpose='card'):
        "A browser with the citizen's session."
        _, raw = self.link(appointment, purpose)
        client = Client(app)
        response = client.get('/a/%s' % raw, base_url=BASE)
        self.assertEqual(response.status_code, 303)
        return client

    def survey_client(self):
        "Els, whose call ended, opens her page with the survey."
        self.reopen_survey()
        return self.open(self.w['els'])

    def reopen_survey(self):
        "Open Els's survey again, when an earlier test answered it."
        with self.transaction():
            Invitation = Pool().get('balie.survey.invitation')
            Invitation.write(Invitation.search(
                    [('appointment', '=', self.w['els'])]),
                {'state': 'offered'})

    # -- what every answer must be -------------------------------------------

    def check(self, response, forbidden=(), where=''):
        "No 500, no traceback, no forbidden data, headers on HTML."
        status = response.status_code
        data = response.get_data()
        text = data.decode('utf-8', 'replace')
        label = '%s %s' % (where, status)
        self.assertLess(status, 500, label + text[:1000])
        for needle in ['Traceback', 'File "/', 'Error:']:
            self.assertNotIn(needle, text, label)
        for marker in forbidden:
            if isinstance(marker, bytes):
                self.assertNotIn(marker, data, label)
            else:
                self.assertNotIn(marker, text, label)
                self.assertNotIn(marker, html.unescape(text), label)
        if (response.mimetype or '') == 'text/html':
            headers = response.headers
            policy = headers.get('Content-Security-Policy', '')
            self.assertIn('frame-ancestors', policy, label)
            self.assertNotIn('unsafe-inline', policy, label)
            self.assertEqual(headers.get('X-Content-Type-Options'),
                'nosniff', label)
            self.assertEqual(headers.get('Referrer-Policy'), 'no-referrer',
                label)
            for raw in RAW_MARKUP:
                self.assertNotIn(raw, text, label)
        return text

    def url(self, rule, **values):
        "An address of a rule, with the given values or harmless ones."
        defaults = {
            'token': 'abcd-efgh-jkmn-pqrs-tvwx-yz01-2345',
            'reference': '0' * 32,
            'key': 'A' * 22,
            'code': self.w['code'],
            'database_name': DB_NAME,
            }
        defaults.update(values)
        if rule in STATIC_FILE:
            defaults['name'] = STATIC_FILE[rule]
        return re.sub(r'<(?:\w+:)?(\w+)>',
            lambda m: str(defaults[m.group(1)]), rule)

    # -- 1. the list of routes ----------------------------------------------

    def test_every_route_is_known(self):
        "Test that the sweep knows every route our modules register"
        found = our_rules()
        self.assertEqual(sorted(found - set(ROUTES)), [],
            "routes the sweep does not know: add them to ROUTES")
        self.assertEqual(sorted(set(ROUTES) - found), [],
            "routes in ROUTES that no longer exist")

    # -- 2. no session, another citizen, bad links, CSRF, headers -------------

    def test_without_a_session(self):
        "Test every route without a session: never a 500, nor personal data"
        client = Client(app)
        forbidden = self.w['markers'] + [JAN['name'], ELS['name']] + [
            b for b in self.w['document_bytes']]
        for (rule, method), statuses in sorted(ROUTES.items()):
            with self.subTest(rule=rule, method=method):
                response = client.open(self.url(rule), method=method,
                    base_url=BASE, data={} if method == 'POST' else None)
                self.assertIn(response.status_code, statuses,
                    response.get_data()[:500])
                self.assertNotIn('Set-Cookie', response.headers)
                self.check(response, forbidden, '%s %s' % (method, rule))
        # a file that is not there: the plain page, with the headers
        for rule in STATIC_FILE:
            for name in ['missing.css', 'x.exe', '.hidden.js']:
                response = client.get(self.url(rule).rsplit('/', 1)[0]
                    + '/' + name, base_url=BASE)
                self.assertEqual(response.status_code, 404, rule + name)
                self.check(response, where=rule + name)
        # with an unknown session cookie it is the same
        for key in ['x' * 43, 'x' * 5000, '', '%00', 'é']:
            for rule in SESSION_PAGES:
                response = Client(app).get(rule, base_url=BASE,
                    headers={'Cookie': '%s=%s' % (COOKIE, key)})
                self.assertEqual(response.status_code, 404, rule)
                self.check(response, forbidden, rule)

    def test_another_citizens_session_reaches_nothing_of_hers(self):
        "Test Jan's session on Maria's resources: never her data (IDOR)"
        jan = self.open(self.w['jan'])
        forbidden = self.w['markers'] + self.w['document_bytes']
        w = self.w
        # Maria's signature request and payment, by their references
        addressed = {
            '/balie/ondertekenen/<reference>': w['signature'],
            '/balie/ondertekenen/<reference>/code': w['signature'],
            '/balie/ondertekenen/<reference>/document.pdf': w['signature'],
            '/balie/ondertekenen/<reference>/ondertekend.pdf':
                w['signature'],
            '/balie/betalen/<reference>': w['payment'],
            '/balie/betalen/<reference>/terug': w['payment'],
            '/balie/betalen/<reference>/overschrijving.pdf': w['payment'],
            }
        page = body_of(jan.get('/balie', base_url=BASE))
        self.assertIn('Jan', page)
        csrf = csrf_of(page)
        for rule, reference in addressed.items():
            for method in ['GET', 'POST']:
                if (rule, method) not in ROUTES:
                    continue
                with self.subTest(rule=rule, method=method):
                    response = jan.open(self.url(rule, reference=reference),
                        method=method, base_url=BASE,
                        data={'csrf': csrf, 'consent': 'yes',
                            'method': 'email', 'code': '123456'}
                        if method == 'POST' else None)
                    self.assertEqual(response.status_code, 404)
                    self.check(response, forbidden, rule)
        for key in w['document_keys']:
            response = jan.get('/balie/documenten/%s' % key, base_url=BASE)
            self.assertEqual(response.status_code, 404)
            self.check(response, forbidden, 'download')
        # and Jan's own pages, GET and JSON, show nothing of Maria
        for rule in SESSION_PAGES:
            response = jan.get(rule, base_url=BASE)
            self.check(response, forbidden, rule)
        # Els's survey is hers alone
        for rule in ['/balie/enquete', '/balie/enquete/klaar']:
            self.assertEqual(jan.get(rule, base_url=BASE).status_code, 404)
        response = jan.post('/balie/formulier/stand', base_url=BASE,
            json={'answers': {}, 'shown': {}},
            headers={'X-CSRF-Token': csrf})
        self.check(response, forbidden, 'form state')
        # Maria's own session does reach them (the sweep tests something)
        maria = self.open(w['maria'])
        for rule, reference in addressed.items():
            if rule.endswith(('terug', 'ondertekend.pdf', '/code')):
                continue
            response = maria.get(self.url(rule, reference=reference),
                base_url=BASE)
            self.assertEqual(response.status_code, 200, rule)
            self.check(response, where=rule)
        response = maria.get('/balie/documenten', base_url=BASE)
        self.assertIn('maria-identiteitskaart', body_of(response))
        self.check(response)

    def test_bad_links_answer_the_friendly_page(self):
        "Test expired, revoked and garbled links: one friendly 404 page"
        w = self.w
        unknown = Client(app).get('/a/abcd-efgh-jkmn-pqrs-tvwx-yz01-2345',
            base_url=BASE)
        self.assertEqual(unknown.status_code, 404)
        friendly = self.check(unknown)
        self.assertIn('Digitale Balie', friendly)
        _, expired = self.link(w['jan'],
            expires_at=self.clock.now - dt.timedelta(seconds=1))
        revoked_id, revoked = self.link(w['jan'])
        with self.transaction():
            Token = Pool().get('balie.access.token')
            Token.revoke([Token(revoked_id)])
        _, valid = self.link(w['jan'])
        garbled = [valid[:-1] + ('x' if valid[-1] != 'x' else 'y'),
            valid[:10], valid + 'a', valid.upper().replace('-', '_'),
            '%00' + valid, valid + '%0d%0aSet-Cookie: x=1', '..%2F..%2F',
            'é' * 40, '<script>alert(1)</script>', 'a' * 5000]
        for prefix in ['/a/', '/e/']:
            for raw in [expired, revoked] + garbled:
                with self.subTest(prefix=prefix, raw=raw[:30]):
                    self.reset_limits()
                    response = Client(app).get(prefix + raw, base_url=BASE)
                    if '/' in unquote(raw):
                        # not one of our addresses: trytond's own answer
                        self.assertEqual(response.status_code, 405)
                        self.assertNotIn(b'alert', response.get_data())
                        continue
                    self.assertNotIn('Set-Cookie', response.headers)
                    text = self.check(response, [JAN['name'], 'Jan'])
                    if response.status_code == 404:
                        self.assertEqual(text, friendly)
        # a card link is no survey link
        _, card = self.link(w['els'])
        response = Client(app).get('/e/' + card, base_url=BASE)
        self.assertEqual(body_of(response), friendly)
        # a session whose link expired or was revoked ends with it
        token_id, raw = self.link(w['jan'],
            expires_at=self.clock.now + dt.timedelta(minutes=5))
        client = Client(app)
        self.assertEqual(client.get('/a/' + raw, base_url=BASE).status_code,
            303)
        self.assertEqual(client.get('/balie', base_url=BASE).status_code,
            200)
        self.clock.advance(minutes=6)
        for rule in SESSION_PAGES:
            response = client.get(rule, base_url=BASE)
            self.assertEqual(response.status_code, 404, rule)
            self.check(response, [JAN['name']], rule)
        self.clock.advance(minutes=-6)
        token_id, raw = self.link(w['jan'])
        client = Client(app)
        client.get('/a/' + raw, base_url=BASE)
        with self.transaction():
            Token = Pool().get('balie.access.token')
            Token.revoke([Token(token_id)])
        response = client.get('/balie', base_url=BASE)
        self.assertEqual(response.status_code, 404)
        self.assertEqual(self.check(response), friendly)

    def test_posts_without_the_right_csrf_token_are_refused(self):
        "Test every POST without or with a wrong CSRF token: the 403 page"
        w = self.w
        maria = self.open(w['maria'])
        jan = self.open(w['jan'])
        jan_csrf = csrf_of(body_of(jan.get('/balie', base_url=BASE)))
        before = self.snapshot()
        for (rule, method), statuses in sorted(ROUTES.items()):
            if method != 'POST' or rule.startswith('/<database_name>'):
                continue
            if rule.startswith('/balie/betalen/'):
                values = {'reference': w['payment']}
            else:
                values = {'reference': w['signature']}
            client = maria if statuses == NOT_FOUND else Client(app)
            if rule.startswith('/balie/enquete'):
                client = self.survey_client()
            for token in [None, '0' * 64, jan_csrf, '1.' + '0' * 64]:
                with self.subTest(rule=rule, token=token):
                    data = {'lang': 'fr', 'slot': '2026-12-09T09:00:00Z',
                        'consent': 'yes', 'method': 'email',
                        'code': '123456', 'street': "Elders 1",
                        'name': "X", 'email': 'x@example.be'}
                    if token is not None:
                        data['csrf'] = token
                    response = client.post(self.url(rule, **values),
                        base_url=BASE, data=data)
                    self.assertEqual(response.status_code, 403,
                        body_of(response)[:300])
                    self.assertIn('te lang open', html.unescape(
                            self.check(response, where=rule)))
            # a right token from another site is refused too
            with self.subTest(rule=rule, cross_site=True):
                page = body_of(client.get('/balie', base_url=BASE)) \
                    if statuses == NOT_FOUND else body_of(Client(app).get(
                        '/boeken/%s' % w['code'], base_url=BASE))
                response = client.post(self.url(rule, **values),
                    base_url=BASE, data={'csrf': csrf_of(page)},
                    headers={'Sec-Fetch-Site': 'cross-site'})
                self.assertEqual(response.status_code, 403)
        self.assertEqual(self.snapshot(), before)

    def snapshot(self):
        "What a refused POST must not change."
        with self.transaction():
            pool = Pool()
            Appointment = pool.get('balie.appointment')
            Session = pool.get('balie.portal.session')
            result = {}
            for name in ['maria', 'jan', 'els']:
                record = Appointment(self.w[name])
                result[name] = (record.state, record.start)
            result['languages'] = sorted({s.language
                    for s in Session.search([('language', '!=', None)])})
            for model in ['balie.contact.proposal', 'balie.document',
                    'balie.survey.response', 'balie.video.device_check',
                    'balie.identity.check', 'balie.booking.request']:
                result[model] = pool.get(model).search_count([])
            Form = pool.get('balie.form')
            result['forms'] = [(f.id, dict(f.answers or {}))
                for f in Form.search([])]
            return result

    # -- 3. XSS and CSV formulas --------------------------------------------

    def test_payloads_are_escaped_on_the_portal_and_in_our_outputs(self):
        "Test XSS payloads in every free-text field; CSV is formula-safe"
        w = self.w
        evil = ' '.join(XSS)
        maria = self.open(w['maria'])
        # the contact proposal
        page = body_of(maria.get('/balie/gegevens', base_url=BASE))
        for street, status in [(evil, None), ("Kerkstraat 1 " + evil, None)]:
            response = maria.post('/balie/gegevens', base_url=BASE, data={
                    'csrf': csrf_of(page), 'phone': '+32470123456',
                    'email': MARIA['email'], 'street': street,
                    'postal_code': '9000', 'city': XSS[1]})
            self.check(response, where='contact post')
            shown = self.check(maria.get('/balie/gegevens', base_url=BASE),
                where='contact')
            if response.status_code == 400:
                self.assertIn('&lt;', body_of(response))
        self.assertIn('&lt;img src=x', shown + body_of(response))
        # document: file name and description
        page = body_of(maria.get('/balie/documenten', base_url=BASE))
        response = maria.post('/balie/documenten', base_url=BASE, data={
                'csrf': csrf_of(page), 'type': 'identity',
                'description': evil,
                'file': (io.BytesIO(photo()),
                    '<img src=x onerror=alert(1)>.jpg')})
        self.check(response, where='upload')
        self.assertEqual(response.status_code, 303,
            re.findall(r"class=\"error[^>]*>([^<]*)", body_of(response)))
        listed = self.check(maria.get(response.headers['Location'],
                base_url=BASE), where='documents')
        # the name is cleaned of markup characters when it is stored
        self.assertIn('_img src=x onerror=alert(1)_.jpg', listed)
        key = response.headers['Location'].split('=')[-1]
        download = maria.get('/balie/documenten/%s' % key, base_url=BASE)
        self.assertEqual(download.status_code, 200)
        disposition = download.headers['Content-Disposition']
        self.assertNotIn('\n', disposition)
        self.assertRegex(disposition,
            r'^attachment; filename="[A-Za-z0-9 ._()-]+"; '
            r"filename\*=UTF-8''[A-Za-z0-9%._~-]+$")
        self.assertEqual(unquote(disposition.split("''")[1]),
            '_img src=x onerror=alert(1)_.jpg')
        # the form: text answers on the page and in the PDF's HTML
        page = body_of(maria.get('/balie/formulier', base_url=BASE))
        shown = {m.group(1): html.unescape(m.group(2)) for m in re.finditer(
                r'name="w-(\w+)" value="([^"]*)"', page)}
        data = {'csrf': csrf_of(page)}
        for name, value in shown.items():
            data['w-' + name] = value
        data['a-caregiver_name'] = evil
        data['a-street'] = XSS[1]
        data['a-city'] = XSS[0]
        data['a-hours_per_week'] = XSS[0]  # wrong: shown again as typed
        response = maria.post('/balie/formulier', base_url=BASE, data=data)
        self.assertEqual(response.status_code, 400)
        again = self.check(response, where='form post')
        self.assertIn('&lt;script&gt;', again)
        self.check(maria.get('/balie/formulier', base_url=BASE),
            where='form')
        state = maria.get('/balie/formulier/stand', base_url=BASE)
        self.assertEqual(state.mimetype, 'application/json')
        self.assertEqual(state.get_json()['answers']['caregiver_name'], evil)
        with self.transaction():
            pool = Pool()
            Form = pool.get('balie.form')
            Appointment = pool.get('balie.appointment')
            form = Form.for_dossier(Appointment(w['maria']).dossier)
            self.assertEqual(form.answers['caregiver_name'], evil)
            self.assertEqual(form.answers['city'], XSS[0])
            self.check_report_html('balie.form', [form.id], 'form PDF')

        # the survey's comment: the report escapes it, the CSV is safe
        # (five answers: free text of fewer is not shown at all)
        for _ in range(5):
            els = self.survey_client()
            page = body_of(els.get('/balie/enquete', base_url=BASE))
            text_question = re.search(r'<textarea[^>]*name="(q\d+)"', page)
            self.assertIsNotNone(text_question, page[:3000])
            response = els.post('/balie/enquete', base_url=BASE, data={
                    'csrf': csrf_of(page),
                    text_question.group(1): evil + ' ' + ' '.join(FORMULAS)})
            self.assertEqual(response.status_code, 303,
                body_of(response)[:500])
            self.check(els.get('/balie/enquete/klaar', base_url=BASE))
        with self.transaction():
            pool = Pool()
            Report = pool.get('balie.survey.report.monthly', type='report')
            ActionReport = pool.get('ir.action.report')
            Company = pool.get('company.company')
            action, = ActionReport.search([
                    ('report_name', '=', 'balie.survey.report.monthly')])
            context = Report.get_context([], {}, {
                    'company': w['company'], 'month': '2026-12-01'})
            content = Report.render(action, context)
            content = content.decode() if isinstance(content, bytes) \
                else content
            self.assert_escaped(content, 'monthly report')
            self.assertIn('&lt;script&gt;', content)
            for kind in ['survey', 'answers', 'counter']:
                exported = export_csv(kind, Company(w['company']),
                    dt.date(2026, 12, 1), dt.date(2026, 12, 1))
                self.assert_formula_safe(exported)
        # the CSV writer with every payload as a cell
        exported = csv_file(PAYLOADS, [PAYLOADS, ['\t=1', '\r=1', 'ok']])
        rows = self.assert_formula_safe(exported)
        self.assertEqual(rows[1][4], "'@SUM(1)")
        self.assertEqual(rows[2][2], 'ok')

    def assert_formula_safe(self, content):
        rows = list(csv.reader(io.StringIO(content.decode('utf-8-sig'))))
        for row in rows:
            for cell in row:
                if re.fullmatch(r'-?\d+(\.\d+)?', cell):
                    continue  # a number the export wrote itself
                self.assertFalse(cell.startswith(
                        ('=', '+', '-', '@', '\t', '\r')), cell)
        return rows

    def assert_escaped(self, content, label):
        for raw in RAW_MARKUP:
            self.assertNotIn(raw, content, label)

    def check_report_html(self, report_name, ids, label, data=None,
            shows=True):
        "The HTML of one of our reports, before it becomes a PDF."
        pool = Pool()
        Report = pool.get(report_name, type='report')
        ActionReport = pool.get('ir.action.report')
        action, = ActionReport.search([('report_name', '=', report_name)])
        records = Report._get_records(ids, action.model, {})
        context = Report.get_context(records, {}, data or {})
        content = Report.render(action, context)
        content = content.decode() if isinstance(content, bytes) \
            else content
        self.assert_escaped(content, label)
        if shows:
            self.assertIn('&lt;', content, label)
        return content

    def test_online_booking_name_is_escaped_everywhere(self):
        "Test a payload as the name of an online booking, card and e-mails"
        w = self.w
        evil = ' '.join(XSS)
        client = Client(app)
        page = body_of(client.get('/boeken/%s' % w['code'], base_url=BASE))
        slots = re.findall(r'name="slot" value="([^"]+)"', page)
        self.assertTrue(slots)
        # wrong e-mail address: the form again, with the name as typed
        response = client.post('/boeken/%s' % w['code'], base_url=BASE,
            data={'csrf': csrf_of(page), 'slot': slots[-1], 'name': evil,
                'email': 'not an address', 'code_channel': 'email',
                'consent': '1'})
        self.assertEqual(response.status_code, 422)
        typed = re.search(r'name="name"[^>]*value="([^"]*)"',
            self.check(response, where='book form'))
        self.assertEqual(html.unescape(typed.group(1)), evil)
        response = client.post('/boeken/%s' % w['code'], base_url=BASE,
            data={'csrf': csrf_of(page), 'slot': slots[-1], 'name': evil,
                'email': 'xss.booking@example.be', 'code_channel': 'email',
                'consent': '1'})
        self.assertEqual(response.status_code, 200, body_of(response)[:500])
        code_page = self.check(response, where='code page')
        message = self.mailbox.messages[-1]
        code = re.search(r'\b(\d{6})\b',
            message.get_body(('plain',)).get_content()).group(1)
        self.assertNotIn('\n', message['To'])
        response = client.post('/boeken/bevestigen', base_url=BASE, data={
                'csrf': csrf_of(code_page),
                'key': re.search(r'name="key" value="([^"]+)"',
                    code_page).group(1),
                'code': code})
        self.assertEqual(response.status_code, 200, body_of(response)[:500])
        self.check(response, where='booked')
        personal = self.check(client.get('/balie', base_url=BASE),
            where='personal page')
        self.assertIn('&lt;script&gt;', personal)
        for rule in SESSION_PAGES:
            self.check(client.get(rule, base_url=BASE), where=rule)
        # the confirmation e-mail (HTML part) and the booking card's HTML
        self.dispatch()
        mails = [m for m in self.mailbox.messages
            if 'xss.booking@example.be' in m['To']]
        for mail in mails:
            self.assertEqual([a.addr_spec for a in mail['To'].addresses],
                ['xss.booking@example.be'])
        htmls = [m.get_body(('html',)) for m in mails]
        htmls = [h.get_content() for h in htmls if h is not None]
        self.assertTrue(htmls, "no HTML e-mail was sent")
        for content in htmls:
            self.assert_escaped(content, 'e-mail')
        self.assertTrue(any('&lt;script&gt;' in c for c in htmls))
        with self.transaction():
            Request = Pool().get('balie.booking.request')
            request, = Request.search(
                [('email', '=', 'xss.booking@example.be')])
            self.assertEqual(request.appointment.party.name, evil)
            appointment = request.appointment.id
            dossier = request.appointment.dossier.id
            Card = Pool().get('balie.appointment.card', type='report')
            self.check_report_html('balie.appointment.card',
                [appointment], 'booking card',
                Card.issue([request.appointment]))
            self.check_report_html('balie.dossier.decision_letter',
                [dossier], 'decision letter')
        # the transfer slip of a payment the clerk asks
        reference = SignCase.request_payment(
            self, appointment)
        with self.transaction():
            Payment = Pool().get('balie.payment')
            payment, = Payment.search([('reference', '=', reference)])
            # (the slip names the municipality, not the citizen)
            self.check_report_html('balie.payment.transfer', [payment.id],
                'transfer slip', shows=False)

    # -- 4. fuzzing ----------------------------------------------------------

    # derandomized and without an example database: the same examples in
    # every run, so CI is reproducible
    FUZZ = settings(max_examples=40, deadline=None, derandomize=True,
        database=None, suppress_health_check=[
            HealthCheck.too_slow, HealthCheck.data_too_large])

    @staticmethod
    def fuzz_text():
        "Any text: unicode, long, control characters, our payloads."
        return st.one_of(
            st.text(max_size=120),
            st.text(alphabet=st.characters(codec='utf-8',
                    exclude_categories=['Cs']), max_size=400),
            st.text(alphabet=string.printable + '\x00\x01\x1b\x7f\u2028'
                '\u202e\ufeff<>"\'&=+@-', max_size=60),
            st.sampled_from(PAYLOADS + ['', ' ', '\x00', 'é' * 3000]))

    @FUZZ
    @given(name=fuzz_text(), email=fuzz_text(), mobile=fuzz_text())
    def test_fuzz_online_booking_form(self, name, email, mobile):
        "Fuzz the online booking form: no 500; the name comes back typed"
        client = Client(app)
        page = body_of(client.get('/boeken/%s' % self.w['code'],
                base_url=BASE))
        self.reset_limits()
        response = client.post('/boeken/%s' % self.w['code'],
            base_url=BASE, data={'csrf': csrf_of(page),
                'slot': '2026-12-09T09:00:00Z', 'name': name,
                'email': email, 'mobile': mobile, 'code_channel': 'email'})
        self.assertEqual(response.status_code, 422)  # no consent
        text = self.check(response, where='booking')
        typed = re.search(r'name="name"[^>]*value="([^"]*)"', text)
        self.assertIsNotNone(typed)
        # the name comes back as it is kept: on one line, without
        # control characters, every other character as typed
        self.assertEqual(visible(html.unescape(typed.group(1))),
            visible(name.strip()[:200]))

    @FUZZ
    @given(name=fuzz_text())
    @example(name="Maria\r\nBcc: iedereen@example.be")
    @example(name="Maria\x00\x1b[31mJanssens\u2028")
    @example(name="Zoë <iemand@example.com>")
    def test_fuzz_online_booking_name_until_the_code(self, name):
        "Fuzz the name of a complete online booking: the code goes out"
        with self.transaction():
            Request = Pool().get('balie.booking.request')
            Request.delete(Request.search([]))
        self.reset_limits()
        client = Client(app)
        page = body_of(client.get('/boeken/%s' % self.w['code'],
                base_url=BASE))
        slot = re.findall(r'name="slot" value="([^"]+)"', page)[-1]
        self.mailbox.messages.clear()
        response = client.post('/boeken/%s' % self.w['code'],
            base_url=BASE, data={'csrf': csrf_of(page), 'slot': slot,
                'name': name, 'email': 'fuzz@example.be',
                'code_channel': 'email', 'consent': '1'})
        self.assertIn(response.status_code, {200, 422},
            response.get_data()[:300])
        text = self.check(response, where='booking')
        if response.status_code == 422:
            self.assertTrue(not visible(name) or len(name.strip()) > 100,
                re.findall(r'class="error[^>]*>([^<]*)', text))
            return
        with self.transaction():
            Request = Pool().get('balie.booking.request')
            request, = Request.search([])
            self.assertEqual(visible(request.name), visible(name))
            self.assertFalse(any(unicodedata.category(c) == 'Cc'
                    for c in request.name), repr(request.name))
            self.assertEqual(request.name, request.name.strip())
        # the code goes to the address typed, whatever the name says
        message, = self.mailbox.messages
        self.assertEqual([a.addr_spec for a in message['To'].addresses],
            ['fuzz@example.be'])
        self.assertEqual(visible(message['To'].addresses[0].display_name),
            visible(name))

    @FUZZ
    @given(code=fuzz_text(), key=fuzz_text())
    def test_fuzz_code_entry(self, code, key):
        "Fuzz the code entry of an online booking: no 500"
        client = Client(app)
        page = body_of(client.get('/boeken/%s' % self.w['code'],
                base_url=BASE))
        self.reset_limits()
        response = client.post('/boeken/bevestigen', base_url=BASE,
            data={'csrf': csrf_of(page), 'key': key, 'code': code})
        self.assertIn(response.status_code, {404, 410, 422})
        self.check(response, where='code')

    @FUZZ
    @given(street=fuzz_text(), city=fuzz_text(), phone=fuzz_text())
    def test_fuzz_contact_form(self, street, city, phone):
        "Fuzz the contact details: no 500; what was typed comes back"
        client = self.fuzz_client('maria')
        response = client.post('/balie/gegevens', base_url=BASE, data={
                'csrf': self.fuzz_csrf, 'phone': phone,
                'email': 'not an e-mail address', 'street': street,
                'postal_code': '9000', 'city': city})
        self.assertEqual(response.status_code, 400)
        text = self.check(response, where='contact')
        for name, value in [('street', street), ('city', city)]:
            typed = re.search(r'name="%s"[^>]*value="([^"]*)"' % name, text)
            self.assertIsNotNone(typed, name)
            self.assertEqual(html.unescape(typed.group(1)), value[:300],
                name)
        # all right but the address: a proposal, on one line, no controls
        response = client.post('/balie/gegevens', base_url=BASE, data={
                'csrf': self.fuzz_csrf, 'phone': '0470 12 34 56',
                'email': MARIA['email'], 'street': street,
                'postal_code': '9000', 'city': city})
        self.assertIn(response.status_code, {303, 400})
        self.check(response, where='contact')
        if response.status_code == 303:
            with self.transaction():
                Proposal = Pool().get('balie.contact.proposal')
                proposal, = Proposal.search([
                        ('appointment', '=', self.w['maria']),
                        ('state', '=', 'proposed')])
                for value, kept in [(street, proposal.street),
                        (city, proposal.city)]:
                    self.assertEqual(visible(kept or ''), visible(value))
                    self.assertNotRegex(kept or '', r'[\x00-\x1f]')

    @FUZZ
    @given(name=fuzz_text(), city=fuzz_text(), hours=fuzz_text())
    def test_fuzz_form_answers(self, name, city, hours):
        "Fuzz the application form: no 500; right answers are saved"
        client = self.fuzz_client('maria')
        page = body_of(client.get('/balie/formulier', base_url=BASE))
        shown = {m.group(1): html.unescape(m.group(2)) for m in re.finditer(
                r'name="w-(\w+)" value="([^"]*)"', page)}
        data = {'csrf': csrf_of(page)}
        for key, value in shown.items():
            data['w-' + key] = value
        data.update({'a-caregiver_name': name, 'a-city': city,
                'a-hours_per_week': hours})
        response = client.post('/balie/formulier', base_url=BASE, data=data)
        self.assertIn(response.status_code, {303, 400})
        self.check(response, where='form')
        state = client.get('/balie/formulier/stand', base_url=BASE)
        self.check(state, where='form state')
        errors = body_of(response) if response.status_code == 400 else ''
        answers = state.get_json()['answers']
        # an answer without an error is saved (as parsed); a wrong one is
        # shown again
        for key, value in [('caregiver_name', name), ('city', city)]:
            if 'href="#a-%s"' % key in errors:
                typed = re.search(r'id="a-%s" name="a-%s" value="([^"]*)"'
                    % (key, key), errors)
                self.assertEqual(html.unescape(typed.group(1)), value, key)
            elif visible(value) and value.strip() != shown.get(
                    key, '').strip():
                self.assertTrue(answers[key], key)
        for value in answers.values():
            self.assertNotIn('\x00', str(value))
        response = client.post('/balie/formulier/stand', base_url=BASE,
            json={'answers': {'city': city, 'hours_per_week': hours,
                    name[:50]: name}, 'shown': {}},
            headers={'X-CSRF-Token': self.fuzz_csrf})
        self.assertIn(response.status_code, {200, 400})
        self.check(response, where='form json')

    @FUZZ
    @given(comment=fuzz_text(), choice=fuzz_text())
    def test_fuzz_survey(self, comment, choice):
        "Fuzz the survey: no 500; nothing answered shows the form again"
        client = self.fuzz_client('els')
        self.reopen_survey()
        page = body_of(client.get('/balie/enquete', base_url=BASE))
        names = sorted(set(re.findall(r'name="(q\d+)"', page)))
        data = {'csrf': csrf_of(page)}
        for name in names:
            data[name] = choice
        text = re.search(r'<textarea[^>]*name="(q\d+)"', page).group(1)
        data[text] = comment
        response = client.post('/balie/enquete', base_url=BASE, data=data)
        self.assertIn(response.status_code, {303, 422})
        text = self.check(response, where='survey')
        if response.status_code == 422:
            # nothing usable was answered: the form again, as it was typed
            typed = re.search(r'<textarea[^>]*>([^<]*)</textarea>', text)
            self.assertEqual(html.unescape(typed.group(1)).strip(),
                comment.strip())

    @FUZZ
    @given(filename=fuzz_text(), description=fuzz_text())
    def test_fuzz_document_names(self, filename, description):
        "Fuzz the names of uploaded documents: no 500; a safe download"
        client = self.fuzz_client('maria')
        response = client.post('/balie/documenten', base_url=BASE, data={
                'csrf': self.fuzz_csrf, 'type': 'identity',
                'description': description,
                'file': (io.BytesIO(photo()),
                    filename + '.jpg')})
        self.assertIn(response.status_code, {303, 400})
        self.check(response, where='upload')
        if response.status_code == 303:
            page = client.get(response.headers['Location'], base_url=BASE)
            self.check(page, where='documents')
            key = response.headers['Location'].split('=')[-1]
            download = client.get('/balie/documenten/' + key, base_url=BASE)
            self.assertEqual(download.status_code, 200)
            self.assertNotIn('\n', download.headers['Content-Disposition'])
            with self.transaction():
                Document = Pool().get('balie.document')
                document, = Document.search([('portal_key', '=', key)])
                self.assertEqual(visible(document.description or ''),
                    visible(description)[:200])
                self.assertNotRegex(document.description or '',
                    r'[\x00-\x1f]')

    def fuzz_client(self, name):
        "One session per fuzz test (hypothesis calls the test many times)."
        cache = self.__class__.world.setdefault('fuzz', {})
        key = (self._testMethodName, name)
        if key not in cache:
            client = self.open(self.w[name])
            page = body_of(client.get('/balie', base_url=BASE))
            cache[key] = client, csrf_of(page)
        client, self.fuzz_csrf = cache[key]
        return client
