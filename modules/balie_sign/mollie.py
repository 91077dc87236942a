# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The online payment provider: Mollie's Payments API v2, on the standard
library.

Protocol references (the details live here only):
  - create: https://docs.mollie.com/reference/create-payment
    (POST /v2/payments, JSON, "Authorization: Bearer <API key>")
  - get: https://docs.mollie.com/reference/get-payment
  - statuses: https://docs.mollie.com/docs/status-change
    (open, pending, authorized, paid, canceled, expired, failed)
  - idempotency: https://docs.mollie.com/reference/api-idempotency
    (header Idempotency-Key: the same key gives the first answer again)
  - webhooks: https://docs.mollie.com/reference/webhooks (a POST with the
    single form field "id"; the status is not in it, fetch the payment)
  - errors: https://docs.mollie.com/reference/handling-errors
    (application/hal+json with status, title, detail and maybe field)
"""
import http.client
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

DEFAULT_URL = 'https://api.mollie.com/v2'
USER_AGENT = 'digitale-balie-payments/8.0'
STATUSES = frozenset({
        'open', 'pending', 'authorized', 'paid', 'canceled', 'expired',
        'failed'})
# no later status will follow these
FINAL = frozenset({'paid', 'canceled', 'expired', 'failed'})
# Mollie's payment ids: "tr_" and letters and digits
PAYMENT_ID = re.compile(r'tr_[A-Za-z0-9]{4,64}')
LOCALES = {'nl': 'nl_BE', 'fr': 'fr_BE', 'en': 'en_US'}


class PaymentProviderError(Exception):
    "The payment provider refused or could not be reached."

    def __init__(self, reason, status=None, field=None):
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.field = field


class PaymentProviderTemporaryError(PaymentProviderError):
    "Asking again later (with the same idempotency key) may work."


class PaymentNotFound(PaymentProviderError):
    "No payment with this id for this API key."


@dataclass(frozen=True)
class ProviderPayment:
    "What the provider says about a payment."
    id: str
    status: str
    amount: Decimal
    currency: str
    checkout_url: str | None = None
    metadata: dict = field(default_factory=dict)
    method: str | None = None
    paid_at: str | None = None
    mode: str | None = None

    @property
    def paid(self):
        return self.status == 'paid'

    @property
    def final(self):
        return self.status in FINAL


def format_amount(amount):
    "Mollie's amount value: a string with exactly two decimals."
    amount = Decimal(amount).quantize(Decimal('0.01'))
    if amount <= 0:
        raise ValueError("The amount must be positive")
    return '%.2f' % amount


def valid_payment_id(value):
    return bool(value and PAYMENT_ID.fullmatch(value))


def parse_payment(data):
    "A ProviderPayment from the API's JSON."
    try:
        amount = data['amount']
        status = data['status']
        payment = ProviderPayment(
            id=data['id'],
            status=status if status in STATUSES else 'open',
            amount=Decimal(amount['value']),
            currency=amount['currency'],
            checkout_url=((data.get('_links') or {}).get('checkout')
                or {}).get('href'),
            metadata=data.get('metadata') or {},
            method=data.get('method'),
            paid_at=data.get('paidAt'),
            mode=data.get('mode'))
    except (KeyError, TypeError, InvalidOperation) as exception:
        raise PaymentProviderError(
            "Unexpected answer from the payment provider") from exception
    if not isinstance(payment.metadata, dict):
        object.__setattr__(payment, 'metadata', {})
    return payment


class MollieClient:
    "A client of Mollie's Payments API."

    def __init__(self, api_key, url=DEFAULT_URL, timeout=10):
        if not api_key:
            raise ValueError("The payment provider needs an API key")
        self.api_key = api_key
        self.url = url.rstrip('/')
        self.timeout = timeout

    def create_payment(self, amount, description, redirect_url, webhook_url,
            idempotency_key, metadata=None, locale=None, currency='EUR'):
        """Create a payment and return it (with its checkout URL).

        The idempotency key stays the same when a request is repeated after
        a lost answer, so that the citizen is never asked to pay twice."""
        body = {
            'amount': {'currency': currency, 'value': format_amount(amount)},
            'description': description[:255],
            'redirectUrl': redirect_url,
            'metadata': metadata or {},
            }
        if webhook_url:
            body['webhookUrl'] = webhook_url
        if locale:
            body['locale'] = LOCALES.get(locale, locale)
        return parse_payment(self._request('POST', '/payments', body,
                headers={'Idempotency-Key': idempotency_key}))

    def get_payment(self, payment_id):
        "The payment as the provider knows it now."
        if not valid_payment_id(payment_id):
            raise PaymentNotFound("Not a payment id", status=404)
        return parse_payment(self._request(
                'GET', '/payments/' + urllib.parse.quote(payment_id)))

    def _request(self, method, path, body=None, headers=None):
        data = json.dumps(body).encode('utf-8') if body is not None else None
        request = urllib.request.Request(self.url + path, data=data,
            method=method, headers={
                'Authorization': 'Bearer ' + self.api_key,
                'Accept': 'application/hal+json, application/json',
                'User-Agent': USER_AGENT,
                **({'Content-Type': 'application/json'} if data else {}),
                **(headers or {}),
                })
        try:
            with urllib.request.urlopen(
                    request, timeout=self.timeout) as response:
                payload = response.read()
        except urllib.error.HTTPError as error:
            raise self._http_error(error) from error
        except urllib.error.URLError as error:
            raise PaymentProviderTemporaryError(
                "Payment provider unreachable: %s" % error.reason
                ) from error
        except (TimeoutError, OSError, http.client.HTTPException) as error:
            raise PaymentProviderTemporaryError(
                "No answer from the payment provider: %s"
                % (str(error) or type(error).__name__)) from error
        try:
            return json.loads(payload)
        except ValueError as exception:
            raise PaymentProviderError(
                "Unexpected answer from the payment provider") from exception

    @staticmethod
    def _http_error(error):
        status = error.code
        detail, field_ = error.reason, None
        try:
            payload = json.loads(error.read() or b'{}')
            detail = payload.get('detail') or payload.get('title') or detail
            field_ = payload.get('field')
        except (ValueError, AttributeError, OSError):
            pass
        reason = "Payment provider answered HTTP %s: %s" % (status, detail)
        if status == 404:
            return PaymentNotFound(reason, status=status)
        if status >= 500 or status in {408, 429}:
            return PaymentProviderTemporaryError(reason, status=status)
        return PaymentProviderError(reason, status=status, field=field_)
