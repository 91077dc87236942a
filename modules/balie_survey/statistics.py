# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Figures for managers: SQL views (table_query) per service and month,
plus a row per month for all services together (service empty).

The survey's rule of five: a service's month with fewer than five
responses shows no figure ("< 5"), and the row of all services counts the
hidden services only when they have five responses or more together, so
that no hidden figure can be found by subtracting the shown ones."""
from sql import Cast, Column, Literal, Null, Union
from sql.aggregate import Count, Min, Sum
from sql.conditionals import Case, Coalesce, NullIf
from sql.functions import CurrentTimestamp, DateTrunc, Extract

from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, fields
from trytond.pool import Pool
from trytond.pyson import Eval

from digitale_balie.service import CHANNELS

from .survey import MIN_RESPONSES

K = MIN_RESPONSES
# ids of the rows of all services start here (the service rows stay below)
TOTAL_ID = 1 << 30
FORMULA_START = ('=', '+', '-', '@', '\t', '\r')


def neutralise(value):
    """A spreadsheet must not run a cell as a formula: text that starts
    like one gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def month_index(column):
    "Months since January 2000: a small integer for row ids."
    return Cast(Extract('YEAR', column) * 12 + Extract('MONTH', column)
        - 24000, 'INTEGER')


def seconds(column):
    return Extract('EPOCH', column)


def _audit_columns():
    return [
        Literal(0).as_('create_uid'),
        CurrentTimestamp().as_('create_date'),
        Cast(Null, 'INTEGER').as_('write_uid'),
        Cast(Null, 'TIMESTAMP').as_('write_date'),
        ]


class _NeutralisedExport:
    "The client's CSV export of these figures, without formulas."
    __slots__ = ()

    @classmethod
    def export_data(cls, records, fields_names, header=False):
        data = super().export_data(records, fields_names, header=header)
        return [[neutralise(v) for v in row] for row in data]


class _ServiceName:
    __slots__ = ()
    service_name = fields.Function(fields.Char("Service"), 'get_service_name')

    def get_service_name(self, name):
        if self.service:
            return self.service.rec_name
        return gettext('balie_survey.msg_all_services')


class SurveyStatistics(_NeutralisedExport, _ServiceName, ModelSQL, ModelView):
    "Survey Figures"
    __name__ = 'balie.survey.statistics'

    company = fields.Many2One('company.company', "Company", readonly=True)
    service = fields.Many2One('balie.service', "Service", readonly=True,
        help="Empty on the row of all services.")
    month = fields.Date("Month", readonly=True)
    invitations = fields.Integer("Invited", readonly=True)
    responses = fields.Integer("Responses", readonly=True,
        help="Empty when fewer than 5.")
    responses_shown = fields.Function(fields.Char("Responses"),
        'get_responses_shown')
    response_rate = fields.Float("Response Rate (%)", digits=(3, 1),
        readonly=True)
    satisfaction = fields.Float("Satisfaction (1-5)", digits=(1, 2),
        readonly=True, help="The average of the satisfaction question.")
    use_again = fields.Float("Would Use Again (%)", digits=(3, 1),
        readonly=True)
    hidden = fields.Boolean("Fewer Than 5", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('month', 'DESC'), ('service.id', 'ASC NULLS FIRST'),
            ('id', 'ASC')]

    @classmethod
    def table_query(cls):
        Tally = Pool().get('balie.survey.tally')
        sums = ['invitations', 'answered', 'responses', 'sat_sum', 'sat_n',
            'again_yes', 'again_n']

        def grouped():
            # a new query each time it is used (no WITH): PostgreSQL then
            # pushes a filter on the month down to the index
            tally = Tally.__table__()
            return tally.select(tally.company, tally.service, tally.month,
                *[Sum(Column(tally, n)).as_(n) for n in sums],
                group_by=[tally.company, tally.service, tally.month])

        base = grouped()
        per_service = base.select(
            (base.service * 1000 + month_index(base.month)).as_('id'),
            base.company, base.service, base.month,
            *[getattr(base, n) for n in sums])

        base = grouped()

        def total(name):
            # the hidden services count only when, together, they are 5+
            column = getattr(base, name)
            shown = Sum(Case((base.responses >= K, column), else_=0))
            hidden = Sum(Case((base.responses < K, column), else_=0))
            hidden_n = Sum(Case((base.responses < K, base.responses),
                    else_=0))
            return shown + Case((hidden_n >= K, hidden), else_=0)
        totals = base.select(
            (Literal(TOTAL_ID) + base.company * 1000
                + month_index(base.month)).as_('id'),
            base.company, Cast(Null, 'INTEGER').as_('service'), base.month,
            Sum(base.invitations).as_('invitations'),
            *[total(n).as_(n) for n in sums[1:]],
            group_by=[base.company, base.month])
        rows = Union(per_service, totals, all_=True)
        shown = rows.responses >= K
        return rows.select(
            rows.id, *_audit_columns(),
            rows.company, rows.service, rows.month,
            cls.invitations.sql_cast(rows.invitations).as_('invitations'),
            Case((shown, cls.responses.sql_cast(rows.responses)),
                else_=Null).as_('responses'),
            Case((shown, cls.response_rate.sql_cast(
                        rows.answered * 100.0 / NullIf(rows.invitations, 0))),
                else_=Null).as_('response_rate'),
            Case((shown & (rows.sat_n > 0), cls.satisfaction.sql_cast(
                        rows.sat_sum * 1.0 / rows.sat_n)),
                else_=Null).as_('satisfaction'),
            Case((shown & (rows.again_n > 0), cls.use_again.sql_cast(
                        rows.again_yes * 100.0 / rows.again_n)),
                else_=Null).as_('use_again'),
            Case((shown, Literal(False)), else_=Literal(True)).as_('hidden'))

    def get_responses_shown(self, name):
        if self.hidden:
            return '< %s' % K
        return str(self.responses or 0)


