# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The iCalendar invitation attached to appointment e-mails.

An appointment travels as an iTIP message (RFC 5546): METHOD:REQUEST for the
first invitation and for every change, METHOD:CANCEL when it is cancelled.
Calendar clients recognise the appointment by its UID and keep the version
with the highest SEQUENCE, so the caller keeps the UID stable and raises the
SEQUENCE on each change.  Nothing here touches the database.
"""
import datetime as dt

from icalendar import (
    Alarm, Calendar, Event, Timezone, TimezoneDaylight, TimezoneStandard,
    vCalAddress)

from .slots import TIMEZONE

PRODID = '-//Digitale Balie//NONSGML Digitale Balie//NL'
REQUEST = 'REQUEST'
CANCEL = 'CANCEL'
PUBLISH = 'PUBLISH'
FILENAMES = {
    REQUEST: 'invite.ics',
    PUBLISH: 'afspraak.ics',
    CANCEL: 'cancel.ics',
    }


def _method(method):
    method = (method or '').upper()
    if method not in FILENAMES:
        raise ValueError("Unsupported iCalendar method: %r" % method)
    return method


def _utc(value):
    # Tryton stores naive UTC; an aware value is converted rather than trusted
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


def _address(email, name, **parameters):
    address = vCalAddress('mailto:%s' % email)
    if name:
        address.params['CN'] = name
    address.params.update(parameters)
    return address


def ical_filename(method):
    "Return the file name of the calendar attachment for the method."
    return FILENAMES[_method(method)]



def appointment_calendar(
        uid, sequence, method, start, end, summary, description,
        location_url, organizer_email, organizer_name,
        attendee_email=None, attendee_name=None,
        alarm_before=dt.timedelta(hours=1), language='nl', stamp=None):
    """Return the iCalendar bytes of an appointment invitation.

    method is 'REQUEST' (invitation or update) or 'CANCEL'.  start, end and
    stamp are naive UTC datetimes as Tryton stores them; stamp defaults to
    now.  The event is written in Europe/Brussels time with its VTIMEZONE.
    location_url is the citizen's personal link, used as URL and LOCATION
    because a video call has no address.  alarm_before=None sends no
    reminder; a cancellation never carries one.  language is a Tryton
    language code ('nl', 'fr_BE') tagging the summary and description.
    """
    method = _method(method)
    if end <= start:
        raise ValueError("An appointment must end after it starts.")
    language = language.replace('_', '-') if language else None
    text_parameters = {'LANGUAGE': language} if language else {}

    event = Event()
    event.add('uid', uid)
    event.add('sequence', sequence)
    event.add('dtstamp', _utc(stamp or dt.datetime.now(dt.timezone.utc)))
    # Local time with a TZID, not UTC, so clients show the municipality's
    # wall-clock time and keep it right across the DST change
    event.add('dtstart', _utc(start).astimezone(TIMEZONE))
    event.add('dtend', _utc(end).astimezone(TIMEZONE))
    event.add('summary', summary, parameters=text_parameters)
    if description:
        event.add('description', description, parameters=text_parameters)
    if location_url:
        event.add('location', location_url)
        event.add('url', location_url)
    event.add('organizer', _address(organizer_email, organizer_name))
    if attendee_email:
        # RSVP=FALSE: replies go nowhere, the citizen changes the appointment
        # through the portal
        event.add('attendee', _address(attendee_email, attendee_name,
                ROLE='REQ-PARTICIPANT', PARTSTAT='NEEDS-ACTION',
                RSVP='FALSE'))
    if method == CANCEL:
        event.add('status', 'CANCELLED')
    else:
        event.add('status', 'CONFIRMED')
        if alarm_before is not None:
            alarm = Alarm()
            alarm.add('action', 'DISPLAY')
            alarm.add('trigger', -alarm_before)
            alarm.add('description', summary)
            event.add_component(alarm)

    calendar = Calendar()
    calendar.add('version', '2.0')
    calendar.add('prodid', PRODID)
    calendar.add('method', method)
    calendar.add_component(brussels_timezone())
    calendar.add_component(event)
    return calendar.to_ical()


def brussels_timezone():
    """Europe/Brussels as yearly rules (EU summer time: last Sunday of March
    and of October at 01:00 UTC).  The library would write a list of dates
    (RDATE), which desktop Outlook is reported to misread."""
    timezone = Timezone()
    timezone.add('tzid', 'Europe/Brussels')
    for kind, name, start, month, offset_from, offset_to in [
            (TimezoneDaylight, 'CEST', dt.datetime(1981, 3, 29, 2), 3,
                dt.timedelta(hours=1), dt.timedelta(hours=2)),
            (TimezoneStandard, 'CET', dt.datetime(1996, 10, 27, 3), 10,
                dt.timedelta(hours=2), dt.timedelta(hours=1)),
            ]:
        component = kind()
        component.add('tzname', name)
        component.add('dtstart', start)
        component.add('tzoffsetfrom', offset_from)
        component.add('tzoffsetto', offset_to)
        component.add('rrule',
            {'freq': 'yearly', 'bymonth': month, 'byday': '-1su'})
        timezone.add_component(component)
    return timezone
