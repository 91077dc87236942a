# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""A network namespace with a loopback interface only, for browser tests
whose traffic must stay on 127.0.0.0/8 (no tests here).

A program started in the namespace sees no interface but `lo`: it has no
route to the machine's own addresses (eth0) nor anywhere else, so whatever
it sends can only go to 127.0.0.0/8 (or ::1).  Used by
balie_video/tests/test_browser_call.py: Chromium gathers ICE candidates on
every interface it sees, and pairs them with the peer's 127.0.0.1.

    namespace = LoopbackNamespace()       # NamespaceUnavailable if not
    chromium = namespace.wrapper('/usr/bin/chromium', directory)
    forwarder = namespace.forward(port)   # 127.0.0.1:port in -> host's
    ...
    forwarder.close()
    namespace.close()

- the namespace is held by a small Python process started with
  `unshare --net` (as root; otherwise `unshare --net --map-root-user`, a
  user namespace of its own); it brings `lo` up, reports the interfaces it
  sees and, on request, opens listening sockets inside the namespace and
  passes them back (SCM_RIGHTS).  It ends when `close()` closes its channel
  or the test process dies.  No `ip netns` state, nothing to clean up.
- `wrapper()` writes a shell script that runs a program in the namespace
  through nsenter (Playwright's `executable_path`); the pipes between
  Playwright and Chromium are not network sockets and are unaffected.
- `forward(port)` listens on 127.0.0.1:<port> inside the namespace and
  copies every connection to 127.0.0.1:<port> of the test process's own
  namespace (the test server): loopback at both ends, and the same port,
  so URLs and cookies stay the same.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

__all__ = ['LoopbackNamespace', 'NamespaceUnavailable', 'Forwarder']

# runs inside the namespace (argv[1]: the fd of its channel)
_HOLDER = r'''
import fcntl, json, os, socket, struct, sys
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
channel = socket.socket(fileno=int(sys.argv[1]))
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    request = struct.pack('16sh22x', b'lo', 0)
    flags = struct.unpack('16sh22x', fcntl.ioctl(s, SIOCGIFFLAGS, request))[1]
    fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack('16sh22x', b'lo', flags | IFF_UP))
channel.send(json.dumps({'pid': os.getpid(),
    'interfaces': [n for _, n in socket.if_nameindex()]}).encode())
while True:
    message = channel.recv(4096)
    if not message:
        break
    host, port = json.loads(message)['listen']
    try:
        listener = socket.create_server((host, port), backlog=64)
    except OSError as error:
        channel.send(json.dumps({'error': str(error)}).encode())
        continue
    socket.send_fds(channel, [b'{}'], [listener.fileno()])
    listener.close()
'''


class NamespaceUnavailable(Exception):
    "The namespace cannot be created here (permission, missing tool)."


class LoopbackNamespace:
    "A network namespace with `lo` (up) as its only interface"

    def __init__(self):
        missing = [t for t in ['unshare', 'nsenter'] if not shutil.which(t)]
        if missing:
            raise NamespaceUnavailable('%s not found (util-linux)'
                % ', '.join(missing))
        self.root = os.geteuid() == 0
        command = ['unshare', '--net']
        if not self.root:
            # a user namespace of our own, in which we may create the
            # network namespace
            command.append('--map-root-user')
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.process = subprocess.Popen(
                command + [sys.executable, '-c', _HOLDER,
                    str(theirs.fileno())],
                pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL,
                stderr=subprocess.PIPE)
        finally:
            theirs.close()
        self.channel = ours
        self.lock = threading.Lock()
        hello = ours.recv(4096)
        if not hello:
            error = self.process.stderr.read().decode(errors='replace')
            self.process.wait()
            ours.close()
            raise NamespaceUnavailable('%s failed: %s' % (
                    ' '.join(command), error.strip() or 'no message'))
        hello = json.loads(hello)
        self.pid = self.process.pid
        # unshare execs the holder: its /proc entry is the namespace's
        assert hello['pid'] == self.pid, (hello, self.pid)
        self.interfaces = hello['interfaces']
        if self.interfaces != ['lo']:
            self.close()
            raise RuntimeError('the new network namespace has interfaces '
                '%s, expected lo only' % self.interfaces)
        self.net = '/proc/%s/ns/net' % self.pid
        self.user = '/proc/%s/ns/user' % self.pid

    def __repr__(self):
        return '<LoopbackNamespace %s (%s)>' % (
            os.readlink(self.net), ', '.join(self.interfaces))

    def nsenter(self):
        "The nsenter command that runs the rest of its line in here."
        if self.root:
            return ['nsenter', '--net=%s' % self.net, '--']
        return ['nsenter', '--user=%s' % self.user, '--net=%s' % self.net,
            '--preserve-credentials', '--']

    def wrapper(self, executable, directory, name='in-netns'):
        """Write an executable script in `directory` that runs
        `executable` with its arguments in the namespace; return its
        path."""
        path = Path(directory) / name
        path.write_text('#!/bin/sh\nexec %s %s "$@"\n' % (
                ' '.join(self.nsenter()), executable))
        path.chmod(0o755)
        return str(path)

    def listen(self, host, port):
        "A listening TCP socket on (host, port) inside the namespace."
        with self.lock:
            self.channel.send(json.dumps({'listen': [host, port]}).encode())
            message, fds, _, _ = socket.recv_fds(self.channel, 4096, 1)
        answer = json.loads(message or b'{"error": "namespace gone"}')
        if not fds:
            raise OSError('cannot listen on %s:%s in the namespace: %s' % (
                    host, port, answer.get('error')))
        return socket.socket(fileno=fds[0])

    def forward(self, port, host='127.0.0.1'):
        """Forward connections to host:port inside the namespace to
        host:port outside it; return the running Forwarder."""
        return Forwarder(self.listen(host, port), (host, port))

    def counters(self):
        """The namespace's IP and UDP counters (/proc/<pid>/net/snmp and
        snmp6): {'Ip': {...}, 'Udp': {...}, 'Ip6': {...}, ...}."""
        counters = {}
        lines = Path('/proc/%s/net/snmp' % self.pid).read_text().splitlines()
        for names, values in zip(lines[::2], lines[1::2]):
            group, names = names.split(':')
            counters[group] = dict(zip(names.split(),
                    map(int, values.split(':')[1].split())))
        for line in Path('/proc/%s/net/snmp6' % self.pid).read_text(
                ).splitlines():
            name, value = line.split()
            group = 'Ip6' if name.startswith('Ip6') else name[:4]
            counters.setdefault(group, {})[name] = int(value)
        return counters

    def close(self):
        "End the holder: the namespace goes with its last process."
        self.channel.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process.stderr.close()


class Forwarder:
    """Accept on `listener` and copy each connection both ways to a new
    connection to `target`, one thread per direction."""

    def __init__(self, listener, target):
        self.listener = listener
        self.target = target
        self.connections = set()
        self.lock = threading.Lock()
        self.closed = False
        self.thread = threading.Thread(target=self.serve,
            name='netns-forwarder-%s' % target[1], daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                inner, _ = self.listener.accept()
            except OSError:
                return  # closed
            try:
                outer = socket.create_connection(self.target, timeout=10)
                outer.settimeout(None)
            except OSError:
                inner.close()
                continue
            with self.lock:
                if self.closed:
                    inner.close()
                    outer.close()
                    return
                self.connections.update([inner, outer])
            pair, running = (inner, outer), [2]
            for source, sink in [pair, pair[::-1]]:
                threading.Thread(target=self.copy,
                    args=(source, sink, pair, running), daemon=True).start()

    def copy(self, source, sink, pair, running):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        try:
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        with self.lock:
            running[0] -= 1
            if running[0]:
                return
            self.connections.difference_update(pair)
        # both directions are done
        for s in pair:
            s.close()

    def close(self):
        "Stop accepting and close every open connection."
        with self.lock:
            self.closed = True
            connections = list(self.connections)
            self.connections.clear()
        try:
            # wakes the accept() of the thread (close alone does not)
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.thread.join(10)
        self.listener.close()
        for s in connections:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
