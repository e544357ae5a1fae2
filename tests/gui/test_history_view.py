"""The history dialog: a well-behaved model, filters that narrow the rows, a non-modal export."""

from __future__ import annotations

import csv
import sqlite3
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import SIGNAL, QDate, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QDialogButtonBox, QFileDialog
from pytestqt.qtbot import QtBot

from dicom_courier.core.jobs.history import CSV_COLUMNS
from dicom_courier.core.jobs.store import JobStore
from dicom_courier.gui.history_view import (
    FAILED_COLOUR,
    JOB_ROLE,
    HistoryColumn,
    HistoryDialog,
    HistoryModel,
)

# The offscreen platform warns whenever a top-level window with a minimum size is shown.
pytestmark = pytest.mark.qt_log_ignore("does not support propagateSizeHints")

MAIN = {"name": "Main PACS", "called_aet": "PACS", "host": "h", "port": 104}
DAY = 86400.0
NOW = time.time()


def _job(store: JobStore, *, days_ago: float, state: str, destination: str, patient_id: str,
         label: str, completed: int, total: int | None, failed: int = 0, duration: float = 0,
         status: int | None = 0, error: str | None = None) -> int:
    queued = NOW - days_ago * DAY
    job = store.add(pacs_json=MAIN, destination=destination, patient_id=patient_id,
                    label=label, study_uid=f"1.2.826.0.1.3680043.8.498.{int(queued)}",
                    queued_at=queued)
    if state in ("queued", "interrupted"):
        if state == "interrupted":
            store.started(job)
            store.progress(job, total=total, completed=completed, failed=0, warning=0,
                           force=True)
            store.set_state(job, state)
        return job
    store.started(job)
    store.finished(job, state=state, total=total, completed=completed, failed=failed,
                   warning=0, status=status, error=error)
    with sqlite3.connect(store.path) as db:
        db.execute("UPDATE jobs SET started_at=?, finished_at=? WHERE id=?",
                   (queued + 2, queued + 2 + duration, job))
    return job


@pytest.fixture
def store(tmp_path: Path) -> JobStore:
    """Six sends over two months: completed, partial, failed, queued, interrupted."""
    store = JobStore(tmp_path / "jobs.db")
    _job(store, days_ago=60, state="completed", destination="WS-CT", patient_id="IOP004",
         label="Smith, John — MR and CT", completed=12, total=12, duration=95)
    _job(store, days_ago=9, state="partial", destination="WS-MR", patient_id="IOP002",
         label="Dubois, Amélie — MR knee", completed=5, total=6, failed=1, duration=14,
         status=0xB000, error="1 image could not be stored by WS-MR.")
    _job(store, days_ago=3, state="failed", destination="WS-CT", patient_id="IOP003",
         label="Yamada, Tarou (山田 太郎) — CT head", completed=0, total=6, failed=6,
         duration=1, status=0xA801, error="The PACS does not know the destination WS-CT.")
    _job(store, days_ago=1, state="completed", destination="WS-CT", patient_id="IOP001",
         label="Müller, Jürgen — CT chest", completed=6, total=6, duration=8)
    _job(store, days_ago=0.1, state="interrupted", destination="WS-MR", patient_id="IOP001",
         label="Müller, Jürgen — CT chest", completed=2, total=6)
    _job(store, days_ago=0.01, state="queued", destination="WS-CT", patient_id="IOP004",
         label="", completed=0, total=None)
    return store


def open_dialog(qtbot: QtBot, store: JobStore) -> HistoryDialog:
    dialog = HistoryDialog(store)
    qtbot.addWidget(dialog)
    return dialog


def shown_labels(dialog: HistoryDialog) -> list[str]:
    column = HistoryColumn.STUDY
    return [dialog.proxy.index(row, column).data() for row in range(dialog.proxy.rowCount())]


