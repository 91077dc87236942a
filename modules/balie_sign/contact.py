# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The citizen checks and corrects their contact details on the portal
during the call; the clerk confirms the change into the party record."""
import re

from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, Workflow, fields
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.transaction import Transaction

from digitale_balie import clock
from digitale_balie.exceptions import CitizenValidationError
from digitale_balie.party import clean_text, parse_email, parse_phone

STATES = [
    ('proposed', "Proposed"),
    ('confirmed', "Confirmed"),
    ('rejected', "Rejected"),
    ('replaced', "Replaced"),
    ]
FIELDS = ['phone', 'email', 'street', 'postal_code', 'city']
CONTROL = re.compile(r'[\x00-\x1f\x7f]')
MAX_LENGTH = {'phone': 40, 'email': 254, 'street': 200, 'postal_code': 10,
    'city': 100}


def current_details(party, appointment=None):
    """The party's contact details as the portal form shows them; what the
    citizen gave for the appointment where the party has none."""
    addresses = [a for a in party.addresses if a.active]
    address = addresses[0] if addresses else None
    return {
        'phone': (party.contact_value('mobile', 'phone')
            or (appointment.contact_mobile if appointment else None) or ''),
        'email': (party.contact_value('email')
            or (appointment.contact_email if appointment else None) or ''),
        'street': (address.street or '') if address else '',
        'postal_code': (address.postal_code or '') if address else '',
        'city': (address.city or '') if address else '',
        }


def validate_details(form):
    """Check what the citizen typed, as the booking wizard does.
    Return (clean values, {field: message}); nothing is lost: the values
    come back as typed where they are wrong."""
    Configuration = Pool().get('balie.configuration')
    values, errors = {}, {}
    labels = None
    for name in FIELDS:
        # control characters (NUL!) are no text, and PostgreSQL refuses NUL;
        # the citizen data's one path (digitale_balie.party.clean_text)
        # also NFC-normalises and refuses half a surrogate pair
        value = CONTROL.sub(' ', str(form.get(name) or ''))
        try:
            value = clean_text(value, name, size=None)
        except CitizenValidationError:
            if labels is None:
                labels = Pool().get('balie.contact.proposal').labels()
            values[name] = ''
            errors[name] = gettext('digitale_balie.msg_text_unstorable',
                field=labels[name])
            continue
        value = ' '.join(value.split())
        values[name] = value[:MAX_LENGTH[name]]
        if len(value) > MAX_LENGTH[name]:
            errors[name] = gettext('balie_sign.msg_contact_too_long')
    if values['phone'] and 'phone' not in errors:
        try:
            values['phone'], _ = parse_phone(values['phone'])
        except CitizenValidationError:
            errors['phone'] = gettext('balie_sign.msg_contact_invalid_phone')
    if values['email'] and 'email' not in errors:
        try:
            values['email'] = parse_email(values['email'],
                check_domain=Configuration(1).check_email_domain)
        except CitizenValidationError:
            errors['email'] = gettext('balie_sign.msg_contact_invalid_email')
    address = [values[n] for n in ['street', 'postal_code', 'city']]
    if any(address):
        for name in ['street', 'postal_code', 'city']:
            if not values[name] and name not in errors:
                errors[name] = gettext('balie_sign.msg_contact_address_part')
        if (values['postal_code'] and 'postal_code' not in errors
                and not re.fullmatch(r'[1-9]\d{3}', values['postal_code'])):
            errors['postal_code'] = gettext(
                'balie_sign.msg_contact_invalid_postal_code')
    return values, errors


class ContactProposal(Workflow, ModelSQL, ModelView):
    "Contact Details Proposed by the Citizen"
    __name__ = 'balie.contact.proposal'

    company = fields.Many2One('company.company', "Company", required=True,
        readonly=True)
    dossier = fields.Many2One('balie.dossier', "Dossier", required=True,
        readonly=True, ondelete='CASCADE')
    appointment = fields.Many2One('balie.appointment', "Appointment",
        readonly=True, ondelete='SET NULL')
    party = fields.Many2One('party.party', "Citizen", required=True,
        readonly=True,
        context={'company': Eval('company', -1)}, depends={'company'})
    state = fields.Selection(STATES, "State", required=True, readonly=True,
        sort=False)
    proposed_at = fields.DateTime("Proposed At", required=True,
        readonly=True)
    decided_at = fields.DateTime("Decided At", readonly=True)
    decided_by = fields.Many2One('res.user', "Decided By", readonly=True)
    phone = fields.Char("Phone", readonly=True)
    email = fields.Char("E-mail", readonly=True)
    street = fields.Char("Street", readonly=True)
    postal_code = fields.Char("Postal Code", readonly=True)
    city = fields.Char("City", readonly=True)
    previous = fields.Text("Before", readonly=True,
        help="The details as they were when the citizen proposed the "
        "change.")
    changes = fields.Text("Changes", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(Index(t, (t.dossier, Index.Equality())))
        cls._order = [('proposed_at', 'DESC'), ('id', 'DESC')]
        cls._transitions |= {
            ('proposed', 'confirmed'),
            ('proposed', 'rejected'),
            ('proposed', 'replaced'),
            }
        cls._buttons.update({
                'confirm': {
                    'invisible': Eval('state') != 'proposed',
                    'depends': ['state'],
                    },
                'reject': {
                    'invisible': Eval('state') != 'proposed',
                    'depends': ['state'],
                    },
                })

    @classmethod
    def default_state(cls):
        return 'proposed'

    @classmethod
    def default_proposed_at(cls):
        return clock.now()

    def get_rec_name(self, name):
        return '%s (%s)' % (self.party.rec_name, self.state_string)

    state_string = state.translated('state')

    @classmethod
    def describe(cls, details):
        labels = cls.labels()
        return '\n'.join('%s: %s' % (labels[n], details.get(n) or '-')
            for n in FIELDS)

    @classmethod
    def labels(cls):
        return {n: f['string'] for n, f in cls.fields_get(FIELDS).items()}

    @classmethod
    def propose(cls, appointment, values):
        """Record what the citizen proposes (already validated); an earlier
        proposal of the appointment that is still open is replaced."""
        party = appointment.party
        before = current_details(party, appointment)
        labels = cls.labels()
        changes = ['%s: %s → %s' % (labels[n], before[n] or '-',
                values[n] or '-')
            for n in FIELDS if (values[n] or '') != (before[n] or '')]
        cls.replace(cls.search([
                    ('appointment', '=', appointment.id),
                    ('state', '=', 'proposed'),
                    ]))
        proposal, = cls.create([{
                    'company': appointment.company.id,
                    'dossier': appointment.dossier.id,
                    'appointment': appointment.id,
                    'party': party.id,
                    'previous': cls.describe(before),
                    'changes': '\n'.join(changes) or gettext(
                        'balie_sign.msg_contact_no_changes'),
                    **{n: values[n] or None for n in FIELDS},
                    }])
        return proposal

    @classmethod
    @Workflow.transition('replaced')
    def replace(cls, proposals):
        pass

    @classmethod
    @ModelView.button
    @Workflow.transition('confirmed')
    def confirm(cls, proposals):
        "Write the proposed details into the citizen's party record."
        pool = Pool()
        Dossier = pool.get('balie.dossier')
        for proposal in proposals:
            proposal._apply()
            Dossier.add_event(proposal.dossier, 'contact', gettext(
                    'balie_sign.msg_contact_event_confirmed',
                    changes=proposal.changes),
                appointment=proposal.appointment)
        cls.write(proposals, {
                'decided_at': clock.now(),
                'decided_by': Transaction().user or None,
                })

    @classmethod
    @ModelView.button
    @Workflow.transition('rejected')
    def reject(cls, proposals):
        Dossier = Pool().get('balie.dossier')
        for proposal in proposals:
            Dossier.add_event(proposal.dossier, 'contact', gettext(
                    'balie_sign.msg_contact_event_rejected',
                    changes=proposal.changes),
                appointment=proposal.appointment)
        cls.write(proposals, {
                'decided_at': clock.now(),
                'decided_by': Transaction().user or None,
                })

    def _apply(self):
        pool = Pool()
        ContactMechanism = pool.get('party.contact_mechanism')
        Address = pool.get('party.address')
        Appointment = pool.get('balie.appointment')
        party = self.party
        mechanisms = [m for m in party.contact_mechanisms if m.active]
        mobile = False
        if self.phone:
            _, mobile = parse_phone(self.phone)
        for types, value, new_type in [
                (('mobile', 'phone'), self.phone,
                    'mobile' if mobile else 'phone'),
                (('email',), self.email, 'email')]:
            existing = [m for m in mechanisms if m.type in types]
            if not value:
                if existing:
                    ContactMechanism.write(existing, {'active': False})
                continue
            if existing and (existing[0].value_compact or existing[0].value
                    ) == value and existing[0].type == new_type:
                continue
            if existing:
                ContactMechanism.write(existing[:1],
                    {'type': new_type, 'value': value})
            else:
                ContactMechanism.create([{'party': party.id,
                            'type': new_type, 'value': value}])
        if self.street:
            values = {'street': self.street,
                'postal_code': self.postal_code, 'city': self.city}
            addresses = [a for a in party.addresses if a.active]
            if addresses:
                Address.write(addresses[:1], values)
            else:
                Address.create([dict(values, party=party.id)])
        # the messages still to come go to the confirmed details
        appointments = Appointment.search([
                ('dossier', '=', self.dossier.id),
                ('state', 'in', ['booked', 'in_progress', 'done']),
                ])
        if appointments:
            Appointment.write(appointments, {
                    'contact_email': self.email,
                    'contact_mobile': self.phone if mobile else None,
                    })


def contact_open(appointment):
    "The citizen corrects their details while the call goes on."
    return appointment.state == 'in_progress'
