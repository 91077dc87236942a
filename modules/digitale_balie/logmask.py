# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""No personal link, session key, CSRF token, phone number or national
number in any log, at any level.

`install()` (called when the module is loaded) puts a log record factory
in front of Python's: every record of the process (trytond, werkzeug,
gunicorn, cron, worker) is formatted and masked when it is made, its
traceback too.  `GunicornLogger` masks gunicorn's access and error logs
(docker/gunicorn.conf.py loads it by file: this file imports nothing of
the project, so gunicorn's master does not load trytond)."""
import logging
import re

MASK = '***'
PATTERNS = [
    # personal links and the survey link: /a/<token>, /e/<token>
    (re.compile(r'(/[ae]/)[^/\s?#\'"<>]+'), r'\1' + MASK),
    # the clerk's call link (not its signals)
    (re.compile(r'(/balie/gesprek/)(?!signals\b)[^/\s?#\'"<>]+'),
        r'\1' + MASK),
    # every value of a query string (?msisdn=, ?token=, ...)
    (re.compile(r'([?&][^=&\s?#\'"<>]+=)[^&\s#\'"<>]*'), r'\1' + MASK),
    # the session cookie and form tokens
    (re.compile(r'(__Host-balie=)[^;\s\'"]+'), r'\1' + MASK),
    (re.compile(r'(csrf[\'"]?\s*[:=]\s*[\'"]?)[^\s&\'",;]+', re.I),
        r'\1' + MASK),
    # a personal link on its own (7 groups of 4), CSRF tokens and hashes
    # (hex), session keys (43 URL-safe characters)
    (re.compile(r'\b[0-9a-z]{4}(?:-[0-9a-z]{4}){6}\b'), MASK),
    (re.compile(r'\b[0-9a-fA-F]{32,}\b'), MASK),
    (re.compile(r'(?<![\w-])[A-Za-z0-9_-]{40,}(?![\w-])'), MASK),
    # Belgian national numbers: 85.07.30-033.28 and 11 digits
    (re.compile(r'\b\d{2}\.\d{2}\.\d{2}[- ]?\d{3}\.?\d{2}\b'), MASK),
    # phone numbers: +32 470 12 34 56, +32470123456, 0470123456
    (re.compile(r'\+\d{2}(?:[ .\-/]?\d){7,13}'), MASK),
    (re.compile(r'\b\d{9,15}\b'), MASK),
    ]

_base_factory = None


def mask(text):
    "The text without links, keys, tokens, phone or national numbers."
    if not text:
        return text
    for pattern, replacement in PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def mask_record(record):
    try:
        message = record.getMessage()
    except Exception:
        message = str(record.msg)
    record.msg, record.args = mask(message), ()
    if record.exc_info and not record.exc_text:
        record.exc_text = mask(
            logging.Formatter().formatException(record.exc_info))
    if record.stack_info:
        record.stack_info = mask(record.stack_info)
    return record


class MaskFilter(logging.Filter):
    "For handlers and loggers configured outside this process's factory."

    def filter(self, record):
        mask_record(record)
        return True


def _factory(*args, **kwargs):
    return mask_record(_base_factory(*args, **kwargs))


def install():
    "Mask every log record of this process (once)."
    global _base_factory
    if _base_factory is None:
        _base_factory = logging.getLogRecordFactory()
        logging.setLogRecordFactory(_factory)


try:
    from gunicorn.glogging import Logger as _GunicornLogger
except ImportError:
    _GunicornLogger = None

if _GunicornLogger is not None:
    class GunicornLogger(_GunicornLogger):
        "gunicorn's logger with the request line and headers masked."

        def setup(self, cfg):
            super().setup(cfg)
            install()
            for logger in [self.error_log, self.access_log]:
                logger.addFilter(MaskFilter())

        def atoms(self, resp, req, environ, request_time):
            atoms = super().atoms(resp, req, environ, request_time)
            return {k: mask(v) if isinstance(v, str) else v
                for k, v in atoms.items()}
