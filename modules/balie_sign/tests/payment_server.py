# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""A local stand-in for Mollie's Payments API v2, for the tests and the
demo.

It answers POST /v2/payments and GET /v2/payments/<id> as documented
(bearer API key, amounts as strings with two decimals, HAL links, errors
as application/hal+json), honours the Idempotency-Key header, serves a
checkout page where the "citizen" pays or cancels, and calls the payment's
webhook with only its id.  Run it alone for the demo:

    python -m balie_sign.tests.payment_server --port 8027 --api-key test_x
"""
import argparse
import datetime as dt
import html
import json
import re
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from decimal import Decimal, InvalidOperation

from digitale_balie.tests.local_server import LocalServer

API = '/v2'
CHECKOUT = '/checkout/'


class _Invalid(ValueError):

    def __init__(self, field):
        super().__init__(field)
        self.field = field


def _now():
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


class FakeMollie(LocalServer):
    """A threaded HTTP server that speaks Mollie's Payments API.

    payments: {id: payment JSON}; creates counts the payments created
    (a request answered from the idempotency cache creates nothing)."""
    thread_name = 'fake-mollie'
    path = API

    def __init__(self, api_key='test_balie0123456789abcdefghijklmn',
            host='127.0.0.1', port=0, deliver_webhooks=False,
            on_event=None):
        super().__init__(host, port)
        self.api_key = api_key
        # call the webhook over HTTP when a status changes (the demo); the
        # tests post it through the WSGI test client themselves
        self.deliver_webhooks = deliver_webhooks
        self.on_event = on_event
        self.payments = {}
        self.creates = 0
        self.requests = []
        self._idempotency = {}
        self._lock = threading.Lock()
        self._fail_next = []

    def fail_next(self, status=503, after_create=False):
        """Answer the next create with an HTTP error; after_create creates
        the payment first and loses the answer (a timeout seen by the
        client), to test the idempotency key."""
        with self._lock:
            self._fail_next.append((status, after_create))

    # -- what the citizen and the bank do ------------------------------

    def set_status(self, payment_id, status, method='bancontact'):
        "Change a payment's status (as paying or giving up would)."
        with self._lock:
            payment = self.payments[payment_id]
            payment['status'] = status
            if status == 'paid':
                payment['paidAt'] = _now().isoformat()
                payment['method'] = method
                payment['amountRemaining'] = {
                    'currency': payment['amount']['currency'],
                    'value': '0.00'}
            payment['isCancelable'] = status == 'open'
            if status != 'open':
                payment['_links'].pop('checkout', None)
        if self.on_event:
            self.on_event('status', payment)
        if self.deliver_webhooks:
            self.call_webhook(payment_id)

    def webhook(self, payment_id):
        "The webhook call of a payment: (url, form data)."
        payment = self.payments[payment_id]
        return payment.get('webhookUrl'), {'id': payment_id}

    def call_webhook(self, payment_id):
        "POST the webhook as Mollie does; return the HTTP status answered."
        url, data = self.webhook(payment_id)
        if not url:
            return None
        request = urllib.request.Request(url,
            data=urllib.parse.urlencode(data).encode('ascii'),
            method='POST', headers={
                'Content-Type': 'application/x-www-form-urlencoded',
                'User-Agent': 'Mollie HTTP client/1.0'})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status = response.status
        except urllib.error.HTTPError as error:
            status = error.code
        except OSError as error:
            status = str(error)
        if self.on_event:
            self.on_event('webhook', {'id': payment_id, 'answer': status})
        return status

    # -- HTTP ------------------------------------------------------------

    def _handle(self, handler):
        path = urllib.parse.urlsplit(handler.path).path
        length = int(handler.headers.get('Content-Length') or 0)
        body = handler.rfile.read(length) if length else b''
        with self._lock:
            self.requests.append((handler.command, path,
                    dict(handler.headers.items())))
        if path.startswith(CHECKOUT):
            return self._checkout(handler, path[len(CHECKOUT):], body)
        if handler.headers.get('Authorization') != 'Bearer ' + self.api_key:
            return self._error(handler, 401, "Unauthorized Request",
                "Missing authentication, or failed to authenticate")
        if path == API + '/payments' and handler.command == 'POST':
            return self._create(handler, body)
        match = re.fullmatch(API + r'/payments/([^/]+)', path)
        if match and handler.command == 'GET':
            payment = self.payments.get(match.group(1))
            if payment is None:
                return self._error(handler, 404, "Not Found",
                    "No payment exists with token %s." % match.group(1))
            return self._answer(handler, 200, payment)
        return self._error(handler, 404, "Not Found",
            "The resource does not exist")

    def _create(self, handler, body):
        key = handler.headers.get('Idempotency-Key')
        with self._lock:
            if key and key in self._idempotency:
                cached_body, status, answer = self._idempotency[key]
                if cached_body != body:
                    # as documented: a key used with another request
                    return self._error(handler, 422, "Unprocessable Entity",
                        "The idempotency key was already used for another "
                        "request.")
                return self._answer(handler, status, answer)
            failure = self._fail_next.pop(0) if self._fail_next else None
        if failure and not failure[1]:
            return self._error(handler, failure[0], "Service Unavailable",
                "Try again later")
        try:
            data = json.loads(body or b'{}')
            amount = data.get('amount') or {}
            value = str(amount.get('value', ''))
            if not re.fullmatch(r'\d+\.\d{2}', value) \
                    or Decimal(value) <= 0:
                raise _Invalid('amount.value')
            if amount.get('currency') != 'EUR':
                raise _Invalid('amount.currency')
            if not data.get('description'):
                raise _Invalid('description')
            if not str(data.get('redirectUrl', '')).startswith(
                    ('http://', 'https://')):
                raise _Invalid('redirectUrl')
        except (ValueError, AttributeError, InvalidOperation) as error:
            return self._error(handler, 422, "Unprocessable Entity",
                "The request is not valid",
                field=error.field if isinstance(error, _Invalid) else None)
        payment_id = 'tr_' + secrets.token_hex(5)
        created = _now()
        payment = {
            'resource': 'payment',
            'id': payment_id,
            'mode': 'test',
            'createdAt': created.isoformat(),
            'status': 'open',
            'isCancelable': True,
            'amount': {'currency': amount['currency'], 'value': value},
            'description': data['description'],
            'method': None,
            'metadata': data.get('metadata'),
            'locale': data.get('locale'),
            'profileId': 'pfl_test',
            'sequenceType': 'oneoff',
            'redirectUrl': data['redirectUrl'],
            'expiresAt': (created + dt.timedelta(minutes=15)).isoformat(),
            '_links': {
                'self': {
                    'href': '%s/payments/%s' % (self.url, payment_id),
                    'type': 'application/hal+json'},
                'checkout': {
                    'href': 'http://%s:%s%s%s' % (self.host, self.port,
                        CHECKOUT, payment_id),
                    'type': 'text/html'},
                },
            }
        if data.get('webhookUrl'):
            payment['webhookUrl'] = data['webhookUrl']
        with self._lock:
            self.payments[payment_id] = payment
            self.creates += 1
            if key:
                self._idempotency[key] = (body, 201, payment)
        if self.on_event:
            self.on_event('created', payment)
        if failure:
            # created, but the client does not hear it
            handler.close_connection = True
            return
        return self._answer(handler, 201, payment)

    def _checkout(self, handler, payment_id, body):
        "A page where the citizen pays or cancels (demo and browser)."
        payment = self.payments.get(payment_id)
        if payment is None:
            return self._page(handler, 404, "<p>Unknown payment</p>")
        if handler.command == 'POST':
            choice = urllib.parse.parse_qs(body.decode('ascii')).get(
                'choice', [''])[0]
            if payment['status'] == 'open':
                self.set_status(payment_id,
                    'paid' if choice == 'pay' else 'canceled')
            handler.send_response(303)
            handler.send_header('Location', payment['redirectUrl'])
            handler.send_header('Content-Length', '0')
            handler.end_headers()
            return
        return self._page(handler, 200,
            '<h1>Test payment</h1><p>%s: EUR %s</p>'
            '<form method="post"><button name="choice" value="pay">Pay'
            '</button> <button name="choice" value="cancel">Cancel</button>'
            '</form>' % (html.escape(payment['description']),
                html.escape(payment['amount']['value'])))

    @staticmethod
    def _page(handler, status, content):
        body = ('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            '<title>Test payment</title></head><body>%s</body></html>'
            % content).encode('utf-8')
        handler.send_response(status)
        handler.send_header('Content-Type', 'text/html; charset=utf-8')
        handler.send_header('Content-Length', str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    @staticmethod
    def _answer(handler, status, payload):
        body = json.dumps(payload).encode('utf-8')
        handler.send_response(status)
        handler.send_header('Content-Type', 'application/hal+json')
        handler.send_header('Content-Length', str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def _error(self, handler, status, title, detail, field=None):
        payload = {
            'status': status, 'title': title, 'detail': detail,
            '_links': {'documentation': {
                    'href': 'https://docs.mollie.com/overview/handling-errors',
                    'type': 'text/html'}},
            }
        if field:
            payload['field'] = field
        return self._answer(handler, status, payload)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="A local Mollie Payments API for the demo.")
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, default=8027)
    parser.add_argument('--api-key',
        default='test_balie0123456789abcdefghijklmn')
    args = parser.parse_args(argv)

    def show(kind, payload):
        if kind == 'webhook':
            print("    webhook %s -> %s" % (payload['id'], payload['answer']),
                flush=True)
        else:
            print("--- payment %s %s: EUR %s (%s)" % (payload['id'],
                    payload['status'], payload['amount']['value'],
                    payload['description']), flush=True)

    provider = FakeMollie(api_key=args.api_key, host=args.host,
        port=args.port, deliver_webhooks=True, on_event=show)
    with provider:
        print("Fake Mollie Payments API on %s" % provider.url, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == '__main__':
    main()
