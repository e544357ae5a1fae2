"""The window on a bad settings file, a locked job database and a full disk: it keeps running,
says what is wrong in a non-modal warning, deletes no history and loses no queued send."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from dicom_courier.core.jobs.store import DEFAULT_BUSY_TIMEOUT, JobStore
from dicom_courier.gui import create_main_window
from dicom_courier.gui.plain_text import PlainMessageBox
from tests.core.test_store_faults import _held

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "raise")
PACS_JSON = {"name": "Main", "called_aet": "PACS", "host": "h", "port": 104}
DAY = 86400.0


def _history(config: Path, ages_days: tuple[int, ...]) -> None:
    store = JobStore(config / "data" / "jobs.db")
    now = time.time()
    for age in ages_days:
        job = store.add(pacs_json=PACS_JSON, destination="WS", study_uid=f"1.{age}",
                        queued_at=now - age * DAY)
        store.finished(job, state="completed", total=1, completed=1, failed=0, warning=0,
                       status=0, error=None)
        store._db.execute("UPDATE jobs SET finished_at=? WHERE id=?", (now - age * DAY, job))
    store.close()


def test_a_bad_settings_value_warns_and_deletes_no_history(qtbot: QtBot, tmp_path: Path,
                                                           run_async: Any) -> None:
    config = tmp_path / "config"
    _history(config, (1, 200, 400, 1000))
    (config / "settings.json").write_text('{"history_days": 3650, "result_limit": "all"}',
                                          encoding="utf-8")
    window = create_main_window(config)
    qtbot.addWidget(window)
    try:
        box = window.findChild(PlainMessageBox, "settingsProblems")
        assert box is not None and box.isVisible() and not box.isModal()
        assert "result_limit" in box.informativeText()
        assert "old history was not deleted" in box.informativeText().lower()
        assert len(window.history.jobs()) == 4  # seen: 3 of 4 deleted at start
        assert window.settings.history_days == 3650
        assert window.history.busy_timeout == DEFAULT_BUSY_TIMEOUT == 5.0  # product default
        window.resize(900, 600)
        box.grab().save("/tmp/settings_warning.png")
    finally:
        run_async(window.shutdown())


def test_a_locked_database_is_reported_and_sends_are_refused(qtbot: QtBot, tmp_path: Path,
                                                             run_async: Any) -> None:
    config = tmp_path / "config"
    db = config / "data" / "jobs.db"
    store = JobStore(db)
    for i in range(3):
        store.add(pacs_json=PACS_JSON, destination="WS", study_uid=f"1.2.{i}")
    store.close()
    with _held(db, "exclusive") as holder:
        window = create_main_window(config, busy_timeout=0.2)  # not the product's 5 s wait
        qtbot.addWidget(window)
        try:
            box = window.findChild(PlainMessageBox, "storeProblem")
            assert box is not None and box.isVisible() and not box.isModal()
            assert f"held by PID {holder.pid}" in box.text()
            assert "locked for more than 0.2 s" in box.informativeText()
            assert window.history.read_only  # every change (a send) is refused until freed
            box.grab().save("/tmp/store_busy.png")
        finally:
            run_async(window.shutdown())
    assert not [p for p in db.parent.iterdir() if ".damaged-" in p.name]
    assert len(JobStore(db).jobs(states=("queued",))) == 3


def test_a_full_disk_at_start_is_a_dialog_not_a_traceback(qtbot: QtBot, tmp_path: Path,
                                                          run_async: Any) -> None:
    disk = tmp_path / "config"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)],
                      capture_output=True, check=False).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN)")
    try:
        with open(disk / "filler", "wb") as handle:  # noqa: PTH123
            try:
                while True:
                    handle.write(b"\0" * 65536)
                    handle.flush()
            except OSError:
                pass
        window = create_main_window(disk)
        qtbot.addWidget(window)
        try:
            box = window.findChild(PlainMessageBox, "storeProblem")
            assert box is not None and "is full" in box.text()
        finally:
            run_async(window.shutdown())
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
