"""The move queue: every send a person asked for, its state, and which one starts next.

Qt-free and loop-bound: jobs run as asyncio tasks the queue holds strong references to, each
move on its own association in a DIMSE worker thread. Every job added, every change (as an
immutable :class:`JobSnapshot`) and every removal is announced on one road, a
:class:`~.listener.QueueListener`: first to the job recorder (:mod:`.recorder`, when
the queue has a job store), so it is on disk before it is shown, then to the front end's
listener (the window turns it into Qt signals via :mod:`.signals`, the command line prints it).
The scheduler itself never writes a record. Nothing a person queued is dropped: a job ends
as completed, partial, failed or cancelled, and stays listed until "Clear finished".

Moves are started by a factory (``start_move``, by default :meth:`.engine.Courier.move`), so a
test can hand the queue a scripted move that needs no socket.

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
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Protocol

from dicom_courier.core.config.profiles import PacsNode
from dicom_courier.core.dimse.progress_batches import progress_batches
from dicom_courier.core.jobs import arrival_phase
from dicom_courier.core.jobs.arrival_phase import (
    DEFAULT_ARRIVAL_WAIT,
    ArrivalChecker,
    ArrivalWait,
    NotSetUpHere,
)
from dicom_courier.core.jobs.arrivals import ArrivalLedger
from dicom_courier.core.jobs.job import JobLabel as JobLabel
from dicom_courier.core.jobs.job import JobSnapshot as JobSnapshot
from dicom_courier.core.jobs.job import JobState as JobState
from dicom_courier.core.jobs.listener import ChangeCallback, QueueListener, as_listener
from dicom_courier.core.jobs.recorder import JobRecorder
from dicom_courier.core.jobs.retry import UIDS_PER_REQUEST, RetryPolicy, chunked, series_of_images
from dicom_courier.core.jobs.store import JobStore
from dicom_courier.core.jobs.store_errors import StoreError
from dicom_courier.core.outcome.arrival import ArrivalCheck
from dicom_courier.core.outcome.events import MoveOutcome, MoveProgress, MoveResult
from dicom_courier.core.qr.query import MoveRequest, Priority

if TYPE_CHECKING:  # the engine (pynetdicom) is imported where a move runs, not at start
    from dicom_courier.core.dimse.engine import Courier

# JobLabel, JobSnapshot and JobState live in core.jobs (the one job vocabulary); they are
# re-exported above (``import X as X``) for code that imports them from the queue.
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


JobListener = ChangeCallback  # a plain callback still works as the queue's listener
Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class RunningMove(Protocol):
    """One C-MOVE as the queue drives it: :class:`~.move.MoveOperation`, or a test's fake.

    Iterate once with ``async for`` for the responses (PS3.4 C.4.2.1.6 counts as
    :class:`MoveProgress`, the final one last), or with ``batches()`` if it has one (lists
    of them, as they arrived together; the queue prefers it), then read ``result``.
    ``cancel`` asks the PACS to stop (C-CANCEL, PS3.7 9.3.4.3; A-ABORT after the grace
    period), ``abort`` ends the association at once; both may be called at any time and end
    the iteration.
    """

    def __aiter__(self) -> AsyncIterator[MoveProgress]: ...

    @property
    def result(self) -> MoveResult: ...

    def cancel(self) -> None: ...

    def abort(self) -> None: ...


#: Starts a C-MOVE of ``request`` on ``pacs`` (nothing is sent before it is iterated).
MoveStarter = Callable[[PacsNode, MoveRequest], RunningMove]


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

    ``on_change`` hears every job added, changed and removed: a
    :class:`~.listener.QueueListener`, or a plain callback for added and changed jobs.
    With a ``store`` (``jobs.db``), a :class:`~.recorder.JobRecorder` hears each of them
    first; a send it cannot record is not made: the queue pauses and tells ``on_store_error``.
    ``start_move`` starts each C-MOVE (default: ``courier.move``; ``courier`` may then be
    None, and "retry failed images" re-sends a whole job whose images it cannot place).
    ``retry_policy`` turns on automatic retries of transient failures (None: a failure is
    final, as before). ``clock`` (monotonic seconds) and ``sleep`` (async) time the retry
    waits; ``rng`` draws their jitter. Tests inject fakes for all three.

    Arrivals (issue 13, :mod:`.arrival_phase`): a send whose destination is ``HERE`` starts
    through ``retrieve_here`` (same shape as ``start_move``: :func:`.dimse.retrieve_here
    .retrieve_here` bound to the receiver), its row counts what ``arrivals`` (the
    :class:`~.arrivals.ArrivalLedger`) saw written, and after the final response it waits up
    to ``arrival_wait`` s for every instance the PACS reported sent. A send to a queryable
    destination is checked with ``check_arrival`` (:func:`.arrival_phase.arrival_checker`).

    Raises ValueError if there is neither a ``courier`` nor a ``start_move``.
    """

    def __init__(self, courier: Courier | None, on_change: QueueListener | ChangeCallback, *,
                 per_pacs_limit: int = 2, store: JobStore | None = None,
                 global_limit: int = 4, retry_policy: RetryPolicy | None = None,
                 clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep,
                 rng: random.Random | None = None,
                 on_store_error: Callable[[StoreError], None] | None = None,
                 start_move: MoveStarter | None = None,
                 arrivals: ArrivalLedger | None = None,
                 retrieve_here: MoveStarter | None = None,
                 check_arrival: ArrivalChecker | None = None,
                 arrival_wait: float = DEFAULT_ARRIVAL_WAIT) -> None:
        self._arrivals = arrivals
        self._retrieve_here = retrieve_here
        self._check_arrival = check_arrival
        self.arrival_wait = arrival_wait
        self._arrival_waits: dict[int, ArrivalWait] = {}
        if start_move is None:
            if courier is None:
                raise ValueError("a MoveQueue needs a courier or a start_move factory")
            start_move = courier.move
        self._courier = courier
        self._start_move = start_move
        self._on_store_error = on_store_error
        #: Listens first: every change is on disk before anyone else hears of it.
        self._recorder = (JobRecorder(store, clock=clock, on_error=on_store_error)
                          if store is not None else None)
        self._listeners: list[QueueListener] = [as_listener(on_change)]
        self.per_pacs_limit = per_pacs_limit
        self.global_limit = global_limit
        self.retry_policy = retry_policy
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._ids = itertools.count(1)
        self._jobs: dict[int, JobSnapshot] = {}
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._operations: dict[int, RunningMove] = {}
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
        """Queue a move (C-MOVE, PS3.4 C.4.2); it starts when its turn comes and the PACS has
        a free slot. Returns at once; progress and the end arrive as job snapshots.

        ``request`` says what goes to which destination AE title; ``label`` is what a person
        recognises the job by (data, never markup); ``retry_of`` the job this one repeats.
        ``priority`` overrides ``request.priority``; either way it orders the queue and is
        the DIMSE priority of the C-MOVE (PS3.7 9.1.1.1). Returns the job id (with a job
        store: its row id in ``jobs.db``). Raises StoreError if the job store cannot record
        it: then nothing was queued.
        """
        if priority is not None and priority != request.priority:
            request = replace(request, priority=Priority(priority))
        job = JobSnapshot(job_id=0, pacs=pacs, request=request, label=label,
                          state=JobState.QUEUED, queued_at=time.monotonic(), retry_of=retry_of)
        # On disk before it is shown: the recorder numbers the job (its row id is the job id).
        job_id = self._recorder.register(job) if self._recorder is not None else next(self._ids)
        self._announce_added(replace(job, job_id=job_id))
        self._enqueue(job_id)
        return job_id

    def cancel(self, job_id: int) -> None:
        """Stop job ``job_id`` (the id :meth:`submit` returned); returns at once.

        Queued or waiting to retry: it ends CANCELLED now and no request goes out. Running:
        the job shows CANCELLING, a C-CANCEL goes out now (PS3.7 9.3.4.3) and, if the PACS
        has not ended the move after the courier's ``cancel_grace`` seconds, an A-ABORT
        (PS3.8 7.3); the job then ends with the outcome the move reports (cancelled, or
        completed if the PACS had already finished). Images already sent stay at the
        destination. A finished, cancelling or unknown job: nothing happens. Raises nothing.
        """
        job = self._jobs.get(job_id)
        if (job is None or job.state.is_finished
                or job.state in (JobState.CANCELLING, JobState.INTERRUPTED)):
            return
        if job.state is JobState.QUEUED:
            self._order.remove(job_id)
            self._finish(job_id, state=JobState.CANCELLED)
            return
        operation = self._operations.get(job_id)
        waiting = self._arrival_waits.get(job_id)
        if operation is None and waiting is not None and job.state is JobState.RUNNING:
            # The PACS is done: end the wait for the arrivals, or the destination check.
            self._publish(replace(job, state=JobState.CANCELLING))
            waiting.stop.set()
            return
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

        Args:
            job_id: a finished job of this queue (the id :meth:`submit` returned).

        Returns:
            The ids of the new jobs, each queued with ``retry_of=job_id`` and the job's
            destination, label and priority (each a C-MOVE, PS3.4 C.4.2, at IMAGE level; the
            series lookup is a C-FIND, PS3.4 C.4.1, whose failure only widens the retry).

        Raises:
            KeyError: no job ``job_id`` in this queue. ValueError: the job is not finished.
            StoreError: ``jobs.db`` could not record a new job (as :meth:`submit`).
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
        elif failed and self._courier is not None:  # without one: the whole send again
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
        """Stop listing every finished job (``jobs.db`` keeps them all); announced to the
        listeners as one removal. Returns the ids removed, in submission order."""
        gone = [i for i, job in self._jobs.items() if job.state.is_finished]
        for job_id in gone:
            del self._jobs[job_id]
        if gone:
            removed = tuple(gone)
            for listener in self._all_listeners():
                listener.on_jobs_removed(removed)
        return gone

    @property
    def unrecorded(self) -> list[int]:
        """Jobs whose latest state the job store refused to record (disk full, locked)."""
        return self._recorder.unrecorded if self._recorder is not None else []

    async def flush_records(self, *, attempts: int = 1, interval: float = 1.0) -> list[int]:
        """Write owed records again, up to ``attempts`` times ``interval`` seconds apart;
        returns the jobs still unrecorded (an empty list when all are written)."""
        if self._recorder is None:
            return []
        for attempt in range(attempts):
            try:
                self._recorder.write_owed()
            except StoreError:
                if attempt + 1 < attempts:
                    await self._sleep(interval)
                continue
            break
        return self.unrecorded

    def leave_interrupted(self) -> list[int]:
        """Stop for good, leaving every send that is running, queued or waiting to retry
        *interrupted* (as a crash leaves it, so the next start can offer it); returns their
        ids, in submission order. Returns at once (the window's "quit and resume them next
        time", and the session ending).

        Nothing new starts after this. Each job is announced INTERRUPTED now (the recorder
        writes it to ``jobs.db`` first; a refused write is kept owed, see
        :meth:`flush_records`); a running move's association is aborted (A-ABORT, PS3.8
        7.3: no C-CANCEL, the PACS may go on for a moment) and its last counts are recorded
        when it ends; a retry wait is dropped. A job being cancelled is left to end cancelled.
        Await :meth:`close` afterwards to wait for the aborted moves. Raises nothing.
        """
        self._stop_scheduling()
        left = []
        for job_id, job in list(self._jobs.items()):
            if job.state not in (JobState.QUEUED, JobState.RUNNING, JobState.RETRYING):
                continue
            if job_id in self._order:
                self._order.remove(job_id)
            self._publish(replace(job, state=JobState.INTERRUPTED, next_retry_at=None,
                                  finished_at=time.monotonic()))
            left.append(job_id)
            operation = self._operations.get(job_id)
            task = self._tasks.get(job_id)
            if operation is not None:
                operation.abort()
            elif task is not None:  # a retry wait, or a start whose move is not made yet
                task.cancel()
        return left

    def _stop_scheduling(self) -> None:
        self._closing = True
        if self._schedule_handle is not None:
            self._schedule_handle.cancel()
            self._schedule_handle = None

    async def close(self, *, leave_interrupted: bool = False) -> None:
        """Cancel everything still queued, waiting or running and wait for it to end; then
        write owed records once more (see :meth:`flush_records`).

        With ``leave_interrupted`` (or after :meth:`leave_interrupted`), the running, queued
        and retrying sends are left interrupted instead of cancelled; only sends already
        being cancelled end cancelled. Either way every association is ended (abort) and
        awaited within the move's own bounds before this returns.
        """
        if leave_interrupted:
            self.leave_interrupted()
        self._stop_scheduling()
        for job_id, job in list(self._jobs.items()):
            if job.state.is_finished or job.state is JobState.INTERRUPTED:
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
        try:  # the recorder writes what is owed, then "started"; or refuses
            self._publish(replace(job, state=JobState.RUNNING, started_at=time.monotonic(),
                                  finished_at=None, progress=None, result=None,
                                  received=0 if job.to_here and self._arrivals is not None
                                  and self._retrieve_here is not None else None,
                                  arrival=None,
                                  checking=False))
        except StoreError as exc:
            self._order.insert(0, job_id)  # not recorded, so not sent: it waits, first in line
            self._refused_start(job_id, exc)
            return
        self._running[key] = self._running.get(key, 0) + 1
        task = asyncio.get_running_loop().create_task(self._run(job_id), name=f"move-{job_id}")
        self._tasks[job_id] = task
        # A callback, not a finally: a task cancelled before its first step never runs its body.
        task.add_done_callback(functools.partial(self._attempt_ended, job_id, key))

    def _refused_start(self, job_id: int, exc: StoreError) -> None:
        """The job store could not record a start: pause the queue and say why.

        An unrecorded send is not allowed: the queue waits until the person resumes it.
        Paused first, so ``on_store_error`` sees the queue paused.
        """
        self._paused = True
        LOGGER.warning("job %d not started: the job store cannot be written (%s)", job_id,
                       exc.title)
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
            operation = self._begin(job_id, job)
            self._operations[job_id] = operation
            async for batch in progress_batches(operation):
                # Only the newest counts of what arrived together are shown and recorded:
                # a batch of 50 responses is one snapshot, not 50 (the final one is always
                # the last of its batch, so it is never skipped).
                self._publish(replace(self._jobs[job_id], progress=batch[-1]))
            result = operation.result
        except asyncio.CancelledError:
            self._end_arrivals(job_id)
            current = self._jobs.get(job_id)
            if (current is not None and not current.state.is_finished
                    and current.state is not JobState.INTERRUPTED):
                self._finish(job_id, state=JobState.CANCELLED)
            raise
        except BaseException:
            self._end_arrivals(job_id)
            raise
        self._operations.pop(job_id, None)
        job = self._jobs[job_id]
        if job.state is JobState.INTERRUPTED:  # left to resume: its last counts stay recorded
            self._end_arrivals(job_id)
            return
        delay = None
        if (self.retry_policy is not None and job.state is JobState.RUNNING
                and not self._closing):
            delay = self.retry_policy.next_delay(result, job.attempt, self._rng)
        if delay is None:
            try:
                await self._after_final(job_id, result)
            finally:
                self._end_arrivals(job_id)
        else:
            self._end_arrivals(job_id)
            self._wait_to_retry(job_id, result, delay)

    # ------------------------------------------------------------------ arrivals (issue 13)

    def _begin(self, job_id: int, job: JobSnapshot) -> RunningMove:
        """Start the move: a send to this computer through ``retrieve_here`` (its arrivals
        counted from now on), any other through ``start_move``."""
        if not job.to_here:
            return self._start_move(job.pacs, job.request)
        if self._retrieve_here is None:
            return NotSetUpHere(job.pacs, job.request)
        if self._arrivals is not None:
            self._arrival_waits[job_id] = ArrivalWait()
            self._arrivals.track(job_id, job.request.target, self._on_received)
        return self._retrieve_here(job.pacs, job.request)

    def _on_received(self, job_id: int, received: int) -> None:
        """The ledger's count for a send to this computer moved (coalesced, on the loop)."""
        job = self._jobs.get(job_id)
        if job is None or job.state.is_finished or job.state is JobState.INTERRUPTED:
            return
        folder = self._arrivals.folder(job_id) if self._arrivals is not None else None
        self._publish(replace(job, received=received, folder=folder or job.folder))
        waiting = self._arrival_waits.get(job_id)
        if waiting is not None:
            waiting.changed.set()

    def _end_arrivals(self, job_id: int) -> None:
        self._arrival_waits.pop(job_id, None)
        if self._arrivals is not None:
            self._arrivals.untrack(job_id)

    async def _after_final(self, job_id: int, result: MoveResult) -> None:
        """Wait for the arrivals (to this computer) or check the destination, then finish
        with the state :func:`.arrival_phase.final_state` decides."""
        job = self._jobs[job_id]
        pacs_state = _STATE_OF_OUTCOME[result.outcome]
        check = None
        dest = (arrival_phase.queryable_destination(job.pacs, job.destination)
                if self._check_arrival is not None and not job.to_here else None)
        if job.to_here and self._arrivals is not None and self._retrieve_here is not None \
                and result.request_sent:  # nothing asked (receiver down): nothing to check
            check = await self._wait_here(job_id, result)
        elif dest is not None and self._check_arrival is not None \
                and arrival_phase.should_check(result) and job.state is JobState.RUNNING:
            waiting = self._arrival_waits.setdefault(job_id, ArrivalWait())
            self._publish(replace(job, checking=True))
            check = await arrival_phase.run_check(self._check_arrival, job.pacs, dest,
                                                  job.request, result, waiting)
        job = self._jobs[job_id]
        if job.state is JobState.INTERRUPTED:
            return
        state = arrival_phase.final_state(pacs_state, check)
        if (job.to_here and check is not None and job.state is JobState.CANCELLING
                and not check.verified):
            state = JobState.CANCELLED  # a person stopped the wait before all arrived
        self._finish(job_id, state=state, result=result, arrival=check)

    async def _wait_here(self, job_id: int, result: MoveResult) -> ArrivalCheck:
        """Wait (bounded by :attr:`arrival_wait`) until every instance the PACS reported sent
        is on disk; a cancelled send does not wait."""
        assert self._arrivals is not None
        ledger = self._arrivals
        expected = arrival_phase.expected_here(result)
        waiting = self._arrival_waits.setdefault(job_id, ArrivalWait())
        ledger.flush(job_id)
        waited = 0.0
        job = self._jobs[job_id]
        if (expected is not None and result.outcome is not MoveOutcome.CANCELLED
                and job.state is JobState.RUNNING and ledger.received(job_id) < expected):
            self._publish(replace(job, checking=True))
            waited = await arrival_phase.wait_for_arrivals(
                lambda: ledger.received(job_id), waiting, expected,
                arrival_phase.arrival_limit(result, self.arrival_wait))
            ledger.flush(job_id)
        received = ledger.received(job_id)
        job = self._jobs[job_id]
        if job.received != received:
            self._publish(replace(job, received=received,
                                  folder=ledger.folder(job_id) or job.folder))
        return arrival_phase.here_check(expected, received, waited)

    def _wait_to_retry(self, job_id: int, result: MoveResult, delay: float) -> None:
        job = self._jobs[job_id]
        due = self._clock() + delay
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
        attempt = job.attempt + 1  # a refused record raises: the job then ends failed
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

    def _finish(self, job_id: int, *, state: JobState, result: MoveResult | None = None,
                arrival: ArrivalCheck | None = None) -> None:
        job = self._jobs[job_id]
        final = result or job.result
        self._publish(replace(job, state=state, result=final, next_retry_at=None,
                              finished_at=time.monotonic(), checking=False,
                              arrival=arrival or job.arrival))

    # ------------------------------------------------------------------ announcing

    def _all_listeners(self) -> list[QueueListener]:
        """The recorder first (on disk before it is shown), then the others in order."""
        first: list[QueueListener] = [self._recorder] if self._recorder is not None else []
        return first + self._listeners

    def _announce_added(self, job: JobSnapshot) -> None:
        self._jobs[job.job_id] = job
        for listener in self._all_listeners():
            listener.on_job_added(job)

    def _publish(self, job: JobSnapshot) -> None:
        """Announce a newer snapshot of a known job, to the recorder first.

        If the recorder raises StoreError (a start or a due retry it cannot write), the
        change did not happen: the queue keeps the previous snapshot and no one else hears.
        """
        if self._recorder is not None:
            self._recorder.on_job_changed(job)
        self._jobs[job.job_id] = job
        for listener in self._listeners:
            listener.on_job_changed(job)
