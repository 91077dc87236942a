# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"Webhooks: what outside services report back (SMS delivery reports)."
import logging

from trytond.protocols.wrappers import (
    HTTPStatus, Response, abort, with_pool, with_transaction)
from trytond.wsgi import app

from .sms import SMSSignatureError, parse_delivery_receipt

logger = logging.getLogger(__name__)


def get_model(pool, name):
    try:
        return pool.get(name)
    except KeyError:
        # the module is not activated in this database
        abort(HTTPStatus.NOT_FOUND)


def request_params(request):
    if request.is_json:
        data = request.get_json(silent=True) or {}
        return {k: str(v) for k, v in data.items() if v is not None}
    # the body only: a query string would put phone numbers in logs
    return dict(request.form.items())


# POST only: a GET's query string (?msisdn=) would land in access logs
@app.route('/<database_name>/balie/sms/status', methods={'POST'})
@with_pool
@with_transaction(readonly=False)
def sms_status(request, pool):
    "The SMS gateway's delivery report for one part of a message."
    Message = get_model(pool, 'balie.message')
    Configuration = get_model(pool, 'balie.configuration')
    secret = Configuration(1).sms_signature_secret
    try:
        receipt = parse_delivery_receipt(request_params(request), secret)
    except SMSSignatureError as exception:
        logger.warning("refused SMS delivery report: %s", exception)
        return Response(str(exception), status=HTTPStatus.FORBIDDEN,
            content_type='text/plain; charset=utf-8')
    if receipt.client_ref:
        messages = Message.search([
                ('idempotency_key', '=', receipt.client_ref),
                ('channel', '=', 'sms'),
                ], limit=1)
        if receipt.delivered:
            Message.mark_delivered(messages)
        elif receipt.final:
            Message.mark_undeliverable(messages,
                'SMS %s (error %s)' % (receipt.status, receipt.error_code))
    # 204 also for unknown references: the gateway must not retry them
    return Response(status=HTTPStatus.NO_CONTENT)
