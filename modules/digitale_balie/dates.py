# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"Dates and times written out in words, in the citizen's language."
from babel.dates import format_date

from .slots import TIMEZONE, to_local

LOCALES = {'nl': 'nl_BE', 'fr': 'fr_BE', 'en': 'en_GB'}
# How a Belgian municipality writes a time of day in each language
TIME_PATTERNS = {
    'nl': "{hour}.{minute:02d} uur",
    'fr': "{hour} h {minute:02d}",
    'en': "{hour:02d}:{minute:02d}",
    }
DATE_TIME_PATTERNS = {
    'nl': "{date} om {time}",
    'fr': "{date} à {time}",
    'en': "{date} at {time}",
    }


def _language(language):
    language = (language or 'nl')[:2]
    return language if language in TIME_PATTERNS else 'nl'


def locale_of(language):
    return LOCALES.get((language or 'nl')[:2], 'nl_BE')


def format_date_words(value, language):
    "dinsdag 8 december 2026"
    return format_date(value, "EEEE d MMMM y", locale=locale_of(language))


def format_time_words(value, language):
    "A time of day as the citizen writes it: '10.30 uur', '10 h 30', '10:30'."
    return TIME_PATTERNS[_language(language)].format(
        hour=value.hour, minute=value.minute)


def format_datetime_words(value, language):
    """Write a naive UTC datetime out in local time, e.g.
    'dinsdag 8 december 2026 om 10.30 uur'."""
    if value is None:
        return ''
    local = to_local(value, TIMEZONE)
    language = _language(language)
    return DATE_TIME_PATTERNS[language].format(
        date=format_date_words(local.date(), language),
        time=format_time_words(local.time(), language))
