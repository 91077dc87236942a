# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The citizen's documents: send a photo or a file to the dossier, and
download what the municipality shares.  No address carries a record id:
the dossier follows from the session, a document from a random key."""
import logging
import os
import re
import unicodedata
from functools import wraps
from urllib.parse import quote

from werkzeug.exceptions import RequestEntityTooLarge

from trytond.i18n import gettext
from trytond.protocols.wrappers import HTTPStatus, Response, redirect
from trytond.transaction import Transaction
from trytond.wsgi import app

from digitale_balie.web import (
    get_pool, portal_database, portal_route, static_route)

from . import TEMPLATES
from .document_check import FORMATS

logger = logging.getLogger(__name__)

static_route('/balie/sign/static', os.path.join(TEMPLATES, 'static'))
KEY = re.compile(r'[A-Za-z0-9_-]{16,64}')
UPLOAD_PATH = '/balie/documenten'
# what the address of the page says went wrong before the body was read
TOO_BIG = 'te-groot'


# -- the size of the body, before it is read ---------------------------------

def upload_limit():
    "The largest upload body the portal's database accepts, or None."
    database = portal_database()
    if not database:
        return None
    try:
        pool = get_pool(database)
        with Transaction().start(database, 0, readonly=True):
            return pool.get('balie.configuration')(1).document_body_limit()
    except Exception:
        logger.debug("no upload limit for %s", database, exc_info=True)
        return None


def limit_upload(path):
    """Give the POST of a portal page a body limit from the configuration
    (a decorator under portal_route).

    portal_route reads the form (for its CSRF check) before the page's
    code runs, and trytond caps every body at [request] max_size (2 MB by
    default) for requests without a Tryton session.  So a POST rule for
    the same address is registered first (werkzeug tries the rules of a
    static address in the order they were added): it sets the limit and
    hands the request to the page.  werkzeug then refuses a longer
    Content-Length before reading anything and stops a chunked body as
    soon as it passes the limit; the citizen is sent back to the page with
    the reason.  A compressed body (Content-Encoding) is refused: the
    server never inflates what it receives."""
    def decorator(func):
        found = []

        def page_view():
            if not found:
                for rule in app.url_map.iter_rules():
                    view = rule.endpoint
                    if (rule.rule == path and 'GET' in rule.methods
                            and getattr(view, '__wrapped__', None) is func):
                        found.append(view)
            return found[0]

        @wraps(func)
        def endpoint(request, **kwargs):
            view = page_view()
            limit = upload_limit()
            if limit is None:
                return view(request, **kwargs)
            request.max_content_length = limit
            encoding = request.headers.get('Content-Encoding', 'identity')
            if (encoding.strip().lower() != 'identity'
                    or (request.content_length or 0) > limit):
                return refuse_unread()
            # portal_route lets RequestEntityTooLarge through to here
            request.balie_http_errors = True
            try:
                return view(request, **kwargs)
            except RequestEntityTooLarge:
                return refuse_unread()
        # like the portal's pages: a form post under "Referrer-Policy:
        # no-referrer" says "Origin: null"; the page checks its CSRF token
        endpoint.allow_null_origin = True
        app.route(path, methods={'POST'})(endpoint)
        return func
    return decorator


def refuse_unread():
    response = redirect(UPLOAD_PATH + '?fout=' + TOO_BIG,
        code=HTTPStatus.SEE_OTHER)
    response.headers['Cache-Control'] = 'no-store'
    response.headers['Referrer-Policy'] = 'no-referrer'
    response.headers['X-Content-Type-Options'] = 'nosniff'
    return response


def portal_dossier(portal):
    "The dossier of the session's appointment, or None."
    try:
        portal.pool.get('balie.document')
    except KeyError:  # balie_sign is not activated in this database
        return None
    appointment = portal.appointment
    if appointment is None or appointment.state == 'cancelled':
        return None
    return appointment.dossier


@portal_route(UPLOAD_PATH, methods=['GET', 'POST'])
@limit_upload(UPLOAD_PATH)
def documents(portal):
    "Send a document; the list of the citizen's and shared documents."
    pool = portal.pool
    Document = pool.get('balie.document')
    dossier = portal_dossier(portal)
    if dossier is None:
        return portal.not_found()
    request = portal.request
    values = {'error': None, 'chosen': None, 'description': '', 'sent': None}
    status = HTTPStatus.OK
    if request.method == 'POST':
        chosen = (request.form.get('type') or '')[:40]
        # one line of text (no NUL: PostgreSQL refuses it)
        description = ' '.join(re.sub(r'[\x00-\x1f\x7f]', ' ',
                request.form.get('description') or '').split())[:200]
        values.update(chosen=chosen, description=description)
        try:
            document = receive(portal, dossier, chosen, description)
        except UploadError as error:
            values['error'] = error.message
            status = HTTPStatus.BAD_REQUEST
        else:
            if document is None:  # the clerk's preview
                return portal.redirect(UPLOAD_PATH + '?voorbeeld=1')
            return portal.redirect(
                UPLOAD_PATH + '?ontvangen=' + document.portal_key)
    else:
        if request.args.get('fout') == TOO_BIG:
            values['error'] = too_big_message(portal)
        key = request.args.get('ontvangen')
        if key:
            document = Document.portal_document(dossier, key)
            values['sent'] = document.name if document else None
        if request.args.get('voorbeeld'):
            values['error'] = gettext('balie_sign.msg_document_preview')
    return portal.page('documents', status=status,
        **page_values(portal, dossier), **values)


class UploadError(Exception):
    def __init__(self, message):
        super().__init__(message)
        self.message = message


def receive(portal, dossier, chosen, description):
    """Store the uploaded file as the citizen's document (None in the
    clerk's preview); UploadError with the message to show."""
    from .exceptions import DocumentRefused
    pool = portal.pool
    Document = pool.get('balie.document')
    Type = pool.get('balie.document.type')
    types = {t.code: t for t in Type.search([('citizen', '=', True)])}
    upload = portal.request.files.get('file')
    if upload is None or not upload.filename:
        raise UploadError(gettext('balie_sign.msg_document_no_file'))
    if chosen not in types:
        raise UploadError(gettext('balie_sign.msg_document_choose_type'))
    limit = portal.config.document_limit()
    # the body is at most the configured size (see limit_upload); a retry
    # of the transaction reads the file again from its start
    upload.stream.seek(0)
    data = upload.stream.read(limit + 1)
    if portal.preview:
        return None
    try:
        return Document.store(dossier, data, upload.filename,
            types[chosen], source='citizen',
            appointment=portal.appointment, description=description or None)
    except DocumentRefused as refused:
        raise UploadError(refused.message)


