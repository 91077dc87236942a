# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"Message templates: the functional admin's words, per kind and channel."
import string

from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, Unique, fields
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.transaction import Transaction

from .exceptions import TemplateError
from .sms import count_segments, gsm_friendly

KINDS = [
    ('confirmation', "Confirmation"),
    ('reminder', "Reminder"),
    ('delay', "Delay"),
    ('rescheduled', "Rescheduled"),
    ('cancelled', "Cancelled"),
    ('free', "Free Text"),
    ('test', "Test"),
    ]
TEMPLATE_CHANNELS = [
    ('email', "E-mail"),
    ('sms', "SMS"),
    ]
# what a template may use, with a long but realistic value for each, to
# check that an SMS stays within budget whatever the appointment
PLACEHOLDERS = {
    'first_name': "Bartholomeus",
    'name': "Bartholomeus Vandenbroucke-Verhaeghe",
    'subject': None,  # the longest service name
    'when': "woensdag 30 september 2026 om 10.30 uur",
    'clerk': "Maximiliaan",
    'link': None,  # the configured portal address and a token
    'phone': None,  # the configured help number
    'municipality': None,
    'preparation': "",
    'minutes': "120",
    'text': "",
    }
SMS_MAX_SEGMENTS = 2


class _Template(string.Template):
    # ${name} only: a bare "$" in a message (prices) stays as it is
    pattern = r'''
    \$(?:
      (?P<escaped>\$) |
      \{(?P<braced>[a-z_]+)\} |
      (?P<named>(?!)) |
      (?P<invalid>(?!))
    )
    '''


def render(text, values):
    "Fill in ${placeholders}; unknown ones are left as they are."
    return _Template(text or '').safe_substitute(values)


def placeholders(text):
    return {m.group('braced')
        for m in _Template.pattern.finditer(text or '')
        if m.group('braced')}


class MessageTemplate(ModelSQL, ModelView):
    __name__ = 'balie.message.template'

    kind = fields.Selection(KINDS, "Kind", required=True, readonly=True)
    channel = fields.Selection(
        TEMPLATE_CHANNELS, "Channel", required=True, readonly=True)
    subject = fields.Char(
        "Subject", translate=True,
        states={'invisible': ~Eval('channel').in_(['email'])})
    body = fields.Text(
        "Text", required=True, translate=True,
        help="Use ${first_name}, ${name}, ${subject}, ${when}, ${clerk}, "
        "${link}, ${phone}, ${municipality}, ${preparation}, "
        "${minutes} and ${text}.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('kind_channel_unique', Unique(t, t.kind, t.channel),
                'digitale_balie.msg_template_unique'),
            ]
        cls._order = [('kind', 'ASC'), ('channel', 'ASC'), ('id', 'ASC')]

    def get_rec_name(self, name):
        return '%s (%s)' % (self.kind_string, self.channel_string)

    kind_string = kind.translated('kind')
    channel_string = channel.translated('channel')

    @classmethod
    def validate_fields(cls, templates, field_names):
        super().validate_fields(templates, field_names)
        cls.check_placeholders(templates, field_names)
        cls.check_sms_length(templates, field_names)

    @classmethod
    def check_placeholders(cls, templates, field_names=None):
        if field_names and not (field_names & {'subject', 'body'}):
            return
        for template in templates:
            unknown = (placeholders(template.body)
                | placeholders(template.subject)) - set(PLACEHOLDERS)
            if unknown:
                raise TemplateError(gettext(
                        'digitale_balie.msg_template_placeholder',
                        template=template.rec_name,
                        names=', '.join('${%s}' % n for n in sorted(unknown))))

    @classmethod
    def check_sms_length(cls, templates, field_names=None):
        if field_names and not (field_names & {'body'}):
            return
        values = cls.worst_case_values()
        for template in templates:
            if template.channel != 'sms':
                continue
            text = gsm_friendly(render(template.body, values))
            segments = count_segments(text)
            if segments > SMS_MAX_SEGMENTS:
                raise TemplateError(gettext(
                        'digitale_balie.msg_template_sms_too_long',
                        template=template.rec_name, segments=segments,
                        maximum=SMS_MAX_SEGMENTS, length=len(text)))

    @classmethod
    def worst_case_values(cls):
        pool = Pool()
        Configuration = pool.get('balie.configuration')
        Service = pool.get('balie.service')
        Token = pool.get('balie.access.token')
        config = Configuration(1)
        with Transaction().set_context(active_test=False):
            names = [s.name or '' for s in Service.search([])]
        values = dict(PLACEHOLDERS)
        values.update({
                'subject': max(names, key=len, default="Mantelzorgpremie"),
                'link': config.personal_url(Token.example()),
                'phone': config.help_phone,
                'municipality': config.municipality_name,
                })
        return values

    @classmethod
    def get(cls, kind, channel, language):
        "The template's subject and body in a language."
        with Transaction().set_context(language=language):
            templates = cls.search([
                    ('kind', '=', kind), ('channel', '=', channel),
                    ], limit=1)
            if not templates:
                raise TemplateError(gettext(
                        'digitale_balie.msg_template_missing',
                        kind=kind, channel=channel))
            template, = templates
            return template.subject or '', template.body
