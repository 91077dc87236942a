# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""gunicorn's settings for both services (docker-compose.yml, --config):
its logs mask personal links, keys, phone and national numbers
(digitale_balie/logmask.py, loaded by file so that gunicorn's master does
not import trytond), and the access log has no query string nor referrer."""
import importlib.util
import os

_spec = importlib.util.find_spec('digitale_balie')
_path = os.path.join(
    os.path.dirname(_spec.origin), 'logmask.py')
_module_spec = importlib.util.spec_from_file_location('balie_logmask', _path)
_logmask = importlib.util.module_from_spec(_module_spec)
_module_spec.loader.exec_module(_logmask)

logger_class = _logmask.GunicornLogger
# the path only (%(U)s), masked; no query string, referrer or user agent
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'
