"""The built-in receiver's settings (``receiver.json``) and who may send to it.

The receiver is a Storage SCP (PS3.4 Annex B) that listens on the network, so it is off
until the person turns it on. ``receiver.json`` is read key by key like ``settings.json``: a
bad value costs that value (reported), not the file.

Who may send (:class:`AllowList`): by default the AE titles of the saved PACS profiles (the
PACS's own title, ``called_aet``, is what it calls us with when it moves a study here);
optionally also the address: the peer must then connect from that profile's host.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from dicom_courier.core.config.atomic import write_text_atomically
from dicom_courier.core.config.paths import AppPaths
from dicom_courier.core.config.profiles import PacsNode, validate_ae_title, validate_host
from dicom_courier.core.config.small_files import UnusableFile, read_text_file
from dicom_courier.core.outcome.errors import InvalidInput
from dicom_courier.core.qr.input_rules import parse_whole_number

SCHEMA_VERSION = 1
DEFAULT_PORT = 11112
#: The largest instance (MB, 10^6 bytes) the receiver takes by default, and the bounds of
#: ``max_instance_mb`` (one instance is held in memory while it arrives).
DEFAULT_MAX_INSTANCE_MB = 2048
MIN_INSTANCE_MB = 1
MAX_INSTANCE_MB = 65536


@dataclass(frozen=True)
class ReceiverSettings:
    """The receiver's settings; every field is checked on creation (InvalidInput names it).

    ``port`` 1-65535 (0: any free port, for tests; refused in ``receiver.json``); ``bind`` ""
    for all interfaces, else an IP address or host name; ``folder`` None for
    ``AppPaths.data_dir / "received"``; ``allowed_aets`` None for the PACS profiles' AE
    titles; ``check_address`` also requires the peer's address to be its profile's host;
    ``max_instance_mb`` the largest instance accepted (MB, 1-65536; larger ones abort the
    association with a refusal naming this setting).
    """

    enabled: bool = False
    ae_title: str = "COURIER"
    port: int = DEFAULT_PORT
    bind: str = ""
    folder: str | None = None
    allowed_aets: tuple[str, ...] | None = None
    check_address: bool = False
    max_instance_mb: int = DEFAULT_MAX_INSTANCE_MB

    def __post_init__(self) -> None:
        for name in ("enabled", "check_address"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidInput(f"receiver {name}", "must be true or false", getattr(self, name))
        object.__setattr__(self, "ae_title", validate_ae_title(self.ae_title,
                                                               "receiver AE title"))
        object.__setattr__(self, "port", parse_whole_number(self.port, "receiver port",
                                                            minimum=0, maximum=65535))
        object.__setattr__(self, "max_instance_mb", parse_whole_number(
            self.max_instance_mb, "receiver largest instance", minimum=MIN_INSTANCE_MB,
            maximum=MAX_INSTANCE_MB, unit="MB"))
        if not isinstance(self.bind, str):
            raise InvalidInput("receiver bind address", "must be text", self.bind)
        if self.bind.strip():
            object.__setattr__(self, "bind", validate_host(self.bind, "receiver bind address"))
        else:
            object.__setattr__(self, "bind", "")
        if self.folder is not None and (not isinstance(self.folder, str)
                                        or not self.folder.strip() or "\x00" in self.folder):
            raise InvalidInput("receiver folder", "must be a folder path", self.folder)
        if self.allowed_aets is not None:
            if isinstance(self.allowed_aets, str) or not isinstance(self.allowed_aets,
                                                                    list | tuple):
                raise InvalidInput("allowed AE titles", "must be a list of AE titles",
                                   self.allowed_aets)
            object.__setattr__(self, "allowed_aets", tuple(
                validate_ae_title(aet, "allowed AE title") for aet in self.allowed_aets))

    def storage_folder(self, paths: AppPaths) -> Path:
        """Where received files go: ``folder`` (``~`` expanded, made absolute) or
        ``paths.data_dir / "received"``."""
        if self.folder:
            return Path(self.folder).expanduser().absolute()
        return paths.data_dir / "received"

    def to_json(self) -> dict[str, Any]:
        document = asdict(self)
        document["allowed_aets"] = (None if self.allowed_aets is None
                                    else list(self.allowed_aets))
        return {"schema_version": SCHEMA_VERSION, **document}


def read_receiver_settings(path: Path) -> tuple[ReceiverSettings, tuple[str, ...]]:
    """The settings in ``path`` and one plain line per value that could not be used (its
    default is used instead); a missing file gives the defaults. Never raises."""
    try:
        data: Any = json.loads(read_text_file(path))
    except FileNotFoundError:
        return ReceiverSettings(), ()
    except (OSError, UnusableFile, ValueError, RecursionError) as exc:
        reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc)
        return ReceiverSettings(), (f"{path.name} cannot be read ({reason}); the receiver's "
                                    "defaults are used this time",)
    if not isinstance(data, dict):
        return ReceiverSettings(), (f"{path.name} must hold a JSON object; the receiver's "
                                    "defaults are used this time",)
    values: dict[str, Any] = {}
    problems: list[str] = []
    defaults = ReceiverSettings()
    for item in fields(ReceiverSettings):
        if item.name not in data:
            continue
        value = data[item.name]
        try:
            if item.name == "port" and value == 0:
                raise InvalidInput("receiver port", "must be a whole number from 1 to 65535",
                                   value)
            if item.name == "allowed_aets" and isinstance(value, list):
                value = tuple(value)
            ReceiverSettings(**{item.name: value})
        except InvalidInput as exc:
            default = _DEFAULT_WORDS.get(item.name, repr(getattr(defaults, item.name)))
            problems.append(f"{path.name}: {exc.field} {exc.rule} (got {value!r}); the "
                            f"default {default} is used this time")
            continue
        values[item.name] = value
    return ReceiverSettings(**values), tuple(problems)


#: The defaults that are None in the dataclass, as people read them.
_DEFAULT_WORDS = {"folder": "(the data folder's 'received')",
                  "allowed_aets": "(the PACS profiles' AE titles)",
                  "bind": "(all interfaces)"}


def load_receiver_settings(path: Path) -> ReceiverSettings:
    """The settings of :func:`read_receiver_settings` (valid values kept); never raises."""
    return read_receiver_settings(path)[0]


def save_receiver_settings(path: Path, settings: ReceiverSettings) -> None:
    """Write ``settings`` atomically (0600). Raises OSError when it cannot be written."""
    write_text_atomically(path, json.dumps(settings.to_json(), indent=2) + "\n")


@dataclass(frozen=True)
class AllowList:
    """Who may open an association to the receiver.

    ``aets``: the calling AE titles allowed. ``hosts``: None when the address is not checked;
    else calling AE title → the addresses it may connect from (an AE title without an entry
    was allowed by name only, e.g. ``--allow``, and may connect from anywhere). ``listed``:
    True when ``aets`` is the settings' own list (``allowed_aets``, ``receive --allow``),
    which replaces the PACS profiles' AE titles (then a refusal says so).
    """

    aets: frozenset[str]
    hosts: Mapping[str, frozenset[str]] | None = None
    listed: bool = False

    def refusal(self, calling_aet: str, address: str) -> str | None:
        """None when ``calling_aet`` connecting from ``address`` may send; otherwise the
        reason in one sentence, naming the AE title and the address (no patient data)."""
        aet = calling_aet.strip()
        if aet not in self.aets and self.listed:
            known = ", ".join(sorted(self.aets)) or "none"
            return (f"{aet or '(blank)'} at {address} may not send here: its AE title is not "
                    f"in the receiver's list of allowed AE titles ({known}), which replaces "
                    "the PACS profiles' AE titles. Add it to that list (receive --allow, or "
                    "the allowed AE titles in the receiver's settings).")
        if aet not in self.aets:
            known = ", ".join(sorted(self.aets)) or "none: no PACS profile is saved"
            return (f"{aet or '(blank)'} at {address} may not send here: its AE title is not "
                    f"allowed (allowed: {known}). Add a PACS profile with this AE title or "
                    "allow it in the receiver's settings.")
        if self.hosts is not None and aet in self.hosts:
            allowed = self.hosts[aet]
            if _normal_address(address) not in allowed:
                return (f"{aet} at {address} may not send here: it must connect from "
                        f"{', '.join(sorted(allowed))} (its PACS profile's host).")
        return None


def allow_list(settings: ReceiverSettings, nodes: Iterable[PacsNode]) -> AllowList:
    """The :class:`AllowList` of ``settings`` over the saved PACS profiles ``nodes``.

    With ``check_address``, each profile's host name is resolved to its addresses (DNS: may
    take a moment; a name that does not resolve keeps only itself, so that peer is refused).
    """
    nodes = list(nodes)
    if settings.allowed_aets is not None:
        aets = frozenset(settings.allowed_aets)
    else:
        aets = frozenset(node.called_aet for node in nodes)
    listed = settings.allowed_aets is not None
    if not settings.check_address:
        return AllowList(aets, listed=listed)
    hosts: dict[str, set[str]] = {}
    for node in nodes:
        if node.called_aet in aets:
            hosts.setdefault(node.called_aet, set()).update(_addresses(node.host))
    return AllowList(aets, {aet: frozenset(found) for aet, found in hosts.items()},
                     listed=listed)


def _addresses(host: str) -> set[str]:
    found = {_normal_address(host)}
    try:
        for info in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM):
            found.add(_normal_address(str(info[4][0])))
    except (OSError, UnicodeError):
        pass
    return found


def _normal_address(address: str) -> str:
    """``::ffff:10.0.0.9`` → ``10.0.0.9``; IPv6 compressed; host names as they are."""
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return address.strip().lower()
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)
