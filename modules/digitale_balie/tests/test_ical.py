# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"The appointment invitation as iCalendar: no database needed."
import datetime as dt
import unittest

from icalendar import Calendar

from digitale_balie.ical import (
    appointment_calendar, ical_filename)
from digitale_balie.tests.tools import no_database

UTC = dt.timezone.utc
LINK = 'https://balie.example.be/afspraak/3f9c2e7a-personal-token'
# Tuesday 8 December 2026, 10:30 in Brussels (CET, UTC+1)
WINTER = dt.datetime(2026, 12, 8, 9, 30)
# Tuesday 8 June 2027, 10:30 in Brussels (CEST, UTC+2)
SUMMER = dt.datetime(2027, 6, 8, 8, 30)
HALF_HOUR = dt.timedelta(minutes=30)


def invitation(method='REQUEST', start=WINTER, **values):
    arguments = dict(
        uid='balie-appointment-42@balie.example.be',
        sequence=3,
        method=method,
        start=start,
        end=start + HALF_HOUR,
        summary="Afspraak: identiteitskaart",
        description="Uw videogesprek met de gemeente.\nLink: %s" % LINK,
        location_url=LINK,
        organizer_email='balie@gemeente.example.be',
        organizer_name="Gemeente Voorbeeld",
        attendee_email='zoe.peeters@example.be',
        attendee_name="Zoë Peeters",
        stamp=dt.datetime(2026, 11, 20, 14, 5, 7),
        )
    arguments.update(values)
    return appointment_calendar(**arguments)


def event_of(data):
    calendar = Calendar.from_ical(data)
    events = calendar.walk('VEVENT')
    assert len(events) == 1
    return calendar, events[0]


