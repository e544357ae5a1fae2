"""Issue 9 §1 and §5: each study, series or image is moved once, however often a PACS names it.

Rows, against QuirkyPacs(rows_per_image=True) (a STUDY or SERIES C-FIND answers one row per
image) with a 23-image single-study patient, through the real command line:

1. ``move -k PatientID=P23`` makes exactly one C-MOVE; the PACS starts 23 C-STOREs and the
   workstation receives 23 images (the old code: 23 C-MOVEs, 529 C-STOREs);
2. ``move --level SERIES -k PatientID=P23`` makes one C-MOVE per distinct series;
3. ``find`` prints every row the PACS sent, and its footer says "23 answers, 1 distinct study";
4. ``find --distinct`` prints each study once, in table, CSV and JSON.

And the resolution itself: one target per unique key in the order of first appearance, each SOP
Instance UID once, repeats counted (``Resolution.repeated``), typed repeats moved once.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dicom_courier.core.cli.main import run
from dicom_courier.core.cli.pacs_answers import report_resolution
from dicom_courier.core.demo.synthetic import StudySpec
from dicom_courier.core.demo.workstation import Workstation
from dicom_courier.core.qr.distinct import count_answers, distinct_matches, distinct_targets
from dicom_courier.core.qr.query import FindMatch, MoveTarget, QueryLevel
from dicom_courier.core.qr.resolve import resolve_matches, targets_from_matches
from tests.fakes.quirky import QuirkyPacs

P23 = StudySpec(key="p23", patient_name="TWENTY^THREE", patient_id="P23",
                description="CT chest", series_count=1, instances_per_series=23)
P12 = StudySpec(key="p12", patient_name="TWELVE^IMAGES", patient_id="P12",
                description="MR knee", modalities=("MR",), series_count=3,
                instances_per_series=4)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[tuple[QuirkyPacs, Workstation]]:
    with Workstation(tmp_path / "ws") as ws, \
            QuirkyPacs([P23, P12], rows_per_image=True) as pacs:
        pacs.add_destination("WORKSTATION", "127.0.0.1", ws.port)
        yield pacs, ws


def _cli(tmp_path: Path, pacs: QuirkyPacs, command: str, *args: str) -> int:
    dest = ("--dest", "WORKSTATION") if command == "move" else ()
    return run(["--config-dir", str(tmp_path / "cfg"), command, "--host", "127.0.0.1",
                "--port", str(pacs.port), "--aet", "QUIRKY", *dest, *args])


# ------------------------------------------------------------------ the command line, end to end

@pytest.mark.network
def test_move_by_patient_id_sends_the_study_once(rig: Any, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    pacs, ws = rig
    code = _cli(tmp_path, pacs, "move", "-k", "PatientID=P23")
    assert code == 0, capsys.readouterr()
    assert len(pacs.moves) == 1
    assert pacs.moves[0]["StudyInstanceUID"] == P23.study_uid
    assert len(pacs.instances_sent) == 23 and len(set(pacs.instances_sent)) == 23
    assert ws.received_count == 23


@pytest.mark.network
def test_move_by_keys_under_json_reports_one_result(
        rig: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pacs, ws = rig
    assert _cli(tmp_path, pacs, "move", "--json", "-k", "PatientID=P12") == 0
    lines = [json.loads(text) for text in capsys.readouterr().out.splitlines()]
    results = [obj for obj in lines if obj["event"] == "result"]
    assert len(results) == 1 and len(pacs.moves) == 1 and ws.received_count == 12
    assert results[0]["study_uid"] == P12.study_uid


def test_repeated_answers_are_said_in_json_and_the_verbose_log(
        capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    rows = [_match(QueryLevel.STUDY, P12.study_uid)] * 12
    resolution = resolve_matches(rows, QueryLevel.STUDY)
    assert resolution.repeated == 11 and not resolution.incomplete and not resolution.warnings
    with caplog.at_level(logging.INFO):
        report_resolution(resolution, as_json=True)
    line = json.loads(capsys.readouterr().out)
    assert line["event"] == "resolved" and line["targets"] == 1
    assert line["repeated_answers"] == 11
    assert "same target in 11 more answer(s): 1 target(s) to send, each once" in caplog.text


@pytest.mark.network
def test_move_by_series_level_keys_moves_each_series_once(rig: Any, tmp_path: Path) -> None:
    pacs, ws = rig
    assert _cli(tmp_path, pacs, "move", "--level", "SERIES", "-k", "PatientID=P12") == 0
    assert [m["SeriesInstanceUID"] for m in pacs.moves] == [P12.series_uid(i) for i in range(3)]
    assert len(pacs.instances_sent) == 12 and ws.received_count == 12


@pytest.mark.network
def test_typed_study_twice_is_moved_once(rig: Any, tmp_path: Path) -> None:
    pacs, ws = rig
    assert _cli(tmp_path, pacs, "move", "--study", P23.study_uid,
                "--study", P23.study_uid) == 0
    assert len(pacs.moves) == 1 and len(pacs.instances_sent) == 23 and ws.received_count == 23


@pytest.mark.network
def test_find_shows_every_answer_and_says_how_many_studies(
        rig: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pacs, _ = rig
    assert _cli(tmp_path, pacs, "find", "-k", "PatientID=P23") == 0
    out = capsys.readouterr().out
    assert out.count(P23.study_uid) == 23  # what the PACS sent, row by row
    assert "23 answers, 1 distinct study in" in out
    assert "--distinct shows each once" in out


@pytest.mark.network
def test_find_without_repeats_keeps_its_footer(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    with QuirkyPacs([P23, P12]) as pacs:
        assert _cli(tmp_path, pacs, "find", "-k", "PatientID=P*") == 0
    out = capsys.readouterr().out
    assert "2 result(s) in" in out and "distinct" not in out


@pytest.mark.network
def test_find_distinct_table(rig: Any, tmp_path: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    pacs, _ = rig
    assert _cli(tmp_path, pacs, "find", "--distinct", "-k", "PatientID=P*") == 0
    out = capsys.readouterr().out
    assert out.count(P23.study_uid) == 1 and out.count(P12.study_uid) == 1
    assert "35 answers, 2 distinct studies in" in out and "shown once: --distinct" in out


@pytest.mark.network
def test_find_distinct_csv_and_json(rig: Any, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    pacs, _ = rig
    assert _cli(tmp_path, pacs, "find", "--format", "csv", "--level", "SERIES",
                "-k", f"StudyInstanceUID={P12.study_uid}") == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 12  # off by default: every answer
    assert _cli(tmp_path, pacs, "find", "--format", "csv", "--level", "SERIES", "--distinct",
                "-k", f"StudyInstanceUID={P12.study_uid}") == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["SeriesInstanceUID"] for r in rows] == [P12.series_uid(i) for i in range(3)]
    assert _cli(tmp_path, pacs, "find", "--format", "json", "--distinct",
                "-k", "PatientID=P*") == 0
    rows = json.loads(capsys.readouterr().out)
    assert sorted(r["PatientID"] for r in rows) == ["P12", "P23"]


# ------------------------------------------------------------------ the resolution itself

def _match(level: QueryLevel, study: str, series: str = "", sop: str = "",
           **extra: str) -> FindMatch:
    values = {"StudyInstanceUID": study, "SeriesInstanceUID": series, "SOPInstanceUID": sop,
              **extra}
    return FindMatch(level, {k: v for k, v in values.items() if v})


@pytest.mark.parametrize(("level", "rows", "expected"), [
    pytest.param(QueryLevel.STUDY,
                 [("1.2.3", "", ""), ("1.2.4", "", ""), ("1.2.3", "", ""), ("1.2.3\x00", "", "")],
                 [("1.2.3", (), ()), ("1.2.4", (), ())], id="study: one per study, padding too"),
    pytest.param(QueryLevel.SERIES,
                 [("1.2.3", "1.5", ""), ("1.2.3", "1.6", ""), ("1.2.3", "1.5", ""),
                  ("1.2.4", "1.5", "")],
                 [("1.2.3", ("1.5",), ()), ("1.2.3", ("1.6",), ()), ("1.2.4", ("1.5",), ())],
                 id="series: one per (study, series)"),
    pytest.param(QueryLevel.IMAGE,
                 [("1.2.3", "1.5", "9.1"), ("1.2.3", "1.6", "9.3"), ("1.2.3", "1.5", "9.2"),
                  ("1.2.3", "1.5", "9.1"), ("1.2.3", "1.6", "9.3")],
                 [("1.2.3", ("1.5",), ("9.1", "9.2")), ("1.2.3", ("1.6",), ("9.3",))],
                 id="image: each SOP once, grouped per series"),
])
def test_targets_are_distinct_in_order_of_first_appearance(
        level: QueryLevel, rows: list[tuple[str, str, str]],
        expected: list[tuple[str, tuple[str, ...], tuple[str, ...]]]) -> None:
    matches = [_match(level, *row) for row in rows]
    for targets in (targets_from_matches(matches, level),
                    list(resolve_matches(matches, level).targets)):
        assert [(t.study_uid, t.series_uids, t.sop_uids) for t in targets] == expected
    assert resolve_matches(matches, level).repeated == len(rows) - (
        len(expected) if level is not QueryLevel.IMAGE else 3)


def test_an_unsendable_answer_repeated_is_left_out_once() -> None:
    bad = _match(QueryLevel.STUDY, "1.2\\3")
    resolution = resolve_matches([bad, bad, bad, _match(QueryLevel.STUDY, "1.2.4")],
                                 QueryLevel.STUDY)
    assert [t.study_uid for t in resolution.targets] == ["1.2.4"]
    assert len(resolution.left_out) == 1 and resolution.repeated == 2


def test_counting_answers() -> None:
    rows = [_match(QueryLevel.STUDY, uid) for uid in ["1.1"] * 409 + ["1.2", "1.3", "1.4"]]
    count = count_answers(rows, QueryLevel.STUDY)
    assert (count.answers, count.distinct, count.repeated) == (412, 4, 408)
    assert count.note() == "412 answers, 4 distinct studies"
    assert count_answers(rows[-3:], QueryLevel.STUDY).note() is None
    no_uid = [FindMatch(QueryLevel.STUDY, {"PatientID": "X"})] * 2
    assert count_answers(no_uid, QueryLevel.STUDY).note() is None  # cannot tell: never merged
    assert len(distinct_matches(no_uid + rows, QueryLevel.STUDY)) == 6
    one = count_answers([_match(QueryLevel.SERIES, "1.1", "2.1")] * 2, QueryLevel.SERIES)
    assert one.note() == "2 answers, 1 distinct series"


def test_identical_targets_are_dropped() -> None:
    a = MoveTarget(study_uid="1.2.3")
    b = MoveTarget(study_uid="1.2.3", series_uids=("1.5", "1.6"))
    targets, dropped = distinct_targets([a, b, MoveTarget(study_uid="1.2.3"),
                                         MoveTarget(study_uid="1.2.3", series_uids=("1.6", "1.5"))])
    assert targets == [a, b] and dropped == 2


def test_a_long_image_list_is_sent_in_moves_of_at_most_200_images() -> None:
    rows = [_match(QueryLevel.IMAGE, "1.2.3", "1.2.3.4", f"1.2.3.4.{n}") for n in range(450)]
    targets = targets_from_matches(rows + rows[:10], QueryLevel.IMAGE)
    assert [len(t.sop_uids) for t in targets] == [200, 200, 50]
    assert len({uid for t in targets for uid in t.sop_uids}) == 450
