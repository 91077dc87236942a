# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
from trytond.i18n import gettext
from trytond.pool import PoolMeta

from digitale_balie.template import PLACEHOLDERS, placeholders

from .signature_code import CODE_KIND


class MessageTemplate(metaclass=PoolMeta):
    __name__ = 'balie.message.template'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        for kind in [('decision', "Decision"), (CODE_KIND, "Signing Code")]:
            if kind not in cls.kind.selection:
                cls.kind.selection.append(kind)

    @classmethod
    def check_placeholders(cls, templates, field_names=None):
        "Signing code templates also know ${code}, and must use it."
        from digitale_balie.exceptions import TemplateError
        others = [t for t in templates if t.kind != CODE_KIND]
        super().check_placeholders(others, field_names)
        if field_names and not (field_names & {'subject', 'body'}):
            return
        for template in templates:
            if template.kind != CODE_KIND:
                continue
            unknown = (placeholders(template.body)
                | placeholders(template.subject)) - set(PLACEHOLDERS) \
                - {'code'}
            if unknown:
                raise TemplateError(gettext(
                        'digitale_balie.msg_template_placeholder',
                        template=template.rec_name,
                        names=', '.join('${%s}' % n for n in sorted(unknown))))
            if 'code' not in placeholders(template.body):
                raise TemplateError(gettext(
                        'balie_sign.msg_signature_template_code',
                        template=template.rec_name))
