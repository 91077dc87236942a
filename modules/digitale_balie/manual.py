# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"The printed manual: how a video call works, step by step, with pictures."
import os

from genshi.core import Markup

from trytond.i18n import gettext
from trytond.pool import Pool
from trytond.report import Report
from trytond.transaction import Transaction

from .portal import TEMPLATES
from .web import PORTAL_LANGUAGES

STEPS = 5


def illustration(number):
    path = os.path.join(TEMPLATES, 'static', 'step%d.svg' % number)
    with open(path, encoding='utf-8') as file:
        return Markup(file.read())


class Manual(Report):
    "Citizen Manual"
    __name__ = 'balie.manual'

    @classmethod
    def get_context(cls, records, header, data):
        pool = Pool()
        Configuration = pool.get('balie.configuration')
        context = super().get_context(records, header, data)
        language = (data or {}).get('language')
        if not language and records:
            language = getattr(records[0], 'language', None)
        if language not in PORTAL_LANGUAGES:
            language = Configuration(1).default_language
        with Transaction().set_context(language=language):
            config = Configuration(1)

            def text(key, **values):
                values.setdefault('phone', config.help_phone)
                values.setdefault('municipality', config.municipality_name)
                return gettext('digitale_balie.msg_portal_' + key, **values)
            context.update({
                    'language': language,
                    'municipality': config.municipality_name,
                    'tutorial_url': config.tutorial_url,
                    'steps': [{
                            'title': text('step%d_title' % n),
                            'body': text('step%d_body' % n),
                            'picture': illustration(n),
                            } for n in range(1, STEPS + 1)],
                    'title': text('explain_title'),
                    'intro': text('explain_intro'),
                    'help': text('help'),
                    'call': text('call', phone=config.help_phone),
                    'watch': text('watch_video'),
                    })
        return context
