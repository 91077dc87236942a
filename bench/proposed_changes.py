# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Prototypes of the changes that docs/performance.md proposed for
digitale_balie, applied in the benchmark process only (monkeypatching the
pool classes).  'slots', 'number', 'lock' and 'fastfail' are now in the
module; this file reproduces the before/after figures against the module
as it was (--module-commit 39e41ef).

    .venv/bin/python bench/slots.py --reuse --patch bench/proposed_changes.py
    .venv/bin/python bench/booking.py --reuse \\
        --patch bench/proposed_changes.py:lock,number

Proposals (apply all, or name some after a colon):

slots   Appointment._free_slots reads the clerks, the opening hours, the
        leave and the appointments (with the buffer of their service
        added by the database, and with the tsrange overlap operator so
        that the GiST index bounds the scan) as plain rows instead of ORM
        records;
        the engine converts each (day, wall time) to UTC once instead of
        once per clerk; free_slots formats with isoformat() instead of
        strftime().  Same results (checked on 20 windows by
        bench/slots.py --check-patch).
number  Appointment.create puts the sequence number into the values
        instead of writing it in a second save() (one UPDATE and one
        validation less per booking; the UPDATE also re-checks the
        EXCLUDE constraint).
lock    Appointment.create takes a transaction-level advisory lock per
        clerk (pg_advisory_xact_lock through trytond's database.lock_id)
        before the INSERT, so that two bookings of one clerk queue
        instead of deadlocking inside the EXCLUDE constraint check.
fastfail Appointment._book first asks with one indexed query whether the
        requested clerk is busy at the requested time and answers
        SlotUnavailableError at once (the usual answer to a loser), before
        computing the free slots of the day.
"""
import datetime as dt
import hashlib

from sql import Select
from sql.aggregate import Max

from trytond.i18n import gettext
from trytond.pool import Pool
from trytond.transaction import Transaction

from digitale_balie import appointment as appointment_module
from digitale_balie import slots as engine
from digitale_balie.exceptions import SlotUnavailableError

try:
    from digitale_balie.clock import now as _now
except ImportError:     # before the clock module
    from digitale_balie.appointment import utcnow as _now

PROPOSALS = ('slots', 'number', 'lock', 'fastfail')


def engine_free_slots(blocks, busy, closing_days, window_start, window_end,
        duration, buffer=dt.timedelta(0), tz=engine.TIMEZONE):
    "engine.free_slots with the UTC conversion of each block end memoised."
    if duration <= dt.timedelta(0) or window_end <= window_start:
        return []
    step = duration + buffer
    calendar = engine.BusyCalendar(busy)
    by_weekday = {}
    for block in blocks:
        by_weekday.setdefault(block.weekday, []).append(block)
    utc = {}

    def to_utc(day, time, fold):
        key = (day, time, fold)
        try:
            return utc[key]
        except KeyError:
            utc[key] = value = engine.to_utc(day, time, fold=fold, tz=tz)
            return value
    slots = []
    append = slots.append
    is_free = calendar.is_free
    Slot = engine.Slot
    day = engine.to_local(window_start, tz).date()
    last_day = engine.to_local(window_end, tz).date()
    while day <= last_day:
        if day not in closing_days:
            for block in by_weekday.get(day.weekday(), []):
                if block.valid_from and day < block.valid_from:
                    continue
                if block.valid_to and day > block.valid_to:
                    continue
                start = to_utc(day, block.start_time, 0)
                block_end = to_utc(day, block.end_time, 1)
                while start + duration <= block_end:
                    end = start + duration
                    if (start >= window_start and end <= window_end
                            and is_free(block.employee, start, end + buffer)):
                        append(Slot(start, end, block.employee))
                    start += step
        day += dt.timedelta(days=1)
    slots.sort()
    return slots


def _free_slots(cls, service, date_from, date_to, employee=None):
    "Appointment._free_slots on plain rows."
    pool = Pool()
    Configuration = pool.get('balie.configuration')
    Schedule = pool.get('balie.schedule')
    ScheduleException = pool.get('balie.schedule.exception')
    ClosingDay = pool.get('balie.closing.day')
    Service = pool.get('balie.service')
    ServiceEmployee = pool.get('balie.service-company.employee')
    Employee = pool.get('company.employee')
    Date = pool.get('ir.date')
    transaction = Transaction()
    config = Configuration(1)
    employee = getattr(employee, 'id', employee)

    now = _now()
    today = engine.to_local(now).date()
    window_start = max(
        engine.local_day_bounds(
            appointment_module._local_date(date_from))[0],
        now + config.booking_lead_time)
    window_end = min(
        engine.local_day_bounds(appointment_module._local_date(date_to))[1],
        engine.local_day_bounds(
            today + dt.timedelta(days=config.booking_horizon))[1])
    if window_end <= window_start:
        return []
    cursor = transaction.connection.cursor()

    # the active clerks of the service, "active" evaluated like
    # company.employee.on_change_with_active does
    service_employee, employee_table = (
        ServiceEmployee.__table__(), Employee.__table__())
    where = service_employee.service == service.id
    if employee is not None:
        where &= service_employee.employee == employee
    cursor.execute(*service_employee.join(employee_table,
            condition=service_employee.employee == employee_table.id
            ).select(service_employee.employee, employee_table.start_date,
            employee_table.end_date, where=where))
    date = transaction.context.get('date') or Date.today()
    qualified = sorted(e for e, start_date, end_date in cursor
        if (start_date or dt.date.min) <= date <= (end_date or dt.date.max))
    if not qualified:
        return []

    schedule = Schedule.__table__()
    cursor.execute(*schedule.select(
            schedule.employee, schedule.weekday, schedule.start_time,
            schedule.end_time, schedule.valid_from, schedule.valid_to,
            where=schedule.employee.in_(qualified)))
    blocks = [engine.Block(e, int(w), start, end, valid_from, valid_to)
        for e, w, start, end, valid_from, valid_to in cursor]

    closing_day = ClosingDay.__table__()
    cursor.execute(*closing_day.select(closing_day.date,
            where=(closing_day.company == service.company.id)
            & (closing_day.date >= engine.to_local(window_start).date())
            & (closing_day.date <= engine.to_local(window_end).date())))
    closing_days = {d for d, in cursor}

    busy = {e: [] for e in qualified}
    exception = ScheduleException.__table__()
    cursor.execute(*exception.select(
            exception.employee, exception.start, exception.end,
            where=exception.employee.in_(qualified)
            & (exception.start < window_end)
            & (exception.end > window_start)))
    for e, start, end in cursor:
        busy[e].append((start, end))

    service_table = Service.__table__()
    cursor.execute(*service_table.select(Max(service_table.buffer)))
    max_buffer = cursor.fetchone()[0] or dt.timedelta(0)
    # "start < hi AND end > lo" can only use the index on start for the
    # upper bound, so PostgreSQL walks the clerks' whole history; the
    # overlap operator uses the GiST index of the EXCLUDE constraint
    # (same expression, same WHERE) and reads only the window
    cursor.execute(
        f'SELECT a.employee, a.start, a."end" + s.buffer '
        f'FROM "{cls._table}" AS a '
        f'JOIN "{Service._table}" AS s ON s.id = a.service '
        f"WHERE a.employee = ANY(%s) AND a.state != 'cancelled' "
        f"AND tsrange(a.start, a.\"end\", '[)') && tsrange(%s, %s, '[)')",
        (qualified, window_start - max_buffer,
            window_end + service.buffer))
    for e, start, end in cursor:
        busy[e].append((start, end))

    return engine.free_slots(blocks, busy, closing_days, window_start,
        window_end, service.duration, service.buffer)


def free_slots(cls, service_id, date_from, date_to, employee_id=None):
    Service = Pool().get('balie.service')
    slots = cls._free_slots(
        Service(service_id), date_from, date_to, employee_id)
    # the slots are whole seconds, so isoformat() gives the same text as
    # strftime('%Y-%m-%dT%H:%M:%S'), about four times faster
    return [{
            'start': s.start.isoformat() + 'Z',
            'end': s.end.isoformat() + 'Z',
            'employee': s.employee,
            } for s in slots]


def lock_key(employee_id):
    "An advisory lock key per clerk (like ir.cron's str2bigint)."
    text = f'balie.appointment,employee,{employee_id}'
    return int(hashlib.sha256(text.encode()).hexdigest(), 16) % 10**8


def make_create(original, number, lock):
    def create(cls, vlist):
        transaction = Transaction()
        vlist = [v.copy() for v in vlist]
        if lock:
            database = transaction.database
            cursor = transaction.connection.cursor()
            for employee in sorted({v['employee'] for v in vlist
                        if v.get('employee')}):
                # blocks until the other booking of this clerk commits
                cursor.execute(*Select([
                            database.lock_id(lock_key(employee), True)]))
        if number:
            config = Pool().get('balie.configuration')(1)
            for values in vlist:
                if not values.get('number'):
                    values['number'] = config.appointment_sequence.get()
            # skip Appointment.create (and its set_number save)
            return super(appointment_module.Appointment, cls).create(vlist)
        return original(vlist)
    return create


def make_book(original):
    def _book(cls, values):
        "Answer 'not free' with one indexed query when the slot is taken."
        pool = Pool()
        Service = pool.get('balie.service')
        employee, start = values.get('employee'), values.get('start')
        if employee and start and values.get('service'):
            start = appointment_module.parse_utc(start)
            service = Service(values['service'])
            cursor = Transaction().connection.cursor()
            cursor.execute(f'SELECT MAX(buffer) FROM "{Service._table}"')
            max_buffer = cursor.fetchone()[0] or dt.timedelta(0)
            cursor.execute(
                f'SELECT 1 FROM "{cls._table}" AS a '
                f'JOIN "{Service._table}" AS s ON s.id = a.service '
                f"WHERE a.employee = %s AND a.state != 'cancelled' "
                f"AND tsrange(a.start, a.\"end\", '[)') "
                f"&& tsrange(%s, %s, '[)') "
                f'AND a."end" + s.buffer > %s LIMIT 1',
                (getattr(employee, 'id', employee), start - max_buffer,
                    start + service.duration + service.buffer, start))
            if cursor.fetchone():
                raise SlotUnavailableError(gettext(
                        'digitale_balie.msg_slot_unavailable',
                        when=cls._format_when(start)))
        return original(values)
    return _book


def apply(pool, names=PROPOSALS):
    "Apply the proposals to the pool classes of this process."
    names = set(names)
    unknown = names - set(PROPOSALS)
    if unknown:
        raise ValueError(f"unknown proposals: {', '.join(sorted(unknown))}")
    Appointment = pool.get('balie.appointment')
    if 'slots' in names:
        engine.free_slots = engine_free_slots
        Appointment._free_slots = classmethod(_free_slots).__get__(
            None, Appointment)
        Appointment.free_slots = classmethod(free_slots).__get__(
            None, Appointment)
    if 'fastfail' in names:
        Appointment._book = classmethod(make_book(Appointment._book)
            ).__get__(None, Appointment)
    if names & {'number', 'lock'}:
        original = Appointment.create
        Appointment.create = classmethod(make_create(
                original, 'number' in names, 'lock' in names)).__get__(
            None, Appointment)
    return sorted(names)
