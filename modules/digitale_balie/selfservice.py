# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Booking by the citizen on the municipality's website.

The citizen picks a free slot and leaves a name and an e-mail address or a
mobile number; the slot is then held for a few minutes while a six-digit
code goes to that address.  Only the right code, in time, books the
appointment: nobody books in someone else's name, and the citizen is
matched to a known party only after the code proved the address.

A held slot is a `balie.booking.request` in state pending whose hold has
not run out: the slot engine counts it as busy, and the clerk's advisory
lock orders holds and bookings of one clerk (see Appointment.create)."""
import datetime as dt
import hashlib
import hmac
import secrets
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

from trytond import config
from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, fields
from trytond.pool import Pool
from trytond.transaction import Transaction

from . import clock
from . import slots as engine
from .availability import parse_utc
from .channels import (
    SMTP_POLICY, Prepared, Sender, gateway, gsm_friendly, recipient_header)
from .exceptions import SlotUnavailableError
from .model import execute_planned

CODE_DIGITS = 6
KEY_BYTES = 32
STATES = [
    ('pending', "Waiting for the Code"),
    ('confirmed', "Confirmed"),
    ('expired', "Expired"),
    ('failed', "Too Many Attempts"),
    ]


def _hash(value):
    return hashlib.sha256(value.encode('utf-8')).hexdigest()


def new_code():
    return ''.join(secrets.choice('0123456789') for _ in range(CODE_DIGITS))


class BookingRequest(ModelSQL, ModelView):
    "Online Booking Request"
    __name__ = 'balie.booking.request'

    company = fields.Many2One('company.company', "Company", required=True,
        readonly=True)
    service = fields.Many2One('balie.service', "Service", required=True,
        readonly=True, ondelete='CASCADE')
    employee = fields.Many2One('company.employee', "Clerk", required=True,
        readonly=True)
    start = fields.DateTime("Start", required=True, readonly=True)
    end = fields.DateTime("End", required=True, readonly=True)
    name = fields.Char("Name", required=True, readonly=True)
    email = fields.Char("E-mail", readonly=True)
    mobile = fields.Char("Mobile Phone", readonly=True)
    code_channel = fields.Selection([
            ('email', "E-mail"),
            ('sms', "SMS"),
            ], "Code Sent By", required=True, readonly=True)
    language = fields.Char("Language", required=True, readonly=True)
    key_hash = fields.Char("Key Hash", required=True, readonly=True,
        strip=False)
    code_hash = fields.Char("Code Hash", required=True, readonly=True,
        strip=False)
    hold_until = fields.DateTime("Held Until", required=True, readonly=True)
    attempts = fields.Integer("Attempts", required=True, readonly=True)
    state = fields.Selection(STATES, "State", required=True, readonly=True)
    consent_at = fields.DateTime("Consent Given At", required=True,
        readonly=True)
    appointment = fields.Many2One('balie.appointment', "Appointment",
        readonly=True, ondelete='SET NULL')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t, (t.employee, Index.Equality()),
                    (t.hold_until, Index.Range()),
                    where=t.state == 'pending'),
                Index(t, (t.key_hash, Index.Equality())),
                Index(t, (t.create_date, Index.Range())),
                })
        cls._order = [('create_date', 'DESC'), ('id', 'DESC')]

    @classmethod
    def default_attempts(cls):
        return 0

    @classmethod
    def default_state(cls):
        return 'pending'

    @classmethod
    def held_rows(cls, employees, lo, hi, exclude=None):
        "(employee, start, end, service) of the slots held over [lo, hi)"
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        query, params = table.select(
            table.employee, table.start, table.end, table.service,
            where=table.employee.in_(list(employees))
            & (table.state == 'pending')
            & (table.hold_until > clock.now())
            & (table.id != (exclude or -1))
            & (table.start < hi) & (table.end > lo))
        # the partial index on the pending holds needs a plan per run
        execute_planned(cursor, query, params)
        return cursor.fetchall()

    @classmethod
    def open_for(cls, email, mobile):
        "How many unconfirmed holds a contact has now."
        domain = [('state', '=', 'pending'),
            ('hold_until', '>', clock.now())]
        contact = []
        if email:
            contact.append(('email', '=', email))
        if mobile:
            contact.append(('mobile', '=', mobile))
        return cls.search_count(domain + [['OR'] + contact])

    @classmethod
    def hold(cls, service, start, name, email, mobile, language,
            code_channel):
        """Hold a free slot of the service and send the code; return the
        raw key of the request (kept in the citizen's browser)."""
        pool = Pool()
        Appointment = pool.get('balie.appointment')
        Configuration = pool.get('balie.configuration')
        config_ = Configuration(1)
        start = parse_utc(start)
        day = engine.to_local(start).date()
        slots = [s for s in Appointment._free_slots(service, day, day)
            if s.start == start]
        if not slots:
            raise SlotUnavailableError(gettext(
                    'digitale_balie.msg_slot_unavailable',
                    when=Appointment._format_when(start)))
        slot = slots[0]
        # the same lock as a booking of this clerk on this day, then look
        # again
        Appointment.lock_slots(
            [(slot.employee, slot.start, slot.end + service.buffer)])
        if (Appointment._busy_rows([slot.employee], slot.start,
                    slot.end + service.buffer, limit=1)
                or cls.held_rows([slot.employee], slot.start,
                    slot.end + service.buffer)):
            raise SlotUnavailableError(gettext(
                    'digitale_balie.msg_slot_unavailable',
                    when=Appointment._format_when(start)))
        key = secrets.token_urlsafe(KEY_BYTES)
        code = new_code()
        now = clock.now()
        request, = cls.create([{
                    'company': service.company.id,
                    'service': service.id,
                    'employee': slot.employee,
                    'start': slot.start,
                    'end': slot.end,
                    'name': name,
                    'email': email or None,
                    'mobile': mobile or None,
                    'code_channel': code_channel,
                    'language': language,
                    'key_hash': _hash(key),
                    'code_hash': cls.code_digest(key, code),
                    'hold_until': now + config_.booking_code_validity,
                    'consent_at': now,
                    }])
        request.send_code(code)
        return key

    @staticmethod
    def code_digest(key, code):
        "The code is stored keyed by the request's own secret."
        return hmac.new(key.encode('ascii'), code.encode('ascii'),
            hashlib.sha256).hexdigest()

    @classmethod
    def find(cls, key):
        if not key or len(key) > 100:
            return None
        requests = cls.search([('key_hash', '=', _hash(key))], limit=1)
        return requests[0] if requests else None

    def send_code(self, code):
        "Send the code now: the citizen is waiting for it."
        pool = Pool()
        Configuration = pool.get('balie.configuration')
        with Transaction().set_context(language=self.language):
            config_ = Configuration(1)
            minutes = str(int(
                    config_.booking_code_validity.total_seconds() // 60))
            text = gettext('digitale_balie.msg_booking_code_text',
                code=code, minutes=minutes,
                municipality=config_.municipality_name)
            subject = gettext('digitale_balie.msg_booking_code_subject',
                code=code, municipality=config_.municipality_name)
        key = 'code-%s' % self.id
        if self.code_channel == 'sms':
            prepared = Prepared('sms', self.mobile, gsm_friendly(text), key,
                sender=gateway())
        else:
            sender = config.get('email', 'from')
            message = EmailMessage()
            message['From'] = sender
            message['To'] = recipient_header(self.name, self.email)
            message['Subject'] = subject
            message['Message-ID'] = make_msgid(
                domain=parseaddr(sender)[1].split('@')[-1] or None)
            message['Date'] = formatdate(localtime=False, usegmt=True)
            message['Auto-Submitted'] = 'auto-generated'
            message['Content-Language'] = self.language
            message.set_content(text)
            prepared = Prepared('email', self.email,
                message.as_bytes(policy=SMTP_POLICY), key,
                reference=message['Message-ID'],
                sender=parseaddr(sender)[1])
        with Sender() as sender_:
            sender_.send(prepared)

    def check_code(self, key, code):
        """Whether the code is right; counts the attempt.  Returns
        'ok', 'wrong', 'expired' or 'failed' (too many attempts)."""
        Configuration = Pool().get('balie.configuration')
        if self.state != 'pending':
            return 'expired' if self.state == 'expired' else self.state
        if self.hold_until <= clock.now():
            self.__class__.write([self], {'state': 'expired'})
            return 'expired'
        attempts = (self.attempts or 0) + 1
        code = ''.join(c for c in (code or '') if c.isdigit())
        if hmac.compare_digest(self.code_digest(key, code), self.code_hash):
            return 'ok'
        values = {'attempts': attempts}
        if attempts >= Configuration(1).booking_code_attempts:
            values['state'] = 'failed'
        self.__class__.write([self], values)
        return 'failed' if values.get('state') == 'failed' else 'wrong'

    def confirm(self):
        """Book the held slot: match or create the citizen, then the same
        booking as at the counter (origin portal)."""
        pool = Pool()
        Appointment = pool.get('balie.appointment')
        # the hold ends here so that the booking may take its slot
        self.__class__.write([self], {'state': 'confirmed'})
        party = self.find_or_create_party()
        notify_by = {
            (True, True): 'email_sms', (True, False): 'email',
            (False, True): 'sms'}[(bool(self.email), bool(self.mobile))]
        appointment = Appointment._book({
                'party': party.id,
                'service': self.service.id,
                'start': self.start,
                'employee': self.employee.id,
                'channel': self.service.online_channel or 'video',
                'origin': 'portal',
                'language': self.language,
                'notify_by': notify_by,
                'contact_email': self.email,
                'contact_mobile': self.mobile,
                })
        self.__class__.write([self], {'appointment': appointment.id})
        return appointment

    def find_or_create_party(self):
        """The known citizen with the proven address, or a new one.  Only
        the address that received the code counts as proof."""
        pool = Pool()
        Party = pool.get('party.party')
        ContactMechanism = pool.get('party.contact_mechanism')
        if self.code_channel == 'email':
            domain = [('type', '=', 'email'), ('value', '=', self.email)]
        else:
            domain = [('type', 'in', ['mobile', 'phone']),
                ('value_compact', '=', self.mobile.replace(' ', ''))]
        mechanisms = ContactMechanism.search(domain + [
                ('party.active', '=', True)], limit=2)
        parties = {m.party for m in mechanisms}
        if len(parties) == 1:
            party, = parties
        else:
            contacts = []
            if self.email:
                contacts.append({'type': 'email', 'value': self.email})
            if self.mobile:
                contacts.append({'type': 'mobile', 'value': self.mobile})
            party, = Party.create([{
                        'name': self.name,
                        'contact_mechanisms': [('create', contacts)],
                        }])
            lang = pool.get('ir.lang').search(
                [('code', '=', self.language)], limit=1)
            if lang and hasattr(Party, 'lang'):
                Party.write([party], {'lang': lang[0].id})
        return party

    @classmethod
    def clean_up(cls):
        """Forget requests a day after their hold, confirmed or not, and
        the portal's rate limit windows that ended."""
        cls.delete(cls.search([
                    ('hold_until', '<', clock.now() - dt.timedelta(days=1)),
                    ]))
        Pool().get('balie.rate.limit').clean_up()
