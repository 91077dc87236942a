# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""A sweep over every route of the portal (issue #19): what each answers to
a survey-only session, another citizen's session, no session, expired and
revoked links, a foreign Origin, "Origin: null", a wrong method and
OPTIONS: the expected status, our page, the full security header set,
nothing of the other citizen and no traceback in the log."""
import datetime as dt
import logging
import re
from contextlib import contextmanager

from werkzeug.test import Client

from trytond.pool import Pool
from trytond.wsgi import app

from balie_video.tests.test_video import JITSI
from digitale_balie.tests.tools import BASE, START, OutboxCase, csrf_of

# every route of the portal with a value for its variables; a test below
# checks that no route of trytond's map is missing here
SESSION_ROUTES = [
    '/balie', '/balie/taal', '/balie/afspraak.ics', '/balie/verzetten',
    '/balie/annuleren', '/balie/test', '/balie/wachtkamer', '/balie/oefenen',
    '/balie/status', '/balie/einde', '/balie/call/signals',
    '/balie/identiteit', '/balie/identiteit/start', '/balie/identiteit/terug',
    '/balie/gegevens', '/balie/ondertekenen/x1', '/balie/ondertekenen/x1/code',
    '/balie/ondertekenen/x1/document.pdf',
    '/balie/ondertekenen/x1/ondertekend.pdf', '/balie/betalen/x1',
    '/balie/betalen/x1/terug', '/balie/betalen/x1/overschrijving.pdf',
    '/balie/documenten', '/balie/documenten/x1', '/balie/formulier',
    '/balie/formulier/stand',
    ]
SURVEY_ROUTES = ['/balie/enquete', '/balie/enquete/nee',
    '/balie/enquete/klaar']
PUBLIC_ROUTES = [
    '/balie/uitleg', '/balie/handleiding.pdf', '/balie/theme.css',
    '/balie/logo', '/boeken', '/boeken/x1', '/boeken/bevestigen',
    '/balie/gesprek', '/balie/gesprek/signals',
    ]
LINK_ROUTES = ['/a/%s', '/e/%s', '/balie/gesprek/%s']
STATIC_ROUTES = ['/balie/static/balie.css', '/balie/video/static/x.js',
    '/balie/survey/static/x.svg', '/balie/sign/static/x.css']
ALL_ROUTES = (SESSION_ROUTES + SURVEY_ROUTES + PUBLIC_ROUTES
    + [r % 'x1' for r in LINK_ROUTES] + STATIC_ROUTES)
HEADERS = ['Content-Security-Policy', 'Referrer-Policy',
    'X-Content-Type-Options', 'Cache-Control', 'Permissions-Policy',
    'Cross-Origin-Opener-Policy']
FOREIGN = 'https://evil.example'


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)


class SecuritySweepTestCase(OutboxCase):
    "Every portal route against sessions, origins and methods"
    modules = ['balie_sign', 'balie_survey']
    languages = ('nl', 'fr')

    def setUp(self):
        super().setUp()
        self.serve_portal()
        self.records = _Records()
        root = logging.getLogger()
        saved = root.level
        root.addHandler(self.records)
        root.setLevel(logging.DEBUG)
        self.addCleanup(root.setLevel, saved)
        self.addCleanup(root.removeHandler, self.records)
        if not getattr(self, 'service', None):
            self.company, self.employees, self.service = self.setup_balie(
                **JITSI)

    # -- helpers ---------------------------------------------------------

    def citizen(self, name, start=START):
        return self.book(self.service, start, notify_by='email', name=name)

    def assert_ours(self, response, path, statuses):
        "Our answer: expected status, the header set, no technical page."
        body = response.get_data().decode('utf-8', 'replace')
        self.assertIn(response.status_code, statuses, (path, body[:300]))
        for name in HEADERS:
            self.assertIn(name, response.headers, (path, name))
        policy = response.headers['Content-Security-Policy']
        self.assertIn('frame-ancestors', policy, path)
        if "frame-ancestors 'none'" in policy:
            self.assertEqual(response.headers.get('X-Frame-Options'), 'DENY',
                path)
        for text in ['Traceback', 'Werkzeug', 'werkzeug',
                'Internal Server Error', 'Method Not Allowed']:
            self.assertNotIn(text, body, path)
        if response.status_code >= 400 and response.mimetype == 'text/html':
            self.assertIn('<html lang=', body, path)
        return body

    def assert_no_traceback(self):
        for record in self.records.records:
            self.assertIsNone(record.exc_info, record.getMessage())
            self.assertLess(record.levelno, logging.ERROR,
                record.getMessage())

    @contextmanager
    def clock_at(self, when):
        saved = self.clock.now
        self.clock.now = when
        try:
            yield
        finally:
            self.clock.now = saved

    def survey_link(self):
        "A survey link of an appointment (its raw token)."
        appointment = self.citizen("Sara Survey")
        return appointment, self.link(appointment, 'survey')

    # -- tests -----------------------------------------------------------

    def test_route_list_is_complete(self):
        "Test that the sweep knows every route of the portal"
        from digitale_balie.web import is_portal_path
        known = {re.sub(r'x1', '<>', r) for r in ALL_ROUTES}
        for rule in app.url_map.iter_rules():
            if not is_portal_path(rule.rule.split('<')[0].rstrip('/')
                    or rule.rule):
                continue
            if '/static/' in rule.rule:
                continue
            shape = re.sub(r'<[^>]+>', '<>', rule.rule)
            self.assertIn(shape, known, rule.rule)

    def test_survey_session_opens_the_survey_only(self):
        "Test that a survey link's session gets the 404 page elsewhere"
        appointment, raw = self.survey_link()
        client = Client(app)
        # the survey link is no personal link
        self.assert_ours(client.get('/a/%s' % raw, base_url=BASE), '/a/',
            {404})
        response = client.get('/e/%s' % raw, base_url=BASE)
        self.assertEqual(response.status_code, 303)
        self.assertTrue(
            response.headers['Location'].endswith('/balie/enquete'))
        for path in SESSION_ROUTES:
            if path == '/balie/taal':
                # the survey page's language switch: its CSRF check
                continue
            for method in ['GET', 'POST']:
                response = client.open(path, method=method, base_url=BASE,
                    data={'csrf': 'x'})
                body = self.assert_ours(response, path, {404, 405})
                self.assertNotIn('Sara', body, path)
        # the survey's own pages know the session (no invitation: 404 page,
        # never the 403 of a missing session key)
        response = client.get('/balie/enquete/klaar', base_url=BASE)
        self.assert_ours(response, '/balie/enquete/klaar', {200, 404})
        # a personal link of the same appointment opens the personal page
        personal = self.open(appointment)
        self.assert_ours(personal.get('/balie', base_url=BASE), '/balie',
            {200})
        # a personal link cannot open the survey's route
        card = self.link(appointment, 'card')
        self.assert_ours(Client(app).get('/e/%s' % card, base_url=BASE),
            '/e/', {404})
        self.assert_no_traceback()

    def test_survey_link_outlives_personal_links_for_the_survey_only(self):
        "Test that personal links end with the appointment, survey its days"
        appointment, _ = self.survey_link()
        with self.transaction():
            pool = Pool()
            Token = pool.get('balie.access.token')
            Appointment = pool.get('balie.appointment')
            Configuration = pool.get('balie.configuration')
            record = Appointment(appointment)
            end = record.end + Configuration(1).token_validity
            far = end + dt.timedelta(days=30)
            survey, raw = Token.generate(record, 'survey', expires_at=far)
            preview, _ = Token.generate(record, 'preview', expires_at=far)
            self.assertEqual(survey.expires_at, far)
            self.assertEqual(preview.expires_at, end)
        with self.clock_at(end + dt.timedelta(days=1)):
            client = Client(app)
            self.assertEqual(client.get('/e/%s' % raw,
                    base_url=BASE).status_code, 303)
            for path in ['/balie', '/balie/afspraak.ics', '/balie/documenten',
                    '/balie/wachtkamer']:
                self.assert_ours(client.get(path, base_url=BASE), path,
                    {404})

    def test_other_citizen_sees_nothing(self):
        "Test every page of one citizen's session for another's name"
        self.citizen("Xavera Ysebaert")
        other = self.citizen("Bert Bakker", START + dt.timedelta(hours=1))
        client = self.open(other)
        for path in SESSION_ROUTES + SURVEY_ROUTES:
            response = client.get(path, base_url=BASE)
            body = self.assert_ours(response, path, {
                    200, 303, 400, 404, 405, 409})
            self.assertNotIn('Xavera', body, path)
            self.assertNotIn('Ysebaert', body, path)
        self.assert_no_traceback()

    def test_no_session_expired_and_revoked(self):
        "Test every session page without, with expired or revoked session"
        appointment = self.citizen("Carla Claes")
        expired = self.open(appointment)
        revoked = self.open(appointment)
        with self.transaction():
            pool = Pool()
            Token = pool.get('balie.access.token')
            Token.revoke(Token.search([('appointment', '=', appointment)]))
        raw = self.link(appointment)
        with self.transaction():
            Appointment = Pool().get('balie.appointment')
            Configuration = Pool().get('balie.configuration')
            end = (Appointment(appointment).end
                + Configuration(1).token_validity)
        later = self.open(appointment)
        for path in SESSION_ROUTES:
            for client in [Client(app), revoked]:
                self.assert_ours(client.get(path, base_url=BASE), path,
                    {404, 405})
        with self.clock_at(end + dt.timedelta(minutes=1)):
            for path in SESSION_ROUTES:
                self.assert_ours(later.get(path, base_url=BASE), path,
                    {404, 405})
            for route in LINK_ROUTES:
                self.assert_ours(Client(app).get(route % raw, base_url=BASE),
                    route, {404})
        del expired
        self.assert_no_traceback()

    def test_origins_methods_and_options(self):
        "Test foreign Origin, Origin: null, wrong methods and OPTIONS"
        appointment = self.citizen("Dirk Dumon")
        client = self.open(appointment)
        csrf = csrf_of(client.get('/balie', base_url=BASE).get_data(
                as_text=True))
        for path in ALL_ROUTES:
            static = path in STATIC_ROUTES
            for method in ['GET', 'POST']:
                response = client.open(path, method=method, base_url=BASE,
                    data={'csrf': csrf}, headers={'Origin': FOREIGN})
                body = self.assert_ours(response, path,
                    {200, 404, 405} if static else {403, 405})
                if response.status_code == 403:
                    self.assertIn('lang="nl"', body)
                # "Origin: null" (a form under no-referrer) is no error
                response = client.open(path, method=method, base_url=BASE,
                    headers={'Origin': 'null'})
                self.assert_ours(response, path,
                    {200, 303, 400, 403, 404, 405, 409, 422})
            for method in ['PUT', 'DELETE', 'PATCH']:
                response = client.open(path, method=method, base_url=BASE)
                self.assert_ours(response, path, {405})
                self.assertIn('Allow', response.headers, path)
            response = client.open(path, method='OPTIONS', base_url=BASE)
            self.assert_ours(response, path, {204})
        # French for a French browser, also on the 403
        response = Client(app).post('/balie/taal', base_url=BASE,
            headers={'Origin': FOREIGN, 'Accept-Language': 'fr-BE'})
        self.assertIn('lang="fr"', self.assert_ours(response, 'fr', {403}))
        for path in ['/balie/nergens', '/a/', '/e/x/y', '/boeken/x/y']:
            for origin in [None, 'null', FOREIGN]:
                headers = {'Origin': origin} if origin else {}
                self.assert_ours(Client(app).get(path, base_url=BASE,
                        headers=headers), path, {404, 405, 308})
        self.assert_no_traceback()

    def test_backoffice_routes_keep_trytond_origin_check(self):
        "Test that JSON-RPC of a database named 'balie' is left to trytond"
        from werkzeug.exceptions import Forbidden
        # trytond's own check (the back office's CSRF defence) still runs
        with self.assertRaises(Forbidden):
            Client(app).post('/balie/rpc/', json={'method': 'common.version',
                    'params': []}, headers={'Origin': FOREIGN})
        # trytond's CORS preflight too
        response = Client(app).open('/balie/rpc/', method='OPTIONS')
        self.assertNotIn('X-Frame-Options', response.headers)

    def test_document_download_policy(self):
        "Test that downloads can be framed by nobody"
        from digitale_balie.web import secure_headers
        headers = secure_headers([('Content-Security-Policy',
                    "default-src 'none'; sandbox")])
        self.assertIn("frame-ancestors 'none'", dict(headers)[
                'Content-Security-Policy'])




class LogMaskTestCase(SecuritySweepTestCase):
    "No link, key, token, phone or national number in any log record"

    # the sweeps above are not run twice
    test_route_list_is_complete = None
    test_survey_session_opens_the_survey_only = None
    test_survey_link_outlives_personal_links_for_the_survey_only = None
    test_other_citizen_sees_nothing = None
    test_no_session_expired_and_revoked = None
    test_origins_methods_and_options = None
    test_document_download_policy = None
    test_backoffice_routes_keep_trytond_origin_check = None

    def logged(self):
        "Every record as a handler writes it, with its traceback."
        formatter = logging.Formatter(
            '%(asctime)s %(levelname)s %(name)s %(message)s')
        return '\n'.join(formatter.format(r) for r in self.records.records)

    def test_journey_leaves_nothing_personal_in_the_logs(self):
        "Test a citizen's journey and the webhooks at DEBUG: logs masked"
        from trytond.tests.test_tryton import DB_NAME
        mobile, national = '+32470123456', '85.07.30-033.28'
        appointment = self.book(self.service, START, notify_by='email_sms',
            mobile=mobile, name="Wim Wouters")
        card = self.link(appointment)
        _, survey = self.survey_link()
        client = Client(app)
        secrets = [card, card.replace('-', ''), survey, mobile,
            mobile.lstrip('+'), national, national.replace('.', '')
            .replace('-', '')]
        self.assertEqual(client.get('/a/%s' % card,
                base_url=BASE).status_code, 303)
        key = client.get_cookie('__Host-balie', domain=BASE.split('//')[1]
            ).value
        html = client.get('/balie', base_url=BASE).get_data(as_text=True)
        csrf = csrf_of(html)
        secrets += [key, csrf]
        for path in ['/balie/afspraak.ics', '/balie/verzetten',
                '/balie/wachtkamer', '/balie/documenten', '/balie/test']:
            client.get(path, base_url=BASE)
        client.post('/balie/taal', base_url=BASE,
            data={'lang': 'fr', 'csrf': csrf, 'next': '/balie'})
        # what trytond used to log with a traceback and the address
        client.get('/a/%s' % card, base_url=BASE,
            headers={'Origin': 'https://evil.example'})
        client.get('/a/%s?token=%s&msisdn=%s' % (card, card, mobile),
            base_url=BASE, headers={'Origin': 'null'})
        Client(app).get('/e/%s' % survey, base_url=BASE)
        Client(app).get('/balie/gesprek/%s' % card, base_url=BASE)
        # the webhooks: POST only, a GET's query string is refused
        webhook = '/%s/balie/sms/status' % DB_NAME
        self.assertEqual(Client(app).get(
                webhook + '?msisdn=%s' % mobile.lstrip('+')).status_code, 405)
        Client(app).post(webhook, data={'msisdn': mobile.lstrip('+'),
                'status': 'delivered', 'client-ref': 'x'})
        Client(app).post('/%s/balie/betalen/webhook' % DB_NAME,
            data={'id': 'tr_x'})
        # a module that logs what it should not
        logging.getLogger('digitale_balie.test').debug(
            "citizen %s at %s with %s, link /a/%s, cookie __Host-balie=%s",
            national, mobile, csrf, card, key)
        try:
            raise ValueError('/e/%s %s' % (survey, mobile))
        except ValueError:
            logging.getLogger('digitale_balie.test').exception("failed")
        text = self.logged()
        self.assertIn('/a/***', text)
        for secret in secrets:
            self.assertNotIn(secret, text)

    def test_gunicorn_logs_are_masked(self):
        "Test gunicorn's access and error logs with docker/gunicorn.conf.py"
        import os
        import runpy
        import tempfile
        from types import SimpleNamespace

        from gunicorn.config import Config
        settings = runpy.run_path(os.path.join(os.path.dirname(__file__),
                '..', 'docker', 'gunicorn.conf.py'))
        card, survey = 'k3x9-7mq2-abcd-efgh-jkmn-pqrs-tvwx', 'a' * 28
        key, mobile = 'Zq' * 21 + 'x', '32470123456'
        directory = tempfile.mkdtemp()
        self.addCleanup(__import__('shutil').rmtree, directory)
        combined = ('%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" '
            '"%(a)s" %({cookie}i)s %({set-cookie}o)s')
        for index, access_format in enumerate(
                [settings['access_log_format'], combined]):
            access = os.path.join(directory, 'access%s.log' % index)
            error = os.path.join(directory, 'error%s.log' % index)
            cfg = Config()
            cfg.set('accesslog', access)
            cfg.set('errorlog', error)
            cfg.set('loglevel', 'debug')
            cfg.set('access_log_format', access_format)
            logger = settings['logger_class'](cfg)
            uri = '/a/%s?msisdn=%s' % (card, mobile)
            environ = {'REQUEST_METHOD': 'GET', 'RAW_URI': uri,
                'SERVER_PROTOCOL': 'HTTP/1.1', 'PATH_INFO': '/a/' + card,
                'QUERY_STRING': 'msisdn=' + mobile, 'REMOTE_ADDR': '10.0.0.1',
                'HTTP_REFERER': 'https://balie.example/e/' + survey,
                'HTTP_USER_AGENT': 'test'}
            response = SimpleNamespace(status='303 See Other', sent=0,
                headers=[('Set-Cookie', '__Host-balie=%s; Secure' % key)])
            request = SimpleNamespace(
                headers=[('Cookie', '__Host-balie=%s' % key)])
            logger.access(response, request, environ,
                dt.timedelta(seconds=1))
            try:
                raise RuntimeError(uri)
            except RuntimeError:
                logger.exception("Error handling request %s", uri)
            logger.debug("GET %s", '/balie/gesprek/' + card)
            for handler in (logger.access_log.handlers
                    + logger.error_log.handlers):
                handler.flush()
            text = open(access).read() + open(error).read()
            self.assertIn('/a/***', text)
            for secret in [card, survey, key, mobile]:
                self.assertNotIn(secret, text, access_format)
