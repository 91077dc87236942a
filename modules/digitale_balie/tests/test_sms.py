# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"The SMS gateway client against the fake Vonage API: no database needed."
import json
import threading
import time
import unittest
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from digitale_balie.sms import (
    SMSGateway, SMSPermanentError, SMSSignatureError, SMSTemporaryError,
    count_segments, gsm_friendly, is_gsm, parse_delivery_receipt,
    sign_params)
from digitale_balie.tests.sms_server import FakeSMSGateway
from digitale_balie.tests.tools import no_database

API_KEY, API_SECRET = 'balie123', 'balie-api-secret'
SIGNATURE_SECRET = 'balie-signature-secret'
CITIZEN = '+32 470 12 34 56'
REMINDER = ("Herinnering: uw afspraak bij Burgerzaken is morgen om 10:30. "
    "Annuleren kan via de link in uw e-mail.")


class ReceiptEndpoint:
    "Our delivery receipt webhook, as the portal would verify it."

    def __init__(self, secret, method='sha256'):
        self.receipts, self.refused = [], []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                query = urllib.parse.urlsplit(self.path).query
                self.verify(urllib.parse.parse_qsl(query))

            def do_POST(self):
                body = self.rfile.read(
                    int(self.headers.get('Content-Length') or 0))
                if self.headers.get('Content-Type') == 'application/json':
                    self.verify(json.loads(body).items())
                else:
                    self.verify(urllib.parse.parse_qsl(body.decode()))

            def verify(self, items):
                try:
                    receipt = parse_delivery_receipt(
                        dict(items), secret, method)
                except SMSSignatureError as error:
                    endpoint.refused.append(error.reason)
                    self.send_response(403)
                else:
                    endpoint.receipts.append(receipt)
                    self.send_response(204)
                self.send_header('Content-Length', '0')
                self.end_headers()

            def log_message(self, format, *args):
                pass

        self.server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever,
            kwargs={'poll_interval': 0.05}, daemon=True)
        self.thread.start()
        self.url = 'http://127.0.0.1:%s/sms/status' % (
            self.server.server_address[1])

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@no_database
class SMSGatewayTestCase(unittest.TestCase):
    "Test the SMS gateway client"

    def setUp(self):
        self.gateway = FakeSMSGateway(api_key=API_KEY, api_secret=API_SECRET,
            signature_secret=SIGNATURE_SECRET).start()
        self.addCleanup(self.gateway.close)
        self.endpoint = ReceiptEndpoint(SIGNATURE_SECRET)
        self.addCleanup(self.endpoint.close)
        self.client = self.make_client()

    def make_client(self, **kwargs):
        values = dict(api_key=API_KEY, api_secret=API_SECRET,
            sender='StadGent', url=self.gateway.url,
            status_url=self.endpoint.url, timeout=2)
        values.update(kwargs)
        return SMSGateway(**values)

    def test_accepted_message_is_sent_with_documented_parameters(self):
        "Test the parameters the gateway receives for an accepted message"
        result = self.client.send(CITIZEN, REMINDER, 'balie-msg-1')

        self.assertTrue(result.accepted)
        self.assertEqual(len(result.message_ids), 1)
        message, = self.gateway.messages
        self.assertEqual(message['to'], '32470123456')
        self.assertEqual(message['from'], 'StadGent')
        self.assertEqual(message['text'], REMINDER)
        self.assertEqual(message['type'], 'text')
        self.assertEqual(message['client-ref'], 'balie-msg-1')
        self.assertEqual(message['callback'], self.endpoint.url)
        self.assertEqual(message['message_ids'], result.message_ids)

    def test_text_outside_gsm_is_sent_as_unicode(self):
        "Test that 'België' makes the message unicode"
        self.client.send('0032470123456', "Welkom in België", 'balie-msg-2')

        message, = self.gateway.messages
        self.assertEqual(message['type'], 'unicode')
        self.assertEqual(message['to'], '32470123456')

    def test_long_message_has_one_id_per_part(self):
        "Test that a concatenated SMS returns a message id per part"
        result = self.client.send(CITIZEN, 'a' * 161, 'balie-msg-3')

        self.assertEqual(len(result.message_ids), 2)
        self.assertEqual(len(set(result.message_ids)), 2)

    def test_http_client_error_is_permanent(self):
        "Test that an HTTP 4xx answer is not retried"
        self.gateway.fail_next(http_status=400)

        with self.assertRaises(SMSPermanentError) as context:
            self.client.send(CITIZEN, REMINDER, 'balie-msg-4')
        self.assertEqual(context.exception.code, 400)
        self.assertIn('HTTP 400', context.exception.reason)
        self.assertEqual(self.gateway.messages, [])

    def test_wrong_credentials_are_permanent(self):
        "Test that Vonage status 4 (invalid credentials) is not retried"
        client = self.make_client(api_secret='wrong')

        with self.assertRaises(SMSPermanentError) as context:
            client.send(CITIZEN, REMINDER, 'balie-msg-5')
        self.assertEqual(context.exception.code, '4')
        self.assertIn('credentials', context.exception.reason)

    def test_barred_number_is_permanent(self):
        "Test that a permanent Vonage status is not retried"
        self.gateway.fail_next(vonage_status='7')

        with self.assertRaises(SMSPermanentError) as context:
            self.client.send(CITIZEN, REMINDER, 'balie-msg-6')
        self.assertEqual(context.exception.code, '7')
        self.assertIn('barred', context.exception.reason)

    def test_invalid_number_is_refused_without_request(self):
        "Test that a number that cannot be E.164 never reaches the gateway"
        with self.assertRaises(SMSPermanentError):
            self.client.send('call me', REMINDER, 'balie-msg-7')
        self.assertEqual(self.gateway.requests, 0)

    def test_too_long_client_ref_is_permanent(self):
        "Test that a client-ref over 40 characters is refused"
        with self.assertRaises(SMSPermanentError):
            self.client.send(CITIZEN, REMINDER, 'x' * 41)

    def test_sender_name_longer_than_11_is_refused(self):
        "Test that an alphanumeric sender is at most 11 characters"
        with self.assertRaises(ValueError):
            self.make_client(sender='Stad Gent Burgerzaken')
        self.assertEqual(self.make_client(sender='+32470000000').sender,
            '32470000000')

    def test_http_server_error_is_temporary(self):
        "Test that an HTTP 5xx answer is retried"
        self.gateway.fail_next(http_status=502)

        with self.assertRaises(SMSTemporaryError) as context:
            self.client.send(CITIZEN, REMINDER, 'balie-msg-8')
        self.assertEqual(context.exception.code, 502)

    def test_throttled_is_temporary(self):
        "Test that Vonage status 1 (throttled) is retried"
        self.gateway.fail_next(vonage_status='1')

        with self.assertRaises(SMSTemporaryError) as context:
            self.client.send(CITIZEN, REMINDER, 'balie-msg-9')
        self.assertEqual(context.exception.code, '1')
        self.assertIn('Throttled', context.exception.reason)
        self.assertFalse(context.exception.maybe_sent)

        # the next attempt goes through
        self.client.send(CITIZEN, REMINDER, 'balie-msg-9')
        self.assertEqual(len(self.gateway.messages), 1)

    def test_internal_error_is_temporary(self):
        "Test that Vonage status 5 (internal error) is retried"
        self.gateway.fail_next(vonage_status='5')

        with self.assertRaises(SMSTemporaryError):
            self.client.send(CITIZEN, REMINDER, 'balie-msg-10')

    def test_connection_refused_is_temporary(self):
        "Test that a gateway that is down is retried and nothing was sent"
        self.gateway.down()

        with self.assertRaises(SMSTemporaryError) as context:
            self.client.send(CITIZEN, REMINDER, 'balie-msg-11')
        self.assertFalse(context.exception.maybe_sent)

        self.gateway.up()
        self.client.send(CITIZEN, REMINDER, 'balie-msg-11')
        self.assertEqual(len(self.gateway.messages), 1)

    def test_service_unavailable_is_temporary(self):
        "Test that a gateway answering 503 is retried"
        self.gateway.down(refuse=False)

        with self.assertRaises(SMSTemporaryError) as context:
            self.client.send(CITIZEN, REMINDER, 'balie-msg-12')
        self.assertEqual(context.exception.code, 503)

    def test_timeout_is_temporary_and_maybe_sent(self):
        "Test that a lost answer is retried and flagged as maybe sent"
        client = self.make_client(timeout=0.3)
        self.gateway.fail_next(delay=2, after_accept=True)

        with self.assertRaises(SMSTemporaryError) as context:
            client.send(CITIZEN, REMINDER, 'balie-msg-13')
        self.assertTrue(context.exception.maybe_sent)

    def test_retry_with_same_client_ref_is_not_delivered_twice(self):
        "Test that a retry after a lost answer gets the same message id"
        client = self.make_client(timeout=0.3)
        self.gateway.fail_next(delay=2, after_accept=True)
        with self.assertRaises(SMSTemporaryError):
            client.send(CITIZEN, REMINDER, 'balie-msg-14')

        result = client.send(CITIZEN, REMINDER, 'balie-msg-14')

        message, = self.gateway.messages
        self.assertEqual(result.message_ids, message['message_ids'])
        self.assertEqual(self.gateway.requests, 2)

    def test_unreadable_answer_is_temporary(self):
        "Test that an answer that is not the documented JSON is retried"
        with self.assertRaises(SMSTemporaryError) as context:
            SMSGateway._result(b'<html>Bad gateway</html>')
        self.assertTrue(context.exception.maybe_sent)

    # -- delivery receipts -----------------------------------------------

    def test_signed_receipt_is_accepted(self):
        "Test that a signed delivery receipt reaches us with our reference"
        result = self.client.send(CITIZEN, REMINDER, 'balie-msg-20')

        self.assertEqual(self.gateway.deliver('balie-msg-20'), [204])

        receipt, = self.endpoint.receipts
        self.assertEqual(receipt.client_ref, 'balie-msg-20')
        self.assertEqual(receipt.message_id, result.message_ids[0])
        self.assertEqual(receipt.status, 'delivered')
        self.assertEqual(receipt.error_code, '0')
        self.assertEqual(receipt.to, '32470123456')
        self.assertTrue(receipt.delivered)

    def test_receipt_is_verified_whatever_the_method(self):
        "Test receipts sent by GET, form POST and JSON POST"
        self.client.send(CITIZEN, "Welkom in België", 'balie-msg-21')

        for method in ['GET', 'POST', 'POST-JSON']:
            with self.subTest(method=method):
                self.assertEqual(self.gateway.deliver('balie-msg-21',
                        status='failed', err_code='3', method=method), [204])
        self.assertEqual(
            [(r.status, r.error_code) for r in self.endpoint.receipts],
            [('failed', '3')] * 3)

    def test_receipt_per_part(self):
        "Test that every part of a long SMS gets its receipt"
        result = self.client.send(CITIZEN, 'a' * 200, 'balie-msg-22')

        self.assertEqual(self.gateway.deliver('balie-msg-22'), [204, 204])
        self.assertEqual([r.message_id for r in self.endpoint.receipts],
            result.message_ids)

    def test_replayed_old_receipt_is_refused(self):
        "Test that a receipt older than max_age is refused"
        self.client.send(CITIZEN, REMINDER, 'balie-msg-23')

        self.assertEqual(self.gateway.deliver('balie-msg-23',
                timestamp=time.time() - 3600), [403])
        self.assertEqual(self.endpoint.receipts, [])
        self.assertIn('too old', self.endpoint.refused[0])

    def test_receipt_from_the_future_is_refused(self):
        "Test that a receipt dated ahead of the clock skew is refused"
        self.client.send(CITIZEN, REMINDER, 'balie-msg-24')
        params, = self.gateway.receipts('balie-msg-24',
            timestamp=time.time() + 3600)

        with self.assertRaises(SMSSignatureError):
            parse_delivery_receipt(params, SIGNATURE_SECRET)

    def test_forged_status_is_refused(self):
        "Test that changing a signed receipt breaks its signature"
        self.client.send(CITIZEN, REMINDER, 'balie-msg-25')
        params, = self.gateway.receipts('balie-msg-25', status='failed')
        params['status'] = 'delivered'

        with self.assertRaises(SMSSignatureError) as context:
            parse_delivery_receipt(params, SIGNATURE_SECRET)
        self.assertIn('does not match', context.exception.reason)

    def test_receipt_signed_with_another_secret_is_refused(self):
        "Test that only our signature secret is trusted"
        self.client.send(CITIZEN, REMINDER, 'balie-msg-26')
        params, = self.gateway.receipts('balie-msg-26')

        with self.assertRaises(SMSSignatureError):
            parse_delivery_receipt(params, 'another-secret')

    def test_unsigned_receipt_is_refused(self):
        "Test that a receipt without sig is refused"
        self.client.send(CITIZEN, REMINDER, 'balie-msg-27')
        params, = self.gateway.receipts('balie-msg-27')
        del params['sig']

        with self.assertRaises(SMSSignatureError) as context:
            parse_delivery_receipt(params, SIGNATURE_SECRET)
        self.assertIn('not signed', context.exception.reason)

    def test_signature_is_compared_without_case(self):
        "Test that a lowercase hex signature is as good as uppercase"
        self.client.send(CITIZEN, REMINDER, 'balie-msg-28')
        params, = self.gateway.receipts('balie-msg-28')
        params['sig'] = params['sig'].lower()

        receipt = parse_delivery_receipt(params, SIGNATURE_SECRET)
        self.assertEqual(receipt.client_ref, 'balie-msg-28')

    def test_unknown_receipt_status_is_normalised(self):
        "Test that 'undelivered' is 'failed' and the unexpected 'unknown'"
        now = 1_800_000_000
        for given, expected in [
                ('undelivered', 'failed'), ('weird', 'unknown'),
                ('expired', 'expired')]:
            params = {'messageId': 'ABC', 'status': given,
                'timestamp': str(now), 'nonce': 'n'}
            params['sig'] = sign_params(params, SIGNATURE_SECRET)
            receipt = parse_delivery_receipt(params, SIGNATURE_SECRET,
                now=now)
            self.assertEqual(receipt.status, expected)


