"""PACS profiles: edit them with inline validation, test the values as typed, save for the CLI too.

The rules come from :mod:`dicom_courier.core.config.profiles` (the ``validate_*`` functions and
:class:`PacsNode` itself), so the window can never accept what the command line would refuse,
and each message names the field and the rule. Edits live in drafts until Save, which writes the
same ``nodes.json`` the CLI reads, atomically, through :class:`NodeStore`. The drafts and their
check are in :mod:`dicom_courier.gui.profile_draft`, the destinations table's model in
:mod:`dicom_courier.gui.destinations_model`; this module is the dialog.

"Test" runs what ``dicom-courier nodes test`` runs, with the UNSAVED values in the editor
(people test before they commit a change): a C-ECHO, then a C-FIND probe (an echo alone passes
for a calling AE title that Orthanc refuses at query time), each step listed with its result
and time. "Test destination" asks the PACS whether it knows the selected destination (a probe
C-MOVE that moves nothing) and echoes the destination at its address, then shows the verdict
with its confidence. Both run on the engine's DIMSE workers through :class:`NodeTests`
(:mod:`.destination_test`), awaited on the qasync loop (never blocking the GUI thread), each
step capped by our own deadline; Stop cancels a running test. The dialog keeps strong
references to its tasks, and nothing here calls ``exec()`` (questions are asked inline),
because nested event loops fail under qasync ("Cannot enter into task").
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import shiboken6
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from dicom_courier.core.config.profile_store import NodeStore
from dicom_courier.core.config.profiles import Destination, PacsNode
from dicom_courier.core.config.retrieve_method import RetrieveMethod
from dicom_courier.core.dimse.diagnose import Check, Verdict
from dicom_courier.core.outcome.errors import CourierError
from dicom_courier.gui.destination_test import (
    DestinationTestPanel,
    NodeTests,
    ProbeChooser,
    StepsView,
    destination_of,
    summary_of,
)
from dicom_courier.gui.destinations_model import DestinationColumn, DestinationsModel
from dicom_courier.gui.plain_text import make_plain, plain_tooltip
from dicom_courier.gui.profile_draft import (
    CONNECTION_KEYS,
    EchoStatus,
    ProfileDraft,
    Validation,
    validate_draft,
)
from dicom_courier.gui.tls_box import TlsBox

LOGGER = logging.getLogger(__name__)

_INVALID_STYLE = "border: 1px solid #c62828; background: #fff3f3;"  # as in the query form
_ERROR_COLOR = "#c62828"
_OK_COLOR = "#2e7d32"


@dataclass(frozen=True)
class _FieldSpec:
    key: str
    label: str
    object_name: str
    placeholder: str = ""
    tip: str = ""


#: How the editor shows each of the draft's fields (``profile_draft.FIELD_KEYS``), in that order.
_FIELDS = (
    _FieldSpec("name", "Profile name", "pacsName", "e.g. Main PACS",
               "How this PACS is listed here and named on the command line (--pacs)."),
    _FieldSpec("called_aet", "PACS AE title (called)", "pacsCalledAet", "e.g. ORTHANC",
               "The PACS's own AE title, as its administrator configured it (1-16 characters)."),
    _FieldSpec("host", "Host", "pacsHost", "e.g. pacs.hospital.local or 10.0.0.5"),
    _FieldSpec("port", "Port", "pacsPort", "e.g. 104 or 11112",
               "The PACS's DICOM port (not its web port)."),
    _FieldSpec("calling_aet", "Our AE title (calling)", "pacsCallingAet", "e.g. COURIER",
               "The AE title the PACS knows this computer by; the PACS must allow it."),
    _FieldSpec("connect", "Connect", "pacsConnectTimeout", "seconds",
               "How long to wait for the PACS to accept the connection."),
    _FieldSpec("idle", "Idle", "pacsIdleTimeout", "seconds",
               "How long the PACS may stay silent during a search or send."),
    _FieldSpec("total", "Total deadline", "pacsTotalDeadline", "none",
               "Optional cap on a whole search or send, in seconds; blank for none."),
    _FieldSpec("tls_ca", "CA file", "pacsTlsCa", "",
               "PEM file of the CA(s) that sign the PACS's certificate; blank: the CAs this "
               "computer trusts."),
    _FieldSpec("tls_cert", "Client certificate", "pacsTlsCert", "",
               "Our certificate (PEM), for a PACS that requires one."),
    _FieldSpec("tls_key", "Client key", "pacsTlsKey", "",
               "The private key of the client certificate (PEM, no password)."),
)
_SPEC = {spec.key: spec for spec in _FIELDS}
#: The retrieve methods as the editor offers them (issue 13 §2).
RETRIEVE_WORDS = {
    RetrieveMethod.MOVE: "C-MOVE (the PACS sends to our receiver)",
    RetrieveMethod.GET: "C-GET (over our own connection)",
    RetrieveMethod.AUTO: "Automatic (C-MOVE; C-GET if the PACS does not know us)",
}


# --------------------------------------------------------------------------- the dialog


class PacsManagerDialog(QDialog):
    """Add, duplicate, remove, edit, test and save PACS profiles. Non-modal; no ``exec()``."""

    #: the profiles file was written; the window reloads its PACS choices
    profiles_changed = Signal()
    #: a Test ended: passed, and the text shown next to the button
    connection_tested = Signal(bool, str)
    #: a Test destination ended: the verdict's text as shown
    destination_tested = Signal(str)

    def __init__(self, store: NodeStore, tests: NodeTests, parent: QWidget | None = None,
                 select: str | None = None) -> None:
        """``tests`` runs the admin's tests (:class:`~.destination_test.CourierTests` over
        the window's Courier); ``select`` names the profile shown first."""
        super().__init__(parent)
        self.setObjectName("pacsManager")
        self.setWindowTitle("PACS profiles")
        self.setModal(False)
        self.resize(960, 660)  # fits a 1366x768 screen; the editor scrolls
        self._store = store
        self._tests = tests
        self._steps: dict[ProfileDraft, tuple[Check, ...]] = {}  # each draft's last Test
        self._running: asyncio.Future[None] | None = None
        self._stop_requested = False
        self._drafts: list[ProfileDraft] = []
        self._removed: list[str] = []
        self._current: ProfileDraft | None = None
        self._testing: ProfileDraft | None = None
        self._tasks: set[asyncio.Future[None]] = set()
        self._loading = False
        self._file_readable = True
        self._confirm_action: Callable[[], None] | None = None
        self._build_widgets()
        self._build_layout()
        self.finished.connect(self._cancel_tests)
        self._reload(select)

    # ------------------------------------------------------------------ construction

    def _build_widgets(self) -> None:
        self.profile_list = QListWidget(objectName="pacsProfileList")
        self.profile_list.setAccessibleName("PACS profiles")
        self.profile_list.currentRowChanged.connect(self._on_profile_selected)
        self.add_button = QPushButton("A&dd", objectName="pacsAdd")
        self.add_button.clicked.connect(self.add_profile)
        self.duplicate_button = QPushButton("Dup&licate", objectName="pacsDuplicate")
        self.duplicate_button.clicked.connect(self.duplicate_profile)
        self.remove_button = QPushButton("Remo&ve…", objectName="pacsRemove")
        self.remove_button.clicked.connect(self._on_remove_clicked)

        self.fields: dict[str, QLineEdit] = {}
        for spec in _FIELDS:
            edit = QLineEdit(objectName=spec.object_name)
            edit.setAccessibleName(spec.label)
            edit.setPlaceholderText(spec.placeholder)
            edit.setToolTip(spec.tip)
            edit.textChanged.connect(lambda text, key=spec.key: self._on_field_changed(key, text))
            self.fields[spec.key] = edit
        for key in ("port", "connect", "idle", "total"):
            self.fields[key].setMaximumWidth(110)

        self.tls_box = TlsBox(self.fields["tls_ca"], self.fields["tls_cert"],
                              self.fields["tls_key"])
        self.retrieve_combo = QComboBox(objectName="pacsRetrieve")
        self.retrieve_combo.setAccessibleName("Retrieve to this computer with")
        for method, words in RETRIEVE_WORDS.items():
            self.retrieve_combo.addItem(words, method)
        self.retrieve_combo.setToolTip(
            "How a study you send to \u201cThis computer\u201d gets here. C-MOVE: the PACS "
            "sends to our receiver, so it must know our AE title, address and port. C-GET: "
            "the PACS sends over our own connection (nothing to configure on the PACS). "
            "Automatic: C-MOVE, and C-GET when the PACS answers that it does not know us.")
        self.retrieve_combo.currentIndexChanged.connect(self._on_retrieve_changed)
        self.tls_box.switches_changed.connect(self._on_tls_switched)

        self.test_button = QPushButton("Test", objectName="pacsTest")
        self.test_button.setToolTip("With the values above, saved or not: a C-ECHO, then a "
                                    "C-FIND that matches nothing (may our AE title search?).")
        self.test_button.clicked.connect(self._on_test_clicked)
        self.stop_test_button = QPushButton("Stop", objectName="pacsTestStop")
        self.stop_test_button.setToolTip("Stop the running test (its association is aborted).")
        self.stop_test_button.clicked.connect(self.stop_test)
        self.stop_test_button.hide()
        self.test_steps = StepsView("pacsTestSteps")
        self.test_steps.hide()
        self.test_status = QLabel(objectName="pacsTestStatus")
        self.test_status.setWordWrap(True)
        self.test_status.setTextFormat(Qt.TextFormat.PlainText)
        # Reserve the row's height so the form does not jump when a result appears.
        self.test_status.setMinimumHeight(self.test_button.sizeHint().height())

        self.destinations_model = DestinationsModel(self)
        self.destinations_model.edited.connect(self._on_destinations_edited)
        self.destinations_view = QTableView(objectName="pacsDestinations")
        self.destinations_view.setModel(self.destinations_model)
        self.destinations_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.destinations_view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        # Tab leaves the table for its buttons (arrows move between cells; F2 edits a cell)
        self.destinations_view.setTabKeyNavigation(False)
        header = self.destinations_view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        # "Can be queried" (issue 13) beside the address it queries, in sight at the
        # dialog's own size; the label comes last and takes the rest.
        header.setMinimumSectionSize(50)
        header.setDefaultSectionSize(60)
        header.moveSection(header.visualIndex(DestinationColumn.QUERYABLE),
                           header.visualIndex(DestinationColumn.PORT) + 1)
        queried = header.fontMetrics().horizontalAdvance(
            str(self.destinations_model.headerData(DestinationColumn.QUERYABLE,
                                                   Qt.Orientation.Horizontal))) + 24
        for column, width in ((DestinationColumn.AE_TITLE, 120), (DestinationColumn.HOST, 120),
                              (DestinationColumn.PORT, 60), (DestinationColumn.QUERYABLE, queried)):
            self.destinations_view.setColumnWidth(column, width)
        self.destinations_view.selectionModel().selectionChanged.connect(self._update_buttons)
        self.add_destination_button = QPushButton("&Add", objectName="pacsDestinationAdd")
        self.add_destination_button.clicked.connect(self.add_destination)
        self.remove_destination_button = QPushButton("Re&move",
                                                     objectName="pacsDestinationRemove")
        self.remove_destination_button.clicked.connect(self._on_remove_destination)
        self.up_button = QPushButton("Move u&p", objectName="pacsDestinationUp")
        self.up_button.clicked.connect(lambda: self._move_destination(-1))
        self.down_button = QPushButton("Move do&wn", objectName="pacsDestinationDown")
        self.down_button.clicked.connect(lambda: self._move_destination(+1))
        self.test_destination_button = QPushButton("&Test destination",
                                                   objectName="pacsDestinationTest")
        self.test_destination_button.setToolTip(
            "Ask the PACS whether it knows the selected destination (a probe move that moves "
            "nothing) and echo the destination at its address, if it has one.")
        self.test_destination_button.clicked.connect(self._on_test_destination_clicked)
        self.destination_test = DestinationTestPanel()
        self.probe_chooser = ProbeChooser()  # nothing is sent unless a person picks a study
        self.stop_destination_test_button = QPushButton("St&op",
                                                        objectName="pacsDestinationTestStop")
        self.stop_destination_test_button.clicked.connect(self.stop_test)
        self.stop_destination_test_button.hide()

        self.error_label = QLabel(objectName="pacsErrors")
        self.error_label.setStyleSheet(f"color: {_ERROR_COLOR};")
        self.error_label.setWordWrap(True)
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)
        self.error_label.hide()
        self.file_error_label = make_plain(QLabel(objectName="pacsFileError"))
        self.file_error_label.setStyleSheet(f"color: {_ERROR_COLOR};")
        self.file_error_label.setWordWrap(True)
        self.file_error_label.hide()

        self.confirm_bar = QFrame(objectName="pacsConfirm")
        self.confirm_bar.setFrameShape(QFrame.Shape.StyledPanel)
        self.confirm_label = make_plain(QLabel(objectName="pacsConfirmText"))  # names a profile
        self.confirm_label.setWordWrap(True)
        self.confirm_button = QPushButton(objectName="pacsConfirmYes")
        self.confirm_button.clicked.connect(self._on_confirmed)
        self.confirm_cancel_button = QPushButton(objectName="pacsConfirmNo")
        self.confirm_cancel_button.clicked.connect(self._hide_confirm)
        self.confirm_bar.hide()

        self.save_button = QPushButton("&Save", objectName="pacsSave")
        self.save_button.setDefault(True)
        self.save_button.clicked.connect(self.save)
        self.close_button = QPushButton("&Close", objectName="pacsClose")
        self.close_button.setAutoDefault(False)
        self.close_button.clicked.connect(self.reject)

    def _build_layout(self) -> None:
        left = QVBoxLayout()
        left.addWidget(QLabel("Profiles"))
        left.addWidget(self.profile_list, 1)
        profile_buttons = QHBoxLayout()
        for button in (self.add_button, self.duplicate_button, self.remove_button):
            profile_buttons.addWidget(button)
        left.addLayout(profile_buttons)

        connection = QFormLayout()
        connection.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        for key in ("name", "called_aet", "host", "port", "calling_aet"):
            connection.addRow(_SPEC[key].label, self.fields[key])
        retrieve_label = QLabel("&Retrieve to this computer with")
        retrieve_label.setBuddy(self.retrieve_combo)
        connection.addRow(retrieve_label, self.retrieve_combo)
        test_row = QHBoxLayout()
        test_row.addWidget(self.test_button)
        test_row.addWidget(self.stop_test_button)
        test_row.addWidget(self.test_status, 1)
        connection.addRow("", test_row)
        connection.addRow("", self.test_steps)
        connection_box = QGroupBox("Connection")
        connection_box.setLayout(connection)

        timeouts = QHBoxLayout()
        for key in ("connect", "idle", "total"):
            timeouts.addWidget(QLabel(_SPEC[key].label))
            timeouts.addWidget(self.fields[key])
            timeouts.addWidget(QLabel("s"))
            timeouts.addSpacing(12)
        timeouts.addStretch(1)
        timeouts_box = QGroupBox("Timeouts")
        timeouts_box.setLayout(timeouts)

        destination_buttons = QVBoxLayout()
        for button in (self.add_destination_button, self.remove_destination_button,
                       self.up_button, self.down_button, self.test_destination_button,
                       self.stop_destination_test_button):
            destination_buttons.addWidget(button)
        destination_buttons.addStretch(1)
        destinations = QHBoxLayout()
        destinations.addWidget(self.destinations_view, 1)
        destinations.addLayout(destination_buttons)
        destinations_column = QVBoxLayout()
        destinations_column.addLayout(destinations, 1)
        destinations_column.addWidget(self.probe_chooser)
        destinations_column.addWidget(self.destination_test)
        destinations_box = QGroupBox("Destinations (the first is the default)")
        destinations_box.setLayout(destinations_column)

        self.editor = QWidget(objectName="pacsEditor")
        editor = QVBoxLayout(self.editor)
        editor.setContentsMargins(0, 0, 0, 0)
        editor.addWidget(connection_box)
        editor.addWidget(self.tls_box)
        editor.addWidget(timeouts_box)
        editor.addWidget(destinations_box, 1)
        editor.addWidget(self.error_label)

        # The editor scrolls (the dialog fits a 1366x768 screen, issue 13 review): Tab into
        # a control below the fold scrolls it into sight (QScrollArea.focusNextPrevChild).
        self.editor_scroll = QScrollArea(objectName="pacsEditorScroll")
        self.editor_scroll.setWidget(self.editor)
        self.editor_scroll.setWidgetResizable(True)
        self.editor_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.editor_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        columns = QHBoxLayout()
        columns.addLayout(left, 1)
        columns.addWidget(self.editor_scroll, 3)

        confirm = QHBoxLayout(self.confirm_bar)
        confirm.addWidget(self.confirm_label, 1)
        confirm.addWidget(self.confirm_button)
        confirm.addWidget(self.confirm_cancel_button)

        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.save_button)
        buttons.addWidget(self.close_button)

        outer = QVBoxLayout(self)
        outer.addLayout(columns, 1)
        outer.addWidget(self.file_error_label)
        outer.addWidget(self.confirm_bar)
        outer.addLayout(buttons)

    # ------------------------------------------------------------------ profiles

    def profile_names(self) -> list[str]:
        return [d.display_name for d in self._drafts]

    def current_draft(self) -> ProfileDraft | None:
        return self._current

    def select_profile(self, name: str) -> bool:
        for row, draft in enumerate(self._drafts):
            if draft.display_name.casefold() == name.strip().casefold():
                self.profile_list.setCurrentRow(row)
                return True
        return False

    def has_unsaved_changes(self) -> bool:
        return bool(self._removed) or any(d.modified for d in self._drafts)

    def _reload(self, select: str | None = None) -> None:
        """Read the profiles file afresh; an unreadable file is shown and never overwritten."""
        statuses = {d.display_name.casefold(): d.echo_status for d in self._drafts}
        try:
            nodes = self._store.load()
        except CourierError as exc:
            nodes = []
            self._file_readable = False
            self.file_error_label.setText(f"{exc.title} {exc.action}")
            self.file_error_label.setToolTip(plain_tooltip(exc.render()))
        else:
            self._file_readable = True
        self.file_error_label.setVisible(not self._file_readable)
        self._drafts = [ProfileDraft.from_node(n) for n in nodes]
        for draft in self._drafts:
            draft.echo_status = statuses.get(draft.display_name.casefold())
        self._removed = []
        self._fill_list(0)
        if select is not None:
            self.select_profile(select)

    def _fill_list(self, row: int) -> None:
        self.profile_list.blockSignals(True)
        self.profile_list.clear()
        for _draft in self._drafts:
            self.profile_list.addItem(QListWidgetItem())
        self.profile_list.blockSignals(False)
        self._refresh_list()
        row = min(row, len(self._drafts) - 1)
        self.profile_list.setCurrentRow(row)
        if row < 0:
            self._on_profile_selected(-1)

    def _refresh_list(self) -> None:
        """List entries: the name, "*" if unsaved, red if the profile breaks a rule."""
        for row, draft in enumerate(self._drafts):
            item = self.profile_list.item(row)
            unsaved = draft.modified or draft.original_name is None
            item.setText(draft.display_name + (" *" if unsaved else ""))
            problems = validate_draft(draft, self._other_names(draft)).messages()
            item.setForeground(QBrush(QColor(_ERROR_COLOR)) if problems else QBrush())
            item.setToolTip(plain_tooltip("\n".join(problems) if problems else
                                          ("Not saved yet" if unsaved else "")))

    def _other_names(self, draft: ProfileDraft) -> set[str]:
        return {d.values["name"].strip().casefold() for d in self._drafts if d is not draft}

    def _unique_name(self, base: str) -> str:
        taken = {d.values["name"].strip().casefold() for d in self._drafts}
        name, number = base, 2
        while name.casefold() in taken:
            name, number = f"{base} {number}", number + 1
        return name

    def add_profile(self) -> ProfileDraft:
        draft = ProfileDraft.blank(self._unique_name("New PACS"))
        self._drafts.append(draft)
        self._fill_list(len(self._drafts) - 1)
        self.fields["name"].setFocus()
        self.fields["name"].selectAll()
        return draft

    def duplicate_profile(self) -> ProfileDraft | None:
        if self._current is None:
            return None
        draft = self._current.duplicate(self._unique_name(f"{self._current.display_name} copy"))
        self._drafts.append(draft)
        self._fill_list(len(self._drafts) - 1)
        return draft

    def _on_remove_clicked(self) -> None:
        draft = self._current
        if draft is None:
            return
        self._ask(f"Remove the profile \u201c{draft.display_name}\u201d? It is deleted from the "
                  "settings file when you press Save.", "Remove", "Keep",
                  lambda: self.remove_profile(draft))

    def remove_profile(self, draft: ProfileDraft) -> None:
        """Drop ``draft`` (already confirmed); the file changes on Save."""
        if draft not in self._drafts:
            return
        row = self._drafts.index(draft)
        self._drafts.remove(draft)
        if draft.original_name is not None:
            self._removed.append(draft.original_name)
        self._fill_list(max(0, row - 1) if row >= len(self._drafts) else row)

    def _on_profile_selected(self, row: int) -> None:
        self._current = self._drafts[row] if 0 <= row < len(self._drafts) else None
        self._loading = True
        try:
            for key, edit in self.fields.items():
                edit.setText(self._current.values[key] if self._current else "")
            self.destinations_model.set_rows(self._current.destinations if self._current else [])
            self.tls_box.set_state(self._current.tls_enabled if self._current else False,
                                   self._current.tls_verify if self._current else True)
            self.retrieve_combo.setCurrentIndex(max(0, self.retrieve_combo.findData(
                self._current.retrieve if self._current else RetrieveMethod.MOVE)))
        finally:
            self._loading = False
        self._show_echo_status(self._current.echo_status if self._current else None)
        self.probe_chooser.set_pacs(self._current.original_name or "" if self._current else "")
        if self._running is None:
            self.destination_test.clear()  # it was about another profile's destination
        self._revalidate()

    # ------------------------------------------------------------------ editing

    def _on_field_changed(self, key: str, text: str) -> None:
        if self._loading or self._current is None:
            return
        self._current.values[key] = text
        self._current.modified = True
        if key in CONNECTION_KEYS and self._current.echo_status is not None:
            self._current.echo_status = None  # it tested other values
            self._show_echo_status(None)
        self._revalidate()

    def _on_retrieve_changed(self, _index: int) -> None:
        if self._loading or self._current is None:
            return
        self._current.retrieve = RetrieveMethod(self.retrieve_combo.currentData())  # Qt: str
        self._current.modified = True
        self._revalidate()

    def _on_tls_switched(self) -> None:
        if self._loading or self._current is None:
            return
        self._current.tls_enabled = self.tls_box.tls_enabled
        self._current.tls_verify = self.tls_box.verify
        self._current.modified = True
        if self._current.echo_status is not None:
            self._current.echo_status = None  # it tested other settings
            self._show_echo_status(None)
        self._revalidate()

    def _on_destinations_edited(self) -> None:
        if self._current is not None and not self._loading:
            self._current.modified = True
            self._revalidate()

    def add_destination(self) -> None:
        if self._current is None:
            return
        row = self.destinations_model.add_row()
        index = self.destinations_model.index(row, DestinationColumn.AE_TITLE)
        self.destinations_view.setCurrentIndex(index)
        self.destinations_view.edit(index)

    def _selected_destination(self) -> int | None:
        rows = self.destinations_view.selectionModel().selectedRows()
        return rows[0].row() if rows else None

    def _on_remove_destination(self) -> None:
        row = self._selected_destination()
        if row is not None:
            self.destinations_model.remove_row(row)

    def _move_destination(self, delta: int) -> None:
        row = self._selected_destination()
        if row is not None:
            moved = self.destinations_model.move_row(row, delta)
            self.destinations_view.selectRow(moved)

    def _revalidate(self) -> Validation | None:
        """Mark every invalid field with its rule and enable Save/Test only when they can work."""
        draft = self._current
        check = validate_draft(draft, self._other_names(draft)) if draft else Validation()
        for key, edit in self.fields.items():
            message = check.field_errors.get(key)
            edit.setStyleSheet(_INVALID_STYLE if message else "")
            edit.setToolTip(plain_tooltip(message or _SPEC[key].tip))
        self.destinations_model.set_errors(check.cell_errors)
        messages = check.messages()
        others = [d.display_name for d in self._drafts if d is not draft
                  and not validate_draft(d, self._other_names(d)).ok]
        if others:
            messages.append("Also to fix before saving: " + ", ".join(others) + ".")
        self.error_label.setText("\n".join(messages))
        self.error_label.setVisible(bool(messages))
        self._refresh_list()
        self._update_buttons()
        return check if draft else None

    def _update_buttons(self) -> None:
        draft = self._current
        all_valid = all(validate_draft(d, self._other_names(d)).ok for d in self._drafts)
        self.save_button.setEnabled(self._file_readable and all_valid)
        self.save_button.setToolTip(
            "" if self.save_button.isEnabled() else
            "Fix the fields marked in red first." if self._file_readable else
            "The settings file cannot be read; it is not overwritten.")
        self.editor.setEnabled(draft is not None)
        self.duplicate_button.setEnabled(draft is not None)
        self.remove_button.setEnabled(draft is not None)
        self.add_button.setEnabled(self._file_readable)
        echo_ready = draft is not None and validate_draft(
            draft, self._other_names(draft)).echo_node is not None
        self.test_button.setEnabled(echo_ready and self._testing is None)
        selected = self._selected_destination()
        self.test_destination_button.setEnabled(
            echo_ready and self._testing is None and selected is not None
            and destination_of(self.destinations_model.rows()[selected]) is not None)
        count = self.destinations_model.rowCount()
        self.remove_destination_button.setEnabled(selected is not None)
        self.up_button.setEnabled(selected is not None and selected > 0)
        self.down_button.setEnabled(selected is not None and selected < count - 1)

    # ------------------------------------------------------------------ inline questions

    def _ask(self, question: str, yes: str, no: str, action: Callable[[], None]) -> None:
        """Ask inline (a bar above the buttons), never with a nested event loop."""
        self._confirm_action = action
        self.confirm_label.setText(question)
        self.confirm_button.setText(yes)
        self.confirm_cancel_button.setText(no)
        self.confirm_bar.show()
        self.confirm_cancel_button.setFocus()

    def _on_confirmed(self) -> None:
        action, self._confirm_action = self._confirm_action, None
        self.confirm_bar.hide()
        if action is not None:
            action()

    def _hide_confirm(self) -> None:
        self._confirm_action = None
        self.confirm_bar.hide()

    def reject(self) -> None:
        """Close; unsaved edits are not thrown away without asking (inline)."""
        if self.has_unsaved_changes():
            if self._confirm_action != self._discard_and_close:  # not asked yet
                self._ask("Close without saving your changes?", "Discard changes",
                          "Keep editing", self._discard_and_close)
            return
        self._hide_confirm()
        super().reject()

    def _discard_and_close(self) -> None:
        self._reload()  # shown again later, the dialog starts from the file
        QDialog.reject(self)

    # ------------------------------------------------------------------ saving

    def save(self) -> bool:
        """Write every profile through NodeStore (atomic); profiles added elsewhere are kept."""
        checks = [(d, validate_draft(d, self._other_names(d))) for d in self._drafts]
        if not self._file_readable or not all(check.ok for _d, check in checks):
            return False
        try:
            fresh = self._store.load()
        except CourierError as exc:
            self._show_file_error(exc.title, exc.action)
            return False
        fresh_by_name = {n.name.casefold(): n for n in fresh}
        managed = {name.casefold() for name in self._removed}
        ours: list[PacsNode] = []
        for draft, check in checks:
            assert check.node is not None
            original = (draft.original_name or "").casefold()
            managed.add(original)
            # A profile nobody touched here keeps what the CLI may have written meanwhile.
            ours.append(check.node if draft.modified or original not in fresh_by_name
                        else fresh_by_name[original])
        names = {n.name.casefold() for n in ours}
        kept = [n for n in fresh if n.name.casefold() not in managed | names]
        try:
            self._store.save([*ours, *kept])
        except OSError as exc:
            self._show_file_error(f"The settings file {self._store.path} could not be written: "
                                  f"{exc.strerror or exc}.", "Check the disk and its permissions.")
            return False
        current = self._current.display_name if self._current else None
        self._reload(current)
        self._hide_confirm()
        self.profiles_changed.emit()
        return True

    def _show_file_error(self, title: str, action: str) -> None:
        self.file_error_label.setText(f"{title} {action}")
        self.file_error_label.show()

    # ------------------------------------------------------------------ testing

    def _start(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self._running = task
        self._stop_requested = False

    def stop_test(self) -> None:
        """Stop the running test (Test or Test destination): its association is aborted."""
        if self._running is not None and not self._running.done():
            self._stop_requested = True
            self._running.cancel()

    def _on_test_clicked(self) -> None:
        draft = self._current
        if draft is None or self._testing is not None:
            return
        node = validate_draft(draft, self._other_names(draft)).echo_node
        if node is None:
            return
        self._start(self._run_test(draft, node))

    def _set_testing(self, draft: ProfileDraft | None, stop: QPushButton) -> None:
        """Enter (``draft``) or leave (None) the testing state; ``stop`` is the Stop shown."""
        self._testing = draft
        if draft is None:
            self._running = None
        if not shiboken6.isValid(self):
            return  # the dialog was closed and deleted meanwhile
        stop.setVisible(draft is not None)
        stop.setEnabled(draft is not None)
        self.test_button.setText("Testing…" if draft is not None and
                                 stop is self.stop_test_button else "Test")
        self._update_buttons()

    async def _run_test(self, draft: ProfileDraft, node: PacsNode) -> None:
        """Thin async slot: run the PACS's checks, listing each as it is answered."""
        tested = {key: draft.values[key] for key in CONNECTION_KEYS}
        self._set_testing(draft, self.stop_test_button)
        self._show_echo_status(EchoStatus(True, f"Contacting {node.host}:{node.port}…"),
                               pending=True)
        self.test_steps.clear()
        self.test_steps.show()
        checks: list[Check] = []
        stopped = False
        try:
            async for check in self._tests.pacs(node):
                checks.append(check)
                if shiboken6.isValid(self) and draft is self._current:
                    self.test_steps.add_check(check)
            status = self._status_of(node, checks)
        except asyncio.CancelledError:
            stopped = True
            status = EchoStatus(False, "Stopped: the test did not finish" + (
                f" (after {checks[-1].step})." if checks else "."),
                "You stopped the test; its association was aborted.")
        except CourierError as exc:  # a step that reported instead of answering
            status = EchoStatus(False, exc.title,
                                f"{exc.explanation}\n\nWhat to do: {exc.action}".strip())
        except Exception as exc:  # a bug, not a network fault: say so and keep the dialog alive
            LOGGER.exception("The connection test failed unexpectedly")
            status = EchoStatus(False, f"The test failed unexpectedly: {exc}",
                                "Please send the log file to support.")
        finally:
            self._set_testing(None, self.stop_test_button)
        self._steps[draft] = tuple(checks)
        if tested == {key: draft.values[key] for key in CONNECTION_KEYS}:
            draft.echo_status = status  # still describes the values in the editor
        if shiboken6.isValid(self):
            if draft is self._current:
                self._show_echo_status(draft.echo_status)
            self.connection_tested.emit(status.ok, status.text)
        if stopped and not self._stop_requested:
            raise asyncio.CancelledError  # the dialog closed: let the task end cancelled

    @staticmethod
    def _status_of(node: PacsNode, checks: list[Check]) -> EchoStatus:
        """The line next to the button, and its tooltip, for a finished PACS test."""
        passed, text = summary_of(checks)
        failed = next((c for c in checks if c.verdict is Verdict.FAILED), None)
        if failed is not None and failed.error is not None:
            error = failed.error
            return EchoStatus(False, text, f"{failed.question}\n{error.title}\n\n"
                              f"{error.explanation}\n\nWhat to do: {error.action}".strip())
        if not passed:
            return EchoStatus(False, text, "")
        return EchoStatus(True, f"{text} — verified {time.strftime('%H:%M:%S')}",
                          f"{node.called_aet} at {node.host}:{node.port} answered the C-ECHO "
                          f"of {node.calling_aet} and let it search (a C-FIND that matches "
                          "nothing).")

    def test_destination(self, ae_title: str) -> bool:
        """Select the destination ``ae_title`` of the profile shown and test it (as its Test
        destination button does); False if the profile has no such destination."""
        for row, cells in enumerate(self.destinations_model.rows()):
            dest = destination_of(cells)
            if dest is not None and dest.ae_title == ae_title:
                self.destinations_view.selectRow(row)
                self._on_test_destination_clicked()
                return True
        return False

    def _on_test_destination_clicked(self) -> None:
        draft, row = self._current, self._selected_destination()
        if draft is None or row is None or self._testing is not None:
            return
        node = validate_draft(draft, self._other_names(draft)).echo_node
        dest = destination_of(self.destinations_model.rows()[row])
        if node is None or dest is None:
            return
        probe = self.probe_chooser.probe_study()
        if probe is None and self.probe_chooser.wants_probe():  # chosen, but not usable
            self.destination_test.show_problem(
                self.probe_chooser.problem() or "Choose the probe study first, or No probe.")
            return
        self._start(self._run_destination_test(draft, node, dest, probe))

    async def _run_destination_test(self, draft: ProfileDraft, node: PacsNode,
                                    dest: Destination, probe: str | None = None) -> None:
        """Thin async slot: ask the PACS about ``dest``, echo ``dest`` and, only with a
        ``probe`` study the person chose, move its smallest instance there and check that it
        arrived; show each step and the verdict."""
        self._set_testing(draft, self.stop_destination_test_button)
        self.destination_test.show_running(dest.ae_title, probe=probe is not None)
        text, stopped = "", False
        try:
            result = await (self._tests.destination(node, dest) if probe is None else
                            self._tests.destination(node, dest, probe_study=probe))
        except asyncio.CancelledError:
            stopped = True
            text = f"Stopped: the test of {dest.ae_title} did not finish."
            if shiboken6.isValid(self):
                self.destination_test.show_problem(text)
        except Exception as exc:  # a bug, not a network fault: say so and keep the dialog alive
            LOGGER.exception("The destination test failed unexpectedly")
            text = f"The test failed unexpectedly: {exc}"
            if shiboken6.isValid(self):
                self.destination_test.show_problem(text)
        else:
            text = result.verdict.text
            if shiboken6.isValid(self):
                self.destination_test.show_result(result)
                self._show_in_editor(self.destination_test)
        finally:
            self._set_testing(None, self.stop_destination_test_button)
        if shiboken6.isValid(self):
            self.destination_tested.emit(text)
        if stopped and not self._stop_requested:
            raise asyncio.CancelledError

    def _show_in_editor(self, widget: QWidget) -> None:
        """Scroll the editor so ``widget`` (a test's result) is in sight once laid out."""
        def scroll() -> None:
            if shiboken6.isValid(self) and shiboken6.isValid(widget):
                self.editor_scroll.ensureWidgetVisible(widget, 0, 0)

        QTimer.singleShot(0, self, scroll)

    def _show_echo_status(self, status: EchoStatus | None, *, pending: bool = False) -> None:
        if status is None:
            self.test_status.clear()
            self.test_status.setToolTip("")
            self.test_steps.clear()
            self.test_steps.hide()
            return
        color = "palette(placeholder-text)" if pending else (
            _OK_COLOR if status.ok else _ERROR_COLOR)
        self.test_status.setStyleSheet(f"color: {color};")
        self.test_status.setText(status.text)
        self.test_status.setToolTip(plain_tooltip(status.tooltip))
        if not pending:
            checks = self._steps.get(self._current) if self._current else None
            self.test_steps.show_checks(checks or ())
            self.test_steps.setVisible(bool(checks))

    def _cancel_tests(self) -> None:
        for task in list(self._tasks):
            task.cancel()
