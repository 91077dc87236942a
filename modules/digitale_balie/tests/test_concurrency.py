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
            self.assertEqual(Appointment.search([], count=True), 1)
            # the losers' dossiers were rolled back with their savepoint
            self.assertEqual(Dossier.search([], count=True), 1)

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
