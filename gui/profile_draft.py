"""A PACS profile as typed in the manager, and the check of it against the core's rules.

Split from :mod:`dicom_courier.gui.pacs_manager` so that the rules, which decide what Save and
Test may use, live apart from the widgets: a :class:`ProfileDraft` holds raw text (valid or not)
while a person switches between profiles, and :func:`validate_draft` runs the same ``validate_*``
functions and :class:`PacsNode` checks as the command line, naming the field and the rule.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from dicom_courier.core.config.profiles import (
    DEFAULT_CALLING_AET,
    DEFAULT_MAX_MESSAGE_MB,
    Destination,
    PacsNode,
    Timeouts,
    TlsSettings,
    check_readable_file,
    validate_ae_title,
    validate_host,
    validate_port,
    validate_seconds,
)
from dicom_courier.core.config.retrieve_method import RetrieveMethod
from dicom_courier.core.outcome.errors import InvalidInput
from dicom_courier.gui.destinations_model import QUERYABLE, DestinationColumn

#: The keys of :attr:`ProfileDraft.values`, in the order the editor shows them (and errors are
#: listed in).
FIELD_KEYS = ("name", "called_aet", "host", "port", "calling_aet", "connect", "idle", "total",
              "tls_ca", "tls_cert", "tls_key")
#: The DICOM TLS file fields, with the names the core's messages use for them.
TLS_FILE_KEYS = {"tls_ca": "TLS CA file", "tls_cert": "TLS client certificate",
                 "tls_key": "TLS client key"}
#: The fields a C-ECHO depends on: editing one makes the last test result stale.
CONNECTION_KEYS = frozenset({"called_aet", "host", "port", "calling_aet", "connect", "idle",
                             "total", *TLS_FILE_KEYS})


def _seconds_text(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


@dataclass(frozen=True)
class EchoStatus:
    """The outcome of the last Test of a profile, as shown next to the button."""

    ok: bool
    text: str
    tooltip: str = ""


@dataclass(eq=False)
class ProfileDraft:
    """A profile as typed, valid or not; kept while a person switches between profiles."""

    values: dict[str, str]
    destinations: list[list[str]]
    original_name: str | None = None
    acse: float = Timeouts().acse
    max_pdu: int = 0
    max_message_mb: int = DEFAULT_MAX_MESSAGE_MB  # kept as the profile has it (nodes.json)
    modified: bool = False
    echo_status: EchoStatus | None = None
    tls_enabled: bool = False  # DICOM TLS on/off; its file paths are in ``values``
    tls_verify: bool = True  # check the PACS's certificate (unchecked: a visible warning)
    retrieve: RetrieveMethod = RetrieveMethod.MOVE  # how a study comes to this computer

    @classmethod
    def from_node(cls, node: PacsNode) -> ProfileDraft:
        values = {"name": node.name, "called_aet": node.called_aet, "host": node.host,
                  "port": str(node.port), "calling_aet": node.calling_aet,
                  "connect": _seconds_text(node.timeouts.connect),
                  "idle": _seconds_text(node.timeouts.idle),
                  "total": _seconds_text(node.timeouts.total),
                  "tls_ca": node.tls.ca_file, "tls_cert": node.tls.cert_file,
                  "tls_key": node.tls.key_file}
        rows = [[d.ae_title, d.host or "", "" if d.port is None else str(d.port), d.label,
                 QUERYABLE if d.queryable else ""]
                for d in node.destinations]
        return cls(values, rows, original_name=node.name, acse=node.timeouts.acse,
                   max_pdu=node.max_pdu, max_message_mb=node.max_message_mb,
                   tls_enabled=node.tls.enabled,
                   tls_verify=node.tls.verify, retrieve=node.retrieve)

    @classmethod
    def blank(cls, name: str) -> ProfileDraft:
        defaults = Timeouts()
        values = {"name": name, "called_aet": "", "host": "", "port": "104",
                  "calling_aet": DEFAULT_CALLING_AET, "connect": _seconds_text(defaults.connect),
                  "idle": _seconds_text(defaults.idle), "total": "",
                  "tls_ca": "", "tls_cert": "", "tls_key": ""}
        return cls(values, [], modified=True)

    def duplicate(self, name: str) -> ProfileDraft:
        values = dict(self.values, name=name)
        return ProfileDraft(values, [list(row) for row in self.destinations], acse=self.acse,
                            max_pdu=self.max_pdu, max_message_mb=self.max_message_mb,
                            modified=True,
                            tls_enabled=self.tls_enabled, tls_verify=self.tls_verify,
                            retrieve=self.retrieve)

    @property
    def display_name(self) -> str:
        return self.values["name"].strip() or "(unnamed)"


@dataclass
class Validation:
    """What is wrong with a draft, by field and by destination cell; ``node`` if nothing."""

    node: PacsNode | None = None
    echo_node: PacsNode | None = None
    field_errors: dict[str, str] = field(default_factory=dict)
    cell_errors: dict[tuple[int, int], str] = field(default_factory=dict)
    other_errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.node is not None

    def messages(self) -> list[str]:
        found = [self.field_errors[key] for key in FIELD_KEYS if key in self.field_errors]
        found += [f"Destination {row + 1}: {message}"
                  for (row, _col), message in sorted(self.cell_errors.items())]
        return found + self.other_errors


def _checked(errors: dict[Any, str], key: object, check: Callable[[], Any]) -> Any:
    """Run one core validator; on InvalidInput remember its message (field + rule) under key."""
    try:
        return check()
    except InvalidInput as exc:
        errors[key] = exc.title
        return None


def validate_draft(draft: ProfileDraft, other_names: Collection[str] = ()) -> Validation:
    """Check a draft with the core's rules; ``other_names`` (casefolded) must not be reused."""
    out = Validation()
    values, errors = draft.values, out.field_errors

    def unique_name() -> str:
        name = values["name"].strip()
        if not name:
            raise InvalidInput("PACS name", "must not be empty", values["name"])
        if name.casefold() in other_names:
            raise InvalidInput("PACS name", "must differ from the other profiles' names", name)
        return name

    name = _checked(errors, "name", unique_name)
    called = _checked(errors, "called_aet",
                      lambda: validate_ae_title(values["called_aet"], "PACS AE title"))
    host = _checked(errors, "host", lambda: validate_host(values["host"], "PACS host"))
    port = _checked(errors, "port", lambda: validate_port(values["port"], "PACS port"))
    calling = _checked(errors, "calling_aet",
                       lambda: validate_ae_title(values["calling_aet"], "our AE title"))
    connect = _checked(errors, "connect",
                       lambda: validate_seconds(values["connect"], "connect timeout"))
    idle = _checked(errors, "idle", lambda: validate_seconds(values["idle"], "idle timeout"))
    total = _checked(errors, "total", lambda: validate_seconds(
        values["total"].strip() or None, "total deadline", optional=True))

    tls = _validated_tls(draft, errors)
    destinations = _validated_destinations(draft.destinations, out.cell_errors)
    if errors.keys() & CONNECTION_KEYS:
        return out
    try:
        timeouts = Timeouts(connect=connect, acse=draft.acse, idle=idle, total=total)
        out.echo_node = PacsNode(name=name or "unsaved profile", called_aet=called, host=host,
                                 port=port, calling_aet=calling, max_pdu=draft.max_pdu,
                                 max_message_mb=draft.max_message_mb,
                                 timeouts=timeouts, tls=tls or TlsSettings(),
                                 retrieve=draft.retrieve)
        if not errors and not out.cell_errors:
            out.node = out.echo_node.with_changes(destinations=tuple(destinations))
    except InvalidInput as exc:
        out.other_errors.append(exc.title)
    return out


