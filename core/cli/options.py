"""Turn parsed arguments into validated engine values; every rule broken is an InvalidInput."""

from __future__ import annotations

import argparse
import os
from dataclasses import replace

from dicom_courier.core.config.paths import app_paths
from dicom_courier.core.config.profile_store import NodeStore
from dicom_courier.core.config.profiles import (
    DEFAULT_CALLING_AET,
    Destination,
    PacsNode,
    Timeouts,
    TlsSettings,
    check_readable_file,
    validate_ae_title,
    validate_host,
    validate_max_pdu,
    validate_port,
    validate_seconds,
)
from dicom_courier.core.config.retrieve_method import RetrieveMethod, parse_retrieve_method
from dicom_courier.core.outcome.arrival import HERE
from dicom_courier.core.outcome.errors import InvalidInput
from dicom_courier.core.qr.input_rules import (
    check_text,
    parse_choice,
    parse_whole_number,
    validate_uid,
)
from dicom_courier.core.qr.query import Priority, parse_key_value


def node_store(args: argparse.Namespace) -> NodeStore:
    return NodeStore(app_paths(args.config_dir).nodes_file)


def timeouts_from(args: argparse.Namespace, base: Timeouts | None = None) -> Timeouts:
    base = base or Timeouts()
    changes: dict[str, float | None] = {}
    if getattr(args, "idle_timeout", None) is not None:
        changes["idle"] = validate_seconds(args.idle_timeout, "--idle-timeout")
    if getattr(args, "deadline", None) is not None:
        changes["total"] = validate_seconds(args.deadline, "--deadline")
    if getattr(args, "connect_timeout", None) is not None:
        changes["connect"] = validate_seconds(args.connect_timeout, "--connect-timeout")
    return replace(base, **changes)  # type: ignore[arg-type]


def pacs_from(args: argparse.Namespace) -> PacsNode:
    """The PACS named by ``--pacs`` or given by ``--host/--port/--aet``, never both."""
    direct = [args.host, args.port, args.aet]
    if args.pacs:
        if any(v is not None for v in direct):
            raise InvalidInput("--pacs", "give either --pacs NAME or --host/--port/--aet, "
                               "not both")
        node = node_store(args).get(args.pacs)
        if args.calling_aet is not None:  # '' is refused, not taken as "the default"
            node = node.with_changes(calling_aet=validate_ae_title(args.calling_aet,
                                                                   "--calling-aet"))
        given = tls_options_given(args)
        if given:
            raise InvalidInput(given[0], "cannot be used with --pacs: the profile's TLS "
                               "settings are used (change them with 'nodes add --replace')")
        node = node.with_changes(timeouts=timeouts_from(args, node.timeouts))
        if getattr(args, "max_pdu", None) is not None:  # this command only, not saved
            node = node.with_changes(max_pdu=validate_max_pdu(args.max_pdu, "--max-pdu"))
        return node
    from dicom_courier.core.dimse.association import AD_HOC_NAME  # the engine: not for --help

    missing = [name for name, value in zip(("--host", "--port", "--aet"), direct, strict=True)
               if value is None]
    if missing:
        raise InvalidInput(missing[0], "is required when no --pacs profile is named "
                           "(give --pacs NAME, or --host, --port and --aet)")
    return PacsNode(
        name=AD_HOC_NAME,
        called_aet=validate_ae_title(args.aet, "--aet"),
        host=validate_host(args.host, "--host"),
        port=validate_port(args.port, "--port"),
        calling_aet=calling_aet_from(args),
        timeouts=timeouts_from(args),
        tls=tls_from(args),
        max_pdu=max_pdu_from(args),
    )


def max_pdu_from(args: argparse.Namespace) -> int:
    """``--max-pdu BYTES`` (PS3.8 D.1.1 Maximum Length we receive), 0 = unlimited, the
    profile's rule (:data:`.nodes.MAX_PDU_RULE`); 0 when not given. Raises InvalidInput."""
    text = getattr(args, "max_pdu", None)
    return 0 if text is None else validate_max_pdu(text, "--max-pdu")


_TLS_FILE_OPTIONS = (("tls_ca", "--tls-ca"), ("tls_cert", "--tls-cert"), ("tls_key", "--tls-key"))


def tls_options_given(args: argparse.Namespace) -> list[str]:
    """The TLS options given on the command line, as typed (``--tls``, ``--tls-ca`` ...)."""
    given = ["--tls"] if getattr(args, "tls", False) else []
    given += [flag for dest, flag in _TLS_FILE_OPTIONS if getattr(args, dest, None) is not None]
    return given + (["--tls-no-verify"] if getattr(args, "tls_no_verify", False) else [])


def tls_from(args: argparse.Namespace) -> TlsSettings:
    """``--tls`` and its options as TlsSettings; files must exist and be readable now.

    Paths are kept absolute, so a saved profile works from any folder. Raises InvalidInput
    naming the option: a TLS option without --tls, --tls-key without --tls-cert,
    --tls-no-verify with --tls-ca, a missing or unreadable file.
    """
    given = tls_options_given(args)
    if not given:
        return TlsSettings()
    if given[0] != "--tls":
        raise InvalidInput(given[0], "needs --tls (DICOM TLS is off without it)")
    paths: dict[str, str] = {}
    for dest, flag in _TLS_FILE_OPTIONS:
        value = getattr(args, dest, None)
        if value is None:
            paths[dest] = ""
            continue
        if not value.strip():
            raise InvalidInput(flag, "must name a file", value)
        path = os.path.abspath(os.path.expanduser(value.strip()))
        check_readable_file(path, flag)
        paths[dest] = path
    if args.tls_no_verify and paths["tls_ca"]:
        raise InvalidInput("--tls-no-verify", "cannot be combined with --tls-ca (no CA is "
                           "used when the PACS's certificate is not checked)")
    if paths["tls_key"] and not paths["tls_cert"]:
        raise InvalidInput("--tls-key", "needs --tls-cert (the certificate the key belongs to)")
    return TlsSettings(enabled=True, ca_file=paths["tls_ca"], cert_file=paths["tls_cert"],
                       key_file=paths["tls_key"], verify=not args.tls_no_verify)


