"""Issue 11 §5 and §7 in the window: bars and labels that tell the truth, a paused queue you
can see, a Retry that re-sends what it says, a duplicate question that calls a failed send
"failed" and skips only the repeats, and window sends recorded with their Patient ID.

Scripted moves (tests/fakes/fake_move.py), no socket. Set COURIER_SCREENSHOT to a folder to
keep the screenshots (they are always taken, so painting runs in every test run).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QMessageBox, QPushButton, QWidget
from pytestqt.qtbot import QtBot

from dicom_courier.core.config.profile_store import NodeStore
from dicom_courier.core.config.profiles import Destination, PacsNode
from dicom_courier.core.dimse.engine import Courier
from dicom_courier.core.jobs.queue import JobLabel, JobSnapshot, JobState
from dicom_courier.core.outcome.errors import (
    AssociationRejected,
    CourierError,
    PartialFailure,
    Peer,
    PeerTimeout,
)
from dicom_courier.core.outcome.events import MoveOutcome, MoveProgress, MoveResult
from dicom_courier.core.outcome.status import failure_for_status
from dicom_courier.core.qr.query import FindMatch, MoveRequest, MoveTarget, QueryLevel
from dicom_courier.gui import create_main_window
from dicom_courier.gui.failure_dialog import FailureDialog
from dicom_courier.gui.main_window import MainWindow
from dicom_courier.gui.progress_delegate import COMPLETED_COLOUR, FAILED_COLOUR
from dicom_courier.gui.queue_model import QueueColumn
from dicom_courier.gui.queue_panel import QueuePanel
from tests.fakes.fake_move import FakeMoves, MoveScript
from tests.gui.waiting import until

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "raise")

NODE = PacsNode(name="main", called_aet="DEMOPACS", host="127.0.0.1", port=11112,
                destinations=(Destination("WS"),))
PEER = Peer("COURIER", "DEMOPACS", "127.0.0.1", 11112)
STUDY = "1.2.826.0.1.3680043.8.498.5511"


def _shot(widget: QWidget, name: str) -> Path:
    folder = Path(os.environ.get("COURIER_SCREENSHOT") or "/tmp")
    path = folder / name
    assert widget.grab().save(str(path))
    return path


# ---------------------------------------------------------------------- rows and bars


def _finished(job_id: int, state: JobState, *, completed: int, failed: int = 0,
              warning: int = 0, total: int | None, reported: bool = True,
              error: CourierError | None = None, uids: tuple[str, ...] = (),
              patient: str = "", study: str = "") -> JobSnapshot:
    now = time.monotonic()
    result = MoveResult(outcome=MoveOutcome(state.value), total=total, completed=completed,
                        failed=failed, warning=warning, status=0xB000 if failed else 0,
                        duration=12.0, error_comment=None, failed_sop_uids=uids, error=error,
                        destination="WS", peer=PEER, counts_reported=reported)
    return JobSnapshot(job_id=job_id, pacs=NODE,
                       request=MoveRequest(MoveTarget(f"{STUDY}.{job_id}"), "WS"),
                       label=JobLabel(patient, study), state=state, queued_at=now - 20,
                       started_at=now - 12, finished_at=now, result=result)


ROWS = [
    _finished(1, JobState.COMPLETED, completed=60, total=60, patient="Tanaka, Yuki",
              study="XR Chest"),
    _finished(2, JobState.PARTIAL, completed=52, failed=8, total=60, patient="Kowalski, Jan",
              study="CT Abdomen", error=PartialFailure("Only part of the send succeeded.",
                                                       "e", "a")),
    _finished(3, JobState.COMPLETED_WITH_WARNINGS, completed=58, warning=2, total=60,
              patient="Dupont, Jean", study="MR Knee"),
    _finished(4, JobState.COMPLETED, completed=0, total=None, reported=False,
              patient="Rossi, Maria", study="US Liver"),
]


def _near(image: QImage, x: int, y: int, colour: QColor, tolerance: int = 14) -> bool:
    pixel = image.pixelColor(x, y)
    return all(abs(a - b) <= tolerance for a, b in zip(pixel.getRgb()[:3], colour.getRgb()[:3],
                                                        strict=True))


@pytest.fixture
def panel(qtbot: QtBot) -> QueuePanel:
    panel = QueuePanel()
    qtbot.addWidget(panel)
    for job in ROWS:
        panel.model.apply(job)
    running = JobSnapshot(job_id=5, pacs=NODE, request=MoveRequest(MoveTarget(STUDY), "WS"),
                          label=JobLabel("Müller, Anna", "CT Thorax"), state=JobState.RUNNING,
                          queued_at=time.monotonic() - 5, started_at=time.monotonic() - 3,
                          progress=MoveProgress(None, 12, 0, 0, None, 0xFF00, 3.0, False))
    panel.model.apply(running)
    panel.model.flush()
    panel.resize(1180, 240)
    return panel


def _cell(panel: QueuePanel, row: int, column: QueueColumn) -> str:
    return str(panel.proxy.index(row, column).data())


def test_each_row_says_sent_warnings_and_failed_apart(panel: QueuePanel) -> None:
    assert [_cell(panel, r, QueueColumn.PROGRESS) for r in range(5)] == [
        "60 of 60 sent",
        "52 sent · 8 failed of 60",  # old: "60/60" read as a whole send
        "60 of 60 sent (2 with warnings)",
        "no image counts",  # the PACS sent no counts: no "0/0", no percentage
        "12 sent",  # running, total unknown: no "of ?"
    ]
    assert _cell(panel, 1, QueueColumn.STATUS) == "partial: 52 of 60 sent, 8 failed"


def test_a_partial_bar_is_not_full_and_shows_its_failed_part(panel: QueuePanel) -> None:
    panel.grab()  # lays the panel out
    image = panel.view.viewport().grab().toImage()

    def bar(row: int) -> Any:
        return panel.view.visualRect(panel.proxy.index(row, QueueColumn.PROGRESS))

    full, partial, silent = bar(0), bar(1), bar(3)
    y = full.top() + 6
    assert _near(image, full.right() - 7, y, COMPLETED_COLOUR)  # full: green to the end
    y = partial.top() + 6
    width = partial.width() - 9  # the bar inside the cell's margins
    left = partial.left() + 4.5
    assert _near(image, int(left + width * 0.3), y, COMPLETED_COLOUR)
    # Past 52/60 nothing is green: the failed part is its own (pale red, hatched) segment,
    # and the last pixels are the empty trough, not a fill.
    past = [int(left + width * f) for f in (0.9, 0.95, 0.98)]
    assert not any(_near(image, x, y, COMPLETED_COLOUR, 40) for x in past)
    assert any(_near(image, x, yy, FAILED_COLOUR, 20) for x in range(past[0], past[1])
               for yy in range(partial.top() + 4, partial.bottom() - 4))  # the failed part
    end = int(left + width) - 2  # the gap: a partial bar never reaches the end
    assert not any(_near(image, end, yy, colour, 20) for colour in (COMPLETED_COLOUR,
                                                                    FAILED_COLOUR)
                   for yy in range(partial.top() + 5, partial.bottom() - 5))
    y = silent.top() + 6
    assert not any(_near(image, x, y, COMPLETED_COLOUR, 40)
                   for x in range(silent.left() + 6, silent.right() - 6, 4))
    path = _shot(panel, "queue_partial.png")
    assert path.exists()


# ---------------------------------------------------------------------- the window


def _window(qtbot: QtBot, config: Path, moves: FakeMoves) -> MainWindow:
    NodeStore(config / "nodes.json").put(NODE)
    courier = Courier()
    courier.move = moves  # type: ignore[method-assign]  # the queue's start_move
    window = create_main_window(config, courier=courier)
    qtbot.addWidget(window)
    window.reload_profiles(select="main")
    window.resize(1180, 760)
    window.show()
    return window


def _click(qtbot: QtBot, button: QWidget) -> None:
    assert button.isVisible() and button.isEnabled(), button.objectName()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton, pos=button.rect().center())


def test_a_paused_queue_is_visible_and_resumes_with_a_click(
        qtbot: QtBot, tmp_path: Path, run_async: Any) -> None:
    window = _window(qtbot, tmp_path / "config", FakeMoves(default=MoveScript(images=3)))
    panel = window.queue_panel
    try:
        assert not panel.banner.isVisible()
        _click(qtbot, panel.pause_button)  # a real click on Pause
        assert window.queue.paused and window.pause_action.isChecked()
        assert panel.banner.isVisible()

        async def submit() -> list[int]:
            return [window.queue.submit(NODE, MoveRequest(MoveTarget(f"{STUDY}.{n}"), "WS"))
                    for n in range(3)]

        ids = run_async(submit())
        panel.model.flush()
        assert panel.banner_label.text() == ("Queue paused — 3 sends waiting. Running sends "
                                             "go on.")
        assert [_cell(panel, r, QueueColumn.STATUS) for r in range(3)] == ["paused"] * 3
        assert [_cell(panel, r, QueueColumn.PROGRESS) for r in range(3)] == ["paused"] * 3
        path = _shot(panel, "queue_paused.png")
        assert path.exists()

        async def resume() -> None:
            _click(qtbot, panel.resume_button)  # a real click on Resume, in the banner
            await until(lambda: all(window.queue.get(i).state.is_finished for i in ids))

        run_async(resume())
        panel.model.flush()
        assert not window.queue.paused and not window.pause_action.isChecked()
        assert not panel.banner.isVisible()
        assert [_cell(panel, r, QueueColumn.STATUS) for r in range(3)] == ["completed"] * 3

        async def menu_then_button() -> None:  # as in the app: the loop runs
            window.pause_action.trigger()  # the Queue menu shows the same state
            assert window.queue.paused and panel.banner.isVisible()
            assert panel.banner_label.text().startswith("Queue paused — 0 sends waiting")
            _click(qtbot, panel.pause_button)  # pressed again: resumes
            assert not window.queue.paused and not panel.banner.isVisible()

        run_async(menu_then_button())
    finally:
        run_async(window.shutdown())


def _job_with(error: CourierError | None, outcome: MoveOutcome, **counts: Any) -> JobSnapshot:
    state = JobState(outcome.value)
    return _finished(9, state, error=error, **counts)


@pytest.mark.parametrize(("name", "job", "enabled", "label"), [
    ("0xA801: the PACS's admin must add the destination",
     _job_with(failure_for_status(0xA801, operation="send", peer=PEER, destination="WS"),
               MoveOutcome.FAILED, completed=0, total=None), False, "Retry"),
    ("the PACS stopped answering",
     _job_with(PeerTimeout("No answer.", "e", "a"), MoveOutcome.FAILED, completed=0,
               total=None), True, "Retry"),
    ("association refused, busy",
     _job_with(AssociationRejected("Refused.", "e", "a", permanent=False, reason="busy"),
               MoveOutcome.FAILED, completed=0, total=None), True, "Retry"),
    ("0xA702 out of resources",
     _job_with(failure_for_status(0xA702, operation="send", peer=PEER, destination="WS"),
               MoveOutcome.FAILED, completed=0, total=None), True, "Retry"),
    ("partial, failed images listed",
     _job_with(PartialFailure("Only part.", "e", "a"), MoveOutcome.PARTIAL, completed=7,
               failed=3, total=10, uids=("1.2.3.1", "1.2.3.2", "1.2.3.3")),
     True, "Retry the 3 failed images"),
])
def test_the_failure_dialogs_retry_is_enabled_when_retrying_can_help(
        qtbot: QtBot, name: str, job: JobSnapshot, enabled: bool, label: str) -> None:
    dialog = FailureDialog(job)
    qtbot.addWidget(dialog)
    assert dialog.retry_button.isEnabled() is enabled, name
    assert dialog.retry_button.text() == label


SERIES = f"{STUDY}.7"
FAILED = (f"{SERIES}.1.3", f"{SERIES}.1.7", f"{SERIES}.1.9")


def test_retry_the_failed_images_sends_exactly_those(qtbot: QtBot, tmp_path: Path,
                                                      run_async: Any) -> None:
    moves = FakeMoves(scripts=[MoveScript(images=10, failed=3, status=0xB000,
                                          failed_sop_uids=FAILED)])
    window = _window(qtbot, tmp_path / "config", moves)
    study = FindMatch(QueryLevel.STUDY, {"StudyInstanceUID": STUDY, "PatientID": "P7",
                                         "PatientName": "Doe^Jane", "StudyDescription": "CT"})
    series = FindMatch(QueryLevel.SERIES, {"SeriesInstanceUID": SERIES, "SeriesNumber": "2",
                                           "Modality": "CT"})
    window.destination_combo.setCurrentIndex(window.destination_combo.findData("WS"))
    try:
        async def send() -> int:
            [first] = window.enqueue_series(study, [series])
            await until(lambda: window.queue.get(first).state.is_finished)
            await until(lambda: bool(window.failures.open_dialogs()))
            return first

        first = run_async(send())
        assert window.queue.get(first).state is JobState.PARTIAL
        dialog = window.failures.open_dialogs()[0]
        assert isinstance(dialog, FailureDialog)
        assert dialog.retry_button.text() == "Retry the 3 failed images"
        _shot(dialog, "failure_partial.png")

        async def retry() -> None:
            _click(qtbot, dialog.retry_button)  # a real click
            await until(lambda: len(moves.started) == 2
                        and window.queue.jobs()[-1].state.is_finished)

        run_async(retry())
        again = window.queue.jobs()[-1]
        assert again.retry_of == first
        assert again.request.target.sop_uids == FAILED  # exactly the failed images
        assert again.request.target.series_uids == (SERIES,)
        assert moves.started[1].request.target.sop_uids == FAILED
        stored = {job.id: job for job in window.history.history()}
        assert stored[again.job_id].sop_uids == FAILED
        assert dialog.retry_button.text() == "Queued again"
    finally:
        run_async(window.shutdown())


# ---------------------------------------------------------------------- repeats


UIDS = [f"1.2.826.0.1.3680043.8.498.66{n}" for n in range(5)]


def _matches() -> list[FindMatch]:
    return [FindMatch(QueryLevel.STUDY, {"StudyInstanceUID": uid, "PatientID": f"R{n}",
                                         "PatientName": f"Repeat^{n}",
                                         "StudyDescription": "CT", "StudyDate": "20240101"})
            for n, uid in enumerate(UIDS)]


def _earlier(window: MainWindow, uid: str, state: str, completed: int) -> None:
    store = window.history
    job_id = store.add(pacs_json=NODE.to_json(), destination="WS", study_uid=uid,
                       queued_at=time.time() - 900)
    store.started(job_id)
    store.finished(job_id, state=state, total=10, completed=completed, failed=0, warning=0,
                   status=None, error=None)


def test_the_repeat_question_calls_a_failed_send_failed_and_skips_only_repeats(
        qtbot: QtBot, tmp_path: Path, run_async: Any) -> None:
    moves = FakeMoves()
    window = _window(qtbot, tmp_path / "config", moves)
    _earlier(window, UIDS[0], "completed", 10)
    _earlier(window, UIDS[3], "failed", 4)  # aborted after 4 of 10 arrived
    window.results_model.append_matches(_matches())
    window.destination_combo.setCurrentIndex(window.destination_combo.findData("WS"))
    window.results_view.selectAll()
    try:
        _click(qtbot, window.send_button)  # a real click on Send
        box = window.findChild(QMessageBox, "confirmSend")
        assert box is not None and box.isVisible()
        assert ("Of these 5 studies, in the last 60 minutes 1 was sent to WS and 1 failed "
                "part-way") in box.text()
        assert "2 were sent" not in box.text()
        send_all = box.button(QMessageBox.StandardButton.Yes)
        skip = box.findChild(QPushButton, "skipRepeats")
        assert send_all.text() == "Send all 5"
        assert skip is not None and skip.text() == "Skip the 2 repeats, send 3"
        _shot(box, "send_repeats.png")

        assert skip.isDefault()  # Enter never sends a study twice

        async def click_skip() -> None:
            QTest.keyClick(box, Qt.Key.Key_Return)  # Enter: the default button answers
            await until(lambda: len(window.queue.jobs()) == 3
                        and all(j.state.is_finished for j in window.queue.jobs()))

        run_async(click_skip())
        sent = [job.request.target.study_uid for job in window.queue.jobs()]
        assert sent == [UIDS[1], UIDS[2], UIDS[4]]  # the repeats were skipped, nothing else
    finally:
        run_async(window.shutdown())


# ---------------------------------------------------------------------- §7 the record


def test_a_window_send_records_patient_id_and_description_for_the_history(
        qtbot: QtBot, tmp_path: Path, run_async: Any) -> None:
    long_id = "X" * 70  # no Patient Root move can carry it, the record still names it
    matches = [
        FindMatch(QueryLevel.STUDY, {"StudyInstanceUID": UIDS[0], "PatientID": "PID-7 ",
                                     "PatientName": "Doe^Jane", "StudyDate": "20240115",
                                     "StudyDescription": "CT ABD [/w contrast]"}),
        FindMatch(QueryLevel.STUDY, {"StudyInstanceUID": UIDS[1], "PatientID": long_id,
                                     "PatientName": "Roe^Rick",
                                     "StudyDescription": "MR head"}),
    ]
    window = _window(qtbot, tmp_path / "config", FakeMoves())
    window.results_model.append_matches(matches)
    window.destination_combo.setCurrentIndex(window.destination_combo.findData("WS"))
    try:
        async def send_each() -> None:
            for row in range(2):
                window.results_view.selectRow(row)
                _click(qtbot, window.send_button)
                await until(lambda n=row + 1: len(window.queue.jobs()) == n
                            and window.queue.jobs()[-1].state.is_finished)

        run_async(send_each())
        recorded = {job.study_uid: job for job in window.history.history()}
        assert recorded[UIDS[0]].patient_id == "PID-7"  # old: every window send had ""
        assert recorded[UIDS[0]].label == "Doe, Jane — 2024-01-15 CT ABD [/w contrast]"
        assert recorded[UIDS[1]].patient_id == long_id
        assert "MR head" in recorded[UIDS[1]].label
        assert window.queue.jobs()[1].request.target.patient_id is None  # never sent on

        history = window.open_history()
        qtbot.keyClicks(history.patient_edit, "PID-7")  # typed, as a person filters
        qtbot.waitUntil(lambda: history.proxy.rowCount() == 1, timeout=3000)
        job = history.model.job_at(history.proxy.mapToSource(history.proxy.index(0, 0)).row())
        assert job.study_uid == UIDS[0]
        history.patient_edit.clear()
        qtbot.keyClicks(history.patient_edit, long_id)
        qtbot.waitUntil(lambda: history.proxy.rowCount() == 1, timeout=3000)
        history.close()
    finally:
        run_async(window.shutdown())
