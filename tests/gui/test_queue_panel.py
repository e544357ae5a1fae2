"""The move-queue panel: model contract, coalesced updates, status wording, buttons, signals,
and a real queue moving a study from the demo PACS into a workstation through the panel."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor, QImage
from pytestqt.qtbot import QtBot

from dicom_courier.core.config.profiles import PacsNode, Timeouts
from dicom_courier.core.demo.pacs import DemoPacs
from dicom_courier.core.demo.synthetic import StudySpec
from dicom_courier.core.demo.workstation import Workstation
from dicom_courier.core.dimse.engine import Courier
from dicom_courier.core.jobs.queue import JobLabel, JobSnapshot, JobState, MoveQueue
from dicom_courier.core.outcome.errors import Peer
from dicom_courier.core.outcome.events import MoveOutcome, MoveProgress, MoveResult
from dicom_courier.core.outcome.status import failure_for_status
from dicom_courier.core.qr.query import MoveRequest, MoveTarget
from dicom_courier.core.signals import EngineSignals
from dicom_courier.gui.progress_delegate import COMPLETED_COLOUR, FAILED_COLOUR
from dicom_courier.gui.queue_model import (
    FAILED_COLOUR as FAILED_TEXT,
)
from dicom_courier.gui.queue_model import (
    FLUSH_INTERVAL_MS,
    JOB_ROLE,
    PARTIAL_COLOUR,
    PROGRESS_ROLE,
    MoveQueueModel,
    ProgressData,
    QueueColumn,
)
from dicom_courier.gui.queue_panel import QueuePanel
from tests.waiting import until

NODE = PacsNode(name="main", called_aet="DEMOPACS", host="127.0.0.1", port=11112)
PEER = Peer(calling_aet="COURIER", called_aet="DEMOPACS", host="127.0.0.1", port=11112)
STUDY_UID = "1.2.826.0.1.3680043.8.498.10203040506070809"

_OUTCOME = {JobState.COMPLETED: MoveOutcome.COMPLETED, JobState.PARTIAL: MoveOutcome.PARTIAL,
            JobState.FAILED: MoveOutcome.FAILED, JobState.CANCELLED: MoveOutcome.CANCELLED}


def make_job(job_id: int, state: JobState, *, completed: int = 0, failed: int = 0,
             warning: int = 0, total: int | None = None, started_ago: float | None = None,
             status: int | None = None, patient: str = "", study: str = "",
             destination: str = "WS") -> JobSnapshot:
    """A snapshot as the queue would publish it, without running a queue."""
    now = time.monotonic()
    started = None if started_ago is None else now - started_ago
    progress = None
    if started is not None and (completed or failed or warning or total is not None):
        remaining = None if total is None else total - completed - failed - warning
        progress = MoveProgress(remaining=remaining, completed=completed, failed=failed,
                                warning=warning, total=total, status=status or 0xFF00,
                                elapsed=started_ago or 0.0, is_final=state.is_finished)
    result = None
    if state.is_finished and state in _OUTCOME:
        error = None
        if status not in (None, 0x0000):
            error = failure_for_status(status, operation="send", peer=PEER,
                                       destination=destination,
                                       counts=f"{completed} sent, {failed} failed")
        result = MoveResult(outcome=_OUTCOME[state], total=total, completed=completed,
                            failed=failed, warning=warning, status=status,
                            duration=started_ago or 0.0, error_comment=None,
                            failed_sop_uids=(), error=error, destination=destination, peer=PEER)
    return JobSnapshot(
        job_id=job_id, pacs=NODE,
        request=MoveRequest(MoveTarget(f"{STUDY_UID}{job_id}"), destination),
        label=JobLabel(patient=patient, study=study), state=state, queued_at=now - 30,
        started_at=started, finished_at=now if state.is_finished and started else None,
        progress=progress, result=result)


def sample_jobs() -> list[JobSnapshot]:
    """One job in each state a person meets (also the screenshot's content)."""
    return [
        make_job(1, JobState.QUEUED, patient="Müller, Anna", study="CT Thorax"),
        make_job(2, JobState.RUNNING, completed=24, total=60, started_ago=8,
                 patient="Dupont, Jean", study="MR Knee left"),
        make_job(3, JobState.CANCELLING, completed=10, total=50, started_ago=5,
                 patient="Smith, John", study="CT Abdomen"),
        make_job(4, JobState.COMPLETED, completed=60, total=60, started_ago=12,
                 status=0x0000, patient="Tanaka, Yuki", study="XR Chest"),
        make_job(5, JobState.PARTIAL, completed=52, failed=6, warning=2, total=60,
                 started_ago=20, status=0xB000, patient="Kowalski, Jan"),
        make_job(6, JobState.FAILED, started_ago=1, status=0xA801, patient="Rossi, Maria",
                 study="US Liver", destination="NOWHERE"),
    ]


@pytest.fixture
def model(qtbot: QtBot) -> MoveQueueModel:
    model = MoveQueueModel()
    for job in sample_jobs():
        model.apply(job)
    return model


@pytest.fixture
def panel(qtbot: QtBot) -> QueuePanel:
    panel = QueuePanel()
    qtbot.addWidget(panel)
    for job in sample_jobs():
        panel.model.apply(job)
    panel.resize(1100, 260)
    return panel


def text(model: MoveQueueModel, row: int, column: QueueColumn,
         role: int = Qt.ItemDataRole.DisplayRole) -> Any:
    return model.data(model.index(row, column), role)


# ---------------------------------------------------------------------------- the model


def test_model_contract(qtmodeltester: Any, model: MoveQueueModel) -> None:
    qtmodeltester.check(model)  # Qt's QAbstractItemModelTester: its warnings fail the test
    model.apply(make_job(2, JobState.COMPLETED, completed=60, total=60, started_ago=9,
                         status=0x0000))
    model.remove_jobs([1, 4])
    model.apply(make_job(7, JobState.QUEUED))
    model.flush()
    qtmodeltester.check(model, force_py=True)  # pytest-qt's own checks, on the changed model


def test_one_row_per_job_in_submission_order(model: MoveQueueModel) -> None:
    assert [model.job_at(row).job_id for row in range(model.rowCount())] == [1, 2, 3, 4, 5, 6]
    newer = make_job(2, JobState.RUNNING, completed=30, total=60, started_ago=9)
    model.apply(newer)
    assert model.rowCount() == 6
    assert model.job_at(1) is newer
    assert text(model, 1, QueueColumn.PATIENT, JOB_ROLE) is newer
    assert text(model, 1, QueueColumn.PROGRESS, PROGRESS_ROLE) == ProgressData(
        30, 0, 0, 60, JobState.RUNNING)


def test_remove_jobs_keeps_the_others_addressable(model: MoveQueueModel) -> None:
    model.remove_jobs([4, 5, 6, 1, 99])
    assert [job.job_id for job in model.jobs()] == [2, 3]
    assert model.row_of(3) == 1
    model.apply(make_job(7, JobState.QUEUED))
    assert model.row_of(7) == 2


def test_a_thousand_responses_make_a_handful_of_repaints(qtbot: QtBot) -> None:
    model = MoveQueueModel()
    model.apply(make_job(1, JobState.RUNNING, total=1000, started_ago=0.1))
    emissions: list[tuple[int, int]] = []
    model.dataChanged.connect(lambda first, last, _roles=(): emissions.append(
        (first.row(), last.row())))

    start = time.perf_counter()
    for done in range(1, 1001):
        model.apply(make_job(1, JobState.RUNNING, completed=done, total=1000, started_ago=2))
    elapsed = time.perf_counter() - start

    assert emissions == []  # nothing reaches the view while the burst is still coming
    qtbot.waitUntil(lambda: bool(emissions), timeout=2000)
    qtbot.wait(3 * FLUSH_INTERVAL_MS)
    print(f"1,000 snapshots applied in {elapsed * 1000:.0f} ms -> "
          f"{len(emissions)} dataChanged")
    assert 1 <= len(emissions) <= 3
    assert set(emissions) == {(0, 0)}
    assert text(model, 0, QueueColumn.PROGRESS) == "1000 of 1000 sent"
    assert elapsed < 1.0, f"applying 1,000 snapshots took {elapsed:.2f} s"


def test_one_flush_spans_every_changed_row(qtbot: QtBot, model: MoveQueueModel) -> None:
    with qtbot.waitSignal(model.dataChanged, timeout=1000) as blocker:
        model.apply(make_job(2, JobState.RUNNING, completed=25, total=60, started_ago=8))
        model.apply(make_job(5, JobState.PARTIAL, completed=52, failed=6, total=60,
                             started_ago=20, status=0xB000))
    first, last = blocker.args[0], blocker.args[1]
    assert (first.row(), first.column()) == (1, 0)
    assert (last.row(), last.column()) == (4, len(QueueColumn) - 1)


@pytest.mark.parametrize(("row", "status", "colour"), [
    (0, "queued", None),
    (1, "running", None),
    (2, "cancelling…", None),
    (3, "completed", None),
    (4, "partial: 54 of 60 sent, 6 failed", PARTIAL_COLOUR),  # 2 with warnings arrived
    (5, "failed: DEMOPACS does not know the destination NOWHERE.", FAILED_TEXT),
])
def test_status_words_and_colours(model: MoveQueueModel, row: int, status: str,
                                  colour: QColor | None) -> None:
    assert text(model, row, QueueColumn.STATUS) == status
    assert text(model, row, QueueColumn.STATUS, Qt.ItemDataRole.ForegroundRole) == colour


def test_cancelled_status() -> None:
    model = MoveQueueModel()
    model.apply(make_job(1, JobState.CANCELLED, completed=3, total=10, started_ago=2))
    assert text(model, 0, QueueColumn.STATUS) == "cancelled: 3 of 10 sent, 7 not sent"
    assert text(model, 0, QueueColumn.PROGRESS) == "3 of 10 sent"


def test_failure_tooltip_says_why_and_what_to_do(model: MoveQueueModel) -> None:
    tip = text(model, 5, QueueColumn.STATUS, Qt.ItemDataRole.ToolTipRole)
    assert "move destination unknown" in tip and "0xA801" in tip
    assert "What to do: On the PACS, add the destination's AE title" in tip
    assert text(model, 3, QueueColumn.STATUS, Qt.ItemDataRole.ToolTipRole) is None


def test_rate_times_and_labels(model: MoveQueueModel) -> None:
    # Job 2: 24 images in 8 s -> 3.0 img/s; 36 left -> 12 s.
    assert text(model, 1, QueueColumn.RATE) == "3.0 img/s"
    assert text(model, 1, QueueColumn.ELAPSED) == "0:08"
    assert text(model, 1, QueueColumn.REMAINING) == "0:12"
    assert text(model, 3, QueueColumn.REMAINING) == ""  # finished: nothing remains to time
    assert text(model, 0, QueueColumn.ELAPSED) == ""  # never started
    assert text(model, 1, QueueColumn.PATIENT) == "Dupont, Jean"
    assert text(model, 1, QueueColumn.STUDY) == "MR Knee left"
    assert text(model, 4, QueueColumn.STUDY) == "…30405060708095"  # no label: the UID's tail
    assert text(model, 4, QueueColumn.STUDY, Qt.ItemDataRole.ToolTipRole) == f"{STUDY_UID}5"
    assert text(model, 5, QueueColumn.DESTINATION) == "NOWHERE"
    assert [text(model, r, QueueColumn.PROGRESS) for r in range(6)] == [
        "queued", "24 of 60 sent", "10 of 50 sent", "60 of 60 sent",
        "54 sent (2 with warnings) · 6 failed of 60", "0 sent"]  # failed images never "sent"


def test_progress_tooltip_spells_out_the_colours(model: MoveQueueModel) -> None:
    assert text(model, 4, QueueColumn.PROGRESS, Qt.ItemDataRole.ToolTipRole) == (
        "52 received, 2 with warnings, 6 failed of 60 images")
    assert text(model, 0, QueueColumn.PROGRESS, Qt.ItemDataRole.ToolTipRole) is None


def test_unknown_total_reads_done_over_question_mark() -> None:
    model = MoveQueueModel()
    model.apply(make_job(1, JobState.RUNNING, completed=12, started_ago=3))
    assert text(model, 0, QueueColumn.PROGRESS) == "12 sent"  # no made-up total


# ---------------------------------------------------------------------------- the panel


def test_view_is_named_for_people_and_tests(panel: QueuePanel) -> None:
    assert panel.view.objectName() == "queueView"
    assert panel.view.accessibleName() == "Move queue"


@pytest.mark.qt_log_ignore("propagateSizeHints")
def test_tab_leaves_the_queue_table_for_its_buttons(qtbot: QtBot, panel: QueuePanel) -> None:
    """Seen in review (issue 13): Tab in the queue walked its cells forever, so a keyboard
    user could reach a row's Open folder (Menu key) but never Pause queue or Clear finished."""
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    panel.show()
    qtbot.waitExposed(panel)
    panel.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is panel)
    panel.view.setFocus()
    reached = set()
    for _ in range(12):
        QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
        reached.add(QApplication.focusWidget())
    assert panel.pause_button in reached and panel.clear_button in reached


