"""Automatic retries: back-off timing, which failures qualify, and a PACS that comes back.

Retry waits run on a fake clock (the queue's injectable ``clock`` and ``sleep``), so a test
spends no real time in back-off; the moves are scripted (:mod:`tests.fakes.fake_move`), so no
test here opens a socket. What the engine makes of a peer's answer (0xA702 and an unanswered
echo → DestinationDown, ...) is tested in test_destination_check.py; here the queue is handed
those results and decides what to do with them.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from dicom_courier.core.config.profiles import PacsNode
from dicom_courier.core.dimse.destination_check import (
    DestinationDown,
    DestinationEcho,
    DestinationUndecided,
    Reach,
)
from dicom_courier.core.jobs.queue import JobSnapshot, JobState, MoveQueue
from dicom_courier.core.jobs.retry import RetryPolicy
from dicom_courier.core.jobs.store import JobStore
from dicom_courier.core.outcome.errors import (
    AssociationAborted,
    AssociationRejected,
    Cancelled,
    ConnectionFailed,
    CourierError,
    DeadlineExceeded,
    PeerTimeout,
)
from dicom_courier.core.outcome.events import MoveOutcome, MoveResult
from dicom_courier.core.outcome.status import failure_for_status
from dicom_courier.core.qr.query import MoveRequest, MoveTarget
from tests.fakes.fake_move import FakeMoves, MoveScript, QueueWatch, failing

#: Seconds a scenario waits for the queue before it fails (rather than hangs).
WAIT = 20.0
STUDY_UID = "1.2.826.0.1.3680043.8.498.77"
NODE = PacsNode(name="busy", called_aet="BUSY", host="127.0.0.1", port=11112)


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


# ---------------------------------------------------------------- the queue, scripted moves


def _verdict(cls: type[DestinationDown] | type[DestinationUndecided]) -> CourierError:
    """The destination diagnosis after 0xA702 with nothing sent (see diagnose_move)."""
    return cls("WS did not answer", "explanation", "action", destination="WS", status=0xA702,
               echo=DestinationEcho(Reach.SILENT, "127.0.0.1:1", "connection refused"))


def _request(destination: str = "WS") -> MoveRequest:
    return MoveRequest(MoveTarget(STUDY_UID), destination)


def test_a_destination_down_is_retried_with_back_off_until_attempts_run_out() -> None:
    """0xA702 and the destination does not answer our echo (DestinationDown), four times:
    three waits of 10/20/40 s ±20 %, all visible."""
    clock = FakeClock()
    watch = QueueWatch()
    down = MoveScript(images=1, failed=1, status=0xA702, outcome=MoveOutcome.FAILED,
                      error=_verdict(DestinationDown))
    moves = FakeMoves(default=down)

    async def scenario() -> JobSnapshot:
        queue = MoveQueue(None, watch, retry_policy=RetryPolicy(), clock=clock,
                          sleep=clock.sleep, rng=random.Random(3), start_move=moves)
        job_id = queue.submit(NODE, _request())
        await watch.until(lambda: queue.get(job_id).state.is_finished, WAIT)
        return queue.get(job_id)

    job = asyncio.run(scenario())
    assert job.state is JobState.FAILED and job.attempt == 4
    assert job.result is not None and job.result.status == 0xA702
    assert isinstance(job.result.error, DestinationDown)
    assert len(clock.sleeps) == 3 and len(moves.started) == 4
    for wait, nominal in zip(clock.sleeps, (10, 20, 40), strict=True):
        assert 0.8 * nominal <= wait <= 1.2 * nominal
    seen = watch.snapshots(job.job_id)
    retrying = [j for j in seen if j.state is JobState.RETRYING]
    assert [j.attempt for j in retrying] == [1, 2, 3]
    assert all(j.next_retry_at is not None and j.result is not None for j in retrying)
    assert [j.next_retry_at - (1000.0 + sum(clock.sleeps[:i]))  # type: ignore[operator]
            for i, j in enumerate(retrying)] == pytest.approx(clock.sleeps)
    starts = [j.attempt for j in seen if j.state is JobState.RUNNING and j.progress is None]
    assert starts == [1, 2, 3, 4] and len(watch.latest) == 1


def test_an_undecided_destination_fault_is_retried_once() -> None:
    """0xA702 with nothing sent and no address to check: undecided, so one retry only."""
    clock = FakeClock()
    watch = QueueWatch()
    moves = FakeMoves(default=MoveScript(images=1, failed=1, status=0xA702,
                                         outcome=MoveOutcome.FAILED,
                                         error=_verdict(DestinationUndecided)))

    async def scenario() -> JobSnapshot:
        queue = MoveQueue(None, watch, retry_policy=RetryPolicy(), clock=clock,
                          sleep=clock.sleep, rng=random.Random(3), start_move=moves)
        job_id = queue.submit(NODE, _request())
        await watch.until(lambda: queue.get(job_id).state.is_finished, WAIT)
        return queue.get(job_id)

    job = asyncio.run(scenario())
    assert job.state is JobState.FAILED and job.attempt == 2
    assert job.result is not None and isinstance(job.result.error, DestinationUndecided)
    assert len(clock.sleeps) == 1 and 8 <= clock.sleeps[0] <= 12


def test_a_pacs_that_comes_back_completes_the_same_job_on_attempt_two(tmp_path: Path) -> None:
    """Connection refused (nothing listens yet); the retry, on the fake clock, completes it as
    the same job, and the store records the wait and the outcome."""
    clock = FakeClock()
    watch = QueueWatch()
    store = JobStore(tmp_path / "jobs.db")
    moves = FakeMoves([failing(_error(ConnectionFailed), sent=False)],
                      default=MoveScript(images=3))

    async def scenario() -> tuple[JobSnapshot, JobSnapshot]:
        clock.gate = asyncio.Event()  # an Event belongs to the running loop: made in it
        queue = MoveQueue(None, watch, store=store, retry_policy=RetryPolicy(), clock=clock,
                          sleep=clock.sleep, start_move=moves)
        job_id = queue.submit(NODE, _request())
        await watch.until(lambda: queue.get(job_id).state is JobState.RETRYING, WAIT)
        waiting = queue.get(job_id)
        assert store.get(job_id).state == "retrying"
        clock.gate.set()  # the PACS is back when the wait is over
        await watch.until(lambda: queue.get(job_id).state.is_finished, WAIT)
        return waiting, queue.get(job_id)

    waiting, done = asyncio.run(scenario())
    assert waiting.attempt == 1 and waiting.next_retry_at is not None
    assert waiting.result is not None and isinstance(waiting.result.error, ConnectionFailed)
    assert done.state is JobState.COMPLETED and done.attempt == 2
    assert done.job_id == waiting.job_id and done.retry_of is None  # the same job, not a copy
    assert done.result is not None and done.result.completed == 3
    assert len(clock.sleeps) == 1 and 8 <= clock.sleeps[0] <= 12
    row = store.get(done.job_id)
    assert (row.state, row.attempt, row.completed, row.next_retry_at) == ("completed", 2, 3, None)
    assert len(store.jobs()) == 1
    store.close()


def test_unknown_destination_is_never_retried() -> None:
    """0xA801 fails at once; "retry failed images" has no list to go on, so it re-sends all."""
    clock = FakeClock()
    watch = QueueWatch()
    unknown = failure_for_status(0xA801, operation="send", peer=None, destination="NOWHERE")
    moves = FakeMoves(default=failing(unknown))

    async def scenario() -> tuple[JobSnapshot, list[JobSnapshot]]:
        queue = MoveQueue(None, watch, retry_policy=RetryPolicy(), clock=clock,
                          sleep=clock.sleep, start_move=moves)
        job_id = queue.submit(NODE, _request("NOWHERE"))
        await watch.until(lambda: queue.get(job_id).state.is_finished, WAIT)
        again = await queue.retry_failed_only(job_id)
        await watch.until(lambda: all(j.state.is_finished for j in queue.jobs()), WAIT)
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
    watch = QueueWatch()
    moves = FakeMoves(default=failing(_error(ConnectionFailed), sent=False))  # always refused

    async def scenario() -> tuple[JobSnapshot, JobSnapshot]:
        clock.gate = asyncio.Event()  # never opened: the retries wait for ever
        queue = MoveQueue(None, watch, retry_policy=RetryPolicy(), clock=clock,
                          sleep=clock.sleep, start_move=moves)
        first = queue.submit(NODE, _request())
        second = queue.submit(NODE, _request("WS2"))
        await watch.until(lambda: all(j.state is JobState.RETRYING for j in queue.jobs()),
                          WAIT)
        queue.cancel(first)
        await queue.close()
        return queue.get(first), queue.get(second)

    first, second = asyncio.run(scenario())
    assert first.state is JobState.CANCELLED and second.state is JobState.CANCELLED
    assert isinstance(first.result and first.result.error, ConnectionFailed)  # why it waited
