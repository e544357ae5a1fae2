"""The one door between the Qt-free engine and Qt: engine reports become typed Qt signals.

Only ``PySide6.QtCore`` is imported here (never QtWidgets), so the window can connect progress
bars and failure dialogs to signals while the engine itself stays plain asyncio. The move queue
calls ``report_job`` on the qasync loop (the GUI thread); workers never touch this object.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from dicom_courier.core.queue import JobSnapshot


class EngineSignals(QObject):
    """Signals named for what happened; payloads are the engine's frozen events."""

    #: JobSnapshot (core.queue): a queued send changed state or made progress
    job_changed = Signal(object)

    def report_job(self, job: JobSnapshot) -> None:
        """The MoveQueue's ``on_change`` listener; runs on the loop (= GUI) thread."""
        self.job_changed.emit(job)