def test_buttons_follow_the_selection(panel: QueuePanel) -> None:
    assert not panel.cancel_button.isEnabled() and not panel.retry_button.isEnabled()
    assert panel.clear_button.isEnabled()  # there are finished jobs

    panel.select_jobs([1, 2])  # queued + running
    assert panel.cancel_button.isEnabled() and not panel.retry_button.isEnabled()
    panel.select_jobs([3])  # already cancelling: nothing more to do
    assert not panel.cancel_button.isEnabled() and not panel.retry_button.isEnabled()
    panel.select_jobs([4])  # completed: nothing to retry
    assert not panel.cancel_button.isEnabled() and not panel.retry_button.isEnabled()
    panel.select_jobs([5, 6])
    assert not panel.cancel_button.isEnabled() and panel.retry_button.isEnabled()

    panel.model.remove_jobs([4, 5, 6])
    assert not panel.clear_button.isEnabled()
    assert not panel.retry_button.isEnabled()


def test_buttons_follow_state_changes_of_selected_rows(qtbot: QtBot, panel: QueuePanel
                                                      ) -> None:
    panel.select_jobs([2])
    assert panel.cancel_button.isEnabled()
    panel.model.apply(make_job(2, JobState.FAILED, completed=24, total=60, started_ago=8,
                               status=0xA702))
    qtbot.waitUntil(lambda: panel.retry_button.isEnabled(), timeout=1000)
    assert not panel.cancel_button.isEnabled()


