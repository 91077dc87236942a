# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The plumbing of the citizen's portal pages.

`portal_route` registers a page on trytond's WSGI application and gives
it a `PortalRequest`: the database, the citizen's session (when there is
one), the language, the CSRF check of every POST, the security headers of
every answer, and a friendly page instead of a traceback when something
goes wrong.  Also here: the session cookie and the form tokens, the
rendering of the pages (Genshi) and the rate limits."""
import hashlib
import hmac
import json
import logging
import os
import threading
import time
from functools import wraps

from genshi.template import TemplateLoader
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.routing import RequestRedirect

from trytond import backend, config
from trytond.exceptions import UserError, UserWarning
from trytond.i18n import gettext
from trytond.pool import Pool
from trytond.protocols.wrappers import (
    HTTPStatus, Request, Response, redirect, with_transaction)
from trytond.transaction import Transaction
from trytond.wsgi import app

from . import clock, logmask, ratelimit
from .portal import appointment_values

# no personal link, key, phone or national number in any log record
logmask.install()

COOKIE = '__Host-balie'
PORTAL_LANGUAGES = ['nl', 'fr', 'en']
# how long a form of a page without a session may be sent back
FORM_TOKEN_AGE = 2 * 3600

logger = logging.getLogger(__name__)


# -- sessions and forms -------------------------------------------------------

def csrf_token(key):
    "The form token of a session: bound to its key, useless without it."
    return hmac.new(key.encode('ascii', 'replace'), b'balie-csrf',
        hashlib.sha256).hexdigest()


def check_csrf(key, value):
    return bool(key and value) and hmac.compare_digest(
        csrf_token(key), str(value))


# -- templates ----------------------------------------------------------------

_loaders = {}
_loaders_lock = threading.Lock()


def loader(directories):
    key = tuple(directories)
    with _loaders_lock:
        if key not in _loaders:
            _loaders[key] = TemplateLoader(list(key),
                auto_reload=bool(os.environ.get('BALIE_TEMPLATE_RELOAD')),
                max_cache_size=100)
        return _loaders[key]


def text_function(variables):
    def text(key, **extra):
        if '.' not in key:
            key = 'digitale_balie.msg_portal_' + key
        values = dict(variables)
        values.update(extra)
        return gettext(key, **values)
    return text


def render(template_name, language, **values):
    "Render a portal page in the citizen's language."
    pool = Pool()
    Configuration = pool.get('balie.configuration')
    Portal = pool.get('balie.portal')
    with Transaction().set_context(language=language):
        settings = Configuration.portal_settings()
        variables = {
            'phone': settings.help_phone,
            'municipality': settings.municipality_name,
            }
        variables.update(
            (k, v) for k, v in values.items() if isinstance(v, str))
        template = loader(Portal.template_directories()).load(
            template_name + '.html')
        values.setdefault('session', None)
        values.setdefault('csrf', '')
        values.setdefault('path', '/balie')
        values.setdefault('preview', False)
        values.setdefault('show_language_switch', True)
        return template.generate(
            language=language, _=text_function(variables), config=settings,
            phone_href=settings.help_phone_href,
            languages=PORTAL_LANGUAGES,
            **values).render('html', doctype='html5')


def session_max_age(token):
    return max(int((token.expires_at - clock.now()).total_seconds()), 0)


# -- rate limits --------------------------------------------------------------

class RateLimiter:
    """A window of events per key, counted in the rate limit store that
    every server process of the deployment shares (ratelimit.py).

    The window of a key starts at its first event and lasts `window`
    seconds; `limit` events pass in it (0: no limit).  When the store
    cannot be reached, a limiter of something that sends a message
    (`sends=True`) raises StoreUnavailable (the page then says to try again
    later), the others let the request through and log it."""

    def __init__(self, name, limit, window, sends=False):
        self.name = name
        self.limit = limit
        self.window = window
        self.sends = sends
        # reset() in the tests: a new generation of keys in this process
        self._generation = 0

    def _key(self, key):
        name = self.name
        if self._generation:
            name = '%s~%s' % (name, self._generation)
        return ratelimit.store_key(name, key)

    def _failed(self, exception):
        logger.warning("rate limit store unavailable (%s): %s",
            self.name, exception)
        if self.sends:
            raise exception
        return 0

    def hit(self, key, now=None):
        "Record an event; return the seconds to wait, or 0 when allowed."
        if not self.limit:
            return 0
        now = time.time() if now is None else now
        try:
            count, expires = ratelimit.hit(self._key(key), self.window, now)
        except ratelimit.StoreUnavailable as exception:
            return self._failed(exception)
        if count > self.limit:
            return max(int(expires - now) + 1, 1)
        return 0

    def peek(self, key, now=None):
        "The seconds to wait before the next event, without recording."
        if not self.limit:
            return 0
        now = time.time() if now is None else now
        try:
            count, expires = ratelimit.peek(self._key(key), now)
        except ratelimit.StoreUnavailable as exception:
            return self._failed(exception)
        if count >= self.limit:
            return max(int(expires - now) + 1, 1)
        return 0

    def reset(self):
        "Forget this process's windows (tests): count under new keys."
        self._generation += 1


LINK_LIMITER = RateLimiter('link',
    config.getint('balie', 'link_rate_limit', default=30), 60)
FAILED_LINK_LIMITER = RateLimiter('failed_link',
    config.getint('balie', 'failed_link_rate_limit', default=10), 600)


def portal_database():
    "The database of the portal: [balie] database, or the only one."
    name = config.get('balie', 'database', default=None)
    if not name:
        names = [n for n in os.environ.get(
                'TRYTOND_DATABASE_NAMES', '').split(',') if n]
        if len(names) == 1:
            name = names[0]
    return name or None


def get_pool(database_name):
    pool = Pool(database_name)
    if database_name not in Pool.database_list():
        with Transaction().start(database_name, 0, readonly=True):
            pool.init()
    return pool


def best_language(request, default):
    "The first of the citizen's browser languages that the portal speaks."
    for value, _ in request.accept_languages:
        code = value.split('-')[0].lower()
        if code in PORTAL_LANGUAGES:
            return code
    return default


def portal_language(code):
    code = (code or '').split('_')[0].lower()
    return code if code in PORTAL_LANGUAGES else 'nl'


class PortalRequest:
    "What a portal page handler works with."

    def __init__(self, request, pool, session=None, key=None):
        self.request = request
        self.pool = pool
        self.session = session
        self.key = key
        self.frame_ancestors = None
        self._config = None
        if session is not None:
            self.language = portal_language(
                session.language or session.token.appointment.language)
        else:
            Configuration = pool.get('balie.configuration')
            self.language = portal_language(best_language(
                    request, Configuration.portal_settings().default_language))

    @property
    def config(self):
        """The configuration record, read when a page needs more than the
        portal settings (balie.configuration.portal_settings)."""
        if self._config is None:
            self._config = self.pool.get('balie.configuration')(1)
        return self._config

    @property
    def token(self):
        return self.session.token if self.session else None

    @property
    def appointment(self):
        return self.session.token.appointment if self.session else None

    @property
    def preview(self):
        return bool(self.session and self.session.preview)

    def appointment_values(self):
        "What the citizen reads about their appointment, in their language."
        return appointment_values(self.token, self.language)

    @property
    def csrf(self):
        if self.key:
            return csrf_token(self.key)
        return form_token()

    def check_form_token(self, value):
        "A form of a page without a session: signed by us, recently."
        return check_form_token(value)

    @property
    def remote_addr(self):
        return self.request.remote_addr or ''

    def context(self):
        "A transaction context in the citizen's language."
        return Transaction().set_context(language=self.language)

    def headers(self):
        headers = self.pool.get('balie.portal').security_headers()
        if self.frame_ancestors:
            # the municipality's website may show this page in a frame
            headers['Content-Security-Policy'] = headers[
                'Content-Security-Policy'].replace(
                "frame-ancestors 'none'",
                'frame-ancestors ' + ' '.join(self.frame_ancestors))
            headers.pop('X-Frame-Options', None)
        return headers

    def secure(self, response):
        for name, value in self.headers().items():
            response.headers.setdefault(name, value)
        return response

    def page(self, template_name, status=HTTPStatus.OK, **values):
        values.setdefault('session', self.session)
        values.setdefault('csrf', self.csrf)
        values.setdefault('path', self.request.path)
        values.setdefault('preview', self.preview)
        html = render(template_name, self.language, **values)
        return self.secure(Response(html, status=status,
                content_type='text/html; charset=utf-8'))

    def redirect(self, location):
        return self.secure(redirect(location, code=HTTPStatus.SEE_OTHER))

    def json(self, data, status=HTTPStatus.OK):
        return self.secure(Response(json.dumps(data), status=status,
                content_type='application/json'))

    def not_found(self):
        "The same answer for unknown, expired and revoked links."
        self.session = None
        return self.page('not_found', status=HTTPStatus.NOT_FOUND,
            show_language_switch=False)

    def too_many(self, wait):
        response = self.page('too_many', status=HTTPStatus.TOO_MANY_REQUESTS,
            show_language_switch=False)
        response.headers['Retry-After'] = str(wait)
        return response

    def form(self):
        return self.request.form


def _form_secret():
    from .token import server_secret
    return server_secret().encode('utf-8')


def form_token(now=None):
    """A stateless token for forms without a session (they may live in a
    frame of the municipality's website, where cookies are not sent):
    when it was made, signed with the server secret."""
    stamp = str(int(now if now is not None else time.time()))
    signature = hmac.new(_form_secret(), ('form:' + stamp).encode('ascii'),
        hashlib.sha256).hexdigest()
    return '%s.%s' % (stamp, signature)


def check_form_token(value, now=None):
    try:
        stamp, signature = str(value or '').split('.', 1)
        age = (now if now is not None else time.time()) - int(stamp)
    except ValueError:
        return False
    if not 0 <= age <= FORM_TOKEN_AGE:
        return False
    expected = hmac.new(_form_secret(), ('form:' + stamp).encode('ascii'),
        hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


def request_origin(request):
    "The Origin header (PortalGuard keeps it away from trytond)."
    return request.environ.get(
        ORIGIN_KEY, request.headers.get('Origin'))


def foreign_origin(request):
    "A browser says the request comes from another site."
    origin = request_origin(request)
    return bool(origin and origin != 'null'
        and origin.rstrip('/') != request.host_url.rstrip('/'))


def _same_origin(request):
    "Refuse POSTs that a browser says come from another site."
    if foreign_origin(request):
        return False
    if request_origin(request) not in {None, '', 'null'}:
        return True
    site = request.headers.get('Sec-Fetch-Site')
    return site in {None, 'same-origin', 'none'}


def portal_route(rule, methods=('GET',), session=True, readonly=None,
        scopes=('personal',)):
    """Register a portal page.

    The handler is called as handler(portal_request, **url_values) inside
    a transaction (read-only for GET) and returns a Response.  With
    session=True a page without a valid session cookie is the 404 page.
    A session counts only when the scope of its link (personal, survey,
    balie.access.token.purpose_scopes) is one of scopes: a survey link's
    session gets the 404 page everywhere but on the survey's pages.
    Every POST needs the session's CSRF token (form field 'csrf' or header
    X-CSRF-Token) and a same-origin browser."""
    methods = set(methods)

    def decorator(func):
        @with_transaction(readonly=readonly)
        def transactional(request, pool, **kwargs):
            try:
                pool.get('balie.portal')
            except KeyError:
                return None
            key = request.cookies.get(COOKIE)
            record = None
            if key:
                Session = pool.get('balie.portal.session')
                record = Session.find(key)
                if record is not None and record.token.scope not in scopes:
                    record = None
            portal = PortalRequest(request, pool, record,
                key if record else None)
            if foreign_origin(request):
                # another site's script or form: our 403 page, on any method
                return portal.page('expired', status=HTTPStatus.FORBIDDEN)
            if session and record is None:
                return portal.not_found()
            if request.method == 'POST':
                value = (request.form.get('csrf')
                    or request.headers.get('X-CSRF-Token'))
                if record is not None:
                    valid = check_csrf(key, value)
                else:
                    valid = portal.check_form_token(value)
                if not _same_origin(request) or not valid:
                    return portal.page('expired',
                        status=HTTPStatus.FORBIDDEN)
            with portal.context():
                return func(portal, **kwargs)

        @wraps(func)
        def view(request, **kwargs):
            database_name = portal_database()
            if not database_name:
                return plain_error(HTTPStatus.NOT_FOUND)
            try:
                pool = get_pool(database_name)
                response = transactional(request, pool, **kwargs)
            except HTTPException as exception:
                # werkzeug's page has no security headers nor language;
                # a wrapper that handles them sets balie_http_errors
                if (exception.code is None or exception.code < 400
                        or getattr(request, 'balie_http_errors', False)):
                    raise
                return error_page(database_name, request, exception.code)
            except (UserError, UserWarning) as exception:
                return error_page(database_name, request,
                    HTTPStatus.BAD_REQUEST,
                    exception.message)
            except ratelimit.StoreUnavailable:
                # refused: a request that would send a message, uncounted
                return error_page(database_name, request,
                    HTTPStatus.SERVICE_UNAVAILABLE)
            except backend.DatabaseOperationalError:
                logger.warning("portal busy on %s", request.path,
                    exc_info=True)
                return error_page(database_name, request,
                    HTTPStatus.SERVICE_UNAVAILABLE)
            except Exception:
                logger.exception("portal error on %s", request.path)
                return error_page(database_name, request,
                    HTTPStatus.INTERNAL_SERVER_ERROR)
            if response is None:
                return plain_error(HTTPStatus.NOT_FOUND)
            return response
        # with "Referrer-Policy: no-referrer" browsers send "Origin: null"
        # on form posts; trytond refuses those unless the endpoint allows
        # them: the CSRF token and Sec-Fetch-Site decide instead
        view.allow_null_origin = True
        view.balie_portal = True
        portal_prefix(rule)
        app.route(rule, methods=methods)(view)
        return func
    return decorator


def error_page(database_name, request, status, message=None):
    "A friendly page for what went wrong, without any technical detail."
    if not database_name:
        return plain_error(status)
    try:
        pool = get_pool(database_name)
        with Transaction().start(database_name, 0, readonly=True):
            try:
                pool.get('balie.portal')
            except KeyError:
                return plain_error(status)
            portal = PortalRequest(request, pool)
            template = {
                HTTPStatus.NOT_FOUND: 'not_found',
                HTTPStatus.FORBIDDEN: 'expired',
                }.get(status, 'error')
            with portal.context():
                return portal.page(template, status=status, message=message,
                    show_language_switch=False)
    except Exception:
        logger.exception("portal error page failed")
        return plain_error(status)


# -- every answer of the portal is ours --------------------------------------

# where PortalGuard keeps the Origin header of a portal request
ORIGIN_KEY = 'balie.origin'
# the first path segments of the portal's routes ('/a', '/balie', ...)
PORTAL_PREFIXES = set()
# what every answer of the portal carries when its handler set nothing
# stricter (static files, 204, werkzeug's redirects)
BASE_HEADERS = {
    'Content-Security-Policy': "default-src 'none'; img-src 'self'; "
    "style-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'none'",
    'Referrer-Policy': 'no-referrer',
    'X-Content-Type-Options': 'nosniff',
    'X-Frame-Options': 'DENY',
    'Cache-Control': 'no-store',
    'Permissions-Policy':
    'camera=(), microphone=(), geolocation=(), payment=()',
    'Cross-Origin-Opener-Policy': 'same-origin',
    }


def portal_prefix(rule):
    PORTAL_PREFIXES.add('/' + rule.lstrip('/').split('/', 1)[0])


def is_portal_path(path):
    for prefix in PORTAL_PREFIXES:
        if path == prefix or path.startswith(prefix + '/'):
            return True
    return False


def secure_headers(headers):
    """Complete a response's headers (a list of (name, value)) with the
    portal's security headers, leaving what the handler set."""
    present = {name.lower(): i for i, (name, _) in enumerate(headers)}
    policy = present.get('content-security-policy')
    framed = False
    if policy is not None:
        name, value = headers[policy]
        if 'frame-ancestors' not in value:
            value += "; frame-ancestors 'none'"
            headers[policy] = (name, value)
        framed = "frame-ancestors 'none'" not in value
    for name, value in BASE_HEADERS.items():
        if name.lower() in present:
            continue
        if name == 'X-Frame-Options' and framed:
            # the page's policy says who may frame it (frame-ancestors)
            continue
        headers.append((name, value))
    return headers


