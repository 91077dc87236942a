# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"Tokens for Jitsi's prosody token module, decoded back with PyJWT."
import datetime as dt
import unittest

import jwt

from balie_video import jitsi
from digitale_balie.tests.tools import no_database

SECRET = 'a-long-test-secret-of-32-bytes!!'
START = dt.datetime(2026, 12, 8, 9, 30)


def token(**kwargs):
    values = dict(secret=SECRET, app_id='balie', domain='meet.voorbeeld.be',
        room='balie' + 'ab' * 20, user_id='citizen-7', name="Maria Janssens",
        not_before=START - dt.timedelta(minutes=16),
        expires=START + dt.timedelta(minutes=60))
    values.update(kwargs)
    return jitsi.room_token(**values)


@no_database
class JitsiTokenTestCase(unittest.TestCase):
    "Jitsi tokens"

    def test_claims_as_prosody_expects(self):
        "Test every claim of a citizen's token"
        claims = jitsi.decode(token(), SECRET,
            options={'verify_exp': False, 'verify_nbf': False})
        self.assertEqual(claims['iss'], 'balie')
        self.assertEqual(claims['aud'], 'jitsi')
        self.assertEqual(claims['sub'], 'meet.voorbeeld.be')
        self.assertEqual(claims['room'], 'balie' + 'ab' * 20)
        self.assertEqual(claims['nbf'], int(dt.datetime(2026, 12, 8, 9, 14,
                    tzinfo=dt.timezone.utc).timestamp()))
        self.assertEqual(claims['exp'], int(dt.datetime(2026, 12, 8, 10, 30,
                    tzinfo=dt.timezone.utc).timestamp()))
        user = claims['context']['user']
        self.assertEqual(user, {'id': 'citizen-7', 'name': "Maria Janssens",
                'email': '', 'affiliation': 'member', 'lobby_bypass': False})
        for value in user.values():
            self.assertIsInstance(value, (str, bool))
        self.assertFalse(claims['moderator'])
        features = claims['context']['features']
        self.assertFalse(features['recording'])
        self.assertFalse(features['livestreaming'])
        header = jwt.get_unverified_header(token())
        self.assertEqual(header['alg'], 'HS256')

    def test_clerk_is_owner(self):
        "Test that the clerk's token makes them owner and skips the lobby"
        claims = jitsi.decode(token(affiliation=jitsi.OWNER,
                lobby_bypass=True, user_id=12, email='anna@voorbeeld.be'),
            SECRET, options={'verify_exp': False, 'verify_nbf': False})
        user = claims['context']['user']
        self.assertEqual(user['affiliation'], 'owner')
        self.assertEqual(user['id'], '12')
        self.assertEqual(user['email'], 'anna@voorbeeld.be')
        self.assertTrue(user['lobby_bypass'])
        self.assertTrue(claims['moderator'])

    def test_lifetime_is_enforced(self):
        "Test that an expired or early token is refused"
        expired = token(not_before=dt.datetime(2020, 1, 1),
            expires=dt.datetime(2020, 1, 1, 1))
        with self.assertRaises(jwt.ExpiredSignatureError):
            jitsi.decode(expired, SECRET)
        early = token(not_before=dt.datetime.utcnow() + dt.timedelta(days=1),
            expires=dt.datetime.utcnow() + dt.timedelta(days=2))
        with self.assertRaises(jwt.ImmatureSignatureError):
            jitsi.decode(early, SECRET)
        with self.assertRaises(jwt.InvalidSignatureError):
            jitsi.decode(token(), 'another secret of enough length!!',
                options={'verify_exp': False, 'verify_nbf': False})
        with self.assertRaises(jwt.InvalidAudienceError):
            jitsi.decode(token(audience='other'), SECRET,
                options={'verify_exp': False, 'verify_nbf': False})

    def test_one_room_only(self):
        "Test that a token is never for every room"
        for room in ['*', '', 'balie*', 'a/b', 'a b']:
            with self.assertRaises(ValueError):
                token(room=room)
        with self.assertRaises(ValueError):
            token(secret='')
        with self.assertRaises(ValueError):
            token(affiliation='moderator')

    def test_room_names_are_unguessable(self):
        "Test that room names carry 160 random bits"
        names = {jitsi.new_room_name() for _ in range(1000)}
        self.assertEqual(len(names), 1000)
        for name in names:
            self.assertRegex(name, r'^balie[0-9a-f]{40}$')

    def test_iframe_options(self):
        "Test the embed: name fixed, Dutch, no app prompt, small toolbar"
        options = jitsi.iframe_options('room1', 'tok', "Maria", 'nl',
            skip_prejoin=True)
        self.assertEqual(options['roomName'], 'room1')
        self.assertEqual(options['jwt'], 'tok')
        self.assertEqual(options['lang'], 'nl')
        self.assertEqual(options['userInfo'], {'displayName': "Maria"})
        config = options['configOverwrite']
        self.assertTrue(config['disableDeepLinking'])
        self.assertTrue(config['readOnlyName'])
        self.assertFalse(config['prejoinConfig']['enabled'])
        self.assertEqual(config['toolbarButtons'],
            ['microphone', 'camera', 'desktop', 'chat', 'hangup'])
        self.assertTrue(jitsi.iframe_options('r', 't', 'M')[
                'configOverwrite']['prejoinConfig']['enabled'])
        url = jitsi.meeting_url('meet.voorbeeld.be', 'room1', 'tok')
        self.assertTrue(url.startswith('https://meet.voorbeeld.be/room1?jwt=tok'))
