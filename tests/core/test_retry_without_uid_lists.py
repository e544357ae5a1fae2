"""Retry only the failed images on a PACS without List-of-UID matching (issue 9 §2).

The failed images are placed in their series by a look-up that falls back to one C-FIND per
image, and each is then re-sent in a move of its own: exactly the missing images, each once.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from dicom_courier.core.config.profiles import PacsNode
from dicom_courier.core.demo.synthetic import StudySpec
from dicom_courier.core.demo.workstation import Workstation
from dicom_courier.core.dimse.engine import Courier
from dicom_courier.core.jobs.queue import JobState, MoveQueue
from dicom_courier.core.qr.query import MoveRequest, MoveTarget, QueryLevel
from tests.fakes.quirky import QuirkyPacs
from tests.waiting import until

#: Every test here talks DICOM over loopback TCP (see tests/conftest.py).
pytestmark = pytest.mark.network

SPEC = StudySpec(key="retry-lists", patient_name="Retry^Lists", patient_id="RL1",
                 series_count=2, instances_per_series=3)


async def _finished(queue: MoveQueue, job_ids: list[int]) -> None:
    await until(lambda: all(queue.get(i).state.is_finished for i in job_ids), 20)


@pytest.mark.parametrize("uid_lists", ["refuse", "no-match"])
def test_failed_images_are_placed_and_resent_once_without_uid_lists(
        tmp_path: Path, uid_lists: str) -> None:
    every = {SPEC.sop_uid(s, i) for s in range(2) for i in range(3)}

    async def scenario() -> None:
        with Courier() as courier, QuirkyPacs([SPEC], uid_lists=uid_lists) as pacs:
            node = PacsNode(name="quirky", called_aet="QUIRKY", host="127.0.0.1",
                            port=pacs.port, calling_aet="COURIER")
            queue = MoveQueue(courier, lambda job: None)
            with Workstation(tmp_path / "ws", fail_every=3) as flaky:
                pacs.add_destination("WORKSTATION", "127.0.0.1", flaky.port)
                job_id = queue.submit(node, MoveRequest(MoveTarget(SPEC.study_uid),
                                                        "WORKSTATION"))
                await _finished(queue, [job_id])
                refused = set(flaky.failed_uids())
            job = queue.get(job_id)
            assert job.state is JobState.PARTIAL and job.result is not None
            assert set(job.result.failed_sop_uids) == refused and len(refused) == 2
            with Workstation(tmp_path / "ws") as healthy:
                pacs.add_destination("WORKSTATION", "127.0.0.1", healthy.port)
                sent_before = len(pacs.instances_sent)
                again = await queue.retry_failed_only(job_id)
                await _finished(queue, again)
                resent = pacs.instances_sent[sent_before:]
            await queue.close()
            jobs = [queue.get(i) for i in again]
            assert all(j.state is JobState.COMPLETED for j in jobs)
            assert all(j.request.target.level is QueryLevel.IMAGE
                       and len(j.request.target.sop_uids) == 1 for j in jobs)
            assert sorted(resent) == sorted(refused)  # exactly the missing, each once
            on_disk = {p.stem for p in (tmp_path / "ws" / SPEC.study_uid).glob("*.dcm")}
            assert on_disk == every

    asyncio.run(scenario())
