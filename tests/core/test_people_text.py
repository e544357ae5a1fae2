"""DICOM values worded for people (core.people_text): one module for the window and the CLI.

Each row is a value a PACS may send and what a person reads; a value that is not of its VR's
form is shown as it came (stripped of padding), never raised, never "corrected".
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from dicom_courier.core.text.people_text import (
    date_digits,
    format_date,
    format_multi_value,
    format_person_name,
    format_time,
    format_value,
    time_digits,
)


@pytest.mark.parametrize(("raw", "shown"), [
    pytest.param("Müller^Jürgen", "Müller, Jürgen", id="family^given"),
    pytest.param("DOE^JOHN^A^DR^JR", "DOE, DR JOHN A JR", id="all five components"),
    pytest.param("Weber^Thomas^^Dr.", "Weber, Dr. Thomas", id="empty middle name"),
    pytest.param("Smith^^^^", "Smith", id="only the family name, empty components"),
    pytest.param("^John", "John", id="no family name"),
    pytest.param("^^^^", "", id="every component empty"),
    pytest.param("", "", id="empty value"),
    pytest.param("ANONYMOUS", "ANONYMOUS", id="no caret"),
    pytest.param(" DOE ^ JOHN ", "DOE, JOHN", id="padding"),
    pytest.param("Yamada^Tarou=山田^太郎=やまだ^たろう", "Yamada, Tarou (山田 太郎)",
                 id="alphabetic, ideographic and phonetic groups"),
    pytest.param("Yamada^Tarou=山田^太郎", "Yamada, Tarou (山田 太郎)", id="two groups"),
    pytest.param("=山田^太郎", "山田 太郎", id="ideographic group only"),
    pytest.param("==やまだ^たろう", "やまだ たろう", id="phonetic group only"),
    pytest.param("Yamada^Tarou==やまだ^たろう", "Yamada, Tarou", id="empty ideographic group"),
    pytest.param("Hong^Gildong=洪^吉洞=홍^길동", "Hong, Gildong (洪 吉洞)", id="Korean"),
    pytest.param("=", "", id="two empty groups"),
    pytest.param("Adams^Amy\\Brown^Bob", "Adams, Amy; Brown, Bob", id="two values"),
    pytest.param("Adams^Amy\\", "Adams, Amy", id="an empty second value"),
    pytest.param("CT ABD [/w contrast]", "CT ABD [/w contrast]", id="markup stays text"),
])
def test_person_names(raw: str, shown: str) -> None:
    assert format_person_name(raw) == shown
    assert format_value("PatientName", raw) == shown
    assert format_value("ReferringPhysicianName", raw) == shown


@pytest.mark.parametrize(("raw", "shown", "digits"), [
    pytest.param("20240301", "2024-03-01", "20240301", id="DA"),
    pytest.param("2023.01.15", "2023-01-15", "20230115", id="ACR-NEMA form"),
    pytest.param(" 20240301 ", "2024-03-01", "20240301", id="padding"),
    pytest.param("202403", "2024-03", "202403", id="partial: year and month"),
    pytest.param("2024", "2024", "2024", id="partial: year"),
    pytest.param("", "", "", id="empty"),
    pytest.param("20241345", "20241345", "", id="month 13: as it came"),
    pytest.param("20240300", "20240300", "", id="day 00: as it came"),
    pytest.param("2024-03-01", "2024-03-01", "", id="ISO already: as it came"),
    pytest.param("unknown", "unknown", "", id="text: as it came"),
    pytest.param("２０２４０３０１", "２０２４０３０１", "", id="full-width digits: as they came"),
    pytest.param("20240101-20240131", "20240101-20240131", "", id="a range: as it came"),
])
def test_dates(raw: str, shown: str, digits: str) -> None:
    assert format_date(raw) == shown
    assert date_digits(raw) == digits
    assert format_value("StudyDate", raw) == shown


@pytest.mark.parametrize(("raw", "shown", "digits"), [
    pytest.param("140512.123456", "14:05", "140512", id="HHMMSS.FFFFFF"),
    pytest.param("140512", "14:05", "140512", id="HHMMSS"),
    pytest.param("0905", "09:05", "090500", id="HHMM"),
    pytest.param("09", "09:00", "090000", id="HH"),
    pytest.param("14:05:12", "14:05", "140512", id="ACR-NEMA form"),
    pytest.param("235960", "23:59", "235960", id="leap second"),
    pytest.param("", "", "", id="empty"),
    pytest.param("2500", "2500", "", id="hour 25: as it came"),
    pytest.param("1460", "1460", "", id="minute 60: as it came"),
    pytest.param("14h05", "14h05", "", id="text: as it came"),
    pytest.param("140", "140", "", id="odd digit count: as it came"),
])
def test_times(raw: str, shown: str, digits: str) -> None:
    assert format_time(raw) == shown
    assert time_digits(raw) == digits
    assert format_value("StudyTime", raw) == shown


@pytest.mark.parametrize(("raw", "shown"), [
    pytest.param("CT\\MR", "CT, MR", id="two modalities"),
    pytest.param("CT", "CT", id="one"),
    pytest.param("CT\\\\MR", "CT, MR", id="an empty value between"),
    pytest.param(" CT \\ MR \\", "CT, MR", id="padding and a trailing backslash"),
    pytest.param("\\", "", id="only a backslash"),
    pytest.param("", "", id="empty"),
])
def test_multi_valued_code_strings(raw: str, shown: str) -> None:
    assert format_multi_value(raw) == shown
    assert format_value("ModalitiesInStudy", raw) == shown


def test_other_values_are_shown_as_they_came() -> None:
    """UIDs must stay copyable, IDs and text are the PACS's own, unknown keywords are left."""
    assert format_value("StudyInstanceUID", "1.2.3\\1.2.4") == "1.2.3\\1.2.4"
    assert format_value("PatientID", " ID 1 ") == " ID 1 "
    assert format_value("StudyDescription", "CT\\MR ^x^") == "CT\\MR ^x^"
    assert format_value("NotAKeyword", "A^B") == "A^B"
    assert format_value("StudyDate", "20240301\\20240302") == "2024-03-01, 2024-03-02"
    assert format_value("StudyTime", "0800\\bad") == "08:00, bad"


