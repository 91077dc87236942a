# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The outbox: every message to a citizen is a row, written in the same
transaction as the change that causes it, and sent later by the dispatcher.

A row goes queued → sending → sent → delivered → opened, or ends failed or
cancelled.  The dispatcher claims due rows with a lease (FOR UPDATE SKIP
LOCKED on PostgreSQL), commits the claim, sends, and records the outcome
in a new transaction; a worker that dies leaves a row whose lease expires
and which is then retried with the same idempotency key.
"""
import datetime as dt
import logging
import time
import uuid

from sql import Column, Null
from sql.functions import CurrentTimestamp

from trytond import backend

from trytond import config as trytond_config
from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, Unique, fields
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.transaction import Transaction

from . import channels, clock
from .configuration import LANGUAGES
from .exceptions import MessageError
from .model import execute_planned
from .template import KINDS, render

logger = logging.getLogger(__name__)

CHANNELS = [
    ('email', "E-mail"),
    ('sms', "SMS"),
    ('letter', "Letter"),
    ]
STATES = [
    ('queued', "Queued"),
    ('sending', "Sending"),
    ('sent', "Sent"),
    ('delivered', "Delivered"),
    ('opened', "Opened"),
    ('failed', "Failed"),
    ('cancelled', "Cancelled"),
    ]
REACHED = {'delivered', 'opened'}
OPEN_STATES = {'queued', 'sending'}
# how long a claimed message is reserved for its dispatcher; renewed before
# each send, so it needs to outlast one send only (SMTP timeout 30 s)
LEASE = dt.timedelta(minutes=5)
# how often a dispatcher busy with e-mail looks for due SMS (seconds)
SMS_CHECK = 1.0


def lease():
    "The lease of a claim: [balie] message_lease seconds, default 5 minutes."
    seconds = trytond_config.get('balie', 'message_lease', default=None)
    return dt.timedelta(seconds=float(seconds)) if seconds else LEASE


def backoff(attempts):
    "Wait 1, 2, 4, … minutes between attempts, at most an hour."
    return dt.timedelta(minutes=min(2 ** max(attempts - 1, 0), 60))


class Message(ModelSQL, ModelView):
    __name__ = 'balie.message'

    company = fields.Many2One(
        'company.company', "Company", required=True, readonly=True)
    appointment = fields.Many2One(
        'balie.appointment', "Appointment", readonly=True,
        ondelete='CASCADE')
    dossier = fields.Many2One(
        'balie.dossier', "Dossier", readonly=True, ondelete='CASCADE')
    party = fields.Many2One(
        'party.party', "Citizen", readonly=True,
        context={'company': Eval('company', -1)}, depends={'company'})
    kind = fields.Selection(KINDS, "Kind", required=True, readonly=True)
    channel = fields.Selection(
        CHANNELS, "Channel", required=True, readonly=True)
    sequence = fields.Integer("Sequence", required=True, readonly=True,
        help="Counts the messages of one kind and channel "
        "for one appointment.")
    language = fields.Selection(
        LANGUAGES, "Language", required=True, readonly=True)
    recipient = fields.Char("Recipient", readonly=True)
    subject = fields.Char("Subject", readonly=True)
    body = fields.Text("Text", readonly=True,
        help="The text as sent, without the personal link.")
    state = fields.Selection(STATES, "State", required=True, readonly=True,
        sort=False)
    attempts = fields.Integer("Attempts", required=True, readonly=True)
    send_at = fields.DateTime("Send At", required=True, readonly=True)
    send_by = fields.DateTime("Send By", readonly=True,
        help="After this moment the message is no longer useful.")
    next_attempt_at = fields.DateTime("Next Attempt", readonly=True)
    lease_until = fields.DateTime("Lease Until", readonly=True)
    last_error = fields.Text("Last Error", readonly=True)
    idempotency_key = fields.Char(
        "Idempotency Key", required=True, readonly=True, strip=False)
    message_id = fields.Char("Message-ID", readonly=True)
    provider_reference = fields.Char("Provider Reference", readonly=True)
    token = fields.Many2One(
        'balie.access.token', "Personal Link", readonly=True,
        ondelete='SET NULL')
    ical_sequence = fields.Integer("Calendar Sequence", readonly=True)
    sent_at = fields.DateTime("Sent At", readonly=True)
    delivered_at = fields.DateTime("Delivered At", readonly=True)
    opened_at = fields.DateTime("Opened At", readonly=True)
    failed_at = fields.DateTime("Failed At", readonly=True)
    cancelled_at = fields.DateTime("Cancelled At", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('appointment_kind_channel_sequence',
                Unique(t, t.appointment, t.kind, t.channel, t.sequence),
                'digitale_balie.msg_message_unique'),
            ('idempotency_key_unique', Unique(t, t.idempotency_key),
                'digitale_balie.msg_message_idempotency_unique'),
            ]
        cls._sql_indexes.update({
                Index(t, (t.send_at, Index.Range()),
                    where=t.state.in_(list(OPEN_STATES))),
                Index(t, (t.appointment, Index.Equality())),
                Index(t, (t.provider_reference, Index.Equality()),
                    where=t.provider_reference != Null),
                })
        cls._order = [('send_at', 'DESC'), ('id', 'DESC')]
        cls._buttons.update({
                'retry': {
                    'invisible': Eval('state') != 'failed',
                    'depends': ['state'],
                    },
                'cancel': {
                    'invisible': ~Eval('state').in_(['queued']),
                    'depends': ['state'],
                    },
                })

    @classmethod
    def default_state(cls):
        return 'queued'

    @classmethod
    def default_attempts(cls):
        return 0

    @classmethod
    def default_sequence(cls):
        return 1

    def get_rec_name(self, name):
        return '%s %s → %s' % (
            self.kind_string, self.channel_string, self.recipient or '')

    kind_string = kind.translated('kind')
    channel_string = channel.translated('channel')
    state_string = state.translated('state')

    # -- writing to the outbox ------------------------------------------

    @classmethod
    def queue(cls, appointment, kind, channels_, send_at=None, send_by=None,
            values=None, recipient_override=None):
        """Write messages of a kind for an appointment on each channel.

        Call in the transaction of the change that causes them; they are
        sent after commit.  Returns the new messages.
        """
        pool = Pool()
        Template = pool.get('balie.message.template')
        Token = pool.get('balie.access.token')
        now = clock.now()
        send_at = send_at or now
        existing = cls.search([
                ('appointment', '=', appointment.id),
                ('kind', '=', kind),
                ])
        messages = []
        for channel in channels_:
            sequence = 1 + max((m.sequence for m in existing
                    if m.channel == channel), default=0)
            recipient = (recipient_override or {}).get(channel) or (
                appointment.contact_email if channel == 'email'
                else appointment.contact_mobile if channel == 'sms'
                else None)
            message = cls(
                company=appointment.company,
                appointment=appointment,
                dossier=appointment.dossier,
                party=appointment.party,
                kind=kind, channel=channel, sequence=sequence,
                language=appointment.language,
                recipient=recipient,
                send_at=send_at, send_by=send_by,
                idempotency_key=uuid.uuid4().hex,
                ical_sequence=appointment.ical_sequence,
                state='queued')
            if channel == 'letter':
                message.state = 'sent'
                message.sent_at = now
            else:
                subject, body = Template.get(
                    kind, channel, appointment.language)
                message_values = appointment.message_values()
                message_values.update(values or {})
                # the link is rendered only when sending: the database
                # keeps no usable personal link
                message_values.pop('link', None)
                message.subject = render(subject, message_values)
                message.body = render(body, message_values)
                if channel == 'email':
                    message.message_id = channels.make_message_id(
                        message.idempotency_key)
                if not recipient:
                    message.state = 'failed'
                    message.failed_at = now
                    message.last_error = gettext(
                        'digitale_balie.msg_message_no_recipient',
                        channel=message.channel_string)
            messages.append(message)
        cls.save(messages)
        for message in messages:
            if message.channel != 'letter':
                message.token = Token.for_message(message)
        cls.save(messages)
        due = [m for m in messages if m.state == 'queued' and m.send_at <= now]
        if due:
            cls.__queue__.process(due)
        return messages

    @classmethod
    def cancel_pending(cls, appointment, kinds=None):
        "Cancel the queued messages of an appointment (e.g. reminders)."
        domain = [
            ('appointment', '=', appointment.id),
            ('state', '=', 'queued'),
            ]
        if kinds:
            domain.append(('kind', 'in', kinds))
        cls.cancel(cls.search(domain))

    @classmethod
    @ModelView.button
    def cancel(cls, messages):
        cls.write([m for m in messages if m.state in OPEN_STATES], {
                'state': 'cancelled',
                'cancelled_at': clock.now(),
                })

    @classmethod
    @ModelView.button
    def retry(cls, messages):
        now = clock.now()
        messages = [m for m in messages if m.state == 'failed']
        if not messages:
            return
        cls.write(messages, {
                'state': 'queued',
                'attempts': 0,
                'send_at': now,
                'next_attempt_at': None,
                'failed_at': None,
                })
        cls.__queue__.process(messages)

    # -- dispatching -----------------------------------------------------

    @classmethod
    def max_attempts(cls):
        return Pool().get('balie.configuration')(1).message_max_attempts

    @classmethod
    def dispatch(cls, batch=100):
        """Send every due message; the cron calls this every minute (and
        Run Once too: both go through the same claim).

        SMS and e-mail are claimed separately and SMS first; while e-mail
        goes out, due SMS are sent between two mails, so that a slow or
        stalled mail server does not hold back an SMS.  Once the mail
        server cannot be reached, the rest of the e-mail waits for the next
        run."""
        total = 0
        with channels.Sender() as sender:
            total += cls._dispatch_channel('sms', batch, sender)
            last_check = time.monotonic()

            def between():
                nonlocal total, last_check
                if time.monotonic() - last_check >= SMS_CHECK:
                    total += cls._dispatch_channel('sms', batch, sender)
                    last_check = time.monotonic()
            total += cls._dispatch_channel(
                'email', batch, sender, between=between)
            total += cls._dispatch_channel('sms', batch, sender)
        return total

    @classmethod
    def _dispatch_channel(cls, channel, batch, sender, between=None):
        total = 0
        while not (channel == 'email' and sender.smtp_down):
            ids = cls._claim(batch, channel=channel)
            if not ids:
                break
            cls._send_batch(ids, sender, between=between)
            total += len(ids)
        return total

    @classmethod
    def process(cls, messages):
        "Send these messages now (the queue task written at queue time)."
        ids = cls._claim(len(messages), ids=[int(m) for m in messages])
        if ids:
            with channels.Sender() as sender:
                cls._send_batch(ids, sender)

    @classmethod
    def _claim(cls, batch, ids=None, channel=None):
        """Take a lease on due messages in a committed transaction of its
        own, so that two dispatchers never send the same row at once."""
        for attempt in range(5):
            try:
                return cls._claim_once(batch, ids, channel)
            except backend.DatabaseOperationalError:
                # REPEATABLE READ: a row another dispatcher claimed after
                # our snapshot is not skipped but refused; nothing was
                # changed yet, so trying again is safe
                if attempt == 4:
                    raise
                time.sleep(0.005 * (attempt + 1))

    @classmethod
    def _claim_once(cls, batch, ids, channel=None):
        transaction = Transaction()
        with transaction.new_transaction() as claim:
            table = cls.__table__()
            cursor = claim.connection.cursor()
            now = clock.now()
            due = (((table.state == 'queued')
                    & (table.send_at <= now)
                    & ((table.next_attempt_at == Null)
                        | (table.next_attempt_at <= now)))
                | ((table.state == 'sending') & (table.lease_until < now)))
            if ids is not None:
                due &= table.id.in_(ids or [-1])
            if channel is not None:
                due &= table.channel == channel
            query = table.select(table.id, where=due,
                order_by=[table.send_at.asc, table.id.asc], limit=batch)
            database = claim.database
            if database.has_select_for():
                For = database.get_select_for_skip_locked()
                query.for_ = For('UPDATE')
            # the partial index on the open messages needs a plan per run:
            # a generic plan reads every message ever sent
            execute_planned(cursor, *query)
            claimed = [r[0] for r in cursor]
            if claimed:
                cursor.execute(*table.update(
                        [table.state, table.lease_until, table.attempts],
                        ['sending', now + lease(), table.attempts + 1],
                        where=table.id.in_(claimed)))
            claim.commit()
        return claimed

    @classmethod
    def _prepare(cls, ids):
        """Read and render a claimed batch in one read-only transaction:
        {id: (attempts, send_by, prepared message or the error)}."""
        prepared = {}
        with Transaction().new_transaction(readonly=True):
            for message in cls.browse(ids):
                try:
                    item = channels.prepare(message)
                except (channels.PermanentError,
                        channels.TemporaryError) as exception:
                    item = exception
                except MessageError as exception:
                    # configuration (the secret): fixable, so try again
                    item = channels.TemporaryError(str(exception))
                prepared[message.id] = (
                    message.attempts, message.send_by, item)
        return prepared

    @classmethod
    def _send_batch(cls, ids, sender, between=None):
        """Send a claimed batch, committing each outcome on its own right
        after its send: a dispatcher that dies re-sends at most the
        message in flight.

        Before each send the lease is renewed, only if the row is still
        ours: a batch that outlives its lease (a slow mail server) does not
        send a message that another dispatcher has claimed meanwhile."""
        prepared = cls._prepare(ids)
        max_attempts = cls.max_attempts()
        transaction = Transaction()
        with transaction.new_transaction() as out:
            for id_ in ids:
                attempts, send_by, item = prepared[id_]
                if between is not None:
                    between()
                if not cls._renew(out, id_, attempts):
                    # taken over (or cancelled) meanwhile: not ours to send
                    continue
                now = clock.now()
                if send_by and now >= send_by:
                    cls._record_outcome(out, id_, attempts, state='cancelled',
                        cancelled_at=now, last_error=gettext(
                            'digitale_balie.msg_message_too_late'))
                elif (sender.smtp_down
                        and getattr(item, 'channel', None) == 'email'):
                    # the mail server cannot be reached: do not wait for it
                    # once more per message; not tried, so not counted
                    cls._record_outcome(out, id_, attempts, state='queued',
                        new_attempts=attempts - 1,
                        next_attempt_at=now + backoff(max(attempts - 1, 1)),
                        last_error=str(sender.smtp_down))
                else:
                    try:
                        if isinstance(item, Exception):
                            raise item
                        reference = sender.send(item)
                    except channels.PermanentError as exception:
                        cls._record_outcome(out, id_, attempts, state='failed',
                            failed_at=now, last_error=str(exception))
                    except channels.TemporaryError as exception:
                        # a message with a deadline (a reminder) is
                        # useful until then: it backs off (at most an
                        # hour) and is cancelled at the deadline instead
                        if attempts >= max_attempts and not send_by:
                            cls._record_outcome(out, id_, attempts, state='failed',
                                failed_at=now, last_error=str(exception))
                        else:
                            cls._record_outcome(out, id_, attempts, state='queued',
                                next_attempt_at=now + backoff(attempts),
                                last_error=str(exception))
                    else:
                        values = {
                            'state': 'sent', 'sent_at': now,
                            'provider_reference': reference,
                            'last_error': None,
                            }
                        if item.channel == 'email':
                            # accepted by our SMTP server: as far as we
                            # can know
                            values.update(state='delivered', delivered_at=now)
                        cls._record_outcome(out, id_, attempts, **values)
                out.commit()

    @classmethod
    def _renew(cls, transaction, id_, attempts):
        """Extend the lease of a claimed message if it is still ours (the
        attempts counted by our claim) and commit; False if another
        dispatcher took it over or it was cancelled."""
        table = cls.__table__()
        cursor = transaction.connection.cursor()
        try:
            cursor.execute(*table.update(
                    [table.lease_until], [clock.now() + lease()],
                    where=(table.id == id_) & (table.state == 'sending')
                    & (table.attempts == attempts)))
            renewed = cursor.rowcount == 1
            transaction.commit()
        except backend.DatabaseOperationalError:
            # PostgreSQL: changed by another dispatcher since our snapshot
            transaction.rollback()
            return False
        return renewed

    @classmethod
    def _record_outcome(cls, transaction, id_, attempts, new_attempts=None,
            **values):
        """Write the outcome of a send with one UPDATE, only if the row is
        still ours: its lease may have expired and another dispatcher may
        have claimed it again (then the attempts differ)."""
        table = cls.__table__()
        values['lease_until'] = None
        if new_attempts is not None:
            values['attempts'] = new_attempts
        columns = [Column(table, name) for name in values]
        columns += [table.write_uid, table.write_date]
        cursor = transaction.connection.cursor()
        cursor.execute(*table.update(columns,
                list(values.values()) + [transaction.user, CurrentTimestamp()],
                where=(table.id == id_) & (table.state == 'sending')
                & (table.attempts == attempts)))
        if values.get('state') == 'failed':
            logger.info("message %s failed: %s", id_, values['last_error'])

    # -- what comes back -------------------------------------------------

    @classmethod
    def mark_delivered(cls, messages, when=None):
        cls.write([m for m in messages if m.state in {'sending', 'sent'}], {
                'state': 'delivered',
                'delivered_at': when or clock.now(),
                })

    @classmethod
    def mark_undeliverable(cls, messages, reason):
        cls.write([m for m in messages if m.state not in {'opened'}], {
                'state': 'failed',
                'failed_at': clock.now(),
                'last_error': reason,
                })

    @classmethod
    def mark_opened(cls, messages, when=None):
        when = when or clock.now()
        to_open = [m for m in messages if m.state != 'opened']
        if to_open:
            cls.write(to_open, {'state': 'opened', 'opened_at': when})
            for message in to_open:
                if not message.delivered_at:
                    cls.write([message], {'delivered_at': when})

    @staticmethod
    def secret():
        "The server secret from which personal links of messages derive."
        return trytond_config.get('balie', 'secret', default=None)
