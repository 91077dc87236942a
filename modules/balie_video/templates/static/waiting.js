// The waiting room: a heartbeat tells the clerk the citizen is here; the
// delay banner and the start of the call arrive with the same answer.
// When the clerk opens the room, the meeting is embedded with Jitsi's
// IFrame API from the municipality's own Jitsi server.
(function () {
    'use strict';
    var root = document.getElementById('waiting-room');
    if (!root) { return; }
    var banner = document.getElementById('delay-banner');
    var callStatus = document.getElementById('call-status');
    var meeting = document.getElementById('meeting');
    var practice = root.dataset.practice === '1';
    var api = null;
    var timer = null;

    function selfView() {
        if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
            return;
        }
        navigator.mediaDevices.getUserMedia({video: true, audio: false})
            .then(function (media) {
                var video = document.getElementById('self-view');
                video.srcObject = media;
                root.selfStream = media;
            }).catch(function () {});
    }

    function stopSelfView() {
        if (root.selfStream) {
            root.selfStream.getTracks().forEach(function (t) { t.stop(); });
        }
    }

    function load(src, done) {
        var script = document.createElement('script');
        script.src = src;
        script.onload = done;
        document.head.appendChild(script);
    }

    function join(call) {
        if (api) { return; }
        if (call.backend === 'builtin') {
            // the built-in call (call.js) takes over the page
            stopSelfView();
            api = {builtin: true};
            document.dispatchEvent(new CustomEvent('balie:call',
                {detail: call}));
            return;
        }
        stopSelfView();
        callStatus.textContent = root.dataset.joining;
        load('https://' + call.domain + '/external_api.js', function () {
            var options = call.options;
            options.parentNode = meeting;
            options.width = '100%';
            options.height = '100%';
            meeting.hidden = false;
            document.body.classList.add('in-call');
            api = new window.JitsiMeetExternalAPI(call.domain, options);
            window.balieMeeting = api;
            var leave = function () { window.location.href = '/balie/einde'; };
            api.addListener('readyToClose', leave);
            api.addListener('videoConferenceLeft', leave);
        });
    }

    // the formal acts next to the call open in a new tab: the call goes on
    function showTasks(tasks) {
        var nav = document.getElementById('call-tasks');
        var list = nav.querySelector('ul');
        list.textContent = '';
        (tasks || []).forEach(function (task) {
            var item = document.createElement('li');
            var link = document.createElement('a');
            link.className = 'button ' + (task.done ? 'secondary' : '');
            link.href = task.href;
            link.target = '_blank';
            link.rel = 'noopener';
            link.textContent = (task.done ? '\u2713 ' : '') + task.label;
            item.appendChild(link);
            list.appendChild(item);
        });
        nav.hidden = !(tasks && tasks.length);
    }

    function poll() {
        fetch('/balie/status', {method: 'POST', credentials: 'same-origin',
            headers: {'X-CSRF-Token': root.dataset.csrf}})
            .then(function (response) { return response.json(); })
            .then(function (data) {
                if (data.delay) {
                    banner.textContent = data.delay;
                    banner.hidden = false;
                } else {
                    banner.hidden = true;
                }
                if (data.state === 'open' && data.call) {
                    showTasks(data.tasks);
                    join(data.call);
                    timer = window.setTimeout(poll, (data.poll || 10) * 1000);
                    return;
                }
                if (data.state === 'closed' && data.next) {
                    window.location.href = data.next;
                    return;
                }
                timer = window.setTimeout(poll, (data.poll || 10) * 1000);
            }).catch(function () {
                timer = window.setTimeout(poll, 15000);
            });
    }

    selfView();
    if (practice) {
        window.setTimeout(function () {
            callStatus.textContent = root.dataset.practiceJoined;
            banner.textContent = root.dataset.practiceJoined;
            banner.hidden = false;
        }, 4000);
    } else {
        poll();
    }
}());
