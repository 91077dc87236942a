# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Jitsi Meet with token authentication, as a self-hosted server expects.

prosody's token module (`authentication = "token"`, `app_id`, `app_secret`,
HS256) checks `iss` = app id, `aud`, `sub` = the XMPP domain, `room`, `nbf`
and `exp`; `context.user` gives the display name.  The jitsi-contrib
plugins read the rest: `token_affiliation` makes `context.user.affiliation`
"owner" a moderator and anything else a member, `token_lobby_bypass` lets
`context.user.lobby_bypass` skip the lobby.  See docs/jitsi.md."""
import datetime as dt
import secrets
from urllib.parse import quote

import jwt

ALGORITHM = 'HS256'
ROOM_BYTES = 20  # 160 bits
OWNER = 'owner'
MEMBER = 'member'


def new_room_name():
    "A room name nobody can guess: 160 random bits, lower-case letters."
    return 'balie' + secrets.token_hex(ROOM_BYTES)


def _timestamp(value):
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return int(value.timestamp())


def room_token(
        secret, app_id, domain, room, user_id, name, email=None,
        affiliation=MEMBER, not_before=None, expires=None,
        audience='jitsi', lobby_bypass=False, avatar=None):
    """Return the JWT of one participant for one room.

    not_before and expires are naive UTC datetimes.  The room is never a
    wildcard: a token opens exactly one meeting."""
    if not secret or not app_id or not domain:
        raise ValueError("Jitsi app id, secret and domain are required")
    if not room or room == '*' or any(c in room for c in '*?/ '):
        raise ValueError("A token is for one named room")
    if affiliation not in {OWNER, MEMBER}:
        raise ValueError("affiliation must be owner or member")
    user = {
        'id': str(user_id),
        'name': str(name or ''),
        'email': str(email or ''),
        'affiliation': affiliation,
        'lobby_bypass': bool(lobby_bypass),
        }
    if avatar:
        user['avatar'] = avatar
    claims = {
        'iss': app_id,
        'aud': audience,
        'sub': domain,
        'room': room,
        'context': {
            'user': user,
            'features': {
                'recording': False,
                'livestreaming': False,
                'transcription': False,
                'outbound-call': False,
                'screen-sharing': True,
                },
            },
        'moderator': affiliation == OWNER,
        }
    if not_before is not None:
        claims['nbf'] = _timestamp(not_before)
    if expires is not None:
        claims['exp'] = _timestamp(expires)
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode(token, secret, audience='jitsi', **options):
    "Check a token as prosody does (for tests and diagnostics)."
    return jwt.decode(token, secret, algorithms=[ALGORITHM],
        audience=audience, **options)


def meeting_url(domain, room, token):
    "The address that opens the meeting in a browser tab (the clerk's)."
    return 'https://%s/%s?jwt=%s#config.prejoinConfig.enabled=false' % (
        domain, quote(room), token)


TOOLBAR = ['microphone', 'camera', 'desktop', 'chat', 'hangup']


def iframe_options(room, token, display_name, language='nl',
        skip_prejoin=False):
    """The options of JitsiMeetExternalAPI for the citizen's page: the name
    filled in and fixed, their language, no app download prompt, a
    toolbar with only what the citizen needs."""
    return {
        'roomName': room,
        'jwt': token,
        'lang': language,
        'userInfo': {'displayName': display_name},
        'configOverwrite': {
            'prejoinConfig': {'enabled': not skip_prejoin},
            'disableDeepLinking': True,
            'toolbarButtons': TOOLBAR,
            'readOnlyName': True,
            'disableProfile': True,
            'defaultLanguage': language,
            'startWithAudioMuted': False,
            'startWithVideoMuted': False,
            'fileRecordingsEnabled': False,
            'liveStreamingEnabled': False,
            'hideConferenceSubject': False,
            'subject': '',
            },
        'interfaceConfigOverwrite': {
            'MOBILE_APP_PROMO': False,
            'SHOW_JITSI_WATERMARK': False,
            'TOOLBAR_BUTTONS': TOOLBAR,
            },
        }
