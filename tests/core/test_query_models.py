"""Issue 9 §2 "query models" in the engine (core.model_choice, FindOperation, MoveOperation).

Where the model is not the person's choice (the window), the PACS is offered both Q/R models
in one association and the request goes out in the one it accepted; the result names it, so
it can be remembered. A PACS that accepts neither is told so, and the advice never suggests
a model that was already tried.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

from dicom_courier.core.config.profiles import PacsNode
from dicom_courier.core.demo.synthetic import StudySpec
from dicom_courier.core.dimse.engine import Courier
from dicom_courier.core.dimse.find import FindResult
from dicom_courier.core.outcome.errors import NotSupported
from dicom_courier.core.outcome.events import MoveOutcome, MoveResult
from dicom_courier.core.qr.model_choice import ModelMemory, not_supported_advice, query_in
from dicom_courier.core.qr.query import (
    FindQuery,
    MoveRequest,
    MoveTarget,
    QueryLevel,
    QueryModel,
)
from tests.fakes.quirky_cli import quirky_rigs

S = StudySpec(key="qm-s", patient_name="DOE^Q", patient_id="PQ1", series_count=2,
              instances_per_series=2)
PATIENT, STUDY = QueryModel.PATIENT, QueryModel.STUDY
BOTH = (STUDY, PATIENT)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Any]:
    """``rig(models)``: (node, pacs, workstation) for a QuirkyPacs offering ``models``."""
    with quirky_rigs(tmp_path, [S]) as rig:
        yield lambda models: rig(models=models)


def _find(node: PacsNode, query: FindQuery,
          others: tuple[QueryModel, ...] = ()) -> tuple[int, FindResult]:
    async def go() -> tuple[int, FindResult]:
        courier = Courier()
        try:
            operation = courier.find(node, query, raise_on_error=False, other_models=others)
            matches = [match async for match in operation]
            return len(matches), operation.result
        finally:
            courier.close()
    return asyncio.run(go())


def _move(node: PacsNode, request: MoveRequest) -> MoveResult:
    async def go() -> MoveResult:
        courier = Courier()
        try:
            return await courier.move(node, request).run()
        finally:
            courier.close()
    return asyncio.run(go())


@pytest.mark.parametrize(("offered", "asked", "others", "used"), [
    ({"patient"}, STUDY, (PATIENT,), PATIENT),   # the case of the issue: Study Root first
    ({"study"}, PATIENT, (STUDY,), STUDY),
    ({"patient", "study"}, STUDY, (PATIENT,), STUDY),   # both: the one asked for first
    ({"patient", "study"}, PATIENT, (STUDY,), PATIENT),
])
@pytest.mark.network
def test_search_uses_the_model_the_pacs_accepted(rig: Any, offered: set[str],
                                                 asked: QueryModel, others: Any,
                                                 used: QueryModel) -> None:
    node, _, _ = rig(frozenset(offered))
    count, result = _find(node, FindQuery(QueryLevel.STUDY, asked, {"PatientID": "PQ1"}),
                          others)
    assert (count, result.error, result.model) == (1, None, used)
    memory = ModelMemory()
    memory.learn(node, result.model)
    assert memory.model_for(node) is used and memory.others(node) == \
        tuple(m for m in BOTH if m is not used)


@pytest.mark.network
def test_move_asked_in_the_model_the_pacs_accepted(rig: Any) -> None:
    node, pacs, ws = rig(frozenset({"patient"}))
    target = MoveTarget(study_uid=S.study_uid, patient_id="PQ1", from_pacs=True)
    result = _move(node, MoveRequest(target, "WORKSTATION", other_models=(PATIENT,)))
    assert result.outcome is MoveOutcome.COMPLETED and ws.received_count == 4
    assert pacs.moves == [{"QueryRetrieveLevel": "STUDY", "PatientID": "PQ1",
                           "StudyInstanceUID": S.study_uid}]


@pytest.mark.network
def test_without_the_patient_id_patient_root_is_used_after_a_look_up(rig: Any) -> None:
    # review J: the Patient ID is looked up first (tests/core/test_patient_id_first.py); the
    # old engine did not propose Patient Root and advised "--model patient" to the window
    node, pacs, ws = rig(frozenset({"patient"}))
    target = MoveTarget(study_uid=S.study_uid, from_pacs=True)  # no Patient ID known
    result = _move(node, MoveRequest(target, "WORKSTATION", other_models=(PATIENT,)))
    assert result.outcome is MoveOutcome.COMPLETED and ws.received_count == 4
    assert [m["PatientID"] for m in pacs.moves] == ["PQ1"]


@pytest.mark.parametrize(("asked", "others", "proposed", "advice"), [
    (STUDY, (), "the Study Root query model.", "Try the Patient Root model"),
    (PATIENT, (), "the Patient Root query model.", "Try the Study Root model"),
    (STUDY, (PATIENT,), "the Study Root and Patient Root query models.",
     "It offers neither the Study Root nor the Patient Root model to us (both were proposed)"),
])
@pytest.mark.network
def test_a_pacs_offering_neither_model_gets_true_advice(rig: Any, asked: QueryModel,
                                                        others: Any, proposed: str,
                                                        advice: str) -> None:
    node, pacs, _ = rig(frozenset())
    count, result = _find(node, FindQuery(QueryLevel.STUDY, asked), others)
    error = result.error
    assert count == 0 and result.model is None and isinstance(error, NotSupported)
    assert error.title == "QUIRKY does not offer the service we asked for."
    assert error.explanation.endswith(proposed)
    assert error.action.startswith(advice)
    assert "other query model" not in error.action  # the old words named no model
    if others:
        assert "Try the" not in error.action
    assert pacs.finds == []


def test_advice_for_a_service_that_is_no_query_model() -> None:
    advice = not_supported_advice([Verification], "COURIER")
    assert advice == ("Ask the PACS administrator to enable query/retrieve for our AE title "
                      "COURIER.")


def test_a_study_root_series_request_does_not_carry_the_patient_id() -> None:
    query = FindQuery(QueryLevel.SERIES, PATIENT, {"PatientID": "PQ1",
                                                   "StudyInstanceUID": S.study_uid})
    asked = query_in(query, STUDY)
    assert asked.model is STUDY and "PatientID" not in asked.to_identifier()
    study = FindQuery(QueryLevel.STUDY, STUDY, {"PatientID": "PQ1"})
    assert query_in(study, PATIENT).to_identifier().PatientID == "PQ1"


def test_memory_is_per_profile_and_address() -> None:
    memory = ModelMemory()
    node = PacsNode(name="a", called_aet="A", host="127.0.0.1", port=104)
    memory.learn(node, PATIENT)
    memory.learn(node, None)  # nothing learned: kept
    assert memory.model_for(node) is PATIENT
    moved = PacsNode(name="a", called_aet="A", host="127.0.0.1", port=11112)
    assert memory.model_for(moved) is STUDY and memory.others(moved) == (PATIENT,)
