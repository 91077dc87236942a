#!/usr/bin/env python3
# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Benchmark of the citizen's personal page, GET /balie, over HTTP on
PostgreSQL, next to a bare werkzeug "hello" app measured in the same run
(prints figures; not a test).

Setup: benchlib's municipality, smaller by default (1,000 citizens with a
dossier, 5,000 appointments); every run gives --clients future 'booked'
appointments of as many different citizens a personal link each
(AccessToken.generate(appointment, 'card'), committed).

Servers: every server process is spawned and runs what trytond's own server
runs (`trytond` calls werkzeug's run_simple(..., threaded=True): a werkzeug
ThreadedWSGIServer, one thread per connection), serving either
  * portal: trytond.wsgi.app, the trytond Pool of the database loaded before
    it listens (like `trytond -d DB`), [balie] database = DB (through
    TRYTOND_BALIE__DATABASE), [cache] clean_timeout = 0;
  * hello: a bare werkzeug app, Response("Hello, World!"), nothing else.
--processes 1,2 measures both apps with one server process, then with two
processes that each run the same threaded server on the same port
(SO_REUSEPORT: the kernel spreads the connections, like the workers of a
pre-fork server).  werkzeug's server ends every answer with "Connection:
close" (werkzeug >= 2.1 has no keep-alive), so each request opens a TCP
connection, for both apps alike.  werkzeug's access log is off in both
(trytond's server writes one line per request to stderr).

Load: one spawned asyncio process runs --clients clients, each from its own
loopback address (127.0.1.x, so that the portal's per-address limits see
as many citizens).  First each client opens its own appointment's link,
GET /a/<token> -> 303 + cookie __Host-balie (the Secure cookie is then sent
by hand over plain HTTP), and GET /balie must answer 200.  Then the clients
send GET /balie with their cookie in a closed loop (the next request as soon
as the answer is in, no think time; keep-alive when the server allows it),
or paced with --rate; the hello app gets the very same requests.  Each run:
--warmup seconds of load, then --duration seconds measured: requests/s =
answers 200 completed in the window / duration; latency = request sent
(TCP connect included) -> whole answer read, for the answers completed in
the window.  The server processes also record the time and the thread CPU
time spent in the WSGI app.  The CPU of the server processes, the load
generator and the database's PostgreSQL backends comes from /proc, the
time stolen by the hypervisor from /proc/stat.  The machine may be shared:
each run first waits (--quiet-wait) for idle CPUs, and flags other load.

Targets (portal, each server layout): p99 <= 100 ms, and requests/s >=
0.25 x the hello app's with the same layout.

    .venv/bin/python bench/portal.py                    # fresh DB, dropped
    .venv/bin/python bench/portal.py --keep             # ... kept
    .venv/bin/python bench/portal.py --reuse --profile --processes 1
    .venv/bin/python bench/portal.py --reuse --rate 20  # paced load
    .venv/bin/python bench/portal.py --reuse --module-commit HEAD

--profile adds a run of one single-threaded server (werkzeug
BaseWSGIServer) under cProfile for --profile-duration seconds of the same
load, and prints where a request's time goes (--profile-out FILE keeps the
stats for python -m pstats).  Results: docs/performance.md.
"""
import argparse
import asyncio
import collections
import io
import multiprocessing
import os
import queue
import random
import socket
import sys
import threading
import time
import traceback

import benchlib

TARGET_P99_MS = 100.0
TARGET_RATIO = 0.25
DEFAULT_DATABASE = 'balie_bench_portal'
COOKIE = '__Host-balie'
HOST = '127.0.0.1'
LISTEN_BACKLOG = 128            # werkzeug's LISTEN_QUEUE, as trytond's server
PG_CONNECTIONS = 80             # trytond [database] maxconn over all servers


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    benchlib.add_common_arguments(parser, DEFAULT_DATABASE)
    parser.set_defaults(appointments=5_000, citizens=1_000)
    parser.add_argument(
        '-c', '--clients', type=int, default=50,
        help="concurrent clients, each a different citizen "
        "(default: %(default)s)")
    parser.add_argument(
        '--duration', type=float, default=10.0,
        help="measured seconds per run (default: %(default)s)")
    parser.add_argument(
        '--warmup', type=float, default=3.0,
        help="seconds of load before each measure (default: %(default)s)")
    parser.add_argument(
        '--processes', default='1,2',
        help="server layouts to measure: comma-separated numbers of "
        "threaded server processes (default: %(default)s)")
    parser.add_argument(
        '--rate', type=float, metavar='R',
        help="pace the clients at R requests/s in all (each client one "
        "request every clients/R s; latency from when a request was due) "
        "instead of the closed loop: the latency below saturation")
    parser.add_argument(
        '--quiet-wait', type=float, default=5.0, metavar='S',
        help="before each run, wait up to S s until the machine's CPUs "
        "are 85%% idle for 2 s (default: %(default)s; 0: don't wait)")
    parser.add_argument(
        '--profile', action='store_true',
        help="add a run of a one-thread portal server under cProfile and "
        "print where a request's time goes")
    parser.add_argument(
        '--profile-duration', type=float, default=8.0,
        help="seconds of the cProfile run (default: %(default)s)")
    parser.add_argument(
        '--profile-out', metavar='FILE',
        help="also dump the cProfile stats to FILE")
    args = parser.parse_args(argv)
    try:
        args.processes = [int(n) for n in args.processes.split(',') if n]
    except ValueError:
        parser.error("--processes: comma-separated integers")
    if not args.processes or min(args.processes) < 1:
        parser.error("--processes: at least one number >= 1")
    if args.clients < 1:
        parser.error("--clients: at least 1")
    if args.rate is not None and args.rate <= 0:
        parser.error("--rate: a positive number")
    return args


def free_port():
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def stats_ms(values):
    "p50/p95/p99/max/mean of a non-empty list of milliseconds."
    return {
        'n': len(values),
        'p50': benchlib.percentile(values, 50),
        'p95': benchlib.percentile(values, 95),
        'p99': benchlib.percentile(values, 99),
        'max': max(values),
        'mean': sum(values) / len(values),
        }


def fmt_ms(s):
    return (f"p50 {s['p50']:6.1f}  p95 {s['p95']:6.1f}  "
        f"p99 {s['p99']:6.1f}  max {s['max']:6.1f}  mean {s['mean']:6.1f} "
        f"ms (n={s['n']})")


# -- setup (main process) ------------------------------------------------------

def setup_links(args, meta):
    """Personal links of --clients future appointments of different
    citizens; return [(appointment id, language, raw token)]."""
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    rng = random.Random(args.seed)
    now = benchlib.utcnow()
    with benchlib._admin_connection(args.uri, args.database) as conn:
        rows = conn.execute(
            "SELECT DISTINCT ON (party) id, language FROM balie_appointment "
            "WHERE state = 'booked' AND start > %s "
            "ORDER BY party, start, id", (now,)).fetchall()
    if len(rows) < args.clients:
        raise SystemExit(f"only {len(rows)} citizens have a future booked "
            f"appointment, {args.clients} are needed: raise --appointments "
            "or --citizens (without --reuse)")
    rows = sorted(rng.sample(rows, args.clients))
    pool = Pool(args.database)
    pool.init()
    started = time.monotonic()
    with Transaction().start(args.database, 0,
            context={'company': meta['company']}) as transaction:
        Appointment = pool.get('balie.appointment')
        Token = pool.get('balie.access.token')
        links = []
        for appointment_id, language in rows:
            _, raw = Token.generate(Appointment(appointment_id), 'card')
            links.append((appointment_id, language, raw))
        transaction.commit()
    languages = collections.Counter(language for _, language, _ in links)
    print(f"personal links: {len(links)} appointments of {len(links)} "
        f"different citizens (languages "
        f"{', '.join(f'{k} {v}' for k, v in sorted(languages.items()))}), "
        f"AccessToken.generate in {time.monotonic() - started:.1f} s")
    Pool.stop(args.database)
    return links


# -- the servers (spawned processes) -------------------------------------------

def hello_app(environ, start_response):
    "The bare werkzeug app: one Response, no routing, no database."
    from werkzeug.wrappers import Response
    return Response('Hello, World!',
        content_type='text/plain; charset=utf-8')(environ, start_response)


def timed(app, records):
    """Record (end, wall ms, CPU ms of the thread) of every request: the
    time in the application, from the WSGI call to the last byte of its
    body (not the HTTP parsing and writing of the server)."""
    perf_counter, thread_time, monotonic = (
        time.perf_counter, time.thread_time, time.monotonic)

    def wrapper(environ, start_response):
        started, cpu = perf_counter(), thread_time()
        result = app(environ, start_response)
        try:
            body = list(result)
        finally:
            if hasattr(result, 'close'):
                result.close()
        records.append((monotonic(), (perf_counter() - started) * 1000,
                (thread_time() - cpu) * 1000))
        return body
    return wrapper


def server_main(cfg, index, stop, results):
    "One server process: the app behind werkzeug's server on cfg['port']."
    try:
        import logging
        os.environ['TRYTOND_BALIE__DATABASE'] = cfg['database']
        if cfg.get('maxconn'):
            os.environ['TRYTOND_DATABASE__MAXCONN'] = str(cfg['maxconn'])
        benchlib.configure(cfg['uri'])
        # no access log line per request (trytond's server writes one)
        logging.getLogger('werkzeug').setLevel(logging.WARNING)
        from werkzeug.serving import make_server
        if cfg['app'] == 'portal':
            from trytond.pool import Pool
            from trytond.wsgi import app
            Pool.start()
            Pool(cfg['database']).init()
        else:
            app = hello_app
        records = []
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((HOST, cfg['port']))
        sock.listen(LISTEN_BACKLOG)
        profiler = None
        if cfg.get('profile'):
            import cProfile
            profiler = cProfile.Profile()
            server = make_server(HOST, cfg['port'], timed(app, records),
                threaded=False, fd=sock.fileno())
            finish_request = server.finish_request

            def profiled(request, address):
                profiler.enable()
                try:
                    finish_request(request, address)
                finally:
                    profiler.disable()
            server.finish_request = profiled
        else:
            server = make_server(HOST, cfg['port'], timed(app, records),
                threaded=True, fd=sock.fileno())
        sock.close()            # the server has its own copy (fromfd)
        threading.Thread(
            target=lambda: (stop.wait(), server.shutdown()),
            daemon=True).start()
    except Exception:
        results.put({'index': index, 'fatal': traceback.format_exc()})
        return
    results.put({'index': index, 'ready': True, 'pid': os.getpid()})
    server.serve_forever(poll_interval=0.1)
    report = {'index': index, 'records': records,
        'threads': threading.active_count()}
    if profiler:
        import pstats
        if cfg.get('profile_out'):
            profiler.dump_stats(cfg['profile_out'])
        stats = pstats.Stats(profiler)
        report['profile'] = profile_report(stats, len(records))
    results.put(report)


def profile_report(stats, requests):
    """The text of the profile: generic parts of a request, the module's
    functions by cumulative time, then pstats' list by internal time."""
    out = io.StringIO()
    stats.stream = out
    n = max(requests, 1)
    total = stats.total_tt
    print(f"{requests} requests profiled, {total:.2f} s in all = "
        f"{total / n * 1000:.2f} ms per request under cProfile (the "
        "profiler slows Python code down about 2x)", file=out)

    def find(filename, function):
        "(cumulative s, calls) of the functions of that name in file."
        cum, calls, found = 0.0, 0, False
        for (path, _, name), (cc, nc, tt, ct, callers) in \
                stats.stats.items():
            if name == function and path.endswith(filename):
                cum += ct
                calls += nc
                found = True
        return (cum, calls) if found else None
    # generic parts, looked up by name: a missing one only drops its line
    parts = [
        ('werkzeug server: the whole request', 'werkzeug/serving.py',
            'handle'),
        ('trytond.wsgi.TrytondWSGI.wsgi_app', 'trytond/wsgi.py',
            'wsgi_app'),
        ('  Transaction.start', 'trytond/transaction.py', 'start'),
        ('  Transaction.commit', 'trytond/transaction.py', 'commit'),
        ('  ModelSQL.read (every record read)', 'trytond/model/modelsql.py',
            'read'),
        ('    ModelSingleton.read (balie.configuration)',
            'trytond/model/modelsingleton.py', 'read'),
        ('    ir.translation get_ids (translated fields)',
            'trytond/ir/translation.py', 'get_ids'),
        ('  ModelSQL.search', 'trytond/model/modelsql.py', 'search'),
        ('  trytond.i18n.gettext (messages)', 'trytond/i18n.py', 'gettext'),
        ('  Genshi MarkupTemplate.__init__ (parsing)',
            'genshi/template/markup.py', '__init__'),
        ('  Genshi Stream.render (generate + serialize)', 'genshi/core.py',
            'render'),
        ('  SQL: psycopg Cursor.execute', 'psycopg/cursor.py', 'execute'),
        ]
    print(f"{'part (cumulative, per request; parts overlap)':<52} "
        f"{'ms':>7} {'calls':>7}", file=out)
    for label, filename, function in parts:
        found = find(filename, function)
        if found:
            print(f"{label:<52} {found[0] / n * 1000:7.2f} "
                f"{found[1] / n:7.1f}", file=out)
    print(file=out)
    print("functions of the modules (cumulative, per request, >= 0.3 ms):",
        file=out)
    rows = []
    for (path, line, name), (cc, nc, tt, ct, callers) in \
            stats.stats.items():
        if '/modules/' in path or '/templates/' in path:
            if ct / n * 1000 >= 0.3:
                short = path[path.index('/modules/') + 9:] \
                    if '/modules/' in path else path
                rows.append((ct, nc, f"{short}:{line}({name})"))
    for ct, nc, where in sorted(rows, reverse=True)[:30]:
        print(f"  {ct / n * 1000:7.2f} ms {nc / n:6.1f} calls  {where}",
            file=out)
    print(file=out)
    stats.sort_stats('tottime').print_stats(20)
    return out.getvalue()


