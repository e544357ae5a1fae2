"""Issue 9 §2: requests by typed UIDs that every PACS can match (core.uid_targets).

Each row drives ``dicom-courier move`` in-process against :class:`QuirkyPacs` (the demo PACS
with one field quirk) and a real storage SCP, and checks what a person would notice: the exit
code, the images that arrived (each exactly once) and the key words of the message.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dicom_courier.core.demo.synthetic import StudySpec
from dicom_courier.core.outcome.status import failure_for_status
from tests.fakes.quirky_cli import CliRun, quirky_cli

A = StudySpec(key="uidreq-a", patient_name="DOE^A", patient_id="PA1", series_count=2,
              instances_per_series=3)
B = StudySpec(key="uidreq-b", patient_name="ROE^B", patient_id="PB2", series_count=1,
              instances_per_series=2)
MISSING = "1.2.826.0.1.3680043.9.7777.1"
MISSING_2 = "1.2.826.0.1.3680043.9.7777.2"
IMAGES = [A.sop_uid(0, i) for i in range(3)]


Run = CliRun


@pytest.fixture
def move(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[Any]:
    """``move(quirks, *argv)``: one CLI move against a fresh QuirkyPacs; returns a CliRun."""
    with quirky_cli(tmp_path, capsys, [A, B]) as go:
        yield lambda quirks, *argv: go(quirks, "move", *argv)


def _image_args(images: list[str], *, study: bool = False) -> list[str]:
    out = ["--study", A.study_uid] if study else []
    out += ["--series", A.series_uid(0)]
    for image in images:
        out += ["--image", image]
    return out


# --- several --image UIDs on a PACS without List-of-UID matching (PS3.4 C.2.2.2.2) --------

@pytest.mark.parametrize("count", [2, 3])
@pytest.mark.parametrize("uid_lists", ["refuse", "no-match"])
@pytest.mark.network
def test_several_images_arrive_once_without_uid_lists(
        move: Any, caplog: pytest.LogCaptureFixture, uid_lists: str, count: int) -> None:
    caplog.set_level(logging.INFO, logger="dicom_courier.core.qr.uid_lookup")
    images = IMAGES[:count]
    result = move({"uid_lists": uid_lists}, *_image_args(images))
    assert result.code == 0, result.err
    assert result.arrived == set(images)
    assert sorted(result.pacs.instances_sent) == sorted(images)  # each exactly once
    assert all("\\" not in m.get("SOPInstanceUID", "") for m in result.pacs.moves)
    assert all(m["StudyInstanceUID"] == A.study_uid for m in result.pacs.moves)
    assert "Nothing matched" not in result.err
    assert "one by one" in caplog.text  # the fallback is said in the verbose log


@pytest.mark.network
def test_several_images_use_one_list_move_where_lists_work(move: Any) -> None:
    result = move({}, *_image_args(IMAGES, study=True))
    assert result.code == 0, result.err
    assert result.arrived == set(IMAGES)
    assert len(result.pacs.moves) == 1  # one C-MOVE with the list


@pytest.mark.parametrize("uid_lists", ["refuse", "no-match", None])
@pytest.mark.network
def test_a_missing_image_is_named_and_the_others_arrive(move: Any,
                                                        uid_lists: str | None) -> None:
    result = move({"uid_lists": uid_lists}, *_image_args([*IMAGES[:2], MISSING]))
    assert result.code == 3, result.err  # not everything asked for was sent
    assert result.arrived == set(IMAGES[:2])
    assert sorted(result.pacs.instances_sent) == sorted(IMAGES[:2])
    assert "2 of 3 images found" in result.err and MISSING in result.err
    assert "Nothing matched" not in result.err


@pytest.mark.network
def test_images_none_of_which_exist_are_named(move: Any) -> None:
    result = move({"uid_lists": "no-match"}, *_image_args([MISSING, MISSING_2]))
    assert result.code == 1
    assert "None of the 2 images was found on QUIRKY" in result.err
    assert MISSING in result.err and MISSING_2 in result.err
    assert "Nothing matched" not in result.err
    assert not result.pacs.moves


@pytest.mark.parametrize("uid_lists", ["refuse", "no-match"])
@pytest.mark.network
def test_several_series_without_study_arrive_once(move: Any, uid_lists: str) -> None:
    result = move({"uid_lists": uid_lists, "rows_per_image": True},
                  "--series", A.series_uid(0), "--series", A.series_uid(1))
    assert result.code == 0, result.err
    assert result.arrived == {A.sop_uid(s, i) for s in range(2) for i in range(3)}
    assert len(result.pacs.instances_sent) == 6
    assert [m["StudyInstanceUID"] for m in result.pacs.moves] == [A.study_uid] * 2


# --- hierarchical keys (PS3.4 C.4.1.2.2.1, C.4.2.2.1) ----------------------------------------

@pytest.mark.network
def test_series_alone_has_its_study_looked_up_and_moved_with_it(move: Any) -> None:
    result = move({"hierarchical_moves": True}, "--series", A.series_uid(1))
    assert result.code == 0, result.err
    assert [m.get("StudyInstanceUID") for m in result.pacs.moves] == [A.study_uid]
    assert result.arrived == {A.sop_uid(1, i) for i in range(3)}


@pytest.mark.network
def test_images_with_series_alone_are_looked_up_with_their_study(move: Any) -> None:
    result = move({"hierarchical_moves": True, "uid_lists": "refuse"}, *_image_args(IMAGES[:2]))
    assert result.code == 0, result.err
    image_finds = [f for f in result.pacs.finds if f["QueryRetrieveLevel"] == "IMAGE"]
    assert image_finds and all(f["StudyInstanceUID"] == A.study_uid for f in image_finds)
    assert result.arrived == set(IMAGES[:2])


@pytest.mark.network
def test_strictly_hierarchical_pacs_names_the_missing_study_key(move: Any) -> None:
    result = move({"hierarchical": True}, "--series", A.series_uid(0))
    assert result.code == 1
    assert "refused the look-up" in result.err and "Study Root" in result.err
    assert "--study" in result.err and "0xA900" in result.err
    assert "Try the Study Root model" not in result.err
    assert not result.pacs.moves


@pytest.mark.network
def test_strictly_hierarchical_pacs_serves_series_and_images_with_their_study(
        move: Any) -> None:
    series = move({"hierarchical": True}, "--study", A.study_uid, "--series", A.series_uid(0))
    assert series.code == 0, series.err
    images = move({"hierarchical": True, "uid_lists": "refuse"},
                  *_image_args(IMAGES[1:], study=True))
    assert images.code == 0, images.err
    assert images.arrived == set(IMAGES[1:])
    assert all(m["StudyInstanceUID"] == A.study_uid for m in images.pacs.moves)


# --- query models ----------------------------------------------------------------------------

PATIENT_ONLY = frozenset({"patient"})


@pytest.mark.network
def test_patient_root_only_pacs_serves_a_study(move: Any) -> None:
    result = move({"models": PATIENT_ONLY}, "--model", "patient", "--study", A.study_uid)
    assert result.code == 0, result.err
    assert result.arrived == {A.sop_uid(s, i) for s in range(2) for i in range(3)}
    assert [m["PatientID"] for m in result.pacs.moves] == [A.patient_id]


@pytest.mark.network
def test_patient_root_only_pacs_serves_several_studies_without_uid_lists(move: Any) -> None:
    result = move({"models": PATIENT_ONLY, "uid_lists": "refuse"}, "--model", "patient",
                  "--study", A.study_uid, "--study", B.study_uid)
    assert result.code == 0, result.err
    assert result.ws.received_count == A.instance_count + B.instance_count
    assert sorted(m["PatientID"] for m in result.pacs.moves) == [A.patient_id, B.patient_id]


@pytest.mark.network
def test_patient_root_only_pacs_serves_series_and_images(move: Any) -> None:
    series = move({"models": PATIENT_ONLY}, "--model", "patient", "--series", A.series_uid(1))
    assert series.code == 0, series.err
    assert series.arrived == {A.sop_uid(1, i) for i in range(3)}
    images = move({"models": PATIENT_ONLY, "uid_lists": "no-match"}, "--model", "patient",
                  *_image_args(IMAGES[:2]))
    assert images.code == 0, images.err
    assert images.arrived == set(IMAGES[:2])


@pytest.mark.parametrize("argv", [_image_args(IMAGES[:1]), ["-k", "PatientID=PA1"]],
                         ids=["typed-uids", "keys"])
@pytest.mark.network
def test_a_refused_look_up_names_the_model_it_used(move: Any, argv: list[str]) -> None:
    result = move({"models": PATIENT_ONLY}, *argv)  # a Study Root look-up
    assert result.code == 1
    assert "refused the look-up" in result.err and "Study Root model" in result.err
    assert "Traceback" not in result.err
    assert not result.pacs.moves


@pytest.mark.network
def test_patient_root_only_pacs_serves_a_move_by_keys(move: Any) -> None:
    result = move({"models": PATIENT_ONLY}, "--model", "patient", "-k", "PatientID=PA1")
    assert result.code == 0, result.err
    assert result.ws.received_count == A.instance_count


@pytest.mark.network
def test_hierarchical_patient_root_asks_for_the_patient_id(move: Any) -> None:
    refused = move({"models": PATIENT_ONLY, "hierarchical": True}, "--model", "patient",
                   "--study", A.study_uid)
    assert refused.code == 1
    assert "refused the look-up" in refused.err and "Patient Root" in refused.err
    assert "--patient-id" in refused.err
    assert A.patient_id not in refused.err
    given = move({"models": PATIENT_ONLY, "hierarchical": True}, "--model", "patient",
                 "--study", A.study_uid, "--patient-id", A.patient_id)
    assert given.code == 0, given.err
    assert given.ws.received_count == A.instance_count
    assert not [f for f in given.pacs.finds]  # nothing to look up


@pytest.mark.parametrize(("argv", "words"), [
    (["--model", "patient", "--study", A.study_uid, "--patient-id", "P\x1b]0;x\x07"],
     "--patient-id"),
    (["--model", "patient", "--study", A.study_uid, "--patient-id", "A\\B"], "--patient-id"),
    (["--model", "patient", "--study", A.study_uid, "--patient-id", "  "], "--patient-id"),
    (["--study", A.study_uid, "--patient-id", "PA1"], "only used with --model patient"),
    (["-k", "PatientID=PA1", "--model", "patient", "--patient-id", "PA1"], "-k PatientID"),
    (["--study", A.study_uid, "--study", B.study_uid, "--series", A.series_uid(0)], "--study"),
])
@pytest.mark.network
def test_patient_id_and_uid_combinations_are_usage_errors(move: Any, argv: list[str],
                                                          words: str) -> None:
    result = move({}, *argv)
    assert result.code == 2
    assert words in result.err
    assert not result.pacs.finds and not result.pacs.moves


@pytest.mark.parametrize(("model", "says_study_root"), [("study", False), ("patient", True),
                                                         (None, False)])
def test_0xa900_advice_depends_on_the_model_in_use(model: str | None,
                                                   says_study_root: bool) -> None:
    error = failure_for_status(0xA900, operation="search", peer=None, model=model)
    text = f"{error.explanation} {error.action}"
    assert ("Study Root" in error.action) is says_study_root
    assert "unique key" in text
