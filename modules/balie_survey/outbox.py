# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
from trytond.pool import PoolMeta


class Message(metaclass=PoolMeta):
    __name__ = 'balie.message'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        if ('survey', "Survey") not in cls.kind.selection:
            cls.kind.selection.append(('survey', "Survey"))
