"""The job store keeps every send through crashes, damage and restarts (issue 4 groundwork)."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dicom_courier.core.config.profiles import PacsNode, Timeouts
from dicom_courier.core.demo.pacs import DemoPacs
from dicom_courier.core.demo.synthetic import StudySpec
from dicom_courier.core.demo.workstation import Workstation
from dicom_courier.core.dimse.engine import Courier
from dicom_courier.core.jobs.queue import JobLabel, JobState, MoveQueue
from dicom_courier.core.jobs.store import INTERRUPTED, JobStore
from dicom_courier.core.qr.query import MoveRequest, MoveTarget

PACS_JSON = {"name": "Main", "called_aet": "PACS", "host": "h", "port": 104}


def test_a_job_goes_to_disk_with_every_state_change(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.db", checkpoint_interval=0.5)
    job = store.add(pacs_json=PACS_JSON, destination="WS1", study_uid="1.2.3",
                    patient_id="P1", label="Doe, Jane — CT")
    assert store.get(job).state == "queued"
    store.started(job)
    assert store.progress(job, total=10, completed=1, failed=0, warning=0)
    assert not store.progress(job, total=10, completed=2, failed=0, warning=0)  # throttled
    store.finished(job, state="completed", total=10, completed=10, failed=0, warning=0,
                   status=0, error=None)
    row = JobStore(tmp_path / "jobs.db").get(job)  # a second connection sees it committed
    assert (row.state, row.completed, row.total, row.destination) == ("completed", 10, 10, "WS1")
    assert row.os_user and row.pacs_name == "Main" and row.finished_at is not None


def test_jobs_left_running_are_interrupted_with_their_counts(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.db")
    running = store.add(pacs_json=PACS_JSON, destination="WS1", study_uid="1.2.3")
    store.started(running)
    store.progress(running, total=60, completed=25, failed=1, warning=0, force=True)
    waiting = store.add(pacs_json=PACS_JSON, destination="WS1", study_uid="1.2.4")
    store.close()  # as if the process died here
    again = JobStore(tmp_path / "jobs.db")
    assert again.interrupted == [running]
    row = again.get(running)
    assert (row.state, row.completed, row.failed, row.total) == (INTERRUPTED, 25, 1, 60)
    assert again.get(waiting).state == "queued"


def test_a_damaged_database_is_moved_aside_and_replaced(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    path.write_bytes(b"this is not a database" * 100)
    store = JobStore(path)
    assert store.moved_aside is not None and store.moved_aside.exists()
    assert store.moved_aside.read_bytes().startswith(b"this is not a database")
    assert store.jobs() == []
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


CHILD = """
import asyncio, sys
from pathlib import Path

import pytest
from dicom_courier.core.dimse.engine import Courier
from dicom_courier.core.config.profiles import PacsNode, Timeouts
from dicom_courier.core.qr.query import MoveRequest, MoveTarget
from dicom_courier.core.jobs.queue import MoveQueue
from dicom_courier.core.jobs.store import JobStore

port, db, uids = int(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
node = PacsNode(name="demo", called_aet="DEMOPACS", host="127.0.0.1", port=port,
                timeouts=Timeouts(idle=30))

async def main():
    with Courier() as courier:
        queue = MoveQueue(courier, lambda job: print(job.state.value, flush=True),
                          per_pacs_limit=1, store=JobStore(db, checkpoint_interval=0.1))
        for uid in uids:
            queue.submit(node, MoveRequest(MoveTarget(uid), "WS"))
        await asyncio.sleep(3600)

asyncio.run(main())
"""


@pytest.mark.network
def test_sigkill_mid_move_loses_no_job(tmp_path: Path) -> None:
    specs = [StudySpec(key=f"kill-{i}", patient_name="Kill^Test", patient_id=f"K{i}",
                       series_count=1, instances_per_series=20) for i in range(2)]
    db = tmp_path / "jobs.db"
    with Workstation(tmp_path / "ws", ae_title="WS", store_delay=0.05) as ws, DemoPacs(
            specs, destinations={"WS": ("127.0.0.1", ws.port)}) as pacs:
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(pacs.port), str(db),
             *[s.study_uid for s in specs]], stdout=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 20
            while ws.received_count < 5 and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.3)  # past a progress checkpoint
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.wait(timeout=10)
        received = ws.received_count

    store = JobStore(db)
    jobs = store.jobs()
    assert [j.study_uid for j in jobs] == [s.study_uid for s in specs]  # none lost, none twice
    first, second = jobs
    assert first.state == INTERRUPTED and 1 <= first.completed <= received
    assert second.state == "queued" and second.started_at is None

    # What the window will offer: resume the interrupted send; it completes.
    async def resume() -> JobState:
        with Courier() as courier, Workstation(tmp_path / "ws2", ae_title="WS") as ws2, \
                DemoPacs(specs, destinations={"WS": ("127.0.0.1", ws2.port)}) as pacs2:
            node = PacsNode(name="demo", called_aet="DEMOPACS", host="127.0.0.1",
                            port=pacs2.port, timeouts=Timeouts(idle=30))
            finished = asyncio.Event()
            queue = MoveQueue(courier, lambda job: job.state.is_finished and finished.set(),
                              store=store)
            job_id = queue.submit(node, MoveRequest(MoveTarget(first.study_uid), "WS"),
                                  JobLabel(), retry_of=first.id)
            await asyncio.wait_for(finished.wait(), 30)
            return queue.get(job_id).state

    assert asyncio.run(resume()) is JobState.COMPLETED
    assert store.jobs()[-1].retry_of == first.id and store.jobs()[-1].state == "completed"
