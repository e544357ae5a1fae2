"""The move queue against the demo PACS: per-PACS limit, cancel, retry, nothing lost."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dicom_courier.core.demo.pacs import DemoPacs
from dicom_courier.core.demo.synthetic import StudySpec
from dicom_courier.core.demo.workstation import Workstation
from dicom_courier.core.engine import Courier
from dicom_courier.core.nodes import PacsNode, Timeouts
from dicom_courier.core.query import MoveRequest, MoveTarget
from dicom_courier.core.queue import JobLabel, JobSnapshot, JobState, MoveQueue

STUDIES = [StudySpec(key=f"queue-{i}", patient_name=f"Queue^P{i}", patient_id=f"Q{i}",
                     series_count=1, instances_per_series=4) for i in range(4)]


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[PacsNode, Workstation]]:
    with Workstation(tmp_path / "ws", ae_title="WS") as ws, DemoPacs(
            STUDIES, destinations={"WS": ("127.0.0.1", ws.port)}, store_delay=0.05) as pacs:
        node = PacsNode(name="demo", called_aet=pacs.ae_title, host="127.0.0.1",
                        port=pacs.port, timeouts=Timeouts(idle=10))
        yield node, ws


async def until(condition: Callable[[], bool], step: float = 0.02) -> None:
    """Poll ``condition`` on the loop (the queue reports through callbacks, not awaitables)."""
    while True:
        if condition():
            return
        await asyncio.sleep(step)


def _request(spec: StudySpec, destination: str = "WS") -> MoveRequest:
    return MoveRequest(MoveTarget(spec.study_uid), destination)


def test_at_most_two_moves_per_pacs_and_every_job_ends(setup: tuple[PacsNode, Workstation]
                                                      ) -> None:
    node, ws = setup
    seen: list[JobSnapshot] = []

    async def scenario() -> list[JobSnapshot]:
        with Courier() as courier:
            queue = MoveQueue(courier, seen.append, per_pacs_limit=2)
            for spec in STUDIES:
                queue.submit(node, _request(spec), JobLabel(patient=spec.patient_name))
            while any(not j.state.is_finished for j in queue.jobs()):
                running = [j for j in queue.jobs() if j.state is JobState.RUNNING]
                assert len(running) <= 2
                await asyncio.sleep(0.02)
            return queue.jobs()

    jobs = asyncio.run(scenario())
    assert [j.state for j in jobs] == [JobState.COMPLETED] * 4
    assert ws.received_count == 16
    assert max(sum(1 for j in seen[:i] if j.state is JobState.RUNNING) for i in
               range(len(seen))) >= 2  # really ran in parallel
    assert all(j.result is not None and j.result.completed == 4 for j in jobs)


def test_cancel_queued_and_running_then_retry(setup: tuple[PacsNode, Workstation]) -> None:
    node, ws = setup

    async def scenario() -> tuple[list[JobSnapshot], JobSnapshot]:
        with Courier(cancel_grace=2) as courier:
            queue = MoveQueue(courier, lambda job: None, per_pacs_limit=1)
            first = queue.submit(node, _request(STUDIES[0]))
            second = queue.submit(node, _request(STUDIES[1]))
            await until(lambda: queue.get(first).progress is not None)
            queue.cancel(second)  # still queued behind the limit of 1
            queue.cancel(first)   # running: C-CANCEL
            await until(lambda: all(j.state.is_finished for j in queue.jobs()))
            again = queue.retry(first)
            await until(lambda: bool(queue.get(again).state.is_finished))
            return queue.jobs(), queue.get(again)

    jobs, again = asyncio.run(scenario())
    assert [j.state for j in jobs[:2]] == [JobState.CANCELLED, JobState.CANCELLED]
    assert jobs[1].started_at is None  # never started
    assert again.state is JobState.COMPLETED and again.retry_of == jobs[0].job_id


def test_unknown_destination_fails_with_the_catalogue_error(
        setup: tuple[PacsNode, Workstation]) -> None:
    node, _ = setup

    async def scenario() -> JobSnapshot:
        with Courier() as courier:
            queue = MoveQueue(courier, lambda job: None)
            job_id = queue.submit(node, _request(STUDIES[0], "NOWHERE"))
            await until(lambda: bool(queue.get(job_id).state.is_finished))
            return queue.get(job_id)

    job = asyncio.run(scenario())
    assert job.state is JobState.FAILED
    assert job.result is not None and job.result.status == 0xA801
