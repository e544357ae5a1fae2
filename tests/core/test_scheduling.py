"""Which queued move starts next: priority, per-PACS and global limits, pause, reordering.

The scheduler runs on scripted moves (:mod:`tests.fakes.fake_move`): start order is read from
the queue's own announcements (the RUNNING snapshot of each job), the DIMSE priority from the
request each move was started with. One test checks, over TCP against the demo PACS, that
this priority is what the PACS receives in the C-MOVE request (PS3.7 9.1.1.1).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pynetdicom.events import Event

from dicom_courier.core.config.profiles import PacsNode, Timeouts
from dicom_courier.core.demo.pacs import DemoPacs
from dicom_courier.core.demo.serving import BackgroundScp
from dicom_courier.core.demo.synthetic import StudySpec
from dicom_courier.core.demo.workstation import Workstation
from dicom_courier.core.dimse.engine import Courier
from dicom_courier.core.jobs.queue import JobState, MoveQueue
from dicom_courier.core.qr.query import MoveRequest, MoveTarget, Priority
from tests.fakes.fake_move import FakeMoves, MoveScript, QueueWatch

#: Seconds a scenario waits for the queue before it fails (rather than hangs).
WAIT = 20.0
STUDIES = [StudySpec(key=f"sched-{i}", patient_name=f"Sched^P{i}", patient_id=f"S{i}",
                     series_count=1, instances_per_series=2) for i in range(6)]
NODE = PacsNode(name="first", called_aet="PACS1", host="127.0.0.1", port=11112)
OTHER = PacsNode(name="second", called_aet="PACS2", host="127.0.0.1", port=11113)


def _request(spec: StudySpec, priority: Priority = Priority.MEDIUM) -> MoveRequest:
    return MoveRequest(MoveTarget(spec.study_uid), "WS", priority=priority)


async def settle() -> None:
    """Let the callbacks the queue already scheduled run (three loop turns, no time passes):
    for asserting that something did *not* happen, such as a start while paused."""
    for _ in range(3):
        await asyncio.sleep(0)


def test_high_priority_submitted_last_starts_first() -> None:
    """Limit 1: while one move runs, LOW, MEDIUM, LOW, HIGH queue up; HIGH goes next, then
    MEDIUM, then the LOWs first come first served. Each move is asked at its job's priority."""
    watch = QueueWatch()
    moves = FakeMoves([MoveScript(hold=True)])  # the first one runs until the test says

    async def scenario() -> list[int]:
        queue = MoveQueue(None, watch, per_pacs_limit=1, start_move=moves)
        blocker = queue.submit(NODE, _request(STUDIES[0]))
        (first,) = await moves.until_started(1)
        ids = [queue.submit(NODE, _request(STUDIES[1], Priority.LOW)),
               queue.submit(NODE, _request(STUDIES[2]), priority=Priority.MEDIUM),
               queue.submit(NODE, _request(STUDIES[3], Priority.LOW)),
               queue.submit(NODE, _request(STUDIES[4]), priority=Priority.HIGH)]
        assert [j.job_id for j in queue.queued()] == [ids[3], ids[1], ids[0], ids[2]]
        first.finish()
        await watch.until(lambda: all(j.state.is_finished for j in queue.jobs()), WAIT)
        assert all(j.state is JobState.COMPLETED for j in queue.jobs())
        return [blocker, *ids]

    blocker, low1, medium, low2, high = asyncio.run(scenario())
    assert watch.starts == [blocker, high, medium, low1, low2]
    asked = {move.request.target.study_uid: move.request.priority for move in moves.started}
    assert [asked[s.study_uid] for s in STUDIES[:5]] == [
        Priority.MEDIUM, Priority.LOW, Priority.MEDIUM, Priority.LOW, Priority.HIGH]
    assert watch.most_running == 1


def test_jobs_submitted_together_start_by_priority() -> None:
    """Submitted in one go, the first does not grab the slot before the HIGH one is seen."""
    watch = QueueWatch()

    async def scenario() -> list[int]:
        queue = MoveQueue(None, watch, per_pacs_limit=1, start_move=FakeMoves())
        ids = [queue.submit(NODE, _request(spec, priority))
               for spec, priority in zip(STUDIES, (Priority.LOW, Priority.MEDIUM,
                                                   Priority.HIGH), strict=False)]
        await watch.until(lambda: all(j.state.is_finished for j in queue.jobs()), WAIT)
        return ids

    low, medium, high = asyncio.run(scenario())
    assert watch.starts == [high, medium, low]


def test_global_cap_holds_across_pacs() -> None:
    """Two PACS, two slots each, three in all: never more than three moves run at once."""
    watch = QueueWatch()
    moves = FakeMoves(default=MoveScript(images=3))

    async def scenario() -> None:
        queue = MoveQueue(None, watch, per_pacs_limit=2, global_limit=3, start_move=moves)
        for node in (NODE, OTHER):
            for spec in STUDIES[:3]:
                queue.submit(node, _request(spec))
        await watch.until(lambda: all(j.state.is_finished for j in queue.jobs()), WAIT)
        assert all(j.state is JobState.COMPLETED for j in queue.jobs())

    asyncio.run(scenario())
    assert watch.most_running == 3
    assert watch.most_per_pacs == 2
    assert len(moves.started) == 6


