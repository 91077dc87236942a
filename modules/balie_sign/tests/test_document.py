# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Documents on the dossier: the citizen sends a photo or a file from the
portal, the clerk shares one, the system stores generated PDFs; files are
checked by their content, cleaned, and never reachable from another
citizen's session."""
import datetime as dt
import io
import re
import unittest
from unittest.mock import patch

from PIL import Image
from werkzeug.test import Client, EnvironBuilder, run_wsgi_app

from trytond.exceptions import UserError
from trytond.pool import Pool
from trytond.transaction import Transaction
from trytond.wsgi import app

from balie_sign import document_check
from balie_sign.document_check import Refused
from balie_sign.tests.tools import SignCase, page_text, photo
from digitale_balie.tests.tools import BASE, NOW, START, as_user, no_database

MODULES = ['digitale_balie', 'balie_video', 'balie_sign']


# -- files -------------------------------------------------------------------

def build_pdf(catalog=b'', objects=(), trailer=b''):
    "A small valid PDF with extra catalog entries and objects 4, 5, ..."
    parts = [
        b'<< /Type /Catalog /Pages 2 0 R ' + catalog + b' >>',
        b'<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
        b'<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>',
        ] + list(objects)
    out = b'%PDF-1.7\n%\xe2\xe3\xcf\xd3\n'
    offsets = []
    for number, body in enumerate(parts, 1):
        offsets.append(len(out))
        out += b'%d 0 obj\n' % number + body + b'\nendobj\n'
    xref = len(out)
    out += b'xref\n0 %d\n0000000000 65535 f \n' % (len(parts) + 1)
    for offset in offsets:
        out += b'%010d 00000 n \n' % offset
    out += (b'trailer\n<< /Size %d /Root 1 0 R ' % (len(parts) + 1)
        + trailer + b'>>\nstartxref\n%d\n%%%%EOF\n' % xref)
    return out


def pdf_with_object_stream(action):
    """A PDF 1.5 whose action object hides in a compressed object stream
    (invisible to a byte search), with a cross-reference stream."""
    import zlib
    header = b'4 0 '
    body = header + action
    objstm = (b'<< /Type /ObjStm /N 1 /First %d /Filter /FlateDecode '
        b'/Length %d >>\nstream\n' % (len(header), len(zlib.compress(body)))
        + zlib.compress(body) + b'\nendstream')
    parts = [
        b'<< /Type /Catalog /Pages 2 0 R /OpenAction 4 0 R >>',
        b'<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
        b'<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>',
        None,
        objstm,
        ]
    out = b'%PDF-1.7\n%\xe2\xe3\xcf\xd3\n'
    offsets = {}
    for number, part in enumerate(parts, 1):
        if part is None:
            continue
        offsets[number] = len(out)
        out += b'%d 0 obj\n' % number + part + b'\nendobj\n'
    xref_offset = len(out)
    rows = [b'\x00\x00\x00\xff\xff']
    for number in range(1, 7):
        if number == 4:
            rows.append(b'\x02\x00\x05\x00\x00')
        elif number == 6:
            rows.append(b'\x01' + xref_offset.to_bytes(2, 'big') + b'\x00\x00')
        else:
            rows.append(b'\x01' + offsets[number].to_bytes(2, 'big')
                + b'\x00\x00')
    data = zlib.compress(b''.join(rows))
    out += (b'6 0 obj\n<< /Type /XRef /Size 7 /W [1 2 2] /Root 1 0 R '
        b'/Filter /FlateDecode /Length %d >>\nstream\n' % len(data)
        + data + b'\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n'
        % xref_offset)
    return out


def png_bomb(width=100_000, height=100_000):
    "A PNG header that promises 10 gigapixels in a few bytes."
    import struct
    import zlib

    def chunk(kind, data):
        return (struct.pack('>I', len(data)) + kind + data
            + struct.pack('>I', zlib.crc32(kind + data) & 0xffffffff))
    return (b'\x89PNG\r\n\x1a\n'
        + chunk(b'IHDR', struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0))
        + chunk(b'IDAT', zlib.compress(b'\x00' * 10000))
        + chunk(b'IEND', b''))


