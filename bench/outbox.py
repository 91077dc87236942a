#!/usr/bin/env python3
# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Benchmark of the outbox dispatcher, balie.message.dispatch, on PostgreSQL
(prints figures; not a test).

Setup (once per database; --reuse keeps it):
  * benchlib's municipality: 20 clerks, one service, citizens with a dossier
    (no appointment history by default: --appointments 0);
  * --messages appointments in the future (notify_by 'email', a contact
    e-mail each), inserted with raw SQL on the slot grid, then one message
    each written by the module itself, Message.queue() in transactions of
    1,000: half 'confirmation' (with the iCalendar invitation), half
    'reminder' (send_by = the start).  So every row is what the module
    writes: rendered subject and text, idempotency key, Message-ID, and a
    personal-link token row whose value is derived from [balie] secret.
    The ir.queue tasks that Message.queue pushes are deleted (no
    trytond-worker runs here): the cron's dispatch is what is measured.

Every run:
  * the --messages messages are reset to 'queued', attempts 0, due one
    minute ago (others of the benchmark are cancelled), VACUUM ANALYZE;
  * an aiosmtpd server (a thread of this process) receives the mail and
    records each Message-ID; [email] uri points to it (TRYTOND_EMAIL__URI),
    [balie] secret comes from TRYTOND_BALIE__SECRET;
  * --workers processes (spawned, own trytond Pool) each loop, like
    trytond-cron would:
        with Transaction().start(db, 0, context=cron_context):
            Message.dispatch()
    until dispatch finds no due message (dispatch claims batches with FOR
    UPDATE SKIP LOCKED in transactions of its own and sends each message
    in a transaction of its own); a DatabaseOperationalError escaping
    dispatch() is counted, shown, and the loop goes on (trytond-cron
    retries such a task);
  * wall time from the common start to the last worker's end; the CPU
    time of the workers, of the SMTP thread and of the PostgreSQL backends
    of the database (from /proc) gives the CPU per message, and what
    else ran on the machine meanwhile.

Targets: >= 300 messages/s; 0 lost (a message not 'delivered' in the
database, or whose Message-ID the SMTP server never received); 0 duplicated
(a Message-ID received more than once).

    .venv/bin/python bench/outbox.py                 # fresh DB, dropped
    .venv/bin/python bench/outbox.py --keep          # ... kept for --reuse
    .venv/bin/python bench/outbox.py --reuse --profile
    .venv/bin/python bench/outbox.py --reuse --prototype NAME

