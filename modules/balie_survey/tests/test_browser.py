# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The invitation after the call and the survey in headless Chromium: the
dialog (modal, focus inside, Escape keeps it on the page), the accept and
decline paths with the keyboard and the mouse, and axe-core on every page
in Dutch and French at phone and desktop width."""
import datetime as dt

from trytond.pool import Pool

from digitale_balie.tests.browser import WIDTHS, BrowserTestCase
from digitale_balie.tests.tools import START

INVITE = {
    'nl': "Wilt u ons helpen met een paar korte vragen? Het is vrijwillig.",
    'fr': "Voulez-vous nous aider en répondant à quelques questions courtes",
    }


class SurveyBrowserTestCase(BrowserTestCase):
    "Test the survey after the call in Chromium"
    # balie_video too, so that its translations are loaded
    modules = ['balie_video', 'balie_survey']

    def ended_call(self, language='nl', name="Maria Janssens", start=START):
        "A video appointment whose call just ended."
        if not getattr(self, 'service', None):
            _, _, self.service = self.setup_balie()
        appointment = self.book(self.service, start=start,
            language=language, name=name, notify_by='email')
        self.clock.now = start + dt.timedelta(minutes=1)
        with self.transaction():
            pool = Pool()
            Appointment = pool.get('balie.appointment')
            Room = pool.get('balie.video.room')
            record = Appointment(appointment)
            room = Room.for_appointment(record)
            Appointment.start_service([record])
            Room.open([room])
        self.clock.now = start + dt.timedelta(minutes=25)
        with self.transaction():
            pool = Pool()
            Appointment = pool.get('balie.appointment')
            Room = pool.get('balie.video.room')
            Room.close(Room.search([('appointment', '=', appointment)]),
                next_steps="U krijgt binnen 2 weken een brief.")
            Appointment.mark_done([Appointment(appointment)])
        return appointment

    def invitation_state(self, appointment):
        with self.transaction():
            Invitation = Pool().get('balie.survey.invitation')
            invitation, = Invitation.search(
                [('appointment', '=', appointment)])
            return invitation.state

    def responses(self):
        with self.transaction():
            Response = Pool().get('balie.survey.response')
            return Response.search_count([])

    def after_call_page(self, appointment, width=360, language='nl'):
        page = self.new_page(width,
            locale='fr-BE' if language == 'fr' else 'nl-BE')
        self.open_personal_link(page, appointment)
        page.goto(self.url('/balie/einde'))
        page.wait_for_function("() => document.getElementById("
            "'survey-invite').matches(':modal')")
        return page

    def test_accept_with_the_keyboard(self):
        "Test 'Yes, gladly': focus in the dialog, Enter, answer, thanks"
        appointment = self.ended_call()
        before = self.responses()
        page = self.after_call_page(appointment)
        dialog = page.get_by_role('dialog', name="Wat vond u ervan?")
        self.assertTrue(dialog.is_visible())
        self.assertIn(INVITE['nl'], dialog.inner_text())
        self.assertEqual(page.evaluate('document.activeElement.id'),
            'survey-yes')
        self.screenshot(page, 'survey-invite-nl')
        self.check_axe(page, 'survey-invite-nl')
        page.keyboard.press('Enter')
        page.wait_for_url(self.url('/balie/enquete'))
        self.check_axe(page, 'survey-form-nl')
        # a smiley by touch, then changed with the arrow keys
        first = page.locator('form.survey fieldset').first
        first.get_by_role('radio', name='Heel goed', exact=True).click()
        self.assertTrue(first.get_by_role('radio', name='Heel goed',
                exact=True).is_checked())
        page.keyboard.press('ArrowDown')
        self.assertTrue(first.get_by_role('radio', name='Goed',
                exact=True).is_checked())
        page.get_by_role('radio', name='Ja', exact=True).check()
        page.get_by_role('textbox').fill('Het geluid haperde even.')
        self.screenshot(page, 'survey-form-filled-nl')
        page.get_by_role('button', name='Verstuur mijn antwoorden').click()
        page.wait_for_url(self.url('/balie/enquete/klaar'))
        self.assertIn('Bedankt voor uw antwoorden',
            page.locator('main').inner_text())
        self.check_axe(page, 'survey-thanks-nl')
        self.assertEqual(self.invitation_state(appointment), 'answered')
        self.assertEqual(self.responses(), before + 1)
        page.goto(self.url('/balie/einde'))
        self.assertEqual(page.locator('#survey-invite').count(), 0)
        self.assertNoPageErrors(page)

    def test_decline_with_the_keyboard(self):
        "Test 'No, thanks': Tab, Enter, recorded as declined, no response"
        appointment = self.ended_call(language='fr', name="Claire Dubois")
        before = self.responses()
        page = self.after_call_page(appointment, width=1280, language='fr')
        self.assertIn(INVITE['fr'],
            page.locator('#survey-invite').inner_text())
        page.keyboard.press('Tab')
        self.assertEqual(page.evaluate('document.activeElement.id'),
            'survey-no')
        page.keyboard.press('Enter')
        page.wait_for_url(self.url('/balie/enquete/klaar'))
        self.assertIn('Pas de problème', page.locator('main').inner_text())
        self.check_axe(page, 'survey-declined-fr')
        self.assertEqual(self.invitation_state(appointment), 'declined')
        self.assertEqual(self.responses(), before)
        page.goto(self.url('/balie/einde'))
        self.assertEqual(page.locator('#survey-invite').count(), 0)
        self.assertNoPageErrors(page)

    def test_escape_keeps_the_question_on_the_page(self):
        "Test that Escape closes the dialog but does not decline"
        appointment = self.ended_call()
        page = self.after_call_page(appointment, width=1280)
        page.keyboard.press('Escape')
        page.wait_for_function("() => !document.getElementById("
            "'survey-invite').matches(':modal')")
        self.assertTrue(page.locator('#survey-invite').is_visible())
        self.assertEqual(self.invitation_state(appointment), 'offered')
        self.check_axe(page, 'survey-invite-inline-nl')
        page.get_by_role('link', name='Ja, graag').click()
        page.wait_for_url(self.url('/balie/enquete'))
        # nothing answered: the form says so and keeps what was typed
        page.get_by_role('textbox').fill('   ')
        page.get_by_role('button', name='Verstuur mijn antwoorden').click()
        alert = page.get_by_role('alert')
        self.assertIn('nog geen vraag beantwoord', alert.inner_text())
        self.check_axe(page, 'survey-form-error-nl')
        self.assertNoPageErrors(page, ignore=('Failed to load resource',))

    def test_every_survey_page_is_accessible(self):
        "Test the survey pages with axe in nl and fr, phone and desktop"
        for language, name in [('nl', "Maria Janssens"),
                ('fr', "Claire Dubois")]:
            appointment = self.ended_call(language=language, name=name,
                start=START if language == 'nl'
                else START + dt.timedelta(hours=1))
            for width in WIDTHS:
                page = self.after_call_page(appointment, width, language)
                for path in ['/balie/einde', '/balie/enquete', '/balie']:
                    with self.subTest(language=language, width=width,
                            path=path):
                        self.check_page(page, path, language, 'survey-%s-%s' % (
                                path.strip('/').replace('/', '-'), language))
                page.close()
