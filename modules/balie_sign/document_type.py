# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""What a document can be: its types, the retention categories of the
municipality's selection list, and the files the configuration accepts."""
from trytond.i18n import gettext
from trytond.model import (
    DeactivableMixin, ModelSQL, ModelView, Unique, fields)
from trytond.transaction import Transaction

from digitale_balie import clock


DISPOSITIONS = [
    ('destroy', "Destroy"),
    ('archive', "Transfer to the Archive"),
    ]



class DocumentRetention(DeactivableMixin, ModelSQL, ModelView):
    "Document Retention Category"
    __name__ = 'balie.document.retention'

    name = fields.Char("Name", required=True, translate=True)
    code = fields.Char("Code", required=True)
    reference = fields.Char("Selection List Reference",
        help="The number of this category in the municipality's "
        "selection list.")
    years = fields.Integer("Keep (Years)", required=True,
        domain=[('years', '>=', 0)],
        help="How many years after its upload a document is kept once its "
        "dossier is closed.")
    disposition = fields.Selection(DISPOSITIONS, "At the End",
        required=True, sort=False,
        help="Destroyed documents are deleted by the retention job; the "
        "others wait for the archivist.")
    description = fields.Text("Description", translate=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('code_unique', Unique(t, t.code),
                'balie_sign.msg_document_retention_code_unique'),
            ]
        cls._order.insert(0, ('name', 'ASC'))

    @classmethod
    def default_years(cls):
        return 10

    @classmethod
    def default_disposition(cls):
        return 'destroy'

    def cutoff(self, now=None):
        "Documents uploaded before this moment have reached their end."
        return add_years(now or clock.now(), -(self.years or 0))


class DocumentType(DeactivableMixin, ModelSQL, ModelView):
    "Document Type"
    __name__ = 'balie.document.type'

    name = fields.Char("Name", required=True, translate=True)
    code = fields.Char("Code", required=True,
        help="Stable code, used by other modules and in data.")
    sequence = fields.Integer("Sequence")
    retention = fields.Many2One('balie.document.retention',
        "Retention Category", required=True, ondelete='RESTRICT',
        help="The category new documents of this type get.")
    citizen = fields.Boolean("Citizens Choose It",
        help="Offered to citizens when they send a document.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('code_unique', Unique(t, t.code),
                'balie_sign.msg_document_type_code_unique'),
            ]
        cls._order = [
            ('sequence', 'ASC NULLS FIRST'), ('name', 'ASC'), ('id', 'ASC')]

    @classmethod
    def from_code(cls, code):
        "The document type with this code (active or not); DocumentError."
        with Transaction().set_context(active_test=False):
            types = cls.search([('code', '=', code)], limit=1)
        if not types:
            from .exceptions import DocumentError
            raise DocumentError(gettext(
                    'balie_sign.msg_document_type_unknown', code=code))
        return types[0]


def add_years(value, years):
    try:
        return value.replace(year=value.year + years)
    except ValueError:  # 29 February
        return value.replace(year=value.year + years, day=28)
