"""A send to this computer through the real queue, the real C-GET and a real archive (Orthanc,
dcmqrscp): the row counts the files written, and the send completes when they all are."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dicom_courier.core.config.profiles import PacsNode
from dicom_courier.core.dimse.arrival_hub import ArrivalHub
from dicom_courier.core.dimse.engine import Courier
from dicom_courier.core.jobs.arrivals import ArrivalLedger
from dicom_courier.core.jobs.job import JobSnapshot, JobState
from dicom_courier.core.jobs.queue import MoveQueue, RunningMove
from dicom_courier.core.jobs.row_words import row_progress_words
from dicom_courier.core.jobs.store import JobStore
from dicom_courier.core.outcome.arrival import HERE
from dicom_courier.core.qr.query import MoveRequest, MoveTarget
from tests.fakes.fake_move import QueueWatch
from tests.interop.conftest import node_for, run
from tests.peers import INTEROP_STUDIES

pytestmark = pytest.mark.network

SPEC = INTEROP_STUDIES[0]  # 2 series x 3 instances


@pytest.fixture(params=["orthanc", "dcmqrscp"])
def archive(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue(request.param)


def test_a_send_here_by_c_get_is_counted_and_recorded(courier: Courier, archive: Any,
                                                      tmp_path: Path) -> None:
    hub = ArrivalHub()
    folder = tmp_path / "received"
    store = JobStore(tmp_path / "jobs.db")
    watch = QueueWatch()

    def retrieve_here(pacs: PacsNode, request: MoveRequest) -> RunningMove:
        return courier.get(pacs, request, folder=folder, our_aet="COURIER", hub=hub)

    async def scenario() -> JobSnapshot:
        ledger = ArrivalLedger(hub)
        queue = MoveQueue(courier, watch, store=store, arrivals=ledger,
                          retrieve_here=retrieve_here, arrival_wait=10.0)
        job_id = queue.submit(node_for(archive), MoveRequest(MoveTarget(SPEC.study_uid), HERE))
        await watch.until(lambda: queue.get(job_id).state.is_finished, within=60)
        await queue.close()
        ledger.close()
        return queue.get(job_id)

    job = run(scenario())
    assert job.state is JobState.COMPLETED, job.result and job.result.error
    assert job.received == 6 and row_progress_words(job) == "received 6 of 6"
    assert job.folder is not None and Path(job.folder).name == SPEC.study_uid
    assert len(list(Path(job.folder).rglob("*.dcm"))) == 6
    recorded = store.get(job.job_id)
    assert (recorded.received, recorded.arrival, recorded.arrival_verified) == (
        6, "received 6 of 6", True)
