"""A context menu that acts on a view's selected rows, however it was asked for.

Seen before this module: the keyboard Menu key put Qt's keyboard position (the current cell's
rectangle in *viewport* coordinates, delivered in the *view's* coordinates, so one header
height lower) through ``indexAt``, and "Show series" opened the study of the row *below* the
selected one; Shift+F10 opened nothing. Here the menu never asks which row is at a point:

- a right click first selects the row under the pointer when that row is not selected (as
  every file manager does; a right click inside a selection keeps the selection), then the
  menu opens at the pointer;
- the Menu key, Shift+F10 and a platform's keyboard context-menu event open it at the
  current row when it is selected, else at the first selected row (scrolled into view), or at
  the top of the list when nothing is selected;
- the menu's actions read the view's selection when they run.

Runs on: the GUI thread.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QItemSelectionModel, QModelIndex, QObject, QPoint, QRect, Qt
from PySide6.QtGui import QContextMenuEvent, QKeyEvent
from PySide6.QtWidgets import QAbstractItemView, QMenu

_KEYPAD = Qt.KeyboardModifier.KeypadModifier


def is_menu_key(event: QKeyEvent) -> bool:
    """True for the keys that open a context menu from the keyboard: Menu and Shift+F10."""
    modifiers = event.modifiers() & ~_KEYPAD
    if event.key() == Qt.Key.Key_Menu:
        return modifiers == Qt.KeyboardModifier.NoModifier
    return (event.key() == Qt.Key.Key_F10
            and modifiers == Qt.KeyboardModifier.ShiftModifier)


def selected_rows(view: QAbstractItemView) -> list[int]:
    """The view's selected rows (its model's row numbers), top to bottom, from the ranges."""
    rows: set[int] = set()
    for selection_range in view.selectionModel().selection():
        rows.update(range(selection_range.top(), selection_range.bottom() + 1))
    return sorted(rows)


def keyboard_anchor(view: QAbstractItemView) -> QModelIndex:
    """The cell a keyboard-opened menu belongs to: the current cell if its row is selected,
    else the first selected row's cell in the current column; invalid when nothing is
    selected."""
    current = view.currentIndex()
    rows = selected_rows(view)
    if current.isValid() and current.row() in rows:
        return current
    if not rows:
        return QModelIndex()
    column = current.column() if current.isValid() else 0
    return view.model().index(rows[0], max(column, 0))


def keyboard_menu_position(view: QAbstractItemView) -> QPoint:
    """Global position for a keyboard-opened menu: the bottom edge, in the middle, of the
    visible part of :func:`keyboard_anchor`'s cell (scrolled into view first), so the menu
    does not hide the patient it is for; else near the viewport's top left."""
    viewport = view.viewport()
    anchor = keyboard_anchor(view)
    if anchor.isValid():
        view.scrollTo(anchor)
        visible = view.visualRect(anchor).intersected(viewport.rect())
        if not visible.isEmpty():  # just under the row's middle: the row stays readable
            return viewport.mapToGlobal(QPoint(visible.center().x(), visible.bottom()))
    return viewport.mapToGlobal(QRect(0, 0, 16, 16).center())


class SelectionMenu(QObject):
    """Opens ``menu`` for ``view``'s selection: right click, the Menu key, Shift+F10 and a
    keyboard QContextMenuEvent (an event filter on the view and its viewport).

    ``about_to_open`` (optional callable) runs before each popup, e.g. to enable the actions
    for the selection. The menu opens with ``popup`` (non-modal: safe under qasync).
    """

    def __init__(self, view: QAbstractItemView, menu: QMenu,
                 about_to_open: Callable[[], None] | None = None) -> None:
        super().__init__(view)
        self.view = view
        self.menu = menu
        self._about_to_open = about_to_open
        # Qt delivers context-menu events (not the custom-menu signal, whose point has no
        # agreed coordinate system between mouse and keyboard).
        view.setContextMenuPolicy(Qt.ContextMenuPolicy.DefaultContextMenu)
        view.installEventFilter(self)
        view.viewport().installEventFilter(self)

    def open_from_keyboard(self) -> QPoint:
        """Open the menu at the selected row (see :func:`keyboard_menu_position`); returns
        the global position used."""
        position = keyboard_menu_position(self.view)
        self._popup(position)
        return position

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind == QEvent.Type.ContextMenu and isinstance(event, QContextMenuEvent):
            if event.reason() == QContextMenuEvent.Reason.Mouse:
                self._select_row_under(event.globalPos())
                self._popup(event.globalPos())
            else:  # keyboard or other: its position is not a row to act on
                self.open_from_keyboard()
            event.accept()
            return True
        if (kind == QEvent.Type.KeyPress and watched is self.view
                and isinstance(event, QKeyEvent) and is_menu_key(event)):
            self.open_from_keyboard()
            event.accept()
            return True
        return super().eventFilter(watched, event)

    def _select_row_under(self, global_pos: QPoint) -> None:
        """A right click on a row that is not selected selects it (alone), as the press
        normally has already; a click inside the selection keeps it."""
        viewport = self.view.viewport()
        index = self.view.indexAt(viewport.mapFromGlobal(global_pos))
        if not index.isValid():
            return
        model = self.view.selectionModel()
        if model.isRowSelected(index.row(), index.parent()):
            return
        flags = (QItemSelectionModel.SelectionFlag.ClearAndSelect
                 | QItemSelectionModel.SelectionFlag.Rows)
        model.setCurrentIndex(index, flags)

    def _popup(self, position: QPoint) -> None:
        if self._about_to_open is not None:
            self._about_to_open()
        self.menu.popup(position)
