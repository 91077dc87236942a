# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Identity and contact details in headless Chromium: the citizen logs in
at a real OpenID provider (oidc-provider on a free port) and comes back to
the portal; corrects a phone number after a mistake; axe-core on each
page at phone and desktop width."""
import datetime as dt
import unittest

from trytond.pool import Pool

from digitale_balie.tests.browser import BrowserTestCase

from balie_sign.tests.tools import (
    CLIENT_SECRET, HIGH, MARIA, OTHER, SUBSTANTIAL, OIDCProvider)
from digitale_balie.tests.tools import START, create_citizen



class IdentityBrowserTestCase(BrowserTestCase):
    "Test the identity and contact pages in Chromium"
    modules = ['balie_sign']

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        try:
            cls.provider = OIDCProvider(
                [cls.base_url + '/balie/identiteit/terug'])
        except unittest.SkipTest:
            cls.doClassCleanups()
            raise
        cls.addClassCleanup(cls.provider.stop)

    def call(self, name="Maria Janssens", start=START):
        "A citizen in a started video call, in English."
        if not getattr(self, 'service', None):
            _, _, self.service = self.setup_balie(
                check_email_domain=False,
                oidc_issuer=self.provider.issuer,
                oidc_client_id='balie',
                oidc_client_secret=CLIENT_SECRET,
                oidc_acr_values=HIGH + ' ' + SUBSTANTIAL)
        with self.transaction():
            pool = Pool()
            Appointment = pool.get('balie.appointment')
            Identifier = pool.get('party.identifier')
            party = create_citizen(name, lang='en')
            Identifier(party=party, type='be_nn', code=MARIA).save()
            appointment = Appointment(Appointment.book_slot({
                        'service': self.service, 'party': party.id,
                        'start': start, 'notify_by': 'paper',
                        'contact_email': 'maria.janssens@example.be',
                        'contact_mobile': '+32470123456',
                        'language': 'en'}))
            Appointment.start_service([appointment])
            return appointment.id

    def login(self, page, national_number):
        page.get_by_role('button', name='Log in').click()
        page.wait_for_url(self.provider.issuer + '/interaction/**')
        page.get_by_label('Rijksregisternummer').fill(national_number)
        page.get_by_role('button', name='Aanmelden').click()
        page.wait_for_url(self.url('/balie/identiteit?uitkomst=*'))

    def test_login_at_the_provider(self):
        "Test the login at the OpenID provider and back, then the details"
        appointment = self.call()
        for width in [360, 1280]:
            page = self.new_page(width)
            self.open_personal_link(page, appointment)
            page.get_by_role('link', name='Show who you are').click()
            page.wait_for_url(self.url('/balie/identiteit'))
            self.check_axe(page, 'identity-start')
            self.screenshot(page, 'identity-start')
            self.assertNoPageErrors(page)
        self.login(page, '85.07.30-033.28')
        page.wait_for_selector('#identity-done')
        self.assertIn('We know now that it is you',
            page.locator('#identity-message').inner_text())
        self.check_axe(page, 'identity-done')
        self.screenshot(page, 'identity-done')
        self.assertNoPageErrors(page)
        with self.transaction():
            Check = Pool().get('balie.identity.check')
            check, = Check.search([('appointment', '=', appointment)])
            self.assertEqual((check.state, check.assurance, check.acr),
                ('verified', 'high', HIGH))

        # the contact details: a mistake, then right
        page = self.new_page(360)
        self.open_personal_link(page, appointment)
        page.goto(self.url('/balie/gegevens'))
        page.get_by_label('Phone number').fill('12ab')
        page.get_by_label('Street and number').fill('Kerkstraat 12')
        page.get_by_label('Postal code').fill('9000')
        page.get_by_label('Town').fill('Gent')
        page.get_by_role('button', name='Send to the clerk').click()
        page.wait_for_selector('#contact-errors')
        self.assertEqual(page.get_by_label('Phone number').input_value(),
            '12ab')
        self.assertEqual(page.get_by_label('Town').input_value(), 'Gent')
        self.check_axe(page, 'contact-error')
        self.screenshot(page, 'contact-error')
        page.get_by_label('Phone number').fill('0471 98 76 54')
        page.get_by_role('button', name='Send to the clerk').click()
        page.wait_for_selector('#contact-saved')
        self.check_axe(page, 'contact-saved')
        self.assertNoPageErrors(page)
        with self.transaction():
            Proposal = Pool().get('balie.contact.proposal')
            proposal, = Proposal.search([
                    ('appointment', '=', appointment)])
            self.assertEqual((proposal.phone, proposal.city),
                ('+32471987654', 'Gent'))

    def test_login_with_another_number(self):
        "Test that a login as somebody else is not accepted"
        appointment = self.call(start=START + dt.timedelta(hours=1))
        page = self.new_page(360)
        self.open_personal_link(page, appointment)
        page.goto(self.url('/balie/identiteit'))
        self.login(page, OTHER)
        self.assertIn('does not match the details we have',
            page.locator('#identity-message').inner_text())
        self.check_axe(page, 'identity-mismatch')
        self.assertNoPageErrors(page)
        with self.transaction():
            Check = Pool().get('balie.identity.check')
            check, = Check.search([('appointment', '=', appointment)])
            self.assertEqual(check.state, 'mismatch')
