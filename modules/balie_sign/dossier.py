# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The dossier's side of the formal acts: its documents, forms, identity
checks, contact details, signatures and payments; after the call its
workflow (open → in progress → waiting for the citizen → decided →
closed), the decision with a short report of the conversation, and the
decision letter sent to the citizen through the outbox, in their
language."""
from trytond.i18n import gettext
from trytond.model import ModelView, Workflow, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.report import Report
from trytond.transaction import Transaction

from digitale_balie import clock
from digitale_balie.dates import format_date_words

from .exceptions import DecisionError
from .identity import ASSURANCE

EVENT_KINDS = [
    ('document', "Document"),
    ('form', "Application form"),
    ('identity', "Identity check"),
    ('contact', "Contact details"),
    ('decision', "Decision"),
    ('payment', "Payment"),
    ('signature', "Signature"),
    ]
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


def dossier_language(dossier):
    "The citizen's language: of the latest appointment, else the party's."
    appointments = sorted(dossier.appointments, key=lambda a: a.start)
    if appointments:
        return appointments[-1].language
    return dossier.party.balie_language


def current_appointment(dossier):
    "The dossier's appointment in progress, else the next booked one."
    Appointment = Pool().get('balie.appointment')
    for state in ['in_progress', 'booked']:
        appointments = Appointment.search([
                ('dossier', '=', dossier.id),
                ('state', '=', state),
                ], order=[('start', 'ASC')], limit=1)
        if appointments:
            return appointments[0]
    return None


class Dossier(metaclass=PoolMeta):
    __name__ = 'balie.dossier'

    documents = fields.One2Many('balie.document', 'dossier', "Documents",
        help="Documents the citizen sent, the clerk shared or the "
        "application generated.")

    forms = fields.One2Many('balie.form', 'dossier', "Application Forms")

    identity_checks = fields.One2Many('balie.identity.check', 'dossier',
        "Identity Checks", readonly=True)
    identity = fields.Function(fields.Selection([
                (None, "Not verified"),
                ('verified', "Verified"),
                ('mismatch', "Number does not match"),
                ], "Identity"), 'get_identity')
    identity_assurance = fields.Function(fields.Selection(
            ASSURANCE, "Level of Assurance"), 'get_identity')

    contact_proposals = fields.One2Many('balie.contact.proposal', 'dossier',
        "Contact Details Proposed", readonly=True)

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

    signature_requests = fields.One2Many('balie.signature.request',
        'dossier', "Signatures", readonly=True)

    payments = fields.One2Many('balie.payment', 'dossier', "Payments",
        readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'verify_identity': {
                    'invisible': Eval('state').in_(['decided', 'closed']),
                    'depends': ['state'],
                    },
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
                'request_signature': {
                    'invisible': Eval('state') == 'closed',
                    'depends': ['state'],
                    },
                'request_payment': {
                    'invisible': Eval('state') == 'closed',
                    'depends': ['state'],
                    },
                })

    @classmethod
    def get_identity(cls, dossiers, names):
        "The best verified check, else a mismatch, else nothing."
        rank = {'high': 3, 'substantial': 2, 'low': 1}
        result = {n: {d.id: None for d in dossiers} for n in names}
        for dossier in dossiers:
            checks = [c for c in dossier.identity_checks
                if c.state in {'verified', 'mismatch'}]
            verified = [c for c in checks if c.state == 'verified']
            best = max(verified, key=lambda c: (
                    rank.get(c.assurance, 0), c.checked_at), default=None)
            if best is None and checks:
                best = max(checks, key=lambda c: c.checked_at)
            if best is None:
                continue
            if 'identity' in names:
                result['identity'][dossier.id] = best.state
            if 'identity_assurance' in names:
                result['identity_assurance'][dossier.id] = (
                    best.assurance if best.state == 'verified' else None)
        return result

    @classmethod
    @ModelView.button_action('balie_sign.wizard_identity_visual')
    def verify_identity(cls, dossiers):
        pass

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

    @classmethod
    @ModelView.button_action('balie_sign.wizard_signature_request')
    def request_signature(cls, dossiers):
        pass

    @classmethod
    @ModelView.button_action('balie_sign.wizard_payment_request')
    def request_payment(cls, dossiers):
        pass


class DossierEvent(metaclass=PoolMeta):
    __name__ = 'balie.dossier.event'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        for kind in EVENT_KINDS:
            if kind not in cls.kind.selection:
                cls.kind.selection.append(kind)


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
