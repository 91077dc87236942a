# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The citizen signs next to the call: read the document, agree, confirm
with a one-time code or an online login; then download the signed PDF."""
import re

from trytond.i18n import gettext
from trytond.protocols.wrappers import HTTPStatus, Response

from digitale_balie.web import portal_route

from .exceptions import SignatureError

REFERENCE = re.compile(r'[0-9a-f]{32}')


def own_request(portal, reference):
    """The signature request behind a reference, if it is one of this
    citizen's; None otherwise, so that another citizen's request answers
    like an unknown one."""
    SignatureRequest = portal.pool.get('balie.signature.request')
    if not REFERENCE.fullmatch(reference or ''):
        return None
    for request in SignatureRequest.portal_requests(portal.session):
        if request.reference == reference:
            return request
    return None


def identity_available(portal):
    "Whether the citizen can confirm with an online login."
    pool = portal.pool
    try:
        pool.get('balie.identity.check')
    except KeyError:
        return False
    config = pool.get('balie.configuration')(1)
    return bool(getattr(config, 'oidc_issuer', None)
        and getattr(config, 'oidc_client_id', None))


def signature_page(portal, request, status=HTTPStatus.OK, error=None,
        consent=False, method=None, login_needed=False):
    channels = request.code_channels()
    methods = [{'value': value, 'recipient': recipient,
            'label': gettext('balie_sign.msg_signature_method_' + value,
                recipient=recipient)}
        for value, recipient in channels]
    if identity_available(portal) or request.recent_identity():
        methods.append({'value': 'identity', 'recipient': '',
                'label': gettext('balie_sign.msg_signature_method_identity')})
    if method is None and methods:
        method = methods[0]['value']
    return portal.page('signature', status=status,
        request=request, methods=methods, error=error,
        consent=consent, method=method, login_needed=login_needed,
        signed_url=('/balie/ondertekenen/%s/ondertekend.pdf'
            % request.reference) if request.signed_document else None)


def code_page(portal, request, status=HTTPStatus.OK, error=None,
        typed='', notice=None):
    codes = sorted(request.codes, key=lambda c: c.id)
    code = codes[-1] if codes else None
    return portal.page('signature_code', status=status,
        request=request, code=code, error=error, typed=typed,
        notice=notice)


@portal_route('/balie/ondertekenen/<reference>', methods=['GET', 'POST'])
def signature(portal, reference):
    "Read, agree and choose how to confirm."
    request = own_request(portal, reference)
    if request is None:
        return portal.not_found()
    if portal.request.method != 'POST':
        return signature_page(portal, request)
    form = portal.form()
    consent = form.get('consent') == 'yes'
    method = form.get('method') or ''
    if request.state != 'requested':
        return portal.redirect('/balie/ondertekenen/%s' % reference)
    if portal.preview:
        return signature_page(portal, request, status=HTTPStatus.CONFLICT,
            error=gettext('balie_sign.msg_signature_preview'),
            consent=consent, method=method)
    if not consent:
        return signature_page(portal, request,
            status=HTTPStatus.UNPROCESSABLE_ENTITY,
            error=gettext('balie_sign.msg_signature_consent_missing'),
            method=method)
    ip = portal.remote_addr
    if method == 'identity':
        request.give_consent(ip)
        if request.confirm_with_identity(ip):
            return portal.redirect('/balie/ondertekenen/%s' % reference)
        return signature_page(portal, request,
            status=HTTPStatus.UNPROCESSABLE_ENTITY,
            error=gettext('balie_sign.msg_signature_login_needed'),
            consent=True, method=method, login_needed=True)
    if method not in dict(request.code_channels()):
        return signature_page(portal, request,
            status=HTTPStatus.UNPROCESSABLE_ENTITY,
            error=gettext('balie_sign.msg_signature_method_missing'),
            consent=True)
    try:
        request.give_consent(ip)
        request.send_code(method, ip)
    except SignatureError as exception:
        return signature_page(portal, request,
            status=HTTPStatus.UNPROCESSABLE_ENTITY, error=exception.message,
            consent=True, method=method)
    return portal.redirect('/balie/ondertekenen/%s/code' % reference)


@portal_route('/balie/ondertekenen/<reference>/code',
    methods=['GET', 'POST'])
def signature_code(portal, reference):
    "Type the one-time code, or ask for a new one."
    request = own_request(portal, reference)
    if request is None:
        return portal.not_found()
    if portal.request.method != 'POST':
        if request.state != 'requested' or not request.codes:
            return portal.redirect('/balie/ondertekenen/%s' % reference)
        return code_page(portal, request)
    form = portal.form()
    ip = portal.remote_addr
    if portal.preview:
        return code_page(portal, request, status=HTTPStatus.CONFLICT,
            error=gettext('balie_sign.msg_signature_preview'))
    if form.get('action') == 'resend':
        codes = sorted(request.codes, key=lambda c: c.id)
        channel = form.get('channel') or (
            codes[-1].channel if codes else None)
        try:
            request.send_code(channel, ip)
        except SignatureError as exception:
            return code_page(portal, request,
                status=HTTPStatus.UNPROCESSABLE_ENTITY,
                error=exception.message)
        request = request.__class__(request.id)
        return code_page(portal, request,
            notice=gettext('balie_sign.msg_signature_code_resent'))
    typed = (form.get('code') or '')[:20]
    ok, error = request.check_code(typed, ip)
    if ok:
        return portal.redirect('/balie/ondertekenen/%s' % reference)
    request = request.__class__(request.id)
    if request.state != 'requested':
        # the code was already used: the document is signed
        return signature_page(portal, request,
            status=HTTPStatus.CONFLICT, error=error)
    return code_page(portal, request, status=HTTPStatus.UNPROCESSABLE_ENTITY,
        error=error, typed=typed)


@portal_route('/balie/ondertekenen/<reference>/document.pdf',
    readonly=False)
def signature_document(portal, reference):
    "The PDF to sign, exactly as it will be sealed."
    request = own_request(portal, reference)
    if request is None:
        return portal.not_found()
    try:
        data = request.original_bytes()
    except SignatureError:
        return portal.not_found()
    if not portal.preview and request.state == 'requested' and not any(
            e.kind == 'opened' for e in request.events):
        request.add_event('opened', ip=portal.remote_addr)
    return pdf_response(portal, data, request.document.name, 'inline')


@portal_route('/balie/ondertekenen/<reference>/ondertekend.pdf')
def signature_signed(portal, reference):
    "The signed PDF, to keep."
    request = own_request(portal, reference)
    if request is None or not request.signed_document:
        return portal.not_found()
    document = request.signed_document
    return pdf_response(portal, document.get_bytes(), document.name,
        'attachment')


def pdf_response(portal, data, name, disposition):
    response = portal.secure(Response(data, content_type='application/pdf'))
    safe = re.sub(r'[^A-Za-z0-9._-]', '_', name or 'document.pdf')
    response.headers['Content-Disposition'] = '%s; filename="%s"' % (
        disposition, safe)
    return response
