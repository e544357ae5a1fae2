"""Failed sends explained in plain words: one dialog per failure, and the policy that opens them.

Everything shown comes from the engine's error catalogue (:mod:`dicom_courier.core.status`,
:mod:`dicom_courier.core.errors`) through :class:`~dicom_courier.gui.failure_report.FailureReport`:
title, explanation, what to do, and the technical details for support. The dialogs are never
modal: they appear while the qasync loop runs, where ``exec()`` fails with "Cannot enter into
task" (HOUSE_STYLE, Qt side), and a person should be able to keep working in the main window
while a report is open.

:class:`FailureReporter` is the policy the main window uses: failures arriving close together
(a batch hitting the same misconfigured PACS) become ONE summary
(:class:`~dicom_courier.gui.failure_summary.FailureSummaryDialog`), never a dialog per send.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QFont, QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from dicom_courier.core.events import MoveOutcome, MoveResult
from dicom_courier.core.nodes import PacsNode
from dicom_courier.core.queue import JobLabel, JobSnapshot, JobState
from dicom_courier.gui.failure_report import FailureReport, report_of, what_to_do_html

if TYPE_CHECKING:  # failure_summary imports this module (its rows open a FailureDialog)
    from dicom_courier.gui.failure_summary import FailureSummaryDialog

#: How long the reporter waits for more failures before deciding "one dialog or a summary".
DEFAULT_WINDOW_MS = 400

_Dialog = TypeVar("_Dialog", "FailureDialog", "FailureSummaryDialog")


def wrapping_label(text: str = "", object_name: str = "") -> QLabel:
    """A selectable plain-text label that wraps: the failure dialogs' text blocks."""
    label = QLabel(text, objectName=object_name)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setTextFormat(Qt.TextFormat.PlainText)
    return label


def copy_to_clipboard(button: QPushButton, text: str) -> None:
    """Put ``text`` on the clipboard and say so on the button for a moment."""
    QGuiApplication.clipboard().setText(text)
    original = button.property("idleText") or button.text()
    button.setProperty("idleText", original)
    button.setText("Copied")
    QTimer.singleShot(1500, button, lambda: button.setText(original))


# --------------------------------------------------------------------------- one failure


