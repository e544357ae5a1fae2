"""Issue 9 §2 in the window: a PACS that offers only Patient Root just works.

Against QuirkyPacs(models={"patient"}) and a real storage SCP: the search lists the studies,
the series dialog lists the series, a study (a series) sent arrives whole and the job
completes — each request asked in the Patient Root model the PACS accepted, the Patient ID
carried where the model needs it. The old code searched in Study Root only: "does not offer
the service we asked for … Try the other query model", which the window offers no way to do.
A PACS that offers neither model says so, without advising a model that was tried.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from dicom_courier.core.demo.synthetic import StudySpec
from dicom_courier.core.demo.workstation import Workstation
from dicom_courier.core.jobs.queue import JobState
from dicom_courier.core.qr.query import QueryModel
from tests.fakes.quirky import QuirkyPacs
from tests.gui.quirky_window import quirky_window
from tests.gui.waiting import until

#: Every test here talks DICOM over loopback TCP (see tests/conftest.py).
pytestmark = [pytest.mark.network, pytest.mark.qt_log_ignore("propagateSizeHints", "raise")]

P23 = StudySpec(key="pr23", patient_name="TWENTY^THREE", patient_id="PR23",
                description="CT chest", series_count=1, instances_per_series=23)
P6 = StudySpec(key="pr6", patient_name="SIX^IMAGES", patient_id="PR6", description="MR knee",
               modalities=("MR",), series_count=2, instances_per_series=3)

Opener = Callable[..., tuple[Any, QuirkyPacs, Workstation]]


@pytest.fixture
def open_window(qtbot: QtBot, qasync_loop: Any, tmp_path: Path,
                run_async: Any) -> Iterator[Opener]:
    """``open_window(**quirks)``: a window on a profile pointing at a fresh QuirkyPacs."""
    stack: list[Any] = []

    def go(**quirks: Any) -> tuple[Any, QuirkyPacs, Workstation]:
        ws = Workstation(tmp_path / "ws")
        ws.__enter__()
        stack.append(ws)
        pacs = QuirkyPacs([P23, P6], **quirks)
        pacs.__enter__()
        stack.append(pacs)
        pacs.add_destination("WORKSTATION", "127.0.0.1", ws.port)
        win = quirky_window(qtbot, tmp_path / "cfg", pacs)
        stack.append(win)
        return win, pacs, ws

    yield go
    for item in reversed(stack):
        if isinstance(item, QuirkyPacs | Workstation):
            item.__exit__(None, None, None)
        else:
            run_async(item.shutdown())


def _finished(window: Any, count: int) -> bool:
    jobs = window.queue.jobs()
    return len(jobs) == count and all(job.state.is_finished for job in jobs)


async def _send_and_wait(window: Any) -> None:
    """Send the selected rows (no confirmation for so few) and wait for the one job."""
    window.send_selection()
    await until(lambda: _finished(window, 1), describe=window.queue.jobs)


def test_search_and_send_a_study_on_a_patient_root_only_pacs(open_window: Opener,
                                                            run_async: Any) -> None:
    window, pacs, ws = open_window(models=frozenset({"patient"}))
    run_async(window.search({"PatientID": "PR*"}))
    assert window.results_model.rowCount() == 2  # old code: 0 rows, "Search failed"
    assert window.count_label.text() == "2 studies"
    assert window.findChild(QMessageBox, "errorBox") is None
    assert window.model_memory.model_for(window.current_pacs()) is QueryModel.PATIENT
    shots = os.environ.get("COURIER_SCREENSHOT")  # a folder: look at the window by eye
    if shots:
        window.show()
        run_async(asyncio.sleep(0.3))  # the grid paints on its timers
        window.grab().save(str(Path(shots) / "patient_root_search.png"))

    row = next(r for r in range(2)
               if window.results_model.match_at(r).get("PatientID") == "PR23")
    window.results_view.selectRow(window.results_proxy.mapFromSource(
        window.results_model.index(row, 0)).row())
    run_async(_send_and_wait(window))
    job = window.queue.jobs()[0]
    assert job.state is JobState.COMPLETED
    assert job.request.model is QueryModel.PATIENT
    assert ws.received_count == 23 and len(pacs.instances_sent) == 23
    assert len(pacs.moves) == 1 and pacs.moves[0]["PatientID"] == "PR23"  # Patient Root key


def test_series_dialog_and_series_send_on_a_strict_patient_root_pacs(
        open_window: Opener, run_async: Any) -> None:
    # hierarchical: each SERIES request (find and move) must carry the Patient ID and study
    window, pacs, ws = open_window(models=frozenset({"patient"}), hierarchical=True)

    async def scenario() -> Any:
        await window.search({"PatientID": "PR6"})
        assert window.results_model.rowCount() == 1
        dialog = window.show_series(window.results_model.match_at(0))
        assert dialog is not None
        await until(lambda: dialog.table.rowCount() == 2
                    or "could not" in dialog.status.text())
        assert dialog.status.text() == "2 series. Select one or more and send them."
        dialog.table.selectRow(0)
        dialog.send_button.click()
        await until(lambda: _finished(window, 1))
        return dialog

    run_async(scenario())
    series_find = pacs.finds[-1]
    assert series_find["QueryRetrieveLevel"] == "SERIES" and series_find["PatientID"] == "PR6"
    job = window.queue.jobs()[0]
    assert job.state is JobState.COMPLETED and job.request.model is QueryModel.PATIENT
    assert ws.received_count == 3 and len(pacs.instances_sent) == 3
    assert pacs.moves[0]["PatientID"] == "PR6"
    assert pacs.moves[0]["SeriesInstanceUID"] == P6.series_uid(0)


def test_study_root_pacs_still_searched_in_study_root(open_window: Opener,
                                                      run_async: Any) -> None:
    window, pacs, ws = open_window(models=frozenset({"study"}))
    run_async(window.search({"PatientID": "PR6"}))
    assert window.results_model.rowCount() == 1
    assert window.model_memory.model_for(window.current_pacs()) is QueryModel.STUDY
    window.results_view.selectAll()
    run_async(_send_and_wait(window))
    job = window.queue.jobs()[0]
    assert job.state is JobState.COMPLETED and job.request.model is QueryModel.STUDY
    assert ws.received_count == 6


def test_a_pacs_offering_neither_model_gets_true_advice(open_window: Opener,
                                                        run_async: Any) -> None:
    window, pacs, _ = open_window(models=frozenset())
    run_async(window.search({"PatientID": "PR6"}))
    assert window.results_model.rowCount() == 0
    assert window.count_label.text() == \
        "Search failed: QUIRKY does not offer the service we asked for."
    box = window.findChild(QMessageBox, "errorBox")
    assert box is not None
    advice = box.informativeText()
    assert "Study Root and Patient Root query models" in advice  # what was proposed
    assert "neither the Study Root nor the Patient Root" in advice
    assert "Try the" not in advice and "other query model" not in advice
    assert pacs.finds == []
