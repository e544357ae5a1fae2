"""A second copy started from a desktop launcher says so in a dialog (issue 11, section 3).

Seen: the refusal went only to stderr, a terminal nobody sees from a launcher, so the click
seemed to do nothing. Now the window's start shows a message box (plain text) naming who holds
the profile and where, and exits 1; stderr still says it. The lock is held in the test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox
from pytestqt.qtbot import QtBot

from dicom_courier.core.config.instance_lock import AlreadyRunning, ProfileLock
from dicom_courier.core.config.paths import app_paths
from dicom_courier.gui.app import run_app
from dicom_courier.gui.second_instance import already_running_box

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "raise")


@pytest.fixture
def held(tmp_path: Path) -> Iterator[Path]:
    """The profile at ``tmp_path/config``, its lock held by this process (the first copy)."""
    config = tmp_path / "config"
    with ProfileLock(app_paths(config).data_dir):
        yield config


def _refusal(config: Path) -> AlreadyRunning:
    with pytest.raises(AlreadyRunning) as info:
        ProfileLock(app_paths(config).data_dir).acquire()
    return info.value


def test_the_dialog_says_who_holds_the_profile_and_where(qtbot: QtBot, held: Path) -> None:
    box = already_running_box(_refusal(held))
    qtbot.addWidget(box)
    box.show()
    assert box.windowTitle() == "DICOM Courier is already running"
    assert box.text() == "DICOM Courier is already running with this profile."
    assert box.textFormat() == Qt.TextFormat.PlainText
    informative = box.informativeText()
    assert f"process {os.getpid()}" in informative  # the holder
    assert str(app_paths(held).data_dir) in informative  # where
    assert "What to do: Switch to the window that is already open" in informative
    assert "instance.lock" in box.detailedText()


def test_starting_the_window_a_second_time_shows_the_dialog_and_exits_1(
        qtbot: QtBot, held: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    name = app.applicationName()
    seen: list[str] = []

    def answer(tries: int = 50) -> None:  # the person reads it and presses Enter
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox) and box.objectName() == "alreadyRunning":
            seen.append(box.informativeText())
            qtbot.keyClick(box, Qt.Key.Key_Return)
        elif tries:
            QTimer.singleShot(20, lambda: answer(tries - 1))

    QTimer.singleShot(0, answer)
    try:
        assert run_app(str(held)) == 1
    finally:
        app.setApplicationName(name)
    assert seen and f"process {os.getpid()}" in seen[0]
    assert "already running with this profile" in capsys.readouterr().err  # stderr too
