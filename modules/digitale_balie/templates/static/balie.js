// Digitale Balie portal: small progressive enhancements; every page works
// without JavaScript.
(function () {
    'use strict';
    function countdown(element) {
        var start = Date.parse(element.dataset.start);
        function update() {
            var minutes = Math.round((start - Date.now()) / 60000);
            var text;
            if (minutes <= 0) {
                text = element.dataset.now;
            } else if (minutes < 120) {
                text = element.dataset.minutes.replace('{n}', minutes);
            } else if (minutes < 48 * 60) {
                text = element.dataset.hours.replace(
                    '{n}', Math.round(minutes / 60));
            } else {
                text = element.dataset.days.replace(
                    '{n}', Math.round(minutes / 1440));
            }
            element.textContent = text;
        }
        update();
        window.setInterval(update, 30000);
    }
    document.querySelectorAll('[data-start]').forEach(countdown);
}());
