#!/usr/bin/env python3
# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""A mixed load at ten times the peak of a city of 500,000 inhabitants, on
PostgreSQL, over HTTP (prints figures; tests/test_load.py runs it short).

Setup: benchlib's municipality (by default 20 clerks, 1,000 citizens with a
dossier, 5,000 appointments); the admin user gets a password for JSON-RPC;
--clients future appointments of different citizens get a personal link
(as bench/portal.py); and as many free slots as the run will book are
read beforehand (different slots of the grid never overlap, so a booking
is never refused: a refusal here is an error).

Servers: --processes spawned trytond server processes (bench/portal.py's:
werkzeug's threaded server as `trytond` runs it, trytond.wsgi.app with the
database's Pool loaded, on one port with SO_REUSEPORT), which answer both
JSON-RPC and the portal.

Load: one spawned asyncio process sends, open loop (each request at its
time, whether the earlier ones are answered or not; evenly spaced per kind,
with a random phase), for --warmup then --duration seconds:
  lookup  --lookups/s   JSON-RPC model.balie.appointment.free_slots
                        (service, day, day) of a random day in the next
                        --lookup-horizon days, --lookup-days days long;
  book    --bookings/s  JSON-RPC model.balie.appointment.book_slot of one
                        of the prepared free slots (a clerk taking a phone
                        booking: notify_by 'paper');
  page    --pages/s     GET /balie with a citizen's session cookie;
  link    --links/s     GET /a/<token>, a personal link (-> 303 + cookie).
The JSON-RPC requests accept gzip, as sao and the Tryton client do (without
it trytond 8.0 sends an answer longer than 1,400 bytes as one HTTP chunk
per JSON token, which costs both sides several times the CPU).
Every request opens its TCP connection (werkzeug closes it after the
answer), from the citizen's own loopback address for the portal.  A
request's latency counts from the moment it was due (so a late generator
or a saturated server counts against it) to the last byte of the answer.
Achieved rate = good answers completed in the measured window / duration.
An error is anything else: a transport error, a timeout (--timeout), an
HTTP status other than the expected one, a JSON-RPC error.

Targets: 0 errors and each kind's achieved rate within 10 % of its target
(the p50/p95/p99 are figures, not targets).  Afterwards SQL checks that the
bookings made are in the database and that no two appointments of a clerk
overlap.

    .venv/bin/python bench/load.py                       # an hour, fresh DB
    .venv/bin/python bench/load.py --duration 600 --keep # ten minutes
    .venv/bin/python bench/load.py --reuse --duration 20 --json out.json
