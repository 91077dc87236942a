// Digitale Balie: the application form, filled in together.  Each answer
// is saved when the citizen leaves it; the clerk's changes appear as they
// come.  Without this script the form is saved with its button.
(function () {
    'use strict';
    var form = document.getElementById('balie-form');
    if (!form || !window.fetch) {
        return;
    }
    var url = '/balie/formulier/stand';
    var live = document.getElementById('form-live');
    var missing = document.getElementById('form-missing');
    var dirty = {};
    var timer = null;

    function names() {
        return Array.prototype.map.call(
            form.querySelectorAll('[data-question]'),
            function (element) { return element.dataset.question; });
    }

    function inputs(name) {
        return form.querySelectorAll('[name="a-' + name + '"]');
    }

    function shown(name) {
        return document.getElementById('w-' + name);
    }

    function isMulti(name) {
        var box = form.querySelector('[data-question="' + name + '"]');
        return box.tagName === 'FIELDSET';
    }

    function valueOf(name) {
        var elements = inputs(name);
        if (isMulti(name)) {
            return Array.prototype.filter.call(elements, function (e) {
                return e.checked;
            }).map(function (e) { return e.value; });
        }
        var element = elements[0];
        if (element.type === 'checkbox') {
            return element.checked ? '1' : '';
        }
        return element.value;
    }

    function setValue(name, value) {
        var elements = inputs(name);
        Array.prototype.forEach.call(elements, function (element) {
            if (element.type === 'checkbox') {
                element.checked = isMulti(name)
                    ? (value || []).indexOf(element.value) >= 0 : !!value;
            } else {
                element.value = value || '';
            }
        });
        shown(name).value = Array.isArray(value) ? value.join(',')
            : (value || '');
    }

    function shownValue(name) {
        var text = shown(name).value;
        return isMulti(name) ? text.split(',').filter(Boolean) : text;
    }

    function showError(name, message) {
        var error = document.getElementById('e-' + name);
        error.textContent = message || '';
        error.hidden = !message;
        Array.prototype.forEach.call(inputs(name), function (element) {
            if (element.type !== 'checkbox' || !isMulti(name)) {
                if (message) {
                    element.setAttribute('aria-invalid', 'true');
                } else {
                    element.removeAttribute('aria-invalid');
                }
            }
        });
    }

    function request(method, body) {
        var options = {method: method, credentials: 'same-origin',
            headers: {'X-CSRF-Token': form.dataset.csrf}};
        if (body) {
            options.headers['Content-Type'] = 'application/json';
            options.body = JSON.stringify(body);
        }
        return fetch(url, options).then(function (response) {
            if (response.status === 403 || response.status === 404) {
                window.location.reload();
            }
            return response.json();
        });
    }

    function apply(data, focused) {
        if (data.state && data.state !== 'draft') {
            window.location.reload();
            return;
        }
        if (missing && data.missing_text) {
            missing.textContent = data.missing_text;
        }
        var changed = false;
        names().forEach(function (name) {
            var value = data.answers[name];
            if (value === undefined || dirty[name] || name === focused
                    || (data.errors && data.errors[name])) {
                return;
            }
            var before = JSON.stringify(shownValue(name));
            if (before !== JSON.stringify(value)) {
                setValue(name, value);
                changed = true;
            }
        });
        return changed;
    }

    // one save at a time, in the order the answers were given
    var queue = Promise.resolve();

    function save(name) {
        queue = queue.then(function () { return send(name, 2); });
    }

    function send(name, tries) {
        var answers = {};
        var was = {};
        answers[name] = valueOf(name);
        was[name] = shownValue(name);
        live.textContent = form.dataset.saving;
        return request('POST', {answers: answers, shown: was}).then(function (data) {
            var message = (data.errors || {})[name];
            showError(name, message);
            if (!message) {
                delete dirty[name];
                // the stored value, written the usual way (an IBAN in groups)
                if (data.answers && data.answers[name] !== undefined) {
                    setValue(name, data.answers[name]);
                }
                live.textContent = form.dataset.saved;
            } else {
                live.textContent = message;
            }
            apply(data, name);
        }).catch(function () {
            live.textContent = form.dataset.offline;
            if (tries > 1) {
                return new Promise(function (resolve) {
                    window.setTimeout(resolve, 2000);
                }).then(function () { return send(name, tries - 1); });
            }
        });
    }

    function questionOf(element) {
        var box = element.closest('[data-question]');
        return box ? box.dataset.question : null;
    }

    form.addEventListener('input', function (event) {
        var name = questionOf(event.target);
        if (name) {
            dirty[name] = true;
        }
    });
    form.addEventListener('change', function (event) {
        var name = questionOf(event.target);
        if (name) {
            dirty[name] = true;
            save(name);
        }
    });

    function poll() {
        var active = document.activeElement;
        var focused = active && active.closest ? questionOf(active) : null;
        request('GET').then(function (data) {
            if (apply(data, focused)) {
                live.textContent = form.dataset.updated;
            }
        }).catch(function () {
            live.textContent = form.dataset.offline;
        }).then(function () {
            timer = window.setTimeout(poll,
                (parseInt(form.dataset.poll, 10) || 5) * 1000);
        });
    }
    timer = window.setTimeout(poll,
        (parseInt(form.dataset.poll, 10) || 5) * 1000);
}());
