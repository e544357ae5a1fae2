"""Which queued move starts next: priority, per-PACS and global limits, pause, reordering.

Start order is read from the queue's own reports (the RUNNING snapshot of each job), and the
DIMSE priority from what the demo PACS actually received in each C-MOVE request.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pynetdicom.events import Event

from dicom_courier.core.demo.pacs import DemoPacs
from dicom_courier.core.demo.serving import BackgroundScp
from dicom_courier.core.demo.synthetic import StudySpec
from dicom_courier.core.demo.workstation import Workstation
from dicom_courier.core.engine import Courier
from dicom_courier.core.nodes import PacsNode, Timeouts
from dicom_courier.core.query import MoveRequest, MoveTarget, Priority
from dicom_courier.core.queue import JobSnapshot, JobState, MoveQueue

#: Seconds a scenario waits for the queue before it fails (rather than hangs).
WAIT = 20.0
STUDIES = [StudySpec(key=f"sched-{i}", patient_name=f"Sched^P{i}", patient_id=f"S{i}",
                     series_count=1, instances_per_series=2) for i in range(6)]


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


class Starts:
    """The on_change listener: the order jobs started in, and the most that ran at once."""

    def __init__(self) -> None:
        self.order: list[int] = []
        self.states: dict[int, JobSnapshot] = {}
        self.most_running = 0
        self.most_per_pacs: dict[int, int] = {}

    def __call__(self, job: JobSnapshot) -> None:
        previous = self.states.get(job.job_id)
        self.states[job.job_id] = job
        if job.state is JobState.RUNNING and (previous is None
                                              or previous.state is not JobState.RUNNING):
            self.order.append(job.job_id)
        running = [j for j in self.states.values() if j.state is JobState.RUNNING]
        self.most_running = max(self.most_running, len(running))
        for j in running:
            count = sum(1 for other in running if other.pacs.port == j.pacs.port)
            self.most_per_pacs[j.pacs.port] = max(self.most_per_pacs.get(j.pacs.port, 0), count)


def _node(pacs: DemoPacs) -> PacsNode:
    return PacsNode(name=f"demo-{pacs.port}", called_aet=pacs.ae_title, host="127.0.0.1",
                    port=pacs.port, timeouts=Timeouts(idle=10))


def _request(spec: StudySpec, priority: Priority = Priority.MEDIUM) -> MoveRequest:
    return MoveRequest(MoveTarget(spec.study_uid), "WS", priority=priority)


async def until(condition: Callable[[], bool]) -> None:
    """Poll ``condition`` on the loop (the queue reports through callbacks, not awaitables)."""
    async with asyncio.timeout(WAIT):
        while True:
            if condition():
                return
            await asyncio.sleep(0.02)


@pytest.fixture
def workstation(tmp_path: Path) -> Iterator[Workstation]:
    with Workstation(tmp_path / "ws", ae_title="WS") as ws:
        yield ws


def _pacs(ws: Workstation, delay: float = 0.05) -> RecordingPacs:
    return RecordingPacs(STUDIES, destinations={"WS": ("127.0.0.1", ws.port)}, store_delay=delay)


def test_high_priority_submitted_last_starts_first(workstation: Workstation) -> None:
    """Limit 1: while one move runs, LOW, MEDIUM, LOW, HIGH queue up; HIGH goes next, then
    MEDIUM, then the LOWs first come first served. The PACS sees each job's priority."""
    starts = Starts()

    async def scenario() -> tuple[list[int], list[int]]:
        with _pacs(workstation) as pacs, Courier() as courier:
            queue = MoveQueue(courier, starts, per_pacs_limit=1)
            node = _node(pacs)
            blocker = queue.submit(node, _request(STUDIES[0]))
            await until(lambda: queue.get(blocker).state is JobState.RUNNING)
            ids = [queue.submit(node, _request(STUDIES[1], Priority.LOW)),
                   queue.submit(node, _request(STUDIES[2]), priority=Priority.MEDIUM),
                   queue.submit(node, _request(STUDIES[3], Priority.LOW)),
                   queue.submit(node, _request(STUDIES[4]), priority=Priority.HIGH)]
            assert [j.job_id for j in queue.queued()] == [ids[3], ids[1], ids[0], ids[2]]
            await until(lambda: all(j.state.is_finished for j in queue.jobs()))
            assert all(j.state is JobState.COMPLETED for j in queue.jobs())
            by_study = dict(pacs.moves)
            return [blocker, *ids], [by_study[s.study_uid] for s in STUDIES[:5]]

    (blocker, low1, medium, low2, high), wire = asyncio.run(scenario())
    assert starts.order == [blocker, high, medium, low1, low2]
    assert wire == [Priority.MEDIUM, Priority.LOW, Priority.MEDIUM, Priority.LOW, Priority.HIGH]
    assert starts.most_running == 1


