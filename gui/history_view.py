"""The history of sends: every job the store recorded, filtered, sorted and exported as CSV.

It answers the admin's question "was this study sent, when, to where, by whom, and did every
image arrive?" from :class:`JobStore` through :func:`query_history`, the same filter the
command line's ``queue export`` uses, so the window and a script never disagree about what a
filter matches. Rows are formatted once when the query returns (a history can hold thousands
of jobs; ``data()`` only looks values up), and the dialog is non-modal: its file dialog is
opened with ``open()`` and answers through ``fileSelected``, never ``exec()``, which fails
inside a qasync coroutine.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from PySide6.QtCore import (
    QAbstractTableModel,
    QDate,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    QTimer,
    SignalInstance,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from dicom_courier.core.jobs.history import (
    HistoryFilter,
    dimse_status_text,
    duration_seconds,
    export_csv,
    known_states,
    local_iso,
    query_history,
)
from dicom_courier.core.jobs.job import JobState, StoredJob
from dicom_courier.core.jobs.store import JobStore
from dicom_courier.core.outcome.arrival import HERE, THIS_COMPUTER
from dicom_courier.gui.plain_text import cell_text, make_plain, plain_tooltip
from dicom_courier.gui.queue_model import (
    FAILED_COLOUR,
    PARTIAL_COLOUR,
    format_duration,
    short_uid,
)

if TYPE_CHECKING:
    from dicom_courier.core.jobs.queue import JobSnapshot

_Index = QModelIndex | QPersistentModelIndex
_ROOT = QModelIndex()

#: The row's StoredJob (any column).
JOB_ROLE = int(Qt.ItemDataRole.UserRole) + 1
#: A value that sorts the column right (epoch seconds, counts, casefolded text).
SORT_ROLE = int(Qt.ItemDataRole.UserRole) + 2

#: How long typing pauses before the history is queried again.
TYPING_DELAY_MS = 250
ALL_DESTINATIONS = "All destinations"
ALL_STATUSES = "All statuses"


class HistoryColumn(IntEnum):
    """The history table's columns, in their default order."""

    QUEUED = 0
    USER = 1
    PATIENT_ID = 2
    STUDY = 3
    PACS = 4
    DESTINATION = 5
    IMAGES = 6
    FAILED = 7
    STATUS = 8
    DURATION = 9
    ERROR = 10
    ARRIVAL = 11  # issue 13: what the arrival check found ("verified at destination: 8/8")

    @property
    def title(self) -> str:
        return _TITLES[self]


_TITLES = {
    HistoryColumn.QUEUED: "Queued",
    HistoryColumn.USER: "User",
    HistoryColumn.PATIENT_ID: "Patient ID",
    HistoryColumn.STUDY: "Study / label",
    HistoryColumn.PACS: "PACS",
    HistoryColumn.DESTINATION: "Destination",
    HistoryColumn.IMAGES: "Images",
    HistoryColumn.FAILED: "Failed",
    HistoryColumn.STATUS: "Status",
    HistoryColumn.DURATION: "Duration",
    HistoryColumn.ERROR: "Error",
    HistoryColumn.ARRIVAL: "Arrival",
}
_RIGHT_ALIGNED = frozenset({HistoryColumn.IMAGES, HistoryColumn.FAILED,
                            HistoryColumn.DURATION})
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
_DEFAULT_WIDTHS = {
    HistoryColumn.QUEUED: 125, HistoryColumn.USER: 70, HistoryColumn.PATIENT_ID: 80,
    HistoryColumn.STUDY: 200, HistoryColumn.PACS: 85, HistoryColumn.DESTINATION: 90,
    HistoryColumn.IMAGES: 60, HistoryColumn.FAILED: 50, HistoryColumn.STATUS: 85,
    HistoryColumn.ARRIVAL: 220, HistoryColumn.DURATION: 65,
}  # Error, shown last, takes the rest


# ---------------------------------------------------------------------- how a job is shown


def format_queued(epoch: float) -> str:
    """Local date and time to the minute; the tooltip has the full ISO 8601 value."""
    return datetime.fromtimestamp(epoch).strftime("%Y-%m-%d %H:%M")


