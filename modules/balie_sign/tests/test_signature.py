# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The citizen signs a PDF of their dossier from the portal, next to the
call: consent, a one-time code by SMS or e-mail (or a recent online
login), then a PAdES seal with an audit page, validated with pyHanko."""
import datetime as dt
import io
import os
import re
import shutil
import tempfile
import unittest

from pypdf import PdfReader

from trytond import config
from trytond.exceptions import UserError
from trytond.model.exceptions import ValidationError
from trytond.pool import Pool
from trytond.tests.test_tryton import DB_NAME
from trytond.transaction import Transaction

from balie_sign import pades
from balie_sign.signature_code import derive_code, mask, normalize_code
from balie_sign.tests.tools import (
    CITIZEN_IP, PASSPHRASE, Browser, SignCase, make_pdf, page_text,
    signing_certificate)
from digitale_balie.tests.tools import BASE, START, csrf_of, no_database


def trusted():
    return [pades.certificate_of(signing_certificate(), PASSPHRASE)]


class SignatureTestCase(SignCase):
    "The signature of a PDF of the dossier"
    client_class = Browser

    def request(self, reference):
        with self.transaction():
            SignatureRequest = Pool().get('balie.signature.request')
            request, = SignatureRequest.search([
                    ('reference', '=', reference)])
            return {
                'id': request.id,
                'state': request.state,
                'method': request.method,
                'assurance': request.assurance,
                'signer_ip': request.signer_ip,
                'consent_at': request.consent_at,
                'codes': len(request.codes),
                'events': [e.kind for e in request.events],
                'signed': (request.signed_document.get_bytes()
                    if request.signed_document else None),
                'original': request.document.get_bytes(),
                'sha256': request.document_sha256,
                }

    def sent_code(self, channel='sms'):
        "The code in the last SMS or e-mail the citizen received."
        self.dispatch()
        if channel == 'sms':
            text = self.gateway.messages[-1]['text']
        else:
            text = self.mailbox.messages[-1].get_body(
                ('plain',)).get_content()
        return re.search(r'\b(\d{6})\b', text).group(1)

    def test_citizen_signs_with_a_code_by_sms(self):
        "Test the whole signature: read, consent, SMS code, PAdES seal"
        appointment = self.appointment()
        reference = self.ask_signature(appointment)
        dossier = self.dossier_of(appointment)
        self.assertEqual(len(self.dossier_events(dossier, 'signature')), 1)
        client = self.open(appointment)
        path = '/balie/ondertekenen/%s' % reference

        # the personal page and the tasks next to the call lead here
        personal = page_text(self.get(client, '/balie'))
        self.assertIn('href="%s"' % path, personal)
        page = page_text(self.get(client, path))
        self.assertIn('Aanvraag mantelzorgpremie', page)
        self.assertIn('•• •• •• 56', page)
        document = self.get(client, path + '/document.pdf')
        self.assertEqual(document.headers['Content-Type'], 'application/pdf')
        original = self.request(reference)['original']
        self.assertEqual(document.get_data(), original)

        # no consent: a clear message, the choice of method kept
        response = self.post(client, path, {'method': 'sms'}, status=422)
        page = page_text(response)
        self.assertIn(self.text(
                'balie_sign.msg_signature_consent_missing'), page)
        self.assertRegex(page, r'id="method-sms"[^>]*checked')
        self.assertEqual(self.request(reference)['codes'], 0)

        response = self.post(client, path,
            {'consent': 'yes', 'method': 'sms'})
        self.assertTrue(response.headers['Location'].endswith(
                path + '/code'))
        code = self.sent_code('sms')
        # the outbox keeps no usable code
        with self.transaction():
            Message = Pool().get('balie.message')
            message, = Message.search([('kind', '=', 'signature_code')])
            self.assertIn('${code}', message.body)
            self.assertNotIn(code, message.body)
            self.assertEqual(message.state, 'sent')

        wrong = '000000' if code != '000000' else '111111'
        response = self.post(client, path + '/code', {'code': wrong},
            status=422)
        page = page_text(response)
        self.assertIn(self.text('balie_sign.msg_signature_code_wrong',
                left='4'), page)
        self.assertIn('value="%s"' % wrong, page)
        self.post(client, path + '/code', {'code': code[:3] + ' ' + code[3:]})

        request = self.request(reference)
        self.assertEqual(request['state'], 'signed')
        self.assertEqual((request['method'], request['assurance']),
            ('sms', 'low'))
        self.assertEqual(request['events'], ['requested', 'opened',
                'consent', 'code_sent', 'code_wrong', 'confirmed',
                'sealed'])
        page = page_text(self.get(client, path))
        self.assertIn('id="signature-done"', page)
        download = self.get(client, path + '/ondertekend.pdf')
        signed = download.get_data()
        self.assertEqual(signed, request['signed'])
        self.assertIn('attachment', download.headers['Content-Disposition'])

        # the original stays, byte for byte, in front of the signed file
        self.assertTrue(signed.startswith(original))
        status, = pades.validate(signed, trusted())
        self.assertTrue(status.intact)
        self.assertTrue(status.valid)
        self.assertTrue(status.trusted)
        self.assertEqual(status.coverage.name, 'ENTIRE_FILE')
        self.assertTrue(status.bottom_line)
        value = PdfReader(io.BytesIO(signed)).get_fields()[
            pades.FIELD_NAME]['/V']
        self.assertEqual(value['/SubFilter'], '/ETSI.CAdES.detached')

        # the audit page: who, how, when, from where, what, in what order
        reader = PdfReader(io.BytesIO(signed))
        self.assertEqual(len(reader.pages), 2)
        audit = reader.pages[-1].extract_text()
        self.assertIn('Maria Janssens', audit)
        self.assertIn(request['sha256'], audit.replace('\n', ''))
        self.assertIn(CITIZEN_IP, audit)
        self.assertIn('2026-12-07 09:00:00', audit)
        for kind in ['requested', 'consent', 'code_sent', 'confirmed']:
            self.assertIn(kind, ' '.join(request['events']))
        fields = reader.get_fields()
        self.assertEqual(fields[pades.FIELD_NAME]['/FT'], '/Sig')
        annotations = [a.get_object() for a in
            reader.pages[-1].get('/Annots', [])]
        widget, = [a for a in annotations if a.get('/T') == pades.FIELD_NAME]
        self.assertGreater(float(widget['/Rect'][2])
            - float(widget['/Rect'][0]), 100)  # visible

        # both documents on the dossier; "signed" on the timeline
        with self.transaction():
            Dossier = Pool().get('balie.dossier')
            names = sorted(d.name for d in Dossier(dossier).documents)
            self.assertEqual(names, ['aanvraag-signed.pdf', 'aanvraag.pdf'])
        self.assertEqual(len(self.dossier_events(dossier, 'signature')), 2)
        self.assertIn('Maria Janssens',
            self.dossier_events(dossier, 'signature')[-1])

        # one byte changed after signing shows
        tampered = bytearray(signed)
        index = signed.index(b'/Contents', len(original)) - 40
        tampered[index] = ord('X') if tampered[index] != ord('X') else ord('Y')
        status, = pades.validate(bytes(tampered), trusted())
        self.assertFalse(status.intact)
        self.assertFalse(status.bottom_line)

        # the same code again: already used, nothing changes
        response = client.post(path + '/code', base_url=BASE,
            data={'code': code, 'csrf': self.session_csrf(client)})
        self.assertEqual(response.status_code, 409)
        self.assertIn(self.text('balie_sign.msg_signature_code_used'),
            page_text(response))
        self.assertEqual(self.request(reference)['signed'], signed)

    def open_request(self, appointment):
        """The clerk asks for a signature, the citizen opens the portal:
        the request's reference, the citizen's browser and the page."""
        reference = self.ask_signature(appointment)
        client = self.open(appointment)
        return reference, client, '/balie/ondertekenen/%s' % reference

    def session_csrf(self, client):
        "The session's form token, from the language switch of any page."
        return csrf_of(self.get(client, '/balie').get_data(as_text=True))

    def test_code_by_email_expires_and_is_replaced(self):
        "Test an expired e-mail code, then a new code that works"
        appointment = self.appointment()
        reference, client, path = self.open_request(appointment)
        self.post(client, path, {'consent': 'yes', 'method': 'email'})
        code = self.sent_code('email')
        mail = self.mailbox.messages[-1]
        self.assertEqual(mail['To'],
            'Maria Janssens <maria.janssens@example.be>')

        self.clock.advance(minutes=10, seconds=1)
        response = self.post(client, path + '/code', {'code': code},
            status=422)
        self.assertIn(self.text('balie_sign.msg_signature_code_expired'),
            page_text(response))
        self.assertEqual(self.request(reference)['state'], 'requested')

        response = self.post(client, path + '/code', {'action': 'resend',
                'channel': 'email'}, status=200)
        self.assertIn(self.text('balie_sign.msg_signature_code_resent'),
            page_text(response))
        new = self.sent_code('email')
        if new != code:
            response = self.post(client, path + '/code', {'code': code},
                status=422)
        self.post(client, path + '/code', {'code': new})
        request = self.request(reference)
        self.assertEqual((request['state'], request['method']),
            ('signed', 'email'))
        self.assertIn('code_expired', request['events'])

    def test_wrong_codes_block_the_code(self):
        "Test that five wrong codes end a code, and a new one is needed"
        appointment = self.appointment()
        reference, client, path = self.open_request(appointment)
        self.post(client, path, {'consent': 'yes', 'method': 'sms'})
        code = self.sent_code('sms')
        wrong = str((int(code) + 1) % 1000000).zfill(6)
        for left in ['4', '3', '2', '1']:
            response = self.post(client, path + '/code', {'code': wrong},
                status=422)
            self.assertIn(self.text('balie_sign.msg_signature_code_wrong',
                    left=left), page_text(response))
        blocked = self.text('balie_sign.msg_signature_code_blocked')
        response = self.post(client, path + '/code', {'code': wrong},
            status=422)
        self.assertIn(blocked, page_text(response))
        # even the right code no longer works
        response = self.post(client, path + '/code', {'code': code},
            status=422)
        self.assertIn(blocked, page_text(response))
        self.assertEqual(self.request(reference)['state'], 'requested')

    def test_another_citizens_request_is_not_found(self):
        "Test that a citizen cannot reach another citizen's signature"
        maria = self.appointment()
        reference = self.ask_signature(maria)
        jan = self.appointment(name="Jan Peeters",
            start=START + dt.timedelta(minutes=30), mobile='+32470654321',
            email='jan.peeters@example.be')
        client = self.open(jan)
        path = '/balie/ondertekenen/%s' % reference
        for suffix in ['', '/code', '/document.pdf', '/ondertekend.pdf']:
            self.get(client, path + suffix, status=404)
        csrf = self.session_csrf(client)
        for suffix, data in [('', {'consent': 'yes', 'method': 'sms'}),
                ('/code', {'code': '123456'}),
                ('/code', {'action': 'resend', 'channel': 'sms'})]:
            response = client.post(path + suffix, base_url=BASE,
                data=dict(data, csrf=csrf))
            self.assertEqual(response.status_code, 404)
        self.get(client, '/balie/ondertekenen/not-a-reference', status=404)
        request = self.request(reference)
        self.assertEqual((request['state'], request['codes']),
            ('requested', 0))
        self.assertEqual(request['events'], ['requested'])
        self.assertNotIn(reference, page_text(self.get(client, '/balie')))

    def test_document_of_another_dossier_is_refused(self):
        "Test that a request cannot point at another citizen's document"
        maria = self.appointment()
        jan = self.appointment(name="Jan Peeters",
            start=START + dt.timedelta(minutes=30))
        jans_document = self.signature_document(jan, "Aanvraag van Jan")
        reference = self.ask_signature(maria)
        with self.transaction():
            SignatureRequest = Pool().get('balie.signature.request')
            request, = SignatureRequest.search(
                [('reference', '=', reference)])
            with self.assertRaises(ValidationError) as context:
                SignatureRequest.write([request],
                    {'document': jans_document})
            self.assertIn('aanvraag.pdf', str(context.exception))
        with self.transaction():
            pool = Pool()
            RequestSignature = pool.get('balie.signature.request',
                type='wizard')
            Appointment = pool.get('balie.appointment')
            dossier = Appointment(maria).dossier
            session_id, _, _ = RequestSignature.create()
            with Transaction().set_context(active_model='balie.dossier',
                    active_id=dossier.id, active_ids=[dossier.id]):
                RequestSignature.execute(session_id, {}, 'start')
                with self.assertRaises(Exception):
                    RequestSignature.execute(session_id, {'start': {
                                'dossier': dossier.id,
                                'document': jans_document,
                                'title': "Niet van mij"}}, 'request')

    def test_online_login_confirms_the_signature(self):
        "Test the OIDC method: a recent verified login of the citizen"
        self.municipality(oidc_issuer='https://login.voorbeeld.example',
            oidc_client_id='balie')
        appointment = self.appointment()
        reference, client, path = self.open_request(appointment)
        self.assertIn('id="method-identity"',
            page_text(self.get(client, path)))
        response = self.post(client, path,
            {'consent': 'yes', 'method': 'identity'}, status=422)
        self.assertIn(self.text('balie_sign.msg_signature_login_needed'),
            page_text(response))
        self.assertIn('href="/balie/identiteit"', page_text(response))

        with self.transaction():
            pool = Pool()
            Check = pool.get('balie.identity.check')
            Appointment = pool.get('balie.appointment')
            record = Appointment(appointment)
            Check.create([{
                        'company': record.company.id,
                        'dossier': record.dossier.id,
                        'appointment': record.id,
                        'party': record.party.id,
                        'method': 'oidc',
                        'state': 'verified',
                        'assurance': 'high',
                        'provider': 'itsme',
                        'started_at': self.clock.now,
                        'checked_at': self.clock.now,
                        }])
        self.post(client, path, {'consent': 'yes', 'method': 'identity'})
        request = self.request(reference)
        self.assertEqual((request['state'], request['method'],
                request['assurance']), ('signed', 'identity', 'high'))
        audit = PdfReader(io.BytesIO(request['signed'])).pages[-1] \
            .extract_text()
        self.assertIn('itsme', audit)

    def test_sealing_failure_keeps_the_confirmation(self):
        "Test that without a certificate the signature waits for the seal"
        self.municipality(signing_certificate=None)
        appointment = self.appointment()
        reference, client, path = self.open_request(appointment)
        self.post(client, path, {'consent': 'yes', 'method': 'sms'})
        self.post(client, path + '/code', {'code': self.sent_code()})
        request = self.request(reference)
        self.assertEqual(request['state'], 'confirmed')
        self.assertEqual(request['events'][-1], 'seal_failed')
        self.assertIn(
            self.text('balie_sign.msg_signature_confirmed_waiting'),
            page_text(self.get(client, path)))

        # production: the certificate in files named by the server
        # configuration; a wrong file or passphrase says so to the clerk
        directory = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, directory)
        certificate = os.path.join(directory, 'seal.p12')
        passphrase = os.path.join(directory, 'seal.pass')
        with open(certificate, 'wb') as file:
            file.write(signing_certificate())
        with open(passphrase, 'w') as file:
            file.write('wrong\n')
        self.server_config(certificate=certificate + '.missing',
            passphrase_file=passphrase)
        self.assertIn(self.text('balie_sign.msg_signature_certificate_invalid',
                language='en'), self.seal_again(request['id']))
        self.server_config(certificate=certificate)
        self.assertIn(self.text('balie_sign.msg_signature_certificate_invalid',
                language='en'), self.seal_again(request['id']))
        self.assertEqual(self.request(reference)['state'], 'confirmed')
        with open(passphrase, 'w') as file:
            file.write(PASSPHRASE + '\n')
        self.assertIsNone(self.seal_again(request['id']))
        request = self.request(reference)
        self.assertEqual(request['state'], 'signed')
        self.assertEqual(request['events'][-2:], ['seal_failed', 'sealed'])
        status, = pades.validate(request['signed'], trusted())
        self.assertTrue(status.bottom_line)

    def server_config(self, **options):
        "Options of [balie_sign] in the server configuration."
        if not config.has_section('balie_sign'):
            config.add_section('balie_sign')
        for name, value in options.items():
            self.addCleanup(config.set, 'balie_sign', name,
                config.get('balie_sign', name) or '')
            config.set('balie_sign', name, value)

    def seal_again(self, request):
        "The clerk's button Seal Again: the message, or None."
        with Transaction().start(DB_NAME, 0,
                context={'language': 'en'}) as transaction:
            SignatureRequest = Pool().get('balie.signature.request')
            try:
                SignatureRequest.seal_button([SignatureRequest(request)])
            except UserError as exception:
                transaction.rollback()
                return exception.message
            transaction.commit()

    def test_preview_signs_nothing(self):
        "Test that the clerk's preview of the page cannot sign"
        appointment = self.appointment()
        reference = self.ask_signature(appointment)
        client = self.open(appointment, purpose='preview')
        path = '/balie/ondertekenen/%s' % reference
        response = self.post(client, path,
            {'consent': 'yes', 'method': 'sms'}, status=409)
        self.assertIn(self.text('balie_sign.msg_signature_preview'),
            page_text(response))
        self.assertEqual(self.request(reference)['codes'], 0)

    def test_call_tasks_show_the_signature(self):
        "Test that the waiting room's tasks offer the signature, then done"
        appointment = self.appointment()
        reference = self.ask_signature(appointment)
        tasks = [t for t in self.call_tasks(appointment, new_session=True)
            if reference in t['href']]
        self.assertEqual(len(tasks), 1)
        self.assertFalse(tasks[0]['done'])


@no_database
class SealTestCase(unittest.TestCase):
    "The PAdES seal without a database"

    def test_seal_covers_the_whole_file(self):
        "Test a seal: intact, trusted, the whole file, a change detected"
        original = make_pdf()
        audit = make_pdf("Audit")
        signer = pades.load_signer(signing_certificate(), PASSPHRASE)
        signed = pades.seal(original, audit, signer, name="Łukasz Żółć",
            reason="Test", location="Gemeente Voorbeeld",
            block_lines=["Ondertekend door Łukasz Żółć 100%"])
        self.assertTrue(signed.startswith(original))
        status, = pades.validate(signed, trusted())
        self.assertTrue(status.bottom_line)
        self.assertEqual(status.coverage.name, 'ENTIRE_FILE')
        # bytes added after the seal: the seal no longer covers the file
        status, = pades.validate(signed + b'\n% added\n', trusted())
        self.assertNotEqual(status.coverage.name, 'ENTIRE_FILE')
        # another certificate is not trusted
        other = pades.make_test_certificate("Other", "Other", 'x')
        status, = pades.validate(signed,
            [pades.certificate_of(other, 'x')])
        self.assertTrue(status.intact)
        self.assertFalse(status.trusted)

    def test_bad_input(self):
        "Test the errors of the seal: not a PDF, wrong passphrase"
        signer = pades.load_signer(signing_certificate(), PASSPHRASE)
        with self.assertRaises(pades.SealError):
            pades.seal(b'not a pdf', make_pdf(), signer, name="x",
                reason="x", location="x", block_lines=[])
        with self.assertRaises(pades.SealError):
            pades.load_signer(signing_certificate(), 'wrong')

    def test_stamp_text_is_latin_1(self):
        "Test that the signature block's text keeps to its simple font"
        self.assertEqual(pades.stamp_text("Łukasz Żółć – José"),
            "Lukasz Zólc - José")
        self.assertEqual(pades.stamp_text("王"), "?")

    def test_codes(self):
        "Test the one-time codes: six digits, per message, normalised"
        first = derive_code('secret', 'key-1')
        self.assertRegex(first, r'^\d{6}$')
        self.assertEqual(first, derive_code('secret', 'key-1'))
        self.assertNotEqual(first, derive_code('secret', 'key-2'))
        self.assertNotEqual(first, derive_code('other', 'key-1'))
        self.assertEqual(normalize_code(' 123 456 '), '123456')
        self.assertEqual(normalize_code('123-456'), '123456')
        self.assertEqual(mask('sms', '+32 470 12 34 56'), '•• •• •• 56')
        self.assertEqual(mask('email', 'maria@example.be'),
            'm•••@example.be')

