# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The figures of a call (waiting time, duration) kept after the call data."""
from trytond.model import ModelSQL, Unique, fields


class CallFigure(ModelSQL):
    """The waiting time and duration of a call, kept for the analysis
    after the call data itself is deleted."""
    __name__ = 'balie.call.figure'

    appointment = fields.Many2One('balie.appointment', "Appointment",
        required=True, ondelete='CASCADE')
    waiting_time = fields.TimeDelta("Waiting Time")
    duration = fields.TimeDelta("Duration")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('appointment_unique', Unique(t, t.appointment),
                'balie_survey.msg_call_figure_unique'),
            ]

    @classmethod
    def keep(cls, rooms):
        existing = {f.appointment.id for f in cls.search([
                    ('appointment', 'in', [r.appointment.id for r in rooms]),
                    ])}
        cls.create([{
                    'appointment': r.appointment.id,
                    'waiting_time': r.waiting_time,
                    'duration': r.duration,
                    } for r in rooms if r.appointment.id not in existing])
