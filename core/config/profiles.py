"""PACS profiles and move destinations: immutable value objects, validated on construction.

Validation messages name the field and the rule (PS3.5 6.2: an AE title is 1-16 characters of
the default repertoire, no backslash, no control characters, not all spaces), so the command
line and the window can show them as they are.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from dicom_courier.core.config.retrieve_method import (
    RetrieveMethod,
    parse_retrieve_method,
    stored_retrieve_method,
)
from dicom_courier.core.outcome.errors import InvalidInput
from dicom_courier.core.qr.input_rules import check_text, parse_decimal, parse_whole_number

DEFAULT_CALLING_AET = "COURIER"
#: The largest DIMSE message (command or data set) we accept from a peer, in MiB.
DEFAULT_MAX_MESSAGE_MB = 64
#: The Maximum Length we may propose (PS3.8 D.1.1): 0 = unlimited, else at least 4096 bytes
#: (DCMTK's floor; smaller PDUs only multiply the overhead), at most 2**31.
MIN_MAX_PDU, MAX_MAX_PDU = 4096, 2**31
MAX_PDU_RULE = f"must be 0 (unlimited) or from {MIN_MAX_PDU} to {MAX_MAX_PDU} bytes"


def validate_max_pdu(value: object, field_name: str = "max PDU") -> int:
    """The largest PDU we receive, in bytes, from an int or ASCII digits (rule:
    :data:`MAX_PDU_RULE`, PS3.8 D.1.1); raises InvalidInput naming ``field_name``."""
    try:
        number = parse_whole_number(value, field_name, minimum=0, maximum=MAX_MAX_PDU)
    except InvalidInput:
        raise InvalidInput(field_name, MAX_PDU_RULE, value) from None
    if 0 < number < MIN_MAX_PDU:
        raise InvalidInput(field_name, MAX_PDU_RULE, value)
    return number


def validate_ae_title(value: object, field_name: str = "AE title") -> str:
    """Return the AE title stripped of padding, or raise InvalidInput naming ``field_name``."""
    if not isinstance(value, str):
        raise InvalidInput(field_name, "must be text", value)
    stripped = value.strip()
    if not stripped:
        raise InvalidInput(field_name, "must not be blank", value)
    if len(stripped) > 16:
        raise InvalidInput(field_name, "must be at most 16 characters", value)
    if "\\" in stripped:
        raise InvalidInput(field_name, "must not contain a backslash", value)
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in stripped):
        raise InvalidInput(field_name, "must not contain control characters", value)
    if any(ord(ch) > 0x7E for ch in stripped):
        raise InvalidInput(field_name, "must use plain ASCII characters only", value)
    return stripped


def validate_port(value: object, field_name: str = "port") -> int:
    """Return the port (1-65535) as int from an int or ASCII digits, or raise InvalidInput.

    ``"²"``, ``"١٠٤"`` and a number of thousands of digits are refused (see :mod:`.input_rules`).
    """
    return parse_whole_number(value, field_name, minimum=1, maximum=65535)


def validate_host(value: object, field_name: str = "host") -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(field_name, "must not be empty", value)
    host = value.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]  # [::1] as written in URLs
    if any(ch.isspace() for ch in host):
        raise InvalidInput(field_name, "must not contain spaces", value)
    check_text(host, field_name, max_length=253)  # no undecodable bytes or control characters
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise InvalidInput(field_name, "must be a host name or IP address without a port "
                               "(give the port separately)", value) from None
    return host


def validate_seconds(value: object, field_name: str, *, optional: bool = False) -> float | None:
    """Seconds in (0, 86400] from a number or ASCII decimal text (``nan``, ``inf``, ``-0``,
    ``1e999`` and Unicode digits are refused); None only when ``optional``. Raises InvalidInput.
    """
    if value is None and optional:
        return None
    return parse_decimal(value, field_name, minimum=0, maximum=86_400, allow_minimum=False)


@dataclass(frozen=True)
class Timeouts:
    """Our own timers. ``idle`` restarts on every response; ``total`` caps the whole operation."""

    connect: float = 10.0
    acse: float = 30.0
    idle: float = 120.0
    total: float | None = None

    def __post_init__(self) -> None:
        validate_seconds(self.connect, "connect timeout")
        validate_seconds(self.acse, "association timeout")
        validate_seconds(self.idle, "idle timeout")
        validate_seconds(self.total, "total deadline", optional=True)


@dataclass(frozen=True)
class Destination:
    """A move destination: the AE title the PACS knows it by, and optionally where it lives.

    ``queryable``: the destination answers C-FIND (Study Root, PS3.4 C.4.1) at its own
    ``host``/``port`` under ``ae_title``, so the arrival check (:mod:`.dimse.arrival_check`)
    can count what arrived there; without an address it cannot be (:attr:`can_be_checked`).
    """

    ae_title: str
    host: str | None = None
    port: int | None = None
    label: str = ""
    queryable: bool = False

    def __post_init__(self) -> None:
        ae_title = validate_ae_title(self.ae_title, "destination AE title")
        object.__setattr__(self, "ae_title", ae_title)
        if self.host is not None:
            object.__setattr__(self, "host", validate_host(self.host, "destination host"))
        if self.port is not None:
            object.__setattr__(self, "port", validate_port(self.port, "destination port"))
        if not isinstance(self.queryable, bool):
            raise InvalidInput("destination can be queried", "must be true or false",
                               self.queryable)

    @property
    def can_be_checked(self) -> bool:
        """True when the arrival check can query it (queryable, with host and port)."""
        return self.queryable and self.host is not None and self.port is not None

    @property
    def display_name(self) -> str:
        return f"{self.label} ({self.ae_title})" if self.label else self.ae_title


def _tls_path(value: object, field_name: str) -> str:
    """A file path as typed ("" = none); only its shape is checked here (see check_files)."""
    if not isinstance(value, str):
        raise InvalidInput(field_name, "must be a file path (text)", value)
    path = value.strip()
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in path):
        raise InvalidInput(field_name, "must not contain control characters", value)
    return path


def check_readable_file(path: str, field_name: str) -> None:
    """Raise InvalidInput naming ``field_name`` unless ``path`` is a readable regular file."""
    file = Path(path)
    try:
        if not file.exists():
            raise InvalidInput(field_name, "must be an existing file: there is no such file",
                               path)
        if not file.is_file():
            raise InvalidInput(field_name, "must be a file, not a folder or device", path)
        with file.open("rb"):
            pass
    except PermissionError:
        raise InvalidInput(field_name, "must be a file we may read: permission denied",
                           path) from None
    except OSError as exc:
        raise InvalidInput(field_name, f"must be a readable file: {exc.strerror or exc}",
                           path) from None


@dataclass(frozen=True)
class TlsSettings:
    """DICOM TLS (PS3.15 B.1) towards one PACS; off unless ``enabled``.

    ``ca_file``: PEM bundle of the CAs that may sign the PACS's certificate ("" = the
    system's trusted CAs). ``cert_file``/``key_file``: our client certificate and its key, in
    PEM, for a PACS that requires one ("" = none; the key may be inside ``cert_file``).
    ``verify`` False accepts any certificate (shown as a warning wherever the profile is).
    Construction checks the shape of the values; :meth:`check_files` checks the files, at use
    time, since a file may live on a share that is mounted later.
    """

    enabled: bool = False
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    verify: bool = True

    def __post_init__(self) -> None:
        for name, label in (("enabled", "TLS on/off"), ("verify", "TLS verify")):
            if not isinstance(getattr(self, name), bool):
                raise InvalidInput(label, "must be true or false", getattr(self, name))
        for name, label in (("ca_file", "TLS CA file"), ("cert_file", "TLS client certificate"),
                            ("key_file", "TLS client key")):
            object.__setattr__(self, name, _tls_path(getattr(self, name), label))
        if self.key_file and not self.cert_file:
            raise InvalidInput("TLS client key", "needs a client certificate file too",
                               self.key_file)

    @property
    def unverified(self) -> bool:
        """True when TLS is on but the PACS's certificate is not checked (a warning)."""
        return self.enabled and not self.verify

    def describe(self) -> str:
        """One plain line for listings: ``off``, ``on``, ``on, NOT VERIFIED``, ``…client cert``."""
        if not self.enabled:
            return "TLS off"
        parts = ["TLS on"]
        if not self.verify:
            parts.append("certificate NOT verified")
        elif self.ca_file:
            parts.append(f"CA {self.ca_file}")
        if self.cert_file:
            parts.append("client certificate")
        return ", ".join(parts)

    def check_files(self) -> None:
        """Raise InvalidInput naming the field if a given file is missing or unreadable."""
        for path, label in ((self.ca_file, "TLS CA file"),
                            (self.cert_file, "TLS client certificate"),
                            (self.key_file, "TLS client key")):
            if path:
                check_readable_file(path, label)

    def to_json(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "ca_file": self.ca_file, "cert_file": self.cert_file,
                "key_file": self.key_file, "verify": self.verify}

    @classmethod
    def from_json(cls, data: object) -> TlsSettings:
        """From a profile's ``"tls"`` object; absent (older files) means TLS off."""
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise InvalidInput("PACS profile field 'tls'", "must be a JSON object", data)
        return cls(**{k: v for k, v in data.items()
                      if k in ("enabled", "ca_file", "cert_file", "key_file", "verify")})


