"""The move queue on scripted moves: per-PACS limit, cancel, retry, nothing lost; and the one
road its listeners hear (added, changed, removed), with the job recorder hearing first.

No socket is opened here (``no_network``): the moves are :mod:`tests.fakes.fake_move` fakes,
so each test takes milliseconds. Real moves through the queue are tested in
test_queue_store_faults.py, test_cancel_paths.py and tests/interop.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from dicom_courier.core.config.profiles import PacsNode
from dicom_courier.core.jobs.job import JobSnapshot
from dicom_courier.core.jobs.queue import JobLabel, JobState, MoveQueue
from dicom_courier.core.jobs.retry import RetryPolicy
from dicom_courier.core.jobs.store import JobStore
from dicom_courier.core.outcome.status import failure_for_status
from dicom_courier.core.qr.query import MoveRequest, MoveTarget
from tests.fakes.fake_move import FakeMoves, MoveScript, QueueWatch, failing

NODE = PacsNode(name="demo", called_aet="DEMOPACS", host="127.0.0.1", port=11112)
STUDIES = [f"1.2.826.0.1.3680043.8.498.{i}" for i in range(1, 5)]


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to connect anywhere fails the test: the fake moves need no peer."""

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a queue test tried to open a connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _request(study_uid: str, destination: str = "WS") -> MoveRequest:
    return MoveRequest(MoveTarget(study_uid), destination)


def test_at_most_two_moves_per_pacs_and_every_job_ends() -> None:
    watch = QueueWatch()
    moves = FakeMoves(default=MoveScript(images=4))

    async def scenario() -> list[JobSnapshot]:
        queue = MoveQueue(None, watch, per_pacs_limit=2, start_move=moves)
        for number, uid in enumerate(STUDIES):
            queue.submit(NODE, _request(uid), JobLabel(patient=f"Queue^P{number}"))
        await watch.until(lambda: all(j.state.is_finished for j in queue.jobs()))
        return queue.jobs()

    jobs = asyncio.run(scenario())
    assert [j.state for j in jobs] == [JobState.COMPLETED] * 4
    assert watch.most_per_pacs == 2  # really ran in parallel, never more than two
    assert all(j.result is not None and j.result.completed == 4 for j in jobs)
    assert [move.request.target.study_uid for move in moves.started] == STUDIES


def test_cancel_queued_and_running_then_retry() -> None:
    watch = QueueWatch()
    moves = FakeMoves([MoveScript(images=4, hold=True)])  # the first holds; the retry does not

    async def scenario() -> tuple[list[JobSnapshot], JobSnapshot]:
        queue = MoveQueue(None, watch, per_pacs_limit=1, start_move=moves)
        first = queue.submit(NODE, _request(STUDIES[0]))
        second = queue.submit(NODE, _request(STUDIES[1]))
        (running,) = await moves.until_started(1)
        running.release()  # one image arrives
        await watch.until(lambda: queue.get(first).progress is not None)
        queue.cancel(second)  # still queued behind the limit of 1
        queue.cancel(first)   # running: C-CANCEL
        assert queue.get(first).state is JobState.CANCELLING
        await watch.until(lambda: all(j.state.is_finished for j in queue.jobs()))
        again = queue.retry(first)
        await watch.until(lambda: queue.get(again).state.is_finished)
        return queue.jobs(), queue.get(again)

    jobs, again = asyncio.run(scenario())
    assert [j.state for j in jobs[:2]] == [JobState.CANCELLED, JobState.CANCELLED]
    assert jobs[0].result is not None and jobs[0].result.completed == 1  # what arrived
    assert moves.started[0].cancel_requested and not moves.started[0].aborted
    assert jobs[1].started_at is None  # never started
    assert len(moves.started) == 2  # the cancelled queued job never reached the PACS
    assert again.state is JobState.COMPLETED and again.retry_of == jobs[0].job_id


