# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The citizen pays next to the call: the transfer with its QR code and
structured communication, printable, or online through the provider; and
the provider's webhook."""
import logging
import re

from trytond.i18n import gettext
from trytond.protocols.wrappers import (
    HTTPStatus, Response, with_pool, with_transaction)
from trytond.transaction import Transaction
from trytond.wsgi import app

from digitale_balie.web import portal_route

from . import mollie
from .exceptions import PaymentError
from .payment import portal_payments

logger = logging.getLogger(__name__)

REFERENCE = re.compile(r'[0-9a-f]{32}')
# what the page says when the citizen comes back from the provider
RETURN_MESSAGES = {
    'paid': ('success', 'balie_sign.msg_payment_return_paid'),
    'open': ('notice', 'balie_sign.msg_payment_return_waiting'),
    'pending': ('notice', 'balie_sign.msg_payment_return_waiting'),
    'authorized': ('notice', 'balie_sign.msg_payment_return_waiting'),
    'canceled': ('error', 'balie_sign.msg_payment_return_failed'),
    'expired': ('error', 'balie_sign.msg_payment_return_failed'),
    'failed': ('error', 'balie_sign.msg_payment_return_failed'),
    }


def own_payment(portal, reference):
    """The payment behind a reference, if it is one of this citizen's
    (on the dossier of the session's appointment); None otherwise, so
    that somebody else's payment answers like an unknown one."""
    if not REFERENCE.fullmatch(reference or ''):
        return None
    for payment in portal_payments(portal.session):
        if payment.reference == reference:
            return payment
    return None


def payment_page(portal, payment, status=HTTPStatus.OK, message=None,
        waiting=False):
    Configuration = portal.pool.get('balie.configuration')
    config = Configuration(1)
    details = payment.transfer_details(portal.language) \
        if payment.state == 'requested' else None
    return portal.page('payment', status=status,
        payment=payment,
        amount=_amount(payment, portal.language),
        details=details,
        online=(payment.state == 'requested'
            and config.payment_client() is not None),
        message=message,
        waiting=waiting)


def _amount(payment, language):
    from .payment import format_amount
    return format_amount(payment.amount, language)


@portal_route('/balie/betalen/<reference>', methods=['GET', 'POST'])
def payment(portal, reference):
    "What to pay, by transfer with the QR code or online."
    payment = own_payment(portal, reference)
    if payment is None:
        return portal.not_found()
    if portal.request.method != 'POST':
        return payment_page(portal, payment)
    if portal.preview:
        return payment_page(portal, payment, status=HTTPStatus.CONFLICT,
            message={'kind': 'notice', 'text': gettext(
                    'balie_sign.msg_payment_preview')})
    try:
        url = payment.start_online(portal.language, portal.pool.database_name)
    except PaymentError as exception:
        return payment_page(portal, payment,
            status=HTTPStatus.SERVICE_UNAVAILABLE,
            message={'kind': 'error', 'text': exception.message})
    return portal.redirect(url)


@portal_route('/balie/betalen/<reference>/terug', readonly=False)
def payment_return(portal, reference):
    """Back from the provider: ask it for the status now, as its webhook
    may come later."""
    Payment = portal.pool.get('balie.payment')
    payment = own_payment(portal, reference)
    if payment is None:
        return portal.not_found()
    status = None
    if payment.online_payments:
        latest = max(payment.online_payments, key=lambda o: o.id)
        try:
            Payment.provider_update(latest.provider_id)
        except mollie.PaymentProviderError as exception:
            logger.warning("payment status of %s unknown: %s",
                latest.provider_id, exception)
        latest = latest.__class__(latest.id)
        status = latest.status
        payment = Payment(payment.id)
    if payment.state == 'paid':
        status = 'paid'
    kind, key = RETURN_MESSAGES.get(status,
        ('notice', 'balie_sign.msg_payment_return_waiting'))
    return payment_page(portal, payment,
        message={'kind': kind, 'text': gettext(key)},
        waiting=kind == 'notice')


@portal_route('/balie/betalen/<reference>/overschrijving.pdf')
def payment_slip(portal, reference):
    "The transfer with its QR code, to print."
    Slip = portal.pool.get('balie.payment.transfer', type='report')
    payment = own_payment(portal, reference)
    if payment is None or payment.state != 'requested':
        return portal.not_found()
    _, content, _, _ = Slip.execute([payment.id], {})
    response = portal.secure(Response(bytes(content),
            content_type='application/pdf'))
    response.headers['Content-Disposition'] = (
        'inline; filename="overschrijving-%s.pdf"' % payment.communication)
    return response


@app.route('/<database_name>/balie/betalen/webhook', methods={'POST'})
@with_pool
@with_transaction(readonly=False)
def payment_webhook(request, pool):
    """The provider says a payment changed; it sends only the id, so the
    status is fetched from the provider itself: a forged or replayed call
    changes nothing the provider does not confirm."""
    try:
        Payment = pool.get('balie.payment')
    except KeyError:
        return Response(status=HTTPStatus.NOT_FOUND)
    if (request.content_length or 0) > 1024:
        return Response(status=HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
    provider_id = request.form.get('id', '')
    if not mollie.valid_payment_id(provider_id):
        return Response('unknown payment', status=HTTPStatus.BAD_REQUEST,
            content_type='text/plain; charset=utf-8')
    try:
        with Transaction().set_context(language='en'):
            known = Payment.provider_update(provider_id)
    except mollie.PaymentProviderError as exception:
        # the provider retries its webhook later
        logger.warning("payment webhook %s: %s", provider_id, exception)
        return Response(status=HTTPStatus.SERVICE_UNAVAILABLE)
    if not known:
        logger.info("payment webhook for an unknown payment")
    # 200 also for ids we do not know: nothing to learn by guessing
    return Response(status=HTTPStatus.OK)
