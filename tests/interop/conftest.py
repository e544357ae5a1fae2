"""Helpers for tests that drive the engine against real peers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dicom_courier.core.config.profiles import PacsNode, Timeouts
from dicom_courier.core.demo.workstation import Workstation
from dicom_courier.core.dimse.engine import Courier


def node_for(peer: Any, **changes: Any) -> PacsNode:
    """A profile for a running peer; ``changes`` override fields or timeouts (idle=…)."""
    timeout_keys = {k: changes.pop(k) for k in ("connect", "acse", "idle", "total")
                    if k in changes}
    aet = getattr(peer, "aet", None) or peer.ae_title  # DCMTK/Orthanc peers, or our own SCPs
    node = PacsNode(name=getattr(peer, "name", aet), called_aet=aet, host="127.0.0.1",
                    port=peer.port,
                    calling_aet=getattr(peer, "calling_aet", "COURIER"),
                    timeouts=Timeouts(**{"connect": 5, "acse": 10, "idle": 20, **timeout_keys}))
    return node.with_changes(**changes) if changes else node


@pytest.fixture
def slow_destination(tmp_path: Path, destination_port: int) -> Iterator[Workstation]:
    """Our Workstation where the peers expect "STORESCP", taking 0.3 s per image."""
    with Workstation(tmp_path / "slow", ae_title="STORESCP", port=destination_port,
                     store_delay=0.3) as workstation:
        yield workstation


@pytest.fixture
def courier() -> Iterator[Courier]:
    with Courier(cancel_grace=2.0) as engine:
        yield engine


def run(coro: Any) -> Any:
    """Run one scenario on a fresh plain-asyncio loop (the engine needs no Qt)."""
    return asyncio.run(coro)
