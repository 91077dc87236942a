# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The mail server and the SMS gateway down for six hours, on the module's
controllable clock: after they are back every reminder that is still useful
goes out once, none after its appointment has started, the others are
cancelled, and the retries back off.

A real SMTP server (aiosmtpd) is stopped and started again on its port;
the SMS gateway first refuses connections, then answers 503.  The
dispatcher runs every simulated minute, as the cron does, from Monday
09:00 to Tuesday 20:00 (after the outage only in the minutes in which a
message is due: in the others it has nothing to do).  Run with -s to see
the figures."""
import collections
import datetime as dt
import time

from aiosmtpd.controller import Controller

from trytond.pool import Pool

from digitale_balie.outbox import backoff
from digitale_balie.slots import to_utc
from digitale_balie.tests.sms_server import FakeSMSGateway
from digitale_balie.tests.tools import (
    Mailbox, NOW, OutboxCase, SIGNATURE_SECRET)

MONDAY = NOW.date()
TUESDAY = MONDAY + dt.timedelta(days=1)
OUTAGE = dt.timedelta(hours=6)
END = to_utc(TUESDAY, dt.time(20))
STEP = dt.timedelta(minutes=1)


class StampedMailbox(Mailbox):
    "The SMTP server's mailbox, which notes the simulated time of arrival."

    def __init__(self, clock):
        super().__init__()
        self.clock = clock
        self.arrivals = collections.defaultdict(list)

    async def handle_DATA(self, server, session, envelope):
        answer = await super().handle_DATA(server, session, envelope)
        self.arrivals[self.messages[-1]['Message-ID']].append(self.clock())
        return answer


class StampedGateway(FakeSMSGateway):
    """The SMS gateway, which counts every accepted request per client-ref
    (the fake keeps a message once, a real gateway may deliver twice)."""

    def __init__(self, clock, **kwargs):
        super().__init__(**kwargs)
        self.clock = clock
        self.arrivals = collections.defaultdict(list)

    def _accept(self, params):
        messages, record, new = super()._accept(params)
        if record is not None:
            self.arrivals[record['client-ref']].append(self.clock())
        return messages, record, new


def attempts_within(minutes):
    "How many attempts the back-off allows in minutes after the first."
    count, elapsed = 1, 0
    while elapsed + backoff(count).total_seconds() / 60 <= minutes:
        elapsed += backoff(count).total_seconds() / 60
        count += 1
    return count


class OutageTestCase(OutboxCase):
    "Test a long outage of the mail server and the SMS gateway"
    slow = True  # scheduled first (conftest.py)

    def setUp(self):
        super().setUp()
        # the same servers, noting when (simulated) things arrive
        self.stop_smtp()
        self.gateway.close()
        self.mailbox = StampedMailbox(self.clock)
        self.start_smtp()
        self.gateway = StampedGateway(
            self.clock, signature_secret=SIGNATURE_SECRET)
        self.gateway.start()
        self.addCleanup(self.gateway.close)

    def start_smtp(self):
        self.smtp = Controller(
            self.mailbox, hostname='127.0.0.1', port=self.smtp_port)
        self.smtp.start()

    def next_due(self):
        "The next moment a message is due, or None."
        with self.transaction():
            Message = Pool().get('balie.message')
            moments = [max(m.send_at, m.next_attempt_at or m.send_at)
                if m.state == 'queued' else m.lease_until
                for m in Message.search([
                        ('state', 'in', ['queued', 'sending'])])]
        return min(moments, default=None)

    def test_long_outage(self):
        "Test that after a long outage useful reminders go once, in time"
        _, _, service = self.setup_balie()
        with self.transaction():
            Schedule = Pool().get('balie.schedule')
            Schedule.write(Schedule.search([]), {
                    'start_time': dt.time(8), 'end_time': dt.time(20)})
        # Monday from 10:00 and Tuesday from 08:00, until 19:30, every
        # half hour, by e-mail, SMS or both
        starts = [to_utc(MONDAY, dt.time(h, m))
                for h in range(10, 20) for m in (0, 30)] + [
            to_utc(TUESDAY, dt.time(h, m))
                for h in range(8, 20) for m in (0, 30)]
        ways = ['email', 'sms', 'email_sms']
        appointments = {}
        for i, start in enumerate(starts):
            appointment = self.book(service, start,
                notify_by=ways[i % 3], name="Burger %s" % i,
                email='burger%s@example.be' % i,
                mobile='+3247012%04d' % i)
            appointments[appointment] = start
        self.dispatch()  # the confirmations
        confirmations = len(self.mailbox.messages) + len(
            self.gateway.messages)

        # both down: the mail server stopped, the gateway refusing
        # connections for three hours, then answering 503
        self.stop_smtp()
        self.gateway.down(refuse=True)
        recovery = NOW + OUTAGE
        began = time.monotonic()
        dispatches = 0
        while self.clock.now < recovery:
            if self.clock.now == NOW + OUTAGE / 2:
                self.gateway.up()
                self.gateway.down(refuse=False)
            self.dispatch()
            dispatches += 1
            self.clock.advance(minutes=1)
        self.assertEqual(len(self.mailbox.messages) + len(
                self.gateway.messages), confirmations)
        with self.transaction():
            Message = Pool().get('balie.message')
            during = Message.search([('kind', '=', 'reminder')])
            self.assertFalse([m for m in during if m.state == 'failed'],
                "reminders failed during the outage: %s" % [
                    (m.id, m.attempts, m.send_at, m.send_by, m.last_error)
                    for m in during if m.state == 'failed'][:5])
        self.start_smtp()
        self.gateway.up()
        # then every minute in which something is due: in the others the
        # cron's dispatcher finds nothing to do
        while self.clock.now < END:
            self.dispatch()
            dispatches += 1
            due = self.next_due()
            if due is None:
                break
            self.clock.now = max(self.clock.now + STEP, due)
        elapsed = time.monotonic() - began

        with self.transaction():
            Message = Pool().get('balie.message')
            reminders = Message.search([('kind', '=', 'reminder')])
            reminders = [{
                    'channel': m.channel, 'state': m.state,
                    'attempts': m.attempts, 'send_at': m.send_at,
                    'start': m.send_by, 'ref': m.message_id
                    if m.channel == 'email' else m.idempotency_key,
                    'cancelled_at': m.cancelled_at,
                    } for m in reminders]
        figures = collections.Counter()
        max_attempts = 0
        for reminder in reminders:
            arrivals = (self.mailbox if reminder['channel'] == 'email'
                else self.gateway).arrivals.get(reminder['ref'], [])
            due_in_outage = reminder['send_at'] < recovery
            figures[(reminder['state'],
                    'due in the outage' if due_in_outage else 'due after')
                ] += 1
            self.assertIn(reminder['state'], {'delivered', 'sent',
                    'cancelled'}, reminder)
            if reminder['state'] == 'cancelled':
                self.assertEqual(arrivals, [], reminder)
                # only when its appointment had begun
                self.assertGreaterEqual(
                    reminder['cancelled_at'], reminder['start'], reminder)
                end = reminder['cancelled_at']
            else:
                self.assertEqual(len(arrivals), 1, reminder)
                arrival, = arrivals
                self.assertGreaterEqual(arrival, reminder['send_at'])
                self.assertLess(arrival, reminder['start'], reminder)
                end = arrival
            # still useful an hour (the longest back-off) after the
            # recovery: it must have gone
            if reminder['start'] >= recovery + backoff(100):
                self.assertIn(reminder['state'], {'delivered', 'sent'},
                    reminder)
            # the retries backed off
            minutes = (end - reminder['send_at']).total_seconds() / 60
            self.assertLessEqual(
                reminder['attempts'], attempts_within(minutes), reminder)
            max_attempts = max(max_attempts, reminder['attempts'])
        self.assertTrue(figures[('cancelled', 'due in the outage')])
        self.assertTrue(figures[('delivered', 'due in the outage')])
        # nothing else was sent twice
        for arrivals in [self.mailbox.arrivals, self.gateway.arrivals]:
            self.assertEqual(
                [r for r, a in arrivals.items() if len(a) > 1], [])
        attempts = sum(r['attempts'] for r in reminders)
        print("\noutage: %s appointments (Monday 10:00 - Tuesday 19:30), "
            "%s reminders; mail server and SMS gateway down Monday "
            "09:00-15:00 (gateway refusing, then 503); %s dispatcher runs "
            "(each minute of the outage, then each minute something was due) "
            "in %.1f s" % (
                len(appointments), len(reminders), dispatches, elapsed))
        for (state, when), count in sorted(figures.items()):
            print("outage:   %-9s %-17s %3s" % (state, when, count))
        print("outage: %s attempts in all, at most %s for one reminder; "
            "each received once at the sink, none after its start"
            % (attempts, max_attempts))
