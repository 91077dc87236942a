# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
import datetime as dt

from trytond import config as tconfig
from trytond.i18n import gettext
from trytond.model import fields
from trytond.pool import PoolMeta
from trytond.pyson import Eval

from . import turn
from .exceptions import VideoError
from .webrtc import BACKENDS


class Configuration(metaclass=PoolMeta):
    __name__ = 'balie.configuration'

    jitsi_domain = fields.Char("Jitsi Domain",
        help="The host name of the municipality's Jitsi Meet server, "
        "for example meet.gemeente.be.")
    jitsi_app_id = fields.Char("Jitsi App ID",
        help="The app_id of prosody's token authentication.")
    jitsi_secret = fields.Char("Jitsi Secret", strip=False,
        help="The app_secret of prosody's token authentication (HS256). "
        "The [balie_video] jitsi_secret of the server configuration "
        "takes precedence, so that it need not be stored here.")
    jitsi_xmpp_domain = fields.Char("Jitsi XMPP Domain",
        help="The sub claim: prosody's XMPP domain (meet.jitsi in the "
        "official Docker images). Leave empty when it is the Jitsi "
        "domain.")
    jitsi_audience = fields.Char("Jitsi Audience",
        help="The aud claim prosody expects (asap_accepted_audiences).")
    jitsi_lobby = fields.Boolean("Lobby",
        help="The citizen waits in Jitsi's lobby until the clerk admits "
        "them.")
    jwt_margin = fields.TimeDelta("Token Margin", required=True,
        help="How long after the planned end a call token keeps working.")
    waiting_room_opens = fields.TimeDelta("Waiting Room Opens",
        required=True,
        help="How long before the start the citizen can enter the waiting "
        "room.")
    no_show_grace = fields.TimeDelta("No-show After", required=True,
        help="When the citizen is not there this long after the start, "
        "the appointment appears in the list of citizens to call.")
    close_grace = fields.TimeDelta("Links After the Call", required=True,
        help="How long after the end of the call the citizen's links "
        "keep working, to read the next steps.")

    @classmethod
    def default_jitsi_audience(cls):
        return 'jitsi'

    @classmethod
    def default_jitsi_lobby(cls):
        return True

    @classmethod
    def default_jwt_margin(cls):
        return dt.timedelta(minutes=30)

    @classmethod
    def default_waiting_room_opens(cls):
        return dt.timedelta(minutes=15)

    @classmethod
    def default_no_show_grace(cls):
        return dt.timedelta(minutes=5)

    @classmethod
    def default_close_grace(cls):
        return dt.timedelta(hours=2)

    def get_jitsi_secret(self):
        return (tconfig.get('balie_video', 'jitsi_secret', default=None)
            or self.jitsi_secret)

    def check_jitsi(self):
        if not (self.jitsi_domain and self.jitsi_app_id
                and self.get_jitsi_secret()):
            raise VideoError(gettext('balie_video.msg_jitsi_not_configured'))

    call_backend = fields.Selection(BACKENDS, "Call Backend", required=True,
        help="Built-in: a one-to-one call from browser to browser, no "
        "video server needed (a TURN server helps across strict "
        "firewalls). Jitsi Meet: the municipality's Jitsi server.")
    call_ice_servers = fields.Text("ICE Servers",
        help="STUN and TURN addresses for the built-in call, one a line "
        "(stun:turn.gemeente.be:3478, turn:turn.gemeente.be:3478?"
        "transport=udp, turns:turn.gemeente.be:5349). Empty: direct "
        "connections only.")
    turn_secret = fields.Char("TURN Secret", strip=False,
        help="coturn's static-auth-secret: TURN passwords are made per "
        "call from it. The [balie_video] turn_secret of the server "
        "configuration takes precedence.")

    @classmethod
    def default_call_backend(cls):
        return 'builtin'

    @classmethod
    def view_attributes(cls):
        return super().view_attributes() + [
            ('//group[@id="jitsi"]', 'states', {
                    'invisible': Eval('call_backend') != 'jitsi',
                    }),
            ]

    @classmethod
    def validate_fields(cls, records, field_names):
        super().validate_fields(records, field_names)
        if not field_names or 'call_ice_servers' in field_names:
            for record in records:
                invalid = turn.invalid_urls(record.call_ice_servers)
                if invalid:
                    raise VideoError(gettext(
                            'balie_video.msg_call_ice_server_invalid',
                            url=invalid[0]))

    def get_turn_secret(self):
        return (tconfig.get('balie_video', 'turn_secret', default=None)
            or self.turn_secret)

    @property
    def call_loopback_only(self):
        """Test set-ups only ([balie_video] call_loopback_only): the pages
        keep only 127.0.0.1 ICE candidates, so that test media stays on
        the machine."""
        return tconfig.getboolean('balie_video', 'call_loopback_only',
            default=False)

    def call_ice_servers_for(self, user_id, expires):
        return turn.ice_servers(turn.parse_urls(self.call_ice_servers),
            secret=self.get_turn_secret(), user_id=user_id,
            expires=expires)

    def clerk_call_url(self, raw):
        return '%s/balie/gesprek/%s' % (
            self.portal_base_url.rstrip('/'), raw)
