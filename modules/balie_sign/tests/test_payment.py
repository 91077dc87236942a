# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Payments on the dossier: the transfer with a Belgian structured
communication and an EPC QR code that a banking app reads, and the online
payment through a local server that speaks Mollie's Payments API."""
import datetime as dt
import io
import unittest
from decimal import Decimal

import segno
from pypdf import PdfReader

from trytond.exceptions import UserError
from trytond.model.exceptions import ValidationError
from trytond.pool import Pool
from trytond.tests.test_tryton import DB_NAME
from trytond.transaction import Transaction
from trytond.wsgi import app

from balie_sign import mollie
from balie_sign.exceptions import PaymentError
from balie_sign.payment import (
    epc_qr, format_communication, make_communication, parse_communication)
from balie_sign.tests.payment_server import FakeMollie
from balie_sign.tests.tools import BIC, IBAN, Browser, SignCase, page_text
from digitale_balie.tests.tools import BASE, START, csrf_of, no_database


def decode_qr(qr):
    "What a banking app reads in the QR code (zxing-cpp on a PNG)."
    import zxingcpp
    from PIL import Image
    buffer = io.BytesIO()
    qr.save(buffer, kind='png', scale=6, border=4)
    buffer.seek(0)
    result, = zxingcpp.read_barcodes(Image.open(buffer))
    return result.bytes


