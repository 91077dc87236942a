# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
import datetime as dt
import gc

from sql.conditionals import Coalesce
from sql.operators import Equal

from trytond import backend, config
from trytond.i18n import gettext
from trytond.model import (
    Check, Exclude, Index, ModelSQL, ModelView, Workflow, fields)
from trytond.pool import Pool
from trytond.pyson import Eval, If
from trytond.rpc import RPC
from trytond.sql.functions import TSRange
from trytond.sql.operators import RangeOverlap
from trytond.transaction import Transaction

from . import clock
from . import slots as engine
from .availability import AvailabilityMixin, parse_utc
from .configuration import LANGUAGES
from .exceptions import (
    CitizenValidationError, DatabaseSetupError, SlotTakenError,
    SlotUnavailableError)
from .outbox import REACHED
from .service import CHANNELS

STATES = [
    ('booked', "Booked"),
    ('in_progress', "In Progress"),
    ('done', "Done"),
    ('no_show', "No-show"),
    ('cancelled', "Cancelled"),
    ]
ORIGINS = [
    ('counter', "Counter"),
    ('portal', "Portal"),
    ('phone', "Phone"),
    ]
NOTIFY_BY = [
    ('email', "E-mail"),
    ('sms', "SMS"),
    ('email_sms', "E-mail and SMS"),
    ('paper', "Paper only"),
    ]
