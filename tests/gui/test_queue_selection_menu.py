"""Issue 11 §2 in the move queue: its menu (right click, Menu key, Shift+F10) and Enter act
on the SELECTED sends, never on a row computed from a point."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QContextMenuEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from dicom_courier.gui.queue_model import QueueColumn
from dicom_courier.gui.queue_panel import QueuePanel
from tests.gui.test_queue_panel import sample_jobs

pytestmark = pytest.mark.qt_log_ignore("This plugin does not support")

#: row -> (job id, the menu action that applies, the signal it sends)
ROWS = {0: (1, "cancel"), 1: (2, "cancel"), 5: (6, "details")}


@pytest.fixture
def panel(qtbot: QtBot) -> QueuePanel:
    panel = QueuePanel()
    qtbot.addWidget(panel)
    for job in sample_jobs():
        panel.model.apply(job)
    panel.resize(1100, 300)
    panel.show()
    qtbot.waitExposed(panel)
    return panel


def centre(panel: QueuePanel, row: int) -> QPoint:
    return panel.view.visualRect(panel.proxy.index(row, QueueColumn.STATUS)).center()


def click(panel: QueuePanel, row: int) -> None:
    QTest.mouseClick(panel.view.viewport(), Qt.MouseButton.LeftButton, pos=centre(panel, row))


def assert_acts_on(panel: QueuePanel, qtbot: QtBot, row: int) -> None:
    job_id, kind = ROWS[row]
    assert panel.row_menu.isVisible()
    if kind == "cancel":
        assert not panel.details_menu_action.isEnabled()
        with qtbot.waitSignal(panel.cancel_requested, timeout=1000) as sent:
            panel.cancel_menu_action.trigger()
        assert sent.args == [[job_id]]
    else:
        assert not panel.cancel_menu_action.isEnabled()
        with qtbot.waitSignal(panel.details_requested, timeout=1000) as sent:
            panel.details_menu_action.trigger()
        assert sent.args == [job_id]
    panel.row_menu.hide()


@pytest.mark.parametrize("key", ["menu", "shift+f10"])
@pytest.mark.parametrize("row", list(ROWS))
def test_keyboard_menu_acts_on_the_selected_send(panel: QueuePanel, qtbot: QtBot, row: int,
                                                 key: str) -> None:
    click(panel, row)
    if key == "menu":
        QTest.keyClick(panel.view, Qt.Key.Key_Menu)
    else:
        QTest.keyClick(panel.view, Qt.Key.Key_F10, Qt.KeyboardModifier.ShiftModifier)
    rect = panel.view.visualRect(panel.proxy.index(row, 0))
    top = panel.view.viewport().mapToGlobal(rect.topLeft()).y()
    assert top <= panel.row_menu.pos().y() <= top + rect.height()
    assert_acts_on(panel, qtbot, row)


@pytest.mark.parametrize("row", list(ROWS))
def test_right_click_selects_the_send_then_acts_on_it(panel: QueuePanel, qtbot: QtBot,
                                                     row: int) -> None:
    click(panel, 3)  # another send selected first
    at = panel.view.viewport().mapTo(panel.window(), centre(panel, row))
    QTest.mouseClick(panel.window().windowHandle(), Qt.MouseButton.RightButton, pos=at)
    assert [job.job_id for job in panel.selected_jobs()] == [ROWS[row][0]]
    assert_acts_on(panel, qtbot, row)


def test_platform_keyboard_menu_event_is_not_a_point(panel: QueuePanel, qtbot: QtBot) -> None:
    click(panel, 1)
    pos = panel.view.inputMethodQuery(Qt.InputMethodQuery.ImCursorRectangle).center()
    QApplication.sendEvent(panel.view, QContextMenuEvent(
        QContextMenuEvent.Reason.Keyboard, pos, panel.view.mapToGlobal(pos)))
    assert_acts_on(panel, qtbot, 1)


def test_enter_on_an_unselected_current_row_shows_nothing(panel: QueuePanel,
                                                          qtbot: QtBot) -> None:
    click(panel, 4)  # partial: has details
    QTest.keyClick(panel.view, Qt.Key.Key_Down, Qt.KeyboardModifier.ControlModifier)
    assert panel.view.currentIndex().row() == 5
    assert [job.job_id for job in panel.selected_jobs()] == [5]
    with qtbot.assertNotEmitted(panel.details_requested, wait=50):
        QTest.keyClick(panel.view, Qt.Key.Key_Return)
    QTest.keyClick(panel.view, Qt.Key.Key_Up, Qt.KeyboardModifier.ControlModifier)
    with qtbot.waitSignal(panel.details_requested, timeout=1000) as details:
        QTest.keyClick(panel.view, Qt.Key.Key_Return)
    assert details.args == [5]
