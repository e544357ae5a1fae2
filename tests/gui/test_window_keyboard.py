"""Issue 11 §2/§3/§8 in the real window over the demo PACS, with real key and mouse events:
focus and Tab order, "Down, Ctrl+Enter" sends the FIRST row's study, a double click opens
that study's series, the Menu key acts on the selected row, every column fits at 1024×700,
and the status-bar hint never covers the result count."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMenu, QMessageBox, QWidget
from pytestqt.qtbot import QtBot

from dicom_courier.core.config.profile_store import NodeStore
from dicom_courier.core.config.profiles import Destination
from dicom_courier.gui import create_main_window
from dicom_courier.gui.app import DEMO_PROFILE, start_demo_peers
from dicom_courier.gui.main_window import MainWindow
from dicom_courier.gui.query_form import DatePreset
from dicom_courier.gui.results_model import Column, Role
from dicom_courier.gui.series_dialog import SeriesDialog
from tests.gui.waiting import until

pytestmark = [pytest.mark.network,
              pytest.mark.qt_log_ignore("propagateSizeHints", "raise",
                                        "This plugin does not support")]

DEMO_HINT = ("Demo: search, select a study, press Send. Received files go to "
             "/home/technologist/.local/share/dicom-courier/demo-profile/workstation")


@pytest.fixture
def window(qtbot: QtBot, qasync_loop: Any, tmp_path: Path, run_async: Any
           ) -> Iterator[MainWindow]:
    with ExitStack() as stack:
        node = start_demo_peers(stack, tmp_path / "ws", store_delay=0.0)
        NodeStore(tmp_path / "config" / "nodes.json").put(node)
        win = create_main_window(tmp_path / "config")
        qtbot.addWidget(win)
        win.reload_profiles(select=DEMO_PROFILE)
        win.resize(1024, 700)
        win.show()
        qtbot.waitExposed(win)
        win.activateWindow()
        qtbot.waitActive(win)
        yield win
        for dialog in win.findChildren(SeriesDialog):
            dialog.close()
        run_async(win.shutdown())


def search_all(window: MainWindow, run_async: Any) -> None:
    run_async(window.search({}))
    assert window.results_model.rowCount() >= 3


def study_uid(window: MainWindow, row: int) -> str:
    return window.results_proxy.index(row, 0).data(Role.STUDY_UID_ROLE)


def tab(window: MainWindow) -> QWidget:
    QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
    return QApplication.focusWidget()


def test_focus_starts_in_the_patient_name_field(window: MainWindow) -> None:
    assert QApplication.focusWidget() is window.form.fields["queryPatientName"]


def test_tab_goes_form_search_results_destination_send(window: MainWindow,
                                                       run_async: Any) -> None:
    search_all(window, run_async)
    window.form.fields["queryPatientName"].setFocus()
    form = window.form
    reading_order = [w for w in (
        getattr(form, "exact_name", None),  # beside the name field, when the form has it
        form.fields["queryPatientId"], form.fields["queryAccession"], form.date_preset,
        form.modalities, form.fields["queryDescription"], form.fields["queryReferring"],
    ) if w is not None]
    assert [tab(window) for _ in reading_order] == reading_order
    assert tab(window) is form.search_button
    assert tab(window) is window.results_view
    QTest.keyClick(window.results_view, Qt.Key.Key_Down)  # a study selected: Send enabled
    assert tab(window) is window.destination_combo
    assert tab(window) is window.send_button


def test_down_then_ctrl_enter_sends_the_first_rows_study(window: MainWindow,
                                                          run_async: Any) -> None:
    search_all(window, run_async)
    window.form.search_button.setFocus()
    assert tab(window) is window.results_view  # Qt makes row 0 current, unselected

    async def keys_then_send() -> None:  # the send starts a queue task: on the running loop
        QTest.keyClick(window.results_view, Qt.Key.Key_Down)
        QTest.keyClick(window.results_view, Qt.Key.Key_Return,
                       Qt.KeyboardModifier.ControlModifier)
        await until(lambda: window.queue.jobs() and window.queue.jobs()[0].state.is_finished)

    run_async(keys_then_send())
    jobs = window.queue.jobs()
    assert [job.request.target.study_uid for job in jobs] == [study_uid(window, 0)]


@pytest.mark.parametrize("row", [0, 1, -1])
def test_double_click_opens_that_studys_series(window: MainWindow, run_async: Any,
                                               row: int) -> None:
    search_all(window, run_async)
    row = row % window.results_proxy.rowCount()
    view = window.results_view
    view.scrollTo(window.results_proxy.index(row, 0))
    pos = view.visualRect(window.results_proxy.index(row, Column.DESCRIPTION)).center()
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    QTest.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    dialogs = window.findChildren(SeriesDialog)
    assert [d.study.get("StudyInstanceUID") for d in dialogs] == [study_uid(window, row)]


@pytest.mark.parametrize("row", [0, 1, -1])
def test_menu_key_show_series_opens_the_selected_study(window: MainWindow, run_async: Any,
                                                       row: int) -> None:
    search_all(window, run_async)
    row = row % window.results_proxy.rowCount()
    view = window.results_view
    view.setFocus()
    view.selectRow(row)
    QTest.keyClick(view, Qt.Key.Key_Menu)
    menu = view.findChild(QMenu)
    assert menu.isVisible()
    menu.hide()
    view.expand_action.trigger()
    dialogs = window.findChildren(SeriesDialog)
    assert [d.study.get("StudyInstanceUID") for d in dialogs] == [study_uid(window, row)]


def test_keyboard_only_search_select_send(window: MainWindow, run_async: Any) -> None:
    """Type a name, Tab to Search, Enter, Tab, Down, Ctrl+Enter: the first study found is
    sent, and only it."""
    window.form.set_date_preset(DatePreset.ANY)  # the demo's studies are from 2023-2024
    name = QApplication.focusWidget()
    assert name is window.form.fields["queryPatientName"]

    async def keyboard_only() -> None:
        QTest.keyClicks(name, "Dubois*")
        for _ in range(15):
            if tab(window) is window.form.search_button:
                break
        QTest.keyClick(window.form.search_button, Qt.Key.Key_Return)
        await until(lambda: window.results_model.rowCount() > 0 and window._search is None)
        assert tab(window) is window.results_view
        QTest.keyClick(window.results_view, Qt.Key.Key_Down)
        QTest.keyClick(window.results_view, Qt.Key.Key_Enter,
                       Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.KeypadModifier)
        await until(lambda: window.queue.jobs() and window.queue.jobs()[0].state.is_finished)

    run_async(keyboard_only())
    assert [job.request.target.study_uid for job in window.queue.jobs()] == [
        study_uid(window, 0)]
    assert window.queue.jobs()[0].label.patient == "Dubois, Amélie"


def test_every_column_fits_at_1024_by_700(window: MainWindow, run_async: Any) -> None:
    search_all(window, run_async)
    assert (window.width(), window.height()) == (1024, 700)
    view = window.results_view
    header = view.horizontalHeader()
    for column in (Column.INSTANCE_COUNT, Column.REFERRING):
        left = header.sectionViewportPosition(column)
        assert left >= 0 and left + header.sectionSize(column) <= view.viewport().width()
    assert view.horizontalScrollBar().maximum() == 0


def test_status_hint_never_covers_the_result_count(window: MainWindow, run_async: Any) -> None:
    search_all(window, run_async)
    window.statusBar().showMessage(DEMO_HINT, 0)
    QApplication.processEvents()
    count, hint = window.count_label, window.statusBar().message_label
    assert count.isVisible() and hint.isVisible()
    assert not count.geometry().intersects(hint.geometry())
    assert count.width() >= count.fontMetrics().horizontalAdvance(count.text())
    assert count.text().endswith("studies")
    assert hint.text() == DEMO_HINT  # in full, at 1024 px
    assert window.statusBar().currentMessage() == DEMO_HINT
    window.statusBar().clearMessage()
    assert hint.text() == ""


def _series_by_enter(window: MainWindow, run_async: Any, row: int) -> SeriesDialog:
    """Select ``row`` with Down keys, press Enter, wait for the series list."""
    view = window.results_view
    view.setFocus()
    for _ in range(row + 1):
        QTest.keyClick(view, Qt.Key.Key_Down)

    async def opened() -> SeriesDialog:
        QTest.keyClick(view, Qt.Key.Key_Return)
        await until(lambda: bool(window.findChildren(SeriesDialog)))
        dialog = window.findChildren(SeriesDialog)[0]
        await until(lambda: dialog.table.rowCount() > 1 and dialog.isActiveWindow())
        return dialog

    return run_async(opened())


def test_series_dialog_first_down_selects_the_first_series_and_tab_reaches_send(
        window: MainWindow, run_async: Any) -> None:
    """Seen in review: the series table trapped Tab (cell to cell, round and round), so Send
    was out of reach; and once it had focus, the first Down selected the SECOND series."""
    search_all(window, run_async)
    dialog = _series_by_enter(window, run_async, 1)
    close = dialog.buttons.button(dialog.buttons.StandardButton.Close)
    close.setFocus()
    QTest.keyClick(close, Qt.Key.Key_Tab, Qt.KeyboardModifier.ShiftModifier)
    assert QApplication.focusWidget() is dialog.table  # row 0 current, nothing selected
    QTest.keyClick(dialog.table, Qt.Key.Key_Down)
    assert dialog.selected_series() == [dialog._series[0]]
    dialog.grab().save("/tmp/series_dialog_keyboard.png")
    assert tab(window) is dialog.send_button

    async def send() -> None:
        QTest.keyClick(dialog.send_button, Qt.Key.Key_Space)
        await until(lambda: window.queue.jobs() and window.queue.jobs()[0].state.is_finished)

    run_async(send())
    [job] = window.queue.jobs()
    assert job.request.target.study_uid == study_uid(window, 1)
    assert job.request.target.series_uids == (
        dialog._series[0].get("SeriesInstanceUID"),)
    assert dialog.status.text() == "Queued 1 series."
    QTest.keyClick(dialog.send_button, Qt.Key.Key_Tab, Qt.KeyboardModifier.ShiftModifier)
    assert QApplication.focusWidget() is dialog.table
    QTest.keyClick(dialog.table, Qt.Key.Key_Return)  # Enter in the list closes; sends nothing
    assert not dialog.isVisible() and len(window.queue.jobs()) == 1


def test_series_dialog_sends_where_its_button_says(window: MainWindow, run_async: Any) -> None:
    """Seen in review: the dialog's button said "Send selected series to WORKSTATION", the
    destination was changed in the main window while it was open, and the series went to the
    other destination."""
    pacs = window.current_pacs()
    assert pacs is not None
    window.store.put(pacs.with_changes(destinations=(*pacs.destinations,
                                                     Destination("OTHERWS"))))
    window.reload_profiles(select=DEMO_PROFILE)
    window.destination_combo.setCurrentIndex(window.destination_combo.findData("WORKSTATION"))
    search_all(window, run_async)
    dialog = _series_by_enter(window, run_async, 0)
    assert dialog.send_button.text() == "Send selected series to WORKSTATION"
    window.destination_combo.setCurrentIndex(window.destination_combo.findData("OTHERWS"))
    dialog.activateWindow()
    QTest.keyClick(dialog.table, Qt.Key.Key_Down)
    dialog.send_button.setFocus()

    async def send() -> None:
        QTest.keyClick(dialog.send_button, Qt.Key.Key_Space)
        await until(lambda: window.queue.jobs() and window.queue.jobs()[0].state.is_finished)

    run_async(send())
    assert [job.request.destination for job in window.queue.jobs()] == ["WORKSTATION"]


def test_enter_on_the_focused_send_button_sends_the_selection(window: MainWindow,
                                                              run_async: Any) -> None:
    """Seen in review: Tab to Send and Enter did nothing (a toolbar button only takes Space)."""
    search_all(window, run_async)
    window.results_view.setFocus()
    QTest.keyClick(window.results_view, Qt.Key.Key_Down)
    assert tab(window) is window.destination_combo
    assert tab(window) is window.send_button

    async def enter() -> None:
        QTest.keyClick(window.send_button, Qt.Key.Key_Return)
        await until(lambda: window.queue.jobs() and window.queue.jobs()[0].state.is_finished)

    run_async(enter())
    assert [job.request.target.study_uid for job in window.queue.jobs()] == [
        study_uid(window, 0)]


def test_end_and_home_select_the_last_and_first_study(window: MainWindow,
                                                      run_async: Any) -> None:
    """Seen in review (Orthanc): End on a fresh grid selected the FIRST study (QTableView's
    End moves along the row's cells), and the Menu key then opened that patient's series."""
    search_all(window, run_async)
    window.form.search_button.setFocus()
    view = tab(window)
    assert view is window.results_view
    last = window.results_proxy.rowCount() - 1
    QTest.keyClick(view, Qt.Key.Key_End)
    assert [m.get("StudyInstanceUID") for m in view.selected_matches()] == [
        study_uid(window, last)]
    QTest.keyClick(view, Qt.Key.Key_Home)
    assert [m.get("StudyInstanceUID") for m in view.selected_matches()] == [study_uid(window, 0)]
    QTest.keyClick(view, Qt.Key.Key_End, Qt.KeyboardModifier.ShiftModifier)
    assert len(view.selected_matches()) == last + 1


def test_choosing_another_pacs_clears_the_results_so_nothing_is_sent_from_it(
        window: MainWindow, run_async: Any, tmp_path: Path) -> None:
    """Review of issue 11: after a search on Demo PACS, choosing "Other PACS" in the PACS box
    kept the rows, and Ctrl+Enter sent a move for Demo's study from Other PACS."""
    demo = window.current_pacs()
    assert demo is not None
    other = demo.with_changes(name="Other PACS", called_aet="OTHERPACS")
    window.store.put(other)
    window.reload_profiles(select=DEMO_PROFILE)
    search_all(window, run_async)
    window.results_view.setFocus()
    QTest.keyClick(window.results_view, Qt.Key.Key_Down)
    assert window.results_view.selected_matches()
    combo = window.form.pacs_combo
    combo.setFocus()
    QTest.keyClick(combo, Qt.Key.Key_Down if combo.currentIndex() == 0 else Qt.Key.Key_Up)
    assert window.current_pacs() is not None and window.current_pacs().name != demo.name
    assert window.results_model.rowCount() == 0
    assert "Results cleared" in window.statusBar().currentMessage()
    QTest.keyClick(window.results_view, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert window.queue.jobs() == []  # nothing sent from the other PACS


def test_sending_a_series_twice_asks_first(window: MainWindow, run_async: Any) -> None:
    """Review of issue 11: Send pressed twice in the series dialog (focus stays on Send)
    queued the same series twice without the repeated-send question the grid asks."""
    search_all(window, run_async)
    dialog = _series_by_enter(window, run_async, 0)
    dialog.activateWindow()
    QTest.keyClick(dialog.table, Qt.Key.Key_Down)
    dialog.send_button.setFocus()

    async def twice() -> QMessageBox | None:
        QTest.keyClick(dialog.send_button, Qt.Key.Key_Space)
        await until(lambda: len(window.queue.jobs()) == 1)
        QTest.keyClick(dialog.send_button, Qt.Key.Key_Space)  # again, at once
        box = dialog.findChild(QMessageBox, "confirmSend")
        if box is not None:
            assert box.isVisible()
            QTest.keyClick(box, Qt.Key.Key_Escape)  # Cancel: nothing more is sent
        await until(lambda: window.queue.jobs()[0].state.is_finished)
        return box

    box = run_async(twice())
    assert dialog.status.text() == "Queued 1 series."
    assert box is not None, "the second send of the same series was not asked about"
    assert "WORKSTATION" in box.text() and not box.isVisible()
    assert len(window.queue.jobs()) == 1
