"""The queue's table hears the queue and nothing else: rows appear, change and go only as the
queue announces them (added, changed, removed on one road), with scripted moves (no socket)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from dicom_courier.core.config.profiles import PacsNode
from dicom_courier.core.jobs.queue import JobLabel, JobState, MoveQueue
from dicom_courier.core.qr.query import MoveRequest, MoveTarget
from dicom_courier.core.signals import EngineSignals
from dicom_courier.gui import create_main_window
from dicom_courier.gui.queue_model import MoveQueueModel, QueueColumn
from tests.fakes.fake_move import FakeMoves, QueueWatch

NODE = PacsNode(name="main", called_aet="DEMOPACS", host="127.0.0.1", port=11112)
STUDY = "1.2.826.0.1.3680043.8.498.4242"

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "raise")


def test_clearing_finished_jobs_in_the_queue_removes_their_rows(
        qtbot: QtBot, qtmodeltester: Any, run_async: Any) -> None:
    """The model follows the queue alone: clear_finished() on the queue removes the rows,
    with no call from the window (before, the window removed them on the side)."""
    signals = EngineSignals()
    model = MoveQueueModel()
    model.listen_to(signals)
    qtmodeltester.check(model)
    watch = QueueWatch()
    signals.job_changed.connect(watch.on_job_changed)  # to wait on: no polling

    async def scenario() -> tuple[int, int]:
        queue = MoveQueue(None, signals, per_pacs_limit=1, start_move=FakeMoves())
        done = queue.submit(NODE, MoveRequest(MoveTarget(STUDY), "WS"),
                            JobLabel(patient="Road^Patient", study="CT"))
        await watch.until(lambda: queue.get(done).state.is_finished)
        queue.pause()
        waiting = queue.submit(NODE, MoveRequest(MoveTarget(STUDY + ".1"), "WS"))
        assert model.rowCount() == 2
        assert queue.clear_finished() == [done]
        await queue.close()
        return done, waiting

    done, waiting = run_async(scenario())
    assert model.rowCount() == 1 and model.job_at(0).job_id == waiting
    assert model.row_of(done) is None
    model.flush()
    assert model.index(0, QueueColumn.STATUS).data() in ("queued", "cancelled")
    qtmodeltester.check(model)


def test_clear_finished_in_the_window_goes_through_the_queue(
        qtbot: QtBot, tmp_path: Path, run_async: Any) -> None:
    """The window's "Clear finished" asks the queue; the rows go when the queue says so."""
    win = create_main_window(tmp_path / "config")
    qtbot.addWidget(win)
    removed: list[list[int]] = []
    win.signals.jobs_removed.connect(removed.append)

    async def queue_three_and_cancel_two() -> list[int]:
        win.queue.pause()  # nothing starts: no PACS is needed
        ids = [win.queue.submit(NODE, MoveRequest(MoveTarget(f"{STUDY}.{n}"), "WS"))
               for n in range(3)]
        win.queue.cancel(ids[0])
        win.queue.cancel(ids[2])
        return ids

    try:
        ids = run_async(queue_three_and_cancel_two())
        win.queue_model.flush()
        assert win.queue_model.rowCount() == 3
        assert win.queue_panel.clear_button.isEnabled()
        win.queue_panel.clear_button.click()
        assert removed == [[ids[0], ids[2]]]
        assert [job.job_id for job in win.queue_model.jobs()] == [ids[1]]
        assert [job.job_id for job in win.queue.jobs()] == [ids[1]]
        assert win.queue.get(ids[1]).state is JobState.QUEUED
        assert not win.queue_panel.clear_button.isEnabled()
    finally:
        run_async(win.shutdown())
