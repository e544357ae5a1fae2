"""A move by ``-k`` keys asks every PACS for what was typed, level by level (issue 9 review).

Rows drive ``dicom-courier move`` in-process against :class:`QuirkyPacs` holding two patients
(P12: 3 series of 4 MR images; P23: 1 series of 23 CT images) and a real storage SCP, and check
what a person would notice: exit code, the images that arrived (each once), the words.

1. ``--level SERIES|IMAGE -k PatientID=P12`` on a PACS that ignores upper-level keys at a lower
   level (as dcmqrscp does): only P12's 12 images (the old code sent all 35, exit 0).
2. The safety net: a PACS that ignores PatientID everywhere; the answer naming another patient
   is not sent, and a sentence says so (exit 3).
3. ``--level IMAGE -k PatientID=P12`` on a PACS without List-of-UID matching: one move per
   image, 12 images (the old code: 0 images, "found nothing to send", exit 1).
4. ``move --study A --study MISSING``: partial (exit 3), the missing study named.
5. A strictly hierarchical PACS serves ``--level SERIES -k PatientID=P12``; a refusal of a
   request made from ``-k`` keys advises ``-k StudyInstanceUID=…``, in good grammar.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dicom_courier.core.demo.synthetic import StudySpec
from dicom_courier.core.outcome.decide import overall_outcome
from dicom_courier.core.outcome.events import MoveOutcome, MoveResult
from dicom_courier.core.qr.key_search import contradicting, exact_value, plan_search
from dicom_courier.core.qr.query import FindMatch, QueryLevel, QueryModel
from tests.fakes.quirky_cli import CliRun, quirky_cli

P23 = StudySpec(key="ks-p23", patient_name="TWENTY^THREE", patient_id="P23",
                series_count=1, instances_per_series=23)
P12 = StudySpec(key="ks-p12", patient_name="TWELVE^IMAGES", patient_id="P12",
                modalities=("MR",), series_count=3, instances_per_series=4)
P12_IMAGES = {P12.sop_uid(s, i) for s in range(3) for i in range(4)}
MISSING = "1.2.826.0.1.3680043.9.7777.3"


Run = CliRun


@pytest.fixture
def move(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[Any]:
    """``move(quirks, *argv)``: one CLI move against a fresh QuirkyPacs; returns a CliRun."""
    with quirky_cli(tmp_path, capsys, [P23, P12]) as go:
        yield lambda quirks, *argv: go(quirks, "move", *argv)


# --- 1. keys of an upper level are matched at their level first -------------------------------

@pytest.mark.parametrize("level", ["SERIES", "IMAGE"])
@pytest.mark.network
def test_patient_id_at_a_lower_level_sends_that_patient_only(move: Any, level: str) -> None:
    result = move({"ignores_upper_keys": True}, "--level", level, "-k", "PatientID=P12")
    assert result.code == 0, result.err
    assert result.ws.received_uids() == P12_IMAGES
    assert sorted(result.pacs.instances_sent) == sorted(P12_IMAGES)  # each once, none of P23
    assert {m["StudyInstanceUID"] for m in result.pacs.moves} == {P12.study_uid}
    first = result.pacs.finds[0]
    assert first["QueryRetrieveLevel"] == "STUDY" and first["PatientID"] == "P12"


@pytest.mark.network
def test_series_keys_at_image_level_are_matched_on_the_series(move: Any) -> None:
    result = move({"ignores_upper_keys": True}, "--level", "IMAGE", "-k", "PatientID=P12",
                  "-k", "SeriesNumber=2")
    assert result.code == 0, result.err
    assert result.ws.received_uids() == {P12.sop_uid(1, i) for i in range(4)}


# --- 2. the safety net: an answer contradicting an exact key is not sent ------------------------

@pytest.mark.parametrize("level", ["STUDY", "SERIES"])
@pytest.mark.network
def test_an_answer_naming_another_patient_is_not_sent(move: Any, level: str) -> None:
    result = move({"ignored_keys": frozenset({"PatientID"})}, "--level", level,
                  "-k", "PatientID=P12")
    assert result.code == 3, result.err  # sent what was asked; said what was not sent
    assert result.ws.received_uids() == P12_IMAGES
    assert sorted(result.pacs.instances_sent) == sorted(P12_IMAGES)
    assert "is not sent: its PatientID is not the P12 asked for" in result.flat
    assert "P23" not in result.err  # the other patient's ID is not shown


@pytest.mark.network
def test_wildcards_and_names_are_not_held_to_an_exact_value(move: Any) -> None:
    result = move({"ignores_upper_keys": True}, "--level", "SERIES", "-k", "PatientID=P1*",
                  "-k", "PatientName=twelve^images")
    assert result.code == 0, result.err
    assert result.ws.received_uids() == P12_IMAGES


# --- 3. images resolved from keys on a PACS without UID lists ---------------------------------

@pytest.mark.parametrize(("quirks", "model"), [
    ({"uid_lists": "no-match"}, "study"),
    ({"uid_lists": "refuse"}, "study"),
    ({"uid_lists": "no-match", "models": frozenset({"patient"})}, "patient"),
], ids=["no-match", "refuse", "patient-root-only-no-match"])
@pytest.mark.network
def test_images_by_keys_arrive_without_uid_lists(move: Any, quirks: dict[str, Any],
                                                 model: str) -> None:
    result = move(quirks, "--model", model, "--level", "IMAGE", "-k", "PatientID=P12")
    assert result.code == 0, result.err
    assert result.ws.received_uids() == P12_IMAGES
    assert sorted(result.pacs.instances_sent) == sorted(P12_IMAGES)
    assert all("\\" not in m.get("SOPInstanceUID", "") for m in result.pacs.moves)
    assert "found nothing" not in result.err and "nothing matched" not in result.err


@pytest.mark.network
def test_images_by_keys_use_one_list_per_series_where_lists_work(move: Any) -> None:
    result = move({}, "--level", "IMAGE", "-k", "PatientID=P12")
    assert result.code == 0, result.err
    assert len(result.pacs.moves) == 3  # one C-MOVE per series, with its image list
    assert sorted(result.pacs.instances_sent) == sorted(P12_IMAGES)


# --- 4. some moves delivered, one found nothing ----------------------------------------------

@pytest.mark.network
def test_a_missing_study_among_others_is_partial_and_named(move: Any) -> None:
    result = move({}, "--study", P23.study_uid, "--study", MISSING)
    assert result.code == 3, result.err
    assert result.ws.received_count == 23
    assert MISSING in result.flat and "found nothing to send" in result.flat
    assert "partial: 23 of 23 images sent to WORKSTATION" in result.flat
    assert "1 of 2 moves failed" in result.flat
    assert "failed: 23 of 23" not in result.flat


@pytest.mark.network
def test_a_missing_study_among_others_is_partial_in_json(move: Any) -> None:
    result = move({}, "--json", "--study", P23.study_uid, "--study", MISSING)
    assert result.code == 3
    lines = [json.loads(text) for text in result.out.splitlines() if text.startswith("{")]
    summary = next(obj for obj in lines if obj["event"] == "summary")
    assert summary["outcome"] == summary["status"] == "partial"


@pytest.mark.network
def test_every_move_finding_nothing_is_still_failed(move: Any) -> None:
    result = move({}, "--study", MISSING, "--study", "1.2.826.0.1.3680043.9.7777.4")
    assert result.code == 1
    assert "1.2.826.0.1.3680043.9.7777.4" in result.flat


def _result(outcome: MoveOutcome, sent: int) -> MoveResult:
    return MoveResult(outcome=outcome, total=sent, completed=sent, failed=0, warning=0,
                      status=0, duration=0.1, error_comment=None, failed_sop_uids=(),
                      error=None, destination="WS", peer=None)


@pytest.mark.parametrize(("outcomes", "cancelled", "expected"), [
    ([(MoveOutcome.COMPLETED, 23), (MoveOutcome.FAILED, 0)], False, MoveOutcome.PARTIAL),
    ([(MoveOutcome.FAILED, 0), (MoveOutcome.FAILED, 0)], False, MoveOutcome.FAILED),
    ([(MoveOutcome.COMPLETED_WITH_WARNINGS, 3), (MoveOutcome.FAILED, 0)], False,
     MoveOutcome.PARTIAL),
    ([(MoveOutcome.COMPLETED, 3), (MoveOutcome.FAILED, 0), (MoveOutcome.CANCELLED, 1)], True,
     MoveOutcome.CANCELLED),
    ([(MoveOutcome.COMPLETED, 3)], False, MoveOutcome.COMPLETED),
])
def test_overall_outcome_of_several_moves(outcomes: list[tuple[MoveOutcome, int]],
                                          cancelled: bool, expected: MoveOutcome) -> None:
    results = [_result(outcome, sent) for outcome, sent in outcomes]
    assert overall_outcome(results, cancelled) is expected


# --- 5. hierarchical PACS ---------------------------------------------------------------------

@pytest.mark.network
def test_strictly_hierarchical_pacs_serves_series_by_patient_id(move: Any) -> None:
    result = move({"hierarchical": True}, "--level", "SERIES", "-k", "PatientID=P12")
    assert result.code == 0, result.err
    assert result.ws.received_uids() == P12_IMAGES


@pytest.mark.parametrize(("argv", "words"), [
    (["--level", "SERIES", "-k", "Modality=MR"],
     ("a SERIES request must name the Study Instance UID, which was not given",
      "-k StudyInstanceUID=…")),
    (["--level", "IMAGE", "-k", "InstanceNumber=1"],
     ("an IMAGE request must name the Study Instance UID and the Series Instance UID, which "
      "were not given", "-k StudyInstanceUID=… and -k SeriesInstanceUID=…")),
])
@pytest.mark.network
def test_a_refusal_of_a_request_by_keys_advises_keys(move: Any, argv: list[str],
                                                     words: tuple[str, ...]) -> None:
    result = move({"hierarchical": True}, *argv)
    assert result.code == 1
    for text in words:
        assert text in result.flat, result.err
    assert "--study UID" not in result.flat and "--series UID" not in result.flat
    assert not result.pacs.moves


# --- the plan and the safety net, unit by unit --------------------------------------------------

@pytest.mark.parametrize(("model", "level", "keys", "steps", "known"), [
    (QueryModel.STUDY, QueryLevel.SERIES, {"PatientID": "P12"}, ["STUDY", "SERIES"], {}),
    (QueryModel.STUDY, QueryLevel.IMAGE, {"StudyDate": "20240115"},
     ["STUDY", "SERIES", "IMAGE"], {}),
    (QueryModel.STUDY, QueryLevel.IMAGE, {"Modality": "MR"}, ["SERIES", "IMAGE"], {}),
    (QueryModel.STUDY, QueryLevel.SERIES, {"Modality": "MR"}, ["SERIES"], {}),
    (QueryModel.STUDY, QueryLevel.STUDY, {"PatientID": "P12"}, ["STUDY"], {}),
    (QueryModel.STUDY, QueryLevel.SERIES, {"StudyInstanceUID": "1.2.3", "Modality": "MR"},
     ["SERIES"], {"StudyInstanceUID": "1.2.3"}),
    (QueryModel.STUDY, QueryLevel.SERIES, {"StudyInstanceUID": "1.2.3\\1.2.4"},
     ["STUDY", "SERIES"], {}),
    (QueryModel.PATIENT, QueryLevel.STUDY, {"PatientID": "P12"}, ["STUDY"],
     {"PatientID": "P12"}),
    (QueryModel.PATIENT, QueryLevel.SERIES, {"PatientName": "DOE*"},
     ["PATIENT", "STUDY", "SERIES"], {}),
    (QueryModel.STUDY, QueryLevel.SERIES, {"PatientID": "P12", "AccessionNumber": ""},
     ["STUDY", "SERIES"], {}),
])
def test_plan_starts_at_the_highest_level_with_a_key(
        model: QueryModel, level: QueryLevel, keys: dict[str, str], steps: list[str],
        known: dict[str, str]) -> None:
    plan = plan_search(model, level, keys)
    assert [step.level.value for step in plan.steps] == steps
    assert dict(plan.known) == known


@pytest.mark.parametrize(("keyword", "value", "exact"), [
    ("PatientID", "P12", "P12"), ("PatientID", "P1*", None), ("PatientID", "P?2", None),
    ("PatientName", "DOE^JOHN", None), ("StudyDate", "20240101-20240131", None),
    ("StudyDate", "20240115", "20240115"), ("ModalitiesInStudy", "CT\\MR", None),
    ("StudyTime", "101500", None), ("AccessionNumber", " A1 ", "A1"), ("PatientID", "", None),
])
def test_exact_values(keyword: str, value: str, exact: str | None) -> None:
    assert exact_value(keyword, value) == exact


def test_contradicting_answers_are_split_out() -> None:
    def match(**values: str) -> FindMatch:
        return FindMatch(QueryLevel.SERIES, values)

    answers = [match(PatientID="P12 ", Modality="MR"), match(PatientID="P23", Modality="CT"),
               match(PatientID="", Modality="mr"), match(SeriesNumber="01")]
    kept, dropped = contradicting(answers, {"PatientID": "P12", "Modality": "MR",
                                            "SeriesNumber": "1"})
    assert kept == [answers[0], answers[2], answers[3]]
    assert dropped == {"PatientID": 1}
