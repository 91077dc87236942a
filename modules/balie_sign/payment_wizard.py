# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The clerk's side of payments: ask for the fee, register a bank transfer
from the statement, print the transfer with its QR code."""
import datetime as dt
from decimal import Decimal

from trytond.i18n import gettext
from trytond.model import ModelView, fields
from trytond.pool import Pool
from trytond.report import Report
from trytond.transaction import Transaction
from trytond.wizard import Button, StateTransition, StateView, Wizard

from digitale_balie import clock

from .dossier import current_appointment
from .exceptions import PaymentError
from .payment import CENT

class PaymentTransfer(Report):
    "The transfer to print: amount, account, communication and QR code."
    __name__ = 'balie.payment.transfer'

    @classmethod
    def get_context(cls, records, header, data):
        pool = Pool()
        Configuration = pool.get('balie.configuration')
        context = super().get_context(records, header, data)
        slips = []
        for record in records:
            language = (record.appointment.language if record.appointment
                else None) or Configuration(1).default_language
            with Transaction().set_context(language=language):
                payment = record.__class__(record.id)
                details = payment.transfer_details(language)
                if details is None:
                    raise PaymentError(gettext(
                            'balie_sign.msg_payment_no_account'))
                details.pop('qr_data')
                slips.append(dict(details,
                        language=language,
                        description=payment.description,
                        dossier=payment.dossier.number,
                        municipality=Configuration(1).municipality_name,
                        text={k: gettext('balie_sign.msg_payment_' + k)
                            for k in ['slip_title', 'slip_scan', 'slip_or',
                                'label_beneficiary', 'label_iban',
                                'label_bic', 'label_amount',
                                'label_communication', 'slip_careful',
                                'label_dossier']}))
        context['slips'] = slips
        return context


class RequestPaymentStart(ModelView):
    "Request Payment"
    __name__ = 'balie.payment.request.start'

    dossier = fields.Many2One('balie.dossier', "Dossier", readonly=True)
    description = fields.Char("Description", required=True,
        help="What the citizen pays for, as they will read it.")
    amount = fields.Numeric("Amount (EUR)", digits=(16, 2), required=True,
        domain=[('amount', '>', 0)])


class RequestPayment(Wizard):
    "Request Payment"
    __name__ = 'balie.payment.request'
    start = StateView('balie.payment.request.start',
        'balie_sign.payment_request_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Request Payment", 'request', 'tryton-ok',
                default=True),
            ])
    request = StateTransition()

    def default_start(self, fields):
        dossier = self.record
        service = dossier.service
        return {
            'dossier': dossier.id,
            'description': service.name if service else dossier.subject,
            'amount': service.fee if service and service.fee else None,
            }

    def transition_request(self):
        pool = Pool()
        Payment = pool.get('balie.payment')
        dossier = self.record
        if dossier.state == 'closed':
            raise PaymentError(gettext('balie_sign.msg_payment_dossier_closed',
                    dossier=dossier.rec_name))
        Payment.request(dossier, self.start.amount, self.start.description,
            appointment=current_appointment(dossier))
        return 'end'


class RegisterTransferStart(ModelView):
    "Register Bank Transfer"
    __name__ = 'balie.payment.register.start'

    communication = fields.Char("Structured Communication", required=True,
        help="As on the bank statement, for example +++090/9337/55493+++.")
    amount = fields.Numeric("Amount Received (EUR)", digits=(16, 2),
        required=True)
    date = fields.Date("Date", required=True)
    note = fields.Char("Note",
        help="For example the bank statement number.")


class RegisterTransfer(Wizard):
    "Register Bank Transfer"
    __name__ = 'balie.payment.register'
    start = StateView('balie.payment.register.start',
        'balie_sign.payment_register_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Register", 'register', 'tryton-ok', default=True),
            ])
    register = StateTransition()

    def default_start(self, fields):
        values = {'date': clock.now().date()}
        if self.model and self.model.__name__ == 'balie.payment' \
                and self.record:
            values.update({
                    'communication': self.record.communication_display,
                    'amount': self.record.amount,
                    })
        return values

    def transition_register(self):
        Payment = Pool().get('balie.payment')
        payment = Payment.find_by_communication(self.start.communication)
        if payment.state == 'paid':
            raise PaymentError(gettext('balie_sign.msg_payment_already_paid',
                    communication=payment.communication_display,
                    date=str(payment.paid_at.date() if payment.paid_at
                        else '')))
        if payment.state != 'requested':
            raise PaymentError(gettext('balie_sign.msg_payment_not_open'))
        received = Decimal(self.start.amount or 0).quantize(CENT)
        if received != payment.amount:
            raise PaymentError(gettext(
                    'balie_sign.msg_payment_amount_differs',
                    communication=payment.communication_display,
                    expected=str(payment.amount), received=str(received)))
        when = dt.datetime.combine(self.start.date, dt.time(12))
        Payment.mark_paid([payment], 'transfer',
            note=self.start.note or None, when=min(when, clock.now()))
        return 'end'
