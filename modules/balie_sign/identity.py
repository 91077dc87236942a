# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Identity verification in the call: a login with the government's login
service or itsme (OpenID Connect), or the clerk's visual check of the eID
card shown to the camera.  Each check records who, when, how and the
result, never a copy of the card."""
import datetime as dt
import hashlib
import re

from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, fields
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.transaction import Transaction
from trytond.wizard import Button, StateTransition, StateView, Wizard

from digitale_balie import clock
from digitale_balie.exceptions import CitizenValidationError
from digitale_balie.party import parse_national_number

from . import oidc
from .exceptions import IdentityError, IdentityValidationError

METHODS = [
    ('oidc', "Online Login"),
    ('visual', "Visual Check in the Call"),
    ]
RESULTS = [
    ('pending', "Pending"),
    ('verified', "Verified"),
    ('mismatch', "Number Does Not Match"),
    ('failed', "Failed"),
    ]
ASSURANCE = [
    (None, ""),
    ('high', "High"),
    ('substantial', "Substantial"),
    ('low', "Low"),
    ]
# how long a citizen may take at the provider
PENDING_LIFETIME = dt.timedelta(minutes=15)


def _hash(value):
    return hashlib.sha256((value or '').encode('utf-8')).hexdigest()


def parse_card_number(value):
    """Return the compact number of a Belgian identity card (12 digits,
    the last two the first ten modulo 97) or foreigner's card (B and ten
    digits); raise IdentityValidationError."""
    compact = re.sub(r'[\s.\-/]', '', value or '').upper()
    if re.fullmatch(r'\d{12}', compact):
        check = int(compact[:10]) % 97 or 97
        if check == int(compact[10:]):
            return compact
    elif re.fullmatch(r'B\d{10}', compact):
        return compact
    raise IdentityValidationError(gettext(
            'balie_sign.msg_identity_invalid_card_number', number=value))


def compact_national_number(value):
    "The compact national register or BIS number, or None if invalid."
    try:
        return parse_national_number(value or '')[1]
    except CitizenValidationError:
        return None


class IdentityCheck(ModelSQL, ModelView):
    "Identity Check"
    __name__ = 'balie.identity.check'

    company = fields.Many2One('company.company', "Company", required=True,
        readonly=True)
    dossier = fields.Many2One('balie.dossier', "Dossier", required=True,
        readonly=True, ondelete='CASCADE')
    appointment = fields.Many2One('balie.appointment', "Appointment",
        readonly=True, ondelete='SET NULL')
    party = fields.Many2One('party.party', "Citizen", required=True,
        readonly=True,
        context={'company': Eval('company', -1)}, depends={'company'})
    method = fields.Selection(METHODS, "Method", required=True,
        readonly=True)
    state = fields.Selection(RESULTS, "Result", required=True,
        readonly=True, sort=False)
    assurance = fields.Selection(ASSURANCE, "Level of Assurance",
        readonly=True, sort=False)
    started_at = fields.DateTime("Started At", required=True, readonly=True)
    checked_at = fields.DateTime("Checked At", readonly=True)
    checked_by = fields.Many2One('res.user', "Checked By", readonly=True,
        help="The clerk who did the visual check.")
    employee = fields.Many2One('company.employee', "Clerk", readonly=True,
        context={'company': Eval('company', -1)}, depends={'company'})
    provider = fields.Char("Provider", readonly=True)
    acr = fields.Char("ACR", readonly=True,
        help="The level of assurance the login service reported.")
    national_number = fields.Char("National Register Number",
        readonly=True,
        help="The number the login or the card showed.")
    card_number = fields.Char("Card Number", readonly=True)
    reason = fields.Text("Reason", readonly=True,
        help="Why the check failed or did not match.")
    state_hash = fields.Char("State Hash", readonly=True, strip=False)
    nonce = fields.Char("Nonce", readonly=True, strip=False)
    code_verifier = fields.Char("Code Verifier", readonly=True, strip=False)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t, (t.dossier, Index.Equality())),
                Index(t, (t.state_hash, Index.Equality()),
                    where=t.state == 'pending'),
                })
        cls._order = [('started_at', 'DESC'), ('id', 'DESC')]

    @classmethod
    def default_state(cls):
        return 'pending'

    @classmethod
    def default_started_at(cls):
        return clock.now()

    def get_rec_name(self, name):
        return '%s: %s' % (self.method_string, self.state_string)

    method_string = method.translated('method')
    state_string = state.translated('state')
    assurance_string = assurance.translated('assurance')

    @classmethod
    def _values_for(cls, appointment, method):
        return {
            'company': appointment.company.id,
            'dossier': appointment.dossier.id,
            'appointment': appointment.id,
            'party': appointment.party.id,
            'employee': appointment.employee.id if appointment.employee
            else None,
            'method': method,
            'started_at': clock.now(),
            }

    # -- online login ----------------------------------------------------

    @classmethod
    def start_oidc(cls, appointment, language=None):
        """Begin a login for the appointment's citizen; return the check
        and the address of the login service."""
        Configuration = Pool().get('balie.configuration')
        config = Configuration(1)
        client = config.oidc_client()
        cls.expire_pending(appointment)
        try:
            request = client.start(config.oidc_redirect_uri(), language)
        except oidc.OIDCError as exception:
            raise IdentityError(gettext(
                    'balie_sign.msg_identity_provider_unreachable')
                ) from exception
        check, = cls.create([dict(cls._values_for(appointment, 'oidc'),
                    provider=client.issuer,
                    state_hash=_hash(request.state),
                    nonce=request.nonce,
                    code_verifier=request.code_verifier)])
        return check, request.url

    @classmethod
    def pending_for(cls, appointment, state):
        "The appointment's pending login with this state, or None."
        if not state or len(state) > 200:
            return None
        checks = cls.search([
                ('appointment', '=', appointment.id),
                ('method', '=', 'oidc'),
                ('state', '=', 'pending'),
                ('state_hash', '=', _hash(state)),
                ('started_at', '>', clock.now() - PENDING_LIFETIME),
                ], limit=1)
        return checks[0] if checks else None

    def finish_oidc(self, params):
        """Complete the login with the provider's answer; record and
        return the result ('verified', 'mismatch' or 'failed')."""
        pool = Pool()
        Configuration = pool.get('balie.configuration')
        Dossier = pool.get('balie.dossier')
        config = Configuration(1)
        values = {
            'checked_at': clock.now(),
            # the secrets of a login are used once
            'state_hash': None, 'nonce': None, 'code_verifier': None,
            }
        try:
            claims = config.oidc_client().finish(
                config.oidc_redirect_uri(), params,
                params.get('state'), self.nonce, self.code_verifier)
        except oidc.OIDCError as exception:
            values.update(state='failed', reason=exception.reason
                + (': ' + exception.detail if exception.detail else ''))
            self.write([self], values)
            Dossier.add_event(self.dossier, 'identity', gettext(
                    'balie_sign.msg_identity_event_failed',
                    reason=exception.reason), appointment=self.appointment)
            return 'failed', exception.reason
        claimed = str(claims.get(config.oidc_rrn_claim) or '')
        number = compact_national_number(claimed)
        values['acr'] = str(claims.get('acr') or '')[:200] or None
        values['assurance'] = config.assurance_of(values['acr'])
        values['national_number'] = number or claimed[:20] or None
        expected = compact_national_number(self.party.national_number)
        if number and expected and number == expected:
            values['state'] = 'verified'
            event = gettext('balie_sign.msg_identity_event_verified',
                assurance=self._assurance_label(values['assurance']))
        else:
            values['state'] = 'mismatch'
            values['reason'] = gettext(
                'balie_sign.msg_identity_mismatch_reason',
                claimed=values['national_number'] or '-',
                expected=expected or '-')
            event = values['reason']
        self.write([self], values)
        Dossier.add_event(self.dossier, 'identity', event,
            appointment=self.appointment)
        return values['state'], None

    @classmethod
    def _assurance_label(cls, assurance):
        return dict(cls.fields_get(['assurance'])['assurance'][
                'selection']).get(assurance, '')

    # -- visual check ------------------------------------------------------

    @classmethod
    def record_visual(cls, appointment, national_number, card_number):
        """The clerk compared the card shown in the call with the person;
        record it.  A number that differs from the dossier's is refused:
        the clerk checks the card again."""
        pool = Pool()
        Dossier = pool.get('balie.dossier')
        Identifier = pool.get('party.identifier')
        try:
            type_, number = parse_national_number(national_number or '')
        except CitizenValidationError as exception:
            raise IdentityValidationError(str(exception)) from exception
        card = parse_card_number(card_number)
        party = appointment.party
        expected = compact_national_number(party.national_number)
        if expected and expected != number:
            raise IdentityValidationError(gettext(
                    'balie_sign.msg_identity_visual_mismatch',
                    number=national_number, expected=party.national_number))
        if not expected:
            Identifier(party=party, type=type_, code=number).save()
        check, = cls.create([dict(cls._values_for(appointment, 'visual'),
                    state='verified', assurance='low',
                    checked_at=clock.now(),
                    checked_by=Transaction().user or None,
                    national_number=number, card_number=card)])
        Dossier.add_event(appointment.dossier, 'identity', gettext(
                'balie_sign.msg_identity_event_visual',
                assurance=cls._assurance_label('low')),
            appointment=appointment)
        return check

    @classmethod
    def expire_pending(cls, appointment):
        "Logins of the appointment never finished: failed, secrets gone."
        stale = cls.search([
                ('appointment', '=', appointment.id),
                ('state', '=', 'pending'),
                ('started_at', '<=', clock.now() - PENDING_LIFETIME),
                ])
        if stale:
            cls.write(stale, {'state': 'failed', 'reason': 'expired',
                    'state_hash': None, 'nonce': None,
                    'code_verifier': None})


class VisualCheckStart(ModelView):
    "Visual Identity Check"
    __name__ = 'balie.identity.visual.start'

    appointment = fields.Many2One('balie.appointment', "Appointment",
        required=True, domain=[('dossier', '=', Eval('dossier', -1))])
    dossier = fields.Many2One('balie.dossier', "Dossier", readonly=True)
    citizen = fields.Char("Citizen", readonly=True)
    national_number = fields.Char("National Register Number",
        required=True,
        help="The number on the card the citizen shows to the camera.")
    card_number = fields.Char("Card Number", required=True,
        help="The twelve digits of the card number, on the front of the "
        "card.")
    photo_matches = fields.Boolean("The Photo Matches the Person",
        help="Tick only when the face on the card is the person in the "
        "call.")


class VisualCheck(Wizard):
    "Visual Identity Check"
    __name__ = 'balie.identity.visual'
    start = StateView('balie.identity.visual.start',
        'balie_sign.identity_visual_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Record", 'save', 'tryton-ok', default=True),
            ])
    save = StateTransition()

    def default_start(self, fields):
        Appointment = Pool().get('balie.appointment')
        dossier = self.record
        if self.start._default_values.get('national_number'):
            return self.start._default_values
        appointments = Appointment.search([
                ('dossier', '=', dossier.id),
                ('state', 'in', ['in_progress', 'booked', 'done']),
                ], order=[('start', 'DESC')])
        appointments.sort(key=lambda a: a.state != 'in_progress')
        return {
            'dossier': dossier.id,
            'citizen': dossier.party.rec_name,
            'appointment': appointments[0].id if appointments else None,
            'national_number': dossier.party.national_number,
            }

    def transition_save(self):
        IdentityCheck = Pool().get('balie.identity.check')
        if not self.start.photo_matches:
            raise IdentityValidationError(gettext(
                    'balie_sign.msg_identity_photo_required'))
        IdentityCheck.record_visual(self.start.appointment,
            self.start.national_number, self.start.card_number)
        return 'end'

    def end(self):
        return 'reload'


def identity_open(appointment):
    "The citizen shows who they are while the call goes on."
    return appointment.state == 'in_progress'
