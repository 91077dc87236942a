# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Application forms, filled in together by the clerk in the client and
the citizen on the portal, and rendered to a PDF that lands on the
dossier as a document.  The questions and the checks of the answers are in
form_definition."""
from sql.operators import Equal

from trytond.i18n import gettext
from trytond.model import (
    ChatMixin, Exclude, ModelSQL, ModelView, Workflow, fields)
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.report import Report
from trytond.transaction import Transaction

from digitale_balie import clock
from digitale_balie.model import company_through

from .exceptions import AnswerError, FormError

FORM_STATES = [
    ('draft', "Being Filled In"),
    ('completed', "Completed"),
    ('cancelled', "Cancelled"),
    ]
EDITORS = [
    (None, ""),
    ('citizen', "Citizen"),
    ('clerk', "Clerk"),
    ]


def comparable(answers):
    "Answers without empty values, lists for tuples (as stored)."
    return {k: list(v) if isinstance(v, tuple) else v
        for k, v in (answers or {}).items()
        if v is not None and v != [] and v != ()}


class Form(company_through('dossier'), ChatMixin, Workflow, ModelSQL,
        ModelView):
    "Application Form"
    __name__ = 'balie.form'

    dossier = fields.Many2One('balie.dossier', "Dossier", required=True,
        ondelete='CASCADE',
        states={'readonly': Eval('id', -1) >= 0})
    party = fields.Function(
        fields.Many2One('party.party', "Citizen",
            context={'company': Eval('company', -1)}, depends={'company'}),
        'get_party')
    definition = fields.Many2One('balie.form.definition', "Form",
        required=True, ondelete='RESTRICT',
        states={'readonly': Eval('id', -1) >= 0})
    # every question of the form, answered or not, so that the clerk's
    # client shows them all (a Dict field does not store empty values)
    answers = fields.Function(fields.Dict('balie.form.field', "Answers",
            domain=[('definition', '=', Eval('definition', -1))],
            states={'readonly': Eval('state') != 'draft'}),
        'get_answers', setter='set_answers')
    answer_data = fields.Dict('balie.form.field', "Stored Answers",
        readonly=True)
    state = fields.Selection(FORM_STATES, "State", required=True,
        readonly=True, sort=False)
    changed_by = fields.Selection(EDITORS, "Last Changed By",
        readonly=True)
    changed_at = fields.DateTime("Last Changed At", readonly=True)
    missing = fields.Function(fields.Text("Still to Fill In"),
        'get_missing')
    completed_at = fields.DateTime("Completed At", readonly=True)
    completed_by = fields.Many2One('res.user', "Completed By",
        readonly=True, ondelete='SET NULL')
    document = fields.Many2One('balie.document', "PDF", readonly=True,
        ondelete='SET NULL',
        help="The completed form as a document on the dossier.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('dossier_definition_exclude', Exclude(t,
                    (t.dossier, Equal), (t.definition, Equal),
                    where=t.state != 'cancelled'),
                'balie_sign.msg_form_one_per_dossier'),
            ]
        cls._order = [('id', 'DESC')]
        cls._transitions |= {
            ('draft', 'completed'),
            ('completed', 'draft'),
            ('draft', 'cancelled'),
            }
        cls._buttons.update({
                'complete': {
                    'invisible': Eval('state') != 'draft',
                    'depends': ['state'],
                    },
                'reopen': {
                    'invisible': Eval('state') != 'completed',
                    'depends': ['state'],
                    },
                'cancel': {
                    'invisible': Eval('state') != 'draft',
                    'depends': ['state'],
                    },
                })

    @classmethod
    def default_state(cls):
        return 'draft'

    @fields.depends('dossier', 'definition', '_parent_dossier.service')
    def on_change_dossier(self):
        if self.dossier and not self.definition and self.dossier.service:
            self.definition = self.dossier.service.form_definition

    @fields.depends('definition', 'dossier', '_parent_dossier.party')
    def on_change_definition(self):
        if self.definition:
            self.answers = self.initial_answers(
                self.definition, self.dossier and self.dossier.party)

    def get_party(self, name):
        return self.dossier.party.id

    def get_rec_name(self, name):
        return '%s - %s' % (self.definition.rec_name, self.dossier.rec_name)

    def get_answers(self, name):
        stored = dict(self.answer_data or {})
        answers = {q.name: stored.pop(q.name, None)
            for q in self.questions()}
        answers.update(stored)
        return answers

    @classmethod
    def set_answers(cls, forms, name, value):
        cls.write(forms, {'answer_data': value})

    def get_missing(self, name):
        return '\n'.join(q.string for q in self.missing_questions())

    @property
    def language(self):
        "The citizen's language: the PDF is written in it."
        Appointment = Pool().get('balie.appointment')
        appointments = Appointment.search([
                ('dossier', '=', self.dossier.id),
                ], order=[('start', 'DESC')], limit=1)
        if appointments and appointments[0].language:
            return appointments[0].language
        return self.dossier.party.balie_language

    def questions(self):
        return self.definition.ordered_questions()

    def missing_questions(self):
        answers = self.answers or {}
        return [q for q in self.questions()
            if q.required and answers.get(q.name) in (None, '', [], False)]

    @classmethod
    def initial_answers(cls, definition, party=None):
        "Every question of the definition, filled in from the citizen."
        answers = {}
        details = citizen_details(party) if party else {}
        for question in definition.ordered_questions():
            value = details.get(question.prefill) if question.prefill else (
                None)
            if value is not None:
                try:
                    value = question.check_value(value)
                except AnswerError:
                    value = None
            answers[question.name] = value
        return answers

    @classmethod
    def for_dossier(cls, dossier, create=False, editor='citizen'):
        """The dossier's form of its service's definition (not cancelled);
        created (and filled in from the citizen) when create is set."""
        definition = dossier.service.form_definition
        if not definition:
            return None
        forms = cls.search([
                ('dossier', '=', dossier.id),
                ('definition', '=', definition.id),
                ('state', '!=', 'cancelled'),
                ], limit=1)
        if forms:
            return forms[0]
        if not create:
            return None
        form, = cls.create([{
                    'dossier': dossier.id,
                    'definition': definition.id,
                    'changed_by': editor,
                    }])
        return form

    @classmethod
    def preprocess_values(cls, mode, values):
        pool = Pool()
        Definition = pool.get('balie.form.definition')
        Dossier = pool.get('balie.dossier')
        values = super().preprocess_values(mode, values)
        if 'answers' in values:
            # what the clerk's client sends: the stored answers
            values['answer_data'] = values.pop('answers')
        if mode == 'create' and values.get('definition'):
            initial = cls.initial_answers(Definition(values['definition']),
                Dossier(values['dossier']).party
                if values.get('dossier') else None)
            initial.update(values.get('answer_data') or {})
            values['answer_data'] = initial
        if 'answer_data' in values:
            # the portal says it is the citizen; anything else is the clerk
            values.setdefault('changed_by', 'clerk')
            values.setdefault('changed_at', clock.now())
        return values

    @classmethod
    def check_modification(cls, mode, forms, values=None, external=False):
        super().check_modification(
            mode, forms, values=values, external=external)
        if (mode == 'write' and values
                and {'answers', 'answer_data'} & set(values)):
            for form in forms:
                if form.state != 'draft':
                    raise FormError(gettext(
                            'balie_sign.msg_form_not_draft',
                            form=form.rec_name))

    @classmethod
    def validate_fields(cls, forms, field_names):
        super().validate_fields(forms, field_names)
        if field_names and not (field_names & {'answers', 'answer_data'}):
            return
        for form in forms:
            form.check_answers()

    def check_answers(self):
        "Each answer must be right; an empty one is fine while drafting."
        questions = {q.name: q for q in self.questions()}
        for name, value in (self.answer_data or {}).items():
            question = questions.get(name)
            if question is None:
                raise FormError(gettext('balie_sign.msg_form_unknown_key',
                        key=name, form=self.definition.rec_name))
            try:
                question.check_value(value)
            except AnswerError as error:
                raise FormError(gettext('balie_sign.msg_form_answer_wrong',
                        question=question.string, error=error.message))

    @classmethod
    def on_modification(cls, mode, forms, field_names=None):
        super().on_modification(mode, forms, field_names=field_names)
        if mode in {'create', 'write'} and (
                field_names is None
                or field_names & {'answers', 'answer_data'}):
            # write IBANs and national numbers the usual way
            for form in forms:
                normal = form.normalised_answers()
                if comparable(normal) != comparable(form.answer_data):
                    cls.write([form], {'answer_data': normal,
                            'changed_by': form.changed_by,
                            'changed_at': form.changed_at})

    def normalised_answers(self):
        questions = {q.name: q for q in self.questions()}
        result = {}
        for name, value in (self.answer_data or {}).items():
            question = questions.get(name)
            result[name] = (question.check_value(value)
                if question else value)
        return result

    def save_answers(self, answers, editor='citizen'):
        """Store answers of the portal (already parsed) in one write; the
        clerk sees who changed what in the form's chat."""
        if self.state != 'draft' or not answers:
            return
        values = dict(self.answer_data or {})
        values.update(answers)
        self.__class__.write([self], {
                'answer_data': values,
                'changed_by': editor,
                'changed_at': clock.now(),
                })
        questions = {q.name: q.string for q in self.questions()}
        self.chat_post('balie_sign.msg_form_chat_changed',
            questions=', '.join(questions.get(n, n) for n in answers))

    @classmethod
    def copy(cls, forms, default=None):
        default = default.copy() if default is not None else {}
        for name in ['completed_at', 'completed_by', 'document',
                'changed_by', 'changed_at']:
            default.setdefault(name, None)
        return super().copy(forms, default=default)

    @classmethod
    @ModelView.button
    @Workflow.transition('completed')
    def complete(cls, forms):
        """Check that every required answer is there, then make the PDF:
        it lands on the dossier, visible to the citizen."""
        pool = Pool()
        Dossier = pool.get('balie.dossier')
        for form in forms:
            missing = form.missing_questions()
            if missing:
                raise FormError(gettext('balie_sign.msg_form_incomplete',
                        form=form.rec_name,
                        questions=', '.join(q.string for q in missing)))
        user = Transaction().user or None
        # the state first: the PDF says whether the form is complete
        cls.write(forms, {'state': 'completed',
                'completed_at': clock.now(), 'completed_by': user})
        for form in forms:
            form.make_pdf()
            Dossier.add_event(form.dossier, 'form', gettext(
                    'balie_sign.msg_form_event_completed',
                    form=form.definition.rec_name))

    @classmethod
    @ModelView.button
    @Workflow.transition('draft')
    def reopen(cls, forms):
        "Change the answers again; the next completion makes a new PDF."
        cls.write(forms, {'completed_at': None, 'completed_by': None})

    @classmethod
    @ModelView.button
    @Workflow.transition('cancelled')
    def cancel(cls, forms):
        pass

    def make_pdf(self, share=True):
        """Render the form to PDF and store it on the dossier as a
        document of type 'application_form'; return the document."""
        pool = Pool()
        Document = pool.get('balie.document')
        Definition = pool.get('balie.form.definition')
        FormReport = pool.get('balie.form', type='report')
        _, content, _, _ = FormReport.execute([self.id], {})
        with Transaction().set_context(language=self.language):
            name = '%s %s.pdf' % (Definition(self.definition.id).name,
                self.dossier.number or self.dossier.id)
        document = Document.store(self.dossier, bytes(content), name,
            'application_form', source='system', shared=share)
        self.__class__.write([self], {'document': document.id})
        return document


