"""Quitting never loses a send (issue 11, section 1), below the window: what to ask
(:mod:`core.jobs.quit_question`), the queue leaving its sends interrupted instead of cancelled
(:meth:`MoveQueue.leave_interrupted`), and every later start offering every unfinished send
until it is resumed or cancelled (:func:`core.jobs.resume.offered_for_resume`). Scripted
moves, no socket."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from dicom_courier.core.config.profiles import PacsNode
from dicom_courier.core.jobs.job import JobLabel, JobSnapshot, JobState
from dicom_courier.core.jobs.queue import MoveQueue
from dicom_courier.core.jobs.quit_question import QuitChoice, counts_text, quit_question
from dicom_courier.core.jobs.resume import offered_for_resume, resume_question, take_over
from dicom_courier.core.jobs.retry import RetryPolicy
from dicom_courier.core.jobs.store import JobStore
from dicom_courier.core.outcome.status import failure_for_status
from dicom_courier.core.qr.query import MoveRequest, MoveTarget
from tests.fakes.fake_move import FakeMoves, MoveScript, QueueWatch, failing

NODE = PacsNode(name="demo", called_aet="DEMOPACS", host="127.0.0.1", port=11112)
STUDY = "1.2.826.0.1.3680043.8.498.7100"


def _snapshot(job_id: int, state: JobState) -> JobSnapshot:
    return JobSnapshot(job_id=job_id, pacs=NODE, request=MoveRequest(MoveTarget(STUDY), "WS"),
                       label=JobLabel(), state=state, queued_at=0.0)


@pytest.mark.parametrize(("states", "counts"), [
    ((JobState.RUNNING, JobState.RUNNING, JobState.QUEUED, JobState.QUEUED),
     "2 sends running, 2 waiting"),  # the example as seen
    ((JobState.RUNNING,), "1 send running"),
    ((JobState.QUEUED, JobState.RETRYING, JobState.COMPLETED), "2 sends waiting"),
    ((JobState.RUNNING, JobState.RETRYING, JobState.CANCELLING), "1 send running, 1 waiting"),
])
def test_the_question_counts_running_and_waiting_sends(states: tuple[JobState, ...],
                                                       counts: str) -> None:
    question = quit_question(_snapshot(n, s) for n, s in enumerate(states, start=1))
    assert question is not None
    assert question.counts == counts and question.text.startswith(counts + ".")
    assert [c.choice for c in question.choices] == [
        QuitChoice.KEEP_OPEN, QuitChoice.QUIT_AND_RESUME, QuitChoice.CANCEL_AND_QUIT]
    keys = [c.label[c.label.index("&") + 1].lower() for c in question.choices]
    assert len(set(keys)) == 3  # every choice has its own access key


@pytest.mark.parametrize("states", [(), (JobState.COMPLETED, JobState.FAILED),
                                    (JobState.CANCELLING,)])
def test_nothing_running_or_waiting_asks_nothing(states: tuple[JobState, ...]) -> None:
    assert quit_question(_snapshot(n, s) for n, s in enumerate(states, start=1)) is None
    assert counts_text(0, 0) == ""


def _run_two_and_queue_two(tmp_path: Path, *, leave: bool) -> tuple[list[int], FakeMoves]:
    """2 sends running (the first 3 images in), 2 queued; then quit either way."""
    store = JobStore(tmp_path / "jobs.db")
    moves = FakeMoves(default=MoveScript(images=10, hold=True))
    watch = QueueWatch()

    async def scenario() -> list[int]:
        queue = MoveQueue(None, watch, store=store, start_move=moves, per_pacs_limit=2)
        ids = [queue.submit(NODE, MoveRequest(MoveTarget(f"{STUDY}.{n}"), "WS"),
                            JobLabel(f"Quit^{n}", "CT")) for n in range(4)]
        await moves.until_started(2)
        moves.started[0].release(3)
        await watch.until(lambda: (queue.get(ids[0]).progress is not None
                                   and queue.get(ids[0]).progress.completed == 3))
        if leave:
            assert queue.leave_interrupted() == ids
        await queue.close()
        return ids

    ids = asyncio.run(scenario())
    store.close()
    return ids, moves


def test_leaving_interrupted_records_every_send_interrupted_with_its_counts(
        tmp_path: Path) -> None:
    ids, moves = _run_two_and_queue_two(tmp_path, leave=True)
    assert len(moves.started) == 2 and all(move.aborted for move in moves.started)
    again = JobStore(tmp_path / "jobs.db")
    try:
        rows = {job.id: job for job in again.jobs()}
        assert [rows[i].state for i in ids] == [JobState.INTERRUPTED] * 4
        assert rows[ids[0]].completed == 3 and rows[ids[0]].total == 10
        assert rows[ids[0]].finished_at is None  # as a crash leaves it
        assert again.interrupted == []  # not "running": this open marked nothing
        assert [job.id for job in offered_for_resume(again)] == ids
        # "Not now" changes nothing: the next start asks again
        assert [job.id for job in offered_for_resume(again)] == ids
    finally:
        again.close()


def test_closing_without_leaving_still_cancels(tmp_path: Path) -> None:
    """"Cancel them and quit" is today's close: recorded cancelled, nothing offered."""
    ids, _moves = _run_two_and_queue_two(tmp_path, leave=False)
    again = JobStore(tmp_path / "jobs.db")
    try:
        assert {job.state for job in again.jobs()} == {JobState.CANCELLED}
        assert offered_for_resume(again) == []
    finally:
        again.close()


