# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.

# routes are registered on import, for every database
from . import routes  # noqa: F401
from . import routes_booking  # noqa: F401,E402
from . import routes_webhook  # noqa: F401,E402
