"""Decode a C-FIND answer into text, fast, honouring its Specific Character Set.

A search can return tens of thousands of answers, so this reads the raw element bytes
(``Dataset.get_item`` does not make pydicom convert and validate every value) and decodes
ASCII value representations, and text in one single-byte or UTF-8 character set, directly.
Anything else (ISO 2022 code extensions, several character sets, binary VRs, a decode error)
goes through pydicom. A value that cannot be decoded is kept with U+FFFD marks and named in
``FindMatch.undecodable``.

Two faults of the PACS's own are told apart:

- No Specific Character Set (or ``ISO_IR 6``, the default repertoire: ASCII, PS3.5 6.1.2.3)
  and a text value with bytes beyond ASCII: read as UTF-8 if the bytes are valid UTF-8
  (modern modalities), else as Latin-1, and named in ``FindMatch.undeclared_charset`` so the
  value is shown marked "character set not declared".
- A data set cut off mid-element (an element whose length runs past the end of the data
  set; pydicom then hands over the few bytes that did arrive as if they were the value):
  :class:`TruncatedDataSet` is raised, so the answer is counted as one that cannot be read
  and no cut-off value (``"AB"`` for a Study Instance UID announcing 999999 bytes) is ever
  shown or offered to move.
"""

from __future__ import annotations

import functools
import warnings
from types import MappingProxyType

from pydicom.charset import convert_encodings
from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from dicom_courier.core.qr.query import FindMatch, QueryLevel

_TEXT_VRS = frozenset({"SH", "LO", "ST", "LT", "UC", "UT", "PN"})
_ASCII_VRS = frozenset({"AE", "AS", "CS", "DA", "DS", "DT", "IS", "TM", "UI", "UR"})
_CHARSET_TAG = 0x00080005
_REPLACEMENT = "\ufffd"
_UNDEFINED_LENGTH = 0xFFFFFFFF
#: Terms that declare only the default repertoire (ASCII): non-ASCII bytes are undeclared.
_DEFAULT_REPERTOIRE = frozenset({"", "ISO_IR 6"})


class TruncatedDataSet(ValueError):
    """A C-FIND answer ends inside an element: its declared length runs past the data set."""


@functools.lru_cache(maxsize=4096)
def _tag_info(tag: int) -> tuple[str, str | None]:
    try:
        vr: str | None = dictionary_VR(tag)
    except KeyError:
        vr = None
    return keyword_for_tag(tag) or f"({tag >> 16:04X},{tag & 0xFFFF:04X})", vr


@functools.lru_cache(maxsize=64)
def _python_codec(raw_charset: bytes) -> str | None:
    """The one Python codec for a Specific Character Set, or None when pydicom must decode."""
    # Some PACS pad Specific Character Set with NULs instead of spaces: the same term.
    terms = [t.strip(" \x00") for t in raw_charset.decode("ascii", "replace").split("\\")]
    if len(terms) > 1 or "2022" in terms[0]:
        return None
    if terms[0] in _DEFAULT_REPERTOIRE:
        return "ascii"
    with warnings.catch_warnings():  # cached: runs once per character set, not per value
        warnings.simplefilter("ignore")
        try:
            codecs = convert_encodings(terms)
        except (LookupError, ValueError):
            return None
    return codecs[0] if len(codecs) == 1 else None


def _raw_charset(identifier: Dataset) -> bytes:
    elem = identifier.get_item(_CHARSET_TAG)
    if elem is None:
        return b""
    if isinstance(elem, RawDataElement):
        return bytes(elem.value or b"")
    value = elem.value
    return "\\".join(value if isinstance(value, list | MultiValue) else [value or ""]).encode()


def as_text(value: object) -> str:
    """Any converted pydicom value as display text; multiple values joined with a backslash."""
    if value is None:
        return ""
    if isinstance(value, MultiValue | list | tuple):
        return "\\".join(as_text(v) for v in value)
    if isinstance(value, bytes):
        return value.decode("ascii", "replace")
    return str(value)


def _fast(raw: RawDataElement, vr: str, codec: str | None) -> str | None:
    """The value decoded straight from its bytes, or None if pydicom has to do it."""
    data = bytes(raw.value or b"")
    try:
        if vr in _ASCII_VRS:
            return data.decode("ascii").strip(" \x00")
        if codec is not None and b"\x1b" not in data:
            return data.decode(codec).rstrip(" \x00")
    except UnicodeError:
        return None
    return None


@functools.lru_cache(maxsize=64)
def _declares_a_charset(raw_charset: bytes) -> bool:
    """True if (0008,0005) names a repertoire beyond ASCII (absent, empty and ISO_IR 6 do not)."""
    terms = [t.strip(" \x00") for t in raw_charset.decode("ascii", "replace").split("\\")]
    return any(t not in _DEFAULT_REPERTOIRE for t in terms)


def _undeclared(raw: RawDataElement) -> str | None:
    """A text value whose character set was not declared: UTF-8 if valid, else Latin-1 (every
    byte is a Latin-1 character); None for ISO 2022 escapes, which pydicom must read."""
    data = bytes(raw.value or b"")
    if b"\x1b" in data:
        return None
    try:
        return data.decode("utf-8").rstrip(" \x00")
    except UnicodeError:
        return data.decode("latin-1").rstrip(" \x00")


def _check_complete(raw: RawDataElement, keyword: str) -> None:
    """Raise TruncatedDataSet if fewer bytes arrived than the element declares (PS3.5 7.1)."""
    length = raw.length
    if length == _UNDEFINED_LENGTH or raw.value is None:
        return
    arrived = len(raw.value)
    if arrived < length:
        raise TruncatedDataSet(f"the data set ends inside {keyword}: {length} bytes "
                               f"announced, {arrived} arrived")


def _by_pydicom(identifier: Dataset, tag: int) -> str:
    try:
        return as_text(identifier[tag].value)
    except (UnicodeError, ValueError, LookupError) as exc:
        return f"<cannot decode: {type(exc).__name__}>{_REPLACEMENT}"


def decode_match(identifier: Dataset, level: QueryLevel) -> FindMatch:
    """Every non-sequence element of ``identifier`` as text, keyed by keyword.

    Raises TruncatedDataSet when the data set is cut off mid-element; never raises on bytes
    that do not decode (marked instead, see the module doc).
    """
    values: dict[str, str] = {}
    bad: set[str] = set()
    guessed: set[str] = set()
    raw_charset = _raw_charset(identifier)
    codec = _python_codec(raw_charset)
    declared = _declares_a_charset(raw_charset)
    for tag in list(identifier.keys()):
        if tag >> 16 == 0:
            continue
        keyword, dict_vr = _tag_info(int(tag))
        raw = identifier.get_item(tag)
        if isinstance(raw, RawDataElement):
            _check_complete(raw, keyword)
        vr = raw.VR or dict_vr
        if vr == "SQ":
            continue
        text = None
        if isinstance(raw, RawDataElement) and (vr in _ASCII_VRS or vr in _TEXT_VRS):
            text = _fast(raw, vr, codec)
            if text is None and not declared and vr in _TEXT_VRS:
                text = _undeclared(raw)
                if text is not None:
                    guessed.add(keyword)
        if text is None:
            text = _by_pydicom(identifier, tag)
        if _REPLACEMENT in text:
            bad.add(keyword)
        values[keyword] = text
    return FindMatch(level=level, values=MappingProxyType(values), undecodable=frozenset(bad),
                     undeclared_charset=frozenset(guessed))
