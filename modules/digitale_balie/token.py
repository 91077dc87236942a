# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Personal links: the only credential a citizen needs.

The raw token (140 random bits) is handed out once, on a card or in a
message; the database keeps only its SHA-256, so a copy of the database
does not open anybody's page.  It is written in lower-case Crockford base 32
in groups of four ("k3x9-7mq2-..."), so that a citizen who types it from the
card cannot confuse 0/o or 1/l/i, and capitals or missing dashes don't matter.
"""
import hashlib
import hmac
import secrets

from trytond.model import Index, ModelSQL, ModelView, Unique, fields
from trytond.pool import Pool
from trytond.pyson import Eval

from . import clock

ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz'
TOKEN_LENGTH = 28  # 28 × 5 bits = 140 bits
GROUP = 4
_CONFUSABLES = str.maketrans({'i': '1', 'l': '1', 'o': '0', 'u': 'v'})
PURPOSES = [
    ('card', "Booking card"),
    ('message', "Message"),
    ('preview', "Clerk preview"),
    ('booking', "Online booking"),
    ]
# what a portal session opened with a link of each purpose may do:
# 'personal' opens the personal pages (docs/portal.md, "Links and their
# purposes"); a purpose without a scope opens nothing
SCOPES = {
    'card': 'personal',
    'message': 'personal',
    'preview': 'personal',
    'booking': 'personal',
    }


def new_token():
    "A random token, grouped for reading: 'k3x9-7mq2-…'."
    return group(
        ''.join(secrets.choice(ALPHABET) for _ in range(TOKEN_LENGTH)))


def group(raw):
    return '-'.join(raw[i:i + GROUP] for i in range(0, len(raw), GROUP))


def derive_token(secret, key):
    """A token computed from the server secret and a message's key.

    Messages are retried after a crash and must then carry the same link,
    yet the database may not hold it: the link is derived again from a
    secret that lives in the server configuration, not in the database."""
    digest = hmac.new(secret.encode('utf-8'), key.encode('utf-8'),
        hashlib.sha256).digest()
    number = int.from_bytes(digest, 'big')
    chars = []
    for _ in range(TOKEN_LENGTH):
        number, index = divmod(number, len(ALPHABET))
        chars.append(ALPHABET[index])
    return group(''.join(chars))


def normalize_token(value):
    "What the citizen typed or scanned, in canonical form (or None)."
    if not value or len(value) > 64:
        return None
    value = ''.join(value.split()).replace('-', '').lower()
    value = value.translate(_CONFUSABLES)
    if len(value) != TOKEN_LENGTH or set(value) - set(ALPHABET):
        return None
    return value


def hash_token(raw):
    return hashlib.sha256(
        normalize_token(raw).encode('ascii')).hexdigest()


class AccessToken(ModelSQL, ModelView):
    __name__ = 'balie.access.token'

    appointment = fields.Many2One(
        'balie.appointment', "Appointment", required=True,
        ondelete='CASCADE', readonly=True)
    company = fields.Function(
        fields.Many2One('company.company', "Company"),
        'on_change_with_company', searcher='search_company')
    purpose = fields.Selection(PURPOSES, "Purpose", required=True,
        readonly=True)
    token_hash = fields.Char("Hash", required=True, readonly=True,
        strip=False)
    expires_at = fields.DateTime("Expires At", required=True, readonly=True)
    revoked_at = fields.DateTime("Revoked At", readonly=True)
    first_used_at = fields.DateTime("First Used At", readonly=True)
    last_used_at = fields.DateTime("Last Used At", readonly=True)
    state = fields.Function(fields.Selection([
                ('valid', "Valid"),
                ('expired', "Expired"),
                ('revoked', "Revoked"),
                ], "State"), 'get_state')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('token_hash_unique', Unique(t, t.token_hash),
                'digitale_balie.msg_token_unique'),
            ]
        cls._sql_indexes.add(
            Index(t, (t.appointment, Index.Equality())))
        cls._order = [('create_date', 'DESC'), ('id', 'DESC')]
        cls._buttons.update({
                'revoke_button': {
                    'invisible': Eval('state') != 'valid',
                    'depends': ['state'],
                    },
                })

    @fields.depends('appointment', '_parent_appointment.company')
    def on_change_with_company(self, name=None):
        return self.appointment.company if self.appointment else None

    @classmethod
    def search_company(cls, name, clause):
        return [('appointment.company',) + tuple(clause[1:])]

    def get_state(self, name):
        if self.revoked_at:
            return 'revoked'
        if self.expires_at <= clock.now():
            return 'expired'
        return 'valid'

    @classmethod
    def generate(cls, appointment, purpose, expires_at=None):
        """Create a personal link for the appointment.

        Return the record and the raw token; the raw token is not stored
        and cannot be recovered later.
        """
        Configuration = Pool().get('balie.configuration')
        personal_end = appointment.end + Configuration(1).token_validity
        if expires_at is None or (
                cls.purpose_scopes().get(purpose) == 'personal'
                and expires_at > personal_end):
            # no link that opens the personal pages outlives them
            expires_at = personal_end
        raw = new_token()
        token, = cls.create([{
                    'appointment': appointment.id,
                    'purpose': purpose,
                    'token_hash': hash_token(raw),
                    'expires_at': expires_at,
                    }])
        return token, raw

    @classmethod
    def purpose_scopes(cls):
        "{purpose: scope}: what the session of a link may open."
        return dict(SCOPES)

    @property
    def scope(self):
        "What a portal session opened with this link may do (or None)."
        return self.purpose_scopes().get(self.purpose)

    @classmethod
    def example(cls):
        "A token of the real length, to measure texts."
        return group('x' * TOKEN_LENGTH)

    @classmethod
    def for_message(cls, message):
        "The personal link record of a message (its raw value is derived)."
        Configuration = Pool().get('balie.configuration')
        raw = cls.message_token(message)
        token, = cls.create([{
                    'appointment': message.appointment.id,
                    'purpose': 'message',
                    'token_hash': hash_token(raw),
                    'expires_at': (message.appointment.end
                        + Configuration(1).token_validity),
                    }])
        return token

    @classmethod
    def message_token(cls, message):
        "The raw personal link of a message."
        from .exceptions import MessageError
        secret = message.secret()
        if not secret:
            if Pool.test:
                secret = 'test-secret'
            else:
                from trytond.i18n import gettext
                raise MessageError(gettext(
                        'digitale_balie.msg_secret_missing'))
        return derive_token(secret, 'message:' + message.idempotency_key)

    @classmethod
    def use(cls, raw, preview=False):
        """Return the valid token for what the citizen typed or scanned,
        recording its use; the first use of a message's link marks the
        message opened.  A clerk's preview records nothing."""
        token = cls.lookup(raw)
        if token is None or preview:
            return token
        now = clock.now()
        values = {'last_used_at': now}
        if not token.first_used_at:
            values['first_used_at'] = now
        cls.write([token], values)
        if token.purpose == 'message':
            Message = Pool().get('balie.message')
            Message.mark_opened(
                Message.search([('token', '=', token.id)]), when=now)
        return token

    @classmethod
    def lookup(cls, raw):
        "Return the valid token for a raw value, or None."
        if normalize_token(raw) is None:
            return None
        tokens = cls.search([
                ('token_hash', '=', hash_token(raw)),
                ('revoked_at', '=', None),
                ('expires_at', '>', clock.now()),
                ], limit=1)
        return tokens[0] if tokens else None

    @classmethod
    def revoke(cls, tokens):
        to_revoke = [t for t in tokens if not t.revoked_at]
        if to_revoke:
            cls.write(to_revoke, {'revoked_at': clock.now()})

    @classmethod
    @ModelView.button
    def revoke_button(cls, tokens):
        cls.revoke(tokens)


def server_secret():
    """The server secret ([balie] secret): personal links of messages and
    the forms of pages without a session are derived from it."""
    from trytond import config

    from .exceptions import MessageError
    secret = config.get('balie', 'secret', default=None)
    if not secret:
        if Pool.test:
            return 'test-secret'
        from trytond.i18n import gettext
        raise MessageError(gettext('digitale_balie.msg_secret_missing'))
    return secret
