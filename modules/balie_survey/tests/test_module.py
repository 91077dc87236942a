# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
import os
import re

import polib

from trytond.modules.company.tests import CompanyTestMixin
from trytond.pool import Pool
from trytond.tests.test_tryton import ModuleTestCase, with_transaction


class BalieSurveyTestCase(CompanyTestMixin, ModuleTestCase):
    "Test the balie_survey module: views, access, dependencies, fields"
    module = 'balie_survey'
    extras = []

    @with_transaction()
    def test_every_string_is_translated(self):
        "Test that nl.po and fr.po translate every string of the module"
        pool = Pool()
        Translation = pool.get('ir.translation')
        TranslationSet = pool.get('ir.translation.set', type='wizard')
        session_id, _, _ = TranslationSet.create()
        TranslationSet(session_id).transition_set_()
        source = polib.pofile(
            Translation.translation_export('en', self.module).decode())
        expected = {(e.msgctxt, e.msgid) for e in source}
        locale = os.path.join(os.path.dirname(__file__), '..', 'locale')
        placeholder = re.compile(r'%\(\w+\)s|\$\{\w+\}')
        for lang in ['nl', 'fr']:
            po = polib.pofile(os.path.join(locale, lang + '.po'))
            translated = {(e.msgctxt, e.msgid) for e in po if e.msgstr}
            with self.subTest(lang=lang):
                self.assertEqual(expected - translated, set())
                for entry in po:
                    self.assertEqual(
                        set(placeholder.findall(entry.msgstr)),
                        set(placeholder.findall(entry.msgid)), entry.msgctxt)


del ModuleTestCase
