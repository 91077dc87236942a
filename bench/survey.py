#!/usr/bin/env python3
# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Benchmark of the survey figures for managers (balie_survey) on
PostgreSQL: the monthly aggregates over 1,000,000 responses (prints
figures; not a test).

Setup (once per database; --reuse keeps it):
  * a database from template0 with balie_survey activated (and with it
    digitale_balie and balie_video), the default questionnaire of the
    module's data (4 smiley questions, 1 yes-or-no, 1 free text);
  * one company, --services services;
  * --responses anonymous responses spread evenly over the weeks of
    --months months, written with INSERT ... SELECT generate_series: the
    satisfaction 5/4/3/2/1 for 40/30/15/10/5 % (5 % unanswered),
    "would use again" yes for 80 % (10 % unanswered), the other smileys at
    random, a comment on one response in seven; one answer row per answered
    question (about 5.1 per response);
  * invitations for a response rate of 45 % (the answered ones and the
    others declined or expired), so the response rate reads 2.2 million
    invitation rows too;
  * VACUUM ANALYZE.

Every measurement runs --runs times, each in a transaction of its own as
the administrator with the context of an RPC call (record rules apply),
after one warm-up run; the median and the best are printed:
  * survey_all: balie.survey.statistics, every row (each service and all
    services, every month): the monthly aggregates over all responses and
    invitations -- the target;
  * survey_month, answers_month, comments_month: one month (what the
    client shows when the manager filters a month);
  * answers_all: balie.survey.statistics.answer, every month;
  * report: the monthly report's figures and charts (without the PDF).

The managers' figures read running totals (balie.survey.tally), kept in
the transaction of each invitation and answer; the rows above are inserted
with SQL, past the module, so the script first computes the totals with
balie.survey.tally.rebuild() (timed). It also prints, for comparison, the
same sums computed straight from the 3.2 million rows, and what recording a
response costs with the totals.

Lists read at most 1,000 rows, the client's page (sao's default limit).

Target: survey_all <= 1 s (median).

    .venv/bin/python bench/survey.py            # fresh database, dropped
    .venv/bin/python bench/survey.py --keep     # ... kept for --reuse
    .venv/bin/python bench/survey.py --reuse --runs 11
"""
import argparse
import datetime as dt
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

TARGET = 1.0
LIMIT = 1000
DEFAULT_DATABASE = 'balie_bench_survey'
FIELDS = {
    'balie.survey.statistics': ['month', 'service', 'invitations',
        'responses', 'responses_shown', 'response_rate', 'satisfaction',
        'use_again'],
    'balie.survey.statistics.answer': ['month', 'service', 'question',
        'value', 'choice', 'answers'],
    'balie.survey.statistics.comment': ['month', 'service', 'question',
        'text'],
    }


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--uri',
        default=os.environ.get('BENCH_DB_URI', benchlib.DEFAULT_URI))
    parser.add_argument('-d', '--database', default=DEFAULT_DATABASE)
    parser.add_argument('--reuse', action='store_true',
        help="reuse a populated database and keep it")
    parser.add_argument('--keep', action='store_true',
        help="keep a freshly created database")
    parser.add_argument('--responses', type=int, default=1_000_000)
    parser.add_argument('--months', type=int, default=24)
    parser.add_argument('--services', type=int, default=10)
    parser.add_argument('--runs', type=int, default=7)
    parser.add_argument('--seed', type=float, default=0.42,
        help="PostgreSQL setseed() value")
    return parser.parse_args(argv)


def setup(transaction, args):
    "The company and the services, through the ORM."
    from trytond.pool import Pool
    pool = Pool()
    Party = pool.get('party.party')
    Currency = pool.get('currency.currency')
    Company = pool.get('company.company')
    User = pool.get('res.user')
    Service = pool.get('balie.service')
    Survey = pool.get('balie.survey')
    euro, = Currency.create([{
                'name': 'Euro', 'code': 'EUR', 'symbol': '€'}])
    party, = Party.create([{'name': 'Gemeente Benchmark'}])
    company, = Company.create([{'party': party.id, 'currency': euro.id,
                'timezone': 'Europe/Brussels'}])
    admin, = User.search([('login', '=', 'admin')])
    User.write([admin], {
            'companies': [('add', [company.id])], 'company': company.id})
    with transaction.set_context(company=company.id):
        services = Service.create([{
                    'name': 'Dienst %02d' % (i + 1),
                    'code': 'S%02d' % (i + 1),
                    'company': company.id,
                    'duration': dt.timedelta(minutes=30),
                    'buffer': dt.timedelta(0),
                    'channels': ['video'],
                    } for i in range(args.services)])
    survey, = Survey.search([('default', '=', True)])
    questions = {q.role or (q.type if q.type == 'text' else 'smiley_%s'
            % q.id): q.id for q in survey.questions}
    return {
        'company': company.id,
        'services': [s.id for s in services],
        'survey': survey.id,
        'questions': questions,
        }


POPULATE = """
SELECT setseed(%(seed)s);
INSERT INTO balie_survey_response (id, create_uid, create_date, company,
    survey, service, channel, week, month, satisfaction, use_again)
