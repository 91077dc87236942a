# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""After the call: the dossier's workflow, the decision and the decision
letter that reaches the citizen through the outbox, in their language.
The caregiver allowance ("Mantelzorgpremie aanvragen") goes all the way
from the booking to a decision."""
import io

from pypdf import PdfReader

from trytond.pool import Pool

from balie_sign.tests.tools import MARIA, SignCase, card_number


def pdf_text(data):
    return ' '.join(page.extract_text() for page in PdfReader(
            io.BytesIO(data)).pages)


class BackOfficeTestCase(SignCase):
    "Test the dossier after the call: workflow, decision and letter"

    def dossier(self, appointment, *names):
        with self.transaction():
            dossier = Pool().get('balie.dossier')(self.dossier_id(
                    appointment))
            return {n: getattr(dossier, n) for n in names}

    def write(self, appointment, **values):
        with self.transaction():
            Dossier = Pool().get('balie.dossier')
            Dossier.write([Dossier(self.dossier_id(appointment))], values)

    def button(self, name, appointment):
        with self.transaction():
            Dossier = Pool().get('balie.dossier')
            return getattr(Dossier, name)([Dossier(self.dossier_id(
                            appointment))])

    def decisions(self, appointment):
        with self.transaction():
            pool = Pool()
            Message = pool.get('balie.message')
            Attachment = pool.get('ir.attachment')
            return [{
                    'channel': m.channel, 'state': m.state,
                    'language': m.language, 'recipient': m.recipient,
                    'body': m.body, 'subject': m.subject,
                    'attachments': [a.name for a in Attachment.search([
                                ('resource', '=', str(m))])],
                    } for m in Message.search([
                        ('dossier', '=', self.dossier_id(appointment)),
                        ('kind', '=', 'decision')], order=[('id', 'ASC')])]

    def test_caregiver_allowance_to_a_decision(self):
        "Test the caregiver allowance from the call to the decision letter"
        appointment = self.call(language='fr', notify_by='email_sms')
        self.dispatch()
        self.mailbox.messages.clear()
        # the call started: the dossier is being handled
        self.assertEqual(self.dossier(appointment, 'state', 'subject'), {
                'state': 'in_progress',
                'subject': "Mantelzorgpremie aanvragen"})
        # in the call: the clerk checks the card, the citizen her details
        with self.transaction():
            pool = Pool()
            Check = pool.get('balie.identity.check')
            Proposal = pool.get('balie.contact.proposal')
            Appointment = pool.get('balie.appointment')
            record = Appointment(appointment)
            Check.record_visual(record, MARIA, card_number())
            proposal = Proposal.propose(record, {
                    'phone': '+32471987654',
                    'email': 'maria@voorbeeld.example',
                    'street': 'Kerkstraat 12', 'postal_code': '9000',
                    'city': 'Gent'})
            Proposal.confirm([proposal])
        self.assertEqual(self.dossier(appointment, 'identity'),
            {'identity': 'verified'})

        # after the call: report and decision
        self.write(appointment, decision='granted',
            motivation="U zorgt elke week voor uw moeder.",
            report="Aanvraag besproken; identiteitskaart getoond.")
        self.button('decide', appointment)
        values = self.dossier(appointment, 'state', 'decided_at',
            'decision_letter', 'decision_letter_name', 'number')
        self.assertEqual(values['state'], 'decided')
        self.assertIsNotNone(values['decided_at'])
        letter = bytes(values['decision_letter'])
        self.assertTrue(letter.startswith(b'%PDF'))
        self.assertEqual(values['decision_letter_name'],
            'decision-%s.pdf' % values['number'])
        text = pdf_text(letter)
        self.assertIn('Maria Janssens', text)
        self.assertIn('Mantelzorgpremie aanvragen', text)
        self.assertIn('U zorgt elke week voor uw moeder.', text)
        self.assertIn(values['number'], text)

        email, sms = self.decisions(appointment)
        self.assertEqual((email['channel'], email['language'],
                email['recipient'], email['attachments']),
            ('email', 'fr', 'maria@voorbeeld.example',
                [values['decision_letter_name']]))
        self.assertIn('U zorgt elke week', email['body'])
        self.assertEqual((sms['channel'], sms['recipient']),
            ('sms', '+32471987654'))
        self.dispatch()
        mail, = self.mailbox.messages
        self.assertEqual(mail['To'],
            'Maria Janssens <maria@voorbeeld.example>')
        self.assertEqual(mail['Content-Language'], 'fr')
        attachment, = list(mail.iter_attachments())
        self.assertEqual(attachment.get_content_type(), 'application/pdf')
        self.assertEqual(attachment.get_filename(),
            values['decision_letter_name'])
        self.assertEqual(attachment.get_content(), letter)
        body = mail.get_body(('plain',)).get_content()
        self.assertIn('Mantelzorgpremie aanvragen', body)
        self.assertEqual(self.gateway.messages[-1]['to'], '32471987654')
        self.assertEqual([m['state'] for m in self.decisions(appointment)],
            ['delivered', 'sent'])

        events = self.events(appointment, 'decision')
        self.assertEqual(len(events), 1)
        self.assertIn('Granted', events[0])
        self.button('close', appointment)
        self.assertEqual(self.dossier(appointment, 'state'),
            {'state': 'closed'})

    def test_decision_needs_its_parts(self):
        "Test that a decision without what it needs says what is missing"
        from balie_sign.exceptions import DecisionError
        appointment = self.call()
        for values, missing in [
                ({}, 'Decision, Report of the Conversation'),
                ({'decision': 'refused', 'report': "Besproken."},
                    'Motivation'),
                ({'decision': 'granted', 'report': " "},
                    'Report of the Conversation'),
                ]:
            with self.subTest(values=values):
                self.write(appointment, **dict({'decision': None,
                            'report': None, 'motivation': None}, **values))
                with self.assertRaisesRegex(DecisionError, missing):
                    self.button('decide', appointment)
        self.assertEqual(self.dossier(appointment, 'state', 'decided_at'),
            {'state': 'in_progress', 'decided_at': None})
        self.assertEqual(self.decisions(appointment), [])

    def test_more_information_waits_for_the_citizen(self):
        "Test 'more information needed': a letter, then waiting"
        appointment = self.call(notify_by='email')
        self.write(appointment, decision='more_information',
            motivation="Stuur ons het attest van de dokter.",
            report="Attest ontbreekt.")
        self.button('decide', appointment)
        self.assertEqual(self.dossier(appointment, 'state'),
            {'state': 'waiting'})
        # the certificate arrives: back to work, then decided
        self.button('process', appointment)
        self.write(appointment, decision='refused',
            motivation="U woont niet in de gemeente.")
        self.button('decide', appointment)
        self.assertEqual(self.dossier(appointment, 'state'),
            {'state': 'decided'})
        first, second = self.decisions(appointment)
        self.assertIn('attest van de dokter', first['body'])
        self.assertIn('niet in de gemeente', second['body'])
        self.assertEqual(len(self.events(appointment, 'decision')), 2)

    def test_paper_citizen_gets_a_letter(self):
        "Test that without e-mail the letter goes by post"
        appointment = self.call(notify_by='sms')
        self.write(appointment, decision='granted', report="Besproken.")
        self.button('decide', appointment)
        sms, letter = self.decisions(appointment)
        self.assertEqual((sms['channel'], sms['attachments']), ('sms', []))
        self.assertEqual((letter['channel'], letter['state']),
            ('letter', 'sent'))
        self.assertEqual(len(letter['attachments']), 1)

    def test_workflow(self):
        "Test open → in progress → waiting → in progress → decided → closed"
        appointment = self.call(started=False)
        self.assertEqual(self.dossier(appointment, 'state'),
            {'state': 'open'})
        self.button('wait', appointment)
        self.assertEqual(self.dossier(appointment, 'state'),
            {'state': 'open'})
        self.button('process', appointment)
        self.button('wait', appointment)
        self.assertEqual(self.dossier(appointment, 'state'),
            {'state': 'waiting'})
        # waiting is not decided: the decision needs the dossier in hand
        self.button('decide', appointment)
        self.assertEqual(self.dossier(appointment, 'state'),
            {'state': 'waiting'})
        self.button('process', appointment)
        self.button('close', appointment)
        self.assertEqual(self.dossier(appointment, 'state'),
            {'state': 'in_progress'})
        self.write(appointment, decision='granted', report="Besproken.")
        self.button('decide', appointment)
        self.button('close', appointment)
        self.assertEqual(self.dossier(appointment, 'state'),
            {'state': 'closed'})
        self.button('reopen', appointment)
        self.assertEqual(self.dossier(appointment, 'state'),
            {'state': 'open'})
