"""Issue 13 in the queue table: a send to "This computer" shows what was RECEIVED, a checked
send shows what the destination holds, and a here-row opens its folder (Open folder)."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from dicom_courier.core.jobs.queue import JobState
from dicom_courier.core.outcome.arrival import HERE, THIS_COMPUTER, ArrivalCheck
from dicom_courier.gui.queue_model import MoveQueueModel, QueueColumn
from dicom_courier.gui.queue_panel import QueuePanel
from tests.gui.test_queue_panel import make_job

pytestmark = pytest.mark.qt_log_ignore("This plugin does not support")
SHOTS = Path(os.environ.get("COURIER_SHOTS", "/tmp/i13shots"))


def here_rows() -> list[Any]:
    """A send to this computer under way, one finished and verified, and a send elsewhere
    whose check found fewer than the PACS said (Orthanc with SynchronousCMove off: the
    queue makes it partial, :func:`core.jobs.arrival_phase.final_state`)."""
    running = replace(make_job(1, JobState.RUNNING, completed=60, total=120, started_ago=9,
                               patient="Dupont, Jean", study="CT Thorax", destination=HERE),
                      received=40)
    done = replace(make_job(2, JobState.COMPLETED, completed=8, total=8, started_ago=4,
                            status=0x0000, patient="Tanaka, Yuki", study="XR Chest",
                            destination=HERE),
                   received=8, folder="/tmp/received/P1/1.2.3",
                   arrival=ArrivalCheck(THIS_COMPUTER, 8, 8, 0.2))
    short = replace(make_job(3, JobState.PARTIAL, completed=8, total=8, started_ago=40,
                             status=0x0000, patient="Rossi, Maria", study="MR Knee",
                             destination="WS3"),
                    arrival=ArrivalCheck("WS3", 8, 1, 30.0))
    verified = replace(make_job(4, JobState.COMPLETED, completed=120, total=120,
                                started_ago=20, status=0x0000, patient="Smith, John",
                                study="CT Abdomen", destination="WS3"),
                       arrival=ArrivalCheck("WS3", 120, 120, 3.0))
    return [running, done, short, verified]


def _cell(model: MoveQueueModel, row: int, column: QueueColumn) -> str:
    return str(model.index(row, column).data())


def test_rows_say_what_arrived_not_only_what_the_pacs_said(qtbot: QtBot,
                                                           qtmodeltester: Any) -> None:
    model = MoveQueueModel()
    for job in here_rows():
        model.apply(job)
    qtmodeltester.check(model)
    assert _cell(model, 0, QueueColumn.DESTINATION) == THIS_COMPUTER  # never "@here"
    assert _cell(model, 0, QueueColumn.PROGRESS) == "received 40 of 120"  # not "60 of 120"
    assert _cell(model, 1, QueueColumn.PROGRESS) == "received 8 of 8"
    assert _cell(model, 3, QueueColumn.PROGRESS) == "verified at destination: 120/120"
    assert _cell(model, 2, QueueColumn.PROGRESS) == "destination has 1 of 8 after 30 s"
    tip = str(model.index(2, QueueColumn.PROGRESS).data(Qt.ItemDataRole.ToolTipRole))
    assert tip.startswith("8 of 8 sent · destination has 1 of 8")  # the PACS's word, too
    # never "8 received" beside "destination has 1" (seen in review: the old tooltip line)
    assert tip == "8 of 8 sent · destination has 1 of 8 after 30 s"
    here_tip = str(model.index(0, QueueColumn.PROGRESS).data(Qt.ItemDataRole.ToolTipRole))
    assert here_tip == "received 40 of 120\nthe PACS reported 60 of 120 sent"
    status = _cell(model, 2, QueueColumn.STATUS)  # the PACS said 8 of 8 sent; 1 is there
    assert status == "partial: destination has 1 of 8 after 30 s"


def test_open_folder_on_a_here_row_opens_its_study_folder(
        qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    panel = QueuePanel()
    qtbot.addWidget(panel)
    for job in here_rows():
        panel.model.apply(job)
    panel.model.flush()
    panel.resize(1150, 260)
    panel.show()
    qtbot.waitExposed(panel)
    SHOTS.mkdir(parents=True, exist_ok=True)
    panel.grab().save(str(SHOTS / "queue_here_rows.png"))

    opened: list[str] = []
    monkeypatch.setattr(QDesktopServices, "openUrl",
                        staticmethod(lambda url: opened.append(QUrl(url).toLocalFile()) or True))
    asked: list[int] = []
    panel.open_folder_requested.connect(asked.append)

    def pick(row: int) -> None:
        rect = panel.view.visualRect(panel.proxy.index(row, QueueColumn.STATUS))
        QTest.mouseClick(panel.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        QTest.keyClick(panel.view, Qt.Key.Key_Menu)  # the keyboard's menu key

    pick(2)  # a send elsewhere: no folder to open
    assert panel.row_menu.isVisible() and not panel.open_folder_action.isVisible()
    panel.row_menu.hide()
    pick(1)  # a finished send to this computer
    assert panel.open_folder_action.isVisible() and panel.open_folder_action.isEnabled()
    assert panel.open_folder_action.text() == "&Open folder"
    QTest.keyClick(panel.row_menu, Qt.Key.Key_O)  # its access key
    assert asked == [2]
    assert not opened  # the panel only asks; the window opens (next test)


def test_the_window_opens_the_study_folder_of_a_here_send(
        qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        run_async: Any) -> None:
    from dicom_courier.core.config.profiles import PacsNode
    from dicom_courier.core.qr.query import MoveRequest, MoveTarget
    from dicom_courier.gui import create_main_window

    window = create_main_window(tmp_path / "config")
    qtbot.addWidget(window)
    opened: list[str] = []
    monkeypatch.setattr(QDesktopServices, "openUrl",
                        staticmethod(lambda url: opened.append(QUrl(url).toLocalFile()) or True))
    node = PacsNode(name="main", called_aet="PACS", host="127.0.0.1", port=104)

    async def queue_one() -> int:
        window.queue.pause()  # nothing starts: no PACS is needed
        return window.queue.submit(node, MoveRequest(MoveTarget("1.2.3.4"), HERE))

    try:
        job_id = run_async(queue_one())
        assert window.receiver is not None
        window._open_job_folder(job_id)  # nothing received, no folder yet: said, not opened
        assert not opened and "Nothing was received" in window.statusBar().currentMessage()
        window.receiver.folder.mkdir(parents=True)
        window.queue_panel.open_folder_requested.emit(job_id)
        assert opened == [str(window.receiver.folder)]
    finally:
        run_async(window.shutdown())