SELECT g, 0, w.week, %(company)s, %(survey)s,
    (%(services)s::int[])[1 + g %% %(n_services)s], 'video', w.week,
    date_trunc('month', w.week + 3)::date,
    CASE WHEN s.r < 0.05 THEN NULL WHEN s.r < 0.45 THEN 5
        WHEN s.r < 0.75 THEN 4 WHEN s.r < 0.88 THEN 3
        WHEN s.r < 0.96 THEN 2 ELSE 1 END,
    CASE WHEN s.a < 0.10 THEN NULL WHEN s.a < 0.82 THEN 1 ELSE 0 END
FROM generate_series(1, %(responses)s) AS g,
    LATERAL (SELECT (%(first_monday)s::date
            + (g %% %(weeks)s) * 7) AS week) AS w,
    LATERAL (SELECT random() + g * 0 AS r, random() + g * 0 AS a) AS s;
SELECT setval('balie_survey_response_id_seq', %(responses)s);

INSERT INTO balie_survey_answer (create_uid, create_date, response,
    question, value, text, company, service, month)
SELECT 0, r.create_date, r.id, q.id,
    CASE q.kind WHEN 'satisfaction' THEN r.satisfaction
        WHEN 'use_again' THEN r.use_again
        WHEN 'smiley' THEN 1 + floor(random() * 5)::int END,
    CASE WHEN q.kind = 'text' THEN 'Opmerking ' || r.id END,
    r.company, r.service, r.month
FROM balie_survey_response AS r
JOIN (VALUES %(questions)s) AS q (id, kind)
    ON (q.kind = 'smiley'
        OR (q.kind = 'satisfaction' AND r.satisfaction IS NOT NULL)
        OR (q.kind = 'use_again' AND r.use_again IS NOT NULL)
        OR (q.kind = 'text' AND r.id %% 7 = 0));

INSERT INTO balie_survey_invitation (create_uid, create_date, company,
    service, survey, week, month, channel, state, offered_at, messaged)
SELECT 0, w.week, %(company)s,
    (%(services)s::int[])[1 + g %% %(n_services)s], %(survey)s,
    w.week, date_trunc('month', w.week + 3)::date,
    CASE WHEN g %% 10 = 0 THEN 'email' ELSE 'page' END,
    CASE WHEN g <= %(responses)s THEN 'answered'
        WHEN g %% 3 = 0 THEN 'declined' ELSE 'expired' END,
    w.week + interval '10 hours', g %% 10 = 0
FROM generate_series(1, %(invitations)s) AS g,
    LATERAL (SELECT (%(first_monday)s::date
            + (g %% %(weeks)s) * 7) AS week) AS w;
