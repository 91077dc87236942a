# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
import os

TEMPLATES = os.path.join(os.path.dirname(__file__), 'templates')

# routes are registered on import, for every database
from . import routes  # noqa: E402,F401
from . import routes_call  # noqa: E402,F401
