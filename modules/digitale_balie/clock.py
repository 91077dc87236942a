# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"The one clock of the module, so that tests can set the time everywhere."
import datetime as dt


def now():
    "The current time as naive UTC, as Tryton stores it."
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