"""


def populate(args):
    started = time.monotonic()
    meta = benchlib.in_transaction(args.database, 0,
        lambda t: setup(t, args), commit=True)
    today = dt.date.today()
    first = dt.date(today.year - (args.months // 12), today.month, 1)
    first_monday = first + dt.timedelta(days=(7 - first.weekday()) % 7)
    weeks = max(1, (args.months * 365 // 12) // 7)
    kinds = []
    for key, id_ in meta['questions'].items():
        kind = 'smiley' if key.startswith('smiley_') else key
        kinds.append("(%d, '%s')" % (id_, kind))
    params = {
        'seed': args.seed,
        'company': meta['company'],
        'survey': meta['survey'],
        'services': meta['services'],
        'n_services': len(meta['services']),
        'responses': args.responses,
        'invitations': int(args.responses / 0.45),
        'first_monday': first_monday,
        'weeks': weeks,
        }
    sql = POPULATE.replace('%(questions)s', ', '.join(kinds))
    with benchlib._admin_connection(args.uri, args.database,
            autocommit=False) as conn:
        for statement in [s for s in sql.split(';\n') if s.strip()]:
            conn.execute(statement, params)
        conn.execute('CREATE TABLE bench_meta (data text)')
        import json
        conn.execute('INSERT INTO bench_meta VALUES (%s)',
            (json.dumps(meta),))
        conn.commit()
    with benchlib._admin_connection(args.uri, args.database) as conn:
        conn.execute('VACUUM ANALYZE')
        counts = {t: conn.execute(f'SELECT count(*) FROM {t}').fetchone()[0]
            for t in ['balie_survey_response', 'balie_survey_answer',
                'balie_survey_invitation']}
    print(f"populated in {time.monotonic() - started:.1f} s: "
        + ', '.join(f'{v:,} {k}' for k, v in counts.items()))
    return meta


def rebuild(args):
    """The rows were inserted with SQL, past the module: compute its
    running totals (balie.survey.tally.rebuild, what a module update after
    an import would do)."""
    from trytond.pool import Pool
    started = time.monotonic()

    def body(transaction):
        Pool().get('balie.survey.tally').rebuild()
    benchlib.in_transaction(args.database, 0, body, commit=True)
    with benchlib._admin_connection(args.uri, args.database) as conn:
        conn.execute('ANALYZE balie_survey_tally')
        conn.execute('ANALYZE balie_survey_answer_tally')
        rows = [conn.execute(f'SELECT count(*) FROM {t}').fetchone()[0]
            for t in ['balie_survey_tally', 'balie_survey_answer_tally']]
    print(f"running totals rebuilt in {time.monotonic() - started:.1f} s "
        f"({rows[0]:,} + {rows[1]:,} rows)")


ON_THE_FLY = """
SELECT company, service, month, sum(invitations), sum(answered),
    sum(responses), sum(sat_sum), sum(sat_n), sum(again_yes), sum(again_n)
FROM (
    SELECT company, service, month, 0 AS invitations, 0 AS answered,
        count(*) AS responses, sum(coalesce(satisfaction, 0)) AS sat_sum,
        count(satisfaction) AS sat_n, sum(coalesce(use_again, 0))
        AS again_yes, count(use_again) AS again_n
    FROM balie_survey_response GROUP BY company, service, month
    UNION ALL
    SELECT company, service, month, count(*),
        sum(CASE WHEN state = 'answered' THEN 1 ELSE 0 END), 0, 0, 0, 0, 0
    FROM balie_survey_invitation GROUP BY company, service, month) AS u