class PortalGuard:
    """Around trytond's WSGI application, for the portal's paths only.

    trytond refuses a foreign Origin (and an unknown route with
    "Origin: null") with an abort() outside its error handling: a bare
    500 with a traceback in the log.  Here the Origin header is taken
    away from trytond (the portal's routes check it themselves and answer
    with our 403 page), unknown routes, wrong methods and OPTIONS get our
    pages, every answer gets the security headers, and whatever escapes is
    our 500 page."""
    balie_guard = True

    def __init__(self, wsgi_app):
        self.app = wsgi_app

    def __call__(self, environ, start_response):
        if not is_portal_path(environ.get('PATH_INFO') or ''):
            return self.app(environ, start_response)
        rule, response = self.route(environ)
        if rule is not None and rule.rule.startswith('/<'):
            # trytond's own route (/<database_name>/…: JSON-RPC of a
            # database named like a portal path, the webhooks): untouched
            return self.app(environ, start_response)
        if 'HTTP_ORIGIN' in environ:
            environ[ORIGIN_KEY] = environ.pop('HTTP_ORIGIN')
        if response is not None:
            return response(environ, start_response)

        def secure_start(status, headers, exc_info=None):
            return start_response(status, secure_headers(headers), exc_info)
        try:
            return self.app(environ, secure_start)
        except Exception as exception:
            status = HTTPStatus.INTERNAL_SERVER_ERROR
            if isinstance(exception, HTTPException) and exception.code:
                status = exception.code
            else:
                logger.exception("portal request failed")
            response = error_page(portal_database(), Request(environ), status)
            return response(environ, secure_start)

    def route(self, environ):
        """The rule of the request, and our answer when no rule takes it
        (404, 405) or for OPTIONS (204)."""
        adapter = app.url_map.bind_to_environ(environ)
        method = environ.get('REQUEST_METHOD')
        try:
            rule, _ = adapter.match(return_rule=True)
        except RequestRedirect:
            return FOREIGN_RULE, None
        except MethodNotAllowed as exception:
            allowed = sorted(exception.valid_methods or [])
        except HTTPException:
            return None, secure_headers_response(error_page(
                    portal_database(), Request(environ),
                    HTTPStatus.NOT_FOUND))
        else:
            if method != 'OPTIONS':
                return rule, None
            allowed = sorted(adapter.allowed_methods())
        rules = []
        for other in allowed:
            if other in {'OPTIONS', 'HEAD'}:
                continue
            try:
                rules.append(adapter.match(method=other, return_rule=True)[0])
            except HTTPException:
                continue
        # a portal rule wins over trytond's /<database_name>/… ones
        rules.sort(key=lambda r: r.rule.startswith('/<'))
        rule = rules[0] if rules else None
        if rule is not None and rule.rule.startswith('/<'):
            return rule, None
        if method == 'OPTIONS':
            response = Response(status=HTTPStatus.NO_CONTENT)
        else:
            response = error_page(portal_database(), Request(environ),
                HTTPStatus.METHOD_NOT_ALLOWED)
        response.headers['Allow'] = ', '.join(
            m for m in allowed if m != 'OPTIONS')
        return rule, secure_headers_response(response)


