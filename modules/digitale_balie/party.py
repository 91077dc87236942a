# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The citizen is a party; validation of what the clerk types about them.

clean_text, clean_name, parse_phone, parse_email and parse_national_number
are the one path every entry point takes for citizen data: the counter and
phone wizards, book_slot over RPC, online booking, rescheduling, the
portal's contact proposals, and parties and contact mechanisms created or
written by clerks (balie.appointment, party.party and
party.contact_mechanism call them in preprocess_values)."""
import unicodedata

import phonenumbers
from email_validator import (
    EmailNotValidError, EmailUndeliverableError, validate_email)
from phonenumbers import NumberParseException, PhoneNumberFormat
from stdnum.be import bis, nn
from stdnum.exceptions import ValidationError as StdnumValidationError

from trytond.i18n import gettext
from trytond.model import fields
from trytond.modules.party.exceptions import InvalidEMail
from trytond.pool import Pool, PoolMeta
from trytond.tools.email_ import validate_email as trytond_validate_email

from .exceptions import CitizenValidationError

DEFAULT_REGION = 'BE'
NAME_SIZE = 200
LINE_SIZE = 254
TEXT_SIZE = 4000
SMS_TYPES = {
    phonenumbers.PhoneNumberType.MOBILE,
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    }


def clean_text(value, field, size=LINE_SIZE, multiline=False):
    """Return value NFC-normalised and without control characters.

    Tabs and line breaks become spaces on a single line (and stay in a
    multi-line text); NUL and the other control characters are removed;
    half of a surrogate pair is refused, as is a text longer than size
    (after cleaning).  field: the field's name as the user knows it, or
    a function that returns it (asked only for an error)."""
    if value is None:
        return None
    if not isinstance(value, str):
        value = str(value)
    if any('\ud800' <= c <= '\udfff' for c in value):
        raise CitizenValidationError(gettext(
                'digitale_balie.msg_text_unstorable', field=_name(field)))
    value = value.replace('\r\n', '\n').replace('\r', '\n')
    kept = {'\n', '\t'} if multiline else set()
    value = ''.join(
        c if c in kept or unicodedata.category(c) != 'Cc'
        else (' ' if c in '\n\t\v\f' else '')
        for c in value)
    value = unicodedata.normalize('NFC', value)
    value = value.strip() if not multiline else value.strip('\n ')
    if size and len(value) > size:
        raise CitizenValidationError(gettext(
                'digitale_balie.msg_text_too_long', field=_name(field),
                size=size, length=len(value)))
    return value


def clean_name(value, field):
    "clean_text for a name: spaces collapsed, a blank name refused."
    value = clean_text(value, field, NAME_SIZE)
    value = ' '.join((value or '').split())
    if not value:
        raise CitizenValidationError(gettext(
                'digitale_balie.msg_name_blank', field=_name(field)))
    return value


def _name(field):
    return field() if callable(field) else field


def _label(model, field):
    "A function giving the field's name in the user's language."
    def label():
        Model = Pool().get(model)
        return Model.fields_get([field])[field]['string']
    return label


def parse_phone(value):
    """Return (E.164, can receive SMS) for a phone number typed in any
    usual Belgian or international way; raise CitizenValidationError."""
    value = clean_text(
        value, _label('balie.appointment', 'contact_mobile'), 64)
    try:
        number = phonenumbers.parse(value, DEFAULT_REGION)
    except NumberParseException as exception:
        raise CitizenValidationError(gettext(
                'digitale_balie.msg_invalid_phone', phone=value)) from exception
    if not phonenumbers.is_valid_number(number):
        raise CitizenValidationError(gettext(
                'digitale_balie.msg_invalid_phone', phone=value))
    return (phonenumbers.format_number(number, PhoneNumberFormat.E164),
        phonenumbers.number_type(number) in SMS_TYPES)


def parse_email(value, check_domain=False):
    """Return the normalised e-mail address; raise CitizenValidationError.

    With check_domain, also ask DNS whether the domain receives mail, as
    Tryton's party module does."""
    value = clean_text(
        value, _label('balie.appointment', 'contact_email'), 320)
    try:
        if check_domain:
            return trytond_validate_email(value)
        return validate_email(
            value, check_deliverability=False).normalized
    except EmailNotValidError as exception:
        raise CitizenValidationError(gettext(
                'digitale_balie.msg_invalid_email', email=value,
                reason=email_reason(value, exception))) from exception


