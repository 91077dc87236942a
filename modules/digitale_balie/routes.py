# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"HTTP routes served by trytond for the outside world."
import logging
import os

from trytond import config
from trytond.protocols.wrappers import (
    HTTPStatus, Response, abort, redirect, with_pool, with_transaction)
from trytond.wsgi import app

from .portal import (
    COOKIE, SECURITY_HEADERS, TEMPLATES, appointment_values, render,
    session_max_age)
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
    params = dict(request.args.items())
    params.update(request.form.items())
    return params


@app.route('/<database_name>/balie/sms/status', methods={'GET', 'POST'})
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


# -- the citizen's portal ----------------------------------------------------

def portal_database():
    "The database of the short links: [balie] database, or the only one."
    name = config.get('balie', 'database', default=None)
    if not name:
        names = [n for n in os.environ.get(
                'TRYTOND_DATABASE_NAMES', '').split(',') if n]
        if len(names) == 1:
            name = names[0]
    if not name:
        abort(HTTPStatus.NOT_FOUND)
    return name


def secure(response):
    for name, value in SECURITY_HEADERS.items():
        response.headers[name] = value
    return response


def page(template_name, language, status=HTTPStatus.OK, **values):
    return secure(Response(render(template_name, language, **values),
            status=status,
            content_type='text/html; charset=utf-8'))


def not_found(pool):
    "The same answer for unknown, expired and revoked links."
    Configuration = pool.get('balie.configuration')
    return page('not_found', Configuration(1).default_language,
        status=HTTPStatus.NOT_FOUND)


@app.route('/a/<token>', methods={'GET'})
def personal_link(request, token):
    "Exchange a personal link for a session cookie and a clean address."
    return _personal_link(request, portal_database(), token)


@with_pool
@with_transaction(readonly=False)
def _personal_link(request, pool, token):
    Token = get_model(pool, 'balie.access.token')
    Session = pool.get('balie.portal.session')
    record = Token.use(token)
    if record is None:
        return not_found(pool)
    key = Session.open(record)
    response = secure(redirect('/balie', code=HTTPStatus.SEE_OTHER))
    response.set_cookie(COOKIE, key, max_age=session_max_age(record),
        path='/', secure=True, httponly=True, samesite='Lax')
    return response


@app.route('/balie', methods={'GET'})
def personal_page(request):
    "The citizen's page: name, subject, time and help."
    return _personal_page(request, portal_database())


@with_pool
@with_transaction()
def _personal_page(request, pool):
    Session = get_model(pool, 'balie.portal.session')
    token = Session.lookup(request.cookies.get(COOKIE))
    if token is None:
        return not_found(pool)
    values = appointment_values(token)
    return page('personal', token.appointment.language, **values)


@app.route('/balie/static/balie.css', methods={'GET'})
def stylesheet(request):
    with open(os.path.join(TEMPLATES, 'balie.css'), 'rb') as file:
        response = Response(file.read(), content_type='text/css')
    response.headers['Cache-Control'] = 'public, max-age=86400'
    response.headers['X-Content-Type-Options'] = 'nosniff'
    return response
