# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"The clerk's buttons that write to the citizen."
from trytond.i18n import gettext
from trytond.model import ModelView, fields
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.wizard import Button, StateTransition, StateView, Wizard

from .exceptions import MessageError


def message_status(appointment):
    "One line per message of the appointment, newest first."
    pool = Pool()
    Message = pool.get('balie.message')
    lines = []
    messages = Message.search([('appointment', '=', appointment.id)],
        order=[('id', 'DESC')])
    # what happens now first, the planned reminders last
    messages.sort(key=lambda m: m.kind == 'reminder' and m.state == 'queued')
    for message in messages:
        line = '%s · %s · %s → %s' % (message.kind_string,
            message.channel_string, message.state_string,
            message.recipient or '-')
        if message.state in {'failed', 'queued'} and message.last_error:
            line += '\n    %s' % message.last_error
        lines.append(line)
    return '\n'.join(lines)


def status_defaults(appointment, view):
    "The message status view: what the clerk typed, or the contact data."
    return {
        'appointment': appointment.id,
        'email': getattr(view, 'email', None) or appointment.contact_email,
        'mobile': getattr(view, 'mobile', None) or appointment.contact_mobile,
        'status': message_status(appointment),
        }


def send_test(appointment, email=None, mobile=None):
    "Queue a short test message to what the clerk just typed."
    pool = Pool()
    Message = pool.get('balie.message')
    channels = []
    if email:
        channels.append('email')
    if mobile:
        channels.append('sms')
    if not channels:
        raise MessageError(gettext('digitale_balie.msg_test_no_contact'))
    return Message.queue(appointment, 'test', channels,
        recipient_override={'email': email, 'sms': mobile})


class MessageStatus(ModelView):
    "Messages of an Appointment"
    __name__ = 'balie.appointment.message_status'

    appointment = fields.Many2One(
        'balie.appointment', "Appointment", readonly=True)
    email = fields.Char("E-mail")
    mobile = fields.Char("Mobile Phone")
    status = fields.Text("Messages", readonly=True)
    link = fields.Char("Link to Read Aloud", readonly=True,
        states={'invisible': ~Eval('link')},
        help="Read this link to the citizen if they want to write it down.")


class CheckMessages(Wizard):
    "Test and Follow Messages"
    __name__ = 'balie.appointment.check_messages'
    start_state = 'status'
    status = StateView('balie.appointment.message_status',
        'digitale_balie.appointment_message_status_view_form', [
            Button("Close", 'end', 'tryton-close'),
            Button("Refresh", 'status', 'tryton-refresh'),
            Button("Send Test Message", 'test', 'tryton-send', default=True),
            ])
    test = StateTransition()

    def default_status(self, fields):
        return status_defaults(self.record, self.status)

    def transition_test(self):
        send_test(self.record, self.status.email, self.status.mobile)
        return 'status'


class DelayStart(ModelView):
    "Notify Delay"
    __name__ = 'balie.appointment.notify_delay.start'

    minutes = fields.Integer("Minutes Late", required=True,
        domain=[('minutes', '>', 0), ('minutes', '<=', 240)])
    text = fields.Text("Message",
        help="Optional words of the clerk, added to the standard text.")


class NotifyDelay(Wizard):
    "Notify Delay"
    __name__ = 'balie.appointment.notify_delay'
    start = StateView('balie.appointment.notify_delay.start',
        'digitale_balie.appointment_notify_delay_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Send", 'send', 'tryton-send', default=True),
            ])
    send = StateTransition()

    def transition_send(self):
        pool = Pool()
        Message = pool.get('balie.message')
        Appointment = pool.get('balie.appointment')
        appointment = self.record
        if appointment.state != 'booked':
            raise MessageError(gettext('digitale_balie.msg_delay_not_booked'))
        Appointment.write([appointment], {
                'delay_minutes': self.start.minutes,
                'delay_text': self.start.text,
                })
        channels = appointment.electronic_channels()
        if channels:
            Message.queue(appointment, 'delay', channels, values={
                    'minutes': str(self.start.minutes),
                    'text': self.start.text or '',
                    })
        return 'end'


class FreeMessageStart(ModelView):
    "Send a Message"
    __name__ = 'balie.appointment.send_message.start'

    text = fields.Text("Message", required=True)
    by_email = fields.Boolean("By E-mail",
        states={'readonly': ~Eval('email_possible')})
    by_sms = fields.Boolean("By SMS",
        states={'readonly': ~Eval('sms_possible')})
    email_possible = fields.Boolean("E-mail Possible", readonly=True)
    sms_possible = fields.Boolean("SMS Possible", readonly=True)


class SendMessage(Wizard):
    "Send a Message"
    __name__ = 'balie.appointment.send_message'
    start = StateView('balie.appointment.send_message.start',
        'digitale_balie.appointment_send_message_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Send", 'send', 'tryton-send', default=True),
            ])
    send = StateTransition()

    def default_start(self, fields):
        appointment = self.record
        return {
            'email_possible': bool(appointment.contact_email),
            'sms_possible': bool(appointment.contact_mobile),
            'by_email': bool(appointment.contact_email),
            'by_sms': bool(appointment.contact_mobile),
            }

    def transition_send(self):
        Message = Pool().get('balie.message')
        channels = [c for c, on in [
                ('email', self.start.by_email and self.record.contact_email),
                ('sms', self.start.by_sms and self.record.contact_mobile)]
            if on]
        if not channels:
            raise MessageError(gettext('digitale_balie.msg_test_no_contact'))
        Message.queue(self.record, 'free', channels,
            values={'text': self.start.text})
        return 'end'
