# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"The slot engine on plain data: no database needed."
import datetime as dt
import unittest

from digitale_balie.slots import (
    Block, BusyCalendar, free_slots, local_day_bounds, merge_intervals,
    to_local, to_utc)
from digitale_balie.tests.tools import no_database

MIN = dt.timedelta(minutes=1)
SUNDAY_SPRING = dt.date(2027, 3, 28)
SUNDAY_AUTUMN = dt.date(2027, 10, 31)


def block(weekday, start, end, employee=1, valid_from=None, valid_to=None):
    return Block(employee, weekday, dt.time(*start), dt.time(*end),
        valid_from, valid_to)


def day_window(date):
    return local_day_bounds(date)


@no_database
class SlotEngineTestCase(unittest.TestCase):
    "Test the slot engine"

    def slots(self, blocks, date, busy=None, closing=(), duration=30,
            buffer=0, window=None):
        start, end = window or day_window(date)
        return free_slots(blocks, busy or {}, set(closing), start, end,
            duration * MIN, buffer * MIN)

    def test_local_morning_is_utc(self):
        "Test that a Tuesday morning in winter is one hour ahead of UTC"
        tuesday = dt.date(2026, 12, 8)
        slots = self.slots([block(1, (9, 0), (10, 0))], tuesday)
        self.assertEqual(
            [s.start for s in slots],
            [dt.datetime(2026, 12, 8, 8, 0), dt.datetime(2026, 12, 8, 8, 30)])
        self.assertEqual(to_local(slots[0].start).hour, 9)

    def test_summer_time_is_two_hours_ahead(self):
        "Test that a summer morning is two hours ahead of UTC"
        tuesday = dt.date(2027, 6, 8)
        slots = self.slots([block(1, (9, 0), (9, 30))], tuesday)
        self.assertEqual(slots[0].start, dt.datetime(2027, 6, 8, 7, 0))

    def test_spring_forward_has_no_phantom_slots(self):
        "Test that the missing hour of the spring DST Sunday has no slot"
        slots = self.slots([block(6, (1, 0), (4, 0))], SUNDAY_SPRING)
        # 01:00 CET (00:00 UTC) to 04:00 CEST (02:00 UTC): two real hours
        self.assertEqual(len(slots), 4)
        local = [to_local(s.start).strftime('%H:%M') for s in slots]
        self.assertEqual(local, ['01:00', '01:30', '03:00', '03:30'])
        for slot in slots:
            self.assertEqual(slot.end - slot.start, 30 * MIN)

    def test_fall_back_loses_no_slots(self):
        "Test that the repeated hour of the autumn DST Sunday is bookable"
        slots = self.slots([block(6, (1, 0), (4, 0))], SUNDAY_AUTUMN)
        # 01:00 CEST (23:00 UTC) to 04:00 CET (03:00 UTC): four real hours
        self.assertEqual(len(slots), 8)
        starts = [s.start for s in slots]
        self.assertEqual(len(set(starts)), 8)
        local = [to_local(s.start).strftime('%H:%M') for s in slots]
        self.assertEqual(local.count('02:00'), 2)
        self.assertEqual(local.count('02:30'), 2)

    def test_adjacent_blocks_equal_the_merged_block_on_dst_sundays(self):
        "Test that blocks split in the gap or the fold give the same slots"
        for date in [SUNDAY_SPRING, SUNDAY_AUTUMN]:
            merged = self.slots([block(6, (1, 0), (4, 0))], date)
            for split in [(2, 0), (2, 30), (3, 0), (1, 30), (3, 30)]:
                with self.subTest(date=date, split=split):
                    adjacent = self.slots([block(6, (1, 0), split),
                            block(6, split, (4, 0))], date)
                    self.assertEqual(adjacent, merged)
        # the case: 01:00-02:30 + 02:30-04:00 in spring
        slots = self.slots([block(6, (1, 0), (2, 30)),
                block(6, (2, 30), (4, 0))], SUNDAY_SPRING)
        self.assertEqual([to_local(s.start).strftime('%H:%M')
                for s in slots], ['01:00', '01:30', '03:00', '03:30'])

    def test_block_edges_in_the_gap_and_the_fold(self):
        "Test blocks that start or end in the spring gap or autumn fold"
        def local(slots):
            return [to_local(s.start).strftime('%H:%M%z') for s in slots]
        # starts in the gap: from the jump, 03:00 CEST
        self.assertEqual(local(self.slots([block(6, (2, 30), (4, 0))],
                    SUNDAY_SPRING)), ['03:00+0200', '03:30+0200'])
        # ends in the gap: until the jump
        self.assertEqual(local(self.slots([block(6, (1, 0), (2, 30))],
                    SUNDAY_SPRING)), ['01:00+0100', '01:30+0100'])
        # starts in the fold: its first occurrence, the repeated hour too
        self.assertEqual(local(self.slots([block(6, (2, 0), (3, 0))],
                    SUNDAY_AUTUMN)), ['02:00+0200', '02:30+0200',
                '02:00+0100', '02:30+0100'])
        # ends in the fold: when the clock first shows it
        self.assertEqual(local(self.slots([block(6, (1, 0), (2, 30))],
                    SUNDAY_AUTUMN)), ['01:00+0200', '01:30+0200',
                '02:00+0200'])

    def test_dst_sundays_office_hours(self):
        "Test that office hours on both DST Sundays keep their six slots"
        for date, utc_hour in [(SUNDAY_SPRING, 7), (SUNDAY_AUTUMN, 8)]:
            with self.subTest(date=date):
                slots = self.slots([block(6, (9, 0), (12, 0))], date)
                self.assertEqual(len(slots), 6)
                self.assertEqual(slots[0].start,
                    dt.datetime.combine(date, dt.time(utc_hour)))

    def test_slots_fit_inside_block(self):
        "Test that no slot runs past the end of the opening hours"
        slots = self.slots([block(1, (9, 0), (10, 15))], dt.date(2026, 12, 8),
            duration=30)
        self.assertEqual(len(slots), 2)
        self.assertLessEqual(slots[-1].end, dt.datetime(2026, 12, 8, 9, 15))

    def test_buffer_spaces_slots(self):
        "Test that the service buffer is kept free after each slot"
        slots = self.slots([block(1, (9, 0), (11, 0))], dt.date(2026, 12, 8),
            duration=30, buffer=10)
        local = [to_local(s.start).strftime('%H:%M') for s in slots]
        self.assertEqual(local, ['09:00', '09:40', '10:20'])

    def test_existing_appointment_blocks_slot(self):
        "Test that a busy interval removes the overlapping slots only"
        date = dt.date(2026, 12, 8)
        busy = {1: [(dt.datetime(2026, 12, 8, 8, 30),
                    dt.datetime(2026, 12, 8, 9, 0))]}
        slots = self.slots([block(1, (9, 0), (11, 0))], date, busy=busy)
        local = [to_local(s.start).strftime('%H:%M') for s in slots]
        self.assertEqual(local, ['09:00', '10:00', '10:30'])

    def test_new_slot_needs_its_buffer_before_next_appointment(self):
        "Test that a slot whose buffer would overlap the next booking is out"
        date = dt.date(2026, 12, 8)
        # busy from 09:40 to 10:15 local time
        busy = {1: [(dt.datetime(2026, 12, 8, 8, 40),
                    dt.datetime(2026, 12, 8, 9, 15))]}
        slots = self.slots([block(1, (9, 0), (10, 30))], date, busy=busy,
            duration=10, buffer=5)
        local = [to_local(s.start).strftime('%H:%M') for s in slots]
        # 09:30 + 10 min + 5 min buffer = 09:45 runs into 09:40
        self.assertEqual(local, ['09:00', '09:15', '10:15'])

    def test_closing_day_has_no_slots(self):
        "Test that a closing day offers nothing"
        date = dt.date(2026, 12, 25)
        self.assertEqual(
            self.slots([block(4, (9, 0), (12, 0))], date, closing=[date]), [])

    def test_validity_period(self):
        "Test that a schedule applies only between its validity dates"
        date = dt.date(2026, 12, 8)
        later = block(1, (9, 0), (10, 0), valid_from=dt.date(2026, 12, 9))
        earlier = block(1, (9, 0), (10, 0), valid_to=dt.date(2026, 12, 1))
        self.assertEqual(self.slots([later, earlier], date), [])
        current = block(1, (9, 0), (10, 0), valid_from=date, valid_to=date)
        self.assertEqual(len(self.slots([current], date)), 2)

    def test_window_cuts_slots(self):
        "Test that slots starting before the window (lead time) are dropped"
        date = dt.date(2026, 12, 8)
        window = (dt.datetime(2026, 12, 8, 8, 10), day_window(date)[1])
        slots = self.slots([block(1, (9, 0), (10, 30))], date, window=window)
        self.assertEqual(slots[0].start, dt.datetime(2026, 12, 8, 8, 30))

    def test_several_clerks_sorted(self):
        "Test that slots of several clerks come sorted by time then clerk"
        date = dt.date(2026, 12, 8)
        blocks = [block(1, (9, 30), (10, 30), employee=2),
            block(1, (9, 0), (10, 0), employee=1)]
        slots = self.slots(blocks, date)
        self.assertEqual(slots, sorted(slots))
        self.assertEqual([s.employee for s in slots], [1, 1, 2, 2])

    def test_empty_window(self):
        "Test that an empty or reversed window gives no slots"
        start = dt.datetime(2026, 12, 8, 8)
        self.assertEqual(free_slots(
                [block(1, (9, 0), (10, 0))], {}, set(), start, start,
                30 * MIN), [])

    def test_merge_intervals(self):
        "Test that overlapping and touching busy intervals are merged"
        a = dt.datetime(2026, 1, 1, 8)
        self.assertEqual(merge_intervals([
                    (a + 60 * MIN, a + 90 * MIN),
                    (a, a + 30 * MIN),
                    (a + 20 * MIN, a + 40 * MIN),
                    (a + 40 * MIN, a + 45 * MIN),
                    ]),
            [[a, a + 45 * MIN], [a + 60 * MIN, a + 90 * MIN]])

    def test_busy_calendar_half_open(self):
        "Test that busy intervals are half-open: back to back is free"
        a = dt.datetime(2026, 1, 1, 8)
        calendar = BusyCalendar({1: [(a, a + 30 * MIN)]})
        self.assertTrue(calendar.is_free(1, a + 30 * MIN, a + 60 * MIN))
        self.assertTrue(calendar.is_free(1, a - 30 * MIN, a))
        self.assertFalse(calendar.is_free(1, a + 29 * MIN, a + 60 * MIN))
        self.assertFalse(calendar.is_free(1, a - 30 * MIN, a + MIN))
        self.assertTrue(calendar.is_free(2, a, a + 30 * MIN))

    def test_to_utc_round_trip(self):
        "Test the conversion between wall time and UTC"
        utc = to_utc(dt.date(2026, 7, 1), dt.time(12, 0))
        self.assertEqual(utc, dt.datetime(2026, 7, 1, 10, 0))
        self.assertEqual(to_local(utc).hour, 12)
        start, end = local_day_bounds(SUNDAY_SPRING)
        self.assertEqual(end - start, dt.timedelta(hours=23))
        start, end = local_day_bounds(SUNDAY_AUTUMN)
        self.assertEqual(end - start, dt.timedelta(hours=25))
