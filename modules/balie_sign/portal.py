# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"The formal acts on the citizen's portal: template directory."
from trytond.pool import PoolMeta


class Portal(metaclass=PoolMeta):
    __name__ = 'balie.portal'

    @classmethod
    def template_directories(cls):
        from . import TEMPLATES
        return [TEMPLATES] + super().template_directories()
