# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Running totals per service and month, kept in the transaction that
invites or answers, so that the managers' figures read a few hundred rows
instead of every response (bench/survey.py: 1,000,000 responses).

An increment is one UPDATE, or an INSERT when the row is new; two first
increments at the same moment may each insert a row, which is harmless:
the figures add the rows up.  `rebuild()` computes them again from the
responses and invitations."""
import datetime as dt

from sql import Column, Literal, Null
from sql.aggregate import Count, Sum
from sql.conditionals import Case, Coalesce
from sql.functions import CurrentTimestamp

from trytond.model import Index, ModelSQL, fields
from trytond.pool import Pool
from trytond.transaction import Transaction

COUNTERS = ['invitations', 'answered', 'responses', 'sat_sum', 'sat_n',
    'again_yes', 'again_n']


def _add(Model, keys, counts):
    "Add counts to the row of keys (a dict of column: value)."
    table = Model.__table__()
    cursor = Transaction().connection.cursor()
    where = Literal(True)
    for name, value in keys.items():
        column = Column(table, name)
        where &= (column == value) if value is not None else (column == Null)
    cursor.execute(*table.update(
            [Column(table, n) for n in counts],
            [Column(table, n) + v for n, v in counts.items()],
            where=where))
    if not cursor.rowcount:
        values = {n: 0 for n in Model._counters}
        values.update(keys)
        values.update(counts)
        record, = Model.create([values])
        # like the responses: no time finer than the month
        cursor.execute(*table.update([table.create_date],
                [dt.datetime.combine(keys['month'], dt.time())],
                where=table.id == record.id))


class Tally(ModelSQL):
    "Survey Tally"
    __name__ = 'balie.survey.tally'
    _counters = COUNTERS

    company = fields.Many2One('company.company', "Company", required=True,
        ondelete='CASCADE')
    service = fields.Many2One('balie.service', "Service", required=True,
        ondelete='CASCADE')
    month = fields.Date("Month", required=True)
    invitations = fields.Integer("Invitations", required=True)
    answered = fields.Integer("Answered", required=True)
    responses = fields.Integer("Responses", required=True)
    sat_sum = fields.Integer("Satisfaction Sum", required=True)
    sat_n = fields.Integer("Satisfaction Answers", required=True)
    again_yes = fields.Integer("Would Use Again", required=True)
    again_n = fields.Integer("Would Use Again Answers", required=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(Index(t,
                (t.company, Index.Equality()), (t.month, Index.Range()),
                (t.service, Index.Equality())))

    @classmethod
    def add(cls, company, service, month, **counts):
        _add(cls, {'company': company, 'service': service, 'month': month},
            counts)

    @classmethod
    def rebuild(cls):
        "Compute every total again from the responses and invitations."
        pool = Pool()
        Response = pool.get('balie.survey.response')
        Invitation = pool.get('balie.survey.invitation')
        AnswerTally = pool.get('balie.survey.answer.tally')
        Answer = pool.get('balie.survey.answer')
        cursor = Transaction().connection.cursor()
        tally = cls.__table__()
        cursor.execute(*tally.delete())
        response = Response.__table__()
        invitation = Invitation.__table__()
        zero = Literal(0)
        keys = ['company', 'service', 'month']
        # a row of responses and a row of invitations per service and
        # month: the figures add the rows up
        responses = response.select(
            response.company, response.service, response.month,
            zero, zero, Count(),
            Sum(Coalesce(response.satisfaction, 0)),
            Count(response.satisfaction),
            Sum(Coalesce(response.use_again, 0)),
            Count(response.use_again),
            zero, CurrentTimestamp(),
            group_by=[response.company, response.service, response.month])
        invitations = invitation.select(
            invitation.company, invitation.service, invitation.month,
            Count(), Sum(Case((invitation.state == 'answered', 1), else_=0)),
            zero, zero, zero, zero, zero,
            zero, CurrentTimestamp(),
            group_by=[
                invitation.company, invitation.service, invitation.month])
        for query in [responses, invitations]:
            cursor.execute(*tally.insert(
                    [Column(tally, n) for n in keys + COUNTERS]
                    + [tally.create_uid, tally.create_date], query))

        answer_tally = AnswerTally.__table__()
        cursor.execute(*answer_tally.delete())
        answer = Answer.__table__()
        columns = ['company', 'service', 'month', 'question', 'value',
            'choice']
        cursor.execute(*answer_tally.insert(
                [Column(answer_tally, n) for n in columns]
                + [answer_tally.answers, answer_tally.create_uid,
                    answer_tally.create_date],
                answer.select(
                    *[Column(answer, n) for n in columns],
                    Count(), zero, CurrentTimestamp(),
                    where=(answer.value != Null) | (answer.choice != Null),
                    group_by=[Column(answer, n) for n in columns])))


class AnswerTally(ModelSQL):
    "Survey Answer Tally"
    __name__ = 'balie.survey.answer.tally'
    _counters = ['answers']

    company = fields.Many2One('company.company', "Company", required=True,
        ondelete='CASCADE')
    service = fields.Many2One('balie.service', "Service", required=True,
        ondelete='CASCADE')
    month = fields.Date("Month", required=True)
    question = fields.Many2One('balie.survey.question', "Question",
        required=True, ondelete='CASCADE')
    value = fields.Integer("Value")
    choice = fields.Many2One('balie.survey.question.choice', "Choice",
        ondelete='CASCADE')
    answers = fields.Integer("Answers", required=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(Index(t,
                (t.company, Index.Equality()), (t.month, Index.Range()),
                (t.service, Index.Equality())))

    @classmethod
    def add(cls, company, service, month, question, value=None,
            choice=None):
        _add(cls, {
                'company': company, 'service': service, 'month': month,
                'question': question, 'value': value, 'choice': choice,
                }, {'answers': 1})
