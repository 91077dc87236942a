# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The invitation to the survey: offered when the clerk ends the call,
declined or answered on the citizen's page, or once by message when the
citizen closed the page.

The invitation knows the appointment; the response does not know the
invitation.  Marking an invitation answered writes no timestamp, so that
the moment of answering cannot be matched with the responses."""
import datetime as dt

from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, Unique, fields
from trytond.pool import Pool
from trytond.transaction import Transaction

from digitale_balie import clock

from .survey import local_day, month_of_week, week_of


STATES = [
    ('offered', "Offered"),
    ('declined', "Declined"),
    ('answered', "Answered"),
    ('expired', "Expired"),
    ]
CHANNELS = [
    ('page', "Page After the Call"),
    ('email', "E-mail"),
    ('sms', "SMS"),
    ]
OPEN = ['offered', 'declined']


# invitations by message go out only for calls that ended this recently,
# so that switching the message on does not invite last year's citizens
MESSAGE_WINDOW = dt.timedelta(days=2)


class Invitation(ModelSQL, ModelView):
    "Survey Invitation"
    __name__ = 'balie.survey.invitation'

    appointment = fields.Many2One('balie.appointment', "Appointment",
        readonly=True, ondelete='SET NULL',
        help="Emptied after the retention period of call data.")
    company = fields.Many2One('company.company', "Company", required=True,
        readonly=True)
    service = fields.Many2One('balie.service', "Service", required=True,
        readonly=True)
    survey = fields.Many2One('balie.survey', "Questionnaire", required=True,
        readonly=True, ondelete='RESTRICT')
    week = fields.Date("Week", required=True, readonly=True)
    month = fields.Date("Month", required=True, readonly=True)
    channel = fields.Selection(CHANNELS, "Channel", required=True,
        readonly=True)
    state = fields.Selection(STATES, "State", required=True, readonly=True,
        sort=False)
    offered_at = fields.DateTime("Offered At", required=True, readonly=True,
        help="The end of the call.")
    expires_at = fields.DateTime("Expires At", readonly=True)
    token = fields.Many2One('balie.access.token', "Survey Link",
        readonly=True, ondelete='SET NULL')
    message = fields.Many2One('balie.message', "Message", readonly=True,
        ondelete='SET NULL')
    messaged = fields.Boolean("Message Sent", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('appointment_unique', Unique(t, t.appointment),
                'balie_survey.msg_invitation_unique'),
            ]
        cls._sql_indexes.update({
                Index(t, (t.state, Index.Equality(cardinality='low')),
                    (t.offered_at, Index.Range()),
                    where=t.state == 'offered'),
                Index(t, (t.month, Index.Range()),
                    (t.service, Index.Equality())),
                Index(t, (t.token, Index.Equality())),
                })
        cls._order = [('offered_at', 'DESC'), ('id', 'DESC')]

    @classmethod
    def default_state(cls):
        return 'offered'

    @classmethod
    def default_channel(cls):
        return 'page'

    @classmethod
    def default_messaged(cls):
        return False

    def get_rec_name(self, name):
        return '%s (%s)' % (self.service.rec_name, self.state_string)

    state_string = state.translated('state')

    # -- offering ---------------------------------------------------------

    @classmethod
    def offer(cls, appointments):
        """Invite the citizens of calls that just ended; at most one
        invitation per appointment."""
        pool = Pool()
        Configuration = pool.get('balie.configuration')
        Survey = pool.get('balie.survey')
        Tally = pool.get('balie.survey.tally')
        if not appointments or not Configuration(1).survey_after_call:
            return []
        existing = {i.appointment.id for i in cls.search([
                    ('appointment', 'in', [a.id for a in appointments]),
                    ])}
        now = clock.now()
        vlist = []
        for appointment in appointments:
            if appointment.id in existing:
                continue
            survey = Survey.for_service(appointment.service)
            if survey is None:
                continue
            week = week_of(local_day(appointment.start))
            vlist.append({
                    'appointment': appointment.id,
                    'company': appointment.company.id,
                    'service': appointment.service.id,
                    'survey': survey.id,
                    'week': week,
                    'month': month_of_week(week),
                    'offered_at': now,
                    })
            existing.add(appointment.id)
        invitations = cls.create(vlist)
        for values in vlist:
            Tally.add(values['company'], values['service'], values['month'],
                invitations=1)
        return invitations

    @classmethod
    def for_appointment(cls, appointment):
        if appointment is None:
            return None
        invitations = cls.search([
                ('appointment', '=', appointment.id),
                ], limit=1)
        return invitations[0] if invitations else None

    @classmethod
    def for_token(cls, token):
        invitations = cls.search([('token', '=', token.id)], limit=1)
        return invitations[0] if invitations else None

    @property
    def answerable(self):
        "Whether the citizen can still answer (once)."
        return self.state in OPEN and (
            not self.expires_at or self.expires_at > clock.now())

    # -- the citizen's choice -------------------------------------------

    @classmethod
    def decline(cls, invitation):
        "No, thank you: recorded, and no message will follow."
        if invitation.state == 'offered':
            cls.write([invitation], {'state': 'declined'})

    @classmethod
    def answer(cls, invitation, answers):
        """Store the answers as an anonymous response; return False when
        the invitation was already answered.

        The invitation is marked with one conditional UPDATE (so two
        submissions at once give one response) that writes no time; the
        response gets the service, channel, week and questionnaire, and
        nothing that leads back to the invitation."""
        pool = Pool()
        Response = pool.get('balie.survey.response')
        Tally = pool.get('balie.survey.tally')
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.update([table.state], ['answered'],
                where=(table.id == invitation.id)
                & table.state.in_(OPEN)))
        if cursor.rowcount != 1:
            return False
        Tally.add(invitation.company.id, invitation.service.id,
            invitation.month, answered=1)
        appointment = invitation.appointment
        Response.record(
            survey=invitation.survey,
            company=invitation.company,
            service=invitation.service,
            channel=appointment.channel if appointment else 'video',
            week=invitation.week,
            answers=answers)
        return True

    # -- the message for who closed the page ----------------------------

    @classmethod
    def send_invitations(cls):
        """Invite once by message the citizens who closed the page after
        the call without answering or declining (the cron job)."""
        pool = Pool()
        Configuration = pool.get('balie.configuration')
        config = Configuration(1)
        if not config.survey_message:
            return []
        now = clock.now()
        invitations = cls.search([
                ('state', '=', 'offered'),
                ('messaged', '=', False),
                ('appointment', '!=', None),
                ('offered_at', '<=', now - config.survey_message_delay),
                ('offered_at', '>', now - config.survey_message_delay
                    - MESSAGE_WINDOW),
                ])
        sent = []
        for invitation in invitations:
            channel = cls._message_channel(config.survey_message,
                invitation.appointment)
            if channel:
                invitation._send(channel, config)
                sent.append(invitation)
        return sent

    @staticmethod
    def _message_channel(setting, appointment):
        "One channel: the configured one, if the citizen can receive it."
        channels = appointment.electronic_channels()
        email = 'email' in channels and appointment.contact_email
        sms = 'sms' in channels and appointment.contact_mobile
        if setting == 'email':
            return 'email' if email else None
        if setting == 'sms':
            return 'sms' if sms else None
        if setting == 'preferred':
            return 'email' if email else 'sms' if sms else None
        return None

    def _send(self, channel, config):
        pool = Pool()
        Message = pool.get('balie.message')
        Token = pool.get('balie.access.token')
        from digitale_balie.dates import format_date_words
        appointment = self.appointment
        expires_at = clock.now() + dt.timedelta(days=config.survey_link_days)
        with Transaction().set_context(language=appointment.language):
            text = gettext('balie_survey.msg_message_valid_until',
                date=format_date_words(
                    local_day(expires_at), appointment.language))
        message, = Message.queue(appointment, 'survey', [channel],
            values={'text': text})
        values = {
            'channel': channel,
            'messaged': True,
            'message': message.id,
            'expires_at': expires_at,
            }
        if message.token:
            # the message's own link becomes the survey link: it opens the
            # survey (not the personal page) and expires with the invitation
            Token.write([message.token], {
                    'purpose': 'survey', 'expires_at': expires_at})
            values['token'] = message.token.id
        self.__class__.write([self], values)

    @classmethod
    def opened(cls, token):
        "The survey link of a message was used: the message was opened."
        Message = Pool().get('balie.message')
        invitation = cls.for_token(token)
        if invitation and invitation.message:
            Message.mark_opened([invitation.message])
        return invitation

    # -- retention ---------------------------------------------------------

    @classmethod
    def clean_up(cls):
        """Expire what can no longer be answered and, after the retention
        period of call data, cut the link to the appointment, the link and
        the message: what stays counts for the response rate only."""
        pool = Pool()
        Configuration = pool.get('balie.configuration')
        config = Configuration(1)
        now = clock.now()
        expired = cls.search([
                ('state', '=', 'offered'),
                ['OR',
                    ('expires_at', '<', now),
                    [('expires_at', '=', None),
                        ('offered_at', '<', now - MESSAGE_WINDOW
                            - config.survey_message_delay)],
                    ],
                ])
        if expired:
            cls.write(expired, {'state': 'expired'})
        before = now - dt.timedelta(days=config.retention_days or 0)
        old = cls.search([
                ('offered_at', '<', before),
                ['OR',
                    ('appointment', '!=', None),
                    ('token', '!=', None),
                    ('message', '!=', None),
                    ],
                ])
        if old:
            cls.write(old, {
                    'appointment': None, 'token': None, 'message': None})