@no_database
class ICalendarTestCase(unittest.TestCase):
    "Test the appointment invitation"

    def test_request_identifies_the_appointment(self):
        "Test that an invitation carries method, UID, sequence and stamp"
        calendar, event = event_of(invitation())
        self.assertEqual(str(calendar['METHOD']), 'REQUEST')
        self.assertEqual(str(calendar['VERSION']), '2.0')
        self.assertEqual(str(calendar['PRODID']),
            '-//Digitale Balie//NONSGML Digitale Balie//NL')
        self.assertEqual(str(event['UID']),
            'balie-appointment-42@balie.example.be')
        self.assertEqual(event['SEQUENCE'], 3)
        self.assertEqual(event['DTSTAMP'].dt,
            dt.datetime(2026, 11, 20, 14, 5, 7, tzinfo=UTC))
        self.assertEqual(str(event['STATUS']), 'CONFIRMED')

    def test_stamp_defaults_to_now_in_utc(self):
        "Test that the stamp is the current UTC time when none is given"
        before = dt.datetime.now(UTC).replace(microsecond=0)
        _, event = event_of(invitation(stamp=None))
        after = dt.datetime.now(UTC)
        stamp = event['DTSTAMP'].dt
        self.assertEqual(stamp.utcoffset(), dt.timedelta(0))
        self.assertTrue(before <= stamp <= after)

    def check_local_time(self, start, local_date):
        data = invitation(start=start)
        _, event = event_of(data)
        for name, value in [
                ('DTSTART', start), ('DTEND', start + HALF_HOUR)]:
            with self.subTest(property=name):
                moment = event[name].dt
                self.assertIsNotNone(moment.tzinfo)
                self.assertEqual(moment, value.replace(tzinfo=UTC))
                self.assertEqual(
                    event[name].params['TZID'], 'Europe/Brussels')
                self.assertEqual(moment.tzinfo.key, 'Europe/Brussels')
        local = event['DTSTART'].dt
        self.assertEqual((local.date(), local.hour, local.minute),
            (local_date, 10, 30))
        self.assertIn(b'DTSTART;TZID=Europe/Brussels:%sT103000'
            % local_date.strftime('%Y%m%d').encode(), data)

    def test_winter_appointment_is_in_brussels_time(self):
        "Test that a winter appointment is written at 10:30 CET"
        self.check_local_time(WINTER, dt.date(2026, 12, 8))

    def test_summer_appointment_is_in_brussels_time(self):
        "Test that a summer appointment is written at 10:30 CEST"
        self.check_local_time(SUMMER, dt.date(2027, 6, 8))

    def test_vtimezone_describes_brussels(self):
        "Test that the VTIMEZONE alone gives the right offset on the day"
        for start, offset in [(WINTER, 1), (SUMMER, 2)]:
            with self.subTest(start=start):
                calendar, _ = event_of(invitation(start=start))
                timezones = calendar.walk('VTIMEZONE')
                self.assertEqual(len(timezones), 1)
                timezone, = timezones
                self.assertEqual(timezone.tz_name, 'Europe/Brussels')
                self.assertTrue(timezone.standard)
                self.assertTrue(timezone.daylight)
                # Build the zone from the component itself, as a client
                # without the tz database would, instead of looking it up
                zone = timezone.to_tz(lookup_tzid=False)
                moment = start.replace(tzinfo=UTC).astimezone(zone)
                self.assertEqual(
                    moment.utcoffset(), dt.timedelta(hours=offset))
                self.assertEqual((moment.hour, moment.minute), (10, 30))

    def test_vtimezone_uses_yearly_rules(self):
        "Test that summer time is given as yearly rules, as Outlook needs"
        data = invitation(start=SUMMER)
        self.assertIn(b'RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3', data)
        self.assertIn(b'RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10', data)
        self.assertNotIn(b'RDATE', data)
        # a far future appointment is still in summer time
        calendar, _ = event_of(invitation(
                start=dt.datetime(2040, 7, 3, 8, 30),
                end=dt.datetime(2040, 7, 3, 9)))
        zone = calendar.walk('VTIMEZONE')[0].to_tz(lookup_tzid=False)
        moment = dt.datetime(2040, 7, 3, 8, 30, tzinfo=UTC).astimezone(zone)
        self.assertEqual(moment.utcoffset(), dt.timedelta(hours=2))

    def test_vtimezone_comes_before_the_event(self):
        "Test that the VTIMEZONE is defined before the event uses it"
        data = invitation()
        self.assertLess(
            data.index(b'BEGIN:VTIMEZONE'), data.index(b'BEGIN:VEVENT'))

    def test_request_reminds_one_hour_before(self):
        "Test that an invitation has a display alarm an hour before"
        _, event = event_of(invitation())
        alarm, = event.walk('VALARM')
        self.assertEqual(str(alarm['ACTION']), 'DISPLAY')
        self.assertEqual(alarm['TRIGGER'].dt, -dt.timedelta(hours=1))
        self.assertEqual(str(alarm['DESCRIPTION']),
            "Afspraak: identiteitskaart")
        self.assertIn(b'TRIGGER:-PT1H\r\n', invitation())

    def test_reminder_can_be_left_out(self):
        "Test that no alarm is sent when no reminder is wanted"
        _, event = event_of(invitation(alarm_before=None))
        self.assertEqual(event.walk('VALARM'), [])

    def test_cancel_is_cancelled_without_alarm(self):
        "Test that a cancellation has STATUS:CANCELLED and no alarm"
        calendar, event = event_of(invitation(method='CANCEL', sequence=4))
        self.assertEqual(str(calendar['METHOD']), 'CANCEL')
        self.assertEqual(str(event['STATUS']), 'CANCELLED')
        self.assertEqual(str(event['UID']),
            'balie-appointment-42@balie.example.be')
        self.assertEqual(event['SEQUENCE'], 4)
        self.assertEqual(event.walk('VALARM'), [])
        self.assertNotIn(b'VALARM', invitation(method='CANCEL'))

    def test_organizer_and_attendee_are_mail_addresses(self):
        "Test that organizer and attendee are mailto addresses with names"
        _, event = event_of(invitation())
        organizer = event['ORGANIZER']
        self.assertEqual(str(organizer), 'mailto:balie@gemeente.example.be')
        self.assertEqual(organizer.params['CN'], "Gemeente Voorbeeld")
        attendee = event['ATTENDEE']
        self.assertEqual(str(attendee), 'mailto:zoe.peeters@example.be')
        self.assertEqual(attendee.params['CN'], "Zoë Peeters")
        self.assertEqual(attendee.params['ROLE'], 'REQ-PARTICIPANT')
        self.assertEqual(attendee.params['PARTSTAT'], 'NEEDS-ACTION')
        self.assertEqual(attendee.params['RSVP'], 'FALSE')

    def test_no_attendee_without_address(self):
        "Test that no attendee is written when there is no e-mail address"
        _, event = event_of(
            invitation(attendee_email=None, attendee_name=None))
        self.assertNotIn('ATTENDEE', event)
        self.assertIn('ORGANIZER', event)

    def test_personal_link_is_url_location_and_description(self):
        "Test that the personal link is the URL, location and in the text"
        _, event = event_of(invitation())
        self.assertEqual(str(event['URL']), LINK)
        self.assertEqual(str(event['LOCATION']), LINK)
        self.assertIn(LINK, str(event['DESCRIPTION']))
        self.assertEqual(str(event['DESCRIPTION']),
            "Uw videogesprek met de gemeente.\nLink: %s" % LINK)

    def test_text_is_tagged_with_language(self):
        "Test that summary and description carry the language as a tag"
        _, event = event_of(invitation())
        self.assertEqual(event['SUMMARY'].params['LANGUAGE'], 'nl')
        self.assertEqual(event['DESCRIPTION'].params['LANGUAGE'], 'nl')
        _, event = event_of(invitation(language='fr_BE'))
        self.assertEqual(event['SUMMARY'].params['LANGUAGE'], 'fr-BE')
        _, event = event_of(invitation(language=None))
        self.assertNotIn('LANGUAGE', event['SUMMARY'].params)

    def test_non_ascii_text_round_trips(self):
        "Test that accented letters and the euro sign survive"
        summary = "Afspraak: attest – Zoë en Hélène"
        description = "Retributie: € 12,50. Café naïef.\nLink: %s" % LINK
        data = invitation(summary=summary, description=description,
            organizer_name="Dienst Burgerzaken – Één loket")
        self.assertIn('€'.encode('utf-8'), data)
        _, event = event_of(data)
        self.assertEqual(str(event['SUMMARY']), summary)
        self.assertEqual(str(event['DESCRIPTION']), description)
        self.assertEqual(event['ORGANIZER'].params['CN'],
            "Dienst Burgerzaken – Één loket")

    def test_lines_end_in_crlf_and_are_folded(self):
        "Test that lines end in CRLF and none is longer than 75 octets"
        description = ("Een lange uitleg met é, ë en € die zeker langer "
            "is dan vijfenzeventig octetten op één regel. " * 4
            + LINK)
        data = invitation(description=description)
        self.assertTrue(data.endswith(b'\r\n'))
        self.assertEqual(data.count(b'\n'), data.count(b'\r\n'))
        lines = data.split(b'\r\n')[:-1]
        for line in lines:
            self.assertLessEqual(len(line), 75, line)
            # Folding must not cut a UTF-8 character in two
            line.decode('utf-8')
        self.assertTrue(any(line.startswith(b' ') for line in lines))
        _, event = event_of(data)
        self.assertEqual(str(event['DESCRIPTION']), description)

    def test_end_must_follow_start(self):
        "Test that an appointment ending before it starts is refused"
        with self.assertRaises(ValueError):
            invitation(end=WINTER)

    def test_unknown_method_is_refused(self):
        "Test that only REQUEST, CANCEL and PUBLISH are produced"
        with self.assertRaises(ValueError):
            invitation(method='REPLY')
        with self.assertRaises(ValueError):
            ical_filename('COUNTER')
        self.assertEqual(ical_filename('publish'), 'afspraak.ics')

    def test_attachment_name_follows_method(self):
        "Test that the attachment name follows the method"
        self.assertEqual(ical_filename('REQUEST'), 'invite.ics')
        self.assertEqual(ical_filename('cancel'), 'cancel.ics')
