"""Issue 11 §4: a typed name is searched as people expect (SMITH finds SMITH^JOHN), a Patient ID
exactly; a search that found nothing says what it searched; the CLI keeps its keys exact but
says why a plain name found nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from dicom_courier.core.demo.pacs import DemoPacs
from dicom_courier.core.qr.name_match import (
    NameMatching,
    exact_name_note,
    name_key,
    patient_id_hint,
)
from dicom_courier.core.qr.no_results import date_words, no_results
from tests.cli_runner import run_cli

P, W, E, N = (NameMatching.PREFIX, NameMatching.PATTERN, NameMatching.EXACT,
              NameMatching.NONE)


@pytest.mark.parametrize(("typed", "exact", "sent", "matching", "hint"), [
    ("SMITH", False, "SMITH*", P, "Matches names starting with SMITH"),
    ("smith", False, "smith*", P, "Matches names starting with smith"),  # case as typed
    ("SMITH*", False, "SMITH*", W, "Matches SMITH* as typed"),
    ("SM?TH", False, "SM?TH", W, "? one character"),
    ("SMITH^JOHN", False, "SMITH^JOHN*", P, "starting with SMITH^JOHN"),  # as Horos/Weasis
    ("SMITH^", False, "SMITH^*", P, "starting with SMITH^"),
    ("", False, "", N, "Names starting with what you type"),
    ("   ", False, "", N, "Names starting with what you type"),
    ("  SMITH  ", False, "SMITH*", P, "starting with SMITH"),  # PS3.5 6.2: not significant
    ("VAN DER BERG", False, "VAN DER BERG*", P, "starting with VAN DER BERG"),
    ("MÜLLER", False, "MÜLLER*", P, "starting with MÜLLER"),
    ("山田", False, "山田*", P, "starting with 山田"),
    ("SMITH", True, "SMITH", E, "Matches only the name SMITH, exactly"),
    ("SMITH^JOHN", True, "SMITH^JOHN", E, "only the name SMITH^JOHN"),
    ("SMITH*", True, "SMITH*", W, "stay wild cards even with Exact name"),
    ("", True, "", N, "Exact name: the whole name"),
    ("Smith, John", False, "Smith, John*", P, "try Smith^John"),
    ("A" * 64, False, "A" * 64, E, "no room for *"),
    ("A" * 63, False, "A" * 63 + "*", P, "starting with"),
])
def test_a_typed_name_is_searched_as_people_expect(typed: str, exact: bool, sent: str,
                                                    matching: NameMatching, hint: str) -> None:
    key = name_key(typed, exact=exact)
    assert (key.value, key.matching) == (sent, matching)
    assert hint in key.hint


@pytest.mark.parametrize(("typed", "hint"), [
    ("", "Patient ID: the whole ID, exactly"),
    ("12345", "Only the ID 12345, exactly (no prefix search)"),
    ("DEMO*", "IDs matching DEMO* (* and ? are wild cards)"),
])
def test_a_patient_id_is_matched_exactly_and_the_hint_says_so(typed: str, hint: str) -> None:
    assert patient_id_hint(typed) == hint


def test_nothing_found_names_what_was_searched_and_where() -> None:
    keys = {"PatientName": "SMITH*", "StudyDate": "20240611-20240617"}
    said = no_results(keys, "ORTHANC", dates="last 7 days (2024-06-11 to 2024-06-17)",
                      name_matching=NameMatching.PREFIX)
    assert said.headline == ("No studies found for name SMITH* on ORTHANC, study date last "
                             "7 days (2024-06-11 to 2024-06-17)")
    assert any("Any date" in line for line in said.advice)


def test_nothing_found_with_exact_name_id_and_modalities_advises_each() -> None:
    said = no_results({"PatientName": "SMITH", "PatientID": "007",
                       "ModalitiesInStudy": "CT\\MR"}, "Main (PACS1)",
                      name_matching=NameMatching.EXACT)
    assert said.headline == ("No studies found for name SMITH on Main (PACS1), patient ID "
                             "007, modalities CT, MR")
    text = said.text
    assert "Untick it" in text and "leading zeros" in text and "All modalities" in text


def test_nothing_found_shows_values_literally() -> None:
    said = no_results({"PatientName": "<b>x</b>\x1b]0;x\x07*"}, "<i>P</i>")
    assert said.headline == "No studies found for name <b>x</b>\\x1b]0;x\\x07* on <i>P</i>"


def test_nothing_found_without_criteria_and_date_words() -> None:
    assert no_results({}, "ORTHANC").headline == (
        "No studies found on ORTHANC (no criteria: every study was asked for)")
    assert date_words("20240611-20240617") == "2024-06-11 to 2024-06-17"
    assert date_words("20240611") == "2024-06-11"
    assert date_words("20240611-") == "from 2024-06-11"


def test_the_cli_note_only_for_a_plain_name_that_found_nothing() -> None:
    assert exact_name_note({"PatientName": "SMITH"}, 0) is not None
    assert exact_name_note({"PatientName": "SMITH"}, 2) is None
    assert exact_name_note({"PatientName": "SMITH*"}, 0) is None
    assert exact_name_note({"PatientID": "X"}, 0) is None


@pytest.mark.network
def test_cli_find_keeps_a_plain_name_exact_and_hints_on_stderr(tmp_path: Path) -> None:
    with DemoPacs() as pacs:
        address = ["--host", "127.0.0.1", "--port", str(pacs.port), "--aet", pacs.ae_title]
        plain = run_cli("find", *address, "-k", "PatientName=Müller", config_dir=tmp_path)
        star = run_cli("find", *address, "-k", "PatientName=Müller*", config_dir=tmp_path)
    assert plain.returncode == 0 and "0 result(s)" in plain.stdout
    assert "hint: no match for PatientName=Müller" in plain.stderr
    assert "PatientName=Müller*" in plain.stderr
    assert star.returncode == 0 and "2 result(s)" in star.stdout and "hint" not in star.stderr
