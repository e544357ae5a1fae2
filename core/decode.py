"""Decode a C-FIND answer into text, fast, honouring its Specific Character Set.

A search can return tens of thousands of answers, so this reads the raw element bytes
(``Dataset.get_item`` does not make pydicom convert and validate every value) and decodes
ASCII value representations, and text in one single-byte or UTF-8 character set, directly.
Anything else (ISO 2022 code extensions, several character sets, binary VRs, a decode error)
goes through pydicom. A value that cannot be decoded is kept with U+FFFD marks and named in
``FindMatch.undecodable``; it never raises.
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

from dicom_courier.core.query import FindMatch, QueryLevel

_TEXT_VRS = frozenset({"SH", "LO", "ST", "LT", "UC", "UT", "PN"})
_ASCII_VRS = frozenset({"AE", "AS", "CS", "DA", "DS", "DT", "IS", "TM", "UI", "UR"})
_CHARSET_TAG = 0x00080005
_REPLACEMENT = "\ufffd"


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
    if not terms[0]:
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


def _by_pydicom(identifier: Dataset, tag: int) -> str:
    try:
        return as_text(identifier[tag].value)
    except (UnicodeError, ValueError, LookupError) as exc:
        return f"<cannot decode: {type(exc).__name__}>{_REPLACEMENT}"


def decode_match(identifier: Dataset, level: QueryLevel) -> FindMatch:
    """Every non-sequence element of ``identifier`` as text, keyed by keyword."""
    values: dict[str, str] = {}
    bad: set[str] = set()
    codec = _python_codec(_raw_charset(identifier))
    for tag in list(identifier.keys()):
        if tag >> 16 == 0:
            continue
        keyword, dict_vr = _tag_info(int(tag))
        raw = identifier.get_item(tag)
        vr = raw.VR or dict_vr
        if vr == "SQ":
            continue
        text = None
        if isinstance(raw, RawDataElement) and (vr in _ASCII_VRS or vr in _TEXT_VRS):
            text = _fast(raw, vr, codec)
        if text is None:
            text = _by_pydicom(identifier, tag)
        if _REPLACEMENT in text:
            bad.add(keyword)
        values[keyword] = text
    return FindMatch(level=level, values=MappingProxyType(values), undecodable=frozenset(bad))