@no_database
class StaticFilesTestCase(unittest.TestCase):
    "The styles and scripts the formal acts' pages link to"

    def test_linked_files_are_served(self):
        "Test that every static file a template links to is served"
        import os
        from balie_sign import TEMPLATES
        links = set()
        for name in os.listdir(TEMPLATES):
            if name.endswith('.html'):
                with open(os.path.join(TEMPLATES, name)) as file:
                    links.update(re.findall(
                        r'(?:href|src)="(/balie/sign/static/[^"]+)"',
                        file.read()))
        self.assertGreaterEqual(len(links), 4)
        client = Client(app)
        for link in sorted(links):
            with self.subTest(link=link):
                response = client.get(link)
                self.assertEqual(response.status_code, 200)
                self.assertEqual(
                    response.headers['X-Content-Type-Options'], 'nosniff')
                self.assertRegex(response.headers['Content-Type'],
                    r'^text/(css|javascript); charset=utf-8$')
        for name in ['document_check.py', 'missing.css', '.hidden.css']:
            self.assertEqual(
                client.get('/balie/sign/static/' + name).status_code, 404)
        # '..%2F' is decoded before routing: no GET rule matches the path
        self.assertIn(client.get('/balie/sign/static/..%2Ftryton.cfg')
            .status_code, (404, 405))


