"""Issue 11 §8: an empty first start (no PACS profile) says so and offers "Add a PACS…"."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from dicom_courier.core.config.profile_store import NodeStore
from dicom_courier.gui import create_main_window
from dicom_courier.gui.first_run import NO_PACS_REASON
from dicom_courier.gui.main_window import MainWindow
from dicom_courier.gui.pacs_manager import PacsManagerDialog

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "raise")


@pytest.fixture
def window(qtbot: QtBot, qasync_loop: Any, tmp_path: Path,
           run_async: Any) -> Iterator[MainWindow]:
    win = create_main_window(tmp_path / "config")  # a fresh profile folder: no nodes.json
    qtbot.addWidget(win)
    win.resize(1024, 700)
    win.show()
    qtbot.waitExposed(win)
    yield win
    run_async(win.shutdown())


def test_empty_first_start_shows_add_a_pacs_and_search_disabled_with_reason(
        window: MainWindow, qtbot: QtBot, tmp_path: Path) -> None:
    state = window.no_pacs_state
    assert state.isVisible() and state.add_button.text() == "Add a PACS…"
    assert state.geometry() == window.results_view.viewport().rect()
    search = window.form.search_button
    assert not search.isEnabled() and search.toolTip() == NO_PACS_REASON
    qtbot.keyClicks(window.form.fields["queryPatientName"], "SMITH")  # revalidates the form
    assert not search.isEnabled() and search.toolTip() == NO_PACS_REASON
    window.grab().save("/tmp/first_run_empty.png")

    QTest.mouseClick(state.add_button, Qt.MouseButton.LeftButton)
    dialog = window.findChild(PacsManagerDialog)
    assert dialog is not None and dialog.isVisible()
    assert dialog.profile_names() == ["New PACS"]  # a new profile, ready to fill in
    for key, text in (("called_aet", "ORTHANC"), ("host", "127.0.0.1"), ("port", "4242")):
        dialog.fields[key].setFocus()
        dialog.fields[key].selectAll()  # replaces a suggested value (port 104)
        qtbot.keyClicks(dialog.fields[key], text)
    assert dialog.save_button.isEnabled(), dialog.error_label.text()
    QTest.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert [n.name for n in NodeStore(tmp_path / "config" / "nodes.json").load()] == ["New PACS"]
    dialog.close()

    assert not state.isVisible()  # the window has a PACS now
    assert window.form.pacs_combo.currentText() == "New PACS"
    assert search.isEnabled() and search.toolTip() == ""