def calling_aet_from(args: argparse.Namespace) -> str:
    """``--calling-aet``, or COURIER when it is not given; an empty or blank one is refused."""
    if args.calling_aet is None:
        return DEFAULT_CALLING_AET
    return validate_ae_title(args.calling_aet, "--calling-aet")


def destination_from(text: str) -> Destination:
    """``AET`` or ``AET@HOST:PORT`` (the address lets 'nodes test' echo the destination)."""
    if to_here(text):
        raise InvalidInput("--dest", f"{HERE} is this computer, not a destination to save: "
                           f"send there with 'move --dest {HERE}' (the profile's --retrieve "
                           "says how)", text)
    aet, at, address = text.partition("@")
    aet = validate_ae_title(aet, "--dest")
    if not at:
        return Destination(ae_title=aet)
    host, colon, port = address.rpartition(":")
    if not colon or not host:
        raise InvalidInput("--dest", "must be AET or AET@HOST:PORT", text)
    return Destination(ae_title=aet, host=validate_host(host, "--dest host"),
                       port=validate_port(port, "--dest port"))


def queryable_marked(dests: tuple[Destination, ...], names: list[str]
                     ) -> tuple[Destination, ...]:
    """``dests`` with those named by ``--queryable-dest AET`` marked queryable (they answer
    C-FIND at their own address). Raises InvalidInput naming ``--queryable-dest``: an AE
    title that is not a --dest, or one given without @HOST:PORT."""
    marked: set[str] = set()
    for name in names:
        aet = validate_ae_title(name, "--queryable-dest")
        dest = next((d for d in dests if d.ae_title == aet), None)
        if dest is None:
            raise InvalidInput("--queryable-dest", "must name one of the --dest AE titles "
                               "given with it", name)
        if dest.host is None or dest.port is None:
            raise InvalidInput("--queryable-dest", f"needs the address of {aet}: give it as "
                               f"--dest {aet}@HOST:PORT (it is queried there)", name)
        marked.add(aet)
    return tuple(replace(d, queryable=True) if d.ae_title in marked else d for d in dests)


def retrieve_from(text: str | None) -> RetrieveMethod:
    """``--retrieve move|get|auto`` (RetrieveMethod.MOVE when not given); InvalidInput."""
    return RetrieveMethod.MOVE if text is None else parse_retrieve_method(text, "--retrieve")


def to_here(dest: str | None) -> bool:
    """``--dest @here`` (any case, spaces around ignored): this computer."""
    return dest is not None and dest.strip().lower() == HERE


def check_here_options(args: argparse.Namespace, here: bool) -> None:
    """``--receiver-aet``, ``--receiver-port`` and ``--folder`` go with ``--dest @here``
    only; raises InvalidInput naming the first one given without it."""
    if here:
        return
    for dest, flag in (("receiver_aet", "--receiver-aet"), ("receiver_port", "--receiver-port"),
                       ("folder", "--folder")):
        if getattr(args, dest, None) is not None:
            raise InvalidInput(flag, "goes with --dest @here (a retrieve to this computer)")


def keys_from(args: argparse.Namespace) -> dict[str, str]:
    keys: dict[str, str] = {}
    for text in args.key:
        keyword, value = parse_key_value(text)
        if keyword in keys:
            raise InvalidInput("-k", f"{keyword} is given twice (for several values use one "
                               f"key with a backslash list or a wildcard)")
        keys[keyword] = value
    return keys


def priority_from(text: str) -> Priority:
    """``low``, ``medium`` or ``high`` (ASCII, any case) as the DIMSE priority."""
    return Priority[parse_choice(text, "--priority", ("low", "medium", "high")).upper()]


#: Upper bounds of the counts typed on the command line (far above any real use).
MAX_LIMIT = 10_000_000
MAX_DAYS = 36_525  # 100 years
MAX_JOB_ID = 2**63 - 1  # SQLite INTEGER


def positive_int(text: str | None, field_name: str, *, maximum: int = MAX_LIMIT,
                 unit: str = "") -> int | None:
    """None for an option not given, else a whole number from 1 to ``maximum`` in ASCII
    digits (see :func:`.input_rules.parse_whole_number`); raises InvalidInput."""
    if text is None:
        return None
    return parse_whole_number(text, field_name, minimum=1, maximum=maximum, unit=unit)


def uids_from(values: list[str], field_name: str) -> list[str]:
    """Typed UIDs (``--study``, ``--series``, ``--image``), each held to PS3.5 9.1."""
    return [validate_uid(value, field_name) for value in values]


def profile_name(text: str, field_name: str = "NAME") -> str:
    """A profile name as typed: not blank, no control characters, at most 64 characters."""
    if not text.strip():
        raise InvalidInput(field_name, "must not be blank", text)
    return check_text(text.strip(), field_name, max_length=64)
