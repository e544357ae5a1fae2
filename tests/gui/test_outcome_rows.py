"""The window's queue row reads the one outcome table: every rig row, same words as the CLI.

Each row of tests/core/test_outcome_table.py runs through a real MoveQueue against the PDU rig
(in a worker thread with its own asyncio loop, never the session's qasync loop); the final
snapshot goes into the queue model, and its Status and Progress cells must say what the
outcome function decided: never more arrived than the total, failed never counted as sent.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from dicom_courier.core.outcome.decide import summary_phrase
from dicom_courier.gui.queue_model import MoveQueueModel, QueueColumn
from dicom_courier.gui.queue_panel import QueuePanel
from tests.core.test_outcome_table import ROWS, Row, run_in_queue

#: What a person reads in the Status and Progress cells for each row (the progress words:
#: core.jobs.row_words; failed images are named, never counted as sent).
EXPECTED = {
    "counts present, success": ("completed", "3 of 3 sent"),
    "final response corrects the total upward": ("partial: 2 of 3 sent, 1 failed",
                                                 "2 sent · 1 failed of 3"),
    "no counts at all": ("completed (the PACS did not report image counts)",
                         "no image counts"),
    "counts sent empty (zero-length)": ("completed (the PACS did not report image counts)",
                                        "no image counts"),
    "explicit zeros: nothing matched": ("failed: RIG found nothing to send.", "0 of 0 sent"),
    "success status, every image failed": ("failed:", "0 sent · 2 failed of 2"),
    "0xB000, every image failed": ("failed:", "0 sent · 3 failed of 3"),
    "success status with some failures quotes 0x0000": ("partial: 2 of 3 sent, 1 failed",
                                                         "2 sent · 1 failed of 3"),
    "warnings only: completed with warnings":
        ("completed with warnings (1 of 3 images arrived with warnings)",
         "3 of 3 sent (1 with warnings)"),
    "absurd Pending total replaced by the final counts": ("completed", "2 of 2 sent"),
    "final success without counts completes what remained": ("completed", "3 of 3 sent"),
    "a count going backwards keeps the higher": ("completed", "5 of 5 sent"),
    "failure status with nothing sent": ("failed:", "0 sent · 2 failed of 2"),
    "failure status after some images": ("partial: 2 of 3 sent, 1 failed",
                                         "2 sent · 1 failed of 3"),
    "cancel confirmed with 0xFE00": ("cancelled: 2 of 10 sent", "2 of 10 sent"),
    "cancel confirmed with 0xB000": ("cancelled: 2 of 10 sent", "2 of 10 sent"),
    "cancel confirmed with 0x0000": ("cancelled: 2 of 10 sent", "2 of 10 sent"),
    "association aborted mid-send": ("failed:", "1 of 4 sent"),
    "cancel confirmed with 0x0000 counting only completed":
        ("cancelled: 2 of 10 sent, 8 not sent", "2 of 10 sent"),
    "cancel ignored: the PACS completes the study":
        ("completed (the PACS finished before our cancel took effect)", "10 of 10 sent"),
    "failure status after every image arrived":
        ("completed with warnings (the PACS reported a failure (0xA702", "3 of 3 sent"),
    "failure status after some images, counts only in Pending": ("partial: 3 of 4 sent",
                                                                 "3 of 4 sent"),
    "0xB000 counting failures but not completed":
        ("partial: 1 failed; the PACS did not say how many of 3 arrived",
         "? sent · 1 failed of 3"),
    "0x0000 counting failures but not completed":
        ("partial: 1 failed; the PACS did not say how many of 3 arrived",
         "? sent · 1 failed of 3"),
    "cancel answered with A-ABORT from the PACS's application":
        ("cancelled: 2 of 10 sent; 8 more may still arrive", "2 of 10 sent"),
    "cancel answered by closing the connection":
        ("cancelled: 2 of 10 sent; 8 more may still arrive", "2 of 10 sent"),
    "unasked 0xFE00 after every image arrived":
        ("completed (the PACS reported a cancel after every image arrived)", "3 of 3 sent"),
    "cancel answered with a failure status, nothing sent":
        ("cancelled: 0 of 10 sent, 10 not sent", "0 of 10 sent"),
    "0xB000 without counts": ("partial", "no image counts"),
    "another warning status without counts":
        ("completed with warnings (the PACS answered 0xB007 and did not report image counts)",
         "no image counts"),
    "warning status with no failed and no warning image":
        ("completed with warnings (the PACS answered 0xB007 but reported no failed image)",
         "3 of 3 sent"),
    "failure without counts: no image is known to have arrived": ("failed:",
                                                                  "no image counts"),
}


def test_every_row_has_its_expected_window_text() -> None:
    assert set(EXPECTED) == {row.name for row in ROWS}


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
@pytest.mark.network
def test_queue_row_reads_the_outcome(row: Row, qtbot: QtBot, tmp_path: Path) -> None:
    with ThreadPoolExecutor(1) as pool:
        job, stored = pool.submit(run_in_queue, row, tmp_path / "jobs.db").result(timeout=30)
    model = MoveQueueModel()
    model.apply(job)
    model.flush()
    status = model.data(model.index(0, QueueColumn.STATUS), Qt.ItemDataRole.DisplayRole)
    progress = model.data(model.index(0, QueueColumn.PROGRESS), Qt.ItemDataRole.DisplayRole)
    assert job.result is not None
    assert status == summary_phrase(job.result)  # the same words as the CLI's bar
    want_status, want_progress = EXPECTED[row.name]
    assert str(status).startswith(want_status), status
    assert progress == want_progress
    assert stored.state == job.state.value == row.outcome


@pytest.mark.qt_log_ignore("propagateSizeHints")
@pytest.mark.network
def test_screenshot_of_the_outcome_rows(qtbot: QtBot, tmp_path: Path) -> None:
    """Not an assertion of pixels: a picture of the rows for a person to look at."""
    panel = QueuePanel()
    qtbot.addWidget(panel)
    picked = [r for r in ROWS if r.name in (
        "final response corrects the total upward", "no counts at all",
        "warnings only: completed with warnings", "cancel confirmed with 0xB000",
        "success status, every image failed")]
    with ThreadPoolExecutor(1) as pool:
        for number, row in enumerate(picked):
            job, _ = pool.submit(run_in_queue, row, tmp_path / f"{number}.db").result(timeout=30)
            panel.model.apply(replace(job, job_id=number + 1))
    panel.model.flush()
    panel.resize(1300, 260)
    panel.show()
    qtbot.waitExposed(panel)
    out = os.environ.get("COURIER_SCREENSHOT_DIR")
    if out:
        panel.grab().save(str(Path(out) / "outcome_rows.png"))
