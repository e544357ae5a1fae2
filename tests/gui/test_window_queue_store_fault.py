"""The window when the job database refuses to record a send that is about to start.

An unrecorded send is not allowed: the queue pauses itself, the Queue menu shows it paused,
one non-modal dialog says why (disk full, N MB free), and the send runs once the person has
made room and resumes the queue.
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
from dicom_courier.core.config.profiles import PacsNode
from dicom_courier.core.jobs.queue import JobState
from dicom_courier.core.jobs.store_errors import StoreDiskFull
from dicom_courier.gui import create_main_window
from dicom_courier.gui.app import DEMO_PROFILE, start_demo_peers
from dicom_courier.gui.main_window import MainWindow
from dicom_courier.gui.query_form import DatePreset
from tests.gui.waiting import until

#: Every test here talks DICOM over loopback TCP (see tests/conftest.py).
pytestmark = [pytest.mark.network, pytest.mark.qt_log_ignore("propagateSizeHints", "raise")]


@pytest.fixture
def window(qtbot: QtBot, qasync_loop: Any, tmp_path: Path, run_async: Any
           ) -> Iterator[tuple[MainWindow, Path]]:
    with ExitStack() as stack:
        node: PacsNode = start_demo_peers(stack, tmp_path / "ws", store_delay=0.0)
        NodeStore(tmp_path / "config" / "nodes.json").put(node)
        win = create_main_window(tmp_path / "config")
        qtbot.addWidget(win)
        win.reload_profiles(select=DEMO_PROFILE)
        win.form.set_date_preset(DatePreset.ANY)  # the demo's studies are from 2023-2024
        yield win, tmp_path / "ws"
        run_async(win.shutdown())




def test_a_send_that_cannot_be_recorded_pauses_the_queue_and_says_why(
        window: tuple[MainWindow, Path], run_async: Any, monkeypatch: pytest.MonkeyPatch
        ) -> None:
    win, folder = window
    store = win.history
    real_started = store.started

    def disk_full(job_id: int) -> None:
        raise StoreDiskFull(store.path, cause="test")

    monkeypatch.setattr(store, "started", disk_full)
    win.form.fields["queryPatientId"].setText("DEMO002")

    async def send_while_full() -> None:
        win.form.request_search()
        await until(lambda: win.results_model.rowCount() == 1 and win._search is None)
        win.results_view.selectRow(0)
        win.send_selection()
        await until(lambda: win.pause_action.isChecked())
        await asyncio.sleep(0.3)

    run_async(send_while_full())
    job = win.queue.jobs()[0]
    assert job.state is JobState.QUEUED
    assert not list(folder.rglob("*.dcm")), "nothing unrecorded was sent"
    boxes = [w for w in win.findChildren(object)
             if getattr(w, "objectName", lambda: "")() == "errorBox"]
    assert len(boxes) == 1 and "is full" in boxes[0].text()
    assert "sends cannot be recorded" in win.statusBar().currentMessage()

    monkeypatch.setattr(store, "started", real_started)  # room was made

    async def resumed() -> None:
        win.pause_action.trigger()  # Queue → Pause the queue, unchecked: resume
        await until(lambda: win.queue.jobs()[0].state.is_finished)

    run_async(resumed())
    assert win.queue.jobs()[0].state is JobState.COMPLETED
    assert store.get(job.job_id).state == "completed"
    assert list(folder.rglob("*.dcm"))
