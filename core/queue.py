"""The move queue: every send a person asked for, its state, and which one starts next.

Qt-free and loop-bound: jobs run as asyncio tasks the queue holds strong references to, each
move on its own association in a DIMSE worker thread. Every change is reported as an immutable
:class:`JobSnapshot` to one ``on_change`` callback (the window turns it into a Qt signal via
:mod:`.signals`, the command line prints it). Nothing a person queued is dropped: a job ends
as completed, partial, failed or cancelled, and stays listed until "Clear finished".

Scheduling is explicit rather than a semaphore per PACS, because a semaphore wakes waiters in
arrival order and cannot be paused or reordered: the queue keeps the queued jobs in one run
order (a new job goes behind the queued jobs of its own or a higher priority, so HIGH before
MEDIUM before LOW, first come first served within one priority; a person may reorder), counts
the running moves per PACS and in total, and whenever a slot frees up starts the first queued
job whose PACS has room. A transient failure is retried automatically as the same job after a
back-off (:mod:`.retry`) when the queue has a :class:`RetryPolicy`.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from enum import StrEnum

from dicom_courier.core.engine import Courier
from dicom_courier.core.events import MoveOutcome, MoveProgress, MoveResult
from dicom_courier.core.move import MoveOperation
from dicom_courier.core.nodes import PacsNode
from dicom_courier.core.query import MoveRequest, Priority
from dicom_courier.core.retry import UIDS_PER_REQUEST, RetryPolicy, chunked, series_of_images
from dicom_courier.core.store import JobStore
from dicom_courier.core.store_errors import StoreError


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    CANCELLING = "cancelling"
    RETRYING = "retrying"  # an attempt failed transiently; the next one waits for its time
    COMPLETED = "completed"
    COMPLETED_WITH_WARNINGS = "completed_with_warnings"  # every image arrived, some flagged
    PARTIAL = "partial"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_finished(self) -> bool:
        return self in _FINISHED


_FINISHED = {JobState.COMPLETED, JobState.COMPLETED_WITH_WARNINGS, JobState.PARTIAL,
             JobState.FAILED, JobState.CANCELLED}
_STATE_OF_OUTCOME = {
    MoveOutcome.COMPLETED: JobState.COMPLETED,
    MoveOutcome.COMPLETED_WITH_WARNINGS: JobState.COMPLETED_WITH_WARNINGS,
    MoveOutcome.PARTIAL: JobState.PARTIAL,
    MoveOutcome.FAILED: JobState.FAILED,
    MoveOutcome.CANCELLED: JobState.CANCELLED,
}
LOGGER = logging.getLogger(__name__)

#: Run order of the DIMSE priorities (their wire values are not ordered: HIGH is 1, LOW 2).
_RANK = {Priority.HIGH: 0, Priority.MEDIUM: 1, Priority.LOW: 2}


@dataclass(frozen=True)
class JobLabel:
    """What a person recognises a send by (shown in the queue, never sent to the PACS)."""

    patient: str = ""
    study: str = ""


@dataclass(frozen=True)
class JobSnapshot:
    """One job as it is now; a new snapshot replaces the old one on every change.

    ``attempt`` counts automatic attempts of this job (1 = the first); ``next_retry_at`` is
    when a RETRYING job tries again, on the queue's clock (``time.monotonic`` unless a test
    injected another). ``queued_at``/``started_at``/``finished_at`` are always
    ``time.monotonic``; ``started_at`` is that of the current attempt, so rates stay right.
    """

    job_id: int
    pacs: PacsNode
    request: MoveRequest
    label: JobLabel
    state: JobState
    queued_at: float
    started_at: float | None = None
    finished_at: float | None = None
    progress: MoveProgress | None = None
    result: MoveResult | None = None
    retry_of: int | None = None
    attempt: int = 1
    next_retry_at: float | None = None

    @property
    def destination(self) -> str:
        return self.request.destination

    @property
    def priority(self) -> Priority:
        return self.request.priority

    @property
    def elapsed(self) -> float:
        if self.started_at is None:
            return 0.0
        return (self.finished_at or time.monotonic()) - self.started_at

    @property
    def images_per_second(self) -> float | None:
        done = self.progress.done if self.progress else 0
        return done / self.elapsed if done and self.elapsed > 0 else None

    @property
    def seconds_remaining(self) -> float | None:
        rate = self.images_per_second
        if self.progress is None or self.progress.remaining is None or not rate:
            return None
        return self.progress.remaining / rate


JobListener = Callable[[JobSnapshot], None]
Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


def _crashed(task: asyncio.Task[None]) -> bool:
    """True (and logged) if ``task`` ended with an unexpected exception."""
    if task.cancelled() or task.exception() is None:
        return False
    LOGGER.error("Queue task %s failed", task.get_name(), exc_info=task.exception())
    return True


def _pacs_key(pacs: PacsNode) -> str:
    """Limits apply per PACS address, not per profile name (two profiles, one PACS)."""
    return f"{pacs.host}:{pacs.port}:{pacs.called_aet}"


class MoveQueue:
    """Runs submitted moves in priority order: at most ``per_pacs_limit`` at once against each
    PACS and ``global_limit`` in all.

    ``retry_policy`` turns on automatic retries of transient failures (None: a failure is
    final, as before). ``clock`` (monotonic seconds) and ``sleep`` (async) time the retry
    waits; ``rng`` draws their jitter. Tests inject fakes for all three.
    """

    def __init__(self, courier: Courier, on_change: JobListener, *,
                 per_pacs_limit: int = 2, store: JobStore | None = None,
                 global_limit: int = 4, retry_policy: RetryPolicy | None = None,
                 clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep,
                 rng: random.Random | None = None,
                 on_store_error: Callable[[StoreError], None] | None = None) -> None:
        self._courier = courier
        self._on_store_error = on_store_error
        #: Final records the store refused (disk full, locked): written again before the next
        #: send starts, in order, so no send goes unrecorded for longer than it must.
        self._unrecorded: list[tuple[int, Callable[[], None]]] = []
        self._store = store
        self._on_change = on_change
        self.per_pacs_limit = per_pacs_limit
        self.global_limit = global_limit
        self.retry_policy = retry_policy
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._ids = itertools.count(1)
        self._jobs: dict[int, JobSnapshot] = {}
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._operations: dict[int, MoveOperation] = {}
        self._order: list[int] = []             # queued jobs, in the order they will start
        self._running: dict[str, int] = {}      # per PACS key: moves holding a slot
        self._paused = False
        self._closing = False
        self._schedule_handle: asyncio.Handle | None = None

    # ------------------------------------------------------------------ queries

    def jobs(self) -> list[JobSnapshot]:
        return list(self._jobs.values())

    def get(self, job_id: int) -> JobSnapshot:
        return self._jobs[job_id]

    def queued(self) -> list[JobSnapshot]:
        """The queued jobs in the order they will start (as far as PACS limits allow)."""
        return [self._jobs[job_id] for job_id in self._order]

    @property
    def paused(self) -> bool:
        return self._paused

    def active_for(self, pacs_name: str, study_uid: str, destination: str) -> JobSnapshot | None:
        """A queued, running or retrying send of the same study to the same destination."""
        for job in self._jobs.values():
            if (not job.state.is_finished and job.pacs.name == pacs_name
                    and job.request.target.study_uid == study_uid
                    and job.destination == destination):
                return job
        return None

    # ------------------------------------------------------------------ commands

    def submit(self, pacs: PacsNode, request: MoveRequest, label: JobLabel = JobLabel(),
               *, retry_of: int | None = None, priority: Priority | None = None) -> int:
        """Queue a move; it starts when its turn comes and the PACS has a free slot.

        ``priority`` overrides ``request.priority``; either way it orders the queue and is
        the DIMSE priority of the C-MOVE. Returns the job id.
        """
        if priority is not None and priority != request.priority:
            request = replace(request, priority=Priority(priority))
        job_id = next(self._ids)
        if self._store is not None:  # on disk before it is shown; the row id is the job id
            job_id = self._store.add(
                pacs_json=pacs.to_json(), destination=request.destination,
                study_uid=request.target.study_uid, series_uids=request.target.series_uids,
                patient_id=request.target.patient_id or "",
                label=f"{label.patient} — {label.study}".strip(" —"), retry_of=retry_of)
            self._store.set_priority(job_id, int(request.priority))
            if request.target.sop_uids:
                self._store.set_sop_uids(job_id, request.target.sop_uids)
        self._publish(JobSnapshot(job_id=job_id, pacs=pacs, request=request, label=label,
                                  state=JobState.QUEUED, queued_at=time.monotonic(),
                                  retry_of=retry_of))
        self._enqueue(job_id)
        return job_id

    def cancel(self, job_id: int) -> None:
        """Queued or retrying: cancelled at once. Running: C-CANCEL now, A-ABORT after the
        grace period."""
        job = self._jobs.get(job_id)
        if job is None or job.state.is_finished or job.state is JobState.CANCELLING:
            return
        if job.state is JobState.QUEUED:
            self._order.remove(job_id)
            self._finish(job_id, state=JobState.CANCELLED)
            return
        operation = self._operations.get(job_id)
        if operation is None:  # waiting to retry, or started but its task has not run yet
            self._finish(job_id, state=JobState.CANCELLED)
            task = self._tasks.get(job_id)
            if task is not None:
                task.cancel()
            return
        self._publish(replace(job, state=JobState.CANCELLING))
        operation.cancel()

    def retry(self, job_id: int) -> int:
        """Queue the same send again (a new job, so the history keeps both)."""
        job = self._jobs[job_id]
        if not job.state.is_finished:
            raise ValueError("only a finished job can be retried")
        return self.submit(job.pacs, job.request, job.label, retry_of=job_id)

    async def retry_failed_only(self, job_id: int) -> list[int]:
        """Re-send only the images a finished job's PACS reported as failed; the new job ids.

        One IMAGE-level job per series (more for very long lists, see ``UIDS_PER_REQUEST``).
        The series of each image is the job's own if it named one; otherwise it is looked up
        with a C-FIND, because the Failed SOP Instance UID List names images only. Without a
        list of failed images, or if the lookup cannot place every image, the whole send is
        retried instead: re-sending too much is better than silently missing an image.
        """
        job = self._jobs[job_id]
        if not job.state.is_finished:
            raise ValueError("only a finished job can be retried")
        failed = tuple(dict.fromkeys(job.result.failed_sop_uids)) if job.result else ()
        target = job.request.target
        groups: dict[str, tuple[str, ...]] | None = None
        lists_work = True  # an image list in one move needs List of UID matching
        if failed and len(target.series_uids) == 1:
            groups = {target.series_uids[0]: failed}
        elif failed:
            placed = await series_of_images(self._courier, job.pacs, target.study_uid, failed,
                                            model=job.request.model,
                                            patient_id=target.patient_id)
            groups, lists_work = placed if placed is not None else (None, True)
        if not groups:
            return [self.retry(job_id)]
        job_ids = []
        for series, images in groups.items():
            for chunk in chunked(images, UIDS_PER_REQUEST if lists_work else 1):
                narrowed = replace(target, series_uids=(series,), sop_uids=chunk,
                                   from_pacs=True)  # the PACS's own failed-image list
                job_ids.append(self.submit(job.pacs, replace(job.request, target=narrowed),
                                           job.label, retry_of=job_id))
        return job_ids

    def pause(self) -> None:
        """Start nothing new (running moves go on) until :meth:`resume`."""
        self._paused = True

    def resume(self) -> None:
        self._paused = False
        self._schedule_soon()

    def reorder(self, job_id: int, new_index: int) -> None:
        """Move a queued job to ``new_index`` in the run order (clamped to the ends).

        This overrides priority for that job: the queue starts jobs in the order shown.
        """
        self._order.pop(self._position(job_id))
        self._order.insert(max(0, min(new_index, len(self._order))), job_id)
        self._schedule_soon()

    def _position(self, job_id: int) -> int:
        if job_id not in self._order:
            raise ValueError("only a queued job can be moved")
        return self._order.index(job_id)

    def move_up(self, job_id: int) -> None:
        """One place earlier in the run order (the first stays first)."""
        self.reorder(job_id, self._position(job_id) - 1)

    def move_down(self, job_id: int) -> None:
        """One place later in the run order (the last stays last)."""
        self.reorder(job_id, self._position(job_id) + 1)

    def clear_finished(self) -> list[int]:
        gone = [i for i, job in self._jobs.items() if job.state.is_finished]
        for job_id in gone:
            del self._jobs[job_id]
        return gone

    @property
    def unrecorded(self) -> list[int]:
        """Jobs whose latest state the job store refused to record (disk full, locked)."""
        return [job_id for job_id, _write in self._unrecorded]

    async def flush_records(self, *, attempts: int = 1, interval: float = 1.0) -> list[int]:
        """Write owed records again, up to ``attempts`` times ``interval`` seconds apart;
        returns the jobs still unrecorded (an empty list when all are written)."""
        for attempt in range(attempts):
            try:
                while self._unrecorded:
                    self._unrecorded[0][1]()
                    self._unrecorded.pop(0)
            except StoreError:
                if attempt + 1 < attempts:
                    await self._sleep(interval)
                continue
            break
        return self.unrecorded

    async def close(self) -> None:
        """Cancel everything still queued, waiting or running and wait for it to end; then
        write owed records once more (see :meth:`flush_records`)."""
        self._closing = True
        if self._schedule_handle is not None:
            self._schedule_handle.cancel()
            self._schedule_handle = None
        for job_id, job in list(self._jobs.items()):
            if job.state.is_finished:
                continue
            operation = self._operations.get(job_id)
            if operation is not None:
                operation.abort()
            else:
                self.cancel(job_id)
        if self._tasks:
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        await self.flush_records()

    # ------------------------------------------------------------------ scheduling

    def _enqueue(self, job_id: int) -> None:
        """Put a job behind every queued job of the same or a higher priority."""
        rank = _RANK[self._jobs[job_id].priority]
        index = 0
        for position, other in enumerate(self._order):
            if _RANK[self._jobs[other].priority] <= rank:
                index = position + 1
        self._order.insert(index, job_id)
        self._schedule_soon()

    def _schedule_soon(self) -> None:
        """Start jobs on the next loop turn, so that jobs submitted together are ordered by
        priority before the first of them starts."""
        if self._schedule_handle is None and not self._closing:
            self._schedule_handle = asyncio.get_running_loop().call_soon(self._schedule)

    def _schedule(self) -> None:
        self._schedule_handle = None
        while not self._paused and not self._closing:
            job_id = self._pick_next()
            if job_id is None:
                return
            self._start(job_id)

    def _pick_next(self) -> int | None:
        """The first queued job whose PACS has a free slot, if the global cap allows one."""
        if sum(self._running.values()) >= self.global_limit:
            return None
        for job_id in self._order:
            if self._running.get(_pacs_key(self._jobs[job_id].pacs), 0) < self.per_pacs_limit:
                return job_id
        return None

    def _start(self, job_id: int) -> None:
        self._order.remove(job_id)
        job = self._jobs[job_id]
        key = _pacs_key(job.pacs)
        if self._store is not None and not self._record_start(job_id):
            self._order.insert(0, job_id)  # not recorded, so not sent: it waits, first in line
            return
        self._running[key] = self._running.get(key, 0) + 1
        self._publish(replace(job, state=JobState.RUNNING, started_at=time.monotonic(),
                              finished_at=None, progress=None, result=None))
        task = asyncio.get_running_loop().create_task(self._run(job_id), name=f"move-{job_id}")
        self._tasks[job_id] = task
        # A callback, not a finally: a task cancelled before its first step never runs its body.
        task.add_done_callback(functools.partial(self._attempt_ended, job_id, key))

    def _record_start(self, job_id: int) -> bool:
        """Write what is owed and then "started"; on a store fault pause the queue and say why.

        An unrecorded send is not allowed: the queue waits until the person resumes it.
        """
        assert self._store is not None
        try:
            while self._unrecorded:
                self._unrecorded[0][1]()
                self._unrecorded.pop(0)
            self._store.started(job_id)
        except StoreError as exc:
            self._paused = True
            LOGGER.warning("job %d not started: the job store cannot be written (%s)", job_id,
                        exc.title)
            if self._on_store_error is not None:
                self._on_store_error(exc)
            return False
        return True

    def _record(self, job_id: int, write: Callable[[], None]) -> None:
        """Write a job's record; if the store refuses it, keep it owed and say so once."""
        try:
            write()
        except StoreError as exc:
            LOGGER.warning("job %d: record not written, kept to write later (%s)", job_id,
                        exc.title)
            self._unrecorded.append((job_id, write))
            if self._on_store_error is not None:
                self._on_store_error(exc)

    def _attempt_ended(self, job_id: int, key: str, task: asyncio.Task[None]) -> None:
        self._running[key] -= 1
        self._operations.pop(job_id, None)
        self._forget_task(job_id, task)
        job = self._jobs.get(job_id)
        if job is not None and job.state in (JobState.RUNNING, JobState.CANCELLING):
            # Ended without a result: cancelled before it began, or a bug (logged).
            self._finish(job_id, state=JobState.FAILED if _crashed(task)
                         else JobState.CANCELLED)
        self._schedule_soon()

    # ------------------------------------------------------------------ running

    async def _run(self, job_id: int) -> None:
        try:
            job = self._jobs[job_id]
            operation = self._courier.move(job.pacs, job.request)
            self._operations[job_id] = operation
            async for progress in operation:
                if self._store is not None:
                    self._store.progress(job_id, total=progress.total,
                                         completed=progress.completed,
                                         failed=progress.failed, warning=progress.warning)
                self._publish(replace(self._jobs[job_id], progress=progress))
            result = operation.result
        except asyncio.CancelledError:
            current = self._jobs.get(job_id)
            if current is not None and not current.state.is_finished:
                self._finish(job_id, state=JobState.CANCELLED)
            raise
        self._operations.pop(job_id, None)
        job = self._jobs[job_id]
        delay = None
        if (self.retry_policy is not None and job.state is JobState.RUNNING
                and not self._closing):
            delay = self.retry_policy.next_delay(result, job.attempt, self._rng)
        if delay is None:
            self._finish(job_id, state=_STATE_OF_OUTCOME[result.outcome], result=result)
        else:
            self._wait_to_retry(job_id, result, delay)

    def _wait_to_retry(self, job_id: int, result: MoveResult, delay: float) -> None:
        job = self._jobs[job_id]
        due = self._clock() + delay
        if self._store is not None:
            error = result.error
            store = self._store
            self._record(job_id, functools.partial(
                store.retrying, job_id, attempt=job.attempt, next_retry_at=time.time() + delay,
                status=result.status, error=error.title if error else None,
                error_type=type(error).__name__ if error else None))
        self._publish(replace(job, state=JobState.RETRYING, result=result,
                              finished_at=time.monotonic(), next_retry_at=due))
        task = asyncio.get_running_loop().create_task(self._retry_when_due(job_id, due),
                                                      name=f"retry-{job_id}")
        self._tasks[job_id] = task
        task.add_done_callback(functools.partial(self._retry_wait_ended, job_id))

    async def _retry_when_due(self, job_id: int, due: float) -> None:
        while (left := due - self._clock()) > 0:
            await self._sleep(left)
        job = self._jobs.get(job_id)
        if job is None or job.state is not JobState.RETRYING:
            return
        attempt = job.attempt + 1
        if self._store is not None:
            self._store.retry_due(job_id, attempt=attempt)
        self._publish(replace(job, state=JobState.QUEUED, attempt=attempt, next_retry_at=None))
        self._enqueue(job_id)

    def _retry_wait_ended(self, job_id: int, task: asyncio.Task[None]) -> None:
        self._forget_task(job_id, task)
        job = self._jobs.get(job_id)
        if job is not None and job.state is JobState.RETRYING:  # the wait itself broke
            self._finish(job_id, state=JobState.FAILED if _crashed(task)
                         else JobState.CANCELLED)

    def _forget_task(self, job_id: int, task: asyncio.Task[None]) -> None:
        if self._tasks.get(job_id) is task:
            del self._tasks[job_id]

    def _finish(self, job_id: int, *, state: JobState, result: MoveResult | None = None) -> None:
        job = self._jobs[job_id]
        final = result or job.result
        if self._store is not None:
            self._record(job_id, functools.partial(self._write_finished, job_id, job, state,
                                                   final))
        self._publish(replace(job, state=state, result=final, next_retry_at=None,
                              finished_at=time.monotonic()))

    def _write_finished(self, job_id: int, job: JobSnapshot, state: JobState,
                        final: MoveResult | None) -> None:
        assert self._store is not None
        progress = job.progress
        self._store.finished(
            job_id, state=state.value,
            total=final.total if final else (progress.total if progress else None),
            completed=final.completed if final else (progress.completed if progress else 0),
            failed=final.failed if final else (progress.failed if progress else 0),
            warning=final.warning if final else (progress.warning if progress else 0),
            status=final.status if final else None,
            error=final.error.title if final and final.error else None)
        if final is not None and (final.failed_sop_uids or final.error is not None):
            self._store.set_failure(
                job_id, failed_uids=final.failed_sop_uids,
                error_type=type(final.error).__name__ if final.error else None)

    def _publish(self, job: JobSnapshot) -> None:
        self._jobs[job.job_id] = job
        self._on_change(job)
