#!/usr/bin/env python3
# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The database chores of the container's entry point.

    balie_db.py wait [SECONDS]   until the PostgreSQL server answers
    balie_db.py exists NAME      exit 0 when the database exists, else 1
    balie_db.py ready NAME       exit 0 when the four modules are activated
    balie_db.py create NAME      CREATE DATABASE (UTF-8, from template0)
    balie_db.py ping NAME        the health check of cron and worker

The server comes from trytond's own configuration ([database] uri, that is
TRYTOND_DATABASE__URI and TRYTOND_CONFIG), so the entry point talks to the
same server as trytond.  Nothing here prints the URI: it holds a password."""
import sys
import time
import urllib.parse

EXIT_USAGE = 2


def conninfo(uri, dbname='postgres'):
    "libpq keywords for a trytond PostgreSQL URI and one database."
    parts = urllib.parse.urlparse(uri)
    if parts.scheme != 'postgresql':
        raise ValueError("[database] uri is not a postgresql:// URI")
    info = {'dbname': dbname}
    if parts.hostname:
        info['host'] = parts.hostname
    if parts.port:
        info['port'] = str(parts.port)
    if parts.username:
        info['user'] = urllib.parse.unquote(parts.username)
    if parts.password:
        info['password'] = urllib.parse.unquote(parts.password)
    for key, values in urllib.parse.parse_qs(parts.query).items():
        info[key] = values[-1]
    return info


def database_uri():
    from trytond import config
    return config.get('database', 'uri')


def connect(dbname='postgres', timeout=5):
    import psycopg
    return psycopg.connect(
        **conninfo(database_uri(), dbname), connect_timeout=timeout,
        autocommit=True, application_name='balie-entrypoint')


def wait(seconds=60):
    "Wait until the server accepts connections; False after seconds."
    import psycopg
    deadline = time.monotonic() + seconds
    while True:
        try:
            with connect(timeout=max(1, min(5, int(seconds)))):
                return True
        except psycopg.OperationalError as exception:
            if time.monotonic() >= deadline:
                # the server's own words, without the URI
                print("database server not reachable: %s"
                    % str(exception).strip().splitlines()[-1],
                    file=sys.stderr)
                return False
        time.sleep(1)


def exists(name):
    with connect() as connection:
        return connection.execute(
            'SELECT 1 FROM pg_database WHERE datname = %s',
            (name,)).fetchone() is not None


MODULES = ('digitale_balie', 'balie_video', 'balie_sign', 'balie_survey')


def ready(name):
    "Whether the database exists with the four modules activated."
    if not exists(name):
        return False
    with connect(name) as connection:
        if connection.execute(
                "SELECT to_regclass('ir_module')").fetchone()[0] is None:
            return False
        activated = {n for n, in connection.execute(
                "SELECT name FROM ir_module WHERE state = 'activated'")}
    return activated.issuperset(MODULES)


def create(name):
    from psycopg import sql
    with connect() as connection:
        connection.execute(sql.SQL(
                "CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'"
                ).format(sql.Identifier(name)))


def ping(name):
    with connect(name) as connection:
        connection.execute('SELECT 1')
    return True


def main(argv):
    commands = {'wait', 'exists', 'ready', 'create', 'ping'}
    if not argv or argv[0] not in commands:
        print(__doc__, file=sys.stderr)
        return EXIT_USAGE
    command, args = argv[0], argv[1:]
    if command == 'wait':
        return 0 if wait(float(args[0]) if args else 60) else 1
    if len(args) != 1 or not args[0]:
        print("%s needs a database name" % command, file=sys.stderr)
        return EXIT_USAGE
    if command == 'exists':
        return 0 if exists(args[0]) else 1
    if command == 'ready':
        return 0 if ready(args[0]) else 1
    if command == 'create':
        create(args[0])
        return 0
    try:
        ping(args[0])
    except Exception as exception:
        print("database %s: %s" % (args[0], type(exception).__name__),
            file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
