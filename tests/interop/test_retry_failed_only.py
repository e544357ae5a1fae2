"""Retry only the failed images, against dcmqrscp: a partial move, then exactly the rest.

dcmqrscp (DCMTK) ends a move whose C-STORE sub-operations partly failed with 0xB000 and lists
the refused instances in the final response's Failed SOP Instance UID List, SOP Instance UIDs
only. Its C-FIND answers an IMAGE-level Study Root query with a SOPInstanceUID list and a
universal SeriesInstanceUID, which is how the queue places each failed image in its series.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dicom_courier.core.demo.workstation import Workstation
from dicom_courier.core.dimse.engine import Courier
from dicom_courier.core.jobs.queue import JobSnapshot, JobState, MoveQueue
from dicom_courier.core.qr.query import MoveRequest, MoveTarget, QueryLevel
from tests.interop.conftest import node_for, run
from tests.peers import INTEROP_STUDIES
from tests.waiting import until

#: Seconds a scenario waits for the queue before it fails (rather than hangs).
WAIT = 20.0
SPEC = INTEROP_STUDIES[3]  # 2 series x 3 instances


async def _finished(queue: MoveQueue, job_ids: list[int]) -> None:
    await until(lambda: all(queue.get(i).state.is_finished for i in job_ids), WAIT)


def _on_disk(folder: Path) -> set[str]:
    return {path.stem for path in (folder / SPEC.study_uid).glob("*.dcm")}


def test_partial_study_then_only_the_failed_images_are_sent_again(
        tmp_path: Path, courier: Courier, dcmqrscp: Any, destination_port: int) -> None:
    folder = tmp_path / "received"
    every = {SPEC.sop_uid(s, i) for s in range(2) for i in range(3)}

    async def scenario() -> tuple[JobSnapshot, list[str], list[JobSnapshot], set[str]]:
        queue = MoveQueue(courier, lambda job: None)
        node = node_for(dcmqrscp)
        request = MoveRequest(MoveTarget(SPEC.study_uid), dcmqrscp.known_destination)
        with Workstation(folder, ae_title="STORESCP", port=destination_port,
                         fail_every=3) as flaky:
            job_id = queue.submit(node, request)
            await _finished(queue, [job_id])
            refused = flaky.failed_uids()
        with Workstation(folder, ae_title="STORESCP", port=destination_port) as healthy:
            again = await queue.retry_failed_only(job_id)
            await _finished(queue, again)
            resent = healthy.received_uids()
        await queue.close()
        return queue.get(job_id), refused, [queue.get(i) for i in again], resent

    job, refused, again, resent = run(scenario())
    assert job.state is JobState.PARTIAL and job.result is not None
    result = job.result
    assert (result.status, result.completed, result.failed) == (0xB000, 4, 2)
    assert len(refused) == 2  # the 3rd and the 6th store
    assert set(result.failed_sop_uids) == set(refused)  # dcmqrscp lists exactly those
    # One IMAGE-level job per series (the two refused images are in different series).
    assert len(again) == 2
    assert all(j.state is JobState.COMPLETED and j.retry_of == job.job_id for j in again)
    assert all(j.request.target.level is QueryLevel.IMAGE for j in again)
    assert {j.request.target.series_uids for j in again} == {(SPEC.series_uid(0),),
                                                              (SPEC.series_uid(1),)}
    assert all(j.result is not None and j.result.completed == 1 for j in again)
    assert resent == set(refused)  # exactly the missing ones, nothing twice
    assert _on_disk(folder) == every


def test_failed_images_of_one_series_need_no_lookup(
        tmp_path: Path, courier: Courier, dcmqrscp: Any, destination_port: int) -> None:
    """A series-level job already names the series: the retry goes straight to IMAGE level."""
    folder = tmp_path / "received"

    async def scenario() -> tuple[JobSnapshot, list[JobSnapshot], set[str]]:
        queue = MoveQueue(courier, lambda job: None)
        target = MoveTarget(SPEC.study_uid, series_uids=(SPEC.series_uid(1),))
        with Workstation(folder, ae_title="STORESCP", port=destination_port, fail_every=2):
            job_id = queue.submit(node_for(dcmqrscp),
                                  MoveRequest(target, dcmqrscp.known_destination))
            await _finished(queue, [job_id])
        with Workstation(folder, ae_title="STORESCP", port=destination_port) as healthy:
            again = await queue.retry_failed_only(job_id)
            await _finished(queue, again)
            resent = healthy.received_uids()
        return queue.get(job_id), [queue.get(i) for i in again], resent

    job, again, resent = run(scenario())
    assert job.state is JobState.PARTIAL and job.result is not None
    assert job.result.failed_sop_uids == (SPEC.sop_uid(1, 1),)
    assert len(again) == 1 and again[0].request.target.sop_uids == (SPEC.sop_uid(1, 1),)
    assert again[0].state is JobState.COMPLETED
    assert resent == {SPEC.sop_uid(1, 1)}
    assert _on_disk(folder) == {SPEC.sop_uid(1, i) for i in range(3)}
