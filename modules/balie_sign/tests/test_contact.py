# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The citizen checks and corrects their contact details on the portal
during the call; the clerk confirms them into the party record."""
import datetime as dt

from trytond.pool import Pool

from balie_sign.tests.tools import JAN, SignCase
from digitale_balie.tests.tools import BASE, START, csrf_of

GOOD = {
    'phone': '0471 98 76 54',
    'email': 'Maria.Nieuw@Example.be',
    'street': 'Kerkstraat 12',
    'postal_code': '9000',
    'city': 'Gent',
    }


class ContactTestCase(SignCase):
    "Test the contact details proposed on the portal"

    def propose(self, client, values, csrf=None):
        if csrf is None:
            csrf = self.csrf(client, '/balie/gegevens')
        return client.post('/balie/gegevens', base_url=BASE,
            data=dict(values, csrf=csrf))

    def proposals(self, appointment):
        with self.transaction():
            Proposal = Pool().get('balie.contact.proposal')
            return [{f: getattr(p, f) for f in [
                        'id', 'state', 'phone', 'email', 'street',
                        'postal_code', 'city', 'changes', 'previous']}
                for p in Proposal.search([
                        ('appointment', '=', appointment)],
                    order=[('id', 'ASC')])]

    def button(self, name, proposal):
        with self.transaction():
            Proposal = Pool().get('balie.contact.proposal')
            getattr(Proposal, name)([Proposal(proposal)])

    def test_form_shows_the_current_details(self):
        "Test that the form starts from the party's details"
        appointment = self.call()
        client = self.open(appointment)
        status, html = self.page(client, '/balie')
        self.assertIn('href="/balie/gegevens"', html)
        status, html = self.page(client, '/balie/gegevens')
        self.assertEqual(status, 200)
        self.assertIn('<label for="contact-phone">Phone number</label>',
            html)
        self.assertIn('value="+32470123456"', html)
        self.assertIn('value="maria.janssens@example.be"', html)

    def test_bad_input_keeps_what_was_typed(self):
        "Test that wrong values come back as typed, with what is wrong"
        appointment = self.call()
        client = self.open(appointment)
        typed = {
            'phone': '12ab',
            'email': 'maria@',
            'street': 'Kerkstraat 12',
            'postal_code': '900',
            'city': '',
            }
        response = self.propose(client, typed)
        self.assertEqual(response.status_code, 400)
        html = response.get_data(as_text=True)
        self.assertIn('Something is not right', html)
        for value in ['12ab', 'maria@', 'Kerkstraat 12', '900']:
            self.assertIn('value="%s"' % value, html)
        self.assertIn('This is not a phone number we can use', html)
        self.assertIn('This is not a valid e-mail address', html)
        self.assertIn('A postal code has 4 digits', html)
        self.assertIn('Fill in the street, the postal code and the town',
            html)
        self.assertIn('aria-invalid="true"', html)
        self.assertIn('aria-describedby="contact-phone-error"', html)
        self.assertEqual(self.proposals(appointment), [])
        # a page that was open too long: nothing saved, nothing changed
        response = self.propose(client, GOOD, csrf='0' * 64)
        self.assertEqual(response.status_code, 403)
        self.assertEqual(self.proposals(appointment), [])

    def test_odd_characters_take_the_one_path(self):
        "Test that proposals clean text as every other entry point does"
        import unicodedata

        from balie_sign.contact import validate_details
        with self.transaction():
            values, errors = validate_details(dict(GOOD,
                    street=unicodedata.normalize('NFD', 'Rue de l\'Église 3'),
                    city='Gent\x00', phone='0471\x0098 76 54'))
            self.assertEqual(errors, {})
            self.assertEqual(values['street'], 'Rue de l\'Église 3')
            self.assertEqual(values['city'], 'Gent')
            self.assertEqual(values['phone'], '+32471987654')
            values, errors = validate_details(dict(GOOD, city='G\ud800'))
            self.assertEqual(set(errors), {'city'})
            self.assertIn('cannot be stored', errors['city'])

    def test_clerk_confirms_into_the_party(self):
        "Test a proposal confirmed into the party and the appointment"
        appointment = self.call()
        client = self.open(appointment)
        response = self.propose(client, GOOD)
        self.assertEqual(response.status_code, 303)
        self.assertEqual(response.headers['Location'],
            '/balie/gegevens?klaar=1')
        status, html = self.page(client, response.headers['Location'])
        self.assertIn('The clerk checks your details now', html)
        self.assertIn('value="maria.nieuw@example.be"'.lower(), html.lower())
        proposal, = self.proposals(appointment)
        self.assertEqual(proposal['state'], 'proposed')
        self.assertEqual(proposal['phone'], '+32471987654')
        self.assertIn('E-mail: maria.janssens@example.be → '
            'Maria.Nieuw@example.be', proposal['changes'])
        self.assertIn('Street: - → Kerkstraat 12', proposal['changes'])

        # a second proposal replaces the first
        response = self.propose(client,
            dict(GOOD, city='Gent (Sint-Amandsberg)'))
        first, second = self.proposals(appointment)
        self.assertEqual(first['state'], 'replaced')
        self.button('confirm', second['id'])
        with self.transaction():
            pool = Pool()
            Appointment = pool.get('balie.appointment')
            record = Appointment(appointment)
            party = record.party
            self.assertEqual(party.contact_value('mobile', 'phone'),
                '+32471987654')
            self.assertEqual(party.contact_value('email'),
                'Maria.Nieuw@example.be')
            address, = party.addresses
            self.assertEqual((address.street, address.postal_code,
                    address.city), ('Kerkstraat 12', '9000',
                    'Gent (Sint-Amandsberg)'))
            self.assertEqual(record.contact_email, 'Maria.Nieuw@example.be')
            self.assertEqual(record.contact_mobile, '+32471987654')
        event, = self.events(appointment, 'contact')
        self.assertIn('confirmed', event)
        self.assertIn('Kerkstraat 12', event)
        status, html = self.page(client, '/balie/gegevens')
        self.assertIn('The clerk has saved your details', html)

    def test_clerk_rejects(self):
        "Test that a rejected proposal leaves the party as it was"
        appointment = self.call()
        client = self.open(appointment)
        self.propose(client, dict(GOOD, email=''))
        proposal, = self.proposals(appointment)
        self.button('reject', proposal['id'])
        with self.transaction():
            party = Pool().get('balie.appointment')(appointment).party
            self.assertEqual(party.contact_value('email'), None)
        self.assertIn('not accepted', self.events(appointment, 'contact')[0])

    def test_removing_a_value(self):
        "Test that an e-mail address the citizen removes is deactivated"
        appointment = self.call()
        with self.transaction():
            pool = Pool()
            Mechanism = pool.get('party.contact_mechanism')
            party = pool.get('balie.appointment')(appointment).party
            Mechanism.create([{'party': party.id, 'type': 'email',
                        'value': 'maria.janssens@example.be'}])
        client = self.open(appointment)
        self.propose(client, dict(GOOD, email=''))
        proposal, = self.proposals(appointment)
        self.button('confirm', proposal['id'])
        with self.transaction():
            party = Pool().get('balie.appointment')(appointment).party
            self.assertIsNone(party.contact_value('email'))

    def test_only_ones_own_proposal(self):
        "Test that one citizen's session never reaches another's (IDOR)"
        maria = self.call()
        jan = self.call(name="Jan Peeters", national_number=JAN,
            start=START + dt.timedelta(hours=1),
            email='jan.peeters@example.be', mobile='+32470111222')
        maria_client = self.open(maria)
        jan_client = self.open(jan)
        self.propose(maria_client, GOOD)
        status, html = self.page(jan_client, '/balie/gegevens')
        self.assertNotIn('Kerkstraat', html)
        self.assertNotIn('maria', html.lower())
        self.assertIn('jan.peeters@example.be', html)
        # Jan's page with Maria's CSRF token: refused
        maria_csrf = csrf_of(self.page(maria_client, '/balie/gegevens')[1])
        response = self.propose(jan_client, GOOD, csrf=maria_csrf)
        self.assertEqual(response.status_code, 403)
        self.assertEqual(self.proposals(jan), [])
        self.assertEqual(len(self.proposals(maria)), 1)

    def test_not_outside_the_call_nor_in_preview(self):
        "Test that the form changes nothing outside the call or in preview"
        later = self.call(started=False)
        client = self.open(later)
        status, html = self.page(client, '/balie/gegevens')
        self.assertIn('during the video call', html)
        self.assertNotIn('<form method="post" action="/balie/gegevens"',
            html)
        response = self.propose(client, GOOD, csrf=csrf_of(html))
        self.assertEqual(response.status_code, 409)
        self.assertEqual(self.proposals(later), [])

        appointment = self.call(name="Jan Peeters", national_number=JAN,
            start=START + dt.timedelta(hours=1))
        client = self.open(appointment, purpose='preview')
        response = self.propose(client, GOOD)
        self.assertEqual(response.status_code, 303)
        self.assertEqual(self.proposals(appointment), [])
