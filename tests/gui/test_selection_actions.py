"""Issue 11 §2/§3: every action of the results grid acts on the SELECTED study.

Seen: the keyboard Menu key opened the menu for the row below the selected one ("Show series"
on one patient opened the next patient's study); Shift+F10 opened nothing; the first Down
selected the second row. Driven with real key and mouse events; where offscreen Qt does not
turn a key or a click into a QContextMenuEvent itself, the event Qt sends is sent as Qt would.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QContextMenuEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMainWindow, QMenu

from dicom_courier.gui.column_fit import fit_widths
from dicom_courier.gui.results_model import Column, Role
from dicom_courier.gui.results_view import ResultsView
from dicom_courier.gui.window_layout import restore_layout, save_layout
from tests.gui.test_results_model import filled_model

if TYPE_CHECKING:
    from pytestqt.qtbot import QtBot

#: The offscreen platform cannot grab the keyboard for a popup menu, and says so.
pytestmark = pytest.mark.qt_log_ignore("This plugin does not support", "propagateSizeHints")

LAST = 3  # four sample studies


@pytest.fixture
def view(qtbot: QtBot) -> ResultsView:
    results_view = ResultsView(filled_model())
    qtbot.addWidget(results_view)
    results_view.resize(1200, 400)
    results_view.show()
    qtbot.waitExposed(results_view)
    return results_view


def menu_of(view: ResultsView) -> QMenu:
    """The rows' context menu (the view's only QMenu)."""
    menu = view.findChild(QMenu)
    assert menu is not None
    return menu


def patient_id(view: ResultsView, row: int) -> str:
    return view.proxy.index(row, 0).data(Role.MATCH_ROLE).get("PatientID")


def row_centre(view: ResultsView, row: int, column: Column = Column.DESCRIPTION) -> QPoint:
    """The middle of a cell, in viewport coordinates."""
    return view.visualRect(view.proxy.index(row, column)).center()


def global_row_span(view: ResultsView, row: int) -> tuple[int, int]:
    rect = view.visualRect(view.proxy.index(row, 0))
    top = view.viewport().mapToGlobal(rect.topLeft()).y()
    return top, top + rect.height()


def select_by_click(view: ResultsView, row: int) -> None:
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=row_centre(view, row))


def menu_key(view: ResultsView) -> None:
    QTest.keyClick(view, Qt.Key.Key_Menu)


def shift_f10(view: ResultsView) -> None:
    QTest.keyClick(view, Qt.Key.Key_F10, Qt.KeyboardModifier.ShiftModifier)


def platform_keyboard_event(view: ResultsView) -> None:
    """What Qt sends for the Menu key on X11: a Keyboard QContextMenuEvent to the focus widget
    (the view, not its viewport) at the current cell's input-method rectangle, which is in
    VIEWPORT coordinates: one header height above the row if taken as the view's."""
    pos = view.inputMethodQuery(Qt.InputMethodQuery.ImCursorRectangle).center()
    event = QContextMenuEvent(QContextMenuEvent.Reason.Keyboard, pos, view.mapToGlobal(pos))
    QApplication.sendEvent(view, event)


KEYBOARD_WAYS = {"menu key": menu_key, "shift+f10": shift_f10,
                 "platform keyboard event": platform_keyboard_event}


def assert_menu_acts_on(view: ResultsView, qtbot: QtBot, row: int) -> None:
    """The menu is open; Show series opens row's study; Send sends exactly row's study."""
    menu = menu_of(view)
    assert menu.isVisible()
    assert view.expand_action.isEnabled() and view.send_action.isEnabled()
    with qtbot.waitSignal(view.expand_requested, timeout=1000) as expanded:
        view.expand_action.trigger()
    assert expanded.args[0].get("PatientID") == patient_id(view, row)
    with qtbot.waitSignal(view.send_requested, timeout=1000):
        view.send_action.trigger()
    assert [m.get("PatientID") for m in view.selected_matches()] == [patient_id(view, row)]
    menu.hide()


@pytest.mark.parametrize("way", list(KEYBOARD_WAYS))
@pytest.mark.parametrize("row", [0, 1, LAST])
def test_keyboard_menu_opens_at_and_acts_on_the_selected_row(
        view: ResultsView, qtbot: QtBot, row: int, way: str) -> None:
    view.setFocus()
    select_by_click(view, row)
    KEYBOARD_WAYS[way](view)
    top, bottom = global_row_span(view, row)
    assert top <= menu_of(view).pos().y() <= bottom  # at the selected row, not below
    assert_menu_acts_on(view, qtbot, row)


@pytest.mark.parametrize("row", [0, 1, LAST])
def test_right_click_selects_the_row_then_acts_on_it(view: ResultsView, qtbot: QtBot,
                                                    row: int) -> None:
    select_by_click(view, 2 if row != 2 else 0)  # another row is selected first
    # Through the window, as the platform delivers it: the press selects the row, and Qt
    # itself turns the right press into a Mouse QContextMenuEvent on the viewport.
    at = view.viewport().mapTo(view.window(), row_centre(view, row))
    QTest.mouseClick(view.window().windowHandle(), Qt.MouseButton.RightButton, pos=at)
    assert menu_of(view).isVisible()
    assert [m.get("PatientID") for m in view.selected_matches()] == [patient_id(view, row)]
    assert_menu_acts_on(view, qtbot, row)


