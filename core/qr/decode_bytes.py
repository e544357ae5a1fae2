"""Decode a C-FIND answer straight from its encoded bytes (the lean response reader's path).

:func:`decode_match_bytes` gives exactly what :func:`.decode.decode_match` gives for the same
answer decoded by pydicom (same values in the same order, same marks, same errors), from the
identifier's bytes as they arrived in its presentation context's transfer syntax (PS3.5 7.1,
A.1-A.3; a deflated data set, PS3.5 A.5, is inflated by the caller).

The fast path walks the top-level data elements itself (PS3.5 7.1.1 implicit VR little endian,
7.1.2 explicit VR with the 4-byte-length VRs OB OD OF OL OV OW SQ SV UC UN UR UT UV, both
byte orders), skips sequences (defined length by their length; undefined length item by item to
their delimiters, PS3.5 7.5) and group 0000, and decodes text with the same rules as
``decode_match``'s fast branch. It reads only what it is sure pydicom would read the same
way; for anything else in an answer (ISO 2022 or several character sets, binary or unknown
VRs, private tags in implicit VR, an element cut off, a decode error, a malformed sequence...)
the whole answer goes through :func:`reference_decode` (pydicom ``read_dataset`` +
``decode_match``), so the result, or the exception, is always the reference's own.
"""

from __future__ import annotations

import codecs
import contextlib
import functools
import struct
import warnings
from io import BytesIO
from types import MappingProxyType

from pydicom.charset import convert_encodings
from pydicom.datadict import _dictionary_vr_fast
from pydicom.filereader import read_dataset
from pydicom.values import convert_string

from dicom_courier.core.qr.decode import (
    _ASCII_VRS,
    _REPLACEMENT,
    _TEXT_VRS,
    _declares_a_charset,
    _python_codec,
    _tag_info,
    decode_match,
)
from dicom_courier.core.qr.query import FindMatch, QueryLevel

_CHARSET_TAG = 0x00080005
_UNDEFINED = 0xFFFFFFFF
_ITEM = 0xFFFEE000
_ITEM_END = 0xFFFEE00D
_SEQUENCE_END = 0xFFFEE0DD
#: Undefined-length sequences nested deeper than this go to the reference.
_MAX_DEPTH = 8
#: Explicit VRs with a 2-byte reserved field and a 4-byte length (PS3.5 7.1.2, Table 7.1-1).
_LONG_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT",
                       "UV"})
#: Every VR pydicom reads with a known layout; any other two bytes: the reference decides.
_KNOWN_VRS = {vr.encode(): vr for vr in _LONG_VRS | {
    "AE", "AS", "AT", "CS", "DA", "DS", "DT", "FL", "FD", "IS", "LO", "LT", "PN", "SH",
    "SL", "SS", "ST", "TM", "UI", "UL", "US"}}
#: How an element's value is read: as ASCII, as text in the character set, skipped (SQ).
_ASCII, _TEXT, _SKIP = 1, 2, 3
_KIND = {**dict.fromkeys(_ASCII_VRS, _ASCII), **dict.fromkeys(_TEXT_VRS, _TEXT), "SQ": _SKIP}


class _Fallback(Exception):  # noqa: N818 - a signal inside this module, never raised out of it
    """The fast path is not sure: the reference decodes this answer."""


_HEADERS = {True: struct.Struct("<HHL"), False: struct.Struct(">HHL")}
_EXPLICIT = {True: struct.Struct("<HH2sH"), False: struct.Struct(">HH2sH")}
_LENGTH32 = {True: struct.Struct("<L"), False: struct.Struct(">L")}


def reference_decode(data: bytes, level: QueryLevel, *, implicit_vr: bool,
                     little_endian: bool) -> FindMatch:
    """The reference :func:`decode_match_bytes` must equal: pydicom reads, decode_match decodes.

    Same contract as :func:`decode_match_bytes`. Runs on: DIMSE worker thread.
    """
    identifier = read_dataset(BytesIO(data), implicit_vr, little_endian)
    return decode_match(identifier, level)


