# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""How a message from the outbox leaves the building: e-mail over SMTP with
trytond's mail configuration, SMS through the gateway client."""
import html
import re
import smtplib
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formataddr, formatdate, make_msgid

from trytond import config
from trytond.i18n import gettext
from trytond.pool import Pool
from trytond.sendmail import get_smtp_server
from trytond.transaction import Transaction

from .exceptions import CitizenValidationError
from .ical import appointment_calendar, ical_filename
from .party import parse_phone
from .sms import (
    SMSGateway, SMSPermanentError, SMSTemporaryError, gsm_friendly)
from .template import render

# messages that change the citizen's agenda carry an invitation
ICAL_METHODS = {
    'confirmation': 'REQUEST',
    'rescheduled': 'REQUEST',
    'cancelled': 'CANCEL',
    }
_URL = re.compile(r'(https?://[^\s<>"]+)')


class PermanentError(Exception):
    "Sending again will not help."


class TemporaryError(Exception):
    "Sending again later may work."


def make_message_id(key):
    "A stable Message-ID, recorded before the first attempt."
    domain = (config.get('email', 'from', default='') or '').rpartition('@')[2]
    return make_msgid(idstring=key, domain=domain.strip('> ') or 'balie')


def personal_link(message):
    pool = Pool()
    Configuration = pool.get('balie.configuration')
    Token = pool.get('balie.access.token')
    if not message.token:
        return ''
    return Configuration(1).personal_url(Token.message_token(message))


def send(message):
    "Send one message; return the provider's reference."
    if message.channel == 'email':
        return send_email(message)
    if message.channel == 'sms':
        return send_sms(message)
    raise PermanentError(gettext(
            'digitale_balie.msg_message_channel_unknown',
            channel=message.channel))


def text_to_html(text, language):
    "Plain text with links, as a small accessible HTML document."
    paragraphs = []
    for paragraph in re.split(r'\n\s*\n', text.strip()):
        escaped = html.escape(paragraph)
        escaped = _URL.sub(r'<a href="\1">\1</a>', escaped)
        paragraphs.append('<p>%s</p>' % escaped.replace('\n', '<br>\n'))
    return ('<!DOCTYPE html>\n<html lang="%s"><head><meta charset="utf-8">'
        '</head>\n<body style="font-family: sans-serif; font-size: 16px; '
        'line-height: 1.5">\n%s\n</body></html>\n') % (
        html.escape(language), '\n'.join(paragraphs))


def build_email(message):
    pool = Pool()
    Configuration = pool.get('balie.configuration')
    configuration = Configuration(1)
    link = personal_link(message)
    body = render(message.body, {'link': link})
    from_ = config.get('email', 'from')
    email = EmailMessage()
    email['From'] = from_
    email['To'] = formataddr(
        (message.party.name if message.party else '', message.recipient))
    email['Subject'] = render(message.subject, {'link': link})
    email['Message-ID'] = message.message_id
    email['Date'] = formatdate(localtime=False, usegmt=True)
    email['Auto-Submitted'] = 'auto-generated'
    email.set_content(body)
    email.add_alternative(
        text_to_html(body, message.language), subtype='html')
    method = ICAL_METHODS.get(message.kind)
    appointment = message.appointment
    if method and appointment:
        ics = appointment_calendar(
            uid=appointment.ical_uid,
            sequence=message.ical_sequence or 0,
            method=method,
            start=appointment.start, end=appointment.end,
            summary=email['Subject'],
            description=body,
            location_url=link,
            organizer_email=_address(from_),
            organizer_name=configuration.municipality_name,
            attendee_email=message.recipient,
            attendee_name=message.party.name if message.party else None,
            language=message.language)
        maintype, subtype = 'text', 'calendar'
        email.add_attachment(ics, maintype=maintype, subtype=subtype,
            filename=ical_filename(method),
            params={'method': method})
    # last: set_content and make_mixed move or drop the Content-* headers
    email['Content-Language'] = message.language
    return email


def _address(value):
    from email.utils import parseaddr
    return parseaddr(value or '')[1]


def send_email(message):
    email = build_email(message)
    try:
        server = get_smtp_server(strict=True)
    except (OSError, smtplib.SMTPException) as exception:
        raise TemporaryError(gettext(
                'digitale_balie.msg_smtp_unreachable',
                error=str(exception) or type(exception).__name__)
            ) from exception
    try:
        mail_options, rcpt_options = [], []
        # delivery status notifications only where the server offers them
        if server.has_extn('dsn'):
            mail_options = ['RET=HDRS', 'ENVID=%s' % message.idempotency_key]
            rcpt_options = ['NOTIFY=FAILURE,DELAY']
        server.sendmail(_address(email['From']), [message.recipient],
            email.as_bytes(policy=SMTP_POLICY), mail_options=mail_options,
            rcpt_options=rcpt_options)
    except smtplib.SMTPRecipientsRefused as exception:
        code, reply = next(iter(exception.recipients.values()))
        error = _smtp_error(code, reply)
        if code >= 500:
            raise PermanentError(error) from exception
        raise TemporaryError(error) from exception
    except smtplib.SMTPResponseException as exception:
        error = _smtp_error(exception.smtp_code, exception.smtp_error)
        if exception.smtp_code >= 500:
            raise PermanentError(error) from exception
        raise TemporaryError(error) from exception
    except (OSError, smtplib.SMTPException) as exception:
        raise TemporaryError(gettext(
                'digitale_balie.msg_smtp_unreachable',
                error=str(exception) or type(exception).__name__)
            ) from exception
    finally:
        try:
            server.quit()
        except (OSError, smtplib.SMTPException):
            pass
    return message.message_id


def _smtp_error(code, reply):
    if isinstance(reply, bytes):
        reply = reply.decode('utf-8', 'replace')
    return gettext('digitale_balie.msg_smtp_refused', code=code, reply=reply)


def gateway():
    pool = Pool()
    Configuration = pool.get('balie.configuration')
    configuration = Configuration(1)
    if not (configuration.sms_url and configuration.sms_api_key
            and configuration.sms_api_secret):
        raise TemporaryError(gettext('digitale_balie.msg_sms_not_configured'))
    return SMSGateway(
        url=configuration.sms_url,
        api_key=configuration.sms_api_key,
        api_secret=configuration.sms_api_secret,
        sender=configuration.sms_sender or 'Balie',
        status_url=configuration.sms_status_url(
            Transaction().database.name))


def send_sms(message):
    try:
        number, mobile = parse_phone(message.recipient or '')
    except CitizenValidationError as exception:
        raise PermanentError(str(exception)) from exception
    if not mobile:
        raise PermanentError(gettext(
                'digitale_balie.msg_notify_sms_impossible',
                phone=message.recipient))
    text = gsm_friendly(
        render(message.body, {'link': personal_link(message)}))
    try:
        result = gateway().send(number, text, message.idempotency_key)
    except SMSPermanentError as exception:
        raise PermanentError(exception.reason) from exception
    except SMSTemporaryError as exception:
        raise TemporaryError(exception.reason) from exception
    return ','.join(result.message_ids)