def citizen_details(party):
    "What a form may take over from the citizen's record."
    address = party.address_get() if hasattr(party, 'address_get') else None
    details = {
        'name': party.name,
        'national_number': getattr(party, 'national_number', None),
        'email': party.contact_value('email'),
        'phone': party.contact_value('mobile', 'phone'),
        }
    if address:
        details.update({
                'street': (getattr(address, 'street', None) or '').strip()
                or None,
                'postal_code': address.postal_code,
                'city': address.city,
                })
    return details


class FormReport(Report):
    "The filled-in form, in the citizen's language"
    __name__ = 'balie.form'

    @classmethod
    def get_context(cls, records, header, data):
        pool = Pool()
        Configuration = pool.get('balie.configuration')
        Form = pool.get('balie.form')
        context = super().get_context(records, header, data)
        pages = []
        for record in records:
            language = record.language
            with Transaction().set_context(language=language):
                form = Form(record.id)
                config = Configuration(1)
                sections = []
                for question in form.questions():
                    heading = question.section or ''
                    if not sections or sections[-1]['heading'] != heading:
                        sections.append({'heading': heading, 'rows': []})
                    sections[-1]['rows'].append({
                            'label': question.string,
                            'value': question.written(
                                (form.answers or {}).get(question.name),
                                language),
                            })
                pages.append({
                        'language': language,
                        'title': form.definition.name,
                        'introduction': form.definition.introduction,
                        'municipality': config.municipality_name,
                        'sections': sections,
                        'text': {
                            'dossier': gettext(
                                'balie_sign.msg_form_pdf_dossier',
                                number=form.dossier.number or ''),
                            'citizen': gettext(
                                'balie_sign.msg_form_pdf_citizen',
                                name=form.dossier.party.name or ''),
                            'completed': gettext(
                                'balie_sign.msg_form_pdf_completed',
                                date=(form.completed_at or clock.now()
                                    ).strftime('%d/%m/%Y')),
                            'draft': gettext('balie_sign.msg_form_pdf_draft'),
                            'footer': gettext('balie_sign.msg_form_pdf_footer',
                                municipality=config.municipality_name),
                            },
                        'completed': form.state == 'completed',
                        })
        context['pages'] = pages
        return context
