# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Activated test databases, built once per dependency set (not a test file).

trytond's `activate_module(['balie_sign', 'balie_survey'])` names its
cached database after the list as written, so two classes that ask for the
same modules in other words ('balie_video', 'balie_survey' and
'balie_survey') each activate a database from scratch, and every class that
needs the nl and fr translations loads the .po files again.  `activate`:

- names the cache after the dependency closure of the modules, so every
  spelling of one set shares one template;
- builds a missing template on top of the largest cached one it contains
  (activating balie_survey on the balie_video template instead of
  initialising ir and res again);
- keeps a second template per set with the translations loaded
  (`languages`), which browser and portal classes restore in one copy;
- takes a file lock per template, so that two pytest-xdist workers never
  build or copy one half-made.

`install()` (called by the repository's conftest.py) routes trytond's own
`activate_module`, used by `ModuleTestCase`, through `activate`, and the
scenarios' `activate_modules` (proteus) through `activate_modules`.
"""
import fcntl
import hashlib
from contextlib import contextmanager
from functools import cache
from itertools import combinations
from pathlib import Path

from trytond import backend
from trytond.modules import get_module_info
from trytond.pool import Pool
from trytond.tests import test_tryton
from trytond.transaction import Transaction

ROOT = Path(__file__).resolve().parents[3]
OURS = ('digitale_balie', 'balie_video', 'balie_sign', 'balie_survey')
_trytond_activate_module = test_tryton.activate_module
_trytond_activate_modules = None


@cache
def closure(modules):
    "The modules and everything they depend on, sorted."
    result, todo = set(), list(modules)
    while todo:
        name = todo.pop()
        if name not in result:
            result.add(name)
            todo.extend(get_module_info(name).get('depends', []))
    return tuple(sorted(result))


def cache_name(modules, languages=()):
    name = '+'.join(closure(tuple(modules)))
    if languages:
        name += '--' + '-'.join(sorted(languages))
    return name


@contextmanager
def _lock(name):
    "An exclusive lock on one template, shared by every test process."
    directory = ROOT / 'var' / 'cache' / 'locks'
    directory.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha1(
        ('%s %s' % (backend.name, name)).encode()).hexdigest()[:20]
    with open(directory / key, 'w') as file:
        fcntl.flock(file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(file, fcntl.LOCK_UN)


def _restore(name):
    test_tryton.drop_db(test_tryton.DB_NAME)
    return test_tryton.restore_db_cache(name)


def _activate_in_database(modules):
    "Activate modules (and what they need) in the current test database."
    with Transaction().start(test_tryton.DB_NAME, 1, close=True
            ) as transaction:
        pool = Pool()
        Module = pool.get('ir.module')
        records = Module.search([('name', 'in', list(modules))])
        assert len(records) == len(modules), modules
        records = [r for r in records if r.state != 'activated']
        if records:
            Module.activate(records)
            transaction.commit()
            ActivateUpgrade = pool.get(
                'ir.module.activate_upgrade', type='wizard')
            instance_id, _, _ = ActivateUpgrade.create()
            transaction.commit()
            ActivateUpgrade(instance_id).transition_upgrade()
            ActivateUpgrade.delete(instance_id)
            transaction.commit()


def _smaller_sets(modules):
    "The closures of our modules' subsets inside `modules`, largest first."
    ours = [m for m in OURS if m in modules]
    sets = {closure(tuple(c))
        for size in range(len(ours) - 1, 0, -1)
        for c in combinations(ours, size)}
    sets.discard(closure(tuple(modules)))
    return sorted(sets, key=len, reverse=True)


def activate(modules, languages=()):
    """A test database (DB_NAME) with the modules activated and, for each
    of `languages`, their translations loaded."""
    if isinstance(modules, str):
        modules = [modules]
    modules = closure(tuple(modules))
    name = cache_name(modules, languages)
    if not test_tryton.DB_CACHE:
        return _build(modules, languages)
    with _lock(name):
        if _restore(name):
            return
        _build(modules, languages)
        test_tryton.backup_db_cache(name)


def _build(modules, languages):
    if languages:
        activate(modules)
        from .translations import load_translations
        with Transaction().start(test_tryton.DB_NAME, 0, close=True
                ) as transaction:
            Module = Pool().get('ir.module')
            activated = {m.name for m in Module.search(
                    [('state', '=', 'activated')])}
            load_translations([m for m in OURS if m in activated], languages)
            transaction.commit()
        return
    for base in _smaller_sets(modules) if test_tryton.DB_CACHE else []:
        with _lock(cache_name(base)):
            restored = _restore(cache_name(base))
        if restored:
            _activate_in_database(modules)
            return
    test_tryton.drop_db(test_tryton.DB_NAME)
    # no argument: a browser class replaces create_db by one bound to its
    # own database name
    test_tryton.create_db()
    _activate_in_database(modules)


def _activate_module(modules, lang='en'):
    "trytond's activate_module, through the shared templates."
    if lang != 'en':
        return _trytond_activate_module(modules, lang=lang)
    if not test_tryton.db_exist(test_tryton.DB_NAME):
        return activate(modules)
    return _trytond_activate_module(modules)


def activate_modules(modules, *setup):
    """trytond.tests.tools.activate_modules (the scenarios' proteus
    set-up) on the shared templates: the modules' template is restored
    instead of a database activated from scratch, the setup functions
    (create_company, ...) run on it, and the result is kept as a template
    of its own."""
    from trytond.tests import tools
    if isinstance(modules, str):
        modules = [modules]
    modules = closure(tuple(modules))
    name = cache_name(modules) + '--' + '|'.join(
        tools._func_name(f) for f in setup)
    if not test_tryton.DB_CACHE:
        return _trytond_activate_modules(modules, *setup)
    with _lock(name):
        if _restore(name):
            return tools._get_config()
        activate(modules)
        config = tools._get_config()
        for func in setup:
            func(config=config)
        test_tryton.backup_db_cache(name)
        return config


def install():
    """Send trytond's activate_module (ModuleTestCase) and the scenarios'
    activate_modules through the shared templates."""
    from trytond.tests import tools
    global _trytond_activate_modules
    _trytond_activate_modules = tools.activate_modules
    test_tryton.activate_module = _activate_module
    tools.activate_modules = activate_modules
