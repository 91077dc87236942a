# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"The citizen's camera and microphone check."
from trytond.model import Index, ModelSQL, ModelView, fields

from digitale_balie.model import company_through


class DeviceCheck(company_through('appointment'), ModelSQL, ModelView):
    "Device Check"
    __name__ = 'balie.video.device_check'

    appointment = fields.Many2One('balie.appointment', "Appointment",
        required=True, readonly=True, ondelete='CASCADE')
    checked_at = fields.DateTime("Checked At", required=True, readonly=True)
    result = fields.Selection([
            ('passed', "Passed"),
            ('failed', "Failed"),
            ], "Result", required=True, readonly=True)
    camera = fields.Boolean("Camera", readonly=True)
    microphone = fields.Boolean("Microphone", readonly=True)
    speaker = fields.Boolean("Speaker", readonly=True)
    browser = fields.Char("Browser", readonly=True)
    problem = fields.Char("Problem", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('checked_at', 'DESC'), ('id', 'DESC')]
        t = cls.__table__()
        cls._sql_indexes.add(Index(t, (t.appointment, Index.Equality())))


PROBLEMS = {'denied', 'no_device', 'in_use', 'insecure', 'unsupported',
    'other', ''}


def browser_name(user_agent):
    "A short, non-identifying description of the browser."
    agent = user_agent or ''
    system = next((s for k, s in [
                ('Android', 'Android'), ('iPhone', 'iPhone'),
                ('iPad', 'iPad'), ('Windows', 'Windows'),
                ('Mac OS X', 'macOS'), ('Linux', 'Linux')]
            if k in agent), '?')
    browser = next((b for k, b in [
                ('Edg/', 'Edge'), ('SamsungBrowser', 'Samsung Internet'),
                ('Firefox/', 'Firefox'), ('CriOS', 'Chrome'),
                ('Chrome/', 'Chrome'), ('Safari/', 'Safari')]
            if k in agent), '?')
    return '%s on %s' % (browser, system)
