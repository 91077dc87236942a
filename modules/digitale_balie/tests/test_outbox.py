# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Messages that reach the citizen, through a real SMTP server (aiosmtpd)
and a local HTTP server that speaks the SMS gateway's API.

The dispatcher commits in transactions of its own, so these tests work on
committed data in a database of their own."""
import datetime as dt
import os
import signal
import subprocess
import sys
import time
import unittest

from aiosmtpd.controller import Controller
from icalendar import Calendar
from werkzeug.test import Client

from trytond import backend, config
from trytond.pool import Pool
from trytond.tests.test_tryton import DB_NAME
from trytond.wsgi import app

from digitale_balie.exceptions import CitizenValidationError, TemplateError
from digitale_balie.slots import to_utc
from digitale_balie.tests.tools import OutboxCase, TUESDAY, create_citizen

class OutboxTestCase(OutboxCase):
    "Test the outbox, its dispatcher and what comes back"

    # -- the journey -----------------------------------------------------

    def test_confirmation_reaches_the_citizen(self):
        "Test the confirmation by e-mail and SMS, delivered and opened"
        _, _, service = self.setup_balie()
        appointment = self.book(service, to_utc(TUESDAY, dt.time(10, 30)))
        self.assertEqual(self.dispatch(), 2)

        mail, = self.mailbox.messages
        confirmation, = self.messages(appointment, kind='confirmation',
            channel='email')
        self.assertEqual(confirmation['state'], 'delivered')
        self.assertEqual(mail['Message-ID'], confirmation['message_id'])
        self.assertEqual(mail['To'], 'Maria Janssens '
            '<maria.janssens@example.be>')
        self.assertEqual(mail['Content-Language'], 'nl')
        plain = mail.get_body(('plain',)).get_content()
        html = mail.get_body(('html',)).get_content()
        self.assertIn("Maria", plain)
        self.assertIn("dinsdag 8 december 2026", mail['Subject'])
        self.assertIn("dinsdag 8 december 2026 om 10.30 uur", plain)
        self.assertIn("Anna", plain)
        self.assertIn("+32 50 12 34 56", plain)
        link = [w for w in plain.split()
            if w.startswith('https://balie.voorbeeld.example/a/')][0]
        self.assertIn('<a href="%s">' % link, html)
        # the database does not know the link
        self.assertNotIn(link.rsplit('/', 1)[1], confirmation['body'])
        ics = [p for p in mail.iter_attachments()
            if p.get_content_type() == 'text/calendar'][0]
        calendar = Calendar.from_ical(ics.get_content())
        self.assertEqual(calendar['METHOD'], 'REQUEST')
        self.assertEqual(ics.get_param('method'), 'REQUEST')
        event, = calendar.walk('VEVENT')
        self.assertEqual(int(event['SEQUENCE']), 0)
        self.assertEqual(event['DTSTART'].dt.astimezone(dt.timezone.utc)
            .replace(tzinfo=None), to_utc(TUESDAY, dt.time(10, 30)))
        self.assertIn(link, str(event['DESCRIPTION']))

        sms, = self.gateway.messages
        sms_message, = self.messages(appointment, kind='confirmation',
            channel='sms')
        self.assertEqual(sms['to'], '32470123456')
        self.assertEqual(sms['client-ref'], sms_message['idempotency_key'])
        self.assertIn('https://balie.voorbeeld.example/a/', sms['text'])
        self.assertEqual(sms_message['state'], 'sent')

        responses = self.post_receipts(
            self.gateway.receipts(sms['client-ref']))
        self.assertEqual({r.status_code for r in responses}, {204})
        sms_message, = self.messages(appointment, kind='confirmation',
            channel='sms')
        self.assertEqual(sms_message['state'], 'delivered')

        # the citizen opens the e-mail's link
        with self.transaction():
            Token = Pool().get('balie.access.token')
            token = Token.use(link.rsplit('/', 1)[1])
            self.assertEqual(token.appointment.id, appointment)
        confirmation, = self.messages(appointment, kind='confirmation',
            channel='email')
        self.assertEqual(confirmation['state'], 'opened')
        # the SMS's link has not been used
        sms_message, = self.messages(appointment, kind='confirmation',
            channel='sms')
        self.assertEqual(sms_message['state'], 'delivered')

    def test_message_link_opens_the_personal_page(self):
        "Test the link of a message: session cookie, clean URL, opened"
        _, _, service = self.setup_balie()
        appointment = self.book(service, to_utc(TUESDAY, dt.time(10, 30)),
            notify_by='email', name="<b>Maria</b> Janssens")
        self.dispatch()
        mail, = self.mailbox.messages
        link = [w for w in mail.get_body(('plain',)).get_content().split()
            if '/a/' in w][0]
        raw = link.rsplit('/', 1)[1]
        self.portal_database()
        client = Client(app)
        base = 'https://balie.voorbeeld.example'

        response = client.get('/a/%s' % raw.upper(), base_url=base)
        self.assertEqual(response.status_code, 303)
        self.assertTrue(response.headers['Location'].endswith('/balie'))
        cookie = response.headers['Set-Cookie']
        for part in ['__Host-balie=', 'Secure', 'HttpOnly', 'SameSite=Lax',
                'Path=/']:
            self.assertIn(part, cookie)
        self.assertNotIn(raw, cookie)
        self.assertEqual(response.headers['Referrer-Policy'], 'no-referrer')
        confirmation, = self.messages(appointment, kind='confirmation')
        self.assertEqual(confirmation['state'], 'opened')

        page = client.get('/balie', base_url=base)
        self.assertEqual(page.status_code, 200)
        html = page.get_data(as_text=True)
        self.assertIn('lang="nl"', html)
        self.assertIn('&lt;b&gt;Maria&lt;/b&gt;', html)
        self.assertNotIn('<b>Maria', html)
        self.assertIn('dinsdag 8 december 2026 om 10.30 uur', html)
        self.assertIn('Anna', html)
        self.assertIn('href="tel:+3250123456"', html)
        self.assertIn("default-src 'self'",
            page.headers['Content-Security-Policy'])
        self.assertEqual(page.headers['X-Content-Type-Options'], 'nosniff')

    def test_bad_links_all_look_the_same(self):
        "Test that unknown, expired and revoked links answer the same 404"
        _, _, service = self.setup_balie()
        appointment = self.book(service, to_utc(TUESDAY, dt.time(10, 30)),
            notify_by='paper')
        with self.transaction():
            pool = Pool()
            Token = pool.get('balie.access.token')
            Appointment = pool.get('balie.appointment')
            record = Appointment(appointment)
            _, revoked = Token.generate(record, 'card')
            _, expired = Token.generate(record, 'card',
                expires_at=self.clock.now - dt.timedelta(seconds=1))
            token, _ = Token.generate(record, 'card')
            Token.revoke([Token.search([], order=[('id', 'DESC')])[2]])
        self.portal_database()
        client = Client(app)
        base = 'https://balie.voorbeeld.example'
        bodies = set()
        for raw in [revoked, expired, 'abcd-efgh-jkmn-pqrs-tvwx-yz01-2345',
                'not-a-token', 'x' * 300]:
            response = client.get('/a/%s' % raw, base_url=base)
            self.assertEqual(response.status_code, 404)
            self.assertNotIn('Set-Cookie', response.headers)
            bodies.add(response.get_data())
        self.assertEqual(len(bodies), 1)
        self.assertIn(b'+32 50 12 34 56', bodies.pop())
        # no cookie: the page is the same 404
        response = Client(app).get('/balie', base_url=base)
        self.assertEqual(response.status_code, 404)

    def test_smtp_down_then_back(self):
        "Test that mail waits while the SMTP server is down, then goes once"
        _, _, service = self.setup_balie()
        appointment = self.book(service, to_utc(TUESDAY, dt.time(9)),
            notify_by='email')
        self.stop_smtp()
        self.dispatch()
        confirmation, = self.messages(appointment, kind='confirmation')
        self.assertEqual(confirmation['state'], 'queued')
        self.assertEqual(confirmation['attempts'], 1)
        self.assertIn("cannot be reached", confirmation['last_error'])
        # not yet due: back-off
        self.dispatch()
        self.assertEqual(self.messages(
                appointment, kind='confirmation')[0]['attempts'], 1)
        self.clock.advance(minutes=1)
        self.dispatch()
        self.assertEqual(self.messages(
                appointment, kind='confirmation')[0]['attempts'], 2)

        self.smtp = Controller(
            self.mailbox, hostname='127.0.0.1', port=self.smtp_port)
        self.smtp.start()
        self.clock.advance(minutes=2)
        self.dispatch()
        self.dispatch()
        self.assertEqual(len(self.mailbox.messages), 1)
        confirmation, = self.messages(appointment, kind='confirmation')
        self.assertEqual(confirmation['state'], 'delivered')
        self.assertEqual(confirmation['attempts'], 3)

    def test_gateway_errors(self):
        "Test that a 4xx fails the SMS with its reason and a 5xx retries"
        _, _, service = self.setup_balie()
        first = self.book(service, to_utc(TUESDAY, dt.time(9)),
            notify_by='sms')
        self.gateway.fail_next(1, http_status=400)
        self.dispatch()
        sms, = self.messages(first, kind='confirmation')
        self.assertEqual(sms['state'], 'failed')
        self.assertTrue(sms['last_error'])
        # the clerk fixed the cause and sends it again
        with self.transaction():
            Message = Pool().get('balie.message')
            Message.retry([Message(sms['id'])])
        self.dispatch()
        sms, = self.messages(first, kind='confirmation')
        self.assertEqual(sms['state'], 'sent')
        self.assertEqual(len(self.gateway.messages), 1)

        second = self.book(service, to_utc(TUESDAY, dt.time(10)),
            notify_by='sms', name="Jan De Smet")
        self.gateway.fail_next(1, http_status=503)
        self.dispatch()
        sms, = self.messages(second, kind='confirmation')
        self.assertEqual(sms['state'], 'queued')
        self.clock.advance(minutes=1)
        self.dispatch()
        sms, = self.messages(second, kind='confirmation')
        self.assertEqual(sms['state'], 'sent')
        self.assertEqual(len(self.gateway.messages), 2)

    def test_landline_fails_sms_but_email_goes(self):
        "Test that a number without SMS fails that channel only"
        _, _, service = self.setup_balie()
        # every booking refuses SMS to a landline now (party.py); a message
        # queued before that check still must not reach the gateway
        appointment = self.book(service, to_utc(TUESDAY, dt.time(9)))
        with self.transaction() as transaction:
            table = Pool().get('balie.message').__table__()
            transaction.connection.cursor().execute(*table.update(
                    [table.recipient], ['+3250123456'],
                    where=(table.appointment == appointment)
                    & (table.channel == 'sms')))
        with self.transaction():
            with self.assertRaises(CitizenValidationError):
                Pool().get('balie.appointment').book_slot({
                        'service': service,
                        'party': create_citizen("Landline").id,
                        'start': to_utc(TUESDAY, dt.time(9, 30)),
                        'notify_by': 'email_sms',
                        'contact_mobile': '+3250123456'})
        self.dispatch()
        sms, = self.messages(appointment, kind='confirmation', channel='sms')
        mail, = self.messages(appointment, kind='confirmation',
            channel='email')
        self.assertEqual(sms['state'], 'failed')
        self.assertIn("cannot receive SMS", sms['last_error'])
        self.assertEqual(mail['state'], 'delivered')
        self.assertEqual(self.gateway.messages, [])

    def test_forged_and_replayed_receipts(self):
        "Test that forged and replayed delivery reports change nothing"
        _, _, service = self.setup_balie()
        appointment = self.book(service, to_utc(TUESDAY, dt.time(9)),
            notify_by='sms')
        self.dispatch()
        sms, = self.gateway.messages
        forged = [dict(p, status='failed')
            for p in self.gateway.receipts(sms['client-ref'])]
        old = self.gateway.receipts(sms['client-ref'],
            timestamp=int(dt.datetime.now().timestamp()) - 3600)
        unsigned = [{k: v for k, v in p.items() if k != 'sig'}
            for p in self.gateway.receipts(sms['client-ref'])]
        for receipts in [forged, old, unsigned]:
            responses = self.post_receipts(receipts)
            self.assertEqual({r.status_code for r in responses}, {403})
        message, = self.messages(appointment, kind='confirmation')
        self.assertEqual(message['state'], 'sent')

    def test_failed_receipt(self):
        "Test that an undeliverable SMS is marked failed with the reason"
        _, _, service = self.setup_balie()
        appointment = self.book(service, to_utc(TUESDAY, dt.time(9)),
            notify_by='sms')
        self.dispatch()
        sms, = self.gateway.messages
        self.post_receipts(self.gateway.receipts(
                sms['client-ref'], status='failed', err_code='1'))
        message, = self.messages(appointment, kind='confirmation')
        self.assertEqual(message['state'], 'failed')
        self.assertIn('error 1', message['last_error'])

    # -- reminders and notices -------------------------------------------

    def test_reminders_planned_sent_and_never_late(self):
        "Test reminders: planned, skipped when too late, never after start"
        _, _, service = self.setup_balie()
        # booked less than 24 hours before: only the 1 hour reminder
        appointment = self.book(service, to_utc(TUESDAY, dt.time(9)),
            notify_by='email')
        reminders = self.messages(appointment, kind='reminder')
        self.assertEqual(
            [r['send_at'] for r in reminders],
            [to_utc(TUESDAY, dt.time(8))])
        self.dispatch()
        self.assertEqual(len(self.mailbox.messages), 1)  # confirmation
        # the mail server is down until after the start
        self.stop_smtp()
        self.clock.now = to_utc(TUESDAY, dt.time(8))
        self.dispatch()
        self.clock.now = to_utc(TUESDAY, dt.time(9, 1))
        self.smtp = Controller(
            self.mailbox, hostname='127.0.0.1', port=self.smtp_port)
        self.smtp.start()
        self.dispatch()
        reminder, = self.messages(appointment, kind='reminder')
        self.assertEqual(reminder['state'], 'cancelled')
        self.assertEqual(len(self.mailbox.messages), 1)

    def test_cancellation(self):
        "Test that cancelling stops reminders and sends a calendar CANCEL"
        _, _, service = self.setup_balie()
        appointment = self.book(service, to_utc(TUESDAY, dt.time(11)),
            notify_by='email')
        self.dispatch()
        with self.transaction():
            Appointment = Pool().get('balie.appointment')
            Appointment.cancel([Appointment(appointment)])
        self.dispatch()
        self.assertEqual(
            {m['state'] for m in self.messages(appointment, kind='reminder')},
            {'cancelled'})
        cancel_mail = self.mailbox.messages[-1]
        ics = [p for p in cancel_mail.iter_attachments()
            if p.get_content_type() == 'text/calendar'][0]
        calendar = Calendar.from_ical(ics.get_content())
        self.assertEqual(calendar['METHOD'], 'CANCEL')
        self.assertEqual(ics.get_param('method'), 'CANCEL')
        event, = calendar.walk('VEVENT')
        self.assertEqual(int(event['SEQUENCE']), 1)
        first = Calendar.from_ical([p for p in
                self.mailbox.messages[0].iter_attachments()
                if p.get_content_type() == 'text/calendar'][0].get_content())
        self.assertEqual(event['UID'], first.walk('VEVENT')[0]['UID'])

    def test_reschedule(self):
        "Test moving an appointment: old slot free, reminders again, update"
        _, _, service = self.setup_balie()
        old_start = to_utc(TUESDAY, dt.time(11))
        appointment = self.book(service, old_start, notify_by='email')
        self.dispatch()
        new_start = to_utc(TUESDAY + dt.timedelta(days=1), dt.time(9, 30))
        with self.transaction():
            Appointment = Pool().get('balie.appointment')
            record = Appointment(appointment)
            Appointment.reschedule(record, new_start)
            slots = Appointment._free_slots(record.service, TUESDAY, TUESDAY)
            self.assertIn(to_utc(TUESDAY, dt.time(11)),
                [s.start for s in slots])
            self.assertEqual(record.ical_sequence, 1)
            self.assertEqual(
                {t.expires_at for t in record.tokens},
                {record.end + dt.timedelta(hours=24)})
            self.assertEqual(record.dossier.events[0].kind, 'rescheduled')
        reminders = self.messages(appointment, kind='reminder')
        self.assertEqual(
            sorted((r['state'], r['send_at']) for r in reminders),
            sorted([
                ('cancelled', old_start - dt.timedelta(days=1)),
                ('cancelled', old_start - dt.timedelta(hours=1)),
                ('queued', new_start - dt.timedelta(days=1)),
                ('queued', new_start - dt.timedelta(hours=1))]))
        self.dispatch()
        update = self.mailbox.messages[-1]
        self.assertIn("woensdag 9 december 2026 om 9.30 uur",
            update.get_body(('plain',)).get_content())
        ics = [p for p in update.iter_attachments()
            if p.get_content_type() == 'text/calendar'][0]
        event, = Calendar.from_ical(ics.get_content()).walk('VEVENT')
        self.assertEqual(int(event['SEQUENCE']), 1)
        first, = Calendar.from_ical([p for p in
                self.mailbox.messages[0].iter_attachments()
                if p.get_content_type() == 'text/calendar'][0].get_content()
            ).walk('VEVENT')
        self.assertEqual(event['UID'], first['UID'])

    def test_reschedule_to_a_taken_slot_is_refused(self):
        "Test that an appointment cannot move onto another booking"
        _, employees, service = self.setup_balie()
        first = self.book(service, to_utc(TUESDAY, dt.time(9)),
            notify_by='paper')
        self.book(service, to_utc(TUESDAY, dt.time(10)), notify_by='paper',
            name="Jan De Smet")
        with self.transaction():
            Appointment = Pool().get('balie.appointment')
            record = Appointment(first)
            other = Appointment.search([('start', '=',
                        to_utc(TUESDAY, dt.time(10)))])[0]
            from digitale_balie.exceptions import SlotUnavailableError
            with self.assertRaises(SlotUnavailableError):
                Appointment.reschedule(record, other.start, other.employee)
            self.assertEqual(record.start, to_utc(TUESDAY, dt.time(9)))
            # half an hour later, overlapping nothing but itself: fine
            Appointment.reschedule(
                record, to_utc(TUESDAY, dt.time(9, 30)), record.employee)
            self.assertEqual(record.start, to_utc(TUESDAY, dt.time(9, 30)))

    def test_delay_goes_out_at_once(self):
        "Test that a delay notice is sent at once with the minutes"
        _, _, service = self.setup_balie()
        appointment = self.book(service, to_utc(TUESDAY, dt.time(9)),
            notify_by='sms')
        self.run_wizard('balie.appointment.notify_delay', appointment,
            {'start': {'minutes': 10, 'text': "Excuses."}}, 'send')
        self.dispatch()
        delay = [m for m in self.gateway.messages if '10' in m['text']
            and 'Excuses.' in m['text']]
        self.assertEqual(len(delay), 1)
        with self.transaction():
            Appointment = Pool().get('balie.appointment')
            self.assertEqual(Appointment(appointment).delay_minutes, 10)

    def test_unreached_citizen_is_to_call(self):
        "Test the escalation to the clerk's 'to call' list"
        _, _, service = self.setup_balie()
        appointment = self.book(service, to_utc(TUESDAY, dt.time(11)),
            notify_by='sms')
        reached = self.book(service, to_utc(TUESDAY, dt.time(11, 30)),
            notify_by='email', name="Jan De Smet")
        self.gateway.fail_next(1, http_status=400)
        self.dispatch()

        def to_call():
            with self.transaction():
                Appointment = Pool().get('balie.appointment')
                return {a.id for a in Appointment.search(
                        [('needs_call', '=', True)])}
        self.assertNotIn(appointment, to_call())  # not yet 24 h before
        # 23 hours before the appointment
        self.clock.now = to_utc(TUESDAY, dt.time(11)) - dt.timedelta(hours=23)
        self.assertIn(appointment, to_call())
        self.assertNotIn(reached, to_call())

    def test_test_message_at_the_desk(self):
        "Test the desk's test message to what the clerk just typed"
        _, _, service = self.setup_balie()
        appointment = self.book(service, to_utc(TUESDAY, dt.time(9)),
            notify_by='paper', email=None, mobile=None)
        self.assertEqual(
            [(m['kind'], m['channel'], m['state'])
                for m in self.messages(appointment)],
            [('confirmation', 'letter', 'sent')])
        self.run_wizard('balie.appointment.check_messages', appointment,
            {'status': {'email': 'test@example.be',
                    'mobile': '+32470111111'}}, 'test')
        self.dispatch()
        self.assertEqual(len(self.mailbox.messages), 1)
        self.assertEqual(self.gateway.messages[0]['to'], '32470111111')
        result = self.run_wizard('balie.appointment.check_messages',
            appointment, {}, 'status')
        status = result['view']['defaults']['status']
        self.assertIn('Delivered', status)
        self.assertIn('test@example.be', status)

    # -- crash safety ----------------------------------------------------

    def test_expired_lease_is_retried_once(self):
        "Test that a message left 'sending' by a dead worker goes out once"
        _, _, service = self.setup_balie()
        appointment = self.book(service, to_utc(TUESDAY, dt.time(9)),
            notify_by='sms')
        with self.transaction():
            Message = Pool().get('balie.message')
            sms, = Message.search([('appointment', '=', appointment),
                    ('kind', '=', 'confirmation')])
            claimed = Message._claim(10, ids=[sms.id])
            self.assertEqual(claimed, [sms.id])
            # the worker hands the SMS to the gateway, then dies
            from digitale_balie import channels
            channels.send(sms)
        self.dispatch()  # the lease still runs
        self.assertEqual(len(self.gateway.messages), 1)
        self.clock.advance(minutes=6)
        self.dispatch()
        message, = self.messages(appointment, kind='confirmation')
        self.assertEqual(message['state'], 'sent')
        self.assertEqual(message['attempts'], 2)
        # the gateway recognised the retry by its client reference
        self.assertEqual(len(self.gateway.messages), 1)

    # -- templates -------------------------------------------------------

    def test_templates_refuse_long_sms_and_unknown_placeholders(self):
        "Test that the admin cannot save a too long SMS or a typo"
        self.setup_balie()
        with self.transaction():
            Template = Pool().get('balie.message.template')
            template, = Template.search([
                    ('kind', '=', 'confirmation'), ('channel', '=', 'sms')])
            with self.assertRaises(TemplateError) as cm:
                Template.write([template], {'body': template.body + (
                            " Tot dan, en vergeet niet uw identiteitskaart "
                            "en uw bankkaart mee te nemen." * 3)})
            self.assertIn("SMS", str(cm.exception))
            with self.assertRaises(TemplateError):
                Template.write([template], {
                        'body': "Hallo ${voornaam}, tot ${when}."})
            # curly quotes switch to UCS-2: 70 characters a part
            with self.assertRaises(TemplateError):
                Template.write([template], {'body': template.body.replace(
                            ':', ' \u2013') + " \u201cTot dan\u201d"})


DISPATCHER = """
from trytond.pool import Pool
from trytond.transaction import Transaction
pool = Pool(%(db)r)
with Transaction().start(%(db)r, 0, readonly=True):
    pool.init()
