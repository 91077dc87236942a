# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Video rooms: Jitsi rooms with their tokens, opened and closed by the
clerk, the citizen's presence in the waiting room (the page's heartbeat),
and the retention of call data."""
import datetime as dt

from trytond import backend
from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, Unique, Workflow, fields
from trytond.model.exceptions import SQLConstraintError
from trytond.pool import Pool
from trytond.transaction import Transaction

from digitale_balie import clock
from digitale_balie.model import company_through

from . import jitsi


ROOM_STATES = [
    ('waiting', "Waiting"),
    ('open', "Open"),
    ('closed', "Closed"),
    ]


class VideoRoom(company_through('appointment'), Workflow, ModelSQL,
        ModelView):
    "Video Room"
    __name__ = 'balie.video.room'

    appointment = fields.Many2One('balie.appointment', "Appointment",
        required=True, readonly=True, ondelete='CASCADE')
    name = fields.Char("Room", required=True, readonly=True, strip=False)
    state = fields.Selection(ROOM_STATES, "State", required=True,
        readonly=True, sort=False)
    opened_at = fields.DateTime("Opened At", readonly=True)
    citizen_present_at = fields.DateTime("Citizen Present At",
        readonly=True,
        help="When the citizen was first in the waiting room.")
    citizen_joined_at = fields.DateTime("Citizen Joined At", readonly=True)
    closed_at = fields.DateTime("Closed At", readonly=True)
    duration = fields.TimeDelta("Duration", readonly=True)
    waiting_time = fields.TimeDelta("Waiting Time", readonly=True,
        help="From the citizen in the waiting room to the clerk in the call.")
    next_steps = fields.Text("Next Steps", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('appointment_unique', Unique(t, t.appointment),
                'balie_video.msg_room_unique'),
            ('name_unique', Unique(t, t.name),
                'balie_video.msg_room_unique'),
            ]
        cls._sql_indexes.add(Index(t, (t.closed_at, Index.Range())))
        cls._transitions |= {
            ('waiting', 'open'),
            ('open', 'closed'),
            ('waiting', 'closed'),
            }
        cls._order = [('id', 'DESC')]

    @classmethod
    def default_state(cls):
        return 'waiting'

    def get_rec_name(self, name):
        return self.appointment.rec_name

    @classmethod
    def for_appointment(cls, appointment):
        "The room of an appointment, created on first need."
        rooms = cls.search([('appointment', '=', appointment.id)], limit=1)
        if rooms:
            return rooms[0]
        try:
            room, = cls.create([{
                        'appointment': appointment.id,
                        'name': jitsi.new_room_name(),
                        }])
        except SQLConstraintError as exception:
            # the citizen's page and the clerk's button created it at the
            # same moment: the transaction's snapshot cannot see the other
            # one's room, so it starts again (trytond retries operational
            # errors, as it does serialisation failures) and finds it
            raise backend.DatabaseOperationalError(
                'room of appointment %d created concurrently'
                % appointment.id) from exception
        return room

    @classmethod
    def open(cls, rooms):
        "The clerk starts the call."
        now = clock.now()
        for room in rooms:
            if room.state != 'waiting':
                continue
            values = {'state': 'open', 'opened_at': now}
            if room.citizen_present_at:
                values['waiting_time'] = max(
                    now - room.citizen_present_at, dt.timedelta(0))
            cls.write([room], values)

    @classmethod
    def close(cls, rooms, next_steps=None):
        """The clerk ends the call: no new token for this room, and the
        citizen's links end after the grace period."""
        pool = Pool()
        Configuration = pool.get('balie.configuration')
        Token = pool.get('balie.access.token')
        Signal = pool.get('balie.video.signal')
        grace = Configuration(1).close_grace or dt.timedelta(0)
        now = clock.now()
        for room in rooms:
            if room.state == 'closed':
                continue
            values = {'state': 'closed', 'closed_at': now}
            if room.opened_at:
                values['duration'] = now - room.opened_at
            if next_steps:
                values['next_steps'] = next_steps
            cls.write([room], values)
            tokens = [t for t in room.appointment.tokens
                if t.state == 'valid' and t.expires_at > now + grace]
            if tokens:
                Token.write(tokens, {'expires_at': now + grace})
        # the signalling of a built-in call ends with the call
        Signal.forget([r.appointment for r in rooms])

    @classmethod
    def clean_up(cls):
        """Retention: delete presence rows, device checks, rooms, portal
        sessions and personal links of appointments that ended more than
        the configured days ago; keep a summary on the dossier."""
        pool = Pool()
        Configuration = pool.get('balie.configuration')
        Presence = pool.get('balie.video.presence')
        DeviceCheck = pool.get('balie.video.device_check')
        Token = pool.get('balie.access.token')
        Session = pool.get('balie.portal.session')
        Dossier = pool.get('balie.dossier')
        Signal = pool.get('balie.video.signal')
        CallAccess = pool.get('balie.video.call.access')
        days = Configuration(1).retention_days
        before = clock.now() - dt.timedelta(days=days or 0)
        rooms = cls.search([
                ('appointment.end', '<', before),
                ])
        for room in rooms:
            if room.opened_at:
                Dossier.add_event(room.appointment.dossier, 'call',
                    gettext('balie_video.msg_event_call_summary',
                        duration=in_minutes(room.duration),
                        waiting=in_minutes(room.waiting_time)),
                    appointment=room.appointment)
        cls.delete(rooms)
        Presence.delete(Presence.search([
                    ('appointment.end', '<', before)]))
        DeviceCheck.delete(DeviceCheck.search([
                    ('appointment.end', '<', before)]))
        Session.delete_expired(before)
        Token.delete(Token.search([('expires_at', '<', before)]))
        # built-in calls that were never ended: a day is plenty
        yesterday = clock.now() - dt.timedelta(days=1)
        Signal.forget_before(yesterday)
        CallAccess.forget_before(yesterday)

    def token_for(self, role, user_id, name, email=None, skip_lobby=False):
        "A JWT for this room; None once the room is closed."
        Configuration = Pool().get('balie.configuration')
        if self.state == 'closed':
            return None
        config = Configuration(1)
        config.check_jitsi()
        appointment = self.appointment
        now = clock.now()
        return jitsi.room_token(
            secret=config.get_jitsi_secret(),
            app_id=config.jitsi_app_id,
            domain=config.jitsi_xmpp_domain or config.jitsi_domain,
            audience=config.jitsi_audience or 'jitsi',
            room=self.name,
            user_id=user_id, name=name, email=email,
            affiliation=role,
            lobby_bypass=(role == jitsi.OWNER or skip_lobby
                or not config.jitsi_lobby),
            not_before=min(now, appointment.start
                - (config.waiting_room_opens or dt.timedelta(0)))
            - dt.timedelta(minutes=1),
            expires=max(appointment.end, now) + config.jwt_margin)

    def citizen_token(self):
        appointment = self.appointment
        return self.token_for(jitsi.MEMBER,
            'citizen-%d' % appointment.party.id, appointment.party.name)

    def clerk_token(self, user):
        return self.token_for(jitsi.OWNER, 'user-%d' % user.id,
            (user.employee.party.name if user.employee else user.name),
            email=user.email)


