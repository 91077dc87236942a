# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
from trytond.exceptions import UserError
from trytond.model.exceptions import ValidationError


class SlotUnavailableError(UserError):
    "The requested slot is not (or no longer) free."


class SlotTakenError(SlotUnavailableError):
    "Another booking took the slot while this one was being made."


class CitizenValidationError(ValidationError):
    pass


class DatabaseSetupError(UserError):
    pass


class CardError(UserError):
    pass


class TemplateError(ValidationError):
    pass


class MessageError(UserError):
    pass


class ConfigurationError(ValidationError):
    pass