with Transaction().start(%(db)r, 0, context={'company': %(company)s}):
    pool.get('balie.message').dispatch(batch=5)
"""


class WorkerKilledTestCase(OutboxCase):
    "Test a dispatcher process killed in the middle of a batch"

    @classmethod
    def setUpClass(cls):
        if backend.name != 'postgresql':
            raise unittest.SkipTest(
                "a second process on the same database needs PostgreSQL")
        super().setUpClass()

    def test_killed_worker(self):
        "Test that after a worker is killed every message goes, once"
        company, _, service = self.setup_balie(
            reminder_first=None, reminder_second=None)
        # the dispatcher process runs on the real clock
        self.clock.now = dt.datetime.now(dt.timezone.utc).replace(
            tzinfo=None)
        self.mailbox.delay = 0.2
        appointments = [self.book(service,
                to_utc(TUESDAY, dt.time(9)) + dt.timedelta(minutes=30 * i),
                notify_by='email', name="Burger %s" % i)
            for i in range(5)] + [self.book(service,
                to_utc(TUESDAY, dt.time(9)) + dt.timedelta(minutes=30 * i),
                notify_by='email', name="Burger %s" % i)
            for i in range(5)]
        env = dict(os.environ,
            DB_NAME=DB_NAME,
            TRYTOND_EMAIL__URI=config.get('email', 'uri'),
            TRYTOND_EMAIL__FROM=config.get('email', 'from'),
            TRYTOND_BALIE__SECRET='test-secret')
        worker = subprocess.Popen([sys.executable, '-c', DISPATCHER % {
                    'db': DB_NAME, 'company': company}], env=env)
        deadline = time.monotonic() + 60
        while len(self.mailbox.messages) < 4:
            self.assertIsNone(worker.poll(), "the worker ended too soon")
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.05)
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        received_before = len(self.mailbox.messages)
        self.assertLess(received_before, 10)

        self.mailbox.delay = 0
        self.clock.advance(minutes=6)  # the dead worker's leases expire
        self.dispatch()
        ids = [m['Message-ID'] for m in self.mailbox.messages]
        expected = {m['message_id'] for a in appointments
            for m in self.messages(a)}
        self.assertEqual(set(ids), expected)  # none lost
        # at most the message in flight when the worker died is doubled
        self.assertLessEqual(len(ids) - len(set(ids)), 1)
        for appointment in appointments:
            message, = self.messages(appointment)
            self.assertEqual(message['state'], 'delivered')