def test_unknown_destination_fails_with_the_catalogue_error() -> None:
    error = failure_for_status(0xA801, operation="send", peer=None, destination="NOWHERE")
    moves = FakeMoves(default=failing(error))
    watch = QueueWatch()

    async def scenario() -> JobSnapshot:
        queue = MoveQueue(None, watch, start_move=moves)
        job_id = queue.submit(NODE, _request(STUDIES[0], "NOWHERE"))
        await watch.until(lambda: queue.get(job_id).state.is_finished)
        return queue.get(job_id)

    job = asyncio.run(scenario())
    assert job.state is JobState.FAILED
    assert job.result is not None and job.result.status == 0xA801
    assert job.result.error is error


# ---------------------------------------------------------------- one road, recorder first


def test_added_changed_and_removed_arrive_on_one_road() -> None:
    """A listener hears a job added, its changes, and its removal by "Clear finished": the
    queue's table needs nothing else (the window no longer removes rows on the side)."""
    watch = QueueWatch()

    async def scenario() -> tuple[int, int, list[int], list[int]]:
        queue = MoveQueue(None, watch, per_pacs_limit=1, start_move=FakeMoves())
        done = queue.submit(NODE, _request(STUDIES[0]))
        await watch.until(lambda: queue.get(done).state is not JobState.QUEUED)
        queue.pause()
        waiting = queue.submit(NODE, _request(STUDIES[1]))
        await watch.until(lambda: queue.get(done).state.is_finished)
        gone = queue.clear_finished()
        return done, waiting, gone, [j.job_id for j in queue.jobs()]

    done, waiting, gone, left = asyncio.run(scenario())
    assert gone == [done] and left == [waiting]
    kinds = [kind for kind, item in watch.events
             if not isinstance(item, JobSnapshot) or item.job_id == done]
    assert kinds[0] == "added" and kinds[-1] == "removed"
    assert set(kinds[1:-1]) == {"changed"}
    assert watch.events[-1] == ("removed", (done,))
    assert [j.state for j in watch.snapshots(done)][:2] == [JobState.QUEUED, JobState.RUNNING]
    assert set(watch.latest) == {waiting}


def test_every_change_is_on_disk_before_a_listener_hears_it(tmp_path: Path) -> None:
    """With a job store, the recorder listens first: whenever the window's listener hears a
    state, ``jobs.db`` already holds it (queued, running, retrying, the outcome)."""
    store = JobStore(tmp_path / "jobs.db")
    seen: list[tuple[JobState, str]] = []

    class OnDisk(QueueWatch):
        """Notes what ``jobs.db`` holds at the moment each state is announced."""

        def on_job_added(self, job: JobSnapshot) -> None:
            seen.append((job.state, store.get(job.job_id).state))
            super().on_job_added(job)

        def on_job_changed(self, job: JobSnapshot) -> None:
            seen.append((job.state, store.get(job.job_id).state))
            super().on_job_changed(job)

    transient = failure_for_status(0xA702, operation="send", peer=None)
    moves = FakeMoves([failing(transient)], default=MoveScript(images=3))
    watch = OnDisk()

    async def scenario() -> int:
        async def no_wait(_seconds: float) -> None:
            await asyncio.sleep(0)

        queue = MoveQueue(None, watch, store=store, start_move=moves,
                          retry_policy=RetryPolicy(jitter=0.0, base_delay=0.0),
                          sleep=no_wait)
        job_id = queue.submit(NODE, _request(STUDIES[0]), JobLabel("Rec^Pat", "CT"))
        await watch.until(lambda: queue.get(job_id).state.is_finished)
        return job_id

    job_id = asyncio.run(scenario())
    states = [shown for number, (shown, _) in enumerate(seen)
              if number == 0 or seen[number - 1][0] is not shown]
    assert states == [JobState.QUEUED, JobState.RUNNING, JobState.RETRYING, JobState.QUEUED,
                      JobState.RUNNING, JobState.COMPLETED]
    for shown, on_disk in seen:
        assert on_disk == shown.value, f"{shown} shown while jobs.db said {on_disk}"
    row = store.get(job_id)
    assert (row.completed, row.total, row.attempt, row.label) == (3, 3, 2, "Rec^Pat — CT")
    store.close()


def test_a_queue_needs_a_way_to_start_moves() -> None:
    with pytest.raises(ValueError, match="start_move"):
        MoveQueue(None, lambda job: None)