def decode_match_bytes(data: bytes, level: QueryLevel, *, implicit_vr: bool,
                       little_endian: bool) -> FindMatch:
    """Every non-sequence element of the encoded identifier ``data`` as text, by keyword.

    ``data``: the identifier's bytes (a whole data set, PS3.5 7); ``implicit_vr``/
    ``little_endian``: its transfer syntax's encoding (PS3.5 A.1-A.3; explicit VR big endian is
    ``implicit_vr=False, little_endian=False``). Returns the same :class:`FindMatch` as
    :func:`.decode.decode_match` on the data set pydicom reads from ``data``.
    Raises: :class:`.decode.TruncatedDataSet` when the data set is cut off mid-element; any
    other exception on bytes that are not a data set (exactly where pydicom + decode_match
    raise: the caller counts the answer as one that cannot be read). Never hangs: every step
    moves forward through ``data``. Runs on: DIMSE worker thread.
    """
    try:
        return _fast(bytes(data), level, implicit_vr, little_endian)
    except (_Fallback, struct.error, IndexError, UnicodeError, LookupError, ValueError,
            RecursionError):
        pass
    # Outside the except block: whatever the reference raises carries no trace of ours
    # (pydicom puts the formatted traceback, context included, in some messages).
    return reference_decode(data, level, implicit_vr=implicit_vr, little_endian=little_endian)


def _looks_implicit(data: bytes, pos: int) -> bool:
    """pydicom's test at the start of a data set: no VR of two capitals after the tag."""
    a, b = data[pos + 4], data[pos + 5]
    return not (0x40 < a < 0x5B and 0x40 < b < 0x5B)


def _header(data: bytes, pos: int, implicit: bool,
            little: bool) -> tuple[int, str | None, int, int]:
    """(tag, explicit VR or None, value length, header size) of the element at ``pos``.

    The caller has checked that 8 bytes are there. Raises _Fallback on a VR pydicom would
    guess at (PS3.5 7.1.2: a VR is one of the defined two-letter codes).
    """
    if implicit:
        group, elem, length = _HEADERS[little].unpack_from(data, pos)
        return group << 16 | elem, None, length, 8
    group, elem, raw_vr, length = _EXPLICIT[little].unpack_from(data, pos)
    tag = group << 16 | elem
    vr = _KNOWN_VRS.get(raw_vr)
    if vr is None:
        raise _Fallback
    if vr in _LONG_VRS:
        if len(data) - pos < 12:
            raise _Fallback
        return tag, vr, _LENGTH32[little].unpack_from(data, pos + 8)[0], 12
    return tag, vr, length, 8


def _is_sequence(data: bytes, pos: int, tag: int, vr: str | None, little: bool) -> bool:
    """Whether pydicom reads an undefined-length element as a sequence (PS3.5 6.2.2, 7.5)."""
    if vr is not None:
        return vr in ("SQ", "UN")
    try:
        return _dictionary_vr_fast(tag) == "SQ"
    except KeyError:
        if len(data) - pos < 4:
            raise _Fallback from None
        group, elem = struct.unpack_from("<HH" if little else ">HH", data, pos)
        return bool((group << 16 | elem) == _ITEM)


def _skip_sequence(data: bytes, pos: int, implicit: bool, little: bool, depth: int = 0) -> int:
    """Position after the Sequence Delimitation Item of the sequence whose items start at
    ``pos`` (PS3.5 7.5.2); raises _Fallback on anything not well formed, or nested deeper
    than _MAX_DEPTH (pydicom may run out of stack there: its RecursionError is the answer)."""
    if depth > _MAX_DEPTH:
        raise _Fallback
    n = len(data)
    unpack = _HEADERS[little].unpack_from
    while True:
        if n - pos < 8:
            raise _Fallback
        group, elem, length = unpack(data, pos)
        tag = group << 16 | elem
        pos += 8
        if tag == _SEQUENCE_END:
            return pos
        if tag != _ITEM:
            raise _Fallback
        if length == _UNDEFINED:
            pos = _skip_item(data, pos, None, implicit, little, depth)
        else:
            end = pos + length
            if end > n:
                raise _Fallback
            pos = _skip_item(data, pos, end, implicit, little, depth)


