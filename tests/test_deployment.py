# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The production deployment files, checked without a container engine.

docker-compose.yml, Dockerfile, .dockerignore, .env.example, docker/* and
docs/deployment.md are read and held against each other, against trytond
and against what balie_video puts into its Jitsi tokens.  The entry point
(docker/entrypoint.sh) runs for real against the local PostgreSQL, with a
stand-in for trytond-admin.

Needs PyYAML and gunicorn (test dependencies; the tests that need one
skip without it)."""
import ast
import configparser
import contextlib
import datetime as dt
import functools
import importlib.metadata
import importlib.util
import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
from types import SimpleNamespace
from unittest import mock

import jwt

try:
    import yaml
except ImportError:  # pragma: no cover
    yaml = None

import trytond
from trytond import config as tconfig
from digitale_balie.tests.tools import no_database


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMPOSE = os.path.join(ROOT, 'docker-compose.yml')
DOCKERFILE = os.path.join(ROOT, 'Dockerfile')
DOCKERIGNORE = os.path.join(ROOT, '.dockerignore')
ENV_EXAMPLE = os.path.join(ROOT, '.env.example')
DOCKER_DIR = os.path.join(ROOT, 'docker')
# where the Dockerfile copies docker/*
IMAGE_LIB = '/usr/local/lib/balie/'
TRYTOND_CONF = os.path.join(DOCKER_DIR, 'trytond.conf')
ENTRYPOINT = os.path.join(DOCKER_DIR, 'entrypoint.sh')
DB_TOOL = os.path.join(DOCKER_DIR, 'balie_db.py')
DEPLOYMENT_DOC = os.path.join(ROOT, 'docs', 'deployment.md')
JITSI_DOC = os.path.join(ROOT, 'docs', 'jitsi.md')
MODULES_DIR = os.path.join(ROOT, 'modules')
BIN = os.path.dirname(sys.executable)

BALIE_SERVICES = {'trytond', 'portal', 'trytond-cron', 'trytond-worker'}
WEB_SERVICES = {'trytond', 'portal'}
JITSI_SERVICES = {'jitsi-web', 'prosody', 'jicofo', 'jvb'}
TURN_SERVICES = {'coturn'}
MODULES = ['digitale_balie', 'balie_video', 'balie_sign', 'balie_survey']

# The environment variables each official Jitsi image documents, as
# listed for it in docker-jitsi-meet's docker-compose.yml (the subset this
# project may set).
JITSI_IMAGE_VARIABLES = {
    'jitsi/web': {
        'PUBLIC_URL', 'ENABLE_AUTH', 'ENABLE_GUESTS', 'DISABLE_HTTPS',
        'ENABLE_HTTP_REDIRECT', 'ENABLE_LETSENCRYPT', 'ENABLE_WELCOME_PAGE',
        'ENABLE_PREJOIN_PAGE', 'DISABLE_DEEP_LINKING', 'ENABLE_RECORDING',
        'ENABLE_LIVESTREAMING', 'ENABLE_TRANSCRIPTIONS',
        'ENABLE_XMPP_WEBSOCKET', 'XMPP_DOMAIN', 'XMPP_AUTH_DOMAIN',
        'XMPP_MUC_DOMAIN', 'XMPP_GUEST_DOMAIN', 'XMPP_BOSH_URL_BASE', 'TZ',
        },
    'jitsi/prosody': {
        'PUBLIC_URL', 'ENABLE_AUTH', 'AUTH_TYPE', 'JWT_APP_ID',
        'JWT_APP_SECRET', 'JWT_ACCEPTED_ISSUERS', 'JWT_ACCEPTED_AUDIENCES',
        'JWT_ALLOW_EMPTY', 'ENABLE_GUESTS', 'ENABLE_LOBBY',
        'ENABLE_RECORDING', 'ENABLE_TRANSCRIPTIONS', 'ENABLE_XMPP_WEBSOCKET',
        'XMPP_MUC_MODULES', 'XMPP_DOMAIN', 'XMPP_AUTH_DOMAIN',
        'XMPP_MUC_DOMAIN', 'XMPP_INTERNAL_MUC_DOMAIN', 'XMPP_GUEST_DOMAIN',
        'JICOFO_AUTH_PASSWORD', 'JVB_AUTH_PASSWORD', 'TZ',
        },
    'jitsi/jicofo': {
        'ENABLE_AUTH', 'AUTH_TYPE', 'ENABLE_AUTO_OWNER',
        'ENABLE_MODERATOR_CHECKS', 'ENABLE_RECORDING',
        'ENABLE_TRANSCRIPTIONS', 'JICOFO_ENABLE_REST', 'JICOFO_AUTH_PASSWORD',
        'XMPP_DOMAIN', 'XMPP_AUTH_DOMAIN', 'XMPP_MUC_DOMAIN',
        'XMPP_INTERNAL_MUC_DOMAIN', 'XMPP_SERVER', 'TZ',
        },
    'jitsi/jvb': {
        'JVB_AUTH_PASSWORD', 'JVB_ADVERTISE_IPS', 'JVB_PORT',
        'XMPP_AUTH_DOMAIN', 'XMPP_INTERNAL_MUC_DOMAIN', 'XMPP_SERVER', 'TZ',
        },
    }

# values of .env.example that are examples, not secrets
SECRET_NAME = re.compile(r'PASSWORD|SECRET|PASSPHRASE|API_KEY|TOKEN', re.I)
PLACEHOLDER = 'change-me'

VARIABLE = re.compile(
    r'\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)'
    r'(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)')


class MissingVariable(Exception):
    pass


def interpolate(value, env):
    "Compose's interpolation of one string: ${V}, ${V:-d}, ${V:?e}, $$."
    def replace(match):
        if match.group(0) == '$$':
            return '$'
        name = match.group('name') or match.group('bare')
        op, arg = match.group('op'), match.group('arg')
        current = env.get(name)
        if op in {':-', ':?'}:
            unset = not current
        else:
            unset = current is None
        if unset:
            if op in {':-', '-'}:
                return arg
            if op in {':?', '?'}:
                raise MissingVariable('%s: %s' % (name, arg))
            return ''
        return current
    return VARIABLE.sub(replace, value)


def resolve(node, env):
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [resolve(n, env) for n in node]
    if isinstance(node, dict):
        return {k: resolve(v, env) for k, v in node.items()}
    return node


def read(path):
    with open(path, encoding='utf-8') as file:
        return file.read()


def load_compose():
    with open(COMPOSE, encoding='utf-8') as file:
        return yaml.safe_load(file)


def read_env_file(path=ENV_EXAMPLE):
    "KEY=VALUE lines as compose reads .env (quotes removed)."
    env = {}
    for line in read(path).splitlines():
        line = line.strip()
        if not line or line.startswith('#'):
            continue
        key, sep, value = line.partition('=')
        assert sep, line
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in '"\'':
            value = value[1:-1]
        env[key.strip()] = value
    return env


def _strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)
    elif isinstance(node, dict):
        for item in node.values():
            yield from _strings(item)


def compose_variables():
    "The names of every ${VAR} the compose file uses (not its comments)."
    return {m.group('name') or m.group('bare')
        for value in _strings(load_compose())
        for m in VARIABLE.finditer(value) if m.group(0) != '$$'}


def environment(service):
    env = service.get('environment') or {}
    if isinstance(env, list):
        env = dict(e.split('=', 1) if '=' in e else (e, None) for e in env)
    return {k: (None if v is None else str(v)) for k, v in env.items()}


def resolved_services(env=None):
    env = read_env_file() if env is None else env
    return resolve(load_compose(), env)['services']


def command(service):
    value = service.get('command')
    if isinstance(value, str):
        value = shlex.split(value)
    return value


def option_value(args, name):
    return args[args.index(name) + 1]


def trytond_config(env, config_file=TRYTOND_CONF):
    """A trytond configuration as a container reads it: TRYTOND_* from env,
    then the configuration file."""
    clean = {k: v for k, v in os.environ.items()
        if not k.startswith('TRYTOND_')}
    clean.update(env)
    with mock.patch.dict(os.environ, clean, clear=True):
        parser = tconfig.TrytonConfigParser()
        parser.update_etc(config_file)
    return parser


@contextlib.contextmanager
def trytond_config_in_force(parser):
    "Make trytond.config answer from parser for the duration."
    tconfig._cache_clear()
    try:
        with mock.patch.object(tconfig, '_config', parser):
            yield
    finally:
        tconfig._cache_clear()


CONFIG_METHODS = {'get', 'getint', 'getfloat', 'getboolean'}
CONFIG_NAMES = {'config', 'tconfig', 'trytond_config', '_config'}


def _python_files(top):
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = [d for d in dirnames if d != '__pycache__']
        for filename in filenames:
            if filename.endswith('.py'):
                yield os.path.join(dirpath, filename)


def scan_config_options(top):
    """(section, option) of every config.get*('section', 'option') with
    literal arguments under top."""
    found = set()
    for path in _python_files(top):
        try:
            tree = ast.parse(read(path))
        except (SyntaxError, UnicodeDecodeError):
            continue
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr in CONFIG_METHODS
                    and isinstance(node.func.value, ast.Name)
                    and node.func.value.id in CONFIG_NAMES
                    and len(node.args) >= 2
                    and all(isinstance(a, ast.Constant)
                        and isinstance(a.value, str)
                        for a in node.args[:2])):
                continue
            found.add((node.args[0].value, node.args[1].value))
    return found


def scan_environment_names(top):
    "TRYTOND_* names trytond reads with os.environ.get / os.getenv."
    found = set()
    for path in _python_files(top):
        found.update(re.findall(
                r"(?:environ\.get|getenv|environ\[)\(?\s*"
                r"""['"](TRYTOND_[A-Z_]+)['"]""",
                read(path)))
    return found


@functools.cache
def known_config_options():
    "What trytond and the project's modules read from the configuration."
    trytond_dir = os.path.dirname(trytond.__file__)
    defaults = trytond_config({}, config_file=None)
    options = {(s, o) for s in defaults.sections() for o in defaults[s]}
    return (options | scan_config_options(trytond_dir)
        | scan_config_options(MODULES_DIR))


def dockerfile_instructions():
    "(instruction, arguments) of the Dockerfile, continuation lines joined."
    lines, current = [], ''
    for line in read(DOCKERFILE).splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith('#')):
            continue
        if stripped.startswith('#'):
            continue
        if stripped.endswith('\\'):
            current += stripped[:-1] + ' '
            continue
        current += stripped
        instruction, _, args = current.partition(' ')
        lines.append((instruction.upper(), args.strip()))
        current = ''
    return lines


def dockerfile_stages():
    """[(name, base, [(instruction, args)])] of the Dockerfile."""
    stages, global_args = [], {}
    for instruction, args in dockerfile_instructions():
        if instruction == 'FROM':
            words = args.split()
            base = interpolate(words[0], global_args)
            name = (words[2] if len(words) >= 3
                and words[1].upper() == 'AS' else None)
            stages.append((name, base, []))
        elif not stages:
            if instruction == 'ARG':
                key, _, value = args.partition('=')
                global_args[key] = value
        else:
            stages[-1][2].append((instruction, args))
    return stages


def copy_arguments(args):
    "(options, sources, destination) of a COPY, JSON or plain form."
    words = shlex.split(args)
    options = [w for w in words if w.startswith('--')]
    rest = [w for w in words if not w.startswith('--')]
    if args.lstrip().startswith('['):
        rest = ast.literal_eval(args)
    return options, rest[:-1], rest[-1]


def dockerignore_patterns():
    patterns = []
    for line in read(DOCKERIGNORE).splitlines():
        line = line.strip()
        if line and not line.startswith('#'):
            patterns.append(line)
    return patterns


def _pattern_regex(pattern):
    "A .dockerignore pattern as a regular expression (Go filepath.Match)."
    regex, i = '', 0
    while i < len(pattern):
        if pattern.startswith('**/', i):
            regex, i = regex + '(?:.*/)?', i + 3
        elif pattern.startswith('**', i):
            regex, i = regex + '.*', i + 2
        elif pattern[i] == '*':
            regex, i = regex + '[^/]*', i + 1
        elif pattern[i] == '?':
            regex, i = regex + '[^/]', i + 1
        else:
            regex, i = regex + re.escape(pattern[i]), i + 1
    return regex