@no_database
class FileCheckTestCase(unittest.TestCase):
    "What a file really is, without a database"

    def test_type_comes_from_the_content(self):
        "Test that the magic bytes decide, not the name"
        self.assertEqual(document_check.sniff(photo()), 'jpeg')
        self.assertEqual(document_check.sniff(photo(format_='PNG')), 'png')
        self.assertEqual(document_check.sniff(build_pdf()), 'pdf')
        self.assertIsNone(document_check.sniff(b'MZ\x90\x00' + b'\x00' * 60))
        checked = document_check.check(photo(format_='PNG'), 'scan.pdf')
        self.assertEqual((checked.format, checked.name), ('png', 'scan.png'))
        with self.assertRaises(Refused) as refused:
            document_check.check(b'MZ\x90\x00' + b'\x00' * 60, 'brief.pdf')
        self.assertEqual(refused.exception.reason, 'lying')
        with self.assertRaises(Refused) as refused:
            document_check.check(b'<html><script>x</script></html>', 'a.txt')
        self.assertEqual(refused.exception.reason, 'type')
        with self.assertRaises(Refused) as refused:
            document_check.check(photo(format_='PNG'), 'x.png',
                allowed=['pdf', 'jpeg'])
        self.assertEqual(refused.exception.reason, 'type')
        self.assertEqual(refused.exception.values['types'], 'PDF, JPEG')

    def test_photo_loses_its_metadata(self):
        "Test that EXIF (GPS, camera) is gone and the photo stands upright"
        data = photo(orientation=6)
        self.assertIn(b'PhoneMaker', data)
        checked = document_check.check(data, 'IMG_0001.JPG')
        self.assertTrue(checked.cleaned)
        self.assertNotIn(b'PhoneMaker', checked.data)
        self.assertNotEqual(checked.sha256, checked.original_sha256)
        image = Image.open(io.BytesIO(checked.data))
        self.assertEqual(dict(image.getexif()), {})
        self.assertEqual(image.size, (48, 64))  # turned as the tag said
        self.assertEqual(checked.name, 'IMG_0001.jpg')

    def test_pixel_flood_and_damaged_image(self):
        "Test that a decompression bomb and a broken image are refused"
        with self.assertRaises(Refused) as refused:
            document_check.check(png_bomb(), 'bom.png')
        self.assertEqual(refused.exception.reason, 'pixels')
        with self.assertRaises(Refused) as refused:
            document_check.check(photo()[:200], 'half.jpg')
        self.assertEqual(refused.exception.reason, 'damaged')

    def test_big_photo_is_made_smaller(self):
        "Test that a photo wider than MAX_SIDE is scaled down"
        with patch.object(document_check, 'MAX_SIDE', 100):
            checked = document_check.check(photo((400, 300)), 'groot.jpg')
        self.assertEqual(Image.open(io.BytesIO(checked.data)).size, (100, 75))

    def test_pdf_active_content_is_refused(self):
        "Test JavaScript, launch actions and embedded files, also hidden"
        self.assertFalse(document_check.check(build_pdf(), 'ok.pdf').cleaned)
        cases = [
            (build_pdf(b'/OpenAction 4 0 R',
                    [b'<< /S /JavaScript /JS (app.alert\\(1\\)) >>']),
                'pdf_active'),
            # the same with the names written as #xx escapes
            (build_pdf(b'/OpenAction 4 0 R',
                    [b'<< /S /J#61vaScript /J#53 (app.alert\\(1\\)) >>']),
                'pdf_active'),
            (build_pdf(b'/Names << /JavaScript 4 0 R >>', [b'<< >>']),
                'pdf_active'),
            (build_pdf(b'/OpenAction 4 0 R',
                    [b'<< /S /Launch /F (cmd.exe) >>']), 'pdf_active'),
            (build_pdf(b'/AcroForm << /XFA 4 0 R >>', [b'<< >>']),
                'pdf_active'),
            (build_pdf(b'/Names << /EmbeddedFiles 4 0 R >>',
                    [b'<< /Names [(a.exe) 5 0 R] >>',
                        b'<< /Type /Filespec /F (a.exe) /EF << >> >>']),
                'pdf_embedded'),
            (pdf_with_object_stream(b'<< /S /JavaScript /JS (x) >>'),
                'pdf_active'),
            ]
        for data, reason in cases:
            with self.subTest(reason=reason, data=data[:60]):
                with self.assertRaises(Refused) as refused:
                    document_check.check(data, 'brief.pdf')
                self.assertEqual(refused.exception.reason, reason)
        self.assertNotIn(b'JavaScript', pdf_with_object_stream(
                b'<< /S /JavaScript /JS (x) >>'))
        # an object stream with a harmless action passes
        document_check.check(pdf_with_object_stream(
                b'<< /S /GoTo /D [3 0 R /Fit] >>'), 'ok.pdf')

    def test_pdf_password_and_damage(self):
        "Test a password-protected PDF, an owner-only one and a broken one"
        from pypdf import PdfWriter
        for user_password, accepted in [('geheim', False), ('', True)]:
            writer = PdfWriter()
            writer.add_blank_page(200, 200)
            writer.encrypt(user_password=user_password,
                owner_password='eigenaar', algorithm='AES-128')
            output = io.BytesIO()
            writer.write(output)
            with self.subTest(user_password=user_password):
                if accepted:
                    document_check.check(output.getvalue(), 'bank.pdf')
                else:
                    with self.assertRaises(Refused) as refused:
                        document_check.check(output.getvalue(), 'bank.pdf')
                    self.assertEqual(
                        refused.exception.reason, 'pdf_encrypted')
        with self.assertRaises(Refused) as refused:
            document_check.check(b'%PDF-1.4\n1 0 obj << >>\n', 'kapot.pdf')
        self.assertEqual(refused.exception.reason, 'damaged')

    def test_pdf_stream_bomb_is_bounded(self):
        "Test that an object stream inflating past the limit is refused"
        with patch.object(document_check, 'PDF_MAX_STREAM', 1000):
            with self.assertRaises(Refused) as refused:
                document_check.check(pdf_with_object_stream(
                        b'<< /S /GoTo /D [3 0 R /Fit] /X (%s) >>'
                        % (b'A' * 50_000)), 'bom.pdf')
        self.assertEqual(refused.exception.reason, 'damaged')

    def test_size_and_empty(self):
        "Test the size limit and an empty file"
        with self.assertRaises(Refused) as refused:
            document_check.check(photo(), 'x.jpg', max_size=100)
        self.assertEqual(refused.exception.reason, 'too_big')
        with self.assertRaises(Refused) as refused:
            document_check.check(b'', 'x.jpg')
        self.assertEqual(refused.exception.reason, 'empty')

    def test_file_names_are_safe(self):
        "Test that names lose paths and control characters"
        self.assertEqual(document_check.clean_name(
                'C:\\Users\\maria\\..\\scan "1";.PDF', 'pdf'), 'scan _1_.pdf')
        self.assertEqual(document_check.clean_name(
                '../../etc/passwd', 'png'), 'passwd.png')
        self.assertEqual(document_check.clean_name(
                'rapport\x00\u202eexe.pdf', 'pdf'), 'rapportexe.pdf')
        self.assertEqual(document_check.clean_name('', 'jpeg'),
            'document.jpg')
        self.assertEqual(document_check.clean_name('Zoë café.jpeg', 'jpeg'),
            'Zoë café.jpg')

# -- the portal and the dossier ----------------------------------------------

