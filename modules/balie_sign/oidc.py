# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""OpenID Connect login with the Flemish government's login service or
itsme: authorization code flow with PKCE (S256), through Authlib.

Pure protocol, no database: `Client.start()` gives the address to send the
citizen to and the secrets to keep (state, nonce, code verifier);
`Client.finish()` checks the answer that comes back, exchanges the code,
verifies the ID token's signature against the provider's JWKS and its
claims (issuer, audience, expiry, nonce), and reads the userinfo."""
import hmac
import threading
import time

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

TIMEOUT = 10  # seconds, for every request to the provider
METADATA_TTL = 300  # seconds: discovery document and JWKS are cached
LEEWAY = 120  # seconds of clock difference accepted on exp/iat
ASYMMETRIC = ('RS', 'PS', 'ES', 'Ed')
AUTH_METHODS = ['client_secret_basic', 'client_secret_post',
    'private_key_jwt']

_cache = {}
_cache_lock = threading.Lock()


class OIDCError(Exception):
    """The login did not succeed.  `reason` says why, for the record:
    config, discovery, denied, state, exchange, id_token, nonce,
    userinfo."""

    def __init__(self, reason, detail=''):
        super().__init__('%s: %s' % (reason, detail) if detail else reason)
        self.reason = reason
        self.detail = detail


class AuthRequest:
    "Where to send the citizen, and what to keep until they come back."
    __slots__ = ('url', 'state', 'nonce', 'code_verifier')

    def __init__(self, url, state, nonce, code_verifier):
        self.url = url
        self.state = state
        self.nonce = nonce
        self.code_verifier = code_verifier


def _cached(key, fetch, force=False):
    now = time.monotonic()
    with _cache_lock:
        entry = _cache.get(key)
        if entry and not force and entry[0] > now:
            return entry[1]
    value = fetch()
    with _cache_lock:
        _cache[key] = (now + METADATA_TTL, value)
    return value


def clear_cache():
    with _cache_lock:
        _cache.clear()


class Client:
    "One relying party at one OpenID provider."

    def __init__(self, issuer, client_id, client_secret=None,
            private_key=None, auth_method='client_secret_basic',
            scopes='openid profile rrn', acr_values=None):
        if not issuer or not client_id:
            raise OIDCError('config', 'issuer and client id are required')
        if auth_method not in AUTH_METHODS:
            raise OIDCError('config', 'unknown auth method %s' % auth_method)
        if auth_method == 'private_key_jwt' and not private_key:
            raise OIDCError('config', 'private_key_jwt needs a private key')
        if auth_method != 'private_key_jwt' and not client_secret:
            raise OIDCError('config', 'the client secret is missing')
        self.issuer = issuer.rstrip('/')
        self.client_id = client_id
        self.client_secret = client_secret
        self.private_key = private_key
        self.auth_method = auth_method
        scopes = (scopes or '').split()
        if 'openid' not in scopes:
            scopes.insert(0, 'openid')
        self.scope = ' '.join(scopes)
        self.acr_values = (acr_values or '').strip() or None

    # -- the provider's documents ------------------------------------------

    def _get_json(self, url):
        try:
            response = requests.get(url, timeout=TIMEOUT,
                headers={'Accept': 'application/json'})
            response.raise_for_status()
            return response.json()
        except (requests.RequestException, ValueError) as exception:
            raise OIDCError('discovery', '%s: %s' % (url, exception)
                ) from exception

    def metadata(self):
        "The provider's discovery document (cached)."
        def fetch():
            data = self._get_json(
                self.issuer + '/.well-known/openid-configuration')
            # the document must speak for the issuer we trust (OIDC
            # Discovery 4.3): no mix-up with another provider
            if data.get('issuer', '').rstrip('/') != self.issuer:
                raise OIDCError('discovery', 'issuer mismatch')
            for name in ['authorization_endpoint', 'token_endpoint',
                    'jwks_uri']:
                if not data.get(name):
                    raise OIDCError('discovery', '%s missing' % name)
            return data
        return _cached(('metadata', self.issuer), fetch)

    def key_set(self, force=False):
        "The provider's signing keys (cached; fetched again on a new kid)."
        uri = self.metadata()['jwks_uri']
        return _cached(('jwks', uri),
            lambda: KeySet.import_key_set(self._get_json(uri)), force=force)

    def _session(self, redirect_uri):
        metadata = self.metadata()
        secret = (self.private_key if self.auth_method == 'private_key_jwt'
            else self.client_secret)
        session = OAuth2Session(self.client_id, secret, scope=self.scope,
            redirect_uri=redirect_uri, code_challenge_method='S256',
            token_endpoint_auth_method=self.auth_method)
        if self.auth_method == 'private_key_jwt':
            alg = 'ES256' if 'BEGIN EC' in (self.private_key or '') else None
            auth = PrivateKeyJWT(metadata['token_endpoint'],
                claims={'aud': self.issuer}, alg=alg)
            session.register_client_auth_method(auth)
        return session

    # -- the flow ------------------------------------------------------------

    def start(self, redirect_uri, language=None):
        "A new authorization request with fresh state, nonce and verifier."
        state = generate_token(32)
        nonce = generate_token(32)
        code_verifier = generate_token(64)
        extra = {'nonce': nonce}
        if self.acr_values:
            extra['acr_values'] = self.acr_values
        if language:
            extra['ui_locales'] = language
        with self._session(redirect_uri) as session:
            url, _ = session.create_authorization_url(
                self.metadata()['authorization_endpoint'], state=state,
                code_verifier=code_verifier, **extra)
        return AuthRequest(url, state, nonce, code_verifier)

    def finish(self, redirect_uri, params, state, nonce, code_verifier):
        """Check the provider's answer (the callback's query parameters)
        against what was kept; return the verified claims (ID token and
        userinfo together)."""
        if params.get('error'):
            raise OIDCError('denied', str(params.get('error'))[:100])
        if not state or not hmac.compare_digest(
                str(params.get('state') or ''), state):
            raise OIDCError('state')
        # RFC 9207: when the provider names itself, it must be ours
        if params.get('iss') and params['iss'].rstrip('/') != self.issuer:
            raise OIDCError('state', 'issuer mismatch')
        code = params.get('code')
        if not code:
            raise OIDCError('exchange', 'no code')
        with self._session(redirect_uri) as session:
            try:
                token = session.fetch_token(
                    self.metadata()['token_endpoint'], code=code,
                    code_verifier=code_verifier,
                    grant_type='authorization_code', timeout=TIMEOUT)
            except OAuthError as exception:
                raise OIDCError('exchange', '%s %s' % (exception.error,
                        exception.description or '')) from exception
            except requests.RequestException as exception:
                raise OIDCError('exchange', str(exception)) from exception
            if not token.get('id_token'):
                raise OIDCError('id_token', 'no ID token')
            claims = dict(self.verify_id_token(
                    token['id_token'], nonce, token.get('access_token')))
            userinfo = self.userinfo(session, claims)
        for key, value in userinfo.items():
            claims.setdefault(key, value)
        return claims

    def verify_id_token(self, id_token, nonce, access_token=None):
        "Check signature and claims of an ID token; return its claims."
        metadata = self.metadata()
        algorithms = [a for a in metadata.get(
                'id_token_signing_alg_values_supported', ['RS256'])
            if a.startswith(ASYMMETRIC)] or ['RS256']
        registry = JWSRegistry(algorithms=algorithms)
        try:
            try:
                decoded = jwt.decode(id_token, self.key_set(),
                    registry=registry)
            except InvalidKeyIdError:
                decoded = jwt.decode(id_token, self.key_set(force=True),
                    registry=registry)
        except (JoseError, ValueError) as exception:
            raise OIDCError('id_token', '%s' % (
                    getattr(exception, 'error', '') or exception)
                ) from exception
        options = {
            'iss': {'essential': True, 'value': self.issuer},
            'aud': {'essential': True, 'value': self.client_id},
            'sub': {'essential': True},
            'exp': {'essential': True},
            }
        params = {'nonce': nonce, 'client_id': self.client_id}
        if access_token:
            params['access_token'] = access_token
        claims = CodeIDToken(decoded.claims, decoded.header, options, params)
        if claims.get('nonce') != nonce or not nonce:
            raise OIDCError('nonce')
        try:
            claims.validate(leeway=LEEWAY)
        except (JoseError, ValueError) as exception:
            raise OIDCError('id_token', '%s' % (
                    getattr(exception, 'error', '') or exception)
                ) from exception
        return claims

    def userinfo(self, session, claims):
        "The userinfo claims, which must be about the same subject."
        endpoint = self.metadata().get('userinfo_endpoint')
        if not endpoint or not session.token:
            return {}
        try:
            response = session.get(endpoint, timeout=TIMEOUT)
            response.raise_for_status()
            data = response.json()
        except (requests.RequestException, ValueError, OAuthError
                ) as exception:
            raise OIDCError('userinfo', str(exception)) from exception
        if not isinstance(data, dict) or data.get('sub') != claims['sub']:
            raise OIDCError('userinfo', 'subject mismatch')
        return data
