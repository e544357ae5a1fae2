"""The one door between the Qt-free engine and Qt: engine reports become typed Qt signals.

Only ``PySide6.QtCore`` is imported here (never QtWidgets), so the window can connect progress
bars and failure dialogs to signals while the engine itself stays plain asyncio. The pump
coroutines run on the qasync loop (the GUI thread); workers never touch this object.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from dicom_courier.core.events import EchoResult, MoveProgress, MoveResult
from dicom_courier.core.find import FindOperation, FindResult
from dicom_courier.core.move import MoveOperation
from dicom_courier.core.queue import JobSnapshot


class EngineSignals(QObject):
    """Signals named for what happened; payloads are the engine's frozen events."""

    #: job id, MoveProgress
    move_progressed = Signal(str, object)
    #: job id, MoveResult (its ``error`` drives the failure dialog)
    move_finished = Signal(str, object)
    #: search id, list[FindMatch] (a batch, so a big result never floods the GUI thread)
    find_matched = Signal(str, list)
    #: search id, FindResult
    find_finished = Signal(str, object)
    #: EchoResult
    echo_succeeded = Signal(object)
    #: JobSnapshot (core.queue): a queued send changed state or made progress
    job_changed = Signal(object)

    def report_job(self, job: JobSnapshot) -> None:
        """The MoveQueue's ``on_change`` listener; runs on the loop (= GUI) thread."""
        self.job_changed.emit(job)

    async def pump_move(self, job_id: str, operation: MoveOperation) -> MoveResult:
        """Iterate ``operation`` on the loop and emit its progress and its end."""
        progress: MoveProgress
        async for progress in operation:
            self.move_progressed.emit(job_id, progress)
        result = operation.result
        self.move_finished.emit(job_id, result)
        return result

    async def pump_find(self, search_id: str, operation: FindOperation,
                        batch_size: int = 200) -> FindResult:
        """Emit matches in batches of up to ``batch_size``, then the result."""
        batch: list[object] = []
        async for match in operation:
            batch.append(match)
            if len(batch) >= batch_size:
                self.find_matched.emit(search_id, batch)
                batch = []
        if batch:
            self.find_matched.emit(search_id, batch)
        result = operation.result
        self.find_finished.emit(search_id, result)
        return result

    def report_echo(self, result: EchoResult) -> None:
        self.echo_succeeded.emit(result)
