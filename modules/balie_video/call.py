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
- the backend setting and the ICE servers on the configuration;
- `start_call` of the appointment opens the clerk's call page instead of
  the Jitsi meeting when the backend is `builtin`."""
import datetime as dt
import hashlib
import json
import secrets

from sql import Null
from sql.aggregate import Max

from trytond import config as tconfig
from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, Unique, fields
from trytond.pool import Pool, PoolMeta
from trytond.transaction import Transaction

from digitale_balie import clock
from digitale_balie.model import company_through

from . import turn
from .exceptions import VideoError

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


class Configuration(metaclass=PoolMeta):
    __name__ = 'balie.configuration'

    call_backend = fields.Selection(BACKENDS, "Call Backend", required=True,
        help="Built-in: a one-to-one call from browser to browser, no "
        "video server needed (a TURN server helps across strict "
        "firewalls). Jitsi Meet: the municipality's Jitsi server.")
    call_ice_servers = fields.Text("ICE Servers",
        help="STUN and TURN addresses for the built-in call, one a line "
        "(stun:turn.gemeente.be:3478, turn:turn.gemeente.be:3478?"
        "transport=udp, turns:turn.gemeente.be:5349). Empty: direct "
        "connections only.")
    turn_secret = fields.Char("TURN Secret", strip=False,
        help="coturn's static-auth-secret: TURN passwords are made per "
        "call from it. The [balie_video] turn_secret of the server "
        "configuration takes precedence.")

    @classmethod
    def default_call_backend(cls):
        return 'builtin'

    @classmethod
    def validate_fields(cls, records, field_names):
        super().validate_fields(records, field_names)
        if not field_names or 'call_ice_servers' in field_names:
            for record in records:
                invalid = turn.invalid_urls(record.call_ice_servers)
                if invalid:
                    raise VideoError(gettext(
                            'balie_video.msg_call_ice_server_invalid',
                            url=invalid[0]))

    def get_turn_secret(self):
        return (tconfig.get('balie_video', 'turn_secret', default=None)
            or self.turn_secret)

    @property
    def call_loopback_only(self):
        """Test set-ups only ([balie_video] call_loopback_only): the pages
        keep only 127.0.0.1 ICE candidates, so that test media stays on
        the machine."""
        return tconfig.getboolean('balie_video', 'call_loopback_only',
            default=False)

    def call_ice_servers_for(self, user_id, expires):
        return turn.ice_servers(turn.parse_urls(self.call_ice_servers),
            secret=self.get_turn_secret(), user_id=user_id,
            expires=expires)

    def clerk_call_url(self, raw):
        return '%s/balie/gesprek/%s' % (
            self.portal_base_url.rstrip('/'), raw)


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


class VideoRoom(metaclass=PoolMeta):
    __name__ = 'balie.video.room'

    @classmethod
    def close(cls, rooms, next_steps=None):
        "The signalling of a built-in call ends with the call."
        Signal = Pool().get('balie.video.signal')
        super().close(rooms, next_steps=next_steps)
        Signal.forget([r.appointment for r in rooms])

    @classmethod
    def clean_up(cls):
        pool = Pool()
        Signal = pool.get('balie.video.signal')
        CallAccess = pool.get('balie.video.call.access')
        super().clean_up()
        # calls that were never ended: a day is plenty
        yesterday = clock.now() - dt.timedelta(days=1)
        Signal.forget_before(yesterday)
        CallAccess.forget_before(yesterday)


class Appointment(metaclass=PoolMeta):
    __name__ = 'balie.appointment'

    @classmethod
    @ModelView.button
    def start_call(cls, appointments):
        """With the built-in backend: open the room and the clerk's call
        page in a new tab, through a single-use link."""
        pool = Pool()
        Configuration = pool.get('balie.configuration')
        Room = pool.get('balie.video.room')
        User = pool.get('res.user')
        Dossier = pool.get('balie.dossier')
        CallAccess = pool.get('balie.video.call.access')
        config = Configuration(1)
        if config.call_backend != 'builtin':
            return super().start_call(appointments)
        if not appointments:
            return
        appointment = appointments[0]
        if appointment.state == 'booked':
            cls.start_service([appointment])
        room = Room.for_appointment(appointment)
        if room.state == 'closed':
            raise VideoError(gettext('balie_video.msg_room_closed'))
        if room.state == 'waiting':
            Room.open([room])
            room = Room(room.id)
            Dossier.add_event(appointment.dossier, 'call',
                gettext('balie_video.msg_event_call_started'),
                appointment=appointment)
        raw = CallAccess.issue(appointment, User(Transaction().user), room)
        return {
            'type': 'ir.action.url',
            'name': gettext('balie_video.msg_call_action'),
            'url': config.clerk_call_url(raw),
            }

