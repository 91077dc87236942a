# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The monthly report for managers (HTML → PDF with charts) and the CSV
export of the figures."""
import csv
import datetime as dt
import io
from collections import defaultdict

from trytond.i18n import gettext
from trytond.model import ModelView, fields
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.report import Report
from trytond.transaction import Transaction
from trytond.wizard import Button, StateReport, StateView, Wizard

from digitale_balie import clock

from . import charts
from .statistics import K, neutralise
from .survey import SMILEYS

TREND_MONTHS = 12
MAX_COMMENTS = 30


def first_of_month(day):
    return day.replace(day=1)


def add_months(day, months):
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def last_month():
    return add_months(clock.now().date(), -1)


def month_label(day, language):
    from babel.dates import format_date
    from digitale_balie.dates import locale_of
    return format_date(day, 'LLLL yyyy', locale=locale_of(language))


def short_month(day, language):
    from babel.dates import format_date
    from digitale_balie.dates import locale_of
    return format_date(day, 'LLL yy', locale=locale_of(language))


def _weighted(rows, value, weight):
    total = sum(getattr(r, weight) or 0 for r in rows
        if getattr(r, value) is not None)
    if not total:
        return None
    return sum((getattr(r, value) or 0) * (getattr(r, weight) or 0)
        for r in rows if getattr(r, value) is not None) / total


def _rate(part, whole):
    return 100.0 * part / whole if whole else None


class MonthlyReport(Report):
    __name__ = 'balie.survey.report.monthly'

    @classmethod
    def get_context(cls, records, header, data):
        pool = Pool()
        Company = pool.get('company.company')
        context = super().get_context(records, header, data)
        language = Transaction().context.get('language') or 'en'
        language = language.split('_')[0]
        month = dt.date.fromisoformat(data['month'])
        company = Company(data['company'])
        context.update(cls.figures(company, month, language))
        return context

    @classmethod
    def figures(cls, company, month, language):
        "Everything the report shows, for one company and month."
        pool = Pool()
        Configuration = pool.get('balie.configuration')
        Survey = pool.get('balie.survey.statistics')
        Answer = pool.get('balie.survey.statistics.answer')
        Comment = pool.get('balie.survey.statistics.comment')
        Counter = pool.get('balie.appointment.statistics')
        month = first_of_month(month)
        since = add_months(month, -(TREND_MONTHS - 1))
        company_domain = [('company', '=', company.id)]

        survey_rows = Survey.search(company_domain + [
                ('month', '=', month)])
        services = [r for r in survey_rows if r.service]
        total = next((r for r in survey_rows if not r.service), None)
        trend_rows = {r.month: r for r in Survey.search(company_domain + [
                    ('month', '>=', since), ('month', '<=', month),
                    ('service', '=', None)])}
        months = [add_months(since, i) for i in range(TREND_MONTHS)]
        labels = [short_month(m, language) for m in months]

        def series(name):
            return [getattr(trend_rows[m], name)
                if m in trend_rows else None for m in months]

        text = cls.texts()
        trend_charts = [c for c in [
            charts.trend(text['chart_satisfaction'], labels,
                [(text['satisfaction'], series('satisfaction'))],
                value_range=(1, 5)),
            charts.trend(text['chart_rates'], labels,
                [(text['response_rate'], series('response_rate')),
                    (text['use_again'], series('use_again'))],
                value_range=(0, 100), unit=' %'),
            ] if c is not None]

        questions = defaultdict(list)
        for row in Answer.search(company_domain + [
                    ('month', '=', month), ('service', '=', None)]):
            questions[row.question].append(row)
        question_charts = []
        for question, rows in sorted(questions.items(),
                key=lambda i: (i[0].sequence or 0, i[0].id)):
            counts = {(r.value, r.choice.id if r.choice else None): r.answers
                for r in rows}
            if question.type == 'smiley':
                keys = [(v, None) for v in reversed(SMILEYS)]
            elif question.type == 'yes_no':
                keys = [(1, None), (0, None)]
            else:
                keys = [(None, c.id) for c in question.choices]
            keys += [k for k in counts if k not in keys]
            choices = {c.id: c for c in question.choices}
            question_charts.append(charts.distribution(question.text,
                    [question.answer_label(v, choices.get(c))
                        for v, c in keys],
                    [counts.get(k, 0) for k in keys],
                    smiley=question.type == 'smiley'))

        counter_rows = Counter.search(company_domain + [
                ('month', '=', month)])
        counter_total = next((r for r in counter_rows if not r.service),
            None)
        per_service = defaultdict(list)
        by_channel = defaultdict(int)
        by_origin = defaultdict(int)
        for row in counter_rows:
            if not row.service:
                continue
            per_service[row.service].append(row)
            by_channel[row.channel_string] += row.bookings or 0
            by_origin[row.origin_string] += row.bookings or 0
        counter_services = []
        for service, rows in sorted(per_service.items(),
                key=lambda i: i[0].rec_name):
            bookings = sum(r.bookings for r in rows)
            cancelled = sum(r.cancelled for r in rows)
            counter_services.append({
                    'service': service.rec_name,
                    'bookings': bookings,
                    'no_show_rate': _rate(sum(r.no_shows for r in rows),
                        bookings - cancelled),
                    'calls': sum(r.calls for r in rows),
                    'waiting': _weighted(rows, 'waiting', 'calls'),
                    'duration': _weighted(rows, 'duration', 'calls'),
                    'delivered_rate': _rate(
                        sum((r.delivered_rate or 0) * r.messages / 100
                            for r in rows), sum(r.messages for r in rows)),
                    'opened_rate': _rate(
                        sum((r.opened_rate or 0) * r.messages / 100
                            for r in rows), sum(r.messages for r in rows)),
                    })
        counter_charts = []
        if counter_total:
            counter_charts = [
                charts.shares(text['chart_channels'],
                    list(by_channel), list(by_channel.values())),
                charts.shares(text['chart_origins'],
                    list(by_origin), list(by_origin.values())),
                ]
        counter_trend = {r.month: r for r in Counter.search(company_domain + [
                    ('month', '>=', since), ('month', '<=', month),
                    ('service', '=', None)])}
        times = charts.trend(text['chart_waiting'], labels,
            [(text['waiting'], [getattr(counter_trend.get(m), 'waiting',
                            None) for m in months]),
                (text['duration'], [getattr(counter_trend.get(m),
                            'duration', None) for m in months])],
            unit=' min')

        comments = {}
        for row in services:
            texts = [c.text for c in Comment.search(company_domain + [
                        ('month', '=', month),
                        ('service', '=', row.service.id),
                        ], limit=MAX_COMMENTS)]
            if texts:
                comments[row.service] = texts

        return {
            'text': text,
            'language': language,
            'company': company,
            'municipality': Configuration(1).municipality_name,
            'month_label': month_label(month, language),
            'generated': clock.now(),
            'k': K,
            'survey_services': services,
            'survey_total': total,
            'trend_charts': trend_charts,
            'question_charts': question_charts,
            'counter_services': counter_services,
            'counter_total': counter_total,
            'counter_charts': counter_charts,
            'times_chart': times,
            'comments': [(s.rec_name, t) for s, t in sorted(
                    comments.items(), key=lambda i: i[0].rec_name)],
            'number': number,
            }

    @classmethod
    def texts(cls):
        names = ['title', 'survey', 'service', 'invited', 'responses',
            'response_rate', 'satisfaction', 'use_again', 'all_services',
            'hidden', 'counter', 'bookings', 'no_show_rate', 'calls',
            'waiting', 'duration', 'delivered', 'opened', 'comments',
            'no_comments', 'chart_satisfaction', 'chart_rates',
            'chart_channels', 'chart_origins', 'chart_waiting', 'answers',
            'no_answers', 'privacy', 'no_data']
        return {n: gettext('balie_survey.msg_report_' + n, k=str(K))
            for n in names}


def number(value, digits=1, unit=''):
    "A figure for the report; empty stays a dash."
    if value is None:
        return '–'
    if isinstance(value, int):
        return '%d%s' % (value, unit)
    return ('%.*f' % (digits, value)) + unit


class MonthlyReportStart(ModelView):
    "Monthly Report"
    __name__ = 'balie.survey.report.monthly.start'

    company = fields.Many2One('company.company', "Company", required=True)
    month = fields.Date("Month", required=True,
        help="Any day of the month.")

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def default_month(cls):
        return last_month()


class PrintMonthlyReport(Wizard):
    "Monthly Report"
    __name__ = 'balie.survey.report.monthly.print'
    start = StateView('balie.survey.report.monthly.start',
        'balie_survey.report_monthly_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Print", 'print_', 'tryton-print', default=True),
            ])
    print_ = StateReport('balie.survey.report.monthly')

    def do_print_(self, action):
        return action, {
            'company': self.start.company.id,
            'month': first_of_month(self.start.month).isoformat(),
            }


EXPORTS = [
    ('survey', "Survey Figures"),
    ('answers', "Survey Answers per Question"),
    ('counter', "Counter Figures"),
    ]
EXPORT_FIELDS = {
    'survey': ['month', 'service_name', 'invitations', 'responses_shown',
        'response_rate', 'satisfaction', 'use_again'],
    'answers': ['month', 'service_name', 'question', 'answer', 'answers'],
    'counter': ['month', 'service_name', 'channel', 'origin', 'employee',
        'bookings', 'cancelled', 'no_shows', 'no_show_rate', 'calls',
        'waiting', 'duration', 'messages', 'delivered_rate', 'opened_rate'],
    }
EXPORT_MODELS = {
    'survey': 'balie.survey.statistics',
    'answers': 'balie.survey.statistics.answer',
    'counter': 'balie.appointment.statistics',
    }


def csv_file(header, rows):
    """CSV for a spreadsheet: UTF-8 with a byte order mark, and no cell
    that starts like a formula."""
    output = io.StringIO()
    writer = csv.writer(output, lineterminator='\r\n')
    writer.writerow([neutralise(h) for h in header])
    for row in rows:
        writer.writerow([neutralise(v) for v in row])
    return ('\ufeff' + output.getvalue()).encode('utf-8')


class ExportStart(ModelView):
    "Export Figures"
    __name__ = 'balie.survey.export.start'

    company = fields.Many2One('company.company', "Company", required=True)
    kind = fields.Selection(EXPORTS, "Figures", required=True)
    from_month = fields.Date("From", required=True)
    to_month = fields.Date("To", required=True,
        domain=[('to_month', '>=', Eval('from_month'))])

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def default_kind(cls):
        return 'survey'

    @classmethod
    def default_from_month(cls):
        return add_months(last_month(), -11)

    @classmethod
    def default_to_month(cls):
        return last_month()


class ExportResult(ModelView):
    "Export Figures"
    __name__ = 'balie.survey.export.result'

    file = fields.Binary("File", readonly=True, filename='filename')
    filename = fields.Char("File Name", readonly=True)


class Export(Wizard):
    "Export Figures"
    __name__ = 'balie.survey.export'
    start = StateView('balie.survey.export.start',
        'balie_survey.export_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Export", 'result', 'tryton-ok', default=True),
            ])
    result = StateView('balie.survey.export.result',
        'balie_survey.export_result_view_form', [
            Button("Close", 'end', 'tryton-close', default=True),
            ])

    def default_result(self, fields):
        start = self.start
        content = export_csv(start.kind, start.company,
            first_of_month(start.from_month), first_of_month(start.to_month))
        return {
            'file': content,
            'filename': '%s-%s-%s.csv' % (start.kind,
                first_of_month(start.from_month).strftime('%Y-%m'),
                first_of_month(start.to_month).strftime('%Y-%m')),
            }


def export_csv(kind, company, from_month, to_month):
    "The figures of a kind for the months, as a CSV file."
    pool = Pool()
    Model = pool.get(EXPORT_MODELS[kind])
    names = EXPORT_FIELDS[kind]
    records = Model.search([
            ('company', '=', company.id),
            ('month', '>=', from_month),
            ('month', '<=', to_month),
            ], order=[('month', 'ASC'), ('service', 'ASC NULLS FIRST'),
            ('id', 'ASC')])
    header = [Model._fields[n].string for n in names]
    rows = []
    for record in records:
        row = []
        for name in names:
            value = getattr(record, name)
            if isinstance(Model._fields[name], fields.Selection):
                value = getattr(record, name + '_string') or ''
            if hasattr(value, 'rec_name'):
                value = value.rec_name
            elif isinstance(value, dt.date):
                value = value.strftime('%Y-%m')
            elif isinstance(value, float):
                value = round(value, 2)
            elif value is None:
                value = ''
            row.append(value)
        rows.append(row)
    return csv_file(header, rows)
