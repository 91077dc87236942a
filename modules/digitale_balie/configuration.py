# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
import datetime as dt
import re
from types import SimpleNamespace

from trytond.cache import Cache
from trytond.i18n import gettext
from trytond.model import ModelSingleton, ModelSQL, ModelView, fields
from trytond.pool import Pool
from trytond.pyson import Id
from trytond.transaction import Transaction

from .exceptions import ConfigurationError

LANGUAGES = [
    ('nl', "Dutch"),
    ('fr', "French"),
    ('en', "English"),
    ]


class Configuration(ModelSingleton, ModelSQL, ModelView):
    __name__ = 'balie.configuration'

    municipality_name = fields.Char(
        "Municipality", required=True, translate=True,
        help="The name citizens see on cards, messages and portal pages.")
    help_phone = fields.Char(
        "Help Phone Number", required=True,
        help="The number a citizen can call when something does not work.")
    portal_base_url = fields.Char(
        "Portal Base URL", required=True,
        help="Public address of the citizen portal, "
        "for example https://balie.gemeente.be")
    tutorial_url = fields.Char(
        "Tutorial URL",
        help="Address of the explanation video or page for citizens.")
    default_language = fields.Selection(
        LANGUAGES, "Default Language", required=True)
    booking_lead_time = fields.TimeDelta(
        "Minimum Lead Time", required=True,
        help="How long before its start a slot can still be booked.")
    booking_horizon = fields.Integer(
        "Booking Horizon", required=True,
        domain=[('booking_horizon', '>', 0)],
        help="How many days ahead slots can be booked.")
    token_validity = fields.TimeDelta(
        "Personal Link Validity", required=True,
        help="How long after the end of the appointment "
        "a personal link keeps working.")
    check_email_domain = fields.Boolean(
        "Check E-mail Domains",
        help="Ask DNS whether the domain of a new e-mail address receives "
        "mail. Switch off on servers that cannot reach internet DNS.")
    reminder_first = fields.TimeDelta(
        "First Reminder",
        help="How long before a video appointment the first reminder "
        "goes out. Leave empty for none.")
    reminder_second = fields.TimeDelta(
        "Second Reminder",
        help="How long before a video appointment the second reminder "
        "goes out. Leave empty for none.")
    escalation_delay = fields.TimeDelta(
        "Call When Unreached",
        help="If this long before the appointment no message was "
        "delivered or opened, the appointment appears in the list "
        "of citizens to call.")
    message_max_attempts = fields.Integer(
        "Maximum Attempts", required=True,
        domain=[('message_max_attempts', '>', 0)],
        help="How often a message is tried before it fails.")
    sms_url = fields.Char(
        "SMS Gateway URL",
        help="The Vonage SMS API address, or a compatible gateway.")
    sms_api_key = fields.Char("SMS API Key")
    sms_api_secret = fields.Char("SMS API Secret", strip=False)
    sms_signature_secret = fields.Char(
        "SMS Signature Secret", strip=False,
        help="Checks that delivery reports really come from the gateway.")
    sms_sender = fields.Char(
        "SMS Sender", size=11,
        help="The name citizens see as sender (at most 11 characters).")
    portal_colour = fields.Char(
        "Portal Colour", size=7,
        help="The municipality's colour for buttons and links on the "
        "portal, as #rrggbb. White text on it must stay readable "
        "(contrast of at least 4.5 to 1).")
    portal_logo = fields.Binary("Portal Logo",
        help="A PNG or JPEG image of at most 200 kB, shown at the top of "
        "every portal page.")
    citizen_change_limit = fields.TimeDelta(
        "Citizen Change Limit", required=True,
        help="Until how long before the start a citizen may move or "
        "cancel the appointment on the portal; later the page shows the "
        "phone number.")
    retention_days = fields.Integer(
        "Keep Technical Data (days)", required=True,
        domain=[('retention_days', '>=', 0)],
        help="How many days after their end personal links, portal "
        "sessions and technical call data are kept before they are "
        "deleted. A summary stays on the dossier.")
    booking_code_validity = fields.TimeDelta(
        "Booking Code Validity", required=True,
        help="How long the code of an online booking works; the slot is "
        "held for the citizen meanwhile.")
    booking_code_attempts = fields.Integer(
        "Booking Code Attempts", required=True,
        domain=[('booking_code_attempts', '>', 0)],
        help="How many wrong codes end an online booking.")
    booking_open_limit = fields.Integer(
        "Open Online Bookings", required=True,
        domain=[('booking_open_limit', '>', 0)],
        help="How many unconfirmed online bookings one e-mail address or "
        "phone number may have at the same time.")
    booking_embed_origins = fields.Char("Website Origins",
        help="The addresses of the municipality's website that may show "
        "the booking pages in a frame, separated by spaces, for example "
        "https://www.gemeente.be.")
    booking_consent = fields.Text("Consent Text", translate=True,
        help="What the citizen agrees to when booking online.")
    appointment_sequence = fields.Many2One(
        'ir.sequence', "Appointment Sequence", required=True,
        domain=[('sequence_type', '=',
                Id('digitale_balie', 'sequence_type_appointment'))])
    dossier_sequence = fields.Many2One(
        'ir.sequence', "Dossier Sequence", required=True,
        domain=[('sequence_type', '=',
                Id('digitale_balie', 'sequence_type_dossier'))])

    @classmethod
    def default_municipality_name(cls):
        return "Gemeente"

    @classmethod
    def default_help_phone(cls):
        return "+32 2 000 00 00"

    @classmethod
    def default_portal_base_url(cls):
        return 'http://localhost:8000'

    @classmethod
    def default_default_language(cls):
        return 'nl'

    @classmethod
    def default_check_email_domain(cls):
        return True

    @classmethod
    def default_reminder_first(cls):
        return dt.timedelta(hours=24)

    @classmethod
    def default_reminder_second(cls):
        return dt.timedelta(hours=1)

    @classmethod
    def default_escalation_delay(cls):
        return dt.timedelta(hours=24)

    @classmethod
    def default_message_max_attempts(cls):
        return 8

    @classmethod
    def default_sms_url(cls):
        return 'https://rest.nexmo.com/sms/json'

    @classmethod
    def default_booking_lead_time(cls):
        return dt.timedelta(minutes=30)

    @classmethod
    def default_booking_horizon(cls):
        return 90

    @classmethod
    def default_token_validity(cls):
        return dt.timedelta(hours=24)

    @classmethod
    def default_citizen_change_limit(cls):
        return dt.timedelta(hours=2)

    @classmethod
    def default_retention_days(cls):
        return 30

    @classmethod
    def default_booking_code_validity(cls):
        return dt.timedelta(minutes=10)

    @classmethod
    def default_booking_code_attempts(cls):
        return 5

    @classmethod
    def default_booking_open_limit(cls):
        return 2

    @classmethod
    def default_appointment_sequence(cls):
        return Pool().get('ir.model.data').get_id(
            'digitale_balie', 'sequence_appointment')

    @classmethod
    def default_dossier_sequence(cls):
        return Pool().get('ir.model.data').get_id(
            'digitale_balie', 'sequence_dossier')

    # the values every portal page shows, per language; cleared (in every
    # server process, at commit) when the configuration changes
    _portal_settings = Cache(
        'balie.configuration.portal_settings', context=False)
    # the portal's security headers, which the modules derive from the
    # configuration (Jitsi domain, login service, payment provider)
    _portal_headers = Cache(
        'balie.configuration.portal_headers', context=False)

    @classmethod
    def portal_settings(cls):
        """What every portal page shows, in the context's language:
        municipality_name, help_phone, help_phone_href, portal_colour,
        has_logo and default_language.  Read once per process and
        language instead of reading the whole configuration (and its
        logo) on every page."""
        language = Transaction().language
        settings = cls._portal_settings.get(language)
        if settings is None:
            config = cls(1)
            phone = config.help_phone or ''
            settings = {
                'municipality_name': config.municipality_name or '',
                'help_phone': phone,
                'help_phone_href': 'tel:' + ''.join(
                    c for c in phone if c in '+0123456789'),
                'portal_colour': config.portal_colour,
                'has_logo': bool(config.portal_logo),
                'default_language': config.default_language or 'nl',
                }
            cls._portal_settings.set(language, settings)
        return SimpleNamespace(**settings)

    @classmethod
    def clear_portal_caches(cls):
        cls._portal_settings.clear()
        cls._portal_headers.clear()

    @classmethod
    def create(cls, vlist):
        records = super().create(vlist)
        cls.clear_portal_caches()
        return records

    @classmethod
    def write(cls, *args):
        super().write(*args)
        cls.clear_portal_caches()

    @classmethod
    def delete(cls, records):
        super().delete(records)
        cls.clear_portal_caches()

    @classmethod
    def validate_fields(cls, records, field_names):
        super().validate_fields(records, field_names)
        if field_names and 'sms_sender' not in field_names:
            return
        for record in records:
            sender = record.sms_sender
            if sender and not (re.fullmatch(r'\+?\d{1,15}', sender)
                    or re.fullmatch(r'[A-Za-z0-9 .&_-]{1,11}', sender)):
                raise ConfigurationError(gettext(
                        'digitale_balie.msg_sms_sender_invalid',
                        sender=sender))

    @classmethod
    def validate(cls, records):
        super().validate(records)
        for record in records:
            record.check_portal_colour()
            record.check_portal_logo()
            record.check_embed_origins()

    def check_portal_colour(self):
        colour = self.portal_colour
        if not colour:
            return
        if not re.fullmatch(r'#[0-9a-fA-F]{6}', colour):
            raise ConfigurationError(gettext(
                    'digitale_balie.msg_portal_colour_invalid',
                    colour=colour))
        ratio = contrast_with_white(colour)
        if ratio < 4.5:
            raise ConfigurationError(gettext(
                    'digitale_balie.msg_portal_colour_contrast',
                    colour=colour, ratio='%.1f' % ratio))

    def check_embed_origins(self):
        for origin in (self.booking_embed_origins or '').split():
            if origin.rstrip('/') not in self.embed_origins():
                raise ConfigurationError(gettext(
                        'digitale_balie.msg_embed_origin_invalid',
                        origin=origin))

    def embed_origins(self):
        "The website origins allowed to frame the booking pages."
        origins = []
        for origin in (self.booking_embed_origins or '').split():
            origin = origin.rstrip('/')
            # https, or a machine of the developer's own
            if re.fullmatch(r'https://[a-z0-9.-]+(:\d+)?', origin) or (
                    re.fullmatch(
                        r'http://(localhost|127\.0\.0\.1)(:\d+)?', origin)):
                origins.append(origin)
        return origins

    def check_portal_logo(self):
        logo = self.portal_logo
        if not logo:
            return
        if len(logo) > 200_000 or self.portal_logo_type() is None:
            raise ConfigurationError(gettext(
                    'digitale_balie.msg_portal_logo_invalid'))

    def portal_logo_type(self):
        "The media type of the logo, read from its first bytes."
        logo = bytes(self.portal_logo or b'')
        if logo.startswith(b'\x89PNG\r\n\x1a\n'):
            return 'image/png'
        if logo.startswith(b'\xff\xd8\xff'):
            return 'image/jpeg'
        return None

    def personal_url(self, token):
        "Return the short personal link for a raw token."
        return '%s/a/%s' % (self.portal_base_url.rstrip('/'), token)

    def sms_status_url(self, database_name):
        "Where the SMS gateway posts its delivery reports."
        return '%s/%s/balie/sms/status' % (
            self.portal_base_url.rstrip('/'), database_name)

    def reminder_offsets(self):
        return sorted({o for o in [self.reminder_first, self.reminder_second]
                if o}, reverse=True)


def contrast_with_white(colour):
    "The WCAG contrast ratio of white text on a #rrggbb background."
    def channel(value):
        value /= 255
        return (value / 12.92 if value <= 0.03928
            else ((value + 0.055) / 1.055) ** 2.4)
    red, green, blue = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    luminance = (0.2126 * channel(red) + 0.7152 * channel(green)
        + 0.0722 * channel(blue))
    return 1.05 / (luminance + 0.05)
