"""C-ECHO and C-FIND against Orthanc and dcmqrscp: levels, models, matching, charsets, cancel."""

from __future__ import annotations

from typing import Any

import pytest

from dicom_courier.core.dimse.engine import Courier
from dicom_courier.core.outcome.errors import AssociationAborted, CalledAeNotRecognised
from dicom_courier.core.qr.query import FindMatch, FindQuery, QueryLevel, QueryModel
from tests.interop.conftest import node_for, run
from tests.peers import INTEROP_STUDIES

PEERS = ["orthanc", "dcmqrscp"]
STUDY_BY_ID = {spec.patient_id: spec for spec in INTEROP_STUDIES}


def _find(courier: Courier, peer: Any, level: QueryLevel, model: QueryModel = QueryModel.STUDY,
          limit: int | None = None, **keys: str) -> list[FindMatch]:
    async def scenario() -> list[FindMatch]:
        return [m async for m in courier.find(node_for(peer), FindQuery(level, model, keys),
                                              limit=limit)]
    return run(scenario())


@pytest.fixture(params=PEERS)
def archive(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue(request.param)


def test_echo_reports_round_trip(courier: Courier, archive: Any) -> None:
    result = run(courier.echo(node_for(archive)))
    assert result.peer.called_aet == archive.aet
    assert 0 < result.round_trip_ms < 1000


def test_study_level_study_root_lists_every_study_with_decoded_names(
        courier: Courier, archive: Any) -> None:
    matches = _find(courier, archive, QueryLevel.STUDY)
    by_patient = {m.get("PatientID"): m for m in matches}
    assert set(by_patient) == set(STUDY_BY_ID)
    for patient_id, spec in STUDY_BY_ID.items():
        match = by_patient[patient_id]
        assert match.get("StudyInstanceUID") == spec.study_uid
        assert match.get("PatientName") == spec.patient_name, spec.charset
        assert match.undecodable == frozenset()


@pytest.mark.parametrize(
    ("level", "model", "keys", "expected"),
    [
        (QueryLevel.PATIENT, QueryModel.PATIENT, {}, 4),
        (QueryLevel.STUDY, QueryModel.PATIENT, {"PatientID": "IOP002"}, 1),
        (QueryLevel.SERIES, QueryModel.STUDY, {"StudyInstanceUID": "study:IOP001"}, 2),
        (QueryLevel.SERIES, QueryModel.PATIENT,
         {"PatientID": "IOP001", "StudyInstanceUID": "study:IOP001"}, 2),
        (QueryLevel.IMAGE, QueryModel.STUDY,
         {"StudyInstanceUID": "study:IOP004", "SeriesInstanceUID": "series0:IOP004"}, 3),
        (QueryLevel.IMAGE, QueryModel.PATIENT,
         {"PatientID": "IOP004", "StudyInstanceUID": "study:IOP004",
          "SeriesInstanceUID": "series0:IOP004"}, 3),
    ],
)
def test_each_level_in_both_models(courier: Courier, archive: Any, level: QueryLevel,
                                   model: QueryModel, keys: dict[str, str],
                                   expected: int) -> None:
    resolved = {}
    for keyword, value in keys.items():
        kind, _, patient = value.partition(":")
        spec = STUDY_BY_ID.get(patient)
        resolved[keyword] = (spec.study_uid if kind == "study" else
                             spec.series_uid(0) if kind == "series0" else value) if spec else value
    matches = _find(courier, archive, level, model, **resolved)
    assert len(matches) == expected
    assert all(m.level is level for m in matches)
    assert all(m.get(level.unique_key) for m in matches)


def test_wildcard_and_date_range_matching(courier: Courier, archive: Any) -> None:
    assert [m.get("PatientID") for m in _find(courier, archive, QueryLevel.STUDY,
                                              PatientName="Dub*")] == ["IOP002"]
    dates = _find(courier, archive, QueryLevel.STUDY, StudyDate="20240612-20240613")
    assert sorted(m.get("PatientID") for m in dates) == ["IOP002", "IOP003"]


def test_limit_sends_cancel_and_stops_early(courier: Courier, archive: Any) -> None:
    async def scenario() -> tuple[int, Any]:
        op = courier.find(node_for(archive), FindQuery(QueryLevel.IMAGE, QueryModel.STUDY,
                                                       {"StudyInstanceUID": ""}), limit=2)
        got = [m async for m in op]
        return len(got), op.result
    count, result = run(scenario())
    assert count >= 2
    assert result.count >= 2
    assert result.error is None


def test_wrong_called_ae_is_rejected_with_advice(courier: Courier, dcmqrscp: Any) -> None:
    with pytest.raises(CalledAeNotRecognised) as info:
        run(courier.echo(node_for(dcmqrscp, called_aet="NOTTHISONE")))
    error = info.value
    assert "is not called NOTTHISONE" in error.title
    assert error.details["PACS address"] == f"127.0.0.1:{dcmqrscp.port}"
    assert not error.retryable


def test_unknown_calling_ae_at_orthanc_is_accepted_then_aborted(courier: Courier,
                                                                orthanc: Any) -> None:
    node = node_for(orthanc, calling_aet="STRANGER")
    with pytest.raises(AssociationAborted) as info:
        _find_node(courier, node)
    assert "STRANGER" in info.value.action
    assert "DicomModalities" in info.value.action


def _find_node(courier: Courier, node: Any) -> list[FindMatch]:
    async def scenario() -> list[FindMatch]:
        return [m async for m in courier.find(node, FindQuery())]
    return run(scenario())
