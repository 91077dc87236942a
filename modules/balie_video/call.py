# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"The clerk's wizards: end the call, book a follow-up, log a no-show call."
from trytond.i18n import gettext
from trytond.model import ModelView, fields
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.transaction import Transaction
from trytond.wizard import Button, StateTransition, StateView, Wizard

from digitale_balie import clock
from digitale_balie import slots as engine
from digitale_balie.booking import parse_slot_key, stored, visited
from digitale_balie.exceptions import SlotUnavailableError

from .appointment import OUTCOMES
from .room import in_minutes


class EndCallStart(ModelView):
    "End Call"
    __name__ = 'balie.video.end_call.start'

    next_steps = fields.Text("Next Steps", required=True,
        help="What happens now, in plain words: the citizen reads this "
        "on their page and in a message, and it stays on the dossier.")
    send_to_citizen = fields.Boolean("Send to the Citizen",
        help="Also send the next steps by e-mail or SMS.")
    follow_up = fields.Boolean("Book a Follow-up",
        help="Book the next appointment now, in the same dossier.")


class EndCall(Wizard):
    "End Call"
    __name__ = 'balie.video.end_call'
    start = StateView('balie.video.end_call.start',
        'balie_video.end_call_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("End Call", 'close', 'tryton-ok', default=True),
            ])
    close = StateTransition()
    slot = StateView('balie.appointment.book.service',
        'digitale_balie.appointment_book_service_view_form', [
            Button("No Follow-up", 'end', 'tryton-cancel'),
            Button("Book", 'book', 'tryton-ok', default=True),
            ])
    book = StateTransition()

    def default_start(self, fields):
        return {'send_to_citizen': bool(
                self.record.electronic_channels()), 'follow_up': False}

    def transition_close(self):
        pool = Pool()
        Room = pool.get('balie.video.room')
        Appointment = pool.get('balie.appointment')
        Dossier = pool.get('balie.dossier')
        Message = pool.get('balie.message')
        appointment = self.record
        room = Room.for_appointment(appointment)
        Room.close([room], next_steps=self.start.next_steps)
        if appointment.state == 'booked':
            Appointment.start_service([appointment])
        if appointment.state == 'in_progress':
            Appointment.mark_done([appointment])
        room = Room(room.id)
        Dossier.add_event(appointment.dossier, 'call',
            gettext('balie_video.msg_event_call_ended',
                duration=in_minutes(room.duration),
                waiting=in_minutes(room.waiting_time),
                next_steps=self.start.next_steps),
            appointment=appointment)
        channels = appointment.electronic_channels()
        if self.start.send_to_citizen and channels:
            Message.queue(appointment, 'free', channels,
                values={'text': self.start.next_steps})
        if self.start.follow_up:
            return 'slot'
        return 'end'

    def default_slot(self, fields):
        return slot_defaults(self.record, self.slot, fields)

    def transition_book(self):
        if book_follow_up(self.record, self.slot):
            return 'end'
        return 'slot'


def slot_defaults(appointment, view, fields):
    """The slot step: what the clerk chose already (and why it could not be
    booked), else the same service, channel and clerk from today."""
    if visited(view, 'date'):
        return stored(view, fields)
    return {
        'company': appointment.company.id,
        'service': appointment.service.id,
        'channel': appointment.channel,
        'employee': appointment.employee.id,
        'date': engine.to_local(clock.now()).date(),
        }


def book_follow_up(appointment, choice):
    """Book the chosen slot as a follow-up in the same dossier; False when
    there is no slot or it was just taken (the step then says why)."""
    Appointment = Pool().get('balie.appointment')
    if not choice.slot:
        return False
    start, employee = parse_slot_key(choice.slot)
    try:
        Appointment._book({
                'party': appointment.party.id,
                'service': choice.service.id,
                'start': start,
                'employee': employee,
                'channel': choice.channel,
                'origin': appointment.origin,
                'language': appointment.language,
                'notify_by': appointment.notify_by,
                'contact_email': appointment.contact_email,
                'contact_mobile': appointment.contact_mobile,
                'dossier': appointment.dossier.id,
                'follow_up_of': appointment.id,
                })
    except SlotUnavailableError as exception:
        choice.slot = None
        choice.warning = exception.message
        return False
    return True


class FollowUp(Wizard):
    "Book Follow-up"
    __name__ = 'balie.video.follow_up'
    start = StateView('balie.appointment.book.service',
        'digitale_balie.appointment_book_service_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Book", 'book', 'tryton-ok', default=True),
            ])
    book = StateTransition()

    def default_start(self, fields):
        return slot_defaults(self.record, self.start, fields)

    def transition_book(self):
        if book_follow_up(self.record, self.start):
            return 'end'
        return 'start'


class LogCallStart(ModelView):
    "Log Call"
    __name__ = 'balie.video.log_call.start'

    phone = fields.Char("Phone", readonly=True)
    messages = fields.Text("Messages", readonly=True)
    outcome = fields.Selection(
        [o for o in OUTCOMES if o[0]], "Outcome", required=True)
    note = fields.Text("Note")
    new_slot = fields.Boolean("Book Another Moment",
        states={'invisible': Eval('outcome') != 'reschedule'},
        depends=['outcome'])


class LogCall(Wizard):
    "Log Call"
    __name__ = 'balie.video.log_call'
    start = StateView('balie.video.log_call.start',
        'balie_video.log_call_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Save", 'save', 'tryton-ok', default=True),
            ])
    save = StateTransition()
    slot = StateView('balie.appointment.book.service',
        'digitale_balie.appointment_book_service_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Move", 'move', 'tryton-ok', default=True),
            ])
    move = StateTransition()

    def default_start(self, fields):
        from digitale_balie.notify import message_status
        appointment = self.record
        return {
            'phone': appointment.contact_mobile
            or appointment.party.rec_name,
            'messages': message_status(appointment),
            'new_slot': True,
            }

    def transition_save(self):
        pool = Pool()
        Appointment = pool.get('balie.appointment')
        Dossier = pool.get('balie.dossier')
        Message = pool.get('balie.message')
        appointment = self.record
        outcome = self.start.outcome
        Appointment.write([appointment], {'call_outcome': outcome})
        label = dict(self.start.fields_get(['outcome'])['outcome'][
                'selection'])[outcome]
        Dossier.add_event(appointment.dossier, 'phone',
            gettext('balie_video.msg_event_phoned', outcome=label,
                note=self.start.note or ''),
            appointment=appointment)
        if outcome == 'not_reached':
            Appointment.mark_no_show([appointment])
            channels = appointment.electronic_channels()
            if channels:
                with Transaction().set_context(
                        language=appointment.language):
                    text = gettext('balie_video.msg_not_reached_text',
                        **appointment.message_values())
                Message.queue(appointment, 'free', channels,
                    values={'text': text})
        elif outcome == 'cancelled':
            Appointment.cancel([appointment])
        elif outcome == 'reschedule' and self.start.new_slot:
            return 'slot'
        return 'end'

    def default_slot(self, fields):
        return slot_defaults(self.record, self.slot, fields)

    def transition_move(self):
        Appointment = Pool().get('balie.appointment')
        if not self.slot.slot:
            return 'slot'
        start, employee = parse_slot_key(self.slot.slot)
        try:
            Appointment.reschedule(self.record, start, employee)
        except SlotUnavailableError as exception:
            self.slot.slot = None
            self.slot.warning = exception.message
            return 'slot'
        Appointment.write([self.record], {'call_outcome': None})
        return 'end'
