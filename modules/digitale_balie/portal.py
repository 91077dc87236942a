# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The citizen's side: a personal link becomes a session cookie, so that
the token leaves the address bar, the history and the Referer at once."""
import hashlib
import os
import secrets

from genshi.template import MarkupTemplate

from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, Unique, fields
from trytond.pool import Pool
from trytond.transaction import Transaction

from . import clock

COOKIE = '__Host-balie'
SESSION_BYTES = 32
TEMPLATES = os.path.join(os.path.dirname(__file__), 'templates')
SECURITY_HEADERS = {
    'Content-Security-Policy': (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; "
        "script-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'self'"),
    'Referrer-Policy': 'no-referrer',
    'X-Content-Type-Options': 'nosniff',
    'Cache-Control': 'no-store',
    }


def _hash(value):
    return hashlib.sha256(value.encode('ascii', 'replace')).hexdigest()


class PortalSession(ModelSQL):
    "A citizen's browser session, opened with a personal link."
    __name__ = 'balie.portal.session'

    session_hash = fields.Char("Session Hash", required=True, strip=False)
    token = fields.Many2One(
        'balie.access.token', "Personal Link", required=True,
        ondelete='CASCADE')
    expires_at = fields.DateTime("Expires At", required=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('session_hash_unique', Unique(t, t.session_hash),
                'digitale_balie.msg_token_unique'),
            ]
        cls._sql_indexes.add(Index(t, (t.expires_at, Index.Range())))

    @classmethod
    def open(cls, token):
        "Return the raw session key for a token that was just used."
        key = secrets.token_urlsafe(SESSION_BYTES)
        cls.create([{
                    'session_hash': _hash(key),
                    'token': token.id,
                    'expires_at': token.expires_at,
                    }])
        return key

    @classmethod
    def lookup(cls, key):
        "The valid personal link behind a session key, or None."
        if not key or len(key) > 100:
            return None
        sessions = cls.search([
                ('session_hash', '=', _hash(key)),
                ('expires_at', '>', clock.now()),
                ], limit=1)
        if not sessions:
            return None
        token = sessions[0].token
        if token.state != 'valid':
            return None
        return token


def render(template_name, language, **values):
    "Render a portal page in the citizen's language."
    Configuration = Pool().get('balie.configuration')
    with Transaction().set_context(language=language):
        config = Configuration(1)
        variables = {
            'phone': config.help_phone,
            'municipality': config.municipality_name,
            }
        variables.update(
            (k, v) for k, v in values.items() if isinstance(v, str))
        text = {key: gettext('digitale_balie.msg_portal_' + key, **variables)
            for key in TEXTS[template_name]}
        filename = template_name + '.html'
        with open(os.path.join(TEMPLATES, filename), 'rb') as file:
            template = MarkupTemplate(file, filepath=filename)
        return template.generate(
            language=language, text=text, config=config,
            **values).render('html', doctype='html5')


TEXTS = {
    'not_found': ['not_found_title', 'not_found_body', 'help'],
    'personal': ['greeting', 'appointment', 'prepare', 'nothing_to_prepare',
        'delay', 'help', 'cancelled'],
    }


def appointment_values(token):
    appointment = token.appointment
    values = appointment.message_values()
    values.update({
            'minutes': str(appointment.delay_minutes or ''),
            'state': appointment.state,
            'delay_minutes': appointment.delay_minutes,
            })
    return values


def session_max_age(token):
    return max(int((token.expires_at - clock.now()).total_seconds()), 0)

