# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"Helpers that the tests of every Digitale Balie module share (no tests)."


def no_database(cls):
    """Mark a test class that touches no database: scripts/test runs it on
    one backend only (see conftest.py)."""
    cls.no_database = True
    return cls
