# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"The citizen's video pages: device check, waiting room, call, after."
import os

from trytond import config as tconfig
from trytond.i18n import gettext
from trytond.protocols.wrappers import HTTPStatus

from digitale_balie import clock
from digitale_balie.web import portal_route, static_route

from . import TEMPLATES, jitsi
from .device_check import PROBLEMS, browser_name

STATIC = os.path.join(TEMPLATES, 'static')
static_route('/balie/video/static', STATIC)
MAX_JSON = 4096


def video_appointment(portal):
    appointment = portal.appointment
    if appointment.channel != 'video':
        return None
    return appointment


@portal_route('/balie/test', methods=['GET', 'POST'])
def device_check(portal):
    "Test camera and microphone; the result is kept for the clerk."
    pool = portal.pool
    DeviceCheck = pool.get('balie.video.device_check')
    appointment = video_appointment(portal)
    if appointment is None:
        return portal.not_found()
    if portal.request.method == 'POST':
        data = read_json(portal)
        if data is None:
            return portal.json({'error': 'bad request'},
                status=HTTPStatus.BAD_REQUEST)
        problem = str(data.get('problem') or '')
        if problem not in PROBLEMS:
            problem = 'other'
        values = {
            'camera': data.get('camera') is True,
            'microphone': data.get('microphone') is True,
            'speaker': data.get('speaker') is True,
            }
        result = ('passed' if values['camera'] and values['microphone']
            else 'failed')
        if not portal.preview:
            DeviceCheck.create([dict(values,
                        appointment=appointment.id,
                        checked_at=clock.now(),
                        result=result,
                        problem=problem or None,
                        browser=browser_name(
                            portal.request.headers.get('User-Agent')))])
        return portal.json({'result': result, 'saved': not portal.preview,
                'message': gettext('balie_video.msg_check_%s' % result)})
    return portal.page('device', **values_of(portal))


def read_json(portal):
    request = portal.request
    if (request.content_length or 0) > MAX_JSON or not request.is_json:
        return None
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else None


def values_of(portal):
    values = portal.appointment_values()
    values['start_iso'] = portal.appointment.start.isoformat() + 'Z'
    return values


def waiting_room_opens(portal):
    Configuration = portal.pool.get('balie.configuration')
    return portal.appointment.start - Configuration(1).waiting_room_opens


@portal_route('/balie/wachtkamer')
def waiting_room(portal):
    "Wait for the clerk; the page turns into the call when it starts."
    from digitale_balie.dates import format_datetime_words
    appointment = video_appointment(portal)
    if appointment is None:
        return portal.not_found()
    if appointment.state in {'done', 'cancelled', 'no_show'}:
        return portal.redirect('/balie/einde')
    opens = waiting_room_opens(portal)
    early = clock.now() < opens
    return portal.page('waiting', practice=False, early=early,
        opens=format_datetime_words(opens, portal.language),
        **values_of(portal))


@portal_route('/balie/oefenen')
def practice(portal):
    "A practice waiting room, open at any time before the appointment."
    if video_appointment(portal) is None:
        return portal.not_found()
    return portal.page('waiting', practice=True, early=False, opens='',
        **values_of(portal))


@portal_route('/balie/status', methods=['GET', 'POST'],
    readonly=False)
def status(portal):
    """What the waiting room shows now.  A POST is the heartbeat of an open
    waiting room: the clerk sees 'citizen is waiting'."""
    pool = portal.pool
    Presence = pool.get('balie.video.presence')
    Room = pool.get('balie.video.room')
    Configuration = pool.get('balie.configuration')
    DeviceCheck = pool.get('balie.video.device_check')
    appointment = video_appointment(portal)
    if appointment is None:
        return portal.json({'state': 'gone'}, status=HTTPStatus.NOT_FOUND)
    config = Configuration(1)
    opens = waiting_room_opens(portal)
    now = clock.now()
    if portal.request.method == 'POST' and not portal.preview \
            and now >= opens:
        room = Presence.beat(appointment)
    else:
        rooms = Room.search([('appointment', '=', appointment.id)], limit=1)
        room = rooms[0] if rooms else None
    data = {
        'state': 'waiting',
        'delay': None,
        'poll': tconfig.getint('balie_video', 'poll_seconds', default=10),
        }
    if appointment.state == 'booked' and appointment.delay_minutes:
        data['delay'] = gettext('digitale_balie.msg_portal_delay',
            clerk=(appointment.employee.party.name or '').split(' ')[0],
            minutes=str(appointment.delay_minutes))
    if appointment.state in {'done', 'cancelled', 'no_show'} or (
            room and room.state == 'closed'):
        data['state'] = 'closed'
        data['next'] = '/balie/einde'
    elif now < opens:
        data['state'] = 'early'
    elif room and room.state == 'open' and not portal.preview:
        checks = DeviceCheck.search(
            [('appointment', '=', appointment.id)], limit=1)
        tested = bool(checks and checks[0].result == 'passed')
        data['state'] = 'open'
        data['tasks'] = pool.get('balie.portal').call_tasks(portal.session)
        if config.call_backend == 'builtin':
            from .routes_call import citizen_call
            data['call'] = citizen_call(portal, room)
            return portal.json(data)
        data['call'] = {
            'domain': config.jitsi_domain,
            'options': jitsi.iframe_options(room.name, room.citizen_token(),
                appointment.party.name, language=portal.language,
                skip_prejoin=tested),
            }
    return portal.json(data)


@portal_route('/balie/einde')
def after_call(portal):
    "Thank you, the next steps and the follow-up appointment."
    pool = portal.pool
    Room = pool.get('balie.video.room')
    Appointment = pool.get('balie.appointment')
    appointment = portal.appointment
    rooms = Room.search([('appointment', '=', appointment.id)], limit=1)
    follow_ups = Appointment.search([
            ('follow_up_of', '=', appointment.id),
            ('state', '=', 'booked'),
            ], order=[('start', 'ASC')], limit=1)
    follow_up = None
    if follow_ups:
        follow_up = follow_ups[0].message_values(portal.language)
    Portal = pool.get('balie.portal')
    return portal.page('after',
        next_steps=rooms[0].next_steps if rooms else None,
        follow_up=follow_up,
        extras=Portal.after_call_extras(portal.session),
        **values_of(portal))
