# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The video call from both sides: the citizen's pages through trytond's
WSGI application, the clerk's buttons and wizards on the same database."""
import datetime as dt
import json
import re

from werkzeug.test import Client

from trytond.pool import Pool
from trytond.transaction import Transaction
from trytond.wsgi import app

from balie_video import jitsi
from digitale_balie.tests.tools import BASE, OutboxCase, START, csrf_of

SECRET = 'jitsi-test-secret-0123456789abcdef'
JITSI = {
    'call_backend': 'jitsi',
    'jitsi_domain': 'meet.voorbeeld.example',
    'jitsi_app_id': 'balie',
    'jitsi_secret': SECRET,
    }



def fields_only(defaults):
    "What the client sends back of a view's defaults."
    return {k: v for k, v in defaults.items() if '.' not in k}


class VideoTestCase(OutboxCase):
    "The video call"
    modules = ['balie_video']
    languages = ('nl', 'fr')

    def setUp(self):
        super().setUp()
        self.serve_portal()

    def video(self, notify_by='email', name="Maria Janssens", start=START):
        "A municipality with Jitsi and one booked video appointment."
        if not getattr(self, 'service', None):
            self.company, self.employees, self.service = self.setup_balie(
                **JITSI)
        return self.book(self.service, start, notify_by=notify_by,
            name=name)

    def csrf(self, client, path='/balie/wachtkamer'):
        response = client.get(path, base_url=BASE)
        self.assertEqual(response.status_code, 200)
        return csrf_of(response.get_data(as_text=True))

    def status(self, client, csrf, beat=True):
        if beat:
            response = client.post('/balie/status', base_url=BASE,
                headers={'X-CSRF-Token': csrf})
        else:
            response = client.get('/balie/status', base_url=BASE)
        self.assertEqual(response.status_code, 200)
        return json.loads(response.get_data())

    def record(self, appointment, *names):
        with self.transaction():
            record = Pool().get('balie.appointment')(appointment)
            return {n: getattr(record, n) for n in names}

    def button(self, name, appointment):
        with self.transaction():
            Appointment = Pool().get('balie.appointment')
            return getattr(Appointment, name)([Appointment(appointment)])

    def room(self, appointment):
        with self.transaction():
            Room = Pool().get('balie.video.room')
            room, = Room.search([('appointment', '=', appointment)])
            return {f: getattr(room, f) for f in [
                    'name', 'state', 'opened_at', 'closed_at', 'duration',
                    'waiting_time', 'citizen_present_at', 'next_steps']}

    # -- the citizen's side -------------------------------------------------

    def test_personal_page_offers_the_video_steps(self):
        "Test the buttons, the CSP and the camera permissions for Jitsi"
        appointment = self.video()
        client = self.open(appointment)
        page = client.get('/balie', base_url=BASE)
        html = page.get_data(as_text=True)
        self.assertIn('href="/balie/test"', html)
        self.assertIn('href="/balie/oefenen"', html)
        self.assertNotIn('href="/balie/wachtkamer"', html)
        policy = page.headers['Content-Security-Policy']
        self.assertIn('script-src \'self\' https://meet.voorbeeld.example',
            policy)
        self.assertIn('frame-src https://meet.voorbeeld.example', policy)
        self.assertIn('camera=(self "https://meet.voorbeeld.example")',
            page.headers['Permissions-Policy'])
        # the headers are cached per process: a new Jitsi server counts at
        # once, in the policies too
        with self.transaction() as transaction:
            Configuration = Pool().get('balie.configuration')
            Configuration.write([Configuration(1)],
                {'jitsi_domain': 'video.voorbeeld.example'})
            transaction.commit()
        page = client.get('/balie', base_url=BASE)
        policy = page.headers['Content-Security-Policy']
        self.assertIn('frame-src https://video.voorbeeld.example', policy)
        self.assertNotIn('meet.voorbeeld.example', policy)
        self.assertIn('camera=(self "https://video.voorbeeld.example")',
            page.headers['Permissions-Policy'])
        # 15 minutes before the start the waiting room is the first button
        self.clock.now = START - dt.timedelta(minutes=15)
        html = client.get('/balie', base_url=BASE).get_data(as_text=True)
        self.assertLess(html.index('href="/balie/wachtkamer"'),
            html.index('href="/balie/test"'))

    def test_device_check_is_kept_for_the_clerk(self):
        "Test that the device check result reaches the appointment"
        appointment = self.video()
        client = self.open(appointment)
        csrf = self.csrf(client, '/balie/test')
        self.assertEqual(self.record(appointment, 'device_tested'),
            {'device_tested': None})
        refused = client.post('/balie/test', base_url=BASE,
            json={'camera': True, 'microphone': True})
        self.assertEqual(refused.status_code, 403)
        bad = client.post('/balie/test', base_url=BASE, data='camera',
            headers={'X-CSRF-Token': csrf, 'Content-Type': 'text/plain'})
        self.assertEqual(bad.status_code, 400)
        huge = client.post('/balie/test', base_url=BASE,
            json={'problem': 'x' * 10000}, headers={'X-CSRF-Token': csrf})
        self.assertEqual(huge.status_code, 400)

        failed = client.post('/balie/test', base_url=BASE,
            json={'camera': False, 'microphone': True, 'problem': 'denied'},
            headers={'X-CSRF-Token': csrf,
                'User-Agent': 'Mozilla/5.0 (Linux; Android 14) '
                'AppleWebKit/537.36 Chrome/120.0 Mobile Safari/537.36'})
        self.assertEqual(json.loads(failed.get_data())['result'], 'failed')
        self.assertEqual(self.record(appointment, 'device_tested'),
            {'device_tested': 'failed'})
        passed = client.post('/balie/test', base_url=BASE,
            json={'camera': True, 'microphone': True, 'speaker': True,
                'problem': '<script>'},
            headers={'X-CSRF-Token': csrf})
        answer = json.loads(passed.get_data())
        self.assertEqual(answer['result'], 'passed')
        self.assertIn('werken', answer['message'])
        with self.transaction():
            Appointment = Pool().get('balie.appointment')
            record = Appointment(appointment)
            self.assertEqual(record.device_tested, 'passed')
            first, second = sorted(record.device_checks, key=lambda c: c.id)
            self.assertEqual(first.browser, 'Chrome on Android')
            self.assertEqual(first.problem, 'denied')
            self.assertEqual(second.problem, 'other')
            self.assertTrue(second.speaker)
        self.assertIn('Uw camera en micro werken',
            client.get('/balie', base_url=BASE).get_data(as_text=True))

    def test_preview_records_nothing(self):
        "Test that the clerk's preview neither stores checks nor presence"
        appointment = self.video()
        client = self.open(appointment, purpose='preview')
        csrf = self.csrf(client, '/balie/test')
        answer = json.loads(client.post('/balie/test', base_url=BASE,
                json={'camera': True, 'microphone': True},
                headers={'X-CSRF-Token': csrf}).get_data())
        self.assertFalse(answer['saved'])
        self.clock.now = START - dt.timedelta(minutes=5)
        self.status(client, csrf)
        self.assertEqual(self.record(appointment, 'device_tested',
                'citizen_waiting'),
            {'device_tested': None, 'citizen_waiting': False})

    def test_waiting_room_presence_delay_and_call(self):
        "Test the waiting room from early to the call and its end"
        appointment = self.video()
        client = self.open(appointment)
        csrf = self.csrf(client)
        self.clock.now = START - dt.timedelta(minutes=30)
        html = client.get('/balie/wachtkamer', base_url=BASE).get_data(
            as_text=True)
        self.assertIn('De wachtkamer gaat open op', html)
        self.assertEqual(self.status(client, csrf)['state'], 'early')
        self.assertFalse(self.record(appointment, 'citizen_waiting')[
                'citizen_waiting'])

        self.clock.now = START - dt.timedelta(minutes=4)
        status = self.status(client, csrf)
        self.assertEqual(status['state'], 'waiting')
        self.assertNotIn('call', status)
        self.assertTrue(self.record(appointment, 'citizen_waiting')[
                'citizen_waiting'])
        self.assertEqual(self.room(appointment)['citizen_present_at'],
            START - dt.timedelta(minutes=4))

        # the clerk warns of a delay: the banner text arrives with the poll
        with self.transaction():
            Appointment = Pool().get('balie.appointment')
            Appointment.write([Appointment(appointment)],
                {'delay_minutes': 10})
        self.assertIn('10 minuten', self.status(client, csrf)['delay'])

        # a page closed for longer than the timeout is no longer waiting
        self.clock.now = START + dt.timedelta(minutes=1)
        self.assertFalse(self.record(appointment, 'citizen_waiting')[
                'citizen_waiting'])
        self.status(client, csrf)

        # the clerk starts the call: an URL action with the owner's token
        self.clock.now = START + dt.timedelta(minutes=6)
        with self.transaction():
            pool = Pool()
            Appointment = pool.get('balie.appointment')
            action = Appointment.start_call([Appointment(appointment)])
        self.assertEqual(action['type'], 'ir.action.url')
        room = self.room(appointment)
        self.assertEqual(room['state'], 'open')
        self.assertEqual(room['waiting_time'], dt.timedelta(minutes=10))
        self.assertTrue(action['url'].startswith(
                'https://meet.voorbeeld.example/%s?jwt=' % room['name']))
        clerk_token = re.search(r'jwt=([^#&]+)', action['url']).group(1)
        clerk = jitsi.decode(clerk_token, SECRET,
            options={'verify_exp': False, 'verify_nbf': False})
        self.assertEqual(clerk['context']['user']['affiliation'], 'owner')
        self.assertEqual(clerk['room'], room['name'])
        self.assertEqual(self.record(appointment, 'state')['state'],
            'in_progress')

        status = self.status(client, csrf)
        self.assertEqual(status['state'], 'open')
        call = status['call']
        self.assertEqual(call['domain'], 'meet.voorbeld.example'.replace(
                'voorbeld', 'voorbeeld'))
        options = call['options']
        self.assertEqual(options['roomName'], room['name'])
        self.assertEqual(options['userInfo']['displayName'], "Maria Janssens")
        self.assertTrue(options['configOverwrite']['prejoinConfig'][
                'enabled'])
        citizen = jitsi.decode(options['jwt'], SECRET,
            options={'verify_exp': False, 'verify_nbf': False})
        self.assertEqual(citizen['room'], room['name'])
        self.assertEqual(citizen['sub'], 'meet.voorbeeld.example')
        self.assertEqual(citizen['context']['user']['affiliation'], 'member')
        self.assertFalse(citizen['context']['user']['lobby_bypass'])
        self.assertEqual(citizen['exp'], int((START + dt.timedelta(
                        minutes=60)).replace(
                    tzinfo=dt.timezone.utc).timestamp()))

        # the clerk ends the call with next steps and a follow-up
        self.clock.now = START + dt.timedelta(minutes=31)
        result = self.end_call(appointment, "We bekijken uw aanvraag.\n"
            "U krijgt binnen 2 weken een brief.", follow_up=True)
        room = self.room(appointment)
        self.assertEqual(room['state'], 'closed')
        self.assertEqual(room['duration'], dt.timedelta(minutes=25))
        self.assertEqual(self.record(appointment, 'state')['state'], 'done')
        self.assertIsNotNone(result)
        status = self.status(client, csrf)
        self.assertEqual(status, {'state': 'closed', 'delay': None,
                'poll': 10, 'next': '/balie/einde'})
        html = client.get('/balie/einde', base_url=BASE).get_data(
            as_text=True)
        self.assertIn('Bedankt voor het gesprek', html)
        self.assertIn('U krijgt binnen 2 weken een brief.', html)
        self.assertIn('Uw volgende afspraak', html)
        free, = self.messages(appointment, kind='free')
        self.assertIn('binnen 2 weken', free['body'] or '')
        # the links end after the grace period, and no new token is made
        self.clock.now = START + dt.timedelta(hours=3)
        self.assertEqual(client.get('/balie', base_url=BASE).status_code,
            404)
        with self.transaction():
            Room = Pool().get('balie.video.room')
            room, = Room.search([('appointment', '=', appointment)])
            self.assertIsNone(room.citizen_token())

    def end_call(self, appointment, next_steps, follow_up=False):
        with self.transaction():
            pool = Pool()
            EndCall = pool.get('balie.video.end_call', type='wizard')
            Appointment = pool.get('balie.appointment')
            session_id, _, _ = EndCall.create()
            context = {'active_model': 'balie.appointment',
                'active_id': appointment, 'active_ids': [appointment]}
            with Transaction().set_context(**context):
                EndCall.execute(session_id, {}, 'start')
                result = EndCall.execute(session_id, {'start': {
                            'next_steps': next_steps,
                            'send_to_citizen': True,
                            'follow_up': follow_up}}, 'close')
                if not follow_up:
                    return result
                view = result['view']
                defaults = view['defaults']
                self.assertEqual(defaults['service'], self.service)
                slots = [s for s, _ in pool.get(
                        'balie.appointment.book.service')(
                        service=defaults['service'],
                        date=(START + dt.timedelta(days=7)).date(),
                        employee=defaults['employee']).get_slots() if s]
                defaults.update({'slot': slots[0],
                        'date': (START + dt.timedelta(days=7)).date()})
                result = EndCall.execute(session_id,
                    {'slot': fields_only(defaults)}, 'book')
            follow_ups = Appointment.search(
                [('follow_up_of', '=', appointment)])
            self.assertEqual(len(follow_ups), 1)
            self.assertEqual(follow_ups[0].dossier,
                Appointment(appointment).dossier)
            return result

    def test_status_is_only_ever_ones_own(self):
        "Test that a session never sees another citizen's call (IDOR)"
        maria = self.video()
        jan = self.video(name="Jan Peeters",
            start=START + dt.timedelta(hours=1))
        maria_client = self.open(maria)
        jan_client = self.open(jan)
        self.clock.now = START + dt.timedelta(minutes=50)
        self.button('start_call', maria)
        maria_csrf = self.csrf(maria_client)
        jan_csrf = self.csrf(jan_client)
        self.assertEqual(self.status(jan_client, jan_csrf)['state'],
            'waiting')
        self.assertEqual(self.status(maria_client, maria_csrf)['state'],
            'open')
        # Jan's page with Maria's CSRF token: refused
        response = jan_client.post('/balie/status', base_url=BASE,
            headers={'X-CSRF-Token': maria_csrf})
        self.assertEqual(response.status_code, 403)
        jan_page = jan_client.get('/balie/einde', base_url=BASE).get_data(
            as_text=True)
        self.assertNotIn('Maria', jan_page)

    def test_counter_appointment_has_no_video_pages(self):
        "Test that an appointment at the counter has no video pages"
        self.company, self.employees, self.service = self.setup_balie(
            **JITSI)
        with self.transaction():
            pool = Pool()
            Appointment = pool.get('balie.appointment')
            from digitale_balie.tests.tools import create_citizen
            party = create_citizen("Jan Peeters")
            appointment = Appointment.book_slot({
                    'service': self.service, 'party': party.id,
                    'start': START, 'channel': 'counter',
                    'notify_by': 'paper'})
        client = self.open(appointment)
        for path in ['/balie/test', '/balie/wachtkamer', '/balie/oefenen']:
            self.assertEqual(client.get(path, base_url=BASE).status_code,
                404)
        html = client.get('/balie', base_url=BASE).get_data(as_text=True)
        self.assertNotIn('/balie/test', html)

    # -- the clerk's side -----------------------------------------------------

    def test_no_show_goes_to_the_list_to_call(self):
        "Test the no-show: on the list to call, outcome logged, message"
        appointment = self.video(notify_by='email')
        others = self.video(name="Jan Peeters",
            start=START + dt.timedelta(hours=1))
        self.dispatch()  # the confirmations reached them
        client = self.open(others)
        self.clock.now = START + dt.timedelta(minutes=4)
        self.assertFalse(self.to_call(appointment))
        self.clock.now = START + dt.timedelta(minutes=6)
        self.assertTrue(self.to_call(appointment))
        self.assertFalse(self.to_call(others))
        # a citizen who is in the waiting room is not on the list
        self.clock.now = START + dt.timedelta(minutes=56)
        self.status(client, self.csrf(client))
        self.clock.now = START + dt.timedelta(minutes=66)
        self.assertFalse(self.to_call(others))

        self.clock.now = START + dt.timedelta(minutes=6)
        self.log_call(appointment, 'not_reached', "Voicemail")
        record = self.record(appointment, 'state', 'call_outcome')
        self.assertEqual(record, {'state': 'no_show',
                'call_outcome': 'not_reached'})
        self.assertFalse(self.to_call(appointment))
        free, = self.messages(appointment, kind='free')
        self.assertIn('probeerden u te bellen', free['body'] or '')

    def test_no_show_reached_and_moved(self):
        "Test a reached citizen moved to another slot from the call log"
        appointment = self.video(notify_by='email')
        self.clock.now = START + dt.timedelta(minutes=6)
        self.assertTrue(self.to_call(appointment))
        with self.transaction():
            pool = Pool()
            LogCall = pool.get('balie.video.log_call', type='wizard')
            session_id, _, _ = LogCall.create()
            with Transaction().set_context(active_model='balie.appointment',
                    active_id=appointment, active_ids=[appointment]):
                LogCall.execute(session_id, {}, 'start')
                result = LogCall.execute(session_id, {'start': {
                            'outcome': 'reschedule', 'new_slot': True,
                            'note': None}}, 'save')
                defaults = result['view']['defaults']
                date = (START + dt.timedelta(days=7)).date()
                slot = [s for s, _ in pool.get(
                        'balie.appointment.book.service')(
                        service=defaults['service'], date=date,
                        employee=defaults['employee']).get_slots() if s][0]
                defaults.update({'slot': slot, 'date': date})
                LogCall.execute(session_id, {'slot': fields_only(defaults)},
                    'move')
        record = self.record(appointment, 'state', 'start', 'call_outcome')
        self.assertEqual(record['state'], 'booked')
        self.assertGreater(record['start'], START + dt.timedelta(days=6))
        self.assertIsNone(record['call_outcome'])
        self.assertEqual(len(self.messages(appointment,
                    kind='rescheduled')), 1)

    def to_call(self, appointment):
        with self.transaction():
            Appointment = Pool().get('balie.appointment')
            return bool(Appointment.search([('id', '=', appointment),
                        ('needs_call', '=', True)]))

    def log_call(self, appointment, outcome, note=None):
        with self.transaction():
            LogCall = Pool().get('balie.video.log_call', type='wizard')
            session_id, _, _ = LogCall.create()
            with Transaction().set_context(active_model='balie.appointment',
                    active_id=appointment, active_ids=[appointment]):
                LogCall.execute(session_id, {}, 'start')
                return LogCall.execute(session_id, {'start': {
                            'outcome': outcome, 'note': note,
                            'new_slot': False}}, 'save')

    def test_preview_button(self):
        "Test the clerk's preview link: short-lived, marked as preview"
        appointment = self.video()
        with self.transaction():
            Appointment = Pool().get('balie.appointment')
            action = Appointment.preview_page([Appointment(appointment)])
        self.assertEqual(action['type'], 'ir.action.url')
        raw = action['url'].rsplit('/', 1)[1]
        client = Client(app)
        self.assertEqual(client.get('/a/%s' % raw,
                base_url=BASE).status_code, 303)
        html = client.get('/balie', base_url=BASE).get_data(as_text=True)
        self.assertIn('Voorbeeld voor de medewerker', html)
        self.clock.now += dt.timedelta(minutes=31)
        self.assertEqual(client.get('/balie', base_url=BASE).status_code,
            404)

    def test_start_call_needs_configuration(self):
        "Test that starting a call without Jitsi says what is missing"
        from balie_video.exceptions import VideoError
        self.company, self.employees, self.service = self.setup_balie(
            call_backend='jitsi', jitsi_domain=None, jitsi_app_id=None,
            jitsi_secret=None)
        appointment = self.book(self.service, START, notify_by='paper')
        with self.transaction():
            Appointment = Pool().get('balie.appointment')
            with self.assertRaisesRegex(VideoError, 'Jitsi'):
                Appointment.start_call([Appointment(appointment)])

    def test_retention_keeps_a_summary(self):
        "Test that old call data is deleted and a summary stays"
        appointment = self.video()
        client = self.open(appointment)
        csrf = self.csrf(client, '/balie/test')
        client.post('/balie/test', base_url=BASE,
            json={'camera': True, 'microphone': True},
            headers={'X-CSRF-Token': csrf})
        self.clock.now = START - dt.timedelta(minutes=2)
        self.status(client, csrf)
        self.button('start_call', appointment)
        self.clock.now = START + dt.timedelta(minutes=20)
        self.end_call(appointment, "Klaar.")
        with self.transaction():
            Room = Pool().get('balie.video.room')
            Room.clean_up()
        self.assertTrue(self.room(appointment))

        self.clock.now = START + dt.timedelta(days=32)
        with self.transaction():
            pool = Pool()
            Room = pool.get('balie.video.room')
            Room.clean_up()
        with self.transaction():
            pool = Pool()
            for name, path in [('balie.video.room', 'appointment'),
                    ('balie.video.presence', 'appointment'),
                    ('balie.video.device_check', 'appointment'),
                    ('balie.portal.session', 'token.appointment'),
                    ('balie.access.token', 'appointment')]:
                Model = pool.get(name)
                self.assertEqual(
                    Model.search([(path, '=', appointment)]), [], name)
            Appointment = pool.get('balie.appointment')
            events = Appointment(appointment).dossier.events
            summary = [e.description for e in events
                if 'deleted' in (e.description or '')]
            self.assertEqual(len(summary), 1)
            self.assertIn('22 minutes', summary[0])

    def test_start_call_from_the_dossier(self):
        "Test that the dossier's button starts its due video appointment"
        appointment = self.video()
        self.clock.now = START - dt.timedelta(minutes=1)
        with self.transaction():
            pool = Pool()
            Configuration = pool.get('balie.configuration')
            Configuration.write([Configuration(1)],
                {'jitsi_xmpp_domain': 'meet.jitsi'})
        self.addCleanup(self.reset_xmpp_domain)
        with self.transaction():
            pool = Pool()
            Appointment = pool.get('balie.appointment')
            Dossier = pool.get('balie.dossier')
            dossier = Appointment(appointment).dossier
            action = Dossier.start_call([dossier])
        self.assertEqual(action['type'], 'ir.action.url')
        self.assertEqual(self.room(appointment)['state'], 'open')
        self.assertIn(self.room(appointment)['name'], action['url'])
        clerk = jitsi.decode(re.search(r'jwt=([^#&]+)', action['url']).group(1),
            SECRET, options={'verify_exp': False, 'verify_nbf': False})
        self.assertEqual(clerk['sub'], 'meet.jitsi')

    def reset_xmpp_domain(self):
        with self.transaction():
            Configuration = Pool().get('balie.configuration')
            Configuration.write([Configuration(1)],
                {'jitsi_xmpp_domain': None})

    def test_follow_up_wizard(self):
        "Test the follow-up wizard: a taken slot is explained, then booked"
        appointment = self.video()
        date = (START + dt.timedelta(days=7)).date()
        with self.transaction():
            pool = Pool()
            FollowUp = pool.get('balie.video.follow_up', type='wizard')
            Choice = pool.get('balie.appointment.book.service')
            Appointment = pool.get('balie.appointment')
            session_id, _, _ = FollowUp.create()
            with Transaction().set_context(active_model='balie.appointment',
                    active_id=appointment, active_ids=[appointment]):
                result = FollowUp.execute(session_id, {}, 'start')
                defaults = fields_only(result['view']['defaults'])
                self.assertEqual(defaults['service'], self.service)
                first, second = [s for s, _ in Choice(
                        service=defaults['service'], date=date,
                        employee=defaults['employee']).get_slots() if s][:2]
                # somebody takes the first slot meanwhile
                taken_start, employee = first.split('|')
                from digitale_balie.tests.tools import create_citizen
                Appointment.book_slot({'service': self.service,
                        'party': create_citizen("Els Claes").id,
                        'start': taken_start, 'employee': int(employee),
                        'notify_by': 'paper'})
                defaults.update({'slot': first, 'date': date})
                result = FollowUp.execute(session_id,
                    {'start': defaults}, 'book')
                view = result['view']
                self.assertEqual(view['state'], 'start')
                # what the clerk chose stays, with the reason
                shown = view['defaults']
                self.assertIn('is not free', shown['warning'])
                self.assertFalse(shown['warning'].endswith(' - '))
                self.assertIsNone(shown['slot'])
                self.assertEqual(shown['date'], date)
                defaults.update({'slot': second})
                result = FollowUp.execute(session_id,
                    {'start': defaults}, 'book')
                self.assertNotIn('view', result)
            follow_up, = Appointment.search(
                [('follow_up_of', '=', appointment)])
            self.assertEqual(follow_up.dossier,
                Appointment(appointment).dossier)
            self.assertEqual(follow_up.origin, 'counter')
