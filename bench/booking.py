#!/usr/bin/env python3
# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Benchmark of Appointment.book_slot on PostgreSQL (prints figures; not a
test).

Populates a database like bench/slots.py (20 clerks, 1 service, 60,000
appointments), then runs two phases with separate worker processes, each
with its own trytond Pool, opening one transaction per booking as the admin
user with the context a JSON-RPC call gets (preferences + _check_access),
committing it, and retrying like trytond's dispatcher (TransactionError:
restart with the fixed extras; DatabaseOperationalError: up to
[database] retry times).

(0) one client books 60 slots one after the other: latency of a booking
    and where its time goes (module classmethods timed, SQL counted).
(a) throughput: --clients processes (default 8) book distinct free slots
    (each process owns its own days) for --duration seconds.
    Target: >= 200 bookings/s.  --baseline adds the same load with a bare
    Appointment.create + commit, the floor of the ORM.
(b) contention: --chasers clients (default 500) all sent at the same
    instant chase --slots free slots (default 20) of one day, client i
    wanting slot i mod 20; --servers processes (default 8, like a server
    with 8 workers) answer them from a shared queue.  Targets: exactly 20
    bookings, every loser gets SlotTakenError or SlotUnavailableError,
    every attempt answered < 1 s after it was sent.
Afterwards SQL checks that no two non-cancelled appointments of one clerk
overlap.

    .venv/bin/python bench/booking.py              # fresh DB, dropped at end
    .venv/bin/python bench/booking.py --keep --baseline   # ... kept
    .venv/bin/python bench/booking.py --reuse --skip-sequential \
        --module-commit ef89cb5
