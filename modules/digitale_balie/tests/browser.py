# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Browser tests of the citizen portal: the shared machinery (no tests here).

`BrowserTestCase` gives a test class

- a database of its own with `modules` activated (a class attribute, so that
  the tests of another module activate theirs) and their nl and fr
  translations, committed data, a controllable clock;
- trytond's WSGI application served on http://localhost:<free port> from a
  background thread (`base_url`); `[balie] database` names the test
  database, so the portal's short links `/a/<token>` reach it;
- one headless Chromium per class (Debian's /usr/bin/chromium, driven by
  Playwright, with a fake camera and microphone), a fresh browser context
  per page (`new_page(360)` is a phone, `new_page(1280)` a desktop);
- `check_axe(page, name)`: axe-core finds no serious or critical violation;
- `screenshot(page, name)`: artifacts/screenshots/<backend>/<name>-<width>.png.

Without Chromium, Playwright or axe-core (scripts/axe) the classes are
skipped with the reason; with BALIE_REQUIRE_BROWSER=1 (CI) they fail.

On SQLite the test suite's database is ':memory:', which trytond keeps per
thread: the server's threads would each see an empty database.  There the
class uses a database file in a temporary directory instead, which every
thread opens (as the demo server does); `db_name` is the database to use,
and trytond's own test helpers (`with_transaction`, `activate_module`) point
at it while the class runs.

A subclass::

    from digitale_balie.tests.browser import BrowserTestCase

    class VideoBrowserTestCase(BrowserTestCase):
        modules = ['balie_video']

        def test_camera_check(self):
            _, _, service = self.setup_balie()
            appointment = self.book(service)
            page = self.new_page(360)
            self.open_personal_link(page, appointment)
            ...
            self.check_axe(page, 'camera-check-nl')
            self.screenshot(page, 'camera-check-nl')
