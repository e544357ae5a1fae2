"""The real window, driven offscreen: search -> select -> send -> the queue row completes.

Against the embedded demo PACS and against Orthanc; unknown destination -> failure dialog;
cancel mid-move; invalid input never reaches the network.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from dicom_courier.core.config.profile_store import NodeStore
from dicom_courier.core.config.profiles import Destination, PacsNode, Timeouts
from dicom_courier.core.jobs.queue import JobState
from dicom_courier.gui import create_main_window
from dicom_courier.gui.app import DEMO_PROFILE, start_demo_peers
from dicom_courier.gui.failure_dialog import FailureDialog
from dicom_courier.gui.main_window import MainWindow
from dicom_courier.gui.query_form import DatePreset
from tests.gui.header_drag import drag_column_edge
from tests.gui.waiting import until

#: Every test here talks DICOM over loopback TCP (see tests/conftest.py).
pytestmark = [pytest.mark.network, pytest.mark.qt_log_ignore("propagateSizeHints", "raise")]


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[PacsNode, Path]]:
    with ExitStack() as stack:
        node = start_demo_peers(stack, tmp_path / "ws", store_delay=0.02)
        node = node.with_changes(destinations=(*node.destinations, Destination("NOWHERE")))
        NodeStore(tmp_path / "config" / "nodes.json").put(node)
        yield node, tmp_path / "ws"


@pytest.fixture
def window(qtbot: QtBot, qasync_loop: Any, tmp_path: Path, demo: Any,
           run_async: Any) -> Iterator[MainWindow]:
    win = create_main_window(tmp_path / "config")
    qtbot.addWidget(win)
    win.reload_profiles(select=DEMO_PROFILE)
    win.form.set_date_preset(DatePreset.ANY)  # the demo's studies are from 2023-2024
    yield win
    run_async(win.shutdown())




def _select_destination(win: MainWindow, aet: str) -> None:
    win.destination_combo.setCurrentIndex(win.destination_combo.findData(aet))


def test_widgets_have_stable_names(window: MainWindow) -> None:
    for name in ("pacsCombo", "queryPatientName", "queryPatientId", "queryAccession",
                 "queryDateFrom", "queryDateTo", "queryModalities", "searchButton",
                 "resultsView", "destinationCombo", "sendButton", "queueView"):
        from PySide6.QtWidgets import QWidget

        widget = window.findChild(QWidget, name)
        assert widget is not None, name
        assert widget.accessibleName(), name


def test_search_select_send_completes_and_files_arrive(window: MainWindow, demo: Any,
                                                       run_async: Any, qtbot: QtBot) -> None:
    _, folder = demo
    window.form.fields["queryPatientId"].setText("DEMO002")

    async def scenario() -> None:
        window.form.request_search()
        await until(lambda: window.results_model.rowCount() == 1 and window._search is None)
        window.results_view.selectRow(0)
        _select_destination(window, "WORKSTATION")
        window.send_selection()
        await until(lambda: window.queue.jobs()
                    and window.queue.jobs()[0].state.is_finished)

    run_async(scenario())
    job = window.queue.jobs()[0]
    assert job.state is JobState.COMPLETED
    assert job.label.patient == "Dubois, Amélie"
    window.queue_model.flush()
    row = window.queue_model.row_of(job.job_id)
    assert row is not None
    status = window.queue_model.index(row, 4).data()
    assert status == "completed"
    assert len(list(folder.rglob("*.dcm"))) == 48
    assert window.count_label.text() == "1 study"


def test_unknown_destination_opens_a_failure_dialog(window: MainWindow, run_async: Any,
                                                    qtbot: QtBot) -> None:
    async def scenario() -> None:
        await window.search({"PatientID": "DEMO004"})
        window.results_view.selectRow(0)
        _select_destination(window, "NOWHERE")
        window.send_selection()
        await until(lambda: window.failures.open_dialogs())

    run_async(scenario())
    dialogs = window.failures.open_dialogs()
    assert len(dialogs) == 1 and isinstance(dialogs[0], FailureDialog)
    dialog = dialogs[0]
    assert not dialog.isModal()
    assert "does not know the destination NOWHERE" in dialog.title_label.text()
    assert "0xA801" in dialog.report_text()
    assert window.queue.jobs()[0].state is JobState.FAILED


def test_cancel_mid_move_from_the_queue_panel(window: MainWindow, run_async: Any) -> None:
    async def scenario() -> None:
        await window.search({"PatientID": "DEMO001", "AccessionNumber": "ACC1001"})
        window.results_view.selectRow(0)
        _select_destination(window, "WORKSTATION")
        window.send_selection()
        await until(lambda: window.queue.jobs()[0].progress is not None)
        window.queue_model.flush()
        window.queue_panel.select_jobs([window.queue.jobs()[0].job_id])
        window.queue_panel.cancel_button.click()
        await until(lambda: window.queue.jobs()[0].state.is_finished)

    run_async(scenario())
    job = window.queue.jobs()[0]
    assert job.state is JobState.CANCELLED
    assert job.result is not None and 0 < job.result.completed < 60


def test_invalid_input_never_reaches_the_network(window: MainWindow, qtbot: QtBot,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []
    monkeypatch.setattr(window.courier, "find", lambda *a, **k: calls.append(a))
    window.form.fields["queryAccession"].setText("THIS-IS-MUCH-TOO-LONG")
    window.form.request_search()
    qtbot.keyClick(window.form.fields["queryAccession"], "\r")
    window.search_action.trigger()
    assert calls == []
    assert "at most 16 characters" in window.form.error_label.text()


def test_empty_search_asks_first(window: MainWindow, qtbot: QtBot,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []
    monkeypatch.setattr(window.courier, "find", lambda *a, **k: calls.append(a))
    window.form.request_search()
    from PySide6.QtWidgets import QMessageBox

    box = window.findChild(QMessageBox, "confirmEmptySearch")
    assert box is not None and "every study" in box.text()
    box.button(QMessageBox.StandardButton.No).click()
    assert calls == []


def test_sending_several_studies_asks_with_a_summary(window: MainWindow, run_async: Any
                                                     ) -> None:
    from PySide6.QtWidgets import QMessageBox

    run_async(window.search({"PatientID": "DEMO001"}))
    window.results_view.selectAll()
    _select_destination(window, "WORKSTATION")
    window.send_selection()
    box = window.findChild(QMessageBox, "confirmSend")
    assert box is not None
    assert "2 studies · 5 series · 76 images → WORKSTATION" in box.text()
    box.button(QMessageBox.StandardButton.Cancel).click()
    assert window.queue.jobs() == []


def test_against_orthanc(qtbot: QtBot, tmp_path: Path, orthanc: Any, storescp: Any,
                         run_async: Any) -> None:
    node = PacsNode(name="Orthanc", called_aet=orthanc.aet, host="127.0.0.1",
                    port=orthanc.port, timeouts=Timeouts(idle=20),
                    destinations=(Destination("STORESCP"),))
    NodeStore(tmp_path / "o" / "nodes.json").put(node)
    win = create_main_window(tmp_path / "o")
    qtbot.addWidget(win)
    win.reload_profiles(select="Orthanc")
    try:
        async def scenario() -> None:
            await win.search({"PatientName": "Dub*"})
            assert win.results_model.rowCount() == 1
            win.results_view.selectRow(0)
            win.send_selection()
            await until(lambda: win.queue.jobs() and win.queue.jobs()[0].state.is_finished)

        run_async(scenario())
        assert win.queue.jobs()[0].state is JobState.COMPLETED
        assert len(storescp.wait_for_files(6)) == 6
    finally:
        run_async(win.shutdown())


def test_a_study_expands_to_its_series_and_one_series_is_sent(window: MainWindow, demo: Any,
                                                              run_async: Any) -> None:
    _, folder = demo

    async def scenario() -> Any:
        await window.search({"PatientID": "DEMO002"})
        _select_destination(window, "WORKSTATION")
        dialog = window.show_series(window.results_model.match_at(0))
        assert dialog is not None
        await until(lambda: dialog.table.rowCount() == 4)
        dialog.table.selectRow(1)
        dialog.send_button.click()
        await until(lambda: window.queue.jobs() and window.queue.jobs()[0].state.is_finished)
        return dialog

    dialog = run_async(scenario())
    assert not dialog.isModal()
    assert [dialog.table.item(r, 0).text() for r in range(4)] == ["1", "2", "3", "4"]
    job = window.queue.jobs()[0]
    assert job.state is JobState.COMPLETED
    assert job.request.target.series_uids and job.result is not None
    assert job.result.completed == 12  # one MR series of 12 images
    assert "series 2 MR" in job.label.study
    assert len(list(folder.rglob("*.dcm"))) == 12


def test_keyboard_enter_searches_ctrl_enter_sends_escape_cancels(window: MainWindow,
                                                                 run_async: Any,
                                                                 qtbot: QtBot) -> None:
    from PySide6.QtCore import Qt

    async def scenario() -> None:
        window.form.fields["queryPatientId"].setText("DEMO002")
        qtbot.keyClick(window.form.fields["queryPatientId"], Qt.Key.Key_Return)
        await until(lambda: window.results_model.rowCount() == 1 and window._search is None)
        window.results_view.selectRow(0)
        _select_destination(window, "WORKSTATION")
        window.send_action.trigger()  # Ctrl+Return / Ctrl+Enter
        await until(lambda: bool(window.queue.jobs()))

    run_async(scenario())
    assert window.send_action.shortcuts()[0].toString() == "Ctrl+Return"
    assert window.cancel_search_action.shortcut().toString() == "Esc"
    assert window.queue.jobs()[0].request.target.study_uid == \
        window.results_model.match_at(0).get("StudyInstanceUID")


def test_escape_cancels_a_running_search(qtbot: QtBot, tmp_path: Path, run_async: Any) -> None:
    from tests.fakes.misbehaving import EndlessPendingScp

    with EndlessPendingScp(interval=0.05) as fake:
        NodeStore(tmp_path / "nodes.json").put(PacsNode(
            name="slow", called_aet=fake.ae_title, host="127.0.0.1", port=fake.port))
        win = create_main_window(tmp_path)
        qtbot.addWidget(win)
        win.reload_profiles(select="slow")

        async def scenario() -> None:
            task = asyncio.ensure_future(win.search({"PatientID": "X*"}))
            await until(lambda: win.results_model.rowCount() >= 3)
            assert win.cancel_search_action.isEnabled()
            win.cancel_search_action.trigger()  # Esc
            await task

        run_async(scenario())
        run_async(win.shutdown())
    assert "Search cancelled" in win.truncated_label.text()
    assert not win.cancel_search_action.isEnabled()


def test_column_widths_are_remembered(qtbot: QtBot, tmp_path: Path, demo: Any,
                                      run_async: Any) -> None:
    """A width a person drags (a real mouse drag on the header edge) comes back next time."""
    first = create_main_window(tmp_path / "config")
    qtbot.addWidget(first)
    first.show()
    qtbot.waitExposed(first)
    dragged = drag_column_edge(first.results_view.horizontalHeader(), 0, 333)
    assert abs(dragged - 333) <= 2, dragged
    assert not first.results_view.auto_fit_columns  # the person's width is kept
    first.close()
    run_async(first.shutdown())
    second = create_main_window(tmp_path / "config")
    qtbot.addWidget(second)
    try:
        assert second.results_view.columnWidth(0) == dragged
    finally:
        run_async(second.shutdown())