class Appointment(AvailabilityMixin, Workflow, ModelSQL, ModelView):
    __name__ = 'balie.appointment'
    _rec_name = 'number'

    _states = {'readonly': Eval('state') != 'booked'}

    number = fields.Char("Number", readonly=True)
    company = fields.Many2One(
        'company.company', "Company", required=True, states=_states)
    party = fields.Many2One(
        'party.party', "Citizen", required=True, states=_states,
        context={'company': Eval('company', -1)}, depends={'company'})
    dossier = fields.Many2One(
        'balie.dossier', "Dossier", required=True, ondelete='RESTRICT',
        states=_states,
        domain=[
            ('party', '=', Eval('party', -1)),
            ('company', '=', Eval('company', -1)),
            ])
    service = fields.Many2One(
        'balie.service', "Service", required=True, states=_states,
        domain=[('company', '=', Eval('company', -1))])
    employee = fields.Many2One(
        'company.employee', "Clerk", required=True, states=_states,
        domain=[('company', '=', Eval('company', -1))],
        context={'company': Eval('company', -1)}, depends={'company'})
    start = fields.DateTime("Start", required=True, states=_states)
    end = fields.DateTime(
        "End", required=True, states=_states,
        domain=[If(Eval('start'), ('end', '>', Eval('start')), ())])
    channel = fields.Selection(CHANNELS, "Channel", required=True,
        states=_states)
    state = fields.Selection(
        STATES, "State", required=True, readonly=True, sort=False)
    origin = fields.Selection(ORIGINS, "Origin", required=True,
        states=_states)
    booked_by = fields.Many2One('res.user', "Booked By", readonly=True)
    language = fields.Selection(
        LANGUAGES, "Citizen's Language", required=True, states=_states)
    notify_by = fields.Selection(
        NOTIFY_BY, "Notify By", required=True, states=_states,
        help="How the citizen wants to hear from us.")
    contact_email = fields.Char("E-mail", states=_states)
    contact_mobile = fields.Char("Mobile Phone", states=_states)
    note = fields.Text(
        "Note for the Citizen", states=_states,
        help="A personal note printed on the booking card.")
    follow_up_of = fields.Many2One(
        'balie.appointment', "Follow-up Of", readonly=True,
        domain=[('dossier', '=', Eval('dossier', -1))])
    tokens = fields.One2Many(
        'balie.access.token', 'appointment', "Personal Links", readonly=True)
    messages = fields.One2Many(
        'balie.message', 'appointment', "Messages", readonly=True)
    delay_minutes = fields.Integer("Delay (minutes)", readonly=True,
        help="The delay the clerk announced to the citizen.")
    delay_text = fields.Text("Delay Message", readonly=True)
    ical_sequence = fields.Integer("Calendar Sequence", readonly=True,
        help="Raised on every change, so that agendas update the event.")
    needs_call = fields.Function(
        fields.Boolean("To Call",
            help="No message reached the citizen in time: "
            "call them."),
        'get_needs_call', searcher='search_needs_call')
    date = fields.Function(fields.Date("Date"), 'get_local',
        searcher='search_date')
    start_time = fields.Function(fields.Time("Time"), 'get_local')
    buffer_end = fields.DateTime("Busy Until", readonly=True,
        help="The end of the appointment with the service's buffer: "
        "the clerk's time that no other appointment may share.")

    del _states

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('end_after_start', Check(t, t.end > t.start),
                'digitale_balie.msg_appointment_end_after_start'),
            ('employee_overlap', Exclude(t,
                    (t.employee, Equal),
                    (TSRange(t.start, Coalesce(t.buffer_end, t.end), '[)'),
                        RangeOverlap),
                    where=t.state != 'cancelled'),
                'digitale_balie.msg_appointment_overlap'),
            ]
        cls._sql_indexes.update({
                Index(t,
                    (t.employee, Index.Equality()),
                    (t.start, Index.Range()),
                    where=t.state != 'cancelled'),
                Index(t, (t.start, Index.Range())),
                Index(t, (t.party, Index.Equality())),
                Index(t, (t.state, Index.Equality(cardinality='low')),
                    where=t.state.in_(['booked', 'in_progress'])),
                })
        cls._order = [('start', 'ASC'), ('id', 'ASC')]
        cls._transitions |= {
            ('booked', 'in_progress'),
            ('booked', 'no_show'),
            ('booked', 'cancelled'),
            ('in_progress', 'done'),
            ('no_show', 'booked'),
            ('no_show', 'cancelled'),
            }
        cls._buttons.update({
                'cancel': {
                    'invisible': ~Eval('state').in_(['booked', 'no_show']),
                    'depends': ['state'],
                    },
                'start_service': {
                    'invisible': Eval('state') != 'booked',
                    'depends': ['state'],
                    },
                'mark_done': {
                    'invisible': Eval('state') != 'in_progress',
                    'depends': ['state'],
                    },
                'mark_no_show': {
                    'invisible': Eval('state') != 'booked',
                    'depends': ['state'],
                    },
                'rebook': {
                    'invisible': Eval('state') != 'no_show',
                    'depends': ['state'],
                    },
                'print_card': {
                    'invisible': Eval('state') != 'booked',
                    'depends': ['state'],
                    },
                'notify_delay': {
                    'invisible': Eval('state') != 'booked',
                    'depends': ['state'],
                    },
                'send_message': {
                    'invisible': Eval('state').in_(['cancelled']),
                    'depends': ['state'],
                    },
                'check_messages': {},
                'resend_confirmation': {
                    'invisible': Eval('state') != 'booked',
                    'depends': ['state'],
                    },
                })
        cls.__rpc__.update({
                'free_slots': RPC(),
                'book_slot': RPC(readonly=False),
                })

    @classmethod
    def __post_setup__(cls):
        super().__post_setup__()
        # The pool lives as long as the process; without this, every few
        # requests a full garbage collection walks all of it again (about
        # 60 ms, measured by bench/slots.py).  [balie] gc_freeze = False
        # switches it off.
        if config.getboolean('balie', 'gc_freeze', default=True):
            gc.freeze()

    @classmethod
    def __register__(cls, module):
        if backend.name == 'postgresql':
            cls._ensure_btree_gist()
        super().__register__(module)
        # appointments from before buffer_end: their buffer from the service
        # (the constraint reads a missing buffer_end as the end)
        # (the constraint reads a missing buffer_end as the end; rows that
        # already break a buffer keep it missing rather than stop the update)
        if (backend.name == 'postgresql'
                and backend.TableHandler.table_exist('balie_service')):
            cursor = Transaction().connection.cursor()
            cursor.execute('SAVEPOINT balie_buffer_end')
            try:
                cursor.execute(
                    'UPDATE "%s" AS a SET buffer_end = a."end" '
                    '+ COALESCE(s.buffer, interval \'0\') FROM "%s" AS s '
                    'WHERE s.id = a.service AND a.buffer_end IS NULL'
                    % (cls._table, 'balie_service'))
            except backend.DatabaseIntegrityError:
                cursor.execute('ROLLBACK TO SAVEPOINT balie_buffer_end')
            else:
                cursor.execute('RELEASE SAVEPOINT balie_buffer_end')

    @classmethod
    def _ensure_btree_gist(cls):
        "Create btree_gist so that the overlap constraint is a real one."
        database = Transaction().database
        if database.has_extension('btree_gist'):
            return
        connection = database.get_connection(autocommit=True)
        try:
            with connection.cursor() as cursor:
                cursor.execute('CREATE EXTENSION IF NOT EXISTS btree_gist')
        except Exception as exception:
            raise DatabaseSetupError(gettext(
                    'digitale_balie.msg_btree_gist_missing',
                    error=str(exception))) from exception
        finally:
            database.put_connection(connection)
        database.clear_cache()

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @classmethod
    def default_state(cls):
        return 'booked'

    @classmethod
    def default_channel(cls):
        return 'video'

    @classmethod
    def default_origin(cls):
        return 'counter'

    @classmethod
    def default_language(cls):
        return Pool().get('balie.configuration')(1).default_language

    @classmethod
    def default_notify_by(cls):
        return 'email'

    @classmethod
    def default_ical_sequence(cls):
        return 0

    @fields.depends('service', 'start')
    def on_change_with_end(self, name=None):
        if self.service and self.start:
            return self.start + self.service.duration

    def get_local(self, name):
        if not self.start:
            return None
        local = engine.to_local(self.start)
        return local.date() if name == 'date' else local.time()

    @classmethod
    def search_date(cls, name, clause):
        _, operator, value = clause[:3]
        if value is None:
            return [('start', operator, None)]
        start, end = engine.local_day_bounds(value)
        if operator == '=':
            return [('start', '>=', start), ('start', '<', end)]
        if operator == '!=':
            return ['OR', ('start', '<', start), ('start', '>=', end)]
        if operator in {'<', '>='}:
            return [('start', operator, start)]
        if operator in {'>', '<='}:
            return [('start', {'>': '>=', '<=': '<'}[operator], end)]
        return [('start', operator, value)]

    @classmethod
    def preprocess_values(cls, mode, values):
        values = super().preprocess_values(mode, values)
        if mode == 'create':
            values.setdefault('booked_by', Transaction().user or None)
        return cls._clean_citizen_values(values)

    @classmethod
    def _clean_citizen_values(cls, values):
        """The contact data and texts through the citizen data's one path
        (party.py): e-mail and mobile checked and normalised, SMS only to
        a mobile, the note without control characters."""
        from .party import TEXT_SIZE, clean_text, parse_email, parse_phone
        Configuration = Pool().get('balie.configuration')

        def label(name):
            return cls.fields_get([name])[name]['string']
        if 'note' in values:
            values['note'] = clean_text(
                values['note'], label('note'), TEXT_SIZE, multiline=True)
        if values.get('contact_email'):
            values['contact_email'] = parse_email(values['contact_email'],
                check_domain=Configuration(1).check_email_domain)
        elif 'contact_email' in values:
            values['contact_email'] = None
        if values.get('contact_mobile'):
            mobile, sms = parse_phone(values['contact_mobile'])
            if values.get('notify_by') in {'sms', 'email_sms'} and not sms:
                raise CitizenValidationError(gettext(
                        'digitale_balie.msg_notify_sms_impossible',
                        phone=mobile))
            values['contact_mobile'] = mobile
        elif 'contact_mobile' in values:
            values['contact_mobile'] = None
        for name in ['delay_text']:
            if isinstance(values.get(name), str):
                values[name] = clean_text(
                    values[name], label(name), TEXT_SIZE, multiline=True)
        return values

    @classmethod
    def create(cls, vlist):
        pool = Pool()
        Configuration = pool.get('balie.configuration')
        vlist = [v.copy() for v in vlist]
        # concurrent bookings of one clerk on one day queue here instead
        # of deadlocking inside the check of the overlap constraint
        cls.lock_slots([(v['employee'], v['start'], v['end']) for v in vlist
                if v.get('employee') and v.get('start') and v.get('end')])
        # slots held for a citizen who is typing their code are taken too
        # (the hold took the same lock, so it is committed by now)
        BookingRequest = pool.get('balie.booking.request')
        for values in vlist:
            if values.get('employee') and values.get('start') and (
                    values.get('end')) and BookingRequest.held_rows(
                        [values['employee']], values['start'],
                        values['end']):
                raise SlotTakenError(gettext(
                        'digitale_balie.msg_slot_taken',
                        when=cls._format_when(values['start'])))
        config = Configuration(1)
        for values in vlist:
            if not values.get('number'):
                values['number'] = config.appointment_sequence.get()
            cls._set_buffer_end(values)
        return super().create(vlist)

    @classmethod
    def _set_buffer_end(cls, values, record=None):
        "Fill buffer_end from the values' (or the record's) end and service."
        Service = Pool().get('balie.service')
        end = values.get('end', record.end if record else None)
        service = values.get('service',
            record.service.id if record and record.service else None)
        if end and service is not None:
            values['buffer_end'] = end + (
                Service(service).buffer or dt.timedelta(0))

    @classmethod
    def write(cls, *args):
        actions = iter(args)
        args = []
        for records, values in zip(actions, actions):
            if 'end' in values or 'service' in values:
                for record in records:
                    values_ = values.copy()
                    cls._set_buffer_end(values_, record)
                    args.extend(([record], values_))
            else:
                args.extend((records, values))
        super().write(*args)

    @classmethod
    def copy(cls, appointments, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('number', None)
        default.setdefault('tokens', None)
        default.setdefault('messages', None)
        default.setdefault('ical_sequence', 0)
        default.setdefault('delay_minutes', None)
        default.setdefault('delay_text', None)
        default.setdefault('state', 'booked')
        default.setdefault('buffer_end', None)
        return super().copy(appointments, default=default)

    @classmethod
    @ModelView.button
    @Workflow.transition('cancelled')
    def cancel(cls, appointments):
        pool = Pool()
        Token = pool.get('balie.access.token')
        Dossier = pool.get('balie.dossier')
        Message = pool.get('balie.message')
        Token.revoke([t for a in appointments for t in a.tokens
                if t.purpose != 'message'])
        for appointment in appointments:
            Message.cancel_pending(appointment)
            appointment.ical_sequence = (appointment.ical_sequence or 0) + 1
        cls.save(appointments)
        for appointment in appointments:
            channels = appointment.electronic_channels()
            if channels:
                Message.queue(appointment, 'cancelled', channels)
            Dossier.add_event(appointment.dossier, 'cancelled',
                gettext('digitale_balie.msg_event_cancelled',
                    when=cls._format_when(appointment.start)),
                appointment=appointment)

    @classmethod
    @ModelView.button
    @Workflow.transition('in_progress')
    def start_service(cls, appointments):
        pass

    @classmethod
    @ModelView.button
    @Workflow.transition('done')
    def mark_done(cls, appointments):
        pass

    @classmethod
    @ModelView.button
    @Workflow.transition('no_show')
    def mark_no_show(cls, appointments):
        Dossier = Pool().get('balie.dossier')
        for appointment in appointments:
            Dossier.add_event(appointment.dossier, 'no_show',
                gettext('digitale_balie.msg_event_no_show',
                    when=cls._format_when(appointment.start)),
                appointment=appointment)

    @classmethod
    @ModelView.button
    @Workflow.transition('booked')
    def rebook(cls, appointments):
        pass

    @classmethod
    @ModelView.button_action('digitale_balie.wizard_print_card')
    def print_card(cls, appointments):
        pass

    @classmethod
    @ModelView.button_action('digitale_balie.wizard_notify_delay')
    def notify_delay(cls, appointments):
        pass

    @classmethod
    @ModelView.button_action('digitale_balie.wizard_send_message')
    def send_message(cls, appointments):
        pass

    @classmethod
    @ModelView.button_action('digitale_balie.wizard_check_messages')
    def check_messages(cls, appointments):
        pass

    @classmethod
    @ModelView.button
    def resend_confirmation(cls, appointments):
        Message = Pool().get('balie.message')
        for appointment in appointments:
            channels = appointment.electronic_channels()
            if channels:
                Message.queue(appointment, 'confirmation', channels)

    # -- messages --------------------------------------------------------

    @property
    def ical_uid(self):
        "One stable calendar UID per appointment."
        return 'balie-%s-%s@digitale-balie' % (self.company.id, self.id)

    def electronic_channels(self):
        return {
            'email': ['email'],
            'sms': ['sms'],
            'email_sms': ['email', 'sms'],
            }.get(self.notify_by, [])

    def message_values(self, language=None):
        """What the citizen reads about the appointment, in their language
        (or the one they chose on the portal): the values of message
        templates, the card and the portal."""
        from .dates import format_datetime_words
        pool = Pool()
        Configuration = pool.get('balie.configuration')
        language = language or self.language
        with Transaction().set_context(language=language):
            settings = Configuration.portal_settings()
            row = self._message_row()
        name = row['name']
        return {
            'first_name': name.split(' ')[0],
            'name': name,
            'subject': row['subject'] or row['service'],
            'when': format_datetime_words(self.start, language),
            'clerk': row['clerk'].split(' ')[0],
            'phone': settings.help_phone,
            'municipality': settings.municipality_name,
            'preparation': row['preparation'],
            }

    def _message_row(self):
        """The citizen's name, the subject, the clerk's name and the
        service's texts in the context's language, in one query: every
        portal page and every message shows them."""
        pool = Pool()
        Party = pool.get('party.party')
        Dossier = pool.get('balie.dossier')
        Employee = pool.get('company.employee')
        Service = pool.get('balie.service')
        Translation = pool.get('ir.translation')
        transaction = Transaction()
        appointment = self.__table__()
        party = Party.__table__()
        dossier = Dossier.__table__()
        employee = Employee.__table__()
        clerk = Party.__table__()
        service = Service.__table__()
        cursor = transaction.connection.cursor()
        cursor.execute(*appointment
            .join(party, 'LEFT', condition=appointment.party == party.id)
            .join(dossier, 'LEFT',
                condition=appointment.dossier == dossier.id)
            .join(employee, 'LEFT',
                condition=appointment.employee == employee.id)
            .join(clerk, 'LEFT', condition=employee.party == clerk.id)
            .join(service, 'LEFT',
                condition=appointment.service == service.id)
            .select(party.name, dossier.subject, clerk.name, service.id,
                service.name, service.preparation,
                service.write_date,
                where=appointment.id == self.id))
        (name, subject, clerk_name, service_id, service_name, preparation,
            changed) = cursor.fetchone()
        texts = {'name': service_name, 'preparation': preparation}
        if service_id is not None:
            # the translations as ModelSQL.read takes them, from the same
            # cache of ir.translation
            for field in texts:
                texts[field] = Translation.get_ids(
                    'balie.service,' + field, 'model', transaction.language,
                    [service_id], cached_after=changed).get(
                    service_id) or texts[field]
        return {
            'name': name or '',
            'subject': subject or '',
            'clerk': clerk_name or '',
            'service': texts['name'] or '',
            'preparation': texts['preparation'] or '',
            }

    def ical_file(self, url):
        """The appointment as a calendar file the citizen adds to their
        own agenda (METHOD:PUBLISH, the same UID as the invitations)."""
        from email.utils import parseaddr

        from .ical import PUBLISH, appointment_calendar
        values = self.message_values()
        with Transaction().set_context(language=self.language):
            summary = gettext('digitale_balie.msg_ical_summary', **values)
            description = gettext(
                'digitale_balie.msg_ical_description', url=url, **values)
        sender = parseaddr(config.get('email', 'from') or '')[1]
        return appointment_calendar(
            uid=self.ical_uid, sequence=self.ical_sequence or 0,
            method=PUBLISH, start=self.start, end=self.end,
            summary=summary, description=description, location_url=url,
            organizer_email=sender or 'balie@localhost',
            organizer_name=values['municipality'],
            language=self.language)

    def clerk_users(self):
        "The users who work as this appointment's clerk."
        User = Pool().get('res.user')
        if not self.employee:
            return []
        return User.search([('employees', '=', self.employee.id)])

    @classmethod
    def notify_clerk(cls, appointment, event):
        """Tell the clerk in the client (the bell) what the citizen did:
        event is 'moved', 'cancelled' or another msg_clerk_<event>."""
        pool = Pool()
        Notification = pool.get('res.notification')
        vlist = []
        for user in appointment.clerk_users():
            with Transaction().set_context(language=user.language.code
                    if user.language else None):
                vlist.append({
                        'user': user.id,
                        'label': gettext(
                            'digitale_balie.msg_clerk_%s_label' % event,
                            citizen=appointment.party.rec_name),
                        'description': gettext(
                            'digitale_balie.msg_clerk_%s' % event,
                            citizen=appointment.party.rec_name,
                            number=appointment.number or '',
                            when=cls._format_when(appointment.start)),
                        'model': cls.__name__,
                        'records': '[%d]' % appointment.id,
                        'icon': 'tryton-date',
                        })
        if vlist:
            Notification.create(vlist)

    @classmethod
    def cancel_by_citizen(cls, appointments):
        "The citizen cancelled from the portal: the clerk hears of it."
        pool = Pool()
        Dossier = pool.get('balie.dossier')
        cls.cancel(appointments)
        for appointment in appointments:
            Dossier.add_event(appointment.dossier, 'cancelled',
                gettext('digitale_balie.msg_event_cancelled_by_citizen'),
                appointment=appointment)
            cls.notify_clerk(appointment, 'cancelled')

    @classmethod
    def _notify_booked(cls, appointment):
        "Queue the confirmation and plan the reminders of a new booking."
        Message = Pool().get('balie.message')
        channels = appointment.electronic_channels()
        Message.queue(appointment, 'confirmation', channels or ['letter'])
        cls._plan_reminders(appointment)

    @classmethod
    def _plan_reminders(cls, appointment):
        pool = Pool()
        Message = pool.get('balie.message')
        Configuration = pool.get('balie.configuration')
        channels = appointment.electronic_channels()
        if not channels:
            return
        now = clock.now()
        for offset in Configuration(1).reminder_offsets():
            send_at = appointment.start - offset
            # booked after the moment of this reminder: skip it
            if send_at > now:
                Message.queue(appointment, 'reminder', channels,
                    send_at=send_at, send_by=appointment.start)

    @classmethod
    def get_needs_call(cls, appointments, name):
        ids = [a.id for a in appointments]
        to_call = {a.id for a in cls.search([
                    ('id', 'in', ids), ('needs_call', '=', True)])}
        return {i: i in to_call for i in ids}

    @classmethod
    def search_needs_call(cls, name, clause):
        pool = Pool()
        Message = pool.get('balie.message')
        Configuration = pool.get('balie.configuration')
        _, operator, value = clause[:3]
        appointment = cls.__table__()
        message = Message.__table__()
        now = clock.now()
        delay = Configuration(1).escalation_delay or dt.timedelta(0)
        reached = message.select(message.appointment,
            where=message.state.in_(list(REACHED)))
        query = appointment.select(appointment.id,
            where=(appointment.state == 'booked')
            & (appointment.notify_by != 'paper')
            & (appointment.start > now)
            & (appointment.start <= now + delay)
            & ~appointment.id.in_(reached))
        wanted = (operator == '=') == bool(value)
        return [('id', 'in' if wanted else 'not in', query)]

    @classmethod
    def reschedule(cls, appointment, start, employee=None):
        """Move a booked appointment to another free slot of its service.

        The old slot is free at once; pending reminders are planned again,
        the citizen gets a 'rescheduled' message and their agenda an update
        of the same event (a higher SEQUENCE).  Raises SlotUnavailableError
        or SlotTakenError like book_slot."""
        pool = Pool()
        Message = pool.get('balie.message')
        Token = pool.get('balie.access.token')
        Configuration = pool.get('balie.configuration')
        Dossier = pool.get('balie.dossier')
        if appointment.state != 'booked':
            raise SlotUnavailableError(gettext(
                    'digitale_balie.msg_reschedule_not_booked',
                    appointment=appointment.rec_name))
        start = parse_utc(start)
        employee = getattr(employee, 'id', employee)
        day = engine.to_local(start).date()
        candidates = [s for s in cls._free_slots(appointment.service, day, day,
                employee, exclude=appointment.id) if s.start == start]
        if not candidates:
            raise SlotUnavailableError(gettext(
                    'digitale_balie.msg_slot_unavailable',
                    when=cls._format_when(start)))
        slot = candidates[0]
        old = appointment.start
        with cls._concurrency_guard(start):
            # the same queue as a booking of this clerk on that day
            cls.lock_slots([(slot.employee, slot.start, slot.end)])
            cls.write([appointment], {
                    'start': slot.start,
                    'end': slot.end,
                    'employee': slot.employee,
                    'ical_sequence': (appointment.ical_sequence or 0) + 1,
                    'delay_minutes': None,
                    'delay_text': None,
                    })
        Message.cancel_pending(appointment, kinds=['reminder'])
        expires_at = slot.end + Configuration(1).token_validity
        valid = [t for t in appointment.tokens if t.state == 'valid']
        if valid:
            Token.write(valid, {'expires_at': expires_at})
        channels = appointment.electronic_channels()
        if channels:
            Message.queue(appointment, 'rescheduled', channels)
        cls._plan_reminders(appointment)
        Dossier.add_event(appointment.dossier, 'rescheduled',
            gettext('digitale_balie.msg_event_rescheduled',
                old=cls._format_when(old),
                when=cls._format_when(appointment.start)),
            appointment=appointment)
        return appointment

    @classmethod
    def book_slot(cls, values):
        """Book a free slot and return the new appointment id.

        values: party, service, start (UTC) and optionally employee,
        channel, origin, language, notify_by, contact_email,
        contact_mobile, note, dossier, subject, follow_up_of.
        Raises SlotUnavailableError when the slot is not offered and
        SlotTakenError when a concurrent booking took it.
        """
        cls.check_service_access(values.get('service'))
        appointment = cls._book(values)
        return appointment.id

    @classmethod
    def _book(cls, values):
        pool = Pool()
        Service = pool.get('balie.service')
        Party = pool.get('party.party')
        Dossier = pool.get('balie.dossier')
        values = values.copy()
        service = Service(values.pop('service'))
        party = Party(values.pop('party'))
        start = parse_utc(values.pop('start'))
        employee = values.pop('employee', None)
        subject = values.pop('subject', None)
        dossier = values.pop('dossier', None)
        if subject is not None:
            from .party import NAME_SIZE, clean_text
            subject = clean_text(subject,
                Dossier.fields_get(['subject'])['subject']['string'],
                NAME_SIZE) or None
        # refused before any lock or query: the same checks as create's
        values = cls._clean_citizen_values(values)

        employee = getattr(employee, 'id', employee)
        busy_until = start + service.duration + (
            service.buffer or dt.timedelta(0))
        if employee is not None:
            # queue behind the clerk's other bookings of that day first, so
            # that the checks below read after a rival's booking; the
            # overlap constraint on [start, end + buffer) stays the judge
            with cls._concurrency_guard(start):
                cls.lock_slots([(employee, start, busy_until)])
            if cls._busy_rows([employee], start, busy_until, limit=1):
                # the usual answer to a lost race, without computing the day
                raise SlotUnavailableError(gettext(
                        'digitale_balie.msg_slot_unavailable',
                        when=cls._format_when(start)))
        candidates = [s for s in cls._free_slots(
                service, engine.to_local(start).date(),
                engine.to_local(start).date(), employee)
            if s.start == start]
        if not candidates:
            raise SlotUnavailableError(gettext(
                    'digitale_balie.msg_slot_unavailable',
                    when=cls._format_when(start)))
        slot = candidates[0]
        if employee is None:
            with cls._concurrency_guard(start):
                cls.lock_slots([(slot.employee, start, busy_until)])
            if cls._busy_rows([slot.employee], start, busy_until, limit=1):
                # offered a moment ago, booked by a rival since
                raise SlotTakenError(gettext(
                        'digitale_balie.msg_slot_taken',
                        when=cls._format_when(start)))
        channel = values.setdefault('channel', 'video')
        if channel not in service.channels:
            raise SlotUnavailableError(gettext(
                    'digitale_balie.msg_service_channel',
                    service=service.rec_name,
                    channel=cls.channel_label(channel)))

        with cls._concurrency_guard(start):
            if dossier is None:
                dossier = Dossier.find_or_create(party, service, subject)
            else:
                dossier = Dossier(dossier)
            values.update({
                    'party': party.id,
                    'service': service.id,
                    'dossier': dossier.id,
                    'company': service.company.id,
                    'employee': slot.employee,
                    'start': slot.start,
                    'end': slot.end,
                    })
            if not values.get('language'):
                values['language'] = party.balie_language
            appointment, = cls.create([values])
        cls._notify_booked(appointment)
        Dossier.add_event(dossier, 'booked',
            gettext('digitale_balie.msg_event_booked',
                when=cls._format_when(appointment.start),
                service=service.rec_name,
                clerk=appointment.employee.rec_name),
            appointment=appointment)
        return appointment

    @classmethod
    def channel_label(cls, channel):
        "The channel's name in the user's language."
        selection = cls.fields_get(['channel'])['channel']['selection']
        return dict(selection).get(channel, channel)

    @classmethod
    def _format_when(cls, start):
        "A time in words for the clerk, in the clerk's language."
        from .dates import format_datetime_words
        return format_datetime_words(start, Transaction().language)
