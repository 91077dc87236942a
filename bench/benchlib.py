# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Shared helpers of the benchmark scripts (not a test module).

Creates a PostgreSQL database from template0 with btree_gist, activates
digitale_balie and fills it with a municipality-sized data set:

* one company, N clerks (company.employee, default 20) working
  Mon-Fri 08:00-12:00 and 13:00-17:00 (Europe/Brussels wall time);
* one service of 30 minutes with a 5 minute buffer, handled by all clerks;
* citizens (party.party) with one open dossier each for the service;
* M appointments (default 60,000) on the slot grid of the service, picked at
  random among all slots of the past and the next 365 days, inserted with
  raw SQL (python-sql) in batches; the EXCLUDE constraint checks them.

trytond must not be imported before configure() has set the database URI.
"""
import datetime as dt
import json
import math
import os
import platform
import random
import statistics
import sys
import time

DEFAULT_URI = 'postgresql://postgres@127.0.0.1:5432/'
HORIZON_DAYS = 400          # booking horizon set in balie.configuration
HISTORY_DAYS = 365          # appointments are spread over [-365, +365] days
SLOT_MINUTES = 30
BUFFER_MINUTES = 5
BLOCKS = ((dt.time(8), dt.time(12)), (dt.time(13), dt.time(17)))
SERVICE_CODE = 'BENCH'


def add_common_arguments(parser, default_database):
    group = parser.add_argument_group('database')
    group.add_argument(
        '--uri', default=os.environ.get('BENCH_DB_URI', DEFAULT_URI),
        help="PostgreSQL server URI without the database name "
        "(default: %(default)s, or $BENCH_DB_URI)")
    group.add_argument(
        '-d', '--database', default=default_database,
        help="benchmark database name (default: %(default)s)")
    group.add_argument(
        '--reuse', action='store_true',
        help="reuse the database if a previous run populated it (it is "
        "created when missing) and keep it afterwards")
    group.add_argument(
        '--keep', action='store_true',
        help="keep a freshly created database instead of dropping it")
    group.add_argument(
        '--clerks', type=int, default=20, help="default: %(default)s")
    group.add_argument(
        '--appointments', type=int, default=60_000,
        help="existing appointments to insert (default: %(default)s)")
    group.add_argument(
        '--citizens', type=int, default=5_000,
        help="citizens (parties with a dossier) (default: %(default)s)")
    group.add_argument(
        '--seed', type=int, default=20240601, help="random seed")
    add_module_argument(parser)


def add_module_argument(parser):
    parser.add_argument(
        '--module-commit', metavar='REV',
        help="benchmark digitale_balie as committed in REV (git archive "
        "into a temporary directory put first on the path) instead of the "
        "working tree, e.g. HEAD while modules/ is being edited")


def use_module_commit(rev):
    "Put a snapshot of modules/ at REV first on the path (and children's)."
    import atexit
    import shutil
    import subprocess
    import tarfile
    import tempfile
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    commit = subprocess.run(
        ['git', '-C', root, 'rev-parse', '--verify', rev + '^{commit}'],
        check=True, capture_output=True, text=True).stdout.strip()
    target = tempfile.mkdtemp(prefix=f'balie-{commit[:10]}-')
    atexit.register(shutil.rmtree, target, True)
    archive = subprocess.run(
        ['git', '-C', root, 'archive', '--format=tar', commit, 'modules'],
        check=True, capture_output=True).stdout
    import io
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(target)
    path = os.path.join(target, 'modules')
    sys.path.insert(0, path)
    os.environ['PYTHONPATH'] = os.pathsep.join(
        p for p in (path, os.environ.get('PYTHONPATH')) if p)
    os.environ['BENCH_MODULE_COMMIT'] = commit
    return commit


def module_origin():
    "Where digitale_balie comes from, for the header."
    import subprocess
    import digitale_balie
    path = os.path.dirname(os.path.abspath(digitale_balie.__file__))
    commit = os.environ.get('BENCH_MODULE_COMMIT')
    if commit:
        return f"git {commit[:10]} (snapshot in {path})"
    try:
        head = subprocess.run(
            ['git', '-C', path, 'rev-parse', '--short=10', 'HEAD'],
            check=True, capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(
            ['git', '-C', path, 'status', '--porcelain', '--', '.'],
            check=True, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return path
    return (f"working tree {path} (HEAD {head}"
        + (", with uncommitted changes" if dirty else "") + ")")


def configure(uri):
    "Point trytond at the server; call before importing trytond."
    if getattr(configure, 'done', False):
        return
    configure.done = True
    if not uri.endswith('/'):
        uri += '/'
    os.environ['TRYTOND_DATABASE__URI'] = uri
    os.environ.setdefault('TRYTOND_CACHE__CLEAN_TIMEOUT', '0')
    import logging
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger('trytond').setLevel(logging.WARNING)


def _admin_connection(uri, dbname='postgres', autocommit=True):
    import psycopg
    from urllib.parse import urlsplit
    parts = urlsplit(uri)
    return psycopg.connect(
        host=parts.hostname or '127.0.0.1', port=parts.port or 5432,
        user=parts.username or 'postgres', password=parts.password,
        dbname=dbname, autocommit=autocommit)


def pg_facts(uri):
    with _admin_connection(uri) as conn:
        facts = {}
        facts['version'] = conn.execute('SHOW server_version').fetchone()[0]
        for name in ('fsync', 'synchronous_commit', 'shared_buffers',
                'max_connections'):
            facts[name] = conn.execute(f'SHOW {name}').fetchone()[0]
    return facts


def cpu_model():
    try:
        with open('/proc/cpuinfo') as fp:
            for line in fp:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or '?'


def cpu_yardstick(loops=2_000_000):
    """Milliseconds one core takes for a fixed piece of pure Python (the
    best of 5): the machines these figures come from differ by up to 2.5x
    in speed, so compare figures only next to this number."""
    import time
    best = None
    for _ in range(5):
        start = time.perf_counter()
        total = 0
        for i in range(loops):
            total += i
        elapsed = time.perf_counter() - start
        best = elapsed if best is None else min(best, elapsed)
    return best * 1000


def print_header(title, args):
    import trytond
    facts = pg_facts(args.uri)
    print(f"== {title} ==")
    print(f"machine:    {os.cpu_count()} cores ({cpu_model()}), "
        f"Python {platform.python_version()}, trytond {trytond.__version__}")
    print(f"CPU speed:  {cpu_yardstick():.0f} ms for 2,000,000 additions in "
        "a Python loop (one core, best of 5; lower is faster)")
    print(f"PostgreSQL: {facts['version']} (fsync={facts['fsync']}, "
        f"synchronous_commit={facts['synchronous_commit']}, "
        f"shared_buffers={facts['shared_buffers']}, "
        f"max_connections={facts['max_connections']})")
    print(f"module:     digitale_balie from {module_origin()}")
    print(f"database:   {args.database} "
        f"({'reuse' if args.reuse else 'fresh'})")
    load = os.getloadavg()
    print(f"load avg:   {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
        + ("  (the machine may be busy: figures will be noisy)"
            if load[0] > 1.0 else ""))
    sys.stdout.flush()


def database_exists(uri, name):
    with _admin_connection(uri) as conn:
        return bool(conn.execute(
                'SELECT 1 FROM pg_database WHERE datname = %s',
                (name,)).fetchone())


def read_meta(uri, name):
    "Return the metadata left by populate(), or None."
    if not database_exists(uri, name):
        return None
    with _admin_connection(uri, name) as conn:
        if not conn.execute(
                "SELECT to_regclass('bench_meta')").fetchone()[0]:
            return None
        row = conn.execute(
            "SELECT value FROM bench_meta WHERE key = 'meta'").fetchone()
        return json.loads(row[0]) if row else None


def drop_database(uri, name):
    from trytond import backend
    from trytond.cache import Cache
    from trytond.pool import Pool
    try:
        Cache.drop(name)        # stops this process's cache listener
        backend.Database(name).close()
    except Exception:
        pass
    Pool.stop(name)
    with _admin_connection(uri) as conn:
        conn.execute(
            'SELECT pg_terminate_backend(pid) FROM pg_stat_activity '
            'WHERE datname = %s AND pid <> pg_backend_pid()', (name,))
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def create_database(uri, name, lang='en', modules=('digitale_balie',)):
    """Create the database from template0 with btree_gist and activate
    the modules, like trytond.tests.test_tryton.activate_module."""
    from sql import Table
    from trytond import backend
    from trytond.pool import Pool
    from trytond.transaction import Transaction

    with _admin_connection(uri) as conn:
        conn.execute(
            f'CREATE DATABASE "{name}" TEMPLATE template0 ENCODING \'UTF8\'')
    with _admin_connection(uri, name) as conn:
        conn.execute('CREATE EXTENSION IF NOT EXISTS btree_gist')

    database = backend.Database(name)
    connection = database.get_connection()
    try:
        with connection.cursor() as cursor:
            database.init()
            ir_configuration = Table('ir_configuration')
            cursor.execute(*ir_configuration.insert(
                    [ir_configuration.language], [[lang]]))
        connection.commit()
    finally:
        database.put_connection(connection)

    pool = Pool(name)
    pool.init(update=['res', 'ir'], lang=[lang])
    with Transaction().start(name, 0) as transaction:
        Module = pool.get('ir.module')
        Module.update_list()
        Module.activate(Module.search([('name', 'in', list(modules))]))
        transaction.commit()
        ActivateUpgrade = pool.get(
            'ir.module.activate_upgrade', type='wizard')
        instance_id, _, _ = ActivateUpgrade.create()
        transaction.commit()
        ActivateUpgrade(instance_id).transition_upgrade()
        ActivateUpgrade.delete(instance_id)
        transaction.commit()


def wait_until(moment, step=0.01):
    "Sleep until time.monotonic() (system-wide on Linux) reaches moment."
    while True:
        left = moment - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(left, step))


def slot_grid(days, employees):
    "All (employee, start UTC, end UTC) of the service grid on the days."
    from digitale_balie import slots as engine
    step = dt.timedelta(minutes=SLOT_MINUTES + BUFFER_MINUTES)
    duration = dt.timedelta(minutes=SLOT_MINUTES)
    for day in days:
        if day.weekday() >= 5:
            continue
        for start_time, end_time in BLOCKS:
            start = engine.to_utc(day, start_time)
            block_end = engine.to_utc(day, end_time, fold=1)
            while start + duration <= block_end:
                for employee in employees:
                    yield employee, start, start + duration
                start += step


def populate(args):
    "Fill the database; return the metadata (ids) stored in bench_meta."
    def body(transaction):
        return _populate(transaction, args)
    meta, timings = in_transaction(args.database, 0, body, commit=True)
    with_connection_analyze(args.uri, args.database)
    return meta, timings


def in_transaction(database, user, func, context=None, readonly=False,
        commit=False, retry=None, stats=None):
    """Run func(transaction) in a new transaction with trytond's retry loop
    (trytond.protocols.dispatcher): a TransactionError (a table lock that
    is needed, e.g. by ModelSingleton.create) restarts the transaction with
    the fixed extras, a DatabaseOperationalError (serialization failure,
    deadlock) is retried up to [database] retry times."""
    from trytond import backend
    from trytond.config import config
    from trytond.transaction import Transaction, TransactionError
    if retry is None:
        retry = config.getint('database', 'retry')
    count = 0
    extras = {}
    while True:
        if count:
            time.sleep(0.02 * count)
        with Transaction().start(database, user, readonly=readonly,
                context=context, **extras) as transaction:
            try:
                result = func(transaction)
            except TransactionError as e:
                transaction.rollback()
                e.fix(extras)
                if stats is not None:
                    stats['lock_retries'] = stats.get('lock_retries', 0) + 1
                continue
            except backend.DatabaseOperationalError:
                if count < retry and not readonly:
                    transaction.rollback()
                    count += 1
                    if stats is not None:
                        stats['retries'] = stats.get('retries', 0) + 1
                    continue
                raise
            if commit:
                transaction.commit()
            return result


def _populate(transaction, args):
    from sql import Table
    from trytond.pool import Pool
    from digitale_balie import slots as engine

    rng = random.Random(args.seed)
    pool = Pool()
    timings = {}
    Party = pool.get('party.party')
    Currency = pool.get('currency.currency')
    Company = pool.get('company.company')
    Employee = pool.get('company.employee')
    User = pool.get('res.user')
    Schedule = pool.get('balie.schedule')
    Service = pool.get('balie.service')
    Configuration = pool.get('balie.configuration')
    Dossier = pool.get('balie.dossier')

    started = time.monotonic()
    euro, = Currency.create([{
                'name': 'Euro', 'code': 'EUR', 'symbol': '€'}])
    party, = Party.create([{'name': 'Gemeente Benchmark'}])
    company, = Company.create([{
                'party': party.id, 'currency': euro.id,
                'timezone': 'Europe/Brussels'}])
    admin, = User.search([('login', '=', 'admin')])
    User.write([admin], {
            'companies': [('add', [company.id])],
            'company': company.id,
            })
    with transaction.set_context(company=company.id):
        clerk_parties = Party.create([
                {'name': f'Loketmedewerker {i + 1:02d}'}
                for i in range(args.clerks)])
        employees = Employee.create([
                {'party': p.id, 'company': company.id}
                for p in clerk_parties])
        Schedule.create([{
                    'company': company.id,
                    'employee': e.id,
                    'weekday': str(weekday),
                    'start_time': start_time,
                    'end_time': end_time,
                    }
                for e in employees for weekday in range(5)
                for start_time, end_time in BLOCKS])
        service, = Service.create([{
                    'name': 'Identiteitskaart aanvragen',
                    'code': SERVICE_CODE,
                    'company': company.id,
                    'duration': dt.timedelta(minutes=SLOT_MINUTES),
                    'buffer': dt.timedelta(minutes=BUFFER_MINUTES),
                    'channels': ['video', 'counter'],
                    'employees': [('add', [e.id for e in employees])],
                    }])
        config = Configuration(1)
        config.booking_horizon = HORIZON_DAYS
        config.save()
        timings['company, clerks, schedules, service'] = (
            time.monotonic() - started)

        started = time.monotonic()
        citizens = []
        for offset in range(0, args.citizens, 1000):
            citizens += Party.create([
                    {'name': f'Burger {i + 1:05d}'}
                    for i in range(
                        offset, min(offset + 1000, args.citizens))])
        timings[f'{len(citizens)} citizens (Party.create)'] = (
            time.monotonic() - started)
        started = time.monotonic()
        dossiers = []
        for offset in range(0, len(citizens), 1000):
            dossiers += Dossier.create([{
                        'party': p.id,
                        'service': service.id,
                        'company': company.id,
                        'subject': 'Identiteitskaart',
                        } for p in citizens[offset:offset + 1000]])
        timings[f'{len(dossiers)} dossiers (Dossier.create)'] = (
            time.monotonic() - started)

    # the appointments, on the grid of the service
    started = time.monotonic()
    now = utcnow()
    today = engine.to_local(now).date()
    days = [today + dt.timedelta(days=d)
        for d in range(-HISTORY_DAYS, HISTORY_DAYS + 1)]
    grid = list(slot_grid(days, [e.id for e in employees]))
    count = min(args.appointments, len(grid))
    chosen = rng.sample(grid, count)
    chosen.sort(key=lambda s: (s[1], s[0]))
    table = Table('balie_appointment')
    columns = [table.number, table.company, table.party, table.dossier,
        table.service, table.employee, table.start, table.end,
        table.state, table.channel, table.origin, table.language,
        table.notify_by, table.booked_by, table.create_uid,
        table.create_date]
    cursor = transaction.connection.cursor()
    rows = []
    for i, (employee, start, end) in enumerate(chosen):
        r = rng.random()
        if end <= now:
            state = ('done' if r < .85 else 'no_show' if r < .90
                else 'cancelled')
        else:
            state = 'booked' if r < .92 else 'cancelled'
        k = rng.randrange(len(dossiers))
        rows.append([
                f'BENCH{i + 1:07d}', company.id, citizens[k].id,
                dossiers[k].id, service.id, employee, start, end,
                state, rng.choice(['video', 'video', 'counter']),
                rng.choice(['counter', 'portal', 'phone']),
                rng.choice(['nl', 'nl', 'nl', 'fr', 'en']),
                rng.choice(['email', 'sms', 'email_sms', 'paper']),
                1, 0, now])
        if len(rows) == 2000:
            cursor.execute(*table.insert(columns, rows))
            rows = []
    if rows:
        cursor.execute(*table.insert(columns, rows))
    timings[f'{count} appointments (raw INSERT, {len(grid)} grid slots)'] \
        = time.monotonic() - started

    meta = {
        'company': company.id,
        'employees': [e.id for e in employees],
        'service': service.id,
        'citizens': [p.id for p in citizens],
        'dossiers': [d.id for d in dossiers],
        'appointments': count,
        'populated_at': now.isoformat(),
        }
    cursor.execute(
        'CREATE TABLE bench_meta (key TEXT PRIMARY KEY, value TEXT)')
    cursor.execute(
        "INSERT INTO bench_meta VALUES ('meta', %s)", (json.dumps(meta),))
    return meta, timings


def with_connection_analyze(uri, name):
    with _admin_connection(uri, name) as conn:
        conn.execute('VACUUM ANALYZE')


def prepare(args):
    """Create and populate the database, or reuse it.

    Return (meta, created)."""
    from trytond.pool import Pool
    meta = read_meta(args.uri, args.database) if args.reuse else None
    if meta is not None:
        # the module may have changed since: update it like trytond-admin -u
        started = time.monotonic()
        Pool(args.database).init(update=['digitale_balie'], lang=['en'])
        print(f"reusing {args.database}: {meta['appointments']} "
            f"appointments inserted at {meta['populated_at']}; "
            f"digitale_balie updated in {time.monotonic() - started:.1f} s")
        return meta, False
    if database_exists(args.uri, args.database):
        print(f"dropping the existing database {args.database}")
        drop_database(args.uri, args.database)
    started = time.monotonic()
    create_database(args.uri, args.database)
    print(f"created {args.database} (template0 + btree_gist) and activated "
        f"digitale_balie in {time.monotonic() - started:.1f} s")
    meta, timings = populate(args)
    for what, seconds in timings.items():
        print(f"  populate: {what}: {seconds:.1f} s")
    return meta, True


def finish(args, created):
    if args.reuse or args.keep:
        print(f"kept the database {args.database} "
            f"(rerun with --reuse, drop with: dropdb -h 127.0.0.1 "
            f"-U postgres {args.database})")
    else:
        drop_database(args.uri, args.database)
        print(f"dropped the database {args.database}")


def overlap_constraint(uri, name):
    "Return the definition of the real EXCLUDE constraint, or None."
    with _admin_connection(uri, name) as conn:
        row = conn.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = 'balie_appointment'::regclass "
            "AND contype = 'x'").fetchone()
    return row[0] if row else None


def overlaps(uri, name):
    "Count pairs of consecutive non-cancelled appointments that overlap."
    with _admin_connection(uri, name) as conn:
        return conn.execute(
            'SELECT count(*) FROM ('
            'SELECT start, lag("end") OVER ('
            'PARTITION BY employee ORDER BY start, id) AS previous_end '
            "FROM balie_appointment WHERE state != 'cancelled') AS a "
            'WHERE previous_end > start').fetchone()[0]


def cpu_sample():
    "(busy, total) jiffies of the whole machine, from /proc/stat."
    with open('/proc/stat') as fp:
        values = [int(v) for v in fp.readline().split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def utcnow():
    """The module's current time: digitale_balie.clock.now, or
    digitale_balie.appointment.utcnow in versions before the clock."""
    try:
        from digitale_balie.clock import now
    except ImportError:
        from digitale_balie.appointment import utcnow as now
    return now()


def percentile(values, p):
    "Nearest-rank percentile of a non-empty list."
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))
    return ordered[k]


def summary(values_ms):
    return {
        'n': len(values_ms),
        'p50': percentile(values_ms, 50),
        'p95': percentile(values_ms, 95),
        'max': max(values_ms),
        'mean': statistics.fmean(values_ms),
        }


def fmt(s):
    return (f"p50 {s['p50']:7.2f} ms  p95 {s['p95']:7.2f} ms  "
        f"max {s['max']:7.2f} ms  mean {s['mean']:7.2f} ms  (n={s['n']})")


def add_patch_argument(parser):
    parser.add_argument(
        '--patch', metavar='FILE[:NAME,...]',
        help="apply the apply(pool, names) of FILE in every benchmark "
        "process before measuring: to try a change of the module without "
        "editing it")


def apply_patch(spec, pool):
    "Load FILE[:NAME,...] and call its apply(pool[, names])."
    import importlib.util
    path, _, names = spec.partition(':')
    module_spec = importlib.util.spec_from_file_location(
        'bench_patch', os.path.abspath(path))
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    if names:
        return module.apply(pool, names.split(','))
    return module.apply(pool)
