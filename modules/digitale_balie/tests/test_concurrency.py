# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"Many clerks booking the same slot at the same moment, on PostgreSQL."
import datetime as dt
import threading
import unittest

from trytond import backend
from trytond.pool import Pool
from trytond.tests.test_tryton import (
    DB_NAME, USER, activate_module, drop_db)
from trytond.transaction import Transaction

from digitale_balie.exceptions import SlotTakenError
from digitale_balie.tests.tools import (
    TUESDAY, create_balie, create_citizen, frozen, local)

BOOKERS = 20


class ConcurrentBookingTestCase(unittest.TestCase):
    "Test concurrent bookings of one slot"

    @classmethod
    def setUpClass(cls):
        if backend.name != 'postgresql':
            raise unittest.SkipTest(
                "real concurrency needs PostgreSQL; SQLite serialises "
                "writers on a file lock")
        drop_db()
        activate_module('digitale_balie')

    @classmethod
    def tearDownClass(cls):
        drop_db()

    def test_twenty_concurrent_bookings_one_wins(self):
        "Test that of 20 simultaneous bookings exactly one wins"
        with Transaction().start(DB_NAME, USER) as transaction:
            company, employees, service = create_balie(
                clerks=["Anna Peeters"])
            parties = [create_citizen("Burger %s" % i).id
                for i in range(BOOKERS)]
            company, service = company.id, service.id
            transaction.commit()

        barrier = threading.Barrier(BOOKERS)
        results = [None] * BOOKERS

        def book(index):
            with Transaction().start(DB_NAME, USER,
                    context={'company': company}) as transaction:
                Appointment = Pool().get('balie.appointment')
                barrier.wait()
                try:
                    Appointment.book_slot({
                            'service': service,
                            'party': parties[index],
                            'start': local(TUESDAY, 10, 30),
                            })
                except SlotTakenError as exception:
                    results[index] = ('taken', str(exception))
                    transaction.rollback()
                except Exception as exception:
                    results[index] = ('error', repr(exception))
                    transaction.rollback()
                else:
                    transaction.commit()
                    results[index] = ('booked', None)

        with frozen():
            threads = [threading.Thread(target=book, args=(i,))
                for i in range(BOOKERS)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)

        outcomes = [r[0] if r else 'hung' for r in results]
        self.assertEqual(outcomes.count('booked'), 1, results)
        self.assertEqual(outcomes.count('taken'), BOOKERS - 1, results)
        for outcome, message in results:
            if outcome == 'taken':
                self.assertIn("was just taken", message)

        with Transaction().start(DB_NAME, USER):
            pool = Pool()
            Appointment = pool.get('balie.appointment')
            Dossier = pool.get('balie.dossier')
            self.assertEqual(Appointment.search(
                    [('service', '=', service)], count=True), 1)
            # the losers' dossiers were rolled back with their savepoint
            self.assertEqual(Dossier.search(
                    [('party', 'in', parties)], count=True), 1)

    def test_adjacent_bookings_within_a_buffer(self):
        "Test that simultaneous bookings never share a clerk's buffer"
        # a 45-minute service with a 10-minute buffer and a 30-minute one:
        # 12:45 (busy until 13:40) against 13:30, and their neighbours
        services_shape = [(45, 10), (30, 0), (20, 15), (30, 5)]
        # (service index, local start): slots each service offers (laid
        # out from 12:00 every duration + buffer), pairwise within a buffer
        wanted = [(0, (12, 55)), (1, (13, 30)), (1, (13, 0)), (2, (13, 10)),
            (2, (13, 45)), (3, (12, 35)), (0, (13, 50)), (1, (14, 0))]
        with Transaction().start(DB_NAME, USER) as transaction:
            pool = Pool()
            Service = pool.get('balie.service')
            company, employees, service = create_balie(
                clerks=["Chris Wouters"], hours=((12, 0), (16, 0)),
                duration=45, buffer=10)
            services = [service.id]
            with Transaction().set_context(company=company.id):
                for duration, buffer in services_shape[1:]:
                    other, = Service.copy([service], default={
                            'code': 'S%s%s' % (duration, buffer),
                            'duration': dt.timedelta(minutes=duration),
                            'buffer': dt.timedelta(minutes=buffer),
                            })
                    services.append(other.id)
            parties = [create_citizen("Buffer %s" % i).id
                for i in range(len(wanted))]
            company, clerk = company.id, employees[0].id
            transaction.commit()

        # every service's slots are laid out from 12:00 in its own step:
        # book each booker at a start its service offers
        with frozen(), Transaction().start(DB_NAME, USER,
                context={'company': company}):
            Appointment = Pool().get('balie.appointment')
            offered = {s: {a['start'] for a in Appointment.free_slots(
                        s, TUESDAY, TUESDAY)} for s in services}
        bookings = []
        for index, (number, (hour, minute)) in enumerate(wanted):
            start = local(TUESDAY, hour, minute)
            self.assertIn(start.isoformat() + 'Z', offered[services[number]])
            bookings.append((services[number], parties[index], start))

        barrier = threading.Barrier(len(bookings))
        results = [None] * len(bookings)

        def book(index):
            service, party, start = bookings[index]
            with Transaction().start(DB_NAME, USER,
                    context={'company': company}) as transaction:
                Appointment = Pool().get('balie.appointment')
                # a snapshot from before the rivals' bookings, as over RPC
                Appointment.search([], limit=1)
                barrier.wait()
                try:
                    Appointment.book_slot({
                            'service': service, 'party': party,
                            'start': start, 'employee': clerk})
                except SlotTakenError as exception:
                    results[index] = ('taken', str(exception))
                    transaction.rollback()
                except Exception as exception:
                    results[index] = ('error', repr(exception))
                    transaction.rollback()
                else:
                    transaction.commit()
                    results[index] = ('booked', None)

        for attempt in range(3):
            with frozen():
                threads = [threading.Thread(target=book, args=(i,))
                    for i in range(len(bookings))]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join(timeout=60)
            outcomes = [r[0] if r else 'hung' for r in results]
            self.assertNotIn('hung', outcomes, results)
            self.assertNotIn('error', outcomes, results)
            self.assertGreaterEqual(outcomes.count('booked'), 1, results)
            for outcome, message in results:
                if outcome == 'taken':
                    self.assertIn("was just taken", message)
                    self.assertIn("next free slots", message)
            with Transaction().start(DB_NAME, USER) as transaction:
                cursor = transaction.connection.cursor()
                cursor.execute(
                    'SELECT a.id, b.id FROM balie_appointment a '
                    'JOIN balie_appointment b ON a.employee = b.employee '
                    'AND a.id < b.id '
                    'JOIN balie_service sa ON sa.id = a.service '
                    'JOIN balie_service sb ON sb.id = b.service '
                    "WHERE a.state != 'cancelled' AND b.state != 'cancelled' "
                    "AND tsrange(a.start, a.\"end\" + sa.buffer, '[)') "
                    "&& tsrange(b.start, b.\"end\" + sb.buffer, '[)')")
                self.assertEqual(cursor.fetchall(), [])
                # the next round starts from an empty agenda again
                cursor.execute("UPDATE balie_appointment "
                    "SET state = 'cancelled' WHERE employee = %s", (clerk,))
                transaction.commit()

    def test_bookings_queue_per_clerk_and_day(self):
        "Test that booking and moving hold the clerk's lock of that day only"
        from psycopg import connect

        from digitale_balie.availability import _lock_key
        with Transaction().start(DB_NAME, USER) as transaction:
            company, employees, service = create_balie(
                clerks=["Bart Claes"])
            party = create_citizen("Burger Lock").id
            clerk, company, service = employees[0].id, company.id, service.id
            transaction.commit()
        wednesday = TUESDAY + dt.timedelta(days=1)
        # another connection asks for the locks while a transaction holds
        # them (a lock of one's own transaction would always be granted)
        uri = backend.Database._connection_params(DB_NAME)['conninfo']

        def free(day):
            with connect(uri, autocommit=True) as other:
                granted, = other.execute(
                    'SELECT pg_try_advisory_lock(%s)',
                    (_lock_key(clerk, day),)).fetchone()
                if granted:
                    other.execute('SELECT pg_advisory_unlock(%s)',
                        (_lock_key(clerk, day),))
                return granted

        with frozen():
            with Transaction().start(DB_NAME, USER,
                    context={'company': company}) as transaction:
                Appointment = Pool().get('balie.appointment')
                appointment = Appointment(Appointment.book_slot({
                            'service': service, 'party': party,
                            'start': local(TUESDAY, 10, 30)}))
                self.assertFalse(free(TUESDAY))
                self.assertTrue(free(wednesday))
                Appointment.reschedule(appointment, local(wednesday, 9))
                self.assertFalse(free(wednesday))
                # the other tests of the class count their own bookings
                transaction.rollback()
            self.assertTrue(free(TUESDAY))
            self.assertTrue(free(wednesday))
