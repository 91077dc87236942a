# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
import datetime as dt

from trytond.model import fields
from trytond.pool import Pool, PoolMeta


MESSAGE_CHANNELS = [
    (None, "Off"),
    ('email', "E-mail"),
    ('sms', "SMS"),
    ('preferred', "As the Citizen Prefers"),
    ]


class Configuration(metaclass=PoolMeta):
    __name__ = 'balie.configuration'

    survey_after_call = fields.Boolean("Survey After the Call",
        help="At the end of a video call, the citizen's page asks whether "
        "they will answer a few short questions (voluntary).")
    survey_message = fields.Selection(MESSAGE_CHANNELS,
        "Survey Invitation by Message",
        help="When the citizen closed the page without answering or "
        "declining, send at most one invitation by this channel.")
    survey_message_delay = fields.TimeDelta("Survey Message After",
        required=True,
        help="How long after the end of the call the invitation by "
        "message goes out.")
    survey_link_days = fields.Integer("Survey Link Valid (days)",
        required=True, domain=[('survey_link_days', '>', 0)],
        help="How many days the survey link in the message keeps working.")
    survey_text_months = fields.Integer("Keep Survey Comments (months)",
        required=True, domain=[('survey_text_months', '>', 0)],
        help="After this many months the free text of survey answers is "
        "deleted; the scores are kept.")
    survey_per_clerk = fields.Boolean("Figures per Clerk",
        help="Show the counter's figures (bookings, no-shows, waiting "
        "time, call duration) per clerk to managers. Survey answers are "
        "never linked to a clerk.")

    @classmethod
    def default_survey_after_call(cls):
        return True

    @classmethod
    def default_survey_message_delay(cls):
        return dt.timedelta(hours=1)

    @classmethod
    def default_survey_link_days(cls):
        return 7

    @classmethod
    def default_survey_text_months(cls):
        return 12

    @classmethod
    def default_survey_per_clerk(cls):
        return False

    def personal_url(self, token):
        "Survey links open the survey: /e/<token> instead of /a/<token>."
        Token = Pool().get('balie.access.token')
        if Token.purpose_of(token) == 'survey':
            return '%s/e/%s' % (self.portal_base_url.rstrip('/'), token)
        return super().personal_url(token)
