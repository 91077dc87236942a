# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""One table of bad and odd citizen data, fed to every entry point: the same
outcome on every path, a clear user error or a clean value, never a
traceback."""
import unicodedata
import unittest

from trytond.exceptions import UserError
from trytond.modules.company.tests import set_company
from trytond.pool import Pool
from trytond.tests.test_tryton import drop_db, with_transaction
from trytond.transaction import Transaction

from digitale_balie.tests.activation import activate
from digitale_balie.party import (
    clean_name, parse_email, parse_national_number, parse_phone)
from digitale_balie.tests.tools import (
    TUESDAY, create_balie, create_citizen, frozen, local)

AMELIE = unicodedata.normalize('NFD', "Amélie Dubois")
NAMES = [
    # typed, stored (None: refused with a user error)
    ("Jan Peeters", "Jan Peeters"),
    ("Jan\x00Peeters", "JanPeeters"),
    ("Jan\tPeeters\n", "Jan Peeters"),
    ("Jan \x1b[31mPeeters", "Jan [31mPeeters"),
    ("Jan\ud800Peeters", None),
    (AMELIE, "Amélie Dubois"),
    ("   ", None),
    ("\x00\x00", None),
    ("محمد العلي", "محمد العلي"),
    ("x" * 10000, None),
    ]
PHONES = [
    # typed, E.164 (None: refused), can receive SMS
    ("0470 12 34 56", "+32470123456", True),
    ("0470/12.34.56", "+32470123456", True),
    ("+32 470 12 34 56", "+32470123456", True),
    ("0032470123456", "+32470123456", True),
    ("02 279 22 11", "+3222792211", False),
    ("050 44 80 00", "+3250448000", False),
    ("+33 6 12 34 56 78", "+33612345678", True),
    ("12", None, False),
    ("letters", None, False),
    ("0470\x0012 34 56", "+32470123456", True),
    ("0470\ud80012", None, False),
    ("0" * 10000, None, False),
    ]
EMAILS = [
    ("jan@example.be", "jan@example.be"),
    (" jan@example.be ", "jan@example.be"),
    ("jan@@example.be", None),
    ("jan@localhost", None),
    ("jan@example..be", None),
    ("j" * 300 + "@example.be", None),
    ("jan\x00@example.be", "jan@example.be"),
    ("jan\ud800@example.be", None),
    ("jan@exämple.be", "jan@exämple.be"),
    ]
NATIONAL_NUMBERS = [
    # typed, compact (None: refused)
    ("85.07.30-033.28", "85073003328"),
    # born in 2000 or later: the check digits count from 2000
    ("00.01.01-001.05", "00010100105"),
    ("00.01.01-001.74", None),
    # BIS: month + 20 or + 40
    ("85.27.30-033.71", "85273003371"),
    ("12345678901", None),
    ("85073003328\x00", "85073003328"),
    ("8507\ud8003003328", None),
    ]


def outcome(function, *args, **kwargs):
    "('ok', result) or ('refused', None) for a user error; others raise."
    try:
        return 'ok', function(*args, **kwargs)
    except UserError as exception:
        str(exception).encode('utf-8')  # printable for the client
        return 'refused', None


class ValidationTestCase(unittest.TestCase):
    "Test the one validation path of citizen data"

    @classmethod
    def setUpClass(cls):
        drop_db()
        activate(['digitale_balie'], ('nl', 'fr'))

    @classmethod
    def tearDownClass(cls):
        drop_db()

    @with_transaction()
    def test_names_on_every_path(self):
        "Test names through the party (sao, RPC) and the wizard's check"
        Party = Pool().get('party.party')
        party = create_citizen("Placeholder")
        for typed, stored in NAMES:
            with self.subTest(typed=typed[:20]):
                expected = 'ok' if stored is not None else 'refused'
                result, value = outcome(clean_name, typed, "Name")
                self.assertEqual((result, value),
                    (expected, stored))
                result, created = outcome(Party.create, [{'name': typed}])
                self.assertEqual(result, expected)
                if created:
                    self.assertEqual(created[0].name, stored)
                result, _ = outcome(Party.write, [party], {'name': typed})
                self.assertEqual(result, expected)
                if stored is not None:
                    self.assertEqual(Party(party.id).name, stored)
        # the name typed with combining accents is found as typed in NFC
        self.assertTrue(Party.search([('name', '=', "Amélie Dubois")]))

    @with_transaction()
    def test_contacts_on_every_path(self):
        "Test phones and e-mail through book_slot, create and the parsers"
        pool = Pool()
        Appointment = pool.get('balie.appointment')
        ContactMechanism = pool.get('party.contact_mechanism')
        company, employees, service = create_balie(clerks=["Anna Peeters"])
        party = create_citizen()
        slots = iter(range(9 * 60, 12 * 60, 30))

        def book(**values):
            minutes = next(slots)
            values.update({'service': service.id, 'party': party.id,
                    'start': local(TUESDAY, minutes // 60, minutes % 60)})
            appointment = Appointment(Appointment.book_slot(values))
            Appointment.cancel([appointment])
            return appointment

        with set_company(company), frozen():
            for typed, e164, sms in PHONES:
                with self.subTest(phone=typed[:20]):
                    expected = 'ok' if e164 else 'refused'
                    result, value = outcome(parse_phone, typed)
                    self.assertEqual(result, expected)
                    if e164:
                        self.assertEqual(value, (e164, sms))
                    slots = iter(range(9 * 60, 12 * 60, 30))
                    result, appointment = outcome(book,
                        contact_mobile=typed, notify_by='paper')
                    self.assertEqual(result, expected)
                    if appointment:
                        self.assertEqual(appointment.contact_mobile, e164)
                    # SMS only to a mobile
                    slots = iter(range(9 * 60, 12 * 60, 30))
                    result, _ = outcome(book,
                        contact_mobile=typed, notify_by='sms')
                    self.assertEqual(result, 'ok' if sms and e164
                        else 'refused')
                    result, _ = outcome(ContactMechanism.create, [{
                                'party': party.id, 'type': 'mobile',
                                'value': typed}])
                    self.assertIn(result, {'ok', 'refused'})
            for typed, normalised in EMAILS:
                with self.subTest(email=typed[:20]):
                    expected = 'ok' if normalised else 'refused'
                    result, value = outcome(parse_email, typed)
                    self.assertEqual((result, value),
                        (expected, normalised))
                    slots = iter(range(9 * 60, 12 * 60, 30))
                    result, appointment = outcome(book, contact_email=typed)
                    self.assertEqual(result, expected)
                    if appointment:
                        self.assertEqual(
                            appointment.contact_email, normalised)
                    result, _ = outcome(ContactMechanism.create, [{
                                'party': party.id, 'type': 'email',
                                'value': typed}])
                    self.assertEqual(result, expected)
            for note in ["Breng\x00 uw kaart mee", "A\ud800", "x" * 10000,
                    "Regel 1\nRegel 2\r\n", "שלום"]:
                with self.subTest(note=note[:20]):
                    slots = iter(range(9 * 60, 12 * 60, 30))
                    result, appointment = outcome(book, note=note,
                        subject=note)
                    self.assertIn(result, {'ok', 'refused'})
                    if appointment:
                        self.assertNotIn('\x00', appointment.note)
                        self.assertNotIn('\x00', appointment.dossier.subject)

    @with_transaction()
    def test_national_numbers(self):
        "Test national register and BIS numbers, born before and after 2000"
        for typed, compact in NATIONAL_NUMBERS:
            with self.subTest(number=typed):
                result, value = outcome(parse_national_number, typed)
                self.assertEqual(result, 'ok' if compact else 'refused')
                if compact:
                    self.assertEqual(value[1], compact)

    @with_transaction()
    def test_errors_in_the_users_language(self):
        "Test that a refused text answers in Dutch and French"
        Party = Pool().get('party.party')
        for language, word in [('nl', 'Typ'), ('fr', 'Tapez')]:
            with Transaction().set_context(language=language):
                with self.assertRaises(UserError) as cm:
                    Party.create([{'name': "  \x00 "}])
                self.assertIn(word, str(cm.exception))
