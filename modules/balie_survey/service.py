# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
from trytond.model import fields
from trytond.pool import PoolMeta


class Service(metaclass=PoolMeta):
    __name__ = 'balie.service'

    survey = fields.Many2One('balie.survey', "Questionnaire",
        ondelete='SET NULL',
        help="The questions asked after a call about this service; "
        "leave empty for the default questionnaire.")
