# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"The printed booking card the citizen takes home from the counter."
import segno
from genshi.core import Markup

from trytond.i18n import gettext
from trytond.pool import Pool
from trytond.report import Report
from trytond.transaction import Transaction
from trytond.wizard import StateReport, Wizard

from .exceptions import CardError


def qr_svg(url):
    "An inline SVG QR code, sized by the stylesheet."
    qr = segno.make(url, error='m')
    return Markup(qr.svg_inline(scale=1, border=4, omitsize=True,
            title=url))


class BookingCard(Report):
    __name__ = 'balie.appointment.card'

    @classmethod
    def issue(cls, appointments):
        """Give each appointment a fresh card link and return the report
        data; earlier card links of these appointments stop working."""
        pool = Pool()
        Token = pool.get('balie.access.token')
        Dossier = pool.get('balie.dossier')
        tokens = {}
        for appointment in appointments:
            Token.revoke([t for t in appointment.tokens
                    if t.purpose == 'card'])
            _, tokens[str(appointment.id)] = Token.generate(
                appointment, 'card')
            Dossier.add_event(appointment.dossier, 'card',
                gettext('digitale_balie.msg_event_card'),
                appointment=appointment)
        return {
            'model': 'balie.appointment',
            'id': appointments[0].id if appointments else None,
            'ids': [a.id for a in appointments],
            'tokens': tokens,
            }

    @classmethod
    def get_context(cls, records, header, data):
        pool = Pool()
        Configuration = pool.get('balie.configuration')
        Appointment = pool.get('balie.appointment')
        context = super().get_context(records, header, data)
        tokens = (data or {}).get('tokens') or {}
        cards = []
        for record in records:
            raw = tokens.get(str(record.id))
            if not raw:
                raise CardError(gettext('digitale_balie.msg_card_no_link'))
            language = record.language
            with Transaction().set_context(language=language):
                config = Configuration(1)
                appointment = Appointment(record.id)
                url = config.personal_url(raw)
                card = appointment.message_values()
                card.update({
                        'language': language,
                        'url': url,
                        'qr': qr_svg(url),
                        'note': appointment.note,
                        'tutorial_url': config.tutorial_url,
                        'text': cls.texts(language, config, card['clerk']),
                        })
                cards.append(card)
        context['cards'] = cards
        return context

    @classmethod
    def texts(cls, language, config, clerk):
        "The card's fixed wording in the citizen's language."
        names = {
            'title': 'msg_card_title',
            'for': 'msg_card_for',
            'about': 'msg_card_about',
            'when': 'msg_card_when',
            'with': 'msg_card_with',
            'scan': 'msg_card_scan',
            'type': 'msg_card_type',
            'steps': 'msg_card_steps',
            'step_device': 'msg_card_step_device',
            'step_test': 'msg_card_step_test',
            'step_prepare': 'msg_card_step_prepare',
            'step_prepare_nothing': 'msg_card_step_prepare_nothing',
            'step_help': 'msg_card_step_help',
            'tutorial': 'msg_card_tutorial',
            'note': 'msg_card_note',
            }
        with Transaction().set_context(language=language):
            return {key: gettext('digitale_balie.' + name,
                    phone=config.help_phone,
                    clerk=clerk,
                    municipality=config.municipality_name)
                for key, name in names.items()}


class PrintCard(Wizard):
    "Print Booking Card"
    __name__ = 'balie.appointment.print_card'
    start_state = 'print_'
    print_ = StateReport('balie.appointment.card')

    def do_print_(self, action):
        Card = Pool().get('balie.appointment.card', type='report')
        appointments = [a for a in self.records if a.state == 'booked']
        if not appointments:
            raise CardError(gettext('digitale_balie.msg_card_not_booked'))
        return action, Card.issue(appointments)
