# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"What the formal acts write on the dossier's timeline."
from trytond.pool import PoolMeta

EVENT_KINDS = [
    ('document', "Document"),
    ('form', "Application form"),
    ('identity', "Identity check"),
    ('contact', "Contact details"),
    ('decision', "Decision"),
    ('payment', "Payment"),
    ('signature', "Signature"),
    ]


class DossierEvent(metaclass=PoolMeta):
    __name__ = 'balie.dossier.event'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        for kind in EVENT_KINDS:
            if kind not in cls.kind.selection:
                cls.kind.selection.append(kind)
