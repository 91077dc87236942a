# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
from trytond.pool import Pool, PoolMeta


class Appointment(metaclass=PoolMeta):
    __name__ = 'balie.appointment'

    @classmethod
    def start_service(cls, appointments):
        "The call starts: an open dossier is now in progress."
        Dossier = Pool().get('balie.dossier')
        super().start_service(appointments)
        Dossier.process([a.dossier for a in appointments
                if a.dossier and a.dossier.state == 'open'])
