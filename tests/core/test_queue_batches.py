"""Issue 12 §2: the queue shows the newest counts of each batch of C-MOVE responses, not each one.

A move's worker hands its responses to the loop in batches (``MoveOperation.batches()``): when
the window is busy, hundreds arrive together. The queue used to announce (and record, and
repaint) every one of them on the GUI thread; now it announces the newest of each batch. What
a person sees must not change: the last counts, every state, the outcome, what ``jobs.db``
holds. No socket is opened here: the moves are :mod:`tests.fakes.fake_move` fakes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from dicom_courier.core.config.profiles import PacsNode
from dicom_courier.core.jobs.job import JobSnapshot
from dicom_courier.core.jobs.queue import JobState, MoveQueue
from dicom_courier.core.jobs.store import JobStore
from dicom_courier.core.outcome.events import MoveOutcome, MoveProgress
from dicom_courier.core.qr.query import MoveRequest, MoveTarget
from tests.fakes.fake_move import FakeMove, FakeMoves, MoveScript, QueueWatch

NODE = PacsNode(name="demo", called_aet="DEMOPACS", host="127.0.0.1", port=11112)
STUDY = "1.2.826.0.1.3680043.8.498.12"
IMAGES = 500


class BatchedMove(FakeMove):
    """A fake move that also hands its responses over in batches, as ``MoveOperation`` does:
    ``split`` gives the sizes of the batches (the rest is the last batch)."""

    split: tuple[int, ...] = (IMAGES,)

    def batches(self) -> AsyncIterator[list[MoveProgress]]:
        responses = self.__aiter__()

        async def batched() -> AsyncIterator[list[MoveProgress]]:
            items = [progress async for progress in responses]
            start = 0
            for size in self.split:
                yield items[start:start + size]
                start += size
            if items[start:]:
                yield items[start:]

        return batched()


def _run(split: tuple[int, ...], store: JobStore | None = None
         ) -> tuple[QueueWatch, JobSnapshot, list[MoveProgress]]:
    watch = QueueWatch()
    started: list[BatchedMove] = []

    def start_move(pacs: PacsNode, request: MoveRequest) -> BatchedMove:
        move = BatchedMove(pacs, request, MoveScript(images=IMAGES))
        move.split = split
        started.append(move)
        return move

    async def scenario() -> JobSnapshot:
        queue = MoveQueue(None, watch, store=store, start_move=start_move)
        job_id = queue.submit(NODE, MoveRequest(MoveTarget(STUDY), "WS"))
        await watch.until(lambda: queue.get(job_id).state.is_finished)
        return queue.get(job_id)

    job = asyncio.run(scenario())
    return watch, job, started[0].responses


def _progress_shown(watch: QueueWatch, job: JobSnapshot) -> list[MoveProgress]:
    """Every distinct progress the listener was told of, in order."""
    shown: list[MoveProgress] = []
    for snapshot in watch.snapshots(job.job_id):
        if snapshot.progress is not None and (not shown or snapshot.progress is not shown[-1]):
            shown.append(snapshot.progress)
    return shown


def test_500_responses_in_one_batch_are_announced_once_with_the_last_counts(
        tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.db")
    watch, job, responses = _run((IMAGES,), store)
    assert len(responses) == IMAGES + 1  # 500 Pending and the final response all arrived
    shown = _progress_shown(watch, job)
    # One announcement for the batch of 500 (its newest counts), one for the final response.
    assert len(shown) == 2
    assert (shown[0].completed, shown[0].remaining, shown[0].total) == (IMAGES, 0, IMAGES)
    assert shown[-1] is responses[-1] and shown[-1].is_final
    states = [s.state for s in watch.snapshots(job.job_id)]
    assert states[:2] == [JobState.QUEUED, JobState.RUNNING]
    assert states[-1] is JobState.COMPLETED and set(states) == {
        JobState.QUEUED, JobState.RUNNING, JobState.COMPLETED}
    assert job.result is not None and job.result.outcome is MoveOutcome.COMPLETED
    assert (job.result.completed, job.result.total) == (IMAGES, IMAGES)
    row = store.get(job.job_id)  # what jobs.db holds: the final result, as before
    assert (row.state, row.completed, row.total, row.failed) == ("completed", IMAGES, IMAGES, 0)
    store.close()


def test_a_batch_that_holds_the_final_response_shows_the_final_counts() -> None:
    watch, job, responses = _run((3, IMAGES - 3 + 1))
    shown = _progress_shown(watch, job)
    assert len(shown) == 2
    assert shown[0] is responses[2]  # the newest of the first batch: 3 images
    assert shown[-1] is responses[-1] and shown[-1].is_final
    assert job.state is JobState.COMPLETED and job.progress is responses[-1]


def test_a_move_without_batches_is_still_shown_response_by_response() -> None:
    """Test fakes (and any RunningMove without ``batches``) keep the one-by-one road."""
    watch = QueueWatch()
    moves = FakeMoves(default=MoveScript(images=5))

    async def scenario() -> JobSnapshot:
        queue = MoveQueue(None, watch, start_move=moves)
        job_id = queue.submit(NODE, MoveRequest(MoveTarget(STUDY), "WS"))
        await watch.until(lambda: queue.get(job_id).state.is_finished)
        return queue.get(job_id)

    job = asyncio.run(scenario())
    assert len(_progress_shown(watch, job)) == 6  # 5 Pending + the final
    assert job.state is JobState.COMPLETED
