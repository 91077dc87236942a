# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
from trytond.model import fields
from trytond.pool import PoolMeta


class Service(metaclass=PoolMeta):
    __name__ = 'balie.service'

    form_definition = fields.Many2One('balie.form.definition',
        "Application Form", ondelete='RESTRICT',
        help="The form the citizen and the clerk fill in together for "
        "this service.")

    fee = fields.Numeric("Fee", digits=(16, 2),
        domain=['OR', ('fee', '=', None), ('fee', '>=', 0)],
        help="What the citizen pays for this service, in euro; the clerk "
        "can change it for each payment. Leave empty when it is free.")