@no_database
class SignatureTestCase(unittest.TestCase):
    "Test the Vonage signature algorithm"

    def test_md5_hash_vector(self):
        "Test the 'MD5 hash' method against the Vonage SDK's test vector"
        params = {'a': '1', 'b': '2', 'timestamp': '1461605396'}
        self.assertEqual(sign_params(params, 'secret', 'md5hash'),
            '6af838ef94998832dbfc29020b564830')

    def test_hmac_sha256_vector(self):
        "Test the 'SHA-256 HMAC' method against the Vonage SDK's vector"
        params = {'test': 'post request', 'testing': 'http client',
            'timestamp': '1234567890', 'api_key': 'asdfzxcv'}
        self.assertEqual(sign_params(params, 'qwerasdfzxcv', 'sha256'),
            '237B06FD1F994A9EC2F3283A4A0239F35B56D64639D6485B45CFFEDCB385B033')

    def test_sig_itself_is_not_signed(self):
        "Test that the sig parameter is left out of the signed string"
        params = {'a': '1', 'timestamp': '1'}
        self.assertEqual(sign_params(params, 's'),
            sign_params(dict(params, sig='whatever'), 's'))

    def test_ampersand_and_equals_become_underscore(self):
        "Test that '&' and '=' in values are signed as '_'"
        self.assertEqual(
            sign_params({'text': 'a&b=c', 'timestamp': '1'}, 's'),
            sign_params({'text': 'a_b_c', 'timestamp': '1'}, 's'))

    def test_unknown_method_is_refused(self):
        "Test that an unknown signature method is an error"
        with self.assertRaises(ValueError):
            sign_params({}, 's', 'crc32')