class Presence(ModelSQL):
    "The citizen's page open in the waiting room (technical data)."
    __name__ = 'balie.video.presence'

    appointment = fields.Many2One('balie.appointment', "Appointment",
        required=True, ondelete='CASCADE')
    first_seen = fields.DateTime("First Seen", required=True)
    last_seen = fields.DateTime("Last Seen", required=True)
    heartbeats = fields.Integer("Heartbeats", required=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('appointment_unique', Unique(t, t.appointment),
                'balie_video.msg_room_unique'),
            ]
        cls._sql_indexes.add(Index(t, (t.last_seen, Index.Range())))

    @classmethod
    def beat(cls, appointment):
        """Record that the citizen's page is open now; one row per
        appointment, updated in place."""
        pool = Pool()
        Room = pool.get('balie.video.room')
        now = clock.now()
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.update(
                [table.last_seen, table.heartbeats],
                [now, table.heartbeats + 1],
                where=table.appointment == appointment.id))
        if not cursor.rowcount:
            cls.create([{
                        'appointment': appointment.id,
                        'first_seen': now, 'last_seen': now,
                        'heartbeats': 1,
                        }])
        room = Room.for_appointment(appointment)
        values = {}
        if not room.citizen_present_at and room.state == 'waiting':
            values['citizen_present_at'] = now
        if room.state == 'open' and not room.citizen_joined_at:
            values['citizen_joined_at'] = now
        if values:
            Room.write([room], values)
        return room

    @classmethod
    def present_since(cls, timeout):
        return clock.now() - timeout


def in_minutes(value):
    if not value:
        return '0'
    return str(int(round(value.total_seconds() / 60)))
