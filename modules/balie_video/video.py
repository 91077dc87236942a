# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Video calls: Jitsi rooms with tokens, the citizen's device check and
presence in the waiting room, and what the clerk sees and does."""
import datetime as dt

from sql import Null
from sql.conditionals import Coalesce

from trytond import config as tconfig
from trytond.i18n import gettext
from trytond.model import (
    Index, ModelSQL, ModelView, Unique, Workflow, fields)
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.transaction import Transaction

from digitale_balie import clock
from digitale_balie.model import company_through

from . import jitsi
from .exceptions import VideoError

ROOM_STATES = [
    ('waiting', "Waiting"),
    ('open', "Open"),
    ('closed', "Closed"),
    ]
OUTCOMES = [
    (None, ""),
    ('joining', "Reached, joining now"),
    ('reschedule', "Reached, new appointment"),
    ('not_reached', "Not reached"),
    ('cancelled', "Cancelled"),
    ]


class Configuration(metaclass=PoolMeta):
    __name__ = 'balie.configuration'

    jitsi_domain = fields.Char("Jitsi Domain",
        help="The host name of the municipality's Jitsi Meet server, "
        "for example meet.gemeente.be.")
    jitsi_app_id = fields.Char("Jitsi App ID",
        help="The app_id of prosody's token authentication.")
    jitsi_secret = fields.Char("Jitsi Secret", strip=False,
        help="The app_secret of prosody's token authentication (HS256). "
        "The [balie_video] jitsi_secret of the server configuration "
        "takes precedence, so that it need not be stored here.")
    jitsi_xmpp_domain = fields.Char("Jitsi XMPP Domain",
        help="The sub claim: prosody's XMPP domain (meet.jitsi in the "
        "official Docker images). Leave empty when it is the Jitsi "
        "domain.")
    jitsi_audience = fields.Char("Jitsi Audience",
        help="The aud claim prosody expects (asap_accepted_audiences).")
    jitsi_lobby = fields.Boolean("Lobby",
        help="The citizen waits in Jitsi's lobby until the clerk admits "
        "them.")
    jwt_margin = fields.TimeDelta("Token Margin", required=True,
        help="How long after the planned end a call token keeps working.")
    waiting_room_opens = fields.TimeDelta("Waiting Room Opens",
        required=True,
        help="How long before the start the citizen can enter the waiting "
        "room.")
    no_show_grace = fields.TimeDelta("No-show After", required=True,
        help="When the citizen is not there this long after the start, "
        "the appointment appears in the list of citizens to call.")
    close_grace = fields.TimeDelta("Links After the Call", required=True,
        help="How long after the end of the call the citizen's links "
        "keep working, to read the next steps.")

    @classmethod
    def default_jitsi_audience(cls):
        return 'jitsi'

    @classmethod
    def default_jitsi_lobby(cls):
        return True

    @classmethod
    def default_jwt_margin(cls):
        return dt.timedelta(minutes=30)

    @classmethod
    def default_waiting_room_opens(cls):
        return dt.timedelta(minutes=15)

    @classmethod
    def default_no_show_grace(cls):
        return dt.timedelta(minutes=5)

    @classmethod
    def default_close_grace(cls):
        return dt.timedelta(hours=2)

    def get_jitsi_secret(self):
        return (tconfig.get('balie_video', 'jitsi_secret', default=None)
            or self.jitsi_secret)

    def check_jitsi(self):
        if not (self.jitsi_domain and self.jitsi_app_id
                and self.get_jitsi_secret()):
            raise VideoError(gettext('balie_video.msg_jitsi_not_configured'))


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
        room, = cls.create([{
                    'appointment': appointment.id,
                    'name': jitsi.new_room_name(),
                    }])
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


class DeviceCheck(company_through('appointment'), ModelSQL, ModelView):
    "Device Check"
    __name__ = 'balie.video.device_check'

    appointment = fields.Many2One('balie.appointment', "Appointment",
        required=True, readonly=True, ondelete='CASCADE')
    checked_at = fields.DateTime("Checked At", required=True, readonly=True)
    result = fields.Selection([
            ('passed', "Passed"),
            ('failed', "Failed"),
            ], "Result", required=True, readonly=True)
    camera = fields.Boolean("Camera", readonly=True)
    microphone = fields.Boolean("Microphone", readonly=True)
    speaker = fields.Boolean("Speaker", readonly=True)
    browser = fields.Char("Browser", readonly=True)
    problem = fields.Char("Problem", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('checked_at', 'DESC'), ('id', 'DESC')]
        t = cls.__table__()
        cls._sql_indexes.add(Index(t, (t.appointment, Index.Equality())))


PROBLEMS = {'denied', 'no_device', 'in_use', 'insecure', 'unsupported',
    'other', ''}


def browser_name(user_agent):
    "A short, non-identifying description of the browser."
    agent = user_agent or ''
    system = next((s for k, s in [
                ('Android', 'Android'), ('iPhone', 'iPhone'),
                ('iPad', 'iPad'), ('Windows', 'Windows'),
                ('Mac OS X', 'macOS'), ('Linux', 'Linux')]
            if k in agent), '?')
    browser = next((b for k, b in [
                ('Edg/', 'Edge'), ('SamsungBrowser', 'Samsung Internet'),
                ('Firefox/', 'Firefox'), ('CriOS', 'Chrome'),
                ('Chrome/', 'Chrome'), ('Safari/', 'Safari')]
            if k in agent), '?')
    return '%s on %s' % (browser, system)


class Appointment(metaclass=PoolMeta):
    __name__ = 'balie.appointment'

    video_room = fields.Function(
        fields.Many2One('balie.video.room', "Video Room"), 'get_video')
    room_state = fields.Function(
        fields.Selection([(None, "")] + ROOM_STATES, "Call"), 'get_video')
    citizen_waiting = fields.Function(
        fields.Boolean("Citizen Waiting"), 'get_video')
    device_tested = fields.Function(
        fields.Selection([
                (None, "Not tested"),
                ('passed', "Camera tested ✓"),
                ('failed', "Camera test failed ✗"),
                ], "Device Check"), 'get_video')
    device_checks = fields.One2Many(
        'balie.video.device_check', 'appointment', "Device Checks",
        readonly=True)
    call_outcome = fields.Selection(OUTCOMES, "Call Outcome",
        readonly=True,
        help="What came of phoning a citizen who did not show up.")
    waiting_time = fields.Function(
        fields.TimeDelta("Waiting Time"), 'get_video')
    call_duration = fields.Function(
        fields.TimeDelta("Call Duration"), 'get_video')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        video = Eval('channel') == 'video'
        cls._buttons.update({
                'start_call': {
                    'invisible': ~video | ~Eval('state').in_(
                        ['booked', 'in_progress']),
                    'depends': ['channel', 'state'],
                    },
                'end_call': {
                    'invisible': ~video | (Eval('state') != 'in_progress'),
                    'depends': ['channel', 'state'],
                    },
                'preview_page': {
                    'invisible': Eval('state') != 'booked',
                    'depends': ['state'],
                    },
                'log_call': {
                    'invisible': ~Eval('needs_call'),
                    'depends': ['needs_call'],
                    },
                })

    @classmethod
    def get_video(cls, appointments, names):
        pool = Pool()
        Room = pool.get('balie.video.room')
        Presence = pool.get('balie.video.presence')
        DeviceCheck = pool.get('balie.video.device_check')
        Configuration = pool.get('balie.configuration')
        ids = [a.id for a in appointments]
        result = {n: {i: None for i in ids} for n in names}
        rooms = {r.appointment.id: r for r in Room.search([
                    ('appointment', 'in', ids)])}
        timeout = dt.timedelta(seconds=tconfig.getint(
                'balie_video', 'presence_timeout', default=45))
        present = set()
        if 'citizen_waiting' in names:
            present = {p.appointment.id for p in Presence.search([
                        ('appointment', 'in', ids),
                        ('last_seen', '>', clock.now() - timeout)])}
        checks = {}
        if 'device_tested' in names:
            for check in DeviceCheck.search([('appointment', 'in', ids)],
                    order=[('checked_at', 'ASC'), ('id', 'ASC')]):
                checks[check.appointment.id] = check.result
        Configuration(1)
        for i in ids:
            room = rooms.get(i)
            if 'video_room' in names:
                result['video_room'][i] = room.id if room else None
            if 'room_state' in names:
                result['room_state'][i] = room.state if room else None
            if 'citizen_waiting' in names:
                result['citizen_waiting'][i] = i in present
            if 'device_tested' in names:
                result['device_tested'][i] = checks.get(i)
            if 'waiting_time' in names:
                result['waiting_time'][i] = room.waiting_time if room else None
            if 'call_duration' in names:
                result['call_duration'][i] = room.duration if room else None
        return result

    @classmethod
    def search_needs_call(cls, name, clause):
        """Also the video appointments whose citizen is not there at the
        start plus the grace period, until the clerk logs the call."""
        pool = Pool()
        Configuration = pool.get('balie.configuration')
        Presence = pool.get('balie.video.presence')
        domain = super().search_needs_call(name, clause)
        _, operator, value = clause[:3]
        appointment = cls.__table__()
        presence = Presence.__table__()
        now = clock.now()
        grace = Configuration(1).no_show_grace or dt.timedelta(0)
        absent = appointment.join(presence, 'LEFT',
            condition=presence.appointment == appointment.id
            ).select(appointment.id,
                where=(appointment.state == 'booked')
                & (appointment.channel == 'video')
                & (appointment.start <= now - grace)
                & (appointment.end > now - dt.timedelta(hours=12))
                & (Coalesce(appointment.call_outcome, '') == '')
                & (presence.id == Null))
        if (operator == '=') == bool(value):
            return ['OR', domain, ('id', 'in', absent)]
        return [domain, ('id', 'not in', absent)]

    @classmethod
    @ModelView.button
    def start_call(cls, appointments):
        """Open the room and the meeting in a new tab with the clerk's
        token (an URL action)."""
        pool = Pool()
        Room = pool.get('balie.video.room')
        User = pool.get('res.user')
        Configuration = pool.get('balie.configuration')
        Dossier = pool.get('balie.dossier')
        if not appointments:
            return
        config = Configuration(1)
        config.check_jitsi()
        appointment = appointments[0]
        if appointment.state == 'booked':
            cls.start_service([appointment])
        room = Room.for_appointment(appointment)
        if room.state == 'closed':
            raise VideoError(gettext('balie_video.msg_room_closed'))
        if room.state == 'waiting':
            Room.open([room])
            Dossier.add_event(appointment.dossier, 'call',
                gettext('balie_video.msg_event_call_started'),
                appointment=appointment)
        user = User(Transaction().user)
        token = room.clerk_token(user)
        return {
            'type': 'ir.action.url',
            'name': gettext('balie_video.msg_call_action'),
            'url': jitsi.meeting_url(config.jitsi_domain, room.name, token),
            }

    @classmethod
    @ModelView.button_action('balie_video.wizard_end_call')
    def end_call(cls, appointments):
        pass

    @classmethod
    @ModelView.button_action('balie_video.wizard_log_call')
    def log_call(cls, appointments):
        pass

    @classmethod
    @ModelView.button
    def preview_page(cls, appointments):
        """Show the citizen's page at the counter: a short-lived link that
        records nothing."""
        pool = Pool()
        Token = pool.get('balie.access.token')
        Configuration = pool.get('balie.configuration')
        if not appointments:
            return
        appointment = appointments[0]
        _, raw = Token.generate(appointment, 'preview',
            expires_at=clock.now() + dt.timedelta(minutes=30))
        return {
            'type': 'ir.action.url',
            'name': gettext('balie_video.msg_preview_action'),
            'url': Configuration(1).personal_url(raw),
            }

    @classmethod
    def copy(cls, appointments, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('call_outcome', None)
        return super().copy(appointments, default=default)


class Portal(metaclass=PoolMeta):
    __name__ = 'balie.portal'

    @classmethod
    def template_directories(cls):
        from . import TEMPLATES
        return [TEMPLATES] + super().template_directories()

    @classmethod
    def content_security_policy(cls):
        Configuration = Pool().get('balie.configuration')
        policy = super().content_security_policy()
        domain = Configuration(1).jitsi_domain
        if domain:
            origin = 'https://' + domain
            policy['script-src'] = policy['script-src'] + [origin]
            policy['frame-src'] = [origin]
            policy['connect-src'] = policy['connect-src'] + [origin]
        policy['media-src'] = policy['media-src'] + ['blob:', 'mediastream:']
        return policy

    @classmethod
    def permissions_policy(cls):
        Configuration = Pool().get('balie.configuration')
        domain = Configuration(1).jitsi_domain
        allowed = '(self "https://%s")' % domain if domain else '(self)'
        return ('camera=%(a)s, microphone=%(a)s, display-capture=%(a)s, '
            'autoplay=%(a)s, geolocation=(), payment=()' % {'a': allowed})

    @classmethod
    def personal_actions(cls, session):
        pool = Pool()
        Configuration = pool.get('balie.configuration')
        actions = super().personal_actions(session)
        appointment = session.token.appointment
        if appointment.channel != 'video' or appointment.state not in {
                'booked', 'in_progress'}:
            return actions
        config = Configuration(1)
        opens = appointment.start - config.waiting_room_opens
        if clock.now() >= opens:
            actions.append({
                    'href': '/balie/wachtkamer', 'icon': 'video',
                    'label': gettext('balie_video.msg_action_waiting_room'),
                    'kind': 'primary', 'sequence': 5,
                    })
        actions.append({
                'href': '/balie/test', 'icon': 'camera',
                'label': gettext('balie_video.msg_action_test'),
                'kind': 'primary' if clock.now() < opens else 'secondary',
                'sequence': 10,
                })
        actions.append({
                'href': '/balie/oefenen', 'icon': 'practice',
                'label': gettext('balie_video.msg_action_practice'),
                'kind': 'secondary', 'sequence': 20,
                })
        return actions

    @classmethod
    def call_tasks(cls, session):
        """What the citizen can do next to the call (balie_sign adds the
        formal acts): dicts with href, label and optionally done (bool).
        The waiting room shows them under the meeting; they open in a new
        tab so that the call goes on."""
        return []

    @classmethod
    def after_call_extras(cls, session):
        "Markup shown under the next steps (the survey plugs in here)."
        return []

    @classmethod
    def personal_notices(cls, session):
        pool = Pool()
        DeviceCheck = pool.get('balie.video.device_check')
        notices = super().personal_notices(session)
        appointment = session.token.appointment
        if appointment.channel == 'video' and appointment.state == 'booked':
            checks = DeviceCheck.search([
                    ('appointment', '=', appointment.id)], limit=1)
            if checks and checks[0].result == 'passed':
                notices.append({'kind': 'success', 'text': gettext(
                            'balie_video.msg_notice_tested')})
        return notices


class Dossier(metaclass=PoolMeta):
    __name__ = 'balie.dossier'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'start_call': {
                    'invisible': Eval('state') == 'closed',
                    'depends': ['state'],
                    },
                })

    @classmethod
    @ModelView.button
    def start_call(cls, dossiers):
        """Start the video call of the dossier's appointment that is due:
        in progress, or booked and nearest to now."""
        Appointment = Pool().get('balie.appointment')
        if not dossiers:
            return
        dossier = dossiers[0]
        now = clock.now()
        candidates = Appointment.search([
                ('dossier', '=', dossier.id),
                ('channel', '=', 'video'),
                ('state', 'in', ['booked', 'in_progress']),
                ])
        if not candidates:
            raise VideoError(gettext('balie_video.msg_dossier_no_call',
                    dossier=dossier.rec_name))
        appointment = min(candidates, key=lambda a: (
                a.state != 'in_progress', abs(a.start - now)))
        return Appointment.start_call([appointment])


class DossierEvent(metaclass=PoolMeta):
    __name__ = 'balie.dossier.event'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        for kind in [('call', "Video call"), ('phone', "Phone call")]:
            if kind not in cls.kind.selection:
                cls.kind.selection.append(kind)


class Cron(metaclass=PoolMeta):
    __name__ = 'ir.cron'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.method.selection.append(
            ('balie.video.room|clean_up', "Delete Old Call Data"))


def in_minutes(value):
    if not value:
        return '0'
    return str(int(round(value.total_seconds() / 60)))
