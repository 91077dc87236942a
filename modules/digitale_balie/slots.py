# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The slot engine, free of any database access.

Opening hours are wall-clock times in the municipality's time zone; every
other time is naive UTC, as Tryton stores it.  A block of opening hours is
converted to UTC once, at its two ends (wall_to_utc: a repeated time is its
first occurrence, a time in the spring gap the instant of the jump), and
slots are then laid out in real elapsed time: on the DST Sundays a
01:00-04:00 block is two hours long in spring and four hours long in
autumn, so there are neither phantom slots in the missing hour nor lost
slots in the repeated one, and adjacent blocks give the slots of one block
covering them.
"""
import bisect
import datetime as dt
from collections import namedtuple
from zoneinfo import ZoneInfo

TIMEZONE = ZoneInfo('Europe/Brussels')

Block = namedtuple(
    'Block', 'employee weekday start_time end_time valid_from valid_to')
Slot = namedtuple('Slot', 'start end employee')


def to_utc(date, time, fold=0, tz=TIMEZONE):
    "Convert a local wall-clock date and time to naive UTC."
    local = dt.datetime.combine(date, time).replace(tzinfo=tz, fold=fold)
    return local.astimezone(dt.timezone.utc).replace(tzinfo=None)


def wall_to_utc(date, time, tz=TIMEZONE):
    """The instant the wall clock of the day first shows the time.

    A time repeated in the autumn fold is its first occurrence; a time in
    the spring gap, which the clock never shows, is the instant of the jump
    (02:30 on the spring Sunday is 03:00 CEST).  So a block's end and the
    next block's start are the same instant, and adjacent blocks give the
    slots of one block covering them."""
    naive = dt.datetime.combine(date, time)
    first = to_utc(date, time, fold=0, tz=tz)
    if to_local(first, tz).replace(tzinfo=None) == naive:
        return first
    # in the gap: the first instant whose wall clock is past the time,
    # between the two readings of the offset (whole seconds)
    lo, hi = to_utc(date, time, fold=1, tz=tz), first
    if lo > hi:
        lo, hi = hi, lo
    while hi - lo > dt.timedelta(seconds=1):
        mid = lo + dt.timedelta(seconds=(hi - lo).total_seconds() // 2)
        if to_local(mid, tz).replace(tzinfo=None) >= naive:
            hi = mid
        else:
            lo = mid
    return hi


def to_local(value, tz=TIMEZONE):
    "Convert a naive UTC datetime to an aware local datetime."
    return value.replace(tzinfo=dt.timezone.utc).astimezone(tz)


def local_day_bounds(date, tz=TIMEZONE):
    "Return the naive UTC start and end of a local calendar day."
    return (to_utc(date, dt.time(0), tz=tz),
        to_utc(date + dt.timedelta(days=1), dt.time(0), tz=tz))


def merge_intervals(intervals):
    "Return the sorted union of (start, end) intervals."
    merged = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1][1] = end
        else:
            merged.append([start, end])
    return merged


class BusyCalendar:
    "Busy intervals per employee, answering overlap questions by bisection."

    def __init__(self, busy):
        self._ends = {}
        self._intervals = {}
        for employee, intervals in busy.items():
            merged = merge_intervals(intervals)
            self._intervals[employee] = merged
            self._ends[employee] = [i[1] for i in merged]

    def is_free(self, employee, start, end):
        intervals = self._intervals.get(employee)
        if not intervals:
            return True
        # first busy interval that ends after our start
        index = bisect.bisect_right(self._ends[employee], start)
        return index == len(intervals) or intervals[index][0] >= end


def free_slots(
        blocks, busy, closing_days, window_start, window_end,
        duration, buffer=dt.timedelta(0), tz=TIMEZONE):
    """Return the free slots in [window_start, window_end), sorted.

    blocks: Block tuples, the weekly opening hours of each employee;
    busy: {employee: [(start, end), ...]} already including the buffers of
        existing appointments and the exceptions (leave);
    closing_days: a set of local dates without any slot;
    duration, buffer: of the service being booked; a slot needs its buffer
        free after it, and slots are laid out every duration + buffer.
    """
    if duration <= dt.timedelta(0) or window_end <= window_start:
        return []
    step = duration + buffer
    calendar = BusyCalendar(busy)
    by_weekday = {}
    for block in blocks:
        by_weekday.setdefault(block.weekday, []).append(block)
    slots = []
    # many clerks share the same opening hours: convert each once
    utc = {}

    def block_utc(day, time):
        key = (day, time)
        if key not in utc:
            utc[key] = wall_to_utc(day, time, tz=tz)
        return utc[key]
    day = to_local(window_start, tz).date()
    last_day = to_local(window_end, tz).date()
    while day <= last_day:
        if day not in closing_days:
            # a clerk's touching (or overlapping) blocks of the day are one
            # stretch of time: laid out as one, adjacent blocks give the
            # slots of the block covering them, and no slot's buffer runs
            # into the next block's first slot
            opened = {}
            for block in by_weekday.get(day.weekday(), []):
                if block.valid_from and day < block.valid_from:
                    continue
                if block.valid_to and day > block.valid_to:
                    continue
                opened.setdefault(block.employee, []).append((
                        block_utc(day, block.start_time),
                        block_utc(day, block.end_time)))
            for employee, intervals in opened.items():
                for block_start, block_end in merge_intervals(intervals):
                    start = block_start
                    while start + duration <= block_end:
                        end = start + duration
                        if (start >= window_start and end <= window_end
                                and calendar.is_free(
                                    employee, start, end + buffer)):
                            slots.append(Slot(start, end, employee))
                        start += step
        day += dt.timedelta(days=1)
    slots.sort()
    return slots
