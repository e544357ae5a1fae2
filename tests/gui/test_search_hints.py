"""Issue 11 §4: a search that doesn't silently find nothing, driven with real key events.

SMITH + Enter searches SMITH* (with the hint saying so), Exact name sends SMITH, a Patient ID
stays exact, a search with no result says in the grid what it searched; the default study date
is the last 7 days; the last PACS, destination and modalities survive a restart, the patient
does not.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from dicom_courier.core.config.profile_store import NodeStore
from dicom_courier.core.config.profiles import Destination, PacsNode
from dicom_courier.gui import create_main_window
from dicom_courier.gui.app import DEMO_PROFILE, start_demo_peers
from dicom_courier.gui.main_window import MainWindow
from dicom_courier.gui.query_form import DatePreset, QueryForm
from tests.gui.waiting import until

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "raise")


# ------------------------------------------------------------------ the form alone


def _shown_form(qtbot: QtBot) -> QueryForm:
    form = QueryForm()
    qtbot.addWidget(form)
    form.show()
    qtbot.waitExposed(form)
    form.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is form)  # for the Alt+X mnemonic
    form.fields["queryPatientName"].setFocus()
    return form


def test_a_plain_name_is_a_prefix_and_the_hint_says_so(qtbot: QtBot) -> None:
    form = _shown_form(qtbot)
    name = form.fields["queryPatientName"]
    assert "Names starting with what you type" in form.name_hint.text()
    QTest.keyClicks(name, "SMITH")
    assert form.name_hint.text() == "Matches names starting with SMITH"
    assert form.name_hint.textFormat() == Qt.TextFormat.PlainText
    with qtbot.waitSignal(form.search_requested) as signal:
        QTest.keyClick(name, Qt.Key.Key_Return)
    assert signal.args == [{"PatientName": "SMITH*"}]
    QTest.keyClicks(name, "^JOHN")
    assert form.query_keys() == {"PatientName": "SMITH^JOHN*"}


def test_exact_name_is_reached_by_tab_and_space(qtbot: QtBot) -> None:
    form = _shown_form(qtbot)
    name = form.fields["queryPatientName"]
    QTest.keyClicks(name, "SMITH")
    QTest.keyClick(name, Qt.Key.Key_Tab)
    assert form.focusWidget() is form.exact_name
    QTest.keyClick(form.exact_name, Qt.Key.Key_Space)
    assert form.exact_name.isChecked()
    assert form.name_hint.text() == "Matches only the name SMITH, exactly"
    assert form.query_keys() == {"PatientName": "SMITH"}
    QTest.keyClick(form.exact_name, Qt.Key.Key_Tab)  # on to the Patient ID, exact as well
    assert form.focusWidget() is form.fields["queryPatientId"]
    QTest.keyClicks(form.fields["queryPatientId"], "0042")
    assert form.id_hint.text() == "exact match"
    assert form.query_keys() == {"PatientName": "SMITH", "PatientID": "0042"}
    form.clear()
    assert not form.exact_name.isChecked()
    QTest.keyClick(form.fields["queryPatientName"], Qt.Key.Key_X,
                   Qt.KeyboardModifier.AltModifier)  # the mnemonic, from the name field
    qtbot.waitUntil(form.exact_name.isChecked, timeout=2000)  # a mnemonic animates a click


def test_a_pattern_is_sent_as_typed_and_markup_is_shown_as_text(qtbot: QtBot) -> None:
    form = _shown_form(qtbot)
    QTest.keyClicks(form.fields["queryPatientName"], "<b>SM?TH</b>")
    assert form.query_keys() == {"PatientName": "<b>SM?TH</b>"}
    assert form.name_hint.text().startswith("Matches <b>SM?TH</b> as typed")


# ------------------------------------------------------------------ the window, demo PACS


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[PacsNode]:
    with ExitStack() as stack:
        node = start_demo_peers(stack, tmp_path / "ws", store_delay=0.0)
        node = node.with_changes(destinations=(*node.destinations, Destination("OTHERWS")))
        store = NodeStore(tmp_path / "config" / "nodes.json")
        store.put(PacsNode(name="Other PACS", called_aet="OTHER", host="127.0.0.1", port=9))
        store.put(node)
        yield node


def _window(qtbot: QtBot, config: Path) -> MainWindow:
    win = create_main_window(config)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    return win


def _spy(win: MainWindow, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, str]]:
    """The matching keys of every C-FIND the window asks the engine to send."""
    sent: list[dict[str, str]] = []
    real = win.courier.find

    def find(pacs: PacsNode, query: Any, **kwargs: Any) -> Any:
        sent.append(dict(query.keys))
        return real(pacs, query, **kwargs)

    monkeypatch.setattr(win.courier, "find", find)
    return sent


def _search_by_keys(win: MainWindow, sent: list[dict[str, str]], text: str | None,
                    run_async: Any) -> None:
    """Type ``text`` in the name field (None: leave it) and press Enter, as a person does."""
    name = win.form.fields["queryPatientName"]
    if text is not None:
        name.clear()
        QTest.keyClicks(name, text)
    before = len(sent)
    QTest.keyClick(name, Qt.Key.Key_Return)

    async def finished() -> None:
        await until(lambda: len(sent) > before and win._search is None)

    run_async(finished())


@pytest.mark.network
def test_smith_enter_searches_smith_star_and_nothing_found_says_so(
        qtbot: QtBot, tmp_path: Path, demo: PacsNode, qasync_loop: Any, run_async: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    win = _window(qtbot, tmp_path / "config")
    try:
        win.reload_profiles(select=DEMO_PROFILE)
        assert win.form.date_preset.currentText() == DatePreset.LAST_7.value  # the default
        sent = _spy(win, monkeypatch)
        _search_by_keys(win, sent, "SMITH", run_async)
        today = date.today()
        week = f"{today - timedelta(days=6):%Y%m%d}-{today:%Y%m%d}"
        assert sent[-1] == {"PatientName": "SMITH*", "StudyDate": week}
        assert win.results_model.rowCount() == 0
        notice = win.empty_results
        assert notice.isVisible() and notice.textFormat() == Qt.TextFormat.PlainText
        assert notice.text().startswith(
            f"No studies found for name SMITH* on Demo PACS ({demo.called_aet}), study date "
            f"last 7 days ({today - timedelta(days=6):%Y-%m-%d} to {today:%Y-%m-%d})")
        assert "Any date for older ones" in notice.text()
        assert notice.geometry() == win.results_view.viewport().rect()
        win.grab().save("/tmp/search_hints_zero_results.png")
    finally:
        run_async(win.shutdown())


@pytest.mark.network
def test_a_prefix_finds_the_patient_and_exact_name_does_not(
        qtbot: QtBot, tmp_path: Path, demo: PacsNode, qasync_loop: Any, run_async: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config"
    (config / "settings.json").write_text('{"default_study_dates": "any"}', encoding="utf-8")
    win = _window(qtbot, config)
    try:
        win.reload_profiles(select=DEMO_PROFILE)
        assert win.form.date_preset.currentText() == DatePreset.ANY.value  # the preference
        sent = _spy(win, monkeypatch)
        _search_by_keys(win, sent, "dubois", run_async)  # the PACS holds Dubois^Amélie
        assert sent[-1] == {"PatientName": "dubois*"}
        assert win.results_model.rowCount() == 1 and not win.empty_results.isVisible()
        win.grab().save("/tmp/search_hints_form.png")
        win.form.exact_name.setFocus()
        QTest.keyClick(win.form.exact_name, Qt.Key.Key_Space)
        _search_by_keys(win, sent, None, run_async)
        assert sent[-1] == {"PatientName": "dubois"}
        assert win.results_model.rowCount() == 0 and win.empty_results.isVisible()
        assert "Exact name is on" in win.empty_results.text()
        _search_by_keys(win, sent, "Dubois^Am", run_async)  # a new search: the notice goes
        assert sent[-1] == {"PatientName": "Dubois^Am"}  # Exact name is still on
        QTest.keyClick(win.form.exact_name, Qt.Key.Key_Space)
        _search_by_keys(win, sent, None, run_async)
        assert sent[-1] == {"PatientName": "Dubois^Am*"}
        assert win.results_model.rowCount() == 1 and not win.empty_results.isVisible()
    finally:
        run_async(win.shutdown())


@pytest.mark.network
def test_a_failed_search_is_not_nothing_found(
        qtbot: QtBot, tmp_path: Path, demo: PacsNode, qasync_loop: Any, run_async: Any) -> None:
    win = _window(qtbot, tmp_path / "config")
    try:
        win.reload_profiles(select="Other PACS")  # port 9: nobody answers
        run_async(win.search({"PatientName": "SMITH*"}))
        assert win.count_label.text().startswith("Search failed")
        assert not win.empty_results.isVisible()
    finally:
        run_async(win.shutdown())


@pytest.mark.network
def test_pacs_destination_and_modalities_survive_a_restart_the_patient_does_not(
        qtbot: QtBot, tmp_path: Path, demo: PacsNode, qasync_loop: Any, run_async: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config"
    first = _window(qtbot, config)
    assert first.form.pacs_combo.currentText() == "Other PACS"  # first start: the first one
    first.form.pacs_combo.setCurrentIndex(first.form.pacs_combo.findText(DEMO_PROFILE))
    first.destination_combo.setCurrentIndex(first.destination_combo.findData("OTHERWS"))
    first.form.set_modalities(["MR"])
    first.form.fields["queryPatientId"].setText("DEMO002")
    sent = _spy(first, monkeypatch)
    _search_by_keys(first, sent, "Dubois", run_async)
    first.close()
    run_async(first.shutdown())
    saved = (config / "last_search.json").read_text(encoding="utf-8")
    assert "Dubois" not in saved and "DEMO002" not in saved
    assert json.loads(saved)["pacs"] == DEMO_PROFILE

    second = _window(qtbot, config)
    try:
        assert second.form.pacs_combo.currentText() == DEMO_PROFILE
        assert second.destination_combo.currentData() == "OTHERWS"
        assert second.form.selected_modalities() == ["MR"]
        assert second.form.fields["queryPatientName"].text() == ""
        assert second.form.fields["queryPatientId"].text() == ""
        assert second.form.date_preset.currentText() == DatePreset.LAST_7.value
    finally:
        run_async(second.shutdown())
