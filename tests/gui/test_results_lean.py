"""The results grid formats on demand (issue 12 §4) and shows exactly what it showed before.

Rows are kept as their FindMatch only; a cell's text is worked out when a view asks, the sort
keys of the sorted column and the filter texts on first use. These tests pin what a person
sees for rows with marks (undecodable, undeclared character set), control characters and
huge values: cell text, tooltip, sort order, filter and copy, with the strings the grid
showed when every row was formatted up front.
"""

from __future__ import annotations

from PySide6.QtCore import Qt

from dicom_courier.core.qr.query import FindMatch, QueryLevel
from dicom_courier.gui.results_model import (
    DISPLAY_CACHE_ROWS,
    UNDECLARED_TOOLTIP,
    UNDECODABLE_MARK,
    UNDECODABLE_TOOLTIP,
    Column,
    Role,
    StudyResultsModel,
)
from dicom_courier.gui.results_proxy import ResultsFilterProxy, results_as_tsv

DISPLAY = int(Qt.ItemDataRole.DisplayRole)
TOOLTIP = int(Qt.ItemDataRole.ToolTipRole)
BAD = "\ufffd"


def _rows() -> list[FindMatch]:
    study = QueryLevel.STUDY
    return [
        FindMatch(study, {"PatientName": f"M{BAD}ller^J{BAD}rgen",
                          "StudyDescription": f"R{BAD}ntgen", "StudyDate": "20240102",
                          "StudyInstanceUID": "1.2.3"},
                  frozenset({"PatientName", "StudyDescription"})),
        FindMatch(study, {"PatientName": "Müller^Jürgen", "ReferringPhysicianName": "Weiß^Anna",
                          "StudyDescription": "Knie", "ModalitiesInStudy": "MR",
                          "StudyDate": "20230101", "StudyInstanceUID": "1.2.4"},
                  undeclared_charset=frozenset({"PatientName", "ReferringPhysicianName"})),
        FindMatch(study, {"PatientName": f"A{BAD}^B", "StudyDate": f"2024{BAD}",
                          "StudyInstanceUID": "1.2.5"},
                  frozenset({"PatientName", "StudyDate"}), frozenset({"PatientName"})),
        FindMatch(study, {"PatientName": "Evil\x1b]0;x\x07^Tab\tName", "PatientID": "ID\nTWO",
                          "StudyDescription": "CT ABD [/w contrast] <b>x</b>\u202egnp.exe",
                          "AccessionNumber": "=HYPERLINK(1)", "StudyInstanceUID": "1.2.6"}),
        FindMatch(study, {"StudyDescription": "X" * 700, "PatientID": "Y" * 501,
                          "StudyInstanceUID": "1.2.7"}),
    ]


def _model() -> StudyResultsModel:
    model = StudyResultsModel()
    model.append_matches(_rows())
    return model


def _cell(model: StudyResultsModel, row: int, column: Column, role: int = DISPLAY) -> object:
    return model.data(model.index(row, column), role)


def test_marked_values_show_as_before() -> None:
    model = _model()
    assert _cell(model, 0, Column.PATIENT_NAME) == f"{UNDECODABLE_MARK}M{BAD}ller, J{BAD}rgen"
    assert _cell(model, 0, Column.DESCRIPTION) == f"{UNDECODABLE_MARK}R{BAD}ntgen"
    assert _cell(model, 0, Column.STUDY_DATE_TIME) == "2024-01-02"  # not marked
    assert _cell(model, 0, Column.PATIENT_NAME, TOOLTIP) == (
        f"{UNDECODABLE_TOOLTIP}\nM{BAD}ller^J{BAD}rgen")
    assert _cell(model, 0, Column.DESCRIPTION, TOOLTIP) == (
        f"{UNDECODABLE_TOOLTIP}\n{UNDECODABLE_MARK}R{BAD}ntgen")
    assert _cell(model, 1, Column.PATIENT_NAME) == f"{UNDECODABLE_MARK}Müller, Jürgen"
    assert _cell(model, 1, Column.REFERRING) == f"{UNDECODABLE_MARK}Weiß, Anna"
    assert _cell(model, 1, Column.DESCRIPTION) == "Knie"
    assert _cell(model, 1, Column.REFERRING, TOOLTIP) == f"{UNDECLARED_TOOLTIP}\nWeiß^Anna"
    assert _cell(model, 1, Column.DESCRIPTION, TOOLTIP) == "Knie"
    assert _cell(model, 2, Column.PATIENT_NAME, TOOLTIP) == (
        f"{UNDECODABLE_TOOLTIP}\n{UNDECLARED_TOOLTIP}\nA{BAD}^B")
    assert _cell(model, 2, Column.STUDY_DATE_TIME) == f"{UNDECODABLE_MARK}2024{BAD}"
    assert _cell(model, 2, Column.STUDY_DATE_TIME, TOOLTIP) == UNDECODABLE_TOOLTIP
    assert _cell(model, 2, Column.PATIENT_NAME, Role.SORT_ROLE) == f"a{BAD}, b"


