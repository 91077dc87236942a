# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""What a file really is, and whether we keep it: pure, no database.

The type comes from the content (magic bytes), never from the name or the
browser's Content-Type.  Images are decoded and encoded again, which drops
EXIF (GPS position, camera serial), XMP and comments and breaks polyglot
files; a PDF is kept byte for byte (it may be signed later) but refused
when it carries JavaScript, an action that starts a program or embedded
files.  Decoding is bounded: pixels per image, bytes per decompressed PDF
stream, objects per PDF."""
import hashlib
import io
import math
import os
import re
import unicodedata
import warnings
from collections import namedtuple

Format = namedtuple('Format', ['mime_type', 'extension', 'label'])

FORMATS = {
    'pdf': Format('application/pdf', '.pdf', 'PDF'),
    'jpeg': Format('image/jpeg', '.jpg', 'JPEG'),
    'png': Format('image/png', '.png', 'PNG'),
    'webp': Format('image/webp', '.webp', 'WebP'),
    }
DEFAULT_FORMATS = ['pdf', 'jpeg', 'png']
IMAGE_FORMATS = {'jpeg': 'JPEG', 'png': 'PNG', 'webp': 'WEBP'}
EXTENSIONS = {
    '.pdf': 'pdf', '.jpg': 'jpeg', '.jpeg': 'jpeg', '.jpe': 'jpeg',
    '.png': 'png', '.webp': 'webp',
    }

# a 50 megapixel phone photo still passes; a "pixel flood" does not
MAX_PIXELS = 50_000_000
# photos are kept at most this wide or high: legible, and far smaller
MAX_SIDE = 4096
JPEG_QUALITY = 88
# bounds on what a PDF may make us decompress or walk
PDF_MAX_STREAM = 20_000_000
PDF_MAX_OBJECTS = 200_000
NAME_LENGTH = 120


class Refused(Exception):
    """The file is not kept; `reason` names the message for the citizen
    (msg_document_refused_<reason>) and `values` fill it in."""

    def __init__(self, reason, **values):
        super().__init__(reason)
        self.reason = reason
        self.values = values


Checked = namedtuple('Checked', [
        'data', 'format', 'name', 'sha256', 'original_sha256', 'cleaned'])


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def sniff(data):
    "The format of the content, from its first bytes, or None."
    head = bytes(data[:1024])
    if head.startswith(b'\xff\xd8\xff'):
        return 'jpeg'
    if head.startswith(b'\x89PNG\r\n\x1a\n'):
        return 'png'
    if head[:4] == b'RIFF' and head[8:12] == b'WEBP':
        return 'webp'
    # the PDF header may follow some bytes of garbage (ISO 32000 7.5.2)
    if b'%PDF-' in head:
        return 'pdf'
    return None


def clean_name(filename, format_):
    """A file name that is safe in a Content-Disposition header and on any
    disk, with the extension of what the file really is."""
    name = unicodedata.normalize('NFC', str(filename or ''))
    name = name.replace('\\', '/').rsplit('/', 1)[-1]
    stem, extension = os.path.splitext(name)
    if extension.lower() not in EXTENSIONS:
        stem = name
    stem = ''.join(c for c in stem
        if unicodedata.category(c)[0] not in {'C', 'Z'} or c == ' ')
    stem = re.sub(r'[<>:"/\\|?*;]+', '_', stem).strip(' .')
    stem = stem[:NAME_LENGTH] or 'document'
    return stem + FORMATS[format_].extension


def check(data, filename, allowed=None, max_size=None, clean=True):
    """Check a file and return what to keep (Checked); raise Refused.

    allowed: the format codes accepted (None: all of FORMATS);
    max_size: the largest size in bytes (None: no limit);
    clean: re-encode images and inspect PDFs (off only for files the
    system made itself, such as a signed PDF, which must stay intact)."""
    data = bytes(data or b'')
    if not data:
        raise Refused('empty')
    if max_size is not None and len(data) > max_size:
        raise Refused('too_big', size=_megabytes(len(data)),
            limit=_megabytes(max_size))
    format_ = sniff(data)
    allowed = list(FORMATS) if allowed is None else [
        a for a in allowed if a in FORMATS]
    if format_ is None or format_ not in allowed:
        claimed = EXTENSIONS.get(
            os.path.splitext(str(filename or ''))[1].lower())
        labels = ', '.join(FORMATS[a].label for a in allowed)
        if claimed and claimed != format_:
            # the name promises what the content is not
            raise Refused('lying', name=_short(filename), types=labels)
        raise Refused('type', types=labels)
    original = sha256(data)
    kept = data
    if clean:
        if format_ in IMAGE_FORMATS:
            kept = clean_image(data, format_)
        elif format_ == 'pdf':
            check_pdf(data)
    return Checked(kept, format_, clean_name(filename, format_),
        sha256(kept), original, kept != data)


def _megabytes(size):
    "Megabytes, rounded up to a tenth: 1010000 is 1.1, never equal to 1."
    tenths = math.ceil(size / 100_000)
    return '%d' % (tenths // 10) if not tenths % 10 else '%.1f' % (
        tenths / 10)


def _short(filename):
    name = str(filename or '').replace('\\', '/').rsplit('/', 1)[-1]
    return name[:60]


# -- images ------------------------------------------------------------------

def clean_image(data, format_):
    """Decode and encode again: no metadata, upright, at most MAX_SIDE
    pixels wide or high.  A file that does not decode is refused."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter('error', Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[
                    IMAGE_FORMATS[format_]])
            width, height = image.size
            if width * height > MAX_PIXELS or not width or not height:
                raise Refused('pixels')
            if format_ == 'jpeg':
                # let the decoder scale down: less memory for huge photos
                image.draft('RGB', (MAX_SIDE, MAX_SIDE))
            image.load()
            image = ImageOps.exif_transpose(image)
            if max(image.size) > MAX_SIDE:
                image.thumbnail((MAX_SIDE, MAX_SIDE))
            output = io.BytesIO()
            if format_ == 'jpeg':
                if image.mode not in {'L', 'RGB'}:
                    image = image.convert('RGB')
                image.save(output, 'JPEG', quality=JPEG_QUALITY,
                    optimize=True)
            elif format_ == 'png':
                if image.mode not in {'1', 'L', 'LA', 'P', 'RGB', 'RGBA'}:
                    image = image.convert('RGBA')
                image.save(output, 'PNG')
            else:
                if image.mode not in {'RGB', 'RGBA'}:
                    image = image.convert('RGBA')
                image.save(output, 'WEBP', quality=JPEG_QUALITY)
    except Refused:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise Refused('pixels')
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError,
            EOFError, MemoryError):
        raise Refused('damaged')
    return output.getvalue()


