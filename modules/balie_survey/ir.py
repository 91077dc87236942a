# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
from trytond.pool import PoolMeta


class Cron(metaclass=PoolMeta):
    __name__ = 'ir.cron'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.method.selection.extend([
                ('balie.survey.invitation|send_invitations',
                    "Send Survey Invitations"),
                ('balie.survey.invitation|clean_up',
                    "Expire Survey Invitations"),
                ('balie.survey.response|clean_up',
                    "Delete Old Survey Comments"),
                ])