Results: docs/reliability.md.
"""
import argparse
import asyncio
import base64
import collections
import datetime as dt
import gzip
import json
import math
import multiprocessing
import os
import random
import secrets
import sys
import time
import traceback
import urllib.request

import benchlib
import portal

DEFAULT_DATABASE = 'balie_bench_load'
HOST = portal.HOST
KINDS = ('lookup', 'book', 'page', 'link')
RATE_TOLERANCE = 0.10


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    benchlib.add_common_arguments(parser, DEFAULT_DATABASE)
    parser.set_defaults(appointments=5_000, citizens=1_000)
    parser.add_argument('--duration', type=float, default=3600.0,
        help="measured seconds (default: %(default)s, the hour)")
    parser.add_argument('--warmup', type=float, default=5.0,
        help="seconds of load before the measure (default: %(default)s)")
    parser.add_argument('--lookups', type=float, default=50.0,
        help="free_slots calls per second (default: %(default)s)")
    parser.add_argument('--bookings', type=float, default=5.0,
        help="book_slot calls per second (default: %(default)s)")
    parser.add_argument('--pages', type=float, default=10.0,
        help="GET /balie per second (default: %(default)s)")
    parser.add_argument('--links', type=float, default=1.0,
        help="GET /a/<token> per second (default: %(default)s)")
    parser.add_argument('--scale', type=float, default=1.0,
        help="multiply every rate by this factor (default: %(default)s; "
        "tests/test_load.py scales down)")
    parser.add_argument('--lookup-days', type=int, default=1,
        help="days asked in one free_slots call (default: %(default)s)")
    parser.add_argument('--lookup-horizon', type=int, default=60,
        help="the days looked up are within this many days "
        "(default: %(default)s)")
    parser.add_argument('-c', '--clients', type=int, default=60,
        help="citizens with a personal link and a session (default: "
        "%(default)s)")
    parser.add_argument('--processes', type=int, default=2,
        help="trytond server processes (default: %(default)s)")
    parser.add_argument('--connections', type=int, default=30,
        help="PostgreSQL connections of all server processes together "
        "(default: %(default)s; the server is shared)")
    parser.add_argument('--timeout', type=float, default=30.0,
        help="seconds after which a request is an error (default: "
        "%(default)s)")
    parser.add_argument('--quiet-wait', type=float, default=10.0,
        metavar='S',
        help="before the load, wait up to S s until the machine's CPUs "
        "are 85%% idle for 2 s (default: %(default)s; 0: don't wait)")
    parser.add_argument('--json', metavar='FILE',
        help="also write the figures to FILE as JSON")
    args = parser.parse_args(argv)
    args.profile_out = None     # what portal.Servers expects
    for name in ('lookups', 'bookings', 'pages', 'links'):
        setattr(args, name, getattr(args, name) * args.scale)
    return args


# -- setup (main process) -----------------------------------------------------

def prepare_rpc(args, meta):
    """Give the admin a password; read the free slots the run will book.
    Return (password, [(employee, start ISO)], [party id])."""
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    rng = random.Random(args.seed + 1)
    needed = math.ceil(args.bookings * (args.duration + args.warmup + 5)
        * 1.05) + 10
    password = secrets.token_urlsafe(24)
    pool = Pool(args.database)
    pool.init()
    started = time.monotonic()
    with Transaction().start(args.database, 0,
            context={'company': meta['company']}) as transaction:
        User = pool.get('res.user')
        Appointment = pool.get('balie.appointment')
        Service = pool.get('balie.service')
        admin, = User.search([('login', '=', 'admin')])
        User.write([admin], {'password': password})
        service = Service(meta['service'])
        # beyond the days looked up, so that the run books what it read
        day = (benchlib.utcnow() + dt.timedelta(
                days=args.lookup_horizon + 2)).date()
        slots = []
        horizon = day + dt.timedelta(days=benchlib.HORIZON_DAYS - 5
            - args.lookup_horizon)
        while len(slots) < needed and day < horizon:
            slots += Appointment._free_slots(
                service, day, day + dt.timedelta(days=13))
            day += dt.timedelta(days=14)
        transaction.commit()
    if len(slots) < needed:
        raise SystemExit(f"only {len(slots)} free slots for {needed} "
            "bookings: lower --bookings or --duration")
    slots = rng.sample(slots, needed)
    bookable = [(s.employee, s.start.isoformat() + 'Z') for s in slots]
    parties = [rng.choice(meta['citizens']) for _ in bookable]
    print(f"prepared: admin password for JSON-RPC; {needed} free slots to "
        f"book, read in {time.monotonic() - started:.1f} s")
    Pool.stop(args.database)
    return password, bookable, parties


def rpc(port, database, method, params, auth=None):
    "One JSON-RPC call (setup only)."
    request = urllib.request.Request(
        f'http://{HOST}:{port}/{database}/rpc/',
        data=json.dumps({'id': 0, 'method': method,
                'params': params}).encode(),
        headers={'Content-Type': 'application/json',
            **({'Authorization': auth} if auth else {})})
    with urllib.request.urlopen(request, timeout=60) as response:
        answer = json.load(response)
    if 'error' in answer and answer['error']:
        raise SystemExit(f"{method}: {answer['error']}")
    return answer['result']


def login(port, database, password):
    "A JSON-RPC session of the admin; return the Authorization header."
    uid, session, *_ = rpc(port, database, 'common.db.login',
        ['admin', {'password': password}, 'en'])
    return 'Session ' + base64.b64encode(
        f'admin:{uid}:{session}'.encode()).decode()


# -- the load generator (spawned process) -------------------------------------

def json_date(day):
    return {'__class__': 'date', 'year': day.year, 'month': day.month,
        'day': day.day}


def rpc_request(cfg, method, params):
    body = json.dumps({'id': 1, 'method': method,
            'params': params}).encode()
    return (f"POST /{cfg['database']}/rpc/ HTTP/1.1\r\n"
        f"Host: {HOST}:{cfg['port']}\r\n"
        f"User-Agent: balie-load/1\r\n"
        f"Content-Type: application/json\r\n"
        # as sao and the Tryton client: without it trytond streams a long
        # answer in one HTTP chunk per JSON token
        f"Accept-Encoding: gzip\r\n"
        f"Authorization: {cfg['auth']}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n").encode('latin-1') + body


def get_request(cfg, path, cookie=None):
    return (f"GET {path} HTTP/1.1\r\n"
        f"Host: {HOST}:{cfg['port']}\r\n"
        f"User-Agent: balie-load/1\r\n"
        f"Accept: text/html\r\n"
        f"Accept-Language: nl-BE,nl;q=0.9\r\n"
        + (f"Cookie: {portal.COOKIE}={cookie}\r\n" if cookie else "")
        + "\r\n").encode('latin-1')


class Plan:
    "The requests of each kind, built when they are due."

    def __init__(self, cfg):
        self.cfg = cfg
        self.rng = random.Random(cfg['seed'])
        self.today = dt.date.fromisoformat(cfg['today'])
        self.booked = 0

    def lookup(self, n):
        cfg = self.cfg
        day = self.today + dt.timedelta(
            days=1 + self.rng.randrange(cfg['lookup_horizon']))
        last = day + dt.timedelta(days=cfg['lookup_days'] - 1)
        return (None, rpc_request(cfg, 'model.balie.appointment.free_slots',
                [cfg['service'], json_date(day), json_date(last), None, {}]),
            200, self.check_slots)

    def book(self, n):
        cfg = self.cfg
        employee, start = cfg['bookable'][n % len(cfg['bookable'])]
        values = {'party': cfg['parties'][n % len(cfg['parties'])],
            'service': cfg['service'], 'start': start,
            'employee': employee, 'channel': 'video', 'origin': 'phone',
            'notify_by': 'paper'}
        return (None, rpc_request(cfg, 'model.balie.appointment.book_slot',
                [values, {}]), 200, self.check_booked)

    def page(self, n):
        index = n % len(self.cfg['cookies'])
        return (index, get_request(self.cfg, '/balie',
                self.cfg['cookies'][index]), 200, None)

    def link(self, n):
        index = n % len(self.cfg['links'])
        return (index, get_request(self.cfg, f"/a/{self.cfg['links'][index]}"),
            303, None)

    @staticmethod
    def check_slots(body):
        answer = json.loads(body)
        if answer.get('error') or not isinstance(answer.get('result'), list):
            return f"RPC error: {answer.get('error')}"

    @staticmethod
    def check_booked(body):
        answer = json.loads(body)
        if answer.get('error') or not isinstance(answer.get('result'), int):
            return f"RPC error: {answer.get('error')}"


async def send(cfg, kind, due, source, request, expected, check, stats):
    monotonic = time.monotonic
    wait = due - monotonic()
    if wait > 0:
        await asyncio.sleep(wait)
    error = None
    writer = None
    try:
        async with asyncio.timeout(cfg['timeout']):
            reader, writer = await asyncio.open_connection(
                HOST, cfg['port'],
                local_addr=(portal.client_address(source), 0)
                if source is not None else None)
            status, headers, body, _ = await portal.exchange(
                reader, writer, request)
        if 'gzip' in ','.join(headers.get('content-encoding', [])) \
                and body[:2] == b'\x1f\x8b':
            body = gzip.decompress(body)
        if status != expected:
            error = f"HTTP {status}: {body[:200]!r}"
        elif check:
            error = check(body)
    except TimeoutError:
        error = "timeout"
    except (OSError, asyncio.IncompleteReadError, ValueError) as e:
        error = f"{type(e).__name__}: {e}"
    finally:
        if writer is not None:
            writer.close()
    done = monotonic()
    if cfg['t_start'] <= done < cfg['t_end']:
        if error:
            key = error.split(':')[0]
            stats[kind]['errors'][key] += 1
            stats[kind]['first_errors'].setdefault(key, error)
        else:
            stats[kind]['latencies'].append((done - due) * 1000)


async def pace(cfg, kind, rate, plan, stats, tasks):
    "Open loop: start each request of a kind at its time."
    if not rate:
        return
    period = 1 / rate
    due = cfg['begin'] + random.Random(kind).random() * period
    n = 0
    while due < cfg['t_end']:
        wait = due - time.monotonic() - 0.005
        if wait > 0:
            await asyncio.sleep(wait)
        source, request, expected, check = getattr(plan, kind)(n)
        tasks.add(asyncio.ensure_future(send(cfg, kind, due, source,
                    request, expected, check, stats)))
        stats[kind]['sent'] += 1
        n += 1
        due += period


async def load(cfg):
    stats = {kind: {'sent': 0, 'latencies': [],
            'errors': collections.Counter(), 'first_errors': {}}
        for kind in KINDS}
    plan = Plan(cfg)
    tasks = set()
    await asyncio.gather(*(pace(cfg, kind, cfg['rates'][kind], plan, stats,
                tasks) for kind in KINDS))
    if tasks:
        await asyncio.wait(tasks)
    for kind in KINDS:
        stats[kind]['errors'] = dict(stats[kind]['errors'])
    return stats


def loader_main(cfg, results):
    try:
        cpu = time.process_time()
        stats = asyncio.run(load(cfg))
        results.put({'stats': stats, 'cpu': time.process_time() - cpu})
    except Exception:
        results.put({'fatal': traceback.format_exc()})


# -- the run ------------------------------------------------------------------

def count_bookings(args):
    "Appointments booked by load runs (not the populated ones)."
    with benchlib._admin_connection(args.uri, args.database) as conn:
        return conn.execute(
            "SELECT count(*) FROM balie_appointment WHERE origin = 'phone' "
            "AND number NOT LIKE 'BENCH%'").fetchone()[0]


def run(args, meta):
    links = portal.setup_links(args, meta)
    password, bookable, parties = prepare_rpc(args, meta)
    portal.PG_CONNECTIONS = args.connections    # read by portal.Servers
    servers = portal.Servers(args, 'portal', args.processes)
    before = count_bookings(args)
    try:
        seconds = servers.start()
        print(f"{args.processes} server process"
            f"{'es' if args.processes > 1 else ''} (pid "
            f"{', '.join(map(str, servers.pids))}) on {HOST}:{servers.port}, "
            f"Pool loaded, after {seconds:.1f} s")
        cookies, _ = portal.open_links(servers.port, links)
        auth = login(servers.port, args.database, password)
        print(f"{len(cookies)} citizens opened their link (session "
            "cookies); the admin logged in over JSON-RPC")
        waited = portal.wait_for_quiet(args)
        if waited >= 3:
            print(f"waited {waited:.0f} s for a quiet machine")
        sys.stdout.flush()
        mp = servers.mp
        begin = time.monotonic() + 2.0          # the loader spawns meanwhile
        t_start = begin + args.warmup
        t_end = t_start + args.duration
        cfg = {'port': servers.port, 'database': args.database,
            'auth': auth, 'seed': args.seed, 'timeout': args.timeout,
            'today': benchlib.utcnow().date().isoformat(),
            'service': meta['service'], 'lookup_days': args.lookup_days,
            'lookup_horizon': args.lookup_horizon,
            'bookable': bookable, 'parties': parties,
            'cookies': cookies, 'links': [raw for _, _, raw in links],
            'rates': {'lookup': args.lookups, 'book': args.bookings,
                'page': args.pages, 'link': args.links},
            'begin': begin, 't_start': t_start, 't_end': t_end}
        results = mp.Queue()
        loader = mp.Process(target=loader_main, args=(cfg, results),
            daemon=True)
        loader.start()
        benchlib.wait_until(t_start - 0.3)
        pg_pids = portal.backend_pids(args)
        benchlib.wait_until(t_start)
        cpu_before = benchlib.cpu_sample()
        ticks_before = {pid: portal.proc_ticks(pid)
            for pid in servers.pids + pg_pids}
        benchlib.wait_until(t_end)
        cpu_after = benchlib.cpu_sample()
        ticks_after = {pid: portal.proc_ticks(pid)
            for pid in servers.pids + pg_pids}
        pg_new = [p for p in portal.backend_pids(args)
            if p not in ticks_before]
        ticks_after.update({pid: portal.proc_ticks(pid) for pid in pg_new})
        pg_pids += pg_new
        outcome = results.get(timeout=args.timeout + 120)
        loader.join(timeout=30)
        servers.finish()
    finally:
        servers.close()
    if 'fatal' in outcome:
        print(outcome['fatal'])
        return None
    clock = os.sysconf('SC_CLK_TCK')
    busy = (cpu_after[0] - cpu_before[0]) / clock

    def cpu(pids):
        return sum(ticks_after.get(p, 0) - ticks_before.get(p, 0)
            for p in pids) / clock
    total = (cpu_after[1] - cpu_before[1]) / clock
    booked = count_bookings(args) - before
    overlaps = benchlib.overlaps(args.uri, args.database)
    figures = {'duration': args.duration, 'warmup': args.warmup,
        'processes': args.processes, 'kinds': {},
        'machine_busy': busy / max(total, 1e-9),
        'servers_cpu_s': cpu(servers.pids), 'postgresql_cpu_s': cpu(pg_pids),
        'loader_cpu_s': outcome['cpu'], 'booked_in_database': booked,
        'overlaps': overlaps, 'load_average': os.getloadavg()}
    for kind in KINDS:
        s = outcome['stats'][kind]
        target = cfg['rates'][kind]
        ok = len(s['latencies'])
        entry = {'target': target, 'rate': ok / args.duration, 'ok': ok,
            'sent': s['sent'], 'errors': sum(s['errors'].values()),
            'error_kinds': s['errors'], 'first_errors': s['first_errors']}
        if ok:
            entry.update({p: benchlib.percentile(s['latencies'], q)
                    for p, q in [('p50', 50), ('p95', 95), ('p99', 99)]})
            entry['max'] = max(s['latencies'])
        figures['kinds'][kind] = entry
    return figures


def report(figures):
    "Print the figures; return whether the targets are met."
    print()
    print(f"== {figures['duration']:g} s measured (after "
        f"{figures['warmup']:g} s of warm-up), {figures['processes']} "
        f"server processes; machine {100 * figures['machine_busy']:.0f}% "
        f"busy; CPU-s: trytond servers {figures['servers_cpu_s']:.1f}, "
        f"PostgreSQL {figures['postgresql_cpu_s']:.1f}, load generator "
        f"{figures['loader_cpu_s']:.1f} (warm-up included); load average "
        + ' '.join(f'{v:.1f}' for v in figures['load_average']))
    print(f"{'kind':<7} {'target/s':>8} {'achieved/s':>10} {'ok':>7} "
        f"{'errors':>6} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} "
        f"{'max ms':>7}  result")
    good = True
    for kind, e in figures['kinds'].items():
        if not e['target']:
            continue
        within = abs(e['rate'] - e['target']) <= RATE_TOLERANCE * e['target']
        checks = {'rate': within, 'errors': not e['errors']}
        good = good and all(checks.values())
        lat = [f"{e.get(p, float('nan')):7.1f}"
            for p in ('p50', 'p95', 'p99', 'max')]
        print(f"{kind:<7} {e['target']:8.1f} {e['rate']:10.2f} {e['ok']:7d} "
            f"{e['errors']:6d} {' '.join(lat)}  "
            + ', '.join(f"{n} {'PASS' if v else 'FAIL'}"
                for n, v in checks.items()))
        for key, text in e['first_errors'].items():
            print(f"    {e['error_kinds'][key]} x {key}; first: {text[:300]}")
    booked_ok = figures['kinds']['book']['ok']
    print(f"database: {figures['booked_in_database']} appointments booked "
        f"by the run ({booked_ok} answered in the window, the others in the "
        f"warm-up or just after it), {figures['overlaps']} overlapping "
        "pairs of one clerk")
    good = good and figures['overlaps'] == 0 and (
        figures['booked_in_database'] >= booked_ok)
    print("RESULT: " + ("PASS" if good else "FAIL"))
    return good


def main(argv=None):
    args = parse_args(argv)
    if args.module_commit:
        benchlib.use_module_commit(args.module_commit)
    benchlib.configure(args.uri)
    benchlib.print_header("load: slot look-ups, bookings and portal pages",
        args)
    print(f"load:       open loop for {args.warmup:g} + {args.duration:g} s: "
        f"{args.lookups:g} free_slots/s ({args.lookup_days} day(s)), "
        f"{args.bookings:g} book_slot/s (JSON-RPC), {args.pages:g} "
        f"GET /balie/s and {args.links:g} GET /a/<token>/s "
        f"({args.clients} citizens)")
    sys.stdout.flush()
    meta, created = benchlib.prepare(args)
    try:
        figures = run(args, meta)
    finally:
        benchlib.finish(args, created)
    if figures is None:
        return False
    good = report(figures)
    figures['result'] = good
    if args.json:
        with open(args.json, 'w') as fp:
            json.dump(figures, fp, indent=1, default=str)
    return good


if __name__ == '__main__':
    multiprocessing.freeze_support()
    sys.exit(0 if main() else 1)