# -- PDF ---------------------------------------------------------------------

# keys that carry scripts or actions that run something
ACTIVE_KEYS = {'/JS', '/JavaScript', '/XFA', '/RichMedia'}
ACTIVE_ACTIONS = {'/JavaScript', '/Launch', '/RichMediaExecute'}
EMBEDDED_KEYS = {'/EmbeddedFiles', '/EF'}
EMBEDDED_TYPES = {'/EmbeddedFile'}
EMBEDDED_SUBTYPES = {'/FileAttachment'}


def check_pdf(data):
    """Refuse a PDF that does not open, is protected by a password, or
    carries JavaScript, a launch action or embedded files.

    The object graph is walked from the trailer (what a viewer can reach),
    resolving references and object streams; names written with #xx
    escapes are compared decoded, so /J#61vaScript is /JavaScript."""
    import pypdf
    from pypdf.errors import PyPdfError
    from pypdf.generic import (
        ArrayObject, DictionaryObject, IndirectObject, NameObject)

    limits = {}
    if hasattr(pypdf, 'apply_configuration'):
        limits = dict(
            zlib_maximum_output_length=PDF_MAX_STREAM,
            lzw_maximum_output_length=PDF_MAX_STREAM,
            run_length_maximum_output_length=PDF_MAX_STREAM,
            array_based_stream_maximum_output_length=PDF_MAX_STREAM,
            maximum_declared_stream_length=PDF_MAX_STREAM)
        context = pypdf.apply_configuration(**limits)
    else:  # pypdf < 7: its own, larger limits
        from contextlib import nullcontext
        context = nullcontext()
    with context, warnings.catch_warnings():
        warnings.simplefilter('ignore')
        try:
            reader = pypdf.PdfReader(io.BytesIO(data), strict=False)
            if reader.is_encrypted:
                # owner-password-only PDFs (bank statements) open without
                # a password; others cannot be checked
                try:
                    if not reader.decrypt(''):
                        raise Refused('pdf_encrypted')
                except (PyPdfError, NotImplementedError, ValueError):
                    raise Refused('pdf_encrypted')
            if not len(reader.pages):
                raise Refused('damaged')
            stack = [reader.trailer]
            seen = set()
            count = 0
            while stack:
                item = stack.pop()
                if isinstance(item, IndirectObject):
                    key = (item.idnum, item.generation)
                    if key in seen:
                        continue
                    seen.add(key)
                    item = item.get_object()
                count += 1
                if count > PDF_MAX_OBJECTS:
                    raise Refused('damaged')
                if isinstance(item, DictionaryObject):
                    _check_dictionary(item, NameObject)
                    for name, value in item.items():
                        if name in {'/Parent', '/P'}:
                            # back links: reached from the other side
                            continue
                        stack.append(value)
                elif isinstance(item, ArrayObject):
                    stack.extend(item)
        except Refused:
            raise
        except RecursionError:
            raise Refused('damaged')
        except Exception:
            # pypdf raises many kinds of errors on broken or hostile files
            raise Refused('damaged')


def _check_dictionary(dictionary, NameObject):
    keys = set(dictionary.keys())
    if keys & ACTIVE_KEYS:
        raise Refused('pdf_active')
    if keys & EMBEDDED_KEYS:
        raise Refused('pdf_embedded')
    if _name(dictionary, '/S', NameObject) in ACTIVE_ACTIONS:
        raise Refused('pdf_active')
    if _name(dictionary, '/Type', NameObject) in EMBEDDED_TYPES:
        raise Refused('pdf_embedded')
    if _name(dictionary, '/Subtype', NameObject) in EMBEDDED_SUBTYPES:
        raise Refused('pdf_embedded')


def _name(dictionary, key, NameObject):
    value = dictionary.get(key)
    if value is not None:
        value = value.get_object()
    return str(value) if isinstance(value, NameObject) else None
