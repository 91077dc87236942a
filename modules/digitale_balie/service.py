# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
import datetime as dt

from trytond.model import (
    Check, DeactivableMixin, ModelSQL, ModelView, Unique, fields)
from trytond.pyson import Bool, Eval
from trytond.transaction import Transaction

CHANNELS = [
    ('video', "Video"),
    ('counter', "Counter"),
    ('phone', "Phone"),
    ]


class Service(DeactivableMixin, ModelSQL, ModelView):
    __name__ = 'balie.service'

    name = fields.Char("Name", required=True, translate=True)
    code = fields.Char("Code", required=True,
        help="Short stable code, used in links and reports.")
    company = fields.Many2One('company.company', "Company", required=True)
    description = fields.Text(
        "Description", translate=True,
        help="Plain-language explanation for the citizen.")
    preparation = fields.Text(
        "What to Prepare", translate=True,
        help="What the citizen needs to have ready, in plain language.")
    duration = fields.TimeDelta("Duration", required=True)
    buffer = fields.TimeDelta(
        "Buffer", required=True,
        help="Time the clerk keeps free after each appointment.")
    channels = fields.MultiSelection(
        CHANNELS, "Channels", required=True,
        help="How this service can be given.")
    online_booking = fields.Boolean("Bookable Online",
        help="Citizens can book this service themselves on the "
        "municipality's website (/boeken).")
    online_channel = fields.Selection(CHANNELS, "Online Channel",
        states={'invisible': ~Eval('online_booking'),
            'required': Bool(Eval('online_booking'))},
        help="How an appointment booked online is given.")
    employees = fields.Many2Many(
        'balie.service-company.employee', 'service', 'employee', "Clerks",
        domain=[('company', '=', Eval('company', -1))],
        help="The clerks who may handle this service.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('code_unique', Unique(t, t.company, t.code),
                'digitale_balie.msg_service_code_unique'),
            ('duration_positive', Check(t, t.duration > dt.timedelta(0)),
                'digitale_balie.msg_service_duration_positive'),
            ('buffer_positive', Check(t, t.buffer >= dt.timedelta(0)),
                'digitale_balie.msg_service_buffer_positive'),
            ]
        cls._order.insert(0, ('name', 'ASC'))

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @classmethod
    def default_duration(cls):
        return dt.timedelta(minutes=30)

    @classmethod
    def default_buffer(cls):
        return dt.timedelta(0)

    @classmethod
    def default_online_channel(cls):
        return 'video'

    @classmethod
    def default_channels(cls):
        return ['video']


class ServiceEmployee(ModelSQL):
    __name__ = 'balie.service-company.employee'

    service = fields.Many2One(
        'balie.service', "Service", required=True, ondelete='CASCADE')
    employee = fields.Many2One(
        'company.employee', "Clerk", required=True, ondelete='CASCADE')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('service_employee_unique', Unique(t, t.service, t.employee),
                'digitale_balie.msg_service_employee_unique'),
            ]