class FailureDialog(QDialog):
    """What went wrong with one send, what to do, and the details support needs.

    Non-modal: show it with ``show()``; it emits :attr:`retry_requested` and the window
    decides what a retry means (``MoveQueue.retry``).
    """

    #: job id of the send a person wants to try again
    retry_requested = Signal(int)

    def __init__(self, source: JobSnapshot | FailureReport,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.report = report_of(source)
        self.setObjectName("failureDialog")
        self.setModal(False)
        self.setWindowTitle("Send failed" if not self.report.is_partial else "Send incomplete")
        self.setMinimumWidth(640)

        icon_kind = (QStyle.StandardPixmap.SP_MessageBoxWarning if self.report.is_partial
                     else QStyle.StandardPixmap.SP_MessageBoxCritical)
        self.icon_label = QLabel(objectName="failureIcon")
        self.icon_label.setPixmap(self.style().standardIcon(icon_kind).pixmap(40, 40))
        self.icon_label.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.title_label = wrapping_label(self.report.title, "failureTitle")
        font = QFont(self.title_label.font())
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.title_label.setFont(font)
        self.context_label = wrapping_label(self._context_line(), "failureContext")
        self.context_label.setStyleSheet("color: palette(placeholder-text);")
        self.explanation_label = wrapping_label(self.report.explanation, "failureExplanation")
        self.explanation_label.setVisible(bool(self.report.explanation))
        self.action_label = wrapping_label("", "failureAction")
        self.action_label.setTextFormat(Qt.TextFormat.RichText)
        self.action_label.setText(what_to_do_html(self.report.action))
        self.counts_label = wrapping_label(self.report.counts, "failureCounts")

        self.details_button = QToolButton(objectName="failureDetailsToggle")
        self.details_button.setText("Details")
        self.details_button.setCheckable(True)
        self.details_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.details_button.setArrowType(Qt.ArrowType.RightArrow)
        self.details_button.setAutoRaise(True)
        self.details_button.toggled.connect(self.set_details_expanded)
        self.details_view = QPlainTextEdit(objectName="failureDetails")
        self.details_view.setReadOnly(True)
        self.details_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.details_view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.details_view.setPlainText(self.report.details_text())
        self.details_view.setMinimumHeight(180)
        self.details_view.hide()

        self.copy_button = QPushButton("Copy details", objectName="failureCopy")
        self.copy_button.clicked.connect(self.copy_details)
        self.retry_button = QPushButton("Retry", objectName="failureRetry")
        self.retry_button.setEnabled(self.report.can_retry)
        self.retry_button.setToolTip(self._retry_tip())
        self.retry_button.clicked.connect(self._on_retry_clicked)
        self.close_button = QPushButton("Close", objectName="failureClose")
        self.close_button.setDefault(True)
        self.close_button.clicked.connect(self.close)
        self._build_layout()

    @classmethod
    def from_result(cls, result: MoveResult, pacs: PacsNode, label: JobLabel | None = None,
                    *, study_uid: str | None = None,
                    parent: QWidget | None = None) -> FailureDialog:
        """For a send that did not go through the queue (no job id, so no Retry)."""
        return cls(FailureReport.from_result(result, pacs, label, study_uid=study_uid), parent)

    def _context_line(self) -> str:
        report = self.report
        what = " — ".join(p for p in (report.patient, report.label.study) if p)
        what = what or (f"Study {report.study_uid}" if report.study_uid else "The send")
        return f"{what}: from {report.pacs_name} to {report.result.destination}"

    def _retry_tip(self) -> str:
        if self.report.job_id is None:
            return "This report is not linked to a queued send; send again from the results."
        if self.report.can_retry:
            return "Queue the same send again."
        return "Retrying will not help until the cause is fixed (see \"What to do\")."

    def _build_layout(self) -> None:
        text = QVBoxLayout()
        text.setSpacing(8)
        for widget in (self.title_label, self.context_label, self.explanation_label,
                       self.action_label, self.counts_label):
            text.addWidget(widget)
        header = QHBoxLayout()
        header.setSpacing(14)
        header.addWidget(self.icon_label, 0, Qt.AlignmentFlag.AlignTop)
        header.addLayout(text, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.copy_button)
        buttons.addStretch(1)
        buttons.addWidget(self.retry_button)
        buttons.addWidget(self.close_button)
        outer = QVBoxLayout(self)
        outer.addLayout(header)
        outer.addWidget(self.details_button, 0, Qt.AlignmentFlag.AlignLeft)
        outer.addWidget(self.details_view, 1)
        outer.addLayout(buttons)

    # ------------------------------------------------------------------ actions

    def report_text(self) -> str:
        return self.report.render()

    def set_details_expanded(self, expanded: bool) -> None:
        """Show or hide the technical details; shrink back when hidden."""
        if self.details_button.isChecked() != expanded:
            self.details_button.setChecked(expanded)  # re-enters through ``toggled``
            return
        self.details_button.setArrowType(
            Qt.ArrowType.DownArrow if expanded else Qt.ArrowType.RightArrow)
        self.details_view.setVisible(expanded)
        if not expanded:
            self.resize(self.width(), self.minimumSizeHint().height())
        else:
            self.resize(self.width(), max(self.height(), self.sizeHint().height()))

    def copy_details(self) -> None:
        copy_to_clipboard(self.copy_button, self.report_text())

    def _on_retry_clicked(self) -> None:
        if self.report.job_id is not None:
            self.retry_requested.emit(self.report.job_id)
            self.retry_button.setEnabled(False)
            self.retry_button.setText("Queued again")


# --------------------------------------------------------------------------- the policy


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
        dialog = self._show(FailureDialog(job, self._parent_widget))
        self._requested.append(dialog)
        return dialog

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
        if len(reports) == 1:
            self._single = self._show(FailureDialog(reports[0], self._parent_widget))
        else:
            # Imported here, not at the top: failure_summary imports this module.
            from dicom_courier.gui.failure_summary import FailureSummaryDialog

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
            self._requested.remove(dialog)  # type: ignore[arg-type]
        dialog.deleteLater()
