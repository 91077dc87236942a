# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Payments on a dossier: a bank transfer with a Belgian structured
communication (OGM/VCS) and an EPC QR code that any banking app reads, or
online through the payment provider (mollie.py).  'Paid' is written once,
whatever the number of webhooks, and lands on the dossier's timeline."""
import datetime as dt
import logging
import secrets
from decimal import Decimal

from genshi.core import Markup
from segno import helpers as segno_helpers
from stdnum import iban as stdnum_iban
from stdnum.be import ogm_vcs
from stdnum.exceptions import ValidationError as StdnumError

from trytond.bus import notify
from trytond.i18n import gettext
from trytond.model import (
    Check, Index, ModelSQL, ModelView, Unique, Workflow, fields)
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.transaction import Transaction

from digitale_balie import clock
from digitale_balie.model import company_through, party_through

from . import mollie
from .exceptions import PaymentError

logger = logging.getLogger(__name__)

STATES = [
    ('requested', "Requested"),
    ('paid', "Paid"),
    ('cancelled', "Cancelled"),
    ]
METHODS = [
    (None, ""),
    ('transfer', "Bank Transfer"),
    ('online', "Online"),
    ]
PROVIDERS = [
    (None, ""),
    ('mollie', "Mollie"),
    ]
ONLINE_STATUSES = [
    ('open', "Open"),
    ('pending', "Pending"),
    ('authorized', "Authorized"),
    ('paid', "Paid"),
    ('canceled', "Cancelled"),
    ('expired', "Expired"),
    ('failed', "Failed"),
    ]
# an open checkout is offered again instead of a new one for this long
CHECKOUT_REUSE = dt.timedelta(minutes=10)
# where Mollie's API sends the citizen to pay (its payments' checkout links)
MOLLIE_CHECKOUT = 'https://www.mollie.com'
CENT = Decimal('0.01')


def make_communication(number, prefix=''):
    "The 12 digits of a structured communication for a number."
    prefix = prefix or ''
    base = prefix + str(number).zfill(10 - len(prefix))
    if len(base) != 10 or not base.isdigit():
        raise ValueError("No room for number %s after prefix %r"
            % (number, prefix))
    return base + ogm_vcs.calc_check_digits(base)


def format_communication(digits):
    "+++123/4567/89002+++, as banks print it."
    return '+++%s+++' % ogm_vcs.format(digits) if digits else ''


def parse_communication(value):
    """The 12 digits of what a clerk typed ('+++090/9337/55493+++',
    '090933755493', with or without stars); raise PaymentError with a
    clear message when it cannot be a structured communication."""
    text = (value or '').strip().strip('+*').strip()
    try:
        return ogm_vcs.validate(text.replace(' ', ''))
    except StdnumError as exception:
        raise PaymentError(gettext('balie_sign.msg_payment_ogm_invalid',
                communication=value or '')) from exception


def format_amount(amount, language='nl'):
    "€ 25,00 in the citizen's language (EUR is the only currency here)."
    from babel.numbers import format_currency
    locale = {'nl': 'nl_BE', 'fr': 'fr_BE'}.get(language, 'en_IE')
    return format_currency(Decimal(amount), 'EUR', locale=locale)


def epc_qr(name, iban, amount, communication, bic=None):
    """The EPC069-12 QR code of a transfer; the structured communication
    goes as its 12 digits in the reference field."""
    return segno_helpers.make_epc_qr(name=name[:70], iban=iban,
        amount=Decimal(amount).quantize(CENT), reference=communication,
        bic=bic or None)