def test_control_characters_markup_and_huge_values_show_as_before() -> None:
    model = _model()
    assert _cell(model, 3, Column.PATIENT_NAME) == "Evil\\x1b]0;x\\x07, Tab Name"
    assert _cell(model, 3, Column.PATIENT_ID) == "ID TWO"
    assert _cell(model, 3, Column.DESCRIPTION) == "CT ABD [/w contrast] <b>x</b>\\u202egnp.exe"
    assert _cell(model, 3, Column.DESCRIPTION, TOOLTIP) == (
        "<p style='white-space:pre-wrap'>CT ABD [/w contrast] &lt;b&gt;x&lt;/b&gt;"
        "\\u202egnp.exe</p>")
    assert _cell(model, 4, Column.DESCRIPTION) == "X" * 499 + "…"
    assert _cell(model, 4, Column.PATIENT_ID) == "Y" * 499 + "…"


def test_filter_sort_and_copy_read_what_is_shown() -> None:
    model = _model()
    texts = model.search_texts()
    assert texts[0] == (f"{UNDECODABLE_MARK}m{BAD}ller, j{BAD}rgen\x1f\x1f\x1f"
                        f"{UNDECODABLE_MARK}r{BAD}ntgen\x1f\x1fm{BAD}ller^j{BAD}rgen\x1f")
    assert texts[1] == (f"{UNDECODABLE_MARK}müller, jürgen\x1f\x1f\x1fknie\x1fmr"
                        "\x1fmüller^jürgen\x1fmr")
    assert texts[3] == ("evil\\x1b]0;x\\x07, tab name\x1fid two\x1f=hyperlink(1)\x1f"
                        "ct abd [/w contrast] <b>x</b>\\u202egnp.exe\x1f\x1f"
                        "evil\x1b]0;x\x07^tab\tname\x1f")
    assert texts[4].startswith("\x1f" + "y" * 499 + "…\x1f\x1f" + "x" * 499 + "…")
    proxy = ResultsFilterProxy()
    proxy.setSourceModel(model)
    proxy.sort(Column.STUDY_DATE_TIME, Qt.SortOrder.DescendingOrder)
    order = [proxy.source_row(r) for r in range(proxy.rowCount())]
    assert order == [0, 1, 2, 3, 4]  # 2024-01-02, 2023-01-01, then no date: source order
    proxy.set_filter_text("MÜLLER")
    assert [proxy.source_row(r) for r in range(proxy.rowCount())] == [1]  # not M\ufffdller
    tsv = results_as_tsv(model, [1, 3])
    assert tsv.splitlines()[1] == (f"{UNDECODABLE_MARK}Müller, Jürgen\t\t\t\t2023-01-01\t\tMR\tKnie"
                                   f"\t\t\t{UNDECODABLE_MARK}Weiß, Anna")
    assert tsv.splitlines()[2].split("\t")[5] == "'=HYPERLINK(1)"


def test_rows_arriving_into_a_sorted_filtered_grid_land_in_place() -> None:
    """The sort keys and filter texts, worked out on first use, follow every later batch."""
    model = StudyResultsModel()
    proxy = ResultsFilterProxy()
    proxy.setSourceModel(model)
    proxy.sort(Column.STUDY_DATE_TIME, Qt.SortOrder.DescendingOrder)
    proxy.set_filter_text("ct")
    dates = ["20240301", "", "2023", "20991231", "19991231", "20240301", "2024.03.02", "x"]
    for batch in range(2):
        model.append_matches([
            FindMatch(QueryLevel.STUDY, {"PatientName": f"P{batch}{i}", "StudyDate": date,
                                         "StudyTime": "1200" if i % 2 else "",
                                         "ModalitiesInStudy": "CT" if i % 3 else "MR",
                                         "StudyInstanceUID": f"1.2.{batch}.{i}"})
            for i, date in enumerate(dates)])
    shown = [proxy.index(r, Column.PATIENT_NAME).data() for r in range(proxy.rowCount())]
    # CT rows only (i % 3), newest first; equal keys (no date) keep arrival order
    assert shown == ["P05", "P15", "P02", "P12", "P04", "P14", "P01", "P07", "P11", "P17"]
    keys = [proxy.index(r, Column.STUDY_DATE_TIME).data(Role.SORT_ROLE)
            for r in range(proxy.rowCount())]
    assert keys[:6] == ["20240301120000"] * 2 + ["20230000000000"] * 2 + ["19991231000000"] * 2


def test_formatted_text_is_kept_for_a_bounded_number_of_rows() -> None:
    rows = DISPLAY_CACHE_ROWS + 500
    model = StudyResultsModel()
    model.append_matches(FindMatch(QueryLevel.STUDY, {"PatientName": f"Doe^Jane^{i}",
                                                      "StudyInstanceUID": f"1.2.{i}"})
                         for i in range(rows))
    first = model.display_text(0, Column.PATIENT_NAME)
    copied = results_as_tsv(model, range(rows))  # every row formatted once
    assert len(copied.splitlines()) == rows + 1
    assert len(model._display) <= DISPLAY_CACHE_ROWS  # noqa: SLF001 - the bound is the point
    assert model.display_text(0, Column.PATIENT_NAME) == first == "Doe, Jane 0"
