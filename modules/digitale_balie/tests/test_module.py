# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
import datetime as dt
import hashlib
import json
from unittest.mock import patch

from trytond import backend
from trytond.exceptions import UserError
from trytond.model.exceptions import AccessError, SQLConstraintError
from trytond.modules.company.tests import (
    CompanyTestMixin, create_company, create_employee, set_company)
from trytond.pool import Pool
from trytond.tests.test_tryton import ModuleTestCase, with_transaction
from trytond.transaction import Transaction

from digitale_balie.exceptions import (
    CitizenValidationError, SlotTakenError, SlotUnavailableError)
from digitale_balie.party import (
    parse_email, parse_national_number, parse_phone)
from digitale_balie.slots import to_local
from digitale_balie.tests.sql import sent_statements
from digitale_balie.tests.translations import (
    TranslationTestMixin, load_translations)
from digitale_balie.tests.tools import (
    MIN, NOW, TUESDAY, as_user, create_balie, create_citizen, frozen, local)

class DigitaleBalieTestCase(
        TranslationTestMixin, CompanyTestMixin, ModuleTestCase):
    "Test Digitale Balie module"
    module = 'digitale_balie'

    def book(self, service, party, start, employee=None, **values):
        Appointment = Pool().get('balie.appointment')
        values.update({
                'service': service.id, 'party': party.id, 'start': start})
        if employee:
            values['employee'] = employee.id
        return Appointment(Appointment.book_slot(values))

    # -- slots through the model -----------------------------------------

    @with_transaction()
    def test_employment_is_judged_on_the_slot_date(self):
        "Test that a clerk's start and end dates count on the slot's day"
        Appointment = Pool().get('balie.appointment')
        company, employees, service = create_balie(
            clerks=["Leaving Soon", "Starting Later"])
        leaving, starting = employees
        leaving.end_date = TUESDAY + dt.timedelta(days=2)
        leaving.save()
        starting.start_date = TUESDAY + dt.timedelta(days=6)
        starting.save()
        with set_company(company), frozen():
            slots = Appointment._free_slots(service, TUESDAY,
                TUESDAY + dt.timedelta(days=8))
            days = {}
            for slot in slots:
                days.setdefault(slot.employee, set()).add(
                    to_local(slot.start).date())
            self.assertEqual(days[leaving.id],
                {TUESDAY + dt.timedelta(days=n) for n in range(3)})
            self.assertEqual(days[starting.id],
                {TUESDAY + dt.timedelta(days=n) for n in range(6, 9)})
            # the slots of the clerk's last day go up to its closing time
            self.assertIn(local(TUESDAY + dt.timedelta(days=2), 11, 30),
                [s.start for s in slots if s.employee == leaving.id])
            with self.assertRaises(SlotUnavailableError):
                self.book(service, create_citizen(),
                    local(TUESDAY + dt.timedelta(days=3), 9), leaving)
            self.book(service, create_citizen(),
                local(TUESDAY + dt.timedelta(days=6), 9), starting)

    @with_transaction()
    def test_free_slots_rpc_format(self):
        "Test that free_slots answers sorted UTC ISO strings per clerk"
        Appointment = Pool().get('balie.appointment')
        company, employees, service = create_balie()
        with set_company(company), frozen():
            slots = Appointment.free_slots(service.id, TUESDAY, TUESDAY)
        self.assertEqual(len(slots), 2 * 6)
        self.assertEqual(slots[0], {
                'start': '2026-12-08T08:00:00Z',
                'end': '2026-12-08T08:30:00Z',
                'employee': employees[0].id,
                })
        self.assertEqual(slots, sorted(
                slots, key=lambda s: (s['start'], s['employee'])))

    @with_transaction()
    def test_free_slots_one_clerk(self):
        "Test that asking for one clerk gives only that clerk's slots"
        Appointment = Pool().get('balie.appointment')
        company, employees, service = create_balie()
        with set_company(company), frozen():
            slots = Appointment.free_slots(
                service.id, TUESDAY, TUESDAY, employees[1].id)
        self.assertEqual({s['employee'] for s in slots}, {employees[1].id})
        self.assertEqual(len(slots), 6)

    @with_transaction()
    def test_free_slots_unqualified_clerk(self):
        "Test that a clerk who does not do the service has no slots"
        Appointment = Pool().get('balie.appointment')
        company, employees, service = create_balie()
        other = create_employee(company, "Sofie Claes")
        with set_company(company), frozen():
            self.assertEqual(Appointment.free_slots(
                    service.id, TUESDAY, TUESDAY, other.id), [])

    @with_transaction()
    def test_free_slots_minus_exception_closing_and_bookings(self):
        "Test that absences, closing days and bookings remove slots"
        pool = Pool()
        Appointment = pool.get('balie.appointment')
        Exception_ = pool.get('balie.schedule.exception')
        ClosingDay = pool.get('balie.closing.day')
        company, employees, service = create_balie(buffer=10)
        anna, youssef = employees
        party = create_citizen()
        with set_company(company), frozen():
            Exception_(employee=youssef, start=local(TUESDAY, 0),
                end=local(TUESDAY, 23), reason="Verlof").save()
            ClosingDay(date=TUESDAY + dt.timedelta(days=1),
                name="Feestdag").save()
            self.book(service, party, local(TUESDAY, 9, 40), anna)
            slots = Appointment._free_slots(
                service, TUESDAY, TUESDAY + dt.timedelta(days=1))
        self.assertEqual({s.employee for s in slots}, {anna.id})
        self.assertEqual(
            [to_local(s.start).strftime('%H:%M') for s in slots],
            ['09:00', '10:20', '11:00'])

    @with_transaction()
    def test_free_slots_lead_time_and_horizon(self):
        "Test that the lead time and the booking horizon bound the slots"
        pool = Pool()
        Appointment = pool.get('balie.appointment')
        Configuration = pool.get('balie.configuration')
        company, employees, service = create_balie(clerks=["Anna Peeters"])
        config = Configuration(1)
        config.booking_lead_time = 2 * 60 * MIN
        config.booking_horizon = 7
        config.save()
        monday = NOW.date()
        with set_company(company), frozen():
            slots = Appointment._free_slots(
                service, monday, monday + dt.timedelta(days=30))
        # now is 09:00 local: nothing before 11:00 today
        self.assertEqual(to_local(slots[0].start).strftime('%H:%M'), '11:00')
        self.assertEqual(to_local(slots[-1].start).date(),
            monday + dt.timedelta(days=7))

    @with_transaction()
    def test_free_slots_dst_sundays(self):
        "Test the DST Sundays through the model"
        Appointment = Pool().get('balie.appointment')
        company, employees, service = create_balie(
            clerks=["Anna Peeters"], days=[6], hours=((1, 0), (4, 0)))
        with set_company(company):
            spring = dt.date(2027, 3, 28)
            with frozen(dt.datetime(2027, 3, 22)):
                slots = Appointment._free_slots(service, spring, spring)
            self.assertEqual(len(slots), 4)
            autumn = dt.date(2027, 10, 31)
            with frozen(dt.datetime(2027, 10, 25)):
                slots = Appointment._free_slots(service, autumn, autumn)
            self.assertEqual(len(slots), 8)

    # -- booking -----------------------------------------------------------

    @with_transaction()
    def test_book_slot_creates_appointment_and_dossier(self):
        "Test that booking creates a numbered appointment on a new dossier"
        company, employees, service = create_balie()
        party = create_citizen()
        with set_company(company), frozen():
            appointment = self.book(service, party, local(TUESDAY, 10, 30))
        self.assertTrue(appointment.number.startswith('A'))
        self.assertEqual(appointment.state, 'booked')
        self.assertEqual(appointment.end - appointment.start, 30 * MIN)
        self.assertEqual(appointment.employee, employees[0])
        self.assertEqual(appointment.language, 'nl')
        self.assertEqual(appointment.booked_by.id, Transaction().user)
        dossier = appointment.dossier
        self.assertEqual(dossier.party, party)
        self.assertEqual(dossier.subject, service.name)
        self.assertEqual([e.kind for e in dossier.events], ['booked'])
        self.assertIn('Tuesday 8 December 2026 at 10:30',
            dossier.events[0].description)
        # a copy is a new question: nothing that hangs under it comes along
        with set_company(company):
            copy, = dossier.copy([dossier])
        self.assertNotEqual(copy.number, dossier.number)
        self.assertEqual((copy.party, copy.subject), (party, service.name))
        for name, field in copy._fields.items():
            if field._type == 'one2many':
                self.assertEqual(getattr(copy, name), (), name)
        self.assertEqual(len(dossier.appointments), 1)

    @with_transaction()
    def test_book_slot_reuses_open_dossier(self):
        "Test that a second appointment on the same question shares a dossier"
        company, employees, service = create_balie()
        party = create_citizen()
        with set_company(company), frozen():
            first = self.book(service, party, local(TUESDAY, 9))
            second = self.book(service, party, local(TUESDAY, 11))
            first.dossier.close([first.dossier])
            third = self.book(service, party, local(TUESDAY, 11, 30))
        self.assertEqual(first.dossier, second.dossier)
        self.assertNotEqual(third.dossier, first.dossier)

    @with_transaction()
    def test_book_slot_off_schedule_is_refused(self):
        "Test that a time outside the opening hours cannot be booked"
        company, employees, service = create_balie()
        party = create_citizen()
        with set_company(company), frozen():
            with self.assertRaises(SlotUnavailableError) as cm:
                self.book(service, party, local(TUESDAY, 13))
        self.assertIn('Tuesday 8 December 2026 at 13:00',
            str(cm.exception))
        with set_company(company), frozen(), \
                Transaction().set_context(language='nl'):
            with self.assertRaises(SlotUnavailableError) as cm:
                self.book(service, party, local(TUESDAY, 13))
        self.assertIn('dinsdag 8 december 2026 om 13.00 uur',
            str(cm.exception))

    @with_transaction()
    def test_book_slot_bad_start_is_a_clear_error(self):
        "Test that a start that is not a time is refused clearly over RPC"
        company, employees, service = create_balie()
        party = create_citizen()
        with set_company(company), frozen():
            for bad in ['dinsdag om tien uur', 42, None]:
                with self.subTest(bad=bad):
                    with self.assertRaises(SlotUnavailableError) as cm:
                        self.book(service, party, bad)
                    self.assertIn('not a valid start time', str(cm.exception))
            # ISO 8601 with Z, as free_slots answers, is fine
            appointment = self.book(service, party, '2026-12-08T08:00:00Z')
        self.assertEqual(appointment.start, local(TUESDAY, 9))

    @with_transaction()
    def test_book_slot_channel_must_be_offered(self):
        "Test that a channel the service does not offer is refused"
        company, employees, service = create_balie()
        party = create_citizen()
        with set_company(company), frozen():
            with self.assertRaises(SlotUnavailableError):
                self.book(service, party, local(TUESDAY, 9), channel='phone')

    @with_transaction()
    def test_overlapping_booking_is_refused(self):
        "Test that the database refuses a second booking of the same clerk"
        pool = Pool()
        Appointment = pool.get('balie.appointment')
        company, employees, service = create_balie()
        party = create_citizen()
        with set_company(company), frozen():
            first = self.book(service, party, local(TUESDAY, 9), employees[0])
            with self.assertRaises(SQLConstraintError):
                Appointment.create([{
                            'party': party.id,
                            'dossier': first.dossier.id,
                            'service': service.id,
                            'employee': employees[0].id,
                            'start': local(TUESDAY, 9, 15),
                            'end': local(TUESDAY, 9, 45),
                            }])

    @with_transaction()
    def test_back_to_back_and_cancelled_are_allowed(self):
        "Test that [) bounds allow back to back, and cancelling frees a slot"
        pool = Pool()
        Appointment = pool.get('balie.appointment')
        company, employees, service = create_balie()
        party = create_citizen()
        anna = employees[0]
        with set_company(company), frozen():
            first = self.book(service, party, local(TUESDAY, 9), anna)
            self.book(service, party, local(TUESDAY, 9, 30), anna)
            Appointment.cancel([first])
            again = self.book(service, party, local(TUESDAY, 9), anna)
        self.assertEqual(again.start, first.start)
        self.assertEqual(first.state, 'cancelled')

    @with_transaction()
    def test_lost_race_says_slot_taken_and_transaction_survives(self):
        "Test that a lost race answers 'just taken' and nothing is half-made"
        pool = Pool()
        Appointment = pool.get('balie.appointment')
        Dossier = pool.get('balie.dossier')
        company, employees, service = create_balie(clerks=["Anna Peeters"])
        party = create_citizen()
        other = create_citizen("Jan De Smet")
        with set_company(company), frozen():
            slot = Appointment._free_slots(service, TUESDAY, TUESDAY)[0]
            self.book(service, other, slot.start)
            dossiers = Dossier.search([], count=True)
            # the other booking is not visible yet to this one
            with patch.object(Appointment, '_free_slots',
                    return_value=[slot]):
                with self.assertRaises(SlotTakenError) as cm:
                    self.book(service, party, slot.start)
            self.assertIn('was just taken', str(cm.exception))
            # the savepoint was rolled back: no orphan dossier, and the
            # transaction still answers
            self.assertEqual(Dossier.search([], count=True), dossiers)
            self.assertEqual(
                len(Appointment._free_slots(service, TUESDAY, TUESDAY)), 5)

    @with_transaction()
    def test_serialization_and_deadlock_mean_taken(self):
        "Test that 40001 and 40P01 aborts answer 'just taken', others raise"
        pool = Pool()
        Appointment = pool.get('balie.appointment')
        company, employees, service = create_balie()
        party = create_citizen()

        def failure(sqlstate):
            return type('Failure', (backend.DatabaseOperationalError,),
                {'sqlstate': sqlstate})("simulated")
        with set_company(company), frozen():
            for sqlstate in ['40001', '40P01']:
                with self.subTest(sqlstate=sqlstate):
                    with patch.object(Appointment, 'create',
                            side_effect=failure(sqlstate)):
                        with self.assertRaises(SlotTakenError):
                            self.book(service, party, local(TUESDAY, 9))
            with patch.object(Appointment, 'create',
                    side_effect=failure('53100')):
                with self.assertRaises(backend.DatabaseOperationalError):
                    self.book(service, party, local(TUESDAY, 9))
            # nothing half-made, and the transaction still works
            appointment = self.book(service, party, local(TUESDAY, 9))
        self.assertEqual(len(appointment.dossier.events), 1)

    @with_transaction()
    def test_overlap_constraint_in_postgresql(self):
        "Test that PostgreSQL has a real exclusion constraint (btree_gist)"
        if backend.name != 'postgresql':
            self.skipTest("PostgreSQL only: SQLite emulates the constraint")
        cursor = Transaction().connection.cursor()
        cursor.execute(
            "SELECT pg_get_constraintdef(c.oid) FROM pg_constraint c "
            "JOIN pg_class t ON c.conrelid = t.oid "
            "WHERE t.relname = 'balie_appointment' AND c.contype = 'x'")
        definitions = [r[0] for r in cursor]
        self.assertEqual(len(definitions), 1)
        self.assertIn('gist', definitions[0])
        self.assertIn(
            "tsrange(start, COALESCE(buffer_end, \"end\"), '[)'::text)",
            definitions[0])
        cursor.execute(
            "SELECT 1 FROM pg_extension WHERE extname = 'btree_gist'")
        self.assertEqual(len(cursor.fetchall()), 1)

    @with_transaction()
    def test_busy_rows_use_the_overlap_index_when_prepared(self):
        "Test that the clerks' busy times keep their index in a generic plan"
        # psycopg prepares a statement from its 5th run on a connection
        # and PostgreSQL may then plan it once for any parameters: a
        # parameter in place of the partial indexes' "state <> 'cancelled'"
        # made every booking read the whole table (49 ms instead of 0.3)
        if backend.name != 'postgresql':
            self.skipTest("PostgreSQL only: SQLite prepares no plans")
        from psycopg import ClientCursor
        Appointment = Pool().get('balie.appointment')
        company, employees, service = create_balie()
        with sent_statements() as sent:
            Appointment._busy_rows([employees[0].id],
                local(TUESDAY, 9), local(TUESDAY, 12))
        (query, params), = sent
        numbered = query
        for n in range(1, len(params) + 1):
            numbered = numbered.replace('%s', '$%d' % n, 1)
        cursor = Transaction().connection.cursor()
        cursor.execute('PREPARE balie_busy AS ' + numbered)
        cursor.execute('SET LOCAL plan_cache_mode = force_generic_plan')
        # the test table is small: make a scan the last resort
        cursor.execute('SET LOCAL enable_seqscan = off')
        # EXPLAIN takes no bound parameters: the values as literals
        cursor.execute(ClientCursor(Transaction().connection).mogrify(
                'EXPLAIN (FORMAT JSON) EXECUTE balie_busy(%s)'
                % ', '.join(['%s'] * len(params)), params))
        plan = json.dumps(cursor.fetchone()[0])
        cursor.execute('DEALLOCATE balie_busy')
        self.assertRegex(plan, r'"Index Cond": "\(\(?employee = ANY', plan)

    @with_transaction()
    def test_partial_index_queries_are_not_prepared(self):
        "Test that the queries of partial indexes get a plan per run"
        if backend.name != 'postgresql':
            self.skipTest("PostgreSQL only: SQLite prepares no plans")
        BookingRequest = Pool().get('balie.booking.request')
        company, employees, service = create_balie()
        cursor = Transaction().connection.cursor()

        def prepared():
            cursor.execute('SELECT statement FROM pg_prepared_statements')
            return [r[0] for r in cursor if 'balie_booking_request' in r[0]]

        def held():
            for _ in range(8):
                BookingRequest.held_rows([employees[0].id],
                    local(TUESDAY, 9), local(TUESDAY, 12))
        held()
        self.assertEqual(prepared(), [])
        # psycopg would have prepared it from its 5th run
        with patch('digitale_balie.selfservice.execute_planned',
                lambda cursor, query, params: cursor.execute(query, params)):
            held()
        self.assertEqual(len(prepared()), 1)

        # the dispatcher claims due messages in transactions of their own:
        # look at the connections they ran on
        from digitale_balie import outbox
        Message = Pool().get('balie.message')

        def claimed_on(execute):
            connections = set()

            def spy(cursor, query, params):
                connections.add(cursor.connection)
                return execute(cursor, query, params)
            with patch('digitale_balie.outbox.execute_planned', spy):
                for _ in range(20):
                    Message._claim(10)
            found = []
            for connection in connections:
                found += [r[0] for r in connection.execute(
                        'SELECT statement FROM pg_prepared_statements')
                    if 'balie_message' in r[0]]
                connection.rollback()
            return found
        self.assertEqual(claimed_on(outbox.execute_planned), [])
        self.assertTrue(claimed_on(
                lambda cursor, query, params: cursor.execute(query, params)))

    @with_transaction()
    def test_appointment_date_search(self):
        "Test searching appointments by local date"
        Appointment = Pool().get('balie.appointment')
        company, employees, service = create_balie()
        party = create_citizen()
        with set_company(company), frozen():
            # 00:30 local on Wednesday is still Tuesday in UTC
            appointment = self.book(service, party, local(TUESDAY, 9))
            self.assertEqual(appointment.date, TUESDAY)
            self.assertEqual(appointment.start_time, dt.time(9, 0))
            self.assertEqual(Appointment.search(
                    [('date', '=', TUESDAY)]), [appointment])
            self.assertEqual(Appointment.search(
                    [('date', '=', TUESDAY + dt.timedelta(days=1))]), [])
            self.assertEqual(Appointment.search(
                    [('date', '>', TUESDAY)]), [])
            self.assertEqual(Appointment.search(
                    [('date', '<=', TUESDAY)]), [appointment])

    # -- citizens ------------------------------------------------------------

    def test_phone_numbers(self):
        "Test phone number parsing, with SMS capability"
        self.assertEqual(parse_phone('0470 12 34 56'), ('+32470123456', True))
        self.assertEqual(
            parse_phone('+32 470/12.34.56'), ('+32470123456', True))
        self.assertEqual(parse_phone('050 12 34 56'), ('+3250123456', False))
        self.assertEqual(
            parse_phone('+31 6 12345678'), ('+31612345678', True))
        for bad in ['12', '0470 12 34', 'abc', '+32 470 12 34 56 78 9']:
            with self.subTest(bad=bad):
                with self.assertRaises(CitizenValidationError):
                    parse_phone(bad)

    @with_transaction()
    def test_email_addresses(self):
        "Test e-mail address validation and its reasons in the user's words"
        self.assertEqual(
            parse_email('Maria.Janssens@Example.be'),
            'Maria.Janssens@example.be')
        reasons = {
            'maria': 'exactly one @',
            'maria@': 'exactly one @',
            '@example.be': 'exactly one @',
            'maria@@example.be': 'exactly one @',
            'maria@example': 'not a domain such as example.be',
            'maria@-example.be': 'not a domain such as example.be',
            'ma ria@example.be': 'contains a space',
            'maria..j@example.be': 'two dots in a row',
            'maria(j)@example.be': 'not allowed',
            }
        for bad, reason in reasons.items():
            with self.subTest(bad=bad):
                with self.assertRaises(CitizenValidationError) as cm:
                    parse_email(bad)
                self.assertIn(reason, str(cm.exception))
                # nothing of email-validator's English explanation
                self.assertNotIn('@-sign', str(cm.exception))
        load_translations(['digitale_balie'])
        with Transaction().set_context(language='nl'):
            with self.assertRaises(CitizenValidationError) as cm:
                parse_email('maria@example')
        self.assertIn('geen geldig e-mailadres: het deel na de @ is geen '
            'domein zoals voorbeeld.be', str(cm.exception))

    def test_national_numbers(self):
        "Test Belgian national register and BIS numbers"
        self.assertEqual(
            parse_national_number('85.07.30-033.28'), ('be_nn', '85073003328'))
        self.assertEqual(
            parse_national_number('98.47.28-997.65'),
            ('be_bis', '98472899765'))
        for bad in ['85.07.30-033.29', '1234', 'abcdefghijk']:
            with self.subTest(bad=bad):
                with self.assertRaises(CitizenValidationError):
                    parse_national_number(bad)

    @with_transaction()
    def test_email_domain_check_is_reported(self):
        "Test that a domain refused by the DNS check is a clear error"
        from email_validator import EmailUndeliverableError
        with patch('digitale_balie.party.trytond_validate_email',
                side_effect=EmailUndeliverableError(
                    "The domain name exampel.be does not exist.")):
            with self.assertRaises(CitizenValidationError) as cm:
                parse_email('maria@exampel.be', check_domain=True)
            self.assertIn('the domain exampel.be does not receive e-mail',
                str(cm.exception))
            self.assertEqual(parse_email('maria@exampel.be'),
                'maria@exampel.be')

    @with_transaction()
    def test_contact_email_checked_without_dns_when_configured(self):
        "Test that without the DNS check e-mail syntax is still checked"
        pool = Pool()
        Configuration = pool.get('balie.configuration')
        ContactMechanism = pool.get('party.contact_mechanism')
        party = create_citizen()
        config = Configuration(1)
        config.check_email_domain = False
        config.save()
        with patch('trytond.modules.party.contact_mechanism.validate_email',
                side_effect=AssertionError("DNS must not be asked")):
            ContactMechanism(party=party, type='email',
                value='maria@example.be').save()
            with self.assertRaises(UserError):
                ContactMechanism(party=party, type='email',
                    value='maria@').save()
        config.check_email_domain = True
        config.save()
        with patch('trytond.modules.party.contact_mechanism.validate_email',
                side_effect=AssertionError("DNS asked")):
            with self.assertRaises(AssertionError):
                ContactMechanism(party=party, type='email',
                    value='jan@example.be').save()

    @with_transaction()
    def test_party_search_by_phone(self):
        "Test that a citizen is found by a phone number typed differently"
        pool = Pool()
        Party = pool.get('party.party')
        party = create_citizen()
        party.contact_mechanisms = [{'type': 'mobile', 'value': '+32470123456'}]
        party.save()
        self.assertEqual(
            Party.search([('rec_name', 'ilike', '%0470 12 34 56%')]), [party])
        self.assertEqual(party.contact_value('mobile'), '+32470123456')

    # -- personal links ------------------------------------------------------

    @with_transaction()
    def test_personal_link_is_hashed_and_expires(self):
        "Test that only the hash is stored and the link expires and revokes"
        pool = Pool()
        Token = pool.get('balie.access.token')
        company, employees, service = create_balie()
        party = create_citizen()
        with set_company(company), frozen():
            appointment = self.book(service, party, local(TUESDAY, 9))
            token, raw = Token.generate(appointment, 'card')
        self.assertRegex(raw, r'^([0-9a-hjkmnp-tv-z]{4}-){6}[0-9a-z]{4}$')
        self.assertEqual(token.token_hash, hashlib.sha256(
                raw.replace('-', '').encode()).hexdigest())
        table = Token.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.select(where=table.id == token.id))
        self.assertNotIn(raw, str(cursor.fetchall()))
        self.assertEqual(
            token.expires_at, appointment.end + dt.timedelta(hours=24))
        with patch('digitale_balie.clock.now',
                return_value=appointment.end):
            self.assertEqual(Token.lookup(raw), token)
            # typed from the card: capitals, no dashes, o for 0, l for 1
            typed = raw.upper().replace('-', ' ').replace('0', 'O').replace(
                '1', 'l')
            self.assertEqual(Token.lookup(typed), token)
            self.assertIsNone(Token.lookup(raw[:-1]))
            self.assertIsNone(Token.lookup(raw[:-1] + '!'))
            self.assertIsNone(Token.lookup(''))
            self.assertIsNone(Token.lookup('x' * 1000))
        with patch('digitale_balie.clock.now',
                return_value=token.expires_at):
            self.assertIsNone(Token.lookup(raw))
            self.assertEqual(token.state, 'expired')
        Token.revoke([token])
        self.assertIsNone(Token.lookup(raw))
        self.assertEqual(token.state, 'revoked')

    @with_transaction()
    def test_links_are_unique_per_issue(self):
        "Test that every personal link is different"
        Token = Pool().get('balie.access.token')
        company, employees, service = create_balie()
        party = create_citizen()
        with set_company(company), frozen():
            appointment = self.book(service, party, local(TUESDAY, 9))
            raws = {Token.generate(appointment, 'message')[1]
                for _ in range(50)}
        self.assertEqual(len(raws), 50)

    @with_transaction()
    def test_cancel_revokes_links(self):
        "Test that cancelling an appointment revokes its personal links"
        pool = Pool()
        Appointment = pool.get('balie.appointment')
        Token = pool.get('balie.access.token')
        company, employees, service = create_balie()
        party = create_citizen()
        with set_company(company), frozen():
            appointment = self.book(service, party, local(TUESDAY, 9))
            token, raw = Token.generate(appointment, 'card')
            Appointment.cancel([appointment])
            self.assertIsNone(Token.lookup(raw))
        self.assertEqual(
            [e.kind for e in appointment.dossier.events],
            ['cancelled', 'booked'])


    # -- access rights -------------------------------------------------------

    def create_user(self, login, group, company, employee=None):
        pool = Pool()
        User = pool.get('res.user')
        ModelData = pool.get('ir.model.data')
        user = User(login=login, name=login, companies=[company],
            company=company,
            groups=[ModelData.get_id('digitale_balie', group)])
        if employee:
            user.employees = [employee]
            user.employee = employee
        user.save()
        return user

    @with_transaction()
    def test_clerk_books_manager_only_reads(self):
        "Test that a clerk may book and a manager may only read"
        pool = Pool()
        Appointment = pool.get('balie.appointment')
        Service = pool.get('balie.service')
        company, employees, service = create_balie()
        party = create_citizen()
        clerk = self.create_user('anna', 'group_balie_clerk', company,
            employees[0])
        manager = self.create_user('chef', 'group_balie_manager', company)
        with as_user(clerk), frozen():
            appointment = self.book(service, party, local(TUESDAY, 9))
            self.assertEqual(appointment.employee, employees[0])
            with self.assertRaises(UserError):
                Service.write([service], {'name': "Iets anders"})
        with as_user(manager), frozen():
            self.assertEqual(Appointment.search([]), [appointment])
            with self.assertRaises(UserError):
                self.book(service, party, local(TUESDAY, 10))
            with self.assertRaises(UserError):
                Appointment.write([appointment], {'note': "Hallo"})

    @with_transaction()
    def test_other_municipality_is_invisible(self):
        "Test that the company rule hides another municipality's records"
        pool = Pool()
        Appointment = pool.get('balie.appointment')
        Dossier = pool.get('balie.dossier')
        company, employees, service = create_balie()
        party = create_citizen()
        with set_company(company), frozen():
            self.book(service, party, local(TUESDAY, 9))
        other = create_company("Gemeente Elders")
        clerk = create_employee(other, "Piet Pieters")
        user = self.create_user('piet', 'group_balie_clerk', other, clerk)
        with as_user(user):
            self.assertEqual(Appointment.search([]), [])
            self.assertEqual(Dossier.search([]), [])

    @with_transaction()
    def test_other_municipality_service_refused(self):
        "Test that free_slots and book_slot refuse another's service"
        pool = Pool()
        Appointment = pool.get('balie.appointment')
        Service = pool.get('balie.service')
        company, employees, service = create_balie()
        party = create_citizen()
        other = create_company("Gemeente Elders")
        clerk = create_employee(other, "Piet Pieters")
        user = self.create_user('piet', 'group_balie_clerk', other, clerk)
        Employee = pool.get('company.employee')
        with as_user(user):
            self.assertEqual(Service.search([]), [])
            self.assertEqual(Employee.search([]), [clerk])
            with self.assertRaises(AccessError) as cm:
                Appointment.free_slots(service.id, TUESDAY, TUESDAY)
            self.assertIn("another municipality", str(cm.exception))
            with self.assertRaises(AccessError):
                Appointment.book_slot({
                        'service': service.id, 'party': party.id,
                        'start': local(TUESDAY, 9),
                        })
        # the municipality's own service answers (and internal calls)
        with set_company(company), frozen():
            self.assertTrue(
                Appointment.free_slots(service.id, TUESDAY, TUESDAY))

    @with_transaction()
    def test_my_appointments_today_action(self):
        "Test the domain of the clerk's 'My Appointments Today' action"
        pool = Pool()
        Appointment = pool.get('balie.appointment')
        Action = pool.get('ir.action.act_window')
        ModelData = pool.get('ir.model.data')
        from trytond.pyson import PYSONDecoder
        company, employees, service = create_balie()
        party = create_citizen()
        with set_company(company), frozen():
            mine = self.book(service, party, local(TUESDAY, 9), employees[0])
            self.book(service, party, local(TUESDAY, 9), employees[1])
        action = Action(ModelData.get_id(
                'digitale_balie', 'act_appointment_today'))
        context = {'employee': employees[0].id}
        context['context'] = context
        domain = PYSONDecoder(context).decode(action.pyson_domain)
        self.assertIn(['date', '=', dt.date.today()], domain)
        domain = [c if c[0] != 'date' else ['date', '=', TUESDAY]
            for c in domain]
        self.assertEqual(Appointment.search(domain), [mine])


del ModuleTestCase