def page_values(portal, dossier):
    pool = portal.pool
    Document = pool.get('balie.document')
    Type = pool.get('balie.document.type')
    from digitale_balie.dates import format_datetime_words
    config = portal.config
    allowed = config.document_allowed()
    rows = []
    for document in Document.portal_documents(dossier):
        rows.append({
                'name': document.name,
                'href': '%s/%s' % (UPLOAD_PATH, document.portal_key),
                'type': document.type.name,
                'mine': document.source == 'citizen',
                'when': format_datetime_words(
                    document.uploaded_at, portal.language),
                'size': size_words(document.size),
                })
    return {
        'documents': rows,
        'types': [{'code': t.code, 'name': t.name}
            for t in Type.search([('citizen', '=', True)])],
        'accept': ','.join(FORMATS[f].mime_type for f in allowed)
        + ',' + ','.join(sorted({FORMATS[f].extension for f in allowed})),
        'max_bytes': config.document_limit(),
        'max_mb': str(config.document_max_size),
        'type_labels': ', '.join(FORMATS[f].label for f in allowed),
        }


def size_words(size):
    if not size:
        return ''
    if size < 1_000_000:
        return '%d kB' % max(round(size / 1000), 1)
    return ('%.1f MB' % (size / 1_000_000)).replace('.0 MB', ' MB')


def too_big_message(portal):
    return gettext('balie_sign.msg_document_refused_too_big_unread',
        limit=str(portal.config.document_max_size))


@portal_route(UPLOAD_PATH + '/<key>')
def download(portal, key):
    "A document of the citizen's dossier, always as a download."
    dossier = portal_dossier(portal)
    if dossier is None or not KEY.fullmatch(key or ''):
        return portal.not_found()
    Document = portal.pool.get('balie.document')
    document = Document.portal_document(dossier, key)
    if document is None:
        return portal.not_found()
    response = Response(document.get_bytes(), mimetype=document.mime_type)
    response.headers['Content-Disposition'] = content_disposition(
        document.name)
    # nothing in the file may run in the portal's origin
    response.headers['Content-Security-Policy'] = (
        "default-src 'none'; sandbox; frame-ancestors 'none'")
    return portal.secure(response)


def content_disposition(name):
    "attachment with an ASCII name and the exact UTF-8 one (RFC 6266)."
    ascii_name = unicodedata.normalize('NFKD', name).encode(
        'ascii', 'ignore').decode('ascii')
    ascii_name = re.sub(r'[^A-Za-z0-9 ._()-]', '_', ascii_name) or 'document'
    return "attachment; filename=\"%s\"; filename*=UTF-8''%s" % (
        ascii_name, quote(name, safe=''))
