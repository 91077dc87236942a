# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The application form on the citizen's portal.

The page is a plain HTML form (it works without JavaScript); form.js
saves each answer as it is given and shows the clerk's changes as they
come.  Only the answers the citizen changed are written: each input has a
hidden twin with the value the page showed, so a clerk's change in the
meantime is never overwritten with an old value.  A wrong answer is shown
again as typed, with what is wrong in plain language; the right ones are
saved."""

from trytond import config as tconfig
from trytond.i18n import gettext
from trytond.protocols.wrappers import HTTPStatus

from digitale_balie.web import portal_route

from .exceptions import AnswerError
from .routes_document import UPLOAD_PATH, portal_dossier

FORM_PATH = '/balie/formulier'
MAX_JSON = 64 * 1024


def portal_form(portal):
    """(dossier, definition, form or None) of the session, or None when
    the appointment's service has no form."""
    dossier = portal_dossier(portal)
    if dossier is None or dossier.state == 'closed':
        return None
    definition = dossier.service.form_definition
    if definition is None:
        return None
    Form = portal.pool.get('balie.form')
    return dossier, definition, Form.for_dossier(dossier)


def stored_answers(portal, dossier, definition, form):
    Form = portal.pool.get('balie.form')
    if form is not None:
        return dict(form.answers or {})
    return Form.initial_answers(definition, dossier.party)


def apply_changes(portal, dossier, definition, form, typed, shown):
    """Parse the answers that differ from what the page showed and save
    the right ones; return (form, {name: error message})."""
    Form = portal.pool.get('balie.form')
    changes, errors = {}, {}
    for question in definition.ordered_questions():
        name = question.name
        if name not in typed:
            continue
        multiple = question.type_ == 'multiselection'
        if isinstance(typed[name], list) != multiple:
            continue  # not what this question's inputs send
        if same(typed[name], shown.get(name)):
            continue
        try:
            changes[name] = question.parse(typed[name])
        except AnswerError as error:
            errors[name] = error.message
    if changes and not portal.preview:
        if form is None:
            form = Form.for_dossier(dossier, create=True)
        form.save_answers(changes, editor='citizen')
    return form, errors


def same(typed, shown):
    if isinstance(typed, list) or isinstance(shown, list):
        return sorted(typed or []) == sorted(shown or [])
    return (typed or '').strip() == (shown or '').strip()


def read_form(request, questions):
    "What the HTML form sent: (typed, shown) by question name."
    typed, shown = {}, {}
    form = request.form
    for question in questions:
        name = question.name
        if ('w-' + name) not in form:
            continue
        if question.type_ == 'multiselection':
            typed[name] = form.getlist('a-' + name)
            shown[name] = [k for k in form.get('w-' + name, '').split(',')
                if k]
        else:
            typed[name] = form.get('a-' + name, '')
            shown[name] = form.get('w-' + name, '')
    return typed, shown


@portal_route(FORM_PATH, methods=['GET', 'POST'])
def form_page(portal):
    "The form, filled in together with the clerk."
    found = portal_form(portal)
    if found is None:
        return portal.not_found()
    dossier, definition, form = found
    request = portal.request
    errors, typed = {}, {}
    status = HTTPStatus.OK
    if request.method == 'POST':
        if form is not None and form.state != 'draft':
            return portal.redirect(FORM_PATH)
        typed, shown = read_form(request, definition.ordered_questions())
        form, errors = apply_changes(
            portal, dossier, definition, form, typed, shown)
        if not errors:
            return portal.redirect(FORM_PATH + (
                    '?voorbeeld=1' if portal.preview else '?bewaard=1'))
        status = HTTPStatus.BAD_REQUEST
    return portal.page('form', status=status,
        **form_values(portal, dossier, definition, form, typed, errors))