@no_database
class SegmentTestCase(unittest.TestCase):
    "Test the GSM alphabet and the SMS part count"

    def test_gsm_single_and_concatenated(self):
        "Test 160 GSM characters in one SMS and 153 per part beyond"
        for length, parts in [
                (1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3),
                (460, 4)]:
            with self.subTest(length=length):
                self.assertEqual(count_segments('a' * length), parts)

    def test_extension_characters_count_double(self):
        "Test that € and the other extension characters take two septets"
        self.assertTrue(is_gsm('€ [ ] { } ^ ~ \\ |'))
        self.assertEqual(count_segments('€' * 80), 1)
        self.assertEqual(count_segments('€' * 81), 2)
        self.assertEqual(count_segments('a' * 159 + '€'), 2)

    def test_escape_is_not_split_over_parts(self):
        "Test that an extension character on a part boundary moves along"
        self.assertEqual(count_segments('a' * 152 + '€' + 'a' * 152), 3)

    def test_ucs2_single_and_concatenated(self):
        "Test 70 UCS-2 characters in one SMS and 67 per part beyond"
        for length, parts in [
                (1, 1), (70, 1), (71, 2), (134, 2), (135, 3)]:
            with self.subTest(length=length):
                self.assertEqual(count_segments('ë' * length), parts)

    def test_emoji_count_two_code_units(self):
        "Test that a character outside the BMP takes two UCS-2 units"
        self.assertEqual(count_segments('😀' * 35), 1)
        self.assertEqual(count_segments('😀' * 36), 2)

    def test_empty_text_has_no_parts(self):
        "Test that an empty text counts no part"
        self.assertEqual(count_segments(''), 0)

    def test_dutch_text_is_gsm(self):
        "Test that plain Dutch (and French accents of GSM) stays 7-bit"
        for text in [
                REMINDER,
                "Uw paspoort ligt klaar. Breng uw oude pas mee!\n"
                "Stad Gent @ Botermarkt 1 - €0,00",
                "Café privé à Zürich: één keer, ÄÖÜ äöü ñ Ñ ß Ø Å Ç"]:
            with self.subTest(text=text):
                self.assertTrue(is_gsm(text))

    def test_belgie_and_typography_are_not_gsm(self):
        "Test that ë, curly quotes and dashes force UCS-2"
        for text in [
                "België", "‘Burgerzaken’", "“Burgerzaken”", "10–12 uur",
                "Gent — Stad", "naïef", "ç", "tab\there"]:
            with self.subTest(text=text):
                self.assertFalse(is_gsm(text))


@no_database
class GSMFriendlyTestCase(unittest.TestCase):
    "Test that texts are made GSM-friendly before sending"

    def test_plain_equivalents(self):
        "Test typography and accents that would force UCS-2"
        self.assertEqual(gsm_friendly("\u201cBelgi\u00eb\u201d \u2013 ao\u00fbt"),
            '"Belgie" - aout')
        self.assertEqual(gsm_friendly("na\u00efef, re\u00e7u, \u00eatre"),
            "naief, recu, etre")
        # what GSM has stays as it is
        self.assertEqual(gsm_friendly("caf\u00e9 \u00e0 \u00c7a \u20ac5"),
            "caf\u00e9 \u00e0 \u00c7a \u20ac5")
        for text in ["\u201cBelgi\u00eb\u201d", "ao\u00fbt", "10\u201312 uur"]:
            with self.subTest(text=text):
                self.assertTrue(is_gsm(gsm_friendly(text)))

    def test_no_equivalent_is_kept(self):
        "Test that emoji and other scripts are kept (then sent as UCS-2)"
        self.assertEqual(gsm_friendly("Merci \U0001F600"), "Merci \U0001F600")
        self.assertFalse(is_gsm(gsm_friendly("\u0645\u0631\u062d\u0628\u0627")))
