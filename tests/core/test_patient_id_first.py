"""Issue 9 §2 "where a Patient Root request needs the Patient ID, find it first" (review J).

A send without the Patient ID (a job queued before Courier kept it, an answer whose PatientID
was empty), asked of a PACS that offers only Patient Root, looks the Patient ID up first (a
Patient Root STUDY-level C-FIND on its own association) and then moves in Patient Root. The
old engine did not even propose Patient Root and failed with "does not offer the service …
Try the Patient Root model (command line: --model patient)". Engine rows, then `queue run`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dicom_courier.core.cli.main import run
from dicom_courier.core.config.profiles import PacsNode
from dicom_courier.core.demo.synthetic import StudySpec
from dicom_courier.core.dimse.engine import Courier
from dicom_courier.core.outcome.errors import Cancelled, IdentifierMismatch, NothingMatched
from dicom_courier.core.outcome.events import MoveOutcome, MoveResult
from dicom_courier.core.qr.query import MoveRequest, MoveTarget, QueryModel
from tests.fakes.quirky import QuirkyPacs
from tests.fakes.quirky_cli import quirky_rigs
from tests.waiting import until

#: Every test here talks DICOM over loopback TCP (see tests/conftest.py).
pytestmark = pytest.mark.network

S = StudySpec(key="pidf-s", patient_name="DOE^F", patient_id="PF1", series_count=2,
              instances_per_series=2)
PATIENT_ONLY = frozenset({"patient"})
UNKNOWN_STUDY = "1.2.826.0.1.3680043.9.7777.99"


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Any]:
    """``rig(**quirks)``: (node, pacs, workstation) for a fresh QuirkyPacs."""
    with quirky_rigs(tmp_path, [S]) as rig:
        yield rig


def _window_request(study: str = S.study_uid) -> MoveRequest:
    """What the window (and `queue run`) asks: Study Root first, Patient Root allowed."""
    return MoveRequest(MoveTarget(study_uid=study, from_pacs=True), "WORKSTATION",
                       model=QueryModel.STUDY, other_models=(QueryModel.PATIENT,))


def _move(node: PacsNode, request: MoveRequest, *, cancel_after_find: QuirkyPacs | None = None
          ) -> tuple[MoveResult, float]:
    async def go() -> MoveResult:
        with Courier() as courier:
            operation = courier.move(node, request)
            task = asyncio.ensure_future(operation.run())
            if cancel_after_find is not None:
                await until(lambda: cancel_after_find.finds or task.done(), 10)
                operation.cancel()
            return await task
    started = time.monotonic()
    result = asyncio.run(go())
    return result, time.monotonic() - started


def test_a_send_without_the_patient_id_looks_it_up_first(rig: Any) -> None:
    node, pacs, ws = rig(models=PATIENT_ONLY)
    result, _ = _move(node, _window_request())
    assert result.outcome is MoveOutcome.COMPLETED, result.error  # old: NotSupported
    assert ws.received_count == S.instance_count == len(pacs.instances_sent)
    assert pacs.finds == [{"QueryRetrieveLevel": "STUDY", "PatientID": "",
                           "StudyInstanceUID": S.study_uid}]  # PatientID: a return key
    assert pacs.moves == [{"QueryRetrieveLevel": "STUDY", "PatientID": S.patient_id,
                           "StudyInstanceUID": S.study_uid}]


def test_a_pacs_offering_study_root_needs_no_look_up(rig: Any) -> None:
    node, pacs, ws = rig()
    result, _ = _move(node, _window_request())
    assert result.outcome is MoveOutcome.COMPLETED
    assert pacs.finds == [] and "PatientID" not in pacs.moves[0]


def test_patient_root_remembered_but_no_patient_id_asks_the_other_model_first(rig: Any) -> None:
    node, pacs, ws = rig()  # both models; the window had learned Patient Root
    request = MoveRequest(MoveTarget(study_uid=S.study_uid, from_pacs=True), "WORKSTATION",
                          model=QueryModel.PATIENT, other_models=(QueryModel.STUDY,))
    result, _ = _move(node, request)
    assert result.outcome is MoveOutcome.COMPLETED, result.error  # old: InvalidInput
    assert pacs.finds == [] and "PatientID" not in pacs.moves[0]  # no look-up needed


def test_a_refused_look_up_says_so_in_words_the_window_can_follow(rig: Any) -> None:
    node, pacs, ws = rig(models=PATIENT_ONLY, hierarchical=True)  # wants the Patient ID
    result, _ = _move(node, _window_request())
    error = result.error
    assert result.outcome is MoveOutcome.FAILED and isinstance(error, IdentifierMismatch)
    assert error.title == ("QUIRKY refused the look-up of the study's Patient ID (Patient "
                           "Root model, STUDY level).")
    assert "accepts only the Patient Root model" in error.explanation
    assert "--" not in error.action and "command line" not in error.action
    assert "Search for the patient by Patient ID" in error.action
    assert pacs.moves == [] and not result.request_sent and ws.received_count == 0


def test_a_study_the_pacs_does_not_have_is_named(rig: Any) -> None:
    node, pacs, _ = rig(models=PATIENT_ONLY)
    result, _ = _move(node, _window_request(UNKNOWN_STUDY))
    assert result.outcome is MoveOutcome.FAILED and isinstance(result.error, NothingMatched)
    assert "has no study with this Study Instance UID" in result.error.explanation
    assert pacs.moves == []


def test_cancel_during_the_look_up_sends_nothing(rig: Any) -> None:
    node, pacs, ws = rig(models=PATIENT_ONLY, pace=1.0)
    result, took = _move(node, _window_request(), cancel_after_find=pacs)
    assert result.outcome is MoveOutcome.CANCELLED and isinstance(result.error, Cancelled)
    assert "no move request was sent" in result.error.explanation
    assert pacs.moves == [] and ws.received_count == 0
    assert took < 4, took


def test_queue_run_sends_a_job_queued_without_the_patient_id(
        rig: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, pacs, ws = rig(models=PATIENT_ONLY)
    config = ["--config-dir", str(tmp_path / "cfg")]
    assert run([*config, "nodes", "add", "quirky", "--host", "127.0.0.1", "--port",
                str(pacs.port), "--aet", "QUIRKY", "--dest", "WORKSTATION"]) == 0
    assert run([*config, "queue", "add", "--pacs", "quirky", "--study", S.study_uid]) == 0
    code = run([*config, "queue", "run"])
    err = capsys.readouterr().err
    assert code == 0, err  # old: 1, "does not offer the service … --model patient"
    assert "--model" not in err
    assert ws.received_count == S.instance_count
    assert [m["PatientID"] for m in pacs.moves] == [S.patient_id]
