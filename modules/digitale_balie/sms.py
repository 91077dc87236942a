# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The SMS gateway: the Vonage (Nexmo) SMS API, on the standard library.

Protocol references (kept here so the details live in one place):
  - send: https://developer.vonage.com/en/api/sms (POST /sms/json)
  - status codes: https://developer.vonage.com/en/api-errors/sms
  - delivery receipts:
    https://developer.vonage.com/en/messaging/sms/guides/delivery-receipts
  - signatures:
    https://developer.vonage.com/en/getting-started/concepts/signing-messages
  - encoding: https://developer.vonage.com/en/messaging/sms/guides/
    concatenation-and-encoding
"""
import hashlib
import hmac
import http.client
import json
import re
import time
import unicodedata
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

DEFAULT_URL = 'https://rest.nexmo.com/sms/json'
USER_AGENT = 'digitale-balie-sms/8.0'
# Vonage documents client-ref as "up to 40 characters"
CLIENT_REF_LENGTH = 40
# Vonage's clock and ours disagree a little; a receipt from further in the
# future than this is not trusted
MAX_CLOCK_SKEW = 60

# GSM 03.38 default alphabet (3GPP TS 23.038), in table order; ESC (0x1B)
# is left out because it introduces the extension table
GSM_BASIC = frozenset(
    '@£$¥èéùìòÇ\nØø\rÅå'
    'Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ'
    ' !"#¤%&\'()*+,-./'
    '0123456789:;<=>?'
    '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§'
    '¿abcdefghijklmnopqrstuvwxyzäöñüà')
# The extension table: each of these costs two septets (ESC + character)
GSM_EXTENSION = frozenset('\f^{}\\[~]|€')

GSM_SINGLE, GSM_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67

SIGNATURE_METHODS = ('md5hash', 'md5', 'sha1', 'sha256', 'sha512')

# Vonage "status" of a refused submission: (retry later?, reason)
STATUSES = {
    '1': (True, "Throttled: sending faster than the account limit"),
    '2': (False, "Missing parameters"),
    '3': (False, "Invalid parameters"),
    '4': (False, "Invalid API credentials"),
    '5': (True, "Internal error at the SMS gateway"),
    '6': (False, "Invalid message: unroutable number prefix"),
    '7': (False, "Destination number is barred"),
    '8': (False, "SMS gateway account is suspended"),
    # the message is fine: it goes out once the account is topped up
    '9': (True, "SMS gateway account is out of credit"),
    '10': (True, "Too many connections to the SMS gateway"),
    '11': (False, "SMS gateway account is not enabled for HTTP"),
    '12': (False, "Message too long"),
    '13': (True, "Communication failure at the SMS gateway"),
    '14': (False, "Invalid request signature"),
    '15': (False, "Sender name or number is not allowed"),
    '16': (False, "Invalid time to live"),
    '19': (False, "Facility not allowed on the SMS gateway account"),
    '20': (False, "Invalid message class"),
    '22': (False, "Invalid network code"),
    '23': (False, "Invalid delivery receipt callback URL"),
    '29': (False, "Destination not whitelisted (demo account)"),
    '32': (False, "Signature and API secret both given"),
    '33': (False, "Destination number is deactivated"),
    }

RECEIPT_STATUSES = frozenset({
        'delivered', 'failed', 'expired', 'rejected', 'accepted',
        'buffered', 'unknown'})
# the delivery receipt guide also names this one
RECEIPT_STATUS_ALIASES = {'undelivered': 'failed'}


class SMSError(Exception):
    "The SMS could not be handed to the gateway."

    def __init__(self, reason, code=None):
        super().__init__(reason)
        self.reason = reason
        # the Vonage status or the HTTP status, when there is one
        self.code = code


class SMSPermanentError(SMSError):
    "Sending the same message again will fail the same way."


class SMSTemporaryError(SMSError):
    "Sending the same message again later may work."

    def __init__(self, reason, code=None, maybe_sent=False):
        super().__init__(reason, code=code)
        # the request reached the gateway but its answer was lost, so the
        # citizen may get the SMS: the client-ref lets the back office tell
        self.maybe_sent = maybe_sent


class SMSSignatureError(SMSError):
    "A delivery receipt is unsigned, forged or too old."


@dataclass(frozen=True)
class SMSResult:
    "What the gateway answered to an accepted message."
    # one per part of a concatenated message
    message_ids: list = field(default_factory=list)
    accepted: bool = True
    # the total price of all parts, as charged by the gateway
    price: Decimal | None = None


@dataclass(frozen=True)
class DeliveryReceipt:
    "A verified delivery receipt (one arrives for each part)."
    client_ref: str | None
    message_id: str
    status: str
    error_code: str
    # the citizen's number: Vonage calls it "msisdn" and puts our sender
    # in its "to"
    to: str
    nonce: str | None = None

    @property
    def delivered(self):
        return self.status == 'delivered'

    @property
    def final(self):
        "Whether no later receipt will change the outcome."
        return self.status in {'delivered', 'failed', 'expired', 'rejected'}


# typography that phones and word processors put in, and its plain twin
_PLAIN = str.maketrans({
        '\u2018': "'", '\u2019': "'", '\u201a': "'", '\u201b': "'",
        '\u201c': '"', '\u201d': '"', '\u201e': '"', '\u00ab': '"',
        '\u00bb': '"', '\u2013': '-', '\u2014': '-', '\u2212': '-',
        '\u2026': '...', '\u00a0': ' ', '\u202f': ' ', '\u2009': ' ',
        })


def gsm_friendly(text):
    """Replace what would force the expensive UCS-2 encoding by its plain
    equivalent: curly quotes, dashes, special spaces, and letters such as
    ë, û or ç by the letter without the accent.  Characters without a
    plain equivalent (emoji, non-Latin scripts) are kept."""
    text = text.translate(_PLAIN)
    if is_gsm(text):
        return text
    chars = []
    for char in text:
        if char in GSM_BASIC or char in GSM_EXTENSION:
            chars.append(char)
            continue
        base = ''.join(c for c in unicodedata.normalize('NFKD', char)
            if not unicodedata.combining(c))
        chars.append(base if base and is_gsm(base) else char)
    return ''.join(chars)


def is_gsm(text):
    "Whether the text can be sent in the GSM 7-bit alphabet."
    return all(c in GSM_BASIC or c in GSM_EXTENSION for c in text)


def _parts(units, single, part):
    # a character of two units (escape sequence or surrogate pair) is never
    # split over two parts, so a part may hold one unit less than its size
    total = sum(units)
    if total <= single:
        return 1 if units else 0
    count, used = 1, 0
    for size in units:
        if used + size > part:
            count, used = count + 1, 0
        used += size
    return count


def count_segments(text):
    """Return the number of SMS parts the text is sent in.

    GSM 7-bit: 160 septets in one SMS, 153 per part once concatenated, the
    extension table characters (€ [ ] { } ^ ~ \\ | and form feed) taking
    two.  Otherwise UCS-2: 70 UTF-16 code units, 67 per part, so an emoji
    takes two.  An empty text has no parts."""
    if is_gsm(text):
        units = [2 if c in GSM_EXTENSION else 1 for c in text]
        return _parts(units, GSM_SINGLE, GSM_PART)
    units = [2 if ord(c) > 0xFFFF else 1 for c in text]
    return _parts(units, UCS2_SINGLE, UCS2_PART)


def normalize_number(number):
    """Return the number as Vonage wants it: E.164 digits without '+'.

    Raise SMSPermanentError when it cannot be a phone number."""
    digits = re.sub(r'[\s./()-]', '', number or '')
    if digits.startswith('+'):
        digits = digits[1:]
    elif digits.startswith('00'):
        digits = digits[2:]
    if not re.fullmatch(r'[1-9]\d{6,14}', digits):
        raise SMSPermanentError(
            "Invalid destination number %r" % number, code='number')
    return digits


def sign_params(params, secret, method='sha256'):
    """Return the Vonage signature ("sig") of request or webhook parameters.

    As documented in "Signing Messages" (manually generate a signature):
    every parameter but "sig", sorted by key, is joined as
    "&key=value" with "&" and "=" in the values replaced by "_".  The
    "md5hash" method is the MD5 of that string followed by the secret;
    the "md5", "sha1", "sha256" and "sha512" methods are the HMAC of that
    string keyed with the signature secret.  The signer must include a
    "timestamp" (Unix seconds) in the parameters; "nonce" is advised.
    Hex digits are uppercase for HMAC (as the receipts Vonage sends) and
    lowercase for md5hash; compare them without case."""
    if method not in SIGNATURE_METHODS:
        raise ValueError("Unknown signature method %r" % method)
    message = ''.join(
        '&%s=%s' % (key, str(params[key]).replace('&', '_').replace('=', '_'))
        for key in sorted(params) if key != 'sig')
    if method == 'md5hash':
        return hashlib.md5((message + secret).encode('utf-8')).hexdigest()
    return hmac.new(secret.encode('utf-8'), message.encode('utf-8'),
        method).hexdigest().upper()


def parse_delivery_receipt(params, signature_secret, signature_method='sha256',
        max_age=300, now=None):
    """Verify a signed Vonage delivery receipt and return it.

    params are the webhook's parameters as strings (query string, form or
    JSON body alike).  Raise SMSSignatureError when the signature is
    missing or wrong, or when its timestamp is older than max_age seconds
    or in the future, so that a captured receipt cannot be replayed."""
    if not signature_secret:
        raise SMSSignatureError("No signature secret configured")
    signature = params.get('sig')
    if not signature:
        raise SMSSignatureError("Delivery receipt is not signed")
    expected = sign_params(params, signature_secret, signature_method)
    if not hmac.compare_digest(
            str(signature).upper().encode('ascii', 'replace'),
            expected.upper().encode('ascii')):
        raise SMSSignatureError("Delivery receipt signature does not match")
    try:
        timestamp = int(params['timestamp'])
    except (KeyError, TypeError, ValueError):
        raise SMSSignatureError("Delivery receipt has no valid timestamp")
    if now is None:
        now = time.time()
    if timestamp < now - max_age:
        raise SMSSignatureError("Delivery receipt is too old (replayed?)")
    if timestamp > now + MAX_CLOCK_SKEW:
        raise SMSSignatureError("Delivery receipt is dated in the future")

    status = str(params.get('status') or 'unknown').lower()
    status = RECEIPT_STATUS_ALIASES.get(status, status)
    if status not in RECEIPT_STATUSES:
        status = 'unknown'
    return DeliveryReceipt(
        client_ref=params.get('client-ref') or None,
        message_id=params.get('messageId') or '',
        status=status,
        error_code=str(params.get('err-code') or '0'),
        to=params.get('msisdn') or '',
        nonce=params.get('nonce'))


class SMSGateway:
    """A client of the Vonage SMS API.

    status_url is sent as the "callback" of every message; keep it free of
    a query string, as receipts sent by GET add theirs to it and the
    signature covers only Vonage's parameters."""

    def __init__(self, api_key, api_secret, sender, url=DEFAULT_URL,
            status_url=None, timeout=10):
        if not api_key or not api_secret:
            raise ValueError("The SMS gateway needs an API key and secret")
        if re.fullmatch(r'\+?\d{1,15}', sender or ''):
            sender = sender.lstrip('+')
        elif not re.fullmatch(r'[A-Za-z0-9 .&_-]{1,11}', sender or ''):
            raise ValueError(
                "The SMS sender must be a number or at most 11 letters "
                "and digits: %r" % sender)
        self.url = url
        self.api_key = api_key
        self.api_secret = api_secret
        self.sender = sender
        self.status_url = status_url
        self.timeout = timeout

    def params(self, to, text, client_ref=None):
        "Return the form parameters that send text to the number."
        if not text:
            raise SMSPermanentError("Empty message", code='text')
        if client_ref and len(client_ref) > CLIENT_REF_LENGTH:
            raise SMSPermanentError(
                "Client reference longer than %s characters"
                % CLIENT_REF_LENGTH, code='client-ref')
        params = {
            'api_key': self.api_key,
            'api_secret': self.api_secret,
            'from': self.sender,
            'to': normalize_number(to),
            'text': text,
            'type': 'text' if is_gsm(text) else 'unicode',
            }
        if client_ref:
            params['client-ref'] = client_ref
        if self.status_url:
            params['callback'] = self.status_url
        return params

    def send(self, to, text, client_ref=None):
        """Hand the SMS to the gateway and return an SMSResult.

        client_ref is our reference of the message: the gateway puts it in
        every delivery receipt, and it stays the same on every attempt so
        that a retry after a lost answer can be reconciled.  Raise
        SMSPermanentError when sending again cannot help, and
        SMSTemporaryError when it may."""
        data = urllib.parse.urlencode(self.params(to, text, client_ref))
        request = urllib.request.Request(self.url, data=data.encode('ascii'),
            method='POST', headers={
                'Content-Type': 'application/x-www-form-urlencoded',
                'Accept': 'application/json',
                'User-Agent': USER_AGENT,
                })
        try:
            with urllib.request.urlopen(
                    request, timeout=self.timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as error:
            raise self._http_error(error) from error
        except urllib.error.URLError as error:
            # urllib wraps the errors raised before the request was sent
            # (refused, DNS, TLS, connect timeout): nothing reached Vonage
            raise SMSTemporaryError(
                "SMS gateway unreachable: %s" % error.reason,
                code='connection') from error
        except (TimeoutError, OSError, http.client.HTTPException) as error:
            # sent, but the answer did not come back
            raise SMSTemporaryError(
                "No answer from the SMS gateway: %s"
                % (str(error) or type(error).__name__),
                code='timeout', maybe_sent=True) from error
        return self._result(body)

    @staticmethod
    def _http_error(error):
        status = error.code
        reason = "SMS gateway answered HTTP %s %s" % (status, error.reason)
        if status >= 500 or status in {408, 429}:
            # past a proxy the request may have been processed anyway;
            # 503 and the 4xx here say it was not
            return SMSTemporaryError(reason, code=status,
                maybe_sent=status >= 500 and status != 503)
        return SMSPermanentError(reason, code=status)

    @staticmethod
    def _result(body):
        try:
            answer = json.loads(body)
            messages = answer['messages']
            if not messages:
                raise ValueError
        except (ValueError, KeyError, TypeError) as error:
            # HTTP 200 but not the documented answer: it may have been sent
            raise SMSTemporaryError("Unreadable answer from the SMS gateway",
                code='answer', maybe_sent=True) from error
        failed = [m for m in messages if str(m.get('status')) != '0']
        if failed:
            status = str(failed[0].get('status'))
            temporary, label = STATUSES.get(
                status, (False, "Refused by the SMS gateway"))
            text = failed[0].get('error-text')
            reason = "%s (status %s%s)" % (
                label, status, ': %s' % text if text else '')
            if temporary:
                raise SMSTemporaryError(reason, code=status,
                    maybe_sent=len(failed) < len(messages))
            raise SMSPermanentError(reason, code=status)
        price = None
        try:
            prices = [Decimal(m['message-price']) for m in messages]
        except (KeyError, TypeError, InvalidOperation):
            pass
        else:
            price = sum(prices, Decimal(0))
        return SMSResult(
            message_ids=[m.get('message-id') for m in messages],
            accepted=True,
            price=price)
