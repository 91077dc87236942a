// Digitale Balie: sending a document.  The page works without this script;
// it only says at once that a file is too big or of a kind we do not take,
// before the citizen waits for an upload that would be refused.
(function () {
    'use strict';
    var form = document.getElementById('upload');
    if (!form) {
        return;
    }
    var input = document.getElementById('document-file');
    var error = document.getElementById('document-file-error');
    var button = document.getElementById('document-submit');
    var progress = document.getElementById('document-progress');
    var max = parseInt(form.dataset.max, 10);
    var accept = form.dataset.accept.split(',');

    function problem(file) {
        if (!file) {
            return '';
        }
        if (max && file.size > max) {
            return form.dataset.tooBig;
        }
        var name = file.name.toLowerCase();
        var known = accept.some(function (item) {
            return item && (item === file.type
                || (item.charAt(0) === '.' && name.endsWith(item)));
        });
        return known ? '' : form.dataset.wrongType;
    }

    function show(text) {
        error.textContent = text;
        error.hidden = !text;
        if (text) {
            input.setAttribute('aria-invalid', 'true');
        } else {
            input.removeAttribute('aria-invalid');
        }
    }

    input.addEventListener('change', function () {
        show(problem(input.files[0]));
    });
    form.addEventListener('submit', function (event) {
        var text = problem(input.files[0]);
        if (text) {
            event.preventDefault();
            show(text);
            input.focus();
            return;
        }
        button.disabled = true;
        progress.textContent = form.dataset.sending;
    });
    // back to the page from the history: the button works again
    window.addEventListener('pageshow', function () {
        button.disabled = false;
        progress.textContent = '';
    });
}());