--prototype applies, in the worker processes only, changes that the module
does not have (see PROTOTYPES below); such figures are labelled PROTOTYPE.
"""
import argparse
import collections
import datetime as dt
import io
import multiprocessing
import os
import queue
import random
import re
import socket
import sys
import threading
import time
import traceback

import benchlib

TARGET_RATE = 300.0
DEFAULT_DATABASE = 'balie_bench_outbox'
SECRET = 'bench-outbox-secret-not-for-production'
EMAIL_FROM = 'Gemeente Benchmark <balie@benchmark.example>'
NUMBER_PREFIX = 'OUTBOX'
FIRST_DAY = 3        # the appointments start from the 3rd day from now
LANGUAGES = ['nl'] * 7 + ['fr'] * 2 + ['en']


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    benchlib.add_common_arguments(parser, DEFAULT_DATABASE)
    parser.set_defaults(appointments=0, citizens=2000)
    parser.add_argument(
        '-n', '--messages', type=int, default=10_000,
        help="due e-mail messages to send (default: %(default)s)")
    parser.add_argument(
        '-w', '--workers', type=int, default=2,
        help="dispatching processes (default: %(default)s)")
    parser.add_argument(
        '--batch', type=int, default=100,
        help="Message.dispatch(batch=...) (default: %(default)s, the "
        "module's default)")
    parser.add_argument(
        '--timeout', type=float, default=1800,
        help="give up after this many seconds (default: %(default)s)")
    parser.add_argument(
        '--profile', action='store_true',
        help="run worker 0 under cProfile and print where the time goes")
    parser.add_argument(
        '--profile-out', metavar='FILE',
        help="also dump worker 0's cProfile stats to FILE")
    parser.add_argument(
        '--prototype', metavar='NAME[,NAME]',
        help="apply benchmark-only prototypes of proposed changes in the "
        f"workers: {', '.join(PROTOTYPES)} (or 'all')")
    args = parser.parse_args(argv)
    if args.prototype:
        names = args.prototype.split(',')
        if names == ['all']:
            names = list(PROTOTYPES)
        unknown = set(names) - set(PROTOTYPES)
        if unknown:
            parser.error(f"unknown prototypes: {', '.join(sorted(unknown))}")
        args.prototype = names
    return args


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def set_environment(port):
    "The trytond configuration of every process; before importing trytond."
    os.environ.setdefault('TRYTOND_BALIE__SECRET', SECRET)
    os.environ['TRYTOND_EMAIL__URI'] = f'smtp://127.0.0.1:{port}'
    os.environ['TRYTOND_EMAIL__FROM'] = EMAIL_FROM


# -- the SMTP server -----------------------------------------------------------

_MESSAGE_ID = re.compile(rb'^message-id:[ \t]*(<[^>\r\n]*>)', re.I | re.M)


class Sink:
    "An aiosmtpd handler that records what it receives."

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.ids = collections.Counter()
            self.received = 0
            self.connections = 0
            self.without_id = 0
            self.first = self.last = None

    async def handle_EHLO(self, server, session, envelope, hostname,
            responses):
        session.host_name = hostname
        with self.lock:
            self.connections += 1
        return responses

    async def handle_DATA(self, server, session, envelope):
        content = envelope.content
        head = content[:content.find(b'\r\n\r\n') + 2 or len(content)]
        match = _MESSAGE_ID.search(head)
        now = time.monotonic()
        with self.lock:
            self.received += 1
            if match:
                self.ids[match.group(1).decode('ascii', 'replace')] += 1
            else:
                self.without_id += 1
            if self.first is None:
                self.first = now
            self.last = now
        return '250 OK queued'


def start_sink(port):
    from aiosmtpd.controller import Controller
    sink = Sink()
    controller = Controller(sink, hostname='127.0.0.1', port=port,
        server_hostname='sink.benchmark.example', ready_timeout=10)
    controller.start()
    sink.reset()        # forget the controller's own trial connection
    return sink, controller


# -- setup ---------------------------------------------------------------------

def bench_messages(conn):
    "The ids of the benchmark's e-mail messages, in order."
    return [r[0] for r in conn.execute(
            "SELECT m.id FROM balie_message AS m "
            "JOIN balie_appointment AS a ON a.id = m.appointment "
            "WHERE a.number LIKE %s AND m.channel = 'email' "
            "ORDER BY m.id", (NUMBER_PREFIX + '%',)).fetchall()]


def setup_outbox(args, meta):
    """Make sure the database holds --messages benchmark messages (written
    by Message.queue), then reset them to due."""
    from trytond.pool import Pool
    with benchlib._admin_connection(args.uri, args.database) as conn:
        existing = bench_messages(conn)
    missing = args.messages - len(existing)
    if missing > 0:
        create_messages(args, meta, len(existing), missing)
    Pool.stop(args.database)
    return reset_messages(args)


def create_messages(args, meta, offset, count):
    from sql import Table
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    from digitale_balie import slots as engine

    rng = random.Random(args.seed + offset)
    pool = Pool(args.database)
    pool.init()
    Configuration = pool.get('balie.configuration')
    context = {'company': meta['company']}

    started = time.monotonic()
    with Transaction().start(args.database, 0, context=context,
            _lock_tables=['balie_configuration']) as transaction:
        config = Configuration(1)
        config.portal_base_url = 'https://balie.benchmark.example'
        config.municipality_name = "Gemeente Benchmark"
        config.help_phone = "+32 50 12 34 56"
        config.save()
        cursor = transaction.connection.cursor()
        table = Table('balie_appointment')
        cursor.execute(*table.select(table.employee, table.start,
                where=table.state != 'cancelled'))
        taken = set(cursor)
        now = benchlib.utcnow()
        today = engine.to_local(now).date()
        days = [today + dt.timedelta(days=d)
            for d in range(FIRST_DAY, FIRST_DAY + 5 * 365)]
        grid = (s for s in benchlib.slot_grid(days, meta['employees'])
            if (s[0], s[1]) not in taken)
        columns = [table.number, table.company, table.party, table.dossier,
            table.service, table.employee, table.start, table.end,
            table.state, table.channel, table.origin, table.language,
            table.notify_by, table.contact_email, table.ical_sequence,
            table.booked_by, table.create_uid, table.create_date]
        rows = []
        for i in range(offset, offset + count):
            employee, start, end = next(grid)
            k = rng.randrange(len(meta['dossiers']))
            rows.append([f'{NUMBER_PREFIX}{i + 1:07d}', meta['company'],
                    meta['citizens'][k], meta['dossiers'][k],
                    meta['service'], employee, start, end, 'booked',
                    'video', 'portal', rng.choice(LANGUAGES), 'email',
                    f'burger{i + 1:06d}@inbox.benchmark.example',
                    0, 1, 0, now])
        for chunk in range(0, len(rows), 2000):
            cursor.execute(*table.insert(columns, rows[chunk:chunk + 2000]))
        cursor.execute(*table.select(table.id,
                where=table.number.like(NUMBER_PREFIX + '%'),
                order_by=[table.number.asc]))
        appointment_ids = [r[0] for r in cursor][offset:offset + count]
        transaction.commit()
    print(f"  inserted {count} appointments (raw SQL) in "
        f"{time.monotonic() - started:.1f} s")

    # Message.queue in big transactions, one appointment instance at a time
    # (like book_slot), in parallel processes
    started = time.monotonic()
    send_at = benchlib.utcnow() - dt.timedelta(minutes=1)
    Pool.stop(args.database)
    chunks = [(args.uri, args.database, meta['company'], send_at,
            list(enumerate(appointment_ids[c:c + 1000], offset + c)))
        for c in range(0, count, 1000)]
    mp = multiprocessing.get_context('spawn')
    with mp.Pool(max(1, min(args.workers, os.cpu_count() or 1))) as workers:
        done = sum(workers.map(queue_messages, chunks))
    seconds = time.monotonic() - started
    print(f"  queued {done} messages with Message.queue in {seconds:.1f} s "
        f"({done / seconds:.0f}/s)")


def queue_messages(chunk):
    "Write the messages of a chunk of appointments (in a setup process)."
    uri, database, company, send_at, numbered = chunk
    benchlib.configure(uri)
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    pool = Pool(database)
    pool.init()
    Appointment = pool.get('balie.appointment')
    Message = pool.get('balie.message')
    with Transaction().start(
            database, 0, context={'company': company}) as transaction:
        for i, appointment_id in numbered:
            appointment = Appointment(appointment_id)
            if i % 2:
                Message.queue(appointment, 'reminder', ['email'],
                    send_at=send_at, send_by=appointment.start)
            else:
                Message.queue(appointment, 'confirmation', ['email'],
                    send_at=send_at)
        transaction.commit()
    return len(numbered)


def reset_messages(args):
    "Make the first --messages benchmark messages due; return their ids."
    now = benchlib.utcnow()
    with benchlib._admin_connection(args.uri, args.database) as conn:
        ids = bench_messages(conn)[:args.messages]
        with conn.transaction():
            conn.execute(
                "UPDATE balie_message SET state = 'queued', attempts = 0, "
                "send_at = %s, next_attempt_at = NULL, lease_until = NULL, "
                "last_error = NULL, provider_reference = NULL, "
                "sent_at = NULL, delivered_at = NULL, opened_at = NULL, "
                "failed_at = NULL, cancelled_at = NULL "
                "WHERE id = ANY(%s)", (now - dt.timedelta(minutes=1), ids))
            conn.execute(
                "UPDATE balie_message SET state = 'cancelled', "
                "cancelled_at = %s WHERE state IN ('queued', 'sending') "
                "AND NOT id = ANY(%s)", (now, ids))
            # Message.queue pushed one task per message; no worker runs
            conn.execute("DELETE FROM ir_queue WHERE dequeued_at IS NULL")
        first_start, = conn.execute(
            "SELECT min(a.start) FROM balie_message AS m "
            "JOIN balie_appointment AS a ON a.id = m.appointment "
            "WHERE m.id = ANY(%s)", (ids,)).fetchone()
        if first_start <= now + dt.timedelta(hours=1):
            raise SystemExit(f"the reused appointments start at "
                f"{first_start}: too late for reminders, run without --reuse")
        conn.execute('VACUUM ANALYZE balie_message')
        conn.execute('VACUUM ANALYZE balie_access_token')
        kinds = dict(conn.execute(
                "SELECT kind, count(*) FROM balie_message WHERE id = ANY(%s) "
                "GROUP BY kind", (ids,)).fetchall())
        tokens = conn.execute(
            "SELECT count(*) FROM balie_message WHERE id = ANY(%s) "
            "AND token IS NOT NULL", (ids,)).fetchone()[0]
        due = conn.execute(
            "SELECT count(*) FROM balie_message WHERE state = 'queued' "
            "AND send_at <= %s", (now,)).fetchone()[0]
        total = conn.execute(
            "SELECT count(*) FROM balie_message").fetchone()[0]
    print(f"reset {len(ids)} messages to due "
        f"({', '.join(f'{v} {k}' for k, v in sorted(kinds.items()))}; "
        f"{tokens} with a personal-link token); {due} due messages in the "
        f"database, {total} messages in all")
    if due != len(ids):
        print(f"  WARNING: {due - len(ids)} other due messages will be sent "
            "too")
    return ids


# -- in the worker processes ---------------------------------------------------

class Sections:
    "Time functions by wrapping them (cheap: two perf_counter calls)."

    def __init__(self):
        self.seconds = collections.Counter()
        self.calls = collections.Counter()
        self.labels = []

    def wrap(self, owner, name, label):
        "Wrap owner.name, or owner[name] when owner is a dict (globals())."
        is_dict = isinstance(owner, dict)
        if (name not in owner) if is_dict else not hasattr(owner, name):
            return  # not in this version of the module
        original = owner[name] if is_dict else getattr(owner, name)
        seconds, calls = self.seconds, self.calls
        perf_counter = time.perf_counter
        self.labels.append(label)

        def wrapper(*args, **kwargs):
            started = perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                seconds[label] += perf_counter() - started
                calls[label] += 1
        if is_dict:
            owner[name] = wrapper
        else:
            setattr(owner, name, wrapper)


def instrument(pool):
    "Time the parts of a dispatch (benchmark only; no change in behaviour)."
    import smtplib
    from trytond.backend.postgresql.database import LoggingCursor
    from trytond.transaction import Transaction
    from digitale_balie import channels
    Message = pool.get('balie.message')
    Token = pool.get('balie.access.token')
    sections = Sections()
    sections.wrap(Message, '_claim', 'Message._claim (own transaction)')
    sections.wrap(Message, '_send_one', 'Message._send_one (own transaction)')
    sections.wrap(channels, 'build_email', '  channels.build_email')
    sections.wrap(Token, 'message_token',
        '    Token.message_token (derivation)')
    sections.wrap(channels, 'get_smtp_server',
        '  get_smtp_server (TCP connect, banner)')
    sections.wrap(smtplib.SMTP, 'sendmail',
        '  SMTP.sendmail (EHLO, MAIL, RCPT, DATA)')
    sections.wrap(smtplib.SMTP, 'quit', '  SMTP.quit')
    sections.wrap(Message, 'write', '  Message.write (the outcome)')
    if hasattr(Message, '_bench_render'):
        sections.wrap(Message, '_bench_render',
            'PROTOTYPE read + render a batch (read-only)')
    # the functions of this script look their globals up in globals(),
    # which in a spawned process is not the __mp_main__ module's dict
    sections.wrap(globals(), '_record_sent',
        '  PROTOTYPE UPDATE of the outcome')
    sections.wrap(Transaction, 'commit', 'Transaction.commit (all)')
    sections.wrap(LoggingCursor, 'execute', 'SQL statements (all)')
    return sections


def worker_main(cfg, index, ready, go, start_at, results, finish):
    try:
        benchlib.configure(cfg['uri'])
        from trytond import backend
        from trytond.config import config
        from trytond.pool import Pool
        from trytond.transaction import Transaction
        database = cfg['database']
        pool = Pool(database)
        pool.init()
        Message = pool.get('balie.message')
        Configuration = pool.get('balie.configuration')
        applied = []
        if cfg['prototype']:
            applied = apply_prototypes(pool, cfg['prototype'])
        sections = instrument(pool)
        context = {'_skip_warnings': True, '_cron': 'balie.message|dispatch',
            'company': cfg['company']}
        with Transaction().start(database, 0, context=context,
                readonly=True):
            # warm the caches like a long-running cron process
            Configuration(1).portal_base_url
            assert Message.secret(), "no [balie] secret"
            assert config.get('email', 'uri') == cfg['email_uri']
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
    sent, loops, errors, first_error = 0, 0, 0, None
    cpu_started = time.process_time()
    if profiler:
        profiler.enable()
    while True:
        loops += 1
        try:
            with Transaction().start(
                    database, 0, context=context) as transaction:
                count = Message.dispatch(batch=cfg['batch'])
                transaction.commit()
        except backend.DatabaseOperationalError:
            # trytond-cron retries a task that fails so
            errors += 1
            first_error = first_error or traceback.format_exc()
            if errors > 50:
                break
            continue
        sent += count
        if not count:
            break
    finished = time.monotonic()
    if profiler:
        profiler.disable()
    cpu = time.process_time() - cpu_started
    report = {
        'index': index, 'sent': sent, 'loops': loops, 'errors': errors,
        'first_error': first_error, 'finished': finished, 'cpu': cpu,
        'seconds': dict(sections.seconds), 'calls': dict(sections.calls),
        'labels': sections.labels, 'prototypes': applied,
        }
    if profiler:
        import pstats
        if cfg['profile_out']:
            profiler.dump_stats(cfg['profile_out'])
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats('tottime').print_stats(25)
        stats.sort_stats('cumulative').print_stats(40)
        report['profile'] = out.getvalue()
    results.put(report)
    # keep the PostgreSQL connections until the main process has read the
    # CPU time of their backends
    finish.wait(timeout=120)


# -- PROTOTYPES ----------------------------------------------------------------
#
# Benchmark-only prototypes of proposed changes go here, applied in the
# worker processes only (--prototype NAME).  The four that this script
# first measured (one SMTP session per batch, the outcome as one UPDATE,
# reading and rendering a claimed batch at once, retrying the claim under
# REPEATABLE READ) are now in the module: 162 -> 482 messages/s.
PROTOTYPES = {}
ORDER = []


def apply_prototypes(pool, names):
    names = [n for n in ORDER if n in names]
    for name in names:
        PROTOTYPES[name](pool)
    return names


# -- in the main process -------------------------------------------------------

def run(args, meta, ids, sink):
    from trytond.pool import Pool
    Pool.stop(args.database)
    cfg = {
        'uri': args.uri, 'database': args.database,
        'company': meta['company'], 'batch': args.batch,
        'email_uri': os.environ['TRYTOND_EMAIL__URI'],
        'profile': args.profile or bool(args.profile_out),
        'profile_out': args.profile_out, 'prototype': args.prototype,
        }
    mp = multiprocessing.get_context('spawn')
    ready = mp.Barrier(args.workers + 1)
    go = mp.Event()
    start_at = mp.Value('d', 0.0)
    results = mp.Queue()
    finish = mp.Event()
    processes = [mp.Process(target=worker_main,
            args=(cfg, i, ready, go, start_at, results, finish),
            daemon=True)
        for i in range(args.workers)]
    started = time.monotonic()
    for process in processes:
        process.start()
    ready.wait(timeout=300)
    print(f"{args.workers} worker processes ready (trytond Pool loaded) in "
        f"{time.monotonic() - started:.1f} s")
    if args.prototype:
        print(f"PROTOTYPE: {', '.join(args.prototype)} applied in the "
            "workers (figures are NOT those of the module as it is)")
    sys.stdout.flush()
    sink.reset()
    start_at.value = time.monotonic() + 0.2
    go.set()
    benchlib.wait_until(start_at.value)
    cpu_before = benchlib.cpu_sample()
    backends_before = backend_ticks(args)
    main_cpu = time.process_time()
    reports = []
    deadline = time.monotonic() + args.timeout
    while len(reports) < len(processes):
        try:
            reports.append(results.get(timeout=5))
        except queue.Empty:
            if time.monotonic() > deadline:
                print(f"TIMEOUT after {args.timeout:.0f} s")
                break
            if not any(p.is_alive() for p in processes):
                print("the workers died")
                break
    main_cpu = time.process_time() - main_cpu
    cpu_after = benchlib.cpu_sample()
    backends_after = backend_ticks(args)
    finish.set()
    for process in processes:
        process.join(timeout=30)
        if process.is_alive():
            process.kill()
    fatal = [r for r in reports if 'fatal' in r]
    if fatal:
        print(fatal[0]['fatal'])
        return None
    wall = (max(r['finished'] for r in reports) - start_at.value
        if reports else float('nan'))
    ticks = os.sysconf('SC_CLK_TCK')
    pg_cpu = sum(t - backends_before.get(pid, 0)
        for pid, t in backends_after.items()) / ticks
    return {'reports': reports, 'wall': wall, 'main_cpu': main_cpu,
        'cpu': (cpu_before, cpu_after), 'pg_cpu': pg_cpu}


def backend_ticks(args):
    "CPU jiffies (user + system) of the PostgreSQL backends of the database."
    with benchlib._admin_connection(args.uri) as conn:
        pids = [r[0] for r in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s",
                (args.database,)).fetchall()]
    ticks = {}
    for pid in pids:
        try:
            with open(f'/proc/{pid}/stat') as fp:
                fields = fp.read().rsplit(')', 1)[1].split()
        except OSError:
            continue        # not on this machine, or gone
        ticks[pid] = int(fields[11]) + int(fields[12])
    return ticks


def verify(args, ids, sink, started_utc):
    with benchlib._admin_connection(args.uri, args.database) as conn:
        rows = conn.execute(
            "SELECT id, state, message_id, attempts, last_error "
            "FROM balie_message WHERE id = ANY(%s)", (ids,)).fetchall()
        others = conn.execute(
            "SELECT count(*) FROM balie_message WHERE NOT id = ANY(%s) "
            "AND state IN ('delivered', 'sent') AND sent_at >= %s",
            (ids, started_utc)).fetchone()[0]
    with sink.lock:
        received = collections.Counter(sink.ids)
        total_received = sink.received
        connections = sink.connections
        without_id = sink.without_id
        sink_span = ((sink.last - sink.first)
            if sink.first is not None else 0.0)
    states = collections.Counter(r[1] for r in rows)
    not_delivered = [r for r in rows if r[1] != 'delivered']
    never_received = [r for r in rows if r[2] not in received]
    lost = {r[0] for r in not_delivered} | {r[0] for r in never_received}
    duplicated = {k: v for k, v in received.items() if v > 1}
    expected = {r[2] for r in rows}
    unexpected = sum(v for k, v in received.items() if k not in expected)
    attempts = collections.Counter(r[3] for r in rows)
    errors = collections.Counter(r[4] for r in rows if r[4])
    return {
        'states': dict(states), 'lost': lost,
        'not_delivered': len(not_delivered),
        'never_received': len(never_received),
        'duplicated_ids': len(duplicated),
        'duplicate_copies': sum(v - 1 for v in duplicated.values()),
        'received': total_received, 'distinct': len(received),
        'connections': connections, 'without_id': without_id,
        'unexpected': unexpected, 'others': others,
        'attempts': dict(sorted(attempts.items())),
        'errors': errors.most_common(3), 'sink_span': sink_span,
        'delivered': states.get('delivered', 0),
        }


def report(args, result, check):
    reports = result['reports']
    wall = result['wall']
    n = len(reports)
    sent = sum(r['sent'] for r in reports)
    print()
    print(f"dispatch: {n} workers, batch {args.batch}: "
        + ", ".join(f"worker {r['index']}: {r['sent']} messages, "
            f"{r['loops']} dispatch() calls, {r['cpu']:.1f} s CPU"
            + (f", {r['errors']} DatabaseOperationalError" if r['errors']
                else '')
            for r in sorted(reports, key=lambda r: r['index'])))
    rate = check['delivered'] / wall if wall > 0 else 0.0
    print(f"wall time: {wall:.2f} s for {check['delivered']} delivered "
        f"messages = {rate:.1f} messages/s "
        f"({rate / max(n, 1):.1f}/s per worker); dispatch() returned "
        f"{sent} in all"
        + (" (a dispatch() that raised returns no count)"
            if any(r['errors'] for r in reports) else ""))
    print(f"SMTP server: {check['received']} mails received over "
        f"{check['connections']} connections (EHLO), "
        f"{check['distinct']} distinct Message-IDs, first to last "
        f"{check['sink_span']:.2f} s; {result['main_cpu']:.1f} s CPU in "
        "this process (the SMTP server thread)")
    ticks = os.sysconf('SC_CLK_TCK')
    before, after = result['cpu']
    busy = (after[0] - before[0]) / ticks
    total = (after[1] - before[1]) / ticks
    worker_cpu = sum(r['cpu'] for r in reports)
    sink_cpu, pg_cpu = result['main_cpu'], result['pg_cpu']
    own = worker_cpu + sink_cpu + pg_cpu
    print(f"CPU: machine {100 * busy / max(total, 1e-9):.0f}% busy "
        f"({busy:.1f} of {total:.1f} core-s): trytond workers "
        f"{worker_cpu:.1f}, SMTP server {sink_cpu:.1f}, their PostgreSQL "
        f"backends {pg_cpu:.1f}, everything else on the machine "
        f"{busy - own:.1f} core-s"
        + ("  <- other load: figures are pessimistic"
            if busy - own > 0.15 * busy else ""))
    if check['delivered']:
        d = check['delivered']
        print(f"CPU per message: trytond {worker_cpu / d * 1000:.2f} ms + "
            f"SMTP server {sink_cpu / d * 1000:.2f} ms + PostgreSQL "
            f"{pg_cpu / d * 1000:.2f} ms = {own / d * 1000:.2f} ms "
            f"-> at most ~{d / own * os.cpu_count():.0f} messages/s with "
            f"{os.cpu_count()} cores to ourselves")
    # where a worker's time goes
    seconds = collections.Counter()
    calls = collections.Counter()
    for r in reports:
        seconds.update(r['seconds'])
        calls.update(r['calls'])
    handled = max(sum(check['states'].values()), 1)
    print(f"time per message, the workers' sum divided by the {handled} "
        f"messages (a worker spends {wall * 1000 * n / handled:.2f} ms of "
        f"wall time per message):")
    for label in reports[0]['labels']:
        if not calls[label]:
            continue
        print(f"  {label:<44} {seconds[label] / handled * 1000:7.3f} ms"
            f"  ({calls[label] / handled:.2f} calls)")
    print(f"database: states of the {sum(check['states'].values())} "
        f"messages {check['states']}; attempts {check['attempts']}")
    if check['errors']:
        print(f"  most common last_error: {check['errors']}")
    if check['others']:
        print(f"  ({check['others']} other messages were sent during the run)")
    print(f"lost: {len(check['lost'])} ({check['not_delivered']} not "
        f"'delivered' in the database, {check['never_received']} never "
        f"received by the SMTP server)")
    print(f"duplicated: {check['duplicated_ids']} Message-IDs received more "
        f"than once ({check['duplicate_copies']} extra copies); "
        f"{check['unexpected']} received mails with an unknown Message-ID, "
        f"{check['without_id']} without one")
    for r in reports:
        if r['first_error']:
            print(f"worker {r['index']}: first DatabaseOperationalError:")
            print('    ' + r['first_error'].strip().replace('\n', '\n    '))
    checks = {
        f'>= {TARGET_RATE:.0f} messages/s': rate >= TARGET_RATE,
        '0 lost': not check['lost'],
        '0 duplicated': not check['duplicated_ids'],
        }
    label = (' [PROTOTYPE ' + ','.join(args.prototype) + ']'
        if args.prototype else '')
    print()
    print(f"RESULT{label}: {rate:.1f} messages/s, {len(check['lost'])} lost, "
        f"{check['duplicated_ids']} duplicated: " + ", ".join(
            f"{name} {'PASS' if ok else 'FAIL'}"
            for name, ok in checks.items()))
    for r in reports:
        if r.get('profile'):
            print()
            print(f"cProfile of worker {r['index']} "
                f"({r['sent']} messages):")
            print(r['profile'])
    return all(checks.values())


def main(argv=None):
    args = parse_args(argv)
    if args.module_commit:
        benchlib.use_module_commit(args.module_commit)
    port = free_port()
    set_environment(port)
    benchlib.configure(args.uri)
    benchlib.print_header("outbox dispatch benchmark", args)
    print(f"SMTP:       aiosmtpd (thread of the main process) at "
        f"{os.environ['TRYTOND_EMAIL__URI']}; [balie] secret from "
        "TRYTOND_BALIE__SECRET")
    print(f"load:       {args.messages} due e-mail messages, "
        f"{args.workers} worker processes looping Message.dispatch"
        f"(batch={args.batch})")
    sys.stdout.flush()
    meta, created = benchlib.prepare(args)
    try:
        ids = setup_outbox(args, meta)
        sink, controller = start_sink(port)
        try:
            started_utc = benchlib.utcnow()
            result = run(args, meta, ids, sink)
            if result is None:
                return False
            time.sleep(0.2)     # let the SMTP thread finish a last DATA
            check = verify(args, ids, sink, started_utc)
            return report(args, result, check)
        finally:
            controller.stop()
    finally:
        benchlib.finish(args, created)


if __name__ == '__main__':
    sys.exit(0 if main() else 1)
