"""Issue 9 §4 in the window: Esc on a running search and closing the series dialog while its
search runs send C-CANCEL and A-ABORT after the grace, like every other cancel.

Real key events (QTest) against QuirkyPacs(ignore_cancel=True, pace=...): a PACS that keeps
answering after C-CANCEL must not keep the search running past the grace (+ 2 s).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QDialogButtonBox
from pytestqt.qtbot import QtBot

from dicom_courier.core.config.profiles import Timeouts
from dicom_courier.core.demo.synthetic import StudySpec
from dicom_courier.core.dimse.engine import Courier
from dicom_courier.core.qr.query import FindMatch, QueryLevel
from dicom_courier.gui import create_main_window
from dicom_courier.gui.main_window import MainWindow
from dicom_courier.gui.query_form import DatePreset
from tests.fakes.quirky import QuirkyPacs
from tests.gui.quirky_window import save_profile
from tests.gui.waiting import until

#: Every test here talks DICOM over loopback TCP (see tests/conftest.py).
pytestmark = [pytest.mark.network, pytest.mark.qt_log_ignore("propagateSizeHints", "raise")]

GRACE = 1.0
STUDIES = [StudySpec(key=f"esc-{i}", patient_name=f"Esc^P{i}", patient_id=f"ESC{i:03d}",
                     series_count=1, instances_per_series=1) for i in range(400)]
#: One study whose 200 images make a per-image PACS answer 200 SERIES rows (10 s at 0.05 s).
BIG = StudySpec(key="esc-series", patient_name="Series^Dialog", patient_id="SER1",
                series_count=1, instances_per_series=200)


def _window(qtbot: QtBot, tmp_path: Path, pacs: QuirkyPacs) -> MainWindow:
    save_profile(tmp_path, pacs, destination="WS", timeouts=Timeouts(connect=3, idle=20))
    win = create_main_window(tmp_path, courier=Courier(cancel_grace=GRACE))
    qtbot.addWidget(win)
    win.reload_profiles(select="quirky")
    win.form.set_date_preset(DatePreset.ANY)  # the fake's studies are not from this week
    win.show()
    win.activateWindow()
    return win


@pytest.fixture
def ignoring_pacs() -> Iterator[QuirkyPacs]:
    with QuirkyPacs(STUDIES, ignore_cancel=True, pace=0.05) as pacs:
        yield pacs


def test_escape_on_a_running_search_ends_it_within_the_grace(
        qtbot: QtBot, tmp_path: Path, run_async: Any, ignoring_pacs: QuirkyPacs) -> None:
    win = _window(qtbot, tmp_path, ignoring_pacs)

    async def scenario() -> float:
        task = asyncio.ensure_future(win.search({"PatientID": "ESC*"}))
        await until(lambda: win.results_model.rowCount() >= 3)
        assert win.cancel_search_action.isEnabled()
        QTest.keyClick(win.results_view, Qt.Key.Key_Escape)  # a real key press, not trigger()
        started = time.monotonic()
        assert "Cancelling" in win.count_label.text()
        await until(task.done, within=GRACE + 5)
        return time.monotonic() - started

    took = run_async(scenario())
    run_async(win.shutdown())
    assert took < GRACE + 2, took
    assert ignoring_pacs.finds_cancelled == 1  # C-CANCEL went out first
    assert "Search cancelled" in win.truncated_label.text()
    assert "Cancelling" not in win.count_label.text()
    assert not win.cancel_search_action.isEnabled()
    assert win.results_model.rowCount() < 400


@pytest.mark.parametrize("how", ["escape", "close button"])
def test_closing_the_series_dialog_cancels_its_search_within_the_grace(
        qtbot: QtBot, tmp_path: Path, run_async: Any, how: str) -> None:
    with QuirkyPacs([BIG], rows_per_image=True, ignore_cancel=True, pace=0.05) as pacs:
        win = _window(qtbot, tmp_path, pacs)
        study = FindMatch(QueryLevel.STUDY, {"StudyInstanceUID": BIG.study_uid,
                                             "PatientName": BIG.patient_name,
                                             "StudyDate": "20240115"})

        async def scenario() -> tuple[Any, float]:
            dialog = win.show_series(study)
            assert dialog is not None
            await until(lambda: pacs.finds)
            await asyncio.sleep(0.3)  # series answers are coming
            if how == "escape":
                QTest.keyClick(dialog.table, Qt.Key.Key_Escape)
            else:
                close = dialog.buttons.button(QDialogButtonBox.StandardButton.Close)
                QTest.mouseClick(close, Qt.MouseButton.LeftButton)
            started = time.monotonic()
            assert not dialog.isVisible()
            await until(lambda: "cancelled" in dialog.status.text(), within=GRACE + 5)
            return dialog, time.monotonic() - started

        dialog, took = run_async(scenario())
        run_async(win.shutdown())
        cancels = pacs.finds_cancelled
    assert took < GRACE + 2, took
    assert cancels == 1  # C-CANCEL first, then A-ABORT after the grace
    assert dialog.status.text().startswith("Search cancelled after")
    assert dialog.table.rowCount() == 0


@pytest.mark.parametrize("escape_first", [True, False], ids=["Esc, then search", "search again"])
def test_a_replaced_search_never_puts_its_rows_in_the_new_grid(
        qtbot: QtBot, tmp_path: Path, run_async: Any, ignoring_pacs: QuirkyPacs,
        escape_first: bool) -> None:
    """Seen: Esc (or Return again) while a search ran on a PACS that ignores C-CANCEL, then a
    new search: the old search's rows (other patients) kept arriving into the new grid for
    the grace period, and Ctrl+A, Send would have sent them."""
    win = _window(qtbot, tmp_path, ignoring_pacs)
    field = win.form.fields["queryPatientId"]

    async def scenario() -> None:
        QTest.keyClicks(field, "ESC*")
        QTest.keyClick(field, Qt.Key.Key_Return)
        await until(lambda: win.results_model.rowCount() >= 5)
        if escape_first:
            QTest.keyClick(win.results_view, Qt.Key.Key_Escape)
        field.clear()
        QTest.keyClicks(field, "ESC377")
        QTest.keyClick(field, Qt.Key.Key_Return)
        await until(lambda: win._search is None and ignoring_pacs.finds_cancelled == 1
                    and len(ignoring_pacs.finds) == 2, within=GRACE + 15)
        await asyncio.sleep(GRACE + 0.5)  # the old search's grace is over, it has ended

    run_async(scenario())
    run_async(win.shutdown())
    rows = [win.results_model.match_at(r).get("PatientID")
            for r in range(win.results_model.rowCount())]
    assert rows == ["ESC377"]
    assert win.count_label.text() == "1 study"
    assert not win.truncated_label.isVisible()
