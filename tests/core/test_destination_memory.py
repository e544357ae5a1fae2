"""The last 0xA801 and the last success per (PACS, destination) survive a restart."""

from __future__ import annotations

from pathlib import Path

from dicom_courier.core.destination_memory import DestinationMemory
from dicom_courier.core.errors import Peer
from dicom_courier.core.events import MoveOutcome, MoveResult
from dicom_courier.core.store import JobStore

PEER = Peer("COURIER", "PACS", "h", 104)


def _result(outcome: MoveOutcome, status: int) -> MoveResult:
    return MoveResult(outcome=outcome, total=1, completed=int(outcome == MoveOutcome.COMPLETED),
                      failed=0, warning=0, status=status, duration=0.1, error_comment=None,
                      failed_sop_uids=(), error=None, destination="WS", peer=PEER)


def test_refused_last_time_until_a_success(tmp_path: Path) -> None:
    memory = DestinationMemory(JobStore(tmp_path / "jobs.db"))
    assert not memory.get("Main", "WS").refused_last_time
    memory.note("Main", "WS", _result(MoveOutcome.FAILED, 0xA801))
    again = DestinationMemory(JobStore(tmp_path / "jobs.db"))  # after a restart
    assert again.get("Main", "WS").refused_last_time
    assert not again.get("Other PACS", "WS").refused_last_time
    again.note("Main", "WS", _result(MoveOutcome.COMPLETED, 0x0000))
    assert not again.get("Main", "WS").refused_last_time
    again.note("Main", "WS", _result(MoveOutcome.FAILED, 0xC000))  # teaches nothing
    assert not again.get("Main", "WS").refused_last_time
