"""Turn parsed arguments into validated engine values; every rule broken is an InvalidInput."""

from __future__ import annotations

import argparse
from dataclasses import replace

from dicom_courier.core.association import AD_HOC_NAME
from dicom_courier.core.errors import InvalidInput
from dicom_courier.core.nodes import (
    DEFAULT_CALLING_AET,
    Destination,
    PacsNode,
    Timeouts,
    validate_ae_title,
    validate_host,
    validate_port,
    validate_seconds,
)
from dicom_courier.core.paths import app_paths
from dicom_courier.core.query import Priority, parse_key_value
from dicom_courier.core.settings import NodeStore


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
        if args.calling_aet:
            node = node.with_changes(calling_aet=validate_ae_title(args.calling_aet,
                                                                   "--calling-aet"))
        return node.with_changes(timeouts=timeouts_from(args, node.timeouts))
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
        calling_aet=validate_ae_title(args.calling_aet or DEFAULT_CALLING_AET, "--calling-aet"),
        timeouts=timeouts_from(args),
    )


def destination_from(text: str) -> Destination:
    """``AET`` or ``AET@HOST:PORT`` (the address lets 'nodes test' echo the destination)."""
    aet, at, address = text.partition("@")
    if not at:
        return Destination(ae_title=aet)
    host, colon, port = address.rpartition(":")
    if not colon or not host:
        raise InvalidInput("--dest", "must be AET or AET@HOST:PORT", text)
    return Destination(ae_title=aet, host=host, port=validate_port(port, "--dest port"))


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
    try:
        return Priority[text.strip().upper()]
    except KeyError:
        raise InvalidInput("--priority", "must be low, medium or high", text) from None


def positive_int(text: str | None, field_name: str) -> int | None:
    if text is None:
        return None
    if not text.strip().isdigit() or int(text) < 1:
        raise InvalidInput(field_name, "must be a whole number of at least 1", text)
    return int(text)
