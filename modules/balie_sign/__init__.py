# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
import os

TEMPLATES = os.path.join(os.path.dirname(__file__), 'templates')

# routes are registered on import, for every database (one file per act)
# routes: begin
from . import routes_identity, routes_contact  # noqa
from . import routes_signature, routes_payment  # noqa
from . import routes_document, routes_form  # noqa
# routes: end
