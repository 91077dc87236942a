# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Helpers that the tests of balie_sign share (no tests).

The citizens' numbers and the real OpenID provider (identity), the
signing certificate and the citizen's browser (signature, payment),
the photos of a phone (documents) and `SignCase`: a database with
balie_sign, a municipality, the portal and the fixtures of each family
of tests."""
import html
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
import urllib.parse
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import requests
from PIL import Image
from werkzeug.test import Client

from trytond.i18n import gettext
from trytond.pool import Pool
from trytond.tests.test_tryton import DB_NAME
from trytond.transaction import Transaction

from balie_sign import pades
from digitale_balie.tests.browser import browser_required
from digitale_balie.tests.tools import (
    BASE, OutboxCase, START, as_user, create_citizen, create_municipality,
    csrf_of)

ROOT = Path(__file__).resolve().parents[3]
OIDC_SCRIPT = Path(__file__).with_name('oidc_provider.js')
OIDC_DIR = Path(os.environ.get('BALIE_OIDC_DIR') or ROOT / 'var' / 'oidc')
CALLBACK = BASE + '/balie/identiteit/terug'
MARIA = '85073003328'
JAN = '90010112395'
OTHER = '75031545611'
HIGH = 'urn:be:fedict:iam:fas:Level500'
SUBSTANTIAL = 'urn:be:fedict:iam:fas:Level450'
CLIENT_SECRET = 'balie-client-secret-0123456789'


def card_number(first_ten='5912345678'):
    "A valid Belgian identity card number."
    return first_ten + '%02d' % (int(first_ten) % 97 or 97)


def oidc_missing():
    "Why the OpenID provider cannot run here, or an empty list."
    reasons = []
    if not shutil.which('node'):
        reasons.append('node not found (apt-get install nodejs; '
            'scripts/bootstrap does)')
    if not (OIDC_DIR / 'node_modules' / 'oidc-provider'
            / 'package.json').is_file():
        reasons.append('oidc-provider is missing in %s (run scripts/oidc; '
            'scripts/bootstrap does)' % OIDC_DIR)
    return reasons


def require_oidc(name):
    "Skip with the reason, or fail when BALIE_REQUIRE_BROWSER is set."
    reasons = oidc_missing()
    if reasons:
        message = 'OpenID provider cannot run: ' + '; '.join(reasons)
        if browser_required():
            raise RuntimeError(message + ' (BALIE_REQUIRE_BROWSER is set)')
        print('%s: skipped, %s' % (name, message), file=sys.stderr)
        raise unittest.SkipTest(message)


class OIDCProvider:
    "oidc-provider in a Node process on a free port of 127.0.0.1."

    def __init__(self, redirect_uris, jwks=None):
        require_oidc(type(self).__name__)
        self.directory = tempfile.mkdtemp(prefix='balie-oidc-')
        clients = [{
                'client_id': 'balie',
                'client_secret': CLIENT_SECRET,
                'redirect_uris': redirect_uris,
                'grant_types': ['authorization_code'],
                'response_types': ['code'],
                'token_endpoint_auth_method': 'client_secret_basic',
                }]
        if jwks:
            clients.append({
                    'client_id': 'balie-jwt',
                    'redirect_uris': redirect_uris,
                    'grant_types': ['authorization_code'],
                    'response_types': ['code'],
                    'token_endpoint_auth_method': 'private_key_jwt',
                    'jwks': jwks,
                    })
        settings = os.path.join(self.directory, 'provider.json')
        with open(settings, 'w') as file:
            json.dump({'clients': clients,
                    'acr_values': [HIGH, SUBSTANTIAL]}, file)
        self.log = open(os.path.join(self.directory, 'provider.log'), 'w+')
        self.process = subprocess.Popen(
            ['node', str(OIDC_SCRIPT), settings],
            stdout=subprocess.PIPE, stderr=self.log, text=True,
            env=dict(os.environ, BALIE_OIDC_DIR=str(OIDC_DIR)))
        line = self.process.stdout.readline()
        if not line:
            self.stop()
            self.log.seek(0)
            raise RuntimeError('oidc-provider did not start: '
                + self.log.read()[-2000:])
        self.issuer = json.loads(line)['issuer']

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process.stdout.close()
        self.log.close()
        shutil.rmtree(self.directory, ignore_errors=True)

    def login(self, url, national_number, acr=HIGH, redirect_uri=CALLBACK,
            cancel=False):
        """Log in at the provider as a citizen's browser does; return the
        address the provider sends the citizen back to."""
        session = requests.Session()
        response = session.get(url, timeout=10)
        response.raise_for_status()
        action = re.search(r'action="([^"]+/%s)"' % (
                'abort' if cancel else 'login'), response.text).group(1)
        response = session.post(urllib.parse.urljoin(response.url, action),
            data={'login': national_number, 'acr': acr},
            allow_redirects=False, timeout=10)
        for _ in range(10):
            location = urllib.parse.urljoin(response.url,
                response.headers['Location'])
            if location.startswith(redirect_uri):
                return location
            response = session.get(location, allow_redirects=False,
                timeout=10)
        raise AssertionError('the provider did not send the citizen back')


# -- signature and payment ---------------------------------------------------

PASSPHRASE = 'geheim-voor-de-test'
CITIZEN_IP = '203.0.113.7'
_CERTIFICATE = {}
IBAN = 'BE71 0961 2345 6769'
BIC = 'GKCCBEBB'


def signing_certificate():
    "One self-signed certificate for the whole test run (RSA is slow)."
    if not _CERTIFICATE:
        _CERTIFICATE['p12'] = pades.make_test_certificate(
            "Gemeente Voorbeeld (test)", "Gemeente Voorbeeld", PASSPHRASE)
    return _CERTIFICATE['p12']


def make_pdf(text="Aanvraag mantelzorgpremie"):
    from weasyprint import HTML
    return HTML(string='<h1>%s</h1><p>Naam: Maria Janssens</p>'
        % html.escape(text)).write_pdf()


class Browser(Client):
    "The citizen's browser, from their own address."

    def open(self, *args, **kwargs):
        kwargs.setdefault('environ_base', {'REMOTE_ADDR': CITIZEN_IP})
        return super().open(*args, **kwargs)


def page_text(response):
    "The page of a response as the citizen reads it (no HTML entities)."
    return html.unescape(response.get_data(as_text=True))


# -- documents ---------------------------------------------------------------

def photo(size=(64, 48), format_='JPEG', gps=True, orientation=None):
    "A photo as a phone makes it: with camera, GPS and orientation tags."
    image = Image.new('RGB', size, (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = 'PhoneMaker'
    exif[0x0110] = 'Phone X'
    if orientation:
        exif[0x0112] = orientation
    if gps:
        exif[0x8825] = {
            1: 'N', 2: (50.0, 51.0, 0.0), 3: 'E', 4: (4.0, 21.0, 0.0)}
    output = io.BytesIO()
    image.save(output, format_, exif=exif.tobytes())
    return output.getvalue()


def camera_photo(size=(640, 480)):
    "A bigger photo of a phone's camera, with only the maker's tag."
    image = Image.new('RGB', size, (30, 90, 160))
    exif = Image.Exif()
    exif[0x010F] = 'PhoneMaker'
    output = io.BytesIO()
    image.save(output, 'JPEG', exif=exif.tobytes())
    return output.getvalue()


# -- the case ----------------------------------------------------------------

class SignCase(OutboxCase):
    """A database with balie_sign, a municipality, the portal's citizen
    pages and the fixtures of the identity, signature, payment and
    document tests (no test here)."""
    modules = ['balie_sign']
    oidc_settings = {}

    def setUp(self):
        super().setUp()
        self.serve_portal()

    # -- the portal

    def get(self, client, path, status=200):
        "The portal's response, checking its status."
        response = client.get(path, base_url=BASE)
        self.assertEqual(response.status_code, status, path)
        return response

    def page(self, client, path):
        "The portal's status and page (HTML)."
        response = client.get(path, base_url=BASE)
        return response.status_code, response.get_data(as_text=True)

    def csrf(self, client, path):
        "The form token of the portal's page."
        return csrf_of(self.get(client, path).get_data(as_text=True))

    def post(self, client, path, data, status=303):
        "Send the form of the page with its token, checking the status."
        page = self.get(client, path).get_data(as_text=True)
        data = dict(data, csrf=csrf_of(page))
        response = client.post(path, base_url=BASE, data=data)
        self.assertEqual(response.status_code, status,
            page_text(response)[:2000])
        return response

    def text(self, message_id, language='nl', **values):
        "A message as the citizen reads it."
        with Transaction().start(DB_NAME, 0, readonly=True,
                context={'language': language}):
            return gettext(message_id, **values)

    # -- the dossier

    def dossier_id(self, appointment):
        "The appointment's dossier id (inside a transaction)."
        return Pool().get('balie.appointment')(appointment).dossier.id

    def dossier_of(self, appointment):
        "The appointment's dossier id."
        with self.transaction():
            return self.dossier_id(appointment)

    def dossier_events(self, dossier, kind):
        with self.transaction():
            Event = Pool().get('balie.dossier.event')
            return [e.description for e in Event.search([
                        ('dossier', '=', dossier), ('kind', '=', kind)],
                    order=[('id', 'ASC')])]

    def events(self, appointment, kind):
        return self.dossier_events(self.dossier_of(appointment), kind)

    def call_tasks(self, appointment, new_session=False):
        """The tasks next to the call in the citizen's portal session: the
        one session of the browser that opened the link, or a new one."""
        with self.transaction():
            pool = Pool()
            Session = pool.get('balie.portal.session')
            Portal = pool.get('balie.portal')
            if new_session:
                Token = pool.get('balie.access.token')
                Appointment = pool.get('balie.appointment')
                token, _ = Token.generate(Appointment(appointment), 'card')
                session = Session.find(Session.open(token))
            else:
                session, = Session.search([
                        ('token.appointment', '=', appointment)])
            return Portal.call_tasks(session)

    def configure(self, **values):
        "Change the municipality's configuration."
        with self.transaction(_lock_tables=['balie_configuration']):
            Configuration = Pool().get('balie.configuration')
            Configuration.write([Configuration(1)], values)

    # -- identity: a citizen with a national number in the call

    def call(self, name="Maria Janssens", national_number=MARIA,
            language='en', notify_by='email', start=START, started=True,
            email='maria.janssens@example.be', mobile='+32470123456'):
        """A citizen with a national register number in a video call (the
        clerk started it); return the appointment id."""
        if not getattr(self, 'service', None):
            self.company, self.employees, self.service = self.setup_balie(
                check_email_domain=False, **self.oidc_settings)
        with self.transaction():
            pool = Pool()
            Appointment = pool.get('balie.appointment')
            Identifier = pool.get('party.identifier')
            party = create_citizen(name, lang=language)
            if national_number:
                Identifier(party=party, type='be_nn',
                    code=national_number).save()
            appointment = Appointment(Appointment.book_slot({
                        'service': self.service, 'party': party.id,
                        'start': start, 'notify_by': notify_by,
                        'contact_email': email, 'contact_mobile': mobile,
                        'language': language}))
            if started:
                Appointment.start_service([appointment])
            return appointment.id

    # -- signature and payment: a municipality that signs, a booked call

    def municipality(self, **configuration):
        "A municipality with the signing certificate and the SMS gateway."
        values = {
            'signing_certificate': signing_certificate(),
            'signing_passphrase': PASSPHRASE,
            }
        values.update(configuration)
        self.company, self.employees, self.service = self.setup_balie(
            **values)

    def appointment(self, name="Maria Janssens", mobile='+32470123456',
            email='maria.janssens@example.be', notify_by='email_sms',
            start=START):
        "A booked video appointment in the municipality(); its id."
        if not getattr(self, 'service', None):
            self.municipality()
        return self.book(self.service, start, notify_by=notify_by,
            email=email, mobile=mobile, name=name)

    def signature_document(self, appointment,
            text="Aanvraag mantelzorgpremie"):
        "The application form's PDF on the dossier."
        with self.transaction():
            pool = Pool()
            Document = pool.get('balie.document')
            Appointment = pool.get('balie.appointment')
            record = Appointment(appointment)
            document = Document.store(record.dossier, make_pdf(text),
                'aanvraag.pdf', 'application_form', source='system',
                appointment=record, description=text)
            return document.id

    def ask_signature(self, appointment, document=None, title=None):
        "The clerk asks for a signature with the dossier's button."
        document = document or self.signature_document(appointment)
        with self.transaction():
            pool = Pool()
            RequestSignature = pool.get('balie.signature.request',
                type='wizard')
            Appointment = pool.get('balie.appointment')
            dossier = Appointment(appointment).dossier
            session_id, _, _ = RequestSignature.create()
            with Transaction().set_context(active_model='balie.dossier',
                    active_id=dossier.id, active_ids=[dossier.id]):
                result = RequestSignature.execute(session_id, {}, 'start')
                defaults = result['view']['defaults']
                self.assertEqual(defaults['document'], document)
                RequestSignature.execute(session_id, {'start': {
                            'dossier': dossier.id,
                            'document': document,
                            'title': title or defaults['title'],
                            }}, 'request')
            SignatureRequest = pool.get('balie.signature.request')
            request, = SignatureRequest.search([
                    ('document', '=', document)])
            # the citizen, through the dossier: read and searched
            self.assertEqual(request.party, dossier.party)
            self.assertIn(request, SignatureRequest.search(
                    [('party', '=', dossier.party.id)]))
            return request.reference

    def request_payment(self, appointment, amount=None, description=None):
        "The clerk asks for the service's fee with the dossier's button."
        with self.transaction():
            pool = Pool()
            RequestPayment = pool.get('balie.payment.request', type='wizard')
            Appointment = pool.get('balie.appointment')
            Payment = pool.get('balie.payment')
            dossier = Appointment(appointment).dossier
            session_id, _, _ = RequestPayment.create()
            with Transaction().set_context(active_model='balie.dossier',
                    active_id=dossier.id, active_ids=[dossier.id]):
                defaults = RequestPayment.execute(session_id, {}, 'start')[
                    'view']['defaults']
                self.assertEqual(defaults['amount'], Decimal('25.00'))
                self.assertEqual(defaults['description'],
                    "Mantelzorgpremie aanvragen")
                RequestPayment.execute(session_id, {'start': {
                            'dossier': dossier.id,
                            'amount': amount or defaults['amount'],
                            'description': (description
                                or defaults['description']),
                            }}, 'request')
            payment, = Payment.search([('dossier', '=', dossier.id)],
                order=[('id', 'DESC')], limit=1)
            return payment.reference

    # -- documents: a municipality that takes documents, its clerk

    def document_municipality(self, **configuration):
        "A municipality with a service and clerks (once per test)."
        if getattr(self, 'service', None):
            return self.service
        with self.transaction(_lock_tables=['balie_configuration']):
            company, employees, service = create_municipality(BASE, **{
                    'document_max_size': 10,
                    'document_formats': ['pdf', 'jpeg', 'png'],
                    **configuration})
            self.context = {'company': company.id}
            self.company = company.id
            self.employees = [e.id for e in employees]
            self.service = service.id
        return self.service

    def book_call(self, name="Maria Janssens", start=START, language='nl'):
        """A booked video appointment of a new citizen in the
        document_municipality(); its id."""
        service = self.document_municipality()
        with self.transaction():
            Appointment = Pool().get('balie.appointment')
            party = create_citizen(name, lang=language)
            return Appointment.book_slot({
                    'service': service, 'party': party.id, 'start': start,
                    'notify_by': 'paper', 'language': language})

    def clerk(self, login='anna'):
        "A clerk user of the municipality (the first clerk); its id."
        with self.transaction():
            pool = Pool()
            User = pool.get('res.user')
            ModelData = pool.get('ir.model.data')
            Employee = pool.get('company.employee')
            users = User.search([('login', '=', login)])
            user = users[0] if users else User(login=login, name=login,
                groups=[ModelData.get_id(
                        'digitale_balie', 'group_balie_clerk')])
            # the municipality of this test
            user.companies = [self.company]
            user.company = self.company
            user.employees = [self.employees[0]]
            user.employee = Employee(self.employees[0])
            user.save()
            return user.id

    @contextmanager
    def as_clerk(self):
        "A transaction in which the clerk acts through RPC."
        user = self.clerk()
        with self.transaction():
            User = Pool().get('res.user')
            with as_user(User(user)):
                yield
