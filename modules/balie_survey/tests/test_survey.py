# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The survey after the call: the citizen's pages through trytond's WSGI
application, the invitation by message through the outbox (a real SMTP
server), the anonymity of the responses, the rule of five, escaping, CSV
and retention, on a database of its own with committed data."""
import csv
import datetime as dt
import io
import re

from werkzeug.test import Client

from trytond import backend
from trytond.pool import Pool
from trytond.transaction import Transaction
from trytond.wsgi import app

from balie_video.tests.test_video import JITSI
from digitale_balie.tests.browser import ARTIFACTS

from balie_survey.report import export_csv
from balie_survey.response import mask_personal_data
from balie_survey.statistics import neutralise
from digitale_balie.tests.tools import BASE, OutboxCase, START, csrf_of

INVITE = "Wilt u ons helpen met een paar korte vragen? Het is vrijwillig."
MONDAY = dt.date(2026, 12, 7)  # the Monday of START's week
DECEMBER = dt.date(2026, 12, 1)
# what may identify the one who answered: nothing of a response leads here
PERSONAL = {'party.party', 'balie.appointment', 'balie.dossier',
    'balie.dossier.event', 'balie.survey.invitation', 'balie.access.token',
    'balie.message', 'balie.portal.session', 'balie.video.room',
    'balie.video.presence', 'balie.video.device_check', 'balie.call.figure',
    'party.contact_mechanism', 'company.employee', 'res.user'}


class SurveyTestCase(OutboxCase):
    "The survey after the call"
    slow = True  # scheduled first (conftest.py)
    modules = ['balie_survey']
    languages = ('nl', 'fr')

    def setUp(self):
        super().setUp()
        self.serve_portal()
        # the invitations of earlier tests are not this test's business
        with self.transaction():
            Invitation = Pool().get('balie.survey.invitation')
            Invitation.write(Invitation.search([
                        ('state', '=', 'offered')]), {'state': 'expired'})

    # -- helpers ---------------------------------------------------------

    def video(self, name="Maria Janssens", start=START, notify_by='email',
            **configuration):
        if not getattr(self, 'service', None):
            self.company, self.employees, self.service = self.setup_balie(
                **JITSI, **configuration)
        return self.book(self.service, start, notify_by=notify_by, name=name)

    def configure(self, **values):
        with self.transaction(_lock_tables=['balie_configuration']):
            Configuration = Pool().get('balie.configuration')
            Configuration.write([Configuration(1)], values)

    def call(self, appointment, minutes=25):
        "The clerk starts the call, then ends it with the wizard."
        self.clock.now = START - dt.timedelta(minutes=1)
        with self.transaction():
            Appointment = Pool().get('balie.appointment')
            Appointment.start_call([Appointment(appointment)])
        self.clock.now += dt.timedelta(minutes=minutes)
        with self.transaction():
            EndCall = Pool().get('balie.video.end_call', type='wizard')
            session_id, _, _ = EndCall.create()
            with Transaction().set_context(active_model='balie.appointment',
                    active_id=appointment, active_ids=[appointment]):
                EndCall.execute(session_id, {}, 'start')
                EndCall.execute(session_id, {'start': {
                            'next_steps': "U krijgt een brief.",
                            'send_to_citizen': False,
                            'follow_up': False}}, 'close')

    def invitation(self, appointment):
        with self.transaction():
            Invitation = Pool().get('balie.survey.invitation')
            invitation, = Invitation.search(
                [('appointment', '=', appointment)])
            return {f: getattr(invitation, f) for f in [
                    'id', 'state', 'channel', 'messaged', 'expires_at',
                    'week', 'month', 'write_date', 'create_date']}

    def responses(self):
        with self.transaction():
            Response = Pool().get('balie.survey.response')
            return [{
                    'service': r.service.id, 'channel': r.channel,
                    'week': r.week, 'month': r.month,
                    'satisfaction': r.satisfaction, 'use_again': r.use_again,
                    'create_date': r.create_date, 'create_uid': r.create_uid,
                    'answers': sorted((a.question.type, a.value, a.text)
                        for a in r.answers),
                    } for r in Response.search(
                    [('company', '=', self.company)], order=[('id', 'ASC')])]

    def questions(self):
        with self.transaction():
            Invitation = Pool().get('balie.survey.invitation')
            survey = Invitation.search([
                    ('company', '=', self.company)], limit=1)[0].survey
            return {q.type if q.role is None else q.role: q.id
                for q in survey.portal_questions()
                if q.type == 'text' or q.role
                or q.text.startswith('Was it easy')}

    def post(self, client, path, data=None, csrf=None):
        data = dict(data or {})
        if csrf is not None:
            data['csrf'] = csrf
        return client.post(path, base_url=BASE, data=data)

    def page(self, client, path):
        response = client.get(path, base_url=BASE)
        return response.status_code, response.get_data(as_text=True)

    # -- the citizen's side -------------------------------------------------

    def test_after_the_call_the_citizen_is_invited_and_answers(self):
        "Test the dialog after the call, the form, one answer only"
        appointment = self.video()
        client = self.open(appointment)
        status, html = self.page(client, '/balie/einde')
        self.assertNotIn(INVITE, html)  # no call yet: no invitation

        self.call(appointment)
        invitation = self.invitation(appointment)
        self.assertEqual((invitation['state'], invitation['channel']),
            ('offered', 'page'))
        self.assertEqual(invitation['week'], MONDAY)
        status, html = self.page(client, '/balie/einde')
        self.assertEqual(status, 200)
        self.assertIn(INVITE, html)
        self.assertIn('<dialog', html)
        self.assertIn('aria-labelledby="survey-invite-title"', html)
        self.assertIn('>Ja, graag<', html)
        self.assertIn('Nee, bedankt', html)
        csrf = csrf_of(html)
        # the personal page offers the survey too
        self.assertIn('href="/balie/enquete"', self.page(client, '/balie')[1])

        status, html = self.page(client, '/balie/enquete')
        self.assertEqual(status, 200)
        self.assertIn('Hoe tevreden bent u over het videogesprek?', html)
        self.assertIn('Heel goed', html)
        self.assertIn('Wat kan beter?', html)
        self.assertEqual(len(re.findall(r'<fieldset', html)), 5)
        self.assertEqual(html.count('type="radio"'), 4 * 5 + 2)

        # without the form token: refused, nothing stored
        refused = self.post(client, '/balie/enquete', {'q1': '5'})
        self.assertEqual(refused.status_code, 403)
        # nothing answered: the form again, with a message
        ids = self.questions()
        empty = self.post(client, '/balie/enquete',
            {'q%s' % ids['text']: '   '}, csrf=csrf)
        self.assertEqual(empty.status_code, 422)
        self.assertIn('nog geen vraag beantwoord', empty.get_data(
                as_text=True))
        self.assertEqual(self.responses(), [])

        text = '<script>alert(1)</script> Bel mij: 0470 12 34 56'
        answer = self.post(client, '/balie/enquete', {
                'q%s' % ids['satisfaction']: '4',
                'q%s' % ids['smiley']: '9',  # not offered: ignored
                'q%s' % ids['use_again']: 'yes',
                'q%s' % ids['text']: text,
                }, csrf=csrf)
        self.assertEqual(answer.status_code, 303)
        self.assertTrue(answer.headers['Location'].endswith(
                '/balie/enquete/klaar'))
        self.assertIn('Bedankt voor uw antwoorden',
            self.page(client, '/balie/enquete/klaar')[1])
        response, = self.responses()
        self.assertEqual(response['satisfaction'], 4)
        self.assertEqual(response['use_again'], 1)
        self.assertEqual((response['channel'], response['week'],
                response['month']), ('video', MONDAY, DECEMBER))
        self.assertIn(('text', None,
                '<script>alert(1)</script> Bel mij: […]'),
            response['answers'])
        self.assertEqual(len(response['answers']), 3)
        self.assertEqual(self.invitation(appointment)['state'], 'answered')

        # one answer per invitation
        again = self.post(client, '/balie/enquete',
            {'q%s' % ids['satisfaction']: '1'}, csrf=csrf)
        self.assertEqual(again.status_code, 200)
        self.assertIn('Bedankt', again.get_data(as_text=True))
        self.assertEqual(len(self.responses()), 1)
        status, html = self.page(client, '/balie/einde')
        self.assertNotIn(INVITE, html)
        self.assertIn('Bedankt voor uw antwoorden', html)

    def test_declining_ends_cleanly(self):
        "Test 'No, thanks': recorded as declined, no message follows"
        appointment = self.video()
        self.configure(survey_message='email')
        client = self.open(appointment)
        self.call(appointment)
        csrf = csrf_of(self.page(client, '/balie/einde')[1])
        response = self.post(client, '/balie/enquete/nee', csrf=csrf)
        self.assertEqual(response.status_code, 303)
        status, html = self.page(client, '/balie/enquete/klaar')
        self.assertIn('Geen probleem', html)
        self.assertEqual(self.invitation(appointment)['state'], 'declined')
        self.assertNotIn(INVITE, self.page(client, '/balie/einde')[1])
        self.assertNotIn('href="/balie/enquete"',
            self.page(client, '/balie')[1])
        self.clock.now += dt.timedelta(hours=3)
        with self.transaction():
            Invitation = Pool().get('balie.survey.invitation')
            Invitation.send_invitations()
        self.assertEqual(self.messages(appointment, kind='survey'), [])
        self.assertEqual(self.responses(), [])
        self.configure(survey_message=None)

    def test_preview_records_nothing(self):
        "Test that the clerk's preview of the survey stores nothing"
        appointment = self.video()
        self.call(appointment)
        client = self.open(appointment, purpose='preview')
        status, html = self.page(client, '/balie/enquete')
        ids = self.questions()
        answer = self.post(client, '/balie/enquete',
            {'q%s' % ids['satisfaction']: '5'}, csrf=csrf_of(html))
        self.assertIn('Voorbeeld', answer.get_data(as_text=True))
        self.post(client, '/balie/enquete/nee', csrf=csrf_of(html))
        self.assertEqual(self.invitation(appointment)['state'], 'offered')
        self.assertEqual(self.responses(), [])

    def test_no_survey_when_switched_off(self):
        "Test that the administrator can switch the survey off"
        appointment = self.video()
        self.configure(survey_after_call=False)
        try:
            client = self.open(appointment)
            self.call(appointment)
            self.assertNotIn(INVITE, self.page(client, '/balie/einde')[1])
            self.assertEqual(self.page(client, '/balie/enquete')[0], 404)
        finally:
            self.configure(survey_after_call=True)

    # -- the invitation by message --------------------------------------------

    def test_closed_page_gets_one_message_with_its_own_link(self):
        "Test the invitation by e-mail: once, own link, opened, expires"
        appointment = self.video()
        self.call(appointment)
        ended = self.clock.now
        with self.transaction():
            Invitation = Pool().get('balie.survey.invitation')
            # off by default
            self.clock.now = ended + dt.timedelta(hours=2)
            self.assertEqual(Invitation.send_invitations(), [])
        self.configure(survey_message='email', survey_link_days=7)
        self.addCleanup(self.configure, survey_message=None)
        with self.transaction():
            Invitation = Pool().get('balie.survey.invitation')
            self.clock.now = ended + dt.timedelta(minutes=30)
            self.assertEqual(Invitation.send_invitations(), [])
            self.clock.now = ended + dt.timedelta(hours=2)
            self.assertEqual(len(Invitation.send_invitations()), 1)
        with self.transaction():
            # at most one
            self.assertEqual(
                Pool().get('balie.survey.invitation').send_invitations(), [])
        message, = self.messages(appointment, kind='survey')
        self.assertEqual(message['channel'], 'email')
        invitation = self.invitation(appointment)
        self.assertEqual((invitation['channel'], invitation['messaged']),
            ('email', True))
        self.assertEqual(invitation['expires_at'],
            ended + dt.timedelta(hours=2, days=7))
        self.dispatch()
        mail, = [m for m in self.mailbox.messages
            if 'korte vragen' in m['Subject']]
        plain = mail.get_body(('plain',)).get_content()
        self.assertIn('Maria', plain)
        self.assertIn('vrijwillig', plain)
        link = re.search(r'https://balie\.voorbeeld\.example/e/(\S+)',
            plain).group(1)
        # the database keeps no usable link
        self.assertNotIn(link, message['body'])

        client = Client(app)
        response = client.get('/e/%s' % link, base_url=BASE)
        self.assertEqual(response.status_code, 303)
        self.assertTrue(response.headers['Location'].endswith(
                '/balie/enquete'))
        message, = self.messages(appointment, kind='survey')
        self.assertEqual(message['state'], 'opened')
        status, html = self.page(client, '/balie/enquete')
        self.assertEqual(status, 200)
        ids = self.questions()
        answer = self.post(client, '/balie/enquete',
            {'q%s' % ids['satisfaction']: '5'}, csrf=csrf_of(html))
        self.assertEqual(answer.status_code, 303)
        self.assertEqual(len(self.responses()), 1)
        # the personal-page link is no survey link, and back again
        self.assertEqual(Client(app).get('/e/%s' % ('x' * 28),
                base_url=BASE).status_code, 404)
        # after the days of the link it no longer works
        self.clock.now = ended + dt.timedelta(days=8)
        self.assertEqual(Client(app).get('/e/%s' % link,
                base_url=BASE).status_code, 404)

    def test_unanswered_link_expires(self):
        "Test that an unanswered invitation by SMS expires"
        appointment = self.video(notify_by='sms')
        self.call(appointment)
        self.configure(survey_message='preferred', survey_link_days=3)
        self.addCleanup(self.configure, survey_message=None)
        self.clock.now += dt.timedelta(hours=2)
        with self.transaction():
            Invitation = Pool().get('balie.survey.invitation')
            Invitation.send_invitations()
        message, = self.messages(appointment, kind='survey')
        self.assertEqual(message['channel'], 'sms')
        self.dispatch()
        sms, = [s for s in self.gateway.messages
            if 'korte vragen' in s['text']]
        self.assertIn('https://balie.voorbeeld.example/e/', sms['text'])
        self.clock.now += dt.timedelta(days=4)
        with self.transaction():
            Pool().get('balie.survey.invitation').clean_up()
        self.assertEqual(self.invitation(appointment)['state'], 'expired')

    # -- anonymity ----------------------------------------------------------

    def test_no_join_path_from_a_response_to_a_person(self):
        "Test that no column or relation leads from a response to a person"
        with self.transaction():
            pool = Pool()
            Response = pool.get('balie.survey.response')
            Answer = pool.get('balie.survey.answer')
            shared = {'company.company', 'balie.service', 'balie.survey',
                'balie.survey.question', 'balie.survey.question.choice'}
            own = {'balie.survey.response', 'balie.survey.answer'}
            for Model in [Response, Answer]:
                for name, field in Model._fields.items():
                    target = getattr(field, 'model_name', None)
                    if name in {'create_uid', 'write_uid'}:
                        continue
                    if target:
                        self.assertIn(target, shared | own,
                            '%s.%s' % (Model.__name__, name))
            self.assertEqual(set(Response._fields) - {
                    'id', 'create_uid', 'create_date', 'write_uid',
                    'write_date', 'rec_name', 'xml_id',
                    'last_modified_at'}, {
                    'company', 'survey', 'service', 'channel', 'week',
                    'month', 'satisfaction', 'use_again', 'answers'})
            # the columns in the database are just these
            cursor = Transaction().connection.cursor()
            cursor.execute('SELECT * FROM balie_survey_response WHERE 1 = 0')
            self.assertEqual({c[0] for c in cursor.description}, {
                    'id', 'create_uid', 'create_date', 'write_uid',
                    'write_date', 'company', 'survey', 'service', 'channel',
                    'week', 'month', 'satisfaction', 'use_again'})
            # and nothing points at a response but its answers; what it
            # points at (company, service, questions) points at no response
            for name, Model in pool.iterobject():
                if name in own:
                    continue
                for fname, field in getattr(Model, '_fields', {}).items():
                    self.assertNotIn(getattr(field, 'model_name', None), own,
                        '%s.%s' % (name, fname))

        appointment = self.video()
        client = self.open(appointment)
        self.call(appointment)
        before = self.invitation(appointment)
        html = self.page(client, '/balie/enquete')[1]
        ids = self.questions()
        self.clock.now += dt.timedelta(hours=1)
        self.post(client, '/balie/enquete',
            {'q%s' % ids['satisfaction']: '3'}, csrf=csrf_of(html))
        after = self.invitation(appointment)
        response, = self.responses()
        # no moment finer than the week: not on the response, and not on
        # the invitation (it keeps the time of the end of the call)
        self.assertEqual(response['create_date'],
            dt.datetime.combine(MONDAY, dt.time()))
        self.assertEqual(response['create_uid'].id, 0)
        self.assertEqual(after['state'], 'answered')
        self.assertEqual(after['write_date'], before['write_date'])

    def user(self, login, group):
        with self.transaction():
            pool = Pool()
            User = pool.get('res.user')
            ModelData = pool.get('ir.model.data')
            group_id = ModelData.get_id('digitale_balie', group)
            user, = User.create([{
                        'name': login,
                        'login': '%s-%s' % (login, self.company),
                        'groups': [('add', [group_id])],
                        'companies': [('add', [self.company])],
                        'company': self.company,
                        }])
            return user.id

    def test_who_may_read_what(self):
        "Test the clerk ends the call, managers read figures, nobody answers"
        from trytond.exceptions import UserError
        from digitale_balie.tests.tools import as_user
        appointment = self.video()
        self.add_responses(self.service, 5, text="Vlot")
        clerk = self.user('clerk', 'group_balie_clerk')
        manager = self.user('manager', 'group_balie_manager')
        self.clock.now = START - dt.timedelta(minutes=1)
        with self.transaction():
            Appointment = Pool().get('balie.appointment')
            Appointment.start_call([Appointment(appointment)])
        self.clock.now += dt.timedelta(minutes=20)
        with self.transaction():
            pool = Pool()
            User = pool.get('res.user')
            EndCall = pool.get('balie.video.end_call', type='wizard')
            # as over RPC: the wizard's access is checked, its transitions
            # run as the clerk without further checks (trytond's Wizard)
            with Transaction().set_user(clerk), Transaction().set_context(
                    User.get_preferences(context_only=True),
                    active_model='balie.appointment',
                    active_id=appointment, active_ids=[appointment]):
                session_id, _, _ = EndCall.create()
                EndCall.execute(session_id, {}, 'start')
                EndCall.execute(session_id, {'start': {
                            'next_steps': "Klaar.", 'send_to_citizen': False,
                            'follow_up': False}}, 'close')
            with as_user(User(clerk)):
                Statistics = pool.get('balie.survey.statistics')
                with self.assertRaises(UserError):
                    Statistics.search([])
        self.assertEqual(self.invitation(appointment)['state'], 'offered')
        with self.transaction():
            pool = Pool()
            User = pool.get('res.user')
            with as_user(User(manager)):
                for name in ['balie.survey.statistics',
                        'balie.survey.statistics.answer',
                        'balie.survey.statistics.comment',
                        'balie.appointment.statistics']:
                    self.assertTrue(pool.get(name).search_read([], limit=5,
                            fields_names=['month', 'service']), name)
                for name in ['balie.survey.response', 'balie.survey.answer',
                        'balie.survey.invitation']:
                    with self.assertRaises(UserError, msg=name):
                        pool.get(name).search([])

    def test_free_text_is_masked(self):
        "Test that e-mail addresses and long numbers leave the free text"
        self.assertEqual(mask_personal_data(
                "Mail jan.peeters@example.be of bel 0470/12.34.56, "
                "rijksregister 85.07.30-033.61. Wacht 10 min."),
            "Mail […] of bel […], rijksregister […]. Wacht 10 min.")

    # -- figures for managers -----------------------------------------------

    def add_responses(self, service, count, month=DECEMBER, text=None,
            satisfaction=4):
        with self.transaction():
            pool = Pool()
            Response = pool.get('balie.survey.response')
            Survey = pool.get('balie.survey')
            Service = pool.get('balie.service')
            survey, = Survey.search([('default', '=', True)])
            questions = {q.role or q.type: q for q in survey.questions}
            week = month + dt.timedelta(days=(7 - month.weekday()) % 7)
            service = Service(service)
            for i in range(count):
                answers = [
                    {'question': questions['satisfaction'],
                        'value': satisfaction},
                    {'question': questions['use_again'], 'value': i % 2},
                    ]
                if text:
                    answers.append({'question': questions['text'],
                            'text': text})
                Response.record(survey=survey, company=service.company,
                    service=service, channel='video', week=week,
                    answers=answers)

    def new_service(self, name):
        with self.transaction():
            Service = Pool().get('balie.service')
            service, = Service.copy([Service(self.service)],
                default={'name': name, 'code': name.upper()[:8]})
            return service.id

    def statistics(self, month=DECEMBER):
        with self.transaction():
            Statistics = Pool().get('balie.survey.statistics')
            return {(r.service.name if r.service else None): {
                    'responses': r.responses, 'shown': r.responses_shown,
                    'satisfaction': r.satisfaction, 'hidden': r.hidden,
                    'use_again': r.use_again}
                for r in Statistics.search([('month', '=', month),
                        ('company', '=', self.company)])}

    def test_breakdowns_under_five_are_hidden(self):
        "Test the rule of five, also against subtracting from the total"
        self.video()
        big = self.service
        small = self.new_service("Parkeerkaart")
        self.add_responses(big, 5, text="Meer uitleg vooraf")
        self.add_responses(small, 4, text="Geheim van de kleine dienst",
            satisfaction=1)
        figures = self.statistics()
        self.assertEqual(figures['Parkeerkaart'], {'responses': None,
                'shown': '< 5', 'satisfaction': None, 'hidden': True,
                'use_again': None})
        self.assertEqual(figures['Mantelzorgpremie aanvragen']['responses'],
            5)
        self.assertEqual(figures['Mantelzorgpremie aanvragen'][
                'satisfaction'], 4.0)
        self.assertEqual(figures['Mantelzorgpremie aanvragen'][
                'use_again'], 40.0)
        # the 4 hidden ones do not count in the total either
        self.assertEqual(figures[None]['responses'], 5)
        self.assertEqual(figures[None]['satisfaction'], 4.0)
        with self.transaction():
            pool = Pool()
            Answer = pool.get('balie.survey.statistics.answer')
            Comment = pool.get('balie.survey.statistics.comment')
            mine = [('company', '=', self.company)]
            self.assertEqual({r.service.id if r.service else None
                    for r in Answer.search(mine)}, {big, None})
            self.assertEqual(sum(r.answers for r in Answer.search(mine + [
                            ('service', '=', None),
                            ('question.role', '=', 'satisfaction')])), 5)
            self.assertEqual([c.text for c in Comment.search(mine)],
                ["Meer uitleg vooraf"] * 5)

        # a third small service: the hidden ones are 5+ together, so the
        # total counts them (no single one can be found by subtraction)
        other = self.new_service("Afvalkalender")
        self.add_responses(other, 1, satisfaction=1)
        figures = self.statistics()
        self.assertTrue(figures['Afvalkalender']['hidden'])
        self.assertEqual(figures[None]['responses'], 10)
        self.assertEqual(figures[None]['satisfaction'], 2.5)

        # the running totals are what a recount gives
        with self.transaction():
            Pool().get('balie.survey.tally').rebuild()
        self.assertEqual(self.statistics(), figures)
        with self.transaction():
            Answer = Pool().get('balie.survey.statistics.answer')
            self.assertEqual(sum(r.answers for r in Answer.search([
                            ('company', '=', self.company),
                            ('service', '=', None)])), 20)

        # the report says "< 5" and shows no comment of a hidden service
        html = self.report_html(DECEMBER)
        self.assertIn('Parkeerkaart', html)
        self.assertIn('&lt; 5', html)
        self.assertIn('Meer uitleg vooraf', html)
        self.assertNotIn('Geheim van de kleine dienst', html)

    def report_html(self, month):
        with self.transaction():
            pool = Pool()
            Report = pool.get('balie.survey.report.monthly', type='report')
            ActionReport = pool.get('ir.action.report')
            action, = ActionReport.search([
                    ('report_name', '=', 'balie.survey.report.monthly')])
            data = {'company': self.company, 'month': month.isoformat()}
            context = Report.get_context([], {}, data)
            content = Report.render(action, context)
            return content.decode() if isinstance(content, bytes) \
                else content

    def test_free_text_is_escaped_and_csv_neutralised(self):
        "Test escaping in the report and formulas in the CSV export"
        self.video()
        evil = self.new_service("=HYPERLINK(\"http://x\")")
        self.add_responses(evil, 5,
            text='<img src=x onerror=alert(1)> & "quotes"')
        html = self.report_html(DECEMBER)
        self.assertNotIn('<img src=x', html)
        self.assertIn('&lt;img src=x onerror=alert(1)&gt; &amp;', html)
        with self.transaction():
            pool = Pool()
            Company = pool.get('company.company')
            Statistics = pool.get('balie.survey.statistics')
            content = export_csv('survey', Company(self.company),
                DECEMBER, DECEMBER)
            rows = list(csv.reader(io.StringIO(content.decode('utf-8-sig'))))
            exported = Statistics.export_data(
                Statistics.search([('service', '=', evil)]),
                ['service_name', 'responses'])
        self.assertEqual(rows[0][:2], ["Month", "Service"])
        cells = [row[1] for row in rows[1:]]
        self.assertIn("'=HYPERLINK(\"http://x\")", cells)
        self.assertFalse(any(c.startswith(('=', '+', '-', '@'))
                for row in rows for c in row))
        self.assertEqual(exported, [["'=HYPERLINK(\"http://x\")", 5]])
        for value, expected in [('+1', "'+1"), ('-2+3', "'-2+3"),
                ('@SUM(A1)', "'@SUM(A1)"), ('Gewoon', 'Gewoon'), (-2, -2),
                ('\t=1', "'\t=1")]:
            self.assertEqual(neutralise(value), expected)

    def test_retention_deletes_free_text_keeps_scores(self):
        "Test that free text goes after the configured months"
        self.video()
        self.add_responses(self.service, 5, text="Oud commentaar",
            month=dt.date(2025, 10, 1))
        self.add_responses(self.service, 5, text="Recent commentaar")
        self.configure(survey_text_months=12)
        self.clock.now = dt.datetime(2026, 10, 15, 8)
        with self.transaction():
            Response = Pool().get('balie.survey.response')
            self.assertEqual(Response.clean_up(), 0)
        self.clock.now = dt.datetime(2026, 11, 2, 8)
        with self.transaction():
            Response = Pool().get('balie.survey.response')
            self.assertEqual(Response.clean_up(), 5)
        texts = [a[2] for r in self.responses() for a in r['answers']
            if a[0] == 'text']
        self.assertEqual(texts, [None] * 5 + ["Recent commentaar"] * 5)
        self.assertEqual([r['satisfaction'] for r in self.responses()],
            [4] * 10)
        old = self.statistics(dt.date(2025, 10, 1))
        self.assertEqual(old[None]['satisfaction'], 4.0)

    def test_invitations_lose_the_appointment_after_retention(self):
        "Test that old invitations keep only what the response rate needs"
        appointment = self.video()
        self.call(appointment)
        self.clock.now += dt.timedelta(days=31)
        with self.transaction():
            Invitation = Pool().get('balie.survey.invitation')
            Invitation.clean_up()
            invitation, = Invitation.search([
                    ('company', '=', self.company)])
            self.assertIsNone(invitation.appointment)
            self.assertEqual(invitation.state, 'expired')
            Statistics = Pool().get('balie.survey.statistics')
            row, = Statistics.search([('service', '!=', None),
                    ('company', '=', self.company)])
            self.assertEqual((row.invitations, row.hidden), (1, True))

    def test_counter_figures(self):
        "Test bookings, no-shows, waiting time, call duration, messages"
        done = self.video()
        no_show = self.video(name="Jan Peeters",
            start=START + dt.timedelta(minutes=30))
        cancelled = self.video(name="Els Claes",
            start=START + dt.timedelta(minutes=60))
        client = self.open(done)
        self.clock.now = START - dt.timedelta(minutes=5)
        csrf = csrf_of(self.page(client, '/balie/wachtkamer')[1])
        client.post('/balie/status', base_url=BASE,
            headers={'X-CSRF-Token': csrf})
        with self.transaction():
            Appointment = Pool().get('balie.appointment')
            self.clock.now = START + dt.timedelta(minutes=5)
            Appointment.start_call([Appointment(done)])
        self.clock.now = START + dt.timedelta(minutes=30)
        with self.transaction():
            pool = Pool()
            Room = pool.get('balie.video.room')
            Appointment = pool.get('balie.appointment')
            Room.close(Room.search([('appointment', '=', done)]))
            Appointment.mark_done([Appointment(done)])
        with self.transaction():
            Appointment = Pool().get('balie.appointment')
            Appointment.mark_no_show([Appointment(no_show)])
            Appointment.cancel([Appointment(cancelled)])
        self.dispatch()
        with self.transaction():
            Statistics = Pool().get('balie.appointment.statistics')
            total, = Statistics.search([('service', '=', None),
                    ('month', '=', DECEMBER), ('company', '=', self.company)])
            self.assertEqual((total.bookings, total.cancelled,
                    total.no_shows, total.calls), (3, 1, 1, 1))
            self.assertEqual(total.no_show_rate, 50.0)
            self.assertEqual(total.waiting, 10.0)
            self.assertEqual(total.duration, 25.0)
            self.assertGreater(total.messages, 0)
            self.assertEqual(total.delivered_rate, 100.0)
            rows = Statistics.search([('service', '!=', None),
                    ('company', '=', self.company)])
            self.assertEqual({r.employee for r in rows}, {None})
        # the call data goes after retention; the figures stay
        self.clock.now = START + dt.timedelta(days=40)
        with self.transaction():
            Pool().get('balie.video.room').clean_up()
        self.configure(survey_per_clerk=True)
        try:
            with self.transaction():
                Statistics = Pool().get('balie.appointment.statistics')
                total, = Statistics.search([('service', '=', None),
                        ('company', '=', self.company)])
                self.assertEqual((total.waiting, total.duration),
                    (10.0, 25.0))
                rows = Statistics.search([('service', '!=', None),
                        ('company', '=', self.company)])
                self.assertTrue(all(r.employee for r in rows))
        finally:
            self.configure(survey_per_clerk=False)

    def test_monthly_report_is_a_pdf_with_charts(self):
        "Test the monthly report: charts drawn on the server, a PDF"
        self.video()
        self.add_responses(self.service, 6, text="Prima")
        html = self.report_html(DECEMBER)
        self.assertGreaterEqual(html.count('<svg'), 4)
        self.assertIn('Mantelzorgpremie aanvragen', html)
        with self.transaction():
            pool = Pool()
            Wizard = pool.get('balie.survey.report.monthly.print',
                type='wizard')
            session_id, _, _ = Wizard.create()
            result = Wizard.execute(session_id, {'start': {
                        'company': self.company,
                        'month': dt.date(2026, 12, 15)}}, 'print_')
            action, = result['actions']
            data = action[0][1] if isinstance(action[0], list) else None
            Report = pool.get('balie.survey.report.monthly', type='report')
            extension, content, _, name = Report.execute([], {
                    'company': self.company, 'month': '2026-12-01'})
        self.assertEqual(extension, 'pdf')
        self.assertTrue(bytes(content).startswith(b'%PDF'))
        self.assertIsNone(data)
        # for a person to look at
        directory = ARTIFACTS / 'reports' / backend.name
        directory.mkdir(parents=True, exist_ok=True)
        (directory / 'monthly-report.pdf').write_bytes(bytes(content))

    def test_questionnaire_rules(self):
        "Test one default questionnaire and the figure of each question"
        from trytond.model.exceptions import ValidationError
        self.video()
        with self.transaction() as transaction:
            pool = Pool()
            Survey = pool.get('balie.survey')
            Question = pool.get('balie.survey.question')
            default, = Survey.search([('default', '=', True)])
            self.assertEqual(len(default.questions), 6)
            with self.assertRaises(ValidationError):
                Survey.create([{'name': "Tweede", 'default': True}])
            transaction.rollback()
            with self.assertRaises(ValidationError):
                Question.create([{'survey': default.id, 'text': "Ja?",
                            'type': 'yes_no', 'role': 'satisfaction'}])
            transaction.rollback()
            with self.assertRaises(ValidationError):
                Question.create([{'survey': default.id, 'text': "Nog?",
                            'type': 'smiley', 'role': 'satisfaction'}])
            transaction.rollback()
            other, = Survey.create([{'name': "Parkeren", 'questions': [
                            ('create', [{'text': "Wat koos je?",
                                        'type': 'choice', 'choices': [
                                            ('create', [{'name': "A"},
                                                    {'name': "B"}])]}])]}])
            Service = pool.get('balie.service')
            service = Service(self.service)
            self.assertEqual(Survey.for_service(service), default)
            service.survey = other
            service.save()
            self.assertEqual(Survey.for_service(service), other)
            transaction.rollback()

    def test_survey_link_is_short(self):
        "Test that a survey link is /e/<token> and other links /a/<token>"
        appointment = self.video()
        with self.transaction():
            pool = Pool()
            Token = pool.get('balie.access.token')
            Configuration = pool.get('balie.configuration')
            Appointment = pool.get('balie.appointment')
            _, raw = Token.generate(Appointment(appointment), 'survey')
            _, card = Token.generate(Appointment(appointment), 'card')
            config = Configuration(1)
            self.assertEqual(config.personal_url(raw), BASE + '/e/' + raw)
            self.assertEqual(config.personal_url(card), BASE + '/a/' + card)
        # a card link does not open the survey link route
        self.assertEqual(Client(app).get('/e/%s' % card,
                base_url=BASE).status_code, 404)
