# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"The citizen's portal pages served by trytond."
import datetime as dt
import logging
import os

from trytond.i18n import gettext
from trytond.protocols.wrappers import HTTPStatus, Response
from trytond.transaction import Transaction

from . import clock
from .exceptions import SlotTakenError, SlotUnavailableError
from .portal import TEMPLATES
from .web import (
    COOKIE, FAILED_LINK_LIMITER, LINK_LIMITER, PORTAL_LANGUAGES, portal_route,
    session_max_age, static_route)

logger = logging.getLogger(__name__)

STATIC = os.path.join(TEMPLATES, 'static')
static_route('/balie/static', STATIC)


@portal_route('/a/<token>', session=False, readonly=False)
def personal_link(portal, token):
    "Exchange a personal link for a session cookie and a clean address."
    pool = portal.pool
    Token = pool.get('balie.access.token')
    Session = pool.get('balie.portal.session')
    address = portal.remote_addr
    wait = (FAILED_LINK_LIMITER.peek(address)
        or LINK_LIMITER.hit(address))
    if wait:
        logger.warning("too many personal link look-ups from %s", address)
        return portal.too_many(wait)
    record = Token.lookup(token)
    if record is None or record.scope != 'personal':
        # a link of another purpose (the survey's) opens only its own page
        FAILED_LINK_LIMITER.hit(address)
        return portal.not_found()
    record = Token.use(token)
    key = Session.open(record)
    response = portal.redirect('/balie')
    response.set_cookie(COOKIE, key, max_age=session_max_age(record),
        path='/', secure=True, httponly=True, samesite='Lax')
    return response


@portal_route('/balie')
def personal_page(portal):
    "The citizen's page: name, subject, time, what to do and help."
    Portal = portal.pool.get('balie.portal')
    appointment = portal.appointment
    actions = sorted(Portal.personal_actions(portal.session),
        key=lambda a: a.get('sequence', 50))
    return portal.page('personal',
        actions=actions,
        notices=Portal.personal_notices(portal.session),
        done=portal.request.args.get('done'),
        start_iso=appointment.start.isoformat() + 'Z',
        **portal.appointment_values())


@portal_route('/balie/taal', methods=['POST'],
    scopes=('personal', 'survey'))
def choose_language(portal):
    "The language switch: remembered for this browser session."
    Session = portal.pool.get('balie.portal.session')
    language = portal.form().get('lang')
    if language in PORTAL_LANGUAGES and not portal.preview:
        Session.write([portal.session], {'language': language})
    back = portal.form().get('next') or '/balie'
    if not back.startswith('/balie') or '//' in back:
        back = '/balie'
    return portal.redirect(back)


@portal_route('/balie/uitleg', session=False)
def explanation(portal):
    "How a video call works, step by step, with pictures."
    return portal.page('explain',
        tutorial_url=portal.config.tutorial_url or '')


@portal_route('/balie/handleiding.pdf', session=False)
def manual(portal):
    "The same explanation as a PDF to print (the clerk prints it too)."
    Manual = portal.pool.get('balie.manual', type='report')
    language = portal.request.args.get('lang') or portal.language
    if language not in PORTAL_LANGUAGES:
        language = portal.language
    with Transaction().set_context(language=language):
        _, content, _, _ = Manual.execute([], {'language': language})
    response = portal.secure(Response(bytes(content),
            content_type='application/pdf'))
    response.headers['Content-Disposition'] = (
        'inline; filename="handleiding-videogesprek.pdf"')
    return response


@portal_route('/balie/afspraak.ics')
def calendar_file(portal):
    "The appointment for the citizen's own agenda."
    Appointment = portal.pool.get('balie.appointment')
    appointment = Appointment(portal.appointment.id)
    if appointment.state != 'booked':
        return portal.redirect('/balie')
    content = appointment.ical_file(portal.config.portal_base_url + '/balie')
    response = portal.secure(Response(content,
            content_type='text/calendar; charset=utf-8'))
    response.headers['Content-Disposition'] = (
        'attachment; filename="afspraak.ics"')
    return response


def change_allowed(portal):
    "Whether the citizen may still move or cancel the appointment."
    appointment = portal.appointment
    limit = portal.config.citizen_change_limit or dt.timedelta(0)
    return (appointment.state == 'booked'
        and appointment.start - clock.now() >= limit)