class Payment(party_through('dossier'), Workflow, ModelSQL, ModelView):
    "Payment"
    __name__ = 'balie.payment'
    _rec_name = 'description'

    company = fields.Many2One('company.company', "Company", required=True,
        readonly=True)
    dossier = fields.Many2One('balie.dossier', "Dossier", required=True,
        readonly=True, ondelete='RESTRICT',
        domain=[('company', '=', Eval('company', -1))])
    appointment = fields.Many2One('balie.appointment', "Appointment",
        readonly=True, ondelete='SET NULL')
    reference = fields.Char("Reference", required=True, readonly=True,
        strip=False,
        help="The random part of the citizen's payment page address.")
    description = fields.Char("Description", required=True, readonly=True)
    amount = fields.Numeric("Amount (EUR)", digits=(16, 2), required=True,
        readonly=True)
    communication = fields.Char("Structured Communication", readonly=True)
    communication_display = fields.Function(
        fields.Char("Structured Communication"), 'get_communication_display')
    state = fields.Selection(STATES, "State", required=True, readonly=True,
        sort=False)
    method = fields.Selection(METHODS, "Paid By", readonly=True)
    paid_at = fields.DateTime("Paid At", readonly=True)
    paid_note = fields.Char("Payment Note", readonly=True,
        help="The bank statement's note or the provider's payment id.")
    online_payments = fields.One2Many('balie.payment.online', 'payment',
        "Online Payments", readonly=True)
    online_status = fields.Function(
        fields.Selection([(None, "")] + ONLINE_STATUSES, "Online Status"),
        'get_online_status')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('reference_unique', Unique(t, t.reference),
                'balie_sign.msg_payment_reference_unique'),
            ('communication_unique', Unique(t, t.communication),
                'balie_sign.msg_payment_communication_unique'),
            ('amount_positive', Check(t, t.amount > 0),
                'balie_sign.msg_payment_amount_positive'),
            ]
        cls._sql_indexes.add(Index(t, (t.dossier, Index.Equality())))
        cls._order = [('create_date', 'DESC'), ('id', 'DESC')]
        cls._transitions |= {
            ('requested', 'paid'),
            ('requested', 'cancelled'),
            }
        cls._buttons.update({
                'register_transfer': {
                    'invisible': Eval('state') != 'requested',
                    'depends': ['state'],
                    },
                'check_online': {
                    'invisible': ((Eval('state') != 'requested')
                        | ~Eval('online_status')),
                    'depends': ['state', 'online_status'],
                    },
                'cancel': {
                    'invisible': Eval('state') != 'requested',
                    'depends': ['state'],
                    },
                })

    @classmethod
    def default_state(cls):
        return 'requested'

    def get_communication_display(self, name):
        return format_communication(self.communication)

    @classmethod
    def get_online_status(cls, payments, name):
        result = {p.id: None for p in payments}
        for payment in payments:
            if payment.online_payments:
                latest = max(payment.online_payments, key=lambda o: o.id)
                result[payment.id] = latest.status
        return result

    def get_rec_name(self, name):
        return '%s (EUR %s)' % (self.description, self.amount)

    @classmethod
    def create(cls, vlist):
        vlist = [v.copy() for v in vlist]
        for values in vlist:
            if not values.get('reference'):
                values['reference'] = secrets.token_hex(16)
        payments = super().create(vlist)
        prefix = Pool().get('balie.configuration')(1) \
            .payment_communication_prefix or ''
        for payment in payments:
            if not payment.communication:
                payment.communication = make_communication(
                    payment.id, prefix)
        cls.save(payments)
        return payments

    @classmethod
    def copy(cls, payments, default=None):
        default = default.copy() if default is not None else {}
        for name in ['reference', 'communication', 'method', 'paid_at',
                'paid_note', 'online_payments']:
            default.setdefault(name, None)
        default.setdefault('state', 'requested')
        return super().copy(payments, default=default)

    @classmethod
    def check_modification(cls, mode, payments, values=None,
            external=False):
        super().check_modification(mode, payments, values=values,
            external=external)
        if mode == 'delete':
            for payment in payments:
                if payment.state == 'paid':
                    raise PaymentError(gettext(
                            'balie_sign.msg_payment_delete_paid',
                            payment=payment.rec_name))

    # -- the clerk's side ------------------------------------------------

    @classmethod
    def request(cls, dossier, amount, description, appointment=None):
        "Ask the citizen of the dossier to pay; return the payment."
        Dossier = Pool().get('balie.dossier')
        amount = Decimal(amount or 0).quantize(CENT)
        if amount <= 0:
            raise PaymentError(gettext(
                    'balie_sign.msg_payment_amount_positive'))
        payment, = cls.create([{
                    'company': dossier.company.id,
                    'dossier': dossier.id,
                    'appointment': appointment.id if appointment else None,
                    'description': description,
                    'amount': amount,
                    }])
        Dossier.add_event(dossier, 'payment', gettext(
                'balie_sign.msg_payment_event_requested',
                description=description, amount=str(amount),
                communication=payment.communication_display),
            appointment=appointment)
        return payment

    @classmethod
    @ModelView.button_action('balie_sign.wizard_payment_register')
    def register_transfer(cls, payments):
        pass

    @classmethod
    @ModelView.button
    @Workflow.transition('cancelled')
    def cancel(cls, payments):
        Dossier = Pool().get('balie.dossier')
        for payment in payments:
            Dossier.add_event(payment.dossier, 'payment', gettext(
                    'balie_sign.msg_payment_event_cancelled',
                    description=payment.description))

    @classmethod
    @ModelView.button
    def check_online(cls, payments):
        "Ask the provider again (when a webhook did not come through)."
        for payment in payments:
            for online in payment.online_payments:
                if online.status not in mollie.FINAL:
                    cls.provider_update(online.provider_id)

    @classmethod
    def mark_paid(cls, payments, method, note=None, when=None):
        """Record that payments were paid; a payment already paid stays
        as it is, so repeated notifications change nothing."""
        Dossier = Pool().get('balie.dossier')
        when = when or clock.now()
        done = []
        # two notifications at once both write the row: on PostgreSQL the
        # second fails to serialise, is retried and then finds it paid
        for payment in cls.browse([p.id for p in payments]):
            if payment.state != 'requested':
                continue
            cls.write([payment], {
                    'state': 'paid', 'method': method, 'paid_at': when,
                    'paid_note': note,
                    })
            Dossier.add_event(payment.dossier, 'payment', gettext(
                    'balie_sign.msg_payment_event_paid',
                    description=payment.description,
                    amount=str(payment.amount),
                    method=payment.method_string),
                appointment=payment.appointment)
            done.append(payment)
        for payment in done:
            payment.notify_clerk()
        return done

    method_string = method.translated('method')
    state_string = state.translated('state')

    def notify_clerk(self):
        "A notification in the client of the clerk who asked for it."
        User = Pool().get('res.user')
        user = User(self.create_uid.id) if self.create_uid else None
        if not user or user.id == 0:
            return
        language = user.language.code if user.language else None
        with Transaction().set_context(language=language):
            notify(gettext('balie_sign.msg_payment_notify_paid',
                    name=self.dossier.party.name, amount=str(self.amount),
                    dossier=self.dossier.rec_name),
                body=self.description, user=user.id)

    # -- bank transfer ---------------------------------------------------

    def transfer_details(self, language):
        "What the citizen needs to pay by transfer, and the QR code."
        Configuration = Pool().get('balie.configuration')
        config = Configuration(1)
        if not config.transfer_ready:
            return None
        name = config.payment_beneficiary or config.municipality_name
        qr = epc_qr(name, config.payment_iban, self.amount,
            self.communication, config.payment_bic)
        return {
            'beneficiary': name,
            'iban': stdnum_iban.format(config.payment_iban),
            'bic': config.payment_bic or '',
            'amount': format_amount(self.amount, language),
            'communication': self.communication_display,
            'qr': Markup(qr.svg_inline(scale=5, border=4,
                    title=gettext('balie_sign.msg_payment_qr_title'))),
            'qr_data': qr,
            }

    @classmethod
    def find_by_communication(cls, value):
        "The payment with this structured communication, or PaymentError."
        digits = parse_communication(value)
        payments = cls.search([('communication', '=', digits)], limit=1)
        if not payments:
            raise PaymentError(gettext(
                    'balie_sign.msg_payment_ogm_unknown',
                    communication=format_communication(digits)))
        return payments[0]

    # -- online ----------------------------------------------------------

    def start_online(self, language, database_name):
        """The provider's checkout address for this payment; an open
        checkout of the last minutes is reused.  The idempotency key
        counts the attempts, so that a request repeated after a lost
        answer gets the same payment at the provider."""
        pool = Pool()
        Configuration = pool.get('balie.configuration')
        Online = pool.get('balie.payment.online')
        config = Configuration(1)
        if self.state != 'requested':
            raise PaymentError(gettext('balie_sign.msg_payment_not_open'))
        client = config.payment_client()
        if client is None:
            raise PaymentError(gettext(
                    'balie_sign.msg_payment_online_unavailable'))
        now = clock.now()
        attempts = sorted(self.online_payments, key=lambda o: o.id)
        if attempts:
            latest = attempts[-1]
            if (latest.status == 'open' and latest.checkout_url
                    and now - latest.created_at < CHECKOUT_REUSE):
                return latest.checkout_url
            if latest.status in {'pending', 'authorized', 'paid'}:
                raise PaymentError(gettext(
                        'balie_sign.msg_payment_online_pending'))
        base = config.portal_base_url.rstrip('/')
        key = '%s-%d' % (self.reference, len(attempts) + 1)
        try:
            answer = client.create_payment(
                amount=self.amount,
                description=self.description,
                redirect_url='%s/balie/betalen/%s/terug' % (
                    base, self.reference),
                webhook_url='%s/%s/balie/betalen/webhook' % (
                    base, database_name),
                idempotency_key=key,
                metadata={'payment': self.reference,
                    'dossier': self.dossier.number},
                locale=language)
        except mollie.PaymentProviderError as exception:
            logger.warning("online payment %s not created: %s",
                self.id, exception)
            raise PaymentError(gettext(
                    'balie_sign.msg_payment_online_unavailable')
                ) from exception
        Online.create([{
                    'payment': self.id,
                    'provider': config.payment_provider,
                    'provider_id': answer.id,
                    'idempotency_key': key,
                    'status': answer.status,
                    'checkout_url': answer.checkout_url,
                    }])
        return answer.checkout_url

    @classmethod
    def provider_update(cls, provider_id):
        """Fetch the status of an online payment from the provider and
        record it (the webhook carries only the id).  Return False for an
        id we never created; raise PaymentProviderTemporaryError when the
        provider cannot be asked now."""
        pool = Pool()
        Online = pool.get('balie.payment.online')
        Configuration = pool.get('balie.configuration')
        if not mollie.valid_payment_id(provider_id):
            return False
        onlines = Online.search([('provider_id', '=', provider_id)], limit=1)
        if not onlines:
            return False
        online, = onlines
        client = Configuration(1).payment_client()
        if client is None:
            raise mollie.PaymentProviderTemporaryError(
                "online payments are not configured")
        try:
            answer = client.get_payment(provider_id)
        except mollie.PaymentNotFound:
            logger.warning("payment provider does not know %s", provider_id)
            return False
        payment = online.payment
        if (answer.metadata.get('payment') != payment.reference
                or answer.currency != 'EUR'
                or answer.amount != payment.amount):
            logger.warning("payment provider's %s does not match payment %s",
                provider_id, payment.id)
            return False
        if answer.status != online.status:
            Online.write([online], {'status': answer.status})
        if answer.paid:
            cls.mark_paid([payment], 'online', note=provider_id)
        return True


