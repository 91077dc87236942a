# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""What a document can be: its types, the retention categories of the
municipality's selection list, and the files the configuration accepts."""
from trytond.i18n import gettext
from trytond.model import (
    DeactivableMixin, ModelSQL, ModelView, Unique, fields)
from trytond.pool import PoolMeta
from trytond.transaction import Transaction

from digitale_balie import clock

from .document_check import DEFAULT_FORMATS, FORMATS

DISPOSITIONS = [
    ('destroy', "Destroy"),
    ('archive', "Transfer to the Archive"),
    ]
FORMAT_SELECTION = [
    ('pdf', "PDF"),
    ('jpeg', "JPEG (photo)"),
    ('png', "PNG (image)"),
    ('webp', "WebP (image)"),
    ]
MB = 1_000_000
# what a multipart body may carry besides the file: the other fields
FORM_OVERHEAD = 64 * 1024



class Configuration(metaclass=PoolMeta):
    __name__ = 'balie.configuration'

    document_formats = fields.MultiSelection(
        FORMAT_SELECTION, "Accepted File Types", required=True,
        help="The kinds of file citizens and clerks may upload. The type "
        "is checked on the content of the file, not on its name.")
    document_max_size = fields.Integer(
        "Largest File (MB)", required=True,
        domain=[
            ('document_max_size', '>', 0),
            ('document_max_size', '<=', 100),
            ],
        help="Larger uploads are refused before they are read.")

    @classmethod
    def default_document_formats(cls):
        return list(DEFAULT_FORMATS)

    @classmethod
    def default_document_max_size(cls):
        return 10

    def document_limit(self):
        "The largest file in bytes."
        return (self.document_max_size or 10) * MB

    def document_body_limit(self):
        "The largest upload request in bytes: the file and the form."
        return self.document_limit() + FORM_OVERHEAD

    def document_allowed(self):
        "The accepted format codes, in the order of FORMATS."
        chosen = set(self.document_formats or DEFAULT_FORMATS)
        return [f for f in FORMATS if f in chosen]


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
            from .document import DocumentError
            raise DocumentError(gettext(
                    'balie_sign.msg_document_type_unknown', code=code))
        return types[0]


def add_years(value, years):
    try:
        return value.replace(year=value.year + years)
    except ValueError:  # 29 February
        return value.replace(year=value.year + years, day=28)
