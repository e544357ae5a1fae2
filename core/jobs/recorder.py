"""Recording the queue's jobs in ``jobs.db``: the listener that hears every change first.

The move queue (:mod:`.queue`) does not know where jobs are written (Vorta's job manager). It
announces each job it adds, each change and each removal to its listeners, and this recorder
is always the first of them, so every transition is on disk before the window or the command
line shows it. The recorder reads the transition from the snapshots themselves:

==========================  =======================================  ========================
snapshot                    written                                  if the store refuses
==========================  =======================================  ========================
a new job                   :meth:`JobStore.add` (the row id is the  raised: not queued
                            job id), priority, image-level target
queued → running            records still owed, then "started"       raised: not started
a new C-MOVE response       a progress checkpoint (throttled)        skipped by the store
more arrived (this          received, folder (checkpoint, throttled) skipped by the store
computer)
retrying                    attempt, next try (wall clock), error    owed, written later
retrying → queued           the retry is due                         raised
an outcome                  final counts, status, failed images,     owed, written later
                            what arrived (received, the arrival
                            check's words, verified, folder)
interrupted (left to        "interrupted", then the counts reached   owed, written later
resume at the next start)   (again at each later response)
==========================  =======================================  ========================

"Raised" means the queue does not make the change: an unrecorded send is never made (the
queue pauses and says why, see :meth:`.queue.MoveQueue._start`). "Owed" means the send
happened and is shown as it is; the record is kept and written again before the next send
starts (:meth:`JobRecorder.write_owed`), so no send stays unrecorded longer than it must.

Runs on: the asyncio loop thread, like the queue.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable

from dicom_courier.core.jobs.job import JobSnapshot, JobState
from dicom_courier.core.jobs.row_words import ImageCounts, arrival_verified, arrival_words
from dicom_courier.core.jobs.store import ArrivalRecord, JobStore
from dicom_courier.core.jobs.store_errors import StoreError

LOGGER = logging.getLogger(__name__)

#: A monotonic clock in seconds (the queue's: a test may inject a fake one).
Clock = Callable[[], float]
#: Told of every record the store refused (disk full, locked, read-only).
StoreErrorSink = Callable[[StoreError], None]


class JobRecorder:
    """The :class:`~dicom_courier.core.jobs.listener.QueueListener` that writes ``jobs.db``.

    ``clock`` is the queue's clock, on which a RETRYING snapshot's ``next_retry_at`` is given
    (it is recorded in wall-clock epoch seconds, so it still means something after a restart).
    ``on_error`` hears each record that was refused and kept owed; a refusal that is raised
    is the caller's to report.
    """

    def __init__(self, store: JobStore, *, clock: Clock = time.monotonic,
                 on_error: StoreErrorSink | None = None) -> None:
        self.store = store
        self._clock = clock
        self._on_error = on_error
        #: Records the store refused, in order: (job id, the write to try again).
        self._owed: list[tuple[int, Callable[[], None]]] = []
        self._last: dict[int, JobSnapshot] = {}  # the snapshot each job was last recorded as

    # ------------------------------------------------------------------ the queue's calls

    def register(self, job: JobSnapshot) -> int:
        """Write a new job as queued and return its row id, which becomes the job's id.

        ``job`` is the snapshot to be announced (its ``job_id`` is not used). Raises
        :class:`StoreError` (busy, disk full, read-only): then the job must not be queued.
        """
        request = job.request
        target = request.target
        job_id = self.store.add(
            pacs_json=job.pacs.to_json(), destination=request.destination,
            study_uid=target.study_uid, series_uids=target.series_uids,
            patient_id=target.patient_id or job.label.patient_id, label=job.label.text,
            retry_of=job.retry_of)
        self.store.set_priority(job_id, int(request.priority))
        if target.sop_uids:
            self.store.set_sop_uids(job_id, target.sop_uids)
        return job_id

    @property
    def unrecorded(self) -> list[int]:
        """Jobs whose latest state the store refused to record, oldest first."""
        return [job_id for job_id, _write in self._owed]

    def write_owed(self) -> None:
        """Write the owed records in order; raises :class:`StoreError` at the first refusal
        (that one and the later ones stay owed)."""
        while self._owed:
            self._owed[0][1]()
            self._owed.pop(0)

    # ------------------------------------------------------------------ QueueListener

    def on_job_added(self, job: JobSnapshot) -> None:
        """Already written by :meth:`register` (the row id is the job id)."""
        self._last[job.job_id] = job

    def on_job_changed(self, job: JobSnapshot) -> None:
        """Write the transition from the last recorded snapshot to ``job`` (see the module
        table). Raises :class:`StoreError` for a start or a due retry that cannot be written;
        then ``job`` does not count as recorded."""
        previous = self._last.get(job.job_id)
        was = previous.state if previous is not None else None
        state = job.state
        if state is JobState.RUNNING and was in (None, JobState.QUEUED):
            self.write_owed()
            self.store.started(job.job_id)
        elif state in (JobState.RUNNING, JobState.CANCELLING):
            progress = job.progress
            if progress is not None and (previous is None or progress is not previous.progress):
                self.store.progress(job.job_id, total=progress.total,
                                    completed=progress.completed, failed=progress.failed,
                                    warning=progress.warning)
            if job.received is not None and (previous is None
                                             or (job.received, job.folder)
                                             != (previous.received, previous.folder)):
                self.store.arrival_progress(job.job_id, _arrival_record(job))
        elif state is JobState.RETRYING:
            self._record(job.job_id, self._retrying_write(job))
        elif state is JobState.QUEUED and was is JobState.RETRYING:
            self.store.retry_due(job.job_id, attempt=job.attempt)
        elif state.is_finished:
            self._record(job.job_id, functools.partial(self._write_finished, job))
        elif state is JobState.INTERRUPTED:
            self._record(job.job_id, functools.partial(
                self._write_interrupted, job, first=was is not JobState.INTERRUPTED))
        self._last[job.job_id] = job

    def on_jobs_removed(self, job_ids: tuple[int, ...]) -> None:
        """The rows stay (they are the history); only what was remembered goes."""
        for job_id in job_ids:
            self._last.pop(job_id, None)

    # ------------------------------------------------------------------ writes

    def _record(self, job_id: int, write: Callable[[], None]) -> None:
        """Write a job's record; if the store refuses it, keep it owed and say so once."""
        try:
            write()
        except StoreError as exc:
            LOGGER.warning("job %d: record not written, kept to write later (%s)", job_id,
                           exc.title)
            self._owed.append((job_id, write))
            if self._on_error is not None:
                self._on_error(exc)

    def _retrying_write(self, job: JobSnapshot) -> Callable[[], None]:
        result = job.result
        error = result.error if result is not None else None
        wait = job.next_retry_at - self._clock() if job.next_retry_at is not None else 0.0
        return functools.partial(
            self.store.retrying, job.job_id, attempt=job.attempt,
            next_retry_at=time.time() + max(0.0, wait),
            status=result.status if result is not None else None,
            error=error.title if error else None,
            error_type=type(error).__name__ if error else None)

    def _write_interrupted(self, job: JobSnapshot, *, first: bool) -> None:
        """Left to resume (:meth:`.queue.MoveQueue.leave_interrupted`): the state, as a crash
        leaves it after the next open, and the counts reached (no ``finished_at``)."""
        if first:
            self.store.set_state(job.job_id, JobState.INTERRUPTED)
        progress = job.progress
        if progress is not None:
            self.store.progress(job.job_id, total=progress.total, completed=progress.completed,
                                failed=progress.failed, warning=progress.warning, force=True)
        if job.received is not None:
            self.store.arrival_progress(job.job_id, _arrival_record(job), force=True)

    def _write_finished(self, job: JobSnapshot) -> None:
        """The outcome, with the final counts (the last response's if there is no result)."""
        final, progress = job.result, job.progress
        self.store.finished(
            job.job_id, state=job.state,
            total=final.total if final else (progress.total if progress else None),
            completed=final.completed if final else (progress.completed if progress else 0),
            failed=final.failed if final else (progress.failed if progress else 0),
            warning=final.warning if final else (progress.warning if progress else 0),
            status=final.status if final else None,
            error=final.error.title if final and final.error else None,
            arrival=_arrival_record(job)
            if job.received is not None or job.arrival is not None else None)
        if final is not None and (final.failed_sop_uids or final.error is not None):
            self.store.set_failure(
                job.job_id, failed_uids=final.failed_sop_uids,
                error_type=type(final.error).__name__ if final.error else None)


def _arrival_record(job: JobSnapshot) -> ArrivalRecord:
    """What arrived for ``job`` as ``jobs.db`` keeps it (the check's words as shown)."""
    check = job.arrival
    return ArrivalRecord(received=job.received,
                         words=arrival_words(check, total=ImageCounts.of_job(job).total)
                         if check is not None else None,
                         verified=arrival_verified(check), folder=job.folder)
