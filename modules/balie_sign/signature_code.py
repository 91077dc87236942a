# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""One-time codes to sign: sent through the outbox as messages of kind
"signature_code", whose code is derived from the server secret and the
message's key as it leaves, so that the database never holds a usable
code (a clerk reading the outbox cannot sign for the citizen)."""
import datetime as dt
import hashlib
import hmac
import re

from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, fields
from trytond.pool import Pool

from digitale_balie.model import company_through

CODE_CHANNELS = [
    ('sms', "SMS"),
    ('email', "E-mail"),
    ]
CODE_KIND = 'signature_code'
CODE_DIGITS = 6
# new codes one signature request may ask for
MAX_CODES = 5
MAX_CODE_VALIDITY = dt.timedelta(minutes=10)


def derive_code(secret, key):
    """The one-time code of a message, computed from the server secret
    and the message's key: the database keeps no usable code, so that
    reading the outbox does not let anybody sign for the citizen."""
    digest = hmac.new(secret.encode('utf-8'),
        ('signature-code:' + key).encode('utf-8'), hashlib.sha256).digest()
    return str(int.from_bytes(digest, 'big') % 10 ** CODE_DIGITS).zfill(
        CODE_DIGITS)


def message_code(message):
    "The code that this message carries."
    from digitale_balie.exceptions import MessageError
    secret = message.secret()
    if not secret:
        if Pool.test:
            secret = 'test-secret'
        else:
            raise MessageError(gettext('digitale_balie.msg_secret_missing'))
    return derive_code(secret, message.idempotency_key)


def normalize_code(value):
    "What the citizen typed, as digits only (spaces and dashes dropped)."
    return re.sub(r'[\s.-]', '', value or '')[:20]


def code_matches(message, value):
    "Whether what the citizen typed is the code of this message."
    typed = normalize_code(value).encode('utf-8')
    return hmac.compare_digest(typed, message_code(message).encode('utf-8'))


def mask(channel, recipient):
    "A recipient the citizen recognises without showing it whole."
    recipient = recipient or ''
    if channel == 'sms':
        digits = re.sub(r'\D', '', recipient)
        return '•• •• •• %s' % digits[-2:] if len(digits) >= 4 else '••'
    local, _, domain = recipient.partition('@')
    return '%s•••@%s' % (local[:1], domain)


class SignatureCode(company_through('request'), ModelSQL, ModelView):
    "Signing Code"
    __name__ = 'balie.signature.code'

    request = fields.Many2One('balie.signature.request',
        "Signature Request", required=True, readonly=True,
        ondelete='CASCADE')
    message = fields.Many2One('balie.message', "Message", readonly=True,
        ondelete='SET NULL')
    channel = fields.Selection(CODE_CHANNELS, "Channel", required=True,
        readonly=True)
    recipient = fields.Char("Sent To", readonly=True)
    expires_at = fields.DateTime("Expires At", required=True, readonly=True)
    attempts = fields.Integer("Wrong Attempts", required=True,
        readonly=True)
    used_at = fields.DateTime("Used At", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(Index(t, (t.request, Index.Equality())))
        cls._order = [('id', 'DESC')]

    @classmethod
    def default_attempts(cls):
        return 0

    channel_string = channel.translated('channel')
