# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"The counter booking wizard: citizen, service and slot, contact, confirm."
import datetime as dt

from babel.dates import format_datetime as babel_format_datetime

from trytond.i18n import gettext
from trytond.model import ModelView, fields
from trytond.pool import Pool
from trytond.pyson import Bool, Eval
from trytond.transaction import Transaction
from trytond.wizard import (
    Button, StateReport, StateTransition, StateView, Wizard)

from . import clock
from . import slots as engine
from .availability import format_utc, parse_utc
from .configuration import LANGUAGES
from .dates import locale_of
from .exceptions import CitizenValidationError, SlotUnavailableError
from .party import (
    clean_name, parse_email, parse_national_number, parse_phone)
from .service import CHANNELS

OFFERED_SLOTS = 10
SEARCH_DAYS = 31


class BookCitizen(ModelView):
    "Book Appointment: Citizen"
    __name__ = 'balie.appointment.book.citizen'

    party = fields.Many2One(
        'party.party', "Citizen",
        help="Search by name, phone number, e-mail address "
        "or national register number. Leave empty for a new citizen.")
    name = fields.Char(
        "Name", states={'required': ~Eval('party')})
    # a Many2One rather than a Selection: sao 8.0 can lose a wizard's
    # selection value when another field of the form changes
    language = fields.Many2One(
        'ir.lang', "Language", required=True,
        domain=[('code', 'in', [code for code, _ in LANGUAGES])])
    mobile = fields.Char(
        "Mobile Phone", help="Any Belgian or international notation.")
    email = fields.Char("E-mail")
    national_number = fields.Char(
        "National Register Number",
        help="Optional; a Belgian national register or BIS number.")
    sms_possible = fields.Boolean("Can Receive SMS", readonly=True)

    @fields.depends('party')
    def on_change_party(self):
        if self.party:
            self.name = self.party.name
            self.language = self.party.lang if (self.party.lang
                and self.party.lang.code in dict(LANGUAGES)) else None
            self.mobile = self.party.contact_value('mobile', 'phone')
            self.email = self.party.contact_value('email')
            self.national_number = self.party.national_number

    @fields.depends('mobile')
    def on_change_with_sms_possible(self, name=None):
        if self.mobile:
            try:
                return parse_phone(self.mobile)[1]
            except CitizenValidationError:
                return False
        return False


class BookService(ModelView):
    "Book Appointment: Service and Slot"
    __name__ = 'balie.appointment.book.service'

    company = fields.Many2One('company.company', "Company", readonly=True)
    service = fields.Many2One(
        'balie.service', "Service", required=True,
        domain=[('company', '=', Eval('company', -1))])
    channel = fields.Selection(CHANNELS, "Channel", required=True)
    employee = fields.Many2One(
        'company.employee', "Clerk",
        domain=[('id', 'in', Eval('qualified', []))],
        context={'company': Eval('company', -1)}, depends={'company'},
        help="Leave empty for the first free clerk.")
    qualified = fields.Many2Many(
        'company.employee', None, None, "Qualified Clerks", readonly=True,
        context={'company': Eval('company', -1)}, depends={'company'})
    date = fields.Date(
        "From", required=True,
        help="Show the first free slots from this day on.")
    slot = fields.Selection('get_slots', "Slot", sort=False,
        states={'required': Bool(Eval('service'))})
    warning = fields.Text("Warning", readonly=True,
        states={'invisible': ~Eval('warning')})

    @fields.depends('service')
    def on_change_with_qualified(self, name=None):
        if self.service:
            return [e.id for e in self.service.employees]
        return []

    @fields.depends('service', 'channel')
    def on_change_service(self):
        if self.service and self.channel not in (self.service.channels or []):
            self.channel = (self.service.channels or ['video'])[0]

    @fields.depends('service', 'employee', 'date')
    def get_slots(self):
        pool = Pool()
        Appointment = pool.get('balie.appointment')
        Employee = pool.get('company.employee')
        selection = [(None, '')]
        if not self.service or not self.date:
            return selection
        slots = Appointment._free_slots(
            self.service, self.date,
            self.date + dt.timedelta(days=SEARCH_DAYS - 1),
            self.employee)[:OFFERED_SLOTS]
        employees = {e.id: e for e in Employee.browse(
                list({s.employee for s in slots}))}
        locale = locale_of(Transaction().language)
        for slot in slots:
            label = '%s — %s' % (
                babel_format_datetime(
                    engine.to_local(slot.start), "EEE d MMM y HH:mm",
                    locale=locale),
                employees[slot.employee].party.name)
            selection.append((slot_key(slot.start, slot.employee), label))
        return selection


def slot_key(start, employee):
    return '%s|%s' % (format_utc(start), employee)


def parse_slot_key(key):
    start, employee = key.split('|')
    return parse_utc(start), int(employee)


