"""Sends to this computer through the queue: rows count what is on disk, not what the PACS
says; a send ends complete only when every instance the PACS reported sent has arrived.

No socket: the retrieve is a scripted move (:mod:`tests.fakes.fake_move`) and the arrivals
are published by the test on a small hub from a worker thread, as the receiver does. The
first arrives while the move runs, the rest after its final response (a PACS that answers
before its C-STOREs are done: Orthanc with ``SynchronousCMove`` off).
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from dicom_courier.core.config.profiles import PacsNode
from dicom_courier.core.jobs.arrival_phase import ReceiverNotSetUp
from dicom_courier.core.jobs.arrivals import ArrivalLedger
from dicom_courier.core.jobs.job import JobSnapshot
from dicom_courier.core.jobs.queue import JobLabel, JobState, MoveQueue
from dicom_courier.core.jobs.resume import resumption_of, take_over
from dicom_courier.core.jobs.row_words import (
    arrival_outcome_words,
    job_bar_shape,
    row_progress_words,
)
from dicom_courier.core.jobs.store import JobStore
from dicom_courier.core.outcome.arrival import HERE, THIS_COMPUTER
from dicom_courier.core.qr.query import MoveRequest, MoveTarget
from tests.core.test_arrival_ledger import STUDY, Hub, arrival
from tests.fakes.fake_move import FakeMove, FakeMoves, MoveScript, QueueWatch

NODE = PacsNode(name="demo", called_aet="DEMOPACS", host="127.0.0.1", port=11112)
SOPS = [f"{STUDY}.1.{i}" for i in range(1, 9)]


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a queue test tried to open a connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def here() -> MoveRequest:
    return MoveRequest(MoveTarget(STUDY), HERE)


class Setup:
    """A queue with a ledger on a hub, a scripted retrieve that holds, and nothing else."""

    def __init__(self, *, wait: float = 5.0, store: JobStore | None = None) -> None:
        self.hub = Hub()
        self.watch = QueueWatch()
        self.retrieves = FakeMoves(default=MoveScript(images=8, hold=True))
        self.moves = FakeMoves()  # a send elsewhere; a send here must never start one
        self.ledger = ArrivalLedger(self.hub, interval=0.0)
        self.queue = MoveQueue(None, self.watch, start_move=self.moves, store=store,
                               arrivals=self.ledger, retrieve_here=self.retrieves,
                               arrival_wait=wait)

    def deliver(self, sops: list[str]) -> None:
        self.hub.publish_from_thread([arrival(sop) for sop in sops])

    async def started(self) -> FakeMove:
        (move,) = await self.retrieves.until_started(1)
        return move

    async def until(self, job_id: int, check: object) -> JobSnapshot:
        await self.watch.until(lambda: check(self.queue.get(job_id)))  # type: ignore[operator]
        return self.queue.get(job_id)


def test_a_send_here_counts_received_and_completes_when_all_arrived(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.db")
    setup = Setup(store=store)

    async def scenario() -> tuple[list[str], JobSnapshot]:
        job_id = setup.queue.submit(NODE, here(), JobLabel(patient="HERE^ONE"))
        move = await setup.started()
        move.release(2)  # two Pending responses: "2 of 8 sent", one file on disk so far
        setup.deliver(SOPS[:1])
        await setup.until(job_id, lambda j: j.received == 1 and j.progress is not None
                          and j.progress.completed == 2)
        rows = [row_progress_words(setup.queue.get(job_id))]
        move.finish()  # the PACS answers its final response before the rest arrived
        await setup.until(job_id, lambda j: j.checking)
        rows.append(row_progress_words(setup.queue.get(job_id)))
        assert not setup.queue.get(job_id).state.is_finished
        setup.deliver(SOPS + SOPS[:3])  # the rest, and three again (counted once)
        return rows, await setup.until(job_id, lambda j: j.state.is_finished)

    rows, job = asyncio.run(scenario())
    assert rows == ["received 1 of 8", "received 1 of 8 · waiting for the rest"]
    assert job.state is JobState.COMPLETED and job.received == 8
    assert job.arrival is not None and job.arrival.verified
    assert job.arrival.where == THIS_COMPUTER
    assert row_progress_words(job) == "received 8 of 8"
    assert job_bar_shape(job, active=False).full
    assert setup.moves.started == []  # nothing went through the C-MOVE-to-a-node road
    assert setup.retrieves.started[0].request.destination == HERE
    recorded = store.get(job.job_id)
    assert (recorded.state, recorded.received, recorded.arrival, recorded.arrival_verified) == (
        JobState.COMPLETED, 8, "received 8 of 8", True)
    assert recorded.folder == f"/data/received/PAT-1/{STUDY}" == job.folder


def test_a_send_here_whose_files_stop_coming_finishes_partial_in_words(
        tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.db")
    setup = Setup(wait=0.6, store=store)

    async def scenario() -> JobSnapshot:
        job_id = setup.queue.submit(NODE, here())
        move = await setup.started()
        setup.deliver(SOPS[:1])
        move.finish()  # "8 of 8 sent", says the PACS
        return await setup.until(job_id, lambda j: j.state.is_finished)

    job = asyncio.run(scenario())
    assert job.state is JobState.PARTIAL  # never "completed": 7 images are not here
    assert job.result is not None and job.result.completed == 8  # what the PACS said, kept
    words = row_progress_words(job)
    assert words.startswith("received 1 of 8 after ") and words.endswith(" s")
    assert arrival_outcome_words(job) == f"partial: {words}"
    shape = job_bar_shape(job, active=False)
    assert not shape.full and shape.arrived == pytest.approx(1 / 8)
    recorded = store.get(job.job_id)
    assert (recorded.state, recorded.received, recorded.arrival, recorded.arrival_verified) == (
        JobState.PARTIAL, 1, words, False)


def test_cancel_during_the_wait_ends_it_cancelled_with_what_arrived() -> None:
    setup = Setup(wait=600.0)  # the wait would outlast the test: only the cancel ends it

    async def scenario() -> tuple[JobSnapshot, bool]:
        job_id = setup.queue.submit(NODE, here())
        move = await setup.started()
        setup.deliver(SOPS[:3])
        move.finish()
        await setup.until(job_id, lambda j: j.checking)
        setup.queue.cancel(job_id)
        cancelling = setup.queue.get(job_id).state is JobState.CANCELLING
        return await setup.until(job_id, lambda j: j.state.is_finished), cancelling

    job, cancelling = asyncio.run(scenario())
    assert cancelling
    assert job.state is JobState.CANCELLED
    assert job.received == 3 and row_progress_words(job).startswith("received 3 of 8")
    assert not setup.retrieves.started[0].cancel_requested  # the PACS was done: no C-CANCEL


def test_a_send_here_without_a_receiver_fails_saying_how_to_turn_it_on() -> None:
    watch = QueueWatch()
    moves = FakeMoves()

    async def scenario() -> JobSnapshot:
        queue = MoveQueue(None, watch, start_move=moves)
        job_id = queue.submit(NODE, here())
        await watch.until(lambda: queue.get(job_id).state.is_finished)
        return queue.get(job_id)

    job = asyncio.run(scenario())
    assert job.state is JobState.FAILED and moves.started == []  # nothing asked of the PACS
    assert job.result is not None and isinstance(job.result.error, ReceiverNotSetUp)
    assert "Preferences" in job.result.error.action
    assert not job.result.request_sent


def test_a_send_here_that_never_reached_the_pacs_claims_nothing_of_the_pacs() -> None:
    """The window's receiver did not start (port taken): the send fails before anything is
    asked. Seen in review: the row read "received 0 (the PACS reported no count)"."""
    from dicom_courier.core.jobs.arrival_phase import NotSetUpHere

    watch = QueueWatch()

    async def scenario() -> JobSnapshot:
        queue = MoveQueue(None, watch, start_move=FakeMoves(), arrivals=ArrivalLedger(Hub()),
                          retrieve_here=NotSetUpHere)
        job_id = queue.submit(NODE, here())
        await watch.until(lambda: queue.get(job_id).state.is_finished)
        return queue.get(job_id)

    job = asyncio.run(scenario())
    assert job.state is JobState.FAILED and job.arrival is None
    assert "PACS" not in row_progress_words(job)


def test_a_queued_send_here_survives_a_restart_and_resumes_through_the_receiver(
        tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"

    async def first_run() -> int:
        queue = MoveQueue(None, QueueWatch(), start_move=FakeMoves(), store=JobStore(path))
        queue.pause()
        job_id = queue.submit(NODE, here(), JobLabel(patient="HERE^TWO"))
        queue.leave_interrupted()
        await queue.close()
        return job_id

    old_id = asyncio.run(first_run())
    store = JobStore(path)
    (stored,) = take_over(store, store.unfinished())
    assert stored.id == old_id and stored.destination == HERE
    resumed = resumption_of(stored, NODE)
    setup = Setup(store=store)

    async def second_run() -> JobSnapshot:
        job_id = setup.queue.submit(resumed.pacs, resumed.request, resumed.label,
                                    retry_of=resumed.retry_of)
        move = await setup.started()
        setup.deliver(SOPS)
        move.finish()
        return await setup.until(job_id, lambda j: j.state.is_finished)

    job = asyncio.run(second_run())
    assert job.state is JobState.COMPLETED and job.received == 8 and job.retry_of == old_id
    assert setup.moves.started == []