def test_jobs_submitted_together_start_by_priority(workstation: Workstation) -> None:
    """Submitted in one go, the first does not grab the slot before the HIGH one is seen."""
    starts = Starts()

    async def scenario() -> list[int]:
        with _pacs(workstation, delay=0.0) as pacs, Courier() as courier:
            queue = MoveQueue(courier, starts, per_pacs_limit=1)
            node = _node(pacs)
            ids = [queue.submit(node, _request(spec, priority))
                   for spec, priority in zip(STUDIES, (Priority.LOW, Priority.MEDIUM,
                                                       Priority.HIGH), strict=False)]
            await until(lambda: all(j.state.is_finished for j in queue.jobs()))
            return ids

    low, medium, high = asyncio.run(scenario())
    assert starts.order == [high, medium, low]


def test_global_cap_holds_across_pacs(workstation: Workstation) -> None:
    """Two PACS, two slots each, three in all: never more than three moves run at once."""
    starts = Starts()

    async def scenario() -> None:
        with _pacs(workstation, 0.1) as first, _pacs(workstation, 0.1) as second, \
                Courier() as courier:
            queue = MoveQueue(courier, starts, per_pacs_limit=2, global_limit=3)
            for pacs in (first, second):
                for spec in STUDIES[:3]:
                    queue.submit(_node(pacs), _request(spec))
            await until(lambda: all(j.state.is_finished for j in queue.jobs()))
            assert all(j.state is JobState.COMPLETED for j in queue.jobs())

    asyncio.run(scenario())
    assert starts.most_running == 3
    assert max(starts.most_per_pacs.values()) == 2


def test_pause_starts_nothing_new_and_resume_goes_on(workstation: Workstation) -> None:
    """Paused: the running move finishes, the queued one waits; resumed: it runs."""
    starts = Starts()

    async def scenario() -> None:
        with _pacs(workstation) as pacs, Courier() as courier:
            queue = MoveQueue(courier, starts, per_pacs_limit=1)
            node = _node(pacs)
            first = queue.submit(node, _request(STUDIES[0]))
            second = queue.submit(node, _request(STUDIES[1]))
            await until(lambda: queue.get(first).state is JobState.RUNNING)
            queue.pause()
            assert queue.paused
            await until(lambda: queue.get(first).state.is_finished)
            await asyncio.sleep(0.2)
            assert queue.get(first).state is JobState.COMPLETED
            assert queue.get(second).state is JobState.QUEUED  # nothing new while paused
            third = queue.submit(node, _request(STUDIES[2]))
            await asyncio.sleep(0.1)
            assert queue.get(third).state is JobState.QUEUED
            queue.resume()
            assert not queue.paused
            await until(lambda: all(j.state.is_finished for j in queue.jobs()))
            assert [j.state for j in queue.jobs()] == [JobState.COMPLETED] * 3
            assert starts.order == [first, second, third]

    asyncio.run(scenario())


def test_reorder_and_move_up_down_change_what_starts_next(workstation: Workstation) -> None:
    starts = Starts()

    async def scenario() -> list[int]:
        with _pacs(workstation, delay=0.0) as pacs, Courier() as courier:
            queue = MoveQueue(courier, starts, per_pacs_limit=1)
            queue.pause()
            node = _node(pacs)
            a, b, c, d = (queue.submit(node, _request(spec)) for spec in STUDIES[:4])
            queue.reorder(d, 0)               # d a b c
            queue.move_down(a)                # d b a c
            queue.move_up(c)                  # d b c a
            queue.move_up(d)                  # the first stays first
            queue.reorder(b, 99)              # clamped to the end: d c a b
            assert [j.job_id for j in queue.queued()] == [d, c, a, b]
            queue.resume()
            await until(lambda: queue.get(d).state is not JobState.QUEUED)
            with pytest.raises(ValueError, match="queued"):
                queue.move_up(d)              # no longer queued
            await until(lambda: all(j.state.is_finished for j in queue.jobs()))
            return [d, c, a, b]

    expected = asyncio.run(scenario())
    assert starts.order == expected


def test_cancelled_queued_job_leaves_the_run_order(workstation: Workstation) -> None:
    async def scenario() -> None:
        with _pacs(workstation, delay=0.0) as pacs, Courier() as courier:
            queue = MoveQueue(courier, lambda job: None, per_pacs_limit=1)
            queue.pause()
            node = _node(pacs)
            a, b = (queue.submit(node, _request(spec)) for spec in STUDIES[:2])
            queue.cancel(a)
            assert [j.job_id for j in queue.queued()] == [b]
            queue.resume()
            await until(lambda: queue.get(b).state.is_finished)
            assert queue.get(a).state is JobState.CANCELLED and queue.get(a).started_at is None
            assert queue.get(b).state is JobState.COMPLETED

    asyncio.run(scenario())
