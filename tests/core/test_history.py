"""The history answers "was this study sent, when, to where, by whom, and did every image
arrive?": filters, newest first, CSV, retention, and the durable queue's claim and lock."""

from __future__ import annotations

import csv
import io
import sqlite3
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from dicom_courier.core.jobs.history import (
    CSV_COLUMNS,
    HistoryFilter,
    export_csv,
    known_states,
    local_iso,
    purge_older_than,
    query_history,
)
from dicom_courier.core.jobs.store import AttachedJobStore, JobStore

MAIN = {"name": "Main PACS", "called_aet": "PACS", "host": "h", "port": 104}
BACKUP = {"name": "Backup", "called_aet": "BAK", "host": "h", "port": 105}
DAY = 86400.0
NOW = time.time()


def set_times(store: JobStore, job_id: int, *, started: float | None = None,
              finished: float | None = None) -> None:
    """Back-date a job's start and end (the store stamps them with the current time)."""
    with sqlite3.connect(store.path) as db:
        db.execute("UPDATE jobs SET started_at=?, finished_at=? WHERE id=?",
                   (started, finished, job_id))


def finished_job(store: JobStore, *, state: str = "completed", queued: float = NOW,
                 pacs: dict[str, object] = MAIN, destination: str = "WS1",
                 patient_id: str = "P1", label: str = "", study_uid: str = "1.2.3",
                 completed: int = 6, failed: int = 0, status: int | None = 0,
                 error: str | None = None, retry_of: int | None = None,
                 duration: float = 12.5) -> int:
    job = store.add(pacs_json=pacs, destination=destination, study_uid=study_uid,
                    patient_id=patient_id, label=label, queued_at=queued, retry_of=retry_of)
    store.started(job)
    store.finished(job, state=state, total=completed + failed, completed=completed,
                   failed=failed, warning=0, status=status, error=error)
    set_times(store, job, started=queued + 1, finished=queued + 1 + duration)
    return job


@pytest.fixture
def store(tmp_path: Path) -> JobStore:
    return JobStore(tmp_path / "jobs.db")


def test_filters_narrow_and_the_newest_comes_first(store: JobStore) -> None:
    old = finished_job(store, queued=NOW - 10 * DAY, destination="WS2", patient_id="P2",
                       label="Dubois, Amélie — MR knee")
    failed = finished_job(store, state="failed", queued=NOW - 2 * DAY, completed=0, failed=6,
                          status=0xA702, error="The PACS was out of resources.")
    newest = finished_job(store, queued=NOW - 1 * DAY, pacs=BACKUP,
                          label="Müller, Jürgen — CT chest", study_uid="1.2.840.99")
    # added last but queued before the others: order follows the time queued, not the id
    oldest = finished_job(store, queued=NOW - 30 * DAY, patient_id="P3")

    def ids(**fields: object) -> list[int]:
        return [job.id for job in query_history(store, HistoryFilter(**fields))]  # type: ignore[arg-type]

    assert ids() == [newest, failed, old, oldest]
    assert ids(since=datetime.now() - timedelta(days=5)) == [newest, failed]
    assert ids(until=datetime.now() - timedelta(days=5)) == [old, oldest]
    assert ids(destination="WS2") == [old]
    assert ids(status="failed") == [failed]
    assert ids(patient_id="P3") == [oldest]
    assert ids(patient_id="P") == []  # the patient ID filter is exact; text is for parts
    assert ids(text="MÜLLER") == [newest]  # case-insensitive, beyond ASCII
    assert ids(text="amélie") == [old]
    assert ids(text="840.99") == [newest]  # part of the study UID
    assert ids(text="backup") == [newest]  # the PACS name
    assert ids(text="ws2") == [old]
    assert ids(destination="", status="  ", patient_id="", text="") == ids()  # blank = any
    assert ids(status="completed", text="p3") == [oldest]


def test_csv_has_the_columns_and_values_an_admin_needs(store: JobStore, tmp_path: Path) -> None:
    first = finished_job(store, state="partial", completed=4, failed=2, status=0xB000,
                         error="2 images could not be stored.", label="Yamada, Tarou (山田 太郎)",
                         queued=NOW - 60, duration=42.0)
    again = finished_job(store, retry_of=first, label="Yamada, Tarou (山田 太郎)", queued=NOW)
    waiting = store.add(pacs_json=MAIN, destination="WS1", study_uid="1.2.4",
                        series_uids=("1.2.4.1", "1.2.4.2"))

    path = tmp_path / "out" / "history.csv"
    assert export_csv(query_history(store), path) == 3
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # a spreadsheet then reads UTF-8, not Latin-1
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert CSV_COLUMNS[:5] == ("job id", "OS user", "queued", "started", "finished")
    table = {int(row[0]): dict(zip(CSV_COLUMNS, row, strict=True)) for row in rows[1:]}
    assert [int(row[0]) for row in rows[1:]] == [waiting, again, first]

    partial = table[first]
    assert partial["label"] == "Yamada, Tarou (山田 太郎)"
    assert (partial["total"], partial["completed"], partial["failed"], partial["warning"]) == (
        "6", "4", "2", "0")
    assert partial["final status"] == "partial" and partial["DIMSE status"] == "0xB000"
    assert partial["duration (s)"] == "42.0"
    assert partial["error"] == "2 images could not be stored."
    assert partial["PACS"] == "Main PACS" and partial["destination"] == "WS1"
    assert partial["OS user"] and partial["retry of"] == ""
    queued_at = datetime.fromisoformat(partial["queued"])
    assert queued_at.tzinfo is not None  # local time *with* its offset
    assert abs(queued_at.timestamp() - (NOW - 60)) < 1
    assert partial["queued"] == local_iso(NOW - 60)
    assert table[again]["retry of"] == str(first)
    assert table[again]["DIMSE status"] == "0x0000"

    pending = table[waiting]
    assert pending["series UIDs"] == "1.2.4.1;1.2.4.2"
    assert (pending["started"], pending["finished"], pending["total"]) == ("", "", "")
    assert (pending["final status"], pending["duration (s)"], pending["DIMSE status"]) == (
        "queued", "", "")

    stream = io.StringIO()  # a stream gets the same rows, without the byte-order mark
    export_csv(query_history(store, HistoryFilter(status="partial")), stream)
    assert stream.getvalue().startswith("job id,OS user,")
    assert "山田 太郎" in stream.getvalue() and len(stream.getvalue().splitlines()) == 2


