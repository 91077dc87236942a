# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
from trytond.i18n import gettext
from trytond.model import ModelView
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval

from digitale_balie import clock

from .exceptions import VideoError


class Dossier(metaclass=PoolMeta):
    __name__ = 'balie.dossier'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'start_call': {
                    'invisible': Eval('state') == 'closed',
                    'depends': ['state'],
                    },
                })

    @classmethod
    @ModelView.button
    def start_call(cls, dossiers):
        """Start the video call of the dossier's appointment that is due:
        in progress, or booked and nearest to now."""
        Appointment = Pool().get('balie.appointment')
        if not dossiers:
            return
        dossier = dossiers[0]
        now = clock.now()
        candidates = Appointment.search([
                ('dossier', '=', dossier.id),
                ('channel', '=', 'video'),
                ('state', 'in', ['booked', 'in_progress']),
                ])
        if not candidates:
            raise VideoError(gettext('balie_video.msg_dossier_no_call',
                    dossier=dossier.rec_name))
        appointment = min(candidates, key=lambda a: (
                a.state != 'in_progress', abs(a.start - now)))
        return Appointment.start_call([appointment])


class DossierEvent(metaclass=PoolMeta):
    __name__ = 'balie.dossier.event'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        for kind in [('call', "Video call"), ('phone', "Phone call")]:
            if kind not in cls.kind.selection:
                cls.kind.selection.append(kind)
