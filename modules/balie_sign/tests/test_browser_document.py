# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Documents and the application form in headless Chromium: a photo sent
from a phone, a file too big caught before it is sent, the form saved
answer by answer with the clerk's change appearing by itself, and axe-core
on both pages in Dutch and French at phone and desktop width."""
import datetime as dt

from trytond import config
from trytond.pool import Pool

from balie_sign.tests.tools import camera_photo
from digitale_balie.slots import to_utc
from digitale_balie.tests.browser import WIDTHS, BrowserTestCase
from digitale_balie.tests.tools import START, TUESDAY


class DocumentBrowserTestCase(BrowserTestCase):
    "Test the documents and form pages in Chromium"
    modules = ['balie_sign']

    def setUp(self):
        super().setUp()
        if not config.has_section('balie_sign'):
            config.add_section('balie_sign')
        self.addCleanup(config.set, 'balie_sign', 'form_poll_seconds',
            config.get('balie_sign', 'form_poll_seconds', default=None)
            or '5')
        config.set('balie_sign', 'form_poll_seconds', '1')

    def citizen(self, language='nl', name="Maria Janssens", start=START):
        if not getattr(self, 'service', None):
            _, _, self.service = self.setup_balie(document_max_size=1)
            with self.transaction():
                pool = Pool()
                Service = pool.get('balie.service')
                ModelData = pool.get('ir.model.data')
                Service.write([Service(self.service)], {
                        'form_definition': ModelData.get_id(
                            'balie_sign', 'form_caregiver_allowance')})
        return self.book(self.service, start=start, language=language,
            name=name)

    def documents(self, appointment):
        with self.transaction():
            pool = Pool()
            Appointment = pool.get('balie.appointment')
            Document = pool.get('balie.document')
            return [(d.name, d.source, d.type.code) for d in Document.search(
                    [('dossier', '=', Appointment(appointment).dossier.id)])]

    def answers(self, appointment):
        with self.transaction():
            pool = Pool()
            Appointment = pool.get('balie.appointment')
            Form = pool.get('balie.form')
            form = Form.for_dossier(Appointment(appointment).dossier)
            return dict(form.answers) if form else {}

    def test_send_a_photo_from_a_phone(self):
        "Test a photo sent from the phone, and a too big file caught early"
        appointment = self.citizen()
        page = self.new_page(360)
        self.open_personal_link(page, appointment)
        page.locator('a[href="/balie/documenten"]').click()
        page.wait_for_url(self.url('/balie/documenten'))
        self.check_axe(page, 'documents-nl')

        # too big for the configured 1 MB: said at once, nothing sent
        page.set_input_files('#document-file', files=[{
                    'name': 'groot.pdf', 'mimeType': 'application/pdf',
                    'buffer': b'%PDF-1.7\n' + b'x' * 1_200_000}])
        error = page.locator('#document-file-error')
        error.wait_for(state='visible')
        self.assertIn('1 MB', error.inner_text())
        self.assertEqual(page.locator('#document-file').get_attribute(
                'aria-invalid'), 'true')
        page.locator('input[name=type][value=identity]').check()
        page.locator('#document-submit').click()
        self.assertEqual(page.url, self.url('/balie/documenten'))
        self.assertEqual(self.documents(appointment), [])

        page.set_input_files('#document-file', files=[{
                    'name': 'IMG_0042.JPG', 'mimeType': 'image/jpeg',
                    'buffer': camera_photo()}])
        self.assertTrue(error.is_hidden())
        page.locator('#document-description').fill("Voorkant")
        with page.expect_navigation():
            page.locator('#document-submit').click()
        page.wait_for_selector('#document-sent')
        self.assertIn('ontvangen=', page.url)
        self.assertIn('IMG_0042.jpg',
            page.locator('ul.documents').inner_text())
        self.assertEqual(self.documents(appointment),
            [('IMG_0042.jpg', 'citizen', 'identity')])
        self.screenshot(page, 'documents-sent-nl')
        self.check_axe(page, 'documents-sent-nl')
        # the download is an attachment
        with page.expect_download() as download:
            page.locator('ul.documents a').first.click()
        self.assertEqual(download.value.suggested_filename, 'IMG_0042.jpg')
        self.assertNoPageErrors(page)

    def test_fill_in_the_form_with_the_clerk(self):
        "Test answers saved as given, errors at once, the clerk's live"
        appointment = self.citizen()
        page = self.new_page(1280)
        self.open_personal_link(page, appointment)
        page.goto(self.url('/balie/formulier'))
        self.assertEqual(page.locator('#a-caregiver_name').input_value(),
            "Maria Janssens")
        self.check_axe(page, 'form-nl')

        page.locator('#a-cared_name').fill("Jozef Janssens")
        page.locator('#a-iban').focus()
        page.wait_for_function("() => document.getElementById('form-live')"
            ".textContent.length > 0")
        page.wait_for_function("() => document.getElementById('w-cared_name')"
            ".value === 'Jozef Janssens'")
        self.assertEqual(self.answers(appointment)['cared_name'],
            "Jozef Janssens")

        # a wrong IBAN: explained next to the field, kept as typed
        page.locator('#a-iban').fill('BE71 0961 2345 6760')
        page.locator('#a-hours_per_week').focus()
        error = page.locator('#e-iban')
        error.wait_for(state='visible')
        self.assertIn('BE71 0961 2345 6760', error.inner_text())
        self.assertEqual(page.locator('#a-iban').get_attribute(
                'aria-invalid'), 'true')
        self.assertEqual(page.locator('#a-iban').input_value(),
            'BE71 0961 2345 6760')
        self.check_axe(page, 'form-error-nl')
        self.screenshot(page, 'form-error-nl')
        self.assertIsNone(self.answers(appointment)['iban'])
        page.locator('#a-iban').fill('be62510007547061')
        page.locator('#a-hours_per_week').focus()
        error.wait_for(state='hidden')
        # written the usual way once saved
        page.wait_for_function("() => document.getElementById('a-iban')"
            ".value === 'BE62 5100 0754 7061'")

        # the clerk answers a question in the client: it appears by itself
        with self.transaction():
            pool = Pool()
            Form = pool.get('balie.form')
            Appointment = pool.get('balie.appointment')
            form = Form.for_dossier(Appointment(appointment).dossier)
            Form.write([form], {'answers': dict(form.answers,
                        relationship='parent', hours_per_week=16)})
        page.locator('#a-street').focus()
        page.wait_for_function("() => document.getElementById("
            "'a-hours_per_week').value === '16'")
        self.assertEqual(page.locator('#a-relationship').input_value(),
            'parent')

        # the clerk completes the form: the page shows the PDF
        for name, value in [('cared_national_number', '40010100140'),
                ('caregiver_national_number', '85073003328'),
                ('street', "Kerkstraat 12"), ('postal_code', '9000'),
                ('city', "Gent"), ('start_date', '2025-03-01')]:
            page.locator('#a-' + name).fill(value)
        page.locator('#a-declaration').check()
        page.locator('#a-street').focus()
        # each answer is saved in turn
        for _ in range(50):
            if all(self.answers(appointment).values()):
                break
            page.wait_for_timeout(200)
        self.assertEqual([k for k, v in self.answers(appointment).items()
                if not v], [])
        with self.transaction():
            pool = Pool()
            Form = pool.get('balie.form')
            Appointment = pool.get('balie.appointment')
            form = Form.for_dossier(Appointment(appointment).dossier)
            self.assertEqual(form.missing_questions(), [])
            Form.complete([form])
        page.wait_for_selector('#form-completed', timeout=10_000)
        self.assertTrue(page.locator('a[href^="/balie/documenten/"]')
            .is_visible())
        self.check_axe(page, 'form-completed-nl')
        self.screenshot(page, 'form-completed-nl')
        self.assertNoPageErrors(page)

    def test_pages_are_accessible(self):
        "Test the documents and form pages with axe in nl and fr"
        for language, name, hour in [('nl', "Maria Janssens", 10),
                ('fr', "Claire Dubois", 11)]:
            appointment = self.citizen(language=language, name=name,
                start=to_utc(TUESDAY, dt.time(hour, 0)))
            for width in WIDTHS:
                page = self.new_page(width,
                    locale='fr-BE' if language == 'fr' else 'nl-BE')
                self.open_personal_link(page, appointment)
                for path in ['/balie/documenten', '/balie/formulier']:
                    with self.subTest(language=language, width=width,
                            path=path):
                        page.goto(self.url(path))
                        self.assertEqual(page.locator('html').get_attribute(
                                'lang'), language)
                        self.check_axe(page, '%s-%s' % (
                            path.strip('/').replace('/', '-'), language))
                self.assertNoPageErrors(page)