def test_the_model_is_well_behaved(qtmodeltester: Any, store: JobStore) -> None:
    model = HistoryModel()
    qtmodeltester.check(model)
    model.set_jobs(store.history())
    qtmodeltester.check(model)
    assert model.rowCount() == 6
    rows = {model.job_at(r).state: r for r in range(model.rowCount())}
    partial = rows["partial"]

    def cell(row: int, column: HistoryColumn, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        return model.index(row, column).data(role)

    assert cell(partial, HistoryColumn.IMAGES) == "5/6"
    assert cell(partial, HistoryColumn.FAILED) == "1"
    assert cell(partial, HistoryColumn.DURATION) == "0:14"
    assert cell(partial, HistoryColumn.PATIENT_ID) == "IOP002"
    assert cell(partial, HistoryColumn.STUDY) == "Dubois, Amélie — MR knee"
    assert cell(partial, HistoryColumn.USER) == store.history()[0].os_user
    assert cell(partial, HistoryColumn.ERROR) == "1 image could not be stored by WS-MR."
    assert "0xB000" in cell(partial, HistoryColumn.STATUS, Qt.ItemDataRole.ToolTipRole)
    assert cell(rows["failed"], HistoryColumn.STATUS, Qt.ItemDataRole.ForegroundRole) == \
        FAILED_COLOUR
    assert cell(rows["queued"], HistoryColumn.IMAGES) == ""  # nothing to count yet
    assert cell(rows["queued"], HistoryColumn.STUDY).startswith("study …")
    assert cell(rows["interrupted"], HistoryColumn.IMAGES) == "2/6"
    assert "sent again by a later job" in cell(rows["interrupted"], HistoryColumn.STATUS,
                                    Qt.ItemDataRole.ToolTipRole)
    assert cell(partial, HistoryColumn.QUEUED, JOB_ROLE).state == "partial"


def test_filters_narrow_the_rows(qtbot: QtBot, store: JobStore) -> None:
    dialog = open_dialog(qtbot, store)
    assert dialog.proxy.rowCount() == 6
    assert dialog.status_label.text() == "6 job(s) shown"
    assert shown_labels(dialog)[0].startswith("study …")  # newest first
    assert dialog.isModal() is False and dialog.objectName() == "historyDialog"

    dialog.status_combo.setCurrentIndex(dialog.status_combo.findData("failed"))
    assert shown_labels(dialog) == ["Yamada, Tarou (山田 太郎) — CT head"]
    dialog.status_combo.setCurrentIndex(0)  # all statuses
    dialog.destination_combo.setCurrentIndex(dialog.destination_combo.findData("WS-MR"))
    assert shown_labels(dialog) == ["Müller, Jürgen — CT chest", "Dubois, Amélie — MR knee"]
    dialog.destination_combo.setCurrentIndex(0)

    dialog.from_check.setChecked(True)
    dialog.from_date.setDate(QDate.currentDate().addDays(-5))
    assert dialog.proxy.rowCount() == 4  # the last five days
    dialog.to_check.setChecked(True)
    dialog.to_date.setDate(QDate.currentDate().addDays(-2))
    assert shown_labels(dialog) == ["Yamada, Tarou (山田 太郎) — CT head"]
    dialog.from_check.setChecked(False)
    dialog.to_check.setChecked(False)

    qtbot.keyClicks(dialog.text_edit, "MÜLLER")  # queried once typing pauses
    qtbot.waitUntil(lambda: dialog.proxy.rowCount() == 2)
    assert set(shown_labels(dialog)) == {"Müller, Jürgen — CT chest"}
    dialog.text_edit.clear()
    dialog.patient_edit.setText("IOP004")
    qtbot.waitUntil(lambda: dialog.proxy.rowCount() == 2)
    dialog.patient_edit.setText("IOP00")  # exact, not a part
    qtbot.waitUntil(lambda: dialog.proxy.rowCount() == 0)
    assert dialog.status_label.text() == "0 job(s) shown"


def test_refresh_shows_new_sends_and_keeps_the_filter(qtbot: QtBot, store: JobStore) -> None:
    dialog = open_dialog(qtbot, store)
    dialog.destination_combo.setCurrentIndex(dialog.destination_combo.findData("WS-MR"))
    assert dialog.proxy.rowCount() == 2
    _job(store, days_ago=0, state="completed", destination="WS-NEW", patient_id="IOP009",
         label="New, Send — CT", completed=3, total=3)
    _job(store, days_ago=0, state="completed", destination="WS-MR", patient_id="IOP009",
         label="New, Send — MR", completed=3, total=3)
    qtbot.mouseClick(dialog.refresh_button, Qt.MouseButton.LeftButton)
    assert dialog.destination_combo.currentData() == "WS-MR"
    assert dialog.destination_combo.findData("WS-NEW") > 0  # a new destination to pick
    assert shown_labels(dialog)[0] == "New, Send — MR"


def test_export_writes_the_rows_shown(qtbot: QtBot, store: JobStore, tmp_path: Path) -> None:
    dialog = open_dialog(qtbot, store)
    dialog.destination_combo.setCurrentIndex(dialog.destination_combo.findData("WS-CT"))
    dialog.view.sortByColumn(HistoryColumn.PATIENT_ID, Qt.SortOrder.AscendingOrder)
    target = tmp_path / "history.csv"

    qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    file_dialog = dialog.findChild(QFileDialog, "historyExportDialog")
    assert file_dialog is not None and file_dialog.isVisible()  # open(), never exec()
    assert file_dialog.acceptMode() is QFileDialog.AcceptMode.AcceptSave
    file_dialog.fileSelected.emit(str(target))  # as if the person chose the file
    file_dialog.close()

    assert dialog.status_label.text() == f"Exported 4 job(s) to {target}"
    with target.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [r["patient ID"] for r in rows] == ["IOP001", "IOP003", "IOP004", "IOP004"]
    assert {r["destination"] for r in rows} == {"WS-CT"}
    failed = rows[1]
    assert failed["label"] == "Yamada, Tarou (山田 太郎) — CT head"
    assert (failed["final status"], failed["DIMSE status"], failed["failed"]) == (
        "failed", "0xA801", "6")

    (tmp_path / "blocker").write_text("a file, not a folder")
    assert dialog.export_to(tmp_path / "blocker" / "x.csv") is None
    assert "could not be written" in dialog.status_label.text()


@pytest.mark.qt_log_ignore("propagateSizeHints")
def test_the_arrival_words_are_in_sight_at_the_dialogs_own_size(qtbot: QtBot,
                                                                 store: JobStore) -> None:
    """Seen in review (issue 13): the Arrival column came last, past the right edge of the
    dialog at its own size, and had no tooltip: a row read "6/6 · partial" and nothing said
    that the destination held 4."""
    from dicom_courier.core.jobs.job import JobState
    from dicom_courier.core.jobs.store import ArrivalRecord

    words = "destination has 4 of 6 after 30 s"
    job = _job(store, days_ago=0.5, state="partial", destination="WS3", patient_id="IOP004",
               label="Smith, John — MR and CT", completed=6, total=6, duration=31)
    store.finished(job, state=JobState.PARTIAL, total=6, completed=6, failed=0, warning=0,
                   status=0, error=None, arrival=ArrivalRecord(words=words, verified=False))
    dialog = open_dialog(qtbot, store)
    dialog.show()
    qtbot.waitExposed(dialog)
    view = dialog.view
    row = next(r for r in range(dialog.proxy.rowCount())
               if dialog.proxy.index(r, HistoryColumn.ARRIVAL).data() == words)
    cell = view.visualRect(dialog.proxy.index(row, HistoryColumn.ARRIVAL))
    assert cell.left() >= 0 and cell.right() <= view.viewport().width()
    assert view.fontMetrics().horizontalAdvance(words) <= cell.width()
    tip = dialog.proxy.index(row, HistoryColumn.ARRIVAL).data(Qt.ItemDataRole.ToolTipRole)
    assert tip is not None and words in tip


def test_the_destination_filter_names_this_computer(qtbot: QtBot, store: JobStore) -> None:
    from dicom_courier.core.outcome.arrival import HERE, THIS_COMPUTER

    _job(store, days_ago=0.2, state="completed", destination=HERE, patient_id="IOP004",
         label="Smith, John — MR and CT", completed=6, total=6)
    dialog = open_dialog(qtbot, store)
    combo = dialog.destination_combo
    texts = [combo.itemText(i) for i in range(combo.count())]
    assert HERE not in texts and THIS_COMPUTER in texts
    combo.setCurrentIndex(texts.index(THIS_COMPUTER))
    assert shown_labels(dialog) == ["Smith, John — MR and CT"]
    assert dialog.proxy.index(0, HistoryColumn.DESTINATION).data() == THIS_COMPUTER


def test_screenshot(qtbot: QtBot, store: JobStore) -> None:
    dialog = open_dialog(qtbot, store)
    dialog.resize(1240, 330)
    dialog.from_check.setChecked(True)
    dialog.from_date.setDate(QDate(*(date.today() - timedelta(days=30)).timetuple()[:3]))
    dialog.view.selectRow(2)
    assert dialog.grab().save("/tmp/history.png")


# ---------------------------------------------------------------- the window's one history


def _job_changed_listeners(window: Any) -> int:
    return window.signals.receivers(SIGNAL("job_changed(PyObject)"))


@pytest.mark.qt_log_ignore("propagateSizeHints", "raise")  # the offscreen platform's notes
def test_send_history_opened_and_closed_three_times_leaves_nothing_behind(
        qtbot: QtBot, qasync_loop: Any, run_async: Any, tmp_path: Path) -> None:
    """Issue 10: every "Send history…" used to leave its dialog alive and one more listener on
    ``job_changed`` (after three cycles: 3 dialogs, 5 listeners instead of 2)."""
    from dicom_courier.gui import create_main_window

    window = create_main_window(tmp_path / "config")
    qtbot.addWidget(window)
    try:
        window.show()
        qtbot.waitExposed(window)
        listeners = _job_changed_listeners(window)
        assert listeners == 3  # the queue table, the window's send policy, the quit guard
        for closing in ("Close button", "Escape", "Escape"):
            window.history_action.trigger()  # Queue → Send history… (Ctrl+H)
            qtbot.waitUntil(lambda: any(d.isVisible() for d in
                                        window.findChildren(HistoryDialog)))
            window.history_action.trigger()
            dialogs = window.findChildren(HistoryDialog)
            assert len(dialogs) == 1  # asked again while open: the same window, raised
            dialog = dialogs[0]
            assert _job_changed_listeners(window) == listeners + 1  # it refreshes while open
            if closing == "Close button":
                close = dialog.findChild(QDialogButtonBox).button(
                    QDialogButtonBox.StandardButton.Close)
                qtbot.mouseClick(close, Qt.MouseButton.LeftButton)
            else:
                QTest.keyClick(dialog, Qt.Key.Key_Escape)
            qtbot.waitUntil(lambda: not window.findChildren(HistoryDialog))
            assert _job_changed_listeners(window) == listeners, closing
    finally:
        run_async(window.shutdown())
