"""The move queue when the job database refuses a write: nothing unrecorded is sent, nothing
finished is forgotten.

The store's own fault handling (a real full tmpfs, a locked file, a read-only mount) is tested
in test_store_faults.py; here a JobStore whose writes can be made to fail with the same typed
errors drives the queue against the demo PACS.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from dicom_courier.core.config.profiles import PacsNode, Timeouts
from dicom_courier.core.demo.pacs import DemoPacs
from dicom_courier.core.demo.synthetic import StudySpec
from dicom_courier.core.demo.workstation import Workstation
from dicom_courier.core.dimse.engine import Courier
from dicom_courier.core.jobs.queue import JobState, MoveQueue
from dicom_courier.core.jobs.store import JobStore
from dicom_courier.core.jobs.store_errors import StoreDiskFull, StoreError
from dicom_courier.core.qr.query import MoveRequest, MoveTarget
from tests.waiting import until

#: Every test here talks DICOM over loopback TCP (see tests/conftest.py).
pytestmark = pytest.mark.network

STUDY = StudySpec(key="store-fault", patient_name="Store^Fault", patient_id="SF1",
                  series_count=1, instances_per_series=3)


class FailingStore(JobStore):
    """A real JobStore whose named writes fail with "disk full" while ``full`` is set."""

    full: set[str]

    def _fail(self, what: str) -> None:
        if what in getattr(self, "full", set()):
            raise StoreDiskFull(self.path, cause="test")

    def started(self, job_id: int) -> None:
        self._fail("started")
        super().started(job_id)

    def finished(self, job_id: int, **kwargs: object) -> None:  # type: ignore[override]
        self._fail("finished")
        super().finished(job_id, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[PacsNode, Workstation, FailingStore]]:
    with Workstation(tmp_path / "ws", ae_title="WS") as ws, DemoPacs(
            [STUDY], destinations={"WS": ("127.0.0.1", ws.port)}) as pacs:
        node = PacsNode(name="demo", called_aet=pacs.ae_title, host="127.0.0.1",
                        port=pacs.port, timeouts=Timeouts(idle=10))
        store = FailingStore(tmp_path / "jobs.db")
        store.full = set()
        yield node, ws, store
        store.close()


def test_a_send_that_cannot_be_recorded_waits_paused_and_runs_after_resume(
        setup: tuple[PacsNode, Workstation, FailingStore]) -> None:
    node, ws, store = setup
    errors: list[StoreError] = []
    store.full = {"started"}

    async def scenario() -> tuple[JobState, bool, int, JobState]:
        with Courier() as courier:
            queue = MoveQueue(courier, lambda job: None, store=store,
                              on_store_error=errors.append)
            job_id = queue.submit(node, MoveRequest(MoveTarget(STUDY.study_uid), "WS"))
            await until(lambda: errors)  # "started" was refused: the queue paused itself
            waiting, paused, received = queue.get(job_id).state, queue.paused, ws.received_count
            store.full = set()  # the person freed some space
            queue.resume()
            await until(lambda: queue.get(job_id).state.is_finished)
            return waiting, paused, received, queue.get(job_id).state

    waiting, paused, received, final = asyncio.run(scenario())
    assert (waiting, paused, received) == (JobState.QUEUED, True, 0)
    assert len(errors) == 1 and "is full" in errors[0].title
    assert final is JobState.COMPLETED
    assert store.jobs()[0].state == "completed"
    assert ws.received_count == 3


def test_a_finished_send_that_cannot_be_recorded_is_written_before_the_next_starts(
        setup: tuple[PacsNode, Workstation, FailingStore]) -> None:
    node, ws, store = setup
    errors: list[StoreError] = []
    store.full = {"finished"}

    async def scenario() -> tuple[JobState, str]:
        with Courier() as courier:
            queue = MoveQueue(courier, lambda job: None, store=store,
                              on_store_error=errors.append)
            first = queue.submit(node, MoveRequest(MoveTarget(STUDY.study_uid), "WS"))
            await until(lambda: queue.get(first).state.is_finished)
            shown, recorded = queue.get(first).state, store.get(first).state
            store.full = set()
            second = queue.submit(node, MoveRequest(MoveTarget(STUDY.study_uid), "WS"))
            await until(lambda: queue.get(second).state.is_finished)
            return shown, recorded

    shown, recorded_while_full = asyncio.run(scenario())
    assert shown is JobState.COMPLETED, "the window shows what really happened"
    assert recorded_while_full == "running"
    assert len(errors) == 1
    assert [job.state for job in store.jobs()] == ["completed", "completed"]
