# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"The booking card: a PDF in the citizen's language with a working QR code."
import io

import pypdfium2
import zxingcpp
from pypdf import PdfReader

from trytond.exceptions import UserError
from trytond.pool import Pool
from trytond.tests.test_tryton import ModuleTestCase, with_transaction
from trytond.transaction import Transaction

from digitale_balie.tests.translations import load_translations
from digitale_balie.tests.tools import (
    TUESDAY, create_balie, create_citizen, frozen, local)
from trytond.modules.company.tests import set_company


def pdf_text(data):
    return '\n'.join(
        page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def pdf_qr_codes(data):
    "Decode the QR codes of each page, rendered at 200 dpi."
    document = pypdfium2.PdfDocument(data)
    codes = []
    for page in document:
        image = page.render(scale=200 / 72).to_pil()
        codes.append([r.text for r in zxingcpp.read_barcodes(image)])
    return codes


class BookingCardTestCase(ModuleTestCase):
    "Test the booking card"
    module = 'digitale_balie'

    def print_card(self, appointments):
        pool = Pool()
        Card = pool.get('balie.appointment.card', type='report')
        data = Card.issue(appointments)
        extension, content, _, name = Card.execute(data['ids'], data)
        return extension, bytes(content), data

    def book(self, service, party, start, language):
        Appointment = Pool().get('balie.appointment')
        return Appointment(Appointment.book_slot({
                    'service': service.id, 'party': party.id,
                    'start': start, 'language': language,
                    'note': "Breng de kaart van uw moeder mee.",
                    }))

    @with_transaction()
    def test_card_in_dutch_with_working_qr(self):
        "Test the Dutch card: name, subject, date in words and the QR link"
        pool = Pool()
        Token = pool.get('balie.access.token')
        load_translations(['digitale_balie'])
        company, employees, service = create_balie()
        party = create_citizen("Maria Janssens")
        with set_company(company), frozen():
            appointment = self.book(
                service, party, local(TUESDAY, 10, 30), 'nl')
            extension, content, data = self.print_card([appointment])
        self.assertEqual(extension, 'pdf')
        self.assertTrue(content.startswith(b'%PDF'))
        text = pdf_text(content)
        for expected in ["Maria Janssens", "Mantelzorgpremie aanvragen",
                "dinsdag 8 december 2026 om 10.30 uur", "Anna",
                "Uw videoafspraak", "Breng de kaart van uw moeder mee."]:
            with self.subTest(expected=expected):
                self.assertIn(expected, text.replace('\n', ' '))
        raw = data['tokens'][str(appointment.id)]
        url = 'http://localhost:8000/a/' + raw
        self.assertEqual(pdf_qr_codes(content), [[url]])
        self.assertIn(raw, text.replace('\n', ''))
        token = Token.lookup(raw)
        self.assertEqual(token.appointment, appointment)
        self.assertEqual(token.purpose, 'card')

    @with_transaction()
    def test_card_in_french(self):
        "Test that a French-speaking citizen gets a French card"
        load_translations(['digitale_balie'])
        company, employees, service = create_balie()
        party = create_citizen("Claire Dubois", lang='fr')
        with set_company(company), frozen():
            appointment = self.book(
                service, party, local(TUESDAY, 10, 30), 'fr')
            _, content, _ = self.print_card([appointment])
        text = pdf_text(content).replace('\n', ' ')
        self.assertIn("mardi 8 décembre 2026 à 10 h 30", text)
        self.assertIn("Votre rendez-vous vidéo", text)

    @with_transaction()
    def test_reprint_revokes_previous_card(self):
        "Test that a reprinted card gets a new link and the old one stops"
        pool = Pool()
        Token = pool.get('balie.access.token')
        company, employees, service = create_balie()
        party = create_citizen()
        with set_company(company), frozen():
            appointment = self.book(service, party, local(TUESDAY, 9), 'nl')
            first = self.print_card([appointment])[2]['tokens']
            second = self.print_card([appointment])[2]['tokens']
        old, new = first[str(appointment.id)], second[str(appointment.id)]
        self.assertNotEqual(old, new)
        self.assertIsNone(Token.lookup(old))
        self.assertIsNotNone(Token.lookup(new))
        self.assertEqual(
            [e.kind for e in appointment.dossier.events].count('card'), 2)

    @with_transaction()
    def test_card_without_link_is_refused(self):
        "Test that the report alone cannot print a card without a link"
        pool = Pool()
        Card = pool.get('balie.appointment.card', type='report')
        company, employees, service = create_balie()
        party = create_citizen()
        with set_company(company), frozen():
            appointment = self.book(service, party, local(TUESDAY, 9), 'nl')
            with self.assertRaises(UserError):
                Card.execute([appointment.id], {})

    @with_transaction()
    def test_print_wizard_issues_link(self):
        "Test the Print Booking Card wizard returns the card data"
        pool = Pool()
        PrintCard = pool.get('balie.appointment.print_card', type='wizard')
        company, employees, service = create_balie()
        party = create_citizen()
        with set_company(company), frozen():
            appointment = self.book(service, party, local(TUESDAY, 9), 'nl')
            session_id, _, _ = PrintCard.create()
            with Transaction().set_context(
                    active_model='balie.appointment',
                    active_id=appointment.id, active_ids=[appointment.id]):
                result = PrintCard.execute(session_id, {}, 'print_')
        action, = result['actions']
        self.assertEqual(action[0]['report_name'], 'balie.appointment.card')
        self.assertIn(str(appointment.id), action[1]['tokens'])


del ModuleTestCase
