# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"The citizen is a party; validation of what the clerk types about them."
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
SMS_TYPES = {
    phonenumbers.PhoneNumberType.MOBILE,
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    }


def parse_phone(value):
    """Return (E.164, can receive SMS) for a phone number typed in any
    usual Belgian or international way; raise CitizenValidationError."""
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