def images_text(job: StoredJob) -> str:
    """ "completed/total": "6/6", "4/?" while the total is unknown, "" before it started."""
    if job.total is None and job.completed == 0 and job.started_at is None:
        return ""
    return f"{job.completed}/{'?' if job.total is None else job.total}"


def study_text(job: StoredJob) -> str:
    """What a person knows the send by: its label, else the tail of the study UID."""
    if job.label:
        return job.label
    text = f"study {short_uid(job.study_uid)}"
    if job.series_uids:
        text += f" ({len(job.series_uids)} series)"
    return text


def status_tooltip(job: StoredJob) -> str | None:
    """Why a job is in its state, where the state alone does not say it."""
    if job.state is JobState.REQUEUED:
        return ("Taken over by a later run of the queue: the job whose \"retry of\" is "
                f"{job.id} sent it.")
    if job.state is JobState.INTERRUPTED:
        return ("DICOM Courier stopped while this job was running, at the counts shown. "
                "It is sent again by a later job whose \"retry of\" is "
                f"{job.id} (the PACS may resend images the destination already has).")
    parts = [job.error or "", f"DIMSE status {dimse_status_text(job.status)}"
             if job.status is not None else ""]
    return "\n".join(p for p in parts if p) or None


def _study_tooltip(job: StoredJob) -> str:
    lines = [f"Study Instance UID: {job.study_uid}"]
    lines += [f"Series Instance UID: {uid}" for uid in job.series_uids]
    if job.sop_uids:
        lines.append(f"{len(job.sop_uids)} image(s) of that series")
    if job.retry_of is not None:
        lines.append(f"Job {job.id}, continues job {job.retry_of}")
    else:
        lines.append(f"Job {job.id}")
    return "\n".join(lines)


class _Row(NamedTuple):
    job: StoredJob
    display: tuple[str, ...]
    sort_keys: tuple[Any, ...]


def arrival_text(job: StoredJob) -> str:
    """What arrived, as recorded: the check's words ("verified at destination: 8/8",
    "destination has 1 of 8 after 30 s", "received 8 of 8"); for a send to this computer
    without them, "received N"; "" when nothing was checked."""
    if job.arrival:
        return job.arrival
    if job.received is not None:
        return f"received {job.received}"
    return ""


def destination_text(job: StoredJob) -> str:
    """The destination as people know it ("This computer" for a send here)."""
    return THIS_COMPUTER if job.destination == HERE else job.destination


def _row_of(job: StoredJob) -> _Row:
    duration = duration_seconds(job)
    display = (
        format_queued(job.queued_at), job.os_user, job.patient_id, study_text(job),
        job.pacs_name, destination_text(job), images_text(job),
        str(job.failed) if job.failed else "",
        job.state, format_duration(duration) if duration is not None else "", job.error or "",
        arrival_text(job),
    )
    sort_keys = (
        job.queued_at, job.os_user.casefold(), job.patient_id.casefold(),
        study_text(job).casefold(), job.pacs_name.casefold(), job.destination.casefold(),
        job.completed, job.failed, job.state, -1.0 if duration is None else duration,
        (job.error or "").casefold(), arrival_text(job).casefold(),
    )
    return _Row(job, display, sort_keys)


