"""Peers that stall, pend forever, abort, reject or fail end in a clear error, never a hang.

In-process pynetdicom SCPs (tests/fakes) misbehave on purpose; each test bounds how long the
engine may take to give up: the idle timeout or total deadline plus one second.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from dicom_courier.core.dimse.engine import Courier
from dicom_courier.core.outcome.errors import (
    AssociationAborted,
    CallingAeNotRecognised,
    DeadlineExceeded,
    PartialFailure,
    PeerTimeout,
)
from dicom_courier.core.outcome.events import MoveOutcome, MoveProgress, MoveResult
from dicom_courier.core.qr.query import FindQuery, MoveRequest, MoveTarget
from tests.fakes.misbehaving import (
    AbortingScp,
    EndlessPendingScp,
    RejectingScp,
    StallingScp,
    StatusScp,
)
from tests.interop.conftest import run

STUDY = "1.2.826.0.1.3680043.8.498.1"


def _node(fake: Any, **timeouts: float) -> Any:
    from dicom_courier.core.config.profiles import PacsNode, Timeouts

    return PacsNode(name="fake", called_aet=fake.ae_title, host="127.0.0.1", port=fake.port,
                    timeouts=Timeouts(connect=3, acse=5, **{"idle": 20, **timeouts}))


def _started(fake: Any) -> Iterator[Any]:
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


def _move(courier: Courier, node: Any, destination: str = "ANYWHERE"
          ) -> tuple[list[MoveProgress], MoveResult, float]:
    async def scenario() -> tuple[list[MoveProgress], MoveResult, float]:
        started = time.monotonic()
        op = courier.move(node, MoveRequest(MoveTarget(STUDY), destination))
        events = [e async for e in op]
        return events, op.result, time.monotonic() - started
    return run(scenario())


@pytest.fixture
def stalling() -> Iterator[StallingScp]:
    yield from _started(StallingScp(stall_after_pending=2))


@pytest.fixture
def endless() -> Iterator[EndlessPendingScp]:
    yield from _started(EndlessPendingScp(interval=0.1))


def test_stalled_move_ends_at_the_idle_timeout(courier: Courier, stalling: Any) -> None:
    events, result, took = _move(courier, _node(stalling, idle=1.5))
    assert result.outcome is MoveOutcome.FAILED
    assert isinstance(result.error, PeerTimeout)
    assert "stopped answering for 1.5 s" in result.error.title
    assert len(events) == 2 and result.completed == 2  # the counts reached are kept
    assert 1.4 <= took <= 1.5 + 1.0


def test_stalled_find_ends_at_the_idle_timeout(courier: Courier, stalling: Any) -> None:
    async def scenario() -> float:
        started = time.monotonic()
        with pytest.raises(PeerTimeout):
            async for _ in courier.find(_node(stalling, idle=1.0), FindQuery()):
                pass
        return time.monotonic() - started
    assert run(scenario()) <= 2.0


def test_endless_pending_move_ends_at_the_total_deadline(courier: Courier,
                                                         endless: Any) -> None:
    events, result, took = _move(courier, _node(endless, idle=5, total=2))
    assert result.outcome is MoveOutcome.FAILED
    assert isinstance(result.error, DeadlineExceeded)
    assert "deadline of 2 s" in result.error.title
    assert len(events) > 5  # pending kept coming: the idle timer alone would never fire
    assert 2.0 <= took <= 3.0


def test_endless_pending_find_ends_at_the_total_deadline(courier: Courier,
                                                         endless: Any) -> None:
    async def scenario() -> tuple[int, float]:
        started = time.monotonic()
        count = 0
        with pytest.raises(DeadlineExceeded):
            async for _ in courier.find(_node(endless, idle=5, total=1.5), FindQuery()):
                count += 1
        return count, time.monotonic() - started
    count, took = run(scenario())
    assert count > 3
    assert took <= 2.5


def test_cancel_sends_c_cancel_at_once_and_ends_cancelled(courier: Courier,
                                                          endless: Any) -> None:
    async def scenario() -> tuple[MoveResult, float]:
        op = courier.move(_node(endless), MoveRequest(MoveTarget(STUDY), "ANYWHERE"))
        cancelled_at = 0.0
        async for _ in op:
            if not cancelled_at:
                op.cancel()
                cancelled_at = time.monotonic()
        return op.result, time.monotonic() - cancelled_at
    result, took = run(scenario())
    assert result.outcome is MoveOutcome.CANCELLED
    assert result.status == 0xFE00  # the PACS confirmed, we did not need to abort
    assert took < 1.0


def test_cancel_of_a_stalled_move_aborts_after_the_grace_period(courier: Courier,
                                                                stalling: Any) -> None:
    async def scenario() -> tuple[MoveResult, float]:
        op = courier.move(_node(stalling), MoveRequest(MoveTarget(STUDY), "ANYWHERE"))
        cancelled_at = 0.0
        async for event in op:
            if event.completed == 2 and not cancelled_at:
                op.cancel()
                cancelled_at = time.monotonic()
        return op.result, time.monotonic() - cancelled_at
    result, took = run(scenario())
    assert result.outcome is MoveOutcome.CANCELLED
    assert result.completed == 2
    assert result.error is not None and "did not confirm the cancel" in result.error.explanation
    assert courier.cancel_grace <= took <= courier.cancel_grace + 1.0


def test_abort_mid_move_is_reported_with_counts(courier: Courier) -> None:
    for fake in _started(AbortingScp(after_pending=3)):
        events, result, _ = _move(courier, _node(fake))
    assert result.outcome is MoveOutcome.FAILED
    assert isinstance(result.error, AssociationAborted)
    # The fake's pynetdicom sends an A-ABORT from its application (source 0): said as such.
    assert result.error.title == "ABORTING aborted the send."
    assert "the PACS's DICOM application" in result.error.details["Aborted by"]
    assert result.completed == 3


def test_rejected_calling_ae(courier: Courier) -> None:
    for fake in _started(RejectingScp()):
        with pytest.raises(CallingAeNotRecognised) as info:
            run(courier.echo(_node(fake)))
    assert "does not know our AE title COURIER" in info.value.title
    assert info.value.permanent and not info.value.retryable


@pytest.mark.parametrize(
    ("status", "kind", "outcome"),
    [
        # a Failure status after images arrived is partial, never the catalogue's "no image
        # could be sent" and never retried whole (docs/outcome-table.md row 5)
        (0xA702, PartialFailure, MoveOutcome.PARTIAL),
        (0xA900, PartialFailure, MoveOutcome.PARTIAL),
        (0xC000, PartialFailure, MoveOutcome.PARTIAL),
        (0xB000, PartialFailure, MoveOutcome.PARTIAL),
    ],
)
def test_final_statuses_with_failed_instances(courier: Courier, status: int, kind: type,
                                              outcome: MoveOutcome) -> None:
    for fake in _started(StatusScp(status, completed=2, failed=1)):
        _, result, _ = _move(courier, _node(fake), destination=fake.ae_title)
        assert result.failed_sop_uids == tuple(fake.failed_uids)
    assert type(result.error) is kind
    assert result.outcome is outcome
    assert (result.completed, result.failed) == (2, 1)
    assert result.error is not None and f"0x{status:04X}" in result.error.explanation
    assert not result.error.retryable


def test_error_comment_is_kept(courier: Courier) -> None:
    for fake in _started(StatusScp(0xC001, "archive offline", completed=0, failed=1)):
        _, result, _ = _move(courier, _node(fake), destination=fake.ae_title)
    assert result.outcome is MoveOutcome.FAILED
    assert result.error_comment == "archive offline"
    assert '"archive offline"' in result.error.explanation  # type: ignore[union-attr]


def test_cancel_of_a_search_sends_c_cancel_and_keeps_the_matches(courier: Courier,
                                                                  endless: Any) -> None:
    async def scenario() -> tuple[int, Any, float]:
        op = courier.find(_node(endless), FindQuery())
        count, cancelled_at = 0, 0.0
        async for _ in op:
            count += 1
            if count == 3:
                op.cancel()
                cancelled_at = time.monotonic()
        return count, op.result, time.monotonic() - cancelled_at
    count, result, took = run(scenario())
    assert result.cancelled and result.status == 0xFE00
    assert result.error is None
    assert result.count == count >= 3
    assert took < 1.0


def test_limit_returns_exactly_the_limit(courier: Courier, endless: Any) -> None:
    async def scenario() -> tuple[int, Any]:
        op = courier.find(_node(endless), FindQuery(), limit=4)
        got = [m async for m in op]
        return len(got), op.result
    count, result = run(scenario())
    assert count == 4 and result.count == 4
    assert result.cancelled