def _skip_item(data: bytes, pos: int, end: int | None, implicit: bool, little: bool,
               depth: int) -> int:
    """Position after one item's data set (to ``end``, or past its Item Delimitation Item when
    ``end`` is None, PS3.5 7.5.1); raises _Fallback on anything not well formed."""
    n = len(data)
    unpack = _HEADERS[little].unpack_from
    if not implicit and (end is None or end > pos) and n - pos >= 6 \
            and _looks_implicit(data, pos):
        group, elem = struct.unpack_from("<HH" if little else ">HH", data, pos)
        if end is not None or (group << 16 | elem) != _ITEM_END:
            raise _Fallback  # an item in implicit VR inside explicit VR: pydicom's guess
    while end is None or pos < end:
        if n - pos < 8:
            raise _Fallback
        group, elem, length = unpack(data, pos)
        if group == 0xFFFE:
            if end is None and (group << 16 | elem) == _ITEM_END and length == 0:
                return pos + 8
            raise _Fallback
        tag, vr, length, size = _header(data, pos, implicit, little)
        if tag == _CHARSET_TAG:
            raise _Fallback  # an item's own character set: pydicom's to handle
        pos += size
        if length == _UNDEFINED:
            if not _is_sequence(data, pos, tag, vr, little):
                raise _Fallback
            pos = _skip_sequence(data, pos, implicit, little, depth + 1)
        else:
            pos += length
            if pos > n:
                raise _Fallback
    if pos != end:
        raise _Fallback
    return pos


def _check_charset(raw: bytes, little: bool) -> None:
    """pydicom's reader converts every (0008,0005) it meets, and may raise there: if it
    would, raise _Fallback so that the reference raises it."""
    if not _charset_read_as_pydicom_does(raw, little):
        raise _Fallback


