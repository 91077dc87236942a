# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"What the code sends to the database, for tests that count or plan it."
from contextlib import contextmanager
from unittest.mock import patch

from trytond import backend


@contextmanager
def sent_statements():
    """The SQL statements sent to the database while in the block, as
    (text, parameters), empty statements left out."""
    if backend.name == 'postgresql':
        from trytond.backend.postgresql.database import LoggingCursor as cls
    else:
        from trytond.backend.sqlite.database import SQLiteCursor as cls
    statements = []
    original = cls.execute

    def execute(cursor, query, params=None, *args, **kwargs):
        text = ' '.join(str(query).split())
        if text:
            statements.append((text, params))
        if params is None:
            return original(cursor, query, *args, **kwargs)
        return original(cursor, query, params, *args, **kwargs)
    with patch.object(cls, 'execute', execute):
        yield statements