def test_signals_carry_the_selected_job_ids(qtbot: QtBot, panel: QueuePanel) -> None:
    panel.select_jobs(list(range(1, 7)))
    with qtbot.waitSignal(panel.cancel_requested, timeout=1000) as cancel:
        qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    assert cancel.args == [[1, 2]]
    with qtbot.waitSignal(panel.retry_requested, timeout=1000) as retry:
        qtbot.mouseClick(panel.retry_button, Qt.MouseButton.LeftButton)
    assert retry.args == [[5, 6]]
    with qtbot.waitSignal(panel.clear_finished_requested, timeout=1000):
        qtbot.mouseClick(panel.clear_button, Qt.MouseButton.LeftButton)


def _row_centre(panel: QueuePanel, row: int) -> QPoint:
    return panel.view.visualRect(panel.proxy.index(row, QueueColumn.STATUS)).center()


def _double_click(qtbot: QtBot, panel: QueuePanel, row: int) -> None:
    """Press-release, then the double click, as a real mouse sends them (QTest's double
    click alone is not recognised by the view on the first try)."""
    viewport, pos = panel.view.viewport(), _row_centre(panel, row)
    qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=pos)
    qtbot.mouseDClick(viewport, Qt.MouseButton.LeftButton, pos=pos)


def test_double_click_on_a_failure_asks_for_details(qtbot: QtBot, panel: QueuePanel) -> None:
    panel.grab()  # lays the panel out without showing it (offscreen warns on show)
    with qtbot.waitSignal(panel.details_requested, timeout=1000) as details:
        _double_click(qtbot, panel, 5)
    assert details.args == [6]
    with qtbot.assertNotEmitted(panel.details_requested, wait=50):
        _double_click(qtbot, panel, 3)  # completed: no details to show
    with qtbot.waitSignal(panel.details_requested, timeout=1000) as details:
        _double_click(qtbot, panel, 4)
    assert details.args == [5]


