"""Unfinished sends at start: every one is offered until it is resumed or cancelled.

Review of issue 11: after a crash the window offered only the sends that were running (the
waiting ones, a STAT one among them, stayed "queued" where it never looked); "Not now" meant
never (the offer was consumed at start); and a resumed send stayed "interrupted" in the
history. Now the question lists every unfinished send no process runs, "Not now" asks again at
the next start, "Cancel them" records them cancelled, and "Resume" takes them over as
``queue run`` does. No socket: the jobs are only rows in jobs.db.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox
from pytestqt.qtbot import QtBot

from dicom_courier.core.config.profiles import PacsNode
from dicom_courier.core.jobs.store import JobStore
from dicom_courier.core.qr.query import Priority
from dicom_courier.gui import create_main_window
from dicom_courier.gui.main_window import MainWindow

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "raise")

NODE = PacsNode(name="main", called_aet="DEMOPACS", host="127.0.0.1", port=11112)
STUDY = "1.2.826.0.1.3680043.8.498.7300"


def _crashed_profile(config: Path) -> list[int]:
    """jobs.db as a kill -9 of the window leaves it: 2 running, 2 waiting (one STAT)."""
    store = JobStore(config / "data" / "jobs.db")
    ids = [store.add(pacs_json=NODE.to_json(), destination="WS", study_uid=f"{STUDY}.{n}",
                     patient_id=f"P{n}", label=f"Crash^{n} — CT") for n in range(4)]
    store.set_priority(ids[3], int(Priority.HIGH))
    for job_id in ids[:2]:
        store.started(job_id)
    store._db.close()  # no clean close  # noqa: SLF001
    return ids


def _open(qtbot: QtBot, config: Path) -> tuple[MainWindow, QMessageBox | None]:
    window = create_main_window(config)
    qtbot.addWidget(window)
    window.show()
    return window, window.findChild(QMessageBox, "resumeInterrupted")


def _states(config: Path, ids: list[int]) -> list[str]:
    store = JobStore(config / "data" / "jobs.db")
    try:
        return [store.get(i).state for i in ids]
    finally:
        store.close()


def test_not_now_asks_again_and_cancel_them_records_them_cancelled(
        qtbot: QtBot, tmp_path: Path, run_async: Any) -> None:
    config = tmp_path / "config"
    ids = _crashed_profile(config)

    window, box = _open(qtbot, config)
    try:
        assert box is not None
        text = box.text()
        assert text.startswith("4 send(s) did not finish")
        assert text.count("was waiting, not started") == 2
        assert "Crash^3 — CT (STAT): was waiting, not started" in text
        qtbot.waitUntil(box.isVisible)
        qtbot.keyClick(box, Qt.Key.Key_Escape)  # Esc = "Not now"
        qtbot.waitUntil(lambda: not box.isVisible())
    finally:
        run_async(window.shutdown())
        window.close()
    assert _states(config, ids) == ["interrupted", "interrupted", "queued", "queued"]

    window, box = _open(qtbot, config)  # the next start asks again
    try:
        assert box is not None and box.text().startswith("4 send(s) did not finish")
        qtbot.waitUntil(box.isVisible)
        box.activateWindow()  # what a window manager does for a new dialog (not offscreen)
        qtbot.waitUntil(lambda: QApplication.activeWindow() is box)  # shortcuts need focus
        qtbot.keyClick(box, Qt.Key.Key_C, Qt.KeyboardModifier.AltModifier)  # "&Cancel them"
        qtbot.waitUntil(lambda: not box.isVisible())
        assert "4 unfinished send(s) recorded as cancelled" in window.statusBar().currentMessage()
    finally:
        run_async(window.shutdown())
        window.close()
    assert _states(config, ids) == ["cancelled"] * 4

    window, box = _open(qtbot, config)  # nothing left to offer
    try:
        assert box is None
    finally:
        run_async(window.shutdown())
        window.close()
