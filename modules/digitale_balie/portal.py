# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The citizen's side: a personal link becomes a session cookie, so that
the token leaves the address bar, the history and the Referer at once.

`balie.portal` is the extension point of the portal pages: other modules
(balie_video, balie_sign) add buttons to the personal page, sources to the
Content-Security-Policy and template directories through it.  The web
plumbing (cookie, form tokens, rendering, rate limits) is in web.py."""
import hashlib
import os
import secrets

from sql import Column, Null

from trytond.i18n import gettext
from trytond.model import Index, Model, ModelSQL, Unique, fields
from trytond.pool import Pool
from trytond.transaction import Transaction

from . import clock


SESSION_BYTES = 32
TEMPLATES = os.path.join(os.path.dirname(__file__), 'templates')


# the appointment's fields every portal page reads (PortalSession.find)
PORTAL_APPOINTMENT_FIELDS = [
    'state', 'start', 'end', 'language', 'delay_minutes', 'party',
    'dossier', 'employee', 'service', 'company', 'notify_by']


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
    language = fields.Char("Language",
        help="The language the citizen chose on the portal.")

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
    def find(cls, key):
        """The valid session behind a session key, or None.

        Every portal request starts here, so this is one query: the
        session, its personal link (not revoked, not expired) and the
        appointment.  What it read goes into the transaction's record
        cache, as a read would put it there, so that session.token and
        session.token.appointment cost no further query."""
        pool = Pool()
        Token = pool.get('balie.access.token')
        Appointment = pool.get('balie.appointment')
        if not key or len(key) > 100:
            return None
        transaction = Transaction()
        session = cls.__table__()
        token = Token.__table__()
        appointment = Appointment.__table__()
        now = clock.now()
        columns = {
            cls: ['id', 'token', 'expires_at', 'language'],
            Token: ['id', 'appointment', 'purpose', 'expires_at',
                'revoked_at'],
            Appointment: ['id', *PORTAL_APPOINTMENT_FIELDS],
            }
        tables = {cls: session, Token: token, Appointment: appointment}
        cursor = transaction.connection.cursor()
        cursor.execute(*session
            .join(token, condition=session.token == token.id)
            .join(appointment, condition=token.appointment == appointment.id)
            .select(*(Column(tables[kind], name)
                    for kind, names in columns.items() for name in names),
                where=(session.session_hash == _hash(key))
                & (session.expires_at > now)
                & (token.revoked_at == Null)
                & (token.expires_at > now),
                limit=1))
        row = cursor.fetchone()
        if row is None:
            return None
        # plain columns come as a read gives them (SQLite converts its
        # TIMESTAMP columns too)
        values = iter(row)
        cache = transaction.get_cache()
        for kind, names in columns.items():
            data = {name: next(values) for name in names}
            cache[kind.__name__][data.pop('id')]._update(data)
        return cls(row[0])

    @classmethod
    def lookup(cls, key):
        "The valid personal link behind a session key, or None."
        session = cls.find(key)
        return session.token if session else None

    @property
    def preview(self):
        "A clerk showing the page at the counter: nothing is recorded."
        return self.token.purpose == 'preview'

    @classmethod
    def delete_expired(cls, before):
        cls.delete(cls.search([('expires_at', '<', before)]))


class Portal(Model):
    "What the citizen's pages show: extended by the other modules."
    __name__ = 'balie.portal'

    @classmethod
    def template_directories(cls):
        "Where templates are looked up, most specific first."
        return [TEMPLATES]

    @classmethod
    def content_security_policy(cls):
        "The policy as {directive: [sources]}."
        return {
            'default-src': ["'self'"],
            'img-src': ["'self'", 'data:'],
            'style-src': ["'self'"],
            'script-src': ["'self'"],
            'connect-src': ["'self'"],
            'media-src': ["'self'"],
            'frame-src': ["'none'"],
            'frame-ancestors': ["'none'"],
            'base-uri': ["'none'"],
            'form-action': ["'self'"],
            'object-src': ["'none'"],
            }

    @classmethod
    def security_headers(cls):
        """The headers of every page.  The modules derive the policies from
        the configuration: they are computed once per process and cleared
        with the configuration's caches."""
        Configuration = Pool().get('balie.configuration')
        headers = Configuration._portal_headers.get(None)
        if headers is None:
            policy = '; '.join('%s %s' % (k, ' '.join(v))
                for k, v in cls.content_security_policy().items())
            headers = {
                'Content-Security-Policy': policy,
                'Referrer-Policy': 'no-referrer',
                'X-Content-Type-Options': 'nosniff',
                'X-Frame-Options': 'DENY',
                'Cache-Control': 'no-store',
                'Permissions-Policy': cls.permissions_policy(),
                'Cross-Origin-Opener-Policy': 'same-origin',
                }
            Configuration._portal_headers.set(None, headers)
        return dict(headers)

    @classmethod
    def permissions_policy(cls):
        return 'camera=(), microphone=(), geolocation=(), payment=()'

    @classmethod
    def personal_actions(cls, session):
        """The buttons of the personal page, in order of importance:
        dicts with href, label, kind ('primary' or 'secondary') and
        optionally icon and method ('get' or 'post')."""
        pool = Pool()
        Configuration = pool.get('balie.configuration')
        appointment = session.token.appointment
        settings = Configuration.portal_settings()
        actions = []
        if appointment.state == 'cancelled':
            return actions
        actions.append({
                'href': '/balie/uitleg', 'icon': 'explain',
                'label': gettext('digitale_balie.msg_portal_action_explain'),
                'kind': 'secondary', 'sequence': 40,
                })
        if appointment.state == 'booked':
            actions.append({
                    'href': '/balie/afspraak.ics', 'icon': 'calendar',
                    'label': gettext(
                        'digitale_balie.msg_portal_action_calendar'),
                    'kind': 'secondary', 'sequence': 50,
                    })
            actions.append({
                    'href': '/balie/verzetten', 'icon': 'move',
                    'label': gettext(
                        'digitale_balie.msg_portal_action_cannot_come'),
                    'kind': 'secondary', 'sequence': 60,
                    })
        actions.append({
                'href': settings.help_phone_href,
                'icon': 'phone',
                'label': gettext('digitale_balie.msg_portal_action_call',
                    phone=settings.help_phone),
                'kind': 'secondary', 'sequence': 90,
                })
        return actions

    @classmethod
    def personal_notices(cls, session):
        "Short notices shown above the buttons: dicts with text and kind."
        appointment = session.token.appointment
        notices = []
        if appointment.state == 'cancelled':
            notices.append({'kind': 'notice', 'text': gettext(
                        'digitale_balie.msg_portal_cancelled')})
        elif appointment.state == 'booked' and appointment.delay_minutes:
            notices.append({'kind': 'notice', 'role': 'status',
                    'text': gettext('digitale_balie.msg_portal_delay',
                        **appointment_values(
                            session.token, Transaction().language))})
        return notices


def appointment_values(token, language=None):
    "What the portal's pages show of the link's appointment."
    appointment = token.appointment
    values = appointment.message_values(language)
    values.update({
            'minutes': str(appointment.delay_minutes or ''),
            'state': appointment.state,
            'delay_minutes': appointment.delay_minutes,
            })
    return values
