"""The query form: keys for the PACS, presets, inline validation that blocks the search."""

from __future__ import annotations

from datetime import date, timedelta

from PySide6.QtCore import QDate
from pytestqt.qtbot import QtBot

from dicom_courier.gui.query_form import DatePreset, QueryForm, preset_range


def _form(qtbot: QtBot) -> QueryForm:
    form = QueryForm()
    qtbot.addWidget(form)
    form.pacs_combo.addItem("Main PACS")  # with no PACS at all, Search stays disabled
    return form


def test_fields_become_matching_keys(qtbot: QtBot) -> None:
    form = _form(qtbot)
    qtbot.keyClicks(form.fields["queryPatientName"], "MÜLLER*")
    qtbot.keyClicks(form.fields["queryAccession"], "ACC1001")
    form.set_modalities(["CT", "MR"])
    form.set_date_preset(DatePreset.LAST_7)
    keys = form.query_keys()
    today = date.today()
    assert keys == {
        "PatientName": "MÜLLER*",
        "AccessionNumber": "ACC1001",
        "ModalitiesInStudy": "CT\\MR",
        "StudyDate": f"{today - timedelta(days=6):%Y%m%d}-{today:%Y%m%d}",
    }
    assert form.modalities.text() == "CT, MR"


def test_today_is_a_single_date_and_any_date_sends_no_date(qtbot: QtBot) -> None:
    form = _form(qtbot)
    form.set_date_preset(DatePreset.TODAY)
    assert form.query_keys() == {"StudyDate": f"{date.today():%Y%m%d}"}
    form.set_date_preset(DatePreset.ANY)
    assert form.query_keys() == {}


def test_enter_in_a_field_requests_the_search(qtbot: QtBot) -> None:
    form = _form(qtbot)
    qtbot.keyClicks(form.fields["queryPatientId"], "DEMO001")
    with qtbot.waitSignal(form.search_requested) as signal:
        qtbot.keyClick(form.fields["queryPatientId"], "\r")
    assert signal.args == [{"PatientID": "DEMO001"}]


def test_invalid_input_is_marked_and_never_emitted(qtbot: QtBot) -> None:
    form = _form(qtbot)
    emitted: list[dict[str, str]] = []
    form.search_requested.connect(emitted.append)
    qtbot.keyClicks(form.fields["queryAccession"], "A" * 17)
    assert not form.search_button.isEnabled()
    assert "Accession number: must be at most 16 characters" in form.error_label.text()
    assert "c62828" in form.fields["queryAccession"].styleSheet()
    form.request_search()
    qtbot.keyClick(form.fields["queryAccession"], "\r")
    assert emitted == []
    form.fields["queryAccession"].setText("A" * 16)
    assert form.search_button.isEnabled() and form.error_label.isHidden()


def test_backslash_and_reversed_dates_are_refused(qtbot: QtBot) -> None:
    form = _form(qtbot)
    form.fields["queryPatientName"].setText("DOE\\JOHN")
    assert "must not contain a backslash" in form.error_label.text()
    form.fields["queryPatientName"].clear()
    form.set_date_preset(DatePreset.RANGE)
    form.date_from.setDate(QDate(2024, 6, 30))
    form.date_to.setDate(QDate(2024, 6, 1))
    assert not form.validate()
    assert "'from' must not be after 'to'" in form.error_label.text()


def test_clear_resets_everything(qtbot: QtBot) -> None:
    form = _form(qtbot)
    form.fields["queryPatientId"].setText("X")
    form.set_modalities(["CT"])
    form.set_date_preset(DatePreset.YESTERDAY)
    form.clear()
    assert form.query_keys() == {}


def test_presets() -> None:
    today = date(2024, 3, 1)
    assert preset_range(DatePreset.YESTERDAY, today) == (date(2024, 2, 29), date(2024, 2, 29))
    assert preset_range(DatePreset.LAST_30, today) == (date(2024, 2, 1), today)  # 30 days
    assert preset_range(DatePreset.ANY, today) is None


def test_search_is_disabled_with_a_reason_while_there_is_no_pacs(qtbot: QtBot) -> None:
    form = QueryForm()
    qtbot.addWidget(form)
    qtbot.keyClicks(form.fields["queryPatientName"], "SMITH")
    assert not form.search_button.isEnabled()
    assert form.search_button.toolTip() == "Add a PACS first: there is no PACS to search yet."
    form.pacs_combo.addItem("Main PACS")
    form.validate()
    assert form.search_button.isEnabled() and form.search_button.toolTip() == ""