def form_values(portal, dossier, definition, form, typed=None, errors=None):
    typed = typed or {}
    errors = errors or {}
    answers = stored_answers(portal, dossier, definition, form)
    language = portal.language
    sections = []
    missing = 0
    for question in definition.ordered_questions():
        name = question.name
        stored = question.display(answers.get(name), language)
        value = typed[name] if name in errors else stored
        if question.required and answers.get(name) in (None, '', [], False):
            missing += 1
        heading = question.section or ''
        if not sections or sections[-1]['heading'] != heading:
            sections.append({'heading': heading, 'questions': []})
        sections[-1]['questions'].append({
                'name': name,
                'label': question.string,
                'help': question.help,
                'type': question.type_,
                'validation': question.validation,
                'required': bool(question.required),
                'options': question.options(),
                'value': value,
                'shown': (','.join(stored) if isinstance(stored, list)
                    else stored),
                'error': errors.get(name),
                'written': question.written(answers.get(name), language),
                'min': question.min_value,
                'max': question.max_value,
                })
    pdf = None
    if form is not None and form.document and form.document.shared:
        pdf = '%s/%s' % (UPLOAD_PATH, form.document.portal_key)
    return {
        'title': definition.name,
        'introduction': definition.introduction,
        'sections': sections,
        'errors': [{'name': n, 'label': next(
                        q['label'] for s in sections for q in s['questions']
                        if q['name'] == n),
                    'message': m} for n, m in errors.items()],
        'state': form.state if form is not None else 'draft',
        'missing': missing,
        'saved': bool(portal.request.args.get('bewaard')) and not errors,
        'preview_notice': bool(portal.request.args.get('voorbeeld')),
        'pdf': pdf,
        'poll': tconfig.getint('balie_sign', 'form_poll_seconds', default=5),
        }


@portal_route(FORM_PATH + '/stand', methods=['GET', 'POST'])
def form_state(portal):
    """The form now, as JSON, for form.js; a POST saves answers:
    {"answers": {name: typed}, "shown": {name: shown}}."""
    found = portal_form(portal)
    if found is None:
        return portal.json({'state': 'gone'}, status=HTTPStatus.NOT_FOUND)
    dossier, definition, form = found
    errors = {}
    if portal.request.method == 'POST':
        data = read_json(portal)
        if data is None:
            return portal.json({'error': 'bad request'},
                status=HTTPStatus.BAD_REQUEST)
        if form is None or form.state == 'draft':
            typed = clean_map(data.get('answers'))
            shown = clean_map(data.get('shown'))
            form, errors = apply_changes(
                portal, dossier, definition, form, typed, shown)
    answers = stored_answers(portal, dossier, definition, form)
    result = {
        'state': form.state if form is not None else 'draft',
        'answers': {},
        'errors': errors,
        'missing': 0,
        'saved': (not errors and portal.request.method == 'POST'
            and not portal.preview),
        }
    for question in definition.ordered_questions():
        value = answers.get(question.name)
        result['answers'][question.name] = question.display(
            value, portal.language)
        if question.required and value in (None, '', [], False):
            result['missing'] += 1
    result['missing_text'] = (gettext('balie_sign.msg_form_missing',
            n=str(result['missing'])) if result['missing']
        else gettext('balie_sign.msg_form_all_answered'))
    return portal.json(result,
        status=HTTPStatus.BAD_REQUEST if errors else HTTPStatus.OK)


def read_json(portal):
    request = portal.request
    if (request.content_length or 0) > MAX_JSON or not request.is_json:
        return None
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else None


def clean_map(value):
    "Only strings (or lists of strings) by question name."
    result = {}
    if not isinstance(value, dict):
        return result
    for name, item in value.items():
        if not isinstance(name, str):
            continue
        if isinstance(item, list):
            result[name] = [str(i) for i in item if isinstance(i, str)]
        elif isinstance(item, (str, bool)) or item is None:
            result[name] = '1' if item is True else (
                '' if item in (None, False) else item)
    return result
