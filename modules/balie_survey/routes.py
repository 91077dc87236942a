# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The citizen's survey pages: the questions, yes or no, thank you, and the
short link of the invitation by message (/e/<token>)."""
import logging
import os

from trytond.i18n import gettext
from trytond.protocols.wrappers import HTTPStatus

from digitale_balie.web import (
    COOKIE, FAILED_LINK_LIMITER, LINK_LIMITER, portal_route, session_max_age,
    static_route)

from . import TEMPLATES
from .response import clean_text
from .survey import SMILEYS

logger = logging.getLogger(__name__)

STATIC = os.path.join(TEMPLATES, 'static')
# the survey's pages answer the survey link's own session and the personal
# one; every other page answers the survey's session with the 404 page
SURVEY_SCOPES = ('personal', 'survey')
static_route('/balie/survey/static', STATIC)


def questions_of(survey):
    "The questions as the page shows them, in the context's language."
    result = []
    for question in survey.portal_questions():
        options = []
        if question.type == 'smiley':
            options = [{'value': str(v), 'icon': 'smiley-%s.svg' % v,
                    'label': gettext('balie_survey.msg_smiley_%s' % v)}
                for v in reversed(SMILEYS)]
        elif question.type == 'yes_no':
            options = [
                {'value': 'yes', 'label': gettext('balie_survey.msg_yes')},
                {'value': 'no', 'label': gettext('balie_survey.msg_no')},
                ]
        elif question.type == 'choice':
            options = [{'value': str(c.id), 'label': c.name}
                for c in question.choices]
        result.append({
                'name': 'q%s' % question.id,
                'text': question.text,
                'type': question.type,
                'options': options,
                'record': question,
                })
    return result


def read_answers(form, questions):
    """The answers in a submitted form; values that are not offered are
    ignored (as if not answered)."""
    answers = []
    for question in questions:
        record = question['record']
        raw = form.get(question['name'])
        if raw is None:
            continue
        if record.type == 'smiley':
            if raw in {str(v) for v in SMILEYS}:
                answers.append({'question': record, 'value': int(raw)})
        elif record.type == 'yes_no':
            if raw in {'yes', 'no'}:
                answers.append({'question': record,
                        'value': 1 if raw == 'yes' else 0})
        elif record.type == 'choice':
            choices = {str(c.id): c.id for c in record.choices}
            if raw in choices:
                answers.append({'question': record,
                        'choice': choices[raw]})
        elif record.type == 'text':
            if clean_text(raw):
                answers.append({'question': record, 'text': raw})
    return answers


def current_invitation(portal):
    Invitation = portal.pool.get('balie.survey.invitation')
    return Invitation.for_appointment(portal.appointment)


@portal_route('/balie/enquete', methods=['GET', 'POST'],
    scopes=SURVEY_SCOPES)
def survey(portal):
    "A few short questions after the call; voluntary and anonymous."
    invitation = current_invitation(portal)
    if invitation is None:
        return portal.not_found()
    if not invitation.answerable:
        return portal.page('survey_done',
            outcome='answered' if invitation.state == 'answered'
            else 'closed')
    survey = invitation.survey
    questions = questions_of(survey)
    error = None
    form = {}
    status = HTTPStatus.OK
    if portal.request.method == 'POST':
        form = portal.form()
        answers = read_answers(form, questions)
        if portal.preview:
            error = gettext(
                'digitale_balie.msg_portal_preview_nothing_saved')
        elif not answers:
            error = gettext('balie_survey.msg_survey_nothing')
            status = HTTPStatus.UNPROCESSABLE_ENTITY
        else:
            Invitation = portal.pool.get('balie.survey.invitation')
            Invitation.answer(invitation, answers)
            return portal.redirect('/balie/enquete/klaar')
    return portal.page('survey', status=status,
        title=survey.name, intro=survey.intro or '',
        questions=questions, form=form, error=error)


@portal_route('/balie/enquete/nee', methods=['POST'],
    scopes=SURVEY_SCOPES)
def decline(portal):
    "No, thank you."
    Invitation = portal.pool.get('balie.survey.invitation')
    invitation = current_invitation(portal)
    if invitation is None:
        return portal.not_found()
    if not portal.preview:
        Invitation.decline(invitation)
    return portal.redirect('/balie/enquete/klaar')


@portal_route('/balie/enquete/klaar',
    scopes=SURVEY_SCOPES)
def done(portal):
    "Thank you, or: no problem."
    invitation = current_invitation(portal)
    if invitation is None:
        return portal.not_found()
    outcome = {
        'answered': 'answered',
        'declined': 'declined',
        }.get(invitation.state, 'closed')
    if portal.preview:
        outcome = 'preview'
    return portal.page('survey_done', outcome=outcome)


@portal_route('/e/<token>', session=False, readonly=False)
def survey_link(portal, token):
    """The link of the invitation by message: a session for the survey and
    a clean address, like /a/<token> for the personal page."""
    pool = portal.pool
    Token = pool.get('balie.access.token')
    Session = pool.get('balie.portal.session')
    Invitation = pool.get('balie.survey.invitation')
    address = portal.remote_addr
    wait = (FAILED_LINK_LIMITER.peek(address)
        or LINK_LIMITER.hit(address))
    if wait:
        logger.warning("too many survey link look-ups from %s", address)
        return portal.too_many(wait)
    record = Token.lookup(token)
    if record is None or record.scope != 'survey':
        # a personal link opens the personal page at /a/, not here
        FAILED_LINK_LIMITER.hit(address)
        return portal.not_found()
    record = Token.use(token)
    Invitation.opened(record)
    key = Session.open(record)
    response = portal.redirect('/balie/enquete')
    response.set_cookie(COOKIE, key, max_age=session_max_age(record),
        path='/', secure=True, httponly=True, samesite='Lax')
    return response

