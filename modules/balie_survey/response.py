# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Anonymous responses.

A response stores the company, the service, the channel, the week and the
questionnaire, and its answers: no citizen, dossier, appointment,
invitation or link, and no moment finer than the week (the creation
timestamps are set to the Monday).  Free text is masked for e-mail
addresses and long numbers when stored, shown escaped, and deleted after
the configured months; the scores stay."""
import datetime as dt
import re

from sql import Null

from trytond.model import Index, ModelSQL, fields
from trytond.pool import Pool
from trytond.transaction import Transaction

from digitale_balie import clock
from digitale_balie.service import CHANNELS

from .survey import TEXT_MAX, month_of_week

_EMAIL = re.compile(r'[\w.+-]+@[\w-]+(?:\.[\w-]+)+')
_NUMBER = re.compile(r'\+?\d[\d\s./-]{5,}\d')
MASK = '[…]'


def mask_personal_data(text):
    """Hide what would name the writer: e-mail addresses, and phone or
    national register numbers (runs of eight digits or more)."""
    text = _EMAIL.sub(MASK, text)

    def number(match):
        digits = sum(c.isdigit() for c in match.group(0))
        return MASK if digits >= 8 else match.group(0)
    return _NUMBER.sub(number, text)


def clean_text(value):
    "Free text as stored: plain text, trimmed, masked, at most TEXT_MAX."
    text = ''.join(c for c in str(value or '')
        if c in '\n\t' or c.isprintable())
    text = text.replace('\r\n', '\n').strip()[:TEXT_MAX]
    return mask_personal_data(text) if text else None


class Response(ModelSQL):
    "Survey Response"
    __name__ = 'balie.survey.response'

    company = fields.Many2One('company.company', "Company", required=True,
        ondelete='RESTRICT')
    survey = fields.Many2One('balie.survey', "Questionnaire", required=True,
        ondelete='RESTRICT')
    service = fields.Many2One('balie.service', "Service", required=True,
        ondelete='RESTRICT')
    channel = fields.Selection(CHANNELS, "Channel", required=True)
    week = fields.Date("Week", required=True,
        help="The Monday of the week of the call.")
    month = fields.Date("Month", required=True,
        help="The month of the week's Thursday.")
    satisfaction = fields.Integer("Satisfaction",
        help="The answer to the questionnaire's satisfaction question, "
        "1 to 5, kept here for fast figures.")
    use_again = fields.Integer("Would Use Again",
        help="1 for yes, 0 for no, empty when not answered.")
    answers = fields.One2Many('balie.survey.answer', 'response', "Answers")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t, (t.month, Index.Range()),
                    (t.service, Index.Equality())),
                })

    @classmethod
    def record(cls, survey, company, service, channel, week, answers):
        """Store one response: answers is a list of dicts with question
        and value, choice or text."""
        pool = Pool()
        Answer = pool.get('balie.survey.answer')
        Tally = pool.get('balie.survey.tally')
        AnswerTally = pool.get('balie.survey.answer.tally')
        month = month_of_week(week)
        values = {
            'company': company.id, 'survey': survey.id,
            'service': service.id, 'channel': channel,
            'week': week, 'month': month,
            }
        answer_values = []
        for answer in answers:
            question = answer['question']
            if question.role == 'satisfaction':
                values['satisfaction'] = answer.get('value')
            elif question.role == 'use_again':
                values['use_again'] = answer.get('value')
            answer_values.append({
                    'question': question.id,
                    'value': answer.get('value'),
                    'choice': answer.get('choice'),
                    'text': clean_text(answer.get('text'))
                    if question.type == 'text' else None,
                    'company': company.id, 'service': service.id,
                    'month': month,
                    })
        response, = cls.create([values])
        Answer.create([dict(a, response=response.id) for a in answer_values])
        cls._coarsen([response.id], week)
        satisfaction = values.get('satisfaction')
        use_again = values.get('use_again')
        Tally.add(company.id, service.id, month, responses=1,
            sat_sum=satisfaction or 0, sat_n=int(satisfaction is not None),
            again_yes=use_again or 0, again_n=int(use_again is not None))
        for answer in answer_values:
            if answer['value'] is not None or answer['choice'] is not None:
                AnswerTally.add(company.id, service.id, month,
                    answer['question'], answer['value'], answer['choice'])
        return response

    @classmethod
    def _coarsen(cls, ids, week):
        "No finer time than the week: the creation time is the Monday."
        Answer = Pool().get('balie.survey.answer')
        cursor = Transaction().connection.cursor()
        monday = dt.datetime.combine(week, dt.time())
        response = cls.__table__()
        answer = Answer.__table__()
        cursor.execute(*response.update(
                [response.create_date, response.write_date],
                [monday, Null], where=response.id.in_(ids)))
        cursor.execute(*answer.update(
                [answer.create_date, answer.write_date],
                [monday, Null], where=answer.response.in_(ids)))

    @classmethod
    def clean_up(cls):
        """Retention: delete the free text of answers older than the
        configured months; the scores stay."""
        pool = Pool()
        Configuration = pool.get('balie.configuration')
        Answer = pool.get('balie.survey.answer')
        months = Configuration(1).survey_text_months or 12
        today = clock.now().date()
        index = today.year * 12 + today.month - 1 - months
        before = dt.date(index // 12, index % 12 + 1, 1)
        answer = Answer.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*answer.update([answer.text], [Null],
                where=(answer.text != Null) & (answer.month < before)))
        return cursor.rowcount


class Answer(ModelSQL):
    "Survey Answer"
    __name__ = 'balie.survey.answer'

    response = fields.Many2One('balie.survey.response', "Response",
        required=True, ondelete='CASCADE')
    question = fields.Many2One('balie.survey.question', "Question",
        required=True, ondelete='RESTRICT')
    value = fields.Integer("Value",
        help="1 to 5 for a smiley, 1 for yes and 0 for no.")
    choice = fields.Many2One('balie.survey.question.choice', "Choice",
        ondelete='RESTRICT')
    text = fields.Text("Text")
    # copies of the response's, so that a month's figures read one index
    company = fields.Many2One('company.company', "Company", required=True,
        ondelete='RESTRICT')
    service = fields.Many2One('balie.service', "Service", required=True,
        ondelete='RESTRICT')
    month = fields.Date("Month", required=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t, (t.response, Index.Equality())),
                Index(t, (t.month, Index.Range()),
                    (t.question, Index.Equality())),
                Index(t, (t.month, Index.Range()),
                    where=t.text != Null),
                })