class BookContact(ModelView):
    "Book Appointment: Contact"
    __name__ = 'balie.appointment.book.contact'

    by_email = fields.Boolean("By E-mail",
        help="Send the confirmation and reminders by e-mail.")
    by_sms = fields.Boolean("By SMS",
        help="Send the confirmation and reminders by SMS.")
    paper_only = fields.Function(fields.Boolean(
            "Paper Only",
            help="Neither e-mail nor SMS: the booking card is the "
            "confirmation."), 'on_change_with_paper_only')
    note = fields.Text(
        "Note for the Citizen",
        help="Printed on the booking card, in the citizen's words.")
    by_phone = fields.Boolean("Booked By Phone",
        help="The citizen is on the phone: no booking card; the "
        "confirmation goes by e-mail or SMS.")


    @fields.depends('by_email', 'by_sms')
    def on_change_with_paper_only(self, name=None):
        return not self.by_email and not self.by_sms

    @property
    def notify_by(self):
        if self.by_email and self.by_sms:
            return 'email_sms'
        return 'email' if self.by_email else 'sms' if self.by_sms else 'paper'


class BookConfirm(ModelView):
    "Book Appointment: Confirm"
    __name__ = 'balie.appointment.book.confirm'

    summary = fields.Text("Summary", readonly=True)
    appointment = fields.Many2One(
        'balie.appointment', "Appointment", readonly=True)
    link = fields.Char("Link to Read Aloud", readonly=True)


def stored(view, fields):
    "What the clerk already entered in a wizard step, to show it again."
    values = view._default_values
    return {k: v for k, v in values.items() if k in fields}


def visited(view, field):
    "Whether the clerk already filled in the wizard step."
    return view._default_values.get(field) is not None