GROUP BY company, service, month
"""


def on_the_fly(args, runs=3):
    "For comparison: the same sums straight from the 3.2 million rows."
    times = []
    with benchlib._admin_connection(args.uri, args.database) as conn:
        for _ in range(runs):
            started = time.perf_counter()
            conn.execute(ON_THE_FLY).fetchall()
            times.append(time.perf_counter() - started)
    return times


def read_meta(args):
    import json
    with benchlib._admin_connection(args.uri, args.database) as conn:
        if not conn.execute(
                "SELECT to_regclass('bench_meta')").fetchone()[0]:
            return None
        row = conn.execute('SELECT data FROM bench_meta').fetchone()
    return json.loads(row[0]) if row else None


def rpc_context(database):
    "What a JSON-RPC call of the administrator gets as context."
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    with Transaction().start(database, 0, readonly=True):
        User = Pool().get('res.user')
        admin, = User.search([('login', '=', 'admin')])
        with Transaction().set_user(admin.id):
            context = User.get_preferences(context_only=True)
        return admin.id, context


def measure(args, meta):
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    user, context = rpc_context(args.database)
    context = dict(context, _check_access=True)
    month = dt.date.today().replace(day=1)
    month = (month - dt.timedelta(days=1)).replace(day=1)

    def search_read(model, domain):
        def run():
            # at most the client's page of rows (sao's default limit):
            # trytond's browse() is quadratic in the number of records
            Model = Pool().get(model)
            return len(Model.search_read(domain, limit=LIMIT,
                    fields_names=FIELDS[model]))
        return run

    def report():
        pool = Pool()
        Report = pool.get('balie.survey.report.monthly', type='report')
        Company = pool.get('company.company')
        figures = Report.figures(Company(meta['company']), month, 'nl')
        return len(figures['survey_services'])

    cases = [
        ('survey_all', search_read('balie.survey.statistics', [])),
        ('survey_month', search_read('balie.survey.statistics',
                [('month', '=', month)])),
        ('answers_month', search_read('balie.survey.statistics.answer',
                [('month', '=', month)])),
        ('comments_month', search_read('balie.survey.statistics.comment',
                [('month', '=', month)])),
        ('answers_all', search_read('balie.survey.statistics.answer', [])),
        ('report', report),
        ]
    results = {}
    print(f"\n{'case':<16}{'rows':>7}{'median':>10}{'best':>10}"
        f"{'worst':>10}   (seconds, {args.runs} runs)")
    for name, func in cases:
        times = []
        rows = None
        for i in range(args.runs + 1):
            with Transaction().start(args.database, user, readonly=True,
                    context=context):
                started = time.perf_counter()
                rows = func()
                elapsed = time.perf_counter() - started
            if i:  # the first run warms the caches
                times.append(elapsed)
        results[name] = times
        print(f"{name:<16}{rows:>7}{statistics.median(times):>10.3f}"
            f"{min(times):>10.3f}{max(times):>10.3f}")
        sys.stdout.flush()
    return results


def writes(args, meta, count=200):
    """What keeping the running totals costs an answer: Response.record
    (6 answers, the totals' UPDATEs) and commit, one transaction each."""
    from trytond.pool import Pool
    times = []
    week = dt.date.today() - dt.timedelta(days=dt.date.today().weekday())

    def body(transaction):
        pool = Pool()
        Response = pool.get('balie.survey.response')
        Survey = pool.get('balie.survey')
        Service = pool.get('balie.service')
        Company = pool.get('company.company')
        survey = Survey(meta['survey'])
        questions = {q.role or q.type: q for q in survey.questions}
        smileys = [q for q in survey.questions
            if q.type == 'smiley' and not q.role]
        answers = [{'question': questions['satisfaction'], 'value': 4},
            {'question': questions['use_again'], 'value': 1},
            {'question': questions['text'], 'text': 'Vlot geholpen'}]
        answers += [{'question': q, 'value': 5} for q in smileys]
        started = time.perf_counter()
        Response.record(survey=survey, company=Company(meta['company']),
            service=Service(meta['services'][0]), channel='video',
            week=week, answers=answers)
        transaction.commit()
        times.append(time.perf_counter() - started)
    for _ in range(count):
        benchlib.in_transaction(args.database, 0, body)
    return times


def explain(args):
    "The plan of the aggregate the target is about."
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    with Transaction().start(args.database, 0, readonly=True):
        Statistics = Pool().get('balie.survey.statistics')
        query = Statistics.table_query()
        sql, params = tuple(query)
        cursor = Transaction().connection.cursor()
        cursor.execute('EXPLAIN (ANALYZE, BUFFERS OFF) ' + sql, params)
        lines = [r[0] for r in cursor]
    print("\nplan of balie.survey.statistics (top lines):")
    for line in lines[:12]:
        print('  ' + line)
    print('  ' + lines[-1])


def main(argv=None):
    args = parse_args(argv)
    benchlib.configure(args.uri)
    benchlib.print_header('balie_survey: monthly figures', args)
    created = False
    if args.reuse and benchlib.database_exists(args.uri, args.database):
        from trytond.pool import Pool
        # like trytond-admin -u balie_survey: the module as it is now
        Pool(args.database).init(update=['balie_survey'], lang=['en'])
        # populated by an earlier run, or only created (and activated)
        meta = read_meta(args) or populate(args)
        rebuild(args)
    else:
        if benchlib.database_exists(args.uri, args.database):
            benchlib.drop_database(args.uri, args.database)
        started = time.monotonic()
        benchlib.create_database(args.uri, args.database,
            modules=['balie_survey'])
        created = True
        print(f"database created and balie_survey activated in "
            f"{time.monotonic() - started:.1f} s")
        meta = populate(args)
        rebuild(args)
    try:
        results = measure(args, meta)
        explain(args)
        written = writes(args, meta)
        print(f"\nrecording a response (6 answers, running totals, commit): "
            f"median {statistics.median(written) * 1000:.1f} ms, "
            f"p95 {sorted(written)[int(len(written) * 0.95)] * 1000:.1f} ms "
            f"({len(written)} responses, one after the other)")
        fly = on_the_fly(args)
        print(f"\nfor comparison, the same sums computed from the responses "
            f"and invitations in one SQL query: median "
            f"{statistics.median(fly):.3f} s")
    finally:
        if created and not (args.keep or args.reuse):
            benchlib.drop_database(args.uri, args.database)
    figure = statistics.median(results['survey_all'])
    verdict = 'PASS' if figure <= TARGET else 'FAIL'
    print(f"\nsurvey_all (every month, every service, "
        f"{args.responses:,} responses): median {figure:.3f} s, "
        f"target <= {TARGET:.1f} s: {verdict}")
    return 0 if verdict == 'PASS' else 1


if __name__ == '__main__':
    sys.exit(main())
