"""The move-queue panel: the table of sends and the buttons that act on the selected ones.

The panel never talks to the queue. It says what a person asked for through signals carrying
job ids, and the composition root (the main window) connects them to ``MoveQueue``; so the panel
can be tested, and reused, without an engine behind it.
"""

from __future__ import annotations

from PySide6.QtCore import (
    QItemSelection,
    QItemSelectionModel,
    QModelIndex,
    QSortFilterProxyModel,
    Signal,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from dicom_courier.core.jobs.queue import JobSnapshot, JobState
from dicom_courier.gui.progress_delegate import MoveProgressDelegate
from dicom_courier.gui.queue_model import JOB_ROLE, MoveQueueModel, QueueColumn

CANCELLABLE = frozenset({JobState.QUEUED, JobState.RUNNING, JobState.RETRYING})
RETRYABLE = frozenset({JobState.FAILED, JobState.PARTIAL, JobState.CANCELLED})
HAS_DETAILS = frozenset({JobState.FAILED, JobState.PARTIAL})

_COLUMN_WIDTHS = {
    QueueColumn.PATIENT: 160,
    QueueColumn.STUDY: 150,
    QueueColumn.DESTINATION: 110,
    QueueColumn.PROGRESS: 150,
    QueueColumn.STATUS: 260,
    QueueColumn.RATE: 85,
    QueueColumn.ELAPSED: 65,
    QueueColumn.REMAINING: 80,
}


class QueuePanel(QWidget):
    """A table of jobs with Cancel / Retry / Clear finished; emits requests, changes nothing."""

    #: list[int]: job ids of the selected queued or running jobs, in row order
    cancel_requested = Signal(list)
    #: list[int]: job ids of the selected failed, partial or cancelled jobs, in row order
    retry_requested = Signal(list)
    #: "Clear finished" was clicked (the queue decides which jobs are finished)
    clear_finished_requested = Signal()
    #: int: job id of a failed or partial job a person double-clicked (or pressed Enter on)
    details_requested = Signal(int)

    def __init__(self, model: MoveQueueModel | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model if model is not None else MoveQueueModel(self)
        # A proxy from the start, so the window can sort or filter without touching the model;
        # everything below reads jobs through JOB_ROLE, never by source row.
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)

        self.view = QTableView(self)
        self.view.setObjectName("queueView")
        self.view.setAccessibleName("Move queue")
        self.view.setModel(self.proxy)
        self.delegate = MoveProgressDelegate(self.view)
        self.view.setItemDelegateForColumn(QueueColumn.PROGRESS, self.delegate)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setAlternatingRowColors(True)
        self.view.setWordWrap(False)
        self.view.verticalHeader().setVisible(False)
        header = self.view.horizontalHeader()
        header.setHighlightSections(False)
        header.setStretchLastSection(False)
        for column, width in _COLUMN_WIDTHS.items():
            self.view.setColumnWidth(column, width)
        header.setSectionResizeMode(QueueColumn.STATUS, QHeaderView.ResizeMode.Stretch)

        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setToolTip("Stop the selected queued or running sends")
        self.retry_button = QPushButton("Retry", self)
        self.retry_button.setToolTip("Send the selected failed, partial or cancelled jobs again")
        self.clear_button = QPushButton("Clear finished", self)
        self.clear_button.setToolTip("Remove every finished send from the list")

        buttons = QHBoxLayout()
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.retry_button)
        buttons.addStretch(1)
        buttons.addWidget(self.clear_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view)
        layout.addLayout(buttons)

        self.cancel_button.clicked.connect(self._on_cancel_clicked)
        self.retry_button.clicked.connect(self._on_retry_clicked)
        self.clear_button.clicked.connect(self.clear_finished_requested)
        self.view.activated.connect(self._on_row_activated)
        self.view.selectionModel().selectionChanged.connect(self._on_selection_changed)
        # States change with the data, not only with the selection. The source model's
        # signals, not the proxy's: the proxy drops its rows while the source still has them.
        self.model.dataChanged.connect(self._update_buttons)
        self.model.rowsInserted.connect(self._update_buttons)
        self.model.rowsRemoved.connect(self._update_buttons)
        self.model.modelReset.connect(self._update_buttons)
        self._update_buttons()

    # ------------------------------------------------------------------ queries

    def selected_jobs(self) -> list[JobSnapshot]:
        """The latest snapshots of the selected rows, top to bottom."""
        rows = sorted(self.view.selectionModel().selectedRows(), key=QModelIndex.row)
        return [job for index in rows if isinstance(job := index.data(JOB_ROLE), JobSnapshot)]

    def select_jobs(self, job_ids: list[int]) -> None:
        """Select the rows of ``job_ids`` (for the window, e.g. after submitting, and tests)."""
        wanted = set(job_ids)
        selection = QItemSelection()
        for row in range(self.proxy.rowCount()):
            index = self.proxy.index(row, 0)
            job = index.data(JOB_ROLE)
            if isinstance(job, JobSnapshot) and job.job_id in wanted:
                selection.select(index, index)
        flags = (QItemSelectionModel.SelectionFlag.ClearAndSelect
                 | QItemSelectionModel.SelectionFlag.Rows)
        self.view.selectionModel().select(selection, flags)

    # ------------------------------------------------------------------ slots

    def _on_cancel_clicked(self) -> None:
        ids = [job.job_id for job in self.selected_jobs() if job.state in CANCELLABLE]
        if ids:
            self.cancel_requested.emit(ids)

    def _on_retry_clicked(self) -> None:
        ids = [job.job_id for job in self.selected_jobs() if job.state in RETRYABLE]
        if ids:
            self.retry_requested.emit(ids)

    def _on_row_activated(self, index: QModelIndex) -> None:
        job = index.data(JOB_ROLE)
        if isinstance(job, JobSnapshot) and job.state in HAS_DETAILS:
            self.details_requested.emit(job.job_id)

    def _on_selection_changed(self, _selected: QItemSelection,
                              _deselected: QItemSelection) -> None:
        self._update_buttons()

    def _update_buttons(self) -> None:
        """Each button is enabled only if it would do something for the current selection."""
        states = {job.state for job in self.selected_jobs()}
        self.cancel_button.setEnabled(bool(states & CANCELLABLE))
        self.retry_button.setEnabled(bool(states & RETRYABLE))
        self.clear_button.setEnabled(any(job.state.is_finished for job in self.model.jobs()))
