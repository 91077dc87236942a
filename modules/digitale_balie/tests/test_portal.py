# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The citizen's portal through trytond's WSGI application (werkzeug's test
client): sessions, language, CSRF, rate limits, headers, the calendar file,
moving and cancelling, the manual, and that one citizen never sees another.
"""
import datetime as dt
import io
import re
from unittest.mock import patch

from icalendar import Calendar
from pypdf import PdfReader
from werkzeug.test import Client

from trytond.pool import Pool
from trytond.transaction import Transaction
from trytond.wsgi import app

from digitale_balie import web
from digitale_balie.exceptions import ConfigurationError
from digitale_balie.web import csrf_token
from digitale_balie.slots import to_utc
from digitale_balie.tests.sql import sent_statements
from digitale_balie.tests.tools import BASE, OutboxCase, TUESDAY, csrf_of

PNG = (b'\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01'
    b'\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f'
    b'\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82')



class PortalTestCase(OutboxCase):
    "The citizen's portal pages"
    languages = ('nl', 'fr')

    def setUp(self):
        super().setUp()
        self.serve_portal()
        self.addCleanup(web.LINK_LIMITER.reset)
        self.addCleanup(web.FAILED_LINK_LIMITER.reset)

    def get(self, client, path, status=200):
        response = client.get(path, base_url=BASE)
        self.assertEqual(response.status_code, status,
            response.get_data()[:2000].decode('utf-8', 'replace'))
        return response

    def appointment(self, appointment):
        with self.transaction():
            record = Pool().get('balie.appointment')(appointment)
            return {f: getattr(record, f) for f in [
                    'state', 'start', 'end', 'employee', 'ical_sequence']}

    def test_personal_page_layout_and_headers(self):
        "Test the personal page: buttons, countdown, headers, theme"
        _, _, service = self.setup_balie(portal_colour='#7a1f5c')
        appointment = self.book(service, to_utc(TUESDAY, dt.time(10, 30)),
            notify_by='paper')
        client = self.open(appointment)
        page = self.get(client, '/balie')
        html = page.get_data(as_text=True)
        self.assertIn('Goedendag Maria', html)
        for href in ['/balie/uitleg', '/balie/afspraak.ics',
                '/balie/verzetten', 'tel:+3250123456']:
            self.assertIn('href="%s"' % href, html)
        self.assertIn('data-start="2026-12-08T09:30:00Z"', html)
        self.assertIn('Nog {n} dagen', html)
        self.assertIn('<script src="/balie/static/balie.js"', html)
        headers = page.headers
        policy = headers['Content-Security-Policy']
        self.assertIn("frame-ancestors 'none'", policy)
        self.assertIn("script-src 'self'", policy)
        self.assertNotIn('unsafe-inline', policy)
        self.assertEqual(headers['Referrer-Policy'], 'no-referrer')
        self.assertEqual(headers['X-Frame-Options'], 'DENY')
        self.assertEqual(headers['Cache-Control'], 'no-store')
        theme = self.get(client, '/balie/theme.css')
        self.assertIn('--brand: #7a1f5c', theme.get_data(as_text=True))
        for name, kind in [('balie.css', 'text/css'),
                ('balie.js', 'text/javascript'),
                ('icon-phone.svg', 'image/svg+xml')]:
            asset = self.get(client, '/balie/static/%s' % name)
            self.assertTrue(asset.headers['Content-Type'].startswith(kind))
        self.assertIn(client.get('/balie/static/..%2Fportal.py',
                base_url=BASE).status_code, {404, 405})
        self.get(client, '/balie/static/missing.css', status=404)

    def test_language_switch_needs_csrf(self):
        "Test the language switch: CSRF token and origin are checked"
        _, _, service = self.setup_balie()
        appointment = self.book(service, to_utc(TUESDAY, dt.time(10, 30)),
            notify_by='paper')
        client = self.open(appointment)
        html = self.get(client, '/balie').get_data(as_text=True)
        self.assertIn('lang="nl"', html)
        token = csrf_of(html)

        refused = client.post('/balie/taal', base_url=BASE,
            data={'lang': 'fr', 'next': '/balie'})
        self.assertEqual(refused.status_code, 403)
        self.assertIn('te lang open', refused.get_data(as_text=True))
        # another site's Origin: our 403 page (not trytond's bare 500); a
        # browser that sends no Origin still tells where it comes from
        foreign = client.post('/balie/taal', base_url=BASE,
            data={'lang': 'fr', 'csrf': token},
            headers={'Origin': 'https://evil.example'})
        self.assertEqual(foreign.status_code, 403)
        self.assertIn('te lang open', foreign.get_data(as_text=True))
        forged = client.post('/balie/taal', base_url=BASE,
            data={'lang': 'fr', 'csrf': token},
            headers={'Sec-Fetch-Site': 'cross-site'})
        self.assertEqual(forged.status_code, 403)
        wrong = client.post('/balie/taal', base_url=BASE,
            data={'lang': 'fr', 'csrf': '0' * 64})
        self.assertEqual(wrong.status_code, 403)
        self.assertIn('lang="nl"',
            self.get(client, '/balie').get_data(as_text=True))

        # a browser's form post under "Referrer-Policy: no-referrer" says
        # "Origin: null"; a cross-site one is still refused
        forged = client.post('/balie/taal', base_url=BASE,
            data={'lang': 'fr', 'csrf': token},
            headers={'Origin': 'null', 'Sec-Fetch-Site': 'cross-site'})
        self.assertEqual(forged.status_code, 403)
        response = client.post('/balie/taal', base_url=BASE,
            data={'lang': 'fr', 'csrf': token, 'next': '//evil.example/'},
            headers={'Origin': 'null', 'Sec-Fetch-Site': 'same-origin'})
        self.assertEqual(response.status_code, 303)
        self.assertEqual(response.headers['Location'], '/balie')
        html = self.get(client, '/balie').get_data(as_text=True)
        self.assertIn('lang="fr"', html)
        self.assertIn('Je ne peux pas venir', html)
        client.post('/balie/taal', base_url=BASE,
            data={'lang': 'en', 'csrf': token})
        self.assertIn('I cannot come',
            self.get(client, '/balie').get_data(as_text=True))

    def test_link_look_ups_are_rate_limited(self):
        "Test that guessing links from one address ends with 429"
        _, _, service = self.setup_balie()
        appointment = self.book(service, to_utc(TUESDAY, dt.time(10, 30)),
            notify_by='paper')
        raw = self.link(appointment)
        client = Client(app)
        for i in range(10):
            response = client.get('/a/abcd-efgh-jkmn-pqrs-tvwx-yz01-%04d'
                % i, base_url=BASE)
            self.assertEqual(response.status_code, 404)
        response = client.get('/a/%s' % raw, base_url=BASE)
        self.assertEqual(response.status_code, 429)
        self.assertGreater(int(response.headers['Retry-After']), 0)
        self.assertIn('Even geduld', response.get_data(as_text=True))
        self.assertNotIn('Set-Cookie', response.headers)
        # another address is not affected
        response = client.get('/a/%s' % raw, base_url=BASE,
            environ_overrides={'REMOTE_ADDR': '192.0.2.7'})
        self.assertEqual(response.status_code, 303)

        # and valid look-ups are limited too, more generously
        web.FAILED_LINK_LIMITER.reset()
        statuses = [client.get('/a/%s' % raw, base_url=BASE,
                environ_overrides={'REMOTE_ADDR': '192.0.2.8'}).status_code
            for _ in range(web.LINK_LIMITER.limit + 1)]
        self.assertEqual(statuses[:-1], [303] * web.LINK_LIMITER.limit)
        self.assertEqual(statuses[-1], 429)

    def test_calendar_file(self):
        "Test the calendar file of the personal page"
        _, _, service = self.setup_balie()
        appointment = self.book(service, to_utc(TUESDAY, dt.time(10, 30)),
            notify_by='paper')
        client = self.open(appointment)
        response = self.get(client, '/balie/afspraak.ics')
        self.assertTrue(
            response.headers['Content-Type'].startswith('text/calendar'))
        self.assertIn('attachment',
            response.headers['Content-Disposition'])
        calendar = Calendar.from_ical(response.get_data())
        self.assertEqual(str(calendar['method']), 'PUBLISH')
        event, = calendar.walk('VEVENT')
        self.assertTrue(str(event['uid']).startswith('balie-'))
        self.assertEqual(event.decoded('dtstart').astimezone(
                dt.timezone.utc).replace(tzinfo=None),
            to_utc(TUESDAY, dt.time(10, 30)))
        self.assertIn('Videogesprek', str(event['summary']))
        self.assertEqual(str(event['url']), BASE + '/balie')

    def test_move_to_another_slot(self):
        "Test that the citizen moves the appointment; the clerk hears of it"
        company, _, service = self.setup_balie()
        appointment = self.book(service, to_utc(TUESDAY, dt.time(10, 30)),
            notify_by='email')
        employee = self.appointment(appointment)['employee'].id
        with self.transaction():
            User = Pool().get('res.user')
            clerk, = User.create([{
                        'name': "Anna", 'login': 'anna',
                        'companies': [('add', [company])],
                        'company': company,
                        'employees': [('add', [employee])],
                        'employee': employee,
                        }])
        client = self.open(appointment)
        page = self.get(client, '/balie/verzetten')
        html = page.get_data(as_text=True)
        slots = re.findall(r'name="slot" value="([^"]+)"', html)
        self.assertTrue(slots)
        self.assertNotIn('2026-12-08T09:30:00Z', slots)
        # each slot reads as a Belgian time of day in local (winter) time
        times = re.findall(r'<span>([^<]*)</span>', html)
        for slot in slots:
            utc = dt.datetime.strptime(slot, '%Y-%m-%dT%H:%M:%SZ')
            self.assertIn('%d.%02d uur' % (utc.hour + 1, utc.minute), times)
        token = csrf_of(html)

        nothing = client.post('/balie/verzetten', base_url=BASE,
            data={'csrf': token})
        self.assertEqual(nothing.status_code, 409)
        self.assertIn('Kies eerst een moment',
            nothing.get_data(as_text=True))

        gone = client.post('/balie/verzetten', base_url=BASE,
            data={'csrf': token, 'slot': '2026-12-08T03:00:00Z'})
        self.assertEqual(gone.status_code, 409)
        self.assertIn('iemand anders', gone.get_data(as_text=True))
        self.assertEqual(self.appointment(appointment)['start'],
            to_utc(TUESDAY, dt.time(10, 30)))

        moved = client.post('/balie/verzetten', base_url=BASE,
            data={'csrf': token, 'slot': slots[1]})
        self.assertEqual(moved.status_code, 303)
        self.assertEqual(moved.headers['Location'], '/balie?done=moved')
        record = self.appointment(appointment)
        self.assertEqual(record['start'].strftime('%Y-%m-%dT%H:%M:%SZ'),
            slots[1])
        self.assertEqual(record['ical_sequence'], 1)
        rescheduled, = self.messages(appointment, kind='rescheduled')
        self.assertIn(rescheduled['state'], {'queued', 'sent', 'delivered'})
        self.assertIn('Uw afspraak is verzet',
            self.get(client, '/balie?done=moved').get_data(as_text=True))
        with self.transaction():
            Notification = Pool().get('res.notification')
            notification, = Notification.search([('user', '=', clerk.id)])
            self.assertIn('Maria Janssens', notification.label)
            self.assertEqual(notification.model, 'balie.appointment')

    def test_cancel(self):
        "Test that the citizen cancels after one question; the link ends"
        _, _, service = self.setup_balie()
        appointment = self.book(service, to_utc(TUESDAY, dt.time(10, 30)),
            notify_by='email')
        client = self.open(appointment)
        html = self.get(client, '/balie/annuleren').get_data(as_text=True)
        self.assertIn('Wilt u deze afspraak echt annuleren?', html)
        self.assertEqual(self.appointment(appointment)['state'], 'booked')
        response = client.post('/balie/annuleren', base_url=BASE,
            data={'csrf': csrf_of(html)})
        self.assertEqual(response.status_code, 200)
        self.assertIn('Uw afspraak is geannuleerd',
            response.get_data(as_text=True))
        self.assertEqual(self.appointment(appointment)['state'], 'cancelled')
        self.assertEqual([m['kind'] for m in self.messages(
                    appointment, kind='cancelled')], ['cancelled'])
        # the card's link was revoked with the appointment
        self.get(client, '/balie', status=404)

    def test_too_late_to_change(self):
        "Test that close to the start the page shows the phone number"
        _, _, service = self.setup_balie()
        appointment = self.book(service, to_utc(TUESDAY, dt.time(10, 30)),
            notify_by='paper')
        client = self.open(appointment)
        self.clock.now = to_utc(TUESDAY, dt.time(9, 30))
        html = self.get(client, '/balie/verzetten').get_data(as_text=True)
        self.assertIn('niet meer veranderen', html)
        self.assertNotIn('name="slot"', html)
        response = client.post('/balie/annuleren', base_url=BASE,
            data={'csrf': csrf_of(html)})
        self.assertEqual(response.status_code, 303)
        self.assertEqual(self.appointment(appointment)['state'], 'booked')

    def test_preview_changes_nothing(self):
        "Test the clerk's preview: shown as such, nothing is saved"
        _, _, service = self.setup_balie()
        appointment = self.book(service, to_utc(TUESDAY, dt.time(10, 30)),
            notify_by='paper')
        client = self.open(appointment, purpose='preview')
        html = self.get(client, '/balie').get_data(as_text=True)
        self.assertIn('Voorbeeld voor de medewerker', html)
        response = client.post('/balie/annuleren', base_url=BASE,
            data={'csrf': csrf_of(html)})
        self.assertIn('er is niets bewaard', response.get_data(as_text=True))
        self.assertEqual(self.appointment(appointment)['state'], 'booked')

    def test_one_citizen_never_sees_another(self):
        "Test that a session only ever shows its own appointment (IDOR)"
        _, _, service = self.setup_balie()
        maria = self.book(service, to_utc(TUESDAY, dt.time(10, 30)),
            notify_by='paper')
        jan = self.book(service, to_utc(TUESDAY, dt.time(11, 30)),
            notify_by='paper', name="Jan Peeters")
        client_maria = self.open(maria)
        client_jan = self.open(jan)
        for path in ['/balie', '/balie/verzetten', '/balie/annuleren',
                '/balie/afspraak.ics', '/balie/uitleg']:
            maria_page = self.get(client_maria, path).get_data(as_text=True)
            jan_page = self.get(client_jan, path).get_data(as_text=True)
            self.assertNotIn('Jan', maria_page)
            self.assertNotIn('Maria', jan_page)
        # the session key of one is no CSRF token for the other
        html = self.get(client_jan, '/balie').get_data(as_text=True)
        response = client_maria.post('/balie/annuleren', base_url=BASE,
            data={'csrf': csrf_of(html)})
        self.assertEqual(response.status_code, 403)
        self.assertEqual(self.appointment(maria)['state'], 'booked')
        self.assertEqual(self.appointment(jan)['state'], 'booked')

    def test_explanation_and_manual(self):
        "Test the step-by-step page and the printable manual in French"
        self.setup_balie(tutorial_url='https://voorbeeld.example/uitleg')
        client = Client(app)
        html = self.get(client, '/balie/uitleg').get_data(as_text=True)
        self.assertIn('Hoe werkt een videogesprek?', html)
        self.assertIn('/balie/static/step5.svg', html)
        self.assertIn('https://voorbeeld.example/uitleg', html)
        html = client.get('/balie/uitleg', base_url=BASE,
            headers={'Accept-Language': 'fr-BE,fr;q=0.9'}).get_data(
            as_text=True)
        self.assertIn('Comment se passe un appel vidéo ?', html)

        response = self.get(client, '/balie/handleiding.pdf?lang=fr')
        self.assertEqual(response.headers['Content-Type'], 'application/pdf')
        text = ' '.join(' '.join(page.extract_text() for page in
                PdfReader(io.BytesIO(response.get_data())).pages).split())
        self.assertIn('Comment se passe un appel vidéo', text)
        self.assertIn('Testez votre caméra', text)
        self.assertIn('+32 50 12 34 56', text)

    def test_unexpected_error_is_a_friendly_page(self):
        "Test that an error shows a page without technical details"
        _, _, service = self.setup_balie()
        appointment = self.book(service, to_utc(TUESDAY, dt.time(10, 30)),
            notify_by='paper')
        client = self.open(appointment)
        with patch('digitale_balie.routes.offered_slots',
                side_effect=ZeroDivisionError('secret detail')), \
                self.assertLogs('digitale_balie.web', 'ERROR'):
            response = client.get('/balie/verzetten', base_url=BASE)
        self.assertEqual(response.status_code, 500)
        html = response.get_data(as_text=True)
        self.assertIn('Er ging iets mis', html)
        self.assertNotIn('secret detail', html)
        self.assertNotIn('Traceback', html)
        self.assertIn('Content-Security-Policy', response.headers)

    def test_configuration_checks_colour_and_logo(self):
        "Test that an unreadable colour and a non-image logo are refused"
        self.setup_balie()
        with self.transaction() as transaction:
            Configuration = Pool().get('balie.configuration')
            config = Configuration(1)
            for colour in ['blue', '#ffcc00']:
                config.portal_colour = colour
                with self.assertRaises(ConfigurationError):
                    config.save()
                transaction.rollback()
            config = Configuration(1)
            config.portal_logo = b'<svg onload="alert(1)"/>'
            with self.assertRaises(ConfigurationError):
                config.save()
            transaction.rollback()
            config = Configuration(1)
            config.portal_logo = PNG
            config.portal_colour = '#004d40'
            config.save()
        response = Client(app).get('/balie/logo', base_url=BASE)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.headers['Content-Type'], 'image/png')

    def test_configuration_change_shows_at_once(self):
        "Test that the pages' cached settings follow a configuration change"
        _, _, service = self.setup_balie(portal_colour='#7a1f5c')
        appointment = self.book(service, to_utc(TUESDAY, dt.time(10, 30)),
            notify_by='paper')
        client = self.open(appointment)
        html = self.get(client, '/balie').get_data(as_text=True)
        self.assertIn('Gemeente Voorbeeld', html)
        self.assertNotIn('src="/balie/logo"', html)

        def configure(commit, **values):
            with self.transaction() as transaction:
                Configuration = Pool().get('balie.configuration')
                Configuration.write([Configuration(1)], values)
                if commit:
                    transaction.commit()
                else:
                    transaction.rollback()
        # a change that is rolled back is never shown
        configure(False, municipality_name="Gemeente Nergens")
        html = self.get(client, '/balie').get_data(as_text=True)
        self.assertIn('Gemeente Voorbeeld', html)
        configure(True, municipality_name="Gemeente Elders",
            help_phone="+32 50 99 88 77", portal_logo=PNG,
            portal_colour='#004d40')
        html = self.get(client, '/balie').get_data(as_text=True)
        self.assertIn('Gemeente Elders', html)
        self.assertNotIn('Gemeente Voorbeeld', html)
        self.assertIn('src="/balie/logo"', html)
        self.assertIn('href="tel:+3250998877"', html)
        self.assertIn('--brand: #004d40',
            self.get(client, '/balie/theme.css').get_data(as_text=True))
        configure(True, portal_logo=None)
        self.assertNotIn('src="/balie/logo"',
            self.get(client, '/balie').get_data(as_text=True))

    def test_personal_page_reads_little_and_follows_changes(self):
        "Test that the personal page takes few queries and shows every change"
        _, _, service = self.setup_balie()
        appointment = self.book(service, to_utc(TUESDAY, dt.time(10, 30)),
            notify_by='paper')

        def prepare(**texts):
            with self.transaction():
                Service = Pool().get('balie.service')
                for language, text in texts.items():
                    with Transaction().set_context(language=language):
                        Service.write([Service(service)],
                            {'preparation': text})
        prepare(en="Your bank card.", nl="Uw bankkaart.",
            fr="Votre carte bancaire.")
        client = self.open(appointment)
        self.assertIn('Uw bankkaart.',
            self.get(client, '/balie').get_data(as_text=True))

        # the session, the link, the appointment and the page's texts come
        # from two queries once the settings are cached, and the service's
        # translations from trytond's cache of ir.translation (which asks
        # the database again while it is older than the service's write)
        with sent_statements() as sent:
            html = self.get(client, '/balie').get_data(as_text=True)
        statements = [text for text, _ in sent]
        self.assertIn('Goedendag Maria', html)
        self.assertLessEqual(len(statements), 4, statements)
        self.assertEqual(
            len([s for s in statements if 'ir_translation' not in s]), 2,
            statements)

        html = self.get(client, '/balie').get_data(as_text=True)
        client.post('/balie/taal', base_url=BASE,
            data={'lang': 'fr', 'csrf': csrf_of(html)},
            headers={'Origin': BASE})
        self.assertIn('Votre carte bancaire.',
            self.get(client, '/balie').get_data(as_text=True))
        # a new translation shows at once (the cache of ir.translation
        # is asked with the service's write date)
        prepare(fr="Votre carte bancaire et votre carte d'identité.")
        html = self.get(client, '/balie').get_data(as_text=True)
        self.assertIn('Votre carte bancaire et votre carte', html)

        # the clerk moves the appointment: the page follows at once
        with self.transaction():
            Appointment = Pool().get('balie.appointment')
            record = Appointment(appointment)
            Appointment.write([record], {
                    'start': record.start + dt.timedelta(hours=1),
                    'end': record.end + dt.timedelta(hours=1)})
        self.assertIn('data-start="2026-12-08T10:30:00Z"',
            self.get(client, '/balie').get_data(as_text=True))

        # a link revoked or expired after the session opened ends it
        other = self.book(service, to_utc(TUESDAY, dt.time(9, 0)),
            notify_by='paper', name="Jan Peeters")
        second = self.open(other)
        self.get(second, '/balie')
        with self.transaction():
            Token = Pool().get('balie.access.token')
            Token.revoke(Token.search([('appointment', '=', appointment)]))
            Token.write(Token.search([('appointment', '=', other)]),
                {'expires_at': dt.datetime(2000, 1, 1)})
        self.get(client, '/balie', status=404)
        self.get(second, '/balie', status=404)

    def test_session_and_csrf_token_are_bound(self):
        "Test that the CSRF token is derived from the session key"
        self.assertNotEqual(csrf_token('a'), csrf_token('b'))
        self.assertEqual(len(csrf_token('a')), 64)
