"""C-MOVE against Orthanc and dcmqrscp to storescp: every instance arrives, errors are plain."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from dicom_courier.core.config.profiles import Destination
from dicom_courier.core.dimse.destination_check import DestinationDown, DestinationUndecided
from dicom_courier.core.dimse.engine import Courier
from dicom_courier.core.jobs.retry import RetryPolicy
from dicom_courier.core.outcome.errors import (
    AssociationAborted,
    MoveDestinationUnknown,
)
from dicom_courier.core.outcome.events import MoveOutcome, MoveProgress, MoveResult
from dicom_courier.core.qr.query import MoveRequest, MoveTarget, QueryModel
from tests.interop.conftest import node_for, run
from tests.peers import INTEROP_STUDIES

SPEC = INTEROP_STUDIES[0]  # 2 series x 3 instances


@pytest.fixture(params=["orthanc", "dcmqrscp"])
def archive(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue(request.param)


def _move(courier: Courier, node: Any, target: MoveTarget, destination: str,
          model: QueryModel = QueryModel.STUDY) -> tuple[list[MoveProgress], MoveResult]:
    async def scenario() -> tuple[list[MoveProgress], MoveResult]:
        op = courier.move(node, MoveRequest(target, destination, model))
        events = [event async for event in op]
        return events, op.result
    return run(scenario())


def test_move_study_puts_every_instance_on_disk(courier: Courier, archive: Any,
                                                storescp: Any) -> None:
    events, result = _move(courier, node_for(archive), MoveTarget(SPEC.study_uid),
                           archive.known_destination)
    assert result.outcome is MoveOutcome.COMPLETED, result.error and result.error.render()
    assert (result.completed, result.failed, result.warning) == (6, 0, 0)
    assert result.error is None
    assert events[-1].is_final and events[-1].is_success
    assert all(not e.is_final for e in events[:-1])
    files = storescp.wait_for_files(6)
    expected = {SPEC.sop_uid(s, i) for s in range(2) for i in range(3)}
    assert {p.name.split(".", 1)[1] for p in files} == expected


def test_move_study_with_patient_root(courier: Courier, archive: Any, storescp: Any) -> None:
    target = MoveTarget(SPEC.study_uid, patient_id=SPEC.patient_id)
    _, result = _move(courier, node_for(archive), target, archive.known_destination,
                      QueryModel.PATIENT)
    assert result.outcome is MoveOutcome.COMPLETED, result.error and result.error.render()
    assert len(storescp.wait_for_files(6)) == 6


def test_move_one_series(courier: Courier, archive: Any, storescp: Any) -> None:
    target = MoveTarget(SPEC.study_uid, series_uids=(SPEC.series_uid(1),))
    _, result = _move(courier, node_for(archive), target, archive.known_destination)
    assert result.outcome is MoveOutcome.COMPLETED
    assert result.completed == 3
    names = {p.name.split(".", 1)[1] for p in storescp.wait_for_files(3)}
    assert names == {SPEC.sop_uid(1, i) for i in range(3)}


def test_move_single_images(courier: Courier, archive: Any, storescp: Any) -> None:
    wanted = (SPEC.sop_uid(0, 0), SPEC.sop_uid(0, 2))
    target = MoveTarget(SPEC.study_uid, series_uids=(SPEC.series_uid(0),), sop_uids=wanted)
    _, result = _move(courier, node_for(archive), target, archive.known_destination)
    assert result.outcome is MoveOutcome.COMPLETED, result.error and result.error.render()
    assert result.completed == 2
    assert {p.name.split(".", 1)[1] for p in storescp.wait_for_files(2)} == set(wanted)


def test_unknown_destination_on_dcmqrscp_is_a801(courier: Courier, dcmqrscp: Any) -> None:
    _, result = _move(courier, node_for(dcmqrscp), MoveTarget(SPEC.study_uid), "NOSUCHWS")
    assert result.outcome is MoveOutcome.FAILED
    assert isinstance(result.error, MoveDestinationUnknown)
    assert result.status == 0xA801
    assert "DCMQRSCP does not know the destination NOSUCHWS" in result.error.title
    assert "AETable" in result.error.action


def test_unknown_destination_on_orthanc_names_the_destination_first(courier: Courier,
                                                                     orthanc: Any) -> None:
    """Orthanc answers a comment-less 0xC000 with no sub-operation for a study it has: the
    destination is named first, with where Orthanc keeps its list of DICOM nodes."""
    _, result = _move(courier, node_for(orthanc), MoveTarget(SPEC.study_uid), "NOSUCHWS")
    assert result.outcome is MoveOutcome.FAILED
    assert isinstance(result.error, DestinationUndecided)
    assert result.status == 0xC000 and result.error.details["DIMSE status"] == "0xC000"
    assert result.error.title == ("ORTHANC most likely does not have NOSUCHWS in its list of "
                                  "DICOM nodes, or cannot reach it.")
    assert '"DicomModalities"' in result.error.action and "/modalities" in result.error.action
    assert "announces itself as DCMTK" in result.error.explanation  # Orthanc 1.10 does


def test_destination_down_is_diagnosed(courier: Courier, archive: Any) -> None:
    """dcmqrscp answers 0xA702 (all sub-operations failed), Orthanc 0xC000, for a destination
    in its HostTable / DicomModalities where nothing listens: our echo tells it is down."""
    where = f"127.0.0.1:{archive.dead_port}"
    node = node_for(archive, destinations=(
        Destination(archive.dead_destination, "127.0.0.1", archive.dead_port),))
    started = time.monotonic()
    _, result = _move(courier, node, MoveTarget(SPEC.study_uid), archive.dead_destination)
    seconds = time.monotonic() - started
    assert result.outcome is MoveOutcome.FAILED
    assert result.completed == 0
    assert result.status == {"dcmqrscp": 0xA702, "orthanc": 0xC000}[archive.name]
    assert isinstance(result.error, DestinationDown)
    assert result.error.title == (f"{archive.dead_destination} did not answer at {where} — is "
                                  "it running, and can the PACS reach it?")
    assert result.error.details["Move destination"] == archive.dead_destination
    assert "busy" not in result.error.render()  # dcmqrscp's 0xA702 is not "try later"
    assert RetryPolicy().next_delay(result, 1) is not None  # transient: retried
    assert seconds < 5.0  # the move and the follow-up of at most 3 s


def test_destination_down_without_an_address_lists_the_causes(courier: Courier,
                                                              dcmqrscp: Any) -> None:
    _, result = _move(courier, node_for(dcmqrscp), MoveTarget(SPEC.study_uid),
                      dcmqrscp.dead_destination)
    assert isinstance(result.error, DestinationUndecided)
    assert result.status == 0xA702
    assert f"(1) {dcmqrscp.dead_destination} is not running or DCMQRSCP cannot reach it" in \
        result.error.explanation
    assert "HostTable" in result.error.action


def test_calling_ae_not_registered_at_orthanc(courier: Courier, orthanc: Any,
                                              storescp: Any) -> None:
    node = node_for(orthanc, calling_aet="STRANGER")
    _, result = _move(courier, node, MoveTarget(SPEC.study_uid), orthanc.known_destination)
    assert result.outcome is MoveOutcome.FAILED
    assert isinstance(result.error, AssociationAborted)
    assert "STRANGER" in result.error.explanation
    assert storescp.received_files() == []


def test_two_moves_run_concurrently_on_separate_associations(courier: Courier, dcmqrscp: Any,
                                                             storescp: Any) -> None:
    node = node_for(dcmqrscp)

    async def scenario() -> list[MoveResult]:
        ops = [courier.move(node, MoveRequest(MoveTarget(spec.study_uid),
                                              dcmqrscp.known_destination))
               for spec in INTEROP_STUDIES[:3]]
        return list(await asyncio.gather(*(op.run() for op in ops)))

    results = run(scenario())
    assert [r.outcome for r in results] == [MoveOutcome.COMPLETED] * 3
    assert len(storescp.wait_for_files(18)) == 18
