# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The built-in call's HTTP routes: signalling for both sides, and the
clerk's call page.

- `/balie/call/signals` (GET, POST): the citizen's side, authorised by the
  portal session (the waiting room turns into the call in place);
- `/balie/gesprek/<link>`: the clerk's single-use link (from *Start Video
  Call*) becomes the cookie `__Host-balie-call`, then 303 to
  `/balie/gesprek`, the clerk's call page; `/balie/gesprek/signals` is
  their side of the signalling.

Only the two parties of the appointment, only while the room is open or
just closed and within the call's window (`webrtc.call_window`); everything
else gets the portal's uniform 404.  A message larger than 64 KB or not
what the protocol expects gets a 400 and changes nothing."""
import json
import logging
from types import SimpleNamespace

from trytond.protocols.wrappers import HTTPStatus
from trytond.transaction import Transaction

from digitale_balie import clock
from digitale_balie.web import (
    FAILED_LINK_LIMITER, LINK_LIMITER, check_csrf, csrf_token,
    portal_language, portal_route)

from .webrtc import CLERK_COOKIE, KINDS, MAX_SIGNAL, call_window

logger = logging.getLogger(__name__)
SDP_KINDS = {'offer', 'answer'}
MAX_AFTER = 2 ** 62


def call_room(portal, appointment):
    """The open (or just closed) room of the appointment's built-in call,
    within its window; else None."""
    Room = portal.pool.get('balie.video.room')
    config = portal.config
    if (appointment is None or appointment.channel != 'video'
            or config.call_backend != 'builtin'):
        return None
    rooms = Room.search([('appointment', '=', appointment.id)], limit=1)
    if not rooms or rooms[0].state == 'waiting':
        return None
    room = rooms[0]
    opens, closes = call_window(appointment, room, config)
    if not opens <= clock.now() < closes:
        return None
    return room


def citizen_call(portal, room):
    """What the waiting room needs to start the built-in call (the
    /balie/status answer when the room is open)."""
    config = portal.config
    appointment = portal.appointment
    _, closes = call_window(appointment, room, config)
    return {
        'backend': 'builtin',
        'signals': '/balie/call/signals',
        'iceServers': config.call_ice_servers_for(
            'citizen-%d' % appointment.id, closes),
        'loopback': config.call_loopback_only,
        }


def bad_request(portal, reason):
    return portal.json({'error': reason}, status=HTTPStatus.BAD_REQUEST)


def not_found(portal):
    "The uniform answer for everybody who is not a party of the call."
    return portal.json({'state': 'gone'}, status=HTTPStatus.NOT_FOUND)


def read_message(request):
    "The posted message as (kind, payload), or a reason why not."
    length = request.content_length
    if length is not None and length > MAX_SIGNAL:
        return 'too large'
    if not request.is_json:
        return 'not JSON'
    raw = request.get_data(cache=True)
    if len(raw) > MAX_SIGNAL:
        return 'too large'
    try:
        data = json.loads(raw)
    except ValueError:
        return 'not JSON'
    if not isinstance(data, dict):
        return 'not an object'
    kind = data.get('kind')
    payload = data.get('payload')
    if kind not in KINDS:
        return 'unknown kind'
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        return 'payload is not an object'
    if kind in SDP_KINDS and not (
            isinstance(payload.get('sdp'), str)
            and payload.get('type') == kind):
        return 'no session description'
    if kind == 'candidate' and not isinstance(
            payload.get('candidate'), (dict, type(None))):
        return 'no candidate'
    return kind, payload


def exchange(portal, appointment, room, side, extra=None):
    """Post a message (POST) or read the other side's messages after the
    sequence number `after` (GET; after=-1: only the current number)."""
    Signal = portal.pool.get('balie.video.signal')
    request = portal.request
    state = {'state': room.state}
    if side == 'citizen' and room.state == 'closed':
        state['next'] = '/balie/einde'
    if request.method == 'POST':
        message = read_message(request)
        if isinstance(message, str):
            return bad_request(portal, message)
        if room.state != 'open':
            return portal.json(state, status=HTTPStatus.CONFLICT)
        kind, payload = message
        seq = Signal.post(appointment, side, kind, payload)
        return portal.json(dict(state, seq=seq))
    try:
        after = int(request.args.get('after', '0'))
    except ValueError:
        return bad_request(portal, 'after is not a number')
    if not -1 <= after < MAX_AFTER:
        return bad_request(portal, 'after is out of range')
    data = dict(state, messages=[])
    if after == -1:
        data['cursor'] = Signal.cursor(appointment)
    elif room.state == 'open':
        data['messages'] = Signal.received(appointment, side, after)
        data['cursor'] = (data['messages'][-1]['seq']
            if data['messages'] else after)
    else:
        data['cursor'] = after
    if extra:
        data.update(extra())
    return portal.json(data)


# -- the citizen's side ------------------------------------------------------

@portal_route('/balie/call/signals', methods=['GET', 'POST'])
def citizen_signals(portal):
    "The citizen's side of the signalling."
    if portal.preview:
        return not_found(portal)
    appointment = portal.appointment
    room = call_room(portal, appointment)
    if room is None:
        return not_found(portal)
    return exchange(portal, appointment, room, 'citizen')


# -- the clerk's side --------------------------------------------------------

def clerk_access(portal):
    "The clerk's call session of this browser, or None."
    CallAccess = portal.pool.get('balie.video.call.access')
    access = CallAccess.find(portal.request.cookies.get(CLERK_COOKIE))
    if access is None:
        return None
    if not access.user.active:
        return None
    return access


def clerk_token_valid(portal):
    "The clerk's own CSRF token, bound to their call cookie."
    key = portal.request.cookies.get(CLERK_COOKIE)
    return check_csrf(key, portal.request.headers.get('X-Call-Token'))


@portal_route('/balie/gesprek/<token>', session=False, readonly=False)
def clerk_link(portal, token):
    """The single-use link that Start Video Call opens: a cookie for the
    clerk's browser, and the call page at a clean address."""
    CallAccess = portal.pool.get('balie.video.call.access')
    address = portal.remote_addr
    wait = (FAILED_LINK_LIMITER.peek(address)
        or LINK_LIMITER.hit(address))
    if wait:
        return portal.too_many(wait)
    access, key = CallAccess.use(token)
    if access is None:
        FAILED_LINK_LIMITER.hit(address)
        return portal.not_found()
    response = portal.redirect('/balie/gesprek')
    max_age = int((access.session_expires_at - clock.now()).total_seconds())
    response.set_cookie(CLERK_COOKIE, key, max_age=max(max_age, 0),
        path='/', secure=True, httponly=True, samesite='Lax')
    return response


