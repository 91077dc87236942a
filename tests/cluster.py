# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Several real trytond processes on one PostgreSQL database (not a test
module): the fixture of tests/test_cluster.py.

    cluster = Cluster('balie_cluster')      # a throwaway PostgreSQL it owns
    cluster.start(servers=2, workers=2)
    client = cluster.client('server-a', 'clerk1')
    client.call('model.balie.appointment.book_slot', values)
    cluster.kill('worker-a')                # SIGKILL, the whole process group
    cluster.postgres.stop(); cluster.postgres.start()
    cluster.close()                         # logs stay in artifacts/cluster/

* PostgreSQL: initdb into a temporary directory (as the `postgres` system
  user when run as root, like scripts/postgres), fsync off, its own free
  port, started and stopped with pg_ctl, so that a test can restart it.
  Cluster(uri=...) uses an existing server instead (no restart then).
* The database: created from template0 with btree_gist, digitale_balie
  activated, then a municipality: company, clerks (employees with users,
  passwords and the clerk group), one video service, opening hours every
  day, citizens.  This runs in a child process (`python -m tests.cluster
  setup CONF DB`) so that the test process's trytond stays untouched.
* `trytond` server processes on free ports and `trytond-worker` processes,
  each with a configuration file in the temporary directory ([database]
  uri, [web] listen, [queue] worker, [email] uri of the in-process SMTP
  sink, [cache] clean_timeout = 0, [balie] secret and database), each in
  its own process group, its output in artifacts/cluster/<name>.log.
* The SMTP sink (aiosmtpd, like scripts/mail_sink.py) records every mail
  with its Message-ID and can answer DATA slowly.
* Clients speak trytond's JSON-RPC: common.db.login, then the session
  header, one HTTP connection per call with a timeout.