class PaymentTestCase(SignCase):
    "The payment of a fee in the call"
    client_class = Browser

    def setUp(self):
        super().setUp()
        self.provider = FakeMollie().start()
        self.addCleanup(self.provider.close)

    def municipality(self, **configuration):
        values = {
            'payment_iban': IBAN,
            'payment_bic': BIC,
            'payment_beneficiary': "Gemeente Voorbeeld",
            'payment_provider': 'mollie',
            'mollie_url': self.provider.url,
            'mollie_api_key': self.provider.api_key,
            }
        values.update(configuration)
        super().municipality(**values)
        with self.transaction():
            Service = Pool().get('balie.service')
            Service.write([Service(self.service)], {'fee': Decimal('25.00')})

    def payment(self, reference):
        with self.transaction():
            Payment = Pool().get('balie.payment')
            payment, = Payment.search([('reference', '=', reference)])
            return {
                'id': payment.id,
                'state': payment.state,
                'method': payment.method,
                'amount': payment.amount,
                'communication': payment.communication,
                'display': payment.communication_display,
                'online': [(o.provider_id, o.status, o.idempotency_key)
                    for o in sorted(payment.online_payments,
                        key=lambda o: o.id)],
                'note': payment.paid_note,
                }

    def webhook(self, provider_id, database=DB_NAME):
        "The provider's call: a form with only the id."
        response = Browser(app).post('/%s/balie/betalen/webhook' % database,
            base_url=BASE, data={'id': provider_id},
            headers={'User-Agent': 'Mollie HTTP client/1.0'})
        return response.status_code

    def test_transfer_with_qr_code_and_structured_communication(self):
        "Test the transfer: QR code for a banking app, OGM, printable"
        appointment = self.appointment()
        reference = self.request_payment(appointment)
        payment = self.payment(reference)
        self.assertEqual(payment['state'], 'requested')
        self.assertRegex(payment['display'],
            r'^\+\+\+\d{3}/\d{4}/\d{5}\+\+\+$')
        self.assertEqual(parse_communication(payment['display']),
            payment['communication'])
        dossier = self.dossier_of(appointment)
        requested, = self.dossier_events(dossier, 'payment')
        self.assertIn(payment['display'], requested)

        client = self.open(appointment)
        path = '/balie/betalen/%s' % reference
        self.assertIn('href="%s"' % path,
            page_text(self.get(client, '/balie')))
        page = page_text(self.get(client, path))
        self.assertIn(payment['display'], page)
        self.assertIn('BE71 0961 2345 6769', page)
        self.assertIn('<svg', page)
        self.assertIn('€\xa025,00', page)

        # the QR code as a banking app reads it (EPC069-12)
        with self.transaction():
            Payment = Pool().get('balie.payment')
            details = Payment(payment['id']).transfer_details('nl')
        lines = decode_qr(details['qr_data']).decode('utf-8').split('\n')
        self.assertEqual(lines[:4], ['BCD', '002', '2', 'SCT'])
        self.assertEqual(lines[4:8], [BIC, "Gemeente Voorbeeld",
                'BE71096123456769', 'EUR25'])
        self.assertEqual(lines[9], payment['communication'])

        slip = self.get(client, path + '/overschrijving.pdf')
        self.assertEqual(slip.headers['Content-Type'], 'application/pdf')
        text = PdfReader(io.BytesIO(slip.get_data())).pages[0].extract_text()
        self.assertIn(payment['display'], text)
        self.assertIn('BE71 0961 2345 6769', text)

        # the bank statement arrives: the clerk registers the transfer
        self.register(payment['display'], '25.00', note="Uittreksel 12")
        payment = self.payment(reference)
        self.assertEqual((payment['state'], payment['method']),
            ('paid', 'transfer'))
        self.assertEqual(len(self.dossier_events(dossier, 'payment')), 2)
        self.assertIn('id="payment-paid"', page_text(self.get(client, path)))
        self.get(client, path + '/overschrijving.pdf', status=404)

    def register(self, communication, amount, note=None):
        with self.transaction():
            RegisterTransfer = Pool().get('balie.payment.register',
                type='wizard')
            session_id, _, _ = RegisterTransfer.create()
            RegisterTransfer.execute(session_id, {}, 'start')
            RegisterTransfer.execute(session_id, {'start': {
                        'communication': communication,
                        'amount': Decimal(amount),
                        'date': START.date(),
                        'note': note,
                        }}, 'register')

    def test_wrong_structured_communication(self):
        "Test the clerk's bank transfer with a wrong, unknown or paid OGM"
        appointment = self.appointment()
        reference = self.request_payment(appointment)
        payment = self.payment(reference)
        digits = payment['communication']
        wrong = digits[:-1] + str((int(digits[-1]) + 1) % 10)
        with self.assertRaises(PaymentError) as context:
            self.register(format_communication(wrong), '25.00')
        self.assertIn('is not a valid structured communication',
            str(context.exception))
        with self.assertRaises(PaymentError):
            self.register('+++123/4567+++', '25.00')
        unknown = make_communication(999999)
        with self.assertRaises(PaymentError) as context:
            self.register(unknown, '25.00')
        self.assertIn('No payment has', str(context.exception))
        with self.assertRaises(PaymentError) as context:
            self.register(payment['display'], '20.00')
        self.assertIn('EUR 20.00', str(context.exception))
        self.assertEqual(self.payment(reference)['state'], 'requested')
        # typed without stars and with spaces, it is found
        self.register(' %s ' % digits, '25')
        self.assertEqual(self.payment(reference)['state'], 'paid')
        with self.assertRaises(PaymentError) as context:
            self.register(payment['display'], '25.00')
        self.assertIn('already paid', str(context.exception))
        self.assertEqual(len(self.dossier_events(self.dossier_of(appointment),
                    'payment')), 2)

    def test_online_payment_with_webhook(self):
        "Test the online payment: checkout, webhook with the id, paid once"
        appointment = self.appointment()
        reference = self.request_payment(appointment)
        client = self.open(appointment)
        path = '/balie/betalen/%s' % reference
        response = self.post(client, path, {})
        provider_id, = self.provider.payments
        checkout = self.provider.payments[provider_id]['_links'][
            'checkout']['href']
        self.assertEqual(response.headers['Location'], checkout)
        created = self.provider.payments[provider_id]
        self.assertEqual(created['amount'],
            {'currency': 'EUR', 'value': '25.00'})
        self.assertEqual(created['metadata']['payment'], reference)
        self.assertEqual(created['redirectUrl'], BASE + path + '/terug')
        self.assertEqual(created['webhookUrl'],
            '%s/%s/balie/betalen/webhook' % (BASE, DB_NAME))
        self.assertEqual(created['locale'], 'nl_BE')
        method, _, headers = [r for r in self.provider.requests
            if r[0] == 'POST'][-1]
        self.assertEqual(headers['Idempotency-Key'], reference + '-1')

        # a second click while the checkout is open: the same checkout
        response = self.post(client, path, {})
        self.assertEqual(response.headers['Location'], checkout)
        self.assertEqual(self.provider.creates, 1)

        # a webhook before payment changes nothing
        self.assertEqual(self.webhook(provider_id), 200)
        self.assertEqual(self.payment(reference)['state'], 'requested')

        self.provider.set_status(provider_id, 'paid')
        self.assertEqual(self.webhook(provider_id), 200)
        payment = self.payment(reference)
        self.assertEqual((payment['state'], payment['method'],
                payment['note']), ('paid', 'online', provider_id))
        self.assertEqual(payment['online'][0][1], 'paid')
        # the provider calls again (retries, replays): paid once
        for _ in range(3):
            self.assertEqual(self.webhook(provider_id), 200)
        dossier = self.dossier_of(appointment)
        self.assertEqual(len(self.dossier_events(dossier, 'payment')), 2)
        page = page_text(self.get(client, path + '/terug'))
        self.assertIn('id="payment-paid"', page)

    def test_forged_webhooks_change_nothing(self):
        "Test webhooks with unknown, malformed and foreign ids"
        appointment = self.appointment()
        reference = self.request_payment(appointment)
        client = self.open(appointment)
        self.post(client, '/balie/betalen/%s' % reference, {})
        provider_id, = self.provider.payments
        self.assertEqual(self.webhook('tr_forged12345'), 200)
        self.assertEqual(self.webhook('paid'), 400)
        self.assertEqual(self.webhook("tr_x' OR 1=1"), 400)
        self.assertEqual(self.webhook(provider_id, database='nowhere'), 404)
        # a payment the provider has, but not ours to mark paid: another
        # amount (a forged or mixed-up payment)
        self.provider.payments[provider_id]['amount']['value'] = '0.01'
        self.provider.set_status(provider_id, 'paid')
        self.assertEqual(self.webhook(provider_id), 200)
        self.assertEqual(self.payment(reference)['state'], 'requested')
        # the provider does not answer: it must try again later
        self.provider.payments[provider_id]['amount']['value'] = '25.00'
        self.provider.close()
        self.assertEqual(self.webhook(provider_id), 503)
        self.assertEqual(self.payment(reference)['state'], 'requested')

    def test_lost_answer_is_retried_with_the_same_key(self):
        "Test that a create whose answer was lost is not paid twice"
        appointment = self.appointment()
        reference = self.request_payment(appointment)
        client = self.open(appointment)
        path = '/balie/betalen/%s' % reference
        self.provider.fail_next(after_create=True)
        response = self.post(client, path, {}, status=503)
        self.assertIn(
            self.text('balie_sign.msg_payment_online_unavailable'),
            page_text(response))
        # the transfer details are still there
        self.assertIn(self.payment(reference)['display'],
            page_text(response))
        self.assertEqual(self.provider.creates, 1)
        self.assertEqual(self.payment(reference)['online'], [])
        response = self.post(client, path, {})
        self.assertEqual(self.provider.creates, 1)
        provider_id, = self.provider.payments
        self.assertEqual(self.payment(reference)['online'][0][:1],
            (provider_id,))

    def test_return_from_the_provider(self):
        "Test the way back: paid, cancelled, then a new attempt"
        appointment = self.appointment()
        reference = self.request_payment(appointment)
        client = self.open(appointment)
        path = '/balie/betalen/%s' % reference
        self.post(client, path, {})
        first, = self.provider.payments
        self.provider.set_status(first, 'canceled')
        page = page_text(self.get(client, path + '/terug'))
        self.assertIn(self.text('balie_sign.msg_payment_return_failed'),
            page)
        self.assertEqual(self.payment(reference)['state'], 'requested')

        self.post(client, path, {})
        second = [i for i in self.provider.payments if i != first][0]
        self.assertEqual(self.payment(reference)['online'][1][2],
            reference + '-2')
        page = page_text(self.get(client, path + '/terug'))
        self.assertIn(self.text('balie_sign.msg_payment_return_waiting'),
            page)
        self.assertIn('http-equiv="refresh"', page)
        # paid, and the webhook is late: the way back asks the provider
        self.provider.set_status(second, 'paid')
        page = page_text(self.get(client, path + '/terug'))
        self.assertIn(self.text('balie_sign.msg_payment_return_paid'), page)
        self.assertEqual(self.payment(reference)['state'], 'paid')
        self.assertEqual(self.webhook(second), 200)
        self.assertEqual(len(self.dossier_events(self.dossier_of(appointment),
                    'payment')), 2)
        # a paid payment cannot be paid online again
        response = client.post(path, base_url=BASE,
            data={'csrf': csrf_of(self.get(client, '/balie').get_data(
                        as_text=True))})
        self.assertEqual(response.status_code, 503)
        self.assertEqual(len(self.provider.payments), 2)

    def test_another_citizens_payment_is_not_found(self):
        "Test that a citizen cannot see or pay another citizen's payment"
        maria = self.appointment()
        reference = self.request_payment(maria)
        jan = self.appointment(name="Jan Peeters",
            start=START + dt.timedelta(minutes=30))
        client = self.open(jan)
        path = '/balie/betalen/%s' % reference
        for suffix in ['', '/terug', '/overschrijving.pdf']:
            self.get(client, path + suffix, status=404)
        response = client.post(path, base_url=BASE, data={
                'csrf': csrf_of(self.get(client, '/balie').get_data(
                        as_text=True))})
        self.assertEqual(response.status_code, 404)
        self.assertEqual(self.provider.creates, 0)

    def test_preview_pays_nothing(self):
        "Test that the clerk's preview cannot start a payment"
        appointment = self.appointment()
        reference = self.request_payment(appointment)
        client = self.open(appointment, purpose='preview')
        response = self.post(client, '/balie/betalen/%s' % reference, {},
            status=409)
        self.assertIn(self.text('balie_sign.msg_payment_preview'),
            page_text(response))
        self.assertEqual(self.provider.creates, 0)

    def test_clerk_sees_the_payment_and_the_tasks(self):
        "Test the call task, the clerk's check button and cancelling"
        appointment = self.appointment()
        reference = self.request_payment(appointment,
            amount=Decimal('7.5'), description="Uittreksel")
        client = self.open(appointment)
        self.post(client, '/balie/betalen/%s' % reference, {})
        provider_id, = self.provider.payments
        self.provider.set_status(provider_id, 'paid')
        with self.transaction():
            pool = Pool()
            Payment = pool.get('balie.payment')
            payment, = Payment.search([('reference', '=', reference)])
            self.assertEqual(payment.amount, Decimal('7.50'))
            # the citizen, through the dossier: read and searched
            self.assertEqual(payment.party, payment.dossier.party)
            self.assertIn(payment, Payment.search(
                    [('party', '=', payment.dossier.party.id)]))
            self.assertNotIn(payment, Payment.search(
                    [('party', '!=', payment.dossier.party.id)]))
            self.assertEqual(payment.online_status, 'open')
            Payment.check_online([payment])
        self.assertEqual(self.payment(reference)['state'], 'paid')
        task, = [t for t in self.call_tasks(appointment, new_session=True)
            if reference in t['href']]
        self.assertTrue(task['done'])
        self.assertIn('7,50', task['label'])

        second = self.request_payment(appointment)
        with self.transaction():
            Payment = Pool().get('balie.payment')
            payment, = Payment.search([('reference', '=', second)])
            Payment.cancel([payment])
        self.get(client, '/balie/betalen/%s' % second, status=404)

    def test_iban_and_bic_are_checked(self):
        "Test that a wrong IBAN or BIC is refused and a good one compacted"
        self.municipality()
        for field, value in [('payment_iban', 'BE71 0961 2345 6768'),
                ('payment_bic', 'GKCCBEB'),
                ('payment_communication_prefix', '12a')]:
            with Transaction().start(DB_NAME, 0) as transaction:
                Configuration = Pool().get('balie.configuration')
                with self.assertRaises(ValidationError):
                    Configuration.write([Configuration(1)], {field: value})
                transaction.rollback()
        with self.transaction():
            Configuration = Pool().get('balie.configuration')
            config = Configuration(1)
            Configuration.write([config], {'payment_iban': IBAN.lower(),
                    'payment_bic': 'gkccbebb'})
            self.assertEqual(config.payment_iban, 'BE71096123456769')
            self.assertEqual(config.payment_bic, 'GKCCBEBB')

    def test_service_fee_is_not_negative(self):
        "Test that a service's fee cannot be negative"
        self.municipality()
        with self.transaction():
            Service = Pool().get('balie.service')
            with self.assertRaises(UserError):
                Service.write([Service(self.service)],
                    {'fee': Decimal('-1')})


