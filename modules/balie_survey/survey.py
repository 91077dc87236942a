# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Questionnaires: what the functional admin asks after a call, in the
client, translatable; a default one and optional ones per service."""
import datetime as dt

from trytond.i18n import gettext
from trytond.model import (
    DeactivableMixin, ModelSQL, ModelView, fields, sequence_ordered)
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.transaction import Transaction

from .exceptions import QuestionnaireValidationError


QUESTION_TYPES = [
    ('smiley', "Smiley Scale 1–5"),
    ('yes_no', "Yes or No"),
    ('choice', "Single Choice"),
    ('text', "Free Text"),
    ]
ROLES = [
    (None, ""),
    ('satisfaction', "Overall Satisfaction"),
    ('use_again', "Would Use Again"),
    ]
ROLE_TYPES = {'satisfaction': 'smiley', 'use_again': 'yes_no'}
SMILEYS = [1, 2, 3, 4, 5]
# the answers of free text are cut here: enough for "what could be better"
TEXT_MAX = 2000
# breakdowns with fewer responses are hidden (shown as "< 5")
MIN_RESPONSES = 5


class Survey(DeactivableMixin, ModelSQL, ModelView):
    "Questionnaire"
    __name__ = 'balie.survey'

    name = fields.Char("Name", required=True, translate=True)
    default = fields.Boolean("Default",
        help="Asked after the calls of every service that has no "
        "questionnaire of its own.")
    intro = fields.Text("Introduction", translate=True,
        help="Shown above the questions, in plain language.")
    questions = fields.One2Many('balie.survey.question', 'survey',
        "Questions")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order.insert(0, ('name', 'ASC'))

    @classmethod
    def default_default(cls):
        return False

    @classmethod
    def validate_fields(cls, surveys, field_names):
        super().validate_fields(surveys, field_names)
        if field_names & {'default', 'active'}:
            cls.check_one_default()

    @classmethod
    def check_one_default(cls):
        defaults = cls.search([('default', '=', True)])
        if len(defaults) > 1:
            raise QuestionnaireValidationError(gettext(
                    'balie_survey.msg_survey_one_default',
                    surveys=', '.join(s.rec_name for s in defaults)))

    @classmethod
    def for_service(cls, service):
        "The questionnaire asked after a call about the service, or None."
        if service.survey and service.survey.active:
            return service.survey
        defaults = cls.search([('default', '=', True)], limit=1)
        return defaults[0] if defaults else None

    def portal_questions(self):
        "The active questions, in order, in the context's language."
        Question = Pool().get('balie.survey.question')
        return Question.search([
                ('survey', '=', self.id),
                ], order=[('sequence', 'ASC NULLS FIRST'), ('id', 'ASC')])


class Question(sequence_ordered(), DeactivableMixin, ModelSQL, ModelView):
    "Survey Question"
    __name__ = 'balie.survey.question'

    survey = fields.Many2One('balie.survey', "Questionnaire", required=True,
        ondelete='CASCADE')
    text = fields.Char("Question", required=True, translate=True,
        help="A short question in plain language.")
    type = fields.Selection(QUESTION_TYPES, "Type", required=True,
        sort=False)
    role = fields.Selection(ROLES, "Counts As",
        states={
            'invisible': ~Eval('type').in_(['smiley', 'yes_no']),
            },
        help="Which figure of the analysis this question feeds: "
        "the average satisfaction (a smiley question) or "
        "'would use again' (a yes-or-no question).")
    choices = fields.One2Many('balie.survey.question.choice', 'question',
        "Choices",
        states={
            'invisible': Eval('type') != 'choice',
            })

    @classmethod
    def default_type(cls):
        return 'smiley'

    def get_rec_name(self, name):
        return self.text

    @classmethod
    def validate_fields(cls, questions, field_names):
        super().validate_fields(questions, field_names)
        if field_names & {'role', 'type', 'survey', 'active'}:
            cls.check_role(questions)

    @classmethod
    def check_role(cls, questions):
        for question in questions:
            if not question.role:
                continue
            if ROLE_TYPES[question.role] != question.type:
                raise QuestionnaireValidationError(gettext(
                        'balie_survey.msg_question_role_type',
                        question=question.rec_name))
            others = cls.search([
                    ('survey', '=', question.survey.id),
                    ('role', '=', question.role),
                    ('id', '!=', question.id),
                    ])
            if others:
                raise QuestionnaireValidationError(gettext(
                        'balie_survey.msg_question_role_unique',
                        question=question.rec_name,
                        other=others[0].rec_name))

    def answer_label(self, value, choice=None):
        "The answer in words, in the context's language."
        if self.type == 'smiley' and value in SMILEYS:
            return gettext('balie_survey.msg_smiley_%s' % value)
        if self.type == 'yes_no' and value in {0, 1}:
            return gettext('balie_survey.msg_yes' if value
                else 'balie_survey.msg_no')
        if self.type == 'choice' and choice:
            return choice.name
        return ''


class Choice(sequence_ordered(), ModelSQL, ModelView):
    "Survey Question Choice"
    __name__ = 'balie.survey.question.choice'

    question = fields.Many2One('balie.survey.question', "Question",
        required=True, ondelete='CASCADE')
    name = fields.Char("Choice", required=True, translate=True)


def week_of(day):
    "The Monday of a date's week."
    return day - dt.timedelta(days=day.weekday())


def month_of_week(monday):
    """The month a week belongs to: the month of its Thursday, so that a
    week is counted once and at most three days away from its month."""
    thursday = monday + dt.timedelta(days=3)
    return thursday.replace(day=1)


def local_day(value):
    "The day in Brussels of a UTC datetime."
    from digitale_balie.slots import to_local
    return to_local(value).date()


def language_context(language):
    return Transaction().set_context(language=language)