def _pattern_matches(pattern, path):
    "Whether pattern matches path or one of the folders it is in."
    regex = _pattern_regex(pattern.strip('/'))
    parts = path.strip('/').split('/')
    return any(re.fullmatch(regex, '/'.join(parts[:i]))
        for i in range(1, len(parts) + 1))


def dockerignored(path):
    "Whether .dockerignore keeps path out of the build context."
    ignored = False
    for pattern in dockerignore_patterns():
        negate = pattern.startswith('!')
        if _pattern_matches(pattern.lstrip('!'), path):
            ignored = not negate
    return ignored


def deployment_doc_names():
    "What docs/deployment.md writes as code: `NAME`, `NAME=...`."
    return set(re.findall(
            r'`([A-Za-z_][A-Za-z0-9_]*)\b', read(DEPLOYMENT_DOC)))


def jitsi_doc_settings():
    "KEY=VALUE of the docker-jitsi-meet .env block in docs/jitsi.md."
    text = read(JITSI_DOC)
    block = re.search(r'```sh\n(.*?)```', text, re.S).group(1)
    settings = {}
    for line in block.splitlines():
        line = line.split('#', 1)[0].strip()
        if '=' in line:
            key, _, value = line.partition('=')
            settings[key.strip()] = value.strip()
    return settings


