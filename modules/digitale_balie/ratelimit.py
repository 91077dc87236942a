# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The store of the portal's rate limits, shared by every server process.

A window per key: a row with the count of events and the moment the window
ends, incremented atomically by one INSERT ... ON CONFLICT DO UPDATE
RETURNING statement in a connection of its own (autocommit), so that a
page that rolls back does not undo its count and every process of a
deployment (gunicorn workers, containers) counts in the same window.  On
PostgreSQL the table is UNLOGGED (no WAL: a crash empties it, which only
resets the windows).  The keys are hashed: no address or phone number is
kept here.  The hourly clean-up of the online booking requests deletes the
windows that ended."""
import hashlib
import logging
import sqlite3
import threading
import time

from trytond import backend
from trytond.model import ModelSQL, fields
from trytond.transaction import Transaction

logger = logging.getLogger(__name__)

TABLE = 'balie_rate_limit'
UPSERT = (
    'INSERT INTO ' + TABLE + ' (name, hits, expires) VALUES ({p}, 1, {p}) '
    'ON CONFLICT (name) DO UPDATE SET '
    'hits = CASE WHEN ' + TABLE + '.expires <= {p} THEN 1 '
    'ELSE ' + TABLE + '.hits + 1 END, '
    'expires = CASE WHEN ' + TABLE + '.expires <= {p} THEN {p} '
    'ELSE ' + TABLE + '.expires END '
    'RETURNING hits, expires')
SELECT = ('SELECT hits, expires FROM ' + TABLE
    + ' WHERE name = {p} AND expires > {p}')


class StoreUnavailable(Exception):
    "The rate limit store cannot be reached."


class RateLimit(ModelSQL):
    "Portal Rate Limit Window"
    __name__ = 'balie.rate.limit'
    name = fields.Char("Key", required=True, strip=False)
    hits = fields.Integer("Hits", required=True)
    expires = fields.Float("Window End", required=True)

    @classmethod
    def __register__(cls, module):
        super().__register__(module)
        cursor = Transaction().connection.cursor()
        cursor.execute('CREATE UNIQUE INDEX IF NOT EXISTS '
            + TABLE + '_name_unique ON ' + TABLE + ' (name)')
        if backend.name == 'postgresql':
            cursor.execute('SELECT relpersistence FROM pg_class '
                "WHERE relname = %s AND relkind = 'r'", (TABLE,))
            row = cursor.fetchone()
            if row and row[0] != 'u':
                cursor.execute('ALTER TABLE ' + TABLE + ' SET UNLOGGED')

    @classmethod
    def clean_up(cls, now=None):
        "Delete the windows that ended."
        now = time.time() if now is None else now
        cursor = Transaction().connection.cursor()
        cursor.execute('DELETE FROM ' + TABLE + ' WHERE expires <= '
            + ('%s' if backend.name == 'postgresql' else '?'), (now,))


def store_key(name, key):
    digest = hashlib.sha256(str(key).encode('utf-8')).hexdigest()[:40]
    return '%s:%s' % (name, digest)


_local = threading.local()
_memory = None
_memory_lock = threading.RLock()


def _memory_connection():
    """An in-memory SQLite database of this process (a database
    in memory is one connection's: the tests' in one process)."""
    global _memory
    with _memory_lock:
        if _memory is None:
            connection = sqlite3.connect(':memory:', isolation_level=None,
                check_same_thread=False)
            connection.execute('CREATE TABLE ' + TABLE + ' (id INTEGER '
                'PRIMARY KEY, name TEXT NOT NULL, hits INTEGER NOT NULL, '
                'expires REAL NOT NULL)')
            connection.execute('CREATE UNIQUE INDEX ' + TABLE
                + '_name_unique ON ' + TABLE + ' (name)')
            _memory = connection
        return _memory


def _sqlite_connection(database):
    "A connection of this thread to the SQLite file, in autocommit."
    uri = database._make_uri()
    connections = getattr(_local, 'connections', None)
    if connections is None:
        connections = _local.connections = {}
    connection = connections.get(uri)
    if connection is None:
        connection = sqlite3.connect(uri, uri=True, timeout=5,
            isolation_level=None, check_same_thread=False)
        connections[uri] = connection
    return connection


def connect():
    """A connection to the store and how to give it back.

    On PostgreSQL an autocommit connection of the database's pool; on a
    SQLite file a connection of our own; for an in-memory SQLite database
    (tests in one process) a table in memory of this process."""
    transaction = Transaction()
    database = transaction.database
    if database is None:
        raise StoreUnavailable("no database")
    if backend.name == 'sqlite':
        if database.name == ':memory:':
            _memory_lock.acquire()
            return _memory_connection(), '?', _memory_lock.release
        return _sqlite_connection(database), '?', None
    connection = database.get_connection(autocommit=True)
    return connection, '%s', lambda: database.put_connection(connection)


def _execute(sql, params):
    try:
        connection, placeholder, release = connect()
    except StoreUnavailable:
        raise
    except Exception as exception:
        raise StoreUnavailable(str(exception)) from exception
    try:
        cursor = connection.cursor()
        cursor.execute(sql.format(p=placeholder), params)
        return cursor.fetchall()
    except Exception as exception:
        if release is None:
            # a broken cached connection: open a new one next time
            getattr(_local, 'connections', {}).clear()
        raise StoreUnavailable(str(exception)) from exception
    finally:
        if release is not None:
            release()


def hit(key, window, now):
    "Count an event in key's window; return (count, window end)."
    rows = _execute(UPSERT, (key, now + window, now, now, now + window))
    count, expires = rows[0]
    return count, expires


def peek(key, now):
    "The count and the end of key's current window, or (0, now)."
    rows = _execute(SELECT, (key, now))
    if not rows:
        return 0, now
    return rows[0]
