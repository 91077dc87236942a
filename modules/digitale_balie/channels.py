# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""How a message from the outbox leaves the building: e-mail over SMTP with
trytond's mail configuration, SMS through the gateway client."""
import html
import re
import smtplib
import time
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formatdate, make_msgid

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


class Prepared:
    "A message ready to leave: everything read from the database."
    __slots__ = ('channel', 'sender', 'recipient', 'data', 'key', 'reference')

    def __init__(self, channel, recipient, data, key, reference=None,
            sender=None):
        self.channel = channel
        self.recipient = recipient
        self.data = data
        self.key = key
        self.reference = reference
        self.sender = sender


def prepare(message):
    "Render a message for sending; raise PermanentError if it cannot go."
    if message.channel == 'email':
        email = build_email(message)
        return Prepared('email', message.recipient,
            email.as_bytes(policy=SMTP_POLICY), message.idempotency_key,
            reference=message.message_id, sender=_address(email['From']))
    if message.channel == 'sms':
        try:
            number, mobile = parse_phone(message.recipient or '')
        except CitizenValidationError as exception:
            raise PermanentError(exception.message) from exception
        if not mobile:
            raise PermanentError(gettext(
                    'digitale_balie.msg_notify_sms_impossible',
                    phone=message.recipient))
        text = gsm_friendly(
            render(message.body, {'link': personal_link(message)}))
        return Prepared('sms', number, text, message.idempotency_key,
            sender=gateway())
    raise PermanentError(gettext(
            'digitale_balie.msg_message_channel_unknown',
            channel=message.channel))


def smtp_timeout():
    "Seconds an SMTP connect or command may take: [balie] smtp_timeout."
    return int(config.get('balie', 'smtp_timeout', default=None) or 30)


def smtp_uri():
    """trytond's [email] uri with a timeout: trytond uses one only when the
    URI names it, and a mail server that holds its replies would otherwise
    hold the dispatcher."""
    uri = config.get('email', 'uri')
    if 'timeout=' not in uri.partition('?')[2]:
        uri += ('&' if '?' in uri else '?') + 'timeout=%d' % smtp_timeout()
    return uri


def send(message):
    "Send one message now; return the provider's reference."
    with Sender() as sender:
        return sender.send(prepare(message))


class Sender:
    """Sends prepared messages, keeping one SMTP connection for a batch
    instead of connecting for every mail."""
    max_messages = 100
    idle_check = 1.0

    def __init__(self):
        self._smtp = None
        # the error once the mail server could not be reached (or timed
        # out): the rest of the batch's e-mail waits for the next run
        self.smtp_down = None
        self._count = 0
        self._used = 0.0

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self, polite=True):
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            if polite:
                smtp.quit()
            else:
                smtp.close()
        except (OSError, smtplib.SMTPException):
            smtp.close()

    def send(self, prepared):
        if prepared.channel == 'email':
            return self._send_email(prepared)
        return self._send_sms(prepared)

    def _connection(self):
        if self._smtp is not None and self._count >= self.max_messages:
            self.close()
        if (self._smtp is not None
                and time.monotonic() - self._used > self.idle_check):
            try:
                self._smtp.noop()
            except (OSError, smtplib.SMTPException):
                self.close(polite=False)
        if self._smtp is None:
            try:
                self._smtp = get_smtp_server(smtp_uri(), strict=True)
                # the extensions are only known after EHLO
                self._smtp.ehlo_or_helo_if_needed()
            except (OSError, smtplib.SMTPException) as exception:
                self._smtp = None
                self.smtp_down = TemporaryError(gettext(
                        'digitale_balie.msg_smtp_unreachable',
                        error=str(exception) or type(exception).__name__))
                raise self.smtp_down from exception
            self._count = 0
        return self._smtp

    def _send_email(self, prepared):
        smtp = self._connection()
        mail_options, rcpt_options = [], []
        # delivery status notifications only where the server offers them
        if smtp.has_extn('dsn'):
            mail_options = ['RET=HDRS', 'ENVID=%s' % prepared.key]
            rcpt_options = ['NOTIFY=FAILURE,DELAY']
        try:
            smtp.sendmail(prepared.sender, [prepared.recipient],
                prepared.data, mail_options=mail_options,
                rcpt_options=rcpt_options)
        except smtplib.SMTPRecipientsRefused as exception:
            # the connection is still fine: only this address was refused
            code, reply = next(iter(exception.recipients.values()))
            error = _smtp_error(code, reply)
            if code >= 500:
                raise PermanentError(error) from exception
            raise TemporaryError(error) from exception
        except smtplib.SMTPResponseException as exception:
            self.close(polite=False)
            error = _smtp_error(exception.smtp_code, exception.smtp_error)
            if exception.smtp_code >= 500:
                raise PermanentError(error) from exception
            raise TemporaryError(error) from exception
        except (OSError, smtplib.SMTPException) as exception:
            self.close(polite=False)
            self.smtp_down = TemporaryError(gettext(
                    'digitale_balie.msg_smtp_unreachable',
                    error=str(exception) or type(exception).__name__))
            raise self.smtp_down from exception
        self._count += 1
        self._used = time.monotonic()
        return prepared.reference

    def _send_sms(self, prepared):
        try:
            result = prepared.sender.send(
                prepared.recipient, prepared.data, prepared.key)
        except SMSPermanentError as exception:
            raise PermanentError(exception.reason) from exception
        except SMSTemporaryError as exception:
            raise TemporaryError(exception.reason) from exception
        return ','.join(result.message_ids)


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
    email['To'] = recipient_header(
        message.party.name if message.party else '', message.recipient)
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
        # mail clients offer "add to calendar" only when the MIME part
        # names the method, and it must match the METHOD inside
        email.add_attachment(ics, maintype='text', subtype='calendar',
            filename=ical_filename(method),
            params={'method': method})
    # last: set_content and make_mixed move or drop the Content-* headers
    email['Content-Language'] = message.language
    return email


def recipient_header(name, address):
    """The To header of a citizen's e-mail.  Not formataddr: the policy
    decodes its encoded name again and writes it unquoted, so that a name
    like 'é <x@example.com>' became the address of the header."""
    try:
        return Address(display_name=name or '', addr_spec=address)
    except (ValueError, IndexError, HeaderParseError):
        return address


def _address(value):
    from email.utils import parseaddr
    return parseaddr(value or '')[1]


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
    try:
        return SMSGateway(
            url=configuration.sms_url,
            api_key=configuration.sms_api_key,
            api_secret=configuration.sms_api_secret,
            sender=configuration.sms_sender or 'Balie',
            status_url=configuration.sms_status_url(
                Transaction().database.name),
            timeout=float(
                config.get('balie', 'sms_timeout', default=None) or 10))
    except ValueError as exception:
        # a configuration mistake: the message waits until it is fixed
        raise TemporaryError(str(exception)) from exception
