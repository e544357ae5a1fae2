"""A scripted C-MOVE for queue tests: no socket, no thread, no sleep; milliseconds per job.

``MoveQueue(None, watch, start_move=FakeMoves(...))`` runs the real scheduler (priorities,
limits, pause, reorder, retries, cancel) on moves that answer from a :class:`MoveScript`: a
Pending response per image (PS3.4 C.4.2.1.6 counts), then a final response and a
:class:`MoveResult`. A held move (``hold=True``) answers only when the test calls
:meth:`FakeMove.release` or :meth:`FakeMove.finish`, so "still running" is a fact the test
controls, not a race. ``cancel`` ends the move as a PACS would that honours C-CANCEL (a final
0xFE00, outcome cancelled); ``abort`` ends it at once with no final response.

:class:`QueueWatch` is a queue listener that remembers every announcement and lets a test
``await watch.until(condition)``: it wakes on each announcement, never polls and never sleeps.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from dicom_courier.core.config.profiles import PacsNode
from dicom_courier.core.jobs.job import JobSnapshot, JobState
from dicom_courier.core.outcome.errors import Cancelled, CourierError, Peer
from dicom_courier.core.outcome.events import MoveOutcome, MoveProgress, MoveResult
from dicom_courier.core.qr.query import MoveRequest

PENDING = 0xFF00
CANCELLED_STATUS = 0xFE00


@dataclass(frozen=True)
class MoveScript:
    """What one fake C-MOVE does.

    ``images`` Pending responses, one per image: the first ``images - warning - failed``
    completed, then ``warning``, then ``failed``; then the final response with ``status``.
    ``outcome`` defaults to what those counts mean (failed images: partial, or failed if none
    arrived; warnings: completed with warnings). ``error`` is the result's error (with
    ``request_sent=False`` and no images it is a fault before the C-MOVE went out, such as a
    refused connection). ``crash`` is raised instead of a result (a bug in the engine).
    """

    images: int = 2
    warning: int = 0
    failed: int = 0
    status: int = 0x0000
    outcome: MoveOutcome | None = None
    error: CourierError | None = None
    failed_sop_uids: tuple[str, ...] = ()
    request_sent: bool = True
    hold: bool = False
    crash: Exception | None = None

    def decided_outcome(self) -> MoveOutcome:
        if self.outcome is not None:
            return self.outcome
        if self.failed:
            return MoveOutcome.PARTIAL if self.images > self.failed else MoveOutcome.FAILED
        if self.error is not None:
            return MoveOutcome.FAILED
        if self.warning:
            return MoveOutcome.COMPLETED_WITH_WARNINGS
        return MoveOutcome.COMPLETED


def failing(error: CourierError, *, sent: bool = True, **kwargs: object) -> MoveScript:
    """A move that sends nothing and fails with ``error`` (``sent``: the request went out)."""
    return MoveScript(images=0, status=error.status or 0xC000, outcome=MoveOutcome.FAILED,
                      error=error, request_sent=sent, **kwargs)  # type: ignore[arg-type]


class FakeMove:
    """One scripted C-MOVE, driven by the queue like :class:`~dicom_courier.core.dimse.move
    .MoveOperation` (iterate once, then ``result``; ``cancel``/``abort`` at any time)."""

    def __init__(self, pacs: PacsNode, request: MoveRequest, script: MoveScript) -> None:
        self.pacs = pacs
        self.request = request
        self.script = script
        self.responses: list[MoveProgress] = []
        self.cancel_requested = False
        self.aborted = False
        self._released = 0 if script.hold else script.images + 1
        self._wake: asyncio.Event | None = None
        self._result: MoveResult | None = None
        self._started = False

    # ------------------------------------------------------------------ the test's controls

    def release(self, responses: int = 1) -> None:
        """Let ``responses`` more responses of a held move go (the final one counts too)."""
        self._released += responses
        self._poke()

    def finish(self) -> None:
        """Let every remaining response go."""
        self.release(self.script.images + 1)

    @property
    def started(self) -> bool:
        return self._started

    @property
    def finished(self) -> bool:
        return self._result is not None

    # ------------------------------------------------------------------ the queue's side

    @property
    def result(self) -> MoveResult:
        if self._result is None:
            raise RuntimeError("the operation has not finished yet")
        return self._result

    def cancel(self) -> None:
        self.cancel_requested = True
        self._poke()

    def abort(self) -> None:
        self.cancel_requested = self.aborted = True
        self._poke()

    def __aiter__(self) -> AsyncIterator[MoveProgress]:
        if self._started:
            raise RuntimeError("an operation can be iterated only once")
        self._started = True
        self._wake = asyncio.Event()
        return self._responses()

    async def _responses(self) -> AsyncIterator[MoveProgress]:
        script = self.script
        kinds = (["completed"] * (script.images - script.warning - script.failed)
                 + ["warning"] * script.warning + ["failed"] * script.failed)
        counts = {"completed": 0, "warning": 0, "failed": 0}
        for sent, kind in enumerate(kinds, start=1):
            await self._turn(sent)
            if self.cancel_requested:
                break
            counts[kind] += 1
            yield self._progress(counts, PENDING, remaining=script.images - sent)
        else:
            await self._turn(script.images + 1)
        if script.crash is not None:
            raise script.crash
        if self.aborted:  # no final response: we ended the association
            self._result = self._end(counts, MoveOutcome.CANCELLED, None, unconfirmed=True)
            return
        if self.cancel_requested:
            yield self._progress(counts, CANCELLED_STATUS, remaining=None, final=True)
            self._result = self._end(counts, MoveOutcome.CANCELLED, CANCELLED_STATUS)
            return
        status = script.status if script.request_sent else None
        if script.request_sent:
            yield self._progress(counts, script.status, remaining=None, final=True)
        self._result = self._end(counts, script.decided_outcome(), status)

    async def _turn(self, response: int) -> None:
        """One loop turn; a held move also waits until ``response`` is released (or a cancel)."""
        await asyncio.sleep(0)
        assert self._wake is not None
        while self._released < response and not self.cancel_requested:
            self._wake.clear()
            await self._wake.wait()

    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def _progress(self, counts: dict[str, int], status: int, *, remaining: int | None,
                  final: bool = False) -> MoveProgress:
        done = sum(counts.values())
        total = done + remaining if remaining is not None else self.script.images
        progress = MoveProgress(remaining=remaining, completed=counts["completed"],
                                failed=counts["failed"], warning=counts["warning"], total=total,
                                status=status, elapsed=0.0, is_final=final)
        self.responses.append(progress)
        return progress

    def _end(self, counts: dict[str, int], outcome: MoveOutcome, status: int | None, *,
             unconfirmed: bool = False) -> MoveResult:
        script = self.script
        error = script.error
        if outcome is MoveOutcome.CANCELLED:
            error = Cancelled("Cancelled.", "The send was cancelled.", "Nothing to do.",
                              status=status)
        return MoveResult(
            outcome=outcome, total=script.images, completed=counts["completed"],
            failed=counts["failed"], warning=counts["warning"], status=status, duration=0.0,
            error_comment=None, failed_sop_uids=script.failed_sop_uids, error=error,
            destination=self.request.destination,
            peer=Peer(calling_aet=self.pacs.calling_aet, called_aet=self.pacs.called_aet,
                      host=self.pacs.host, port=self.pacs.port),
            cancel_sent=self.cancel_requested and not self.aborted,
            cancel_unconfirmed=unconfirmed, request_sent=script.request_sent)


@dataclass
class FakeMoves:
    """The queue's ``start_move`` factory: the n-th move started follows ``scripts[n]``, or
    ``default`` once they are used up (``script_for``, if given, decides instead)."""

    scripts: list[MoveScript] = field(default_factory=list)
    default: MoveScript = field(default_factory=MoveScript)
    script_for: Callable[[PacsNode, MoveRequest], MoveScript] | None = None
    started: list[FakeMove] = field(default_factory=list)
    _waiters: set[asyncio.Event] = field(default_factory=set, repr=False)

    def __call__(self, pacs: PacsNode, request: MoveRequest) -> FakeMove:
        if self.script_for is not None:
            script = self.script_for(pacs, request)
        elif len(self.started) < len(self.scripts):
            script = self.scripts[len(self.started)]
        else:
            script = self.default
        move = FakeMove(pacs, request, script)
        self.started.append(move)
        for wake in self._waiters:
            wake.set()
        return move

    async def until_started(self, count: int = 1, within: float = 5.0) -> list[FakeMove]:
        """Wait until ``count`` moves have been started (the queue creates a move on the loop
        turn after it announced the job running); fail after ``within`` s. Returns them all."""
        wake = asyncio.Event()
        self._waiters.add(wake)
        try:
            async with asyncio.timeout(within):
                while len(self.started) < count:
                    wake.clear()
                    await wake.wait()
        finally:
            self._waiters.discard(wake)
        return self.started

    def of(self, request: MoveRequest) -> list[FakeMove]:
        """Every move started for ``request`` (retries included), in start order."""
        return [move for move in self.started if move.request == request]


class QueueWatch:
    """A :class:`~dicom_courier.core.jobs.listener.QueueListener` for tests.

    ``events`` holds every announcement in order: ("added" | "changed", snapshot) or
    ("removed", job ids). ``latest`` maps job id to its newest snapshot; ``starts`` lists job
    ids in the order they started running; ``most_running`` is the most that ran at once.
    """

    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []
        self.latest: dict[int, JobSnapshot] = {}
        self.starts: list[int] = []
        self.most_running = 0
        self.most_per_pacs = 0
        self._waiters: set[asyncio.Event] = set()

    def on_job_added(self, job: JobSnapshot) -> None:
        self.events.append(("added", job))
        self._note(job)

    def on_job_changed(self, job: JobSnapshot) -> None:
        self.events.append(("changed", job))
        previous = self.latest.get(job.job_id)
        if job.state is JobState.RUNNING and (previous is None
                                              or previous.state is not JobState.RUNNING):
            self.starts.append(job.job_id)
        self._note(job)

    def on_jobs_removed(self, job_ids: tuple[int, ...]) -> None:
        self.events.append(("removed", job_ids))
        for job_id in job_ids:
            self.latest.pop(job_id, None)
        self._poke()

    def snapshots(self, job_id: int) -> list[JobSnapshot]:
        """Every snapshot announced for ``job_id``, oldest first."""
        return [item for _kind, item in self.events
                if isinstance(item, JobSnapshot) and item.job_id == job_id]

    async def until(self, condition: Callable[[], bool], within: float = 5.0) -> None:
        """Return once ``condition()`` holds, checked after every announcement; fail (not hang)
        after ``within`` seconds of real time."""
        wake = asyncio.Event()
        self._waiters.add(wake)
        try:
            async with asyncio.timeout(within):
                while not condition():
                    wake.clear()
                    await wake.wait()
        finally:
            self._waiters.discard(wake)

    def _note(self, job: JobSnapshot) -> None:
        self.latest[job.job_id] = job
        running = [j for j in self.latest.values()
                   if j.state in (JobState.RUNNING, JobState.CANCELLING)]
        self.most_running = max(self.most_running, len(running))
        for one in running:
            same = sum(1 for other in running if other.pacs.port == one.pacs.port)
            self.most_per_pacs = max(self.most_per_pacs, same)
        self._poke()

    def _poke(self) -> None:
        for wake in self._waiters:
            wake.set()
