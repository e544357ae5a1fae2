"""When failure dialogs open: one dialog per burst of failed sends, never one per send.

Split from :mod:`dicom_courier.gui.failure_dialog` (the dialog for one failure), which removes
the import cycle that module had with :mod:`dicom_courier.gui.failure_summary`: this policy
imports both dialogs, and neither imports it.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QDialog, QWidget

from dicom_courier.core.jobs.queue import JobSnapshot, JobState, MoveQueue
from dicom_courier.core.jobs.retry_choice import RetryKind, retry_choice
from dicom_courier.core.outcome.events import MoveOutcome
from dicom_courier.gui.failure_report import FailureReport

if TYPE_CHECKING:  # the dialogs load with the first failure shown, not with the window
    from dicom_courier.gui.failure_dialog import FailureDialog
    from dicom_courier.gui.failure_summary import FailureSummaryDialog

#: How long the reporter waits for more failures before deciding "one dialog or a summary".
DEFAULT_WINDOW_MS = 400

_Dialog = TypeVar("_Dialog", "FailureDialog", "FailureSummaryDialog")



class FailureReporter(QObject):
    """Turns finished jobs into failure dialogs without flooding the screen.

    Failures arriving within ``window_ms`` of the first are reported together: one alone opens
    a :class:`FailureDialog`, several open ONE :class:`FailureSummaryDialog`. A summary already
    open takes later failures in; a single-failure dialog still open is folded into a new
    summary, so at most one reporter dialog is on screen however many sends fail.
    :meth:`show_details` is for a person asking about one job: it opens at once.
    """

    #: job id a person asked to retry from any of the dialogs
    retry_requested = Signal(int)

    def __init__(self, parent: QWidget, *, window_ms: int = DEFAULT_WINDOW_MS) -> None:
        super().__init__(parent)
        self._parent_widget = parent
        self._pending: dict[int, FailureReport] = {}
        self._single: FailureDialog | None = None
        self._summary: FailureSummaryDialog | None = None
        self._requested: list[FailureDialog] = []
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(window_ms)
        self._timer.timeout.connect(self._flush)

    def report(self, job: JobSnapshot) -> None:
        """Collect ``job`` if it failed or sent only part; other states are ignored."""
        if job.state not in (JobState.FAILED, JobState.PARTIAL) or job.result is None:
            return
        self._pending[job.job_id] = FailureReport.from_job(job)
        if not self._timer.isActive():
            self._timer.start()

    def show_details(self, job: JobSnapshot) -> FailureDialog | None:
        """A person asked about one job (e.g. from the queue): show it now, no batching.

        Returns None when there is nothing to explain (no result, or it completed).
        """
        result = job.result
        if result is None or (result.error is None and result.outcome is not MoveOutcome.PARTIAL):
            return None
        for dialog in self._requested:
            if dialog.report.job_id == job.job_id and dialog.isVisible():
                dialog.raise_()
                dialog.activateWindow()
                return dialog
        from dicom_courier.gui.failure_dialog import FailureDialog

        dialog = self._show(FailureDialog(job, self._parent_widget))
        self._requested.append(dialog)
        return dialog

    @property
    def window_ms(self) -> int:
        """How long a burst is collected after its first failure (ms)."""
        return self._timer.interval()

    @property
    def collecting(self) -> bool:
        """True while failures wait for the burst window to end; False means no dialog opens
        until the next :meth:`report`."""
        return self._timer.isActive() or bool(self._pending)

    def open_dialogs(self) -> list[QDialog]:
        """The reporter's dialogs now on screen (details opened from a summary not included)."""
        return [d for d in (self._single, self._summary, *self._requested)
                if d is not None and d.isVisible()]

    def _flush(self) -> None:
        reports = list(self._pending.values())
        self._pending.clear()
        if not reports:
            return
        if self._summary is not None:
            self._summary.add(reports)
            return
        if self._single is not None:
            if any(r.job_id == self._single.report.job_id for r in reports):
                earlier = []  # the open dialog's job was reported again: the new one replaces it
            else:
                earlier = [self._single.report]
            self._single.close()
            reports = earlier + reports
        from dicom_courier.gui.failure_dialog import FailureDialog
        from dicom_courier.gui.failure_summary import FailureSummaryDialog

        if len(reports) == 1:
            self._single = self._show(FailureDialog(reports[0], self._parent_widget))
        else:
            self._summary = self._show(FailureSummaryDialog(reports, self._parent_widget))

    def _show(self, dialog: _Dialog) -> _Dialog:
        dialog.retry_requested.connect(self.retry_requested)
        dialog.finished.connect(lambda _result, d=dialog: self._forget(d))
        dialog.show()
        return dialog

    def _forget(self, dialog: QDialog) -> None:
        if dialog is self._single:
            self._single = None
        if dialog is self._summary:
            self._summary = None
        if dialog in self._requested:
            self._requested.remove(dialog)
        dialog.deleteLater()


def retry_as_offered(queue: MoveQueue, job_id: int,
                     spawn: Callable[[Coroutine[Any, Any, Any]], object]) -> None:
    """Do what a failure dialog's Retry button said (:func:`core.jobs.retry_choice
    .retry_choice` of the job's result): the failed images only (``retry_failed_only``,
    started with ``spawn`` because it may ask the PACS for their series first), the whole
    send again (``retry``), or nothing. An unknown or unfinished job: nothing. Raises
    StoreError as ``MoveQueue.submit`` does (``jobs.db`` refused the new job)."""
    try:
        job = queue.get(job_id)
    except KeyError:
        return
    if not job.state.is_finished:
        return
    kind = retry_choice(job.result).kind
    if kind is RetryKind.FAILED_IMAGES:
        spawn(queue.retry_failed_only(job_id))
    elif kind is RetryKind.WHOLE:
        queue.retry(job_id)
