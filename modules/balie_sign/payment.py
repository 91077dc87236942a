# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Payments on a dossier: a bank transfer with a Belgian structured
communication (OGM/VCS) and an EPC QR code that any banking app reads, or
online through the payment provider (mollie.py).  'Paid' is written once,
whatever the number of webhooks, and lands on the dossier's timeline."""
import datetime as dt
import logging
import secrets
import urllib.parse
from decimal import Decimal

from genshi.core import Markup
from segno import helpers as segno_helpers
from stdnum import bic as stdnum_bic
from stdnum import iban as stdnum_iban
from stdnum.be import ogm_vcs
from stdnum.exceptions import ValidationError as StdnumError

from trytond import config as tconfig
from trytond.bus import notify
from trytond.exceptions import UserError
from trytond.i18n import gettext
from trytond.model import (
    Check, Index, ModelSQL, ModelView, Unique, Workflow, fields)
from trytond.model.exceptions import ValidationError
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.transaction import Transaction

from digitale_balie import clock
from digitale_balie.model import company_through, party_through

from . import mollie

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


class PaymentError(UserError):
    pass


class PaymentValidationError(ValidationError):
    pass


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


class Configuration(metaclass=PoolMeta):
    __name__ = 'balie.configuration'

    payment_beneficiary = fields.Char("Beneficiary", size=70,
        help="The account holder's name in the QR code and on the "
        "transfer; the municipality's name when empty.")
    payment_iban = fields.Char("IBAN",
        help="The municipality's account for payments by transfer.")
    payment_bic = fields.Char("BIC")
    payment_communication_prefix = fields.Char(
        "Communication Prefix", size=4,
        help="Digits in front of every structured communication, to tell "
        "these payments apart from others on the same account.")
    payment_provider = fields.Selection(PROVIDERS, "Online Payments",
        help="The provider of online payments; empty for transfers only.")
    mollie_url = fields.Char("Mollie API URL",
        states={'invisible': Eval('payment_provider') != 'mollie'})
    mollie_api_key = fields.Char("Mollie API Key", strip=False,
        states={'invisible': Eval('payment_provider') != 'mollie'},
        help="The [balie_sign] mollie_api_key of the server configuration "
        "takes precedence, so that it need not be stored here.")

    @classmethod
    def default_mollie_url(cls):
        return mollie.DEFAULT_URL

    @classmethod
    def validate_fields(cls, records, field_names):
        super().validate_fields(records, field_names)
        if field_names and not (field_names & {'payment_iban',
                    'payment_bic', 'payment_communication_prefix'}):
            return
        for record in records:
            record.check_payment_account()

    def check_payment_account(self):
        if self.payment_iban:
            try:
                stdnum_iban.validate(self.payment_iban)
            except StdnumError as exception:
                raise PaymentValidationError(gettext(
                        'balie_sign.msg_payment_iban_invalid',
                        iban=self.payment_iban)) from exception
        if self.payment_bic:
            try:
                stdnum_bic.validate(self.payment_bic)
            except StdnumError as exception:
                raise PaymentValidationError(gettext(
                        'balie_sign.msg_payment_bic_invalid',
                        bic=self.payment_bic)) from exception
        prefix = self.payment_communication_prefix
        if prefix and not prefix.isdigit():
            raise PaymentValidationError(gettext(
                    'balie_sign.msg_payment_prefix_invalid', prefix=prefix))

    @classmethod
    def create(cls, vlist):
        return super().create([cls._compact_account(v) for v in vlist])

    @classmethod
    def write(cls, *args):
        args = list(args)
        for i in range(1, len(args), 2):
            args[i] = cls._compact_account(args[i])
        super().write(*args)

    @staticmethod
    def _compact_account(values):
        values = values.copy()
        if values.get('payment_iban'):
            values['payment_iban'] = stdnum_iban.compact(
                values['payment_iban'])
        if values.get('payment_bic'):
            values['payment_bic'] = stdnum_bic.compact(values['payment_bic'])
        return values

    @property
    def transfer_ready(self):
        return bool(self.payment_iban)

    def get_mollie_api_key(self):
        return (tconfig.get('balie_sign', 'mollie_api_key', default=None)
            or self.mollie_api_key)

    def payment_client(self):
        "The online payment provider's client, or None when not set up."
        if self.payment_provider == 'mollie' and self.get_mollie_api_key():
            return mollie.MollieClient(self.get_mollie_api_key(),
                url=self.mollie_url or mollie.DEFAULT_URL)
        return None


class Service(metaclass=PoolMeta):
    __name__ = 'balie.service'

    fee = fields.Numeric("Fee", digits=(16, 2),
        domain=['OR', ('fee', '=', None), ('fee', '>=', 0)],
        help="What the citizen pays for this service, in euro; the clerk "
        "can change it for each payment. Leave empty when it is free.")


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


class Dossier(metaclass=PoolMeta):
    __name__ = 'balie.dossier'

    payments = fields.One2Many('balie.payment', 'dossier', "Payments",
        readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'request_payment': {
                    'invisible': Eval('state') == 'closed',
                    'depends': ['state'],
                    },
                })

    @classmethod
    @ModelView.button_action('balie_sign.wizard_payment_request')
    def request_payment(cls, dossiers):
        pass


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


class Portal(metaclass=PoolMeta):
    __name__ = 'balie.portal'

    @classmethod
    def content_security_policy(cls):
        """The online payment's form redirects to the provider's checkout:
        browsers apply form-action to that redirect too."""
        Configuration = Pool().get('balie.configuration')
        policy = super().content_security_policy()
        config = Configuration(1)
        if config.payment_provider == 'mollie':
            origins = [MOLLIE_CHECKOUT]
            # a local stand-in (demo, tests) serves its checkout itself
            parts = urllib.parse.urlsplit(config.mollie_url or '')
            if parts.scheme in {'https', 'http'} and parts.netloc:
                origins.append('%s://%s' % (parts.scheme, parts.netloc))
            policy['form-action'] = policy['form-action'] + [
                o for o in origins if o not in policy['form-action']]
        return policy

    @classmethod
    def _payment_label(cls, payment, language):
        return gettext('balie_sign.msg_payment_task',
            description=payment.description,
            amount=format_amount(payment.amount, language))

    @classmethod
    def call_tasks(cls, session):
        tasks = super().call_tasks(session)
        language = Transaction().context.get('language') or 'nl'
        for payment in portal_payments(session):
            tasks.append({
                    'href': '/balie/betalen/%s' % payment.reference,
                    'label': cls._payment_label(payment, language),
                    'done': payment.state == 'paid',
                    })
        return tasks

    @classmethod
    def personal_actions(cls, session):
        actions = super().personal_actions(session)
        language = Transaction().context.get('language') or 'nl'
        for payment in portal_payments(session):
            if payment.state != 'requested':
                continue
            actions.append({
                    'href': '/balie/betalen/%s' % payment.reference,
                    'label': cls._payment_label(payment, language),
                    'kind': 'primary', 'sequence': 3,
                    })
        return actions