class AnswerStatistics(_NeutralisedExport, _ServiceName, ModelSQL, ModelView):
    "Survey Answers per Question"
    __name__ = 'balie.survey.statistics.answer'

    company = fields.Many2One('company.company', "Company", readonly=True)
    service = fields.Many2One('balie.service', "Service", readonly=True,
        help="Empty on the rows of all services.")
    month = fields.Date("Month", readonly=True)
    question = fields.Many2One('balie.survey.question', "Question",
        readonly=True)
    value = fields.Integer("Value", readonly=True)
    choice = fields.Many2One('balie.survey.question.choice', "Choice",
        readonly=True)
    answer = fields.Function(fields.Char("Answer"), 'get_answer')
    answers = fields.Integer("Answers", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [
            ('month', 'DESC'), ('service.id', 'ASC NULLS FIRST'),
            ('question.id', 'ASC'), ('value', 'DESC'), ('choice.id', 'ASC'),
            ('id', 'ASC')]

    @classmethod
    def table_query(cls):
        pool = Pool()
        Tally = pool.get('balie.survey.tally')
        AnswerTally = pool.get('balie.survey.answer.tally')

        def counts():
            tally = Tally.__table__()
            return tally.select(tally.company, tally.service, tally.month,
                Sum(tally.responses).as_('n'),
                group_by=[tally.company, tally.service, tally.month])

        def answers():
            tally = AnswerTally.__table__()
            return tally.select(
                Min(tally.id).as_('min_id'),
                tally.company, tally.service, tally.month, tally.question,
                tally.value, tally.choice,
                Sum(tally.answers).as_('answers'),
                group_by=[tally.company, tally.service, tally.month,
                    tally.question, tally.value, tally.choice])

        def same_group(a, b):
            return ((a.company == b.company) & (a.service == b.service)
                & (a.month == b.month))

        group, count = answers(), counts()
        per_service = group.join(count, condition=same_group(group, count)
            ).select(
            (group.min_id * 2).as_('id'),
            group.company, group.service, group.month, group.question,
            group.value, group.choice, group.answers,
            where=count.n >= K)

        # the responses of a month's hidden services, together
        small = counts()
        hidden = small.select(small.company, small.month,
            Sum(small.n).as_('hidden_n'),
            where=small.n < K,
            group_by=[small.company, small.month])
        group, count = answers(), counts()
        totals = group.join(count, condition=same_group(group, count)
            ).join(hidden, 'LEFT', condition=(
                (group.company == hidden.company)
                & (group.month == hidden.month))
            ).select(
            (Min(group.min_id) * 2 + 1).as_('id'),
            group.company, Cast(Null, 'INTEGER').as_('service'),
            group.month, group.question, group.value, group.choice,
            Sum(group.answers).as_('answers'),
            where=(count.n >= K) | (Coalesce(hidden.hidden_n, 0) >= K),
            group_by=[group.company, group.month, group.question,
                group.value, group.choice])
        rows = Union(per_service, totals, all_=True)
        return rows.select(
            rows.id, *_audit_columns(),
            rows.company, rows.service, rows.month, rows.question,
            rows.value, rows.choice,
            cls.answers.sql_cast(rows.answers).as_('answers'))

    def get_answer(self, name):
        return self.question.answer_label(self.value, self.choice)


class CommentStatistics(_NeutralisedExport, _ServiceName, ModelSQL,
        ModelView):
    "Survey Comments"
    __name__ = 'balie.survey.statistics.comment'

    company = fields.Many2One('company.company', "Company", readonly=True)
    service = fields.Many2One('balie.service', "Service", readonly=True)
    month = fields.Date("Month", readonly=True)
    question = fields.Many2One('balie.survey.question', "Question",
        readonly=True)
    text = fields.Text("Comment", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        # never in the order of answering
        # the order on ids: no join to the translated names
        cls._order = [('month', 'DESC'), ('service.id', 'ASC'),
            ('question.id', 'ASC'), ('text', 'ASC'), ('id', 'ASC')]

    @classmethod
    def table_query(cls):
        pool = Pool()
        Tally = pool.get('balie.survey.tally')
        Answer = pool.get('balie.survey.answer')
        tally = Tally.__table__()
        answer = Answer.__table__()
        counts = tally.select(
            tally.company, tally.service, tally.month,
            group_by=[tally.company, tally.service, tally.month],
            having=Sum(tally.responses) >= K)
        return answer.join(counts, condition=(
                (answer.company == counts.company)
                & (answer.service == counts.service)
                & (answer.month == counts.month))
            ).select(
            answer.id, *_audit_columns(),
            answer.company, answer.service, answer.month, answer.question,
            answer.text,
            where=answer.text != Null)


class AppointmentStatistics(_NeutralisedExport, _ServiceName, ModelSQL,
        ModelView):
    "Counter Figures"
    __name__ = 'balie.appointment.statistics'

    company = fields.Many2One('company.company', "Company", readonly=True)
    month = fields.Date("Month", readonly=True)
    service = fields.Many2One('balie.service', "Service", readonly=True,
        help="Empty on the row of all services.")
    channel = fields.Selection([(None, "")] + CHANNELS, "Channel",
        readonly=True)
    origin = fields.Selection('get_origins', "Origin", readonly=True)
    employee = fields.Many2One('company.employee', "Clerk", readonly=True,
        context={'company': Eval('company', -1)}, depends={'company'},
        help="Only when the administrator shows figures per clerk.")
    bookings = fields.Integer("Bookings", readonly=True)
    cancelled = fields.Integer("Cancelled", readonly=True)
    no_shows = fields.Integer("No-shows", readonly=True)
    no_show_rate = fields.Float("No-show Rate (%)", digits=(3, 1),
        readonly=True, help="No-shows among the appointments not "
        "cancelled.")
    calls = fields.Integer("Video Calls", readonly=True)
    waiting = fields.Float("Average Waiting (min)", digits=(4, 1),
        readonly=True,
        help="From the citizen in the waiting room to the clerk in the "
        "call.")
    duration = fields.Float("Average Call (min)", digits=(4, 1),
        readonly=True)
    messages = fields.Integer("Messages", readonly=True)
    delivered_rate = fields.Float("Delivered (%)", digits=(3, 1),
        readonly=True)
    opened_rate = fields.Float("Opened (%)", digits=(3, 1), readonly=True,
        help="Messages whose personal link was used.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('month', 'DESC'), ('service.id', 'ASC NULLS FIRST'),
            ('channel', 'ASC'), ('origin', 'ASC'), ('id', 'ASC')]

    channel_string = channel.translated('channel')
    origin_string = origin.translated('origin')

    @classmethod
    def get_origins(cls):
        Appointment = Pool().get('balie.appointment')
        return [(None, "")] + list(Appointment.origin.selection)

    @classmethod
    def table_query(cls):
        pool = Pool()
        Appointment = pool.get('balie.appointment')
        Room = pool.get('balie.video.room')
        Figure = pool.get('balie.call.figure')
        Message = pool.get('balie.message')
        Configuration = pool.get('balie.configuration')
        per_clerk = Configuration(1).survey_per_clerk
        def grouped():
            # a new query each time it is used (no WITH), as above
            appointment = Appointment.__table__()
            room = Room.__table__()
            figure = Figure.__table__()
            message = Message.__table__()
            messages = message.select(message.appointment,
                Count().as_('messages'),
                Sum(Case(((message.delivered_at != Null)
                            | (message.opened_at != Null), 1), else_=0)
                    ).as_('delivered'),
                Sum(Case((message.opened_at != Null, 1), else_=0)
                    ).as_('opened'),
                # what was sent: not the queued, cancelled or letter ones
                where=(message.channel != 'letter') & message.state.in_(
                    ['sent', 'delivered', 'opened', 'failed']),
                group_by=[message.appointment])
            held = (figure.id != Null) | (room.opened_at != Null)
            one = appointment.join(room, 'LEFT',
                condition=room.appointment == appointment.id
                ).join(figure, 'LEFT',
                condition=figure.appointment == appointment.id
                ).join(messages, 'LEFT',
                condition=messages.appointment == appointment.id
                ).select(
                appointment.id, appointment.company, appointment.service,
                appointment.channel, appointment.origin,
                (appointment.employee if per_clerk
                    else Cast(Null, 'INTEGER')).as_('employee'),
                cls.month.sql_cast(DateTrunc('month', appointment.start)
                    ).as_('month'),
                Case((appointment.state == 'cancelled', 1), else_=0
                    ).as_('cancelled'),
                Case((appointment.state == 'no_show', 1), else_=0
                    ).as_('no_show'),
                Case((held, 1), else_=0).as_('held'),
                seconds(Coalesce(figure.waiting_time, room.waiting_time)
                    ).as_('waiting'),
                seconds(Coalesce(figure.duration, room.duration)
                    ).as_('duration'),
                Coalesce(messages.messages, 0).as_('messages'),
                Coalesce(messages.delivered, 0).as_('delivered'),
                Coalesce(messages.opened, 0).as_('opened'))
            sums = {
                'bookings': Count(),
                'cancelled': Sum(one.cancelled),
                'no_shows': Sum(one.no_show),
                'calls': Sum(one.held),
                'waiting_sum': Sum(Coalesce(one.waiting, 0)),
                'waiting_n': Count(one.waiting),
                'duration_sum': Sum(Coalesce(one.duration, 0)),
                'duration_n': Count(one.duration),
                'messages': Sum(one.messages),
                'delivered': Sum(one.delivered),
                'opened': Sum(one.opened),
                }
            return list(sums), one.select(
                Min(one.id).as_('min_id'),
                one.company, one.month, one.service, one.channel,
                one.origin, one.employee,
                *[v.as_(k) for k, v in sums.items()],
                group_by=[one.company, one.month, one.service, one.channel,
                    one.origin, one.employee])

        sums, base = grouped()
        per_service = base.select(
            (base.min_id * 2).as_('id'),
            base.company, base.month, base.service, base.channel,
            base.origin, base.employee,
            *[getattr(base, k) for k in sums])
        sums, base = grouped()
        totals = base.select(
            (Min(base.min_id) * 2 + 1).as_('id'),
            base.company, base.month, Cast(Null, 'INTEGER').as_('service'),
            Cast(Null, 'VARCHAR').as_('channel'),
            Cast(Null, 'VARCHAR').as_('origin'),
            Cast(Null, 'INTEGER').as_('employee'),
            *[Sum(getattr(base, k)).as_(k) for k in sums],
            group_by=[base.company, base.month])
        rows = Union(per_service, totals, all_=True)
        kept = rows.bookings - rows.cancelled
        return rows.select(
            rows.id, *_audit_columns(),
            rows.company, rows.month, rows.service, rows.channel,
            rows.origin, rows.employee,
            *[getattr(cls, n).sql_cast(getattr(rows, n)).as_(n) for n in [
                    'bookings', 'cancelled', 'no_shows', 'calls',
                    'messages']],
            cls.no_show_rate.sql_cast(
                rows.no_shows * 100.0 / NullIf(kept, 0)).as_('no_show_rate'),
            cls.waiting.sql_cast(
                rows.waiting_sum / 60.0 / NullIf(rows.waiting_n, 0)
                ).as_('waiting'),
            cls.duration.sql_cast(
                rows.duration_sum / 60.0 / NullIf(rows.duration_n, 0)
                ).as_('duration'),
            cls.delivered_rate.sql_cast(
                rows.delivered * 100.0 / NullIf(rows.messages, 0)
                ).as_('delivered_rate'),
            cls.opened_rate.sql_cast(
                rows.opened * 100.0 / NullIf(rows.messages, 0)
                ).as_('opened_rate'))
