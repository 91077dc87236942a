# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The citizen signs a PDF of the dossier from the portal: they read it,
tick consent and confirm with a one-time code (SMS or e-mail) or a recent
online login; the server then appends an audit page and seals the PDF as
PAdES with the municipality's certificate (pades.py).  The original stays
on the dossier, the signed PDF joins it."""
import datetime as dt
import logging
import os
import secrets

from genshi.template import MarkupTemplate

from trytond.bus import notify
from trytond.exceptions import UserError
from trytond.i18n import gettext
from trytond.model import (
    Index, ModelSQL, ModelView, Unique, Workflow, fields)
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.transaction import Transaction
from trytond.wizard import Button, StateTransition, StateView, Wizard

from digitale_balie import clock
from digitale_balie.model import company_through, party_through
from digitale_balie.slots import TIMEZONE, to_local

from . import pades
from .dossier import current_appointment
from .exceptions import SignatureError, SignatureValidationError
from .signature_code import (
    CODE_KIND, MAX_CODE_VALIDITY, MAX_CODES, code_matches, mask)

logger = logging.getLogger(__name__)

STATES = [
    ('requested', "Waiting for the Citizen"),
    ('confirmed', "Confirmed, Not Sealed"),
    ('signed', "Signed"),
    ('cancelled', "Cancelled"),
    ]
METHODS = [
    (None, ""),
    ('sms', "Code by SMS"),
    ('email', "Code by E-mail"),
    ('identity', "Online Login"),
    ]
ASSURANCE = [
    (None, ""),
    ('low', "Low"),
    ('substantial', "Substantial"),
    ('high', "High"),
    ]
EVENTS = [
    ('requested', "Signature requested"),
    ('opened', "Document opened"),
    ('consent', "Consent given"),
    ('code_sent', "Code sent"),
    ('code_wrong', "Wrong code"),
    ('code_expired', "Expired code"),
    ('code_used', "Used code again"),
    ('confirmed', "Signature confirmed"),
    ('sealed', "Sealed"),
    ('seal_failed', "Sealing failed"),
    ('cancelled', "Cancelled"),
    ]
AUDIT_TEMPLATE = os.path.join(os.path.dirname(__file__), 'templates',
    'signature_audit.html')


def format_moment(value, language='nl'):
    "2026-12-08 10:31:05 (Brussels time) for the audit page."
    if value is None:
        return ''
    local = to_local(value, TIMEZONE)
    return '%s %s' % (local.strftime('%Y-%m-%d %H:%M:%S'),
        local.strftime('%Z'))


class SignatureRequest(
        party_through('dossier'), Workflow, ModelSQL, ModelView):
    "Signature Request"
    __name__ = 'balie.signature.request'
    _rec_name = 'title'

    company = fields.Many2One('company.company', "Company", required=True,
        readonly=True)
    dossier = fields.Many2One('balie.dossier', "Dossier", required=True,
        readonly=True, ondelete='RESTRICT',
        domain=[('company', '=', Eval('company', -1))])
    appointment = fields.Many2One('balie.appointment', "Appointment",
        readonly=True, ondelete='SET NULL',
        domain=[('dossier', '=', Eval('dossier', -1))],
        help="The call in which the signature was asked; the code goes "
        "to its e-mail address or mobile number.")
    reference = fields.Char("Reference", required=True, readonly=True,
        strip=False,
        help="The random part of the citizen's signing page address.")
    title = fields.Char("Title", required=True, readonly=True,
        help="What the citizen signs, as they will read it.")
    document = fields.Many2One('balie.document', "Document", required=True,
        readonly=True, ondelete='RESTRICT',
        domain=[('dossier', '=', Eval('dossier', -1))])
    document_sha256 = fields.Char("Document SHA-256", readonly=True,
        help="The fingerprint of the PDF shown to the citizen.")
    state = fields.Selection(STATES, "State", required=True, readonly=True,
        sort=False)
    method = fields.Selection(METHODS, "Method", readonly=True)
    assurance = fields.Selection(ASSURANCE, "Level of Assurance",
        readonly=True, sort=False)
    consent_at = fields.DateTime("Consent At", readonly=True)
    confirmed_at = fields.DateTime("Confirmed At", readonly=True)
    signer_name = fields.Char("Signer", readonly=True)
    signer_ip = fields.Char("IP Address", readonly=True)
    signed_document = fields.Many2One('balie.document', "Signed Document",
        readonly=True, ondelete='RESTRICT')
    signed_sha256 = fields.Char("Signed SHA-256", readonly=True)
    signed_at = fields.DateTime("Sealed At", readonly=True)
    events = fields.One2Many('balie.signature.event', 'request', "Events",
        readonly=True)
    codes = fields.One2Many('balie.signature.code', 'request', "Codes",
        readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('reference_unique', Unique(t, t.reference),
                'balie_sign.msg_signature_reference_unique'),
            ]
        cls._sql_indexes.add(Index(t, (t.dossier, Index.Equality())))
        cls._order = [('create_date', 'DESC'), ('id', 'DESC')]
        cls._transitions |= {
            ('requested', 'confirmed'),
            ('confirmed', 'signed'),
            ('requested', 'cancelled'),
            ('confirmed', 'cancelled'),
            }
        cls._buttons.update({
                'cancel': {
                    'invisible': ~Eval('state').in_(
                        ['requested', 'confirmed']),
                    'depends': ['state'],
                    },
                'seal_button': {
                    'invisible': Eval('state') != 'confirmed',
                    'depends': ['state'],
                    },
                })

    @classmethod
    def default_state(cls):
        return 'requested'

    method_string = method.translated('method')
    assurance_string = assurance.translated('assurance')

    @classmethod
    def create(cls, vlist):
        vlist = [v.copy() for v in vlist]
        for values in vlist:
            if not values.get('reference'):
                values['reference'] = secrets.token_hex(16)
        return super().create(vlist)

    @classmethod
    def copy(cls, requests, default=None):
        "A copy asks the citizen again: nothing of the signing is kept."
        default = default.copy() if default is not None else {}
        for name in ['reference', 'method', 'assurance', 'consent_at',
                'confirmed_at', 'signer_name', 'signer_ip',
                'signed_document', 'signed_sha256', 'signed_at', 'events',
                'codes']:
            default.setdefault(name, None)
        default.setdefault('state', 'requested')
        return super().copy(requests, default=default)

    @classmethod
    def validate_fields(cls, requests, field_names):
        super().validate_fields(requests, field_names)
        if field_names and not (field_names & {'document', 'dossier'}):
            return
        for request in requests:
            # never a document of another dossier (another citizen's)
            if request.document.dossier != request.dossier:
                raise SignatureValidationError(gettext(
                        'balie_sign.msg_signature_document_other_dossier',
                        document=request.document.rec_name,
                        dossier=request.dossier.rec_name))

    @classmethod
    def check_modification(cls, mode, requests, values=None,
            external=False):
        super().check_modification(mode, requests, values=values,
            external=external)
        if mode == 'delete':
            for request in requests:
                if request.state in {'confirmed', 'signed'}:
                    raise SignatureError(gettext(
                            'balie_sign.msg_signature_delete_signed',
                            request=request.rec_name))

    # -- the clerk's side ------------------------------------------------

    @classmethod
    def ask(cls, document, title, appointment=None):
        """Ask the citizen of the document's dossier to sign it; return
        the request."""
        Dossier = Pool().get('balie.dossier')
        dossier = document.dossier
        if dossier.state == 'closed':
            raise SignatureError(gettext(
                    'balie_sign.msg_signature_dossier_closed',
                    dossier=dossier.rec_name))
        data = document.get_bytes()
        if not pades.is_pdf(data):
            raise SignatureError(gettext('balie_sign.msg_signature_not_pdf',
                    document=document.rec_name))
        if appointment and appointment.dossier != dossier:
            appointment = None
        request, = cls.create([{
                    'company': dossier.company.id,
                    'dossier': dossier.id,
                    'appointment': appointment.id if appointment else None,
                    'title': title or document.rec_name,
                    'document': document.id,
                    'document_sha256': pades.sha256(data),
                    }])
        request.add_event('requested', detail=gettext(
                'balie_sign.msg_signature_detail_requested',
                document=document.rec_name, sha256=request.document_sha256))
        Dossier.add_event(dossier, 'signature', gettext(
                'balie_sign.msg_signature_event_requested',
                title=request.title), appointment=appointment)
        return request

    @classmethod
    @ModelView.button
    @Workflow.transition('cancelled')
    def cancel(cls, requests):
        Dossier = Pool().get('balie.dossier')
        for request in requests:
            request.add_event('cancelled')
            Dossier.add_event(request.dossier, 'signature', gettext(
                    'balie_sign.msg_signature_event_cancelled',
                    title=request.title))

    @classmethod
    @ModelView.button
    def seal_button(cls, requests):
        "Seal again a confirmed signature whose sealing failed."
        for request in requests:
            if request.state != 'confirmed':
                continue
            reason = request.seal()
            if reason:
                raise SignatureError(gettext(
                        'balie_sign.msg_signature_seal_failed_clerk',
                        title=request.title, reason=reason))

    # -- the citizen's side ----------------------------------------------

    def add_event(self, kind, ip=None, detail=None):
        Event = Pool().get('balie.signature.event')
        Event.create([{
                    'request': self.id, 'kind': kind, 'ip': ip or None,
                    'detail': detail,
                    }])

    def original_bytes(self):
        """The PDF as the citizen was asked to sign it; SignatureError
        if it changed since."""
        data = self.document.get_bytes()
        if pades.sha256(data) != self.document_sha256:
            raise SignatureError(gettext(
                    'balie_sign.msg_signature_document_changed',
                    title=self.title))
        return data

    def code_channels(self):
        "The channels a code can go to: (channel, masked recipient)."
        appointment = self.appointment
        if appointment is None:
            return []
        channels = []
        if appointment.contact_mobile:
            channels.append(('sms', mask('sms', appointment.contact_mobile)))
        if appointment.contact_email:
            channels.append(('email',
                    mask('email', appointment.contact_email)))
        return channels

    def give_consent(self, ip):
        if self.state != 'requested':
            raise SignatureError(gettext(
                    'balie_sign.msg_signature_not_open'))
        if not self.consent_at:
            self.consent_at = clock.now()
            self.save()
        self.add_event('consent', ip=ip)

    def send_code(self, channel, ip):
        """Send a new one-time code on the channel (the previous code
        stops working); return the code record."""
        pool = Pool()
        Message = pool.get('balie.message')
        Code = pool.get('balie.signature.code')
        Configuration = pool.get('balie.configuration')
        if self.state != 'requested':
            raise SignatureError(gettext(
                    'balie_sign.msg_signature_not_open'))
        if not self.consent_at:
            raise SignatureError(gettext(
                    'balie_sign.msg_signature_consent_missing'))
        if channel not in dict(self.code_channels()):
            raise SignatureError(gettext(
                    'balie_sign.msg_signature_channel_unavailable'))
        if len(self.codes) >= MAX_CODES:
            raise SignatureError(gettext(
                    'balie_sign.msg_signature_too_many_codes'))
        config = Configuration(1)
        validity = min(config.signature_code_validity or MAX_CODE_VALIDITY,
            MAX_CODE_VALIDITY)
        now = clock.now()
        message, = Message.queue(self.appointment, CODE_KIND, [channel],
            send_by=now + validity,
            values={
                'text': self.title,
                'minutes': str(int(validity.total_seconds() // 60)),
                })
        recipient = mask(channel, message.recipient)
        code, = Code.create([{
                    'request': self.id,
                    'message': message.id,
                    'channel': channel,
                    'recipient': recipient,
                    'expires_at': now + validity,
                    }])
        self.add_event('code_sent', ip=ip, detail=gettext(
                'balie_sign.msg_signature_detail_code_sent',
                channel=code.channel_string, recipient=recipient))
        return code

    def check_code(self, value, ip):
        """Check a code the citizen typed.  Return (True, None) when the
        signature is confirmed, or (False, message); failures are
        recorded, so do not roll back."""
        pool = Pool()
        Code = pool.get('balie.signature.code')
        Configuration = pool.get('balie.configuration')
        codes = sorted(self.codes, key=lambda c: c.id)
        if self.state != 'requested':
            if codes and codes[-1].used_at:
                self.add_event('code_used', ip=ip)
                return False, gettext('balie_sign.msg_signature_code_used')
            return False, gettext('balie_sign.msg_signature_not_open')
        if not codes:
            return False, gettext('balie_sign.msg_signature_no_code')
        code = codes[-1]
        max_attempts = Configuration(1).signature_code_max_attempts()
        if code.used_at:
            self.add_event('code_used', ip=ip)
            return False, gettext('balie_sign.msg_signature_code_used')
        if code.attempts >= max_attempts:
            return False, gettext('balie_sign.msg_signature_code_blocked')
        if clock.now() >= code.expires_at:
            self.add_event('code_expired', ip=ip)
            return False, gettext('balie_sign.msg_signature_code_expired')
        if not code.message or not code_matches(code.message, value):
            attempts = code.attempts + 1
            Code.write([code], {'attempts': attempts})
            self.add_event('code_wrong', ip=ip)
            left = max_attempts - attempts
            if left <= 0:
                return False, gettext(
                    'balie_sign.msg_signature_code_blocked')
            return False, gettext('balie_sign.msg_signature_code_wrong',
                left=str(left))
        Code.write([code], {'used_at': clock.now()})
        self.confirm(code.channel, 'low', ip, detail=gettext(
                'balie_sign.msg_signature_detail_code',
                channel=code.channel_string, recipient=code.recipient))
        return True, None

    def recent_identity(self):
        """A recent successful online login of the dossier's citizen
        (balie.identity.check, when that model exists), or None."""
        pool = Pool()
        Configuration = pool.get('balie.configuration')
        try:
            Check = pool.get('balie.identity.check')
        except KeyError:
            return None
        since = clock.now() - (Configuration(1).signature_identity_age
            or dt.timedelta(0))
        checks = Check.search([
                ('party', '=', self.dossier.party.id),
                ('method', '=', 'oidc'),
                ('state', '=', 'verified'),
                ('checked_at', '>=', since),
                ], order=[('checked_at', 'DESC')], limit=1)
        return checks[0] if checks else None

    def confirm_with_identity(self, ip):
        "Confirm with a recent login; False when there is none."
        if self.state != 'requested' or not self.consent_at:
            return False
        check = self.recent_identity()
        if check is None:
            return False
        self.confirm('identity', check.assurance or 'substantial', ip,
            detail=gettext('balie_sign.msg_signature_detail_identity',
                provider=check.provider or '',
                when=format_moment(check.checked_at)))
        return True

    def confirm(self, method, assurance, ip, detail=None):
        "The citizen's will is established: record it, then seal."
        cls = self.__class__
        cls.write([self], {
                'state': 'confirmed',
                'method': method,
                'assurance': assurance,
                'confirmed_at': clock.now(),
                'signer_name': self.dossier.party.name,
                'signer_ip': ip or None,
                })
        self.add_event('confirmed', ip=ip, detail=detail)
        self.seal()

    def seal(self):
        """Append the audit page, seal the PDF and store it on the
        dossier.  A failure is recorded and leaves the request confirmed,
        so that the clerk can seal it again; return why it failed, or
        None."""
        pool = Pool()
        Configuration = pool.get('balie.configuration')
        Document = pool.get('balie.document')
        Dossier = pool.get('balie.dossier')
        config = Configuration(1)
        language = self.language()
        try:
            original = self.original_bytes()
            signer = config.signing_signer()
            with Transaction().set_context(language=language):
                audit = self.audit_pdf(language)
                signed = pades.seal(original, audit, signer,
                    name=self.signer_name,
                    reason=gettext('balie_sign.msg_signature_pdf_reason',
                        title=self.title),
                    location=config.municipality_name,
                    block_lines=[
                        gettext('balie_sign.msg_signature_block_signed',
                            name=self.signer_name),
                        gettext('balie_sign.msg_signature_block_sealed',
                            municipality=config.municipality_name),
                        ])
            name = '%s-%s.pdf' % (
                os.path.splitext(self.document.name or 'document')[0],
                gettext('balie_sign.msg_signature_file_suffix'))
            signed_document = Document.store(self.dossier, signed, name,
                'signed', source='system', shared=True,
                appointment=self.appointment, description=self.title)
        except (UserError, pades.SealError) as exception:
            logger.warning("signature request %s not sealed: %s",
                self.id, exception)
            reason = getattr(exception, 'message', None) or str(exception)
            self.add_event('seal_failed', detail=reason)
            return reason
        now = clock.now()
        self.__class__.write([self], {
                'state': 'signed',
                'signed_document': signed_document.id,
                'signed_sha256': pades.sha256(signed),
                'signed_at': now,
                })
        self.add_event('sealed', detail=pades.sha256(signed))
        Dossier.add_event(self.dossier, 'signature', gettext(
                'balie_sign.msg_signature_event_signed', title=self.title,
                name=self.signer_name, method=self.method_string),
            appointment=self.appointment)
        self.notify_clerk()

    def language(self):
        if self.appointment and self.appointment.language:
            return self.appointment.language
        return Pool().get('balie.configuration')(1).default_language or 'nl'

    def audit_pdf(self, language):
        "The audit page: who, how, when, from where, what, in what order."
        from weasyprint import HTML
        Configuration = Pool().get('balie.configuration')
        config = Configuration(1)
        request = self.__class__(self.id)
        events = sorted(request.events, key=lambda e: (e.date, e.id))
        with open(AUDIT_TEMPLATE, encoding='utf-8') as file:
            template = MarkupTemplate(file, filepath=AUDIT_TEMPLATE)
        html = template.generate(
            _=lambda key, **values: gettext(
                'balie_sign.msg_signature_audit_' + key, **values),
            language=language,
            municipality=config.municipality_name,
            request=request,
            dossier=request.dossier.number or '',
            document_name=request.document.name,
            method=request.method_string,
            assurance=request.assurance_string,
            confirmed=format_moment(request.confirmed_at),
            events=[{
                    'date': format_moment(e.date),
                    'kind': e.kind_string,
                    'detail': e.detail or '',
                    'ip': e.ip or '',
                    } for e in events],
            ).render('html', doctype='html5')
        return HTML(string=html).write_pdf()

    def notify_clerk(self):
        User = Pool().get('res.user')
        user = User(self.create_uid.id) if self.create_uid else None
        if not user or user.id == 0:
            return
        language = user.language.code if user.language else None
        with Transaction().set_context(language=language):
            notify(gettext('balie_sign.msg_signature_notify_signed',
                    name=self.signer_name or '', title=self.title,
                    dossier=self.dossier.rec_name), user=user.id)

    @classmethod
    def portal_requests(cls, session):
        "The signature requests the citizen of this session may see."
        appointment = session.token.appointment
        if not appointment.dossier:
            return []
        return cls.search([
                ('dossier', '=', appointment.dossier.id),
                ('dossier.party', '=', appointment.party.id),
                ('state', 'in', ['requested', 'confirmed', 'signed']),
                ], order=[('id', 'ASC')])


class SignatureEvent(company_through('request'), ModelSQL, ModelView):
    "Signature Event"
    __name__ = 'balie.signature.event'

    request = fields.Many2One('balie.signature.request',
        "Signature Request", required=True, readonly=True,
        ondelete='CASCADE')
    date = fields.DateTime("Date", required=True, readonly=True)
    kind = fields.Selection(EVENTS, "Event", required=True, readonly=True)
    detail = fields.Text("Detail", readonly=True)
    ip = fields.Char("IP Address", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(Index(t, (t.request, Index.Equality())))
        cls._order = [('date', 'ASC'), ('id', 'ASC')]

    @classmethod
    def default_date(cls):
        return clock.now()

    kind_string = kind.translated('kind')


class RequestSignatureStart(ModelView):
    "Request Signature"
    __name__ = 'balie.signature.request.start'

    dossier = fields.Many2One('balie.dossier', "Dossier", readonly=True)
    document = fields.Many2One('balie.document', "Document", required=True,
        domain=[
            ('dossier', '=', Eval('dossier', -1)),
            ('mime_type', '=', 'application/pdf'),
            ],
        help="The PDF of the dossier the citizen signs.")
    title = fields.Char("Title", required=True,
        help="What the citizen signs, as they will read it.")

    @fields.depends('document', 'title')
    def on_change_document(self):
        if self.document and not self.title:
            self.title = self.document.description or self.document.name


class RequestSignature(Wizard):
    "Request Signature"
    __name__ = 'balie.signature.request'
    start = StateView('balie.signature.request.start',
        'balie_sign.signature_request_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Request Signature", 'request', 'tryton-ok',
                default=True),
            ])
    request = StateTransition()

    def default_start(self, fields):
        Document = Pool().get('balie.document')
        dossier = self.record
        values = {'dossier': dossier.id}
        documents = Document.search([
                ('dossier', '=', dossier.id),
                ('mime_type', '=', 'application/pdf'),
                ('source', '!=', 'citizen'),
                ], order=[('uploaded_at', 'DESC'), ('id', 'DESC')], limit=1)
        if documents:
            values['document'] = documents[0].id
            values['title'] = (documents[0].description
                or documents[0].name)
        return values

    def transition_request(self):
        SignatureRequest = Pool().get('balie.signature.request')
        dossier = self.record
        document = self.start.document
        if document.dossier != dossier:
            raise SignatureError(gettext(
                    'balie_sign.msg_signature_document_other_dossier',
                    document=document.rec_name, dossier=dossier.rec_name))
        SignatureRequest.ask(document, self.start.title,
            appointment=current_appointment(dossier))
        return 'end'