@dataclass(frozen=True)
class PacsNode:
    """A PACS profile: where it is, who we are to it, timeouts, and where it may send studies."""

    name: str
    called_aet: str
    host: str
    port: int
    calling_aet: str = DEFAULT_CALLING_AET
    max_pdu: int = 0  # 0 = unlimited, as PS3.8 allows
    timeouts: Timeouts = field(default_factory=Timeouts)
    destinations: tuple[Destination, ...] = ()
    max_message_mb: int = DEFAULT_MAX_MESSAGE_MB  # one DIMSE message from the peer, at most
    tls: TlsSettings = field(default_factory=TlsSettings)  # DICOM TLS, PS3.15 B.1
    #: How a study comes to this computer: C-MOVE to us, C-GET, or automatic (issue 13 §2).
    retrieve: RetrieveMethod = RetrieveMethod.MOVE

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise InvalidInput("PACS name", "must not be empty", self.name)
        check_text(self.name.strip(), "PACS name", max_length=200)
        object.__setattr__(self, "name", self.name.strip())
        object.__setattr__(self, "called_aet", validate_ae_title(self.called_aet, "PACS AE title"))
        object.__setattr__(self, "calling_aet", validate_ae_title(self.calling_aet, "our AE title"))
        object.__setattr__(self, "host", validate_host(self.host, "PACS host"))
        object.__setattr__(self, "port", validate_port(self.port, "PACS port"))
        if not isinstance(self.max_pdu, int):  # a profile file holds a number, not text
            raise InvalidInput("max PDU", MAX_PDU_RULE, self.max_pdu)
        validate_max_pdu(self.max_pdu)
        if (isinstance(self.max_message_mb, bool) or not isinstance(self.max_message_mb, int)
                or not 1 <= self.max_message_mb <= 4096):
            raise InvalidInput("largest message", "must be a whole number of MiB from 1 to 4096",
                               self.max_message_mb)
        object.__setattr__(self, "destinations", tuple(self.destinations))
        seen: set[str] = set()
        for dest in self.destinations:
            if dest.ae_title in seen:
                raise InvalidInput("destination AE title", "must be unique within a PACS",
                                   dest.ae_title)
            seen.add(dest.ae_title)
        if not isinstance(self.tls, TlsSettings):
            raise InvalidInput("TLS settings", "must be TlsSettings", self.tls)
        object.__setattr__(self, "retrieve", parse_retrieve_method(self.retrieve,
                                                                   "retrieve method"))

    @property
    def default_destination(self) -> Destination | None:
        return self.destinations[0] if self.destinations else None

    def with_changes(self, **changes: Any) -> PacsNode:
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "called_aet": self.called_aet,
            "host": self.host,
            "port": self.port,
            "calling_aet": self.calling_aet,
            "max_pdu": self.max_pdu,
            "max_message_mb": self.max_message_mb,
            "timeouts": {
                "connect": self.timeouts.connect,
                "acse": self.timeouts.acse,
                "idle": self.timeouts.idle,
                "total": self.timeouts.total,
            },
            "tls": self.tls.to_json(),
            "retrieve": self.retrieve.value,
            "destinations": [
                {k: v for k, v in (("ae_title", d.ae_title), ("host", d.host),
                                   ("port", d.port), ("label", d.label),
                                   ("queryable", d.queryable or None)) if v not in (None, "")}
                for d in self.destinations
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PacsNode:
        """Build from the settings file; a missing or mistyped field raises InvalidInput."""
        if not isinstance(data, dict):
            raise InvalidInput("PACS profile", "must be a JSON object", data)
        for key in ("name", "called_aet", "host", "port"):
            if key not in data:
                raise InvalidInput(f"PACS profile field {key!r}", "is required")
        timeouts = data.get("timeouts") or {}
        dests = data.get("destinations") or []
        if not isinstance(timeouts, dict) or not isinstance(dests, list):
            raise InvalidInput("PACS profile", "timeouts must be an object, destinations a list")
        return cls(
            name=data["name"],
            called_aet=data["called_aet"],
            host=data["host"],
            port=data["port"],
            calling_aet=data.get("calling_aet", DEFAULT_CALLING_AET),
            max_pdu=data.get("max_pdu", 0),
            max_message_mb=data.get("max_message_mb", DEFAULT_MAX_MESSAGE_MB),
            timeouts=Timeouts(**{k: v for k, v in timeouts.items()
                                 if k in ("connect", "acse", "idle", "total")}),
            destinations=tuple(
                Destination(**{k: v for k, v in d.items()
                               if k in ("ae_title", "host", "port", "label")},
                            queryable=d.get("queryable") is True)  # a bad value: not queried
                for d in dests if isinstance(d, dict)
            ),
            tls=TlsSettings.from_json(data.get("tls")),
            # absent in older files; a bad value costs that value (NodeStore.problems)
            retrieve=stored_retrieve_method(data.get("retrieve", RetrieveMethod.MOVE))[0],
        )