def _validated_tls(draft: ProfileDraft, errors: dict[Any, str]) -> TlsSettings | None:
    """The draft's TLS settings; with TLS on, each file given must be readable now.

    With TLS off the typed paths are kept (unchecked), so turning it on again restores them.
    """
    values = draft.values
    paths = {key: values[key].strip() for key in TLS_FILE_KEYS}
    if draft.tls_enabled:
        for key, label in TLS_FILE_KEYS.items():
            if paths[key] and not (key == "tls_ca" and not draft.tls_verify):
                _checked(errors, key, partial(check_readable_file, paths[key], label))
    if errors.keys() & TLS_FILE_KEYS.keys():
        return None
    try:
        return TlsSettings(enabled=draft.tls_enabled, ca_file=paths["tls_ca"],
                           cert_file=paths["tls_cert"], key_file=paths["tls_key"],
                           verify=draft.tls_verify)
    except InvalidInput as exc:
        key = next((k for k, label in TLS_FILE_KEYS.items() if label == exc.field), "tls_ca")
        errors[key] = exc.title
        return None


def _optional_host(text: str) -> str | None:
    """A destination's host may be left blank (the PACS knows it; we only echo it if given)."""
    return validate_host(text, "destination host") if text.strip() else None


def _optional_port(text: str) -> int | None:
    return validate_port(text, "destination port") if text.strip() else None


def _validated_destinations(rows: Iterable[list[str]],
                            errors: dict[tuple[int, int], str]) -> list[Destination]:
    destinations: list[Destination] = []
    seen: set[str] = set()
    for row, cells in enumerate(rows):
        ae_text, host_text, port_text, label = cells[:4]
        queryable = len(cells) > 4 and cells[4] == QUERYABLE
        def unique_ae(text: str = ae_text) -> str:
            ae = validate_ae_title(text, "destination AE title")
            if ae in seen:
                raise InvalidInput("destination AE title", "must be unique within a PACS", ae)
            return ae

        ae = _checked(errors, (row, DestinationColumn.AE_TITLE), unique_ae)
        host = _checked(errors, (row, DestinationColumn.HOST), partial(_optional_host, host_text))
        port = _checked(errors, (row, DestinationColumn.PORT), partial(_optional_port, port_text))
        if ae is not None:
            seen.add(ae)
        if queryable and (host is None or port is None) and not any(
                key[0] == row for key in errors):
            errors[(row, DestinationColumn.QUERYABLE)] = (
                "destination can be queried: needs the destination's host and port (the "
                "arrival check asks the destination itself).")
        if not any(key[0] == row for key in errors):
            destinations.append(Destination(ae, host, port, label.strip(),
                                            queryable=queryable))
    return destinations
