# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.

from trytond.model import Index, ModelSQL, ModelView, Workflow, fields
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.transaction import Transaction

from . import clock

DOSSIER_STATES = [
    ('open', "Open"),
    ('in_progress', "In Progress"),
    ('waiting', "Waiting for the Citizen"),
    ('decided', "Decided"),
    ('closed', "Closed"),
    ]
EVENT_KINDS = [
    ('booked', "Appointment booked"),
    ('cancelled', "Appointment cancelled"),
    ('rescheduled', "Appointment moved"),
    ('no_show', "Citizen did not come"),
    ('card', "Booking card printed"),
    ('note', "Note"),
    ]


class Dossier(Workflow, ModelSQL, ModelView):
    "One question of one citizen: the municipality's record of the case."
    __name__ = 'balie.dossier'
    _rec_name = 'number'

    number = fields.Char("Number", readonly=True)
    company = fields.Many2One(
        'company.company', "Company", required=True,
        states={'readonly': Eval('state') != 'open'})
    party = fields.Many2One(
        'party.party', "Citizen", required=True,
        states={'readonly': Eval('state') != 'open'},
        context={'company': Eval('company', -1)}, depends={'company'})
    subject = fields.Char("Subject", required=True)
    service = fields.Many2One(
        'balie.service', "Service", required=True,
        states={'readonly': Eval('state') != 'open'},
        domain=[('company', '=', Eval('company', -1))])
    state = fields.Selection(
        DOSSIER_STATES, "State", required=True, readonly=True, sort=False)
    appointments = fields.One2Many(
        'balie.appointment', 'dossier', "Appointments", readonly=True)
    events = fields.One2Many(
        'balie.dossier.event', 'dossier', "Timeline", readonly=True)
    messages = fields.One2Many(
        'balie.message', 'dossier', "Messages", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(
            Index(t, (t.party, Index.Equality()), (t.service, Index.Equality()),
                where=t.state.in_(['open', 'in_progress', 'waiting'])))
        cls._order = [('number', 'DESC'), ('id', 'DESC')]
        cls._transitions |= {
            ('open', 'in_progress'),
            ('in_progress', 'waiting'),
            ('waiting', 'in_progress'),
            ('in_progress', 'decided'),
            ('decided', 'closed'),
            ('open', 'closed'),
            ('closed', 'open'),
            }
        cls._buttons.update({
                'close': {
                    'invisible': ~Eval('state').in_(['open', 'decided']),
                    'depends': ['state'],
                    },
                'reopen': {
                    'invisible': Eval('state') != 'closed',
                    'depends': ['state'],
                    },
                })

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @classmethod
    def default_state(cls):
        return 'open'

    @classmethod
    def create(cls, vlist):
        config = Pool().get('balie.configuration')(1)
        vlist = [v.copy() for v in vlist]
        for values in vlist:
            if not values.get('number'):
                values['number'] = config.dossier_sequence.get()
        return super().create(vlist)

    @classmethod
    def copy(cls, dossiers, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('number', None)
        # what hangs under a dossier (appointments, timeline, messages and
        # the other modules' documents, forms, payments…) stays with it
        for name, field in cls._fields.items():
            if isinstance(field, fields.One2Many):
                default.setdefault(name, None)
        return super().copy(dossiers, default=default)

    @classmethod
    @ModelView.button
    @Workflow.transition('closed')
    def close(cls, dossiers):
        pass

    @classmethod
    @ModelView.button
    @Workflow.transition('open')
    def reopen(cls, dossiers):
        pass

    @classmethod
    def find_or_create(cls, party, service, subject=None):
        "Return the citizen's open dossier on the service, or a new one."
        dossiers = cls.search([
                ('party', '=', party.id),
                ('service', '=', service.id),
                ('state', 'in', ['open', 'in_progress', 'waiting']),
                ], order=[('id', 'DESC')], limit=1)
        if dossiers:
            return dossiers[0]
        dossier, = cls.create([{
                    'party': party.id,
                    'service': service.id,
                    'company': service.company.id,
                    'subject': subject or service.name,
                    }])
        return dossier

    @classmethod
    def add_event(cls, dossier, kind, description, appointment=None):
        "Add an event to the dossier's timeline."
        Event = Pool().get('balie.dossier.event')
        Event.create([{
                    'dossier': dossier.id,
                    'kind': kind,
                    'description': description,
                    'appointment': appointment.id if appointment else None,
                    }])


class DossierEvent(ModelSQL, ModelView):
    "An entry on a dossier's timeline."
    __name__ = 'balie.dossier.event'

    dossier = fields.Many2One(
        'balie.dossier', "Dossier", required=True, ondelete='CASCADE',
        readonly=True)
    date = fields.DateTime("Date", required=True, readonly=True)
    kind = fields.Selection(EVENT_KINDS, "Kind", required=True, readonly=True)
    description = fields.Text("Description", readonly=True)
    user = fields.Many2One('res.user', "User", readonly=True)
    appointment = fields.Many2One(
        'balie.appointment', "Appointment", readonly=True,
        ondelete='SET NULL')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(
            Index(t, (t.dossier, Index.Equality()), (t.date, Index.Range())))
        cls._order = [('date', 'DESC'), ('id', 'DESC')]

    @classmethod
    def default_date(cls):
        return clock.now()

    @classmethod
    def default_user(cls):
        return Transaction().user or None