def test_pause_starts_nothing_new_and_resume_goes_on() -> None:
    """Paused: the running move finishes, the queued one waits; resumed: it runs."""
    watch = QueueWatch()
    moves = FakeMoves([MoveScript(hold=True)])

    async def scenario() -> None:
        queue = MoveQueue(None, watch, per_pacs_limit=1, start_move=moves)
        first = queue.submit(NODE, _request(STUDIES[0]))
        second = queue.submit(NODE, _request(STUDIES[1]))
        (running,) = await moves.until_started(1)
        queue.pause()
        assert queue.paused
        running.finish()
        await watch.until(lambda: queue.get(first).state.is_finished, WAIT)
        await settle()  # the freed slot has been offered
        assert queue.get(first).state is JobState.COMPLETED
        assert queue.get(second).state is JobState.QUEUED  # nothing new while paused
        third = queue.submit(NODE, _request(STUDIES[2]))
        await settle()
        assert queue.get(third).state is JobState.QUEUED
        assert len(moves.started) == 1  # the PACS was asked for nothing else
        queue.resume()
        assert not queue.paused
        await watch.until(lambda: all(j.state.is_finished for j in queue.jobs()), WAIT)
        assert [j.state for j in queue.jobs()] == [JobState.COMPLETED] * 3
        assert watch.starts == [first, second, third]

    asyncio.run(scenario())


def test_reorder_and_move_up_down_change_what_starts_next() -> None:
    watch = QueueWatch()

    async def scenario() -> list[int]:
        queue = MoveQueue(None, watch, per_pacs_limit=1, start_move=FakeMoves())
        queue.pause()
        a, b, c, d = (queue.submit(NODE, _request(spec)) for spec in STUDIES[:4])
        queue.reorder(d, 0)               # d a b c
        queue.move_down(a)                # d b a c
        queue.move_up(c)                  # d b c a
        queue.move_up(d)                  # the first stays first
        queue.reorder(b, 99)              # clamped to the end: d c a b
        assert [j.job_id for j in queue.queued()] == [d, c, a, b]
        queue.resume()
        await watch.until(lambda: queue.get(d).state is not JobState.QUEUED, WAIT)
        with pytest.raises(ValueError, match="queued"):
            queue.move_up(d)              # no longer queued
        await watch.until(lambda: all(j.state.is_finished for j in queue.jobs()), WAIT)
        return [d, c, a, b]

    expected = asyncio.run(scenario())
    assert watch.starts == expected


def test_cancelled_queued_job_leaves_the_run_order() -> None:
    watch = QueueWatch()
    moves = FakeMoves()

    async def scenario() -> None:
        queue = MoveQueue(None, watch, per_pacs_limit=1, start_move=moves)
        queue.pause()
        a, b = (queue.submit(NODE, _request(spec)) for spec in STUDIES[:2])
        queue.cancel(a)
        assert [j.job_id for j in queue.queued()] == [b]
        queue.resume()
        await watch.until(lambda: queue.get(b).state.is_finished, WAIT)
        assert queue.get(a).state is JobState.CANCELLED and queue.get(a).started_at is None
        assert queue.get(b).state is JobState.COMPLETED
        assert [m.request.target.study_uid for m in moves.started] == [STUDIES[1].study_uid]

    asyncio.run(scenario())


# ---------------------------------------------------------------- the priority on the wire


class RecordingPacs(DemoPacs):
    """The demo PACS, noting the study and DIMSE priority of every C-MOVE it is asked for."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.moves: list[tuple[str, int]] = []
        self._moves_lock = threading.Lock()

    def _on_move(self, event: Event, scp: BackgroundScp) -> Iterator[Any]:
        with self._moves_lock:
            self.moves.append((str(event.identifier.StudyInstanceUID),
                               int(event.request.Priority)))
        yield from super()._on_move(event, scp)


@pytest.fixture
def workstation(tmp_path: Path) -> Iterator[Workstation]:
    with Workstation(tmp_path / "ws", ae_title="WS") as ws:
        yield ws


@pytest.mark.network
def test_the_pacs_receives_each_jobs_priority(workstation: Workstation) -> None:
    """The queue's real move factory asks the PACS at the job's priority (HIGH is 1, LOW 2)."""
    watch = QueueWatch()
    wanted = {STUDIES[0].study_uid: Priority.HIGH, STUDIES[1].study_uid: Priority.LOW,
              STUDIES[2].study_uid: Priority.MEDIUM}

    async def scenario() -> dict[str, int]:
        with RecordingPacs(STUDIES[:3], destinations={"WS": ("127.0.0.1", workstation.port)},
                           store_delay=0.0) as pacs, Courier() as courier:
            node = PacsNode(name="demo", called_aet=pacs.ae_title, host="127.0.0.1",
                            port=pacs.port, timeouts=Timeouts(idle=10))
            queue = MoveQueue(courier, watch, per_pacs_limit=3)
            for spec in STUDIES[:3]:
                queue.submit(node, _request(spec, wanted[spec.study_uid]))
            await watch.until(lambda: all(j.state.is_finished for j in queue.jobs()), WAIT)
            assert all(j.state is JobState.COMPLETED for j in queue.jobs())
            return dict(pacs.moves)

    assert asyncio.run(scenario()) == {uid: int(p) for uid, p in wanted.items()}
