# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
from trytond.model import Check, ModelSQL, ModelView, Unique, fields
from trytond.pyson import Eval
from trytond.transaction import Transaction

WEEKDAYS = [
    ('0', "Monday"),
    ('1', "Tuesday"),
    ('2', "Wednesday"),
    ('3', "Thursday"),
    ('4', "Friday"),
    ('5', "Saturday"),
    ('6', "Sunday"),
    ]


class Schedule(ModelSQL, ModelView):
    "A block of weekly opening hours of one clerk, in local wall time."
    __name__ = 'balie.schedule'

    company = fields.Many2One('company.company', "Company", required=True)
    employee = fields.Many2One(
        'company.employee', "Clerk", required=True, ondelete='CASCADE',
        domain=[('company', '=', Eval('company', -1))],
        context={'company': Eval('company', -1)}, depends={'company'})
    weekday = fields.Selection(WEEKDAYS, "Weekday", required=True, sort=False)
    start_time = fields.Time("From", required=True)
    end_time = fields.Time("To", required=True)
    valid_from = fields.Date("Valid From")
    valid_to = fields.Date(
        "Valid To",
        domain=['OR',
            ('valid_to', '=', None),
            ('valid_to', '>=', Eval('valid_from', None)),
            ])

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('time_order', Check(t, t.end_time > t.start_time),
                'digitale_balie.msg_schedule_time_order'),
            ]
        cls._order = [
            ('employee', 'ASC'), ('weekday', 'ASC'), ('start_time', 'ASC'),
            ('id', 'ASC')]

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    def applies_on(self, date):
        return (int(self.weekday) == date.weekday()
            and (not self.valid_from or self.valid_from <= date)
            and (not self.valid_to or date <= self.valid_to))


class ScheduleException(ModelSQL, ModelView):
    "A period a clerk is not available (leave, training, ...)."
    __name__ = 'balie.schedule.exception'

    company = fields.Many2One('company.company', "Company", required=True)
    employee = fields.Many2One(
        'company.employee', "Clerk", required=True, ondelete='CASCADE',
        domain=[('company', '=', Eval('company', -1))],
        context={'company': Eval('company', -1)}, depends={'company'})
    start = fields.DateTime("Start", required=True)
    end = fields.DateTime("End", required=True)
    reason = fields.Char("Reason")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('end_after_start', Check(t, t.end > t.start),
                'digitale_balie.msg_schedule_exception_order'),
            ]
        cls._order = [('start', 'DESC'), ('id', 'DESC')]

    @staticmethod
    def default_company():
        return Transaction().context.get('company')


class ClosingDay(ModelSQL, ModelView):
    "A day the whole municipality is closed."
    __name__ = 'balie.closing.day'

    company = fields.Many2One('company.company', "Company", required=True)
    date = fields.Date("Date", required=True)
    name = fields.Char("Name", required=True, translate=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('date_unique', Unique(t, t.company, t.date),
                'digitale_balie.msg_closing_day_unique'),
            ]
        cls._order = [('date', 'DESC'), ('id', 'DESC')]

    @staticmethod
    def default_company():
        return Transaction().context.get('company')
