# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The portal's rate limits shared by every server process: the portal
under gunicorn with 4 workers, as in production, counts one window per
key, and a restart of the server does not reset it."""
import collections
import functools
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from unittest.mock import patch

from trytond import backend, config
from trytond.tests import test_tryton
from trytond.tests.test_tryton import USER, DB_NAME, create_db, drop_db
from trytond.transaction import Transaction

from digitale_balie.tests.activation import activate
from digitale_balie.tests.tools import create_municipality

GUNICORN = Path(sys.executable).with_name('gunicorn')
WORKERS = 4
LIMIT = 7
REQUESTS = 100


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def status_of(url):
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


class SharedLimitTestCase(unittest.TestCase):
    "The rate limits under gunicorn with several workers"
    modules = ['digitale_balie']

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not GUNICORN.exists():
            raise unittest.SkipTest('gunicorn is not installed')
        cls.directory = tempfile.mkdtemp(prefix='balie-limits-')
        cls.addClassCleanup(shutil.rmtree, cls.directory, ignore_errors=True)
        if backend.name == 'sqlite' and DB_NAME == ':memory:':
            # a file that every worker process opens
            cls.addClassCleanup(config.set, 'database', 'path',
                config.get('database', 'path'))
            config.set('database', 'path', cls.directory)
            cls.db_name = 'test_limits'
        else:
            cls.db_name = DB_NAME
        patcher = patch.multiple(test_tryton, DB_NAME=cls.db_name,
            create_db=functools.partial(create_db, cls.db_name))
        patcher.start()
        cls.addClassCleanup(patcher.stop)
        drop_db(cls.db_name)
        cls.addClassCleanup(drop_db, cls.db_name)
        activate(cls.modules)
        with Transaction().start(cls.db_name, USER,
                _lock_tables=['balie_configuration']) as transaction:
            create_municipality('http://127.0.0.1')
            transaction.commit()

    def start(self):
        "gunicorn with 4 workers serving trytond; its access log."
        port = free_port()
        log = os.path.join(self.directory, 'access-%s.log' % port)
        env = dict(os.environ,
            TRYTOND_DATABASE_NAMES=self.db_name,
            TRYTOND_DATABASE__PATH=config.get('database', 'path'),
            TRYTOND_BALIE__DATABASE=self.db_name,
            TRYTOND_BALIE__SECRET=config.get('balie', 'secret',
                default=None) or 'a-test-secret-of-the-limits-test',
            TRYTOND_BALIE__LINK_RATE_LIMIT=str(LIMIT),
            TRYTOND_BALIE__FAILED_LINK_RATE_LIMIT='0')
        env.pop('TRYTOND_CONFIG', None)
        process = subprocess.Popen([str(GUNICORN), '--workers', str(WORKERS),
                '--preload', '--bind', '127.0.0.1:%s' % port,
                '--access-logfile', log, '--access-logformat', '%(p)s %(s)s',
                '--log-level', 'warning',
                'trytond.application:app'], env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.addCleanup(self.stop, process)
        url = 'http://127.0.0.1:%s' % port
        deadline = time.monotonic() + 60
        while True:
            try:
                # a page without a limit: 404 without a session
                if status_of(url + '/balie') == 404:
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                self.stop(process, close=False)
                self.fail('gunicorn did not start: %s'
                    % process.stderr.read().decode('utf-8', 'replace'))
            time.sleep(0.2)
        return process, url, log

    @staticmethod
    def stop(process, close=True):
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if close and not process.stderr.closed:
            process.stderr.close()

    def look_up(self, url, count, start=0):
        "count unknown links from this address, spread over the workers"
        urls = ['%s/a/abcd-efgh-jkmn-pqrs-tvwx-yz01-%04d' % (url, i)
            for i in range(start, start + count)]
        with ThreadPoolExecutor(8) as executor:
            return collections.Counter(executor.map(status_of, urls))

    def test_one_window_for_every_worker(self):
        "Test that N workers let the limit pass, not N times the limit"
        process, url, log = self.start()
        statuses = self.look_up(url, REQUESTS)
        self.assertEqual(statuses, {404: LIMIT, 429: REQUESTS - LIMIT})
        with open(log) as file:
            pids = {line.split()[0] for line in file
                if line.split()[1] in {'404', '429'}}
        self.assertGreater(len(pids), 1, "one worker served every request")

        # a restart (a deploy) keeps the window
        self.stop(process)
        process, url, log = self.start()
        self.assertEqual(self.look_up(url, 5, start=REQUESTS), {429: 5})
