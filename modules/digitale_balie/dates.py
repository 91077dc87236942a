# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"Dates and times written out in words, in the citizen's language."
from babel.dates import format_date, format_time

from .slots import TIMEZONE, to_local

LOCALES = {'nl': 'nl_BE', 'fr': 'fr_BE', 'en': 'en_GB'}
# How a Belgian municipality writes a time of day in each language
TIME_PATTERNS = {
    'nl': "{date} om {hour}.{minute:02d} uur",
    'fr': "{date} à {hour} h {minute:02d}",
    'en': "{date} at {time}",
    }


def locale_of(language):
    return LOCALES.get((language or 'nl')[:2], 'nl_BE')


def format_date_words(value, language):
    "dinsdag 8 december 2026"
    return format_date(value, "EEEE d MMMM y", locale=locale_of(language))


def format_datetime_words(value, language):
    """Write a naive UTC datetime out in local time, e.g.
    'dinsdag 8 december 2026 om 10.30 uur'."""
    if value is None:
        return ''
    local = to_local(value, TIMEZONE)
    language = (language or 'nl')[:2]
    if language not in TIME_PATTERNS:
        language = 'nl'
    return TIME_PATTERNS[language].format(
        date=format_date_words(local.date(), language),
        hour=local.hour, minute=local.minute,
        time=format_time(local.time(), "HH:mm", locale=locale_of(language)))
