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
    Qt,
    Signal,
)
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from dicom_courier.core.jobs.queue import JobSnapshot, JobState
from dicom_courier.core.jobs.row_words import paused_banner
from dicom_courier.gui.progress_delegate import MoveProgressDelegate
from dicom_courier.gui.queue_model import JOB_ROLE, MoveQueueModel, QueueColumn
from dicom_courier.gui.selection_menu import SelectionMenu

CANCELLABLE = frozenset({JobState.QUEUED, JobState.RUNNING, JobState.RETRYING})
RETRYABLE = frozenset({JobState.FAILED, JobState.PARTIAL, JobState.CANCELLED})
HAS_DETAILS = frozenset({JobState.FAILED, JobState.PARTIAL})

_COLUMN_WIDTHS = {
    QueueColumn.PATIENT: 160,
    QueueColumn.STUDY: 150,
    QueueColumn.DESTINATION: 110,
    QueueColumn.PROGRESS: 250,  # "54 sent (2 with warnings) · 6 failed of 60"
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
    #: bool: a person asked to pause (True) or resume (False) the queue, from this panel
    pause_requested = Signal(bool)
    #: int: job id of a send to this computer whose folder a person asked to open
    open_folder_requested = Signal(int)

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
        self.view.setTabKeyNavigation(False)  # Tab leaves the table for its buttons
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
        self.pause_button = QPushButton("Pause queue", self, objectName="queuePauseButton")
        self.pause_button.setToolTip("Start no new send (running sends go on)")
        self.pause_button.setCheckable(True)
        self._pause_action: QAction | None = None
        self._build_banner()

        buttons = QHBoxLayout()
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.retry_button)
        buttons.addStretch(1)
        buttons.addWidget(self.pause_button)
        buttons.addWidget(self.clear_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.banner)
        layout.addWidget(self.view)
        layout.addLayout(buttons)

        self.cancel_button.clicked.connect(self._on_cancel_clicked)
        self.retry_button.clicked.connect(self._on_retry_clicked)
        self.clear_button.clicked.connect(self.clear_finished_requested)
        self.pause_button.clicked.connect(self._on_pause_clicked)
        self.resume_button.clicked.connect(self._on_resume_clicked)
        self.view.activated.connect(self._on_row_activated)
        self._build_row_menu()
        self.view.selectionModel().selectionChanged.connect(self._on_selection_changed)
        # States change with the data, not only with the selection. The source model's
        # signals, not the proxy's: the proxy drops its rows while the source still has them.
        self.model.dataChanged.connect(self._update_buttons)
        self.model.rowsInserted.connect(self._update_buttons)
        self.model.rowsRemoved.connect(self._update_buttons)
        self.model.modelReset.connect(self._update_buttons)
        for signal in (self.model.dataChanged, self.model.rowsInserted, self.model.rowsRemoved):
            signal.connect(self._update_banner)
        self._update_buttons()

    def _build_banner(self) -> None:
        """The paused state, visible for as long as it lasts (not a status-bar message)."""
        self.banner = QFrame(self, objectName="queuePausedBanner")
        self.banner.setFrameShape(QFrame.Shape.StyledPanel)
        self.banner.setStyleSheet("#queuePausedBanner { background: #fff3cd; "
                                  "border: 1px solid #e0c36c; border-radius: 3px; }")
        self.banner_label = QLabel(self.banner, objectName="queuePausedText")
        self.banner_label.setTextFormat(Qt.TextFormat.PlainText)
        self.banner_label.setStyleSheet("color: #5c4400;")
        self.resume_button = QPushButton("Resume", self.banner, objectName="queueResumeButton")
        self.resume_button.setToolTip("Start the waiting sends again")
        row = QHBoxLayout(self.banner)
        row.setContentsMargins(8, 3, 3, 3)
        row.addWidget(self.banner_label, 1)
        row.addWidget(self.resume_button)
        self.banner.setAccessibleName("Queue paused")
        self.banner.hide()

    # ------------------------------------------------------------------ paused

    def set_paused(self, paused: bool) -> None:
        """Show the queue as paused (banner, "paused" rows, the Pause button down) or not;
        this changes the display only: the window pauses the queue itself."""
        self.model.set_paused(paused)
        self.pause_button.setChecked(paused)
        self.pause_button.setText("Paused" if paused else "Pause queue")
        self._update_banner()

    def follow_pause_action(self, action: QAction) -> None:
        """Keep this panel and the window's checkable "Pause the queue" ``action`` as one:
        the panel shows the action's state, and the panel's Pause and Resume trigger it
        (so whatever the action does, it does once)."""
        self._pause_action = action
        action.toggled.connect(self.set_paused)
        self.pause_requested.connect(self._trigger_pause_action)
        self.set_paused(action.isChecked())

    def _trigger_pause_action(self, paused: bool) -> None:
        action = self._pause_action
        if action is not None and action.isChecked() != paused:
            action.trigger()

    def _on_pause_clicked(self, checked: bool) -> None:
        self.pause_button.setChecked(self.model.paused)  # the window's answer decides
        self.pause_requested.emit(checked)

    def _on_resume_clicked(self) -> None:
        self.pause_requested.emit(False)

    def _update_banner(self, *_args: object) -> None:
        paused = self.model.paused
        if paused:
            self.banner_label.setText(paused_banner(self.model.waiting_count()))
        self.banner.setVisible(paused)

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

    def _build_row_menu(self) -> None:
        """Right click, Menu key, Shift+F10: Cancel / Retry / Show details for the SELECTED
        sends (:mod:`.selection_menu`), never for a row computed from a point."""
        self.row_menu = QMenu(self)
        self.cancel_menu_action = self.row_menu.addAction("Cancel")
        self.cancel_menu_action.triggered.connect(self._on_cancel_clicked)
        self.retry_menu_action = self.row_menu.addAction("Retry")
        self.retry_menu_action.triggered.connect(self._on_retry_clicked)
        self.details_menu_action = self.row_menu.addAction("Show details…")
        self.details_menu_action.triggered.connect(self._on_details_triggered)
        self.open_folder_action = self.row_menu.addAction("&Open folder")
        self.open_folder_action.setObjectName("queueOpenFolder")
        self.open_folder_action.setToolTip("Show the files a send to this computer received")
        self.open_folder_action.triggered.connect(self._on_open_folder_triggered)
        self.selection_menu = SelectionMenu(self.view, self.row_menu, self._update_row_menu)

    def _update_row_menu(self) -> None:
        jobs = self.selected_jobs()
        states = {job.state for job in jobs}
        self.cancel_menu_action.setEnabled(bool(states & CANCELLABLE))
        self.retry_menu_action.setEnabled(bool(states & RETRYABLE))
        self.details_menu_action.setEnabled(len(jobs) == 1 and jobs[0].state in HAS_DETAILS)
        here = len(jobs) == 1 and jobs[0].to_here
        self.open_folder_action.setVisible(here)
        self.open_folder_action.setEnabled(here)

    def _on_open_folder_triggered(self) -> None:
        jobs = self.selected_jobs()
        if len(jobs) == 1 and jobs[0].to_here:
            self.open_folder_requested.emit(jobs[0].job_id)

    def _on_details_triggered(self) -> None:
        jobs = self.selected_jobs()
        if len(jobs) == 1 and jobs[0].state in HAS_DETAILS:
            self.details_requested.emit(jobs[0].job_id)

    def _on_row_activated(self, index: QModelIndex) -> None:
        """Enter or a double click: details of that row when it is selected (Enter on a
        current row that Ctrl+arrows left unselected does nothing)."""
        if not self.view.selectionModel().isRowSelected(index.row(), index.parent()):
            return
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