class HistoryModel(QAbstractTableModel):
    """One row per stored job, in the order given (the query's: newest first)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[_Row] = []

    def set_jobs(self, jobs: Sequence[StoredJob]) -> None:
        """Replace every row: a history query is cheap and returns the whole answer."""
        self.beginResetModel()
        self._rows = [_row_of(job) for job in jobs]
        self.endResetModel()

    def job_at(self, row: int) -> StoredJob:
        return self._rows[row].job

    def jobs(self) -> list[StoredJob]:
        return [row.job for row in self._rows]

    # ------------------------------------------------------------------ Qt model API

    def rowCount(self, parent: _Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(HistoryColumn)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation is Qt.Orientation.Horizontal and 0 <= section < len(HistoryColumn):
            if role == Qt.ItemDataRole.DisplayRole:
                return HistoryColumn(section).title
            if role == Qt.ItemDataRole.TextAlignmentRole and section in _RIGHT_ALIGNED:
                return _RIGHT
        return super().headerData(section, orientation, role)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        row = self._rows[index.row()]
        column = HistoryColumn(index.column())
        if role == Qt.ItemDataRole.DisplayRole:
            return cell_text(row.display[column])
        if role == SORT_ROLE:
            return row.sort_keys[column]
        if role == JOB_ROLE:
            return row.job
        if role == Qt.ItemDataRole.ToolTipRole:  # error comments and labels are data
            return plain_tooltip(_tooltip(row.job, column))
        if role == Qt.ItemDataRole.ForegroundRole:
            return _foreground(row.job, column)
        if role == Qt.ItemDataRole.TextAlignmentRole and column in _RIGHT_ALIGNED:
            return _RIGHT
        return None


def _tooltip(job: StoredJob, column: HistoryColumn) -> str | None:
    if column is HistoryColumn.QUEUED:
        return "\n".join(f"{name}: {local_iso(value)}" for name, value in (
            ("Queued", job.queued_at), ("Started", job.started_at),
            ("Finished", job.finished_at)) if value is not None)
    if column is HistoryColumn.STUDY:
        return _study_tooltip(job)
    if column is HistoryColumn.IMAGES and images_text(job):
        return (f"{job.completed} received, {job.warning} with warnings, {job.failed} failed "
                f"of {'an unknown number' if job.total is None else job.total} images")
    if column in (HistoryColumn.STATUS, HistoryColumn.ERROR):
        return status_tooltip(job)
    if column is HistoryColumn.ARRIVAL and job.folder:
        return f"{arrival_text(job)}\nFiles in {job.folder}"
    if column is HistoryColumn.ARRIVAL:
        return arrival_text(job) or None  # the whole sentence, however narrow the column
    return None


def _foreground(job: StoredJob, column: HistoryColumn) -> Any:
    if column is HistoryColumn.FAILED and job.failed:
        return FAILED_COLOUR
    if column is HistoryColumn.ARRIVAL and job.arrival_verified is False:
        return PARTIAL_COLOUR  # fewer arrived than the PACS said
    if column is HistoryColumn.STATUS:
        if job.state is JobState.FAILED:
            return FAILED_COLOUR
        if job.state in (JobState.PARTIAL, JobState.COMPLETED_WITH_WARNINGS,
                         JobState.INTERRUPTED):
            return PARTIAL_COLOUR
    return None


# ---------------------------------------------------------------------- the dialog


_W = TypeVar("_W", bound=QWidget)


def _named(widget: _W, name: str) -> _W:
    """Give a widget an object name (tests and style sheets find it by that)."""
    widget.setObjectName(name)
    return widget


def _date_of(edit: QDateEdit) -> date:
    qdate = edit.date()
    return date(qdate.year(), qdate.month(), qdate.day())


class HistoryDialog(QDialog):
    """Filters over the history, the table, and "Export CSV…" of the rows shown."""

    def __init__(self, store: JobStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.setObjectName("historyDialog")
        self.setWindowTitle("History of sends")
        self.setModal(False)
        self.resize(1280, 520)
        self._file_dialog: QFileDialog | None = None

        self.model = HistoryModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)

        self.from_check = _named(QCheckBox("From"), "historyFromCheck")
        self.from_date = self._date_edit("historyFromDate", QDate.currentDate().addDays(-30))
        self.to_check = _named(QCheckBox("to"), "historyToCheck")
        self.to_date = self._date_edit("historyToDate", QDate.currentDate())
        self.destination_combo = _named(QComboBox(), "historyDestination")
        self.destination_combo.setToolTip("Only sends to this destination AE title")
        self.status_combo = _named(QComboBox(), "historyStatus")
        self.status_combo.setToolTip("Only jobs in this state")
        self.patient_edit = _named(QLineEdit(), "historyPatientId")
        self.patient_edit.setPlaceholderText("Patient ID")
        self.patient_edit.setToolTip("Only jobs for exactly this patient ID")
        self.patient_edit.setClearButtonEnabled(True)
        self.text_edit = _named(QLineEdit(), "historySearch")
        self.text_edit.setPlaceholderText("Search patient ID, label, study UID, destination, "
                                          "PACS, user")
        self.text_edit.setClearButtonEnabled(True)
        self.refresh_button = _named(QPushButton("Refresh"), "historyRefresh")
        self.refresh_button.setToolTip("Read the history again (new and finished sends)")
        self.export_button = _named(QPushButton("Export CSV…"), "historyExport")
        self.export_button.setToolTip("Save the jobs shown, in the order shown, as a CSV file")

        self.view = _named(QTableView(), "historyView")
        self.view.setModel(self.proxy)
        self.view.setSortingEnabled(True)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setAlternatingRowColors(True)
        self.view.setWordWrap(False)
        self.view.verticalHeader().setVisible(False)
        self.view.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        header = self.view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        for column, width in _DEFAULT_WIDTHS.items():
            self.view.setColumnWidth(column, width)
        # What arrived sits beside the status it explains ("partial" / "destination has 4 of
        # 6"), in sight at the dialog's own size; Error comes last and stretches.
        header.moveSection(header.visualIndex(HistoryColumn.ARRIVAL),
                           header.visualIndex(HistoryColumn.STATUS) + 1)
        self.view.sortByColumn(HistoryColumn.QUEUED, Qt.SortOrder.DescendingOrder)

        self.status_label = _named(make_plain(QLabel()), "historyStatusLabel")
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)

        filters = QHBoxLayout()
        for widget in (self.from_check, self.from_date, self.to_check, self.to_date,
                       self.destination_combo, self.status_combo):
            filters.addWidget(widget)
        filters.addWidget(self.patient_edit, 1)
        filters.addWidget(self.text_edit, 3)
        filters.addWidget(self.refresh_button)
        bottom = QHBoxLayout()
        bottom.addWidget(self.status_label, 1)
        bottom.addWidget(self.export_button)
        bottom.addWidget(buttons)
        layout = QVBoxLayout(self)
        layout.addLayout(filters)
        layout.addWidget(self.view, 1)
        layout.addLayout(bottom)

        self._typing = QTimer(self)
        self._typing.setSingleShot(True)
        self._typing.setInterval(TYPING_DELAY_MS)
        self._typing.timeout.connect(self.refresh)
        self.from_check.toggled.connect(self._on_date_check_toggled)
        self.to_check.toggled.connect(self._on_date_check_toggled)
        self.from_date.dateChanged.connect(self.refresh)
        self.to_date.dateChanged.connect(self.refresh)
        self.destination_combo.currentIndexChanged.connect(self.refresh)
        self.status_combo.currentIndexChanged.connect(self.refresh)
        self.patient_edit.textChanged.connect(self._on_text_changed)
        self.text_edit.textChanged.connect(self._on_text_changed)
        self.refresh_button.clicked.connect(self.refresh)
        self.export_button.clicked.connect(self._on_export_clicked)

        self._enable_date_edits()
        self.refresh()

    def _date_edit(self, name: str, initial: QDate) -> QDateEdit:
        edit = _named(QDateEdit(initial), name)
        edit.setCalendarPopup(True)
        edit.setDisplayFormat("yyyy-MM-dd")
        return edit

    # ------------------------------------------------------------------ filters

    def current_filter(self) -> HistoryFilter:
        """The filter the widgets describe; "to" includes the whole of its day."""
        since = until = None
        if self.from_check.isChecked():
            since = datetime.combine(_date_of(self.from_date), time.min)
        if self.to_check.isChecked():
            until = datetime.combine(_date_of(self.to_date) + timedelta(days=1), time.min)
        destination = self.destination_combo.currentData()
        status = self.status_combo.currentData()
        return HistoryFilter(since=since, until=until, destination=destination or None,
                             status=status or None, patient_id=self.patient_edit.text(),
                             text=self.text_edit.text())

    def refresh(self) -> None:
        """Query the store again with the current filters (new sends appear, counts update)."""
        self._typing.stop()
        try:
            _fill(self.destination_combo, ALL_DESTINATIONS, self.store.destinations_used())
            _fill(self.status_combo, ALL_STATUSES, known_states(self.store))
            jobs = query_history(self.store, self.current_filter())
        except sqlite3.Error as exc:  # a locked or damaged database must not close the window
            self._show_status(f"The history could not be read: {exc}. Try Refresh again.",
                              error=True)
            return
        self.model.set_jobs(jobs)
        self._show_status(f"{len(jobs)} job(s) shown")

    def on_job_changed(self, job: JobSnapshot) -> None:
        """Slot for ``EngineSignals.job_changed``: a finished send shows up at once."""
        if job.state.is_finished and self.isVisible():
            self.refresh()

    def _on_text_changed(self) -> None:
        self._typing.start()  # query once typing pauses, not per keystroke

    def _on_date_check_toggled(self) -> None:
        self._enable_date_edits()
        self.refresh()

    def _enable_date_edits(self) -> None:
        self.from_date.setEnabled(self.from_check.isChecked())
        self.to_date.setEnabled(self.to_check.isChecked())

    # ------------------------------------------------------------------ export

    def shown_jobs(self) -> list[StoredJob]:
        """The jobs as the table shows them: filtered and in the view's sort order."""
        return [self.model.job_at(self.proxy.mapToSource(self.proxy.index(row, 0)).row())
                for row in range(self.proxy.rowCount())]

    def _on_export_clicked(self) -> None:
        """Ask for a file name without blocking: ``open()``, answered by ``fileSelected``."""
        if self._file_dialog is None:
            dialog = QFileDialog(self, "Export history as CSV")
            dialog.setObjectName("historyExportDialog")
            dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
            dialog.setNameFilter("CSV files (*.csv)")
            dialog.setDefaultSuffix("csv")
            dialog.fileSelected.connect(self.export_to)
            self._file_dialog = dialog
        self._file_dialog.selectFile(
            str(Path.home() / f"dicom-courier-history-{date.today():%Y%m%d}.csv"))
        self._file_dialog.open()

    def export_to(self, path: str | Path) -> int | None:
        """Write the jobs shown to ``path``; returns how many, or None if it failed."""
        target = Path(path)
        try:
            count = export_csv(self.shown_jobs(), target)
        except OSError as exc:
            self._show_status(f"{target} could not be written: {exc.strerror or exc}. Choose "
                              "a folder you may write to.", error=True)
            return None
        self._show_status(f"Exported {count} job(s) to {target}")
        return count

    def _show_status(self, text: str, *, error: bool = False) -> None:
        self.status_label.setText(text)
        self.status_label.setStyleSheet(f"color: {FAILED_COLOUR.name()};" if error else "")