def prosody_rejects(token, prosody, now):
    """Why prosody's token authentication (as configured by the compose
    environment of the jitsi/prosody image) would refuse token, or None.

    The checks of prosody's token module: HS256 with JWT_APP_SECRET, iss
    one of JWT_ACCEPTED_ISSUERS (JWT_APP_ID by default), aud one of
    JWT_ACCEPTED_AUDIENCES, sub the XMPP domain, nbf <= now < exp, a room
    claim; and the context the token_* MUC modules read."""
    if prosody.get('ENABLE_AUTH') != '1' or prosody.get('AUTH_TYPE') != 'jwt':
        return 'token authentication is off'
    if prosody.get('JWT_ALLOW_EMPTY') not in {'0', None}:
        return 'tokens are optional'
    issuers = (prosody.get('JWT_ACCEPTED_ISSUERS')
        or prosody['JWT_APP_ID']).split(',')
    audiences = (prosody.get('JWT_ACCEPTED_AUDIENCES') or '*').split(',')
    try:
        claims = jwt.decode(token, prosody['JWT_APP_SECRET'],
            algorithms=['HS256'], options={
                'verify_aud': False, 'verify_exp': False,
                'verify_nbf': False, 'verify_iat': False})
    except jwt.InvalidTokenError as exception:
        return 'signature: %s' % exception
    if claims.get('iss') not in issuers:
        return 'iss %r not accepted' % claims.get('iss')
    if '*' not in audiences and claims.get('aud') not in audiences:
        return 'aud %r not accepted' % claims.get('aud')
    if claims.get('sub') not in {prosody['XMPP_DOMAIN'], '*'}:
        return 'sub %r is not the XMPP domain' % claims.get('sub')
    timestamp = now.replace(tzinfo=dt.timezone.utc).timestamp()
    if not claims.get('nbf', 0) <= timestamp < claims.get('exp', 0):
        return 'not valid now'
    if not claims.get('room'):
        return 'no room'
    user = claims.get('context', {}).get('user', {})
    modules = prosody.get('XMPP_MUC_MODULES', '').split(',')
    if 'affiliation' in user and 'token_affiliation' not in modules:
        return 'affiliation in the token, but token_affiliation is off'
    if 'lobby_bypass' in user and 'token_lobby_bypass' not in modules:
        return 'lobby_bypass in the token, but token_lobby_bypass is off'
    return None



def runnable(args):
    """A service's command as it runs here: the image's copies of docker/*
    (/usr/local/lib/balie/..., see the Dockerfile) are the files in docker/."""
    return [os.path.join(DOCKER_DIR, arg[len(IMAGE_LIB):])
        if arg.startswith(IMAGE_LIB) else arg for arg in args]

