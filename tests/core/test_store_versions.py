"""``jobs.db`` files of every earlier format open, keep their jobs and record new sends; a file
from a newer version is refused by name and left byte for byte; one job vocabulary on disk.

The files in ``tests/fixtures/jobs_db`` were written with the SQL of each earlier format
(``make_fixtures.py`` there); each test works on a copy.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
import threading
from pathlib import Path

import pytest

from dicom_courier.core.jobs import queue as queue_module
from dicom_courier.core.jobs.history import known_states
from dicom_courier.core.jobs.job import CLAIMABLE, FINISHED, JobState
from dicom_courier.core.jobs.store import ADDED_COLUMNS, SCHEMA_VERSION, ArrivalRecord, JobStore
from dicom_courier.core.jobs.store_errors import StoreBusy, StoreTooNew
from dicom_courier.core.outcome.events import MoveOutcome
from dicom_courier.core.qr.query import Priority
from tests.cli_runner import run_cli

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "jobs_db"
PACS_JSON: dict[str, object] = {"name": "Main PACS", "called_aet": "MAINPACS",
                                "host": "pacs.example.org", "port": 11112}

#: file -> (what it stands for, whether it carries issue 4's rows)
EARLIER_FILES = {
    "v0_0.1.0.db": ("0.1.0: no version, no priority/retry/SOP UID columns", False),
    "v0_issue4.db": ("issue 4: no version, every column", True),
    "v1_from_0.1.0.db": ("a 0.1.0 file an issue-7 build stamped 1 without the columns", False),
    "v1_issue7.db": ("issue 7/8: version 1, every column", True),
    "v2_issue12.db": ("issues 8-12: version 2, no arrival columns", True),
}
#: What every file holds after opening: id -> (state, total, completed, failed, label).
BASE = {
    1: ("completed", 120, 120, 0, "DOE^JANE — CT chest"),
    2: ("failed", None, 0, 0, "ROE^RICHARD — MR head"),
    3: ("queued", None, 0, 0, "POE^EDGAR — CR hand"),
    4: ("interrupted", 40, 17, 1, "MOE^MARY — US abdomen"),  # a crash left it "running"
}


def _copy(name: str, tmp_path: Path) -> Path:
    target = tmp_path / "jobs.db"
    shutil.copyfile(FIXTURES / name, target)
    return target


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("name", sorted(EARLIER_FILES))
def test_a_file_of_each_earlier_format_opens_migrated_with_its_jobs(name: str,
                                                                    tmp_path: Path) -> None:
    store = JobStore(_copy(name, tmp_path))
    assert store.problem is None and store.moved_aside is None
    assert store._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    columns = {row[1] for row in store._db.execute("PRAGMA table_info(jobs)")}
    assert {column for column, _definition in ADDED_COLUMNS} <= columns
    jobs = {job.id: job for job in store.jobs()}
    assert {i: (j.state, j.total, j.completed, j.failed, j.label)
            for i, j in jobs.items() if i in BASE} == BASE
    assert all(job.pacs_name == "Main PACS" and job.os_user == "alice" for job in jobs.values())
    assert jobs[1].status == 0 and jobs[2].status == 0xA801
    assert jobs[1].series_uids == ("1.2.826.0.1.3680043.2.1143.1.1",)
    issue_4 = EARLIER_FILES[name][1]
    if issue_4:  # what issue 4 recorded survives: priority, retries, failed images
        assert jobs[3].priority == Priority.HIGH
        assert jobs[2].failed_uids == ("1.2.826.0.1.3680043.2.1143.2.1.7",)
        assert (jobs[5].state, jobs[5].attempt, jobs[5].retry_of) == ("interrupted", 2, 2)
        assert jobs[5].sop_uids == ("1.2.826.0.1.3680043.2.1143.2.1.7",)
        assert store.interrupted == [4, 5]
    else:
        assert set(jobs) == set(BASE) and store.interrupted == [4]
        assert all((j.priority, j.attempt, j.sop_uids) == (0, 1, ()) for j in jobs.values())
    assert all(isinstance(job.state, JobState) and job.state in set(JobState)
               for job in jobs.values())
    store.close()


@pytest.mark.parametrize("name", sorted(EARLIER_FILES))
def test_a_send_is_recorded_after_the_upgrade(name: str, tmp_path: Path) -> None:
    """The writes a queued send makes, in the queue's order (0.1.0 files failed at the
    second: ``no such column: priority``), then the same again after a restart."""
    path = _copy(name, tmp_path)
    store = JobStore(path)
    new = store.add(pacs_json=PACS_JSON, destination="WS1", study_uid="1.2.3.4",
                    series_uids=("1.2.3.4.5",), patient_id="PAT-009", label="NEW — CT",
                    retry_of=2)
    store.set_priority(new, int(Priority.HIGH))
    store.set_sop_uids(new, ("1.2.3.4.5.6",))
    store.started(new)
    assert store.progress(new, total=3, completed=1, failed=0, warning=0, force=True)
    store.retrying(new, attempt=1, next_retry_at=2e9, status=0xA702, error="out of resources",
                   error_type="MoveFailed")
    store.retry_due(new, attempt=2)
    store.started(new)
    store.finished(new, state=JobState.PARTIAL, total=3, completed=2, failed=1, warning=0,
                   status=0xB000, error=None)
    store.set_failure(new, failed_uids=("1.2.3.4.5.6",), error_type=None)
    store.close()

    again = JobStore(path)
    job = again.get(new)
    assert (job.state, job.priority, job.attempt, job.sop_uids, job.failed_uids) == (
        JobState.PARTIAL, Priority.HIGH, 2, ("1.2.3.4.5.6",), ("1.2.3.4.5.6",))
    assert (job.total, job.completed, job.failed, job.status, job.retry_of) == (
        3, 2, 1, 0xB000, 2)
    assert again.add_once(pacs_json=PACS_JSON, destination="WS1", study_uid="1.2.826.0.1."
                          "3680043.2.1143.3", series_uids=("1.2.826.0.1.3680043.2.1143.3.1",)
                          )[0] == 3  # the 0.1.0 job still waiting is found, not added again
    claimed = again.claim_queued()  # what 'queue run' sends: the waiting and interrupted ones
    assert [(j.id, j.state) for j in claimed][:2] == [(3, "queued"), (4, "interrupted")]
    assert again.get(3).state is JobState.REQUEUED
    again.close()


def test_the_cli_adds_a_send_to_a_0_1_0_database(tmp_path: Path) -> None:
    """The reported bug, as a person meets it: ``queue add`` on last release's jobs.db."""
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    shutil.copyfile(FIXTURES / "v0_0.1.0.db", data / "jobs.db")

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, config_dir=tmp_path)  # in-process (tests/cli_runner.py)

    saved = cli("nodes", "add", "Main PACS", "--host", "127.0.0.1", "--port", "11112",
                "--aet", "MAINPACS", "--dest", "WS1")
    assert saved.returncode == 0, saved.stderr
    added = cli("queue", "add", "--pacs", "Main PACS", "--study", "1.2.3.4", "--priority",
                "high")
    assert added.returncode == 0, added.stderr
    assert "Queued job 5" in added.stdout and "priority" not in added.stderr
    listed = cli("queue", "list", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    rows = {row["id"]: row for row in json.loads(listed.stdout)}
    assert [rows[i]["state"] for i in sorted(rows)] == [
        "completed", "failed", "queued", "interrupted", "queued"]
    assert rows[5]["priority"] == "high" and rows[1]["label"] == "DOE^JANE — CT chest"


def test_a_0_1_0_file_that_cannot_be_upgraded_now_is_still_listed(tmp_path: Path) -> None:
    """Another process holds the write lock: no upgrade, but the jobs are listed (by column
    name, the missing columns at their defaults) and the upgrade happens at the next change."""
    path = _copy("v0_0.1.0.db", tmp_path)
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    try:
        store = JobStore(path, busy_timeout=0.1)
        assert isinstance(store.problem, StoreBusy)
        jobs = store.jobs()
        assert [(j.id, j.state, j.completed, j.priority) for j in jobs] == [
            (1, "completed", 120, 0), (2, "failed", 0, 0), (3, "queued", 0, 0),
            (4, "running", 17, 0)]  # nobody could mark it yet; listed as it is
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    store.set_priority(3, int(Priority.HIGH))  # the lock is gone: upgraded, then written
    assert store.get(3).priority == Priority.HIGH and store.problem is None
    assert store._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    store.close()


@pytest.mark.parametrize("name", sorted(EARLIER_FILES))
def test_what_arrived_is_recorded_after_the_upgrade_to_version_3(name: str,
                                                                  tmp_path: Path) -> None:
    """Issue 13: a file of every earlier version gains the arrival columns (its jobs read
    "not checked"), and a send to this computer keeps what it received, the arrival words
    and the folder across a restart."""
    path = _copy(name, tmp_path)
    store = JobStore(path)
    assert all((j.received, j.arrival, j.arrival_verified, j.folder) == (None,) * 4
               for j in store.jobs())
    new = store.add(pacs_json=PACS_JSON, destination="@here", study_uid="1.2.3.4")
    store.started(new)
    assert store.arrival_progress(new, ArrivalRecord(received=3, folder="/data/P1/1.2.3.4"),
                                  force=True)
    store.finished(new, state=JobState.PARTIAL, total=8, completed=8, failed=0, warning=0,
                   status=0, error=None,
                   arrival=ArrivalRecord(received=3, words="received 3 of 8 after 30 s",
                                         verified=False))
    store.close()
    job = JobStore(path).get(new)
    assert (job.state, job.received, job.arrival, job.arrival_verified, job.folder) == (
        JobState.PARTIAL, 3, "received 3 of 8 after 30 s", False, "/data/P1/1.2.3.4")


def test_a_version_2_file_listed_read_only_reads_no_arrivals(tmp_path: Path) -> None:
    """Locked by another process: not upgraded yet, listed with the arrival fields unknown."""
    path = _copy("v2_issue12.db", tmp_path)
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    try:
        store = JobStore(path, busy_timeout=0.1)
        assert isinstance(store.problem, StoreBusy)
        jobs = store.jobs()
        assert [j.id for j in jobs] == [1, 2, 3, 4, 5]
        assert all(j.received is None and j.arrival is None for j in jobs)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    store.close()


@pytest.mark.parametrize("journal", ["WAL", "DELETE"])
def test_a_file_from_a_newer_version_is_refused_by_name_and_never_changed(
        journal: str, tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    shutil.copyfile(FIXTURES / "v1_issue7.db", path)
    newer = sqlite3.connect(path, isolation_level=None)
    newer.execute(f"PRAGMA journal_mode={journal}")
    newer.execute("ALTER TABLE jobs ADD COLUMN site TEXT")  # something this version lacks
    newer.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    newer.close()
    before = _digest(path)

    store = JobStore(path)
    assert isinstance(store.problem, StoreTooNew) and store.moved_aside is None
    title = store.problem.title
    assert str(path) in title and f"format {SCHEMA_VERSION + 1}" in title
    assert f"knows up to {SCHEMA_VERSION}" in title
    assert [job.id for job in store.jobs()] == [1, 2, 3, 4, 5]  # listed, read-only
    assert store.get(4).state == "running"  # not marked: this version may not change it
    with pytest.raises(StoreTooNew):
        store.add(pacs_json=PACS_JSON, destination="WS1", study_uid="1.2.9")
    with pytest.raises(StoreTooNew):
        store.finished(1, state=JobState.FAILED, total=None, completed=0, failed=0, warning=0,
                       status=None, error=None)
    store.close()
    assert _digest(path) == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("jobs.db")) in (
        ["jobs.db"], ["jobs.db", "jobs.db-shm", "jobs.db-wal"])


def test_two_processes_upgrading_one_file_at_once_upgrade_it_once(tmp_path: Path) -> None:
    path = _copy("v0_0.1.0.db", tmp_path)
    stores: list[JobStore] = []
    errors: list[BaseException] = []

    def open_store() -> None:
        try:
            stores.append(JobStore(path))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == [] and len(stores) == 2
    columns = [row[1] for row in stores[0]._db.execute("PRAGMA table_info(jobs)")]
    assert len(columns) == len(set(columns)) == 29  # 25 up to version 2, 4 more in 3
    for store in stores:
        store.close()


# ---------------------------------------------------------------------- one job vocabulary


def test_the_queue_the_store_and_the_history_speak_one_state_enum(tmp_path: Path) -> None:
    assert queue_module.JobState is JobState  # old imports keep working
    # the texts on disk are those every earlier version wrote (no migration needed)
    assert [state.value for state in JobState] == [
        "queued", "running", "cancelling", "retrying", "completed", "completed_with_warnings",
        "partial", "failed", "cancelled", "interrupted", "requeued"]
    assert {JobState.of_outcome(outcome) for outcome in MoveOutcome} == {
        JobState.COMPLETED, JobState.COMPLETED_WITH_WARNINGS, JobState.PARTIAL,
        JobState.FAILED, JobState.CANCELLED}
    store = JobStore(tmp_path / "jobs.db")
    job = store.add(pacs_json=PACS_JSON, destination="WS1", study_uid="1.2.3")
    store.finished(job, state=JobState.COMPLETED_WITH_WARNINGS, total=2, completed=2,
                   failed=0, warning=1, status=0xB000, error=None)
    raw = store._db.execute("SELECT state FROM jobs WHERE id=?", (job,)).fetchone()[0]
    assert raw == "completed_with_warnings" and type(raw) is str
    assert store.get(job).state is JobState.COMPLETED_WITH_WARNINGS
    assert set(JobState) <= set(known_states(store))
    store.close()


def test_a_state_this_version_does_not_know_is_shown_as_written_and_never_run(
        tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.db")
    odd = store.add(pacs_json=PACS_JSON, destination="WS1", study_uid="1.2.3", queued_at=1.0)
    store._db.execute("UPDATE jobs SET state='paused-by-admin' WHERE id=?", (odd,))
    state = store.get(odd).state
    assert state == "paused-by-admin" and f"{state}" == "paused-by-admin"
    assert not state.is_finished and state not in CLAIMABLE and state not in FINISHED
    assert "paused-by-admin" in known_states(store)
    assert store.claim_queued() == [] and store.delete_finished_before(2e9) == 0
    assert store.get(odd).state == "paused-by-admin"
    store.close()
