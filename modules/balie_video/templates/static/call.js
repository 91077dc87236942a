// The built-in call: one RTCPeerConnection between the citizen's browser
// and the clerk's, media peer to peer; offers, answers, late ICE
// candidates and "I am (back) here" travel through the portal
// (short polling of /balie/call/signals or /balie/gesprek/signals).
//
// The clerk always offers: on opening the page, when the citizen says
// hello (first time or after a reload) and for an ICE restart.  The
// citizen answers.  Candidates go in the session description when ICE
// gathering completes within 2.5 s, later ones one by one.  With
// data-loopback / "loopback": true (test set-ups) only 127.0.0.1
// candidates are kept.
(function () {
    'use strict';
    var root = document.getElementById('builtin-call')
        || document.getElementById('clerk-call');
    if (!root || !window.RTCPeerConnection) { return; }
    var clerk = root.dataset.side === 'clerk';
    var remoteVideo = document.getElementById('remote-video');
    var localVideo = document.getElementById('local-video');
    var message = document.getElementById('call-message');
    var failedBox = document.getElementById('call-failed');
    var rejoinBox = document.getElementById('call-rejoin-box');
    var micButton = document.getElementById('call-mic');
    var cameraButton = document.getElementById('call-camera');
    var shareButton = document.getElementById('call-share');
    var hangupButton = document.getElementById('call-hangup');
    var GATHER_MS = 2500;
    var RESTART_MS = 2000;  // disconnected this long: ICE restart
    var FAILED_MS = 20000;  // no media this long: "call us"
    var peer = Math.random().toString(36).slice(2, 12);
    var config = null;
    var pc = null;
    var pcId = null;
    var localStream = null;
    var screenTrack = null;
    var cursor = -1;
    var timer = null;
    var started = false;
    var left = false;
    var ended = false;
    var connected = false;
    var lostSince = null;
    var restartTimer = null;
    var connectTimer = null;
    var pending = [];
    var remoteMedia = {audio: true, video: true, screen: false};
    var media = {audio: true, video: true, screen: false};
    var counters = {gets: 0, posts: 0};
    var polls = 0;
    var last = {frames: 0, packets: 0, still: 0};

    function text(name) {
        return root.dataset['text' + name] || '';
    }

    function say(value) {
        message.textContent = value;
    }

    function random() {
        return Math.random().toString(36).slice(2, 12);
    }

    // -- signalling -------------------------------------------------------

    function headers(json) {
        var result = {'X-CSRF-Token': root.dataset.csrf};
        if (json) { result['Content-Type'] = 'application/json'; }
        if (clerk) { result['X-Call-Token'] = root.dataset.callToken; }
        return result;
    }

    function send(kind, payload) {
        counters.posts += 1;
        return fetch(config.signals, {method: 'POST',
            credentials: 'same-origin', headers: headers(true),
            body: JSON.stringify({kind: kind, payload: payload || {}})})
            .then(function (response) {
                if (response.status === 409) { return finish(); }
                return null;
            }).catch(function () {
                // the network is gone; the poll notices and we retry then
                return null;
            });
    }

    function schedule(ms) {
        window.clearTimeout(timer);
        if (ended) { return; }
        timer = window.setTimeout(poll, ms || (left ? 3000
            : connected ? 1500 : 500));
    }

    function poll() {
        if (ended) { return; }
        polls += 1;
        counters.gets += 1;
        var url = config.signals + '?after=' + cursor
            + (clerk && polls % 5 === 1 ? '&status=1' : '');
        fetch(url, {credentials: 'same-origin', headers: headers(false)})
            .then(function (response) {
                if (response.status === 404) {
                    gone();
                    return null;
                }
                return response.json();
            }).then(function (data) {
                if (!data) { return; }
                if (data.citizen) { readiness(data.citizen); }
                if (data.state === 'closed') {
                    finish(data.next);
                    return;
                }
                cursor = data.cursor;
                (data.messages || []).forEach(handle);
                schedule();
            }).catch(function () {
                schedule(2000);
            });
    }

    function handle(signal) {
        var payload = signal.payload || {};
        if (left) { return; }
        if (signal.kind === 'hello') {
            // the other side (re)opened its page
            if (clerk) {
                offer(false);
                tellIfChanged();
            } else {
                tellIfChanged();
                closePc();
                say(text('Connecting'));
            }
        } else if (signal.kind === 'offer' && !clerk) {
            answer(payload);
        } else if (signal.kind === 'answer' && clerk) {
            if (pc && payload.pc === pcId
                    && pc.signalingState === 'have-local-offer') {
                pc.setRemoteDescription({type: 'answer', sdp: payload.sdp})
                    .then(flush).catch(function () {});
            }
        } else if (signal.kind === 'candidate') {
            if (pc && payload.pc === pcId && payload.candidate) {
                pending.push(payload.candidate);
                flush();
            }
        } else if (signal.kind === 'restart' && clerk) {
            offer(!!(pc && payload.pc === pcId));
        } else if (signal.kind === 'media') {
            remoteMedia = payload;
            root.classList.toggle('screen', !!payload.screen);
            if (payload.screen && !clerk) { say(text('Screen')); }
            else if (connected) { say(text('Connected')); }
        } else if (signal.kind === 'hangup') {
            closePc();
            connected = false;
            say(text('OtherLeft'));
            status('OtherLeft');
        }
    }

    // -- the connection ---------------------------------------------------

    function loopbackOnly(candidate) {
        return !config.loopback || / 127\.0\.0\.1 /.test(candidate || '');
    }

    function filterSdp(sdp) {
        if (!config.loopback) { return sdp; }
        return sdp.split('\r\n').filter(function (line) {
            return line.indexOf('a=candidate:') !== 0
                || loopbackOnly(line);
        }).join('\r\n');
    }

    function closePc() {
        if (pc) {
            pc.onicecandidate = null;
            pc.ontrack = null;
            pc.oniceconnectionstatechange = null;
            pc.close();
        }
        pc = null;
        pending = [];
    }

    function newPc(id) {
        closePc();
        pcId = id || random();
        var connection = new RTCPeerConnection(
            {iceServers: config.iceServers || []});
        // nothing gets through in time: offer the phone
        window.clearTimeout(connectTimer);
        connectTimer = window.setTimeout(function () {
            if (connection === pc && !connected && !left && !ended) {
                if (failedBox) { failedBox.hidden = false; }
                status('Failed');
            }
        }, FAILED_MS);
        connection.balieSent = false;
        connection.ontrack = function (event) {
            var stream = event.streams && event.streams[0];
            if (!stream) {
                stream = remoteVideo.srcObject || new MediaStream();
                stream.addTrack(event.track);
            }
            if (remoteVideo.srcObject !== stream) {
                remoteVideo.srcObject = stream;
            }
            play(remoteVideo);
        };
        connection.onicecandidate = function (event) {
            if (!event.candidate || !connection.balieSent
                    || connection !== pc
                    || !loopbackOnly(event.candidate.candidate)) {
                return;
            }
            send('candidate', {pc: pcId, candidate: event.candidate.toJSON()});
        };
        connection.oniceconnectionstatechange = function () {
            if (connection === pc) { stateChanged(); }
        };
        pc = connection;
        return connection;
    }

    function attachLocal(connection) {
        var kinds = {audio: false, video: false};
        if (localStream) {
            localStream.getTracks().forEach(function (track) {
                var sending = track;
                if (track.kind === 'video' && screenTrack) {
                    sending = screenTrack;
                }
                connection.addTrack(sending, localStream);
                kinds[track.kind] = true;
            });
        }
        // receive what the other side sends even without our own device
        Object.keys(kinds).forEach(function (kind) {
            if (!kinds[kind] && clerk) {
                connection.addTransceiver(kind, {direction: 'recvonly'});
            }
        });
    }

    function gathered(connection) {
        return new Promise(function (resolve) {
            if (connection.iceGatheringState === 'complete') {
                resolve();
                return;
            }
            var done = function () {
                window.clearTimeout(limit);
                connection.removeEventListener('icegatheringstatechange',
                    check);
                resolve();
            };
            var check = function () {
                if (connection.iceGatheringState === 'complete') { done(); }
            };
            var limit = window.setTimeout(done, GATHER_MS);
            connection.addEventListener('icegatheringstatechange', check);
        });
    }

    function describe(connection, kind) {
        return gathered(connection).then(function () {
            if (connection !== pc) { return null; }
            connection.balieSent = true;
            return send(kind, {pc: pcId, type: kind, peer: peer,
                sdp: filterSdp(connection.localDescription.sdp)});
        });
    }

    // clerk: a new connection, or an ICE restart of the current one
    function offer(restart) {
        var connection = restart && pc ? pc : newPc();
        if (!restart || connection !== pc) {
            attachLocal(connection);
        }
        connection.createOffer(restart ? {iceRestart: true} : {})
            .then(function (description) {
                return connection.setLocalDescription(description);
            }).then(function () {
                return describe(connection, 'offer');
            }).catch(function () {});
    }

    // citizen: answer a new connection or a renegotiation (ICE restart)
    function answer(payload) {
        var connection = pc;
        var fresh = !pc || payload.pc !== pcId;
        if (fresh) { connection = newPc(payload.pc); }
        connection.setRemoteDescription({type: 'offer', sdp: payload.sdp})
            .then(function () {
                if (fresh) { attachLocal(connection); }
                flush();
                return connection.createAnswer();
            }).then(function (description) {
                return connection.setLocalDescription(description);
            }).then(function () {
                return describe(connection, 'answer');
            }).catch(function () {});
    }

    function flush() {
        if (!pc || !pc.remoteDescription) { return; }
        var connection = pc;
        pending.splice(0).forEach(function (candidate) {
            connection.addIceCandidate(candidate).catch(function () {});
        });
    }

    function stateChanged() {
        var state = pc.iceConnectionState;
        if (state === 'connected' || state === 'completed') {
            connected = true;
            lostSince = null;
            window.clearTimeout(restartTimer);
            failedBox && (failedBox.hidden = true);
            say(remoteMedia.screen && !clerk ? text('Screen')
                : text('Connected'));
            status('Connected');
            schedule();
        } else if (state === 'disconnected' || state === 'failed') {
            connected = false;
            lostSince = lostSince || Date.now();
            say(text('Reconnecting'));
            status('Reconnecting');
            window.clearTimeout(restartTimer);
            restartTimer = window.setTimeout(restart,
                state === 'failed' ? 0 : RESTART_MS);
            schedule();
        }
    }

    function restart() {
        if (!pc || connected || left || ended) { return; }
        if (Date.now() - lostSince > FAILED_MS) {
            failedBox && (failedBox.hidden = false);
            status('Failed');
        }
        if (clerk) {
            offer(true);
        } else {
            send('restart', {pc: pcId});
        }
        // and again, until it works or the call ends
        restartTimer = window.setTimeout(restart, 8000);
    }

    // -- own camera and microphone -----------------------------------------

    function constraints() {
        var devices = {};
        try {
            devices = JSON.parse(window.localStorage.getItem(
                'balie.devices') || '{}') || {};
        } catch (error) {
            devices = {};
        }
        var video = {width: {ideal: 640}, height: {ideal: 480}};
        var audio = {echoCancellation: true, noiseSuppression: true};
        if (devices.video) { video.deviceId = {ideal: devices.video}; }
        if (devices.audio) { audio.deviceId = {ideal: devices.audio}; }
        return {audio: audio, video: video};
    }

    function getMedia() {
        if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
            return Promise.resolve(null);
        }
        var wanted = constraints();
        return navigator.mediaDevices.getUserMedia(wanted)
            .catch(function () {
                return navigator.mediaDevices.getUserMedia(
                    {audio: wanted.audio, video: false})
                    .then(function (stream) {
                        say(text('NoCamera'));
                        media.video = false;
                        return stream;
                    });
            }).catch(function () {
                say(text('NoMedia'));
                media.audio = media.video = false;
                failedBox && (failedBox.hidden = false);
                return null;
            }).then(function (stream) {
                localStream = stream;
                if (stream) {
                    localVideo.srcObject = stream;
                    play(localVideo);
                }
                buttons();
                return stream;
            });
    }

    function stopMedia() {
        if (localStream) {
            localStream.getTracks().forEach(function (t) { t.stop(); });
        }
        if (screenTrack) { screenTrack.stop(); }
        localStream = null;
        screenTrack = null;
        media.screen = false;
    }

    function play(video) {
        var attempt = video.play();
        if (attempt && attempt.catch) {
            attempt.catch(function () {
                // no sound without a tap first (autoplay rules): play
                // muted, and the next tap anywhere turns the sound on
                if (video === remoteVideo && !video.muted) {
                    video.muted = true;
                    video.play().catch(function () {});
                    document.addEventListener('click', function () {
                        video.muted = false;
                    }, {once: true});
                }
            });
        }
    }

    function track(kind) {
        return localStream && localStream.getTracks().filter(
            function (t) { return t.kind === kind; })[0];
    }

    function buttons() {
        var audio = track('audio');
        var video = track('video');
        micButton.textContent = text(media.audio ? 'MicOn' : 'MicOff');
        micButton.setAttribute('aria-pressed', String(media.audio));
        micButton.disabled = !audio;
        cameraButton.textContent = text(media.video ? 'CameraOn'
            : 'CameraOff');
        cameraButton.setAttribute('aria-pressed', String(media.video));
        cameraButton.disabled = !video;
        if (shareButton) {
            shareButton.textContent = text(media.screen ? 'StopShare'
                : 'Share');
            shareButton.setAttribute('aria-pressed', String(media.screen));
        }
    }

    function tellIfChanged() {
        if (media.screen || !media.audio || !media.video) { tellMedia(); }
    }

    function tellMedia() {
        buttons();
        send('media', {audio: media.audio, video: media.video,
            screen: media.screen});
    }

    micButton.addEventListener('click', function () {
        var audio = track('audio');
        if (!audio) { return; }
        media.audio = !media.audio;
        audio.enabled = media.audio;
        tellMedia();
    });

    cameraButton.addEventListener('click', function () {
        var video = track('video');
        if (!video) { return; }
        media.video = !media.video;
        video.enabled = media.video;
        tellMedia();
    });

    function videoSender() {
        return pc && pc.getSenders().filter(function (sender) {
            return sender.track && sender.track.kind === 'video';
        })[0];
    }

    function stopSharing() {
        if (!screenTrack) { return; }
        screenTrack.stop();
        screenTrack = null;
        media.screen = false;
        var sender = videoSender();
        var camera = track('video');
        if (sender && camera) { sender.replaceTrack(camera); }
        localVideo.srcObject = localStream;
        tellMedia();
    }

    if (shareButton) {
        shareButton.addEventListener('click', function () {
            if (screenTrack) {
                stopSharing();
                return;
            }
            if (!navigator.mediaDevices.getDisplayMedia) { return; }
            navigator.mediaDevices.getDisplayMedia({video: true, audio: false})
                .then(function (stream) {
                    screenTrack = stream.getVideoTracks()[0];
                    screenTrack.addEventListener('ended', stopSharing);
                    media.screen = true;
                    var sender = videoSender();
                    if (sender) {
                        sender.replaceTrack(screenTrack);
                    } else if (pc) {
                        // no camera: a new video stream, negotiated again
                        pc.addTrack(screenTrack, stream);
                        offer(true);
                    }
                    localVideo.srcObject = stream;
                    tellMedia();
                }).catch(function () {});
        });
    }

    hangupButton.addEventListener('click', function () {
        send('hangup', {});
        left = true;
        connected = false;
        closePc();
        stopMedia();
        remoteVideo.srcObject = null;
        say(text('HungUp'));
        status('HungUp');
        rejoinBox.hidden = false;
        root.classList.add('left');
        schedule(3000);
    });

    document.getElementById('call-rejoin').addEventListener('click',
        function () {
            rejoinBox.hidden = true;
            root.classList.remove('left');
            left = false;
            media = {audio: true, video: true, screen: false};
            join();
        });

    // -- what each side sees ----------------------------------------------

    function status(name) {
        var connection = document.getElementById('ready-connection');
        if (connection) { connection.textContent = text(name); }
    }

    function readiness(citizen) {
        var device = document.getElementById('ready-device');
        var waiting = document.getElementById('ready-waiting');
        var tasks = document.getElementById('ready-tasks');
        if (device) {
            var name = {passed: 'DevicePassed', failed: 'DeviceFailed'}[
                citizen.device] || 'DeviceNone';
            device.textContent = text(name)
                + (citizen.browser ? ' (' + citizen.browser + ')' : '');
        }
        if (waiting) {
            waiting.textContent = text(citizen.waiting ? 'Yes' : 'No');
        }
        if (tasks && citizen.tasks) {
            tasks.textContent = '';
            citizen.tasks.forEach(function (task) {
                var item = document.createElement('li');
                item.className = task.done ? 'done' : '';
                item.textContent = (task.done ? '\u2713 ' : '') + task.label;
                tasks.appendChild(item);
            });
        }
    }

    // every 2 s: no video but sound => say so; the connection's quality
    function watch() {
        if (ended) { return; }
        window.setTimeout(watch, 2000);
        if (!pc || !connected) { return; }
        pc.getStats().then(function (report) {
            var frames = 0;
            var packets = 0;
            var lost = 0;
            var rtt = null;
            report.forEach(function (stat) {
                if (stat.type === 'inbound-rtp' && stat.kind === 'video') {
                    frames += stat.framesDecoded || 0;
                }
                if (stat.type === 'inbound-rtp' && stat.kind === 'audio') {
                    packets += stat.packetsReceived || 0;
                    lost += stat.packetsLost || 0;
                }
                if (stat.type === 'candidate-pair' && stat.nominated
                        && stat.currentRoundTripTime !== undefined) {
                    rtt = stat.currentRoundTripTime;
                }
            });
            var videoExpected = remoteMedia.video || remoteMedia.screen;
            if (packets > last.packets && frames === last.frames
                    && videoExpected) {
                last.still += 1;
            } else {
                last.still = 0;
            }
            var audioOnly = last.still >= 3;
            root.classList.toggle('audio-only', audioOnly);
            if (audioOnly) {
                say(text('AudioOnly'));
            } else if (root.dataset.audioOnly === '1') {
                say(text('Connected'));
            }
            root.dataset.audioOnly = audioOnly ? '1' : '0';
            var received = packets - last.packets;
            var loss = received + lost > 0 ? lost / (received + lost) : 0;
            last.frames = frames;
            last.packets = packets;
            var quality = document.getElementById('ready-quality');
            if (quality) {
                var name = 'QualityGood';
                if ((rtt !== null && rtt > 0.4) || loss > 0.05) {
                    name = 'QualityPoor';
                } else if ((rtt !== null && rtt > 0.2) || loss > 0.02) {
                    name = 'QualityFair';
                }
                quality.textContent = text(name) + (rtt !== null
                    ? ' (' + Math.round(rtt * 1000) + ' ms)' : '');
            }
        }).catch(function () {});
    }

    // -- start and end ----------------------------------------------------

    function gone() {
        // no longer a party of this call (links expired)
        ended = true;
        closePc();
        stopMedia();
        failedBox && (failedBox.hidden = false);
        say(text(clerk ? 'Ended' : 'Failed'));
    }

    function finish(next) {
        if (ended) { return; }
        ended = true;
        window.clearTimeout(timer);
        closePc();
        stopMedia();
        if (!clerk) {
            window.location.href = next || '/balie/einde';
            return;
        }
        say(text('Ended'));
        status('Ended');
        root.classList.add('ended');
    }

    function join() {
        say(text('Connecting'));
        getMedia().then(function () {
            // only what is said from now on: an old offer is stale
            counters.gets += 1;
            return fetch(config.signals + '?after=-1',
                {credentials: 'same-origin', headers: headers(false)});
        }).then(function (response) {
            if (response.status === 404) {
                gone();
                return null;
            }
            return response.json();
        }).then(function (data) {
            if (!data) { return; }
            if (data.state === 'closed') {
                finish(data.next);
                return;
            }
            cursor = data.cursor;
            return send('hello', {peer: peer}).then(function () {
                if (clerk) { offer(false); }
                schedule(300);
            });
        }).catch(function () {
            schedule(2000);
        });
    }

    function start(call) {
        if (started) { return; }
        started = true;
        config = call;
        root.hidden = false;
        document.body.classList.add('in-call', 'builtin-call');
        window.balieCall = {
            pc: function () { return pc; },
            counters: counters,
            side: root.dataset.side,
            media: media
        };
        join();
        watch();
    }

    window.addEventListener('pagehide', function () {
        // the other side learns it from our hello after a reload
        stopMedia();
        closePc();
    });

    if (clerk) {
        var ice = [];
        try {
            ice = JSON.parse(root.dataset.iceServers || '[]');
        } catch (error) {
            ice = [];
        }
        if (root.dataset.state === 'closed') {
            say(text('Ended'));
            return;
        }
        start({signals: root.dataset.signals, iceServers: ice,
            loopback: root.dataset.loopback === '1'});
    } else {
        document.addEventListener('balie:call', function (event) {
            start(event.detail);
        });
    }
}());
