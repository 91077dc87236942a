# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
import datetime as dt

from sql import Null
from sql.conditionals import Coalesce

from trytond import config as tconfig
from trytond.i18n import gettext
from trytond.model import ModelView, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.transaction import Transaction

from digitale_balie import clock

from . import jitsi
from .exceptions import VideoError
from .room import ROOM_STATES


OUTCOMES = [
    (None, ""),
    ('joining', "Reached, joining now"),
    ('reschedule', "Reached, new appointment"),
    ('not_reached', "Not reached"),
    ('cancelled', "Cancelled"),
    ]


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
        """Open the room and, in a new tab (an URL action), the clerk's
        page of the built-in call or the Jitsi meeting with the clerk's
        token."""
        pool = Pool()
        Room = pool.get('balie.video.room')
        User = pool.get('res.user')
        Configuration = pool.get('balie.configuration')
        Dossier = pool.get('balie.dossier')
        CallAccess = pool.get('balie.video.call.access')
        if not appointments:
            return
        config = Configuration(1)
        builtin = config.call_backend == 'builtin'
        if not builtin:
            config.check_jitsi()
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
        user = User(Transaction().user)
        if builtin:
            # the clerk's call page, through a single-use link
            url = config.clerk_call_url(
                CallAccess.issue(appointment, user, room))
        else:
            url = jitsi.meeting_url(
                config.jitsi_domain, room.name, room.clerk_token(user))
        return {
            'type': 'ir.action.url',
            'name': gettext('balie_video.msg_call_action'),
            'url': url,
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