def test_selection_survives_updates_and_removals(qtbot: QtBot, panel: QueuePanel) -> None:
    panel.select_jobs([2, 5])
    for done in range(25, 40):
        panel.model.apply(make_job(2, JobState.RUNNING, completed=done, total=60,
                                   started_ago=8))
    panel.model.apply(make_job(9, JobState.QUEUED))
    with qtbot.waitSignal(panel.model.dataChanged, timeout=1000):
        pass
    assert [job.job_id for job in panel.selected_jobs()] == [2, 5]
    assert panel.selected_jobs()[0].progress is not None
    assert panel.selected_jobs()[0].progress.completed == 39
    panel.model.remove_jobs([1, 4])
    assert [job.job_id for job in panel.selected_jobs()] == [2, 5]


def _mostly(image: QImage, x: int, y: int, colour: QColor) -> bool:
    pixel = image.pixelColor(x, y)
    return all(abs(a - b) <= 12 for a, b in zip(pixel.getRgb()[:3], colour.getRgb()[:3],
                                                 strict=True))


def test_progress_bar_paints_green_and_red_segments(qtbot: QtBot, panel: QueuePanel) -> None:
    panel.grab()  # lays the panel out
    image = panel.view.viewport().grab().toImage()
    completed = panel.view.visualRect(panel.proxy.index(3, QueueColumn.PROGRESS))
    partial = panel.view.visualRect(panel.proxy.index(4, QueueColumn.PROGRESS))
    y = completed.top() + 6
    assert _mostly(image, completed.left() + 10, y, COMPLETED_COLOUR)
    assert _mostly(image, completed.right() - 10, y, COMPLETED_COLOUR)
    # Partial 52 + 2 warnings + 6 failed of 60: the last tenth is red (hatched on red).
    y = partial.top() + 6
    assert _mostly(image, partial.left() + 10, y, COMPLETED_COLOUR)
    right_end = [image.pixelColor(partial.right() - 6 - dx, y) for dx in range(4)]
    assert any(_mostly(image, partial.right() - 6 - dx, y, FAILED_COLOUR) for dx in range(4)), \
        right_end


