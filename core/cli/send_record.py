"""Every send is recorded, whoever sends it: ``dicom-courier move`` writes the same job rows
as the window and ``queue run`` (queued and started, progress checkpoints, finished with its
counts, status and error; the OS user, PACS, destination and UIDs).

A send that cannot be recorded is not made: if the job database is busy, on a full disk or
read-only, the command refuses before the first C-MOVE with the store's own message (an
unauditable send is not allowed in a clinical setting). If the *final* row cannot be written
after a move ran, the move is not undone; the user is told that its result is missing from
the history.

The profile lock (:mod:`..instance_lock`) is held while ``move`` runs if it is free, so that no
other process takes this command's running sends for interrupted ones; if the window (or
``queue run``) holds it, ``move`` attaches to the store as ``queue list`` does.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from dicom_courier.core.cli.render import print_error, stderr
from dicom_courier.core.config.atomic import remove_stale_temp_files
from dicom_courier.core.config.instance_lock import AlreadyRunning, ProfileLock
from dicom_courier.core.config.paths import app_paths
from dicom_courier.core.config.profiles import PacsNode
from dicom_courier.core.jobs.arrival_phase import final_state
from dicom_courier.core.jobs.job import JobState
from dicom_courier.core.jobs.row_words import arrival_verified, arrival_words
from dicom_courier.core.jobs.store import ArrivalRecord, AttachedJobStore, JobStore
from dicom_courier.core.jobs.store_errors import StoreError
from dicom_courier.core.outcome.arrival import ArrivalCheck
from dicom_courier.core.outcome.errors import CourierError
from dicom_courier.core.outcome.events import MoveProgress, MoveResult
from dicom_courier.core.qr.query import MoveRequest

if TYPE_CHECKING:  # types only: the engine (pynetdicom) loads when a send starts
    from dicom_courier.core.dimse.move import MoveOperation


class SendRecorder:
    """Writes one job row per move into ``store``; see the module docstring."""

    def __init__(self, store: JobStore) -> None:
        self.store = store

    def begin(self, pacs: PacsNode, request: MoveRequest, label: str = "") -> int:
        """Record the send as queued and started (one row); returns its job id.

        Started at once, in this process: ``queue run`` only claims queued jobs, so it never
        takes this one. Raises StoreError (nothing recorded: do not send).
        """
        target = request.target
        job_id = self.store.add(pacs_json=pacs.to_json(), destination=request.destination,
                                study_uid=target.study_uid, series_uids=target.series_uids,
                                patient_id=target.patient_id or "", label=label)
        try:
            self.store.set_priority(job_id, int(request.priority))
            if target.sop_uids:
                self.store.set_sop_uids(job_id, target.sop_uids)
            self.store.started(job_id)
        except StoreError:
            with contextlib.suppress(StoreError):  # not left "queued" for 'queue run' to send
                self.store.finished(job_id, state=JobState.FAILED, total=None, completed=0,
                                    failed=0, warning=0, status=None,
                                    error="not recorded; not sent")
            raise
        return job_id

    def progress(self, job_id: int, event: MoveProgress) -> None:
        """A checkpoint (throttled and best effort, see :meth:`JobStore.progress`)."""
        self.store.progress(job_id, total=event.total, completed=event.completed,
                            failed=event.failed, warning=event.warning)

    def checked(self, job_id: int, result: MoveResult, check: ArrivalCheck, *,
                received: int | None = None, folder: str | None = None) -> JobState:
        """Record what the arrival check found with the finished send, as the queue does
        (:mod:`..jobs.recorder`): the check's words, whether it verified, ``received`` (a
        send to this computer) and ``folder``; a send the check found short is recorded
        "partial" (:func:`..jobs.arrival_phase.final_state`). Returns the state recorded; a
        failure to write is reported, never raised (the move ran)."""
        state = final_state(JobState.of_outcome(result.outcome), check)
        try:
            self.store.finished(
                job_id, state=state, total=result.total, completed=result.completed,
                failed=result.failed, warning=result.warning, status=result.status,
                error=result.error.title if result.error else None,
                arrival=ArrivalRecord(received=received, words=arrival_words(check),
                                      verified=arrival_verified(check), folder=folder))
        except StoreError as exc:
            stderr.print(f"Warning: what arrived for job {job_id} could not be recorded; "
                         "the history shows the PACS's counts only.", markup=False)
            print_error(exc)
        return state

    def finish(self, job_id: int, result: MoveResult) -> None:
        """The final row; a failure to write it is reported, never raised (the move ran)."""
        try:
            self.store.finished(job_id, state=JobState.of_outcome(result.outcome),
                                total=result.total, completed=result.completed,
                                failed=result.failed, warning=result.warning, status=result.status,
                                error=result.error.title if result.error else None)
            if result.failed_sop_uids or result.error is not None:
                self.store.set_failure(job_id, failed_uids=result.failed_sop_uids,
                                       error_type=type(result.error).__name__
                                       if result.error else None)
        except StoreError as exc:
            stderr.print(f"Warning: the result of job {job_id} could not be recorded; the "
                         "history shows it as running until the next start marks it "
                         "interrupted.", markup=False)
            print_error(exc)


class RecordedOperation:
    """A :class:`MoveOperation` whose progress and result go to the job store as they come.

    Iterate it like the operation; ``result``, ``cancel()`` and ``abort()`` are the
    operation's own.
    """

    def __init__(self, operation: MoveOperation, recorder: SendRecorder, job_id: int) -> None:
        self.operation, self.recorder, self.job_id = operation, recorder, job_id

    async def __aiter__(self) -> AsyncIterator[MoveProgress]:
        finished = False
        try:
            async for event in self.operation:
                self.recorder.progress(self.job_id, event)
                yield event
            finished = True
        finally:
            result = self._result_or_none()
            if result is not None:
                self.recorder.finish(self.job_id, result)
            elif not finished:
                with contextlib.suppress(StoreError):
                    self.recorder.store.finished(
                        self.job_id, state=JobState.CANCELLED, total=None, completed=0, failed=0,
                        warning=0, status=None, error="the command ended before the result")

    def _result_or_none(self) -> MoveResult | None:
        try:
            return self.operation.result
        except (RuntimeError, AttributeError, CourierError):
            return None

    @property
    def result(self) -> MoveResult:
        return self.operation.result

    def cancel(self) -> None:
        self.operation.cancel()

    def abort(self) -> None:
        self.operation.abort()


@contextmanager
def recorded_sends(config_dir: str | os.PathLike[str] | None) -> Iterator[SendRecorder]:
    """The profile's job store, ready to record sends; refuses (raises the StoreError) if no
    send could be recorded now. Holds the profile lock while it is open, if it is free."""
    paths = app_paths(config_dir)
    for folder in (paths.config_dir, paths.data_dir):  # an interrupted save's leftovers
        remove_stale_temp_files(folder)
    candidate = ProfileLock(paths.data_dir)
    lock: ProfileLock | None = candidate
    try:
        candidate.acquire()
    except (AlreadyRunning, OSError):  # held by the window or 'queue run'; or not writable
        lock = None
    try:
        store_class = JobStore if lock is not None else AttachedJobStore
        store = store_class(paths.data_dir / "jobs.db")
        try:
            if store.problem is not None:
                raise store.problem
            yield SendRecorder(store)
        finally:
            store.close()
    finally:
        if lock is not None:
            lock.release()
