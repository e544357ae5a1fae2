"""Moves into a slow destination, cancelled or cut short by a dying PACS, against real peers.

The destination is our Workstation with a per-image delay, listening where Orthanc's and
dcmqrscp's configurations expect "STORESCP", so a six-image move takes about two seconds.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dicom_courier.core.demo.workstation import Workstation
from dicom_courier.core.dimse.engine import Courier
from dicom_courier.core.outcome.errors import AssociationAborted
from dicom_courier.core.outcome.events import MoveOutcome, MoveResult
from dicom_courier.core.qr.query import MoveRequest, MoveTarget
from tests.conftest import require_binary, running_dcmqrscp
from tests.interop.conftest import node_for, run
from tests.peers import INTEROP_STUDIES, DcmqrscpPeer, OrthancPeer

SPEC = INTEROP_STUDIES[3]


@pytest.fixture(params=["orthanc", "dcmqrscp"])
def archive(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue(request.param)


def _move_and(courier: Courier, node: Any, action: Any) -> tuple[MoveResult, float]:
    """Run a move; call ``action(op)`` once the first image has arrived; time the rest."""
    async def scenario() -> tuple[MoveResult, float]:
        op = courier.move(node, MoveRequest(MoveTarget(SPEC.study_uid), "STORESCP"))
        acted_at = 0.0
        async for event in op:
            if event.completed >= 1 and not acted_at:
                action(op)
                acted_at = time.monotonic()
        return op.result, time.monotonic() - (acted_at or time.monotonic())
    return run(scenario())


def test_cancel_mid_move(courier: Courier, archive: Any, slow_destination: Workstation) -> None:
    result, took = _move_and(courier, node_for(archive), lambda op: op.cancel())
    assert result.outcome is MoveOutcome.CANCELLED, result.error and result.error.render()
    assert 1 <= result.completed < 6
    # Either the PACS confirmed (0xFE00) or we aborted after the grace period: never a hang.
    assert took <= courier.cancel_grace + 1.0
    time.sleep(0.5)
    assert slow_destination.received_count < 6


def _kill_group(peer: Any) -> None:
    os.killpg(peer.process.pid, signal.SIGKILL)


@pytest.fixture
def doomed_dcmqrscp(tmp_path: Path, destination_port: int, dead_port: int,
                    interop_files: list[Path]) -> Iterator[DcmqrscpPeer]:
    with running_dcmqrscp(tmp_path / "qr", destination_port, dead_port, interop_files) as peer:
        yield peer


@pytest.fixture
def doomed_orthanc(tmp_path: Path, destination_port: int, dead_port: int,
                   interop_files: list[Path]) -> Iterator[OrthancPeer]:
    peer = OrthancPeer(tmp_path / "orthanc", destination_port=destination_port,
                       dead_port=dead_port, binary=require_binary("Orthanc", "orthanc"))
    peer.start()
    try:
        peer.upload(interop_files)
        yield peer
    finally:
        peer.stop()


@pytest.mark.parametrize("doomed", ["doomed_dcmqrscp", "doomed_orthanc"])
def test_pacs_killed_mid_move(courier: Courier, request: pytest.FixtureRequest, doomed: str,
                              slow_destination: Workstation) -> None:
    peer = request.getfixturevalue(doomed)
    result, took = _move_and(courier, node_for(peer, idle=10), lambda op: _kill_group(peer))
    assert result.outcome is MoveOutcome.FAILED
    assert isinstance(result.error, AssociationAborted)
    assert "dropped the connection during the send" in result.error.title
    assert result.completed >= 1
    assert "Images so far" in result.error.details
    assert took < 3.0  # a dead peer is noticed at once, not at the idle timeout