# ---------------------------------------------------------------------------- end to end

SPEC = StudySpec(key="queue-panel", patient_name="Panel^Patient", patient_id="QP1",
                 series_count=2, instances_per_series=10, description="Panel study")
SLOW_SPEC = StudySpec(key="queue-panel-slow", patient_name="Slow^Patient", patient_id="QP2",
                      series_count=1, instances_per_series=40)


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[PacsNode, Workstation]]:
    with Workstation(tmp_path / "ws", ae_title="WS") as ws, DemoPacs(
            [SPEC, SLOW_SPEC], destinations={"WS": ("127.0.0.1", ws.port)},
            store_delay=0.05) as pacs:
        yield PacsNode(name="demo", called_aet=pacs.ae_title, host="127.0.0.1",
                       port=pacs.port, timeouts=Timeouts(idle=10)), ws


def _wired_panel(qtbot: QtBot) -> tuple[QueuePanel, EngineSignals]:
    panel = QueuePanel()
    qtbot.addWidget(panel)
    signals = EngineSignals()
    signals.job_changed.connect(panel.model.apply)
    return panel, signals


@pytest.mark.network
def test_a_real_move_reaches_completed_in_the_panel(
        qtbot: QtBot, run_async: Any, demo: tuple[PacsNode, Workstation]) -> None:
    node, ws = demo
    panel, signals = _wired_panel(qtbot)
    states: list[JobState] = []
    signals.job_changed.connect(lambda job: states.append(job.state))

    async def scenario() -> int:
        with Courier() as courier:
            queue = MoveQueue(courier, signals.report_job)
            job_id = queue.submit(node, MoveRequest(MoveTarget(SPEC.study_uid), "WS"),
                                  JobLabel(patient="Panel^Patient", study="Panel study"))
            await until(lambda: queue.get(job_id).state.is_finished)
            await queue.close()
            return job_id

    started = time.perf_counter()
    job_id = run_async(scenario())
    took = time.perf_counter() - started
    qtbot.waitUntil(lambda: text(panel.model, 0, QueueColumn.STATUS) == "completed",
                    timeout=1000)

    model = panel.model
    assert model.rowCount() == 1 and model.job_at(0).job_id == job_id
    counts = text(model, 0, QueueColumn.PROGRESS, PROGRESS_ROLE)
    assert counts == ProgressData(20, 0, 0, 20, JobState.COMPLETED)
    assert text(model, 0, QueueColumn.PROGRESS) == "20 of 20 sent"
    assert states[0] is JobState.QUEUED and JobState.RUNNING in states
    assert ws.received_uids() == {SPEC.sop_uid(s, i) for s in range(2) for i in range(10)}
    assert 0.5 < took < 10, f"the move took {took:.2f} s"


