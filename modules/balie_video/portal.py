# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
from trytond.i18n import gettext
from trytond.pool import Pool, PoolMeta

from digitale_balie import clock


class Portal(metaclass=PoolMeta):
    __name__ = 'balie.portal'

    @classmethod
    def template_directories(cls):
        from . import TEMPLATES
        return [TEMPLATES] + super().template_directories()

    @classmethod
    def content_security_policy(cls):
        Configuration = Pool().get('balie.configuration')
        policy = super().content_security_policy()
        domain = Configuration(1).jitsi_domain
        if domain:
            origin = 'https://' + domain
            policy['script-src'] = policy['script-src'] + [origin]
            policy['frame-src'] = [origin]
            policy['connect-src'] = policy['connect-src'] + [origin]
        policy['media-src'] = policy['media-src'] + ['blob:', 'mediastream:']
        return policy

    @classmethod
    def permissions_policy(cls):
        Configuration = Pool().get('balie.configuration')
        domain = Configuration(1).jitsi_domain
        allowed = '(self "https://%s")' % domain if domain else '(self)'
        return ('camera=%(a)s, microphone=%(a)s, display-capture=%(a)s, '
            'autoplay=%(a)s, geolocation=(), payment=()' % {'a': allowed})

    @classmethod
    def personal_actions(cls, session):
        pool = Pool()
        Configuration = pool.get('balie.configuration')
        actions = super().personal_actions(session)
        appointment = session.token.appointment
        if appointment.channel != 'video' or appointment.state not in {
                'booked', 'in_progress'}:
            return actions
        config = Configuration(1)
        opens = appointment.start - config.waiting_room_opens
        if clock.now() >= opens:
            actions.append({
                    'href': '/balie/wachtkamer', 'icon': 'video',
                    'label': gettext('balie_video.msg_action_waiting_room'),
                    'kind': 'primary', 'sequence': 5,
                    })
        actions.append({
                'href': '/balie/test', 'icon': 'camera',
                'label': gettext('balie_video.msg_action_test'),
                'kind': 'primary' if clock.now() < opens else 'secondary',
                'sequence': 10,
                })
        actions.append({
                'href': '/balie/oefenen', 'icon': 'practice',
                'label': gettext('balie_video.msg_action_practice'),
                'kind': 'secondary', 'sequence': 20,
                })
        return actions

    @classmethod
    def call_tasks(cls, session):
        """What the citizen can do next to the call (balie_sign adds the
        formal acts): dicts with href, label and optionally done (bool).
        The waiting room shows them under the meeting; they open in a new
        tab so that the call goes on."""
        return []

    @classmethod
    def after_call_extras(cls, session):
        "Markup shown under the next steps (the survey plugs in here)."
        return []

    @classmethod
    def personal_notices(cls, session):
        pool = Pool()
        DeviceCheck = pool.get('balie.video.device_check')
        notices = super().personal_notices(session)
        appointment = session.token.appointment
        if appointment.channel == 'video' and appointment.state == 'booked':
            checks = DeviceCheck.search([
                    ('appointment', '=', appointment.id)], limit=1)
            if checks and checks[0].result == 'passed':
                notices.append({'kind': 'success', 'text': gettext(
                            'balie_video.msg_notice_tested')})
        return notices
