"""A study's series (a SERIES-level C-FIND), so a person can send just the series they need.

Non-modal: it opens at once with "Searching…", fills in when the PACS answers, and asks the
main window to queue the chosen series (by Study and Series Instance UID only), from the PACS
and to the destination the dialog was opened with (its Send button names it), whatever the
main window's selectors show by then. Keyboard: Tab leaves the table for the buttons, and the
first Down (or Up) with nothing selected selects the FIRST series, as in the results grid.
"""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from dicom_courier.core.outcome.errors import CourierError
from dicom_courier.core.qr.distinct import count_answers
from dicom_courier.core.qr.query import FindMatch, QueryLevel
from dicom_courier.gui.plain_text import cell_text, plain_label

_COLUMNS = (("Series", "SeriesNumber"), ("Modality", "Modality"),
            ("Description", "SeriesDescription"), ("Images", "NumberOfSeriesRelatedInstances"))


class _SeriesTable(QTableWidget):
    """The series list: Tab leaves it (no cell-to-cell Tab trap), and Down or Up with nothing
    selected selects the first row (Qt made row 0 current, unselected, when the table got
    focus, so the first Down selected the SECOND series)."""

    def __init__(self, rows: int, columns: int) -> None:
        super().__init__(rows, columns, objectName="seriesTable")
        self.setTabKeyNavigation(False)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        plain = (event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
                 ) == Qt.KeyboardModifier.NoModifier
        if (plain and event.key() in (Qt.Key.Key_Down, Qt.Key.Key_Up)
                and not self.selectionModel().hasSelection() and self.rowCount()):
            self.selectionModel().setCurrentIndex(
                self.model().index(0, 0), QItemSelectionModel.SelectionFlag.ClearAndSelect
                | QItemSelectionModel.SelectionFlag.Rows)
            event.accept()
            return
        super().keyPressEvent(event)


class SeriesDialog(QDialog):
    """Lists the series of one study; ``send_requested(list[FindMatch])`` for the chosen ones."""

    send_requested = Signal(list)

    def __init__(self, study: FindMatch, study_text: str, destination: str,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("seriesDialog")
        self.setWindowTitle("Series of the study")
        self.study = study
        self._series: list[FindMatch] = []
        self.heading = plain_label(study_text)  # names a patient and a study: data
        self.heading.setWordWrap(True)
        self.status = plain_label("Searching the PACS for the series…")
        self.table = _SeriesTable(0, len(_COLUMNS))
        self.table.setHorizontalHeaderLabels([title for title, _ in _COLUMNS])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setStretchLastSection(False)
        self.table.setColumnWidth(2, 260)
        self.table.itemSelectionChanged.connect(self._update_button)
        # Send made before Close: Tab goes table → Send → Close, in reading order.
        self.buttons = QDialogButtonBox()
        self.send_button = self.buttons.addButton(
            f"Send selected series to {destination.replace('&', '&&')}",  # no mnemonic
            QDialogButtonBox.ButtonRole.ActionRole)
        self.send_button.setObjectName("sendSeriesButton")
        self.send_button.setEnabled(False)
        self.send_button.clicked.connect(self._on_send)
        self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)
        # Enter in the table closes, as before: only Send itself (focused, or clicked) sends.
        self.buttons.button(QDialogButtonBox.StandardButton.Close).setDefault(True)
        self.resize(620, 360)

    def show_series(self, series: list[FindMatch]) -> None:
        """Fill the table with the PACS's answers (sorted by series number)."""
        def number(match: FindMatch) -> int:
            text = match.get("SeriesNumber").strip()
            return int(text) if text.lstrip("-").isdigit() else 1_000_000

        self._series = sorted(series, key=number)
        self.table.setRowCount(len(self._series))
        for row, match in enumerate(self._series):
            for column, (_, keyword) in enumerate(_COLUMNS):
                item = QTableWidgetItem(cell_text(match.get(keyword)))
                if keyword.startswith("Number"):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, column, item)
        note = count_answers(self._series, QueryLevel.SERIES).note()  # one row per image
        found = f"{len(self._series)} series" if note is None else note
        self.status.setText(f"{found}. Select one or more and send them.")

    def show_error(self, error: CourierError) -> None:
        self.status.setText(f"The series could not be listed: {error.title} {error.action}")
        self.status.setStyleSheet("color: #c62828;")

    def show_cancelled(self, received: int) -> None:
        """The search was cancelled (the dialog closed while it ran): nothing to choose from."""
        self.status.setText(f"Search cancelled after {received} answer(s): the list is "
                            "incomplete. Open the study's series again to list them.")

    def selected_series(self) -> list[FindMatch]:
        rows = sorted({index.row() for index in self.table.selectedIndexes()})
        return [self._series[row] for row in rows]

    def _update_button(self) -> None:
        self.send_button.setEnabled(bool(self.selected_series()))

    def show_queued(self, count: int) -> None:
        """Say how many series sends the window really queued (none: nothing was sent)."""
        self.status.setText(f"Queued {count} series." if count else
                            "Nothing was queued: no destination was chosen when this list "
                            "opened, or the send could not be recorded.")

    def _on_send(self) -> None:
        chosen = self.selected_series()
        if chosen:
            self.send_requested.emit(chosen)  # the window answers with show_queued
