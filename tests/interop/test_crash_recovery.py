"""A queue process killed (SIGKILL) mid-move against dcmqrscp loses no job and resumes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from dicom_courier.core.demo.workstation import Workstation
from dicom_courier.core.dimse.engine import Courier
from dicom_courier.core.jobs.queue import JobLabel, JobState, MoveQueue
from dicom_courier.core.jobs.store import INTERRUPTED, JobStore
from dicom_courier.core.qr.query import MoveRequest, MoveTarget
from tests.interop.conftest import node_for
from tests.peers import INTEROP_STUDIES

CHILD = """
import asyncio, sys
from pathlib import Path
from dicom_courier.core.dimse.engine import Courier
from dicom_courier.core.config.profiles import PacsNode, Timeouts
from dicom_courier.core.qr.query import MoveRequest, MoveTarget
from dicom_courier.core.jobs.queue import MoveQueue
from dicom_courier.core.jobs.store import JobStore

port, aet, db, uids = int(sys.argv[1]), sys.argv[2], Path(sys.argv[3]), sys.argv[4:]
node = PacsNode(name="qr", called_aet=aet, host="127.0.0.1", port=port,
                timeouts=Timeouts(idle=30))

async def main():
    with Courier() as courier:
        queue = MoveQueue(courier, lambda job: None, per_pacs_limit=1,
                          store=JobStore(db, checkpoint_interval=0.1))
        for uid in uids:
            queue.submit(node, MoveRequest(MoveTarget(uid), "STORESCP"))
        await asyncio.sleep(3600)

asyncio.run(main())
"""


def test_sigkill_mid_move_then_restart_and_resume(dcmqrscp: Any, slow_destination: Workstation,
                                                  tmp_path: Path) -> None:
    specs = INTEROP_STUDIES[:2]
    db = tmp_path / "jobs.db"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(dcmqrscp.port), dcmqrscp.aet,
                              str(db), *[s.study_uid for s in specs]])
    try:
        deadline = time.monotonic() + 20
        while slow_destination.received_count < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)  # past a progress checkpoint
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)

    store = JobStore(db)  # "the next start"
    first, second = store.jobs()
    assert [first.study_uid, second.study_uid] == [s.study_uid for s in specs]
    assert first.state == INTERRUPTED and 1 <= first.completed < 6 and first.total == 6
    assert second.state == "queued"

    async def resume() -> list[JobState]:
        with Courier() as courier:
            queue = MoveQueue(courier, lambda job: None, store=store)
            ids = [queue.submit(node_for(dcmqrscp), MoveRequest(MoveTarget(job.study_uid),
                                                               "STORESCP"),
                                JobLabel(), retry_of=job.id) for job in (first, second)]
            deadline = asyncio.get_running_loop().time() + 30
            while not all(queue.get(i).state.is_finished for i in ids):
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.05)
            return [queue.get(i).state for i in ids]

    assert asyncio.run(resume()) == [JobState.COMPLETED, JobState.COMPLETED]
    assert slow_destination.received_count == 12  # every image of both studies arrived
    rows = store.jobs()
    assert [r.retry_of for r in rows[2:]] == [first.id, second.id]
