# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"The citizen checks and corrects their contact details during the call."

from trytond.protocols.wrappers import HTTPStatus

from digitale_balie.web import portal_route

from .contact import (
    FIELDS, contact_open, current_details, validate_details)


def contact_page(portal, values, errors=None, status=HTTPStatus.OK,
        saved=False):
    Proposal = portal.pool.get('balie.contact.proposal')
    proposals = Proposal.search([
            ('appointment', '=', portal.appointment.id),
            ('state', 'in', ['proposed', 'confirmed', 'rejected']),
            ], limit=1)
    return portal.page('contact', status=status, values=values,
        errors=errors or {}, fields=FIELDS, saved=saved,
        available=contact_open(portal.appointment),
        proposal=proposals[0] if proposals else None)


@portal_route('/balie/gegevens', methods=['GET', 'POST'], readonly=None)
def contact(portal):
    """The form with the citizen's phone, e-mail and address; a POST is a
    proposal the clerk confirms.  A wrong value comes back as typed, with
    what is wrong, and the rest of the form as it was."""
    Proposal = portal.pool.get('balie.contact.proposal')
    appointment = portal.appointment
    if portal.request.method != 'POST':
        proposals = Proposal.search([
                ('appointment', '=', appointment.id),
                ('state', '=', 'proposed'),
                ], limit=1)
        values = current_details(appointment.party, appointment)
        if proposals:
            values = {n: getattr(proposals[0], n) or '' for n in FIELDS}
        return contact_page(portal, values,
            saved=portal.request.args.get('klaar') == '1')
    if not contact_open(appointment):
        return contact_page(portal,
            current_details(appointment.party, appointment),
            status=HTTPStatus.CONFLICT)
    values, errors = validate_details(portal.form())
    if errors:
        # show what was typed, not the cleaned-up value
        typed = {n: str(portal.form().get(n) or '')[:300] for n in FIELDS}
        return contact_page(portal, typed, errors,
            status=HTTPStatus.BAD_REQUEST)
    if not portal.preview:
        Proposal.propose(appointment, values)
    return portal.redirect('/balie/gegevens?klaar=1')
