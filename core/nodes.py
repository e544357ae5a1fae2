"""PACS profiles and move destinations: immutable value objects, validated on construction.

Validation messages name the field and the rule (PS3.5 6.2: an AE title is 1-16 characters of
the default repertoire, no backslash, no control characters, not all spaces), so the command
line and the window can show them as they are.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace
from typing import Any

from dicom_courier.core.errors import InvalidInput

DEFAULT_CALLING_AET = "COURIER"


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
    """Return the port as int (accepts digit strings), or raise InvalidInput."""
    if isinstance(value, bool):
        raise InvalidInput(field_name, "must be a whole number from 1 to 65535", value)
    if isinstance(value, str):
        if not value.strip().isdigit():
            raise InvalidInput(field_name, "must be a whole number from 1 to 65535", value)
        value = int(value.strip())
    if not isinstance(value, int) or not 1 <= value <= 65535:
        raise InvalidInput(field_name, "must be a whole number from 1 to 65535", value)
    return value


def validate_host(value: object, field_name: str = "host") -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(field_name, "must not be empty", value)
    host = value.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]  # [::1] as written in URLs
    if any(ch.isspace() for ch in host):
        raise InvalidInput(field_name, "must not contain spaces", value)
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise InvalidInput(field_name, "must be a host name or IP address without a port "
                               "(give the port separately)", value) from None
    return host


def validate_seconds(value: object, field_name: str, *, optional: bool = False) -> float | None:
    if value is None and optional:
        return None
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidInput(field_name, "must be a number of seconds", value) from None
    if not 0 < seconds <= 86_400:
        raise InvalidInput(field_name, "must be more than 0 and at most 86400 seconds", value)
    return seconds


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
    """A move destination: the AE title the PACS knows it by, and optionally where it lives."""

    ae_title: str
    host: str | None = None
    port: int | None = None
    label: str = ""

    def __post_init__(self) -> None:
        ae_title = validate_ae_title(self.ae_title, "destination AE title")
        object.__setattr__(self, "ae_title", ae_title)
        if self.host is not None:
            object.__setattr__(self, "host", validate_host(self.host, "destination host"))
        if self.port is not None:
            object.__setattr__(self, "port", validate_port(self.port, "destination port"))

    @property
    def display_name(self) -> str:
        return f"{self.label} ({self.ae_title})" if self.label else self.ae_title


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

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise InvalidInput("PACS name", "must not be empty", self.name)
        object.__setattr__(self, "name", self.name.strip())
        object.__setattr__(self, "called_aet", validate_ae_title(self.called_aet, "PACS AE title"))
        object.__setattr__(self, "calling_aet", validate_ae_title(self.calling_aet, "our AE title"))
        object.__setattr__(self, "host", validate_host(self.host, "PACS host"))
        object.__setattr__(self, "port", validate_port(self.port, "PACS port"))
        if not isinstance(self.max_pdu, int) or not (self.max_pdu == 0 or
                                                     4096 <= self.max_pdu <= 2**31):
            raise InvalidInput("max PDU", "must be 0 (unlimited) or from 4096 bytes", self.max_pdu)
        object.__setattr__(self, "destinations", tuple(self.destinations))
        seen: set[str] = set()
        for dest in self.destinations:
            if dest.ae_title in seen:
                raise InvalidInput("destination AE title", "must be unique within a PACS",
                                   dest.ae_title)
            seen.add(dest.ae_title)

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
            "timeouts": {
                "connect": self.timeouts.connect,
                "acse": self.timeouts.acse,
                "idle": self.timeouts.idle,
                "total": self.timeouts.total,
            },
            "destinations": [
                {k: v for k, v in (("ae_title", d.ae_title), ("host", d.host),
                                   ("port", d.port), ("label", d.label)) if v not in (None, "")}
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
            timeouts=Timeouts(**{k: v for k, v in timeouts.items()
                                 if k in ("connect", "acse", "idle", "total")}),
            destinations=tuple(
                Destination(**{k: v for k, v in d.items()
                               if k in ("ae_title", "host", "port", "label")})
                for d in dests if isinstance(d, dict)
            ),
        )
