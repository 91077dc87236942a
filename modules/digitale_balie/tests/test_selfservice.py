# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Booking on the municipality's website, through trytond's WSGI
application: the code by e-mail (aiosmtpd) and by SMS (the local gateway),
the held slot, abuse, framing, and that nothing about other citizens leaks.
"""
import datetime as dt
import re
from unittest.mock import patch

from werkzeug.test import Client

from trytond.pool import Pool
from trytond.wsgi import app

from digitale_balie import routes_booking
from digitale_balie.exceptions import SlotUnavailableError
from digitale_balie.slots import to_utc
from digitale_balie.tests.tools import (
    BASE, OutboxCase, TUESDAY, create_citizen)

SLOT = '2026-12-08T09:30:00Z'     # Tuesday 10:30 in Brussels


def field(html, name):
    match = re.search(r'name="%s" value="([^"]*)"' % name, html)
    return match.group(1) if match else None


class SelfServiceTestCase(OutboxCase):
    "Booking online with a confirmation code"
    languages = ('nl', 'fr')

    def setUp(self):
        super().setUp()
        self.serve_portal()
        routes_booking.reset_limits()
        self.addCleanup(routes_booking.reset_limits)
        # the database is shared by the tests of this class
        with self.transaction():
            Request = Pool().get('balie.booking.request')
            Request.delete(Request.search([]))

    def online(self, **configuration):
        company, employees, service = self.setup_balie(**configuration)
        self.company = company
        with self.transaction():
            Service = Pool().get('balie.service')
            record = Service(service)
            record.online_booking = True
            record.online_channel = 'video'
            record.code = 'MZP%d' % service
            # one clerk: a held time is then no longer offered at all
            record.employees = [record.employees[0]]
            record.save()
            self.code = record.code
        return service

    def form(self, client, path=None):
        page = client.get(path or '/boeken/%s' % self.code, base_url=BASE)
        self.assertEqual(page.status_code, 200)
        return page.get_data(as_text=True)

    def request_code(self, client, slot=SLOT, channel='email',
            email='maria.janssens@example.be', mobile='', name="Maria Peeters",
            consent='1', environ_overrides=None, **extra):
        html = self.form(client)
        data = {'csrf': field(html, 'csrf'), 'slot': slot, 'name': name,
            'email': email, 'mobile': mobile, 'code_channel': channel,
            'consent': consent}
        data.update(extra)
        return client.post('/boeken/%s' % self.code, base_url=BASE,
            data=data, environ_overrides=environ_overrides)

    def mailed_code(self):
        mail = self.mailbox.messages[-1]
        return re.search(r'\b(\d{6})\b', mail.get_content()).group(1)

    def texted_code(self):
        return re.search(r'\b(\d{6})\b',
            self.gateway.messages[-1]['text']).group(1)

    def send_code(self, client, html, code):
        return client.post('/boeken/bevestigen', base_url=BASE, data={
                'csrf': field(html, 'csrf'), 'key': field(html, 'key'),
                'code': code})

    def appointments(self):
        with self.transaction():
            Appointment = Pool().get('balie.appointment')
            return [(a.party.name, a.origin, a.start, a.state, a.channel)
                for a in Appointment.search(
                    [('company', '=', self.company)])]

    def test_book_with_a_code_by_email(self):
        "Test the whole path with the code by e-mail"
        self.online()
        client = Client(app)
        html = self.form(client, '/boeken')
        self.assertIn('/boeken/%s' % self.code, html)
        html = self.form(client)
        self.assertIn('value="%s"' % SLOT, html)

        response = self.request_code(client)
        self.assertEqual(response.status_code, 200)
        html = response.get_data(as_text=True)
        self.assertIn('code van 6 cijfers', html)
        self.assertNotIn('Set-Cookie', response.headers)
        code = self.mailed_code()
        self.assertEqual(self.appointments(), [])
        # the slot is held: it is no longer offered
        self.assertNotIn('value="%s"' % SLOT, self.form(Client(app)))

        done = self.send_code(client, html, code)
        self.assertEqual(done.status_code, 200, done.get_data(as_text=True))
        page = done.get_data(as_text=True)
        self.assertIn('Uw afspraak is geboekt', page)
        self.assertIn('target="_top"', page)
        self.assertIn('__Host-balie=', done.headers['Set-Cookie'])
        (name, origin, start, state, channel), = self.appointments()
        self.assertEqual((name, origin, state, channel),
            ("Maria Peeters", 'portal', 'booked', 'video'))
        self.assertEqual(start, to_utc(TUESDAY, dt.time(10, 30)))
        # the same confirmation as a counter booking
        confirmations = [m for m in self.all_messages()
            if m['kind'] == 'confirmation' and m['company'] == self.company]
        self.assertEqual(len(confirmations), 1)
        # the code cannot be used twice
        again = self.send_code(Client(app), html, code)
        self.assertEqual(again.status_code, 410)
        self.assertEqual(len(self.appointments()), 1)

    def all_messages(self):
        with self.transaction():
            Message = Pool().get('balie.message')
            return [{'kind': m.kind, 'channel': m.channel,
                    'company': m.company.id} for m in Message.search([])]

    def test_code_by_sms_matches_a_known_citizen(self):
        "Test the code by SMS; the proven number finds the known citizen"
        self.online()
        with self.transaction():
            known = create_citizen("Jan Peeters")
            known_id = known.id
            ContactMechanism = Pool().get('party.contact_mechanism')
            ContactMechanism.create([{'party': known_id, 'type': 'mobile',
                        'value': '+32470998877'}])
        client = Client(app)
        response = self.request_code(client, channel='sms', email='',
            mobile='0470 99 88 77', name="J. Peeters")
        html = response.get_data(as_text=True)
        self.assertIn('naar uw gsm', html)
        message = self.gateway.messages[-1]
        self.assertEqual(message['to'], '32470998877')
        done = self.send_code(client, html, self.texted_code())
        self.assertEqual(done.status_code, 200)
        with self.transaction():
            Appointment = Pool().get('balie.appointment')
            appointment, = Appointment.search(
                [('company', '=', self.company)])
            self.assertEqual(appointment.party.id, known_id)
            self.assertEqual(appointment.notify_by, 'sms')

    def test_wrong_expired_and_too_many_codes(self):
        "Test a wrong code, an expired code and too many attempts"
        self.online()
        client = Client(app)
        html = self.request_code(client).get_data(as_text=True)
        code = self.mailed_code()
        wrong = '000000' if code != '000000' else '111111'
        response = self.send_code(client, html, wrong)
        self.assertEqual(response.status_code, 422)
        self.assertIn('Deze code klopt niet', response.get_data(as_text=True))
        # the form keeps the request; the right code still works
        self.assertEqual(self.send_code(client, response.get_data(
                    as_text=True), code).status_code, 200)

        client = Client(app)
        html = self.request_code(client,
            slot='2026-12-08T10:30:00Z').get_data(as_text=True)
        code = self.mailed_code()
        self.clock.advance(minutes=11)
        response = self.send_code(client, html, code)
        self.assertEqual(response.status_code, 410)
        self.assertIn('Uw code werkt niet meer',
            response.get_data(as_text=True))

        client = Client(app)
        self.clock.now = self.clock.now - dt.timedelta(minutes=11)
        response = self.request_code(client, slot='2026-12-08T08:30:00Z',
            email='other@example.be')
        html = response.get_data(as_text=True)
        self.assertEqual(response.status_code, 200, html)
        code = self.mailed_code()
        wrong = '000000' if code != '000000' else '111111'
        statuses = [self.send_code(client, html, wrong).status_code
            for _ in range(5)]
        self.assertEqual(statuses, [422] * 4 + [410])
        self.assertEqual(self.send_code(client, html, code).status_code, 410)
        # the held slot is free again
        self.assertIn('value="2026-12-08T08:30:00Z"', self.form(Client(app)))

    def test_bad_input_keeps_what_was_typed(self):
        "Test that bad input gets clear messages and loses nothing"
        self.online()
        client = Client(app)
        response = self.request_code(client, email='maria@@example',
            mobile='12', name="Maria <b>Peeters</b>", consent='')
        self.assertEqual(response.status_code, 422)
        html = response.get_data(as_text=True)
        self.assertIn('Dit e-mailadres klopt niet', html)
        self.assertIn('Dit is geen gsm-nummer', html)
        self.assertIn('Vink het vakje aan', html)
        self.assertIn('value="Maria &lt;b&gt;Peeters&lt;/b&gt;"', html)
        self.assertIn('value="maria@@example"', html)
        self.assertIn('checked', html.split('value="%s"' % SLOT)[1][:40])
        self.assertEqual(len(self.mailbox.messages), 0)
        # a landline cannot receive the code by SMS
        response = self.request_code(client, channel='sms', email='',
            mobile='050 12 34 56')
        self.assertIn('Dit is geen gsm-nummer',
            response.get_data(as_text=True))

    def test_slot_taken_while_the_code_is_pending(self):
        "Test that a held slot cannot be booked at the counter meanwhile"
        service = self.online()
        client = Client(app)
        html = self.request_code(client).get_data(as_text=True)
        with self.transaction():
            Appointment = Pool().get('balie.appointment')
            party = create_citizen("Els Claes")
            with self.assertRaises(SlotUnavailableError):
                Appointment.book_slot({'service': service,
                        'party': party.id,
                        'start': to_utc(TUESDAY, dt.time(10, 30)),
                        'notify_by': 'paper'})
        # a second online request for the same slot is told it is gone
        other = self.request_code(Client(app), email='els@example.be')
        self.assertEqual(other.status_code, 409)
        self.assertIn('iemand anders', other.get_data(as_text=True))
        self.assertEqual(self.send_code(client, html,
                self.mailed_code()).status_code, 200)

    def held(self):
        with self.transaction():
            return Pool().get('balie.booking.request').search_count([])

    def release(self):
        "Let the held slots go."
        with self.transaction():
            Request = Pool().get('balie.booking.request')
            Request.delete(Request.search([]))

    def test_sms_pumping_rules(self):
        "Test that codes by SMS go only to this country's mobile numbers"
        self.online()
        texts = len(self.gateway.messages)
        for number in ['+882135555555',   # international premium rate
                '+447700900123',  # a foreign mobile number
                '+3221234567']:   # a Belgian landline
            response = self.request_code(Client(app), channel='sms',
                email='', mobile=number)
            self.assertEqual(response.status_code, 422, number)
            self.assertRegex(response.get_data(as_text=True),
                'Wij kunnen geen sms naar dit nummer sturen'
                '|Dit is geen gsm-nummer')
        # one block of numbers hammered from several addresses
        statuses = [self.request_code(Client(app), channel='sms', email='',
                mobile='+32470123%03d' % i, slot='2026-12-08T%02d:00:00Z'
                % (12 + i % 4), environ_overrides={
                    'REMOTE_ADDR': '192.0.2.%d' % i}).status_code
            for i in range(routes_booking.SMS_PREFIX_LIMITER.limit + 2)]
        self.assertEqual(statuses[-1], 422)
        self.assertIn('te veel sms', self.request_code(Client(app),
                channel='sms', email='', mobile='+32470123999',
                environ_overrides={'REMOTE_ADDR': '192.0.2.99'}
                ).get_data(as_text=True))
        # nothing was sent nor held for a refused request
        self.assertLessEqual(len(self.gateway.messages) - texts,
            routes_booking.SMS_PREFIX_LIMITER.limit)
        self.assertLessEqual(self.held(),
            routes_booking.SMS_PREFIX_LIMITER.limit)

    def test_sms_daily_budget(self):
        "Test that the daily SMS budget switches codes to e-mail"
        self.online()
        with patch.object(routes_booking, 'sms_budget', return_value=1):
            first = self.request_code(Client(app), channel='sms',
                mobile='+32470111111')
            self.assertEqual(first.status_code, 200)
            texts, mails = (len(self.gateway.messages),
                len(self.mailbox.messages))
            self.release()
            # over the budget: by e-mail when there is an address
            second = self.request_code(Client(app), channel='sms',
                mobile='+32470222222', email='jan@example.be')
            self.assertEqual(second.status_code, 200)
            self.assertEqual(len(self.gateway.messages), texts)
            self.assertEqual(len(self.mailbox.messages), mails + 1)
            self.release()
            # without an address: refused, nothing held
            third = self.request_code(Client(app), channel='sms',
                mobile='+32470333333', email='')
            self.assertEqual(third.status_code, 422)
            self.assertIn('Vandaag kunnen wij geen codes per sms sturen',
                third.get_data(as_text=True))
            self.assertEqual(self.held(), 0)
            self.assertEqual(len(self.gateway.messages), texts)

    def test_limit_store_unreachable(self):
        "Test that without the limit store pages answer and nothing is sent"
        self.online()
        mails = len(self.mailbox.messages)
        with patch('digitale_balie.ratelimit.connect',
                side_effect=OSError('connection refused')):
            client = Client(app)
            self.assertEqual(client.get('/boeken', base_url=BASE
                    ).status_code, 200)
            response = self.request_code(client)
            self.assertEqual(response.status_code, 503)
            html = response.get_data(as_text=True)
            # the form keeps what the citizen typed
            self.assertIn('maria.janssens@example.be', html)
            self.assertIn('Maria Peeters', html)
        self.assertEqual(len(self.mailbox.messages), mails)
        self.assertEqual(self.held(), 0)

    def test_abuse_limits(self):
        "Test the limits per contact, per address and on open requests"
        self.online()
        first = self.request_code(Client(app), slot='2026-12-08T09:30:00Z')
        second = self.request_code(Client(app), slot='2026-12-08T10:00:00Z')
        self.assertEqual((first.status_code, second.status_code),
            (200, 200))
        third = self.request_code(Client(app), slot='2026-12-08T10:30:00Z')
        self.assertEqual(third.status_code, 429)
        self.assertIn('Even geduld', third.get_data(as_text=True))
        routes_booking.reset_limits()
        statuses = [self.request_code(Client(app),
                slot='2026-12-08T%02d:00:00Z' % (12 + i),
                email='n%d@example.be' % i).status_code for i in range(11)]
        self.assertEqual(statuses[-1], 429)

    def test_nothing_leaks_about_other_citizens(self):
        "Test the same answer for a known and an unknown address"
        self.online()
        with self.transaction():
            known = create_citizen("Jan Peeters")
            Pool().get('party.contact_mechanism').create([{
                        'party': known.id, 'type': 'email',
                        'value': 'jan@example.be'}])
        answers = []
        for email, slot in [('jan@example.be', '2026-12-08T09:30:00Z'),
                ('nobody@example.be', '2026-12-08T10:00:00Z')]:
            response = self.request_code(Client(app), email=email,
                slot=slot)
            answers.append((response.status_code, re.sub(
                        r'value="[^"]*"', '', response.get_data(
                            as_text=True))))
        self.assertEqual(answers[0], answers[1])

    def test_forged_form_and_framing(self):
        "Test the form token and that only the website may frame the pages"
        self.online(booking_embed_origins='https://www.voorbeeld.be')
        client = Client(app)
        response = client.post('/boeken/%s' % self.code, base_url=BASE,
            data={'slot': SLOT, 'name': "X", 'email': 'x@example.be',
                'code_channel': 'email', 'consent': '1',
                'csrf': '1700000000.deadbeef'})
        self.assertEqual(response.status_code, 403)
        self.assertEqual(len(self.mailbox.messages), 0)
        page = client.get('/boeken/%s' % self.code, base_url=BASE)
        policy = page.headers['Content-Security-Policy']
        self.assertIn('frame-ancestors https://www.voorbeeld.be', policy)
        self.assertNotIn('X-Frame-Options', page.headers)
        # the citizen's own pages are never framed
        personal = client.get('/balie', base_url=BASE)
        self.assertIn("frame-ancestors 'none'",
            personal.headers['Content-Security-Policy'])
        with self.transaction() as transaction:
            Configuration = Pool().get('balie.configuration')
            config = Configuration(1)
            config.booking_embed_origins = 'javascript:alert(1)'
            from digitale_balie.exceptions import ConfigurationError
            with self.assertRaises(ConfigurationError):
                config.save()
            transaction.rollback()
        with self.transaction():
            Configuration = Pool().get('balie.configuration')
            Configuration.write([Configuration(1)],
                {'booking_embed_origins': None})
        page = client.get('/boeken/%s' % self.code, base_url=BASE)
        self.assertIn("frame-ancestors 'none'",
            page.headers['Content-Security-Policy'])
        self.assertEqual(client.get('/boeken/NOPE',
                base_url=BASE).status_code, 404)

    def test_phone_booking_wizard(self):
        "Test a booking by phone: no card, a link to read aloud"
        _, _, service = self.setup_balie()
        with self.transaction():
            pool = Pool()
            Book = pool.get('balie.appointment.book', type='wizard')
            Lang = pool.get('ir.lang')
            nl, = Lang.search([('code', '=', 'nl')])
            session_id, _, _ = Book.create()
            Book.execute(session_id, {}, 'start')
            citizen = {'name': "Lies Maes", 'language': nl.id,
                'email': 'lies@example.be', 'mobile': '+32470111222',
                'party': None, 'national_number': None}
            result = Book.execute(session_id, {'citizen': citizen},
                'check_citizen')
            defaults = result['view']['defaults']
            defaults = {k: v for k, v in defaults.items() if '.' not in k}
            slot = [s for s, _ in pool.get(
                    'balie.appointment.book.service')(
                    service=service, date=TUESDAY,
                    employee=None).get_slots() if s][0]
            defaults.update({'service': service, 'date': TUESDAY,
                    'slot': slot, 'channel': 'video', 'employee': None})
            Book.execute(session_id, {'citizen': citizen,
                    'service': defaults}, 'check_service')
            contact = {'by_email': False, 'by_sms': False,
                'by_phone': True, 'note': None}
            from digitale_balie.exceptions import CitizenValidationError
            with self.assertRaisesRegex(CitizenValidationError, 'phone'):
                Book.execute(session_id, {'citizen': citizen,
                        'service': defaults, 'contact': contact},
                    'check_contact')
            contact['by_email'] = True
            result = Book.execute(session_id, {'citizen': citizen,
                    'service': defaults, 'contact': contact},
                'check_contact')
            confirm = result['view']['defaults']
            result = Book.execute(session_id, {'citizen': citizen,
                    'service': defaults, 'contact': contact,
                    'confirm': {k: v for k, v in confirm.items()
                        if '.' not in k}}, 'book')
            done = result['view']['defaults']
            self.assertRegex(done['link'],
                r'^https://balie.voorbeeld.example/a/[0-9a-z-]{34}$')
            buttons = {b['state']: b for b in result['view']['buttons']}
            self.assertIn('end', buttons)
            Appointment = pool.get('balie.appointment')
            appointment, = Appointment.search([('party.name', '=',
                        "Lies Maes")])
            self.assertEqual(appointment.origin, 'phone')
            self.assertEqual(appointment.notify_by, 'email')

    def test_old_requests_are_forgotten(self):
        "Test that the cron forgets requests a day after their hold"
        self.online()
        self.request_code(Client(app))
        with self.transaction():
            Request = Pool().get('balie.booking.request')
            Request.clean_up()
            self.assertEqual(Request.search_count([]), 1)
        self.clock.advance(days=1, minutes=11)
        with self.transaction():
            Request = Pool().get('balie.booking.request')
            Request.clean_up()
            self.assertEqual(Request.search_count([]), 0)