def test_a_send_waiting_to_retry_is_left_interrupted_and_not_started_again(
        tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.db")
    transient = failure_for_status(0xA702, operation="send", peer=None)
    moves = FakeMoves([failing(transient)])
    watch = QueueWatch()

    async def scenario() -> int:
        queue = MoveQueue(None, watch, store=store, start_move=moves,
                          retry_policy=RetryPolicy(jitter=0.0, base_delay=3600.0))
        job_id = queue.submit(NODE, MoveRequest(MoveTarget(STUDY), "WS"))
        await watch.until(lambda: queue.get(job_id).state is JobState.RETRYING)
        await queue.close(leave_interrupted=True)
        assert queue.get(job_id).state is JobState.INTERRUPTED
        return job_id

    job_id = asyncio.run(scenario())
    assert len(moves.started) == 1
    assert store.get(job_id).state == JobState.INTERRUPTED
    store.close()


def _crash_with_two_running_and_two_waiting(tmp_path: Path) -> list[int]:
    """Rows as a kill -9 of the window leaves them: 2 running (counts reached), 2 queued."""
    store = JobStore(tmp_path / "jobs.db")
    ids = [store.add(pacs_json=NODE.to_json(), destination="WS", study_uid=f"{STUDY}.{n}",
                     label=f"Crash^{n} — CT") for n in range(4)]
    for job_id in ids[:2]:
        store.started(job_id)
        store.progress(job_id, total=10, completed=3, failed=0, warning=0)
    store._db.close()  # the process dies: no clean close  # noqa: SLF001
    return ids


def test_after_a_crash_the_waiting_sends_are_offered_with_the_interrupted_ones(
        tmp_path: Path) -> None:
    """Review of issue 11: a kill -9 with 2 running and 2 waiting offered only the 2 running;
    the waiting ones (a STAT one among them) stayed "queued" where the window never looked."""
    ids = _crash_with_two_running_and_two_waiting(tmp_path)
    store = JobStore(tmp_path / "jobs.db")
    try:
        offered = offered_for_resume(store)
        assert [job.id for job in offered] == ids
        question = resume_question(offered)
        assert question is not None and question.text.startswith("4 send(s) did not finish")
        assert question.text.count("was waiting, not started") == 2
        assert question.text.count("3 of 10 images") == 2
    finally:
        store.close()


def test_a_read_only_command_after_a_crash_does_not_hide_the_sends(tmp_path: Path) -> None:
    """Review of issue 11: ``queue list`` (which opens jobs.db and marks the dead process's
    sends interrupted) used to leave the window's next start offering nothing."""
    ids = _crash_with_two_running_and_two_waiting(tmp_path)
    JobStore(tmp_path / "jobs.db").close()  # the first open (queue list) marks them
    store = JobStore(tmp_path / "jobs.db")
    try:
        assert store.interrupted == []  # this open found nothing running
        assert [job.id for job in offered_for_resume(store)] == ids
    finally:
        store.close()


def test_resuming_takes_the_sends_over_as_queue_run_does(tmp_path: Path) -> None:
    """Review of issue 11: a window resume left the old rows "interrupted" for ever (history
    in orange, ``queue list --state interrupted``); now they read "requeued" as after
    ``queue run``, and a second taker gets nothing."""
    ids = _crash_with_two_running_and_two_waiting(tmp_path)
    store = JobStore(tmp_path / "jobs.db")
    try:
        claimed = take_over(store, offered_for_resume(store)[:3])
        assert [job.id for job in claimed] == ids[:3]
        assert [store.get(i).state for i in ids] == [JobState.REQUEUED] * 3 + [JobState.QUEUED]
        assert take_over(store, claimed) == []  # never taken twice
        assert [job.id for job in store.claim_queued()] == ids[3:]
    finally:
        store.close()


def test_cancel_them_records_the_unfinished_sends_cancelled(tmp_path: Path) -> None:
    ids = _crash_with_two_running_and_two_waiting(tmp_path)
    store = JobStore(tmp_path / "jobs.db")
    try:
        assert store.cancel_unfinished(ids) == ids
        assert {store.get(i).state for i in ids} == {JobState.CANCELLED}
        assert store.get(ids[0]).completed == 3  # counts reached are kept
        assert offered_for_resume(store) == [] and store.claim_queued() == []
    finally:
        store.close()
