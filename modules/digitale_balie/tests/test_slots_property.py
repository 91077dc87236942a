# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Properties of the slot engine on random schedules, absences, closing days
and bookings with buffers across the DST weeks (hypothesis, derandomized:
the same examples on every run)."""
import datetime as dt
import unittest

from hypothesis import given, settings
from hypothesis import strategies as st

from digitale_balie.slots import Block, free_slots, local_day_bounds
from digitale_balie.tests.tools import no_database

MIN = dt.timedelta(minutes=1)
# the weeks of both DST changes of 2027, and a plain week
WEEKS = [dt.date(2027, 3, 22), dt.date(2027, 10, 25), dt.date(2027, 6, 7)]
CLERKS = [1, 2]
PROPERTY = settings(derandomize=True, max_examples=60, deadline=None,
    database=None)


@st.composite
def schedules(draw):
    "Blocks per clerk and weekday that do not overlap (adjacent ones may)."
    blocks = []
    for clerk in CLERKS:
        for weekday in draw(st.sets(st.integers(0, 6), max_size=7)):
            # cut points on the half hour between 00:00 and 06:00 or in
            # office hours: the DST changes happen at 02:00 and 03:00
            points = sorted(draw(st.sets(
                        st.integers(0, 47).map(
                            lambda n: dt.time(n // 2, 30 * (n % 2))),
                        min_size=2, max_size=5)))
            for start, end in zip(points, points[1:]):
                if draw(st.booleans()):
                    blocks.append(
                        Block(clerk, weekday, start, end, None, None))
    return blocks


@st.composite
def cases(draw):
    week = draw(st.sampled_from(WEEKS))
    first = week + dt.timedelta(days=draw(st.integers(0, 6)))
    last = first + dt.timedelta(days=draw(st.integers(0, 2)))
    window = (local_day_bounds(first)[0], local_day_bounds(last)[1])
    span = int((window[1] - window[0]) / MIN)
    busy = {c: [] for c in CLERKS}
    for _ in range(draw(st.integers(0, 6))):
        clerk = draw(st.sampled_from(CLERKS))
        start = window[0] + draw(st.integers(0, span)) * MIN
        length = draw(st.integers(1, 24)) * 5 * MIN
        buffer = draw(st.sampled_from([0, 5, 10, 15])) * MIN
        busy[clerk].append((start, start + length + buffer))
    closing = {first + dt.timedelta(days=n) for n in range(3)
        if draw(st.booleans()) and draw(st.booleans())}
    duration = draw(st.sampled_from([15, 20, 30, 45])) * MIN
    buffer = draw(st.sampled_from([0, 5, 10])) * MIN
    return draw(schedules()), busy, closing, window, duration, buffer


def overlaps(a_start, a_end, b_start, b_end):
    return a_start < b_end and b_start < a_end


@no_database
class SlotPropertyTestCase(unittest.TestCase):
    "Test properties of the slot engine"

    @PROPERTY
    @given(cases())
    def test_offered_slots_are_free_and_bookable_in_turn(self, case):
        "Test that offered slots respect bookings + buffers, in any order"
        blocks, busy, closing, window, duration, buffer = case
        slots = free_slots(blocks, busy, closing, *window, duration, buffer)
        for slot in slots:
            self.assertEqual(slot.end - slot.start, duration)
            self.assertGreaterEqual(slot.start, window[0])
            self.assertLessEqual(slot.end, window[1])
            for start, end in busy[slot.employee]:
                self.assertFalse(
                    overlaps(slot.start, slot.end + buffer, start, end),
                    (slot, start, end))
        # book them one after the other: each is still offered then
        booked = {c: list(b) for c, b in busy.items()}
        for slot in slots:
            offered = free_slots(blocks, booked, closing, *window,
                duration, buffer)
            self.assertIn(slot, offered)
            booked[slot.employee].append((slot.start, slot.end + buffer))
        self.assertEqual(free_slots(blocks, booked, closing, *window,
                duration, buffer), [])

    @PROPERTY
    @given(cases())
    def test_adjacent_blocks_give_the_merged_block(self, case):
        "Test that joining adjacent blocks changes no slot"
        blocks, busy, closing, window, duration, buffer = case
        merged = {}
        for block in sorted(blocks, key=lambda b: (
                    b.employee, b.weekday, b.start_time)):
            key = (block.employee, block.weekday)
            if key in merged and merged[key][-1].end_time == block.start_time:
                merged[key][-1] = merged[key][-1]._replace(
                    end_time=block.end_time)
            else:
                merged.setdefault(key, []).append(block)
        joined = [b for bs in merged.values() for b in bs]
        self.assertEqual(
            free_slots(blocks, busy, closing, *window, duration, buffer),
            free_slots(joined, busy, closing, *window, duration, buffer))

