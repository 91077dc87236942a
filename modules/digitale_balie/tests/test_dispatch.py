# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The outbox against a mail server that is slow or never answers.

Times are scaled down so that the tests run in seconds; what they prove
does not depend on the scale, only on the ratios:

- the lease (2 s here, 5 min in production) is shorter than the batch
  (6 mails at 0.6 s = 3.6 s here, 38 mails at 10 s in the incident), and
  longer than one send (0.6 s here; the SMTP timeout of 30 s in production);
- the SMTP timeout (1 s here, 30 s in production) against the time within
  which an SMS must still leave (3 s here: a minute in production is two
  timeouts, here it is three, for the CI machine's sake).
"""
import datetime as dt
import socket
import threading
import time
from unittest.mock import patch

import unittest

from trytond import backend, config
from trytond.pool import Pool

from digitale_balie.slots import to_utc
from digitale_balie.tests.tools import NOW, TUESDAY, OutboxCase, free_port


def slot(i):
    "The i-th free slot from Tuesday 9:00 (opening hours 9:00-12:00)."
    return to_utc(TUESDAY + dt.timedelta(days=i // 6),
        dt.time(9)) + dt.timedelta(minutes=30 * (i % 6))


class RunningClock:
    "The real time, from NOW on: leases expire while the test runs."

    def __init__(self, now):
        self.start = now
        self.started = time.monotonic()

    def __call__(self):
        return self.start + dt.timedelta(
            seconds=time.monotonic() - self.started)

    def advance(self, **kwargs):
        self.start += dt.timedelta(**kwargs)


class SilentServer:
    "Accepts SMTP connections and never answers."

    def __init__(self):
        self.port = free_port()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(('127.0.0.1', self.port))
        self.sock.listen(50)
        self.connections = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while True:
            try:
                connection, _ = self.sock.accept()
            except OSError:
                return
            self.connections.append(connection)

    def close(self):
        self.sock.close()
        for connection in self.connections:
            connection.close()


class DispatchTestCase(OutboxCase):
    "Test the outbox against a slow or stalled mail server"

    @classmethod
    def setUpClass(cls):
        if backend.name != 'postgresql':
            # the test database of SQLite is in memory, per connection
            raise unittest.SkipTest(
                "dispatchers in threads of their own need PostgreSQL")
        super().setUpClass()

    def setUp(self):
        super().setUp()
        self.clock = RunningClock(NOW)
        patcher = patch('digitale_balie.clock.now', self.clock)
        patcher.start()
        self.addCleanup(patcher.stop)
        self.set_config('balie', 'message_lease', '2')

    def set_config(self, section, option, value):
        if not config.has_section(section):
            config.add_section(section)
        saved = config.get(section, option, default=None)
        config.set(section, option, value)
        self.addCleanup(config.set, section, option, saved or '')

    def in_thread(self, function):
        errors = []

        def run():
            try:
                function()
            except Exception as exception:  # reported by the test
                errors.append(exception)
        thread = threading.Thread(target=run)
        thread.start()
        thread.errors = errors
        return thread

    def join(self, *threads):
        for thread in threads:
            thread.join(60)
            self.assertFalse(thread.is_alive())
            self.assertEqual(thread.errors, [])

    def run_once(self):
        "The administrator's Run Once on the dispatch job."
        with self.transaction():
            pool = Pool()
            Cron = pool.get('ir.cron')
            ModelData = pool.get('ir.model.data')
            Cron.run_once([Cron(ModelData.get_id(
                            'digitale_balie', 'cron_message_dispatch'))])

    def test_batch_outlives_its_lease(self):
        "Test that a second dispatcher and Run Once mid-batch send no double"
        _, _, service = self.setup_balie(
            reminder_first=None, reminder_second=None)
        appointments = [self.book(service,
                slot(i),
                notify_by='email', name="Burger %s" % i)
            for i in range(6)]
        self.mailbox.delay = 0.6  # per message; the batch takes 3.6 s

        first = self.in_thread(self.dispatch)
        deadline = time.monotonic() + 30
        # the claim of the first dispatcher has expired (2 s) for the
        # messages it has not sent yet
        while len(self.mailbox.messages) < 4:
            self.assertEqual(first.errors, [])
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.05)
        second = self.in_thread(self.dispatch)
        run_once = self.in_thread(self.run_once)
        self.join(first, second, run_once)
        self.dispatch()

        ids = [m['Message-ID'] for m in self.mailbox.messages]
        expected = {m['message_id'] for a in appointments
            for m in self.messages(a)}
        self.assertEqual(len(expected), 6)
        self.assertEqual(sorted(ids), sorted(expected))  # each exactly once
        for appointment in appointments:
            message, = self.messages(appointment)
            self.assertEqual(message['state'], 'delivered')

    def test_slow_mail_server_does_not_hold_sms(self):
        "Test that an SMS booked while mail is slow leaves at once"
        _, _, service = self.setup_balie(
            reminder_first=None, reminder_second=None)
        self.set_config('balie', 'message_lease', '60')
        for i in range(8):
            self.book(service,
                slot(i),
                notify_by='email', name="Burger %s" % i)
        self.mailbox.delay = 0.5  # the e-mail takes 4 s

        dispatcher = self.in_thread(self.dispatch)
        deadline = time.monotonic() + 30
        while not self.mailbox.messages:
            self.assertEqual(dispatcher.errors, [])
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.05)
        booked = time.monotonic()
        self.book(service, slot(11), notify_by='sms',
            name="Jan De Smet")
        while not self.gateway.messages:
            self.assertLess(time.monotonic() - booked, 2)
            time.sleep(0.02)
        self.assertLess(len(self.mailbox.messages), 8)
        self.join(dispatcher)
        self.assertEqual(len(self.mailbox.messages), 8)

    def test_silent_mail_server_does_not_hold_sms(self):
        "Test that SMS leave in time while the mail server never answers"
        silent = SilentServer()
        self.addCleanup(silent.close)
        self.set_config('email', 'uri', 'smtp://127.0.0.1:%s' % silent.port)
        self.set_config('balie', 'smtp_timeout', '1')
        self.set_config('balie', 'message_lease', '60')
        _, _, service = self.setup_balie(
            reminder_first=None, reminder_second=None)
        emails = [self.book(service,
                slot(i),
                notify_by='email', name="Burger %s" % i)
            for i in range(10)]

        started = time.monotonic()
        dispatcher = self.in_thread(self.dispatch)
        time.sleep(0.3)  # the dispatcher waits for the mail server
        booked = time.monotonic()
        sms = self.book(service, slot(11),
            notify_by='sms', name="Jan De Smet")
        self.join(dispatcher)
        # one timeout for the whole run, not one per e-mail
        self.assertLess(time.monotonic() - started, 3)
        self.assertEqual(len(self.gateway.messages), 1)
        self.assertLess(time.monotonic() - booked, 3)
        message, = self.messages(sms)
        self.assertEqual(message['state'], 'sent')
        # the e-mail waits: one tried (and counted), the others not tried
        states = [m for a in emails for m in self.messages(a)]
        self.assertEqual({m['state'] for m in states}, {'queued'})
        self.assertEqual(sorted(m['attempts'] for m in states),
            [0] * 9 + [1])
        self.assertTrue(all(
                "cannot be reached" in m['last_error'] for m in states))
