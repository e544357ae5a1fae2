"""Issue 9 §1 in the window: a PACS that answers one row per image shows every row, says how
many distinct studies they are, and each study (series) is sent once.

Against QuirkyPacs(rows_per_image=True) with a 23-image single-study patient: search, select
all 23 rows, send → the confirmation counts 1 study of 23 images, one job, one C-MOVE, 23
images at the workstation (the old code: 23 jobs, 529 C-STOREs). Same for the series dialog.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from dicom_courier.core.demo.synthetic import StudySpec
from dicom_courier.core.demo.workstation import Workstation
from dicom_courier.core.jobs.queue import JobState
from tests.fakes.quirky import QuirkyPacs
from tests.gui.quirky_window import quirky_window
from tests.gui.waiting import until

#: Every test here talks DICOM over loopback TCP (see tests/conftest.py).
pytestmark = [pytest.mark.network, pytest.mark.qt_log_ignore("propagateSizeHints", "raise")]

P23 = StudySpec(key="p23", patient_name="TWENTY^THREE", patient_id="P23",
                description="CT chest", series_count=1, instances_per_series=23)
P6 = StudySpec(key="p6", patient_name="SIX^IMAGES", patient_id="P6", description="MR knee",
               modalities=("MR",), series_count=2, instances_per_series=3)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[tuple[QuirkyPacs, Workstation]]:
    with Workstation(tmp_path / "ws") as ws, \
            QuirkyPacs([P23, P6], rows_per_image=True) as pacs:
        pacs.add_destination("WORKSTATION", "127.0.0.1", ws.port)
        yield pacs, ws


@pytest.fixture
def window(qtbot: QtBot, qasync_loop: Any, tmp_path: Path, rig: Any,
           run_async: Any) -> Iterator[Any]:
    pacs, _ = rig
    win = quirky_window(qtbot, tmp_path / "cfg", pacs)
    yield win
    run_async(win.shutdown())


def _shoot(window: Any, path: Path, run_async: Any) -> None:
    window.show()
    run_async(asyncio.sleep(0.3))  # the grid paints on its timers (offscreen: else black)
    window.grab().save(str(path))


def test_select_all_rows_of_one_study_sends_it_once(window: Any, rig: Any,
                                                    run_async: Any) -> None:
    pacs, ws = rig
    run_async(window.search({"PatientID": "P23"}))
    assert window.results_model.rowCount() == 23  # every row the PACS sent is shown
    assert window.count_label.text().startswith("23 answers, 1 distinct study")
    shots = os.environ.get("COURIER_SCREENSHOT")  # a folder: look at the window by eye
    if shots:
        _shoot(window, Path(shots) / "distinct_search.png", run_async)
    window.results_view.selectAll()
    window.send_selection()
    box = window.findChild(QMessageBox, "confirmSend")
    assert box is not None
    assert "1 study · 1 series · 23 images → WORKSTATION" in box.text()
    assert "23 selected rows name 1 study" in box.text()

    async def scenario() -> None:
        box.button(QMessageBox.StandardButton.Yes).click()
        await until(lambda: window.queue.jobs() and window.queue.jobs()[0].state.is_finished)

    run_async(scenario())
    jobs = window.queue.jobs()
    assert len(jobs) == 1 and jobs[0].state is JobState.COMPLETED
    assert jobs[0].request.target.study_uid == P23.study_uid
    assert len(pacs.moves) == 1 and len(pacs.instances_sent) == 23 and ws.received_count == 23
    assert "22 selected rows named a study already chosen" in window.statusBar().currentMessage()
    if shots:
        _shoot(window, Path(shots) / "distinct_sent.png", run_async)


def test_two_studies_of_many_rows_count_as_two(window: Any, rig: Any, run_async: Any) -> None:
    run_async(window.search({"PatientID": "P*"}))
    assert window.count_label.text().startswith("29 answers, 2 distinct studies")
    window.filter_edit.setText("knee")  # 6 rows of the MR study shown
    assert window.count_label.text() == "6 of 29 answers shown; all 29 name 2 distinct studies"
    window.filter_edit.clear()
    window.results_view.selectAll()
    window.send_selection()
    box = window.findChild(QMessageBox, "confirmSend")
    assert box is not None
    assert "2 studies of 2 patients · 3 series · 29 images → WORKSTATION" in box.text()
    box.button(QMessageBox.StandardButton.Cancel).click()
    assert window.queue.jobs() == []


def test_series_dialog_sends_each_series_once(window: Any, rig: Any, run_async: Any) -> None:
    pacs, ws = rig

    async def scenario() -> Any:
        await window.search({"PatientID": "P6"})
        dialog = window.show_series(window.results_model.match_at(0))
        assert dialog is not None
        await until(lambda: dialog.table.rowCount() == 6)  # 3 rows per series, as sent
        assert dialog.status.text().startswith("6 answers, 2 distinct series.")
        dialog.table.selectAll()
        dialog.send_button.click()
        await until(lambda: len(window.queue.jobs()) == 2
                    and all(job.state.is_finished for job in window.queue.jobs()))
        return dialog

    dialog = run_async(scenario())
    assert dialog.status.text() == "Queued 2 series."
    assert [job.request.target.series_uids for job in window.queue.jobs()] == \
        [(P6.series_uid(0),), (P6.series_uid(1),)]
    assert len(pacs.moves) == 2 and len(pacs.instances_sent) == 6 and ws.received_count == 6
