"""Every send is recorded, whoever sends it; and two processes never queue one send twice."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from dicom_courier.core.demo.pacs import DemoPacs
from dicom_courier.core.demo.synthetic import StudySpec
from dicom_courier.core.demo.workstation import Workstation
from dicom_courier.core.jobs.store import JobStore
from tests.core.test_store_faults import _held

SPEC = StudySpec(key="rec-1", patient_name="Rec^Test", patient_id="R1", series_count=1,
                 instances_per_series=4)
PACS_JSON = {"name": "Main", "called_aet": "PACS", "host": "h", "port": 104}


def cli(*args: str, config_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dicom_courier", "--config-dir",
                           str(config_dir), *args], capture_output=True, text=True, timeout=60)


def _profile(config_dir: Path, pacs: DemoPacs) -> None:
    added = cli("nodes", "add", "Demo", "--host", "127.0.0.1", "--port", str(pacs.port),
                "--aet", pacs.ae_title, "--dest", "WS", config_dir=config_dir)
    assert added.returncode == 0, added.stderr


def _listed(config_dir: Path) -> list[dict[str, Any]]:
    result = cli("queue", "list", "--format", "json", config_dir=config_dir)
    assert result.returncode == 0, result.stderr
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


@pytest.mark.network
def test_a_cli_move_is_recorded_like_a_window_send(tmp_path: Path) -> None:
    with Workstation(tmp_path / "ws", ae_title="WS") as ws, DemoPacs(
            [SPEC], destinations={"WS": ("127.0.0.1", ws.port)}) as pacs:
        _profile(tmp_path, pacs)
        moved = cli("move", "--pacs", "Demo", "--study", SPEC.study_uid, config_dir=tmp_path)
        assert moved.returncode == 0, moved.stderr
    [job] = _listed(tmp_path)
    assert (job["state"], job["completed"], job["total"], job["failed"]) == (
        "completed", 4, 4, 0)
    assert (job["pacs"], job["destination"], job["study_uid"]) == ("Demo", "WS", SPEC.study_uid)
    assert job["os_user"] and job["started"] and job["finished"]


@pytest.mark.network
def test_a_move_that_cannot_be_recorded_is_not_sent(tmp_path: Path) -> None:
    db = tmp_path / "data" / "jobs.db"
    store = JobStore(db)
    store.add(pacs_json=PACS_JSON, destination="WS", study_uid="1.2.3")
    store.close()
    with Workstation(tmp_path / "ws", ae_title="WS") as ws, DemoPacs(
            [SPEC], destinations={"WS": ("127.0.0.1", ws.port)}) as pacs:
        _profile(tmp_path, pacs)
        with _held(db, "exclusive") as holder:
            moved = cli("move", "--pacs", "Demo", "--study", SPEC.study_uid,
                        config_dir=tmp_path)
        assert moved.returncode == 1
        assert f"The job database is busy (held by PID {holder.pid})" in moved.stderr
        assert "Traceback" not in moved.stderr
        assert ws.received_count == 0  # an unauditable send is not made
    assert [j["study_uid"] for j in _listed(tmp_path)] == ["1.2.3"]  # nothing moved aside


SLOW_ADD = """
import sys, time
from pathlib import Path
from dicom_courier.core.jobs.store import JobStore
store = JobStore(Path(sys.argv[1]))
insert = store._insert
def slow_insert(**kwargs):
    print("looked", flush=True)
    time.sleep(1.0)  # between the look-up and the insert, the other process tries its add
    return insert(**kwargs)
store._insert = slow_insert
print(store.add_once(pacs_json={"name": "Main"}, destination="WS", study_uid="1.2.3")[0])
"""


def test_two_processes_adding_the_same_study_make_one_job(tmp_path: Path) -> None:
    db = tmp_path / "jobs.db"
    JobStore(db).close()
    first = subprocess.Popen([sys.executable, "-c", SLOW_ADD, str(db)], stdout=subprocess.PIPE,
                             text=True)
    assert first.stdout is not None and first.stdout.readline().strip() == "looked"
    job_id, waiting = JobStore(db).add_once(pacs_json={"name": "main"}, destination="WS",
                                            study_uid="1.2.3")
    assert first.stdout.readline().strip() == str(job_id)
    first.wait(timeout=10)
    assert waiting is not None  # it waited for the first transaction and found its job
    assert len(JobStore(db).jobs()) == 1


def test_concurrent_queue_add_commands_make_one_job(tmp_path: Path) -> None:
    cli("nodes", "add", "Main", "--host", "127.0.0.1", "--port", "104", "--aet", "PACS",
        "--dest", "WS", config_dir=tmp_path)
    start = time.time() + 1.5
    code = ("import sys, time; t = float(sys.argv[1]); time.sleep(max(0, t - time.time()));"
            "from dicom_courier.core.cli.main import run; sys.exit(run(sys.argv[2:]))")
    runs = [subprocess.Popen([sys.executable, "-c", code, str(start), "--config-dir",
                              str(tmp_path), "queue", "add", "--pacs", "Main", "--study",
                              "1.2.3"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True) for _ in range(4)]
    outputs = [run.communicate(timeout=30) for run in runs]
    assert all(run.returncode == 0 for run in runs), outputs
    assert len(_listed(tmp_path)) == 1

