# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The guiding case, end to end, in real browsers (issue #8).

Anna, a clerk, logs into the web client (sao) and books a video
appointment for Maria Janssens with the counter wizard, then prints the
booking card.  Maria's confirmation reaches the local SMTP server; she
follows its link on her phone, tests her camera and waits.  Anna starts
the call; Maria shows who she is at the OpenID provider, sends a photo of
a document, fills in the form with Anna, signs it with a code sent by
e-mail and pays online through the local Mollie server.  Anna ends the
call and books a follow-up; Maria answers the survey; the manager's
figures count the appointment and the response.

Each step leaves a screenshot in artifacts/screenshots/<backend>/
journey-NN-*.png; the citizen's pages are checked with axe-core.

Through sao's screens: both logins, the booking wizard and its card, the
appointment's "Start Video Call" and "End Call" buttons with the follow-up
in the End Call wizard, and the manager's survey figures.  Three clerk
actions that would need sao's dossier form and its sub-wizards (complete
the form, request the signature, request the payment) and the manager's
figures as numbers go through ``Sao.rpc`` with the logged-in session:
the same requests, as the same user, that those buttons send (see
tests/sao.py and each step's comment).  The earlier responses that make
the survey figures visible (they hide fewer than five) are recorded in
the database beforehand."""
import datetime as dt
import io
import re
import time
import unittest
from decimal import Decimal

from aiosmtpd.controller import Controller
from playwright.sync_api import expect
from pypdf import PdfReader

from trytond import config
from trytond.pool import Pool
from trytond.wsgi import app

from digitale_balie.slots import to_utc
from digitale_balie.tests.browser import BrowserTestCase, browser_required

from balie_sign.tests.payment_server import FakeMollie
from balie_sign.tests.tools import (
    CLIENT_SECRET, HIGH, PASSPHRASE, SUBSTANTIAL, OIDCProvider,
    camera_photo, signing_certificate)
from balie_survey.survey import local_day, month_of_week, week_of
from digitale_balie.tests.tools import Mailbox, START, TUESDAY, free_port

from . import sao

# Monday 7 December 2026, 16:00 in Brussels: Maria is at the counter
AT_THE_COUNTER = to_utc(TUESDAY - dt.timedelta(days=1), dt.time(16, 0))
DOMAIN = 'meet.voorbeeld.test'
JITSI_SECRET = 'jitsi-journey-secret-0123456789abcdef'
CLERK = ('anna', 'Anna-Balie-2026!')
MANAGER = ('els', 'Els-Cijfers-2026!')
CITIZEN = "Maria Janssens"
CITIZEN_EMAIL = 'maria.janssens@example.be'

# Jitsi's external_api.js, replaced: what the page asks of it is recorded
JITSI_STAND_IN = """
window.JitsiMeetExternalAPI = function (domain, options) {
    var listeners = {};
    var frame = document.createElement('iframe');
    frame.title = 'Jitsi Meet';
    frame.src = 'about:blank';
    options.parentNode.appendChild(frame);
    window.jitsiStandIn = {domain: domain, roomName: options.roomName};
    this.addListener = function (name, callback) {
        listeners[name] = callback;
    };
    window.jitsiStandIn.fire = function (name) { listeners[name]({}); };
};
"""



def as_json(date):
    "A date as trytond's JSON-RPC (and sao) writes it."
    return {'__class__': 'date', 'year': date.year, 'month': date.month,
        'day': date.day}


def values_of(step):
    "The values a wizard step showed, without the names of its records."
    return {k: v for k, v in step['view']['defaults'].items()
        if '.' not in k}


def plain(message):
    return message.get_body(('plain',)).get_content()


class JourneyTestCase(BrowserTestCase):
    "Test the guiding case's journey in Chromium, from counter to figures"
    modules = ['digitale_balie', 'balie_video', 'balie_sign', 'balie_survey']

    @classmethod
    def setUpClass(cls):
        reason = sao.sao_missing()
        if reason:
            if browser_required():
                raise RuntimeError(reason + ' (BALIE_REQUIRE_BROWSER is set)')
            raise unittest.SkipTest(reason)
        cls.mailbox = Mailbox()
        cls.smtp_port = free_port()
        cls.smtp = Controller(
            cls.mailbox, hostname='127.0.0.1', port=cls.smtp_port)
        cls.smtp.start()
        cls.addClassCleanup(cls.smtp.stop)
        for section, option, value in [
                ('email', 'uri', 'smtp://127.0.0.1:%s' % cls.smtp_port),
                ('email', 'from',
                    'Gemeente Voorbeeld <balie@voorbeeld.example>'),
                ('balie_video', 'poll_seconds', '1'),
                ('balie_sign', 'form_poll_seconds', '1'),
                ]:
            if not config.has_section(section):
                config.add_section(section)
            cls.addClassCleanup(config.set, section, option,
                config.get(section, option, default=None) or '')
            config.set(section, option, value)
        super().setUpClass()
        cls.mollie_events = []
        cls.mollie = FakeMollie(deliver_webhooks=True,
            on_event=lambda kind, data: cls.mollie_events.append(
                (kind, data.get('status') or data.get('answer')))).start()
        cls.addClassCleanup(cls.mollie.close)
        cls.provider = OIDCProvider([cls.base_url + '/balie/identiteit/terug'])
        cls.addClassCleanup(cls.provider.stop)

    def setUp(self):
        super().setUp()
        # sao renders a value after its widget: assertions wait for it
        expect.set_options(timeout=30_000)
        self.addCleanup(expect.set_options, timeout=5_000)

    @classmethod
    def wsgi_application(cls):
        "The portal and, at '/', the web client (sao)."
        return sao.serve_sao(app)

    # -- the municipality --------------------------------------------------

    def setup_municipality(self):
        company, employees, service = self.setup_balie(
            check_email_domain=False, call_backend='jitsi',
            jitsi_domain=DOMAIN, jitsi_app_id='balie',
            jitsi_secret=JITSI_SECRET,
            oidc_issuer=self.provider.issuer,
            oidc_client_id='balie',
            oidc_client_secret=CLIENT_SECRET,
            oidc_acr_values=HIGH + ' ' + SUBSTANTIAL,
            signing_certificate=signing_certificate(),
            signing_passphrase=PASSPHRASE,
            payment_iban='BE71 0961 2345 6769',
            payment_bic='GKCCBEBB',
            payment_beneficiary="Gemeente Voorbeeld",
            payment_provider='mollie',
            mollie_url=self.mollie.url,
            mollie_api_key=self.mollie.api_key)
        with self.transaction():
            pool = Pool()
            User = pool.get('res.user')
            Service = pool.get('balie.service')
            ModelData = pool.get('ir.model.data')
            Service.write([Service(service)], {
                    'form_definition': ModelData.get_id(
                        'balie_sign', 'form_caregiver_allowance'),
                    'fee': Decimal('25.00'),
                    })

            def user(login, password, group, name, employee=None):
                values = {
                    'name': name, 'login': login, 'password': password,
                    'groups': [('add', [
                                ModelData.get_id('digitale_balie', group)])],
                    'companies': [('add', [company])],
                    'company': company,
                    }
                if employee:
                    values['employees'] = [('add', [employee])]
                    values['employee'] = employee
                user, = User.create([values])
                return user.id
            self.clerk = user(*CLERK, 'group_balie_clerk', "Anna Peeters",
                employees[0])
            self.manager = user(*MANAGER, 'group_balie_manager',
                "Els Maes")
        return company, employees, service

    def earlier_responses(self, service, count):
        """`count` anonymous responses to the survey in the week of the
        appointment (from earlier calls), so that the journey's response
        is the one that shows the figures (they hide fewer than five)."""
        with self.transaction():
            pool = Pool()
            Response = pool.get('balie.survey.response')
            Survey = pool.get('balie.survey')
            Service = pool.get('balie.service')
            survey, = Survey.search([('default', '=', True)])
            questions = {q.role or q.type: q for q in survey.questions}
            service = Service(service)
            for _ in range(count):
                Response.record(survey=survey, company=service.company,
                    service=service, channel='video',
                    week=week_of(local_day(START)), answers=[
                        {'question': questions['satisfaction'], 'value': 4},
                        {'question': questions['use_again'], 'value': 1},
                        ])

    def survey_figures(self, service):
        """The manager's survey figures of the appointment's month and
        service, read as the manager."""
        return self.manager_client.rpc(
            'model.balie.survey.statistics.search_read', [
                ('month', '=', as_json(month_of_week(
                            week_of(local_day(START))))),
                ('service', '=', service)],
            0, None, None, ['invitations', 'responses', 'hidden',
                'satisfaction', 'use_again'])

    def wait_until(self, condition, seconds=20, message='condition'):
        "Poll the database (through `condition`) until it holds."
        deadline = time.monotonic() + seconds
        while not condition():
            if time.monotonic() > deadline:
                self.fail('%s not met in %s s' % (message, seconds))
            time.sleep(0.1)

    def appointment_values(self, appointment, *names):
        with self.transaction():
            record = Pool().get('balie.appointment')(appointment)
            return tuple(getattr(record, n) for n in names)

    # -- the journey -------------------------------------------------------

    def test_journey(self):
        "Test the journey: counter, mail, call, acts, survey, figures"
        company, employees, service = self.setup_municipality()
        self.clock.now = AT_THE_COUNTER

        # 1. Anna logs into the web client
        desk = self.new_page(1280)
        client = sao.Client(desk, self.base_url)
        self.addCleanup(self.screenshot, desk, 'journey-99-clerk-last')
        client.login(self.db_name, *CLERK)
        self.screenshot(desk, 'journey-01-clerk-logged-in')

        # 2. the booking wizard, from the menu: a new citizen
        client.open_menu('Digitale Balie', 'Book Appointment')
        wizard = client.wizard('Book Appointment')
        # the municipality's language is proposed
        expect(client.field('language', wizard)).to_have_value('Dutch')
        client.fill('name', CITIZEN, wizard)
        client.fill('email', CITIZEN_EMAIL, wizard)
        client.fill('national_number', '85.07.30-033.28', wizard)
        self.screenshot(desk, 'journey-02-wizard-citizen')
        client.step(wizard, 'Next', client.field('service', wizard))

        # the service and the first free slots: Tuesday 10:30 with Anna,
        # once the step's defaults (today, the company) are there
        expect(client.field('date', wizard)).to_have_value('12/07/2026')
        client.many2one('service', 'Mantelzorg',
            "Mantelzorgpremie aanvragen", wizard)
        slot = client.field('slot', wizard)
        option = slot.locator('option', has_text=re.compile(
                r'Tue 8 Dec 2026 10:30 — Anna Peeters'))
        option.wait_for(state='attached')
        slot.select_option(option.get_attribute('value'))
        expect(client.field('channel', wizard).locator(
                'option:checked')).to_have_text('Video')
        self.screenshot(desk, 'journey-03-wizard-slot')
        client.step(wizard, 'Next', client.field('by_email', wizard))

        # what sao offers: the e-mail, no SMS without a mobile number
        expect(client.field('by_email', wizard)).to_be_checked()
        expect(client.field('by_sms', wizard)).not_to_be_checked()
        client.step(wizard, 'Next', client.field('summary', wizard))
        expect(client.field('summary', wizard)).to_have_value(re.compile(
                r'%s.*Mantelzorgpremie aanvragen \(Video\).*'
                r'Anna Peeters.*Dutch.*E-mail' % CITIZEN, re.DOTALL))
        self.screenshot(desk, 'journey-04-wizard-confirm')
        client.step(wizard, 'Book', client.field('status', wizard))

        # 3. booked: the confirmation reaches the citizen's mailbox, and
        # Anna, refreshing the last step, sees it sent
        expect(client.field('email', wizard)).to_have_value(CITIZEN_EMAIL)
        self.screenshot(desk, 'journey-05-booked')
        mail = self.mailbox.wait_for(lambda m: CITIZEN_EMAIL in m['To'])
        self.assertIn('dinsdag 8 december 2026', mail['Subject'])
        self.assertEqual(mail['Content-Language'], 'nl')
        link = re.search(r'%s/a/\S+' % re.escape(self.base_url),
            plain(mail)).group(0)
        client.wait_idle()
        client.button('Refresh', wizard).click()
        expect(client.field('status', wizard)).to_have_value(re.compile(
                r'E-mail · (Sent|Delivered) → .*%s' % re.escape(
                    CITIZEN_EMAIL)))
        self.screenshot(desk, 'journey-06-confirmation-sent')

        # 4. the booking card, printed from the last step (the end)
        client.wait_idle()
        with desk.expect_download() as download:
            client.button('Print Booking Card', wizard).click()
        wizard.wait_for(state='detached')
        card = download.value
        self.assertTrue(card.suggested_filename.endswith('.pdf'))
        pdf = open(card.path(), 'rb').read()
        self.assertTrue(pdf.startswith(b'%PDF'))
        card_text = ' '.join(p.extract_text()
            for p in PdfReader(io.BytesIO(pdf)).pages)
        self.assertIn('Maria', card_text)
        self.assertIn('10.30', card_text)
        with self.transaction():
            Appointment = Pool().get('balie.appointment')
            appointment, = Appointment.search([
                    ('party.name', '=', CITIZEN)])
            self.assertEqual((appointment.start, appointment.employee.id,
                    appointment.origin, appointment.notify_by,
                    appointment.create_uid.id),
                (START, employees[0], 'counter', 'email', self.clerk))
            appointment_id = appointment.id
            dossier_id = appointment.dossier.id

        # 5. Maria follows the link on her phone and tests her camera
        phone = self.new_page(360)
        self.addCleanup(self.screenshot, phone, 'journey-99-citizen-last')
        phone.route('https://%s/external_api.js' % DOMAIN,
            lambda route: route.fulfill(status=200, body=JITSI_STAND_IN,
                content_type='text/javascript'))
        response = phone.goto(link)
        self.assertEqual(response.status, 200)
        self.assertEqual(phone.url, self.url('/balie'))
        self.assertIn('Maria',
            phone.get_by_role('heading', level=1).first.inner_text())
        self.assertIn('dinsdag 8 december 2026',
            phone.locator('main').inner_text())
        self.screenshot(phone, 'journey-07-personal-page')
        self.check_axe(phone, 'journey-personal-page')
        with self.transaction():
            Message = Pool().get('balie.message')
            confirmation, = Message.search([
                    ('appointment', '=', appointment_id),
                    ('kind', '=', 'confirmation')])
            self.assertEqual(confirmation.state, 'opened')
        phone.locator('a[href="/balie/test"]').first.click()
        phone.wait_for_url(self.url('/balie/test'))
        phone.locator('#device-check button').first.click()
        phone.wait_for_function(
            "() => document.getElementById('preview').videoWidth > 0")
        phone.wait_for_selector('#camera-state.ok')
        # the fake microphone's beep moves the level meter
        phone.wait_for_function(
            "() => document.getElementById('meter').value > 0")
        self.screenshot(phone, 'journey-08-camera-check')
        self.check_axe(phone, 'journey-camera-check')
        phone.get_by_role('button', name='Ja, het werkt').click()
        phone.wait_for_function("() => document.getElementById("
            "'device-check').dataset.result === 'passed'")
        self.assertEqual(self.appointment_values(
                appointment_id, 'device_tested'), ('passed',))

        # 6. Tuesday, five minutes early: the waiting room
        self.clock.now = START - dt.timedelta(minutes=5)
        phone.goto(self.url('/balie'))
        phone.locator('a[href="/balie/wachtkamer"]').first.click()
        phone.wait_for_url(self.url('/balie/wachtkamer'))
        phone.wait_for_function(
            "() => document.getElementById('self-view').videoWidth > 0")
        self.wait_until(lambda: self.appointment_values(
                appointment_id, 'citizen_waiting')[0],
            message='the clerk sees Maria waiting')
        self.screenshot(phone, 'journey-09-waiting-room')
        self.check_axe(phone, 'journey-waiting-room')

        # 7. Anna opens the appointment in the client and starts the call:
        # her meeting opens in a new tab, Maria's page joins the same room
        self.clock.now = START
        desk.context.route('https://%s/**' % DOMAIN,
            lambda route: route.fulfill(status=200, content_type='text/html',
                body='<!DOCTYPE html><title>Jitsi Meet</title>'))
        client.open_menu('Digitale Balie', 'Appointments')
        client.open_row(CITIZEN)
        start_call = client.button('Start Video Call')
        start_call.wait_for()
        self.screenshot(desk, 'journey-10-appointment')
        client.wait_idle()
        with desk.context.expect_page() as meeting:
            start_call.click()
        meeting_url = meeting.value.url
        self.assertTrue(meeting_url.startswith('https://%s/' % DOMAIN))
        meeting.value.close()
        phone.wait_for_function('() => window.jitsiStandIn !== undefined')
        with self.transaction():
            room = Pool().get('balie.appointment')(
                appointment_id).video_room
            self.assertEqual(room.state, 'open')
            self.assertIn(room.name, meeting_url)
            self.assertEqual(phone.evaluate('window.jitsiStandIn.roomName'),
                room.name)
        self.screenshot(phone, 'journey-11-in-the-call')

        # next to the call, Maria opens the tasks in a second tab
        tasks = phone.context.new_page()
        tasks.set_default_timeout(15_000)

        # 8. identity: at the OpenID provider, and back
        tasks.goto(self.url('/balie/identiteit'))
        self.check_axe(tasks, 'journey-identity')
        tasks.locator('form[action="/balie/identiteit/start"] button').click()
        tasks.wait_for_url(self.provider.issuer + '/interaction/**')
        tasks.get_by_label('Rijksregisternummer').fill('85.07.30-033.28')
        tasks.get_by_role('button', name='Aanmelden').click()
        tasks.wait_for_url(self.url('/balie/identiteit?uitkomst=*'))
        tasks.wait_for_selector('#identity-done')
        self.screenshot(tasks, 'journey-12-identity')
        with self.transaction():
            Check = Pool().get('balie.identity.check')
            check, = Check.search([('appointment', '=', appointment_id)])
            self.assertEqual((check.state, check.assurance),
                ('verified', 'high'))

        # 9. a document: a photo from the phone
        tasks.goto(self.url('/balie/documenten'))
        tasks.set_input_files('#document-file', files=[{
                    'name': 'IMG_0042.JPG', 'mimeType': 'image/jpeg',
                    'buffer': camera_photo()}])
        tasks.locator('input[name=type][value=identity]').check()
        tasks.locator('#document-description').fill("Voorkant")
        with tasks.expect_navigation():
            tasks.locator('#document-submit').click()
        tasks.wait_for_selector('#document-sent')
        self.screenshot(tasks, 'journey-13-document')
        self.check_axe(tasks, 'journey-document')
        with self.transaction():
            Document = Pool().get('balie.document')
            self.assertEqual([(d.name, d.source) for d in Document.search(
                        [('dossier', '=', dossier_id)])],
                [('IMG_0042.jpg', 'citizen')])

        # 10. the form, filled in together; Anna completes it (the form's
        # "Complete" button, model.balie.form.complete)
        tasks.goto(self.url('/balie/formulier'))
        self.assertEqual(tasks.locator('#a-caregiver_name').input_value(),
            CITIZEN)
        for name, value in [('cared_name', "Jozef Janssens"),
                ('iban', 'BE62 5100 0754 7061'),
                ('hours_per_week', '16'),
                ('cared_national_number', '40010100140'),
                ('caregiver_national_number', '85073003328'),
                ('street', "Kerkstraat 12"), ('postal_code', '9000'),
                ('city', "Gent"), ('start_date', '2025-03-01')]:
            tasks.locator('#a-' + name).fill(value)
        tasks.locator('#a-relationship').select_option('parent')
        tasks.locator('#a-declaration').check()
        tasks.locator('#a-street').focus()

        def form():
            with self.transaction():
                pool = Pool()
                Form = pool.get('balie.form')
                Appointment = pool.get('balie.appointment')
                record = Form.for_dossier(Appointment(appointment_id).dossier)
                if record is None:  # created with the first answer
                    return None, ['all']
                return record.id, record.missing_questions()
        self.wait_until(lambda: not form()[1],
            message='every answer saved')
        self.screenshot(tasks, 'journey-14-form')
        client.rpc('model.balie.form.complete', [form()[0]])
        tasks.wait_for_selector('#form-completed')
        self.check_axe(tasks, 'journey-form-completed')

        # 11. the signature: Anna asks for it (the dossier's "Request
        # Signature" wizard); Maria agrees and types the code she got
        # by e-mail
        client.run_wizard('balie.signature.request', dossier_id,
            'balie.dossier', [('start', {}), ('request', lambda shown: {
                        'start': dict(values_of(shown),
                            dossier=dossier_id)})])
        with self.transaction():
            SignatureRequest = Pool().get('balie.signature.request')
            request, = SignatureRequest.search([
                    ('dossier', '=', dossier_id)])
            # what is signed: the form's PDF, made when Anna completed it
            self.assertEqual(request.document.type.code, 'application_form')
            reference = request.reference
        seen = list(self.mailbox.messages)
        tasks.goto(self.url('/balie/ondertekenen/%s' % reference))
        self.check_axe(tasks, 'journey-signature')
        tasks.locator('#consent').check()
        tasks.locator('#method-email').check()
        tasks.locator('form[action="/balie/ondertekenen/%s"] '
            'button[type=submit]' % reference).click()
        tasks.wait_for_url(self.url('/balie/ondertekenen/%s/code'
                % reference))
        code_mail = self.mailbox.wait_for(lambda m: m not in seen
            and re.search(r'\b\d{6}\b', plain(m)))
        code = re.search(r'\b(\d{6})\b', plain(code_mail)).group(1)
        tasks.locator('#code').fill(code)
        self.screenshot(tasks, 'journey-15-signature-code')
        self.check_axe(tasks, 'journey-signature-code')
        tasks.locator('#code').press('Enter')
        tasks.wait_for_selector('#signature-done')
        self.screenshot(tasks, 'journey-16-signed')
        with self.transaction():
            request = Pool().get('balie.signature.request')(request.id)
            self.assertEqual((request.state, request.method),
                ('signed', 'email'))
            self.assertTrue(request.signed_document)

        # 12. the payment: Anna asks for the fee (the dossier's "Request
        # Payment" wizard); Maria pays online at the provider
        client.run_wizard('balie.payment.request', dossier_id,
            'balie.dossier', [('start', {}), ('request', lambda shown: {
                        'start': dict(values_of(shown),
                            dossier=dossier_id)})])
        with self.transaction():
            Payment = Pool().get('balie.payment')
            payment, = Payment.search([('dossier', '=', dossier_id)])
            self.assertEqual(payment.amount, Decimal('25.00'))
            reference = payment.reference
        tasks.goto(self.url('/balie/betalen/%s' % reference))
        self.check_axe(tasks, 'journey-payment')
        self.screenshot(tasks, 'journey-17-payment')
        tasks.locator('#online button[type=submit]').click()
        tasks.wait_for_url(re.compile(r'.*/checkout/.*'))
        tasks.get_by_role('button', name='Pay').click()
        tasks.wait_for_url(self.url('/balie/betalen/%s/terug' % reference))
        tasks.wait_for_selector('#payment-paid')
        self.screenshot(tasks, 'journey-18-paid')
        with self.transaction():
            payment = Pool().get('balie.payment')(payment.id)
            self.assertEqual((payment.state, payment.method),
                ('paid', 'online'))
        # the provider told the server too, over HTTP (its webhook)
        self.assertIn(('webhook', 200), self.mollie_events)
        tasks.close()

        # 13. Anna ends the call with the appointment's button and books a
        # follow-up the next morning in the same wizard
        self.earlier_responses(service, 4)
        self.clock.now = START + dt.timedelta(minutes=25)
        follow_up = to_utc(TUESDAY + dt.timedelta(days=1), dt.time(9, 0))
        end_call = client.button('End Call')
        end_call.wait_for()
        client.wait_idle()
        end_call.click()
        wizard = client.wizard('End Call')
        client.fill('next_steps', "U krijgt binnen 2 weken een brief.",
            wizard)
        expect(client.field('send_to_citizen', wizard)).to_be_checked()
        client.field('follow_up', wizard).check()
        client.step(wizard, 'End Call', client.field('slot', wizard))
        slot = client.field('slot', wizard)
        option = slot.locator('option', has_text=re.compile(
                r'Wed 9 Dec 2026 09:00 — Anna Peeters'))
        option.wait_for(state='attached')
        slot.select_option(option.get_attribute('value'))
        self.screenshot(desk, 'journey-19-follow-up')
        client.wait_idle()
        client.button('Book', wizard).click()
        wizard.wait_for(state='detached')
        with self.transaction():
            Appointment = Pool().get('balie.appointment')
            first = Appointment(appointment_id)
            self.assertEqual(first.state, 'done')
            second, = Appointment.search([
                    ('follow_up_of', '=', appointment_id)])
            self.assertEqual((second.start, second.employee.id,
                    second.dossier.id, second.state),
                (follow_up, employees[0], dossier_id, 'booked'))
        self.mailbox.wait_for(lambda m: CITIZEN_EMAIL in m['To']
            and 'woensdag 9 december 2026' in (m['Subject'] or ''))

        # 14. Maria's page follows the closed room: what next, the survey
        phone.wait_for_url(self.url('/balie/einde'))
        self.assertIn('U krijgt binnen 2 weken een brief.',
            phone.locator('main').inner_text())
        phone.wait_for_function("() => document.getElementById("
            "'survey-invite').matches(':modal')")
        self.screenshot(phone, 'journey-20-after-call')
        self.check_axe(phone, 'journey-after-call')

        manager = self.new_page(1280)
        self.manager_client = sao.Client(manager, self.base_url)
        self.manager_client.login(self.db_name, *MANAGER)
        before, = self.survey_figures(service)
        self.assertEqual((before['responses'], before['hidden']),
            (None, True))

        phone.keyboard.press('Enter')
        phone.wait_for_url(self.url('/balie/enquete'))
        first_question = phone.locator('form.survey fieldset').first
        first_question.get_by_role('radio', name='Heel goed',
            exact=True).click()
        phone.get_by_role('radio', name='Ja', exact=True).check()
        self.screenshot(phone, 'journey-21-survey')
        self.check_axe(phone, 'journey-survey')
        phone.get_by_role('button', name='Verstuur mijn antwoorden').click()
        phone.wait_for_url(self.url('/balie/enquete/klaar'))
        self.screenshot(phone, 'journey-22-survey-thanks')
        self.assertNoPageErrors(phone)

        # 15. the manager's figures: the appointment and the response
        after, = self.survey_figures(service)
        self.assertEqual((after['responses'], after['hidden']), (5, False))
        self.assertEqual(after['invitations'], before['invitations'])
        self.assertEqual(after['satisfaction'], (4 * 4 + 5) / 5)
        # and in the client, per service: shown now, with the average
        self.manager_client.open_menu('Digitale Balie', 'Analysis',
            'Survey Figures')
        manager.locator('.nav-tabs a', has_text='Per Service').click()
        row = manager.locator('.treeview tbody tr:visible',
            has_text="Mantelzorgpremie aanvragen")
        expect(row).to_contain_text('4.20')
        expect(row).not_to_contain_text('< 5')
        self.screenshot(manager, 'journey-23-survey-figures')
        figures = self.manager_client.rpc(
            'model.balie.appointment.statistics.search_read', [
                ('month', '=', as_json(dt.date(2026, 12, 1))),
                ('service', '=', service)],
            0, None, None, ['bookings', 'calls', 'origin', 'channel'])
        self.assertEqual(sum(f['bookings'] for f in figures), 2)
        self.assertEqual(sum(f['calls'] for f in figures), 1)
