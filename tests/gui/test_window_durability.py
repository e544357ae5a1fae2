"""The window after a crash: interrupted sends are offered for resuming; a destination the
PACS refused last time is warned about before the next send; a damaged history is reported."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from dicom_courier.core.config.profile_store import NodeStore
from dicom_courier.core.config.profiles import Destination, PacsNode
from dicom_courier.core.demo.synthetic import demo_studies
from dicom_courier.core.jobs.queue import JobState
from dicom_courier.core.jobs.store import JobStore
from dicom_courier.gui import create_main_window
from dicom_courier.gui.app import DEMO_PROFILE, start_demo_peers
from tests.gui.waiting import until

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "raise")


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[PacsNode]:
    with ExitStack() as stack:
        node = start_demo_peers(stack, tmp_path / "ws", store_delay=0.0)
        node = node.with_changes(destinations=(*node.destinations, Destination("NOWHERE")))
        NodeStore(tmp_path / "config" / "nodes.json").put(node)
        yield node


def open_window(qtbot: QtBot, tmp_path: Path) -> Any:
    """The real window on the demo profile in ``tmp_path/config``."""
    window = create_main_window(tmp_path / "config")
    qtbot.addWidget(window)
    window.reload_profiles(select=DEMO_PROFILE)
    return window


async def find_and_pick(window: Any, keys: dict[str, str], destination: str) -> None:
    """Search, select the first study and choose the destination, as a person would."""
    await window.search(keys)
    window.results_view.selectRow(0)
    window.destination_combo.setCurrentIndex(window.destination_combo.findData(destination))




@pytest.mark.network
def test_interrupted_sends_are_offered_and_resume(qtbot: QtBot, tmp_path: Path, demo: Any,
                                                  run_async: Any) -> None:
    spec = demo_studies()[1]
    store = JobStore(tmp_path / "config" / "data" / "jobs.db")
    crashed = store.add(pacs_json=demo.to_json(), destination="WORKSTATION",
                        study_uid=spec.study_uid, label="Dubois, Amélie — MR knee")
    store.started(crashed)
    store.progress(crashed, total=48, completed=20, failed=0, warning=0, force=True)
    store.close()  # the process "died" here

    window = open_window(qtbot, tmp_path)
    try:
        box = window.findChild(QMessageBox, "resumeInterrupted")
        assert box is not None
        assert "20 of 48 images" in box.text() and "may send images" in box.text()

        async def scenario() -> None:
            box.button(QMessageBox.StandardButton.Yes).click()  # a click while the app runs
            await until(lambda: window.queue.jobs() and window.queue.jobs()[0].state.is_finished)

        run_async(scenario())
        job = window.queue.jobs()[0]
        assert job.state is JobState.COMPLETED and job.retry_of == crashed
        rows = {row.id: row for row in window.history.jobs()}
        # taken over as `queue run` does; the history keeps how far it had got
        assert rows[crashed].state == "requeued" and rows[crashed].completed == 20
        assert rows[job.job_id].state == "completed" and rows[job.job_id].completed == 48
    finally:
        run_async(window.shutdown())


@pytest.mark.network
def test_a_destination_refused_last_time_is_warned_about(qtbot: QtBot, tmp_path: Path,
                                                         demo: Any, run_async: Any) -> None:
    window = open_window(qtbot, tmp_path)
    try:
        async def first_send() -> None:
            await find_and_pick(window, {"PatientID": "DEMO004"}, "NOWHERE")
            window.send_selection()
            await until(lambda: window.queue.jobs() and window.queue.jobs()[0].state.is_finished)

        run_async(first_send())
        window.send_selection()
        box = window.findChild(QMessageBox, "confirmSend")
        assert box is not None
        assert "does not know the destination NOWHERE (0xA801)" in box.text()
        box.button(QMessageBox.StandardButton.Cancel).click()
    finally:
        run_async(window.shutdown())


def test_a_damaged_history_is_moved_aside_and_reported(qtbot: QtBot, tmp_path: Path,
                                                       run_async: Any) -> None:
    data = tmp_path / "config" / "data"
    data.mkdir(parents=True)
    (data / "jobs.db").write_bytes(b"garbage" * 500)
    window = create_main_window(tmp_path / "config")
    qtbot.addWidget(window)
    try:
        box = window.findChild(QMessageBox, "storeMovedAside")
        assert box is not None and "jobs.db.damaged-" in box.text()
        assert window.history.jobs() == []
    finally:
        run_async(window.shutdown())


@pytest.mark.network
def test_pause_holds_new_sends_and_resume_starts_them(qtbot: QtBot, tmp_path: Path, demo: Any,
                                                      run_async: Any) -> None:
    window = open_window(qtbot, tmp_path)
    try:
        async def scenario() -> None:
            await find_and_pick(window, {"PatientID": "DEMO002"}, "WORKSTATION")
            window.pause_action.trigger()
            window.send_selection()
            await asyncio.sleep(0.5)
            assert window.queue.jobs()[0].state is JobState.QUEUED
            window.pause_action.trigger()
            await until(lambda: window.queue.jobs()[0].state.is_finished)

        run_async(scenario())
        assert window.queue.jobs()[0].state is JobState.COMPLETED
    finally:
        run_async(window.shutdown())


@pytest.mark.network
def test_history_dialog_lists_a_finished_send(qtbot: QtBot, tmp_path: Path, demo: Any,
                                              run_async: Any) -> None:
    window = open_window(qtbot, tmp_path)
    try:
        dialog = window.open_history()
        assert not dialog.isModal() and dialog.model.rowCount() == 0

        async def scenario() -> None:
            await find_and_pick(window, {"PatientID": "DEMO002"}, "WORKSTATION")
            window.send_selection()
            await until(lambda: window.queue.jobs() and window.queue.jobs()[0].state.is_finished)

        run_async(scenario())
        assert dialog.model.rowCount() == 1
        row = dialog.model.job_at(0)
        assert row.state == "completed" and row.completed == 48
    finally:
        run_async(window.shutdown())


@pytest.mark.network
def test_a_stat_send_goes_first_with_high_dimse_priority(qtbot: QtBot, tmp_path: Path,
                                                         demo: Any, run_async: Any) -> None:
    from dicom_courier.core.qr.query import Priority

    window = open_window(qtbot, tmp_path)
    try:
        async def scenario() -> None:
            await window.search({})
            window.destination_combo.setCurrentIndex(
                window.destination_combo.findData("WORKSTATION"))
            window.pause_action.trigger()
            window.results_view.selectRow(0)
            window.send_selection()
            window.priority_combo.setCurrentIndex(window.priority_combo.findData(Priority.HIGH))
            window.results_view.selectRow(1)
            window.send_selection()
            assert [j.job_id for j in window.queue.queued()][0] == window.queue.jobs()[1].job_id
            window.pause_action.trigger()
            await until(lambda: all(j.state.is_finished for j in window.queue.jobs()), 30,
                        lambda: [(j.job_id, j.state.value, j.progress, j.result)
                                 for j in window.queue.jobs()])

        run_async(scenario(), timeout=40)
        normal, stat = window.queue.jobs()
        assert stat.request.priority is Priority.HIGH and normal.request.priority is Priority.MEDIUM
        assert stat.started_at is not None and normal.started_at is not None
        assert stat.state is JobState.COMPLETED and normal.state is JobState.COMPLETED
    finally:
        run_async(window.shutdown())