# -- the load generator (spawned process) --------------------------------------

def parse_head(head):
    "Status code and lower-case headers of an HTTP response head."
    lines = head.decode('latin-1').split('\r\n')
    status = int(lines[0].split(None, 2)[1])
    headers = {}
    for line in lines[1:]:
        if ':' in line:
            key, value = line.split(':', 1)
            headers.setdefault(key.strip().lower(), []).append(value.strip())
    return lines[0], status, headers


async def exchange(reader, writer, request):
    """Send one request, read the whole answer; return (status, headers,
    body, keep): keep is whether the connection may be used again."""
    writer.write(request)
    head = await reader.readuntil(b'\r\n\r\n')
    status_line, status, headers = parse_head(head[:-4])
    if 'content-length' in headers:
        body = await reader.readexactly(int(headers['content-length'][0]))
    elif 'chunked' in ','.join(headers.get('transfer-encoding', [])):
        chunks = []
        while True:
            size = int((await reader.readuntil(b'\r\n')).split(b';')[0], 16)
            chunk = await reader.readexactly(size + 2)
            if not size:
                break
            chunks.append(chunk[:-2])
        body = b''.join(chunks)
    else:
        body = await reader.read()
        return status, headers, body, False
    connection = ','.join(headers.get('connection', [])).lower()
    keep = ('close' not in connection
        and (status_line.startswith('HTTP/1.1') or 'keep-alive' in connection))
    return status, headers, body, keep