@pytest.mark.network
def test_cancel_from_the_panel_mid_move(
        qtbot: QtBot, run_async: Any, demo: tuple[PacsNode, Workstation]) -> None:
    node, ws = demo
    panel, signals = _wired_panel(qtbot)

    async def scenario() -> int:
        with Courier(cancel_grace=2) as courier:
            queue = MoveQueue(courier, signals.report_job)

            def cancel(job_ids: list[int]) -> None:
                for job_id in job_ids:
                    queue.cancel(job_id)

            panel.cancel_requested.connect(cancel)
            try:
                job_id = queue.submit(node, MoveRequest(MoveTarget(SLOW_SPEC.study_uid), "WS"))
                await until(lambda: (panel.model.job_at(0).progress is not None
                                     and panel.model.job_at(0).progress.completed >= 3))
                panel.select_jobs([job_id])
                assert panel.cancel_button.isEnabled()
                panel.cancel_button.click()
                await until(lambda: queue.get(job_id).state.is_finished)
                await queue.close()
            finally:
                panel.cancel_requested.disconnect(cancel)
            return job_id

    job_id = run_async(scenario())
    qtbot.waitUntil(panel.retry_button.isEnabled, timeout=1000)  # after the next flush
    assert str(text(panel.model, 0, QueueColumn.STATUS)).startswith("cancelled: ")
    job = panel.model.job_at(0)
    assert job.job_id == job_id and job.state is JobState.CANCELLED
    assert 3 <= ws.received_count < SLOW_SPEC.instance_count
    assert panel.retry_button.isEnabled() and not panel.cancel_button.isEnabled()


def test_a_retrying_job_says_when_and_why_and_can_be_cancelled(qtbot: QtBot) -> None:
    from dataclasses import replace

    from dicom_courier.gui.queue_model import status_text

    failed = make_job(7, JobState.FAILED, status=0xA702, completed=0, failed=3, total=3,
                      started_ago=2)
    waiting = replace(failed, state=JobState.RETRYING, attempt=1,
                      next_retry_at=time.monotonic() + 20.5)
    text = status_text(waiting)
    assert text.startswith("retrying (attempt 2) in 20 s")
    assert "after:" in text and "out of resources" in text
    assert status_text(replace(waiting, state=JobState.QUEUED, attempt=2)) == \
        "queued (attempt 2)"
    from dicom_courier.gui.queue_panel import CANCELLABLE

    assert JobState.RETRYING in CANCELLABLE
