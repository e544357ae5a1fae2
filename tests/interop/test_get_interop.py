"""C-GET (PS3.4 C.4.3) from Orthanc and dcmqrscp: every image on disk, counts, outcome."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from dicom_courier.core.dimse.arrival_hub import ArrivalHub
from dicom_courier.core.dimse.engine import Courier
from dicom_courier.core.outcome.arrival import HERE, Arrival
from dicom_courier.core.outcome.events import MoveOutcome, MoveProgress, MoveResult
from dicom_courier.core.qr.query import MoveRequest, MoveTarget, QueryModel
from tests.interop.conftest import node_for, run
from tests.peers import INTEROP_STUDIES

pytestmark = pytest.mark.network

SPEC = INTEROP_STUDIES[0]  # 2 series x 3 instances


@pytest.fixture(params=["orthanc", "dcmqrscp"])
def archive(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue(request.param)


def _get(courier: Courier, node: Any, target: MoveTarget, folder: Path,
         model: QueryModel = QueryModel.STUDY
         ) -> tuple[list[MoveProgress], MoveResult, list[Arrival]]:
    hub = ArrivalHub()
    arrivals: list[Arrival] = []
    hub.subscribe(arrivals.append)

    async def scenario() -> tuple[list[MoveProgress], MoveResult]:
        op = courier.get(node, MoveRequest(target, HERE, model), folder=folder,
                         our_aet="COURIER", hub=hub)
        events = [event async for event in op]
        return events, op.result
    events, result = run(scenario())
    return events, result, arrivals


def _files(folder: Path) -> set[str]:
    return {p.stem for p in folder.rglob("*.dcm")}


def test_get_study_puts_every_instance_on_disk(courier: Courier, archive: Any,
                                               tmp_path: Path) -> None:
    folder = tmp_path / "received"
    events, result, arrivals = _get(courier, node_for(archive), MoveTarget(SPEC.study_uid),
                                    folder)
    assert result.outcome is MoveOutcome.COMPLETED, result.error and result.error.render()
    assert (result.completed, result.failed, result.warning) == (6, 0, 0)
    assert result.destination == HERE
    assert events[-1].is_final and events[-1].is_success
    expected = {SPEC.sop_uid(s, i) for s in range(2) for i in range(3)}
    assert _files(folder) == expected
    assert {a.sop_uid for a in arrivals} == expected
    assert {a.calling_aet for a in arrivals} == {archive.aet}
    one = next(folder.rglob("*.dcm"))
    assert one.read_bytes()[128:132] == b"DICM"  # a Part 10 file
    assert one.parent.parent.name == SPEC.study_uid
    assert os.stat(one).st_mode & 0o077 == 0  # patient data: owner only


def test_get_one_series_with_patient_root(courier: Courier, archive: Any,
                                          tmp_path: Path) -> None:
    target = MoveTarget(SPEC.study_uid, series_uids=(SPEC.series_uid(1),),
                        patient_id=SPEC.patient_id)
    _, result, _ = _get(courier, node_for(archive), target, tmp_path, QueryModel.PATIENT)
    assert result.outcome is MoveOutcome.COMPLETED, result.error and result.error.render()
    assert result.completed == 3
    assert _files(tmp_path) == {SPEC.sop_uid(1, i) for i in range(3)}


def test_get_of_an_unknown_study_says_nothing_matched(courier: Courier, archive: Any,
                                                      tmp_path: Path) -> None:
    _, result, _ = _get(courier, node_for(archive), MoveTarget("1.2.3.4.5.6.7.8.9"),
                        tmp_path)
    assert result.outcome is MoveOutcome.FAILED
    assert result.error is not None
    words = result.error.render()
    # Orthanc answers 0xC000, dcmqrscp 0x0000 with zero images: both say what was asked
    assert "nothing" in words and "study 1.2.3.4.5.6.7.8.9" in words, words
    assert "destination" not in words.lower(), words  # a C-GET has no move destination
    assert _files(tmp_path) == set()


def test_get_in_the_engine_process_publishes_arrivals_in_the_window(
        orthanc: Any, tmp_path: Path) -> None:
    """The window's engine worker process writes; each Arrival crosses the pipe into the
    window-side hub before the result."""
    from dicom_courier.core.dimse.process_courier import ProcessCourier

    hub = ArrivalHub()
    arrivals: list[Arrival] = []
    hub.subscribe(arrivals.append)

    async def scenario() -> MoveResult:
        with ProcessCourier(cancel_grace=2.0) as courier:
            op = courier.get(node_for(orthanc), MoveRequest(MoveTarget(SPEC.study_uid), HERE),
                             folder=tmp_path, our_aet="COURIER", hub=hub)
            result = await op.run()
            assert len(arrivals) == 6  # all published before the result came
            return result
    result = run(scenario())
    assert result.outcome is MoveOutcome.COMPLETED, result.error and result.error.render()
    expected = {SPEC.sop_uid(s, i) for s in range(2) for i in range(3)}
    assert {a.sop_uid for a in arrivals} == expected == _files(tmp_path)


def test_auto_falls_back_to_get_when_the_pacs_does_not_know_our_receiver(
        courier: Courier, archive: Any, tmp_path: Path) -> None:
    """A C-MOVE to an AE title the PACS has no address for is refused before anything is
    sent (dcmqrscp: 0xA801; Orthanc: 0xC000): the automatic method retrieves with C-GET
    instead, and says so."""
    from dicom_courier.core.config.retrieve_method import RetrieveMethod
    from dicom_courier.core.dimse.retrieve_here import retrieve_here

    hub = ArrivalHub()
    arrivals: list[Arrival] = []
    hub.subscribe(arrivals.append)
    node = node_for(archive, retrieve=RetrieveMethod.AUTO)
    running = retrieve_here(courier, node, MoveRequest(MoveTarget(SPEC.study_uid), HERE),
                            receiver_aet="UNKNOWN13", folder=tmp_path, hub=hub)

    async def scenario() -> list[MoveProgress]:
        return [event async for event in running]
    events = run(scenario())
    result = running.result
    assert result.outcome is MoveOutcome.COMPLETED, result.error and result.error.render()
    expected = {"DCMQRSCP": "DCMQRSCP does not know UNKNOWN13 as a destination; retrieved "
                            "with C-GET instead",
                "ORTHANC": "ORTHANC refused to send to UNKNOWN13 (0xC000, nothing sent); "
                           "retrieved with C-GET instead"}[archive.aet]
    assert result.note is not None and result.note.startswith(expected), result.note
    assert running.method_used is RetrieveMethod.GET
    assert all(not e.is_final for e in events[:-1]) and events[-1].completed == 6
    assert len(arrivals) == 6 and len(_files(tmp_path)) == 6