def offered_slots(portal, limit=12):
    "The next free slots of the same service, as the engine offers them."
    Appointment = portal.pool.get('balie.appointment')
    Date = portal.pool.get('ir.date')
    appointment = portal.appointment
    today = Date.today()
    horizon = today + dt.timedelta(days=portal.config.booking_horizon or 30)
    slots = []
    day = today
    while day <= horizon and len(slots) < limit:
        last = min(day + dt.timedelta(days=13), horizon)
        slots.extend(Appointment._free_slots(appointment.service, day, last,
                exclude=appointment.id))
        day = last + dt.timedelta(days=1)
    seen, result = set(), []
    for slot in slots:
        if slot.start in seen or slot.start == appointment.start:
            continue
        seen.add(slot.start)
        result.append(slot)
    return result[:limit]


def slot_groups(slots, language):
    "Slots grouped per day with words the citizen reads."
    from .dates import format_date_words, format_time_words
    from .slots import to_local
    groups = []
    for slot in slots:
        local = to_local(slot.start)
        label = format_date_words(local.date(), language)
        if not groups or groups[-1]['label'] != label:
            groups.append({'label': label, 'slots': []})
        groups[-1]['slots'].append({
                'value': slot.start.strftime('%Y-%m-%dT%H:%M:%SZ'),
                'time': format_time_words(local.time(), language),
                })
    return groups


@portal_route('/balie/verzetten', methods=['GET', 'POST'])
def move(portal):
    "I cannot come: pick another moment, or cancel."
    Appointment = portal.pool.get('balie.appointment')
    if not change_allowed(portal):
        return portal.page('move', allowed=False, groups=[],
            **portal.appointment_values())
    error = None
    chosen = None
    if portal.request.method == 'POST':
        chosen = portal.form().get('slot')
        if portal.preview:
            error = gettext('digitale_balie.msg_portal_preview_nothing_saved')
        elif not chosen:
            error = gettext('digitale_balie.msg_portal_choose_slot')
        else:
            appointment = Appointment(portal.appointment.id)
            try:
                Appointment.reschedule(appointment, chosen)
            except (SlotTakenError, SlotUnavailableError):
                Transaction().rollback()
                error = gettext('digitale_balie.msg_portal_slot_gone')
            else:
                Appointment.notify_clerk(appointment, 'moved')
                return portal.redirect('/balie?done=moved')
    groups = slot_groups(offered_slots(portal), portal.language)
    return portal.page('move', allowed=True, groups=groups, error=error,
        chosen=chosen, status=HTTPStatus.OK if not error
        else HTTPStatus.CONFLICT, **portal.appointment_values())


@portal_route('/balie/annuleren', methods=['GET', 'POST'])
def cancel(portal):
    "Cancel the appointment, after one clear question."
    Appointment = portal.pool.get('balie.appointment')
    if not change_allowed(portal):
        return portal.redirect('/balie/verzetten')
    if portal.request.method == 'POST':
        if portal.preview:
            return portal.page('cancel',
                error=gettext(
                    'digitale_balie.msg_portal_preview_nothing_saved'),
                **portal.appointment_values())
        appointment = Appointment(portal.appointment.id)
        Appointment.cancel_by_citizen([appointment])
        # cancelling revokes the links: the session ends with it
        return portal.page('cancelled', session=None, csrf='',
            show_language_switch=False, **portal.appointment_values())
    return portal.page('cancel', error=None, **portal.appointment_values())


@portal_route('/balie/theme.css', session=False)
def theme(portal):
    "The municipality's colour, from the configuration."
    colour = (portal.pool.get('balie.configuration').portal_settings()
        .portal_colour or '#0b4ea2')
    response = Response(':root { --brand: %s; }\n' % colour,
        content_type='text/css; charset=utf-8')
    response.headers['Cache-Control'] = 'public, max-age=300'
    response.headers['X-Content-Type-Options'] = 'nosniff'
    return response


@portal_route('/balie/logo', session=False)
def logo(portal):
    "The municipality's logo, from the configuration."
    config = portal.config
    if not config.portal_logo:
        return portal.secure(Response(status=HTTPStatus.NOT_FOUND))
    response = Response(bytes(config.portal_logo),
        content_type=config.portal_logo_type())
    response.headers['Cache-Control'] = 'public, max-age=300'
    response.headers['X-Content-Type-Options'] = 'nosniff'
    return response
