# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""pytest set-up shared by every test of the repository.

- Each test process gets a database name of its own: pytest-xdist runs two
  workers on one PostgreSQL server, and trytond's default name
  ('test_' + the current second) is the same for workers started together.
- trytond's `activate_module` builds one template per dependency set, with
  a lock that the workers share (digitale_balie/tests/activation.py).
- Classes decorated with `no_database` (digitale_balie/tests/tools.py)
  touch no database: with BALIE_DATABASE_TESTS_ONLY=1 (the PostgreSQL run
  of scripts/test) they are deselected, since the SQLite run has run them.
- With BALIE_NO_BROWSER=1 (make test-quick) the classes that drive
  Chromium (`needs_browser`, set by BrowserTestCase) are deselected.
- Classes that drive Chromium or are marked `slow` are collected first:
  pytest-xdist hands classes out in collection order, and a long class
  started last would keep one worker busy while the other idles.
"""
import os

import pytest

if not os.environ.get('TRYTOND_DATABASE_URI', 'sqlite://').startswith(
        'sqlite'):
    # the controller names the run, its workers inherit the name
    if not os.environ.get('BALIE_DB_BASE'):
        import time
        os.environ['BALIE_DB_BASE'] = (os.environ.get('DB_NAME')
            or 'test_%d_%d' % (time.time(), os.getpid()))
    worker = os.environ.get('PYTEST_XDIST_WORKER')
    os.environ['DB_NAME'] = os.environ['BALIE_DB_BASE'] + (
        '_' + worker if worker else '')


def pytest_configure(config):
    from digitale_balie.tests import activation
    activation.install()


def _flag(name):
    return os.environ.get(name, '') not in {'', '0'}


def _weight(item):
    "Long classes first, so that two workers end together (xdist loadscope)"
    cls = getattr(item, 'cls', None)
    if getattr(cls, 'needs_browser', False) or getattr(cls, 'slow', False):
        return 0
    return 1


def pytest_collection_modifyitems(config, items):
    # a stable sort: the items of one class stay together and in order
    items.sort(key=_weight)
    database_only = _flag('BALIE_DATABASE_TESTS_ONLY')
    no_browser = _flag('BALIE_NO_BROWSER')
    if not (database_only or no_browser):
        return
    selected, deselected = [], []
    for item in items:
        cls = getattr(item, 'cls', None)
        if ((database_only and getattr(cls, 'no_database', False))
                or (no_browser and getattr(cls, 'needs_browser', False))):
            deselected.append(item)
        else:
            selected.append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected


@pytest.hookimpl(tryfirst=True)
def pytest_report_header(config):
    return ['test database: %s (%s)' % (
            os.environ.get('DB_NAME', ':memory:'),
            os.environ.get('TRYTOND_DATABASE_URI', 'sqlite://'))]
