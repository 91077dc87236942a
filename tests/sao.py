# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Drive the Tryton web client (sao 8.0, npm tryton-sao) with Playwright.

The selectors this module depends on are sao's own, read in its sources
(var/sao/node_modules/tryton-sao/src):

- session.js, the login dialog: ``#database`` (a ``<select>`` when the
  server lists several databases, a read-only ``<input>`` when one),
  ``#login`` and its submit button; then common.js's password question
  ``#ask-dialog-entry``;
- sao.js, the main menu: ``#menu`` holding a tree view whose rows are
  ``tr`` elements with the menu's name in a cell, ``span.expander`` to
  open a branch; a row click activates it (``row_activate``);
- view/form.js, form widgets: every input, select and textarea has the
  field's name as its ``name`` attribute; a Many2One is
  ``.form-many2one input[name=…]`` whose completions (common.js,
  InputCompletion) are ``li.completion`` items, shown on 'input';
- tab.js and view/tree.js: the open tab is ``#tabcontent
  .tab-pane.active`` with its toolbar's buttons by id (``#switch_``); a
  list is a ``.treeview`` table whose rows are selected by a click;
- wizard.js, a wizard: a ``.wizard-dialog`` modal (``.in`` once shown)
  with its title in ``.modal-header`` and its buttons as ``button``
  elements named by their label (``get_by_role('button', name=…)``); it
  ignores clicks while it loads a step, so a click waits until
  ``jQuery.active`` (sao's requests in flight) has been 0 for a moment;
- common.js, a report: ``Sao.common.download_file`` opens a "Download"
  dialog whose link it clicks itself, so the browser downloads the file
  (Playwright's ``expect_download``).

RPC calls that a test makes "as the client" go through ``Sao.rpc`` with
the logged-in session, so that they are the same requests, with the same
user, session and context, as a click in the client would send (without
sao's error dialog: an error is raised in the test)."""
import re
from pathlib import Path

from playwright.sync_api import TimeoutError as PlaywrightTimeout

ROOT = Path(__file__).resolve().parents[1]
SAO_ROOT = ROOT / 'var' / 'sao' / 'node_modules' / 'tryton-sao'
TIMEOUT = 30_000  # ms: sao loads a lot of JavaScript on a busy machine


def sao_missing():
    "Why sao cannot be served here, or None."
    if not (SAO_ROOT / 'index.html').is_file():
        return 'sao is not installed in %s (run scripts/sao)' % SAO_ROOT
    if not (SAO_ROOT / 'node_modules').is_dir():
        return ('%s has no node_modules (scripts/sao installs it with '
            '--install-strategy=nested)' % SAO_ROOT)
    return None


def serve_sao(wsgi_app):
    """trytond's WSGI application with sao at '/', as trytond does when
    [web] root is set before trytond.application is imported."""
    from trytond.wsgi import SharedDataMiddlewareIndex
    return SharedDataMiddlewareIndex(wsgi_app, {'/': str(SAO_ROOT)})


class Client:
    "The web client in a Playwright page, logged in as one user."

    def __init__(self, page, base_url):
        self.page = page
        self.base_url = base_url

    # -- session ---------------------------------------------------------

    def login(self, database, login, password):
        """Log in through sao's login dialog: database, user name, then
        the password question; wait for the menu."""
        page = self.page
        page.goto(self.base_url + '/')
        dialog = page.locator('.login-dialog')
        dialog.wait_for(state='visible', timeout=TIMEOUT)
        # the list of databases arrives after the dialog is shown
        database_field = dialog.locator('#database:visible')
        database_field.wait_for(timeout=TIMEOUT)
        if database_field.evaluate('e => e.tagName') == 'SELECT':
            database_field.select_option(database)
        elif database_field.get_attribute('readonly') is None:
            database_field.fill(database)
        elif database_field.input_value() != database:
            raise AssertionError('sao offers only the database %r'
                % database_field.input_value())
        dialog.locator('#login').fill(login)
        dialog.locator('button[type=submit]').click()
        entry = page.locator('#ask-dialog-entry')
        entry.wait_for(state='visible', timeout=TIMEOUT)
        entry.fill(password)
        entry.press('Enter')
        self.wait_for_menu()

    def wait_for_menu(self, timeout=TIMEOUT):
        self.page.locator('#menu tbody tr:visible').first.wait_for(
            timeout=timeout)

    def open_menu(self, *names):
        """Open a menu entry by its path of names, as a clerk clicks
        through the menu tree: a branch is expanded only when its child
        is not shown yet."""
        menu = self.page.locator('#menu')

        def row(name):
            return menu.locator('tbody tr:visible', has=self.page.get_by_text(
                    name, exact=True)).first
        for parent, name in zip(names, names[1:]):
            row(parent).wait_for(timeout=TIMEOUT)
            if not row(name).count():
                row(parent).locator('.expander').first.click()
        row(names[-1]).wait_for(timeout=TIMEOUT)
        row(names[-1]).click()

    def open_row(self, text):
        """Open, in the current tab (``#tabcontent .tab-pane.active``), the
        record whose list row shows `text`: select the row, then the
        toolbar's "Switch" button (``#switch_``) shows it in its form."""
        tab = self.page.locator('#tabcontent .tab-pane.active')
        row = tab.locator('.treeview tbody tr:visible', has_text=text).first
        row.wait_for(timeout=TIMEOUT)
        self.wait_idle()
        row.locator('td:visible').nth(1).click()
        self.wait_idle()
        tab.locator('button#switch_').click()
        row.wait_for(state='hidden', timeout=TIMEOUT)
        self.wait_idle()

    def wizard(self, title):
        """The wizard dialog titled `title`, once shown and settled
        (Bootstrap fades it in)."""
        dialog = self.page.locator('.wizard-dialog.in', has=self.page.locator(
                '.modal-header', has_text=title)).last
        dialog.wait_for(timeout=TIMEOUT)
        self.settle(dialog)
        return dialog

    def settle(self, locator):
        "Wait for the transitions in `locator` to end."
        locator.evaluate("""e => new Promise(resolve => {
            const check = () => {
                if (e.getAnimations({subtree: true}).length) {
                    setTimeout(check, 50);
                } else {
                    resolve();
                }
            };
            check();
        })""")

    # -- forms -----------------------------------------------------------

    def field(self, name, scope=None):
        "The visible input, select or textarea of the field `name`."
        scope = scope or self.page
        return scope.locator(
            '[name="%s"]:is(input,select,textarea):visible' % name).first

    def fill(self, name, value, scope=None):
        field = self.field(name, scope)
        field.fill(value)
        # sao reads a widget's value on change
        field.dispatch_event('change')

    def many2one(self, name, text, expected, scope=None):
        """Type in a Many2One and pick `expected` from sao's completion
        list (``li.completion`` next to the input), as a clerk does."""
        field = self.field(name, scope)
        widget = field.locator('xpath=ancestor::div[contains(@class,'
            ' "form-many2one")][1]')
        choice = widget.locator('li.completion', has_text=expected).first
        for attempt in range(3):
            # key by key: sao asks for completions on each 'input' event
            # (and ignores an answer to an older text)
            field.click()
            field.fill('')
            field.press_sequentially(text, delay=30)
            try:
                choice.wait_for(timeout=TIMEOUT // 3)
                break
            except PlaywrightTimeout:
                if attempt == 2:
                    raise
        choice.click()
        self.page.wait_for_function(
            "([e, v]) => e.value === v", arg=[field.element_handle(),
                expected], timeout=TIMEOUT)

    def wait_idle(self):
        """Wait until sao has no request in flight for a moment: a wizard
        ignores its buttons while it is still loading a step."""
        self.page.wait_for_function("""() => {
            const now = Date.now();
            if (jQuery.active) { window.__saoBusyAt = now; }
            return now - (window.__saoBusyAt || 0) > 300;
        }""", polling=50, timeout=TIMEOUT)

    def step(self, wizard, label, shows):
        """Click the wizard's button `label` when sao is ready for it and
        wait until `shows` (a locator of the next step) is visible; click
        again when the click was ignored (sao still busy with the step)."""
        for attempt in range(3):
            self.wait_idle()
            self.button(label, wizard).click()
            try:
                shows.wait_for(timeout=TIMEOUT // 3)
                return
            except PlaywrightTimeout:
                self.wait_idle()
                if shows.is_visible():
                    return
                if attempt == 2:
                    raise

    def button(self, label, scope=None):
        scope = scope or self.page
        return scope.get_by_role('button', name=re.compile(
                r'^\s*%s\s*$' % re.escape(label))).locator('visible=true')

    # -- RPC as the client -----------------------------------------------

    def rpc(self, method, *params, context=None, timeout=60):
        """Call `method` through Sao.rpc with the logged-in session (its
        cookie and context, extended by `context`); an error is raised
        here instead of being shown in a dialog."""
        answer = self.page.evaluate("""async ([method, params, context,
                timeout]) => {
            const session = Sao.Session.current_session;
            const call = new Promise(resolve => Sao.rpc({
                    method: method,
                    params: params.concat([Object.assign(
                        {}, session.context, context)])},
                    session, true, false).then(
                result => resolve({result: result}),
                error => resolve({error: error || 'rejected'})));
            const late = new Promise(resolve => setTimeout(
                () => resolve({error: 'no answer in ' + timeout + ' s'}),
                timeout * 1000));
            // Sao.rpc converts dates and decimals both ways; JSON here
            const answer = await Promise.race([call, late]);
            return JSON.parse(JSON.stringify(
                Sao.rpc.prepareObject(answer)));
        }""", [method, list(params), context or {}, timeout])
        if 'error' in answer:
            raise RPCError(method, answer['error'])
        return answer['result']

    def run_wizard(self, name, record, model, steps):
        """Run the wizard `name` on `record` of `model` as the client does
        (create, execute each (state, data) of `steps`, delete); return
        the result of each step.  `data` may be a function of the previous
        step's result (to send back the defaults it showed)."""
        context = {'active_model': model, 'active_id': record,
            'active_ids': [record]}
        session_id, _, _ = self.rpc('wizard.%s.create' % name)
        results = []
        try:
            for state, data in steps:
                if callable(data):
                    data = data(results[-1])
                results.append(self.rpc('wizard.%s.execute' % name,
                        session_id, data, state, context=context))
        finally:
            self.rpc('wizard.%s.delete' % name, session_id, context=context)
        return results


class RPCError(Exception):
    "An RPC sent as the client got an error."

    def __init__(self, method, error):
        super().__init__('%s: %s' % (method, error))
        self.error = error
