#!/usr/bin/env python3
# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Benchmark of Appointment.free_slots on PostgreSQL (prints figures; not a
test).

Populates a database (see benchlib.py: 20 clerks, 1 service of 30 + 5 min,
60,000 appointments over the past and the next year), then times
Appointment.free_slots(service, date_from, date_to) over random 30-day
windows in the next months against the raw range query that fetches the
same appointments.  Each call runs in its own read-only transaction as the
admin user with the context a JSON-RPC call would get (preferences plus
_check_access), only the call itself is timed.

The raw query is the one of the spec (employee IN (...) AND state !=
'cancelled' AND start < hi AND "end" > lo); the same rows fetched with the
tsrange overlap operator (GiST index of the EXCLUDE constraint) are timed
too, for information.

Targets: p95 <= 50 ms and p95 <= 10 x the raw query's p95.

    .venv/bin/python bench/slots.py              # fresh DB, dropped at the end
    .venv/bin/python bench/slots.py --keep       # ... kept for --reuse
    .venv/bin/python bench/slots.py --reuse --profile 50
    .venv/bin/python bench/slots.py --reuse --gc-freeze
    .venv/bin/python bench/slots.py --reuse --module-commit ef89cb5
Results and their discussion: docs/performance.md.
"""
import argparse
import cProfile
import datetime as dt
import gc
import io
import os
import pstats
import random
import sys
import time

import benchlib

TARGET_P95_MS = 50.0
TARGET_RATIO = 10.0


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    benchlib.add_common_arguments(parser, 'balie_bench_slots')
    parser.add_argument(
        '-n', '--iterations', type=int, default=200,
        help="timed calls of each kind (default: %(default)s)")
    parser.add_argument(
        '--warmup', type=int, default=20,
        help="untimed calls first (default: %(default)s)")
    parser.add_argument(
        '--window', type=int, default=30,
        help="days per free_slots call, both ends included "
        "(default: %(default)s)")
    parser.add_argument(
        '--start-within', type=int, default=240,
        help="first day of a window is random in the next N days "
        "(default: %(default)s)")
    parser.add_argument(
        '--profile', type=int, default=0, metavar='N',
        help="also run N calls under cProfile and print the top functions")
    parser.add_argument(
        '--gc-freeze', action='store_true',
        help="call gc.freeze() after loading the pool, as a server could "
        "after start-up (default: Python's garbage collector untouched)")
    benchlib.add_patch_argument(parser)
    return parser.parse_args(argv)


class QueryCounter:
    "Count and time the SQL statements trytond sends (LoggingCursor)."

    def __init__(self):
        from trytond.backend.postgresql.database import LoggingCursor
        self.cursor_class = LoggingCursor
        self.original = LoggingCursor.execute
        self.count = 0
        self.seconds = 0.0
        self.statements = []

    def __enter__(self):
        counter = self
        original = self.original

        def execute(cursor, query, params=None, **kwargs):
            started = time.perf_counter()
            try:
                return original(cursor, query, params, **kwargs)
            finally:
                counter.count += 1
                counter.seconds += time.perf_counter() - started
                counter.statements.append(' '.join(str(query).split())[:90])
        self.cursor_class.execute = execute
        return self

    def __exit__(self, *exc):
        self.cursor_class.execute = self.original


class EngineTimer:
    "Time digitale_balie.slots.free_slots, the pure engine."

    def __init__(self):
        from digitale_balie import slots as engine
        self.engine = engine
        self.original = engine.free_slots
        self.seconds = 0.0

    def __enter__(self):
        timer = self
        original = self.original

        def free_slots(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                timer.seconds += time.perf_counter() - started
        self.engine.free_slots = free_slots
        return self

    def __exit__(self, *exc):
        self.engine.free_slots = self.original


def main(argv=None):
    args = parse_args(argv)
    if args.module_commit:
        benchlib.use_module_commit(args.module_commit)
    benchlib.configure(args.uri)
    benchlib.print_header("free_slots benchmark", args)
    meta, created = benchlib.prepare(args)
    try:
        return run(args, meta)
    finally:
        benchlib.finish(args, created)


def run(args, meta):
    from sql import Table
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    from digitale_balie import slots as engine

    database = args.database
    pool = Pool(database)
    Appointment = pool.get('balie.appointment')
    User = pool.get('res.user')
    service_id = meta['service']
    if args.patch:
        check_patch(args, pool, meta)
    if args.gc_freeze:
        gc.collect()
        gc.freeze()
        print("gc.freeze() called after loading the pool")
    employees = sorted(meta['employees'])
    buffer = max_buffer = dt.timedelta(minutes=benchlib.BUFFER_MINUTES)

    constraint = benchlib.overlap_constraint(args.uri, database)
    print(f"overlap constraint: {constraint or 'NOT a real constraint'}")
    with Transaction().start(database, 1, readonly=True):
        context = User.get_preferences(context_only=True)
    context['_check_access'] = True     # as over JSON-RPC
    with benchlib._admin_connection(args.uri, database) as conn:
        counts = dict(conn.execute(
                "SELECT state, count(*) FROM balie_appointment "
                "GROUP BY state ORDER BY state").fetchall())
    print("appointments: " + ", ".join(
            f"{state} {count}" for state, count in counts.items()))

    rng = random.Random(args.seed)
    today = engine.to_local(benchlib.utcnow()).date()
    table = Table('balie_appointment')

    def window():
        first = today + dt.timedelta(days=rng.randint(1, args.start_within))
        return first, first + dt.timedelta(days=args.window - 1)

    def raw_query(cursor, date_from, date_to):
        lo = engine.local_day_bounds(date_from)[0] - max_buffer
        hi = engine.local_day_bounds(date_to)[1] + buffer
        cursor.execute(*table.select(
                table.employee, table.start, table.end, table.service,
                where=table.employee.in_(employees)
                & (table.state != 'cancelled')
                & (table.start < hi)
                & (table.end > lo)))
        return cursor.fetchall()

    def gist_query(cursor, date_from, date_to):
        # the same rows, asked with the overlap operator so that the GiST
        # index of the EXCLUDE constraint bounds the scan on both sides
        lo = engine.local_day_bounds(date_from)[0] - max_buffer
        hi = engine.local_day_bounds(date_to)[1] + buffer
        cursor.execute(
            'SELECT employee, start, "end", service FROM balie_appointment '
            "WHERE employee = ANY(%s) AND state != 'cancelled' "
            "AND tsrange(start, \"end\", '[)') && tsrange(%s, %s, '[)')",
            (employees, lo, hi))
        return cursor.fetchall()

    def one(date_from, date_to, timings=None):
        with Transaction().start(
                database, 1, readonly=True, context=context) as transaction:
            cursor = transaction.connection.cursor()
            order = ['free', 'raw', 'gist']
            rng.shuffle(order)
            result = {}
            for kind in order:
                started = time.perf_counter()
                if kind == 'free':
                    result[kind] = Appointment.free_slots(
                        service_id, date_from, date_to)
                elif kind == 'gist':
                    result[kind] = gist_query(cursor, date_from, date_to)
                else:
                    result[kind] = raw_query(cursor, date_from, date_to)
                elapsed = (time.perf_counter() - started) * 1000
                if timings is not None:
                    timings[kind].append(elapsed)
            return result

    for _ in range(args.warmup):
        one(*window())

    timings = {'free': [], 'raw': [], 'gist': []}
    slots_returned, rows_fetched = [], []
    cpu_before = benchlib.cpu_sample()
    started = time.monotonic()
    for _ in range(args.iterations):
        result = one(*window(), timings=timings)
        slots_returned.append(len(result['free']))
        rows_fetched.append(len(result['raw']))
        assert sorted(result['raw']) == sorted(result['gist'])
    wall = time.monotonic() - started
    cpu_after = benchlib.cpu_sample()

    free = benchlib.summary(timings['free'])
    raw = benchlib.summary(timings['raw'])
    gist = benchlib.summary(timings['gist'])
    ratio_p95 = free['p95'] / raw['p95']
    ratio_p50 = free['p50'] / raw['p50']
    print()
    print(f"{args.iterations} random {args.window}-day windows starting in "
        f"the next {args.start_within} days, {len(employees)} clerks "
        f"({wall:.1f} s):")
    busy, total = (b - a for a, b in zip(cpu_before, cpu_after))
    print(f"  machine CPU meanwhile: {100 * busy / total:.0f}% busy "
        f"(this benchmark alone keeps about one core, "
        f"{100 / os.cpu_count():.0f}%, busy; more means other load)")
    print(f"  free_slots  {benchlib.fmt(free)}")
    print(f"  raw query   {benchlib.fmt(raw)}")
    print(f"  (same rows with tsrange && on the GiST index: "
        f"{benchlib.fmt(gist)})")
    print(f"  free slots returned per call: mean "
        f"{sum(slots_returned) / len(slots_returned):.0f}; appointment rows "
        f"per raw query: mean {sum(rows_fetched) / len(rows_fetched):.0f}")
    print(f"  ratio free_slots / raw query: p50 {ratio_p50:.1f}x, "
        f"p95 {ratio_p95:.1f}x (against the GiST form: p50 "
        f"{free['p50'] / gist['p50']:.1f}x, "
        f"p95 {free['p95'] / gist['p95']:.1f}x)")

    # where does the time of one call go?
    breakdown(args, one, window, context, Appointment, service_id)

    ok_p95 = free['p95'] <= TARGET_P95_MS
    ok_ratio = ratio_p95 <= TARGET_RATIO
    print()
    print(f"target p95 <= {TARGET_P95_MS:.0f} ms: "
        f"{free['p95']:.1f} ms  {'PASS' if ok_p95 else 'FAIL'}")
    print(f"target p95 <= {TARGET_RATIO:.0f}x raw query: "
        f"{ratio_p95:.1f}x  {'PASS' if ok_ratio else 'FAIL'}")
    print(f"RESULT: {'PASS' if ok_p95 and ok_ratio else 'FAIL'}")

    if args.profile:
        profile(args, window, context, Appointment, service_id)
    return ok_p95 and ok_ratio


def check_patch(args, pool, meta):
    "Apply --patch after checking that it returns the same free slots."
    from trytond.transaction import Transaction
    from digitale_balie import slots as engine
    Appointment = pool.get('balie.appointment')
    rng = random.Random(args.seed + 1)
    today = engine.to_local(benchlib.utcnow()).date()
    windows = []
    for _ in range(20):
        first = today + dt.timedelta(days=rng.randint(0, args.start_within))
        windows.append(
            (first, first + dt.timedelta(days=rng.choice([0, 6, 29]))))

    def results():
        with Transaction().start(args.database, 1, readonly=True):
            return [Appointment.free_slots(meta['service'], *w)
                + Appointment.free_slots(
                    meta['service'], *w, meta['employees'][0])
                for w in windows]
    before = results()
    names = benchlib.apply_patch(args.patch, pool)
    after = results()
    same = before == after
    print(f"PATCHED: {args.patch} ({', '.join(names or [])}) applied; "
        f"free_slots on 20 windows (all clerks and one clerk): "
        f"{'identical results' if same else 'DIFFERENT RESULTS'}")
    if not same:
        raise SystemExit("the patch changes the results")


def breakdown(args, one, window, context, Appointment, service_id):
    from trytond.transaction import Transaction
    n = 30
    with QueryCounter() as queries, EngineTimer() as engine_timer:
        total = 0.0
        for _ in range(n):
            date_from, date_to = window()
            with Transaction().start(args.database, 1, readonly=True,
                    context=context):
                queries.statements.clear()
                started = time.perf_counter()
                Appointment.free_slots(service_id, date_from, date_to)
                total += time.perf_counter() - started
    print(f"  breakdown of one call (mean of {n}): total "
        f"{total / n * 1000:.1f} ms = SQL {queries.seconds / n * 1000:.1f} ms "
        f"in {queries.count / n:.0f} statements + slot engine "
        f"{engine_timer.seconds / n * 1000:.1f} ms + ORM/Python rest "
        f"{(total - queries.seconds - engine_timer.seconds) / n * 1000:.1f} "
        "ms")
    print("  statements of the last call:")
    for statement in queries.statements:
        print(f"    {statement}")


def profile(args, window, context, Appointment, service_id):
    from trytond.transaction import Transaction
    profiler = cProfile.Profile()
    for _ in range(args.profile):
        date_from, date_to = window()
        with Transaction().start(args.database, 1, readonly=True,
                context=context):
            profiler.enable()
            Appointment.free_slots(service_id, date_from, date_to)
            profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats('cumulative').print_stats(35)
    stats.sort_stats('tottime').print_stats(20)
    print()
    print(f"cProfile of {args.profile} free_slots calls:")
    print(out.getvalue())


if __name__ == '__main__':
    sys.exit(0 if main() else 1)