class Book(Wizard):
    "Book Appointment at the Counter"
    __name__ = 'balie.appointment.book'

    start = StateTransition()
    citizen = StateView('balie.appointment.book.citizen',
        'digitale_balie.appointment_book_citizen_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Next", 'check_citizen', 'tryton-forward', default=True),
            ])
    check_citizen = StateTransition()
    service = StateView('balie.appointment.book.service',
        'digitale_balie.appointment_book_service_view_form', [
            Button("Back", 'citizen', 'tryton-back'),
            Button("Next", 'check_service', 'tryton-forward', default=True),
            ])
    check_service = StateTransition()
    contact = StateView('balie.appointment.book.contact',
        'digitale_balie.appointment_book_contact_view_form', [
            Button("Back", 'service', 'tryton-back'),
            Button("Next", 'check_contact', 'tryton-forward', default=True),
            ])
    check_contact = StateTransition()
    confirm = StateView('balie.appointment.book.confirm',
        'digitale_balie.appointment_book_confirm_view_form', [
            Button("Back", 'contact', 'tryton-back'),
            Button("Book", 'book', 'tryton-ok', default=True),
            ])
    book = StateTransition()
    done = StateView('balie.appointment.message_status',
        'digitale_balie.appointment_message_status_view_form', [
            Button("Send Test Message", 'send_test', 'tryton-send'),
            Button("Refresh", 'done', 'tryton-refresh'),
            Button("Print Booking Card", 'print_', 'tryton-print',
                default=True, states={'invisible': Bool(Eval('link'))}),
            Button("Close", 'end', 'tryton-close',
                states={'invisible': ~Eval('link')}),
            ])
    send_test = StateTransition()
    print_ = StateReport('balie.appointment.card')

    def transition_start(self):
        return 'citizen'

    def default_citizen(self, fields):
        pool = Pool()
        Configuration = pool.get('balie.configuration')
        if visited(self.citizen, 'language'):
            return stored(self.citizen, fields)
        Lang = pool.get('ir.lang')
        langs = Lang.search(
            [('code', '=', Configuration(1).default_language)], limit=1)
        defaults = {'language': langs[0].id if langs else None}
        context = Transaction().context
        if context.get('active_model') == 'party.party' and self.record:
            citizen = self.citizen.__class__(party=self.record)
            citizen.on_change_party()
            defaults.update(citizen._default_values)
        return defaults

    def transition_check_citizen(self):
        citizen = self.citizen
        if citizen.mobile:
            citizen.mobile, citizen.sms_possible = parse_phone(citizen.mobile)
        else:
            citizen.sms_possible = False
        if citizen.email:
            Configuration = Pool().get('balie.configuration')
            citizen.email = parse_email(citizen.email,
                check_domain=Configuration(1).check_email_domain)
        if citizen.national_number:
            _, citizen.national_number = parse_national_number(
                citizen.national_number)
        if not citizen.party and not citizen.name:
            raise CitizenValidationError(
                gettext('digitale_balie.msg_citizen_name_required'))
        if not citizen.party:
            citizen.name = clean_name(citizen.name,
                citizen.__class__.fields_get(['name'])['name']['string'])
        # offer every way the citizen can be reached
        self.contact.by_email = bool(citizen.email)
        self.contact.by_sms = bool(citizen.sms_possible)
        return 'service'

    def default_service(self, fields):
        if visited(self.service, 'date'):
            return stored(self.service, fields)
        return {
            'company': Transaction().context.get('company'),
            'date': engine.to_local(clock.now()).date(),
            'channel': 'video',
            }

    def transition_check_service(self):
        service = self.service
        if service.channel not in service.service.channels:
            raise CitizenValidationError(gettext(
                    'digitale_balie.msg_service_channel',
                    service=service.service.rec_name,
                    channel=Pool().get('balie.appointment').channel_label(
                        service.channel)))
        if not service.slot:
            raise CitizenValidationError(
                gettext('digitale_balie.msg_slot_required'))
        service.warning = None
        return 'contact'

    def default_contact(self, fields):
        return stored(self.contact, fields)

    def transition_check_contact(self):
        if self.contact.by_email and not self.citizen.email:
            raise CitizenValidationError(
                gettext('digitale_balie.msg_notify_email_missing'))
        if self.contact.by_sms and not self.citizen.sms_possible:
            raise CitizenValidationError(
                gettext('digitale_balie.msg_notify_sms_impossible',
                    phone=self.citizen.mobile or ''))
        if self.contact.by_phone and self.contact.notify_by == 'paper':
            raise CitizenValidationError(
                gettext('digitale_balie.msg_phone_needs_message'))
        return 'confirm'

    def default_confirm(self, fields):
        pool = Pool()
        Employee = pool.get('company.employee')
        Appointment = pool.get('balie.appointment')
        start, employee = parse_slot_key(self.service.slot)
        from .dates import format_datetime_words
        lines = [
            self.citizen.party.name if self.citizen.party
            else self.citizen.name,
            '%s (%s)' % (self.service.service.rec_name,
                Appointment.channel_label(self.service.channel)),
            format_datetime_words(start, Transaction().language),
            Employee(employee).rec_name,
            self.citizen.language.name,
            dict(Appointment.fields_get(
                    ['notify_by'])['notify_by']['selection'])[
                self.contact.notify_by],
            ]
        return {'summary': '\n'.join(lines)}

    def transition_book(self):
        pool = Pool()
        Appointment = pool.get('balie.appointment')
        party = self._get_party()
        start, employee = parse_slot_key(self.service.slot)
        citizen = self.citizen
        try:
            appointment = Appointment._book({
                    'party': party.id,
                    'service': self.service.service.id,
                    'start': start,
                    'employee': employee,
                    'channel': self.service.channel,
                    'origin': 'phone' if self.contact.by_phone
                    else 'counter',
                    'language': citizen.language.code,
                    'notify_by': self.contact.notify_by,
                    'contact_email': citizen.email,
                    'contact_mobile': citizen.mobile,
                    'note': self.contact.note,
                    })
        except SlotUnavailableError as exception:
            # nothing typed is lost: back to the slots, with the reason
            self.service.slot = None
            self.service.warning = exception.message
            return 'service'
        self.confirm.appointment = appointment
        if self.contact.by_phone:
            # no card: the clerk reads the short link aloud if needed
            Token = pool.get('balie.access.token')
            Configuration = pool.get('balie.configuration')
            _, raw = Token.generate(appointment, 'card')
            self.confirm.link = Configuration(1).personal_url(raw)
        return 'done'

    def default_done(self, fields):
        "The citizen is still at the desk: show how the messages fare."
        from .notify import status_defaults
        values = status_defaults(self.confirm.appointment, self.done)
        values['link'] = self.confirm.link
        return values

    def transition_send_test(self):
        from .notify import send_test
        send_test(self.confirm.appointment, self.done.email, self.done.mobile)
        return 'done'

    def _get_party(self):
        "Return the citizen party, creating or completing it."
        pool = Pool()
        Party = pool.get('party.party')
        ContactMechanism = pool.get('party.contact_mechanism')
        Identifier = pool.get('party.identifier')
        citizen = self.citizen
        party = citizen.party
        if not party:
            party = Party(name=citizen.name, lang=citizen.language)
            party.save()
        elif party.lang != citizen.language:
            party.lang = citizen.language
            party.save()
        known = {(m.type, m.value_compact or m.value)
            for m in party.contact_mechanisms}
        mechanisms = []
        if citizen.mobile:
            type_ = 'mobile' if citizen.sms_possible else 'phone'
            if (type_, citizen.mobile) not in known:
                mechanisms.append(ContactMechanism(
                        party=party, type=type_, value=citizen.mobile))
        if citizen.email and ('email', citizen.email) not in known:
            mechanisms.append(ContactMechanism(
                    party=party, type='email', value=citizen.email))
        ContactMechanism.save(mechanisms)
        if citizen.national_number and not party.national_number:
            type_, code = parse_national_number(citizen.national_number)
            Identifier(party=party, type=type_, code=code).save()
        return party

    def do_print_(self, action):
        pool = Pool()
        Card = pool.get('balie.appointment.card', type='report')
        return action, Card.issue([self.confirm.appointment])

    def end(self):
        return 'reload'
