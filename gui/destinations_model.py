"""The destinations table of the PACS manager: a Qt table model over a profile's draft rows.

Split from :mod:`dicom_courier.gui.pacs_manager` so the dialog module holds only the dialog:
this model keeps raw text per cell (what a person typed, valid or not) and shows the errors
:func:`dicom_courier.gui.profile_draft.validate_draft` found, cell by cell.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QWidget

from dicom_courier.core.config.profiles import PacsNode
from dicom_courier.core.outcome.arrival import HERE, THIS_COMPUTER
from dicom_courier.gui.plain_text import plain_tooltip

_ERROR_COLOR = "#c62828"  # as in the PACS manager's error labels
_ROOT = QModelIndex()
_ModelIndex = QModelIndex | QPersistentModelIndex


def picker_entries(pacs: PacsNode | None, *, here: bool) -> list[tuple[str, str]]:
    """The main window's destination picker: (shown text, destination) for each of
    ``pacs``'s destinations, the default first, then "This computer" (:data:`HERE`) when
    ``here`` (the built-in receiver is turned on)."""
    entries = [(dest.display_name, dest.ae_title)
               for dest in (pacs.destinations if pacs is not None else ())]
    if here and pacs is not None:
        entries.append((THIS_COMPUTER, HERE))
    return entries


class DestinationColumn(IntEnum):
    AE_TITLE = 0
    HOST = 1
    PORT = 2
    LABEL = 3
    QUERYABLE = 4  # a check box: the arrival check may C-FIND the destination (issue 13 §3)


#: The text of a row's QUERYABLE cell when it is checked ("" when not).
QUERYABLE = "yes"
_DESTINATION_HEADERS = ("AE title", "Host", "Port", "Label", "Can be queried")
_DESTINATION_TIPS = (
    "The AE title the PACS knows the destination by (it must be in the PACS's node list).",
    "Optional: where the destination listens (for your reference and tests).",
    "Optional: the destination's DICOM port.",
    "Optional: a name people recognise, e.g. \"Reading room 3\".",
    "Checked: the destination answers C-FIND at its host and port, so after each send "
    "Courier asks it how many images arrived (the arrival check). Space toggles it.",
)


class DestinationsModel(QAbstractTableModel):
    """The destinations of the profile being edited: raw text per cell, errors per cell.

    The rows are the draft's own list, edited in place. ``edited`` fires only for a person's
    changes (not for error markings), so validating on it cannot loop.
    """

    edited = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._rows: list[list[str]] = []
        self._errors: dict[tuple[int, int], str] = {}

    def set_rows(self, rows: list[list[str]]) -> None:
        self.beginResetModel()
        self._rows = rows
        self._errors = {}
        self.endResetModel()

    def rows(self) -> list[list[str]]:
        return [list(row) for row in self._rows]

    def set_errors(self, errors: dict[tuple[int, int], str]) -> None:
        touched = self._errors.keys() | errors.keys()
        self._errors = dict(errors)
        for row, column in touched:
            if row < len(self._rows):
                index = self.index(row, column)
                self.dataChanged.emit(index, index, [Qt.ItemDataRole.BackgroundRole,
                                                     Qt.ItemDataRole.ToolTipRole])

    def rowCount(self, parent: _ModelIndex = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _ModelIndex = _ROOT) -> int:
        return 0 if parent.isValid() else len(DestinationColumn)

    def data(self, index: _ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        key = (index.row(), index.column())
        if index.column() == DestinationColumn.QUERYABLE:
            if role == Qt.ItemDataRole.CheckStateRole:
                return (Qt.CheckState.Checked if self._cell(index) == QUERYABLE
                        else Qt.CheckState.Unchecked)
            if role == Qt.ItemDataRole.AccessibleTextRole:
                return "can be queried" if self._cell(index) == QUERYABLE else "not queried"
            if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole):
                return None
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole):
            return self._rows[index.row()][index.column()]
        if role == Qt.ItemDataRole.ToolTipRole:
            return plain_tooltip(self._errors.get(key, _DESTINATION_TIPS[index.column()]))
        if role == Qt.ItemDataRole.BackgroundRole and key in self._errors:
            return QBrush(QColor("#ffebee"))
        if role == Qt.ItemDataRole.ForegroundRole and key in self._errors:
            return QBrush(QColor(_ERROR_COLOR))
        return None

    def _cell(self, index: _ModelIndex) -> str:
        row = self._rows[index.row()]
        return row[index.column()] if index.column() < len(row) else ""

    def setData(self, index: _ModelIndex, value: Any,
                role: int = Qt.ItemDataRole.EditRole) -> bool:
        if not index.isValid():
            return False
        if index.column() == DestinationColumn.QUERYABLE:
            if role != Qt.ItemDataRole.CheckStateRole:
                return False
            checked = Qt.CheckState(value) == Qt.CheckState.Checked if isinstance(
                value, (int, Qt.CheckState)) else bool(value)
            row = self._rows[index.row()]
            row.extend([""] * (len(DestinationColumn) - len(row)))
            row[DestinationColumn.QUERYABLE] = QUERYABLE if checked else ""
            self.dataChanged.emit(index, index)
            self.edited.emit()
            return True
        if role != Qt.ItemDataRole.EditRole:
            return False
        self._rows[index.row()][index.column()] = "" if value is None else str(value)
        self.dataChanged.emit(index, index)
        self.edited.emit()
        return True

    def flags(self, index: _ModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        if index.column() == DestinationColumn.QUERYABLE:
            return (Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
                    | Qt.ItemFlag.ItemIsUserCheckable)
        return (Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
                | Qt.ItemFlag.ItemIsEditable)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role != Qt.ItemDataRole.DisplayRole and role != Qt.ItemDataRole.ToolTipRole:
            return None
        if orientation is Qt.Orientation.Horizontal:
            if not 0 <= section < len(DestinationColumn):
                return None
            if role == Qt.ItemDataRole.ToolTipRole:
                return _DESTINATION_TIPS[section]
            return _DESTINATION_HEADERS[section]
        if role == Qt.ItemDataRole.ToolTipRole:
            return "Sends go here unless you pick another." if section == 0 else None
        return "Default" if section == 0 else str(section + 1)

    def add_row(self) -> int:
        row = len(self._rows)
        self.beginInsertRows(_ROOT, row, row)
        self._rows.append(["", "", "", "", ""])
        self.endInsertRows()
        self.edited.emit()
        return row

    def remove_row(self, row: int) -> None:
        if not 0 <= row < len(self._rows):
            return
        self.beginRemoveRows(_ROOT, row, row)
        del self._rows[row]
        self.endRemoveRows()
        self._header_changed()
        self.edited.emit()

    def move_row(self, row: int, delta: int) -> int:
        """Move ``row`` up (-1) or down (+1); returns where it ended up."""
        target = row + delta
        if not (0 <= row < len(self._rows) and 0 <= target < len(self._rows)):
            return row
        # Qt's destination is "insert before this row" in the model as it was.
        self.beginMoveRows(_ROOT, row, row, _ROOT, target + 1 if delta > 0 else target)
        self._rows.insert(target, self._rows.pop(row))
        self.endMoveRows()
        self._header_changed()
        self.edited.emit()
        return target

    def _header_changed(self) -> None:
        if self._rows:
            self.headerDataChanged.emit(Qt.Orientation.Vertical, 0, len(self._rows) - 1)