@unittest.skipIf(yaml is None, "PyYAML is not installed (test dependency)")
@no_database
class ComposeTestCase(unittest.TestCase):
    "docker-compose.yml against trytond, the Dockerfile and the docs."

    def test_compose_parses_with_the_example_environment(self):
        "The compose file parses and every variable resolves."
        compose = load_compose()
        self.assertEqual(set(compose['services']),
            {'postgres'} | BALIE_SERVICES | JITSI_SERVICES | TURN_SERVICES)
        services = resolved_services()
        for name, service in services.items():
            with self.subTest(service=name):
                self.assertTrue(service.get('image'))
                self.assertNotIn('${', repr(service))
        for name in BALIE_SERVICES:
            self.assertIn('filestore:/var/lib/trytond/filestore',
                services[name]['volumes'])
        self.assertIn('postgres-data:/var/lib/postgresql/data',
            services['postgres']['volumes'])

    def test_secrets_are_required(self):
        "Without a secret in the environment compose refuses to start."
        text = read(COMPOSE)
        env = read_env_file()
        secret_names = {n for n in compose_variables()
            if SECRET_NAME.search(n)}
        optional = {'BALIE_OIDC_CLIENT_SECRET', 'BALIE_MOLLIE_API_KEY',
            'BALIE_ADMIN_PASSWORD'}
        required = secret_names - optional | {
            'BALIE_SMTP_URI', 'JITSI_PUBLIC_URL', 'BALIE_SIGNING_CERTIFICATE'}
        self.assertIn('JITSI_JWT_SECRET', required)
        self.assertIn('POSTGRES_PASSWORD', required)
        for name in sorted(required):
            with self.subTest(variable=name):
                # every use is ${NAME:?...}: no default to fall back to
                uses = re.findall(r'\$\{%s(:?[-?]?)' % name, text)
                self.assertTrue(uses)
                self.assertEqual(set(uses), {':?'})
                for value in ['', None]:
                    broken = dict(env)
                    if value is None:
                        del broken[name]
                    else:
                        broken[name] = value
                    with self.assertRaises(MissingVariable):
                        resolve(load_compose(), broken)
        # optional secrets are empty by default, never an invented value
        for name in optional:
            self.assertEqual(set(re.findall(
                        r'\$\{%s(:?[-?][^}]*)\}' % name, text)), {':-'})

    def test_every_service_has_a_health_check(self):
        for name, service in load_compose()['services'].items():
            with self.subTest(service=name):
                check = service.get('healthcheck')
                reason = service.get('x-healthcheck-reason')
                self.assertTrue(check or reason)
                if check:
                    self.assertFalse(check.get('disable'))
                    self.assertIn(check['test'][0], {'CMD', 'CMD-SHELL'})
                    self.assertGreater(len(check['test']), 1)
                    for key in ['interval', 'timeout', 'retries']:
                        self.assertIn(key, check)

    def test_commands_are_installed_entry_points(self):
        """Every command of the project's image is a console script of the
        installed trytond or gunicorn, with arguments they accept."""
        from trytond import commandline
        scripts = {e.name: e.value for e in importlib.metadata.distribution(
                'trytond').entry_points if e.group == 'console_scripts'}
        for name in ['trytond', 'trytond-admin', 'trytond-cron',
                'trytond-worker']:
            self.assertIn(name, scripts)
        try:
            gunicorn = importlib.metadata.distribution('gunicorn')
        except importlib.metadata.PackageNotFoundError:
            raise unittest.SkipTest(
                "gunicorn is not installed (test dependency)")
        self.assertIn('gunicorn', {e.name for e in gunicorn.entry_points
                if e.group == 'console_scripts'})
        dockerfile = read(DOCKERFILE)
        self.assertRegex(dockerfile, r'pip install "\.\[postgresql\]" '
            r'"gunicorn==\$\{GUNICORN_VERSION\}"')
        parsers = {
            'trytond-cron': commandline.get_parser_cron,
            'trytond-worker': commandline.get_parser_worker,
            }
        services = resolved_services()
        for name in sorted(BALIE_SERVICES):
            args = command(services[name])
            with self.subTest(service=name, command=args):
                program = args[0]
                self.assertIn(program, set(scripts) | {'gunicorn'})
                if program in parsers:
                    options = parsers[program]().parse_args(args[1:])
                    self.assertEqual(options.database_names, ['balie'])
                if program == 'gunicorn':
                    module, _, attribute = args[-1].partition(':')
                    self.assertEqual((module, attribute),
                        ('trytond.application', 'app'))
                    self.assertIsNotNone(importlib.util.find_spec(module))
        # the Dockerfile's default command is the trytond service's
        stages = dockerfile_stages()
        cmd = [args for instruction, args in stages[-1][2]
            if instruction == 'CMD']
        self.assertEqual(ast.literal_eval(cmd[-1])[0], 'gunicorn')

    def test_gunicorn_accepts_the_command_line(self):
        """gunicorn --check-config loads trytond.application:app with the
        compose file's options and docker/trytond.conf."""
        gunicorn = os.path.join(BIN, 'gunicorn')
        if not os.path.exists(gunicorn):
            raise unittest.SkipTest(
                "gunicorn is not installed (test dependency)")
        services = resolved_services()
        env = {k: v for k, v in os.environ.items()
            if not k.startswith('TRYTOND_')}
        env['TRYTOND_CONFIG'] = TRYTOND_CONF
        for name in sorted(WEB_SERVICES):
            args = runnable(command(services[name]))
            with self.subTest(service=name):
                result = subprocess.run(
                    [gunicorn, '--check-config'] + args[1:],
                    env=env, cwd=tempfile.gettempdir(), capture_output=True,
                    text=True, timeout=120)
                self.assertEqual(result.returncode, 0, result.stderr[-2000:])
                self.assertGreater(int(option_value(args, '--workers')), 1)
                # workers live longer than trytond's own request timeout
                self.assertGreater(int(option_value(args, '--timeout')),
                    trytond_config({}).getint('request', 'timeout'))
        # and a wrong option is refused: the check can fail
        result = subprocess.run(
            [gunicorn, '--check-config', '--workers', 'many',
                'trytond.application:app'], env=env,
            cwd=tempfile.gettempdir(), capture_output=True, timeout=120)
        self.assertNotEqual(result.returncode, 0)

    def test_published_ports_match_web_listen(self):
        "gunicorn binds [web] listen; the published ports are that one."
        parser = trytond_config({})
        listen = parser.get('web', 'listen')
        (host, port), = tconfig.parse_listen(listen)
        self.assertEqual(host, '0.0.0.0')
        services = resolved_services()
        published = {}
        for name in sorted(BALIE_SERVICES):
            service = services[name]
            args = command(service)
            if args[0] == 'gunicorn':
                self.assertEqual(option_value(args, '--bind'), listen)
            for mapping in service.get('ports', []):
                host_ip, host_port, container_port = str(mapping).split(':')
                self.assertEqual(int(container_port), port)
                self.assertEqual(host_ip, '127.0.0.1')
                published[name] = int(host_port)
        self.assertEqual(set(published), WEB_SERVICES)
        self.assertEqual(len(set(published.values())), len(published))
        self.assertIn('EXPOSE %s' % port, read(DOCKERFILE))
        # the health checks ask the port gunicorn listens on
        for name in WEB_SERVICES:
            url = services[name]['healthcheck']['test'][3]
            self.assertEqual(urllib.parse.urlsplit(url).port, port)
        # nothing but the web services and the video bridge's UDP media
        # port is published
        for name, service in services.items():
            if name in WEB_SERVICES:
                continue
            for mapping in service.get('ports', []):
                self.assertTrue(str(mapping).startswith('127.0.0.1:')
                    or str(mapping).endswith('/udp'), (name, mapping))

    def test_trytond_environment_maps_to_real_options(self):
        """Every TRYTOND_<SECTION>__<OPTION> is an option trytond or a
        module reads; every other TRYTOND_* one trytond knows."""
        known = known_config_options()
        # the scanner sees both trytond's and the modules' options
        for option in [('web', 'cors'), ('database', 'path'),
                ('balie_video', 'jitsi_secret'), ('balie', 'secret'),
                ('balie_sign', 'passphrase'), ('cache', 'clean_timeout')]:
            self.assertIn(option, known)
        self.assertNotIn(('attachment', 'path'), known)
        environment_names = scan_environment_names(
            os.path.dirname(trytond.__file__))
        self.assertIn('TRYTOND_DATABASE_NAMES', environment_names)
        for name, service in load_compose()['services'].items():
            for key in environment(service):
                if not key.startswith('TRYTOND_'):
                    continue
                with self.subTest(service=name, variable=key):
                    if '__' in key:
                        section, option = key[len('TRYTOND_'):].lower(
                            ).split('__', 1)
                        self.assertTrue((section, option) in known,
                            "no [%s] %s in trytond or modules/"
                            % (section, option))
                    else:
                        self.assertTrue(key in environment_names,
                            "trytond reads no %s" % key)

    def test_configuration_file_leaves_the_environment_in_force(self):
        """docker/trytond.conf sets no option the environment sets (a file
        wins over the environment in trytond) and only real options."""
        known = known_config_options()
        file_config = configparser.ConfigParser(interpolation=None)
        file_config.read(TRYTOND_CONF)
        file_options = {(s, o) for s in file_config.sections()
            for o in file_config[s]}
        for option in file_options:
            self.assertTrue(option in known, "[%s] %s is read by nobody"
                % option)
        services = resolved_services()
        for name in sorted(BALIE_SERVICES):
            env = {k: v for k, v in environment(services[name]).items()
                if k.startswith('TRYTOND_') and '__' in k}
            env_options = {tuple(k[len('TRYTOND_'):].lower().split('__', 1))
                for k in env}
            self.assertFalse(env_options & file_options, name)
            # as the container sees it: the environment's values count
            parser = trytond_config(env)
            for key, value in env.items():
                section, option = key[len('TRYTOND_'):].lower().split('__', 1)
                self.assertEqual(parser.get(section, option), value, key)
        # the settings several processes need
        parser = trytond_config({})
        self.assertEqual(parser.getint('cache', 'clean_timeout'), 0)
        self.assertTrue(parser.getboolean('queue', 'worker'))
        self.assertFalse(parser.getboolean('database', 'list'))
        self.assertEqual(parser.getint('web', 'num_proxies'), 1)
        self.assertTrue(parser.get('database', 'uri').startswith('sqlite'),
            "the URI must come from the environment only")
        # the control: a value in the file does win over the environment
        with tempfile.NamedTemporaryFile('w', suffix='.conf') as file:
            file.write('[balie]\nsecret = from-file\n')
            file.flush()
            self.assertEqual(trytond_config(
                    {'TRYTOND_BALIE__SECRET': 'from-env'}, file.name).get(
                    'balie', 'secret'), 'from-file')

    def test_every_variable_is_documented(self):
        """Every ${VAR} is in .env.example and docs/deployment.md; the
        example holds placeholders, not secrets."""
        used = compose_variables()
        example = read_env_file()
        words = deployment_doc_names()
        for name in sorted(used):
            with self.subTest(variable=name):
                self.assertIn(name, example)
                self.assertIn(name, words)
        self.assertFalse(set(example) - used,
            ".env.example lists variables compose does not use")
        for name, value in example.items():
            if SECRET_NAME.search(name) or name.endswith('_URI'):
                with self.subTest(variable=name):
                    if value and not value.startswith('./'):
                        self.assertIn(PLACEHOLDER, value)

    def test_no_literal_secret(self):
        """No password, key or token is written into compose, the
        Dockerfile or docker/*; they all come from ${VAR}."""
        files = [COMPOSE, DOCKERFILE, ENV_EXAMPLE] + [
            os.path.join(DOCKER_DIR, f) for f in os.listdir(DOCKER_DIR)
            if os.path.isfile(os.path.join(DOCKER_DIR, f))
            and not f.endswith('.pyc')]
        assignment = re.compile(
            r'(?<![\w${])(?P<key>[A-Za-z_]*'
            r'(?:password|secret|passphrase|api_key|apikey|token)[A-Za-z_]*)'
            r'[ \t]*[:=][ \t]*(?P<value>[^\s#,\]]+)',
            re.I)
        userinfo = re.compile(r'://[^/\s:@]+:(?P<password>[^@\s/]+)@')
        for path in files:
            text = read(path)
            with self.subTest(file=os.path.relpath(path, ROOT)):
                self.assertNotIn('-----BEGIN', text)
                # Python code names passwords without holding one
                settings = '' if path.endswith('.py') else '\n'.join(
                    line for line in text.splitlines()
                    if not line.lstrip().startswith('#'))
                for match in assignment.finditer(settings):
                    value = match.group('value').strip('"\'')
                    if path == ENV_EXAMPLE:
                        self.assertTrue(not value or PLACEHOLDER in value,
                            match.group(0))
                        continue
                    self.assertTrue(
                        value.startswith('${') or value.startswith('$')
                        or value.startswith('/run/secrets/')
                        or value in {'', 'None', 'none'},
                        match.group(0))
                for match in userinfo.finditer(text):
                    password = match.group('password')
                    self.assertTrue(password.startswith('${')
                        or PLACEHOLDER in password, match.group(0))
        # the build context never holds the .env with the real secrets
        self.assertTrue(dockerignored('.env'))

    def test_jitsi_settings_agree_with_docs(self):
        """The Jitsi services carry every setting docs/jitsi.md asks for,
        with the same value, and only variables their images document."""
        services = resolved_services()
        documented = jitsi_doc_settings()
        self.assertIn('XMPP_MUC_MODULES', documented)
        jitsi_env = {n: environment(services[n]) for n in JITSI_SERVICES}
        for key, value in documented.items():
            with self.subTest(setting=key):
                carriers = {n for n, env in jitsi_env.items() if key in env}
                self.assertTrue(carriers, "%s is set by no service" % key)
                if key == 'JWT_APP_SECRET':
                    continue
                for name in carriers:
                    self.assertEqual(jitsi_env[name][key], value, name)
        for name in JITSI_SERVICES:
            image = services[name]['image'].split(':')[0]
            with self.subTest(service=name):
                self.assertIn(image, JITSI_IMAGE_VARIABLES)
                self.assertLessEqual(set(jitsi_env[name]),
                    JITSI_IMAGE_VARIABLES[image])
                self.assertNotIn('command', services[name])
        # the plugins token_affiliation, ... are where prosody loads them
        self.assertTrue(any(v.endswith(':/prosody-plugins-custom:ro')
                for v in services['prosody']['volumes']))
        # one XMPP domain for the whole stack
        domains = {env['XMPP_DOMAIN'] for env in jitsi_env.values()
            if 'XMPP_DOMAIN' in env}
        self.assertEqual(domains, {'meet.jitsi'})
        self.assertEqual(jitsi_env['jitsi-web']['PUBLIC_URL'],
            jitsi_env['prosody']['PUBLIC_URL'])
        self.assertIn(
            'xmpp.meet.jitsi',
            services['prosody']['networks']['meet.jitsi']['aliases'])
        for name in ['jicofo', 'jvb']:
            self.assertEqual(jitsi_env[name]['XMPP_SERVER'], 'xmpp.meet.jitsi')

    def test_balie_video_tokens_are_accepted_by_prosody(self):
        """Configured from the same values, balie_video issues tokens the
        compose file's prosody accepts: app id = iss (and accepted
        issuer), audience, XMPP domain = sub, the secret of
        TRYTOND_BALIE_VIDEO__JITSI_SECRET = JWT_APP_SECRET."""
        from balie_video import jitsi
        from balie_video.configuration import Configuration

        env = read_env_file()
        # a fresh secret, so that only the variable, not a copy of a
        # value, can make the two sides agree
        env['JITSI_JWT_SECRET'] = secrets.token_hex(32)
        services = resolved_services(env)
        trytond_env = environment(services['trytond'])
        prosody = environment(services['prosody'])
        web = environment(services['jitsi-web'])

        # what the functional administrator enters in Digitale Balie's
        # configuration (docs/deployment.md): from the same .env
        record = SimpleNamespace(
            jitsi_domain=urllib.parse.urlsplit(
                env['JITSI_PUBLIC_URL']).hostname,
            jitsi_app_id=env['JITSI_APP_ID'],
            jitsi_xmpp_domain=env['JITSI_XMPP_DOMAIN'],
            jitsi_audience=env['JITSI_AUDIENCE'],
            jitsi_secret='typed-in-the-client-' + secrets.token_hex(16))
        parser = trytond_config({k: v for k, v in trytond_env.items()
                if k.startswith('TRYTOND_')})
        with trytond_config_in_force(parser):
            secret = Configuration.get_jitsi_secret(record)
        # the server configuration wins over the field
        self.assertEqual(secret, env['JITSI_JWT_SECRET'])

        now = dt.datetime(2026, 3, 3, 9, 50)
        start = dt.datetime(2026, 3, 3, 10, 0)
        end = start + dt.timedelta(minutes=30)
        room = jitsi.new_room_name()

        def token(role, **changes):
            values = dict(
                secret=secret, app_id=record.jitsi_app_id,
                domain=record.jitsi_xmpp_domain or record.jitsi_domain,
                audience=record.jitsi_audience or 'jitsi', room=room,
                user_id='citizen-1', name='An Peeters', affiliation=role,
                lobby_bypass=role == jitsi.OWNER,
                not_before=start - dt.timedelta(minutes=16),
                expires=end + dt.timedelta(minutes=30))
            values.update(changes)
            return jitsi.room_token(**values)

        for role in [jitsi.OWNER, jitsi.MEMBER]:
            with self.subTest(role=role):
                self.assertIsNone(prosody_rejects(token(role), prosody, now))
                self.assertIsNone(prosody_rejects(
                        token(role), prosody, end + dt.timedelta(minutes=29)))
        # the citizen's meeting is on the public address of jitsi-web
        self.assertTrue(jitsi.meeting_url(record.jitsi_domain, room,
                token(jitsi.OWNER)).startswith(web['PUBLIC_URL'] + '/'))
        self.assertEqual(web['XMPP_DOMAIN'], record.jitsi_xmpp_domain)

        # the control: the check refuses what prosody would refuse
        self.assertIn('iss', prosody_rejects(
                token(jitsi.MEMBER, app_id='other'), prosody, now))
        self.assertIn('aud', prosody_rejects(
                token(jitsi.MEMBER, audience='other'), prosody, now))
        self.assertIn('sub', prosody_rejects(
                token(jitsi.MEMBER, domain=record.jitsi_domain), prosody,
                now))
        self.assertIn('signature', prosody_rejects(
                token(jitsi.MEMBER, secret=record.jitsi_secret), prosody,
                now))
        self.assertIn('not valid', prosody_rejects(
                token(jitsi.MEMBER), prosody, end + dt.timedelta(hours=1)))
        without_plugins = dict(prosody, XMPP_MUC_MODULES='')
        self.assertIn('token_affiliation', prosody_rejects(
                token(jitsi.MEMBER), without_plugins, now))


