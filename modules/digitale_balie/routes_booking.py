# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Booking on the municipality's website: /boeken.

The pages work without cookies, so that they can be shown in a frame of the
municipality's website (frame-ancestors from the configuration): the form
carries a signed token, and the request's key travels in the code form."""
import datetime as dt
import logging
import unicodedata

from trytond.i18n import gettext
from trytond.protocols.wrappers import HTTPStatus
from trytond.transaction import Transaction

from . import clock
from . import slots as engine
from .channels import PermanentError, TemporaryError
from .exceptions import (
    CitizenValidationError, SlotTakenError, SlotUnavailableError)
from .party import parse_email, parse_phone
from .ratelimit import StoreUnavailable
from .routes import slot_groups
from .web import COOKIE, RateLimiter, portal_route, session_max_age

logger = logging.getLogger(__name__)

# per client address, and per e-mail address or phone number
BOOKING_IP_LIMITER = RateLimiter('booking_ip', 10, 3600, sends=True)
BOOKING_CONTACT_LIMITER = RateLimiter('booking_contact', 3, 3600, sends=True)
CODE_IP_LIMITER = RateLimiter('code_ip', 20, 600)
DAYS_SHOWN = 5
NAME_MAX = 100


def reset_limits():
    for limiter in [BOOKING_IP_LIMITER, BOOKING_CONTACT_LIMITER,
            CODE_IP_LIMITER]:
        limiter.reset()


def framed(portal):
    "Let the municipality's website show the booking pages in a frame."
    portal.frame_ancestors = portal.config.embed_origins() or None
    return portal


def online_services(portal):
    Service = portal.pool.get('balie.service')
    return Service.search([
            ('online_booking', '=', True),
            ('active', '=', True),
            ], order=[('name', 'ASC')])


def find_service(portal, code):
    for service in online_services(portal):
        if service.code == code:
            return service
    return None


@portal_route('/boeken', session=False)
def services(portal):
    "The services a citizen can book online."
    framed(portal)
    return portal.page('book_services', services=online_services(portal))


def slot_days(portal, service, first_day):
    "The next days with free slots from first_day, grouped per day."
    Appointment = portal.pool.get('balie.appointment')
    config = portal.config
    today = engine.to_local(clock.now()).date()
    horizon = today + dt.timedelta(days=config.booking_horizon or 30)
    day = max(first_day, today)
    slots = []
    while day <= horizon:
        last = min(day + dt.timedelta(days=13), horizon)
        found = Appointment._free_slots(service, day, last)
        # one clerk per time is enough for the citizen
        seen = set()
        for slot in found:
            if slot.start not in seen:
                seen.add(slot.start)
                slots.append(slot)
        days = {engine.to_local(s.start).date() for s in slots}
        if len(days) >= DAYS_SHOWN:
            break
        day = last + dt.timedelta(days=1)
    keep = sorted({engine.to_local(s.start).date() for s in slots})[
        :DAYS_SHOWN]
    slots = [s for s in slots if engine.to_local(s.start).date() in keep]
    groups = slot_groups(slots, portal.language)
    later = (keep[-1] + dt.timedelta(days=1)) if keep else None
    return groups, later


def service_page(portal, service, values=None, errors=None,
        status=HTTPStatus.OK):
    values = values or {}
    first_day = engine.to_local(clock.now()).date()
    try:
        if portal.request.args.get('vanaf'):
            first_day = dt.date.fromisoformat(portal.request.args['vanaf'])
    except ValueError:
        pass
    groups, later = slot_days(portal, service, first_day)
    return portal.page('book_service', service=service, groups=groups,
        later=later.isoformat() if later else None,
        values=values, errors=errors or {},
        consent=portal.config.booking_consent or '', status=status)


@portal_route('/boeken/<code>', methods=['GET', 'POST'], session=False,
    readonly=False)