"""
import base64
import datetime as dt
import http.client
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARTIFACTS = os.path.join(ROOT, 'artifacts', 'cluster')
BIN = os.path.dirname(sys.executable)
HOST = '127.0.0.1'
PASSWORD = 'balie-cluster-test'     # [password] length is 8
SECRET = 'cluster-test-secret'
SERVICE_CODE = 'CLUSTER'
DAY_START, DAY_END = dt.time(8), dt.time(20)   # Brussels wall time
SLOT_MINUTES = 30
SETUP_VERSION = 2   # raise when setup() below changes (the dump cache key)


def free_port():
    # not the test helpers' free_port: importing any digitale_balie module
    # imports trytond, whose backend the server processes choose later
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def wait_for(predicate, timeout, step=0.05, message="condition"):
    "Poll predicate() until it returns a true value; return it."
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError("timed out after %s s waiting for %s"
                % (timeout, message))
        time.sleep(step)


def child_environ(**extra):
    "The environment of the children, without the test suite's settings."
    env = {k: v for k, v in os.environ.items()
        if not k.startswith(('TRYTOND_', 'DB_', 'PG'))}
    env.update(extra)
    return env


# -- PostgreSQL ----------------------------------------------------------

class PostgresServer:
    "A throwaway PostgreSQL cluster in a temporary directory."

    def __init__(self, base):
        self.bindir = self.find_bindir()
        self.base = base
        self.data = os.path.join(base, 'data')
        self.log = os.path.join(base, 'postgres.log')
        self.port = free_port()
        self.user = None
        if os.getuid() == 0:
            # initdb refuses to run as root
            self.user = 'postgres'
            pw = pwd.getpwnam(self.user)
            os.chown(base, pw.pw_uid, pw.pw_gid)
            os.chmod(base, 0o700)
            # mkdtemp makes the parent 0700: let that user through
            os.chmod(os.path.dirname(base), 0o711)

    @staticmethod
    def find_bindir():
        "The newest PostgreSQL server of Debian's packages."
        return sorted(
            (os.path.join('/usr/lib/postgresql', v, 'bin')
                for v in os.listdir('/usr/lib/postgresql')),
            key=lambda p: [int(x) for x in p.split('/')[-2].split('.')
                if x.isdigit()])[-1]

    @property
    def uri(self):
        return 'postgresql://postgres@%s:%s/' % (HOST, self.port)

    def _run(self, *args, check=True):
        command = [os.path.join(self.bindir, args[0])] + list(args[1:])
        if self.user:
            command = ['runuser', '-u', self.user, '--'] + command
        result = subprocess.run(command, capture_output=True, text=True,
            timeout=120)
        if check and result.returncode:
            raise RuntimeError('%s failed: %s%s' % (
                    args[0], result.stdout, result.stderr))
        return result

    def init(self):
        self._run('initdb', '-D', self.data, '-U', 'postgres',
            '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8', '--no-sync')

    def start(self):
        self._run('pg_ctl', '-D', self.data, '-l', self.log, '-w', '-t', '60',
            '-o', ' '.join([
                    '-p %s' % self.port, '-c listen_addresses=%s' % HOST,
                    '-k %s' % self.base, '-c fsync=off',
                    '-c full_page_writes=off', '-c synchronous_commit=off',
                    '-c max_connections=200']),
            'start')

    def stop(self, mode='fast'):
        self._run('pg_ctl', '-D', self.data, '-m', mode, '-w', '-t', '60',
            'stop', check=False)

    def running(self):
        return os.path.exists(os.path.join(self.data, 'postmaster.pid'))


def connect(uri, dbname='postgres'):
    "A psycopg connection (autocommit) to a database of the server."
    import psycopg
    from urllib.parse import urlsplit
    parts = urlsplit(uri)
    return psycopg.connect(host=parts.hostname, port=parts.port or 5432,
        user=parts.username or 'postgres', dbname=dbname, autocommit=True,
        connect_timeout=5)


# -- SMTP sink -------------------------------------------------------------

class MailSink:
    """An SMTP server in a thread of this process that records every mail.

    delay: seconds DATA waits before it answers 250 (after the mail is
    recorded: a sender killed meanwhile has handed the mail over without
    knowing it)."""

    def __init__(self):
        from aiosmtpd.controller import Controller
        self.port = free_port()
        self.delay = 0
        self.mails = []         # (Message-ID, recipients, peer, time)
        self.lock = threading.Lock()
        self.controller = Controller(self, hostname=HOST, port=self.port)

    def start(self):
        self.controller.start()

    def stop(self):
        if self.controller._thread is not None:
            self.controller.stop()

    async def handle_DATA(self, server, session, envelope):
        import asyncio
        import email
        import email.policy
        message = email.message_from_bytes(
            envelope.content, policy=email.policy.default)
        with self.lock:
            self.mails.append((message['Message-ID'],
                    tuple(envelope.rcpt_tos), session.peer, time.monotonic()))
        if self.delay:
            await asyncio.sleep(self.delay)
        return '250 OK'

    def message_ids(self):
        with self.lock:
            return [m[0] for m in self.mails]


def pid_of_peer(port):
    "The pid of the process of this machine that owns TCP port (as client)."
    inodes = set()
    for table in ('/proc/net/tcp', '/proc/net/tcp6'):
        try:
            with open(table) as fp:
                next(fp)
                for line in fp:
                    fields = line.split()
                    if int(fields[1].rsplit(':', 1)[1], 16) == port:
                        inodes.add(fields[9])
        except OSError:
            continue
    targets = {'socket:[%s]' % i for i in inodes}
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            fds = os.listdir('/proc/%s/fd' % pid)
            for fd in fds:
                if os.readlink('/proc/%s/fd/%s' % (pid, fd)) in targets:
                    return int(pid)
        except OSError:
            continue
    return None


# -- JSON-RPC --------------------------------------------------------------

class RPCError(Exception):
    """An answer with an error: kind is 'UserError' etc. for Tryton's
    exceptions, 'exception' for another error reported by the server,
    'http' for an HTTP error status, 'connection' when no answer came."""

    def __init__(self, kind, message, detail=None):
        super().__init__(kind, message)
        self.kind = kind
        self.message = message
        self.detail = detail


class Client:
    "A Tryton client of one server process, logged in as one user."

    def __init__(self, port, database, login, password=PASSWORD,
            timeout=300):
        self.port = port
        self.database = database
        self.login = login
        self.password = password
        self.timeout = timeout
        self.session = None
        self.context = {}

    def _post(self, method, params, authorization=None):
        body = json.dumps({'id': 1, 'method': method, 'params': params})
        headers = {'Content-Type': 'application/json'}
        if authorization:
            headers['Authorization'] = authorization
        connection = http.client.HTTPConnection(
            HOST, self.port, timeout=self.timeout)
        try:
            connection.request(
                'POST', '/%s/rpc/' % self.database, body, headers)
            response = connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exception:
            raise RPCError('connection', str(exception)) from exception
        finally:
            connection.close()
        if response.status != 200:
            raise RPCError('http', '%s %s' % (response.status,
                    response.reason), data.decode('utf-8', 'replace'))
        answer = json.loads(data)
        if 'error' in answer:
            error = answer['error']
            if (isinstance(error, list) and len(error) == 2
                    and isinstance(error[1], list) and error[1]
                    and error[0] in {'UserError', 'UserWarning',
                        'ConcurrencyException', 'LoginException',
                        'RateLimitException', 'AccessError'}):
                raise RPCError(error[0], error[1][0], error[1])
            raise RPCError('exception', str(error[0]), error)
        return answer['result']

    def connect(self):
        user_id, session = self._post('common.db.login', [self.login,
                {'password': self.password}, 'en'])[:2]
        self.session = base64.b64encode(('%s:%s:%s' % (
                    self.login, user_id, session)).encode()).decode()
        self.context = self.call('model.res.user.get_preferences', True)
        return self

    def call(self, method, *args, context=None):
        ctx = dict(self.context)
        ctx.update(context or {})
        return self._post(method, list(args) + [ctx],
            authorization='Session ' + self.session)


# -- the cluster -----------------------------------------------------------

class Process:

    def __init__(self, name, command, config, log_path):
        self.name = name
        self.command = command
        self.config = config
        self.log_path = log_path
        self.port = None
        self.popen = None

    def start(self):
        self.log = open(self.log_path, 'ab')
        self.log.write(('--- %s %s\n' % (
                    dt.datetime.now().isoformat(' ', 'seconds'),
                    ' '.join(self.command))).encode())
        self.log.flush()
        self.popen = subprocess.Popen(self.command, cwd=ROOT,
            env=child_environ(), stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True)

    def alive(self):
        return self.popen is not None and self.popen.poll() is None

    def signal(self, signum):
        try:
            os.killpg(self.popen.pid, signum)
        except ProcessLookupError:
            pass

    def stop(self, timeout=10):
        if not self.alive():
            self._close_log()
            return
        self.signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.popen.wait()
        self.signal(signal.SIGKILL)     # children left behind
        self._close_log()

    def kill(self):
        "SIGKILL to the whole process group: nothing can clean up."
        self.signal(signal.SIGKILL)
        self.popen.wait()
        self._close_log()

    def _close_log(self):
        log = getattr(self, 'log', None)
        if log and not log.closed:
            log.close()


class Cluster:
    """trytond servers and workers on one PostgreSQL database.

    uri: an existing PostgreSQL server (no restart possible), by default
    a throwaway one owned by the cluster."""

    def __init__(self, database='balie_cluster', uri=None, clerks=4,
            citizens=60, clean_timeout=0):
        self.database = database
        self.clean_timeout = clean_timeout
        self.clerks = clerks
        self.citizens = citizens
        self.directory = tempfile.mkdtemp(prefix='balie-cluster-')
        self.postgres = None
        self.uri = uri
        self.processes = {}
        self.sink = MailSink()
        self.meta = None
        self.timings = {}
        os.makedirs(ARTIFACTS, exist_ok=True)
        for name in os.listdir(ARTIFACTS):     # the logs of the last run
            if name.endswith('.log'):
                os.remove(os.path.join(ARTIFACTS, name))

    # -- start and stop

    def start(self, servers=2, workers=2):
        started = time.monotonic()
        if self.uri is None:
            base = os.path.join(self.directory, 'pg')
            os.mkdir(base)
            self.postgres = PostgresServer(base)
            self.postgres.init()
            self.postgres.start()
            self.uri = self.postgres.uri
        self.timings['postgresql'] = time.monotonic() - started
        self.sink.start()
        started = time.monotonic()
        self.meta = self.setup_database()
        self.timings['database'] = time.monotonic() - started
        started = time.monotonic()
        for i in range(servers):
            self.start_server('server-%s' % chr(ord('a') + i), wait=False)
        for i in range(workers):
            self.start_worker('worker-%s' % chr(ord('a') + i))
        for process in self.processes.values():
            if process.port:
                self.wait_ready(process)
        self.timings['processes'] = time.monotonic() - started
        return self

    def close(self):
        for process in self.processes.values():
            process.stop()
        self.sink.stop()
        if self.postgres:
            self.postgres.stop('immediate')
            if os.path.exists(self.postgres.log):
                shutil.copy(self.postgres.log,
                    os.path.join(ARTIFACTS, 'postgres.log'))
        shutil.rmtree(self.directory, ignore_errors=True)
        if self.postgres is None and self.uri:
            self.drop_database()

    def drop_database(self):
        with connect(self.uri) as conn:
            conn.execute('SELECT pg_terminate_backend(pid) '
                'FROM pg_stat_activity WHERE datname = %s '
                'AND pid <> pg_backend_pid()', (self.database,))
            conn.execute('DROP DATABASE IF EXISTS "%s"' % self.database)

    def write_config(self, name, listen=None):
        lines = [
            '[database]',
            'uri = %s' % self.uri,
            '[cache]',
            '# several processes: invalidate through LISTEN/NOTIFY',
            'clean_timeout = %s' % self.clean_timeout,
            '[queue]',
            'worker = True',
            '[email]',
            'uri = smtp://%s:%s' % (HOST, self.sink.port),
            'from = Gemeente Cluster <balie@cluster.example>',
            '[password]',
            'length = 8',
            '[session]',
            '# the clients of a test all log in from 127.0.0.1',
            'max_attempt = 1000',
            '[balie]',
            'secret = %s' % SECRET,
            'database = %s' % self.database,
            ]
        if listen:
            lines += ['[web]', 'listen = %s:%s' % (HOST, listen)]
        path = os.path.join(self.directory, name + '.conf')
        with open(path, 'w') as fp:
            fp.write('\n'.join(lines) + '\n')
        return path

    def cache_key(self):
        "What the database depends on: the modules' files and the options."
        import hashlib
        import trytond
        digest = hashlib.sha256(('%s %s %s %s' % (trytond.__version__,
                    SETUP_VERSION, self.clerks, self.citizens)).encode())
        path = os.path.join(ROOT, 'modules')
        for name in sorted(os.path.join(d, f)
                for d, _, fs in os.walk(path) for f in fs
                if f.endswith(('.py', '.xml', '.cfg', '.po'))
                and '/tests/' not in os.path.join(d, f)):
            digest.update(name.encode())
            with open(name, 'rb') as fp:
                digest.update(fp.read())
        return digest.hexdigest()[:16]

    def setup_database(self):
        """Create and fill the database in a child process; return its ids.

        The result is kept as a pg_dump in CLUSTER_CACHE (default
        /tmp/balie-cluster-cache) and restored when nothing changed."""
        if self.postgres is None:
            self.drop_database()
        cache = os.environ.get('CLUSTER_CACHE', os.path.join(
                tempfile.gettempdir(), 'balie-cluster-cache'))
        os.makedirs(cache, exist_ok=True)
        dump = os.path.join(cache, self.cache_key() + '.dump')
        if os.path.exists(dump) and os.path.exists(dump + '.json'):
            with connect(self.uri) as conn:
                conn.execute('CREATE DATABASE "%s" TEMPLATE template0 '
                    "ENCODING 'UTF8'" % self.database)
            self._pg_tool('pg_restore', '--no-owner', '-d', self.database,
                dump)
            with open(dump + '.json') as fp:
                meta = json.load(fp)
            meta['cached'] = True
            return meta
        meta = self._setup_database()
        for name in os.listdir(cache):     # the dumps of older sources
            if name.endswith(('.dump', '.dump.json')):
                os.remove(os.path.join(cache, name))
        self._pg_tool('pg_dump', '-Fc', '-Z', '1', '-f', dump + '.part',
            self.database)
        os.replace(dump + '.part', dump)
        with open(dump + '.json', 'w') as fp:
            json.dump(meta, fp)
        meta['cached'] = False
        return meta

    def _pg_tool(self, tool, *args):
        from urllib.parse import urlsplit
        parts = urlsplit(self.uri)
        bindir = (self.postgres.bindir if self.postgres
            else PostgresServer.find_bindir())
        subprocess.run([os.path.join(bindir, tool), '-h', parts.hostname,
                '-p', str(parts.port or 5432), '-U', parts.username
                or 'postgres'] + list(args), check=True, capture_output=True,
            timeout=300)

    def _setup_database(self):
        config = self.write_config('setup')
        result = subprocess.run([sys.executable, '-m', 'tests.cluster',
                'setup', config, self.database,
                json.dumps({'clerks': self.clerks,
                        'citizens': self.citizens})],
            cwd=ROOT, env=child_environ(), capture_output=True, text=True,
            timeout=600)
        with open(os.path.join(ARTIFACTS, 'setup.log'), 'w') as fp:
            fp.write(result.stderr)
        if result.returncode:
            raise RuntimeError(
                "database setup failed:\n" + result.stderr[-3000:])
        return json.loads(result.stdout.strip().splitlines()[-1])

    def _log(self, name):
        return os.path.join(ARTIFACTS, name + '.log')

    def start_server(self, name, wait=True):
        port = free_port()
        config = self.write_config(name, listen=port)
        process = Process(name, [os.path.join(BIN, 'trytond'), '-c', config,
                '-d', self.database, '-vv'], config, self._log(name))
        process.port = port
        self.processes[name] = process
        process.start()
        if wait:
            self.wait_ready(process)
        return process

    def start_worker(self, name):
        config = self.write_config(name)
        process = Process(name, [os.path.join(BIN, 'trytond-worker'),
                '-c', config, '-d', self.database, '-n', '1', '-vv'],
            config, self._log(name))
        self.processes[name] = process
        process.start()
        return process

    def run_cron(self, timeout=60):
        "Run trytond-cron --once (the due crons of the database) to the end."
        config = self.write_config('cron')
        name = 'cron'
        with open(self._log(name), 'ab') as log:
            subprocess.run([os.path.join(BIN, 'trytond-cron'), '-c', config,
                    '-d', self.database, '--once', '-v'], cwd=ROOT,
                env=child_environ(), stdout=log, stderr=subprocess.STDOUT,
                timeout=timeout, check=True)

    def wait_ready(self, process, timeout=90):
        def ready():
            if not process.alive():
                raise RuntimeError("%s ended, see %s"
                    % (process.name, process.log_path))
            try:
                with socket.create_connection((HOST, process.port), 1):
                    return True
            except OSError:
                return False
        wait_for(ready, timeout, step=0.1, message=process.name)

    def kill(self, name):
        self.processes[name].kill()

    def stop(self, name):
        self.processes[name].stop()

    def process_of_pid(self, pid):
        "The name of the cluster process whose group has this pid."
        try:
            group = os.getpgid(pid)
        except OSError:
            return None
        for name, process in self.processes.items():
            if process.popen and process.popen.pid == group:
                return name
        return None

    # -- access

    def port(self, name):
        return self.processes[name].port

    def client(self, server, login='admin'):
        return Client(self.port(server), self.database, login).connect()

    def sql(self, query, params=None):
        "Run a query on the database; return all rows (or None)."
        with connect(self.uri, self.database) as conn:
            cursor = conn.execute(query, params)
            return cursor.fetchall() if cursor.description else None


# -- the database, in a child process --------------------------------------

def _create_database(uri, name):
    with connect(uri) as conn:
        conn.execute('CREATE DATABASE "%s" TEMPLATE template0 '
            "ENCODING 'UTF8'" % name)
    with connect(uri, name) as conn:
        conn.execute('CREATE EXTENSION IF NOT EXISTS btree_gist')


def _activate(name, modules):
    from sql import Table
    from trytond import backend
    from trytond.pool import Pool
    from trytond.transaction import Transaction

    database = backend.Database(name)
    connection = database.get_connection()
    try:
        with connection.cursor() as cursor:
            database.init()
            ir_configuration = Table('ir_configuration')
            cursor.execute(*ir_configuration.insert(
                    [ir_configuration.language], [['en']]))
        connection.commit()
    finally:
        database.put_connection(connection)
    pool = Pool(name)
    pool.init(update=['res', 'ir'], lang=['en'])
    with Transaction().start(name, 0) as transaction:
        Lang = pool.get('ir.lang')
        Lang.write(Lang.search([('code', '=', 'nl')]), {'translatable': True})
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


def _populate(name, clerks, citizens):
    from trytond.pool import Pool
    from trytond.transaction import Transaction

    pool = Pool(name)
    with Transaction().start(name, 0, context={'_skip_warnings': True},
            _lock_tables=['balie_configuration']) as transaction:
        Party = pool.get('party.party')
        Currency = pool.get('currency.currency')
        Company = pool.get('company.company')
        Employee = pool.get('company.employee')
        User = pool.get('res.user')
        Group = pool.get('res.group')
        ModelData = pool.get('ir.model.data')
        Lang = pool.get('ir.lang')
        Schedule = pool.get('balie.schedule')
        Service = pool.get('balie.service')
        Configuration = pool.get('balie.configuration')
        Cron = pool.get('ir.cron')
        Message = pool.get('ir.message')

        nl, = Lang.search([('code', '=', 'nl')])
        euro, = Currency.create([{
                    'name': 'Euro', 'code': 'EUR', 'symbol': '€'}])
        party, = Party.create([{'name': 'Gemeente Cluster'}])
        company, = Company.create([{'party': party.id, 'currency': euro.id,
                    'timezone': 'Europe/Brussels'}])
        admin, = User.search([('login', '=', 'admin')])
        User.write([admin], {
                'password': PASSWORD,
                'companies': [('add', [company.id])],
                'company': company.id,
                })
        clerk_group = Group(ModelData.get_id(
                'digitale_balie', 'group_balie_clerk'))
        with transaction.set_context(company=company.id):
            employees = Employee.create([{
                        'party': Party.create([{
                                    'name': 'Loketmedewerker %s' % (i + 1),
                                    }])[0].id,
                        'company': company.id,
                        } for i in range(clerks)])
            users = User.create([{
                        'name': 'Loketmedewerker %s' % (i + 1),
                        'login': 'clerk%s' % (i + 1),
                        'password': PASSWORD,
                        'language': nl.id,
                        'groups': [('add', [clerk_group.id])],
                        'companies': [('add', [company.id])],
                        'company': company.id,
                        'employees': [('add', [e.id])],
                        'employee': e.id,
                        } for i, e in enumerate(employees)])
            Schedule.create([{
                        'company': company.id,
                        'employee': e.id,
                        'weekday': str(weekday),
                        'start_time': DAY_START,
                        'end_time': DAY_END,
                        } for e in employees for weekday in range(7)])
            service, = Service.create([{
                        'name': 'Mantelzorgpremie aanvragen',
                        'code': SERVICE_CODE,
                        'company': company.id,
                        'duration': dt.timedelta(minutes=SLOT_MINUTES),
                        'buffer': dt.timedelta(0),
                        'channels': ['video', 'counter'],
                        'employees': [('add', [e.id for e in employees])],
                        }])
            config = Configuration(1)
            config.municipality_name = 'Gemeente Cluster'
            config.check_email_domain = False
            config.save()
            people = Party.create([{
                        'name': 'Burger %03d' % (i + 1),
                        'lang': nl.id,
                        } for i in range(citizens)])
        # only the dispatcher runs when a test calls trytond-cron --once
        Cron.write(Cron.search([
                    ('method', '!=', 'balie.message|dispatch')]),
            {'active': False})
        messages = {n: ModelData.get_id('digitale_balie', n)
            for n in ['msg_slot_taken', 'msg_slot_unavailable']}
        meta = {
            'company': company.id,
            'employees': [e.id for e in employees],
            'users': [u.login for u in users],
            'service': service.id,
            'citizens': [p.id for p in people],
            'messages': messages,
            'texts': {n: Message(i).text for n, i in messages.items()},
            }
        with transaction.set_context(language='nl'):
            meta['texts_nl'] = {
                n: Message(i).text for n, i in messages.items()}
        transaction.commit()
    return meta


def setup(config_path, name, options):
    from trytond.config import config
    config.update_etc(config_path)
    uri = config.get('database', 'uri')
    timings = {}
    started = time.monotonic()
    _create_database(uri, name)
    _activate(name, ['digitale_balie'])
    timings['activate'] = time.monotonic() - started
    started = time.monotonic()
    meta = _populate(name, options['clerks'], options['citizens'])
    timings['populate'] = time.monotonic() - started
    meta['timings'] = timings
    return meta


if __name__ == '__main__':
    if sys.argv[1] == 'setup':
        import logging
        logging.basicConfig(level=logging.WARNING)
        meta = setup(sys.argv[2], sys.argv[3], json.loads(sys.argv[4]))
        print(json.dumps(meta))