def clerk_portal(portal, access):
    "The clerk's page speaks the clerk's language."
    language = access.user.language
    portal.language = portal_language(language.code if language else None)
    return Transaction().set_context(language=portal.language)


def readiness(portal, appointment, language):
    """What the clerk sees of the citizen: the camera check, present in
    the waiting room, the tasks of the call."""
    pool = portal.pool
    Appointment = pool.get('balie.appointment')
    Portal = pool.get('balie.portal')
    with Transaction().set_context(language=language):
        record = Appointment(appointment.id)
        checks = record.device_checks
        check = checks[0] if checks else None
        session = SimpleNamespace(
            token=SimpleNamespace(appointment=record, purpose='clerk'),
            preview=False, language=language)
        tasks = sorted(Portal.call_tasks(session),
            key=lambda t: t.get('sequence', 50))
        return {
            'device': check.result if check else None,
            'browser': check.browser if check else None,
            'waiting': bool(record.citizen_waiting),
            'tasks': [{'label': t['label'], 'done': bool(t.get('done'))}
                for t in tasks],
            }


@portal_route('/balie/gesprek', session=False)
def clerk_call(portal):
    "The clerk's side of the built-in call."
    access = clerk_access(portal)
    room = call_room(portal, access.appointment) if access else None
    if room is None:
        return portal.not_found()
    appointment = access.appointment
    with clerk_portal(portal, access):
        config = portal.config
        _, closes = call_window(appointment, room, config)
        values = appointment.message_values(portal.language)
        ready = readiness(portal, appointment, portal.language)
        key = portal.request.cookies.get(CLERK_COOKIE)
        return portal.page('clerk_call',
            citizen=values['name'], subject=values['subject'],
            when=values['when'], ready=ready, room_state=room.state,
            call_token=csrf_token(key),
            ice_servers=json.dumps(config.call_ice_servers_for(
                    'user-%d' % access.user.id, closes)),
            loopback='1' if config.call_loopback_only else '0',
            show_language_switch=False)


@portal_route('/balie/gesprek/signals', methods=['GET', 'POST'],
    session=False)
def clerk_signals(portal):
    "The clerk's side of the signalling."
    access = clerk_access(portal)
    room = call_room(portal, access.appointment) if access else None
    if room is None:
        return not_found(portal)
    if portal.request.method == 'POST' and not clerk_token_valid(portal):
        return portal.page('expired', status=HTTPStatus.FORBIDDEN)
    appointment = access.appointment

    def extra():
        if portal.request.args.get('status') != '1':
            return {}
        with clerk_portal(portal, access):
            return {'citizen': readiness(
                    portal, appointment, portal.language)}
    return exchange(portal, appointment, room, 'clerk', extra=extra)
