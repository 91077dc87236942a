# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
import datetime as dt

from trytond import config as tconfig
from trytond.i18n import gettext
from trytond.model import fields
from trytond.pool import PoolMeta

from .exceptions import VideoError


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