async def client(cfg, index, request, stats, first_errors):
    """One citizen: closed loop (the next request as soon as the answer is
    in), or paced at one request every clients / rate seconds; a paced
    request's latency counts from when it was due, so that a late answer
    also delays (and counts against) the requests queued behind it."""
    host, port = cfg['host'], cfg['port']
    source = (client_address(index), 0)
    t_start, t_end = cfg['t_start'], cfg['t_end']
    monotonic = time.monotonic
    period = len(cfg['requests']) / cfg['rate'] if cfg['rate'] else 0.0
    due = cfg['begin'] + random.Random(index).random() * period
    reader = writer = None
    while True:
        if period:
            wait = due - monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            sent, due = due, due + period
        else:
            sent = monotonic()
        if sent >= t_end:
            break
        status, error = None, None
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(
                    host, port, local_addr=source)
                stats['connections'] += 1
            status, _, _, keep = await exchange(reader, writer, request)
            if not keep:
                writer.close()
                reader = writer = None
        except (OSError, asyncio.IncompleteReadError, ValueError) as e:
            error = f"{type(e).__name__}: {e}"
            if writer is not None:
                writer.close()
            reader = writer = None
        done = monotonic()
        stats['answers'] += 1
        if t_start <= done < t_end:
            if status == 200:
                stats['latencies'].append((done - sent) * 1000)
            else:
                key = error.split(':')[0] if error else f'HTTP {status}'
                stats['errors'][key] += 1
                first_errors.setdefault(key, error or f'HTTP {status}')
        if error:
            await asyncio.sleep(0.01)   # don't spin on a refused connect
    if writer is not None:
        writer.close()


