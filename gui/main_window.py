"""The main window: query form on top, results grid in the centre, move queue in a dock.

It shows what it is given: the parts :func:`dicom_courier.gui.app.compose` built and wired (one
Courier, one MoveQueue, ``jobs.db``, the EngineSignals that carry engine reports to the
models). Searches run in :mod:`.search_controller`; what to ask before a send and what to
resume are the engine's answers (:mod:`dicom_courier.core.jobs.send_checks`,
:mod:`dicom_courier.core.jobs.resume`), and so are the sends' labels and requests
(:mod:`dicom_courier.core.jobs.picked`); the layout is kept by :mod:`.window_layout`.
Slots stay thin: searches and sends run as tasks on the qasync loop, every network call on a
DIMSE worker. Dialogs are non-modal (``open()``), never ``exec()`` inside a coroutine.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QAction, QCloseEvent, QDesktopServices, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from dicom_courier.core.config.profiles import PacsNode
from dicom_courier.core.jobs.picked import move_request, series_label, study_label
from dicom_courier.core.jobs.queue import JobLabel, JobSnapshot, JobState
from dicom_courier.core.jobs.resume import (
    offered_for_resume,
    pacs_for,
    record_not_resumable,
    resume_question,
    resumption_of,
    take_over,
)
from dicom_courier.core.jobs.send_checks import CheckKind, send_questions
from dicom_courier.core.jobs.store import StoredJob
from dicom_courier.core.jobs.store_errors import StoreError
from dicom_courier.core.outcome.arrival import HERE, THIS_COMPUTER
from dicom_courier.core.outcome.errors import CourierError
from dicom_courier.core.qr.model_choice import patient_id_of
from dicom_courier.core.qr.query import FindMatch, MoveRequest, MoveTarget, Priority
from dicom_courier.core.qr.uid_notes import UidNotes
from dicom_courier.gui.destinations_model import picker_entries
from dicom_courier.gui.empty_results import EmptyResultsNotice
from dicom_courier.gui.failure_policy import FailureReporter, retry_as_offered
from dicom_courier.gui.first_run import NoPacsState, add_first_pacs
from dicom_courier.gui.form_memory import remember_form, start_form
from dicom_courier.gui.here_offer import here_offered, send_words
from dicom_courier.gui.keyboard_flow import wire_keyboard
from dicom_courier.gui.plain_text import PlainMessageBox, plain_label, plain_tooltip
from dicom_courier.gui.preferences_dialog import add_preferences_action, open_preferences
from dicom_courier.gui.query_form import QueryForm
from dicom_courier.gui.queue_model import MoveQueueModel
from dicom_courier.gui.queue_panel import QueuePanel
from dicom_courier.gui.quit_dialog import QuitGuard
from dicom_courier.gui.results_model import StudyResultsModel
from dicom_courier.gui.results_view import ResultsView
from dicom_courier.gui.search_controller import SearchController
from dicom_courier.gui.status_line import CourierStatusBar
from dicom_courier.gui.tls_box import NO_VERIFY_WARNING
from dicom_courier.gui.window_layout import restore_layout, save_layout

if TYPE_CHECKING:  # the engine and the dialogs load after the first paint, when first used
    from dicom_courier.core.dimse.find import FindOperation
    from dicom_courier.gui.app import WindowParts
    from dicom_courier.gui.here_test import HereTestDialog
    from dicom_courier.gui.history_view import HistoryDialog
    from dicom_courier.gui.pacs_manager import PacsManagerDialog
    from dicom_courier.gui.send_summary import SendPlan
    from dicom_courier.gui.series_dialog import SeriesDialog


class MainWindow(QMainWindow):
    """Search a PACS, pick studies, send them, watch the queue."""

    def __init__(self, parts: WindowParts) -> None:
        """Show ``parts`` (built and wired by :func:`dicom_courier.gui.app.compose`)."""
        super().__init__()
        self.setObjectName("mainWindow")
        self.setWindowTitle("DICOM Courier")
        self.parts = parts
        self.paths = parts.paths
        self.store = parts.profiles  # nodes.json, shared with the command line
        self.settings = parts.settings
        self.settings_problems = parts.settings_problems
        self.courier = parts.courier
        self.signals = parts.signals
        self.history = parts.history  # jobs.db
        self.destination_memory = parts.destination_memory
        self.queue = parts.queue
        # The Q/R model each PACS accepted (Study or Patient Root), learned by searches.
        self.model_memory = parts.model_memory
        self.retention = parts.retention
        self.receiver = parts.receiver  # "This computer": the built-in receiver (issue 13)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._nodes: list[PacsNode] = []
        self._dialogs: list[QWidget] = []

        self.form = QueryForm(self)
        self.results_model = StudyResultsModel(self)
        self.results_view = ResultsView(self.results_model, self)
        self.results_proxy = self.results_view.proxy
        self.empty_results = EmptyResultsNotice(self.results_view, self.form)  # "none found"
        self.no_pacs_state = NoPacsState(  # the empty first start: "Add a PACS…"
            self.results_view, self.form.pacs_combo,
            lambda: add_first_pacs(self.open_pacs_manager))
        self.filter_edit = QLineEdit(objectName="resultsFilter", placeholderText="Filter results")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self.results_proxy.set_filter_text)
        self.destination_combo = QComboBox(objectName="destinationCombo")
        self.destination_combo.setAccessibleName("Destination")
        self.destination_combo.setMinimumContentsLength(16)
        self.priority_combo = QComboBox(objectName="priorityCombo")
        self.priority_combo.setAccessibleName("Priority")
        for text, priority in (("Normal", Priority.MEDIUM), ("High (STAT)", Priority.HIGH),
                               ("Low", Priority.LOW)):
            self.priority_combo.addItem(text, priority)
        self.priority_combo.setToolTip("High (STAT) sends start before the others and ask the "
                                       "PACS for high priority.")
        self.queue_model = MoveQueueModel(self)
        self.queue_panel = QueuePanel(self.queue_model, self)
        self.failures = FailureReporter(self)
        # Closing with sends running or waiting asks first; logout leaves them to resume.
        self.quit_guard = QuitGuard(self, self.queue, on_left=lambda n: (
            self.statusBar().showMessage(f"{n} send(s) stopped; DICOM Courier offers them "
                                         "for resuming at the next start.")))
        self.signals.job_changed.connect(self.quit_guard.on_job_changed)  # live counts
        self.truncated_label = plain_label(object_name="truncatedNotice")
        self.truncated_label.setStyleSheet("color: #b26a00; font-weight: bold;")
        self.truncated_label.hide()
        # plain text: it shows AE titles and the PACS's error titles
        self.count_label = plain_label("No search yet", "resultCount")
        # Shown while the chosen PACS profile does not check the PACS's TLS certificate.
        self.tls_warning_label = plain_label("⚠ PACS certificate not verified",
                                             "tlsNoVerifyWarning")
        self.tls_warning_label.setStyleSheet("color: #8a4b00; font-weight: bold;")
        self.tls_warning_label.setToolTip(NO_VERIFY_WARNING)
        self.tls_warning_label.hide()
        self.receiver_label = plain_label(object_name="receiverStatus")  # AE titles: data
        self.receiver_label.hide()
        self._refused_lines: list[str] = []

        self._build_actions()
        self.searches = SearchController(
            self.courier, self.model_memory,
            result_limit=lambda: self.settings.result_limit, current_pacs=self.current_pacs,
            show_error=self._show_error, results_model=self.results_model,
            results_proxy=self.results_proxy, count_label=self.count_label,
            truncated_label=self.truncated_label, cancel_action=self.cancel_search_action,
            parent=self)
        self._build_layout()
        self._connect()
        self.reload_profiles()
        restore_layout(self, self.results_view, self.paths.config_dir)
        start_form(self)  # default study date; last PACS, destination, modalities
        self._report_store_state()
        self._report_startup_problems()
        wire_keyboard(self)  # focus in the patient name field; Tab order (keyboard_flow)

    # ------------------------------------------------------------------ construction

    def _action(self, text: str, slot: Callable[[], Any], shortcut: Any = None,
                name: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcuts(shortcut if isinstance(shortcut, list) else [shortcut])
        action.setObjectName(name)
        action.triggered.connect(slot)
        self.addAction(action)
        return action

    def _build_actions(self) -> None:
        self.search_action = self._action("&Search", self.form.request_search, name="searchAction")
        self.cancel_search_action = self._action(
            "&Cancel search", self.cancel_search, QKeySequence(Qt.Key.Key_Escape),
            "cancelSearchAction")
        self.cancel_search_action.setEnabled(False)
        self.send_action = self._action(
            "Send to &workstation", self.send_selection,
            [QKeySequence("Ctrl+Return"), QKeySequence("Ctrl+Enter")], "sendAction")
        self.manage_action = self._action("&Manage PACS and destinations…",
                                          self.open_pacs_manager, name="managePacsAction")
        # Ctrl+Q everywhere (Cmd+Q on macOS): StandardKey.Quit is empty on Windows and offscreen.
        self.quit_action = self._action("&Quit", self.close, QKeySequence("Ctrl+Q"),
                                        "quitAction")
        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        file_menu.addAction(self.manage_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        search_menu = menu.addMenu("&Search")
        search_menu.addAction(self.search_action)
        search_menu.addAction(self.cancel_search_action)
        send_menu = menu.addMenu("Se&nd")
        send_menu.addAction(self.send_action)
        self.test_destination_action = self._action(
            "&Test destination…", self.test_destination, name="testDestinationAction")
        send_menu.addAction(self.test_destination_action)
        queue_menu = menu.addMenu("&Queue")
        self.pause_action = self._action("&Pause the queue", self._toggle_pause,
                                         name="pauseQueueAction")
        self.pause_action.setCheckable(True)
        self.retry_failed_action = self._action("Retry &failed images only",
                                                self._retry_failed_images,
                                                name="retryFailedImagesAction")
        self.move_up_action = self._action("Move &up", lambda: self._reorder(-1),
                                           name="moveUpAction")
        self.move_down_action = self._action("Move &down", lambda: self._reorder(+1),
                                             name="moveDownAction")
        for action in (self.pause_action, self.retry_failed_action, self.move_up_action,
                       self.move_down_action):
            queue_menu.addAction(action)
        queue_menu.addSeparator()
        self.history_action = self._action("Send &history…", self.open_history,
                                           QKeySequence("Ctrl+H"), "historyAction")
        queue_menu.addAction(self.history_action)
        self.view_menu = menu.addMenu("&View")
        help_menu = menu.addMenu("&Help")
        help_menu.addAction(self._action("&About DICOM Courier", self._about))
        self.preferences_action = add_preferences_action(  # Tools → Preferences… (Ctrl+,)
            self, lambda: self._keep(open_preferences(self)))

        toolbar = QToolBar("Main", objectName="mainToolbar")
        toolbar.setMovable(False)
        toolbar.addAction(self.search_action)
        toolbar.addAction(self.cancel_search_action)
        toolbar.addSeparator()
        toolbar.addWidget(QLabel(" Destination: "))
        toolbar.addWidget(self.destination_combo)
        toolbar.addWidget(QLabel(" Priority: "))
        toolbar.addWidget(self.priority_combo)
        toolbar.addAction(self.send_action)
        toolbar.addSeparator()
        toolbar.addAction(self.manage_action)
        self.addToolBar(toolbar)
        self.send_button = toolbar.widgetForAction(self.send_action)
        self.send_button.setObjectName("sendButton")
        self.send_button.setAccessibleName("Send to workstation")

    def _build_layout(self) -> None:
        results = QWidget()
        column = QVBoxLayout(results)
        column.setContentsMargins(6, 0, 6, 0)
        column.addWidget(self.filter_edit)
        column.addWidget(self.results_view, 1)
        splitter = QSplitter(Qt.Orientation.Vertical, objectName="mainSplitter")
        splitter.addWidget(self.form)
        splitter.addWidget(results)
        splitter.setStretchFactor(1, 1)
        splitter.setChildrenCollapsible(False)
        self.setCentralWidget(splitter)
        dock = QDockWidget("Move queue", self, objectName="queueDock")
        dock.setWidget(self.queue_panel)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
        self.view_menu.addAction(dock.toggleViewAction())
        status = CourierStatusBar(self)  # messages beside the count, never over it
        self.setStatusBar(status)
        status.add_left(self.count_label)
        status.add_left(self.truncated_label)
        status.addPermanentWidget(self.tls_warning_label)
        status.addPermanentWidget(self.receiver_label)
        self.resize(1280, 820)

    def _connect(self) -> None:
        self.form.search_requested.connect(self._on_search_requested)
        self.form.pacs_combo.currentIndexChanged.connect(self._on_pacs_changed)
        self.destination_combo.currentIndexChanged.connect(self._on_destination_changed)
        self.queue_model.listen_to(self.signals)  # the queue's announcements, nothing else
        self.signals.job_changed.connect(self._on_job_changed)
        self.signals.store_refused.connect(self._on_store_error)
        if self.receiver is not None:  # "This computer": its state and refusals, non-modal
            self.receiver.settings_changed.connect(self._on_receiver_settings)
            self.receiver.state_changed.connect(self._on_receiver_state)
            self.receiver.refused.connect(self._on_receiver_refused)
        # Slots here return None on purpose: a Python slot that returns a value (a bool from
        # "a and b", an int from queue.retry) crashed PySide6 6.12 at interpreter exit.
        self.queue_panel.cancel_requested.connect(self._cancel_jobs)
        self.queue_panel.retry_requested.connect(self._retry_jobs)
        self.queue_panel.clear_finished_requested.connect(self._clear_finished)
        self.queue_panel.details_requested.connect(self._show_job_details)
        self.queue_panel.open_folder_requested.connect(self._open_job_folder)
        self.queue_panel.follow_pause_action(self.pause_action)  # banner, "paused" rows
        self.failures.retry_requested.connect(self._retry_as_offered)
        self.results_view.send_requested.connect(self.send_selection)
        self.results_view.expand_requested.connect(self.show_series)
        self.results_view.selection_changed_count.connect(self._on_selection_count)

    # ------------------------------------------------------------------ profiles

    def reload_profiles(self, select: str | None = None) -> None:
        """Fill the PACS selector from nodes.json (shared with the command line)."""
        try:
            self._nodes = self.store.load()
        except CourierError as exc:
            self._nodes = []
            self._show_error(exc)
        current = select or self.form.pacs_combo.currentText()
        self.form.pacs_combo.blockSignals(True)
        self.form.pacs_combo.clear()
        for node in self._nodes:
            self.form.pacs_combo.addItem(node.name)
        if current:
            index = self.form.pacs_combo.findText(current)
            if index >= 0:
                self.form.pacs_combo.setCurrentIndex(index)
        self.form.pacs_combo.blockSignals(False)
        self._on_pacs_changed()

    def current_pacs(self) -> PacsNode | None:
        index = self.form.pacs_combo.currentIndex()
        return self._nodes[index] if 0 <= index < len(self._nodes) else None

    def _on_pacs_changed(self) -> None:
        pacs = self.current_pacs()
        if self.results_model.rowCount() or self._search is not None:
            # The rows came from the PACS chosen before: a send must never ask another PACS
            # for them (its UIDs, its patient). Clear them, and stop their search.
            self.cancel_search()
            self.results_model.clear()
            self.statusBar().showMessage(
                "Results cleared: they came from the PACS chosen before. Search again.", 8000)
        self._fill_destinations(pacs)
        has_pacs = pacs is not None
        self.tls_warning_label.setVisible(pacs is not None and pacs.tls.unverified)
        self.form.search_button.setEnabled(has_pacs and self.form.validate())
        self._update_send_enabled()
        if not has_pacs:
            self.count_label.setText("No PACS configured: File → Manage PACS and destinations…")

    def _fill_destinations(self, pacs: PacsNode | None, *, keep: bool = False) -> None:
        """The destination picker: ``pacs``'s destinations (the default first), and "This
        computer" while the built-in receiver is turned on or ``pacs`` retrieves by C-GET or
        Automatic (:func:`.here_offer.here_offered`); ``keep``: the choice stays when it is
        still offered."""
        chosen = self.destination_combo.currentData() if keep else None
        self.destination_combo.clear()
        here = here_offered(self.receiver, pacs)  # receiver on, or C-GET/Automatic
        for text, destination in picker_entries(pacs, here=here):
            self.destination_combo.addItem(text, destination)
        if chosen is not None and (index := self.destination_combo.findData(chosen)) > 0:
            self.destination_combo.setCurrentIndex(index)

    def _on_destination_changed(self) -> None:
        """"Retrieve to this computer" or "Send to workstation", as the choice is."""
        words = send_words(self.destination_combo.currentData())
        self.send_action.setText(words)
        self.send_button.setAccessibleName(words.replace("&", ""))

    def _on_receiver_settings(self, _settings: object) -> None:
        """Preferences turned the receiver on or off: "This computer" comes or goes."""
        self._fill_destinations(self.current_pacs(), keep=True)
        self._update_send_enabled()

    def _on_receiver_state(self, text: str) -> None:
        """The receiver's line in the status bar ("" while it is off); a problem is red."""
        self.receiver_label.setText(text)
        self.receiver_label.setVisible(bool(text))
        problem = self.receiver is not None and self.receiver.problem is not None
        self.receiver_label.setStyleSheet("color: #c62828; font-weight: bold;" if problem
                                          else "")
        # said once: the label holds the problem and what to do; no second status message

    def _on_receiver_refused(self, text: str) -> None:
        """Something the receiver refused (disk full, an AE title not allowed): said in the
        status bar and kept in the receiver label's tooltip (the last few)."""
        self.statusBar().showMessage(text, 15000)
        self._refused_lines = [*self._refused_lines[-4:], text]
        self.receiver_label.setToolTip(plain_tooltip("\n".join(self._refused_lines)))

    def test_destination(self) -> PacsManagerDialog | None:
        """Send → Test destination…: ask the chosen PACS whether it knows the chosen
        destination and echo it (the PACS manager's Test destination, started at once)."""
        destination = self.destination_combo.currentData()
        if self.current_pacs() is None or not destination:
            self.statusBar().showMessage("Choose a PACS and a destination first.", 5000)
            return None
        if destination == HERE:  # the doctor against this window's own receiver
            self.test_this_computer()
            return None
        dialog = self.open_pacs_manager()
        dialog.test_destination(destination)
        return dialog

    def test_this_computer(self) -> HereTestDialog | None:
        """Test destination… with This computer chosen: the destination doctor against the
        window's receiver (:mod:`.here_test`); the study selected in the grid is offered as
        the probe, sent only if the person picks it. The test without a probe starts now."""
        pacs = self.current_pacs()
        if pacs is None or self.receiver is None:
            return None
        from dicom_courier.gui.here_test import HereTestDialog

        dialog = HereTestDialog(self.courier, pacs, self.receiver, self)
        picked = self.results_view.selected_matches()
        if len(picked) == 1 and picked[0].get("StudyInstanceUID"):
            dialog.probe_chooser.offer_selected(pacs.name, picked[0].get("StudyInstanceUID"),
                                                study_label(picked[0]).text)
        self._keep(dialog)
        dialog.open()
        dialog.run_test()
        return dialog

    def open_pacs_manager(self) -> PacsManagerDialog:
        from dicom_courier.gui.destination_test import CourierTests
        from dicom_courier.gui.pacs_manager import PacsManagerDialog

        dialog = PacsManagerDialog(self.store, CourierTests(self.courier), self,
                                   select=self.form.pacs_combo.currentText() or None)
        dialog.profiles_changed.connect(lambda: self.reload_profiles())
        pacs, picked = self.current_pacs(), self.results_view.selected_matches()
        if pacs is not None and len(picked) == 1 and picked[0].get("StudyInstanceUID"):
            # a destination test may move one image of it, only if the person picks it
            dialog.probe_chooser.offer_selected(pacs.name, picked[0].get("StudyInstanceUID"),
                                                study_label(picked[0]).text)
        if self.receiver is not None:  # the default allow-list is the profiles' AE titles
            dialog.profiles_changed.connect(self.receiver.profiles_changed)
        self._keep(dialog)
        dialog.open()
        return dialog

    # ------------------------------------------------------------------ search

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _on_search_requested(self, keys: dict[str, str]) -> None:
        if self.current_pacs() is None:
            self.count_label.setText("Choose a PACS first (File → Manage PACS and "
                                     "destinations…)")
            return
        if not keys:
            box = PlainMessageBox(QMessageBox.Icon.Question, "Search everything?",
                              "No search criteria are filled in. This may list every study "
                              "on the PACS (up to the result limit) and take a while.",
                              QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                              self)
            box.setObjectName("confirmEmptySearch")
            box.finished.connect(lambda answer: self._if_yes(answer, self._search_all))
            self._keep(box)
            box.open()
            return
        self._spawn(self.search(keys))

    async def search(self, keys: dict[str, str]) -> None:
        """Run one STUDY-level C-FIND into the grid (:meth:`SearchController.search`); a
        search that found nothing says so in the grid (:mod:`.empty_results`)."""
        searched = self.empty_results.before_search(keys, self.current_pacs())
        remember_form(self)
        self.empty_results.after_search(searched, await self.searches.search(keys))

    def cancel_search(self) -> None:
        """Esc: cancel the running search (C-CANCEL, A-ABORT after the grace)."""
        self.searches.cancel()

    @property
    def _search(self) -> FindOperation | None:
        """The search that owns the grid, None when none runs."""
        return self.searches.running

    def _on_selection_count(self, count: int) -> None:
        self._update_send_enabled(count)

    def _update_send_enabled(self, count: int | None = None) -> None:
        if count is None:
            count = len(self.results_view.selected_matches())
        self.send_action.setEnabled(count > 0 and self.destination_combo.count() > 0)

    # ------------------------------------------------------------------ send

    def send_selection(self) -> None:
        """Send the selected studies to the chosen destination, asking first when it matters."""
        pacs = self.current_pacs()
        matches = self.results_view.selected_matches()
        destination = self.destination_combo.currentData()
        if pacs is None or not matches or not destination:
            self.count_label.setText("Select one or more studies and a destination first.")
            return
        from dicom_courier.gui.send_summary import SendPlan, ask_before_send

        plan = SendPlan(pacs=pacs, destination=destination,
                        destination_label=self.destination_combo.currentText(),
                        matches=tuple(matches))
        questions = send_questions(  # the engine decides; the window only asks
            plan, store=self.history, destinations=self.destination_memory,
            confirm_over=self.settings.confirm_over,
            resend_minutes=self.settings.resend_warning_minutes)
        if not questions:
            self.enqueue(plan)
            return
        # One box; its buttons are the engine's choices ("Send all 5" / "Skip the 2 repeats,
        # send 3") and Cancel (gui.send_summary).
        self._keep(ask_before_send(self, plan, questions, self.enqueue))

    def enqueue(self, plan: SendPlan) -> list[int]:
        """Queue one move per distinct study, by Study Instance UID only: the PACS's own UID,
        sent back verbatim (a non-conformant one with a note in the status bar); a study whose
        UID cannot be sent at all is left out and said so; rows naming a study already chosen
        (a PACS answering one row per image) make no second move, and the note says so."""
        notes = UidNotes()
        picks = [(target, study_label(match)) for match in plan.matches
                 if (target := notes.target(match.get("StudyInstanceUID"),
                                            patient_id=patient_id_of(match))) is not None]
        job_ids = self._submit(plan.pacs, plan.destination, picks)
        message = f"Queued {len(job_ids)} send(s) to {plan.destination_label}."
        self.statusBar().showMessage(notes.status(message), 0 if notes else 5000)
        return job_ids

    def show_series(self, study: FindMatch) -> SeriesDialog | None:
        """Open the study's series (SERIES-level C-FIND) so single series can be sent."""
        pacs = self.current_pacs()
        destination = self.destination_combo.currentData()
        if pacs is None:
            return None
        heading = study_label(study).text  # "patient — date description", as queued
        from dicom_courier.gui.series_dialog import SeriesDialog

        shown = THIS_COMPUTER if destination == HERE else destination  # never "@here"
        dialog = SeriesDialog(study, heading, shown or "(no destination)", self)
        # The PACS and destination of now: the dialog's button names them, and a send from it
        # must not follow the main window's selectors if they change while it is open.
        dialog.send_requested.connect(lambda series: self._enqueue_series_slot(
            dialog, study, series, pacs, destination))
        self._keep(dialog)
        dialog.show()
        # Closing the dialog (Close, Esc, the title bar) cancels its search.
        self._spawn(self.searches.load_series(pacs, study, dialog))
        return dialog

    def enqueue_series(self, study: FindMatch, series: list[FindMatch],
                       pacs: PacsNode | None = None, destination: str | None = None,
                       ) -> list[int]:
        """Queue one move per distinct chosen series (Study + Series Instance UID only), from
        ``pacs`` to ``destination`` (the window's current ones when not given)."""
        if pacs is None:
            pacs = self.current_pacs()
        if destination is None:
            destination = self.destination_combo.currentData()
        if pacs is None or not destination:
            return []
        notes = UidNotes()
        picks = [(target, series_label(study, item)) for item in series
                 if (target := notes.target(study.get("StudyInstanceUID"),
                                            item.get("SeriesInstanceUID"),
                                            patient_id_of(study))) is not None]
        job_ids = self._submit(pacs, destination, picks)
        if notes:
            self.statusBar().showMessage(
                notes.status(f"Queued {len(job_ids)} series send(s) to "
                             f"{THIS_COMPUTER if destination == HERE else destination}."))
        return job_ids

    def _submit(self, pacs: PacsNode, destination: str,
                picks: list[tuple[MoveTarget, JobLabel]]) -> list[int]:
        """Submit one move per (target, label), in order; the ids of the jobs queued.

        A send that cannot be recorded is not sent (:class:`StoreError`): the error is shown
        and the rest of the batch is not submitted either."""
        job_ids = []
        for target, label in picks:
            request = self._move_request(pacs, target, destination)
            try:
                job_ids.append(self.queue.submit(pacs, request, label))
            except StoreError as exc:  # not recorded, so not sent: say why, keep running
                self._show_error(exc)
                break
        return job_ids

    def _move_request(self, pacs: PacsNode, target: MoveTarget,
                      destination: str) -> MoveRequest:
        """The move for ``target`` at the chosen priority (:func:`core.jobs.picked.move_request`:
        the model ``pacs`` accepted last, the other one proposed too)."""
        return move_request(self.model_memory, pacs, target, destination,
                            self.priority_combo.currentData())

    # ------------------------------------------------------------------ durability

    def _report_store_state(self) -> None:
        """After a crash: say so, and offer to resume what was interrupted."""
        if self.history.moved_aside is not None:
            box = PlainMessageBox(QMessageBox.Icon.Warning, "Send history was damaged",
                              "The send history could not be read, so it was moved aside and "
                              f"a new one was started.\n\nThe old file is now:\n"
                              f"{self.history.moved_aside}", parent=self)
            box.setObjectName("storeMovedAside")
            self._keep(box)
            box.open()
        # the engine decides: every send not finished that no process runs
        question = resume_question(offered_for_resume(self.history))
        if question is None:
            return
        unfinished = list(question.jobs)
        box = PlainMessageBox(
            QMessageBox.Icon.Question, question.title, question.text,
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No
            | QMessageBox.StandardButton.Discard, self)
        box.setObjectName("resumeInterrupted")
        box.button(QMessageBox.StandardButton.Yes).setText("&Resume")
        box.button(QMessageBox.StandardButton.No).setText("&Not now")
        box.button(QMessageBox.StandardButton.Discard).setText("&Cancel them")
        box.setDefaultButton(QMessageBox.StandardButton.Yes)
        box.setEscapeButton(QMessageBox.StandardButton.No)
        box.finished.connect(lambda _: self._on_resume_answer(box, unfinished))
        self._keep(box)
        box.open()

    def _on_resume_answer(self, box: QMessageBox, jobs: list[StoredJob]) -> None:
        """Resume, leave (asked again next start) or cancel the unfinished sends."""
        answer = box.standardButton(box.clickedButton()) if box.clickedButton() else None
        if answer == QMessageBox.StandardButton.Yes:
            self.resume_interrupted(jobs)
        elif answer == QMessageBox.StandardButton.Discard:
            try:
                cancelled = self.history.cancel_unfinished(job.id for job in jobs)
            except StoreError as exc:
                self._show_error(exc)
                return
            self.statusBar().showMessage(
                f"{len(cancelled)} unfinished send(s) recorded as cancelled.", 8000)

    def _report_startup_problems(self) -> None:
        """Non-modal warnings: settings values not used, sends that cannot be recorded, and
        history not deleted because of either. The window keeps running."""
        lines = [f"{line}." for line in self.settings_problems]
        if self.retention.skipped:
            lines.append(f"{self.retention.skipped[0].upper()}{self.retention.skipped[1:]}.")
        problem = self.history.problem
        if problem is not None:
            box = PlainMessageBox(QMessageBox.Icon.Warning, "Sends cannot be recorded",
                                  problem.title, parent=self)
            box.setObjectName("storeProblem")
            box.setInformativeText(f"{problem.explanation}\n\nWhat to do: {problem.action}")
            box.setDetailedText("\n".join(f"{k}: {v}" for k, v in problem.details.items()))
            self._show_modeless(box)
        if self.settings_problems:
            box = PlainMessageBox(QMessageBox.Icon.Warning, "Some settings were not used",
                                  f"{self.paths.settings_file} has values DICOM Courier could "
                                  "not use; every other value is kept.", parent=self)
            box.setObjectName("settingsProblems")
            box.setInformativeText("\n".join(lines))
            self._show_modeless(box)

    def _show_modeless(self, box: QMessageBox) -> None:
        """A warning that does not block the window (the user can search while it shows)."""
        box.setWindowModality(Qt.WindowModality.NonModal)
        self._keep(box)
        box.show()

    def resume_interrupted(self, jobs: list[StoredJob]) -> list[int]:
        """Send each unfinished job again, as ``queue run`` does (:mod:`core.jobs.resume`): the
        jobs are taken over first (marked "requeued" in one transaction), then each is queued
        as a new job pointing at it, with its priority, level, UIDs and Patient ID. One that
        cannot be sent again (profile or UID no longer valid) is recorded failed with why."""
        try:
            claimed = take_over(self.history, jobs)
        except StoreError as exc:  # nothing claimed, nothing sent: say why
            self._show_error(exc)
            return []
        nodes = {node.name: node for node in self._nodes}
        job_ids = []
        for job in claimed:
            try:
                plan = resumption_of(job, pacs_for(job, nodes, self.history.pacs_json),
                                     self.model_memory)
                job_ids.append(self.queue.submit(plan.pacs, plan.request, plan.label,
                                                 retry_of=plan.retry_of))
            except StoreError as exc:  # not recorded, so not sent; the rest stay claimed
                self._show_error(exc)
                break
            except CourierError as exc:  # a profile or UID that cannot be used
                self.statusBar().showMessage(f"Cannot resume job {job.id}: {exc.title}")
                with contextlib.suppress(StoreError):
                    record_not_resumable(self.history, job, exc)
        return job_ids

    def _on_job_changed(self, job: JobSnapshot) -> None:
        """A failed or partial send is explained (one dialog per burst, FailureReporter);
        its destination lesson was noted before this (gui.app.compose)."""
        self.failures.report(job)

    def open_history(self) -> HistoryDialog:
        """Every send ever made from this profile: filter, search, export CSV. One window:
        asked again, it is raised; closed, it is deleted with its ``job_changed`` listener."""
        from dicom_courier.gui.history_view import show_history

        return show_history(self, self.history, self.signals.job_changed)

    def _on_store_error(self, error: StoreError) -> None:
        """The job database refused a record: the queue paused itself (nothing unrecorded is
        sent). Show it once per pause, and the paused state in the Queue menu."""
        if self.queue.paused and not self.pause_action.isChecked():
            self.pause_action.setChecked(True)
            self.statusBar().showMessage(
                "Queue paused: sends cannot be recorded. When the problem is fixed, choose "
                "Queue → Pause the queue again to resume.")
            self._show_error(error)
        else:
            self.statusBar().showMessage(f"A finished send could not be recorded yet: "
                                         f"{error.title}", 15000)

    def _toggle_pause(self) -> None:
        """Nothing new starts while paused; running sends go on."""
        if self.pause_action.isChecked():
            self.queue.pause()
            self.statusBar().showMessage("Queue paused: running sends go on, no new one starts.")
        else:
            self.queue.resume()
            self.statusBar().showMessage("Queue resumed.", 5000)

    def _retry_failed_images(self) -> None:
        for job in self.queue_panel.selected_jobs():
            if job.state in (JobState.PARTIAL, JobState.FAILED):
                self._spawn(self.queue.retry_failed_only(job.job_id))

    def _reorder(self, step: int) -> None:
        for job in self.queue_panel.selected_jobs():
            if job.state is JobState.QUEUED:
                (self.queue.move_up if step < 0 else self.queue.move_down)(job.job_id)

    def _clear_finished(self) -> None:
        self.queue.clear_finished()  # the rows go when the queue announces the removal

    def _open_job_folder(self, job_id: int) -> None:
        """A send to this computer's "Open folder": its study folder once something arrived,
        else the receiver's folder (the file manager opens it; nothing is modal)."""
        try:
            job = self.queue.get(job_id)
        except KeyError:
            return
        folder = Path(job.folder) if job.folder else (
            self.receiver.folder if self.receiver is not None else None)
        if folder is None or not folder.is_dir():
            self.statusBar().showMessage(
                f"Nothing was received for this send yet{f' (in {folder})' if folder else ''}.",
                8000)
            return
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder))):
            self.statusBar().showMessage(f"No file manager could open {folder}.", 8000)

    def _show_job_details(self, job_id: int) -> None:
        try:
            job = self.queue.get(job_id)
        except KeyError:
            return
        self.failures.show_details(job)

    # ------------------------------------------------------------------ misc

    def _keep(self, widget: QWidget) -> None:
        """Hold a reference to a non-modal dialog until it closes."""
        self._dialogs.append(widget)
        widget.finished.connect(lambda *_: self._forget(widget))  # type: ignore[attr-defined]

    def _forget(self, widget: QWidget) -> None:
        if widget in self._dialogs:
            self._dialogs.remove(widget)

    @staticmethod
    def _if_yes(answer: int, action: Callable[[], object]) -> None:
        if answer == QMessageBox.StandardButton.Yes:
            action()

    def _search_all(self) -> None:
        self._spawn(self.search({}))

    def _cancel_jobs(self, job_ids: list[int]) -> None:
        for job_id in job_ids:
            self.queue.cancel(job_id)

    def _retry_as_offered(self, job_id: int) -> None:
        """A failure dialog's Retry: what its button said (the failed images only, or all)."""
        retry_as_offered(self.queue, job_id, self._spawn)

    def _retry_jobs(self, job_ids: list[int]) -> None:
        for job_id in job_ids:
            self.queue.retry(job_id)

    def _enqueue_series_slot(self, dialog: SeriesDialog, study: FindMatch,
                             series: list[FindMatch], pacs: PacsNode,
                             destination: str | None) -> None:
        """The series dialog's Send: the same checks as a send from the grid (the destination
        the PACS refused last time; the study already queued, running or sent there lately),
        asked over the dialog; the size question is left out (it counts whole studies)."""
        if not destination:
            dialog.show_queued(0)
            return
        from dicom_courier.gui.send_summary import SendPlan, ask_before_send

        def send(_plan: SendPlan) -> None:
            dialog.show_queued(len(self.enqueue_series(study, series, pacs, destination)))

        plan = SendPlan(pacs=pacs, destination=destination, destination_label=destination,
                        matches=(study,))
        questions = [question for question in send_questions(
            plan, store=self.history, destinations=self.destination_memory,
            confirm_over=self.settings.confirm_over,
            resend_minutes=self.settings.resend_warning_minutes)
            if question.kind is not CheckKind.LARGE_SEND]
        if not questions:
            send(plan)
            return
        self._keep(ask_before_send(dialog, plan, questions, send))

    def _show_error(self, error: CourierError) -> None:
        box = PlainMessageBox(QMessageBox.Icon.Warning, "DICOM Courier", error.title, parent=self)
        box.setObjectName("errorBox")
        box.setInformativeText(f"{error.explanation}\n\nWhat to do: {error.action}")
        box.setDetailedText("\n".join(f"{k}: {v}" for k, v in error.details.items()))
        self._keep(box)
        box.open()

    def _about(self) -> None:
        from dicom_courier import __version__

        box = PlainMessageBox(QMessageBox.Icon.Information, "About DICOM Courier",
                          f"DICOM Courier {__version__}\nFind studies on a PACS and send them "
                          "to a workstation.", parent=self)
        self._keep(box)
        box.open()

    async def shutdown(self) -> None:
        """Cancel the search and every queued or running send (those the person left to
        resume stay interrupted: :mod:`.quit_dialog`), then stop the worker pool."""
        self.searches.abort()
        await self.queue.close()
        if self.receiver is not None:  # after the queue: its sends to here are over
            self.receiver.close()
        for task in list(self._tasks):
            task.cancel()
        self.courier.close(wait=False)
        self.history.close()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.quit_guard.holds(event):  # sends running or waiting: asked first (quit_dialog)
            return
        save_layout(self, self.results_view, self.paths.config_dir)
        remember_form(self)
        super().closeEvent(event)
