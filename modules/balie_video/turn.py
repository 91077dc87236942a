# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""ICE servers for the built-in call: STUN and TURN addresses from the
configuration, with TURN credentials made per call.

coturn's `use-auth-secret` / `static-auth-secret` (the "TURN REST API" of
draft-uberti-behave-turn-rest) accepts any user name of the form
"<expiry unix time>:<id>" whose password is
base64(HMAC-SHA1(static-auth-secret, user name)), until that time.
Nothing is stored: coturn checks the HMAC with the shared secret.
See docs/video.md."""
import base64
import datetime as dt
import hashlib
import hmac

SCHEMES = ('stun:', 'stuns:', 'turn:', 'turns:')


def parse_urls(text):
    "The ICE server addresses of the configuration, one a line."
    urls = []
    for line in (text or '').splitlines():
        line = line.strip()
        if line and not line.startswith('#'):
            urls.append(line)
    return urls


def invalid_urls(text):
    "The lines that are not a STUN or TURN address."
    return [u for u in parse_urls(text)
        if not u.lower().startswith(SCHEMES) or any(
            c.isspace() for c in u) or len(u) > 255]


def timestamp(value):
    "A naive UTC datetime as unix time."
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return int(value.timestamp())


def credentials(secret, user_id, expires):
    """coturn's time-limited credentials: (user name, password) valid
    until expires (a naive UTC datetime or unix time)."""
    if not secret:
        raise ValueError("a TURN secret is required")
    if isinstance(expires, dt.datetime):
        expires = timestamp(expires)
    username = '%d:%s' % (int(expires), user_id)
    digest = hmac.new(secret.encode('utf-8'), username.encode('utf-8'),
        hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode('ascii')


def ice_servers(urls, secret=None, user_id='', expires=None):
    """The iceServers of an RTCPeerConnection: the STUN addresses as they
    are, the TURN addresses with credentials (left out without a
    secret: a TURN server without credentials is useless)."""
    stun = [u for u in urls if u.lower().startswith(('stun:', 'stuns:'))]
    turn = [u for u in urls if u.lower().startswith(('turn:', 'turns:'))]
    servers = []
    if stun:
        servers.append({'urls': stun})
    if turn and secret and expires is not None:
        username, credential = credentials(secret, user_id, expires)
        servers.append({'urls': turn, 'username': username,
                'credential': credential})
    return servers
