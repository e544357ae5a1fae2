"""The move queue: every send a person asked for, its state, and at most N moves per PACS.

Qt-free and loop-bound: jobs run as asyncio tasks the queue holds strong references to, each
move on its own association in a DIMSE worker thread. Every change is reported as an immutable
:class:`JobSnapshot` to one ``on_change`` callback (the window turns it into a Qt signal via
:mod:`.signals`, the command line prints it). Nothing a person queued is dropped: a job ends
as completed, partial, failed or cancelled, and stays listed until "Clear finished".
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum

from dicom_courier.core.engine import Courier
from dicom_courier.core.events import MoveOutcome, MoveProgress, MoveResult
from dicom_courier.core.move import MoveOperation
from dicom_courier.core.nodes import PacsNode
from dicom_courier.core.query import MoveRequest
from dicom_courier.core.store import JobStore


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    CANCELLING = "cancelling"
    COMPLETED = "completed"
    PARTIAL = "partial"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_finished(self) -> bool:
        return self in _FINISHED


_FINISHED = {JobState.COMPLETED, JobState.PARTIAL, JobState.FAILED, JobState.CANCELLED}
_STATE_OF_OUTCOME = {
    MoveOutcome.COMPLETED: JobState.COMPLETED,
    MoveOutcome.PARTIAL: JobState.PARTIAL,
    MoveOutcome.FAILED: JobState.FAILED,
    MoveOutcome.CANCELLED: JobState.CANCELLED,
}


@dataclass(frozen=True)
class JobLabel:
    """What a person recognises a send by (shown in the queue, never sent to the PACS)."""

    patient: str = ""
    study: str = ""


@dataclass(frozen=True)
class JobSnapshot:
    """One job as it is now; a new snapshot replaces the old one on every change."""

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

    @property
    def destination(self) -> str:
        return self.request.destination

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


class MoveQueue:
    """Runs submitted moves with at most ``per_pacs_limit`` at once against each PACS."""

    def __init__(self, courier: Courier, on_change: JobListener, *,
                 per_pacs_limit: int = 2, store: JobStore | None = None) -> None:
        self._courier = courier
        self._store = store
        self._on_change = on_change
        self.per_pacs_limit = per_pacs_limit
        self._ids = itertools.count(1)
        self._jobs: dict[int, JobSnapshot] = {}
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._operations: dict[int, MoveOperation] = {}
        self._limits: dict[str, asyncio.Semaphore] = {}

    # ------------------------------------------------------------------ queries

    def jobs(self) -> list[JobSnapshot]:
        return list(self._jobs.values())

    def get(self, job_id: int) -> JobSnapshot:
        return self._jobs[job_id]

    def active_for(self, pacs_name: str, study_uid: str, destination: str) -> JobSnapshot | None:
        """A queued or running send of the same study to the same destination, if any."""
        for job in self._jobs.values():
            if (not job.state.is_finished and job.pacs.name == pacs_name
                    and job.request.target.study_uid == study_uid
                    and job.destination == destination):
                return job
        return None

    # ------------------------------------------------------------------ commands

    def submit(self, pacs: PacsNode, request: MoveRequest, label: JobLabel = JobLabel(),
               *, retry_of: int | None = None) -> int:
        """Queue a move; it starts as soon as the PACS has a free slot. Returns the job id."""
        job_id = next(self._ids)
        if self._store is not None:  # on disk before it is shown; the row id is the job id
            job_id = self._store.add(
                pacs_json=pacs.to_json(), destination=request.destination,
                study_uid=request.target.study_uid, series_uids=request.target.series_uids,
                patient_id=request.target.patient_id or "",
                label=f"{label.patient} — {label.study}".strip(" —"), retry_of=retry_of)
        self._publish(JobSnapshot(job_id=job_id, pacs=pacs, request=request, label=label,
                                  state=JobState.QUEUED, queued_at=time.monotonic(),
                                  retry_of=retry_of))
        self._tasks[job_id] = asyncio.get_running_loop().create_task(
            self._run(job_id), name=f"move-{job_id}")
        return job_id

    def cancel(self, job_id: int) -> None:
        """Queued: cancelled at once. Running: C-CANCEL now, A-ABORT after the grace period."""
        job = self._jobs.get(job_id)
        if job is None or job.state.is_finished or job.state is JobState.CANCELLING:
            return
        operation = self._operations.get(job_id)
        if operation is None:
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

    def clear_finished(self) -> list[int]:
        gone = [i for i, job in self._jobs.items() if job.state.is_finished]
        for job_id in gone:
            del self._jobs[job_id]
        return gone

    async def close(self) -> None:
        """Cancel everything still queued or running and wait for it to end."""
        for job_id in list(self._tasks):
            job = self._jobs.get(job_id)
            if job is not None and not job.state.is_finished:
                operation = self._operations.get(job_id)
                if operation is not None:
                    operation.abort()
                else:
                    self.cancel(job_id)
        if self._tasks:
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    # ------------------------------------------------------------------ running

    def _limit(self, pacs: PacsNode) -> asyncio.Semaphore:
        key = f"{pacs.host}:{pacs.port}:{pacs.called_aet}"
        if key not in self._limits:
            self._limits[key] = asyncio.Semaphore(self.per_pacs_limit)
        return self._limits[key]

    async def _run(self, job_id: int) -> None:
        try:
            job = self._jobs[job_id]
            async with self._limit(job.pacs):
                job = self._jobs.get(job_id, job)
                if job.state.is_finished:
                    return
                operation = self._courier.move(job.pacs, job.request)
                self._operations[job_id] = operation
                if self._store is not None:
                    self._store.started(job_id)
                self._publish(replace(job, state=JobState.RUNNING, started_at=time.monotonic()))
                async for progress in operation:
                    if self._store is not None:
                        self._store.progress(job_id, total=progress.total,
                                             completed=progress.completed,
                                             failed=progress.failed, warning=progress.warning)
                    current = self._jobs[job_id]
                    self._publish(replace(current, progress=progress))
                result = operation.result
                self._finish(job_id, state=_STATE_OF_OUTCOME[result.outcome], result=result)
        except asyncio.CancelledError:
            job = self._jobs.get(job_id)
            if job is not None and not job.state.is_finished:
                self._finish(job_id, state=JobState.CANCELLED)
        finally:
            self._operations.pop(job_id, None)
            self._tasks.pop(job_id, None)

    def _finish(self, job_id: int, *, state: JobState, result: MoveResult | None = None) -> None:
        job = self._jobs[job_id]
        if self._store is not None:
            final = result or job.result
            progress = job.progress
            self._store.finished(
                job_id, state=state.value,
                total=final.total if final else (progress.total if progress else None),
                completed=final.completed if final else (progress.completed if progress else 0),
                failed=final.failed if final else (progress.failed if progress else 0),
                warning=final.warning if final else (progress.warning if progress else 0),
                status=final.status if final else None,
                error=final.error.title if final and final.error else None)
        self._publish(replace(job, state=state, result=result or job.result,
                              finished_at=time.monotonic()))

    def _publish(self, job: JobSnapshot) -> None:
        self._jobs[job.job_id] = job
        self._on_change(job)
