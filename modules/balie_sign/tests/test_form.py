# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The caregiver allowance form, filled in together: the citizen on the
portal, the clerk in the client; wrong answers explained and kept; the
completed form as a PDF on the dossier."""
import datetime as dt
import io
import json
import re

from trytond.exceptions import UserError
from trytond.pool import Pool
from trytond.transaction import Transaction

from balie_sign.tests.tools import SignCase, page_text
from digitale_balie.tests.tools import BASE, NOW, START, csrf_of

# a second valid national register number (born 1 January 1940)
CARED_NUMBER = '40010100140'
GOOD = {
    'caregiver_name': "Maria Janssens",
    'caregiver_national_number': '85073003328',
    'cared_name': "Jozef Janssens",
    'cared_national_number': CARED_NUMBER,
    'relationship': 'parent',
    'street': "Kerkstraat 12",
    'postal_code': '9000',
    'city': "Gent",
    'hours_per_week': '20',
    'start_date': '2025-03-01',
    'iban': 'be62510007547061',
    'declaration': '1',
    }


class FormTestCase(SignCase):
    "The application form"
    languages = ('nl', 'fr')

    def setUp(self):
        super().setUp()
        service = self.document_municipality()
        with self.transaction():
            pool = Pool()
            Service = pool.get('balie.service')
            ModelData = pool.get('ir.model.data')
            Service.write([Service(service)], {
                    'form_definition': ModelData.get_id(
                        'balie_sign', 'form_caregiver_allowance')})

    def form_page(self, client):
        response = client.get('/balie/formulier', base_url=BASE)
        self.assertEqual(response.status_code, 200)
        return response.get_data(as_text=True)

    def shown(self, page):
        "The hidden inputs with what the page showed, by question."
        return {m.group(1): html_unescape(m.group(2)) for m in re.finditer(
                r'name="w-(\w+)" value="([^"]*)"', page)}

    def submit(self, client, answers, page=None):
        "Send the HTML form as a browser does (with the page's twins)."
        page = page or self.form_page(client)
        data = {'csrf': csrf_of(page)}
        for name, value in self.shown(page).items():
            data['w-' + name] = value
        current = dict(self.inputs(page))
        current.update(answers)
        for name, value in current.items():
            if value:
                data['a-' + name] = value
        return client.post('/balie/formulier', base_url=BASE, data=data)

    def inputs(self, page):
        "What the inputs of the page hold, as a browser would send them."
        values = {}
        for match in re.finditer(r'<input id="a-(\w+)" name="a-\w+" '
                r'value="([^"]*)"', page):
            values[match.group(1)] = html_unescape(match.group(2))
        for match in re.finditer(r'<select id="a-(\w+)".*?</select>', page,
                re.S):
            chosen = re.search(r'<option value="(\w+)" selected',
                match.group(0))
            values[match.group(1)] = chosen.group(1) if chosen else ''
        for match in re.finditer(r'<input type="checkbox" id="a-(\w+)" '
                r'name="a-\w+" value="1"( checked)?', page):
            values[match.group(1)] = '1' if match.group(2) else ''
        return values

    def form(self, appointment):
        with self.transaction():
            pool = Pool()
            Form = pool.get('balie.form')
            Appointment = pool.get('balie.appointment')
            form = Form.for_dossier(Appointment(appointment).dossier)
            if form is None:
                return None
            return {'id': form.id, 'state': form.state,
                'answers': dict(form.answers or {}),
                'changed_by': form.changed_by,
                'document': form.document and form.document.id}

    def test_caregiver_form_is_delivered_as_data(self):
        "Test the questions of the caregiver allowance form"
        with self.transaction():
            pool = Pool()
            Definition = pool.get('balie.form.definition')
            definition, = Definition.search(
                [('code', '=', 'caregiver_allowance')])
            questions = {q.name: q for q in definition.questions}
            self.check_questions(questions)

    def check_questions(self, questions):
        self.assertEqual(set(questions), set(GOOD))
        self.assertEqual(questions['iban'].validation, 'iban')
        self.assertEqual(questions['cared_national_number'].validation,
            'national_number')
        self.assertEqual(questions['hours_per_week'].type_, 'integer')
        self.assertEqual((questions['hours_per_week'].min_value,
                questions['hours_per_week'].max_value), (1, 168))
        self.assertEqual(questions['start_date'].type_, 'date')
        self.assertEqual(dict(questions['relationship'].options())['parent'],
            "Parent")
        self.assertTrue(all(q.required for q in questions.values()))

    def test_citizen_fills_in_the_form(self):
        "Test the portal form: filled in from the citizen, saved, written"
        appointment = self.book_call()
        with self.transaction():
            pool = Pool()
            Appointment = pool.get('balie.appointment')
            Identifier = pool.get('party.identifier')
            Identifier.create([{'party': Appointment(appointment).party.id,
                        'type': 'be_nn', 'code': '85073003328'}])
        client = self.open(appointment)
        personal = client.get('/balie', base_url=BASE).get_data(as_text=True)
        self.assertIn('href="/balie/formulier"', personal)
        page = self.form_page(client)
        # the citizen's own details are there; nothing is stored yet
        self.assertIn('value="Maria Janssens"', page)
        self.assertIn('value="85.07.30-033.28"', page)
        self.assertIsNone(self.form(appointment))
        self.assertIn('type="date"', page)
        self.assertIn('inputmode="numeric"', page)

        response = self.submit(client, GOOD, page)
        self.assertEqual(response.status_code, 303)
        self.assertEqual(response.headers['Location'],
            '/balie/formulier?bewaard=1')
        form = self.form(appointment)
        answers = form['answers']
        self.assertEqual(answers['iban'], 'BE62 5100 0754 7061')
        self.assertEqual(answers['cared_national_number'], '40.01.01-001.40')
        self.assertEqual(answers['hours_per_week'], 20)
        self.assertEqual(answers['start_date'], dt.date(2025, 3, 1))
        self.assertEqual(answers['relationship'], 'parent')
        self.assertIs(answers['declaration'], True)
        self.assertEqual(form['changed_by'], 'citizen')
        page = page_text(client.get('/balie/formulier?bewaard=1',
                base_url=BASE))
        self.assertIn(self.text('balie_sign.msg_form_saved'), page)
        self.assertIn(self.text('balie_sign.msg_form_all_answered'), page)
        self.assertIn('value="BE62 5100 0754 7061"', page)
        # the clerk reads who changed what in the form's chat
        with self.transaction():
            Message = Pool().get('ir.chat.message')
            messages = Message.search([
                    ('channel.resource', '=', 'balie.form,%d' % form['id'])])
            self.assertEqual(len(messages), 1)
            self.assertIn("IBAN", messages[0].content)

    def test_wrong_answers_are_explained_and_kept(self):
        "Test wrong IBAN, national number, hours, date: shown as typed"
        appointment = self.book_call()
        client = self.open(appointment)
        wrong = dict(GOOD, iban='BE71 0961 2345 6760',
            cared_national_number='40.01.01-001.41',
            hours_per_week='200', start_date='31/02/2025',
            postal_code='900')
        response = self.submit(client, wrong)
        self.assertEqual(response.status_code, 400)
        page = page_text(response)
        self.assertIn(self.text('balie_sign.msg_form_errors'), page)
        for message, values in [
                ('msg_form_iban_invalid', {'value': 'BE71 0961 2345 6760'}),
                ('msg_form_national_number_invalid',
                    {'value': '40.01.01-001.41'}),
                ('msg_form_integer_range', {'min': '1', 'max': '168'}),
                ('msg_form_date_invalid', {}),
                ('msg_form_postal_code_invalid', {'value': '900'}),
                ]:
            self.assertIn(self.text('balie_sign.' + message, **values), page)
        # what the citizen typed is still in the inputs
        self.assertIn('value="BE71 0961 2345 6760"', page)
        self.assertIn('value="40.01.01-001.41"', page)
        self.assertIn('value="200"', page)
        self.assertRegex(page, r'id="a-iban"[^>]*aria-invalid="true"')
        self.assertIn('href="#a-iban"', page)
        # the right answers are saved, the wrong ones are not
        answers = self.form(appointment)['answers']
        self.assertEqual(answers['cared_name'], "Jozef Janssens")
        self.assertEqual(answers['caregiver_national_number'],
            '85.07.30-033.28')
        self.assertIsNone(answers['iban'])
        self.assertIsNone(answers['hours_per_week'])

        # corrected, sent again from the page with the errors
        response = self.submit(client, dict(iban='BE62510007547061',
                cared_national_number=CARED_NUMBER, hours_per_week='20',
                start_date='01/03/2025', postal_code='9000'),
            page=response.get_data(as_text=True))
        self.assertEqual(response.status_code, 303)
        answers = self.form(appointment)['answers']
        self.assertEqual(answers['iban'], 'BE62 5100 0754 7061')
        self.assertEqual(answers['start_date'], dt.date(2025, 3, 1))

    def test_clerk_change_is_not_overwritten(self):
        "Test that a page opened before the clerk's change does not undo it"
        appointment = self.book_call()
        client = self.open(appointment)
        self.submit(client, GOOD)
        page = self.form_page(client)
        with self.as_clerk():
            Form = Pool().get('balie.form')
            form, = Form.search([('state', '=', 'draft')], limit=1,
                order=[('id', 'DESC')])
            Form.write([form], {'answers': dict(form.answers,
                        iban='NL91 ABNA 0417 1643 00', city="Gent-Centrum")})
            self.assertEqual(form.changed_by, 'clerk')
        # the citizen, on the old page, changes only the hours
        response = self.submit(client, {'hours_per_week': '25'}, page)
        self.assertEqual(response.status_code, 303)
        answers = self.form(appointment)['answers']
        self.assertEqual(answers['iban'], 'NL91 ABNA 0417 1643 00')
        self.assertEqual(answers['city'], "Gent-Centrum")
        self.assertEqual(answers['hours_per_week'], 25)
        # and the fresh page shows the clerk's answers
        self.assertIn('value="NL91 ABNA 0417 1643 00"', self.form_page(client))

    def test_live_state_and_autosave(self):
        "Test the JSON of form.js: a single answer saved, the clerk's seen"
        appointment = self.book_call()
        client = self.open(appointment)
        csrf = csrf_of(self.form_page(client))
        state = json.loads(client.get('/balie/formulier/stand',
                base_url=BASE).get_data())
        self.assertEqual(state['state'], 'draft')
        self.assertEqual(state['missing'], 11)  # the name is filled in
        response = client.post('/balie/formulier/stand', base_url=BASE,
            json={'answers': {'iban': 'BE71 0961 2345 6760'},
                'shown': {'iban': ''}},
            headers={'X-CSRF-Token': csrf})
        self.assertEqual(response.status_code, 400)
        data = json.loads(response.get_data())
        self.assertEqual(data['errors']['iban'], self.text(
                'balie_sign.msg_form_iban_invalid',
                value='BE71 0961 2345 6760'))
        response = client.post('/balie/formulier/stand', base_url=BASE,
            json={'answers': {'iban': 'be62510007547061'},
                'shown': {'iban': ''}},
            headers={'X-CSRF-Token': csrf})
        data = json.loads(response.get_data())
        self.assertTrue(data['saved'])
        self.assertEqual(data['answers']['iban'], 'BE62 5100 0754 7061')
        self.assertEqual(data['missing'], 10)
        # the clerk fills in an answer in the client: the page sees it
        with self.as_clerk():
            Form = Pool().get('balie.form')
            form, = Form.search([], limit=1, order=[('id', 'DESC')])
            Form.write([form], {'answers': dict(form.answers,
                        hours_per_week=12)})
        state = json.loads(client.get('/balie/formulier/stand',
                base_url=BASE).get_data())
        self.assertEqual(state['answers']['hours_per_week'], '12')
        # refused without the token, and for bad bodies
        self.assertEqual(client.post('/balie/formulier/stand', base_url=BASE,
                json={'answers': {'iban': ''}}).status_code, 403)
        self.assertEqual(client.post('/balie/formulier/stand', base_url=BASE,
                data='iban', headers={'X-CSRF-Token': csrf,
                    'Content-Type': 'text/plain'}).status_code, 400)
        response = client.post('/balie/formulier/stand', base_url=BASE,
            json={'answers': {'nope': 'x', 'iban': ['a'], 'city': 5},
                'shown': 'x'}, headers={'X-CSRF-Token': csrf})
        self.assertEqual(json.loads(response.get_data())['answers']['iban'],
            'BE62 5100 0754 7061')

    def test_clerk_gets_plain_errors_in_the_client(self):
        "Test the clerk's validation: wrong IBAN refused, right one written"
        appointment = self.book_call()
        with self.as_clerk():
            pool = Pool()
            Form = pool.get('balie.form')
            Appointment = pool.get('balie.appointment')
            ModelData = pool.get('ir.model.data')
            dossier = Appointment(appointment).dossier
            form, = Form.create([{'dossier': dossier.id,
                        'definition': ModelData.get_id(
                            'balie_sign', 'form_caregiver_allowance')}])
            # every question is there, the citizen's name filled in
            self.assertEqual(set(form.answers), set(GOOD))
            self.assertEqual(form.answers['caregiver_name'], "Maria Janssens")
            form_id = form.id
        for wrong, message in [
                ({'iban': 'BE00 0000 0000 0000'}, 'IBAN.*BE00'),
                ({'hours_per_week': 500}, 'Hours of care.*1.*168'),
                ({'start_date': 'morgen'}, 'Care given since'),
                ({'unknown': 'x'}, 'unknown'),
                ]:
            with self.subTest(wrong=wrong), self.as_clerk():
                Form = Pool().get('balie.form')
                form = Form(form_id)
                with self.assertRaisesRegex(UserError, message):
                    Form.write([form], {'answers': dict(form.answers,
                                **wrong)})
                # as RPC does when a call fails
                Transaction().rollback()
        with self.as_clerk():
            pool = Pool()
            Form = pool.get('balie.form')
            form = Form(form_id)
            dossier = form.dossier
            self.assertIsNone(form.answers['iban'])
            Form.write([form], {'answers': dict(form.answers,
                        iban='nl91abna0417164300',
                        cared_national_number=CARED_NUMBER)})
            self.assertEqual(form.answers['iban'], 'NL91 ABNA 0417 1643 00')
            self.assertEqual(form.answers['cared_national_number'],
                '40.01.01-001.40')
            with self.assertRaisesRegex(UserError, 'Hours of care'):
                Form.complete([form])
            Transaction().rollback()
        # one form of a kind per dossier
        with self.as_clerk():
            Form = Pool().get('balie.form')
            with self.assertRaises(UserError):
                Form.create([{'dossier': dossier.id,
                            'definition': Form(form_id).definition.id}])
            Transaction().rollback()

    def test_completed_form_is_a_pdf_on_the_dossier(self):
        "Test completion: the PDF is a shared document, the page shows it"
        appointment = self.book_call()
        client = self.open(appointment)
        self.submit(client, GOOD)
        with self.as_clerk():
            Form = Pool().get('balie.form')
            form, = Form.search([], limit=1, order=[('id', 'DESC')])
            Form.complete([form])
            self.assertEqual(form.state, 'completed')
            document = form.document
            self.assertEqual(document.type.code, 'application_form')
            self.assertEqual(document.source, 'system')
            self.assertTrue(document.shared)
            self.assertEqual(document.mime_type, 'application/pdf')
            self.assertTrue(document.name.endswith('.pdf'))
            data = document.get_bytes()
            key = document.portal_key
            form_id = form.id
        # a completed form's answers stay as they are until it is reopened
        with self.as_clerk():
            Form = Pool().get('balie.form')
            form = Form(form_id)
            with self.assertRaisesRegex(UserError, 'reopen'):
                Form.write([form], {'answers': dict(form.answers,
                            hours_per_week=30)})
            Transaction().rollback()
        from pypdf import PdfReader
        text = ' '.join(page.extract_text()
            for page in PdfReader(io.BytesIO(data)).pages)
        for expected in ["Jozef Janssens", 'BE62 5100 0754 7061',
                '40.01.01-001.40', '01/03/2025', 'Gemeente Voorbeeld']:
            self.assertIn(expected, text)
        self.assertNotIn(self.text('balie_sign.msg_form_pdf_draft'),
            ' '.join(text.split()))
        self.assertIn(self.text('balie_sign.msg_form_pdf_completed',
                date=NOW.strftime('%d/%m/%Y')), ' '.join(text.split()))
        page = page_text(client.get('/balie/formulier', base_url=BASE))
        self.assertIn(self.text('balie_sign.msg_form_completed_text'), page)
        self.assertIn('/balie/documenten/%s' % key, page)
        self.assertNotIn('name="a-iban"', page)
        # a completed form takes no more answers from the portal
        response = client.post('/balie/formulier', base_url=BASE, data={
                'csrf': csrf_of(self.form_page(client)), 'w-iban': '',
                'a-iban': 'BE71 0961 2345 6769'})
        self.assertEqual(response.status_code, 303)
        self.assertEqual(self.form(appointment)['answers']['iban'],
            'BE62 5100 0754 7061')
        task, = [t for t in self.call_tasks(appointment)
            if t['href'] == '/balie/formulier']
        self.assertTrue(task['done'])
        # reopened, the clerk may change it and complete it again
        form_id = self.form(appointment)['id']
        with self.as_clerk():
            Form = Pool().get('balie.form')
            form = Form(form_id)
            Form.reopen([form])
            self.assertEqual(form.state, 'draft')
            Form.complete([form])
            self.assertNotEqual(form.document.portal_key, key)

    def test_pdf_is_written_in_the_citizens_language(self):
        "Test that the PDF of a French-speaking citizen is in French"
        appointment = self.book_call(name="Claire Dubois", language='fr')
        client = self.open(appointment)
        self.submit(client, dict(GOOD, caregiver_name="Claire Dubois"))
        form_id = self.form(appointment)['id']
        with self.transaction():
            pool = Pool()
            Form = pool.get('balie.form')
            form = Form(form_id)
            self.assertEqual(form.language, 'fr')
            document = form.make_pdf()
            from pypdf import PdfReader
            text = ' '.join(p.extract_text() for p in PdfReader(
                    io.BytesIO(document.get_bytes())).pages)
            with Transaction().set_context(language='fr'):
                from trytond.i18n import gettext
                self.assertIn(gettext('balie_sign.msg_form_pdf_draft'),
                    text.replace('\n', ' '))

    def test_no_session_reaches_another_citizens_form(self):
        "Test IDOR: each session sees and changes only its own form"
        maria = self.book_call()
        jan = self.book_call("Jan Peeters",
            start=START + dt.timedelta(hours=1))
        maria_client = self.open(maria)
        jan_client = self.open(jan)
        self.submit(maria_client, GOOD)
        jan_page = self.form_page(jan_client)
        self.assertNotIn('Jozef Janssens', jan_page)
        self.assertNotIn('BE62 5100 0754 7061', jan_page)
        self.assertIn('value="Jan Peeters"', jan_page)
        state = json.loads(jan_client.get('/balie/formulier/stand',
                base_url=BASE).get_data())
        self.assertNotIn('Jozef Janssens', json.dumps(state))
        # Jan's answers land on Jan's dossier only
        self.submit(jan_client, {'cared_name': "Paula Peeters"}, jan_page)
        self.assertEqual(self.form(maria)['answers']['cared_name'],
            "Jozef Janssens")
        self.assertEqual(self.form(jan)['answers']['cared_name'],
            "Paula Peeters")
        # Maria's token on Jan's session: refused
        maria_csrf = csrf_of(self.form_page(maria_client))
        response = jan_client.post('/balie/formulier/stand', base_url=BASE,
            json={'answers': {'cared_name': "X"}, 'shown': {}},
            headers={'X-CSRF-Token': maria_csrf})
        self.assertEqual(response.status_code, 403)

    def test_service_without_form_has_no_form_page(self):
        "Test that a service without a definition has no form page"
        appointment = self.book_call()
        with self.transaction():
            Service = Pool().get('balie.service')
            Service.write([Service(self.service)], {'form_definition': None})
        client = self.open(appointment)
        self.assertEqual(client.get('/balie/formulier',
                base_url=BASE).status_code, 404)
        self.assertNotIn('/balie/formulier', client.get('/balie',
                base_url=BASE).get_data(as_text=True))

    def test_preview_saves_nothing(self):
        "Test that the clerk's preview of the form saves nothing"
        appointment = self.book_call()
        client = self.open(appointment, purpose='preview')
        response = self.submit(client, GOOD)
        self.assertEqual(response.status_code, 303)
        self.assertIsNone(self.form(appointment))
        self.assertIn(self.text('balie_sign.msg_document_preview'), page_text(
                client.get(response.headers['Location'], base_url=BASE)))


def html_unescape(value):
    import html
    return html.unescape(value)
