#!/usr/bin/env python3
# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Refresh modules/<module>/locale/{nl,fr}.po from the module's strings.

Activates the module in a throw-away SQLite database, exports every
translatable string (English source) and merges it with the existing .po
files: known translations are kept, new strings get an empty msgstr,
strings that disappeared are dropped.  Then translate the empty entries.

    .venv/bin/python scripts/update_translations.py digitale_balie
"""
import os
import sys

os.environ['TRYTOND_DATABASE_URI'] = 'sqlite://'
os.environ['DB_NAME'] = ':memory:'

import polib  # noqa: E402

from trytond.tests.test_tryton import (  # noqa: E402
    DB_NAME, USER, activate_module)
from trytond.pool import Pool  # noqa: E402
from trytond.transaction import Transaction  # noqa: E402

LANGUAGES = ['nl', 'fr']


def export(module):
    activate_module(module)
    with Transaction().start(DB_NAME, USER):
        pool = Pool()
        Translation = pool.get('ir.translation')
        TranslationSet = pool.get('ir.translation.set', type='wizard')
        # view and report strings are only collected by "Set Translations"
        session_id, _, _ = TranslationSet.create()
        TranslationSet(session_id).transition_set_()
        return polib.pofile(
            Translation.translation_export('en', module).decode('utf-8'))


def merge(source, path):
    old = polib.pofile(path) if os.path.exists(path) else polib.POFile()
    known = {(e.msgctxt, e.msgid): e.msgstr for e in old}
    by_id = {}
    for entry in old:
        if entry.msgstr:
            by_id.setdefault(entry.msgid, entry.msgstr)
    result = polib.POFile(wrapwidth=78)
    result.metadata = {'Content-Type': 'text/plain; charset=utf-8'}
    missing = 0
    for entry in source:
        msgstr = known.get((entry.msgctxt, entry.msgid)) or ''
        result.append(polib.POEntry(
                msgctxt=entry.msgctxt, msgid=entry.msgid, msgstr=msgstr,
                flags=[f for f in entry.flags if f != 'fuzzy']))
        missing += not msgstr
    result.save(path)
    return len(result), missing


def main(modules):
    for module in modules:
        source = export(module)
        root = os.path.join(os.path.dirname(__file__), '..', 'modules',
            module, 'locale')
        os.makedirs(root, exist_ok=True)
        for lang in LANGUAGES:
            total, missing = merge(source, os.path.join(root, lang + '.po'))
            print(f'{module}/{lang}.po: {total} strings, '
                f'{missing} to translate')


if __name__ == '__main__':
    main(sys.argv[1:] or ['digitale_balie'])
