/* The invitation after the call: shown as a modal dialog (focus inside,
   Escape closes it); closed with Escape it stays on the page, inline, so
   the citizen can still choose.  Without JavaScript it is simply part of
   the page. */
(function () {
    'use strict';
    function start() {
        var dialog = document.getElementById('survey-invite');
        if (!dialog || typeof dialog.showModal !== 'function') {
            return;
        }
        dialog.close();
        dialog.classList.add('modal');
        dialog.showModal();
        var yes = document.getElementById('survey-yes');
        if (yes) {
            yes.focus();
        }
        function closed() {
            if (dialog.open) {
                return;  // the event of the close() above
            }
            // Escape: not an answer; the question stays on the page
            dialog.removeEventListener('close', closed);
            dialog.classList.remove('modal');
            dialog.show();
        }
        dialog.addEventListener('close', closed);
    }
    if (document.readyState === 'loading') {
        document.addEventListener('DOMContentLoaded', start);
    } else {
        start();
    }
}());