@unittest.skipIf(yaml is None, "PyYAML is not installed (test dependency)")
@no_database
class DockerfileTestCase(unittest.TestCase):
    "The Dockerfile, its build context and what runs in the container."

    def test_stages_and_copy_sources_exist(self):
        stages = dockerfile_stages()
        names = [name for name, _, _ in stages]
        self.assertEqual(names, ['sao', 'python', None])
        self.assertEqual(stages[-1][1], 'python:3.11-slim-bookworm')
        self.assertEqual(stages[1][1], 'python:3.11-slim-bookworm')
        for index, (name, base, instructions) in enumerate(stages):
            for instruction, args in instructions:
                if instruction not in {'COPY', 'ADD'}:
                    continue
                self.assertEqual(instruction, 'COPY', "no ADD from URLs")
                options, sources, destination = copy_arguments(args)
                origin = [o.split('=', 1)[1] for o in options
                    if o.startswith('--from=')]
                with self.subTest(copy=args):
                    if origin:
                        # an earlier stage of this Dockerfile
                        self.assertIn(origin[0], names[:index])
                        continue
                    for source in sources:
                        self.assertTrue(os.path.exists(
                                os.path.join(ROOT, source)), source)
                        self.assertFalse(dockerignored(source), source)
                        if os.path.isdir(os.path.join(ROOT, source)):
                            for dirpath, _, filenames in os.walk(
                                    os.path.join(ROOT, source)):
                                # build leftovers stay out on purpose
                                if ('__pycache__' in dirpath
                                        or '.egg-info' in dirpath):
                                    continue
                                for filename in filenames:
                                    if filename.endswith('.pyc'):
                                        continue
                                    relative = os.path.relpath(
                                        os.path.join(dirpath, filename),
                                        ROOT)
                                    self.assertFalse(dockerignored(relative),
                                        relative)

    def test_build_context_is_an_allowlist(self):
        "Secrets, the venv and build leftovers stay out of the image."
        for path in ['.env', '.git/config', '.venv/bin/python',
                'var/admin.pass', 'artifacts/x.png', 'secrets/x.p12',
                'modules/digitale_balie/__pycache__/web.cpython-311.pyc',
                'modules/digitale_balie.egg-info/PKG-INFO']:
            self.assertTrue(dockerignored(path), path)
        for path in ['pyproject.toml', 'README.md', 'COPYRIGHT',
                'modules/digitale_balie/web.py',
                'modules/balie_video/templates/static/waiting.js',
                'docker/trytond.conf']:
            self.assertFalse(dockerignored(path), path)

    def test_image_layout_matches_the_configuration(self):
        """sao lands in [web] root, the configuration where TRYTOND_CONFIG
        points, the scripts where the entry point and health checks run
        them; the image runs as a user, not root."""
        final = dockerfile_stages()[-1][2]
        copies = {}
        for instruction, args in final:
            if instruction == 'COPY':
                options, sources, destination = copy_arguments(args)
                for source in sources:
                    copies[source] = destination
        parser = trytond_config({})
        self.assertEqual(copies['/build/node_modules/tryton-sao'],
            parser.get('web', 'root'))
        env = ' '.join(args for instruction, args in final
            if instruction == 'ENV')
        self.assertIn('TRYTOND_CONFIG=%s' % copies['docker/trytond.conf'],
            env)
        scripts = copies['docker/entrypoint.sh']
        self.assertEqual(copies['docker/healthcheck.py'], scripts)
        self.assertEqual(copies['docker/balie_db.py'], scripts)
        entrypoint, = [ast.literal_eval(args) for instruction, args in final
            if instruction == 'ENTRYPOINT']
        self.assertEqual(entrypoint,
            [os.path.join(scripts, 'entrypoint.sh')])
        users = [args for instruction, args in final if instruction == 'USER']
        self.assertTrue(users)
        self.assertNotIn(users[-1], {'root', '0'})
        self.assertTrue(os.access(ENTRYPOINT, os.X_OK))
        # the health checks run scripts that are in the image
        for name, service in resolved_services().items():
            test = service['healthcheck']['test']
            if test[0] == 'CMD' and test[1] == 'python':
                self.assertEqual(os.path.dirname(test[2]),
                    scripts.rstrip('/'))
                self.assertTrue(os.path.exists(os.path.join(
                            DOCKER_DIR, os.path.basename(test[2]))))
        # the file store volume is where trytond keeps the files
        self.assertIn('VOLUME ["%s"]' % parser.get('database', 'path'),
            read(DOCKERFILE))
        # sao 8.0 from npm, the modules with the PostgreSQL extra
        sao_stage = dockerfile_stages()[0][2]
        self.assertIn(('ARG', 'SAO_VERSION=8.0'), sao_stage)
        self.assertIn('"tryton-sao@${SAO_VERSION}"', read(DOCKERFILE))

    def test_nothing_is_fetched_at_run_time(self):
        """The entry point, the helper scripts and the commands install
        and download nothing; pip in the image has no index."""
        fetchers = re.compile(
            r'\b(pip3?|npm|npx|apt-get|apt|curl|wget|git)\b\s+\w|'
            r'urlopen\(\s*["\']https?://')
        for name in ['entrypoint.sh', 'balie_db.py', 'healthcheck.py']:
            text = '\n'.join(line for line in read(
                    os.path.join(DOCKER_DIR, name)).splitlines()
                if not line.lstrip().startswith('#'))
            self.assertIsNone(fetchers.search(text), name)
        services = resolved_services()
        for name in BALIE_SERVICES:
            args = ' '.join(command(services[name]))
            self.assertIsNone(fetchers.search(args), name)
            for word in services[name]['healthcheck']['test']:
                if word.startswith('http'):
                    self.assertEqual(
                        urllib.parse.urlsplit(word).hostname, '127.0.0.1')
        final = dockerfile_stages()[-1][2]
        env = ' '.join(a for i, a in final if i == 'ENV')
        self.assertIn('PIP_NO_INDEX=1', env)
        # the last stage installs Debian packages only, no pip or npm
        for instruction, args in final:
            if instruction == 'RUN':
                self.assertNotRegex(args, r'\b(pip|npm)\b')
        # the sao files are baked into the image from the build stage
        self.assertTrue(any(i == 'COPY' and '--from=sao' in a
                for i, a in final))


