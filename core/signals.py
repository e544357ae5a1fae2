"""The one door between the Qt-free engine and Qt: engine reports become typed Qt signals.

Only ``PySide6.QtCore`` is imported here (never QtWidgets), so the window can connect progress
bars and failure dialogs to signals while the engine itself stays plain asyncio. The move queue
announces to this object, its :class:`~.jobs.listener.QueueListener`, on the qasync loop (the
GUI thread); workers never touch it.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from dicom_courier.core.jobs.queue import JobSnapshot
from dicom_courier.core.jobs.store_errors import StoreError


class EngineSignals(QObject):
    """Signals named for what happened; payloads are the engine's frozen events."""

    #: JobSnapshot (core.queue): a send was queued, changed state or made progress
    job_changed = Signal(object)
    #: list[int]: job ids the queue no longer lists (finished jobs cleared)
    jobs_removed = Signal(list)
    #: StoreError (core.jobs.store_errors): jobs.db refused a record; if it was a send about
    #: to start, the queue paused itself first (nothing unrecorded is sent)
    store_refused = Signal(object)

    def report_store_error(self, error: StoreError) -> None:
        """Emit ``store_refused`` (the queue's ``on_store_error``); runs on the loop thread."""
        self.store_refused.emit(error)

    def report_job(self, job: JobSnapshot) -> None:
        """Emit ``job_changed``; runs on the loop (= GUI) thread."""
        self.job_changed.emit(job)

    # The MoveQueue's QueueListener (core.jobs.listener): one road for add, change, remove.

    def on_job_added(self, job: JobSnapshot) -> None:
        self.job_changed.emit(job)

    def on_job_changed(self, job: JobSnapshot) -> None:
        self.job_changed.emit(job)

    def on_jobs_removed(self, job_ids: tuple[int, ...]) -> None:
        self.jobs_removed.emit(list(job_ids))
