# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Booking on the municipality's website: /boeken.

The pages work without cookies, so that they can be shown in a frame of the
municipality's website (frame-ancestors from the configuration): the form
carries a signed token, and the request's key travels in the code form."""
import datetime as dt
import logging
import time
import unicodedata

import phonenumbers

from trytond import config
from trytond.i18n import gettext
from trytond.protocols.wrappers import HTTPStatus
from trytond.transaction import Transaction

from . import clock
from . import slots as engine
from .channels import PermanentError, TemporaryError
from .exceptions import (
    CitizenValidationError, SlotTakenError, SlotUnavailableError)
from .party import parse_email, parse_phone
from . import ratelimit
from .ratelimit import StoreUnavailable
from .routes import slot_groups
from .web import COOKIE, RateLimiter, portal_route, session_max_age

logger = logging.getLogger(__name__)

# per client address, and per e-mail address or phone number
BOOKING_IP_LIMITER = RateLimiter('booking_ip', 10, 3600, sends=True)
BOOKING_CONTACT_LIMITER = RateLimiter('booking_contact', 3, 3600, sends=True)
CODE_IP_LIMITER = RateLimiter('code_ip', 20, 600)
# SMS pumping: per destination number a day, per block of 1000 numbers
# (the number without its last three digits) an hour
SMS_NUMBER_LIMITER = RateLimiter('sms_number',
    config.getint('balie', 'sms_number_limit', default=5), 86400,
    sends=True)
SMS_PREFIX_LIMITER = RateLimiter('sms_prefix',
    config.getint('balie', 'sms_prefix_limit', default=10), 3600,
    sends=True)
DAYS_SHOWN = 5
NAME_MAX = 100


def reset_limits():
    for limiter in [BOOKING_IP_LIMITER, BOOKING_CONTACT_LIMITER,
            CODE_IP_LIMITER, SMS_NUMBER_LIMITER, SMS_PREFIX_LIMITER]:
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
    if values['code_channel'] == 'sms':
        try:
            error = sms_refusal(service, values)
        except StoreUnavailable:
            error = gettext('digitale_balie.msg_booking_code_not_sent')
        if error:
            return service_page(portal, service, values, {'mobile': error},
                HTTPStatus.UNPROCESSABLE_ENTITY)
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


def sms_regions():
    "The regions whose mobile numbers get a code by SMS: [balie] sms_regions"
    return {r.strip().upper() for r in config.get(
                'balie', 'sms_regions', default='BE').split(',')
        if r.strip()}


def sms_budget():
    "The SMS parts a day that online booking codes may use"
    return config.getint('balie', 'sms_daily_budget', default=500)


def sms_refusal(service, values):
    """Why no code goes by SMS to values['mobile'] (SMS pumping rules), or
    None; the daily budget switches to e-mail when there is an address."""
    number = values['mobile']
    try:
        parsed = phonenumbers.parse(number)
    except phonenumbers.NumberParseException:
        parsed = None
    if (parsed is None
            or phonenumbers.region_code_for_number(parsed)
            not in sms_regions()
            or phonenumbers.number_type(parsed) not in {
                phonenumbers.PhoneNumberType.MOBILE,
                phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}):
        logger.warning("booking code by SMS refused by rule: %s",
            number[:4])
        return gettext('digitale_balie.msg_booking_sms_refused')
    if (SMS_NUMBER_LIMITER.hit(number)
            or SMS_PREFIX_LIMITER.hit(number[:-3])):
        logger.warning("booking code by SMS refused by limit: %s",
            number[:-3])
        return gettext('digitale_balie.msg_booking_sms_limit')
    budget = sms_budget()
    if budget:
        local = engine.to_local(clock.now())
        midnight = dt.datetime.combine(
            local.date() + dt.timedelta(days=1), dt.time())
        window = max(int((midnight - local.replace(tzinfo=None))
                .total_seconds()), 1)
        count, _ = ratelimit.hit(ratelimit.store_key('sms_budget',
                '%s:%s' % (service.company.id, local.date().isoformat())),
            window, time.time())
        if count > budget:
            if count == budget + 1:
                logger.error("the daily SMS budget (%s parts) of online "
                    "booking codes is used up: codes go by e-mail", budget)
            if values['email']:
                values['code_channel'] = 'email'
                return None
            return gettext('digitale_balie.msg_booking_sms_budget')
    return None


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
