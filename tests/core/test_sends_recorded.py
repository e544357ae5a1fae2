"""Every send is recorded, whoever sends it; and two processes never queue one send twice."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dicom_courier.core.demo.pacs import DemoPacs
from dicom_courier.core.demo.synthetic import StudySpec
from dicom_courier.core.demo.workstation import Workstation
from dicom_courier.core.jobs.store import JobStore
from tests.cli_runner import run_cli
from tests.core.test_store_faults import _held

SPEC = StudySpec(key="rec-1", patient_name="Rec^Test", patient_id="R1", series_count=1,
                 instances_per_series=4)
PACS_JSON = {"name": "Main", "called_aet": "PACS", "host": "h", "port": 104}


def cli(*args: str, config_dir: Path) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, config_dir=config_dir)  # in-process (tests/cli_runner.py)


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


HELD_ADD = """
import sys
from pathlib import Path
from dicom_courier.core.jobs.store import JobStore
store = JobStore(Path(sys.argv[1]))
insert = store._insert
def held_insert(**kwargs):
    print("looked", flush=True)
    sys.stdin.read()  # between its look-up and its insert until the other process writes
    return insert(**kwargs)
store._insert = held_insert
print(store.add_once(pacs_json={"name": "Main"}, destination="WS", study_uid="1.2.3")[0])
"""


def test_two_processes_adding_the_same_study_make_one_job(tmp_path: Path) -> None:
    """The first process has looked and not inserted yet; the second starts its add. No
    sleep decides the order: the first goes on (its stdin closed) the moment the second
    begins a write statement (BEGIN, or an INSERT after a look-up outside the transaction),
    so an add whose look-up and insert are not one transaction makes two jobs, every time."""
    db = tmp_path / "jobs.db"
    JobStore(db).close()
    first = subprocess.Popen([sys.executable, "-c", HELD_ADD, str(db)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    assert first.stdin is not None and first.stdout is not None
    try:
        assert first.stdout.readline().strip() == "looked"
        second = JobStore(db)

        def release_first(statement: str) -> None:  # as a statement starts, before it waits
            if statement.lstrip().upper().startswith(("BEGIN", "INSERT")):
                assert first.stdin is not None
                if not first.stdin.closed:
                    first.stdin.close()

        second._db.set_trace_callback(release_first)
        job_id, waiting = second.add_once(pacs_json={"name": "main"}, destination="WS",
                                          study_uid="1.2.3")
        second._db.set_trace_callback(None)
        assert first.stdin.closed  # the first add really was waiting on ours
        assert first.stdout.readline().strip() == str(job_id)
        assert first.wait(timeout=10) == 0
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert waiting is not None  # it waited for the first transaction and found its job
    assert len(JobStore(db).jobs()) == 1


#: How many ``queue add`` commands race. With the look-up outside the transaction, 4 made two
#: jobs in most runs, 2 in few (the row above catches that order every time).
PROCESSES = 4

#: ``dicom-courier ARGS`` once imported and told to go (a line on stdin): started together.
ON_GO = ("import sys; from dicom_courier.core.cli.main import run;"
         "import dicom_courier.core.cli.queue_cmd; print('ready', flush=True);"
         "sys.stdin.readline(); sys.exit(run(sys.argv[1:]))")


def test_concurrent_queue_add_commands_make_one_job(tmp_path: Path) -> None:
    added = cli("nodes", "add", "Main", "--host", "127.0.0.1", "--port", "104", "--aet", "PACS",
                "--dest", "WS", config_dir=tmp_path)
    assert added.returncode == 0, added.stderr
    runs = [subprocess.Popen([sys.executable, "-c", ON_GO, "--config-dir", str(tmp_path),
                              "queue", "add", "--pacs", "Main", "--study", "1.2.3"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(PROCESSES)]
    try:
        for run in runs:  # every one imported: the race is between the adds, not the imports
            assert run.stdout is not None and run.stdout.readline().strip() == "ready"
        for run in runs:
            assert run.stdin is not None
            run.stdin.write("go\n")
            run.stdin.flush()
        outputs = [run.communicate(timeout=30) for run in runs]
    finally:
        for run in runs:
            if run.poll() is None:
                run.kill()
                run.wait()
    assert all(run.returncode == 0 for run in runs), outputs
    assert len(_listed(tmp_path)) == 1

