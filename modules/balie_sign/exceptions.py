# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
from trytond.exceptions import UserError
from trytond.model.exceptions import ValidationError


class DocumentError(UserError):
    pass


class DocumentRefused(DocumentError):
    "A file that is not kept; `reason` is the code of document_check."

    def __init__(self, message, reason=None):
        super().__init__(message)
        self.reason = reason


class FormError(ValidationError):
    pass


class AnswerError(ValueError):
    "One answer that is not right: the message says why, plainly."

    def __init__(self, message):
        super().__init__(message)
        self.message = message


class IdentityError(UserError):
    pass


class IdentityValidationError(ValidationError):
    pass


class DecisionError(UserError):
    pass


class PaymentError(UserError):
    pass


class PaymentValidationError(ValidationError):
    pass


class SignatureError(UserError):
    pass


class SignatureValidationError(ValidationError):
    pass
