# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""After the call: the dossier's workflow (open → in progress → waiting for
the citizen → decided → closed), the decision with a short report of the
conversation, and the decision letter sent to the citizen through the
outbox, in their language."""
import email
from email.policy import SMTP as SMTP_POLICY

from trytond.exceptions import UserError
from trytond.i18n import gettext
from trytond.model import ModelView, Workflow, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.report import Report
from trytond.transaction import Transaction

from digitale_balie import clock
from digitale_balie.dates import format_date_words

DECISIONS = [
    (None, ""),
    ('granted', "Granted"),
    ('refused', "Refused"),
    ('more_information', "More Information Needed"),
    ]
# the decisions that must say why
MOTIVATED = {'refused', 'more_information'}
LETTER_TEXTS = ['title', 'dear', 'about', 'granted', 'refused',
    'more_information', 'motivation', 'questions', 'regards', 'date',
    'dossier']


class DecisionError(UserError):
    pass


def dossier_language(dossier):
    "The citizen's language: of the latest appointment, else the party's."
    appointments = sorted(dossier.appointments, key=lambda a: a.start)
    if appointments:
        return appointments[-1].language
    return dossier.party.balie_language


class Dossier(metaclass=PoolMeta):
    __name__ = 'balie.dossier'

    _decision_states = {
        'readonly': ~Eval('state').in_(['in_progress', 'waiting']),
        }

    decision = fields.Selection(DECISIONS, "Decision", sort=False,
        states=_decision_states)
    motivation = fields.Text("Motivation", states=_decision_states,
        help="Why, in plain words: printed in the decision letter. "
        "Required when the application is refused or when more "
        "information is needed.")
    report = fields.Text("Report of the Conversation",
        states={'readonly': Eval('state') == 'closed'},
        help="A short internal report of the call: what was asked, "
        "shown and agreed.")
    decided_at = fields.DateTime("Decided At", readonly=True)
    decided_by = fields.Many2One('res.user', "Decided By", readonly=True)
    decision_letter = fields.Binary("Decision Letter", readonly=True,
        filename='decision_letter_name')
    decision_letter_name = fields.Char("Decision Letter Name",
        readonly=True)

    del _decision_states

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'process': {
                    'invisible': ~Eval('state').in_(['open', 'waiting']),
                    'depends': ['state'],
                    },
                'wait': {
                    'invisible': Eval('state') != 'in_progress',
                    'depends': ['state'],
                    },
                'decide': {
                    'invisible': Eval('state') != 'in_progress',
                    'readonly': ~Eval('decision'),
                    'depends': ['state', 'decision'],
                    },
                })

    @classmethod
    def copy(cls, dossiers, default=None):
        default = default.copy() if default is not None else {}
        for name in ['decision', 'motivation', 'report', 'decided_at',
                'decided_by', 'decision_letter', 'decision_letter_name']:
            default.setdefault(name, None)
        return super().copy(dossiers, default=default)

    @classmethod
    @ModelView.button
    @Workflow.transition('in_progress')
    def process(cls, dossiers):
        pass

    @classmethod
    @ModelView.button
    @Workflow.transition('waiting')
    def wait(cls, dossiers):
        pass

    @classmethod
    @Workflow.transition('decided')
    def _decided(cls, dossiers):
        pass

    @classmethod
    @ModelView.button
    def decide(cls, dossiers):
        """Record the decision, make the letter in the citizen's language
        and send it through the outbox.  'More information needed' waits
        for the citizen; the others are decided."""
        dossiers = [d for d in dossiers if d.state == 'in_progress']
        for dossier in dossiers:
            dossier.check_decision()
        cls.write(dossiers, {
                'decided_at': clock.now(),
                'decided_by': Transaction().user or None,
                })
        for dossier in dossiers:
            name, letter = dossier.render_decision_letter()
            cls.write([dossier], {
                    'decision_letter': letter,
                    'decision_letter_name': name,
                    })
            messages = dossier.send_decision(name, letter)
            cls.add_event(dossier, 'decision', gettext(
                    'balie_sign.msg_decision_event',
                    decision=dossier.decision_label(),
                    channels=', '.join(sorted({
                                m.channel_string for m in messages})) or '-'))
        more = [d for d in dossiers if d.decision == 'more_information']
        cls.wait(more)
        cls._decided([d for d in dossiers if d not in more])

    def decision_label(self, language=None):
        with Transaction().set_context(language=language
                or Transaction().language):
            selection = dict(self.fields_get(['decision'])['decision'][
                    'selection'])
        return selection.get(self.decision, '')

    def check_decision(self):
        missing = []
        if not self.decision:
            missing.append('decision')
        if self.decision in MOTIVATED and not (self.motivation or '').strip():
            missing.append('motivation')
        if not (self.report or '').strip():
            missing.append('report')
        if missing:
            labels = self.fields_get(missing)
            raise DecisionError(gettext('balie_sign.msg_decision_incomplete',
                    dossier=self.rec_name,
                    fields=', '.join(labels[n]['string'] for n in missing)))

    def render_decision_letter(self):
        "The decision letter as PDF: (file name, bytes)."
        Letter = Pool().get('balie.dossier.decision_letter', type='report')
        with Transaction().set_context(language=dossier_language(self)):
            extension, content, _, _ = Letter.execute([self.id], {
                    'model': 'balie.dossier', 'id': self.id,
                    'ids': [self.id]})
        name = '%s-%s.%s' % (gettext('balie_sign.msg_decision_file_name'),
            self.number or self.id, extension)
        return name, bytes(content)

    def send_decision(self, name, letter):
        """Queue the decision message on the citizen's channels; each
        e-mail carries the letter as an attachment.  Without e-mail a
        letter row says that the clerk posts the printed letter."""
        pool = Pool()
        Message = pool.get('balie.message')
        Attachment = pool.get('ir.attachment')
        appointments = sorted(self.appointments, key=lambda a: a.start)
        if not appointments:
            return []
        appointment = appointments[-1]
        channels = appointment.electronic_channels()
        if 'email' not in channels:
            # the letter itself must reach the citizen: by post
            channels.append('letter')
        language = appointment.language
        text = self.decision_label(language)
        if self.motivation:
            text += '\n\n' + self.motivation.strip()
        messages = Message.queue(appointment, 'decision', channels,
            values={'text': text})
        Attachment.create([{
                    'resource': str(m),
                    'name': name,
                    'type': 'data',
                    'data': letter,
                    } for m in messages if m.channel in {'email', 'letter'}])
        return messages


class DecisionLetter(Report):
    "The decision letter, in the citizen's language."
    __name__ = 'balie.dossier.decision_letter'

    @classmethod
    def get_context(cls, records, header, data):
        pool = Pool()
        Configuration = pool.get('balie.configuration')
        context = super().get_context(records, header, data)
        letters = []
        for record in records:
            language = dossier_language(record)
            with Transaction().set_context(language=language):
                config = Configuration(1)
                dossier = record.__class__(record.id)
                values = {
                    'name': dossier.party.name,
                    'first_name': (dossier.party.name or '').split(' ')[0],
                    'subject': dossier.subject,
                    'number': dossier.number,
                    'municipality': config.municipality_name,
                    'phone': config.help_phone,
                    'date': format_date_words(
                        (dossier.decided_at or clock.now()).date(),
                        language),
                    'decision': dossier.decision_label(language),
                    }
                letters.append({
                        'language': language,
                        'decision': dossier.decision,
                        'motivation': dossier.motivation,
                        'values': values,
                        'text': {key: gettext(
                                'balie_sign.msg_decision_letter_' + key,
                                **values) for key in LETTER_TEXTS},
                        })
        context['letters'] = letters
        return context


class MessageTemplate(metaclass=PoolMeta):
    __name__ = 'balie.message.template'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        if ('decision', "Decision") not in cls.kind.selection:
            cls.kind.selection.append(('decision', "Decision"))


class Message(metaclass=PoolMeta):
    __name__ = 'balie.message'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        if ('decision', "Decision") not in cls.kind.selection:
            cls.kind.selection.append(('decision', "Decision"))

    @classmethod
    def _prepare(cls, ids):
        """Attach the message's files (the decision letter) to e-mails:
        the outbox of digitale_balie builds e-mails without attachments,
        so they are added to the prepared e-mail here."""
        pool = Pool()
        Attachment = pool.get('ir.attachment')
        prepared = super()._prepare(ids)
        with Transaction().new_transaction(readonly=True):
            attachments = {}
            for attachment in Attachment.search([
                        ('resource', 'in',
                            ['%s,%s' % (cls.__name__, i) for i in ids]),
                        ('type', '=', 'data'),
                        ], order=[('id', 'ASC')]):
                attachments.setdefault(attachment.resource.id, []).append(
                    (attachment.name, bytes(attachment.data)))
        for id_, files in attachments.items():
            attempts, send_by, item = prepared[id_]
            if isinstance(item, Exception) or item.channel != 'email':
                continue
            item.data = attach_files(item.data, files)
        return prepared


def attach_files(data, files):
    "Add files to an e-mail in its wire form."
    message = email.message_from_bytes(data, policy=SMTP_POLICY)
    language = message['Content-Language']
    for name, content in files:
        maintype, subtype = (('application', 'pdf')
            if name.lower().endswith('.pdf')
            else ('application', 'octet-stream'))
        message.add_attachment(content, maintype=maintype, subtype=subtype,
            filename=name)
    # making the message mixed moves the Content-* headers into the part
    if language and not message['Content-Language']:
        message['Content-Language'] = language
    return message.as_bytes(policy=SMTP_POLICY)


class Appointment(metaclass=PoolMeta):
    __name__ = 'balie.appointment'

    @classmethod
    def start_service(cls, appointments):
        "The call starts: an open dossier is now in progress."
        Dossier = Pool().get('balie.dossier')
        super().start_service(appointments)
        Dossier.process([a.dossier for a in appointments
                if a.dossier and a.dossier.state == 'open'])