class DocumentTestCase(SignCase):
    "Documents between the citizen's portal and the dossier"
    languages = ('nl', 'fr')

    def upload(self, client, data, filename, type_='identity',
            description='', csrf=None):
        if csrf is None:
            csrf = self.csrf(client, '/balie/documenten')
        return client.post('/balie/documenten', base_url=BASE, data={
                'csrf': csrf, 'type': type_, 'description': description,
                'file': (io.BytesIO(data), filename),
                })

    def documents(self, dossier, **domain):
        with self.transaction():
            Document = Pool().get('balie.document')
            return [{f: getattr(d, f) for f in [
                        'id', 'name', 'source', 'mime_type', 'size', 'sha256',
                        'original_sha256', 'shared', 'portal_key',
                        'description', 'uploaded_by']}
                | {'type': d.type.code, 'data': d.get_bytes(),
                    'appointment': d.appointment and d.appointment.id,
                    'retention': d.retention.code}
                for d in Document.search([('dossier', '=', dossier)]
                    + [(k, '=', v) for k, v in domain.items()],
                    order=[('id', 'ASC')])]

    def test_citizen_sends_a_photo(self):
        "Test a phone photo: stored on the dossier, cleaned, listed"
        appointment = self.book_call()
        dossier = self.dossier_of(appointment)
        client = self.open(appointment)
        page = client.get('/balie', base_url=BASE).get_data(as_text=True)
        self.assertIn('href="/balie/documenten"', page)
        data = photo()
        response = self.upload(client, data, 'IMG_2041.JPG',
            description="  Voorkant   identiteitskaart ")
        self.assertEqual(response.status_code, 303)
        self.assertTrue(response.headers['Location'].startswith(
                '/balie/documenten?ontvangen='))
        document, = self.documents(dossier)
        self.assertEqual(document['source'], 'citizen')
        self.assertEqual(document['type'], 'identity')
        self.assertEqual(document['retention'], 'identity')
        self.assertEqual(document['mime_type'], 'image/jpeg')
        self.assertEqual(document['name'], 'IMG_2041.jpg')
        self.assertEqual(document['description'],
            "Voorkant identiteitskaart")
        self.assertEqual(document['appointment'], appointment)
        self.assertTrue(document['shared'])
        self.assertEqual(document['size'], len(document['data']))
        self.assertEqual(document['sha256'],
            document_check.sha256(document['data']))
        self.assertEqual(document['original_sha256'],
            document_check.sha256(data))
        self.assertNotIn(b'PhoneMaker', document['data'])

        page = page_text(client.get(response.headers['Location'],
                base_url=BASE))
        self.assertIn(self.text('balie_sign.msg_document_sent',
                name='IMG_2041.jpg'),
            page)
        self.assertIn('IMG_2041.jpg', page)
        with self.transaction():
            Dossier = Pool().get('balie.dossier')
            events = [e for e in Dossier(dossier).events
                if e.kind == 'document']
            self.assertEqual(len(events), 1)
            self.assertIn('IMG_2041.jpg', events[0].description)

    def test_bad_files_are_refused_and_explained(self):
        "Test lying, unknown, active and oversize files: a message, no loss"
        appointment = self.book_call()
        dossier = self.dossier_of(appointment)
        client = self.open(appointment)
        cases = [
            (b'MZ\x90\x00' + b'\x00' * 200, 'belastingbrief.pdf',
                'msg_document_refused_lying',
                {'name': 'belastingbrief.pdf', 'types': 'PDF, JPEG, PNG'}),
            (b'<html><script>alert(1)</script></html>', 'pagina.html',
                'msg_document_refused_type', {'types': 'PDF, JPEG, PNG'}),
            (build_pdf(b'/OpenAction 4 0 R',
                    [b'<< /S /JavaScript /JS (app.alert\\(1\\)) >>']),
                'attest.pdf', 'msg_document_refused_pdf_active', {}),
            (build_pdf(b'/Names << /EmbeddedFiles 4 0 R >>',
                    [b'<< /Names [] >>']),
                'bijlagen.pdf', 'msg_document_refused_pdf_embedded', {}),
            (png_bomb(), 'scan.png', 'msg_document_refused_pixels', {}),
            ]
        for data, name, message, values in cases:
            with self.subTest(name=name):
                response = self.upload(client, data, name, type_='medical',
                    description="Attest van de dokter")
                self.assertEqual(response.status_code, 400)
                page = page_text(response)
                self.assertIn(
                    self.text('balie_sign.' + message, **values), page)
                # what the citizen chose and typed is still there
                self.assertIn('value="medical" required checked', page)
                self.assertIn('value="Attest van de dokter"', page)
                self.assertIn('role="alert"', page)
        self.assertEqual(self.documents(dossier), [])

        # without a file or a type: said so, nothing stored
        csrf = self.csrf(client, '/balie/documenten')
        response = client.post('/balie/documenten', base_url=BASE,
            data={'csrf': csrf, 'type': 'identity'})
        self.assertIn(self.text('balie_sign.msg_document_no_file'),
            page_text(response))
        response = self.upload(client, photo(), 'a.jpg', type_='decision')
        self.assertIn(self.text('balie_sign.msg_document_choose_type'),
            page_text(response))
        self.assertEqual(self.documents(dossier), [])

    def test_accepted_types_and_size_are_configurable(self):
        "Test that the configuration decides which types and what size"
        appointment = self.book_call()
        dossier = self.dossier_of(appointment)
        self.configure(document_formats=['pdf', 'jpeg'], document_max_size=1)
        client = self.open(appointment)
        response = self.upload(client, photo(format_='PNG'), 'scan.png')
        self.assertIn(self.text('balie_sign.msg_document_refused_type',
                types='PDF, JPEG'), page_text(response))
        page = client.get('/balie/documenten', base_url=BASE).get_data(
            as_text=True)
        self.assertIn('accept="application/pdf,image/jpeg,.jpg,.pdf"', page)
        self.assertIn('data-max="1000000"', page)
        # a file over 1 MB in a body under the limit: read, then refused
        big = build_pdf(objects=[b'<< /Filler (%s) >>' % (b'x' * 1_010_000)])
        response = self.upload(client, big, 'groot.pdf')
        self.assertEqual(response.status_code, 400)
        self.assertIn(self.text('balie_sign.msg_document_refused_too_big',
                size='1,1', limit='1'), page_text(response))
        self.assertEqual(self.documents(dossier), [])

    def test_oversize_body_is_refused_before_it_is_read(self):
        "Test that a too big upload is answered without reading its body"
        appointment = self.book_call()
        dossier = self.dossier_of(appointment)
        self.configure(document_max_size=1)
        client = self.open(appointment)
        csrf = self.csrf(client, '/balie/documenten')

        class Body(io.BytesIO):
            "Counts what the server reads."
            taken = 0

            def read(self, size=-1):
                data = super().read(size)
                Body.taken += len(data)
                return data

            def readline(self, size=-1):
                data = super().readline(size)
                Body.taken += len(data)
                return data

        payload = build_pdf(objects=[b'<< /F (%s) >>' % (b'x' * 3_000_000)])
        builder = EnvironBuilder(path='/balie/documenten', method='POST',
            base_url=BASE, data={'csrf': csrf, 'type': 'other',
                'file': (io.BytesIO(payload), 'groot.pdf')})
        environ = builder.get_environ()
        body = environ['wsgi.input'].read()
        cookies = client.get_cookie('__Host-balie', domain=
            'balie.voorbeeld.example')
        environ['HTTP_COOKIE'] = '__Host-balie=%s' % cookies.value

        def send(environ):
            _, status, headers = run_wsgi_app(app, environ, buffered=True)
            return status, headers

        # with its length announced: refused from the headers alone
        Body.taken = 0
        environ['wsgi.input'] = Body(body)
        status, headers = send(environ)
        self.assertEqual(status, '303 SEE OTHER')
        self.assertEqual(headers['Location'],
            '/balie/documenten?fout=te-groot')
        self.assertEqual(Body.taken, 0)

        # chunked, without a length: stopped at the limit
        Body.taken = 0
        environ = dict(environ)
        del environ['CONTENT_LENGTH']
        environ['wsgi.input'] = Body(body)
        environ['wsgi.input_terminated'] = True
        status, headers = send(environ)
        self.assertEqual(status, '303 SEE OTHER')
        self.assertLess(Body.taken, 1_200_000)

        # a compressed body (a "zip bomb") is not even looked at
        Body.taken = 0
        environ = builder.get_environ()
        environ['HTTP_COOKIE'] = '__Host-balie=%s' % cookies.value
        environ['HTTP_CONTENT_ENCODING'] = 'gzip'
        environ['wsgi.input'] = Body(b'\x1f\x8b' + b'\x00' * 100)
        environ['CONTENT_LENGTH'] = '102'
        status, headers = send(environ)
        self.assertEqual(status, '303 SEE OTHER')
        self.assertEqual(Body.taken, 0)

        page = page_text(client.get(headers['Location'], base_url=BASE))
        self.assertIn(self.text(
                'balie_sign.msg_document_refused_too_big_unread',
                limit='1'), page)
        self.assertEqual(self.documents(dossier), [])

    def test_upload_needs_the_csrf_token_and_a_session(self):
        "Test that a POST without the page's token changes nothing"
        appointment = self.book_call()
        dossier = self.dossier_of(appointment)
        client = self.open(appointment)
        response = self.upload(client, photo(), 'a.jpg', csrf='0' * 64)
        self.assertEqual(response.status_code, 403)
        stranger = Client(app)
        response = stranger.post('/balie/documenten', base_url=BASE,
            data={'file': (io.BytesIO(photo()), 'a.jpg'), 'type': 'other'})
        self.assertEqual(response.status_code, 404)
        self.assertEqual(self.documents(dossier), [])

    def test_download_is_an_attachment_of_the_right_type(self):
        "Test the download headers: attachment, type, sandbox, no cache"
        appointment = self.book_call()
        dossier = self.dossier_of(appointment)
        client = self.open(appointment)
        pdf = build_pdf()
        with self.transaction():
            pool = Pool()
            Document = pool.get('balie.document')
            Dossier = pool.get('balie.dossier')
            document = Document.store(Dossier(dossier), pdf,
                'Beslissing mantelzorgpremie – Zoë.pdf', 'decision',
                shared=True)
            key = document.portal_key
        page = client.get('/balie/documenten', base_url=BASE).get_data(
            as_text=True)
        self.assertIn('href="/balie/documenten/%s"' % key, page)
        response = client.get('/balie/documenten/%s' % key, base_url=BASE)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.get_data(), pdf)
        self.assertEqual(response.mimetype, 'application/pdf')
        disposition = response.headers['Content-Disposition']
        self.assertTrue(disposition.startswith('attachment; filename="'))
        self.assertIn("filename*=UTF-8''Beslissing%20mantelzorgpremie%20"
            "%E2%80%93%20Zo%C3%AB.pdf", disposition)
        self.assertEqual(response.headers['Content-Security-Policy'],
            "default-src 'none'; sandbox; frame-ancestors 'none'")
        self.assertEqual(response.headers['X-Content-Type-Options'],
            'nosniff')
        self.assertEqual(response.headers['Cache-Control'], 'no-store')

    def test_no_session_reaches_another_citizens_documents(self):
        "Test IDOR: keys of another dossier, unshared files, guessed keys"
        maria = self.book_call()
        jan = self.book_call("Jan Peeters",
            start=START + dt.timedelta(hours=1))
        maria_client = self.open(maria)
        jan_client = self.open(jan)
        self.upload(maria_client, photo(), 'maria.jpg')
        dossier = self.dossier_of(maria)
        maria_key, = [d['portal_key'] for d in self.documents(dossier)]
        with self.transaction():
            pool = Pool()
            Document = pool.get('balie.document')
            Dossier = pool.get('balie.dossier')
            internal = Document.store(Dossier(dossier),
                build_pdf(), 'nota.pdf', 'other', source='clerk')
            internal_key = internal.portal_key
            internal_id = internal.id
        self.assertEqual(maria_client.get('/balie/documenten/%s'
                % maria_key, base_url=BASE).status_code, 200)
        for key in [maria_key, internal_key, str(internal_id),
                'A' * 24, maria_key + 'x' * 60]:
            with self.subTest(key=key):
                self.assertEqual(jan_client.get('/balie/documenten/%s' % key,
                        base_url=BASE).status_code, 404)
        jan_page = jan_client.get('/balie/documenten',
            base_url=BASE).get_data(as_text=True)
        self.assertNotIn('maria.jpg', jan_page)
        # a clerk's document is not on the portal until it is shared
        self.assertEqual(maria_client.get('/balie/documenten/%s'
                % internal_key, base_url=BASE).status_code, 404)
        self.assertNotIn('nota.pdf', maria_client.get('/balie/documenten',
                base_url=BASE).get_data(as_text=True))
        with self.transaction():
            Document = Pool().get('balie.document')
            Document.share([Document(internal_id)])
        self.assertEqual(maria_client.get('/balie/documenten/%s'
                % internal_key, base_url=BASE).status_code, 200)
        self.assertEqual(jan_client.get('/balie/documenten/%s'
                % internal_key, base_url=BASE).status_code, 404)

    def test_clerk_adds_and_shares_a_document(self):
        "Test the clerk's upload over RPC: checked, marked as the clerk's"
        appointment = self.book_call()
        dossier = self.dossier_of(appointment)
        clerk = self.clerk()
        with self.as_clerk():
            pool = Pool()
            Document = pool.get('balie.document')
            Type = pool.get('balie.document.type')
            other, = Type.search([('code', '=', 'other')])
            # whatever the client sends, an RPC upload is the clerk's own
            document, = Document.create([{
                        'dossier': dossier, 'type': other.id,
                        'name': 'Brochure.PDF', 'data': build_pdf(),
                        'source': 'system', 'shared': True}])
            self.assertEqual(document.source, 'clerk')
            self.assertEqual(document.uploaded_by.id, clerk)
            self.assertFalse(document.shared)
            self.assertEqual(document.retention.code, 'correspondence')
            from balie_sign.exceptions import DocumentError, DocumentRefused
            with self.assertRaises(DocumentRefused):
                Document.create([{'dossier': dossier, 'type': other.id,
                            'name': 'x.pdf', 'data': build_pdf(
                                b'/OpenAction 4 0 R',
                                [b'<< /S /JavaScript /JS (1) >>'])}])
            with self.assertRaises(DocumentError):
                Document.write([document], {'data': build_pdf()})
            Document.write([document], {'description': "Uitleg"})
            Document.share([document])
            self.assertTrue(document.shared)
            with self.assertRaises(UserError):
                Document.delete([document])
        with self.transaction():
            Dossier = Pool().get('balie.dossier')
            kinds = [e.description for e in Dossier(dossier).events
                if e.kind == 'document']
            self.assertEqual(len(kinds), 2)

    def test_another_municipality_cannot_read_documents(self):
        "Test the company rule on documents"
        appointment = self.book_call()
        dossier = self.dossier_of(appointment)
        with self.transaction():
            pool = Pool()
            Document = pool.get('balie.document')
            Dossier = pool.get('balie.dossier')
            User = pool.get('res.user')
            ModelData = pool.get('ir.model.data')
            from trytond.modules.company.tests import create_company
            Document.store(Dossier(dossier), build_pdf(), 'a.pdf', 'other')
            other = create_company("Gemeente Elders")
            user = User(login='piet', name='piet', companies=[other],
                company=other, groups=[ModelData.get_id(
                        'digitale_balie', 'group_balie_clerk')])
            user.save()
            with as_user(user):
                self.assertEqual(Document.search([]), [])

    def test_store_and_bytes_for_other_modules(self):
        "Test the API: system files kept byte for byte, fingerprint checked"
        appointment = self.book_call()
        dossier = self.dossier_of(appointment)
        signed = build_pdf(b'/OpenAction 4 0 R', [b'<< /S /GoTo >>'])
        with self.transaction():
            pool = Pool()
            Document = pool.get('balie.document')
            Dossier = pool.get('balie.dossier')
            from balie_sign.exceptions import DocumentError
            document = Document.store(Dossier(dossier), signed,
                'aanvraag-ondertekend.pdf', 'signed', shared=True,
                description="Aanvraag")
            self.assertEqual(document.get_bytes(), signed)
            self.assertEqual(document.source, 'system')
            self.assertEqual(document.type.code, 'signed')
            self.assertEqual(document.retention.code, 'decision')
            self.assertEqual(document.mime_type, 'application/pdf')
            # a copy of the dossier starts without its documents
            copy, = Dossier.copy([Dossier(dossier)])
            self.assertEqual(copy.documents, ())
            self.assertEqual(len(Dossier(dossier).documents), 1)
            with self.assertRaises(DocumentError):
                Document.store(Dossier(dossier), signed, 'x.pdf', 'nope')
            # also when called while a clerk's request is being served
            with Transaction().set_context(_check_access=True):
                self.assertEqual(Document.store(Dossier(dossier), signed,
                        'b.pdf', 'signed').source, 'system')
            # a file changed behind the application's back
            table = Document.__table__()
            cursor = Transaction().connection.cursor()
            cursor.execute(*table.update([table.data], [signed + b'%x'],
                    where=table.id == document.id))
            document_id = document.id
        with self.transaction():
            Document = Pool().get('balie.document')
            with self.assertRaises(DocumentError):
                Document(document_id).get_bytes()

    def test_retention_destroys_what_the_selection_list_says(self):
        "Test the retention job: closed dossiers, destroy categories only"
        appointment = self.book_call()
        dossier = self.dossier_of(appointment)
        with self.transaction():
            pool = Pool()
            Document = pool.get('balie.document')
            Dossier = pool.get('balie.dossier')
            identity = Document.store(Dossier(dossier), photo(), 'id.jpg',
                'identity', source='citizen')
            decision = Document.store(Dossier(dossier), build_pdf(),
                'beslissing.pdf', 'decision')
            ids = identity.id, decision.id
            self.assertEqual(identity.keep_until, dt.date(2027, 12, 7))
        self.clock.now = NOW + dt.timedelta(days=400)
        with self.transaction():
            Document = Pool().get('balie.document')
            self.assertEqual([d.id for d in Document.search([
                            ('dossier', '=', dossier),
                            ('retention_ended', '=', True)])], [ids[0]])
            self.assertEqual([d.id for d in Document.search([
                            ('dossier', '=', dossier),
                            ('retention_ended', '=', False)])], [ids[1]])
            # the dossier is still open: nothing goes
            self.assertEqual(Document.apply_retention(), [])
            Dossier = Pool().get('balie.dossier')
            Dossier.write([Dossier(dossier)], {'state': 'closed'})
            destroyed = Document.apply_retention()
            self.assertEqual([d.id for d in destroyed], [ids[0]])
        with self.transaction():
            pool = Pool()
            Document = pool.get('balie.document')
            Dossier = pool.get('balie.dossier')
            self.assertEqual([d.id for d in Document.search([
                            ('dossier', '=', dossier)])], [ids[1]])
            line, = [e.description for e in Dossier(dossier).events
                if 'SHA-256' in (e.description or '')]
            self.assertIn('id.jpg', line)

    def test_retention_keeps_what_another_record_needs(self):
        "Test that a document a signature request points at is kept"
        appointment = self.book_call()
        dossier = self.dossier_of(appointment)
        with self.transaction():
            pool = Pool()
            try:
                Request = pool.get('balie.signature.request')
            except KeyError:
                self.skipTest('no signature requests in this module yet')
            Document = pool.get('balie.document')
            Dossier = pool.get('balie.dossier')
            kept = Document.store(Dossier(dossier), build_pdf(),
                'aanvraag.pdf', 'application_form')
            gone = Document.store(Dossier(dossier), build_pdf(),
                'bijlage.pdf', 'application_form')
            Request.create([{'company': self.company, 'dossier': dossier,
                        'title': "Aanvraag", 'document': kept.id}])
            ids = kept.id, gone.id
            Dossier.write([Dossier(dossier)], {'state': 'closed'})
        self.clock.now = NOW + dt.timedelta(days=11 * 366)
        with self.transaction():
            Document = Pool().get('balie.document')
            destroyed = [d.id for d in Document.apply_retention()]
            self.assertIn(ids[1], destroyed)
            self.assertNotIn(ids[0], destroyed)
            self.assertEqual([d.id for d in Document.search([
                            ('dossier', '=', dossier),
                            ('retention_ended', '=', True)])], [ids[0]])

    def test_documents_are_a_task_next_to_the_call(self):
        "Test the task in the call, done once the citizen sent something"
        appointment = self.book_call()
        client = self.open(appointment)
        task, = [t for t in self.call_tasks(appointment)
            if t['href'] == '/balie/documenten']
        self.assertFalse(task['done'])
        self.upload(client, photo(), 'a.jpg')
        task, = [t for t in self.call_tasks(appointment)
            if t['href'] == '/balie/documenten']
        self.assertTrue(task['done'])

    def test_preview_stores_nothing(self):
        "Test that the clerk's preview of the page sends nothing"
        appointment = self.book_call()
        dossier = self.dossier_of(appointment)
        client = self.open(appointment, purpose='preview')
        response = self.upload(client, photo(), 'a.jpg')
        self.assertEqual(response.status_code, 303)
        self.assertIn(self.text('balie_sign.msg_document_preview'), page_text(
                client.get(response.headers['Location'], base_url=BASE)))
        self.assertEqual(self.documents(dossier), [])