class _ForeignRule:
    "werkzeug's redirects (trailing slash): left to trytond as they are."
    rule = '/<redirect>'


FOREIGN_RULE = _ForeignRule()


def secure_headers_response(response):
    headers = secure_headers(list(response.headers.items()))
    response.headers.clear()
    for name, value in headers:
        response.headers.add(name, value)
    return response


if not getattr(app.wsgi_app, 'balie_guard', False):
    app.wsgi_app = PortalGuard(app.wsgi_app)


def plain_error(status):
    "When even the database is out of reach."
    text = {
        HTTPStatus.NOT_FOUND: "Deze pagina bestaat niet. "
        "Cette page n'existe pas. This page does not exist.",
        }.get(status, "Er ging iets mis. Probeer later opnieuw. "
        "Une erreur s'est produite. Something went wrong.")
    response = Response(
        '<!DOCTYPE html><html lang="nl"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, '
        'initial-scale=1"><title>Digitale Balie</title></head><body>'
        '<main><h1>%s</h1></main></body></html>' % text,
        status=status, content_type='text/html; charset=utf-8')
    response.headers['Content-Security-Policy'] = (
        "default-src 'none'; frame-ancestors 'none'")
    response.headers['X-Content-Type-Options'] = 'nosniff'
    response.headers['Referrer-Policy'] = 'no-referrer'
    return response


STATIC_TYPES = {
    '.css': 'text/css; charset=utf-8',
    '.js': 'text/javascript; charset=utf-8',
    '.svg': 'image/svg+xml',
    '.png': 'image/png',
    '.wav': 'audio/wav',
    }


def static_file(directory, filename, content_type):
    path = os.path.join(directory, filename)
    with open(path, 'rb') as file:
        response = Response(file.read(), content_type=content_type)
    response.headers['Cache-Control'] = 'public, max-age=3600'
    response.headers['X-Content-Type-Options'] = 'nosniff'
    return response


def static_route(prefix, directory):
    """Serve the files of directory (no sub-directories, known types only)
    at prefix + '/<name>'."""
    def static(request, name):
        extension = os.path.splitext(name)[1]
        if (extension not in STATIC_TYPES or '/' in name
                or name.startswith('.')
                or not os.path.isfile(os.path.join(directory, name))):
            # not werkzeug's page: ours carries the security headers
            return plain_error(HTTPStatus.NOT_FOUND)
        return static_file(directory, name, STATIC_TYPES[extension])
    static.allow_null_origin = True
    portal_prefix(prefix)
    app.route(prefix + '/<name>', methods={'GET'})(static)
    return static
