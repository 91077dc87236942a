# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
from trytond.exceptions import UserError
from trytond.model.exceptions import ValidationError


class SurveyError(UserError):
    pass


class QuestionnaireValidationError(ValidationError):
    pass
