"""Data is never markup or control (issue 7, section 2), on the command line and in CSV.

The command line is run in-process (``run(argv)``) against the in-process demo PACS serving
studies with hostile descriptions; every example of the issue is a row here.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dicom_courier.core.cli import render
from dicom_courier.core.cli.main import run
from dicom_courier.core.cli.render import print_matches
from dicom_courier.core.cli.safe_text import PrintableFormatter
from dicom_courier.core.demo.pacs import DemoPacs
from dicom_courier.core.demo.synthetic import StudySpec
from dicom_courier.core.demo.workstation import Workstation
from dicom_courier.core.jobs.history import export_csv
from dicom_courier.core.jobs.store import JobStore
from dicom_courier.core.qr.query import FindMatch, QueryLevel
from dicom_courier.core.text.safe_text import csv_cell, display, printable
from tests.fakes.hostile import (
    CONTROL,
    FORMULA,
    RAW_CONTROLS,
    RICH_MARKUP,
    SIGNED_NUMBERS,
    huge,
)

#: pydicom warns about the ESC inside a UTF-8 value; that value is the point of the test.
pytestmark = pytest.mark.filterwarnings("ignore:Found unknown escape sequence:UserWarning")

# ------------------------------------------------------------------ the pure functions


@pytest.mark.parametrize("value", CONTROL.values(), ids=CONTROL.keys())
def test_printable_escapes_every_control(value: str) -> None:
    shown = printable(value)
    assert not any(ch in shown for ch in RAW_CONTROLS), repr(shown)
    assert printable("a\x1b]0;x\x07b") == "a\\x1b]0;x\\x07b"
    assert printable("abc\u202egpj") == "abc\\u202egpj"


def test_printable_keeps_ordinary_text() -> None:
    for text in ("Müller^Jürgen", "山田^太郎", "CT ABD [/w contrast]", "A\\B", "👩‍⚕️"):
        assert printable(text) == text
    assert printable("one\ntwo", keep_newlines=True) == "one\ntwo"
    assert printable("one\ntwo") == "one\\x0atwo"
    assert printable("bad byte \udcff") == "bad byte \\udcff"  # surrogateescape: no crash


@pytest.mark.parametrize("value", FORMULA.values(), ids=FORMULA.keys())
def test_csv_cell_neutralises_formulas(value: str) -> None:
    if value[0] in "\t\r":  # a control character is written escaped (issue 8): "\x09=1+1"
        assert csv_cell(value) == printable(value)
    else:
        assert csv_cell(value) == "'" + value


@pytest.mark.parametrize("value", [*SIGNED_NUMBERS, "", "CT ABD", "1.2.840.10008", "0"])
def test_csv_cell_keeps_numbers_and_plain_text(value: str) -> None:
    assert csv_cell(value) == value


def test_display_of_a_huge_value_is_cut_fast() -> None:
    value = huge(64 * 1024 * 1024)
    started = time.perf_counter()
    shown = display(value, 200)
    assert time.perf_counter() - started < 0.5
    assert len(shown) == 200 and shown.endswith("…")


# ------------------------------------------------------------------ the table renderer


def _match(**values: str) -> FindMatch:
    return FindMatch(level=QueryLevel.STUDY, values=values)


def test_table_with_a_multi_megabyte_value_prints_fast_and_cut(
        capsys: pytest.CaptureFixture[str]) -> None:
    big = huge(8 * 1024 * 1024)
    started = time.perf_counter()
    print_matches([_match(StudyDescription=big, PatientID="P1")], "table",
                  ("PatientID", "StudyDescription"))
    elapsed = time.perf_counter() - started
    out = capsys.readouterr().out
    assert elapsed < 5, f"the table took {elapsed:.1f} s"
    assert "…" in out and len(out) < 10_000
    print_matches([_match(StudyDescription=big)], "json", ("StudyDescription",))
    assert json.loads(capsys.readouterr().out)[0]["StudyDescription"] == big  # JSON is whole
    print_matches([_match(StudyDescription=big)], "csv", ("StudyDescription",))
    assert capsys.readouterr().out == f"StudyDescription\n{big}\n"  # so is CSV


# ------------------------------------------------------------------ the CLI, end to end

HOSTILE_STUDIES = [
    StudySpec(key=f"hostile-{i}", patient_name=f"Hostile^{i}", patient_id=f"HOST{i:03d}",
              accession=f"H{i:03d}", description=description, series_count=1,
              instances_per_series=2)
    for i, description in enumerate([
        RICH_MARKUP["closing tag in a study description"], RICH_MARKUP["hyperlink"],
        RICH_MARKUP["emoji code"], "HEAD\x1b]0;owned\x07\x1b[2J", FORMULA["equals"]])
]
BRACKETS = HOSTILE_STUDIES[0]


@pytest.fixture
def pacs() -> Iterator[DemoPacs]:
    with DemoPacs(HOSTILE_STUDIES) as running:
        yield running


def address(pacs: DemoPacs) -> list[str]:
    return ["--host", "127.0.0.1", "--port", str(pacs.port), "--aet", pacs.ae_title]


@pytest.fixture(autouse=True)
def wide_consoles(monkeypatch: pytest.MonkeyPatch) -> None:
    """Wide enough that no cell or bar label is folded: the tests read values on one line."""
    for console in (render.stdout, render.stderr):
        monkeypatch.setattr(console, "width", 2000)


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = run(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.network
def test_find_table_shows_every_hostile_description_literally(
        pacs: DemoPacs, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = cli(capsys, "--config-dir", str(tmp_path), "find", *address(pacs),
                         "-k", "StudyDescription")
    assert code == 0, err
    assert "CT ABD [/w contrast]" in out  # crashed with MarkupError before
    assert "[link=https://x]click[/link]" in out  # was a hyperlink "click"
    assert ":warning: HEAD" in out  # was an emoji
    assert "HEAD\\x1b]0;owned\\x07\\x1b[2J" in out  # shown escaped, terminal untouched
    assert not any(ch in out + err for ch in RAW_CONTROLS)
    assert "5 result(s)" in out


@pytest.mark.network
def test_find_json_keeps_the_true_value_and_csv_neutralises_formulas(
        pacs: DemoPacs, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = cli(capsys, "--config-dir", str(tmp_path), "find", *address(pacs),
                         "-k", "StudyDescription", "--format", "json")
    assert code == 0, err
    descriptions = {row["StudyDescription"] for row in json.loads(out)}
    assert descriptions == {s.description for s in HOSTILE_STUDIES}
    code, out, err = cli(capsys, "--config-dir", str(tmp_path), "find", *address(pacs),
                         "-k", "StudyDescription", "--format", "csv")
    assert code == 0, err
    cells = {row["StudyDescription"] for row in csv.DictReader(io.StringIO(out))}
    assert "'" + FORMULA["equals"] in cells and FORMULA["equals"] not in cells
    assert BRACKETS.description in cells


@pytest.mark.network
def test_move_of_a_study_whose_description_has_brackets_is_sent(
        pacs: DemoPacs, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with Workstation(tmp_path / "ws", ae_title="WS") as ws:
        pacs.add_destination("WS", "127.0.0.1", ws.port)
        code, _, err = cli(capsys, "--config-dir", str(tmp_path), "move", *address(pacs),
                           "--dest", "WS", "-k", f"PatientID={BRACKETS.patient_id}")
        assert code == 0, err
        assert ws.received_count == BRACKETS.instance_count  # never sent before
    assert "CT ABD [/w contrast]" in err  # the progress bar names it literally
    assert "completed: 2 of 2 images sent to WS" in err


@pytest.mark.network
def test_queue_run_to_a_destination_titled_with_brackets_sends_the_job(
        pacs: DemoPacs, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    config = ["--config-dir", str(tmp_path)]
    with Workstation(tmp_path / "ws", ae_title="AI[/]BOX") as ws:
        pacs.add_destination("AI[/]BOX", "127.0.0.1", ws.port)
        code, _, err = cli(capsys, *config, "nodes", "add", "Lab [/]PACS", *address(pacs),
                           "--dest", f"AI[/]BOX@127.0.0.1:{ws.port}")
        assert code == 0, err
        code, out, err = cli(capsys, *config, "queue", "add", "--pacs", "Lab [/]PACS",
                             "--study", BRACKETS.study_uid, "--label", "CT ABD [/w contrast]")
        assert code == 0, err
        assert "to AI[/]BOX" in out
        code, _, err = cli(capsys, *config, "queue", "run")  # crashed with MarkupError before
        assert code == 0, err
        assert ws.received_count == BRACKETS.instance_count
    assert "AI[/]BOX" in err and "CT ABD [/w contrast]" in err
    code, out, err = cli(capsys, *config, "queue", "list")
    assert code == 0, err
    assert "Lab [/]PACS" in out and "completed" in out


@pytest.mark.network
def test_error_message_naming_a_bracketed_profile_is_printed(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, dead_port: int) -> None:
    config = ["--config-dir", str(tmp_path)]
    code, _, err = cli(capsys, *config, "nodes", "add", "Lab [/]PACS", "--host", "127.0.0.1",
                       "--port", str(dead_port), "--aet", "AI[/]BOX")
    assert code == 0, err
    code, _, err = cli(capsys, *config, "echo", "--pacs", "Lab [/]PACS")
    assert code == 1  # a connection error, printed in full (crashed with MarkupError before)
    assert err.startswith("Error: ")
    assert "'Lab [/]PACS'" in err and "AI[/]BOX" in err


def test_usage_error_shows_a_typed_escape_sequence_escaped(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = cli(capsys, "--config-dir", str(tmp_path), "find", "--pacs",
                       "x\x1b]0;owned\x07")
    assert code == 2
    assert "\\x1b]0;owned\\x07" in err and "\x1b" not in err


def test_history_csv_export_neutralises_formula_cells(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.db")
    try:
        store.add(pacs_json={"name": "=cmd|' /C calc'!A0", "called_aet": "PACS",
                             "host": "h", "port": 104}, destination="WS", study_uid="1.2.3",
                  patient_id="@P1", label=FORMULA["equals"])
        stream = io.StringIO()
        export_csv(store.jobs(), stream)
    finally:
        store.close()
    row = next(csv.DictReader(io.StringIO(stream.getvalue())))
    assert row["label"] == "'" + FORMULA["equals"]
    assert row["patient ID"] == "'@P1"
    assert row["PACS"] == "'=cmd|' /C calc'!A0"
    assert row["study UID"] == "1.2.3" and row["job id"] == "1"


def test_log_lines_show_control_characters_escaped() -> None:
    record = logging.LogRecord("dicom_courier", logging.WARNING, __file__, 1,
                               "PACS %s said %s", ("AI[/]BOX", "\x1b]0;owned\x07"), None)
    shown = PrintableFormatter("%(levelname)s %(message)s").format(record)
    assert shown == "WARNING PACS AI[/]BOX said \\x1b]0;owned\\x07"
