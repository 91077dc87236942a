# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The survey on the citizen's page: the invitation under the next steps
(the pop-up) and the button among the personal actions."""
import weakref

from genshi.core import Markup

from trytond.i18n import gettext
from trytond.pool import Pool, PoolMeta
from trytond.transaction import Transaction

from digitale_balie.web import csrf_token, loader, text_function


# the form token of a portal session, for after_call_extras (see
# PortalSession.find)
_CSRF = weakref.WeakKeyDictionary()


class PortalSession(metaclass=PoolMeta):
    __name__ = 'balie.portal.session'

    @classmethod
    def find(cls, key):
        # balie.portal.after_call_extras gets the session but not its key:
        # keep the form token on the record for the survey's "no" button
        session = super().find(key)
        if session is not None:
            _CSRF[session] = (
                Transaction().database.name, csrf_token(key))
        return session


class Portal(metaclass=PoolMeta):
    __name__ = 'balie.portal'

    @classmethod
    def template_directories(cls):
        from . import TEMPLATES
        return [TEMPLATES] + super().template_directories()

    @classmethod
    def survey_state(cls, session):
        "What the survey offers this session: None, 'open' or 'answered'."
        Invitation = Pool().get('balie.survey.invitation')
        invitation = Invitation.for_appointment(session.token.appointment)
        if invitation is None:
            return None, None
        if invitation.answerable:
            return 'open', invitation
        if invitation.state == 'answered':
            return 'answered', invitation
        return None, invitation

    @classmethod
    def after_call_extras(cls, session):
        extras = super().after_call_extras(session)
        state, invitation = cls.survey_state(session)
        if state == 'open' and invitation.state == 'offered':
            database, csrf = _CSRF.get(session, (None, ''))
            if database != Transaction().database.name:
                csrf = ''
            extras.append(render_fragment('survey_invite', csrf=csrf))
        elif state == 'answered':
            extras.append(render_fragment('survey_answered'))
        return extras

    @classmethod
    def personal_actions(cls, session):
        actions = super().personal_actions(session)
        state, invitation = cls.survey_state(session)
        if state == 'open' and invitation.state == 'offered':
            actions.append({
                    'href': '/balie/enquete', 'icon': 'explain',
                    'label': gettext('balie_survey.msg_action_survey'),
                    'kind': 'primary', 'sequence': 1,
                    })
        return actions


def render_fragment(name, **values):
    "A piece of a page (for other pages) in the context's language."
    pool = Pool()
    Portal = pool.get('balie.portal')
    Configuration = pool.get('balie.configuration')
    config = Configuration(1)
    language = Transaction().context.get('language') or 'nl'
    variables = {
        'phone': config.help_phone,
        'municipality': config.municipality_name,
        }
    template = loader(Portal.template_directories()).load(name + '.html')
    values.setdefault('csrf', '')
    return Markup(template.generate(language=language,
            _=text_function(variables), **values).render('html'))
