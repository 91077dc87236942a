# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The plumbing of the local servers that speak an outside service's API
in the tests and the demo (SMS gateway, payment provider): a threaded HTTP
server on a free local port that hands every request to `_handle`."""
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def free_port():
    "A free TCP port on 127.0.0.1 (no trytond import: server processes use it)."
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # a client that gave up waiting (a timeout test) is no error here
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def do_GET(self):
        self.server.owner._handle(self)

    def do_POST(self):
        self.server.owner._handle(self)

    def log_message(self, format, *args):
        # the tests and the demo print what matters themselves
        pass


class LocalServer:
    "Start, stop and address of a local API server; subclasses _handle."
    thread_name = 'local-server'
    path = ''

    def __init__(self, host='127.0.0.1', port=0):
        self.host = host
        self.port = port
        self._server = None
        self._thread = None

    def _handle(self, handler):
        raise NotImplementedError

    def start(self):
        "Listen and serve in a background thread; return self."
        self._server = _Server((self.host, self.port), _Handler)
        self._server.owner = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
            kwargs={'poll_interval': 0.05}, name=self.thread_name,
            daemon=True)
        self._thread.start()
        return self

    def close(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
            self._server = self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.close()

    @property
    def running(self):
        return self._server is not None

    @property
    def url(self):
        return 'http://%s:%s%s' % (self.host, self.port, self.path)
