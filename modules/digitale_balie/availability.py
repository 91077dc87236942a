# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The database half of the slot engine: which clerks, hours, absences,
closing days and bookings a service's free slots are computed from
(slots.py computes them), the booking locks per clerk and day, and the
savepoint that turns a lost race into SlotTakenError."""
import datetime as dt
import hashlib
from contextlib import contextmanager

from sql import Select
from sql.conditionals import Coalesce

from trytond import backend
from trytond.i18n import gettext
from trytond.model.exceptions import AccessError, SQLConstraintError
from trytond.pool import Pool
from trytond.transaction import Transaction

from . import clock
from . import slots as engine
from .exceptions import SlotTakenError, SlotUnavailableError

# PostgreSQL errors that mean "somebody else got there first"
CONCURRENCY_SQLSTATES = {'23P01', '23505', '40001', '40P01', '55P03'}


def parse_utc(value):
    "Accept a naive UTC datetime or an ISO 8601 string (with or without Z)."
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace('Z', '+00:00'))
        except ValueError as exception:
            raise SlotUnavailableError(gettext(
                    'digitale_balie.msg_invalid_start', value=value)
                ) from exception
    elif not isinstance(value, dt.datetime):
        raise SlotUnavailableError(gettext(
                'digitale_balie.msg_invalid_start', value=value))
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value.replace(microsecond=0)


def format_utc(value):
    # whole seconds: the same text as strftime, several times faster
    return value.replace(microsecond=0).isoformat() + 'Z'


def _local_date(value):
    if isinstance(value, dt.datetime):
        return engine.to_local(value).date()
    if isinstance(value, str):
        return dt.date.fromisoformat(value[:10])
    return value


class AvailabilityMixin:
    "The slot engine's queries and locks, for balie.appointment."
    __slots__ = ()

    @classmethod
    def free_slots(cls, service_id, date_from, date_to, employee_id=None):
        """Return the free slots of a service between two local dates.

        Both dates are included; the result is a sorted list of
        {'start', 'end', 'employee'} with times in UTC, ISO 8601.
        """
        Service = Pool().get('balie.service')
        cls.check_service_access(service_id)
        slots = cls._free_slots(
            Service(service_id), date_from, date_to, employee_id)
        return [{
                'start': format_utc(s.start),
                'end': format_utc(s.end),
                'employee': s.employee,
                } for s in slots]

    @classmethod
    def check_service_access(cls, service_id):
        """Refuse, over RPC, a service the user may not read: another
        municipality's (the record rule of balie.service)."""
        pool = Pool()
        Service = pool.get('balie.service')
        transaction = Transaction()
        if not transaction.context.get('_check_access'):
            return
        service_id = getattr(service_id, 'id', service_id)
        with transaction.set_context(_check_access=True):
            found = Service.search([('id', '=', service_id)], count=True)
        if not found:
            raise AccessError(gettext(
                    'digitale_balie.msg_service_other_municipality'))

    @classmethod
    def _free_slots(cls, service, date_from, date_to, employee=None,
            exclude=None):
        """Return the free slots as engine.Slot tuples (naive UTC).

        Reads plain rows, not records: this runs for every search and
        every booking, and availability must see every booking whatever
        the record rules of the user."""
        pool = Pool()
        Configuration = pool.get('balie.configuration')
        Schedule = pool.get('balie.schedule')
        ScheduleException = pool.get('balie.schedule.exception')
        ClosingDay = pool.get('balie.closing.day')
        Service = pool.get('balie.service')
        ServiceEmployee = pool.get('balie.service-company.employee')
        Employee = pool.get('company.employee')
        transaction = Transaction()
        config = Configuration(1)
        employee = getattr(employee, 'id', employee)

        now = clock.now()
        today = engine.to_local(now).date()
        window_start = max(
            engine.local_day_bounds(_local_date(date_from))[0],
            now + config.booking_lead_time)
        window_end = min(
            engine.local_day_bounds(_local_date(date_to))[1],
            engine.local_day_bounds(
                today + dt.timedelta(days=config.booking_horizon))[1])
        if window_end <= window_start:
            return []
        cursor = transaction.connection.cursor()

        # the service's clerks who are employed today
        link, employee_table = (
            ServiceEmployee.__table__(), Employee.__table__())
        where = link.service == service.id
        if employee is not None:
            where &= link.employee == employee
        cursor.execute(*link.join(employee_table,
                condition=link.employee == employee_table.id).select(
                link.employee, employee_table.start_date,
                employee_table.end_date, where=where))
        # employment is judged on the slot's date, not today's: a clerk
        # who leaves in three days has slots until then, one who starts
        # next week from that day on; the days outside are busy
        first_day = engine.to_local(window_start).date()
        last_day = engine.to_local(window_end).date()
        employed = {}
        for employee_id, start_date, end_date in cursor:
            start_date, end_date = _as_date(start_date), _as_date(end_date)
            if ((start_date or dt.date.min) <= last_day
                    and (end_date or dt.date.max) >= first_day):
                employed[employee_id] = (start_date, end_date)
        qualified = sorted(employed)
        if not qualified:
            return []

        schedule = Schedule.__table__()
        cursor.execute(*schedule.select(
                schedule.employee, schedule.weekday, schedule.start_time,
                schedule.end_time, schedule.valid_from, schedule.valid_to,
                where=schedule.employee.in_(qualified)))
        blocks = [engine.Block(e, int(w), _as_time(start), _as_time(end),
                _as_date(valid_from), _as_date(valid_to))
            for e, w, start, end, valid_from, valid_to in cursor]

        closing_day = ClosingDay.__table__()
        cursor.execute(*closing_day.select(closing_day.date,
                where=(closing_day.company == service.company.id)
                & (closing_day.date >= engine.to_local(window_start).date())
                & (closing_day.date <= engine.to_local(window_end).date())))
        closing_days = {_as_date(d) for d, in cursor}

        busy = {e: [] for e in qualified}
        for employee_id, (start_date, end_date) in employed.items():
            if start_date and start_date > first_day:
                busy[employee_id].append((window_start,
                        engine.local_day_bounds(start_date)[0]))
            if end_date and end_date < last_day:
                busy[employee_id].append((
                        engine.local_day_bounds(end_date)[1], window_end))
        exception = ScheduleException.__table__()
        cursor.execute(*exception.select(
                exception.employee, exception.start, exception.end,
                where=exception.employee.in_(qualified)
                & (exception.start < window_end)
                & (exception.end > window_start)))
        for employee_id, start, end in cursor:
            busy[employee_id].append((_as_datetime(start), _as_datetime(end)))

        service_table = Service.__table__()
        cursor.execute(*service_table.select(
                service_table.id, service_table.buffer))
        buffers = {i: _as_timedelta(b) for i, b in cursor}
        max_buffer = max(buffers.values(), default=dt.timedelta(0))
        lo, hi = window_start - max_buffer, window_end + service.buffer
        # one range query for all existing appointments of all clerks
        # (their end with the buffer stored at booking: what the database's
        # overlap constraint holds them to)
        for employee_id, start, end, service_id in cls._busy_rows(
                qualified, lo, hi, exclude=exclude):
            busy[employee_id].append((_as_datetime(start), _as_datetime(end)))
        # and the slots held for citizens booking online
        BookingRequest = pool.get('balie.booking.request')
        for employee_id, start, end, service_id in BookingRequest.held_rows(
                qualified, lo, hi):
            busy[employee_id].append((_as_datetime(start), _as_datetime(end)
                    + buffers.get(service_id, dt.timedelta(0))))

        return engine.free_slots(
            blocks, busy, closing_days, window_start, window_end,
            service.duration, service.buffer)

    @classmethod
    def _busy_rows(cls, employees, lo, hi, limit=None, exclude=None):
        """(employee, start, end + buffer, service) of the bookings whose
        time with their buffer overlaps [lo, hi)"""
        transaction = Transaction()
        cursor = transaction.connection.cursor()
        if transaction.database.has_range():
            # the GiST index of the overlap constraint answers this;
            # "start < hi AND end > lo" would walk the clerks' history.
            # 'cancelled' is written out as in the index's predicate: as a
            # parameter, the generic plan that PostgreSQL uses once psycopg
            # prepares the statement (from its 5th run on a connection)
            # could not use the partial index and read the whole table
            cursor.execute(
                'SELECT employee, start, COALESCE(buffer_end, "end"), '
                'service FROM "%s" '
                "WHERE employee = ANY(%%s) AND state != 'cancelled' "
                'AND id != %%s '
                "AND tsrange(start, COALESCE(buffer_end, \"end\"), '[)') "
                "&& tsrange(%%s, %%s, '[)')"
                % cls._table + (' LIMIT %d' % limit if limit else ''),
                (list(employees), exclude or -1, lo, hi))
        else:
            table = cls.__table__()
            end = Coalesce(table.buffer_end, table.end)
            cursor.execute(*table.select(
                    table.employee, table.start, end, table.service,
                    where=table.employee.in_(list(employees))
                    & (table.state != 'cancelled')
                    & (table.id != (exclude or -1))
                    & (table.start < hi) & (end > lo),
                    limit=limit))
        return cursor.fetchall()

    @classmethod
    def lock_slots(cls, slots):
        """Take the booking locks of (employee id, start, end) slots in UTC
        (PostgreSQL): one per clerk and local day, in a fixed order.  Two
        overlapping slots of a clerk share a day, so their bookings queue;
        bookings of the clerk on other days do not wait."""
        transaction = Transaction()
        database = transaction.database
        cursor = transaction.connection.cursor()
        keys = set()
        for employee, start, end in slots:
            day = engine.to_local(start).date()
            last = engine.to_local(
                max(end - dt.timedelta(microseconds=1), start)).date()
            while day <= last:
                keys.add((employee, day))
                day += dt.timedelta(days=1)
        for employee, day in sorted(keys):
            cursor.execute(*Select([database.lock_id(
                            _lock_key(employee, day), timeout=True)]))

    @classmethod
    @contextmanager
    def _concurrency_guard(cls, start):
        """Turn a lost race into SlotTakenError, keeping the transaction
        usable so that the caller can offer the next free slots."""
        cursor = Transaction().connection.cursor()
        cursor.execute('SAVEPOINT balie_book')
        try:
            yield
        except SQLConstraintError as exception:
            cursor.execute('ROLLBACK TO SAVEPOINT balie_book')
            raise SlotTakenError(gettext(
                    'digitale_balie.msg_slot_taken',
                    when=cls._format_when(start))) from exception
        except (backend.DatabaseIntegrityError,
                backend.DatabaseOperationalError) as exception:
            if getattr(exception, 'sqlstate', None) not in (
                    CONCURRENCY_SQLSTATES):
                raise
            cursor.execute('ROLLBACK TO SAVEPOINT balie_book')
            raise SlotTakenError(gettext(
                    'digitale_balie.msg_slot_taken',
                    when=cls._format_when(start))) from exception
        else:
            cursor.execute('RELEASE SAVEPOINT balie_book')


def _lock_key(employee_id, day):
    "An advisory lock key per clerk and day."
    text = 'balie.appointment,employee,%s,%s' % (employee_id, day.isoformat())
    return int(hashlib.sha256(text.encode()).hexdigest(), 16) % 10 ** 8


# SQLite answers raw selects with strings (and time deltas as seconds)

def _as_datetime(value):
    if isinstance(value, str):
        return dt.datetime.fromisoformat(value)
    return value


def _as_date(value):
    if isinstance(value, str):
        return dt.date.fromisoformat(value)
    return value


def _as_time(value):
    if isinstance(value, str):
        return dt.time.fromisoformat(value)
    return value


def _as_timedelta(value):
    if value is None:
        return dt.timedelta(0)
    if isinstance(value, (int, float)):
        return dt.timedelta(seconds=value)
    return value
