# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The formal acts on the citizen's portal: the templates, the tasks shown
under the call and the buttons of the personal page, for every act."""
import urllib.parse

from trytond.i18n import gettext
from trytond.pool import Pool, PoolMeta
from trytond.transaction import Transaction

from .contact import contact_open
from .identity import identity_open
from .payment import MOLLIE_CHECKOUT, format_amount, portal_payments


class Portal(metaclass=PoolMeta):
    __name__ = 'balie.portal'

    @classmethod
    def template_directories(cls):
        from . import TEMPLATES
        return [TEMPLATES] + super().template_directories()

    @classmethod
    def content_security_policy(cls):
        policy = super().content_security_policy()
        policy = cls._identity_content_security_policy(policy)
        policy = cls._payment_content_security_policy(policy)
        return policy

    @classmethod
    def call_tasks(cls, session):
        tasks = super().call_tasks(session)
        tasks = cls._document_call_tasks(session, tasks)
        tasks = cls._form_call_tasks(session, tasks)
        tasks = cls._identity_call_tasks(session, tasks)
        tasks = cls._contact_call_tasks(session, tasks)
        tasks = cls._signature_call_tasks(session, tasks)
        tasks = cls._payment_call_tasks(session, tasks)
        return tasks

    @classmethod
    def personal_actions(cls, session):
        actions = super().personal_actions(session)
        actions = cls._document_personal_actions(session, actions)
        actions = cls._form_personal_actions(session, actions)
        actions = cls._identity_personal_actions(session, actions)
        actions = cls._contact_personal_actions(session, actions)
        actions = cls._signature_personal_actions(session, actions)
        actions = cls._payment_personal_actions(session, actions)
        return actions

    @classmethod
    def _document_call_tasks(cls, session, tasks):
        Document = Pool().get('balie.document')
        appointment = session.token.appointment
        if appointment.dossier:
            sent = Document.search([
                    ('dossier', '=', appointment.dossier.id),
                    ('source', '=', 'citizen'),
                    ], limit=1)
            tasks.append({
                    'href': '/balie/documenten',
                    'label': gettext('balie_sign.msg_document_task'),
                    'done': bool(sent),
                    })
        return tasks

    @classmethod
    def _form_call_tasks(cls, session, tasks):
        Form = Pool().get('balie.form')
        dossier = session.token.appointment.dossier
        if dossier and dossier.service.form_definition:
            form = Form.for_dossier(dossier)
            tasks.append({
                    'href': '/balie/formulier',
                    'label': gettext('balie_sign.msg_form_task'),
                    'done': bool(form and form.state == 'completed'),
                    })
        return tasks

    @classmethod
    def _identity_call_tasks(cls, session, tasks):
        IdentityCheck = Pool().get('balie.identity.check')
        appointment = session.token.appointment
        if not identity_open(appointment):
            return tasks
        done = bool(IdentityCheck.search([
                    ('appointment', '=', appointment.id),
                    ('state', '=', 'verified'),
                    ], limit=1))
        tasks.append({
                'href': '/balie/identiteit',
                'label': gettext('balie_sign.msg_identity_task'),
                'done': done, 'sequence': 10,
                })
        return tasks

    @classmethod
    def _contact_call_tasks(cls, session, tasks):
        Proposal = Pool().get('balie.contact.proposal')
        appointment = session.token.appointment
        if not contact_open(appointment):
            return tasks
        done = bool(Proposal.search([
                    ('appointment', '=', appointment.id),
                    ('state', 'in', ['proposed', 'confirmed']),
                    ], limit=1))
        tasks.append({
                'href': '/balie/gegevens',
                'label': gettext('balie_sign.msg_contact_task'),
                'done': done, 'sequence': 20,
                })
        return tasks

    @classmethod
    def _signature_call_tasks(cls, session, tasks):
        SignatureRequest = Pool().get('balie.signature.request')
        for request in SignatureRequest.portal_requests(session):
            tasks.append({
                    'href': '/balie/ondertekenen/%s' % request.reference,
                    'label': gettext('balie_sign.msg_signature_task',
                        title=request.title),
                    'done': request.state != 'requested',
                    })
        return tasks

    @classmethod
    def _payment_call_tasks(cls, session, tasks):
        language = Transaction().context.get('language') or 'nl'
        for payment in portal_payments(session):
            tasks.append({
                    'href': '/balie/betalen/%s' % payment.reference,
                    'label': cls._payment_label(payment, language),
                    'done': payment.state == 'paid',
                    })
        return tasks

    @classmethod
    def _document_personal_actions(cls, session, actions):
        appointment = session.token.appointment
        if appointment.state != 'cancelled' and appointment.dossier:
            actions.append({
                    'href': '/balie/documenten', 'icon': 'document',
                    'label': gettext('balie_sign.msg_document_action'),
                    'kind': 'secondary', 'sequence': 30,
                    })
        return actions

    @classmethod
    def _form_personal_actions(cls, session, actions):
        appointment = session.token.appointment
        dossier = appointment.dossier
        if (appointment.state != 'cancelled' and dossier
                and dossier.state != 'closed'
                and dossier.service.form_definition):
            actions.append({
                    'href': '/balie/formulier', 'icon': 'document',
                    'label': gettext('balie_sign.msg_form_action'),
                    'kind': 'secondary', 'sequence': 25,
                    })
        return actions

    @classmethod
    def _identity_personal_actions(cls, session, actions):
        appointment = session.token.appointment
        if identity_open(appointment):
            actions.append({
                    'href': '/balie/identiteit', 'icon': 'document',
                    'label': gettext('balie_sign.msg_identity_task'),
                    'kind': 'secondary', 'sequence': 25,
                    })
        return actions

    @classmethod
    def _contact_personal_actions(cls, session, actions):
        if contact_open(session.token.appointment):
            actions.append({
                    'href': '/balie/gegevens', 'icon': 'document',
                    'label': gettext('balie_sign.msg_contact_task'),
                    'kind': 'secondary', 'sequence': 26,
                    })
        return actions

    @classmethod
    def _signature_personal_actions(cls, session, actions):
        SignatureRequest = Pool().get('balie.signature.request')
        for request in SignatureRequest.portal_requests(session):
            if request.state != 'requested':
                continue
            actions.append({
                    'href': '/balie/ondertekenen/%s' % request.reference,
                    'icon': 'document',
                    'label': gettext('balie_sign.msg_signature_task',
                        title=request.title),
                    'kind': 'primary', 'sequence': 2,
                    })
        return actions

    @classmethod
    def _payment_personal_actions(cls, session, actions):
        language = Transaction().context.get('language') or 'nl'
        for payment in portal_payments(session):
            if payment.state != 'requested':
                continue
            actions.append({
                    'href': '/balie/betalen/%s' % payment.reference,
                    'label': cls._payment_label(payment, language),
                    'kind': 'primary', 'sequence': 3,
                    })
        return actions

    @classmethod
    def _identity_content_security_policy(cls, policy):
        "The login form's redirect goes to the login service."
        Configuration = Pool().get('balie.configuration')
        issuer = Configuration(1).oidc_issuer
        if issuer:
            parts = urllib.parse.urlsplit(issuer)
            if parts.scheme in {'https', 'http'} and parts.netloc:
                policy['form-action'] = policy['form-action'] + [
                    '%s://%s' % (parts.scheme, parts.netloc)]
        return policy

    @classmethod
    def _payment_content_security_policy(cls, policy):
        """The online payment's form redirects to the provider's checkout:
        browsers apply form-action to that redirect too."""
        Configuration = Pool().get('balie.configuration')
        config = Configuration(1)
        if config.payment_provider == 'mollie':
            origins = [MOLLIE_CHECKOUT]
            # a local stand-in (demo, tests) serves its checkout itself
            parts = urllib.parse.urlsplit(config.mollie_url or '')
            if parts.scheme in {'https', 'http'} and parts.netloc:
                origins.append('%s://%s' % (parts.scheme, parts.netloc))
            policy['form-action'] = policy['form-action'] + [
                o for o in origins if o not in policy['form-action']]
        return policy

    @classmethod
    def _payment_label(cls, payment, language):
        return gettext('balie_sign.msg_payment_task',
            description=payment.description,
            amount=format_amount(payment.amount, language))
