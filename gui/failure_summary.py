"""The summary of a batch of failed sends: one dialog listing them, over a table model.

Split from :mod:`dicom_courier.gui.failure_dialog`, which keeps the dialog for one failure;
the policy that decides between the two is :mod:`dicom_courier.gui.failure_policy`. A batch
hitting the same misconfigured PACS becomes ONE :class:`FailureSummaryDialog` (never modal,
like every dialog shown while the qasync loop runs), and a person opens a
:class:`FailureDialog` for any row.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QStyle,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from dicom_courier.core.jobs.queue import JobSnapshot
from dicom_courier.gui.failure_dialog import FailureDialog, copy_to_clipboard, wrapping_label
from dicom_courier.gui.failure_report import (
    FailureReport,
    report_of,
    summary_headline,
    what_to_do_html,
)
from dicom_courier.gui.plain_text import cell_text, plain_tooltip

_ModelIndex = QModelIndex | QPersistentModelIndex
_ROOT = QModelIndex()


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
            if role == Qt.ItemDataRole.ToolTipRole:  # names, descriptions, titles: data
                if column is FailureColumn.PROBLEM:
                    return plain_tooltip(f"{report.title}\n{report.counts}")
                return plain_tooltip(text)
            return cell_text(text)
        return None

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if (orientation is Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole
                and 0 <= section < len(FailureColumn)):
            return _HEADERS[FailureColumn(section)]
        return None



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
        self.headline_label = wrapping_label("", "failureSummaryHeadline")
        font = QFont(self.headline_label.font())
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.headline_label.setFont(font)
        self.explanation_label = wrapping_label("", "failureSummaryExplanation")
        self.action_label = wrapping_label("", "failureSummaryAction")
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
        self.table.doubleClicked.connect(self._on_double_clicked)
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
        self.model.add(report_of(source) for source in sources)
        headline, explanation, action = summary_headline(self.model.reports() or [])
        if self.model.rowCount():
            self.headline_label.setText(headline)
        self.explanation_label.setText(explanation)
        self.explanation_label.setVisible(bool(explanation))
        self.action_label.setText(what_to_do_html(action))
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
        copy_to_clipboard(self.copy_button, self.report_text())

    def detail_dialogs(self) -> list[FailureDialog]:
        return [d for d in self._details if d.isVisible()]

    def _on_double_clicked(self, _index: object) -> None:
        """A slot returns None (a returned object upset PySide6 6.12's reference counts)."""
        self.show_selected_details()

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
