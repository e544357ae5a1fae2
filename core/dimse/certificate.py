"""What a PACS's X.509 certificate says about itself: its names and its validity period.

Python's :mod:`ssl` decodes a certificate only after it was verified; an error message about a
certificate that *failed* verification ("expired on …", "is for pacs.example.org") needs the
few fields read from the DER bytes. This is a minimal, defensive DER reader (ITU-T X.690) for
RFC 5280 certificates: it reads the validity, the subject and issuer common names and the
subjectAltName DNS names and IP addresses, and returns ``None`` for anything it cannot read
(a certificate is peer data: never trust its shape).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

_SEQUENCE = 0x30
_OID = 0x06
_UTC_TIME = 0x17
_GENERALIZED_TIME = 0x18
_EXPLICIT_VERSION = 0xA0
_EXTENSIONS = 0xA3
_OCTET_STRING = 0x04
_SAN_DNS = 0x82  # GeneralName [2] dNSName
_SAN_IP = 0x87  # GeneralName [7] iPAddress
_OID_COMMON_NAME = bytes([0x55, 0x04, 0x03])  # 2.5.4.3
_OID_SUBJECT_ALT_NAME = bytes([0x55, 0x1D, 0x11])  # 2.5.29.17


@dataclass(frozen=True)
class CertificateFacts:
    """Names and validity of one certificate. Times are timezone-aware UTC."""

    subject_cn: str
    issuer_cn: str
    alt_names: tuple[str, ...]
    not_before: datetime | None
    not_after: datetime | None

    @property
    def names(self) -> tuple[str, ...]:
        """The names the certificate is valid for: its subjectAltNames, else its CN."""
        if self.alt_names:
            return self.alt_names
        return (self.subject_cn,) if self.subject_cn else ()


def _tlv(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of value, end of value) of the DER element at ``pos``; ValueError if cut."""
    if pos + 2 > len(data):
        raise ValueError("truncated DER")
    tag, length = data[pos], data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or pos + count > len(data):
            raise ValueError("bad DER length")
        length = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    if pos + length > len(data):
        raise ValueError("truncated DER")
    return tag, pos, pos + length


def _children(data: bytes, start: int, end: int) -> Iterator[tuple[int, int, int]]:
    pos = start
    while pos < end:
        tag, value_start, value_end = _tlv(data, pos)
        yield tag, value_start, value_end
        pos = value_end


def _time(data: bytes, tag: int, start: int, end: int) -> datetime | None:
    text = data[start:end].decode("ascii", "replace").rstrip("Z")
    try:
        if tag == _UTC_TIME:
            parsed = datetime.strptime(text, "%y%m%d%H%M%S")
            # RFC 5280 4.1.2.5.1: YY >= 50 is 19YY; strptime maps 69-99 to 19YY already.
            if parsed.year >= 2050:
                parsed = parsed.replace(year=parsed.year - 100)
        elif tag == _GENERALIZED_TIME:
            parsed = datetime.strptime(text, "%Y%m%d%H%M%S")
        else:
            return None
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC)


def _common_name(data: bytes, start: int, end: int) -> str:
    """The CN of a Name (SEQUENCE OF SET OF AttributeTypeAndValue), or ""."""
    for _set_tag, set_start, set_end in _children(data, start, end):
        for _seq_tag, atv_start, atv_end in _children(data, set_start, set_end):
            parts = list(_children(data, atv_start, atv_end))
            if len(parts) == 2 and parts[0][0] == _OID and \
                    data[parts[0][1]:parts[0][2]] == _OID_COMMON_NAME:
                return data[parts[1][1]:parts[1][2]].decode("utf-8", "replace")
    return ""


def _alt_names(data: bytes, start: int, end: int) -> tuple[str, ...]:
    """DNS names and IP addresses from the [3] extensions of a TBSCertificate."""
    names: list[str] = []
    for _tag, ext_list_start, ext_list_end in _children(data, start, end):
        for _ext_tag, ext_start, ext_end in _children(data, ext_list_start, ext_list_end):
            parts = list(_children(data, ext_start, ext_end))
            if not parts or data[parts[0][1]:parts[0][2]] != _OID_SUBJECT_ALT_NAME:
                continue
            value = parts[-1]
            if value[0] != _OCTET_STRING:
                continue
            _seq, san_start, san_end = _tlv(data, value[1])
            for tag, name_start, name_end in _children(data, san_start, san_end):
                raw = data[name_start:name_end]
                if tag == _SAN_DNS:
                    names.append(raw.decode("ascii", "replace"))
                elif tag == _SAN_IP and len(raw) in (4, 16):
                    names.append(str(ipaddress.ip_address(raw)))
    return tuple(names)


def read_certificate(der: bytes) -> CertificateFacts | None:
    """Read names and validity from a DER certificate; ``None`` if it cannot be read."""
    try:
        _tag, cert_start, cert_end = _tlv(der, 0)
        _tbs_tag, tbs_start, tbs_end = next(_children(der, cert_start, cert_end))
        fields = list(_children(der, tbs_start, tbs_end))
        if fields and fields[0][0] == _EXPLICIT_VERSION:
            fields = fields[1:]
        # serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo, [1] [2] [3]
        issuer, validity, subject = fields[2], fields[3], fields[4]
        times = [_time(der, tag, start, end)
                 for tag, start, end in _children(der, validity[1], validity[2])]
        alt_names: tuple[str, ...] = ()
        for tag, start, end in fields[6:]:
            if tag == _EXTENSIONS:
                alt_names = _alt_names(der, start, end)
        return CertificateFacts(
            subject_cn=_common_name(der, subject[1], subject[2]),
            issuer_cn=_common_name(der, issuer[1], issuer[2]),
            alt_names=alt_names,
            not_before=times[0] if times else None,
            not_after=times[1] if len(times) > 1 else None,
        )
    except (ValueError, IndexError, StopIteration):
        return None
