"""Automatic retries: back-off timing, which failures qualify, and a PACS that comes back.

Retry waits run on a fake clock (the queue's injectable ``clock`` and ``sleep``), so a test
spends no real time in back-off; the moves themselves are real, against in-process peers.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from dicom_courier.core.demo.pacs import DemoPacs
from dicom_courier.core.demo.synthetic import StudySpec
from dicom_courier.core.demo.workstation import Workstation
from dicom_courier.core.destination_check import DestinationDown, DestinationUndecided
from dicom_courier.core.engine import Courier
from dicom_courier.core.errors import (
    AssociationAborted,
    AssociationRejected,
    Cancelled,
    ConnectionFailed,
    CourierError,
    DeadlineExceeded,
    PeerTimeout,
)
from dicom_courier.core.events import MoveOutcome, MoveResult
from dicom_courier.core.nodes import Destination, PacsNode, Timeouts
from dicom_courier.core.query import MoveRequest, MoveTarget
from dicom_courier.core.queue import JobSnapshot, JobState, MoveQueue
from dicom_courier.core.retry import RetryPolicy
from dicom_courier.core.status import failure_for_status
from dicom_courier.core.store import JobStore
from tests.fakes import StatusScp
from tests.peers import free_port, reserve_dead_port

#: Seconds a scenario waits for the queue before it fails (rather than hangs).
WAIT = 20.0
SPEC = StudySpec(key="retry-1", patient_name="Retry^Pat", patient_id="R1", series_count=1,
                 instances_per_series=3)


class FakeClock:
    """Monotonic time that moves only when the queue sleeps (or a test advances it).

    ``gate``, when set, holds every sleep until the test opens it, so the test can change the
    world (start a peer) while a job waits for its retry.
    """

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self.gate: asyncio.Event | None = None

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if self.gate is not None:
            await self.gate.wait()
        self.now += seconds
        await asyncio.sleep(0)


async def until(condition: Callable[[], bool]) -> None:
    """Poll ``condition`` on the loop (the queue reports through callbacks, not awaitables)."""
    async with asyncio.timeout(WAIT):
        while True:
            if condition():
                return
            await asyncio.sleep(0.02)


def _result(outcome: MoveOutcome, error: CourierError | None) -> MoveResult:
    return MoveResult(outcome=outcome, total=3, completed=0, failed=3, warning=0,
                      status=getattr(error, "status", None), duration=0.1, error_comment=None,
                      failed_sop_uids=(), error=error, destination="WS", peer=None)  # type: ignore[arg-type]


def _error(cls: type[CourierError], **kwargs: object) -> CourierError:
    return cls("title", "explanation", "action", **kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------- the policy on its own


def test_back_off_doubles_from_ten_seconds_with_twenty_percent_jitter() -> None:
    policy = RetryPolicy()
    exact = RetryPolicy(jitter=0.0)
    assert [exact.delay(n) for n in range(1, 8)] == [10, 20, 40, 80, 160, 320, 600]
    assert exact.delay(40) == 600  # capped, and no overflow for absurd attempt numbers
    rng = random.Random(7)
    for attempt, nominal in ((1, 10.0), (2, 20.0), (3, 40.0)):
        delays = [policy.delay(attempt, rng) for _ in range(500)]
        assert all(0.8 * nominal <= d <= 1.2 * nominal for d in delays)
        assert max(delays) - min(delays) > 0.3 * nominal  # the jitter really spreads them
    assert all(480 <= policy.delay(12, rng) <= 600 for _ in range(200))  # jitter stays capped
    assert RetryPolicy(jitter=0.2).delay(2, random.Random(1)) == \
        RetryPolicy(jitter=0.2).delay(2, random.Random(1))  # repeatable with a seeded rng


@pytest.mark.parametrize(("error", "retry"), [
    (failure_for_status(0xA700, operation="send", peer=None), True),
    (failure_for_status(0xA701, operation="send", peer=None), True),
    (failure_for_status(0xA702, operation="send", peer=None), True),
    (_error(ConnectionFailed), True),
    (_error(ConnectionFailed, retryable=False), False),  # unknown host name
    (_error(PeerTimeout), True),
    (_error(AssociationAborted), True),  # dropped association
    (_error(DeadlineExceeded), True),
    (AssociationRejected("t", "e", "a", permanent=False, reason="busy"), True),
    (AssociationRejected("t", "e", "a", permanent=True, reason="no"), False),
    (failure_for_status(0xA801, operation="send", peer=None, destination="WS"), False),
    (failure_for_status(0xA900, operation="send", peer=None), False),
    (failure_for_status(0xC000, operation="send", peer=None), False),
    (failure_for_status(0xB000, operation="send", peer=None), False),  # partial: failed only
])
def test_only_transient_failures_are_retried(error: CourierError, retry: bool) -> None:
    policy = RetryPolicy()
    assert policy.should_retry(_result(MoveOutcome.FAILED, error)) is retry
    assert (policy.next_delay(_result(MoveOutcome.FAILED, error), 1) is not None) is retry
    assert policy.next_delay(_result(MoveOutcome.FAILED, error), 4) is None  # attempts used up


def test_cancelled_and_completed_are_never_retried() -> None:
    policy = RetryPolicy()
    assert not policy.should_retry(_result(MoveOutcome.CANCELLED, _error(Cancelled)))
    # Even a cancel that ended on a retryable error (our abort after the grace period).
    assert not policy.should_retry(_result(MoveOutcome.CANCELLED, _error(PeerTimeout)))
    assert not policy.should_retry(_result(MoveOutcome.COMPLETED, None))
    assert not policy.should_retry(_result(MoveOutcome.FAILED, None))


# ---------------------------------------------------------------- the queue, real peers


def test_a_destination_down_is_retried_with_back_off_until_attempts_run_out() -> None:
    """0xA702 over the wire, and the destination does not answer our echo (DestinationDown),
    four times: three waits of 10/20/40 s ±20 %, all visible."""
    clock = FakeClock()
    seen: list[JobSnapshot] = []
    dead = reserve_dead_port()

    async def scenario() -> JobSnapshot:
        with StatusScp(0xA702, completed=0, failed=1) as scp, Courier() as courier:
            node = PacsNode(name="busy", called_aet=scp.ae_title, host="127.0.0.1",
                            port=scp.port, timeouts=Timeouts(idle=10), destinations=(
                                Destination(scp.ae_title, "127.0.0.1",
                                            dead.getsockname()[1]),))
            queue = MoveQueue(courier, seen.append, retry_policy=RetryPolicy(),
                              clock=clock, sleep=clock.sleep, rng=random.Random(3))
            job_id = queue.submit(node, MoveRequest(MoveTarget(SPEC.study_uid), scp.ae_title))
            await until(lambda: queue.get(job_id).state.is_finished)
            return queue.get(job_id)

    try:
        job = asyncio.run(scenario())
    finally:
        dead.close()
    assert job.state is JobState.FAILED and job.attempt == 4
    assert job.result is not None and job.result.status == 0xA702
    assert isinstance(job.result.error, DestinationDown)
    assert len(clock.sleeps) == 3
    for wait, nominal in zip(clock.sleeps, (10, 20, 40), strict=True):
        assert 0.8 * nominal <= wait <= 1.2 * nominal
    retrying = [j for j in seen if j.state is JobState.RETRYING]
    assert [j.attempt for j in retrying] == [1, 2, 3]
    assert all(j.next_retry_at is not None and j.result is not None for j in retrying)
    assert [j.next_retry_at - (1000.0 + sum(clock.sleeps[:i]))  # type: ignore[operator]
            for i, j in enumerate(retrying)] == pytest.approx(clock.sleeps)
    starts = [j.attempt for j in seen if j.state is JobState.RUNNING and j.progress is None]
    assert starts == [1, 2, 3, 4] and all(j.job_id == job.job_id for j in seen)


def test_an_undecided_destination_fault_is_retried_once() -> None:
    """0xA702 with nothing sent and no address to check: undecided, so one retry only."""
    clock = FakeClock()

    async def scenario() -> JobSnapshot:
        with StatusScp(0xA702, completed=0, failed=1) as scp, Courier() as courier:
            node = PacsNode(name="busy", called_aet=scp.ae_title, host="127.0.0.1",
                            port=scp.port, timeouts=Timeouts(idle=10))
            queue = MoveQueue(courier, lambda job: None, retry_policy=RetryPolicy(),
                              clock=clock, sleep=clock.sleep, rng=random.Random(3))
            job_id = queue.submit(node, MoveRequest(MoveTarget(SPEC.study_uid), scp.ae_title))
            await until(lambda: queue.get(job_id).state.is_finished)
            return queue.get(job_id)

    job = asyncio.run(scenario())
    assert job.state is JobState.FAILED and job.attempt == 2
    assert job.result is not None and isinstance(job.result.error, DestinationUndecided)
    assert len(clock.sleeps) == 1 and 8 <= clock.sleeps[0] <= 12


def test_a_pacs_that_comes_back_completes_the_same_job_on_attempt_two(tmp_path: Path) -> None:
    """Connection refused (nothing listens yet); the PACS starts while the job waits; the
    retry, on the fake clock, completes it as the same job and the store records it."""
    clock = FakeClock()
    port = free_port()
    node = PacsNode(name="late", called_aet="DEMOPACS", host="127.0.0.1", port=port,
                    timeouts=Timeouts(connect=3, idle=10))
    store = JobStore(tmp_path / "jobs.db")

    async def scenario() -> tuple[JobSnapshot, JobSnapshot, int]:
        clock.gate = asyncio.Event()  # an Event belongs to the running loop: made in it
        with Courier() as courier, Workstation(tmp_path / "ws", ae_title="WS") as ws:
            queue = MoveQueue(courier, lambda job: None, store=store,
                              retry_policy=RetryPolicy(), clock=clock, sleep=clock.sleep)
            job_id = queue.submit(node, MoveRequest(MoveTarget(SPEC.study_uid), "WS"))
            await until(lambda: queue.get(job_id).state is JobState.RETRYING)
            waiting = queue.get(job_id)
            assert store.get(job_id).state == "retrying"
            with DemoPacs([SPEC], port=port, destinations={"WS": ("127.0.0.1", ws.port)}):
                clock.gate.set()
                await until(lambda: queue.get(job_id).state.is_finished)
            return waiting, queue.get(job_id), ws.received_count

    waiting, done, received = asyncio.run(scenario())
    assert waiting.attempt == 1 and waiting.next_retry_at is not None
    assert waiting.result is not None and isinstance(waiting.result.error, ConnectionFailed)
    assert done.state is JobState.COMPLETED and done.attempt == 2
    assert done.job_id == waiting.job_id and done.retry_of is None  # the same job, not a copy
    assert received == 3 and len(clock.sleeps) == 1 and 8 <= clock.sleeps[0] <= 12
    row = store.get(done.job_id)
    assert (row.state, row.attempt, row.completed, row.next_retry_at) == ("completed", 2, 3, None)
    assert len(store.jobs()) == 1


def test_unknown_destination_is_never_retried(tmp_path: Path) -> None:
    """0xA801 fails at once; "retry failed images" has no list to go on, so it re-sends all."""
    clock = FakeClock()

    async def scenario() -> tuple[JobSnapshot, list[JobSnapshot]]:
        with DemoPacs([SPEC]) as pacs, Courier() as courier:
            node = PacsNode(name="demo", called_aet=pacs.ae_title, host="127.0.0.1",
                            port=pacs.port, timeouts=Timeouts(idle=10))
            queue = MoveQueue(courier, lambda job: None, retry_policy=RetryPolicy(),
                              clock=clock, sleep=clock.sleep)
            job_id = queue.submit(node, MoveRequest(MoveTarget(SPEC.study_uid), "NOWHERE"))
            await until(lambda: queue.get(job_id).state.is_finished)
            again = await queue.retry_failed_only(job_id)
            await until(lambda: all(j.state.is_finished for j in queue.jobs()))
            return queue.get(job_id), [queue.get(i) for i in again]

    job, again = asyncio.run(scenario())
    assert job.state is JobState.FAILED and job.attempt == 1 and job.next_retry_at is None
    assert job.result is not None and job.result.status == 0xA801
    assert job.result.failed_sop_uids == ()
    assert clock.sleeps == []
    assert len(again) == 1 and again[0].request == job.request
    assert again[0].retry_of == job.job_id and again[0].state is JobState.FAILED


def test_a_waiting_retry_can_be_cancelled_and_closing_ends_the_wait() -> None:
    clock = FakeClock()
    port = free_port()  # nothing listens: every attempt is refused
    node = PacsNode(name="down", called_aet="DOWN", host="127.0.0.1", port=port,
                    timeouts=Timeouts(connect=3))

    async def scenario() -> tuple[JobSnapshot, JobSnapshot]:
        clock.gate = asyncio.Event()  # never opened: the retries wait for ever
        with Courier() as courier:
            queue = MoveQueue(courier, lambda job: None, retry_policy=RetryPolicy(),
                              clock=clock, sleep=clock.sleep)
            first = queue.submit(node, MoveRequest(MoveTarget(SPEC.study_uid), "WS"))
            second = queue.submit(node, MoveRequest(MoveTarget(SPEC.study_uid), "WS2"))
            await until(lambda: all(j.state is JobState.RETRYING for j in queue.jobs()))
            queue.cancel(first)
            await queue.close()
            return queue.get(first), queue.get(second)

    first, second = asyncio.run(scenario())
    assert first.state is JobState.CANCELLED and second.state is JobState.CANCELLED
    assert isinstance(first.result and first.result.error, ConnectionFailed)  # why it waited
