#!/usr/bin/env python3
# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Keep trytond's test database cache (DB_CACHE) in step with the code.

trytond names a cached database after the activated module names only, so
after a change to a model, an XML record or a translation the tests would
restore a stale database.  scripts/test therefore keys the cache with a
fingerprint of the module sources and of the installed Tryton packages:

    db_cache.py fingerprint
        print the fingerprint
    db_cache.py pg-prune URI FINGERPRINT
        drop the cached template databases ("test-<40 hex>") on that server
        that were not stamped with FINGERPRINT
    db_cache.py pg-stamp URI FINGERPRINT
        stamp the unstamped ones (made by the run that just ended)

For SQLite scripts/test uses a directory per fingerprint instead.
"""
import hashlib
import os
import re
import sys
from importlib import metadata
from urllib.parse import urlsplit, urlunsplit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE_NAME = re.compile(r'^test-[0-9a-f]{40}$')
PREFIX = 'digitale-balie test cache '


def fingerprint():
    digest = hashlib.sha256()
    modules = os.path.join(ROOT, 'modules')
    for dirpath, dirnames, filenames in os.walk(modules):
        dirnames[:] = sorted(d for d in dirnames
            if d not in {'tests', '__pycache__'}
            and not d.endswith('.egg-info'))
        for filename in sorted(filenames):
            if filename.endswith(('.pyc', '.pyo')):
                continue
            path = os.path.join(dirpath, filename)
            digest.update(os.path.relpath(path, modules).encode())
            with open(path, 'rb') as file:
                digest.update(hashlib.sha256(file.read()).digest())
    for dist in sorted(metadata.distributions(),
            key=lambda d: d.metadata['Name'].lower()):
        name = dist.metadata['Name'].lower()
        if name.startswith('trytond') or name in {'proteus', 'python-sql'}:
            digest.update(('%s==%s\n' % (name, dist.version)).encode())
    return digest.hexdigest()[:16]


def connect(uri):
    import psycopg
    parts = urlsplit(uri)
    return psycopg.connect(
        urlunsplit((parts.scheme, parts.netloc, '/postgres', '', '')),
        autocommit=True, connect_timeout=5)


def cached_databases(conn):
    rows = conn.execute(
        "SELECT datname, shobj_description(oid, 'pg_database') "
        "FROM pg_database WHERE datname LIKE 'test-%'").fetchall()
    return [(name, comment) for name, comment in rows
        if CACHE_NAME.match(name)]


def pg_prune(uri, stamp):
    from psycopg import sql
    with connect(uri) as conn:
        for name, comment in cached_databases(conn):
            if comment != PREFIX + stamp:
                try:
                    conn.execute(sql.SQL('DROP DATABASE IF EXISTS {}').format(
                            sql.Identifier(name)))
                    print('db_cache: dropped stale %s' % name)
                except Exception as exception:  # in use by another run
                    print('db_cache: could not drop %s: %s'
                        % (name, exception), file=sys.stderr)


def pg_stamp(uri, stamp):
    from psycopg import sql
    with connect(uri) as conn:
        for name, comment in cached_databases(conn):
            if not comment:
                conn.execute(sql.SQL('COMMENT ON DATABASE {} IS {}').format(
                        sql.Identifier(name), sql.Literal(PREFIX + stamp)))


def main(argv):
    if argv[:1] == ['fingerprint']:
        print(fingerprint())
    elif argv[:1] == ['pg-prune'] and len(argv) == 3:
        pg_prune(argv[1], argv[2])
    elif argv[:1] == ['pg-stamp'] and len(argv) == 3:
        pg_stamp(argv[1], argv[2])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