def test_nothing_raises_on_hostile_values() -> None:
    for value in ("\x1b[2J^NAME", "\ufffd\ufffd", "=" * 5, "^" * 1000, "\\" * 1000,
                  "9" * 8, "0" * 6, "\udcff"):
        for keyword in ("PatientName", "StudyDate", "StudyTime", "ModalitiesInStudy"):
            assert isinstance(format_value(keyword, value), str)
    assert format_person_name("\x1b[2J^NAME") == "\x1b[2J, NAME"  # escaping is the caller's


def test_the_module_needs_no_qt() -> None:
    code = ("import sys, dicom_courier.core.text.people_text, dicom_courier.core.cli.render; "
            "sys.exit(any(m.startswith('PySide6') for m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_the_cli_table_words_values_for_people_and_csv_json_keep_them_raw(
        capsys: pytest.CaptureFixture[str]) -> None:
    import json
    from types import MappingProxyType

    from dicom_courier.core.cli.render import print_matches
    from dicom_courier.core.qr.query import FindMatch, QueryLevel

    raw = {"PatientName": "Yamada^Tarou=山田^太郎", "StudyDate": "20240301",
           "StudyTime": "140512.123456", "ModalitiesInStudy": "CT\\MR",
           "StudyInstanceUID": "1.2.826.0.1.3680043.8.498.1", "StudyDescription": "CT^[/b]"}
    match = FindMatch(QueryLevel.STUDY, MappingProxyType(raw))
    columns = tuple(raw)

    print_matches([match], "table", columns)
    table = capsys.readouterr().out
    for shown in ("Yamada, Tarou (山田 太郎)", "2024-03-01", "14:05", "CT, MR",
                  "1.2.826.0.1.3680043.8.498.1", "CT^[/b]"):
        assert shown in table, shown
    assert "20240301" not in table and "CT\\MR" not in table

    print_matches([match], "json", columns)
    assert json.loads(capsys.readouterr().out) == [raw]
    print_matches([match], "csv", columns)
    assert capsys.readouterr().out.splitlines()[1].split(",")[:4] == [
        "Yamada^Tarou=山田^太郎", "20240301", "140512.123456", "CT\\MR"]
