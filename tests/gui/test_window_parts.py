"""The window shows what the composition root built (gui.app.compose): the destination lesson
of a send is noted before the window hears of it, a failed send still opens its explanation,
and the window's layout (geometry, results header) is kept for the next window. Scripted
moves, no socket."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from dicom_courier.core.config.profiles import Destination, PacsNode
from dicom_courier.core.dimse.engine import Courier
from dicom_courier.core.jobs.job import JobSnapshot
from dicom_courier.core.jobs.queue import JobState
from dicom_courier.core.jobs.store_errors import StoreDiskFull
from dicom_courier.core.outcome.errors import Peer
from dicom_courier.core.outcome.status import failure_for_status
from dicom_courier.core.qr.query import FindMatch, MoveRequest, MoveTarget, QueryLevel
from dicom_courier.gui import create_main_window
from dicom_courier.gui.main_window import MainWindow
from dicom_courier.gui.results_model import Column
from tests.fakes.fake_move import FakeMoves, failing
from tests.gui.header_drag import drag_column_edge
from tests.gui.waiting import until

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "raise")

NODE = PacsNode(name="main", called_aet="DEMOPACS", host="127.0.0.1", port=11112)
STUDY = "1.2.826.0.1.3680043.8.498.4243"
PEER = Peer("COURIER", "DEMOPACS", "127.0.0.1", 11112)


def _window(qtbot: QtBot, config: Path, moves: FakeMoves | None = None) -> MainWindow:
    courier = Courier()
    if moves is not None:
        courier.move = moves  # type: ignore[method-assign]  # the queue's start_move
    window = create_main_window(config, courier=courier)
    qtbot.addWidget(window)
    return window


def test_a_refused_destination_is_remembered_before_the_window_hears_of_the_send(
        qtbot: QtBot, tmp_path: Path, run_async: Any) -> None:
    unknown = failure_for_status(0xA801, operation="send", peer=PEER, destination="NOWHERE")
    window = _window(qtbot, tmp_path / "config", FakeMoves(default=failing(unknown)))
    seen: list[tuple[JobState, bool]] = []  # (state, refused already known) as the window hears

    def heard(job: JobSnapshot) -> None:
        refused = window.destination_memory.get("main", "NOWHERE").refused_last_time
        seen.append((job.state, refused))

    window.signals.job_changed.connect(heard)

    async def send() -> None:
        job_id = window.queue.submit(NODE, MoveRequest(MoveTarget(STUDY), "NOWHERE"))
        await until(lambda: window.queue.get(job_id).state.is_finished)
        await until(lambda: bool(window.failures.open_dialogs()))

    try:
        run_async(send())
        assert seen[-1] == (JobState.FAILED, True)
        assert not any(refused for state, refused in seen if not state.is_finished)
        dialog = window.failures.open_dialogs()[0]
        assert dialog.windowTitle() == "Send failed"  # the window still explains it
    finally:
        run_async(window.shutdown())


def test_the_layout_is_kept_for_the_next_window(qtbot: QtBot, tmp_path: Path,
                                                run_async: Any) -> None:
    first = _window(qtbot, tmp_path / "config")
    first.show()
    first.resize(first.width(), 500)  # the offscreen screen is narrow
    # A person's drag: a width set in code is the grid fitting itself, and is not kept.
    width = drag_column_edge(first.results_view.horizontalHeader(), Column.DESCRIPTION, 333)
    assert abs(width - 333) <= 2, width
    first.results_view.horizontalHeader().moveSection(
        first.results_view.horizontalHeader().visualIndex(Column.DESCRIPTION), 0)
    run_async(first.shutdown())
    first.close()
    saved = (tmp_path / "config" / "window.ini").read_bytes()
    assert b"PyObjectWrapper" not in saved  # Qt's own byte array, not a pickled object

    second = _window(qtbot, tmp_path / "config")
    try:
        assert second.height() == 500
        header = second.results_view.horizontalHeader()
        assert header.logicalIndex(0) == Column.DESCRIPTION
        assert second.results_view.columnWidth(Column.DESCRIPTION) == width
    finally:
        run_async(second.shutdown())


def test_a_series_send_jobs_db_refuses_is_said_not_raised(
        qtbot: QtBot, tmp_path: Path, run_async: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Seen in review: a whole-study send jobs.db refused was said in a dialog, but a series
    send raised StoreError out of the series dialog's slot (a traceback, no word)."""
    window = _window(qtbot, tmp_path / "config")
    node = NODE.with_changes(destinations=(Destination("WS"),))
    monkeypatch.setattr(window, "current_pacs", lambda: node)
    window.destination_combo.addItem("WS", "WS")

    def full(*args: object, **kwargs: object) -> int:
        raise StoreDiskFull(window.history.path, cause="test")

    monkeypatch.setattr(window.queue, "submit", full)
    study = FindMatch(QueryLevel.STUDY, {"StudyInstanceUID": STUDY, "PatientName": "Doe^Jane"})
    series = [FindMatch(QueryLevel.SERIES, {"SeriesInstanceUID": f"{STUDY}.{n}",
                                            "SeriesNumber": str(n)}) for n in (1, 2)]
    try:
        assert window.enqueue_series(study, series) == []
        box = window.findChild(QMessageBox, "errorBox")
        assert box is not None and box.text() == StoreDiskFull(window.history.path,
                                                                cause="test").title
    finally:
        run_async(window.shutdown())
