# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""A local stand-in for the Vonage SMS API, for the tests and the demo.

It answers POST (or GET) /sms/json as documented, keeps what it accepted,
sends signed delivery receipts to the message's callback and can be told
to fail.  Run it alone to see the SMS a citizen would get:

    python -m digitale_balie.tests.sms_server --port 8026 --secret s3cret
"""
import argparse
import datetime as dt
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import deque

from ..sms import (
    CLIENT_REF_LENGTH, SIGNATURE_METHODS, count_segments, is_gsm,
    sign_params)
from .local_server import LocalServer

PATH = '/sms/json'
DLR_METHODS = ('GET', 'POST', 'POST-JSON')
PRICE = '0.07000000'
NETWORK = '20601'


class _Failure:
    __slots__ = ('http_status', 'vonage_status', 'delay', 'after_accept')

    def __init__(self, http_status, vonage_status, delay, after_accept):
        self.http_status = http_status
        self.vonage_status = vonage_status
        self.delay = delay
        self.after_accept = after_accept


class FakeSMSGateway(LocalServer):
    """A threaded HTTP server that speaks the Vonage SMS API.

    Unlike this fake, real Vonage does not promise to de-duplicate by
    client-ref: a retry after a lost answer may reach the citizen twice.
    The fake does it so that tests of our retries can count deliveries,
    and the client-ref in the receipts still lets the back office match
    what went out with what we asked for."""

    thread_name = 'fake-sms-gateway'
    path = PATH

    def __init__(self, api_key='test-key', api_secret='test-secret',
            signature_secret=None, signature_method='sha256',
            host='127.0.0.1', port=0, dlr_method='POST-JSON',
            auto_deliver=None, on_message=None, on_receipt=None):
        super().__init__(host, port)
        if signature_method not in SIGNATURE_METHODS:
            raise ValueError("Unknown signature method %r" % signature_method)
        if dlr_method not in DLR_METHODS:
            raise ValueError("Unknown receipt method %r" % dlr_method)
        self.api_key = api_key
        self.api_secret = api_secret
        self.signature_secret = signature_secret
        self.signature_method = signature_method
        self.dlr_method = dlr_method
        # seconds after which an accepted message is reported delivered
        self.auto_deliver = auto_deliver
        self.on_message = on_message
        self.on_receipt = on_receipt
        self.requests = 0
        self._lock = threading.Lock()
        self._messages = []
        self._by_ref = {}
        self._failures = deque()
        self._unavailable = False
        self._closing = threading.Event()

    # -- life ------------------------------------------------------------

    def start(self):
        "Listen and serve in a background thread; return self."
        self._closing.clear()
        return super().start()

    def close(self):
        "Stop serving and wake up any delayed answer."
        self._closing.set()
        super().close()

    @property
    def messages(self):
        "A copy of the accepted messages, each once, oldest first."
        with self._lock:
            return [dict(m) for m in self._messages]

    # -- misbehaving -----------------------------------------------------

    def fail_next(self, n=1, http_status=None, vonage_status=None, delay=0,
            after_accept=False):
        """Make the next n send requests fail.

        With http_status the answer is that HTTP status (500 when nothing
        else is asked); with vonage_status it is HTTP 200 with that
        documented status.  delay holds the answer back (seconds), which a
        client sees as a timeout.  after_accept accepts and records the
        message first, as when the gateway took it but its answer got
        lost."""
        if http_status is None and vonage_status is None and not delay:
            http_status = 500
        with self._lock:
            for _ in range(n):
                self._failures.append(_Failure(
                        http_status, vonage_status, delay, after_accept))

    def down(self, refuse=True):
        """Refuse connections (refuse=True) or answer 503 to every request
        until up() is called."""
        if refuse:
            super().close()
        else:
            self._unavailable = True

    def up(self):
        "Serve normally again, on the same port."
        self._unavailable = False
        if not self.running:
            self.start()

    # -- the API ---------------------------------------------------------

    def _handle(self, handler):
        with self._lock:
            self.requests += 1
        url = urllib.parse.urlsplit(handler.path)
        length = int(handler.headers.get('Content-Length') or 0)
        body = handler.rfile.read(length) if length else b''
        if self._unavailable:
            return self._answer(handler, 503, {'error': 'unavailable'},
                headers={'Retry-After': '1'})
        if url.path != PATH:
            return self._answer(handler, 404, {'error': 'not found'})
        params = {k: v[0] for k, v in urllib.parse.parse_qs(
                url.query, keep_blank_values=True).items()}
        params.update({k: v[0] for k, v in urllib.parse.parse_qs(
                    body.decode('utf-8', 'replace'),
                    keep_blank_values=True).items()})

        with self._lock:
            failure = self._failures.popleft() if self._failures else None
        if failure and not failure.after_accept:
            return self._fail(handler, failure)
        messages, record, new = self._accept(params)
        if new:
            self._accepted(record)
        if failure:
            return self._fail(handler, failure, messages)
        self._answer(handler, 200, {
                'message-count': str(len(messages)),
                'messages': messages,
                })

    def _fail(self, handler, failure, messages=None):
        if failure.delay:
            self._closing.wait(failure.delay)
        if failure.http_status:
            self._answer(handler, failure.http_status,
                {'error': 'injected failure'})
        elif failure.vonage_status:
            self._answer(handler, 200, self._refusal(
                    failure.vonage_status, "Injected failure"))
        else:
            self._answer(handler, 200, {
                    'message-count': str(len(messages or [])),
                    'messages': messages or [],
                    })

    @staticmethod
    def _refusal(status, text):
        return {
            'message-count': '1',
            'messages': [{'status': str(status), 'error-text': text}],
            }

    def _accept(self, params):
        """Check the request as Vonage does and record it; return the
        answer's messages, the record and whether it is new."""
        if (params.get('api_key') != self.api_key
                or params.get('api_secret') != self.api_secret):
            return self._refusal(4, "Bad Credentials")['messages'], None, False
        for name in ('from', 'to', 'text'):
            if not params.get(name):
                return (self._refusal(2, "Missing %s param" % name)[
                        'messages'], None, False)
        to, type_ = params['to'], params.get('type', 'text')
        client_ref = params.get('client-ref')
        invalid = None
        if not (to.isdigit() and 7 <= len(to) <= 15):
            invalid = "Invalid to param"
        elif type_ not in {'text', 'unicode'}:
            invalid = "Invalid type param"
        elif type_ == 'text' and not is_gsm(params['text']):
            # Vonage would garble it; the fake tells us we chose wrong
            invalid = "Text not in the GSM alphabet for type text"
        elif client_ref and len(client_ref) > CLIENT_REF_LENGTH:
            invalid = "Invalid client-ref param"
        if invalid:
            return self._refusal(3, invalid)['messages'], None, False

        with self._lock:
            record = self._by_ref.get(client_ref) if client_ref else None
            new = record is None
            if new:
                record = {
                    'to': to,
                    'from': params['from'],
                    'text': params['text'],
                    'type': type_,
                    'client-ref': client_ref,
                    'callback': params.get('callback'),
                    'message_ids': [
                        uuid.uuid4().hex[:16].upper()
                        for _ in range(count_segments(params['text']))],
                    'received_at': dt.datetime.now(dt.timezone.utc),
                    }
                self._messages.append(record)
                if client_ref:
                    self._by_ref[client_ref] = record
        messages = []
        for message_id in record['message_ids']:
            message = {
                'to': to,
                'message-id': message_id,
                'status': '0',
                'remaining-balance': '10.00000000',
                'message-price': PRICE,
                'network': NETWORK,
                }
            if client_ref:
                message['client-ref'] = client_ref
            messages.append(message)
        return messages, record, new

    def _accepted(self, record):
        if self.on_message:
            self.on_message(dict(record))
        if self.auto_deliver and record['callback']:
            timer = threading.Timer(self.auto_deliver, self._auto_deliver,
                args=(record,))
            timer.daemon = True
            timer.start()

    def _auto_deliver(self, record):
        if self._closing.is_set():
            return
        try:
            self._send_receipts(record, 'delivered', '0')
        except OSError as error:
            if self.on_receipt:
                self.on_receipt(record, None, error)

    @staticmethod
    def _answer(handler, status, payload, headers=None):
        body = json.dumps(payload).encode('utf-8')
        handler.send_response(status)
        handler.send_header('Content-Type', 'application/json')
        handler.send_header('Content-Length', str(len(body)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(body)

    # -- delivery receipts -----------------------------------------------

    def receipts(self, client_ref, status='delivered', err_code='0',
            timestamp=None):
        """Return the receipt parameters, one per part, of the message
        with this client-ref, signed when a signature secret is set."""
        with self._lock:
            record = self._by_ref.get(client_ref)
        if record is None:
            raise KeyError("No message with client-ref %r" % client_ref)
        return self._receipts(record, status, err_code, timestamp)

    def _receipts(self, record, status, err_code, timestamp=None):
        now = time.time() if timestamp is None else timestamp
        when = dt.datetime.fromtimestamp(now, dt.timezone.utc)
        result = []
        for message_id in record['message_ids']:
            params = {
                'msisdn': record['to'],
                'to': record['from'],
                'network-code': NETWORK,
                'messageId': message_id,
                'price': PRICE,
                'status': status,
                'scts': when.strftime('%y%m%d%H%M'),
                'err-code': str(err_code),
                'api-key': self.api_key,
                'message-timestamp': when.strftime('%Y-%m-%d %H:%M:%S'),
                }
            if record['client-ref']:
                params['client-ref'] = record['client-ref']
            if self.signature_secret:
                params['timestamp'] = str(int(now))
                params['nonce'] = str(uuid.uuid4())
                params['sig'] = sign_params(params, self.signature_secret,
                    self.signature_method)
            result.append(params)
        return result

    def deliver(self, client_ref, status='delivered', err_code='0',
            method=None, timestamp=None):
        """Send the delivery receipts of the message with this client-ref
        to its callback URL and return the HTTP statuses answered.

        method is 'GET' (query string), 'POST' (form) or 'POST-JSON' (the
        API reference's JSON body); the gateway's dlr_method by default."""
        with self._lock:
            record = self._by_ref.get(client_ref)
        if record is None:
            raise KeyError("No message with client-ref %r" % client_ref)
        return self._send_receipts(record, status, err_code, method,
            timestamp)

    def _send_receipts(self, record, status, err_code, method=None,
            timestamp=None):
        if not record['callback']:
            raise ValueError("The message was sent without a callback URL")
        method = method or self.dlr_method
        if method not in DLR_METHODS:
            raise ValueError("Unknown receipt method %r" % method)
        statuses = []
        for params in self._receipts(record, status, err_code, timestamp):
            url, data, headers = record['callback'], None, {}
            if method == 'GET':
                separator = '&' if urllib.parse.urlsplit(url).query else '?'
                url += separator + urllib.parse.urlencode(params)
            elif method == 'POST':
                data = urllib.parse.urlencode(params).encode('ascii')
                headers['Content-Type'] = 'application/x-www-form-urlencoded'
            else:
                data = json.dumps(params).encode('utf-8')
                headers['Content-Type'] = 'application/json'
            request = urllib.request.Request(url, data=data, headers=headers,
                method='GET' if method == 'GET' else 'POST')
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    answered = response.status
            except urllib.error.HTTPError as error:
                answered = error.code
            statuses.append(answered)
            if self.on_receipt:
                self.on_receipt(record, params, answered)
        return statuses


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="A local Vonage SMS API that prints the SMS it gets.")
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, default=8026)
    parser.add_argument('--api-key', default='test-key')
    parser.add_argument('--api-secret', default='test-secret')
    parser.add_argument('--secret', default=None,
        help="signature secret of the delivery receipts (unsigned if unset)")
    parser.add_argument('--signature-method', default='sha256',
        choices=SIGNATURE_METHODS)
    parser.add_argument('--dlr-method', default='POST-JSON',
        choices=DLR_METHODS)
    parser.add_argument('--auto-deliver', type=float, default=2,
        metavar='SECONDS',
        help="report each SMS delivered after this delay (0: never)")
    args = parser.parse_args(argv)

    def show_message(record):
        parts = len(record['message_ids'])
        print("--- SMS to +%s from %s (%s, %s part%s%s)" % (
                record['to'], record['from'], record['type'], parts,
                '' if parts == 1 else 's',
                ', ref %s' % record['client-ref']
                if record['client-ref'] else ''), flush=True)
        print(record['text'], flush=True)

    def show_receipt(record, params, answered):
        if params is None:
            print("    receipt to %s failed: %s" % (
                    record['callback'], answered), flush=True)
        else:
            print("    receipt %s %s -> HTTP %s" % (
                    params['messageId'], params['status'], answered),
                flush=True)

    gateway = FakeSMSGateway(api_key=args.api_key,
        api_secret=args.api_secret, signature_secret=args.secret,
        signature_method=args.signature_method, host=args.host,
        port=args.port, dlr_method=args.dlr_method,
        auto_deliver=args.auto_deliver or None, on_message=show_message,
        on_receipt=show_receipt)
    with gateway:
        print("Fake Vonage SMS API on %s (api_key %s)" % (
                gateway.url, gateway.api_key), flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == '__main__':
    main()
