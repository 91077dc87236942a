# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The citizen shows who they are, next to the call: a login with the
government's login service or itsme, and the way back from it."""
from trytond.protocols.wrappers import HTTPStatus

from digitale_balie.web import portal_route

from .exceptions import IdentityError
from .identity import identity_open

# what the page says after a login, by its outcome (?uitkomst=)
OUTCOMES = {
    'ok': ('success', 'balie_sign.msg_identity_outcome_ok'),
    'mismatch': ('notice', 'balie_sign.msg_identity_outcome_mismatch'),
    'denied': ('error', 'balie_sign.msg_identity_outcome_denied'),
    'failed': ('error', 'balie_sign.msg_identity_outcome_failed'),
    'state': ('error', 'balie_sign.msg_identity_outcome_state'),
    }


def identity_page(portal, outcome=None, status=HTTPStatus.OK, error=None):
    from trytond.i18n import gettext
    IdentityCheck = portal.pool.get('balie.identity.check')
    Configuration = portal.pool.get('balie.configuration')
    appointment = portal.appointment
    checks = IdentityCheck.search([
            ('appointment', '=', appointment.id),
            ('state', '=', 'verified'),
            ], limit=1)
    config = Configuration(1)
    message = None
    if outcome in OUTCOMES:
        kind, key = OUTCOMES[outcome]
        message = {'kind': kind, 'text': gettext(key)}
    if error:
        message = {'kind': 'error', 'text': error}
    return portal.page('identity', status=status,
        verified=bool(checks),
        available=identity_open(appointment),
        online=bool(config.oidc_issuer and config.oidc_client_id),
        message=message)


@portal_route('/balie/identiteit')
def identity(portal):
    "Show who you are: log in, or show your card to the clerk."
    return identity_page(portal, portal.request.args.get('uitkomst'))


@portal_route('/balie/identiteit/start', methods=['POST'], readonly=False)
def identity_start(portal):
    "Off to the login service, with a fresh state, nonce and PKCE."
    IdentityCheck = portal.pool.get('balie.identity.check')
    appointment = portal.appointment
    if not identity_open(appointment) or portal.preview:
        return identity_page(portal, status=HTTPStatus.CONFLICT)
    try:
        _, url = IdentityCheck.start_oidc(appointment, portal.language)
    except IdentityError as exception:
        return identity_page(portal, status=HTTPStatus.SERVICE_UNAVAILABLE,
            error=exception.message)
    return portal.redirect(url)


@portal_route('/balie/identiteit/terug', readonly=False)
def identity_return(portal):
    """The login service sends the citizen back here.  Only a login that
    this session started is finished; the result is shown after a
    redirect, so that reloading the page does nothing twice."""
    IdentityCheck = portal.pool.get('balie.identity.check')
    params = {k: v for k, v in portal.request.args.items()
        if k in {'code', 'state', 'error', 'error_description', 'iss'}}
    check = IdentityCheck.pending_for(portal.appointment,
        params.get('state'))
    if check is None:
        return identity_page(portal, 'state', status=HTTPStatus.BAD_REQUEST)
    result, reason = check.finish_oidc(params)
    if result == 'verified':
        outcome = 'ok'
    elif result == 'mismatch':
        outcome = 'mismatch'
    elif reason == 'denied':
        outcome = 'denied'
    else:
        outcome = 'failed'
    return portal.redirect('/balie/identiteit?uitkomst=' + outcome)
