# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
from trytond.pool import Pool, PoolMeta
from trytond.transaction import without_check_access


class VideoRoom(metaclass=PoolMeta):
    __name__ = 'balie.video.room'

    @classmethod
    def close(cls, rooms, next_steps=None):
        "The call ends: keep its figures and invite to the survey."
        pool = Pool()
        Invitation = pool.get('balie.survey.invitation')
        CallFigure = pool.get('balie.call.figure')
        held = [r.id for r in rooms if r.state != 'closed' and r.opened_at]
        super().close(rooms, next_steps=next_steps)
        if held:
            # the clerk ends the call; invitations and figures are the
            # module's own business (clerks may not read them)
            with without_check_access():
                closed = cls.browse(held)
                CallFigure.keep(closed)
                Invitation.offer([r.appointment for r in closed])