def test_right_click_inside_a_selection_keeps_it(view: ResultsView, qtbot: QtBot) -> None:
    select_by_click(view, 0)
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton,
                     Qt.KeyboardModifier.ShiftModifier, row_centre(view, 2))
    pos = row_centre(view, 1)
    QTest.mousePress(view.viewport(), Qt.MouseButton.RightButton, pos=pos)
    QApplication.sendEvent(view.viewport(), QContextMenuEvent(
        QContextMenuEvent.Reason.Mouse, pos, view.viewport().mapToGlobal(pos)))
    assert menu_of(view).isVisible()
    assert not view.expand_action.isEnabled()  # series of one study at a time
    with qtbot.waitSignal(view.send_requested, timeout=1000):
        view.send_action.trigger()
    assert [m.get("PatientID") for m in view.selected_matches()] == [
        patient_id(view, r) for r in (0, 1, 2)]
    menu_of(view).hide()


def test_menu_with_nothing_selected_offers_nothing(view: ResultsView) -> None:
    menu_key(view)
    assert menu_of(view).isVisible()
    assert not any(a.isEnabled() for a in (view.send_action, view.expand_action,
                                           view.copy_action))
    menu_of(view).hide()


def test_first_down_selects_the_first_row_and_enter_opens_its_series(
        view: ResultsView, qtbot: QtBot) -> None:
    view.activateWindow()
    qtbot.waitActive(view)
    view.setFocus(Qt.FocusReason.TabFocusReason)  # as Tab from the Search button does
    assert QApplication.focusWidget() is view
    QTest.keyClick(view, Qt.Key.Key_Down)
    assert [m.get("PatientID") for m in view.selected_matches()] == [patient_id(view, 0)]
    with qtbot.waitSignal(view.expand_requested, timeout=1000) as expanded:
        QTest.keyClick(view, Qt.Key.Key_Return)
    assert expanded.args[0].get("PatientID") == patient_id(view, 0)
    QTest.keyClick(view, Qt.Key.Key_Down)  # later Downs move on as usual
    assert [m.get("PatientID") for m in view.selected_matches()] == [patient_id(view, 1)]


@pytest.mark.parametrize("row", [0, 1, LAST])
def test_double_click_opens_the_series_of_that_study(view: ResultsView, qtbot: QtBot,
                                                     row: int) -> None:
    pos = row_centre(view, row)
    with qtbot.waitSignal(view.expand_requested, timeout=1000) as expanded:
        QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=pos)
        QTest.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    assert expanded.args[0].get("PatientID") == patient_id(view, row)


def test_columns_fit_a_narrow_grid_until_a_person_resizes_one(view: ResultsView) -> None:
    view.resize(990, 400)
    QApplication.processEvents()
    header = view.horizontalHeader()
    images = Column.INSTANCE_COUNT
    assert header.sectionViewportPosition(images) + header.sectionSize(images) \
        <= view.viewport().width()
    assert view.horizontalScrollBar().maximum() == 0
    assert header.sectionSize(Column.STUDY_DATE_TIME) >= view.fontMetrics().horizontalAdvance(
        "0000-00-00 00:00")  # dates keep their width; names give it up
    view.auto_fit_columns = False  # what a drag on a column edge does
    header.resizeSection(Column.DESCRIPTION, 400)
    view.resize(1000, 400)
    QApplication.processEvents()
    assert header.sectionSize(Column.DESCRIPTION) == 400


@pytest.mark.parametrize(("available", "expected"), [
    (1000, {0: 300, 1: 100, 2: 200}),  # everything fits: natural widths
    (500, {0: 200, 1: 100, 2: 200}),  # the shrinkable column gives up what it can
    (400, {0: 200, 1: 100, 2: 200}),  # minimums do not fit: the grid scrolls
])
def test_fit_widths_shrinks_only_what_may_shrink(available: int,
                                                 expected: dict[int, int]) -> None:
    assert fit_widths({0: 300, 1: 100, 2: 200}, {0: 200}, available) == expected


def test_fit_widths_shares_the_cut_and_never_overflows() -> None:
    widths = fit_widths({0: 301, 1: 203, 2: 99}, {0: 101, 1: 103}, 450)
    assert sum(widths.values()) <= 450
    assert widths[2] == 99 and widths[0] > 101 and widths[1] > 103


@pytest.mark.parametrize("resized_by_hand", [False, True])
def test_fitting_or_a_persons_widths_survive_a_restart(qtbot: QtBot, tmp_path: Path,
                                                       resized_by_hand: bool) -> None:
    def window_with_grid() -> tuple[QMainWindow, ResultsView]:
        window = QMainWindow()
        qtbot.addWidget(window)
        grid = ResultsView(filled_model())
        window.setCentralWidget(grid)
        window.resize(1024, 500)
        return window, grid

    window, grid = window_with_grid()
    if resized_by_hand:
        grid.auto_fit_columns = False  # what a drag on a column edge does
        grid.horizontalHeader().resizeSection(Column.DESCRIPTION, 400)
    save_layout(window, grid, tmp_path)

    window, grid = window_with_grid()
    restore_layout(window, grid, tmp_path)
    window.resize(1024, 500)  # the first window was never shown: its saved size is Qt's
    window.show()
    qtbot.waitExposed(window)
    header = grid.horizontalHeader()
    assert grid.auto_fit_columns is not resized_by_hand
    if resized_by_hand:
        assert header.sectionSize(Column.DESCRIPTION) == 400
    else:
        assert grid.horizontalScrollBar().maximum() == 0
