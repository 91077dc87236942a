# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"Translations in the tests of every Digitale Balie module (not a test file)."
import importlib
import os
import re

import polib

from trytond.pool import Pool
from trytond.tests.test_tryton import with_transaction

PLACEHOLDER = re.compile(r'%\(\w+\)s|\$\{\w+\}')


def locale_path(module, code):
    package = importlib.import_module(module)
    return os.path.join(os.path.dirname(package.__file__), 'locale',
        code + '.po')


def load_translations(modules, languages=('nl', 'fr')):
    """Load the modules' .po files, as trytond-admin does for a language
    (call inside a transaction of the test database)."""
    pool = Pool()
    Lang = pool.get('ir.lang')
    Translation = pool.get('ir.translation')
    Lang.write(Lang.search([('code', 'in', list(languages))]),
        {'translatable': True})
    for module in modules:
        for code in languages:
            path = locale_path(module, code)
            if os.path.exists(path):
                Translation.translation_import(code, module, path)


class TranslationTestMixin:
    "For a ModuleTestCase: nl.po and fr.po translate the whole module."

    @with_transaction()
    def test_every_string_is_translated(self):
        "Test that nl.po and fr.po translate every string of the module"
        pool = Pool()
        Translation = pool.get('ir.translation')
        TranslationSet = pool.get('ir.translation.set', type='wizard')
        # view and report strings are only collected by "Set Translations"
        session_id, _, _ = TranslationSet.create()
        TranslationSet(session_id).transition_set_()
        source = polib.pofile(
            Translation.translation_export('en', self.module).decode())
        expected = {(e.msgctxt, e.msgid) for e in source}
        for lang in ['nl', 'fr']:
            po = polib.pofile(locale_path(self.module, lang))
            translated = {(e.msgctxt, e.msgid) for e in po if e.msgstr}
            with self.subTest(lang=lang):
                self.assertEqual(expected - translated, set())
                for entry in po:
                    self.assertEqual(
                        set(PLACEHOLDER.findall(entry.msgstr)),
                        set(PLACEHOLDER.findall(entry.msgid)), entry.msgctxt)
