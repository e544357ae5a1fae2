"""The one door between the Qt-free engine and Qt: engine reports become typed Qt signals.

Only ``PySide6.QtCore`` is imported here (never QtWidgets), so the window can connect progress
bars and failure dialogs to signals while the engine itself stays plain asyncio. The move queue
announces to this object, its :class:`~.jobs.listener.QueueListener`, on the qasync loop (the
GUI thread); workers never touch it.

A 1,000-image C-MOVE reports its counts once per image (PS3.4 C.4.2.1.6), four of them a few
hundred times a second: as the queue's listener this object passes every new job, state change
and removal on at once, but holds a running job's mere progress (same state, newer counts) and
emits only the newest one, at most every :data:`PROGRESS_INTERVAL_MS` per burst. Every slot
on ``job_changed`` (the queue table, the quit guard, the failure reporter, the history) then
runs ~20 times a second per send instead of once per image (issue 12: the window's event loop
must not wait for the engine), and never sees a snapshot older than one it saw before.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal

from dicom_courier.core.jobs.queue import JobSnapshot, JobState
from dicom_courier.core.jobs.store_errors import StoreError

#: The longest a running send's newest counts wait before the window hears of them (ms).
PROGRESS_INTERVAL_MS = 50
#: States in which a newer snapshot with the same state is only newer counts.
_COUNTING = frozenset({JobState.RUNNING, JobState.CANCELLING})


def _only_newer_counts(shown: JobSnapshot, job: JobSnapshot) -> bool:
    """True if ``job`` differs from ``shown`` (the same job's last emitted snapshot) only in
    what a C-MOVE response counts: same running state, same attempt, same result."""
    return (job.state is shown.state and job.state in _COUNTING
            and job.attempt == shown.attempt and job.started_at == shown.started_at
            and job.result is shown.result)


class EngineSignals(QObject):
    """Signals named for what happened; payloads are the engine's frozen events."""

    #: JobSnapshot (core.queue): a send was queued, changed state or made progress
    job_changed = Signal(object)
    #: list[int]: job ids the queue no longer lists (finished jobs cleared)
    jobs_removed = Signal(list)
    #: StoreError (core.jobs.store_errors): jobs.db refused a record; if it was a send about
    #: to start, the queue paused itself first (nothing unrecorded is sent)
    store_refused = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._shown: dict[int, JobSnapshot] = {}  # job id -> last snapshot emitted
        self._held: dict[int, JobSnapshot] = {}  # job id -> newest counts not emitted yet
        self._progress_timer = QTimer(self)
        self._progress_timer.setSingleShot(True)
        self._progress_timer.setInterval(PROGRESS_INTERVAL_MS)
        self._progress_timer.timeout.connect(self.flush_progress)

    def report_store_error(self, error: StoreError) -> None:
        """Emit ``store_refused`` (the queue's ``on_store_error``); runs on the loop thread."""
        self.store_refused.emit(error)

    def report_job(self, job: JobSnapshot) -> None:
        """Emit ``job_changed`` now, whatever changed (a plain callback, not the queue's
        listener road: nothing is held); runs on the loop (= GUI) thread."""
        self.job_changed.emit(job)

    @property
    def held_progress(self) -> int:
        """How many jobs have newer counts not emitted yet (0 right after a flush)."""
        return len(self._held)

    def flush_progress(self) -> None:
        """Emit every held snapshot now (the timer does this every PROGRESS_INTERVAL_MS)."""
        self._progress_timer.stop()
        held, self._held = self._held, {}
        for job in held.values():
            self._emit(job)

    # The MoveQueue's QueueListener (core.jobs.listener): one road for add, change, remove.

    def on_job_added(self, job: JobSnapshot) -> None:
        self._held.pop(job.job_id, None)
        self._emit(job)

    def on_job_changed(self, job: JobSnapshot) -> None:
        """A new state is emitted at once (any counts held for the job are dropped: this
        snapshot is newer); newer counts alone are held (see the module docstring)."""
        shown = self._shown.get(job.job_id)
        if shown is not None and _only_newer_counts(shown, job):
            self._held[job.job_id] = job
            if not self._progress_timer.isActive():
                self._progress_timer.start()
            return
        self._held.pop(job.job_id, None)
        self._emit(job)

    def on_jobs_removed(self, job_ids: tuple[int, ...]) -> None:
        for job_id in job_ids:  # a held snapshot must never bring a removed row back
            self._held.pop(job_id, None)
            self._shown.pop(job_id, None)
        self.jobs_removed.emit(list(job_ids))

    def _emit(self, job: JobSnapshot) -> None:
        self._shown[job.job_id] = job
        self.job_changed.emit(job)
