"""The last 0xA801 and the last success per (PACS, destination) survive a restart."""

from __future__ import annotations

from pathlib import Path

from dicom_courier.core.dimse.destination_check import DestinationEcho, Reach, verdict_for
from dicom_courier.core.dimse.destination_check import PeerFamily as Family
from dicom_courier.core.jobs.destination_memory import DestinationMemory
from dicom_courier.core.jobs.store import JobStore
from dicom_courier.core.outcome.errors import CourierError, Peer
from dicom_courier.core.outcome.events import MoveOutcome, MoveResult
from dicom_courier.core.outcome.status import failure_for_status

PEER = Peer("COURIER", "PACS", "h", 104)


def _result(outcome: MoveOutcome, status: int, error: CourierError | None = None
            ) -> MoveResult:
    if error is None and outcome is MoveOutcome.FAILED:
        error = failure_for_status(status, operation="send", peer=PEER, destination="WS")
    return MoveResult(outcome=outcome, total=1, completed=int(outcome == MoveOutcome.COMPLETED),
                      failed=0, warning=0, status=status, duration=0.1, error_comment=None,
                      failed_sop_uids=(), error=error, destination="WS", peer=PEER)


def _diagnosed(reach: Reach) -> MoveResult:
    """A 0xA801 after the destination diagnosis: the destination answered us, or not."""
    found = DestinationEcho(reach, "10.0.4.21:11112", "what the echo found")
    plain = _result(MoveOutcome.FAILED, 0xA801)
    return _result(MoveOutcome.FAILED, 0xA801, verdict_for(plain, found, Family.PYNETDICOM))


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


def test_the_warning_follows_the_destination_diagnosis(tmp_path: Path) -> None:
    """A 0xA801 for a destination that did not answer our echo (pynetdicom-based PACS say it
    for a known destination that is down) is not "refused": no "does not know" warning."""
    memory = DestinationMemory(JobStore(tmp_path / "jobs.db"))
    memory.note("Main", "WS", _diagnosed(Reach.SILENT))
    assert not memory.get("Main", "WS").refused_last_time
    memory.note("Main", "WS", _diagnosed(Reach.ANSWERS))
    assert memory.get("Main", "WS").refused_last_time
