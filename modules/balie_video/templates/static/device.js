// Camera and microphone check: live preview, level meter, test sound; the
// result goes to the server for the clerk.  Works on Android Chrome,
// iPhone Safari and desktop browsers (getUserMedia needs HTTPS).
(function () {
    'use strict';
    var root = document.getElementById('device-check');
    if (!root) { return; }
    var area = document.getElementById('check-area');
    var result = document.getElementById('check-result');
    var meter = document.getElementById('meter');
    var cameraLine = document.getElementById('camera-state');
    var state = {camera: false, microphone: false, speaker: false,
        problem: ''};
    var stream = null;

    function say(text) { result.textContent = text; }

    // keep: a more precise explanation is already on the screen
    function send(answer, keep) {
        var body = JSON.stringify({camera: answer && state.camera,
            microphone: answer && state.microphone, speaker: state.speaker,
            problem: state.problem});
        return fetch('/balie/test', {method: 'POST', credentials: 'same-origin',
            headers: {'Content-Type': 'application/json',
                'X-CSRF-Token': root.dataset.csrf}, body: body})
            .then(function (response) { return response.json(); })
            .then(function (data) {
                if (!keep) { say(data.message); }
                root.dataset.result = data.result;
            }).catch(function () { say(root.dataset.failed); });
    }

    function problemOf(error) {
        var name = error && error.name;
        if (name === 'NotAllowedError' || name === 'SecurityError') {
            return 'denied';
        }
        if (name === 'NotFoundError' || name === 'OverconstrainedError') {
            return 'no_device';
        }
        if (name === 'NotReadableError' || name === 'AbortError') {
            return 'in_use';
        }
        return 'other';
    }

    function listen(audioStream) {
        var Context = window.AudioContext || window.webkitAudioContext;
        if (!Context) { return; }
        var context = new Context();
        var analyser = context.createAnalyser();
        analyser.fftSize = 512;
        context.createMediaStreamSource(audioStream).connect(analyser);
        var data = new Uint8Array(analyser.fftSize);
        function tick() {
            analyser.getByteTimeDomainData(data);
            var peak = 0;
            for (var i = 0; i < data.length; i++) {
                peak = Math.max(peak, Math.abs(data[i] - 128));
            }
            var level = Math.min(100, Math.round(peak / 128 * 300));
            meter.value = level;
            meter.textContent = level;
            if (level > 3) { state.microphone = true; }
            window.requestAnimationFrame(tick);
        }
        tick();
    }

    // the built-in call uses the same camera and microphone (call.js)
    function remember(media) {
        try {
            var ids = {};
            media.getTracks().forEach(function (track) {
                var settings = track.getSettings ? track.getSettings() : {};
                if (settings.deviceId) { ids[track.kind] = settings.deviceId; }
            });
            window.localStorage.setItem('balie.devices', JSON.stringify(ids));
        } catch (error) {
            // private browsing: the call takes the default devices
        }
    }

    document.getElementById('start-check').addEventListener('click',
        function () {
            if (!navigator.mediaDevices
                    || !navigator.mediaDevices.getUserMedia) {
                state.problem = window.isSecureContext ? 'unsupported'
                    : 'insecure';
                say(root.dataset.unsupported);
                send(false, true);
                return;
            }
            navigator.mediaDevices.getUserMedia({video: true, audio: true})
                .then(function (media) {
                    stream = media;
                    remember(media);
                    area.hidden = false;
                    var video = document.getElementById('preview');
                    video.srcObject = media;
                    video.addEventListener('loadeddata', function () {
                        state.camera = video.videoWidth > 0;
                        cameraLine.classList.toggle('ok', state.camera);
                    });
                    listen(media);
                    document.getElementById('answer-yes').focus();
                }).catch(function (error) {
                    state.problem = problemOf(error);
                    say(root.dataset[{denied: 'denied', no_device: 'noDevice',
                        in_use: 'inUse'}[state.problem] || 'failed']);
                    send(false, true);
                });
        });
    document.getElementById('play-sound').addEventListener('click',
        function () {
            var audio = new Audio('/balie/video/static/test-sound.wav');
            audio.play().then(function () { state.speaker = true; })
                .catch(function () { state.speaker = false; });
        });
    document.getElementById('answer-yes').addEventListener('click',
        function () { send(true); });
    document.getElementById('answer-no').addEventListener('click',
        function () { state.problem = state.problem || 'other'; send(false); });
    window.addEventListener('pagehide', function () {
        if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); }
    });
}());