def show_history(parent: QWidget, store: JobStore,
                 job_changed: SignalInstance) -> HistoryDialog:
    """Show THE history window of ``parent``: raise the one already open, else open one.

    Args:
        parent: the main window; the dialog is its child (and closes with it).
        store: the job database the dialog queries.
        job_changed: ``EngineSignals.job_changed`` (one ``JobSnapshot`` per emit); while the
            dialog is open it refreshes when a send finishes.

    Returns:
        The dialog on screen. A new one is deleted when it closes (Close, Esc, the title
        bar), and its ``job_changed`` connection goes with it: opening and closing the
        history any number of times leaves no dialog and no listener behind.
    """
    for dialog in parent.findChildren(HistoryDialog, options=Qt.FindChildOption
                                      .FindDirectChildrenOnly):
        if dialog.isVisible():  # a closed one is only waiting for its deferred delete
            dialog.refresh()
            dialog.raise_()
            dialog.activateWindow()
            return dialog
    dialog = HistoryDialog(store, parent)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    job_changed.connect(dialog.on_job_changed)
    dialog.finished.connect(lambda _result: job_changed.disconnect(dialog.on_job_changed),
                            type=Qt.ConnectionType.SingleShotConnection)
    dialog.show()
    return dialog


def _fill(combo: QComboBox, any_text: str, values: Sequence[str]) -> None:
    """Set a filter combo's choices ("any" first, data None), keeping the current choice;
    silently, because the caller is about to query anyway."""
    current = combo.currentData()
    shown = [THIS_COMPUTER if value == HERE else value for value in values]  # not "@here"
    wanted = [any_text, *shown]
    if [combo.itemText(i) for i in range(combo.count())] == wanted:
        return
    combo.blockSignals(True)
    try:
        combo.clear()
        combo.addItem(any_text, None)
        for text, value in zip(shown, values, strict=True):
            combo.addItem(text, value)
        index = combo.findData(current) if current is not None else 0
        combo.setCurrentIndex(max(index, 0))
    finally:
        combo.blockSignals(False)
