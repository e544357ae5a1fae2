"""A failed send explained in plain words: the dialog for one failure.

Everything shown comes from the engine's error catalogue (:mod:`dicom_courier.core.outcome.status`,
:mod:`dicom_courier.core.outcome.errors`) through
:class:`~dicom_courier.gui.failure_report.FailureReport`:
title, explanation, what to do, and the technical details for support. The dialogs are never
modal: they appear while the qasync loop runs, where ``exec()`` fails with "Cannot enter into
task" (HOUSE_STYLE, Qt side), and a person should be able to keep working in the main window
while a report is open.

The policy that decides when this dialog or one summary opens (one dialog per burst of
failures) is :class:`~dicom_courier.gui.failure_policy.FailureReporter`; imports go one way:
failure_policy → failure_summary → failure_dialog.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
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

from dicom_courier.core.config.profiles import PacsNode
from dicom_courier.core.jobs.queue import JobLabel, JobSnapshot
from dicom_courier.core.outcome.events import MoveResult
from dicom_courier.gui.failure_report import FailureReport, report_of, what_to_do_html


def wrapping_label(text: str = "", object_name: str = "") -> QLabel:
    """A selectable plain-text label that wraps: the failure dialogs' text blocks."""
    label = QLabel(text, objectName=object_name)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setTextFormat(Qt.TextFormat.PlainText)
    return label


#: How long a copy button says "Copied" before its own text comes back (ms).
COPIED_MS = 1500


def copy_to_clipboard(button: QPushButton, text: str, *, copied_ms: int = COPIED_MS) -> None:
    """Put ``text`` on the clipboard and say so on the button for ``copied_ms`` (ms)."""
    QGuiApplication.clipboard().setText(text)
    original = button.property("idleText") or button.text()
    button.setProperty("idleText", original)
    button.setText("Copied")
    QTimer.singleShot(copied_ms, button, lambda: button.setText(original))


# --------------------------------------------------------------------------- one failure


class FailureDialog(QDialog):
    """What went wrong with one send, what to do, and the details support needs.

    Non-modal: show it with ``show()``; it emits :attr:`retry_requested` and the window
    decides what a retry means (:func:`~dicom_courier.gui.failure_policy.retry_as_offered`).
    """

    #: job id of the send a person wants to try again; the window re-sends what the button
    #: said (:func:`core.jobs.retry_choice.retry_choice`: the failed images only, or all)
    retry_requested = Signal(int)
    #: how long "Copied" shows on the copy button (ms); tests set a short one on an instance
    copied_ms: int = COPIED_MS

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
        # The words say what a click re-sends (core.jobs.retry_choice): the failed images
        # only, the whole send, or nothing when retrying cannot help.
        self.retry_button = QPushButton(self.report.retry.label, objectName="failureRetry")
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
        return self.report.retry.reason

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
        """Put :meth:`report_text` on the clipboard; the button says "Copied" for a moment."""
        copy_to_clipboard(self.copy_button, self.report_text(), copied_ms=self.copied_ms)

    def _on_retry_clicked(self) -> None:
        if self.report.job_id is not None:
            self.retry_requested.emit(self.report.job_id)
            self.retry_button.setEnabled(False)
            self.retry_button.setText("Queued again")