class PaymentOnline(company_through('payment'), ModelSQL, ModelView):
    "Online Payment"
    __name__ = 'balie.payment.online'

    payment = fields.Many2One('balie.payment', "Payment", required=True,
        readonly=True, ondelete='CASCADE')
    provider = fields.Selection(PROVIDERS, "Provider", required=True,
        readonly=True)
    provider_id = fields.Char("Provider ID", required=True, readonly=True)
    idempotency_key = fields.Char("Idempotency Key", required=True,
        readonly=True, strip=False)
    status = fields.Selection(ONLINE_STATUSES, "Status", required=True,
        readonly=True, sort=False)
    checkout_url = fields.Char("Checkout URL", readonly=True)
    created_at = fields.DateTime("Created At", required=True, readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('provider_id_unique', Unique(t, t.provider, t.provider_id),
                'balie_sign.msg_payment_online_unique'),
            ('idempotency_key_unique', Unique(t, t.idempotency_key),
                'balie_sign.msg_payment_online_unique'),
            ]
        cls._order = [('id', 'DESC')]

    @classmethod
    def default_created_at(cls):
        return clock.now()


def portal_payments(session):
    "The payments the citizen of this portal session may see and pay."
    Payment = Pool().get('balie.payment')
    appointment = session.token.appointment
    if not appointment.dossier:
        return []
    return Payment.search([
            ('dossier', '=', appointment.dossier.id),
            ('dossier.party', '=', appointment.party.id),
            ('state', 'in', ['requested', 'paid']),
            ], order=[('id', 'ASC')])