def test_retention_deletes_old_finished_jobs_only(store: JobStore) -> None:
    old_done = finished_job(store, queued=NOW - 200 * DAY)
    old_failed = finished_job(store, state="failed", queued=NOW - 100 * DAY, completed=0)
    recent = finished_job(store, queued=NOW - 10 * DAY)
    # queued long ago but finished last week: it is judged by when it ended
    late = finished_job(store, queued=NOW - 120 * DAY)
    set_times(store, late, started=NOW - 7 * DAY, finished=NOW - 7 * DAY + 5)
    old_queued = store.add(pacs_json=MAIN, destination="WS1", study_uid="1.2.5",
                           queued_at=NOW - 300 * DAY)
    old_running = store.add(pacs_json=MAIN, destination="WS1", study_uid="1.2.7",
                            queued_at=NOW - 300 * DAY)
    store.started(old_running)
    set_times(store, old_running, started=NOW - 300 * DAY)
    store.close()
    store = JobStore(store.path)  # a restart: the running job is now "interrupted"
    assert store.interrupted == [old_running]
    old_retrying = store.add(pacs_json=MAIN, destination="WS1", study_uid="1.2.6",
                             queued_at=NOW - 300 * DAY)
    store.set_state(old_retrying, "retrying")  # waiting for its next automatic attempt

    assert purge_older_than(store, days=90) == 2
    remaining = {job.id for job in store.jobs()}
    assert remaining == {recent, late, old_queued, old_retrying, old_running}
    assert old_done not in remaining and old_failed not in remaining
    assert purge_older_than(store) == 0  # 90 days by default; nothing else is old and done
    assert purge_older_than(store, days=0) == 2  # even "keep nothing" keeps unsent jobs
    assert {job.state for job in store.jobs()} == {"queued", "retrying", "interrupted"}
    with pytest.raises(ValueError):
        purge_older_than(store, days=-1)


def test_a_runner_claims_each_waiting_job_once(store: JobStore) -> None:
    queued = store.add(pacs_json=MAIN, destination="WS1", study_uid="1.2.3")
    store.set_priority(queued, 1)
    done = finished_job(store)
    running = store.add(pacs_json=MAIN, destination="WS1", study_uid="1.2.4")
    store.started(running)
    store.progress(running, total=10, completed=4, failed=0, warning=0, force=True)
    store.close()
    store = JobStore(store.path)

    claimed = store.claim_queued()
    assert [(job.id, job.state, job.priority) for job in claimed] == [
        (queued, "queued", 1), (running, "interrupted", 0)]
    assert store.get(running).state == "requeued" and store.get(running).completed == 4
    assert store.get(done).state == "completed"
    assert store.claim_queued() == []  # taken: a second runner finds nothing
    # the runner submits a successor for one of them, then dies before the other
    successor = store.add(pacs_json=MAIN, destination="WS1", study_uid="1.2.3",
                          retry_of=queued)
    store.started(successor)
    assert store.claim_queued(orphan_after=3600) == []
    orphans = store.claim_queued(orphan_after=-1)  # its runner is long gone: not lost
    assert [job.id for job in orphans] == [running]
    assert store.successor_of(queued) == successor and store.successor_of(successor) is None
    assert store.pacs_json(queued)["name"] == "Main PACS"


def test_a_second_process_attaches_without_taking_running_jobs(store: JobStore) -> None:
    running = store.add(pacs_json=MAIN, destination="WS1", study_uid="1.2.3")
    store.started(running)  # the window is sending it right now
    attached = AttachedJobStore(store.path)
    assert attached.interrupted == [] and attached.get(running).state == "running"
    assert [job.id for job in query_history(attached)] == [running]
    assert attached.claim_queued() == []


def test_a_job_resumed_elsewhere_is_not_claimed_again(store: JobStore) -> None:
    running = store.add(pacs_json=MAIN, destination="WS1", study_uid="1.2.3")
    store.started(running)
    store.close()
    store = JobStore(store.path)
    assert store.interrupted == [running]
    # the window resumes it as a new job pointing at it, and leaves it "interrupted"
    store.add(pacs_json=MAIN, destination="WS1", study_uid="1.2.3", retry_of=running)
    assert [job.retry_of for job in store.claim_queued()] == [running]  # the new one only
    assert store.get(running).state == "interrupted"


def test_known_states_include_those_found_in_the_database(store: JobStore) -> None:
    job = store.add(pacs_json=MAIN, destination="WS1", study_uid="1.2.3")
    store.set_state(job, "paused-by-admin")
    states = known_states(store)
    assert {"queued", "completed", "interrupted", "requeued", "paused-by-admin"} <= set(states)
    assert states == sorted(states)