@functools.lru_cache(maxsize=64)
def _charset_read_as_pydicom_does(raw: bytes, little: bool) -> bool:
    """True if pydicom reads this (0008,0005) value without raising (checked once per value)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            convert_encodings(convert_string(raw, little))
        except Exception:  # noqa: BLE001 - whatever it is, the reference reproduces it
            return False
    return True


def _elements(data: bytes, implicit: bool, little: bool) -> dict[int, tuple[str | None, int, int]]:
    """The top-level elements of ``data``, as pydicom's reader keeps them: tag -> (explicit VR
    or None, value start, value end); a repeated tag keeps its first place and last value."""
    n = len(data)
    if n >= 6 and _looks_implicit(data, 0) != implicit:
        raise _Fallback  # pydicom would switch encodings, with a warning
    elements: dict[int, tuple[str | None, int, int]] = {}
    pos = 0
    if implicit:
        unpack = _HEADERS[little].unpack_from
        while n - pos >= 8:
            group, elem, length = unpack(data, pos)
            tag = group << 16 | elem
            pos += 8
            if group == 0xFFFE:
                raise _Fallback
            if length == _UNDEFINED:
                if not _is_sequence(data, pos, tag, None, little):
                    raise _Fallback
                pos = _skip_sequence(data, pos, True, little)
                if group:
                    elements[tag] = ("SQ", pos, pos)
                continue
            end = pos + length
            if end > n:
                raise _Fallback  # cut off: the reference raises TruncatedDataSet
            if group:
                elements[tag] = (None, pos, end)
                if tag == _CHARSET_TAG:
                    _check_charset(data[pos:end], little)
            pos = end
        return elements
    while n - pos >= 8:
        tag, vr, length, size = _header(data, pos, False, little)
        pos += size
        if tag >> 16 == 0xFFFE:
            raise _Fallback
        if length == _UNDEFINED:
            if not _is_sequence(data, pos, tag, vr, little):
                raise _Fallback
            pos = _skip_sequence(data, pos, False, little)
            vr = "SQ"
            start = end = pos
        else:
            start = pos
            end = pos = pos + length
            if end > n:
                raise _Fallback
        if tag >> 16:
            elements[tag] = (vr, start, end)
            if tag == _CHARSET_TAG:
                _check_charset(data[start:end], little)
    return elements


@functools.lru_cache(maxsize=64)
def _charset_rules(raw_charset: bytes, little: bool) -> tuple[str | None, bool]:
    """(Python codec or None, whether a repertoire beyond ASCII is declared) for a (0008,0005)
    value, as decode_match derives them; the codec under its canonical name (the same codec,
    looked up faster). Raises _Fallback if pydicom would not read the value."""
    if not _charset_read_as_pydicom_does(raw_charset, little):
        raise _Fallback
    codec = _python_codec(raw_charset)
    if codec is not None:
        with contextlib.suppress(LookupError):  # then decoding raises the reference's own
            canonical = codecs.lookup(codec).name
            if codecs.lookup(canonical).decode == codecs.lookup(codec).decode:
                codec = canonical
    return codec, _declares_a_charset(raw_charset)


#: tag -> (keyword, how a value of its dictionary VR is read, or None), filled as answers come.
_TAGS: dict[int, tuple[str, int | None]] = {}


def _tag(tag: int) -> tuple[str, int | None]:
    keyword, dict_vr = _tag_info(tag)
    info = keyword, _KIND.get(dict_vr or "")
    if len(_TAGS) < 4096:  # a peer inventing tags gets no more room
        _TAGS[tag] = info
    return info


def _fast(data: bytes, level: QueryLevel, implicit: bool, little: bool) -> FindMatch:
    elements = _elements(data, implicit, little)
    raw_charset = b""
    charset = elements.get(_CHARSET_TAG)
    if charset is not None:
        if charset[0] not in (None, "CS"):
            raise _Fallback
        raw_charset = data[charset[1]:charset[2]]
    codec, declared = _charset_rules(raw_charset, little)
    values: dict[str, str] = {}
    bad: set[str] = set()
    guessed: set[str] = set()
    tags = _TAGS
    for tag, (vr, start, end) in elements.items():
        keyword, kind = tags.get(tag) or _tag(tag)
        if vr is not None:
            kind = _KIND.get(vr)
        if kind is None:
            raise _Fallback  # binary, unknown or ambiguous VR: pydicom converts it
        if kind == _SKIP:
            continue
        if start == end and vr is None:
            # Empty in implicit VR: pydicom converts it (its raw value is None), to "".
            values[keyword] = ""
            continue
        if kind == _ASCII:
            values[keyword] = data[start:end].decode("ascii").strip(" \x00")
            continue
        raw = data[start:end]
        if codec is not None and b"\x1b" not in raw:
            try:
                text = raw.decode(codec).rstrip(" \x00")
            except UnicodeError:
                text = _undeclared(raw, declared)
                guessed.add(keyword)
        else:
            text = _undeclared(raw, declared)
            guessed.add(keyword)
        if _REPLACEMENT in text:
            bad.add(keyword)
        values[keyword] = text
    return FindMatch(level=level, values=MappingProxyType(values), undecodable=frozenset(bad),
                     undeclared_charset=frozenset(guessed))


def _undeclared(raw: bytes, declared: bool) -> str:
    """Text with no declared character set: UTF-8 if valid, else Latin-1 (decode.py's rule)."""
    if declared or b"\x1b" in raw:
        raise _Fallback  # pydicom decodes it (ISO 2022, or a decode error to mark)
    try:
        return raw.decode("utf-8").rstrip(" \x00")
    except UnicodeError:
        return raw.decode("latin-1").rstrip(" \x00")
