"""Failed sends explained in plain words: one dialog per failure, one summary per batch.

Everything shown comes from the engine's error catalogue (:mod:`dicom_courier.core.status`,
:mod:`dicom_courier.core.errors`): title, explanation, what to do, and the technical details for
support. The dialogs are never modal: they appear while the qasync loop runs, where ``exec()``
fails with "Cannot enter into task" (HOUSE_STYLE, Qt side), and a person should be able to keep
working in the main window while a report is open.

:class:`FailureReporter` is the policy the main window uses: failures arriving close together
(a batch hitting the same misconfigured PACS) become ONE summary, never a dialog per send.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, TypeVar

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QFont, QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QStyle,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from dicom_courier.core.errors import CourierError, PartialFailure
from dicom_courier.core.events import MoveOutcome, MoveResult
from dicom_courier.core.nodes import PacsNode
from dicom_courier.core.queue import JobLabel, JobSnapshot, JobState

#: How long the reporter waits for more failures before deciding "one dialog or a summary".
DEFAULT_WINDOW_MS = 400

_ModelIndex = QModelIndex | QPersistentModelIndex
_ROOT = QModelIndex()
_Dialog = TypeVar("_Dialog", "FailureDialog", "FailureSummaryDialog")


def counts_text(result: MoveResult) -> str:
    """"45 of 60 images sent, 15 failed, 0 with warnings" (the CLI's wording)."""
    done = result.completed
    sent = str(done) if result.total is None else f"{done} of {result.total}"
    return f"{sent} images sent, {result.failed} failed, {result.warning} with warnings"


def readable_person_name(value: str) -> str:
    """"DOE^JANE" -> "DOE, JANE": a DICOM PN (PS3.5 6.2) as people write it."""
    family, _, rest = value.partition("^")
    given = " ".join(part for part in rest.split("^") if part)
    return f"{family}, {given}" if family and given else (family or given)


@dataclass(frozen=True)
class FailureReport:
    """One failed or partial send, with everything the dialogs show; built once, read often.

    The patient's name is shown in the dialog but left out of :meth:`render` (the text that
    "Copy details" puts on the clipboard): such reports get pasted into tickets and chats, and
    the study UID already identifies the study for support.
    """

    result: MoveResult
    pacs_name: str
    label: JobLabel = JobLabel()
    study_uid: str | None = None
    job_id: int | None = None

    @classmethod
    def from_job(cls, job: JobSnapshot) -> FailureReport:
        if job.result is None:
            raise ValueError(f"job {job.job_id} has no result to report")
        return cls(result=job.result, pacs_name=job.pacs.name, label=job.label,
                   study_uid=job.request.target.study_uid, job_id=job.job_id)

    @classmethod
    def from_result(cls, result: MoveResult, pacs: PacsNode, label: JobLabel | None = None,
                    *, study_uid: str | None = None, job_id: int | None = None) -> FailureReport:
        return cls(result=result, pacs_name=pacs.name, label=label or JobLabel(),
                   study_uid=study_uid,
                   job_id=job_id)

    # ------------------------------------------------------------------ plain words

    @property
    def error(self) -> CourierError | None:
        return self.result.error

    @property
    def is_partial(self) -> bool:
        return self.result.outcome is MoveOutcome.PARTIAL

    @property
    def title(self) -> str:
        if self.error is not None:
            return self.error.title
        if self.is_partial:
            return f"Only part of the send to {self.result.destination} succeeded."
        return f"The send to {self.result.destination} failed."

    @property
    def explanation(self) -> str:
        return self.error.explanation if self.error is not None else ""

    @property
    def action(self) -> str:
        if self.error is not None:
            return self.error.action
        return "Check the destination's log, then retry the send."

    @property
    def counts(self) -> str:
        return counts_text(self.result)

    @property
    def error_kind(self) -> str:
        return type(self.error).__name__ if self.error is not None else self.result.outcome.value

    @property
    def can_retry(self) -> bool:
        """Retry only helps for a known job whose fault may pass (or that sent only part)."""
        if self.job_id is None:
            return False
        if self.is_partial or isinstance(self.error, PartialFailure):
            return True
        return self.error is None or self.error.retryable

    @property
    def patient(self) -> str:
        return readable_person_name(self.label.patient)

    @property
    def study(self) -> str:
        return self.label.study or self.study_uid or ""

    def details(self) -> list[tuple[str, str]]:
        """Technical facts for the "Details" section, in a stable order."""
        found: dict[str, str] = dict(self.error.details) if self.error is not None else {}
        result = self.result
        if "DIMSE status" not in found and result.status is not None:
            found["DIMSE status"] = f"0x{result.status:04X}"
        if result.error_comment and "Error comment from the PACS" not in found:
            found["Error comment from the PACS"] = result.error_comment
        for key, value in result.peer.as_details().items():
            found.setdefault(key, value)
        found.setdefault("Move destination", result.destination)
        found.setdefault("Images", self.counts)
        found["PACS profile"] = self.pacs_name
        if self.study_uid:
            found["Study Instance UID"] = self.study_uid
        found["Error type"] = self.error_kind
        found["Outcome"] = result.outcome.value
        found["Duration"] = f"{result.duration:.1f} s"
        if self.job_id is not None:
            found["Job"] = f"#{self.job_id}"
        return list(found.items())

    def details_text(self) -> str:
        width = max(len(key) for key, _ in self.details())
        lines = [f"{key + ':':<{width + 1}} {value}" for key, value in self.details()]
        uids = self.result.failed_sop_uids
        if uids:
            lines.append("")
            lines.append(f"Failed SOP Instance UIDs ({len(uids)}):")
            lines += [f"  {uid}" for uid in uids]
        return "\n".join(lines)

    def render(self) -> str:
        """The whole report as plain text, for the clipboard and support."""
        parts = [self.title]
        if self.explanation:
            parts.append(self.explanation)
        parts.append(f"What to do: {self.action}")
        parts.append(f"Images: {self.counts}")
        return "\n".join(parts) + "\n\nDetails\n" + self.details_text() + "\n"


def _report_of(source: JobSnapshot | FailureReport) -> FailureReport:
    return source if isinstance(source, FailureReport) else FailureReport.from_job(source)


def _wrapping_label(text: str = "", object_name: str = "") -> QLabel:
    label = QLabel(text, objectName=object_name)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setTextFormat(Qt.TextFormat.PlainText)
    return label


def _what_to_do_html(action: str) -> str:
    return f"<b>What to do:</b> {html.escape(action)}" if action else ""


def _copy_to_clipboard(button: QPushButton, text: str) -> None:
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
        self.report = _report_of(source)
        self.setObjectName("failureDialog")
        self.setModal(False)
        self.setWindowTitle("Send failed" if not self.report.is_partial else "Send incomplete")
        self.setMinimumWidth(640)

        icon_kind = (QStyle.StandardPixmap.SP_MessageBoxWarning if self.report.is_partial
                     else QStyle.StandardPixmap.SP_MessageBoxCritical)
        self.icon_label = QLabel(objectName="failureIcon")
        self.icon_label.setPixmap(self.style().standardIcon(icon_kind).pixmap(40, 40))
        self.icon_label.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.title_label = _wrapping_label(self.report.title, "failureTitle")
        font = QFont(self.title_label.font())
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.title_label.setFont(font)
        self.context_label = _wrapping_label(self._context_line(), "failureContext")
        self.context_label.setStyleSheet("color: palette(placeholder-text);")
        self.explanation_label = _wrapping_label(self.report.explanation, "failureExplanation")
        self.explanation_label.setVisible(bool(self.report.explanation))
        self.action_label = _wrapping_label("", "failureAction")
        self.action_label.setTextFormat(Qt.TextFormat.RichText)
        self.action_label.setText(_what_to_do_html(self.report.action))
        self.counts_label = _wrapping_label(self.report.counts, "failureCounts")

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
        _copy_to_clipboard(self.copy_button, self.report_text())

    def _on_retry_clicked(self) -> None:
        if self.report.job_id is not None:
            self.retry_requested.emit(self.report.job_id)
            self.retry_button.setEnabled(False)
            self.retry_button.setText("Queued again")


# --------------------------------------------------------------------------- a batch


class FailureColumn(IntEnum):
    PATIENT = 0
    STUDY = 1
    DESTINATION = 2
    PROBLEM = 3


_HEADERS = {FailureColumn.PATIENT: "Patient", FailureColumn.STUDY: "Study",
            FailureColumn.DESTINATION: "Destination", FailureColumn.PROBLEM: "Problem"}

#: Qt.ItemDataRole for the row's :class:`FailureReport`
REPORT_ROLE = Qt.ItemDataRole.UserRole + 1


class FailureTableModel(QAbstractTableModel):
    """The failed sends of a batch, one row each; a job reported again replaces its row."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._reports: list[FailureReport] = []

    def reports(self) -> list[FailureReport]:
        return list(self._reports)

    def add(self, reports: Iterable[FailureReport]) -> None:
        for report in reports:
            row = self._row_of(report.job_id)
            if row is None:
                at = len(self._reports)
                self.beginInsertRows(QModelIndex(), at, at)
                self._reports.append(report)
                self.endInsertRows()
            else:
                self._reports[row] = report
                self.dataChanged.emit(self.index(row, 0),
                                      self.index(row, len(FailureColumn) - 1))

    def _row_of(self, job_id: int | None) -> int | None:
        if job_id is None:
            return None
        for row, report in enumerate(self._reports):
            if report.job_id == job_id:
                return row
        return None

    def rowCount(self, parent: _ModelIndex = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._reports)

    def columnCount(self, parent: _ModelIndex = _ROOT) -> int:
        return 0 if parent.isValid() else len(FailureColumn)

    def data(self, index: _ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._reports):
            return None
        report = self._reports[index.row()]
        column = FailureColumn(index.column())
        if role == REPORT_ROLE:
            return report
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            text = {
                FailureColumn.PATIENT: report.patient,
                FailureColumn.STUDY: report.study,
                FailureColumn.DESTINATION: report.result.destination,
                FailureColumn.PROBLEM: report.title,
            }[column]
            if role == Qt.ItemDataRole.ToolTipRole and column is FailureColumn.PROBLEM:
                return f"{report.title}\n{report.counts}"
            return text
        return None

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if (orientation is Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole
                and 0 <= section < len(FailureColumn)):
            return _HEADERS[FailureColumn(section)]
        return None


def summary_headline(reports: Sequence[FailureReport]) -> tuple[str, str, str]:
    """(headline, explanation, action) for a batch; shared words only if the errors agree.

    ``action`` is the bare "what to do" sentence, or "" when the failures need different fixes.
    """
    count = len(reports)
    partial = any(r.is_partial for r in reports)
    verb = "did not complete" if partial else "failed"
    noun = "send" if count == 1 else "sends"
    titles = {r.title for r in reports}
    if len(titles) == 1:
        first = reports[0]
        return f"{count} {noun} {verb}: {first.title}", first.explanation, first.action
    kinds = {r.error_kind for r in reports}
    actions = {r.action for r in reports}
    if len(kinds) == 1:
        action = actions.pop() if len(actions) == 1 else ""
        return (f"{count} {noun} {verb} with the same kind of problem.",
                "Select a send and press \"Show details\" for the specifics.", action)
    return (f"{count} {noun} {verb} with different problems.",
            "Select a send and press \"Show details\" for what happened and what to do.", "")


class FailureSummaryDialog(QDialog):
    """One dialog for a batch of failed sends; grows while more of the batch fails."""

    #: job id of a send a person wants to try again (from a details dialog)
    retry_requested = Signal(int)

    def __init__(self, sources: Iterable[JobSnapshot | FailureReport] = (),
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("failureSummaryDialog")
        self.setModal(False)
        self.setWindowTitle("Sends failed")
        self.setMinimumSize(720, 380)
        self._details: list[FailureDialog] = []

        self.icon_label = QLabel(objectName="failureSummaryIcon")
        self.icon_label.setPixmap(self.style().standardIcon(
            QStyle.StandardPixmap.SP_MessageBoxCritical).pixmap(40, 40))
        self.headline_label = _wrapping_label("", "failureSummaryHeadline")
        font = QFont(self.headline_label.font())
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.headline_label.setFont(font)
        self.explanation_label = _wrapping_label("", "failureSummaryExplanation")
        self.action_label = _wrapping_label("", "failureSummaryAction")
        self.action_label.setTextFormat(Qt.TextFormat.RichText)

        self.model = FailureTableModel(self)
        self.table = QTableView(objectName="failureSummaryTable")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 10)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        self.table.doubleClicked.connect(lambda _index: self.show_selected_details())
        self.table.selectionModel().selectionChanged.connect(self._update_buttons)

        self.details_button = QPushButton("Show details…", objectName="failureSummaryDetails")
        self.details_button.clicked.connect(self.show_selected_details)
        self.copy_button = QPushButton("Copy all", objectName="failureSummaryCopy")
        self.copy_button.clicked.connect(self.copy_all)
        self.close_button = QPushButton("Close", objectName="failureSummaryClose")
        self.close_button.setDefault(True)
        self.close_button.clicked.connect(self.close)
        self._build_layout()
        self.add(sources)
        self._update_buttons()

    def _build_layout(self) -> None:
        text = QVBoxLayout()
        text.setSpacing(8)
        text.addWidget(self.headline_label)
        text.addWidget(self.explanation_label)
        text.addWidget(self.action_label)
        header = QHBoxLayout()
        header.setSpacing(14)
        header.addWidget(self.icon_label, 0, Qt.AlignmentFlag.AlignTop)
        header.addLayout(text, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.details_button)
        buttons.addWidget(self.copy_button)
        buttons.addStretch(1)
        buttons.addWidget(self.close_button)
        outer = QVBoxLayout(self)
        outer.addLayout(header)
        outer.addWidget(self.table, 1)
        outer.addLayout(buttons)

    def add(self, sources: Iterable[JobSnapshot | FailureReport]) -> None:
        """Add failures to the list (a job already listed is updated, not repeated)."""
        self.model.add(_report_of(source) for source in sources)
        headline, explanation, action = summary_headline(self.model.reports() or [])
        if self.model.rowCount():
            self.headline_label.setText(headline)
        self.explanation_label.setText(explanation)
        self.explanation_label.setVisible(bool(explanation))
        self.action_label.setText(_what_to_do_html(action))
        self.action_label.setVisible(bool(action))
        self.setWindowTitle(f"{self.model.rowCount()} sends failed")
        self.table.resizeColumnsToContents()
        for column in (FailureColumn.PATIENT, FailureColumn.STUDY, FailureColumn.DESTINATION):
            width = self.table.columnWidth(column) + 16  # breathing room between columns
            self.table.setColumnWidth(column, min(width, 220))

    def reports(self) -> list[FailureReport]:
        return self.model.reports()

    def report_text(self) -> str:
        """Every failure's report, for "Copy all"."""
        reports = self.model.reports()
        head = summary_headline(reports)[0] if reports else "No failures."
        parts = [f"{head}\n"]
        for number, report in enumerate(reports, start=1):
            parts.append(f"--- {number} of {len(reports)} ---\n{report.render()}")
        return "\n".join(parts)

    def copy_all(self) -> None:
        _copy_to_clipboard(self.copy_button, self.report_text())

    def detail_dialogs(self) -> list[FailureDialog]:
        return [d for d in self._details if d.isVisible()]

    def show_selected_details(self) -> FailureDialog | None:
        """Open a FailureDialog for the selected row (non-modal, over this one)."""
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        report = self.model.data(rows[0], REPORT_ROLE)
        dialog = FailureDialog(report, self)
        dialog.retry_requested.connect(self.retry_requested)
        dialog.finished.connect(lambda _result, d=dialog: self._forget(d))
        self._details.append(dialog)
        dialog.show()
        return dialog

    def _forget(self, dialog: FailureDialog) -> None:
        if dialog in self._details:
            self._details.remove(dialog)
        dialog.deleteLater()

    def _update_buttons(self) -> None:
        self.details_button.setEnabled(self.table.selectionModel().hasSelection())


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