Results and their discussion: docs/performance.md.
"""
import argparse
import collections
import datetime as dt
import multiprocessing
import os
import queue
import random
import sys
import time
import traceback

import benchlib

TARGET_RATE = 200.0
TARGET_LATENCY_S = 1.0


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    benchlib.add_common_arguments(parser, 'balie_bench_booking')
    parser.add_argument(
        '--clients', type=int, default=8,
        help="(a) concurrent booking processes (default: %(default)s)")
    parser.add_argument(
        '--duration', type=float, default=20.0,
        help="(a) seconds of booking (default: %(default)s)")
    parser.add_argument(
        '--chasers', type=int, default=500,
        help="(b) clients chasing the slots (default: %(default)s)")
    parser.add_argument(
        '--slots', type=int, default=20,
        help="(b) slots they chase (default: %(default)s)")
    parser.add_argument(
        '--servers', type=int, default=8,
        help="(b) processes answering the clients (default: %(default)s)")
    parser.add_argument(
        '--skip-sequential', action='store_true',
        help="skip phase (0), one client booking with a time breakdown")
    parser.add_argument(
        '--skip-throughput', action='store_true', help="skip phase (a)")
    parser.add_argument(
        '--skip-contention', action='store_true', help="skip phase (b)")
    parser.add_argument(
        '--baseline', action='store_true',
        help="(a) also run the same load with a bare Appointment.create "
        "of the slot (no free-slot check, no dossier lookup, no timeline "
        "event): the floor that the ORM and the commit set")
    parser.add_argument(
        '--profile', metavar='FILE',
        help="(a) run worker 0 under cProfile and dump the stats to FILE "
        "(.prof, read with python -m pstats)")
    benchlib.add_patch_argument(parser)
    return parser.parse_args(argv)


# -- in the worker processes -------------------------------------------------

class Worker:
    "A trytond 'server process': its own Pool and connection pool."

    def __init__(self, cfg):
        benchlib.configure(cfg['uri'])
        from trytond.pool import Pool
        from trytond.transaction import Transaction
        self.cfg = cfg
        self.database = cfg['database']
        self.pool = Pool(self.database)
        self.pool.init()
        if cfg.get('patch'):
            benchlib.apply_patch(cfg['patch'], self.pool)
        self.Appointment = self.pool.get('balie.appointment')
        User = self.pool.get('res.user')
        with Transaction().start(self.database, 1, readonly=True):
            self.context = User.get_preferences(context_only=True)
        self.context['_check_access'] = True    # as over JSON-RPC
        self.stats = {}

    def free_slots(self, day, employee=None):
        from digitale_balie.slots import Slot
        result = benchlib.in_transaction(
            self.database, 1,
            lambda t: self.Appointment.free_slots(
                self.cfg['service'], day, day, employee),
            context=self.context, readonly=True)
        return [Slot(
                dt.datetime.fromisoformat(s['start'][:-1]),
                dt.datetime.fromisoformat(s['end'][:-1]),
                s['employee']) for s in result]

    def create(self, party, dossier, slot):
        "The baseline: only Appointment.create of the slot, committed."
        values = {
            'company': self.cfg['company'],
            'party': party,
            'dossier': dossier,
            'service': self.cfg['service'],
            'employee': slot.employee,
            'start': slot.start,
            'end': slot.end,
            'channel': 'video',
            'origin': 'counter',
            'language': 'nl',
            'notify_by': 'paper',
            }
        return benchlib.in_transaction(
            self.database, 1,
            lambda t: self.Appointment.create([values])[0].id,
            context=self.context, commit=True, stats=self.stats)

    def book(self, party, slot):
        values = {
            'party': party,
            'service': self.cfg['service'],
            'start': slot.start,
            'employee': slot.employee,
            'channel': 'video',
            'origin': 'counter',
            'language': 'nl',
            'notify_by': 'paper',
            }
        return benchlib.in_transaction(
            self.database, 1,
            lambda t: self.Appointment.book_slot(values),
            context=self.context, commit=True, stats=self.stats)


def _classify(exception):
    from digitale_balie.exceptions import SlotTakenError, SlotUnavailableError
    if isinstance(exception, SlotTakenError):
        return 'SlotTakenError'
    if isinstance(exception, SlotUnavailableError):
        return 'SlotUnavailableError'
    return 'other ' + type(exception).__name__


def throughput_worker(cfg, index, ready, go, start_at, results):
    try:
        worker = Worker(cfg)
        rng = random.Random(cfg['seed'] + index)
        # this process owns every clients-th working day from day_offset on
        slots = []
        for day in cfg['days'][index::cfg['clients']]:
            slots += worker.free_slots(dt.date.fromisoformat(day))
            if len(slots) >= cfg['max_slots']:
                break
        rng.shuffle(slots)
        citizens = cfg['citizens']
        profiler = None
        if cfg['profile'] and index == 0:
            import cProfile
            profiler = cProfile.Profile()
    except Exception:
        ready.wait()
        results.put({'index': index, 'fatal': traceback.format_exc()})
        return
    ready.wait()
    go.wait()
    benchlib.wait_until(start_at.value)
    deadline = start_at.value + cfg['duration']
    latencies, outcomes, errors = [], collections.Counter(), {}
    ok_in_time = 0
    cpu_started = time.process_time()
    if profiler:
        profiler.enable()
    for slot in slots:
        if time.monotonic() >= deadline:
            break
        started = time.monotonic()
        k = rng.randrange(len(citizens))
        try:
            if cfg['mode'] == 'create':
                worker.create(citizens[k], cfg['dossiers'][k], slot)
            else:
                worker.book(citizens[k], slot)
        except Exception as exception:
            kind = _classify(exception)
            outcomes[kind] += 1
            errors.setdefault(kind, traceback.format_exc())
        else:
            outcomes['ok'] += 1
            finished = time.monotonic()
            if finished <= deadline:
                ok_in_time += 1
        latencies.append((time.monotonic() - started) * 1000)
    else:
        outcomes['ran out of prepared slots'] += 1
    cpu = time.process_time() - cpu_started
    if profiler:
        profiler.disable()
        profiler.dump_stats(cfg['profile'])
    results.put({
            'index': index, 'slots': len(slots), 'ok_in_time': ok_in_time,
            'latencies': latencies, 'outcomes': dict(outcomes),
            'errors': errors, 'stats': worker.stats, 'cpu': cpu,
            'attempts': len(latencies)})


def contention_worker(cfg, index, ready, go, start_at, tasks, results):
    from digitale_balie.slots import Slot
    try:
        worker = Worker(cfg)
    except Exception:
        ready.wait()
        results.put({'index': index, 'fatal': traceback.format_exc()})
        return
    ready.wait()
    go.wait()
    release = start_at.value
    benchlib.wait_until(release)
    cpu_started = time.process_time()
    while True:
        task = tasks.get()
        if task is None:
            break
        client, slot_index, party, (start, end, employee) = task
        slot = Slot(dt.datetime.fromisoformat(start),
            dt.datetime.fromisoformat(end), employee)
        started = time.monotonic()
        message = None
        try:
            worker.book(party, slot)
        except Exception as exception:
            outcome = _classify(exception)
            message = (getattr(exception, 'message', None)
                or traceback.format_exc())
        else:
            outcome = 'ok'
        answered = time.monotonic()
        results.put({
                'client': client, 'slot': slot_index, 'outcome': outcome,
                'message': message, 'worker': index,
                'queued_ms': (started - release) * 1000,
                'service_ms': (answered - started) * 1000,
                'total_ms': (answered - release) * 1000,
                })
    results.put({'index': index, 'done': True, 'stats': worker.stats,
            'cpu': time.process_time() - cpu_started})


# -- in the main process -----------------------------------------------------

class SectionTimer:
    "Wrap classmethods of pool classes to time them (benchmark only)."

    def __init__(self):
        self.seconds = collections.Counter()
        self.calls = collections.Counter()
        self.labels = []
        self.undo = []

    def wrap(self, Model, name, label):
        if not hasattr(Model, name):
            return
        self.labels.append(label)
        original = getattr(Model, name)     # bound to the class
        timer = self

        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                timer.seconds[label] += time.perf_counter() - started
                timer.calls[label] += 1
        setattr(Model, name, wrapper)
        self.undo.append((Model, name, Model.__dict__.get(name)))

    def restore(self):
        for Model, name, value in reversed(self.undo):
            if value is None:
                delattr(Model, name)
            else:
                setattr(Model, name, value)


def phase_sequential(args, meta, base_cfg, count=60):
    "One client, one process: latency of a booking and where it goes."
    import slots as slots_bench
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    from digitale_balie import slots as engine
    print()
    print(f"(0) one client books {count} free slots one after the other "
        "(latency and breakdown, no concurrency)")
    worker = Worker(base_cfg)
    pool = Pool(args.database)
    Appointment = pool.get('balie.appointment')
    Dossier = pool.get('balie.dossier')
    rng = random.Random(args.seed)
    today = engine.to_local(benchlib.utcnow()).date()
    free = []
    # days 301 ... are left to the baseline of (a); use 302 ... backwards
    for offset in range(benchlib.HORIZON_DAYS - 2, 300, -1):
        day = today + dt.timedelta(days=offset)
        if day.weekday() < 5:
            free += worker.free_slots(day)
        if len(free) >= count + 10:
            break
    rng.shuffle(free)
    for slot in free[:10]:                          # warm up
        worker.book(rng.choice(base_cfg['citizens']), slot)
    timer = SectionTimer()
    timer.wrap(Appointment, '_free_slots', 'Appointment._free_slots')
    timer.wrap(Dossier, 'find_or_create', 'Dossier.find_or_create')
    timer.wrap(Appointment, 'create', 'Appointment.create (incl. numbering)')
    timer.wrap(Appointment, 'set_number', '  of which set_number (save)')
    timer.wrap(Appointment, '_notify_booked',
        'Appointment._notify_booked (messages)')
    timer.wrap(Dossier, 'add_event', 'Dossier.add_event')
    commit = Transaction.commit
    commits = []

    def timed_commit(transaction):
        started = time.perf_counter()
        try:
            return commit(transaction)
        finally:
            commits.append(time.perf_counter() - started)
    Transaction.commit = timed_commit
    latencies = []
    try:
        with slots_bench.QueryCounter() as queries:
            for slot in free[10:10 + count]:
                started = time.perf_counter()
                worker.book(rng.choice(base_cfg['citizens']), slot)
                latencies.append((time.perf_counter() - started) * 1000)
    finally:
        Transaction.commit = commit
        timer.restore()
    n = len(latencies)
    total = sum(latencies)
    print(f"  latency: {benchlib.fmt(benchlib.summary(latencies))}")
    print(f"  = {1000 / (total / n):.0f} bookings/s for one process; "
        f"{queries.count / n:.0f} SQL statements per booking "
        f"({queries.seconds / n * 1000:.1f} ms waiting for PostgreSQL)")
    print("  breakdown per booking (mean):")
    for label in timer.labels:
        print(f"    {label:<40} {timer.seconds[label] / n * 1000:6.2f} ms")
    print(f"    {'commit':<40} {sum(commits) / n * 1000:6.2f} ms")
    Pool.stop(args.database)
    return total / n

def start_workers(target, count, cfg, extra=()):
    mp = multiprocessing.get_context('spawn')
    ready = mp.Barrier(count + 1)
    go = mp.Event()
    start_at = mp.Value('d', 0.0)
    results = mp.Queue()
    processes = [mp.Process(
            target=target,
            args=(cfg, i, ready, go, start_at) + tuple(extra) + (results,),
            daemon=True)
        for i in range(count)]
    for process in processes:
        process.start()
    started = time.monotonic()
    ready.wait(timeout=300)
    print(f"  {count} processes ready (trytond Pool loaded, slots looked up) "
        f"in {time.monotonic() - started:.1f} s")
    sys.stdout.flush()
    return processes, go, start_at, results


def cpu_report(before, after, wall, worker_cpu, count, what):
    ticks = os.sysconf('SC_CLK_TCK')
    busy = (after[0] - before[0]) / ticks
    total = (after[1] - before[1]) / ticks
    cores = os.cpu_count()
    print(f"  CPU over {wall:.1f} s: machine {100 * busy / total:.0f}% busy "
        f"({busy:.1f} of {total:.1f} core-s); the benchmark's trytond "
        f"processes {worker_cpu:.1f} core-s, everything else (PostgreSQL "
        f"backends, ...) {busy - worker_cpu:.1f} core-s")
    if count:
        print(f"  CPU per {what}: trytond {worker_cpu / count * 1000:.1f} ms "
            f"+ rest {(busy - worker_cpu) / count * 1000:.1f} ms "
            f"-> at most ~{count / busy * cores:.0f} {what}s/s on "
            f"{cores} saturated cores")


def release(go, start_at, delay=0.2):
    "Let the processes go at the same moment, delay seconds from now."
    start_at.value = time.monotonic() + delay
    go.set()
    benchlib.wait_until(start_at.value)
    return start_at.value


def working_days(first, last):
    day = first
    while day <= last:
        if day.weekday() < 5:
            yield day
        day += dt.timedelta(days=1)


def phase_throughput(args, meta, base_cfg, mode='book_slot'):
    from digitale_balie import slots as engine
    print()
    if mode == 'create':
        print(f"(a') baseline: {args.clients} processes only "
            f"Appointment.create distinct free slots for "
            f"{args.duration:.0f} s")
    else:
        print(f"(a) throughput: {args.clients} processes book distinct "
            f"free slots through book_slot for {args.duration:.0f} s")
    today = engine.to_local(benchlib.utcnow()).date()
    # book_slot uses days 8 .. 300 ahead, the baseline the days after and
    # phase (b) the first working day
    if mode == 'create':
        first, last = 301, benchlib.HORIZON_DAYS - 1
    else:
        first, last = 8, 300
    days = [d.isoformat() for d in working_days(
            today + dt.timedelta(days=first), today + dt.timedelta(days=last))]
    cfg = dict(base_cfg, clients=args.clients, days=days, mode=mode,
        duration=args.duration,
        profile=args.profile if mode == 'book_slot' else None,
        max_slots=int(args.duration * 150) + 100)
    processes, go, start_at, results = start_workers(
        throughput_worker, args.clients, cfg)
    release(go, start_at)
    cpu_before = benchlib.cpu_sample()
    reports = [results.get(timeout=args.duration + 600)
        for _ in processes]
    cpu_after = benchlib.cpu_sample()
    wall = time.monotonic() - start_at.value
    for process in processes:
        process.join(timeout=60)
    fatal = [r for r in reports if 'fatal' in r]
    if fatal:
        print(fatal[0]['fatal'])
        return False
    ok = sum(r['ok_in_time'] for r in reports)
    latencies = [x for r in reports for x in r['latencies']]
    outcomes = collections.Counter()
    stats = collections.Counter()
    for r in reports:
        outcomes.update(r['outcomes'])
        stats.update(r['stats'])
    rate = ok / args.duration
    print(f"  prepared free slots per process: "
        f"{min(r['slots'] for r in reports)}..{max(r['slots'] for r in reports)}")
    print(f"  outcomes: {dict(outcomes)}; trytond retries: "
        f"{dict(stats) or 'none'}")
    if latencies:
        print(f"  latency per booking: "
            f"{benchlib.fmt(benchlib.summary(latencies))}")
    print(f"  committed within {args.duration:.0f} s: {ok} bookings "
        f"= {rate:.1f} bookings/s "
        f"({rate / args.clients:.1f}/s per process)")
    cpu_report(cpu_before, cpu_after, wall,
        sum(r['cpu'] for r in reports),
        sum(r['attempts'] for r in reports), 'booking')
    for kind, text in sorted({k: v for r in reports
                for k, v in r['errors'].items()}.items()):
        print(f"  first {kind}:")
        print('    ' + text.strip().replace('\n', '\n    '))
    passed = rate >= TARGET_RATE and not any(
        k.startswith('other') for k in outcomes)
    if mode == 'create':
        print(f"  (baseline, no target; book_slot's target is "
            f">= {TARGET_RATE:.0f}/s)")
        return None
    print(f"  target >= {TARGET_RATE:.0f} bookings/s: {rate:.1f}  "
        f"{'PASS' if passed else 'FAIL'}")
    if args.profile:
        print(f"  cProfile of process 0 written to {args.profile}")
    return passed


def phase_contention(args, meta, base_cfg):
    from trytond.pool import Pool
    from digitale_balie import slots as engine
    print()
    print(f"(b) contention: {args.chasers} clients chase {args.slots} slots, "
        f"answered by {args.servers} processes")
    rng = random.Random(args.seed)
    today = engine.to_local(benchlib.utcnow()).date()
    # the first working day with enough free slots, from tomorrow on
    worker = Worker(base_cfg)
    for day in working_days(
            today + dt.timedelta(days=1), today + dt.timedelta(days=30)):
        free = worker.free_slots(day)
        if len(free) >= args.slots:
            break
    chased = sorted(rng.sample(free, args.slots))
    Pool.stop(args.database)
    print(f"  chased slots: {day}, {len(chased)} of the {len(free)} free "
        f"slots, {len({s.employee for s in chased})} clerks")
    citizens = base_cfg['citizens']
    if args.chasers > len(citizens):
        citizens = citizens * (args.chasers // len(citizens) + 1)
    tasks_list = [
        (client, client % args.slots, citizens[client],
            (chased[client % args.slots].start.isoformat(),
                chased[client % args.slots].end.isoformat(),
                chased[client % args.slots].employee))
        for client in range(args.chasers)]
    rng.shuffle(tasks_list)

    mp = multiprocessing.get_context('spawn')
    tasks = mp.Queue()
    for task in tasks_list:
        tasks.put(task)
    for _ in range(args.servers):
        tasks.put(None)
    processes, go, start_at, results = start_workers(
        contention_worker, args.servers, base_cfg, extra=(tasks,))
    release(go, start_at)
    cpu_before = benchlib.cpu_sample()
    answers, stats, done = [], collections.Counter(), 0
    worker_cpu = 0.0
    deadline = time.monotonic() + 600
    while done < args.servers and time.monotonic() < deadline:
        try:
            item = results.get(timeout=5)
        except queue.Empty:
            if not any(p.is_alive() for p in processes):
                break
            continue
        if 'fatal' in item:
            print(item['fatal'])
            return False
        if item.get('done'):
            done += 1
            stats.update(item['stats'])
            worker_cpu += item['cpu']
        else:
            answers.append(item)
    cpu_after = benchlib.cpu_sample()
    wall = time.monotonic() - start_at.value
    for process in processes:
        process.join(timeout=60)

    outcomes = collections.Counter(a['outcome'] for a in answers)
    winners = collections.Counter(
        a['slot'] for a in answers if a['outcome'] == 'ok')
    total = [a['total_ms'] for a in answers]
    service = [a['service_ms'] for a in answers]
    print(f"  answers: {len(answers)} of {args.chasers}; outcomes: "
        f"{dict(outcomes)}; trytond retries: {dict(stats) or 'none'}")
    print(f"  winners per slot: "
        f"{sorted(winners.values()) if winners else []}")
    examples = {}
    for a in answers:
        if a['outcome'] != 'ok':
            examples.setdefault(a['outcome'], a['message'])
    for kind, message in examples.items():
        print(f"  {kind}: {str(message).strip()[:300]}")
    if total:
        print(f"  latency, sent -> answered: "
            f"{benchlib.fmt(benchlib.summary(total))}")
        print(f"  latency, in service only:  "
            f"{benchlib.fmt(benchlib.summary(service))}")
        print(f"  all answered after {max(total) / 1000:.2f} s "
            f"({len(answers) / (max(total) / 1000):.0f} answers/s)")
        cpu_report(cpu_before, cpu_after, wall, worker_cpu, len(answers),
            'answer')

    overlaps = benchlib.overlaps(args.uri, args.database)
    with benchlib._admin_connection(args.uri, args.database) as conn:
        booked = conn.execute(
            "SELECT count(*) FROM balie_appointment "
            "WHERE state != 'cancelled' AND ("
            + " OR ".join(["(employee = %s AND start = %s)"] * len(chased))
            + ")",
            [v for s in chased for v in (s.employee, s.start)]).fetchone()[0]
    print(f"  SQL: {booked} non-cancelled appointments on the chased slots; "
        f"{overlaps} overlapping pairs of non-cancelled appointments "
        f"per clerk in the whole table")

    checks = {
        f'exactly {args.slots} bookings succeed':
            outcomes['ok'] == args.slots and len(winners) == args.slots
            and booked == args.slots,
        'every loser gets SlotTakenError/SlotUnavailableError':
            len(answers) == args.chasers and all(
                a['outcome'] in {
                    'ok', 'SlotTakenError', 'SlotUnavailableError'}
                for a in answers),
        f'every attempt answered < {TARGET_LATENCY_S:.0f} s after sending':
            bool(total) and max(total) < TARGET_LATENCY_S * 1000,
        'no overlapping appointments': overlaps == 0,
        }
    for name, ok in checks.items():
        print(f"  target {name}: {'PASS' if ok else 'FAIL'}")
    return all(checks.values())


def main(argv=None):
    args = parse_args(argv)
    if args.module_commit:
        benchlib.use_module_commit(args.module_commit)
    benchlib.configure(args.uri)
    benchlib.print_header("book_slot benchmark", args)
    meta, created = benchlib.prepare(args)
    constraint = benchlib.overlap_constraint(args.uri, args.database)
    print(f"overlap constraint: {constraint or 'NOT a real constraint'}")
    from trytond.pool import Pool
    Pool.stop(args.database)
    base_cfg = {
        'uri': args.uri, 'database': args.database, 'seed': args.seed,
        'service': meta['service'], 'citizens': meta['citizens'],
        'dossiers': meta['dossiers'], 'company': meta['company'],
        'patch': args.patch,
        }
    if args.patch:
        print(f"PATCHED: {args.patch} is applied in every process "
            "(figures are not those of the module as it is)")
    results = {}
    try:
        if not args.skip_sequential:
            phase_sequential(args, meta, base_cfg)
        if not args.skip_throughput:
            results['(a) throughput'] = phase_throughput(args, meta, base_cfg)
            if args.baseline:
                phase_throughput(args, meta, base_cfg, mode='create')
        if not args.skip_contention:
            results['(b) contention'] = phase_contention(
                args, meta, base_cfg)
        overlaps = benchlib.overlaps(args.uri, args.database)
        print()
        print(f"SQL check: {overlaps} overlapping pairs of non-cancelled "
            "appointments of one clerk")
        results['no overlaps'] = overlaps == 0
        print("RESULT: " + ", ".join(
                f"{name} {'PASS' if ok else 'FAIL'}"
                for name, ok in results.items()))
    finally:
        benchlib.finish(args, created)
    return all(results.values())


if __name__ == '__main__':
    sys.exit(0 if main() else 1)