@no_database
class HealthCheckTestCase(unittest.TestCase):
    "docker/healthcheck.py, and the web service's command behind it."

    def healthcheck(self, *args):
        return subprocess.run(
            [sys.executable, os.path.join(DOCKER_DIR, 'healthcheck.py')]
            + list(args), capture_output=True, text=True, timeout=60)

    def test_health_check_script(self):
        import http.server
        import threading

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                status = 200 if self.path == '/ok' else 503
                body = b':root { --brand: #0b4ea2; }'
                self.send_response(status)
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        url = 'http://127.0.0.1:%d' % server.server_address[1]
        self.assertEqual(self.healthcheck(url + '/ok').returncode, 0)
        self.assertEqual(
            self.healthcheck(url + '/ok', '--brand').returncode, 0)
        result = self.healthcheck(url + '/ok', '<title>Tryton')
        self.assertEqual(result.returncode, 1)
        self.assertIn('not in the answer', result.stderr)
        result = self.healthcheck(url + '/busy')
        self.assertEqual(result.returncode, 1)
        self.assertIn('HTTP 503', result.stderr)
        server.shutdown()
        server.server_close()
        self.assertEqual(self.healthcheck(url + '/ok').returncode, 1)

    @unittest.skipIf(yaml is None, "PyYAML is not installed")
    def test_web_service_serves_sao_to_its_health_check(self):
        """The trytond service's gunicorn command with docker/trytond.conf
        starts several worker processes and answers its health check with
        sao's page."""
        gunicorn = os.path.join(BIN, 'gunicorn')
        sao = os.path.join(ROOT, 'var', 'sao', 'node_modules', 'tryton-sao')
        if not os.path.exists(gunicorn):
            raise unittest.SkipTest(
                "gunicorn is not installed (test dependency)")
        if not os.path.exists(os.path.join(sao, 'index.html')):
            raise unittest.SkipTest("sao is not installed (scripts/sao)")
        tmp = tempfile.mkdtemp(prefix='balie-web-')
        self.addCleanup(shutil.rmtree, tmp, True)
        # the image's configuration, with sao where this machine has it
        conf = configparser.ConfigParser(interpolation=None)
        conf.read(TRYTOND_CONF)
        conf['web']['root'] = sao
        conf['database']['path'] = tmp
        config_file = os.path.join(tmp, 'trytond.conf')
        with open(config_file, 'w') as file:
            conf.write(file)
        import socket
        with socket.socket() as probe:
            probe.bind(('127.0.0.1', 0))
            port = probe.getsockname()[1]
        args = runnable(command(resolved_services()['trytond']))
        args[args.index('--bind') + 1] = '127.0.0.1:%d' % port
        # two workers are enough to see several, and spare the machine
        args[args.index('--workers') + 1] = '2'
        workers = 2
        env = {k: v for k, v in os.environ.items()
            if not k.startswith('TRYTOND_')}
        env['TRYTOND_CONFIG'] = config_file
        process = subprocess.Popen([gunicorn] + args[1:], env=env, cwd=tmp,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

        def stop():
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            process.stderr.close()
        self.addCleanup(stop)
        test = resolved_services()['trytond']['healthcheck']['test']
        url = test[3].replace(':8000/', ':%d/' % port)
        deadline = time.monotonic() + 90
        while True:
            result = self.healthcheck(url, test[4])
            if result.returncode == 0 or time.monotonic() > deadline:
                break
            self.assertIsNone(process.poll(), "gunicorn stopped")
            time.sleep(0.5)
        self.assertEqual(result.returncode, 0, result.stderr)
        children = subprocess.run(['ps', '-o', 'pid=', '--ppid',
                str(process.pid)], capture_output=True, text=True).stdout
        self.assertEqual(len(children.split()), workers)
        # and a page that is not there is not healthy
        self.assertEqual(self.healthcheck(
                url + 'no-such-file.html').returncode, 1)


class EntrypointTestCase(unittest.TestCase):
    """docker/entrypoint.sh against the local PostgreSQL, with a stand-in
    trytond-admin that records how it was called."""

    @classmethod
    def setUpClass(cls):
        uri = os.environ.get('TRYTOND_DATABASE_URI', '')
        if not uri.startswith('postgresql'):
            raise unittest.SkipTest(
                "the entry point needs PostgreSQL: run with "
                "TRYTOND_DATABASE_URI=postgresql://...")
        cls.uri = uri
        # no __pycache__ in docker/ (it is the image's build context)
        spec = importlib.util.spec_from_file_location('balie_db', DB_TOOL)
        balie_db = importlib.util.module_from_spec(spec)
        with mock.patch.object(sys, 'dont_write_bytecode', True):
            spec.loader.exec_module(balie_db)
        cls.balie_db = balie_db
        import psycopg
        cls.psycopg = psycopg
        try:
            psycopg.connect(**balie_db.conninfo(uri), connect_timeout=3
                ).close()
        except psycopg.OperationalError as exception:
            raise unittest.SkipTest(
                "needs PostgreSQL (%s): %s" % (uri, exception))

    def setUp(self):
        self.database = 'balie_deploy_%d_%s' % (
            os.getpid(), secrets.token_hex(3))
        self.addCleanup(self.drop_database)
        self.tmp = tempfile.mkdtemp(prefix='balie-entrypoint-')
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.calls = os.path.join(self.tmp, 'calls')
        bin_dir = os.path.join(self.tmp, 'bin')
        os.mkdir(bin_dir)
        fake = os.path.join(bin_dir, 'trytond-admin')
        with open(fake, 'w') as file:
            file.write(
                '#!/bin/sh\n'
                '{\n'
                '  printf "args:%s\\n" "$*"\n'
                '  printf "password:%s\\n" "$(cat "$TRYTONPASSFILE")"\n'
                '  printf "passfile:%s\\n" "$TRYTONPASSFILE"\n'
                '  printf "mode:%s\\n" "$(stat -c %a "$TRYTONPASSFILE")"\n'
                '  printf "stdin:%s\\n" "$(cat | od -An -c | tr -d " ")"\n'
                '} >> "$BALIE_TEST_CALLS"\n')
        os.chmod(fake, 0o755)
        self.path = os.pathsep.join([bin_dir, BIN, os.environ['PATH']])

    def drop_database(self):
        with self.psycopg.connect(**self.balie_db.conninfo(self.uri),
                autocommit=True) as connection:
            connection.execute('DROP DATABASE IF EXISTS "%s"' % self.database)

    def database_exists(self):
        with self.psycopg.connect(**self.balie_db.conninfo(self.uri),
                autocommit=True) as connection:
            return connection.execute(
                'SELECT 1 FROM pg_database WHERE datname = %s',
                (self.database,)).fetchone() is not None

    def run_entrypoint(self, *command, uri=None, **env):
        environment = {k: v for k, v in os.environ.items()
            if not k.startswith(('TRYTOND_', 'BALIE_', 'DB_'))}
        environment.update({
                'PATH': self.path,
                'TRYTOND_CONFIG': TRYTOND_CONF,
                'TRYTOND_DATABASE__URI': uri or self.uri,
                'BALIE_DATABASE': self.database,
                'BALIE_TEST_CALLS': self.calls,
                })
        environment.update(env)
        marker = os.path.join(self.tmp, 'ran')
        command = command or ('sh', '-c', 'echo "$0 $*" > %s' % marker,
            'gunicorn', '--bind')
        start = time.monotonic()
        result = subprocess.run(['sh', ENTRYPOINT] + list(command),
            env=environment, capture_output=True, text=True, timeout=120)
        result.seconds = time.monotonic() - start
        result.ran = os.path.exists(marker)
        if result.ran:
            os.unlink(marker)
        return result

    def admin_calls(self):
        if not os.path.exists(self.calls):
            return []
        calls, current = [], {}
        for line in open(self.calls).read().splitlines():
            key, _, value = line.partition(':')
            current[key] = value
            if key == 'stdin':
                calls.append(current)
                current = {}
        return calls

    def mark_ready(self):
        "What trytond-admin leaves behind: the four modules activated."
        with self.psycopg.connect(**self.balie_db.conninfo(
                    self.uri, self.database), autocommit=True) as connection:
            connection.execute(
                'CREATE TABLE ir_module (name VARCHAR, state VARCHAR)')
            for name in MODULES:
                connection.execute(
                    "INSERT INTO ir_module VALUES (%s, 'activated')", (name,))

    def test_no_database_is_created_unless_asked(self):
        result = self.run_entrypoint()
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertTrue(result.ran)
        self.assertFalse(self.database_exists())
        self.assertEqual(self.admin_calls(), [])

    def test_first_start_creates_and_activates_once(self):
        password = 'pw-' + secrets.token_hex(8)
        result = self.run_entrypoint(BALIE_DATABASE_INIT='1',
            BALIE_ADMIN_PASSWORD=password)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertTrue(result.ran, "the service's command runs afterwards")
        self.assertTrue(self.database_exists())
        call, = self.admin_calls()
        args = call['args'].split()
        self.assertEqual(args, ['-d', self.database, '--all', '-u']
            + MODULES + ['--activate-dependencies', '-l', 'nl', 'fr'])
        # arguments the real trytond-admin accepts
        from trytond import commandline
        options = commandline.get_parser_admin().parse_args(args)
        self.assertEqual(options.update, MODULES)
        self.assertTrue(options.activatedeps)
        # the password reached it through TRYTONPASSFILE, a private file
        # that is gone afterwards, and its e-mail question got "none"
        self.assertEqual(call['password'], password)
        self.assertEqual(call['mode'], '600')
        self.assertFalse(os.path.exists(call['passfile']))
        self.assertEqual(call['stdin'], '\\n')
        self.assertNotIn(password, result.stdout + result.stderr)

        # a half-done first start (database there, modules not activated)
        # is finished on the next start, without creating it again
        result = self.run_entrypoint(BALIE_DATABASE_INIT='1',
            BALIE_ADMIN_PASSWORD=password, BALIE_ADMIN_EMAIL='a@b.example')
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(len(self.admin_calls()), 2)
        self.assertIn('--email a@b.example', self.admin_calls()[1]['args'])

        # once activated, later starts leave the database alone
        self.mark_ready()
        result = self.run_entrypoint(BALIE_DATABASE_INIT='1',
            BALIE_ADMIN_PASSWORD=password)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertTrue(result.ran)
        self.assertEqual(len(self.admin_calls()), 2)
        self.assertIn('is ready', result.stderr)

    def test_first_start_needs_the_admin_password(self):
        result = self.run_entrypoint(BALIE_DATABASE_INIT='1')
        self.assertNotEqual(result.returncode, 0)
        self.assertFalse(result.ran)
        self.assertFalse(self.database_exists())
        self.assertIn('BALIE_ADMIN_PASSWORD', result.stderr)

    def test_waits_for_the_server_then_gives_up(self):
        # a port nobody listens on
        result = self.run_entrypoint(BALIE_DATABASE_WAIT='2',
            BALIE_DATABASE_INIT='1', BALIE_ADMIN_PASSWORD='x',
            uri='postgresql://balie:hidden-pw@127.0.0.1:9/')
        self.assertNotEqual(result.returncode, 0)
        self.assertFalse(result.ran)
        self.assertGreaterEqual(result.seconds, 2)
        self.assertLess(result.seconds, 30)
        self.assertNotIn('hidden-pw', result.stdout + result.stderr)
        self.assertEqual(self.admin_calls(), [])

    def test_health_check_of_cron_and_worker(self):
        "balie_db.py ping: healthy only when the database answers."
        environment = dict(os.environ, TRYTOND_CONFIG=TRYTOND_CONF,
            TRYTOND_DATABASE__URI=self.uri)
        environment.pop('TRYTOND_DATABASE_URI', None)

        def ping():
            return subprocess.run(
                [sys.executable, DB_TOOL, 'ping', self.database],
                env=environment, capture_output=True, timeout=60).returncode
        self.assertEqual(ping(), 1)
        self.balie_db_create()
        self.assertEqual(ping(), 0)

    def balie_db_create(self):
        with mock.patch.dict(os.environ, {'TRYTOND_DATABASE__URI': self.uri}):
            with mock.patch.object(self.balie_db, 'database_uri',
                    return_value=self.uri):
                self.balie_db.create(self.database)

    def test_uri_to_connection_keywords(self):
        info = self.balie_db.conninfo(
            'postgresql://balie:p%40ss%3Aword@postgres:5433/?sslmode=require',
            'balie')
        self.assertEqual(info, {'dbname': 'balie', 'host': 'postgres',
                'port': '5433', 'user': 'balie', 'password': 'p@ss:word',
                'sslmode': 'require'})
        with self.assertRaises(ValueError):
            self.balie_db.conninfo('sqlite://')


if __name__ == '__main__':
    unittest.main()
