# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Sealing a PDF as PAdES with pyHanko: pure functions, no database.

The audit pages are added to the original as an incremental update, so the
signed file starts with the very bytes the citizen saw (anyone can check
the first revision against the SHA-256 on the audit page), and the
municipality's signature covers the whole file.

References: pyHanko's signing and validation guides
(https://pyhanko.readthedocs.io/en/latest/lib-guide/signing.html,
 .../validation.html); ETSI EN 319 142-1 (PAdES baseline B-B: the
/ETSI.CAdES.detached sub-filter, signing certificate attribute, no signing
time in the CMS signed attributes)."""
import datetime as dt
import hashlib
import io
import unicodedata

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import PageObject
from pyhanko.sign import fields, signers
from pyhanko.stamp import TextStampStyle

FIELD_NAME = 'BalieSignature'
# the visible signature block on the last audit page, in PDF points from
# the bottom left (the audit page keeps its lower margin free for it)
STAMP_BOX = (56, 56, 426, 146)


class SealError(Exception):
    "The PDF could not be sealed (certificate or document)."


def sha256(data):
    return hashlib.sha256(bytes(data)).hexdigest()


def is_pdf(data):
    return bytes(data[:5]) == b'%PDF-'


def load_signer(pkcs12_data, passphrase):
    "The municipality's signer from a PKCS#12 file and its passphrase."
    if isinstance(passphrase, str):
        passphrase = passphrase.encode('utf-8')
    try:
        return signers.SimpleSigner.load_pkcs12_data(
            bytes(pkcs12_data), [], passphrase=passphrase or None)
    except (ValueError, TypeError) as exception:
        raise SealError(
            "The signing certificate cannot be read: wrong file or "
            "passphrase") from exception


def certificate_of(pkcs12_data, passphrase):
    "The certificate (cryptography) in a PKCS#12 file."
    if isinstance(passphrase, str):
        passphrase = passphrase.encode('utf-8')
    try:
        _, certificate, _ = pkcs12.load_key_and_certificates(
            bytes(pkcs12_data), passphrase or None)
    except (ValueError, TypeError) as exception:
        raise SealError(
            "The signing certificate cannot be read: wrong file or "
            "passphrase") from exception
    return certificate


def stamp_text(text):
    """The text in the signature block's simple font: it knows Latin-1
    only, so other letters lose their accents (Ł → L, ő → o); the audit
    page has the name as written."""
    text = text.translate(_FOLD)
    chars = []
    for char in text:
        if ord(char) < 256:
            chars.append(char)
            continue
        base = ''.join(c for c in unicodedata.normalize('NFKD', char)
            if not unicodedata.combining(c) and ord(c) < 256)
        chars.append(base or '?')
    return ''.join(chars)


_FOLD = str.maketrans({
        'Ł': 'L', 'ł': 'l', 'Đ': 'D', 'đ': 'd', 'Ħ': 'H', 'ħ': 'h',
        'Œ': 'OE', 'œ': 'oe', 'ı': 'i', '\u2018': "'", '\u2019': "'",
        '\u201c': '"', '\u201d': '"', '\u2013': '-', '\u2014': '-',
        '\u20ac': 'EUR',
        })


def append_pages(writer, pdf):
    "Add the pages of another PDF at the end, as an incremental update."
    reader = PdfFileReader(io.BytesIO(pdf))
    count = int(reader.root['/Pages']['/Count'])
    for index in range(count):
        xobject = writer.import_page_as_xobject(reader, page_ix=index)
        page_ref, _ = reader.find_page_for_modification(index)
        box = page_ref.get_object()['/MediaBox']
        content = writer.add_object(
            generic.StreamObject(stream_data=b'q /Page Do Q'))
        resources = generic.DictionaryObject({
                pdf_name('/XObject'): generic.DictionaryObject({
                        pdf_name('/Page'): xobject})})
        writer.insert_page(PageObject(contents=content,
                media_box=[float(v) for v in box], resources=resources))
    return count


def seal(original, audit, signer, name, reason, location, block_lines,
        contact=None):
    """Return the original PDF with the audit pages appended, sealed as
    PAdES B-B with a visible signature block on the last page.

    block_lines are the lines of the signature block (Latin-1 is kept,
    other letters are simplified)."""
    if not is_pdf(original) or not is_pdf(audit):
        raise SealError("Not a PDF document")
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(bytes(original)))
    except Exception as exception:
        raise SealError("The PDF document cannot be read") from exception
    if writer.security_handler is not None:
        raise SealError("An encrypted PDF cannot be sealed")
    append_pages(writer, bytes(audit))
    metadata = signers.PdfSignatureMetadata(
        field_name=FIELD_NAME,
        subfilter=fields.SigSeedSubFilter.PADES,
        md_algorithm='sha256',
        name=stamp_text(name),
        reason=reason,
        location=location,
        contact_info=contact)
    style = TextStampStyle(
        stamp_text='\n'.join(stamp_text(line).replace('%', '%%')
            for line in block_lines) + '\n%(ts)s',
        timestamp_format='%Y-%m-%d %H:%M:%S %Z',
        border_width=1)
    pdf_signer = signers.PdfSigner(metadata, signer=signer,
        stamp_style=style,
        new_field_spec=fields.SigFieldSpec(
            FIELD_NAME, on_page=-1, box=STAMP_BOX))
    output = io.BytesIO()
    pdf_signer.sign_pdf(writer, output=output)
    return output.getvalue()


def validate(pdf, trusted_certificates):
    """Validate the signatures of a PDF against trusted certificates
    (cryptography objects); return pyHanko's statuses, in order."""
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext
    roots = [asn1_x509.Certificate.load(
            c.public_bytes(serialization.Encoding.DER))
        for c in trusted_certificates]
    context = ValidationContext(trust_roots=roots)
    reader = PdfFileReader(io.BytesIO(bytes(pdf)), strict=False)
    return [validate_pdf_signature(s, context)
        for s in reader.embedded_signatures]


def make_test_certificate(common_name, organization, passphrase,
        days=3 * 365, now=None):
    """A self-signed signing certificate as a PKCS#12 file: for the demo
    and the tests only; production uses a certificate from a trust
    service provider."""
    if isinstance(passphrase, str):
        passphrase = passphrase.encode('utf-8')
    now = now or dt.datetime.now(dt.timezone.utc)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([
            x509.NameAttribute(NameOID.COUNTRY_NAME, 'BE'),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            ])
    certificate = (x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(
            x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=True,
                key_encipherment=False, data_encipherment=False,
                key_agreement=False, key_cert_sign=True, crl_sign=False,
                encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(
                key.public_key()), critical=False)
        .sign(key, hashes.SHA256()))
    encryption = (serialization.BestAvailableEncryption(passphrase)
        if passphrase else serialization.NoEncryption())
    return pkcs12.serialize_key_and_certificates(
        common_name.encode('utf-8'), key, certificate, None, encryption)
