# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
from trytond.modules.company.tests import CompanyTestMixin
from trytond.tests.test_tryton import ModuleTestCase

from digitale_balie.tests.translations import TranslationTestMixin


class BalieSignTestCase(
        TranslationTestMixin, CompanyTestMixin, ModuleTestCase):
    "Test the balie_sign module: views, access, dependencies, fields"
    module = 'balie_sign'
    extras = []


del ModuleTestCase
