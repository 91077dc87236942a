#!/usr/bin/env python3
# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Benchmark of the built-in call (prints figures; not a test).

Two headless Chromium contexts (citizen: phone, clerk: desktop, fake
camera and microphone) hold built-in calls over loopback against trytond's
WSGI application, served from a thread of this process on SQLite (the
browser tests' machinery, digitale_balie/tests/browser.py).  Per call:

* click -> first frame: from the clerk's Start Video Call (the action and
  the new tab opening) to the first video frame decoded on the citizen's
  phone (RTCPeerConnection.getStats, sampled every 50 ms);
* signalling requests: every request of both pages to the signalling
  routes and /balie/status, counted by the server, for the set-up (until
  media flows) and per minute of call afterwards;
* server CPU: the thread CPU time (time.thread_time) spent in the WSGI
  application for those requests, per minute of call: what one active
  call costs the server.  The media never reach the server.

    .venv/bin/python bench/call.py --calls 3 --seconds 30
"""
import argparse
import collections
import os
import sys
import threading
import time
import unittest

os.environ.setdefault('TRYTOND_DATABASE_URI', 'sqlite://')
os.environ.setdefault('DB_NAME', ':memory:')
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
                os.path.realpath(__file__))), 'modules'))

ARGS = None
SIGNAL_PATHS = ('/balie/call/signals', '/balie/gesprek/signals',
    '/balie/status')


class Meter:
    "Requests and thread CPU time per path, counted around the WSGI app."

    def __init__(self, application):
        self.application = application
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.requests = collections.Counter()
            self.cpu = collections.Counter()

    def snapshot(self):
        with self.lock:
            return (sum(self.requests[p] for p in SIGNAL_PATHS),
                sum(self.cpu[p] for p in SIGNAL_PATHS))

    def __call__(self, environ, start_response):
        path = environ.get('PATH_INFO', '')
        started = time.thread_time()
        try:
            return list(self.application(environ, start_response))
        finally:
            used = time.thread_time() - started
            with self.lock:
                self.requests[path] += 1
                self.cpu[path] += used


def main():
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--calls', type=int, default=3,
        help="calls one after the other (default: %(default)s)")
    parser.add_argument('--seconds', type=float, default=30,
        help="length of each call once media flows (default: %(default)s)")
    parser.add_argument('--poll', type=int, default=10,
        help="[balie_video] poll_seconds, the waiting room's status poll "
        "(default: %(default)s, the production default)")
    ARGS = parser.parse_args()

    from trytond.wsgi import app

    from balie_video.tests.test_browser_call import (
        START, CallBrowserTestCase)
    import datetime as dt

    from trytond.pool import Pool

    meter = Meter(app)
    results = []

    class Bench(CallBrowserTestCase):
        @classmethod
        def wsgi_application(cls):
            return meter

        def test_call(self):
            pass

        def test_third_browser_cannot_join(self):
            pass

        def setUp(self):
            super().setUp()
            from trytond import config
            config.set('balie_video', 'poll_seconds', str(ARGS.poll))

        def first_frame(self, page, seconds=30):
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                stats = self.stats(page)
                if stats and stats['video'] > 0:
                    return
                time.sleep(0.05)
            self.fail('no frame in %s s' % seconds)

        def test_bench(self):
            _, _, service = self.setup_balie()
            for number in range(ARGS.calls):
                # Tuesday 10:30, a week later, ...
                start = START + dt.timedelta(weeks=number)
                appointment = self.book(service, start=start,
                    notify_by='email', name="Burger %d" % number)
                self.clock.now = start - dt.timedelta(minutes=5)
                citizen = self.new_page(360)
                self.open_personal_link(citizen, appointment)
                citizen.goto(self.url('/balie/wachtkamer'))
                citizen.wait_for_function("() => document.getElementById("
                    "'self-view').videoWidth > 0")
                time.sleep(1.5)  # the heartbeat has run
                meter.reset()
                clicked = time.monotonic()
                with self.transaction():
                    Appointment = Pool().get('balie.appointment')
                    action = Appointment.start_call(
                        [Appointment(appointment)])
                clerk = self.new_page(1280)
                clerk.goto(action['url'])
                self.first_frame(citizen)
                first = time.monotonic() - clicked
                self.wait_for_media(clerk)
                setup_requests, setup_cpu = meter.snapshot()
                time.sleep(ARGS.seconds)
                requests, cpu = meter.snapshot()
                minutes = ARGS.seconds / 60
                results.append({
                        'first': first,
                        'setup_requests': setup_requests,
                        'requests_per_minute': (
                            requests - setup_requests) / minutes,
                        'cpu_ms_per_minute': (
                            cpu - setup_cpu) * 1000 / minutes,
                        'setup_cpu_ms': setup_cpu * 1000,
                        })
                citizen.context.close()
                clerk.context.close()

    suite = unittest.TestSuite([Bench('test_bench')])
    outcome = unittest.TextTestRunner(verbosity=0).run(suite)
    if not outcome.wasSuccessful() or not results:
        sys.exit(1)
    print('\nbuilt-in call, %d calls of %.0f s on this machine (%d CPUs), '
        'SQLite; signalling polled every 0.5 s connecting / 1.5 s '
        'connected, the waiting room status every %d s' % (len(results),
            ARGS.seconds, os.cpu_count(), ARGS.poll))
    print('%-6s %12s %14s %12s %14s %14s' % ('call', 'click->frame',
            'setup requests', 'setup CPU', 'requests/min', 'server CPU/min'))
    for number, r in enumerate(results, 1):
        print('%-6d %10.2f s %14d %9.1f ms %12.0f %11.1f ms' % (
                number, r['first'], r['setup_requests'], r['setup_cpu_ms'],
                r['requests_per_minute'], r['cpu_ms_per_minute']))
    firsts = sorted(r['first'] for r in results)
    print('median click->first frame %.2f s; server CPU per active call '
        '%.1f ms per minute (%.3f %% of one core)' % (
            firsts[len(firsts) // 2],
            sum(r['cpu_ms_per_minute'] for r in results) / len(results),
            sum(r['cpu_ms_per_minute'] for r in results) / len(results)
            / 600))


if __name__ == '__main__':
    main()
