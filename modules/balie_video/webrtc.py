# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The built-in call: one-to-one WebRTC between the citizen's browser and
the clerk's, media peer to peer, signalling through the portal.

- `balie.video.signal`: the signalling messages of a call (offer, answer,
  ICE candidates, hang-up, "I am (back) here"), one row each, polled by
  the other side; deleted at the end of the call and by the retention job.
- `balie.video.call.access`: the clerk's way into the call page, a
  single-use link of a few minutes that becomes a cookie session for the
  rest of the call (only hashes are stored).
The backend setting and the ICE servers are on the configuration
(configuration.py), the clerk's way in is `start_call` of the appointment
(appointment.py), and the end of the call forgets the signalling
(room.py)."""
import datetime as dt
import hashlib
import json
import secrets

from sql import Null
from sql.aggregate import Max

from trytond.model import Index, ModelSQL, Unique, fields
from trytond.pool import Pool
from trytond.transaction import Transaction

from digitale_balie import clock
from digitale_balie.model import company_through

BACKENDS = [
    ('builtin', "Built-in (browser to browser)"),
    ('jitsi', "Jitsi Meet"),
    ]
SIDES = [
    ('citizen', "Citizen"),
    ('clerk', "Clerk"),
    ]
# what one side may tell the other
KINDS = {
    'hello',  # I (re)opened the call page: (re)negotiate
    'offer', 'answer',  # session descriptions (clerk offers)
    'candidate',  # a late ICE candidate (trickle)
    'restart',  # the citizen asks for an ICE restart
    'media',  # microphone / camera / screen on or off
    'hangup',  # I left the call
    }
MAX_SIGNAL = 64 * 1024  # bytes of one message, JSON
MAX_BATCH = 50  # messages per poll
LINK_BYTES = 32  # 256 bits
LINK_VALIDITY = dt.timedelta(minutes=5)
CLERK_COOKIE = '__Host-balie-call'


def _hash(value):
    return hashlib.sha256(value.encode('ascii', 'replace')).hexdigest()


def call_window(appointment, room, config=None):
    """When the call's signalling is open: from the opening of the waiting
    room to the end of the call (the planned end, or the moment the clerk
    ended it) plus the token margin."""
    if config is None:
        config = Pool().get('balie.configuration')(1)
    opens = appointment.start - (config.waiting_room_opens
        or dt.timedelta(0))
    if room is not None and room.state == 'closed' and room.closed_at:
        end = room.closed_at
    else:
        end = max(appointment.end, (room.opened_at if room else None)
            or appointment.end)
    return opens, end + (config.jwt_margin or dt.timedelta(0))


class Signal(company_through('appointment'), ModelSQL):
    "A signalling message of a built-in call (technical data)."
    __name__ = 'balie.video.signal'

    appointment = fields.Many2One('balie.appointment', "Appointment",
        required=True, ondelete='CASCADE')
    sender = fields.Selection(SIDES, "Sender", required=True)
    kind = fields.Char("Kind", required=True)
    payload = fields.Text("Payload")
    created = fields.DateTime("Created", required=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t, (t.appointment, Index.Equality()),
                    (t.id, Index.Range())),
                Index(t, (t.created, Index.Range())),
                })
        cls._order = [('id', 'ASC')]

    @classmethod
    def post(cls, appointment, sender, kind, payload):
        "Store a message; return its sequence number."
        assert sender in dict(SIDES) and kind in KINDS
        signal, = cls.create([{
                    'appointment': appointment.id,
                    'sender': sender,
                    'kind': kind,
                    'payload': json.dumps(payload, separators=(',', ':')),
                    'created': clock.now(),
                    }])
        return signal.id

    @classmethod
    def cursor(cls, appointment):
        "The sequence number of the last message of the call (0: none)."
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.select(Max(table.id),
                where=table.appointment == appointment.id))
        row = cursor.fetchone()
        return (row[0] if row else None) or 0

    @classmethod
    def received(cls, appointment, receiver, after):
        """The messages for `receiver` after sequence number `after`:
        a list of {'seq', 'kind', 'payload'}."""
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.select(table.id, table.kind, table.payload,
                where=(table.appointment == appointment.id)
                & (table.sender != receiver)
                & (table.id > after),
                order_by=[table.id.asc], limit=MAX_BATCH))
        messages = []
        for id_, kind, payload in cursor:
            try:
                payload = json.loads(payload) if payload else None
            except ValueError:
                payload = None
            messages.append({'seq': id_, 'kind': kind, 'payload': payload})
        return messages

    @classmethod
    def forget(cls, appointments):
        "Delete the call's messages (end of the call)."
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        ids = [a.id for a in appointments]
        if ids:
            cursor.execute(*table.delete(where=table.appointment.in_(ids)))

    @classmethod
    def forget_before(cls, before):
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.delete(where=table.created < before))


class CallAccess(company_through('appointment'), ModelSQL):
    """The clerk's way into the call page: a single-use link that becomes
    a session (technical data; only hashes are stored)."""
    __name__ = 'balie.video.call.access'

    appointment = fields.Many2One('balie.appointment', "Appointment",
        required=True, ondelete='CASCADE')
    user = fields.Many2One('res.user', "User", required=True,
        ondelete='CASCADE')
    link_hash = fields.Char("Link Hash", required=True, strip=False)
    link_expires_at = fields.DateTime("Link Expires At", required=True)
    used_at = fields.DateTime("Used At")
    session_hash = fields.Char("Session Hash", strip=False)
    session_expires_at = fields.DateTime("Session Expires At",
        required=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('link_hash_unique', Unique(t, t.link_hash),
                'balie_video.msg_call_link_unique'),
            ]
        cls._sql_indexes.update({
                Index(t, (t.session_hash, Index.Equality()),
                    where=t.session_hash != Null),
                Index(t, (t.session_expires_at, Index.Range())),
                })

    @classmethod
    def issue(cls, appointment, user, room=None):
        "A new single-use link for the clerk: its raw token."
        raw = secrets.token_urlsafe(LINK_BYTES)
        now = clock.now()
        _, closes = call_window(appointment, room)
        cls.create([{
                    'appointment': appointment.id,
                    'user': user.id,
                    'link_hash': _hash(raw),
                    'link_expires_at': now + LINK_VALIDITY,
                    'session_expires_at': max(closes, now + LINK_VALIDITY),
                    }])
        return raw

    @classmethod
    def use(cls, raw):
        """Exchange a link for a session: (access, session key), or
        (None, None) when the link is unknown, used or expired."""
        if not raw or len(raw) > 100:
            return None, None
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        now = clock.now()
        key = secrets.token_urlsafe(LINK_BYTES)
        # one UPDATE: of two requests with the same link only one wins
        cursor.execute(*table.update(
                [table.used_at, table.session_hash],
                [now, _hash(key)],
                where=(table.link_hash == _hash(raw))
                & (table.used_at == Null)
                & (table.link_expires_at > now)
                & (table.session_expires_at > now)))
        if cursor.rowcount != 1:
            return None, None
        access, = cls.search([('link_hash', '=', _hash(raw))], limit=1)
        return access, key

    @classmethod
    def find(cls, key):
        "The valid session behind a clerk's cookie, or None."
        if not key or len(key) > 100:
            return None
        records = cls.search([
                ('session_hash', '=', _hash(key)),
                ('session_expires_at', '>', clock.now()),
                ], limit=1)
        return records[0] if records else None

    @classmethod
    def forget_before(cls, before):
        cls.delete(cls.search([('session_expires_at', '<', before)]))


