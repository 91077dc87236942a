# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""What an application form asks: a definition per service and its
questions, which are the schema of the form's Dict field (so the clerk's
client shows them as they are), and how an answer is read and checked, in
plain language, the same on the portal and in the client."""
import datetime as dt
import json
import re
from decimal import Decimal, InvalidOperation

from stdnum import iban as stdnum_iban
from stdnum.be import bis, nn
from stdnum.exceptions import ValidationError as StdnumValidationError

from trytond.i18n import gettext
from trytond.model import (
    DeactivableMixin, DictSchemaMixin, ModelSQL, ModelView, Unique, fields)
from trytond.pyson import Eval

from .exceptions import AnswerError, FormError

CHECKS = [
    (None, ""),
    ('national_number', "National Register Number"),
    ('iban', "IBAN"),
    ('email', "E-mail"),
    ('phone', "Phone Number"),
    ('postal_code', "Belgian Postal Code"),
    ]
PREFILLS = [
    (None, ""),
    ('name', "Citizen's Name"),
    ('national_number', "Citizen's National Register Number"),
    ('street', "Citizen's Street"),
    ('postal_code', "Citizen's Postal Code"),
    ('city', "Citizen's City"),
    ('email', "Citizen's E-mail"),
    ('phone', "Citizen's Phone Number"),
    ]
# the kinds of question the portal can show
TYPES = {'boolean', 'integer', 'char', 'float', 'numeric', 'date',
    'selection', 'multiselection'}
MAX_TEXT = 500
CONTROL = re.compile(r'[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]')
DATE_FORMATS = ['%Y-%m-%d', '%d/%m/%Y', '%d-%m-%Y', '%d.%m.%Y', '%d %m %Y']


class FormDefinition(DeactivableMixin, ModelSQL, ModelView):
    "Form Definition"
    __name__ = 'balie.form.definition'

    name = fields.Char("Name", required=True, translate=True)
    code = fields.Char("Code", required=True)
    introduction = fields.Text("Introduction", translate=True,
        help="What the citizen reads above the questions.")
    questions = fields.One2Many('balie.form.field', 'definition',
        "Questions")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('code_unique', Unique(t, t.code),
                'balie_sign.msg_form_definition_code_unique'),
            ]
        cls._order.insert(0, ('name', 'ASC'))

    def ordered_questions(self):
        return sorted(self.questions,
            key=lambda q: (q.sequence is None, q.sequence or 0, q.id))


class FormField(DictSchemaMixin, ModelSQL, ModelView):
    "Form Question"
    __name__ = 'balie.form.field'

    definition = fields.Many2One('balie.form.definition', "Form",
        required=True, ondelete='CASCADE')
    sequence = fields.Integer("Sequence")
    section = fields.Char("Section", translate=True,
        help="The heading the question appears under.")
    required = fields.Boolean("Required",
        help="The form cannot be completed without an answer.")
    validation = fields.Selection(CHECKS, "Validation",
        states={'invisible': Eval('type_') != 'char'},
        help="How a text answer is checked and written.")
    min_value = fields.Integer("Minimum",
        states={'invisible': Eval('type_') != 'integer'})
    max_value = fields.Integer("Maximum",
        states={'invisible': Eval('type_') != 'integer'})
    prefill = fields.Selection(PREFILLS, "Filled In From",
        help="Taken from the citizen's details when the form starts.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('name_unique', Unique(t, t.definition, t.name),
                'balie_sign.msg_form_field_name_unique'),
            ]
        cls.type_.selection = [
            s for s in cls.type_.selection if s[0] in TYPES]
        cls._order = [
            ('definition', 'ASC'),
            ('sequence', 'ASC NULLS FIRST'), ('id', 'ASC')]

    @classmethod
    def default_type_(cls):
        return 'char'

    @classmethod
    def validate_fields(cls, questions, field_names):
        super().validate_fields(questions, field_names)
        if field_names and 'name' not in field_names:
            return
        for question in questions:
            # the name is a key of the answers and an id on the portal page
            if not re.fullmatch(r'[a-z][a-z0-9_]{0,62}', question.name or ''):
                raise FormError(gettext(
                        'balie_sign.msg_form_field_name_invalid',
                        name=question.name))

    @classmethod
    def default_required(cls):
        return False

    def options(self):
        "The choices of a selection question as [(key, label)]."
        return [tuple(o) for o in json.loads(self.selection_json or '[]')]

    # -- answers -----------------------------------------------------------

    def parse(self, raw):
        """Turn what was typed on the portal into a value (None when
        empty); AnswerError with a plain message."""
        if self.type_ == 'multiselection':
            keys = [k for k in (raw or []) if k]
            options = dict(self.options())
            if any(k not in options for k in keys):
                raise AnswerError(gettext('balie_sign.msg_form_choose'))
            return keys or None
        if self.type_ == 'boolean':
            return bool(raw) or None
        # control characters but line breaks and tabs are no text (and
        # PostgreSQL refuses NUL)
        text = CONTROL.sub(' ', raw or '').strip()
        if not text:
            return None
        if len(text) > MAX_TEXT:
            raise AnswerError(gettext('balie_sign.msg_form_too_long',
                    size=str(MAX_TEXT)))
        if self.type_ == 'integer':
            digits = re.sub(r'[\s.]', '', text)
            if not re.fullmatch(r'-?\d{1,9}', digits):
                raise AnswerError(gettext(
                        'balie_sign.msg_form_integer_invalid'))
            return self.check_value(int(digits))
        if self.type_ in {'float', 'numeric'}:
            try:
                number = Decimal(text.replace(' ', '').replace(',', '.'))
            except InvalidOperation:
                raise AnswerError(gettext(
                        'balie_sign.msg_form_number_invalid'))
            if not number.is_finite():
                raise AnswerError(gettext(
                        'balie_sign.msg_form_number_invalid'))
            return float(number) if self.type_ == 'float' else number
        if self.type_ == 'date':
            return self.check_value(parse_date(text))
        if self.type_ == 'selection':
            if text not in dict(self.options()):
                raise AnswerError(gettext('balie_sign.msg_form_choose'))
            return text
        return self.check_value(text)

    def check_value(self, value):
        """The value as it is stored (IBAN and national register numbers
        written the usual way); AnswerError when it is not right."""
        if value is None or value == '' or value == []:
            return None
        type_ = self.type_
        if type_ == 'integer':
            if isinstance(value, bool) or not isinstance(value, int):
                raise AnswerError(gettext(
                        'balie_sign.msg_form_integer_invalid'))
            low, high = self.min_value, self.max_value
            if ((low is not None and value < low)
                    or (high is not None and value > high)):
                raise AnswerError(gettext(
                        'balie_sign.msg_form_integer_range',
                        min=str(low if low is not None else ''),
                        max=str(high if high is not None else '')))
            return value
        if type_ == 'date':
            if isinstance(value, dt.datetime):
                value = value.date()
            if (not isinstance(value, dt.date)
                    or not 1900 <= value.year <= 2100):
                raise AnswerError(gettext('balie_sign.msg_form_date_invalid'))
            return value
        if type_ == 'selection':
            if value not in dict(self.options()):
                raise AnswerError(gettext('balie_sign.msg_form_choose'))
            return value
        if type_ == 'multiselection':
            options = dict(self.options())
            if (not isinstance(value, (list, tuple))
                    or any(v not in options for v in value)):
                raise AnswerError(gettext('balie_sign.msg_form_choose'))
            return list(value)
        if type_ == 'boolean':
            return bool(value)
        if type_ in {'float', 'numeric'}:
            return value
        text = str(value).strip()
        if len(text) > MAX_TEXT:
            raise AnswerError(gettext('balie_sign.msg_form_too_long',
                    size=str(MAX_TEXT)))
        return check_text(self.validation, text)

    def display(self, value, language=None):
        "The value as the portal's input shows it."
        if value is None:
            return '' if self.type_ != 'multiselection' else []
        if self.type_ == 'date' and isinstance(value, dt.date):
            return value.isoformat()
        if self.type_ == 'multiselection':
            return list(value)
        if self.type_ == 'boolean':
            return '1' if value else ''
        if self.type_ in {'float', 'numeric'}:
            text = str(value)
            return text.replace('.', ',') if language in {'nl', 'fr'} else (
                text)
        return str(value)

    def written(self, value, language=None):
        "The value in words, for the PDF and the summary."
        if value is None or value == [] or value == '':
            return ''
        if self.type_ == 'boolean':
            return gettext('balie_sign.msg_form_yes' if value
                else 'balie_sign.msg_form_no')
        if self.type_ == 'date' and isinstance(value, dt.date):
            return value.strftime('%d/%m/%Y')
        if self.type_ == 'selection':
            return dict(self.options()).get(value, value)
        if self.type_ == 'multiselection':
            options = dict(self.options())
            return ', '.join(options.get(v, v) for v in value)
        return self.display(value, language)


def parse_date(text):
    for format_ in DATE_FORMATS:
        try:
            return dt.datetime.strptime(text.strip(), format_).date()
        except ValueError:
            continue
    raise AnswerError(gettext('balie_sign.msg_form_date_invalid'))


def check_text(check, text):
    "Check and normalise a text answer of a kind."
    from digitale_balie.party import parse_email, parse_phone
    from digitale_balie.exceptions import CitizenValidationError
    if check == 'national_number':
        for module in (nn, bis):
            try:
                return module.format(module.validate(text))
            except StdnumValidationError:
                continue
        raise AnswerError(gettext(
                'balie_sign.msg_form_national_number_invalid',
                value=text))
    if check == 'iban':
        try:
            return stdnum_iban.format(stdnum_iban.validate(text))
        except StdnumValidationError:
            raise AnswerError(gettext('balie_sign.msg_form_iban_invalid',
                    value=text))
    if check == 'email':
        try:
            return parse_email(text)
        except CitizenValidationError:
            raise AnswerError(gettext('balie_sign.msg_form_email_invalid',
                    value=text))
    if check == 'phone':
        try:
            return parse_phone(text)[0]
        except CitizenValidationError:
            raise AnswerError(gettext('balie_sign.msg_form_phone_invalid',
                    value=text))
    if check == 'postal_code':
        if not re.fullmatch(r'[1-9]\d{3}', text):
            raise AnswerError(gettext(
                    'balie_sign.msg_form_postal_code_invalid', value=text))
    return text
