"""Review of issue 9 on the command line: every word about a send is true (findings A-I).

Each row drives ``dicom-courier`` in-process (Ctrl-C: a subprocess) against
:class:`QuirkyPacs` and a real storage SCP, and checks what a person or a script notices:
the summary line, how often an error is printed, the JSON lines on stdout, the notes on
stderr, the help text and the verbose log.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dicom_courier.core.cli.main import run
from dicom_courier.core.cli.move_cmd import MoveRunner
from dicom_courier.core.config.profiles import PacsNode
from dicom_courier.core.demo.synthetic import StudySpec
from dicom_courier.core.demo.workstation import Workstation
from dicom_courier.core.dimse.engine import Courier
from dicom_courier.core.qr.query import Priority, QueryModel
from tests.fakes.quirky import QuirkyPacs
from tests.fakes.quirky_cli import CliRun, quirky_cli
from tests.waiting import wait_until

A = StudySpec(key="words-a", patient_name="DOE^A", patient_id="PA1", series_count=2,
              instances_per_series=3)
B = StudySpec(key="words-b", patient_name="ROE^B", patient_id="PB2", series_count=1,
              instances_per_series=2)
WIDE = StudySpec(key="words-60", patient_name="SIXTY^I", patient_id="P60", series_count=1,
                 instances_per_series=60)
MISSING = [f"1.2.826.0.1.3680043.9.7777.{i}" for i in range(1, 191)]
PATIENT_ONLY = frozenset({"patient"})
ROOT = Path(__file__).resolve().parents[2]


Run = CliRun


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[Any]:
    """``cli(quirks, command, *argv, studies=[A, B])``: one command against a fresh
    QuirkyPacs (``move`` gets ``--dest WORKSTATION``); returns a CliRun."""
    with quirky_cli(tmp_path, capsys, [A, B]) as go:
        yield go


# --- A: moves that never reached the PACS are not "sent"; one error printed once ------------

@pytest.mark.network
def test_moves_the_pacs_never_got_are_not_said_sent_and_the_error_is_printed_once(
        cli: Any) -> None:
    result = cli({"models": PATIENT_ONLY}, "move", "--study", A.study_uid,
                 "--study", B.study_uid)
    assert result.code == 1 and result.pacs.moves == []
    assert "sent to WORKSTATION" not in result.err  # old: "failed: 2 move(s) sent to ..."
    assert "2 move(s) not sent: the PACS got no move request" in result.err
    assert result.err.count("does not offer the service") == 1  # old: the block twice
    assert "(2 moves)" in result.err
    as_json = cli({"models": PATIENT_ONLY}, "move", "--json", "--study", A.study_uid,
                  "--study", B.study_uid)
    summary = as_json.json_lines()[-1]
    assert summary["event"] == "summary" and summary["outcome"] == "failed"
    assert summary["error"] == "QUIRKY does not offer the service we asked for. (2 moves)"
    results = [line for line in as_json.json_lines() if line["event"] == "result"]
    assert [line.get("request_sent") for line in results] == [False, False]


# --- B: --json prints its summary line when the look-up fails or finds nothing -------------

@pytest.mark.parametrize(("quirks", "argv", "words"), [
    ({"hierarchical": True}, ["--series", A.series_uid(0)], "refused the look-up"),
    ({}, ["--series", A.series_uid(0), "--image", MISSING[0], "--image", MISSING[1]],
     "None of the 2 images was found"),
    ({}, ["-k", "PatientID=NOBODY"], "Nothing matched"),
], ids=["refused-0xA900", "no-image-found", "keys-match-nothing"])
@pytest.mark.network
def test_json_summary_when_nothing_is_moved(cli: Any, quirks: dict[str, Any],
                                            argv: list[str], words: str) -> None:
    result = cli(quirks, "move", "--json", *argv)
    assert result.code == 1
    lines = result.json_lines()  # old: nothing at all on stdout
    assert lines and lines[-1]["event"] == "summary"
    assert lines[-1]["outcome"] == "failed" and lines[-1]["moves"] == 0
    assert words in lines[-1]["error"]
    assert "Error:" in result.err  # the person still reads the error on stderr


@pytest.mark.network
def test_json_summary_when_ctrl_c_cancels_the_look_up(tmp_path: Path) -> None:
    studies = [StudySpec(key=f"words-c{i}", patient_name=f"C^{i}", patient_id=f"WC{i:03d}",
                         series_count=1, instances_per_series=1) for i in range(200)]
    with Workstation(tmp_path / "ws") as ws, QuirkyPacs(studies, pace=0.05) as pacs:
        pacs.add_destination("WORKSTATION", "127.0.0.1", ws.port)
        process = subprocess.Popen(
            [sys.executable, "-m", "dicom_courier", "--config-dir", str(tmp_path), "move",
             "--host", "127.0.0.1", "--port", str(pacs.port), "--aet", "QUIRKY", "--dest",
             "WORKSTATION", "--json", "-k", "PatientID=WC*"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        wait_until(lambda: pacs.finds)
        time.sleep(0.3)  # answers are streaming: the Ctrl-C lands in a running look-up
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=15)
        moves = pacs.moves
    assert process.returncode == 4, err
    assert moves == []
    summary = json.loads(out.strip().splitlines()[-1])  # old: stdout empty
    assert summary["event"] == "summary" and summary["outcome"] == "cancelled"
    assert "nothing was sent" in summary["error"]


# --- C: find csv/json says "N answers, M distinct studies" on stderr ------------------------

@pytest.mark.parametrize("fmt", ["csv", "json"])
@pytest.mark.network
def test_find_data_formats_note_repeated_answers_on_stderr(cli: Any, fmt: str) -> None:
    result = cli({"rows_per_image": True}, "find", "--format", fmt, "-k", "PatientID=PA1")
    assert result.code == 0
    rows = (json.loads(result.out) if fmt == "json"
            else list(csv.DictReader(io.StringIO(result.out))))
    assert len(rows) == A.instance_count  # stdout: every answer, pure data
    assert f"{A.instance_count} answers, 1 distinct study" in result.err  # old: nothing
    assert "--distinct shows each once" in result.err


# --- D: UIDs not found are counted, and a long list is shortened ---------------------------

@pytest.mark.network
def test_many_missing_images_are_counted_and_the_warning_is_short(cli: Any) -> None:
    present = [WIDE.sop_uid(0, i) for i in range(60)]
    argv = ["--series", WIDE.series_uid(0)]
    for uid in present + MISSING:
        argv += ["--image", uid]
    as_json = cli({}, "move", "--json", *argv, studies=(WIDE,))
    assert as_json.code == 3
    resolved = next(line for line in as_json.json_lines() if line["event"] == "resolved")
    assert resolved["not_found"] == 190  # old: only "left_out": 1 (one sentence)
    assert resolved["left_out"] == 1 and len(resolved["not_found_uids"]) == 190
    assert as_json.ws.received_count == 60
    plain = cli({}, "move", *argv, studies=(WIDE,))
    warning = next(line for line in plain.err.splitlines() if line.startswith("Warning:"))
    assert "60 of 250 images found on QUIRKY" in warning
    assert "and 187 more" in warning and MISSING[3] not in plain.err
    assert len(plain.err) < 2000  # old: all 190 UIDs (~6 kB)


# --- E: the help says what exit code 3 means ------------------------------------------------

@pytest.mark.parametrize("argv", [["--help"], ["move", "--help"], ["queue", "run", "--help"]])
def test_help_says_partly_completed_like_the_readme(argv: list[str],
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert run(argv) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "3 partly completed (some images failed, some answers of the PACS could not be " \
           "read, or some typed UIDs are not on the PACS)" in text


# --- F: find prints no empty line before an error --------------------------------------------

@pytest.mark.parametrize(("quirks", "argv"), [
    ({"models": PATIENT_ONLY}, ["-k", "PatientID=PA1"]),
    ({"hierarchical": True}, ["--level", "SERIES", "-k", f"SeriesInstanceUID={A.series_uid(0)}"]),
], ids=["patient-root-only", "hierarchical-refusal"])
@pytest.mark.network
def test_find_writes_nothing_to_stdout_before_an_error(cli: Any, quirks: dict[str, Any],
                                                       argv: list[str]) -> None:
    result = cli(quirks, "find", *argv)
    assert result.code == 1 and "Error:" in result.err
    assert result.out == ""  # old: "\n"


# --- G: the verbose log after a refused list -------------------------------------------------

@pytest.mark.network
def test_log_after_a_refused_list_says_one_by_one(cli: Any,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="dicom_courier.core.qr.uid_lookup")
    result = cli({"uid_lists": "refuse"}, "move", "--series", A.series_uid(0),
                 "--image", A.sop_uid(0, 0), "--image", A.sop_uid(0, 1))
    assert result.code == 0, result.err
    assert "refused the list (0xC320): looking up the 2 images one by one" in caplog.text
    assert "not found" not in caplog.text  # old: "the 2 images not found"


# --- H: a wrong --patient-id is named as the likely cause ------------------------------------

@pytest.mark.network
def test_a_wrong_patient_id_is_named(cli: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    result = cli({"models": PATIENT_ONLY}, "move", "--model", "patient",
                 "--study", A.study_uid, "--patient-id", "WRONG-ID")
    assert result.code == 1 and result.ws.received_count == 0
    assert "found nothing to send for the Patient ID given (--patient-id)" in result.err
    assert 'under the Patient ID "WRONG-ID"' in result.err  # the person's own input
    assert "WRONG-ID" not in caplog.text  # never in a log
    right = cli({"models": PATIENT_ONLY}, "move", "--model", "patient",
                "--study", A.study_uid, "--patient-id", A.patient_id)
    assert right.code == 0 and right.ws.received_count == A.instance_count


# --- I: Ctrl-C during a move says how long it waits ------------------------------------------

def test_ctrl_c_during_a_move_says_up_to_the_grace(capsys: pytest.CaptureFixture[str]) -> None:
    class Running:
        cancelled = False

        def cancel(self) -> None:
            self.cancelled = True

    with Courier(cancel_grace=5.0) as courier:
        runner = MoveRunner(courier, PacsNode(name="p", called_aet="QUIRKY", host="127.0.0.1",
                                              port=104), "WS", model=QueryModel.STUDY,
                            priority=Priority.MEDIUM, as_json=False)
        running = Running()
        runner.current = running  # type: ignore[assignment]
        runner._cancel()
    err = " ".join(capsys.readouterr().err.split())
    assert running.cancelled
    assert "Cancelling: C-CANCEL sent, waiting up to 5 s for the PACS to confirm (Ctrl-C " \
           "again to abort now)" in err