async def load(cfg):
    stats = {'answers': 0, 'connections': 0, 'latencies': [],
        'errors': collections.Counter()}
    first_errors = {}
    wait = cfg['begin'] - time.monotonic()
    if wait > 0:
        await asyncio.sleep(wait)
    await asyncio.gather(*(client(cfg, i, request, stats, first_errors)
            for i, request in enumerate(cfg['requests'])))
    stats['first_errors'] = first_errors
    stats['errors'] = dict(stats['errors'])
    return stats


def loader_main(cfg, results):
    try:
        cpu = time.process_time()
        stats = asyncio.run(load(cfg))
        stats['cpu'] = time.process_time() - cpu
        results.put(stats)
    except Exception:
        results.put({'fatal': traceback.format_exc()})


def client_address(index):
    """The source address of client index: every client, like every
    citizen, comes from its own address (127.0.0.0/8 is all loopback on
    Linux), so that per-address limits of the portal see 50 citizens."""
    return f'127.0.{1 + index // 250}.{1 + index % 250}'


def page_request(port, cookie):
    return (f"GET /balie HTTP/1.1\r\n"
        f"Host: {HOST}:{port}\r\n"
        f"User-Agent: balie-bench/1\r\n"
        f"Accept: text/html\r\n"
        f"Accept-Language: nl-BE,nl;q=0.9\r\n"
        f"Cookie: {COOKIE}={cookie}\r\n\r\n").encode('latin-1')


