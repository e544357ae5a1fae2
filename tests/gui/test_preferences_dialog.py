"""Issue 11 §8: Preferences… (Ctrl+,) edits settings.json with the file's own rules, says a bad
value's field and rule, saves atomically and applies to the running window where it can."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from dicom_courier.core.config.app_settings import AppSettings, StudyDates, read_app_settings
from dicom_courier.core.outcome.errors import InvalidInput
from dicom_courier.gui import create_main_window
from dicom_courier.gui.main_window import MainWindow
from dicom_courier.gui.preferences_dialog import PreferencesDialog, read_number
from dicom_courier.gui.query_form import DatePreset

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "raise")


def _window(qtbot: QtBot, config: Path) -> MainWindow:
    win = create_main_window(config)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    win.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is win)
    return win


def _retype(edit: Any, text: str) -> None:
    edit.setFocus()
    edit.selectAll()
    QTest.keyClick(edit, Qt.Key.Key_Delete)
    QTest.keyClicks(edit, text)


@pytest.mark.parametrize(("name", "typed", "message"), [
    ("moves_per_pacs", "40", "Sends at once per PACS: must be a whole number from 1 to 16 "
                             "(got '40')."),
    ("result_limit", "lots", "Result limit: must be a whole number from 1 to 1,000,000 "
                             "(got 'lots')."),
    ("history_days", "0", "Keep send history for: must be a whole number from 1 to 36,500"),
    ("confirm_over", "-3", "Ask before sending more than: must be a whole number"),
    ("result_limit", "", "Result limit: must be a whole number"),
])
def test_a_bad_value_names_its_field_and_rule(name: str, typed: str, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        read_number(name, typed)
    assert caught.value.title.startswith(message)


def test_thousands_separators_are_read() -> None:
    assert read_number("result_limit", " 5,000 ") == 5000


def test_ctrl_comma_opens_preferences_a_bad_value_blocks_save_a_good_one_applies(
        qtbot: QtBot, tmp_path: Path, run_async: Any) -> None:
    config = tmp_path / "config"
    win = _window(qtbot, config)
    try:
        QTest.keyClick(win, Qt.Key.Key_Comma, Qt.KeyboardModifier.ControlModifier)
        dialog = win.findChild(PreferencesDialog, "preferencesDialog")
        assert dialog is not None and dialog.isVisible()
        assert dialog.dates.currentData() == StudyDates.LAST_7_DAYS  # the default, as said

        _retype(dialog.edits["moves_per_pacs"], "40")
        assert not dialog.save_button.isEnabled()
        assert dialog.error_label.isVisible() and dialog.error_label.text() == (
            "Sends at once per PACS: must be a whole number from 1 to 16 (got '40').")
        assert dialog.error_label.textFormat() == Qt.TextFormat.PlainText
        QTest.keyClick(dialog.edits["moves_per_pacs"], Qt.Key.Key_Return)  # refused
        assert dialog.isVisible() and not (config / "settings.json").exists()
        dialog.show()
        qtbot.waitExposed(dialog)
        dialog.grab().save("/tmp/preferences_dialog_bad_value.png")

        _retype(dialog.edits["moves_per_pacs"], "3")
        _retype(dialog.edits["result_limit"], "25")
        dialog.dates.setCurrentIndex(dialog.dates.findData(StudyDates.ANY))
        assert dialog.save_button.isEnabled() and dialog.error_label.isHidden()
        dialog.grab().save("/tmp/preferences_dialog.png")
        QTest.keyClick(dialog.edits["result_limit"], Qt.Key.Key_Return)  # Save
        assert not dialog.isVisible()

        path = config / "settings.json"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert json.loads(path.read_text(encoding="utf-8"))["result_limit"] == 25
        assert read_app_settings(path).settings == AppSettings(
            result_limit=25, moves_per_pacs=3, default_study_dates=StudyDates.ANY)
        # applied now: the next search's limit, the queue's slots; dates on the next Clear
        assert win.settings.result_limit == 25 and win.queue.per_pacs_limit == 3
        assert win.form.date_preset.currentText() == DatePreset.LAST_7.value  # not under you
        win.form.clear_button.click()
        assert win.form.date_preset.currentText() == DatePreset.ANY.value
    finally:
        win.close()
        run_async(win.shutdown())
    second = _window(qtbot, config)
    try:
        assert second.settings.result_limit == 25
        assert second.form.date_preset.currentText() == DatePreset.ANY.value
    finally:
        run_async(second.shutdown())


def test_a_file_that_cannot_be_written_is_said_and_nothing_changes(
        qtbot: QtBot, tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.mkdir()  # a folder where the file should be: the rename over it fails (even as root)
    dialog = PreferencesDialog(AppSettings(), path)
    qtbot.addWidget(dialog)
    saved: list[object] = []
    dialog.saved.connect(saved.append)
    dialog.save_button.click()
    assert saved == [] and not dialog.error_label.isHidden()
    assert "could not be saved" in dialog.error_label.text()
    assert "Nothing was changed" in dialog.error_label.text()
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left


def test_a_value_the_file_holds_against_its_rule_is_shown_never_saved_as_the_default(
        qtbot: QtBot, tmp_path: Path, run_async: Any) -> None:
    """history_days 100000 (valid before the rules had an upper bound) is not used at start,
    so old history is kept; a Save in Preferences must not write the default 90 in its place
    unseen, or the next start deletes every send older than 90 days."""
    config = tmp_path / "config"
    config.mkdir()
    path = config / "settings.json"
    path.write_text('{"history_days": 100000, "result_limit": 2000}', encoding="utf-8")
    win = _window(qtbot, config)
    try:
        QTest.keyClick(win, Qt.Key.Key_Comma, Qt.KeyboardModifier.ControlModifier)
        dialog = win.findChild(PreferencesDialog, "preferencesDialog")
        assert dialog is not None and dialog.isVisible()
        assert dialog.edits["history_days"].text() == "100000"  # as the file has it
        assert not dialog.save_button.isEnabled()
        assert dialog.error_label.isVisible() and dialog.error_label.text() == (
            "Keep send history for: must be a whole number from 1 to 36,500 (got '100000').")
        _retype(dialog.edits["result_limit"], "3000")
        QTest.keyClick(dialog.edits["result_limit"], Qt.Key.Key_Return)  # refused
        assert dialog.isVisible()
        assert json.loads(path.read_text(encoding="utf-8"))["history_days"] == 100000

        _retype(dialog.edits["history_days"], "36500")
        QTest.keyClick(dialog.edits["history_days"], Qt.Key.Key_Return)  # Save
        assert not dialog.isVisible()
        assert read_app_settings(path).settings == AppSettings(result_limit=3000,
                                                               history_days=36500)
    finally:
        win.close()
        run_async(win.shutdown())


def test_the_dialog_fits_a_small_screen(qtbot: QtBot, tmp_path: Path) -> None:
    """Seen in review (issue 13): the arrival wait's one-line note made Preferences at least
    1154 px wide, wider than a 1024 px screen (the notes do not wrap, on purpose)."""
    from dicom_courier.core.config.receiver_settings import ReceiverSettings
    from dicom_courier.gui.receiver_settings_box import ReceiverSettingsBox

    box = ReceiverSettingsBox(ReceiverSettings(), default_folder=tmp_path / "received",
                              profile_aets=["ORTHANC"])
    dialog = PreferencesDialog(AppSettings(), tmp_path / "settings.json", receiver=box)
    qtbot.addWidget(dialog)
    assert dialog.minimumSizeHint().width() <= 1000