def email_reason(value, exception):
    """What is wrong with an e-mail address, in the user's language
    (email-validator explains it in English only)."""
    local, _, domain = (value or '').rpartition('@')
    if isinstance(exception, EmailUndeliverableError):
        return gettext('digitale_balie.msg_email_reason_undeliverable',
            domain=domain)
    if (value or '').count('@') != 1 or not local or not domain:
        return gettext('digitale_balie.msg_email_reason_at')
    if any(c.isspace() for c in value):
        return gettext('digitale_balie.msg_email_reason_space')
    try:
        # the same library decides whether the domain alone is the fault
        validate_email('x@' + domain, check_deliverability=False)
    except EmailNotValidError:
        return gettext('digitale_balie.msg_email_reason_domain')
    return gettext('digitale_balie.msg_email_reason_characters')


def parse_national_number(value):
    """Return (identifier type, compact number) for a Belgian national
    register or BIS number; raise CitizenValidationError."""
    value = clean_text(value, _label('party.party', 'national_number'), 64)
    for type_, module in (('be_nn', nn), ('be_bis', bis)):
        try:
            return type_, module.validate(value)
        except StdnumValidationError:
            continue
    raise CitizenValidationError(gettext(
            'digitale_balie.msg_invalid_national_number', number=value))


class Party(metaclass=PoolMeta):
    __name__ = 'party.party'

    balie_language = fields.Function(fields.Selection(
            'get_balie_languages', "Balie Language"),
        'get_balie_language')
    national_number = fields.Function(
        fields.Char("National Register Number"), 'get_national_number')

    @classmethod
    def preprocess_values(cls, mode, values):
        values = super().preprocess_values(mode, values)
        if isinstance(values.get('name'), str) or (
                mode == 'write' and 'name' in values):
            values['name'] = clean_name(
                values['name'], _label(cls.__name__, 'name'))
        return values

    @classmethod
    def get_balie_languages(cls):
        from .configuration import LANGUAGES
        return LANGUAGES

    def get_balie_language(self, name):
        Configuration = Pool().get('balie.configuration')
        code = (self.lang.code if self.lang else '')[:2]
        if code in {'nl', 'fr', 'en'}:
            return code
        return Configuration(1).default_language

    def get_national_number(self, name):
        for identifier in self.identifiers:
            if identifier.type in {'be_nn', 'be_bis'}:
                return identifier.code

    @classmethod
    def search_rec_name(cls, name, clause):
        domain = super().search_rec_name(name, clause)
        _, operator, operand, *extra = clause
        # find "0470 12 34 56" although it is stored as +32470123456
        if (isinstance(operand, str) and not operator.startswith('!')
                and not operator.startswith('not ')):
            text = operand.strip('%').strip()
            try:
                e164, _ = parse_phone(text)
            except CitizenValidationError:
                pass
            else:
                domain.append(('contact_mechanisms.value_compact', '=', e164))
        return domain

    def contact_value(self, *types):
        "The first contact mechanism value of one of the types."
        for mechanism in self.contact_mechanisms:
            if mechanism.type in types and mechanism.active:
                return mechanism.value_compact or mechanism.value


class ContactMechanism(metaclass=PoolMeta):
    __name__ = 'party.contact_mechanism'

    @classmethod
    def preprocess_values(cls, mode, values):
        values = super().preprocess_values(mode, values)
        for name, size in (('value', LINE_SIZE), ('name', NAME_SIZE)):
            if isinstance(values.get(name), str):
                values[name] = clean_text(
                    values[name], _label(cls.__name__, name), size)
        return values

    @classmethod
    def check_valid_email(cls, mechanisms, field_names=None):
        Configuration = Pool().get('balie.configuration')
        if Configuration(1).check_email_domain:
            return super().check_valid_email(mechanisms, field_names)
        # servers without internet DNS: check the syntax only
        if field_names and not (field_names & {'type', 'value'}):
            return
        for mechanism in mechanisms:
            if mechanism.type == 'email' and mechanism.value:
                try:
                    parse_email(mechanism.value)
                except CitizenValidationError as exception:
                    raise InvalidEMail(gettext(
                            'party.msg_email_invalid',
                            email=mechanism.value,
                            party=mechanism.party.rec_name)) from exception
