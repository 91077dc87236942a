# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Helpers that the tests of every Digitale Balie module share (no tests).

The dates of the story (Monday 7 December 2026 in Brussels), the
municipality and its citizens, the local SMTP server's mailbox, a clock
the tests move, and `OutboxCase`: a committed database of its own with a
real SMTP server and the SMS gateway's stand-in, and the citizen's
browser (werkzeug's test client) on the portal."""
import datetime as dt
import email
import email.policy
import re
import threading
import time
import unittest
from contextlib import contextmanager
from unittest.mock import patch

from aiosmtpd.controller import Controller
from werkzeug.test import Client

from trytond import config
from trytond.modules.company.tests import (
    create_company, create_employee, set_company)
from trytond.pool import Pool
from trytond.tests.test_tryton import DB_NAME, USER, drop_db
from trytond.transaction import Transaction
from trytond.wsgi import app

from digitale_balie import web
from digitale_balie.slots import to_utc
from digitale_balie.tests.activation import activate
from digitale_balie.tests.local_server import free_port  # noqa: F401
from digitale_balie.tests.sms_server import FakeSMSGateway

MIN = dt.timedelta(minutes=1)
# Monday 7 December 2026, 09:00 in Brussels
NOW = dt.datetime(2026, 12, 7, 8, 0)
TUESDAY = dt.date(2026, 12, 8)
# Tuesday 10:30 in Brussels: the video appointment of most stories
START = to_utc(TUESDAY, dt.time(10, 30))
# the portal's address in the tests
BASE = 'https://balie.voorbeeld.example'


@contextmanager
def frozen(now=NOW):
    with patch('digitale_balie.clock.now', return_value=now):
        yield


@contextmanager
def as_user(user):
    "Act as a user through RPC: with their preferences and access checks."
    User = Pool().get('res.user')
    transaction = Transaction()
    with transaction.set_user(user.id):
        with transaction.set_context(
                User.get_preferences(context_only=True), _check_access=True):
            yield


def create_balie(clerks=("Anna Peeters", "Youssef El Amrani"),
        days=range(7), hours=((9, 0), (12, 0)), duration=30, buffer=0):
    "Create a company with clerks, a video service and opening hours."
    pool = Pool()
    Service = pool.get('balie.service')
    Schedule = pool.get('balie.schedule')
    company = create_company()
    employees = [create_employee(company, name) for name in clerks]
    with set_company(company):
        service = Service(name="Mantelzorgpremie aanvragen",
            code='MANTELZORG', duration=duration * MIN,
            buffer=buffer * MIN, channels=['video', 'counter'],
            preparation="Uw bankkaart en de gegevens van de zorgbehoevende.",
            employees=employees)
        service.save()
        Schedule.save([Schedule(employee=e, weekday=str(d),
                    start_time=dt.time(*hours[0]),
                    end_time=dt.time(*hours[1]))
                for e in employees for d in days])
    return company, employees, service


def create_municipality(portal_base_url, **configuration):
    """create_balie() as Gemeente Voorbeeld, with the configuration's other
    values; the test user works in its company."""
    pool = Pool()
    Configuration = pool.get('balie.configuration')
    User = pool.get('res.user')
    company, employees, service = create_balie()
    config = Configuration(1)
    config.portal_base_url = portal_base_url
    config.municipality_name = "Gemeente Voorbeeld"
    config.help_phone = "+32 50 12 34 56"
    for name, value in configuration.items():
        setattr(config, name, value)
    config.save()
    user = User(USER)
    user.companies = [company]
    user.company = company
    user.save()
    return company, employees, service


def create_citizen(name="Maria Janssens", lang='nl'):
    pool = Pool()
    Party = pool.get('party.party')
    Lang = pool.get('ir.lang')
    lang, = Lang.search([('code', '=', lang)])
    party = Party(name=name, lang=lang)
    party.save()
    return party


def local(date, hour, minute=0):
    "Naive UTC of a Brussels wall-clock time."
    return to_utc(date, dt.time(hour, minute))


SIGNATURE_SECRET = 'dlr-secret'


def personal_link(appointment, purpose='card'):
    """A new personal link of the appointment (an id), inside a
    transaction: the raw token."""
    pool = Pool()
    Token = pool.get('balie.access.token')
    Appointment = pool.get('balie.appointment')
    _, raw = Token.generate(Appointment(appointment), purpose)
    return raw


class Mailbox:
    "What the local SMTP server (aiosmtpd) received."

    def __init__(self, delay=0):
        self.messages = []
        self.delay = delay
        self._condition = threading.Condition()

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            time.sleep(self.delay)
        message = email.message_from_bytes(
            envelope.content, policy=email.policy.default)
        with self._condition:
            self.messages.append(message)
            self._condition.notify_all()
        return '250 OK'

    def wait_for(self, predicate, timeout=20):
        "The first message for which predicate is true, waiting for it."
        deadline = time.monotonic() + timeout
        with self._condition:
            while True:
                for message in self.messages:
                    if predicate(message):
                        return message
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError('no such mail in %s s; got: %s'
                        % (timeout, [m['Subject'] for m in self.messages]))
                self._condition.wait(left)


class Clock:
    "A controllable clock for the whole module."

    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now

    def advance(self, **kwargs):
        self.now += dt.timedelta(**kwargs)


class PortalClientMixin:
    "Transactions on the test database and the citizen's browser"
    portal_base = BASE
    client_class = Client

    @contextmanager
    def transaction(self, **extras):
        with Transaction().start(DB_NAME, USER,
                context=getattr(self, 'context', {}), **extras
                ) as transaction:
            yield transaction
            transaction.commit()

    def portal_database(self):
        "The short links of the portal go to the test database."
        if not config.has_section('balie'):
            config.add_section('balie')
        saved = config.get('balie', 'database', default=None)
        config.set('balie', 'database', DB_NAME)
        self.addCleanup(config.set, 'balie', 'database', saved or '')

    def serve_portal(self):
        "The portal serves the test database, with fresh rate limits."
        self.portal_database()
        web.LINK_LIMITER.reset()
        web.FAILED_LINK_LIMITER.reset()

    def link(self, appointment, purpose='card'):
        "A new personal link of the appointment (the raw token)."
        with self.transaction():
            return personal_link(appointment, purpose)

    def open(self, appointment, purpose='card'):
        "A browser that opened the appointment's personal link."
        client = self.client_class(app)
        response = client.get('/a/%s' % self.link(appointment, purpose),
            base_url=self.portal_base)
        self.assertEqual(response.status_code, 303)
        return client


class OutboxCase(PortalClientMixin, unittest.TestCase):
    "A database of its own, a real SMTP server and the SMS gateway"
    modules = ['digitale_balie']
    # the languages whose translations the database has loaded
    languages = ()

    @classmethod
    def setUpClass(cls):
        drop_db()
        activate(cls.modules, cls.languages)
        cls.smtp_port = free_port()
        cls.saved = {k: config.get('email', k) for k in ['uri', 'from']}
        config.set('email', 'uri', 'smtp://127.0.0.1:%s' % cls.smtp_port)
        config.set('email', 'from',
            'Gemeente Voorbeeld <balie@voorbeeld.example>')

    @classmethod
    def tearDownClass(cls):
        for key, value in cls.saved.items():
            config.set('email', key, value)
        drop_db()

    def setUp(self):
        self.mailbox = Mailbox()
        self.smtp = Controller(
            self.mailbox, hostname='127.0.0.1', port=self.smtp_port)
        self.smtp.start()
        self.addCleanup(self.stop_smtp)
        self.gateway = FakeSMSGateway(signature_secret=SIGNATURE_SECRET)
        self.gateway.start()
        self.addCleanup(self.gateway.close)
        self.clock = Clock(NOW)
        patcher = patch('digitale_balie.clock.now', self.clock)
        patcher.start()
        self.addCleanup(patcher.stop)
        self.addCleanup(self.cancel_pending)

    def cancel_pending(self):
        "Leave no due message behind for the next test's dispatcher."
        with self.transaction():
            Message = Pool().get('balie.message')
            Message.cancel(Message.search([
                        ('state', 'in', ['queued', 'sending'])]))

    def stop_smtp(self):
        if self.smtp is not None:
            self.smtp.stop()
            self.smtp = None

    def setup_balie(self, **configuration):
        "A municipality, clerks, a service and the SMS gateway, committed."
        # the configuration singleton is created under a table lock
        with self.transaction(_lock_tables=['balie_configuration']):
            company, employees, service = create_municipality(
                BASE, **{
                    'sms_url': self.gateway.url,
                    'sms_api_key': 'test-key',
                    'sms_api_secret': 'test-secret',
                    'sms_signature_secret': SIGNATURE_SECRET,
                    'sms_sender': 'Voorbeeld',
                    'reminder_first': dt.timedelta(hours=24),
                    'reminder_second': dt.timedelta(hours=1),
                    **configuration})
            self.context = {'company': company.id}
            return company.id, [e.id for e in employees], service.id

    def book(self, service, start, notify_by='email_sms',
            email='maria.janssens@example.be', mobile='+32470123456',
            name="Maria Janssens"):
        with self.transaction():
            Appointment = Pool().get('balie.appointment')
            party = create_citizen(name)
            return Appointment.book_slot({
                    'service': service, 'party': party.id, 'start': start,
                    'notify_by': notify_by, 'contact_email': email,
                    'contact_mobile': mobile,
                    })

    def dispatch(self):
        with self.transaction():
            return Pool().get('balie.message').dispatch()

    def messages(self, appointment, **domain):
        with self.transaction():
            Message = Pool().get('balie.message')
            return [{f: getattr(m, f) for f in [
                        'id', 'kind', 'channel', 'state', 'recipient',
                        'attempts', 'last_error', 'idempotency_key',
                        'message_id', 'send_at', 'body', 'subject']}
                for m in Message.search([
                        ('appointment', '=', appointment),
                        *[(k, '=', v) for k, v in domain.items()]],
                    order=[('id', 'ASC')])]

    def run_wizard(self, name, appointment, data, state):
        "Run a wizard state on an appointment, as the client does."
        with self.transaction():
            Wizard = Pool().get(name, type='wizard')
            session_id, _, _ = Wizard.create()
            with Transaction().set_context(
                    active_model='balie.appointment',
                    active_id=appointment, active_ids=[appointment]):
                return Wizard.execute(session_id, data, state)

    def post_receipts(self, params_list):
        client = Client(app)
        return [client.post('/%s/balie/sms/status' % DB_NAME, json=params)
            for params in params_list]



def csrf_of(page):
    """The CSRF token of the portal page's form or script (the online
    booking's form tokens have dots); '' when the page has none."""
    match = re.search(r'name="csrf" value="([0-9a-f.]+)"'
        r'|data-csrf="([0-9a-f.]+)"', page)
    return (match.group(1) or match.group(2)) if match else ''


def no_database(cls):
    """Mark a test class that touches no database: scripts/test runs it on
    one backend only (see conftest.py)."""
    cls.no_database = True
    return cls
