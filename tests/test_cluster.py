# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Two trytond servers and two trytond-workers on one PostgreSQL database,
and the faults: a worker killed while sending, PostgreSQL restarted during
a booking run (PostgreSQL only; the fixture is tests/cluster.py).

The tests run in order on one cluster; each books on days of its own.
Figures are printed and kept in artifacts/cluster/figures.json.
"""
import collections
import datetime as dt
import json
import os
import re
import shutil
import threading
import time
import unittest
import uuid
from concurrent.futures import ThreadPoolExecutor

from .cluster import ARTIFACTS, Cluster, RPCError, pid_of_peer, wait_for

FIGURES = {}


def backend_uri():
    return (os.environ.get('TRYTOND_DATABASE_URI')
        or os.environ.get('TRYTOND_DATABASE__URI') or '')


def skip_reason():
    if not backend_uri().startswith('postgresql'):
        return ("several trytond processes on one database need "
            "PostgreSQL (TRYTOND_DATABASE_URI=%r)" % backend_uri())
    if not os.path.isdir('/usr/lib/postgresql'):
        return "no PostgreSQL server binaries in /usr/lib/postgresql"
    if os.getuid() == 0 and not shutil.which('runuser'):
        return "runuser is needed to run initdb as postgres"
    return None


def pattern(text):
    "A regular expression of a message text with its %(when)s filled in."
    return re.compile(re.escape(text).replace(
            re.escape('%(when)s'), '.+') + r'\Z')


def local_day(days):
    "An ISO date days from today in Brussels."
    from zoneinfo import ZoneInfo
    today = dt.datetime.now(ZoneInfo('Europe/Brussels')).date()
    return (today + dt.timedelta(days=days)).isoformat()


class ClusterTestCase(unittest.TestCase):
    "Test several trytond processes and their faults"
    slow = True  # scheduled first (conftest.py)

    @classmethod
    def setUpClass(cls):
        reason = skip_reason()
        if reason:
            print("test_cluster skipped: " + reason)
            raise unittest.SkipTest(reason)
        super().setUpClass()
        started = time.monotonic()
        cls.cluster = Cluster('balie_cluster_%s' % os.getpid())
        try:
            cls.cluster.start(servers=2, workers=2)
            cls.meta = cls.cluster.meta
            cls.clerks = {(server, login): cls.cluster.client(server, login)
                for server in ('server-a', 'server-b')
                for login in cls.meta['users']}
        except BaseException:
            cls.cluster.close()
            raise
        FIGURES['setup seconds'] = round(time.monotonic() - started, 1)
        FIGURES['setup from cache'] = cls.meta.get('cached')

    @classmethod
    def tearDownClass(cls):
        cls.cluster.close()
        print("\n== cluster figures ==")
        for key, value in FIGURES.items():
            print("%-45s %s" % (key, value))
        with open(os.path.join(ARTIFACTS, 'figures.json'), 'w') as fp:
            json.dump(FIGURES, fp, indent=2)
        super().tearDownClass()

    # -- helpers

    def free_slots(self, day, client=None):
        client = client or self.clerks['server-a', self.meta['users'][0]]
        return client.call('model.balie.appointment.free_slots',
            self.meta['service'], day, day)

    def book(self, client, slot, party, **values):
        values.update({
                'party': party,
                'service': self.meta['service'],
                'start': slot['start'],
                'employee': slot['employee'],
                })
        values.setdefault('notify_by', 'paper')
        return client.call('model.balie.appointment.book_slot', values)

    def attempt(self, client, slot, party, **values):
        "Book and return (outcome, id or error, seconds)."
        started = time.monotonic()
        try:
            result = ('ok', self.book(client, slot, party, **values))
        except RPCError as error:
            result = (error.kind, error.message)
        return result + (time.monotonic() - started,)

    def client_for(self, i):
        "Clerk i mod 4 on server a or b (alternating)."
        users = self.meta['users']
        server = 'server-a' if i % 2 == 0 else 'server-b'
        return server, self.clerks[server, users[(i // 2) % len(users)]]

    def assertNoOverlap(self):
        overlaps = self.cluster.sql(
            'SELECT a.id, b.id FROM balie_appointment a '
            'JOIN balie_appointment b ON a.employee = b.employee '
            'AND a.id < b.id '
            "AND tsrange(a.start, a.\"end\", '[)') "
            "&& tsrange(b.start, b.\"end\", '[)') "
            "WHERE a.state != 'cancelled' AND b.state != 'cancelled'")
        self.assertEqual(overlaps, [])

    def run_dispatcher(self, method='balie.message|dispatch'):
        "Make the dispatcher's cron due and run trytond-cron --once."
        self.cluster.sql('UPDATE ir_cron SET next_call = NULL '
            'WHERE method = %s', (method,))
        self.cluster.run_cron()

    def message(self, appointment):
        row, = self.cluster.sql(
            'SELECT id, state, attempts, message_id, lease_until '
            "FROM balie_message WHERE appointment = %s "
            "AND kind = 'confirmation' AND channel = 'email'",
            (appointment,))
        return dict(zip(
                ['id', 'state', 'attempts', 'message_id', 'lease_until'],
                row))

    # -- 1. caches

    def test_1_change_through_one_process_seen_by_other(self):
        "Test that a change made through server A is seen through server B"
        self.check_change_seen('cache invalidation A -> B, seconds')

    def check_change_seen(self, label):
        a = self.cluster.client('server-a', 'admin')
        b = self.cluster.client('server-b', 'admin')

        # data: the municipality's name the portal shows
        name = 'Gemeente %s' % uuid.uuid4().hex[:8]
        a.call('model.balie.configuration.write', [1],
            {'municipality_name': name})
        self.assertEqual(b.call('model.balie.configuration.read', [1],
                ['municipality_name'])[0]['municipality_name'], name)

        # a cached value: the groups of a user, and so the access rights
        # (trytond keeps both in a Cache in each process); the
        # administrator takes a clerk off the clerks' group through A
        login = self.meta['users'][-1]
        user, = a.call('model.res.user.search_read',
            [('login', '=', login)], 0, None, None, ['groups'])
        clerk = self.clerks['server-b', login]

        def clerk_may_read_through_b():
            try:
                clerk.call('model.balie.appointment.search_count', [])
            except RPCError as error:
                self.assertEqual(error.kind, 'UserError', error.message)
                return False
            return True
        for _ in range(2):      # B has the groups in its caches now
            self.assertTrue(clerk_may_read_through_b())
        a.call('model.res.user.write', [user['id']],
            {'groups': [('remove', user['groups'])]})
        started = time.monotonic()
        try:
            wait_for(lambda: not clerk_may_read_through_b(), timeout=10,
                step=0.02, message="server B to refuse the clerk")
            FIGURES[label] = round(time.monotonic() - started, 3)
        finally:
            a.call('model.res.user.write', [user['id']],
                {'groups': [('add', user['groups'])]})
        wait_for(clerk_may_read_through_b, timeout=10, step=0.02,
            message="server B to let the clerk in again")

    # -- 2. concurrent bookings

    def test_2_concurrent_bookings_never_overlap(self):
        "Test 200 attempts on 10 slots through both servers"
        day = local_day(7)
        slots = self.free_slots(day)[:10]
        self.assertEqual(len(slots), 10)
        citizens = self.meta['citizens']
        attempts = 200
        barrier = threading.Barrier(20)

        def run(i):
            if i < 20:
                barrier.wait()      # the first 20 go at the same instant
            server, client = self.client_for(i)
            slot = slots[i % len(slots)]
            return (server, i % len(slots)) + self.attempt(
                client, slot, citizens[i % len(citizens)])
        started = time.monotonic()
        with ThreadPoolExecutor(20) as executor:
            results = list(executor.map(run, range(attempts)))
        elapsed = time.monotonic() - started

        won = [r for r in results if r[2] == 'ok']
        lost = [r for r in results if r[2] != 'ok']
        # each slot booked exactly once
        self.assertEqual(sorted(r[1] for r in won), list(range(10)))
        taken = pattern(self.meta['texts_nl']['msg_slot_taken'])
        unavailable = pattern(self.meta['texts_nl']['msg_slot_unavailable'])
        kinds = collections.Counter()
        for server, _, outcome, message, _ in lost:
            # a clear, translated answer, never a traceback
            self.assertEqual(outcome, 'UserError', message)
            if taken.match(message):
                kinds['taken'] += 1
            else:
                self.assertRegex(message, unavailable)
                kinds['not free'] += 1
        self.assertEqual({r[0] for r in won + lost},
            {'server-a', 'server-b'})
        booked = self.cluster.sql(
            'SELECT count(*) FROM balie_appointment WHERE id = ANY(%s)',
            ([r[3] for r in won],))[0][0]
        self.assertEqual(booked, 10)
        self.assertNoOverlap()
        latencies = sorted(r[4] for r in results)
        FIGURES['booking race: attempts'] = attempts
        FIGURES['booking race: booked'] = len(won)
        FIGURES['booking race: "taken" / "not free" answers'] = '%s / %s' % (
            kinds['taken'], kinds['not free'])
        FIGURES['booking race: attempts/s'] = round(attempts / elapsed, 1)
        FIGURES['booking race: p95 answer ms'] = round(
            latencies[int(len(latencies) * .95) - 1] * 1000)

    # -- 3. messages through two workers

    def test_3_messages_sent_once_by_two_workers(self):
        "Test that every queued confirmation arrives exactly once"
        day = local_day(8)
        slots = self.free_slots(day)[:30]
        citizens = self.meta['citizens']
        logs = {name: os.path.getsize(self.cluster.processes[name].log_path)
            for name in ('worker-a', 'worker-b')}

        def run(i):
            _, client = self.client_for(i)
            return self.attempt(client, slots[i], citizens[i],
                notify_by='email',
                contact_email='burger%s@example.com' % i)
        started = time.monotonic()
        with ThreadPoolExecutor(6) as executor:
            results = list(executor.map(run, range(len(slots))))
        self.assertEqual({r[0] for r in results}, {'ok'}, results)
        expected = {self.message(r[1])['message_id'] for r in results}
        self.assertEqual(len(expected), len(slots))
        wait_for(lambda: expected <= set(self.cluster.sink.message_ids()),
            timeout=60, message="every confirmation at the SMTP sink")
        seconds = time.monotonic() - started

        def all_recorded():
            return self.cluster.sql(
                "SELECT count(*) FROM balie_message WHERE message_id = "
                "ANY(%s) AND state = 'delivered' AND attempts = 1",
                (list(expected),))[0][0] == len(expected)
        wait_for(all_recorded, timeout=30,
            message="every confirmation recorded delivered")
        counts = collections.Counter(
            i for i in self.cluster.sink.message_ids() if i in expected)
        self.assertEqual(set(counts.values()), {1})   # none twice
        tasks = {}
        for name, offset in logs.items():
            with open(self.cluster.processes[name].log_path, 'rb') as fp:
                fp.seek(offset)
                tasks[name] = fp.read().count(b'<Task ')
        # both workers took their share of the queue
        self.assertTrue(all(tasks.values()), tasks)
        FIGURES['mails: confirmations sent once'] = len(expected)
        FIGURES['mails: book + deliver all, seconds'] = round(seconds, 2)
        FIGURES['mails: queue tasks per worker'] = tasks

    # -- 4. a worker killed while sending

    def test_4_worker_killed_while_sending(self):
        "Test a worker killed in the middle of sending a mail"
        sink = self.cluster.sink
        day = local_day(9)
        slots = self.free_slots(day)
        citizens = self.meta['citizens']
        _, client = self.client_for(0)
        sink.delay = 30     # the sender waits for "250 OK" after DATA
        try:
            outcome, appointment, _ = self.attempt(client, slots[0],
                citizens[0], notify_by='email',
                contact_email='gedood@example.com')
            self.assertEqual(outcome, 'ok', appointment)
            message = self.message(appointment)
            mail = wait_for(lambda: [m for m in sink.mails
                    if m[0] == message['message_id']],
                timeout=30, message="the mail at the sink")[0]
            # which worker holds the SMTP connection?
            pid = pid_of_peer(mail[2][1])
            victim = self.cluster.process_of_pid(pid)
            self.assertIn(victim, {'worker-a', 'worker-b'})
            self.cluster.kill(victim)
        finally:
            sink.delay = 0
        survivor, = {'worker-a', 'worker-b'} - {victim}

        self.assertFalse(self.cluster.processes[victim].alive())
        message = self.message(appointment)
        self.assertEqual(message['state'], 'sending')
        self.assertEqual(message['attempts'], 1)
        # trytond-worker does not run a task again whose worker died (it
        # marks it dequeued before running it): the cron takes over
        orphans = self.cluster.sql('SELECT count(*) FROM ir_queue '
            'WHERE dequeued_at IS NOT NULL AND finished_at IS NULL')[0][0]
        self.assertGreaterEqual(orphans, 1)
        # the lease keeps another dispatcher away while it runs
        self.run_dispatcher()
        self.assertEqual(self.message(appointment)['state'], 'sending')
        self.assertEqual(sink.message_ids().count(message['message_id']), 1)

        # the lease (5 minutes) expires: move it back by its length
        self.cluster.sql("UPDATE balie_message SET lease_until = "
            "lease_until - interval '5 minutes' WHERE id = %s",
            (message['id'],))
        started = time.monotonic()
        self.run_dispatcher()
        FIGURES['killed worker: trytond-cron --once resends, s'] = round(
            time.monotonic() - started, 2)
        message = self.message(appointment)
        self.assertEqual(message['state'], 'delivered')
        self.assertEqual(message['attempts'], 2)
        # the documented window: the mail in flight arrives twice, with
        # the same Message-ID
        self.assertEqual(
            sink.message_ids().count(message['message_id']), 2)

        # the other worker goes on alone
        outcome, second, _ = self.attempt(client, slots[1], citizens[1],
            notify_by='email', contact_email='daarna@example.com')
        self.assertEqual(outcome, 'ok', second)
        other_id = self.message(second)['message_id']
        wait_for(lambda: self.message(second)['state'] == 'delivered',
            timeout=30, message="the next mail sent by %s" % survivor)
        self.assertEqual(sink.message_ids().count(other_id), 1)
        FIGURES['killed worker: mail in flight received'] = (
            "2 (same Message-ID)")

    # -- 5. PostgreSQL restarted during bookings

    def test_5_postgresql_restart_during_bookings(self):
        "Test bookings while PostgreSQL stops and starts again"
        postgres = self.cluster.postgres
        citizens = self.meta['citizens']
        clients = 4
        queues = [[] for _ in range(clients)]
        for offset in range(10, 30):
            for i, slot in enumerate(self.free_slots(local_day(offset))):
                queues[i % clients].append(slot)
        stop = threading.Event()
        results = []        # (server, slot, outcome, id/error, start, end)
        pending = {}        # client: start of its call in progress
        lock = threading.Lock()

        def run(i):
            server, client = self.client_for(i)
            for n, slot in enumerate(queues[i]):
                if stop.is_set():
                    return
                started = time.monotonic()
                with lock:
                    pending[i] = started
                outcome = self.attempt(client, slot,
                    citizens[(i * 7 + n) % len(citizens)])
                with lock:
                    del pending[i]
                    results.append((server, (slot['start'], slot['employee']))
                        + outcome[:2] + (started, time.monotonic()))

        def answers(since, ok=None, server=None):
            with lock:
                return [r for r in results if r[4] >= since
                    and ok in {None, r[2] == 'ok'} and server in {None, r[0]}]

        threads = [threading.Thread(target=run, args=(i,))
            for i in range(clients)]
        begin = time.monotonic()
        for thread in threads:
            thread.start()
        try:
            wait_for(lambda: len(answers(begin, ok=True)) >= 40, timeout=60,
                message="40 bookings before the outage")
            down = time.monotonic()
            rate = len(answers(begin, ok=True)) / (down - begin)
            postgres.stop('fast')
            # the calls in progress are answered with an error at once
            wait_for(lambda: [r for r in results
                    if r[2] != 'ok' and r[5] >= down], timeout=30,
                message="an error when PostgreSQL stops")

            def all_waiting():
                # every client has sent a call while PostgreSQL is down
                with lock:
                    return len([t for t in pending.values()
                            if t > down]) == clients
            wait_for(all_waiting, timeout=30,
                message="every client calling during the outage")
            postgres.start()
            up = time.monotonic()
            recovered = {}
            for server in ('server-a', 'server-b'):
                first = wait_for(lambda: answers(up, ok=True, server=server),
                    timeout=90, message="a booking through %s after the "
                    "restart" % server)
                recovered[server] = min(r[5] for r in first) - up
        finally:
            stop.set()
            for thread in threads:
                thread.join(60)
        with open(os.path.join(ARTIFACTS, 'restart-results.json'), 'w') as fp:
            json.dump({'down': down, 'up': up, 'results': results}, fp,
                indent=1)

        errors = [r for r in results if r[2] != 'ok']
        self.assertTrue(errors)
        # a clear answer: 503 Service Unavailable, never a dropped
        # connection, a traceback or a 500
        self.assertEqual({(r[2], r[3]) for r in errors},
            {('http', '503 SERVICE UNAVAILABLE')})
        # psycopg_pool's getconn gives up after 30 s; trytond retries once
        # it is back (see the figures: stale pooled connections are
        # checked one by one with a growing back-off)
        for server, _, _, _, started, ended in errors:
            self.assertLess(ended - started, 90)
        # the calls sent during the outage waited for PostgreSQL and were
        # answered after it was back: booked, or 503 when the pool gave up
        # (a call sent just after `down`, before PostgreSQL had stopped,
        # may have been answered at once, and its client sent another)
        held = [r for r in results if down < r[4] < up]
        self.assertGreaterEqual(len(held), clients)
        # one call per client at most was still waiting when it came back
        self.assertLessEqual(len([r for r in held if r[5] > up]), clients)
        for server, _, outcome, _, started, ended in held:
            self.assertLess(ended - started, 90)

        # nothing lost, nothing doubled
        told_ok = {r[3]: r[1] for r in results if r[2] == 'ok'}
        rows = self.cluster.sql(
            'SELECT id, to_char(start, \'YYYY-MM-DD"T"HH24:MI:SS"Z"\'), '
            "employee FROM balie_appointment WHERE start >= %s "
            "AND state = 'booked'", (queues[0][0]['start'],))
        in_db = {r[0]: (r[1], r[2]) for r in rows}
        self.assertEqual({i: in_db.get(i) for i in told_ok}, told_ok)
        self.assertEqual(len(set(in_db.values())), len(in_db))
        # a booking that was committed but answered with an error
        ghosts = set(in_db) - set(told_ok)
        self.assertLessEqual(len(ghosts), clients)
        self.assertNoOverlap()
        FIGURES['restart: bookings/s before the outage (4 clients)'] = round(
            rate, 1)
        FIGURES['restart: 503 answers'] = len(errors)
        FIGURES['restart: booked but answered 503'] = len(ghosts)
        FIGURES['restart: slowest 503, seconds'] = round(
            max(r[5] - r[4] for r in errors), 2)
        FIGURES['restart: PostgreSQL down, seconds'] = round(up - down, 2)
        FIGURES['restart: calls held during the outage, then'] = dict(
            collections.Counter(r[2] for r in held))
        FIGURES['restart: longest held call, seconds'] = round(
            max(r[5] - r[4] for r in held), 2)
        FIGURES['restart: first booking after restart, seconds'] = {
            k: round(v, 2) for k, v in recovered.items()}
        FIGURES['restart: bookings told ok / in database'] = '%s / %s' % (
            len(told_ok), len(in_db))

    def test_6_cache_invalidation_after_restart(self):
        "Test that the caches still follow each other after the restart"
        self.check_change_seen(
            'cache invalidation A -> B after the restart, seconds')