# -- in the main process -------------------------------------------------------

def steal_ticks():
    "Jiffies the hypervisor gave to others (/proc/stat 'steal')."
    with open('/proc/stat') as fp:
        return int(fp.readline().split()[8])


def proc_ticks(pid):
    "CPU jiffies (user + system) of a process, 0 when gone."
    try:
        with open(f'/proc/{pid}/stat') as fp:
            fields = fp.read().rsplit(')', 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])


def backend_pids(args):
    with benchlib._admin_connection(args.uri) as conn:
        return [r[0] for r in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s",
                (args.database,)).fetchall()]


class Servers:
    "Spawned server processes of one app on one port."

    def __init__(self, args, app, count, profile=False):
        self.mp = multiprocessing.get_context('spawn')
        self.port = free_port()
        self.stop = self.mp.Event()
        self.results = self.mp.Queue()
        cfg = {'uri': args.uri, 'database': args.database, 'app': app,
            'port': self.port, 'profile': profile,
            'profile_out': args.profile_out,
            'maxconn': (min(64, PG_CONNECTIONS // count)
                if app == 'portal' else None)}
        self.processes = [self.mp.Process(target=server_main,
                args=(cfg, i, self.stop, self.results), daemon=True)
            for i in range(count)]
        self.pids = []

    def start(self):
        started = time.monotonic()
        for process in self.processes:
            process.start()
        for _ in self.processes:
            item = self.results.get(timeout=300)
            if 'fatal' in item:
                self.close()
                raise SystemExit(f"server process {item['index']} failed:\n"
                    + item['fatal'])
            self.pids.append(item['pid'])
        return time.monotonic() - started

    def finish(self):
        "Stop the servers; return their reports."
        self.stop.set()
        reports = []
        deadline = time.monotonic() + 60
        while len(reports) < len(self.processes) \
                and time.monotonic() < deadline:
            try:
                reports.append(self.results.get(timeout=5))
            except queue.Empty:
                if not any(p.is_alive() for p in self.processes):
                    break
        self.close()
        return reports

    def close(self):
        self.stop.set()
        for process in self.processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
                process.join()


def open_links(port, links):
    """GET /a/<token> for every link, one after the other: the session
    cookies and the latencies of the exchange."""
    import http.client
    cookies, latencies = [], []
    for i, (_, _, raw) in enumerate(links):
        conn = http.client.HTTPConnection(HOST, port, timeout=30,
            source_address=(client_address(i), 0))
        started = time.perf_counter()
        conn.request('GET', f'/a/{raw}', headers={'Accept': 'text/html'})
        response = conn.getresponse()
        response.read()
        latencies.append((time.perf_counter() - started) * 1000)
        conn.close()
        if response.status != 303 or response.getheader(
                'Location', '').rsplit('/', 1)[-1] != 'balie':
            raise SystemExit(f"GET /a/<token>: {response.status} "
                f"{response.reason}, expected 303 to /balie")
        cookie = None
        for header, value in response.getheaders():
            if header.lower() == 'set-cookie' and value.startswith(
                    COOKIE + '='):
                cookie = value.split(';', 1)[0].split('=', 1)[1]
        if not cookie:
            raise SystemExit(f"GET /a/<token>: no {COOKIE} cookie")
        cookies.append(cookie)
    return cookies, latencies


def check_pages(port, cookies):
    """GET /balie once per cookie, one after the other: all 200; return
    the sizes of the pages and the latencies."""
    import http.client
    sizes, latencies = [], []
    for i, cookie in enumerate(cookies):
        conn = http.client.HTTPConnection(HOST, port, timeout=30,
            source_address=(client_address(i), 0))
        started = time.perf_counter()
        conn.request('GET', '/balie', headers={
                'Accept': 'text/html', 'Cookie': f'{COOKIE}={cookie}'})
        response = conn.getresponse()
        body = response.read()
        latencies.append((time.perf_counter() - started) * 1000)
        conn.close()
        if response.status != 200:
            raise SystemExit(f"GET /balie with a session cookie: "
                f"{response.status} {response.reason}, expected 200")
        sizes.append(len(body))
    return sizes, latencies


def wait_for_quiet(args):
    """Wait (at most --quiet-wait seconds) until the CPUs were at least
    85 % idle for 2 s: the machine is shared.  Return the seconds waited."""
    if args.quiet_wait <= 0:
        return 0.0
    started = time.monotonic()
    quiet = 0
    while time.monotonic() - started < args.quiet_wait:
        before = benchlib.cpu_sample()
        time.sleep(0.5)
        after = benchlib.cpu_sample()
        idle = 1 - (after[0] - before[0]) / max(after[1] - before[1], 1)
        quiet = quiet + 1 if idle >= 0.85 else 0
        if quiet >= 4:
            break
    else:
        print(f"  (the machine was not quiet for {args.quiet_wait:.0f} s: "
            "measuring anyway)")
    return time.monotonic() - started


def run(args, label, app, count, cookies, links=None, profile=False,
        duration=None):
    """One measured run: start the servers, load them, stop them.
    Return the figures (a dict), or None after a fatal error."""
    duration = duration or args.duration
    print()
    print(f"-- {label}")
    servers = Servers(args, app, count, profile=profile)
    load = None
    try:
        seconds = servers.start()
        print(f"  {count} server process{'es' if count > 1 else ''} "
            f"(pid {', '.join(map(str, servers.pids))}) listening on "
            f"{HOST}:{servers.port} after {seconds:.1f} s"
            + (" (trytond Pool loaded)" if app == 'portal' else ""))
        if links is not None and not cookies:
            new, latencies = open_links(servers.port, links)
            cookies.extend(new)
            s = stats_ms(latencies)
            print(f"  GET /a/<token> -> 303 + cookie, {len(new)} links one "
                f"after the other: p50 {s['p50']:.1f} ms, max "
                f"{s['max']:.1f} ms")
        if app == 'portal':
            sizes, latencies = check_pages(servers.port, cookies)
            s = stats_ms(latencies)
            print(f"  GET /balie with each cookie, one after the other: 200, "
                f"pages of {min(sizes)}-{max(sizes)} bytes, p50 "
                f"{s['p50']:.1f} ms, max {s['max']:.1f} ms")
        waited = wait_for_quiet(args)
        if waited >= 3:
            print(f"  waited {waited:.0f} s for a quiet machine")
        sys.stdout.flush()
        mp = servers.mp
        begin = time.monotonic() + 1.0          # the loader spawns meanwhile
        t_start = begin + args.warmup
        t_end = t_start + duration
        cfg = {'host': HOST, 'port': servers.port, 'begin': begin,
            't_start': t_start, 't_end': t_end, 'rate': args.rate,
            'requests': [page_request(servers.port, c) for c in cookies]}
        results = mp.Queue()
        loader = mp.Process(target=loader_main, args=(cfg, results),
            daemon=True)
        loader.start()
        benchlib.wait_until(t_start - 0.3)
        pg_pids = backend_pids(args)
        benchlib.wait_until(t_start)
        cpu_before = benchlib.cpu_sample()
        steal_before = steal_ticks()
        ticks_before = {pid: proc_ticks(pid)
            for pid in servers.pids + [loader.pid] + pg_pids}
        benchlib.wait_until(t_end)
        cpu_after = benchlib.cpu_sample()
        steal_after = steal_ticks()
        ticks_after = {pid: proc_ticks(pid)
            for pid in servers.pids + [loader.pid] + pg_pids}
        pg_new = [p for p in backend_pids(args) if p not in ticks_before]
        ticks_after.update({pid: proc_ticks(pid) for pid in pg_new})
        pg_pids += pg_new
        load = results.get(timeout=120)
        loader.join(timeout=30)
        reports = servers.finish()
    finally:
        servers.close()
    if 'fatal' in load:
        print(load['fatal'])
        return None
    clock = os.sysconf('SC_CLK_TCK')

    def cpu(pids):
        return sum(ticks_after.get(p, 0) - ticks_before.get(p, 0)
            for p in pids) / clock
    busy = (cpu_after[0] - cpu_before[0]) / clock
    total = (cpu_after[1] - cpu_before[1]) / clock
    ok = len(load['latencies'])
    rate = ok / duration
    errors = sum(load['errors'].values())
    result = {'label': label, 'app': app, 'processes': count,
        'rate': rate, 'ok': ok, 'errors': errors,
        'latency': stats_ms(load['latencies']) if ok else None,
        'cpu': {'busy': busy, 'total': total,
            'servers': cpu(servers.pids), 'loader': cpu([loader.pid]),
            'postgresql': cpu(pg_pids),
            'steal': (steal_after - steal_before) / clock}}
    records = [r for report in reports for r in report.get('records', ())
        if t_start <= r[0] < t_end]
    print(f"  {ok} answers 200 in {duration:.0f} s = {rate:.1f} "
        f"requests/s" + (f" (offered: {args.rate:.0f}/s)" if args.rate
            else "") + f"; errors: {errors}"
        + (f" {load['errors']}" if errors else "")
        + f"; {load['connections']} TCP connections for "
        f"{load['answers']} answers (warm-up included)")
    for kind, text in load['first_errors'].items():
        print(f"    first {kind}: {text[:300]}")
    if ok:
        print(f"  latency (client):      {fmt_ms(result['latency'])}")
    if records:
        wall = stats_ms([r[1] for r in records])
        app_cpu = sum(r[2] for r in records) / len(records)
        result['app_cpu_ms'] = app_cpu
        result['app_wall'] = wall
        print(f"  time in the WSGI app:  {fmt_ms(wall)}")
        print(f"  CPU of the app's thread per request: {app_cpu:.2f} ms")
    c = result['cpu']
    rest = (c['busy'] - c['servers'] - c['loader'] - c['postgresql']
        - c['steal'])
    result['cpu']['rest'] = rest
    print(f"  CPU over {duration:.0f} s: machine "
        f"{100 * busy / max(total, 1e-9):.0f}% busy ({busy:.1f} of "
        f"{total:.1f} core-s): server processes {c['servers']:.1f}, load "
        f"generator {c['loader']:.1f}, PostgreSQL backends "
        f"{c['postgresql']:.1f}, stolen by the hypervisor {c['steal']:.1f}, "
        f"everything else {rest:.1f} core-s"
        + ("  <- other load on the machine: figures are pessimistic"
            if rest > 0.05 * total else ""))
    if ok:
        print(f"  CPU per answer: server {c['servers'] / ok * 1000:.2f} ms, "
            f"PostgreSQL {c['postgresql'] / ok * 1000:.2f} ms, load "
            f"generator {c['loader'] / ok * 1000:.2f} ms")
    for report in reports:
        if 'profile' in report:
            result['profile'] = report['profile']
    sys.stdout.flush()
    return result


def plural(count):
    return f"{count} process{'es' if count > 1 else ''}"


def main(argv=None):
    args = parse_args(argv)
    if args.module_commit:
        benchlib.use_module_commit(args.module_commit)
    benchlib.configure(args.uri)
    benchlib.print_header("portal: personal page benchmark", args)
    from importlib.metadata import version
    print(f"server:     werkzeug {version('werkzeug')} ThreadedWSGIServer "
        "(as trytond's own server), "
        + " then ".join(plural(n) for n in args.processes)
        + "; no access log")
    print(f"load:       {args.clients} "
        + (f"clients paced at {args.rate:g} requests/s in all"
            if args.rate else "closed-loop clients (no think time)")
        + f", one asyncio process; {args.warmup:g} s warm-up + "
        f"{args.duration:g} s measured per run")
    sys.stdout.flush()
    meta, created = benchlib.prepare(args)
    results = {}
    try:
        links = setup_links(args, meta)
        cookies = []
        runs = {}
        for count in args.processes:
            # the portal first: its first run opens the links
            portal = run(args, f"portal GET /balie, {plural(count)}",
                'portal', count, cookies, links=links)
            hello = run(args, f"hello app, {plural(count)}", 'hello', count,
                cookies)
            if hello is None or portal is None:
                return False
            runs[count] = (hello, portal)
        profiled = None
        if args.profile:
            profiled = run(args, "portal GET /balie, one-thread server "
                "under cProfile (its figures are distorted by the profiler)",
                'portal', 1, cookies, links=links, profile=True,
                duration=args.profile_duration)
        print()
        print(f"== summary: {args.clients} clients, "
            + (f"paced at {args.rate:g}/s" if args.rate else "closed loop")
            + f"; targets: p99 <= {TARGET_P99_MS:.0f} ms"
            + ("" if args.rate else
                f", >= {TARGET_RATIO} x the hello app's requests/s"))
        print(f"{'server':<17} {'hello req/s':>11} {'portal req/s':>12} "
            f"{'ratio':>6} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} "
            f"{'errors':>6}  result")
        for count, (hello, portal) in runs.items():
            inf = float('inf')
            lat = portal['latency'] or {'p50': inf, 'p95': inf, 'p99': inf}
            ratio = portal['rate'] / hello['rate'] if hello['rate'] else 0
            checks = {'p99': lat['p99'] <= TARGET_P99_MS}
            if args.rate:
                checks['rate kept'] = portal['rate'] >= 0.95 * args.rate
            else:
                checks['ratio'] = ratio >= TARGET_RATIO
            checks['no errors'] = not portal['errors'] and not hello['errors']
            verdict = ', '.join(f"{name} {'PASS' if ok else 'FAIL'}"
                for name, ok in checks.items())
            results[plural(count)] = all(checks.values())
            print(f"{plural(count) + ' x thr.':<17} {hello['rate']:11.1f} "
                f"{portal['rate']:12.1f} {ratio:6.3f} {lat['p50']:7.1f} "
                f"{lat['p95']:7.1f} {lat['p99']:7.1f} "
                f"{portal['errors'] + hello['errors']:6d}  {verdict}")
        print("RESULT: " + ", ".join(f"{name} {'PASS' if ok else 'FAIL'}"
                for name, ok in results.items()))
        if profiled and profiled.get('profile'):
            print()
            print("cProfile of the one-thread server:")
            print(profiled['profile'])
            if args.profile_out:
                print(f"stats written to {args.profile_out}")
    finally:
        benchlib.finish(args, created)
    return all(results.values())


if __name__ == '__main__':
    sys.exit(0 if main() else 1)