@no_database
class StructuredCommunicationTestCase(unittest.TestCase):
    "The Belgian structured communication and the EPC QR code"

    def test_communication(self):
        "Test OGM/VCS numbers: check digits, prefix, format, parsing"
        digits = make_communication(1)
        self.assertEqual(digits, '000000000101')
        self.assertEqual(format_communication(digits),
            '+++000/0000/00101+++')
        prefixed = make_communication(42, '77')
        self.assertTrue(prefixed.startswith('7700000042'))
        self.assertEqual(parse_communication(prefixed), prefixed)
        for typed in ['+++000/0000/00101+++', '***000/0000/00101***',
                '000/0000/00101', ' 000000000101 ']:
            self.assertEqual(parse_communication(typed), digits)
        for wrong in ['+++000/0000/00102+++', '12345', '', 'abc',
                '+++000/0000/00101/1+++']:
            with self.assertRaises(PaymentError):
                parse_communication(wrong)
        with self.assertRaises(ValueError):
            make_communication(10 ** 9, '123')

    def test_epc_qr_code(self):
        "Test the EPC QR code of a transfer as a banking app decodes it"
        qr = epc_qr("Gemeente Voorbeeld", 'BE71096123456769',
            Decimal('12.5'), '090933755493', bic=BIC)
        self.assertIsInstance(qr, segno.QRCode)
        self.assertEqual(qr.error, 'M')
        self.assertEqual(decode_qr(qr).decode('utf-8').split('\n'), [
                'BCD', '002', '2', 'SCT', BIC, "Gemeente Voorbeeld",
                'BE71096123456769', 'EUR12.5', '', '090933755493'])

    def test_mollie_client_errors(self):
        "Test the provider client: amounts, bad key, unknown id, timeout"
        self.assertEqual(mollie.format_amount('7.5'), '7.50')
        with self.assertRaises(ValueError):
            mollie.format_amount('0')
        with FakeMollie() as provider:
            client = mollie.MollieClient(provider.api_key, provider.url,
                timeout=2)
            with self.assertRaises(mollie.PaymentProviderError) as context:
                mollie.MollieClient('test_wrong', provider.url
                    ).get_payment('tr_abcdef')
            self.assertEqual(context.exception.status, 401)
            with self.assertRaises(mollie.PaymentNotFound):
                client.get_payment('tr_unknown')
            with self.assertRaises(mollie.PaymentNotFound):
                client.get_payment('../payments')
            payment = client.create_payment(Decimal('10'), "Test",
                'https://balie.example/terug', None, 'key-1')
            self.assertEqual((payment.status, payment.amount),
                ('open', Decimal('10.00')))
            with self.assertRaises(mollie.PaymentProviderError) as context:
                client.create_payment(Decimal('11'), "Test",
                    'https://balie.example/terug', None, 'key-1')
            self.assertEqual(context.exception.status, 422)
            provider.fail_next(status=503)
            with self.assertRaises(mollie.PaymentProviderTemporaryError):
                client.create_payment(Decimal('10'), "Test",
                    'https://balie.example/terug', None, 'key-2')
        with self.assertRaises(mollie.PaymentProviderTemporaryError):
            client.get_payment(payment.id)