def book_service(portal, code):
    "Pick a slot and say how we reach you; a code goes there."
    Request = portal.pool.get('balie.booking.request')
    framed(portal)
    with Transaction().set_context(language=portal.language):
        service = find_service(portal, code)
    if service is None:
        return portal.not_found()
    if portal.request.method != 'POST':
        return service_page(portal, service)

    form = portal.form()
    values = {k: (form.get(k) or '').strip()[:200] for k in [
            'slot', 'name', 'email', 'mobile', 'code_channel']}
    values['consent'] = bool(form.get('consent'))
    errors = validate(values)
    if errors:
        return service_page(portal, service, values, errors,
            HTTPStatus.UNPROCESSABLE_ENTITY)

    contact = values['email'] if values['code_channel'] == 'email' \
        else values['mobile']
    try:
        wait = (BOOKING_IP_LIMITER.hit(portal.remote_addr)
            or BOOKING_CONTACT_LIMITER.hit(contact.lower()))
    except StoreUnavailable:
        # no code without a count: the citizen's input stays in the form
        return service_page(portal, service, values,
            {'email' if values['code_channel'] == 'email'
                else 'mobile': gettext(
                    'digitale_balie.msg_booking_code_not_sent')},
            HTTPStatus.SERVICE_UNAVAILABLE)
    if wait or Request.open_for(values['email'], values['mobile']) >= (
            portal.config.booking_open_limit):
        logger.warning("online booking refused: too many from %s",
            portal.remote_addr)
        return portal.too_many(wait or 600)
    try:
        key = Request.hold(service, values['slot'], values['name'],
            values['email'], values['mobile'], portal.language,
            values['code_channel'])
    except (SlotUnavailableError, SlotTakenError):
        Transaction().rollback()
        values['slot'] = ''
        return service_page(portal, service, values,
            {'slot': gettext('digitale_balie.msg_portal_slot_gone')},
            HTTPStatus.CONFLICT)
    except (TemporaryError, PermanentError) as exception:
        Transaction().rollback()
        logger.warning("booking code not sent: %s", exception)
        field = values['code_channel'] if values['code_channel'] == 'email' \
            else 'mobile'
        return service_page(portal, service, values,
            {field: gettext('digitale_balie.msg_booking_code_not_sent')},
            HTTPStatus.SERVICE_UNAVAILABLE)
    return code_page(portal, service, key, values)


def validate(values):
    "Check what the citizen typed; errors per field, in their language."
    errors = {}
    # one line without control characters: the name goes into the code's
    # e-mail header (a line break there was an error page) and the party
    values['name'] = ' '.join(''.join(
            ' ' if unicodedata.category(c) == 'Cc' else c
            for c in values['name']).split())
    if not values['slot']:
        errors['slot'] = gettext('digitale_balie.msg_portal_choose_slot')
    if not values['name'] or len(values['name']) > NAME_MAX:
        errors['name'] = gettext('digitale_balie.msg_booking_name_missing')
    if values['email']:
        try:
            values['email'] = parse_email(values['email'])
        except CitizenValidationError:
            errors['email'] = gettext(
                'digitale_balie.msg_booking_email_invalid')
    if values['mobile']:
        try:
            number, mobile = parse_phone(values['mobile'])
        except CitizenValidationError:
            mobile = False
        if not mobile:
            errors['mobile'] = gettext(
                'digitale_balie.msg_booking_mobile_invalid')
        else:
            values['mobile'] = number
    if not values['email'] and not values['mobile']:
        errors['email'] = gettext('digitale_balie.msg_booking_contact_missing')
    if values['code_channel'] not in {'email', 'sms'}:
        values['code_channel'] = 'email' if values['email'] else 'sms'
    if values['code_channel'] == 'email' and not values['email'] \
            and 'email' not in errors:
        errors['email'] = gettext('digitale_balie.msg_booking_email_for_code')
    if values['code_channel'] == 'sms' and not values['mobile'] \
            and 'mobile' not in errors:
        errors['mobile'] = gettext(
            'digitale_balie.msg_booking_mobile_for_code')
    if not values['consent']:
        errors['consent'] = gettext('digitale_balie.msg_booking_consent')
    return errors


def code_page(portal, service, key, values, error=None,
        status=HTTPStatus.OK):
    return portal.page('book_code', service=service, key=key,
        values=values, error=error, status=status)


@portal_route('/boeken/bevestigen', methods=['POST'], session=False,
    readonly=False)
def confirm(portal):
    "The code: the right one in time books the appointment."
    pool = portal.pool
    Request = pool.get('balie.booking.request')
    Token = pool.get('balie.access.token')
    Session = pool.get('balie.portal.session')
    framed(portal)
    form = portal.form()
    key = form.get('key') or ''
    wait = CODE_IP_LIMITER.hit(portal.remote_addr)
    if wait:
        return portal.too_many(wait)
    request = Request.find(key)
    if request is None:
        return portal.not_found()
    service = request.service
    values = {'email': request.email, 'mobile': request.mobile,
        'code_channel': request.code_channel}
    outcome = request.check_code(key, form.get('code'))
    if outcome == 'wrong':
        return code_page(portal, service, key, values,
            error=gettext('digitale_balie.msg_booking_code_wrong'),
            status=HTTPStatus.UNPROCESSABLE_ENTITY)
    if outcome != 'ok':
        return portal.page('book_expired', service=service,
            status=HTTPStatus.GONE)
    try:
        appointment = request.confirm()
    except (SlotUnavailableError, SlotTakenError):
        Transaction().rollback()
        return portal.page('book_expired', service=service,
            status=HTTPStatus.CONFLICT)
    token, raw = Token.generate(appointment, 'booking')
    Token.use(raw)
    session_key = Session.open(token)
    link = portal.config.personal_url(raw)
    response = portal.page('book_done', service=service, link=link,
        **appointment.message_values(portal.language))
    response.set_cookie(COOKIE, session_key, max_age=session_max_age(token),
        path='/', secure=True, httponly=True,
        samesite='None' if portal.frame_ancestors else 'Lax')
    return response
