# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The settings of the formal acts: documents, the login service, the
signing certificate and payments."""
import datetime as dt
import logging

from stdnum import bic as stdnum_bic
from stdnum import iban as stdnum_iban
from stdnum.exceptions import ValidationError as StdnumError

from trytond import config as tconfig
from trytond.i18n import gettext
from trytond.model import fields
from trytond.pool import PoolMeta
from trytond.pyson import Eval

from . import mollie, oidc, pades
from .document_check import DEFAULT_FORMATS, FORMATS
from .exceptions import (
    IdentityError, PaymentValidationError, SignatureError,
    SignatureValidationError)
from .payment import PROVIDERS
from .signature_code import MAX_CODE_VALIDITY

logger = logging.getLogger(__name__)

FORMAT_SELECTION = [
    ('pdf', "PDF"),
    ('jpeg', "JPEG (photo)"),
    ('png', "PNG (image)"),
    ('webp', "WebP (image)"),
    ]
MB = 1_000_000
# what a multipart body may carry besides the file: the other fields
FORM_OVERHEAD = 64 * 1024
AUTH_METHODS = [
    ('client_secret_basic', "Client Secret (Basic)"),
    ('client_secret_post', "Client Secret (POST)"),
    ('private_key_jwt', "Private Key JWT"),
    ]
CALLBACK_PATH = '/balie/identiteit/terug'


class Configuration(metaclass=PoolMeta):
    __name__ = 'balie.configuration'

    document_formats = fields.MultiSelection(
        FORMAT_SELECTION, "Accepted File Types", required=True,
        help="The kinds of file citizens and clerks may upload. The type "
        "is checked on the content of the file, not on its name.")
    document_max_size = fields.Integer(
        "Largest File (MB)", required=True,
        domain=[
            ('document_max_size', '>', 0),
            ('document_max_size', '<=', 100),
            ],
        help="Larger uploads are refused before they are read.")

    oidc_issuer = fields.Char("OpenID Issuer",
        help="The issuer of the login service, for example "
        "https://authenticatie.vlaanderen.be/op or "
        "https://idp.prd.itsme.services/v2.")
    oidc_client_id = fields.Char("OpenID Client ID")
    oidc_auth_method = fields.Selection(AUTH_METHODS,
        "OpenID Client Authentication", required=True)
    oidc_client_secret = fields.Char("OpenID Client Secret", strip=False,
        help="The [balie_sign] oidc_client_secret of the server "
        "configuration takes precedence, so that it need not be stored "
        "here.")
    oidc_private_key = fields.Text("OpenID Private Key",
        help="The PEM private key for private_key_jwt. A file named by "
        "[balie_sign] oidc_private_key_file in the server configuration "
        "takes precedence.")
    oidc_scopes = fields.Char("OpenID Scopes", required=True)
    oidc_acr_values = fields.Char("OpenID ACR Values",
        help="The levels of assurance asked for (acr_values), separated "
        "by spaces.")
    oidc_high_acr = fields.Char("High Assurance ACR Values",
        help="The acr values that mean a high level of assurance (eID "
        "card reader), separated by spaces; other logins are recorded as "
        "substantial.")
    oidc_rrn_claim = fields.Char("National Register Number Claim",
        required=True)

    signing_certificate = fields.Binary("Signing Certificate",
        help="The municipality's certificate with its private key, as a "
        "PKCS#12 (.p12 or .pfx) file. The [balie_sign] certificate file of "
        "the server configuration takes precedence, so that the key need "
        "not be stored in the database.")
    signing_passphrase = fields.Char("Certificate Passphrase", strip=False,
        help="The [balie_sign] passphrase (or passphrase_file) of the "
        "server configuration takes precedence.")
    signature_code_validity = fields.TimeDelta("Signing Code Validity",
        required=True,
        help="How long a one-time code to sign works (at most 10 "
        "minutes).")
    signature_code_attempts = fields.Integer("Signing Code Attempts",
        required=True,
        domain=[
            ('signature_code_attempts', '>', 0),
            ('signature_code_attempts', '<=', 10),
            ],
        help="How many wrong codes end a one-time code.")
    signature_identity_age = fields.TimeDelta("Recent Online Login",
        required=True,
        help="An online login of the citizen this recent confirms a "
        "signature without a code.")

    payment_beneficiary = fields.Char("Beneficiary", size=70,
        help="The account holder's name in the QR code and on the "
        "transfer; the municipality's name when empty.")
    payment_iban = fields.Char("IBAN",
        help="The municipality's account for payments by transfer.")
    payment_bic = fields.Char("BIC")
    payment_communication_prefix = fields.Char(
        "Communication Prefix", size=4,
        help="Digits in front of every structured communication, to tell "
        "these payments apart from others on the same account.")
    payment_provider = fields.Selection(PROVIDERS, "Online Payments",
        help="The provider of online payments; empty for transfers only.")
    mollie_url = fields.Char("Mollie API URL",
        states={'invisible': Eval('payment_provider') != 'mollie'})
    mollie_api_key = fields.Char("Mollie API Key", strip=False,
        states={'invisible': Eval('payment_provider') != 'mollie'},
        help="The [balie_sign] mollie_api_key of the server configuration "
        "takes precedence, so that it need not be stored here.")

    @classmethod
    def default_document_formats(cls):
        return list(DEFAULT_FORMATS)

    @classmethod
    def default_document_max_size(cls):
        return 10

    def document_limit(self):
        "The largest file in bytes."
        return (self.document_max_size or 10) * MB

    def document_body_limit(self):
        "The largest upload request in bytes: the file and the form."
        return self.document_limit() + FORM_OVERHEAD

    def document_allowed(self):
        "The accepted format codes, in the order of FORMATS."
        chosen = set(self.document_formats or DEFAULT_FORMATS)
        return [f for f in FORMATS if f in chosen]

    @classmethod
    def default_oidc_auth_method(cls):
        return 'client_secret_basic'

    @classmethod
    def default_oidc_scopes(cls):
        return 'openid profile rrn'

    @classmethod
    def default_oidc_rrn_claim(cls):
        return 'rrn'

    @classmethod
    def default_oidc_high_acr(cls):
        return 'urn:be:fedict:iam:fas:Level500'

    def get_oidc_secret(self):
        return (tconfig.get('balie_sign', 'oidc_client_secret', default=None)
            or self.oidc_client_secret)

    def get_oidc_private_key(self):
        path = tconfig.get('balie_sign', 'oidc_private_key_file',
            default=None)
        if path:
            with open(path, encoding='utf-8') as file:
                return file.read()
        return self.oidc_private_key

    def oidc_client(self):
        "The OpenID Connect client, or IdentityError when not configured."
        try:
            return oidc.Client(self.oidc_issuer, self.oidc_client_id,
                client_secret=self.get_oidc_secret(),
                private_key=self.get_oidc_private_key(),
                auth_method=self.oidc_auth_method,
                scopes=self.oidc_scopes, acr_values=self.oidc_acr_values)
        except oidc.OIDCError as exception:
            raise IdentityError(gettext(
                    'balie_sign.msg_identity_not_configured')) from exception

    def oidc_redirect_uri(self):
        return self.portal_base_url.rstrip('/') + CALLBACK_PATH

    def assurance_of(self, acr):
        return 'high' if acr and acr in (
            self.oidc_high_acr or '').split() else 'substantial'

    @classmethod
    def default_signature_code_validity(cls):
        return MAX_CODE_VALIDITY

    @classmethod
    def default_signature_code_attempts(cls):
        return 5

    @classmethod
    def default_signature_identity_age(cls):
        return dt.timedelta(minutes=30)

    @classmethod
    def validate_fields(cls, records, field_names):
        super().validate_fields(records, field_names)
        cls._validate_signature_fields(records, field_names)
        cls._validate_payment_fields(records, field_names)

    @classmethod
    def _validate_signature_fields(cls, records, field_names):
        if field_names and 'signature_code_validity' not in field_names:
            return
        for record in records:
            validity = record.signature_code_validity
            if validity is not None and not (
                    dt.timedelta(minutes=1) <= validity
                    <= MAX_CODE_VALIDITY):
                raise SignatureValidationError(gettext(
                        'balie_sign.msg_signature_code_validity_range'))

    def get_signing_certificate(self):
        """The PKCS#12 data and passphrase: the server configuration's
        files first, then the configuration record."""
        # an empty value counts as not set
        path = tconfig.get('balie_sign', 'certificate', default=None)
        passphrase = tconfig.get('balie_sign', 'passphrase') or None
        passphrase_file = tconfig.get('balie_sign', 'passphrase_file')
        try:
            if path:
                with open(path, 'rb') as file:
                    data = file.read()
            else:
                data = self.signing_certificate
            if passphrase is None and passphrase_file:
                with open(passphrase_file, encoding='utf-8') as file:
                    passphrase = file.read().strip()
        except OSError as exception:
            logger.error("signing certificate: %s", exception)
            raise SignatureError(gettext(
                    'balie_sign.msg_signature_certificate_invalid')
                ) from exception
        if passphrase is None:
            passphrase = self.signing_passphrase
        if not data:
            raise SignatureError(gettext(
                    'balie_sign.msg_signature_not_configured'))
        return bytes(data), passphrase

    def signing_signer(self):
        data, passphrase = self.get_signing_certificate()
        try:
            return pades.load_signer(data, passphrase)
        except pades.SealError as exception:
            raise SignatureError(gettext(
                    'balie_sign.msg_signature_certificate_invalid')
                ) from exception

    def signature_code_max_attempts(self):
        return self.signature_code_attempts or 5

    @classmethod
    def default_mollie_url(cls):
        return mollie.DEFAULT_URL

    @classmethod
    def _validate_payment_fields(cls, records, field_names):
        if field_names and not (field_names & {'payment_iban',
                    'payment_bic', 'payment_communication_prefix'}):
            return
        for record in records:
            record.check_payment_account()

    def check_payment_account(self):
        if self.payment_iban:
            try:
                stdnum_iban.validate(self.payment_iban)
            except StdnumError as exception:
                raise PaymentValidationError(gettext(
                        'balie_sign.msg_payment_iban_invalid',
                        iban=self.payment_iban)) from exception
        if self.payment_bic:
            try:
                stdnum_bic.validate(self.payment_bic)
            except StdnumError as exception:
                raise PaymentValidationError(gettext(
                        'balie_sign.msg_payment_bic_invalid',
                        bic=self.payment_bic)) from exception
        prefix = self.payment_communication_prefix
        if prefix and not prefix.isdigit():
            raise PaymentValidationError(gettext(
                    'balie_sign.msg_payment_prefix_invalid', prefix=prefix))

    @classmethod
    def create(cls, vlist):
        return super().create([cls._compact_account(v) for v in vlist])

    @classmethod
    def write(cls, *args):
        args = list(args)
        for i in range(1, len(args), 2):
            args[i] = cls._compact_account(args[i])
        super().write(*args)

    @staticmethod
    def _compact_account(values):
        values = values.copy()
        if values.get('payment_iban'):
            values['payment_iban'] = stdnum_iban.compact(
                values['payment_iban'])
        if values.get('payment_bic'):
            values['payment_bic'] = stdnum_bic.compact(values['payment_bic'])
        return values

    @property
    def transfer_ready(self):
        return bool(self.payment_iban)

    def get_mollie_api_key(self):
        return (tconfig.get('balie_sign', 'mollie_api_key', default=None)
            or self.mollie_api_key)

    def payment_client(self):
        "The online payment provider's client, or None when not set up."
        if self.payment_provider == 'mollie' and self.get_mollie_api_key():
            return mollie.MollieClient(self.get_mollie_api_key(),
                url=self.mollie_url or mollie.DEFAULT_URL)
        return None