"""
import datetime as dt
import functools
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import unittest
from contextlib import contextmanager
from pathlib import Path
from unittest.mock import patch

from werkzeug.serving import WSGIRequestHandler, make_server

from trytond import backend, config
from trytond.pool import Pool
from trytond.tests import test_tryton
from trytond.tests.test_tryton import (
    DB_NAME, USER, create_db, drop_db)
from trytond.transaction import Transaction
from trytond.wsgi import app

from digitale_balie.slots import to_utc
from digitale_balie.tests.activation import activate
from digitale_balie.tests.tools import (
    Clock, NOW, TUESDAY, create_citizen, create_municipality, personal_link)

ROOT = Path(__file__).resolve().parents[3]
CHROMIUM = os.environ.get('BALIE_CHROMIUM', '/usr/bin/chromium')
CHROMIUM_ARGS = [
    '--no-sandbox',  # CI runs as root
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-dev-shm-usage',
    '--use-fake-ui-for-media-stream',  # allow the camera without asking
    '--use-fake-device-for-media-stream',  # a test pattern and a beep
    # no name is looked up in DNS: the tests' pages live on localhost and
    # other hosts are answered by page.route; without this Chromium asks
    # the machine's resolver for its update servers
    '--host-resolver-rules='
    'MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1',
    ]
AXE_JS = Path(os.environ.get('BALIE_AXE_JS')
    or ROOT / 'var' / 'axe' / 'node_modules' / 'axe-core' / 'axe.min.js')
ARTIFACTS = ROOT / 'artifacts'
# the viewports: a small phone and a desktop
VIEWPORTS = {
    360: {'width': 360, 'height': 740},
    1280: {'width': 1280, 'height': 800},
    }
WIDTHS = sorted(VIEWPORTS)
BLOCKING_IMPACTS = {'serious', 'critical'}
TIMEOUT = 15_000  # ms, for every browser action


def missing_requirements():
    "Why the browser tests cannot run here, or an empty list."
    reasons = []
    if not os.access(CHROMIUM, os.X_OK):
        reasons.append('%s not found (apt-get install chromium; '
            'scripts/bootstrap does)' % CHROMIUM)
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        reasons.append('Playwright for Python is not installed '
            '(pip install -e ".[test]"; scripts/bootstrap does)')
    if not AXE_JS.is_file():
        reasons.append('axe-core is missing at %s (run scripts/axe; '
            'scripts/bootstrap does)' % AXE_JS)
    return reasons


def browser_required():
    return os.environ.get('BALIE_REQUIRE_BROWSER', '') not in {'', '0'}


def reset_rate_limits():
    "Empty the portal's rate limit windows (they are kept per process)."
    try:
        from digitale_balie import web
        from digitale_balie.web import RateLimiter
    except ImportError:
        return
    for value in list(vars(web).values()):
        if isinstance(value, RateLimiter):
            value.reset()


class _QuietHandler(WSGIRequestHandler):
    "No line per request; errors are still logged."

    def log_request(self, code='-', size='-'):
        pass


class BrowserTestCase(unittest.TestCase):
    "A database, the portal on a local port and a headless Chromium"

    # the modules to activate (with their dependencies)
    modules = ['digitale_balie']
    # the languages whose translations are loaded for `modules`
    languages = ['nl', 'fr']
    # make test-quick leaves these classes out (conftest.py)
    needs_browser = True

    db_name = None
    base_url = None
    browser = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        reasons = missing_requirements()
        if reasons:
            message = 'browser tests cannot run: ' + '; '.join(reasons)
            if browser_required():
                raise RuntimeError(message + ' (BALIE_REQUIRE_BROWSER is set)')
            print('%s: skipped, %s' % (cls.__name__, message),
                file=sys.stderr)
            raise unittest.SkipTest(message)
        cls.setup_database()
        cls.start_server()
        cls.start_browser()

    # -- the database ----------------------------------------------------

    @classmethod
    def setup_database(cls):
        "A fresh database with `modules` activated and translated."
        if backend.name == 'sqlite' and DB_NAME == ':memory:':
            # a file that the server's threads open too (see the docstring)
            directory = tempfile.mkdtemp(prefix='balie-browser-')
            cls.addClassCleanup(shutil.rmtree, directory, ignore_errors=True)
            cls.addClassCleanup(config.set, 'database', 'path',
                config.get('database', 'path'))
            config.set('database', 'path', directory)
            cls.db_name = 'test_browser'
        else:
            cls.db_name = DB_NAME
        name = cls.db_name
        # trytond's helpers read their module's DB_NAME (create_db through
        # a default argument)
        patcher = patch.multiple(test_tryton, DB_NAME=name,
            create_db=functools.partial(create_db, name))
        patcher.start()
        cls.addClassCleanup(patcher.stop)
        drop_db(name)
        cls.addClassCleanup(drop_db, name)
        # one template per dependency set, translations loaded
        activate(cls.modules, cls.languages)

        # the short links of the portal go to this database
        if not config.has_section('balie'):
            config.add_section('balie')
        cls.addClassCleanup(config.set, 'balie', 'database',
            config.get('balie', 'database', default=None) or '')
        config.set('balie', 'database', name)

    @contextmanager
    def transaction(self, **extras):
        "A committed transaction in the test database."
        with Transaction().start(self.db_name, USER,
                context=getattr(self, 'context', {}), **extras
                ) as transaction:
            yield transaction
            transaction.commit()

    def rpc(self, func, attempts=5):
        """func() in a committed transaction, started again on a conflict
        with the pages' own requests, as trytond's dispatcher does for a
        clerk's call."""
        for attempt in range(attempts):
            try:
                with self.transaction():
                    return func()
            except backend.DatabaseOperationalError:
                if attempt == attempts - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))

    def setUp(self):
        super().setUp()
        reset_rate_limits()
        self.addCleanup(reset_rate_limits)
        self.clock = Clock(NOW)
        patcher = patch('digitale_balie.clock.now', self.clock)
        patcher.start()
        self.addCleanup(patcher.stop)

    def setup_balie(self, **configuration):
        "A municipality, clerks and a service, committed."
        with self.transaction(_lock_tables=['balie_configuration']):
            company, employees, service = create_municipality(self.base_url,
                **{'default_language': 'nl', **configuration})
            self.context = {'company': company.id}
            return company.id, [e.id for e in employees], service.id

    def configure(self, **values):
        "Change the configuration."
        with self.transaction(_lock_tables=['balie_configuration']):
            Configuration = Pool().get('balie.configuration')
            config_ = Configuration(1)
            for name, value in values.items():
                setattr(config_, name, value)
            config_.save()

    def book(self, service, start=None, language='nl', notify_by='paper',
            name="Maria Janssens", email='maria.janssens@example.be',
            mobile='+32470123456', **values):
        """Book an appointment (Tuesday 10:30 by default) for a new citizen
        who speaks `language`; return its id."""
        if start is None:
            start = to_utc(TUESDAY, dt.time(10, 30))
        with self.transaction():
            Appointment = Pool().get('balie.appointment')
            party = create_citizen(name, lang=language)
            values = {
                'service': service, 'party': party.id, 'start': start,
                'notify_by': notify_by, 'contact_email': email,
                'contact_mobile': mobile, 'language': language,
                **values}
            return Appointment.book_slot(values)

    def personal_link(self, appointment, purpose='card'):
        "A new personal link to the appointment: its raw token."
        with self.transaction():
            return personal_link(appointment, purpose)

    # -- the server ------------------------------------------------------

    @classmethod
    def wsgi_application(cls):
        "What the test server serves: trytond's application."
        return app

    @classmethod
    def start_server(cls):
        server = make_server('127.0.0.1', 0, cls.wsgi_application(),
            threaded=True, request_handler=_QuietHandler)
        thread = threading.Thread(target=server.serve_forever,
            name='balie-browser-server', daemon=True)
        thread.start()

        def stop():
            server.shutdown()
            server.server_close()
            thread.join(10)
        cls.addClassCleanup(stop)
        # "localhost", not 127.0.0.1: the name the standards promise to be
        # a secure context (the portal's __Host- cookie, getUserMedia)
        cls.base_url = 'http://localhost:%s' % server.server_port

    def url(self, path):
        return self.base_url + path

    # -- the browser -----------------------------------------------------

    @classmethod
    def start_browser(cls):
        from playwright.sync_api import sync_playwright
        cls.playwright = sync_playwright().start()
        cls.addClassCleanup(cls.playwright.stop)
        cls.browser = cls.playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        cls.addClassCleanup(cls.browser.close)
        cls.axe_source = AXE_JS.read_text(encoding='utf-8')

    def new_page(self, width=360, **options):
        """A page in a new browser context (no cookies), closed after the
        test: 360 is a phone (touch, mobile viewport), 1280 a desktop.
        `options` go to Browser.new_context."""
        if width not in VIEWPORTS:
            raise ValueError('width must be one of %s' % WIDTHS)
        settings = {
            'viewport': VIEWPORTS[width],
            'is_mobile': width < 1000,
            'has_touch': width < 1000,
            'locale': 'nl-BE',
            'timezone_id': 'Europe/Brussels',
            'permissions': ['camera', 'microphone'],
            }
        settings.update(options)
        context = self.browser.new_context(**settings)
        context.set_default_timeout(TIMEOUT)
        self.addCleanup(context.close)
        page = context.new_page()
        page.balie_errors = []
        page.on('pageerror', lambda error: page.balie_errors.append(
                'uncaught: %s' % error))
        page.on('console', lambda message: page.balie_errors.append(
                '%s: %s' % (message.type, message.text))
            if message.type == 'error' else None)
        return page

    def assertNoPageErrors(self, page, ignore=('Failed to load resource',)):
        """No uncaught exception and no console error (a Content Security
        Policy violation is one), except messages starting with `ignore`."""
        errors = [e for e in page.balie_errors
            if not any(e.split(': ', 1)[-1].startswith(i) for i in ignore)]
        self.assertEqual(errors, [], 'errors on %s' % page.url)

    def check_page(self, page, path, language, name):
        """Open path: 200, the page in `language`, a screenshot and no
        serious accessibility violation."""
        response = page.goto(self.url(path))
        self.assertEqual(response.status, 200)
        self.assertEqual(page.locator('html').get_attribute('lang'),
            language)
        self.screenshot(page, name)
        self.check_axe(page, name)

    def check_axe(self, page, name, options=None):
        """Run axe-core on the page; fail on serious or critical violations.

        The report (all violations) goes to
        artifacts/axe/<backend>/<name>-<width>.json.  axe is evaluated
        through the DevTools protocol, to which the portal's Content
        Security Policy does not apply, so the page keeps its real CSP."""
        if not page.evaluate("typeof window.axe === 'object'"):
            page.evaluate('() => {\n%s\n}' % self.axe_source)
        results = page.evaluate("""async (options) => {
            const results = await axe.run(document, options || {});
            return {
                violations: results.violations.map(v => ({
                    id: v.id, impact: v.impact, help: v.help,
                    helpUrl: v.helpUrl,
                    nodes: v.nodes.map(n => ({
                        target: n.target.join(' '), html: n.html,
                        summary: n.failureSummary})),
                    })),
                incomplete: results.incomplete.map(v => v.id),
                passes: results.passes.map(v => v.id),
                version: results.testEngine.version,
                };
        }""", options)
        violations = results['violations']
        width = page.viewport_size['width']
        report = self.artifact('axe', '%s-%s.json' % (name, width))
        report.write_text(json.dumps(dict(results, url=page.url),
                indent=2, ensure_ascii=False), encoding='utf-8')
        blocking = [v for v in violations if v['impact'] in BLOCKING_IMPACTS]
        if blocking:
            lines = []
            for violation in blocking:
                lines.append('%(impact)s %(id)s: %(help)s (%(helpUrl)s)'
                    % violation)
                for node in violation['nodes']:
                    lines.append('    %(target)s: %(html)s' % node)
                    lines.append('        ' + (node['summary'] or '')
                        .replace('\n', '\n        '))
            self.fail('axe: %s serious or critical violation(s) on %s '
                '(%s px, %s):\n%s' % (len(blocking), name, width, page.url,
                    '\n'.join(lines)))
        return violations

    def screenshot(self, page, name):
        "Save a full-page screenshot; return its path."
        path = self.artifact('screenshots',
            '%s-%s.png' % (name, page.viewport_size['width']))
        page.screenshot(path=str(path), full_page=True)
        return path

    def artifact(self, kind, filename):
        directory = ARTIFACTS / kind / backend.name
        directory.mkdir(parents=True, exist_ok=True)
        return directory / filename

    def open_personal_link(self, page, appointment, purpose='card'):
        """Open a new personal link to the appointment in the page;
        return the raw token and the response of the page it lands on."""
        raw = self.personal_link(appointment, purpose)
        return raw, page.goto(self.url('/a/%s' % raw))
