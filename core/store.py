"""The durable record of every send: SQLite in WAL mode, written before anything is shown.

Issue 4 builds the durable queue on this; today it records jobs and their history so that a
crash (SIGKILL, power loss) leaves every job on disk: the next start finds jobs that were
running as "interrupted", with the counts they had reached. A damaged database never stops the
app from starting: it is moved aside (its new name is reported) and a fresh one is created.
"""

from __future__ import annotations

import getpass
import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    state           TEXT NOT NULL,
    os_user         TEXT NOT NULL,
    pacs            TEXT NOT NULL,          -- profile as JSON (who was asked)
    destination     TEXT NOT NULL,
    patient_id      TEXT NOT NULL DEFAULT '',
    study_uid       TEXT NOT NULL,
    series_uids     TEXT NOT NULL DEFAULT '[]',
    label           TEXT NOT NULL DEFAULT '',
    queued_at       REAL NOT NULL,          -- wall-clock seconds (UTC epoch)
    started_at      REAL,
    finished_at     REAL,
    total           INTEGER,
    completed       INTEGER NOT NULL DEFAULT 0,
    failed          INTEGER NOT NULL DEFAULT 0,
    warning         INTEGER NOT NULL DEFAULT 0,
    status          INTEGER,
    error           TEXT,
    retry_of        INTEGER REFERENCES jobs(id),
    priority        INTEGER NOT NULL DEFAULT 0,  -- DIMSE priority value (core.query.Priority)
    attempt         INTEGER NOT NULL DEFAULT 1,
    next_retry_at   REAL,                        -- wall clock, for automatic retries
    failed_uids     TEXT NOT NULL DEFAULT '[]',  -- Failed SOP Instance UID List (JSON)
    sop_uids        TEXT NOT NULL DEFAULT '[]',  -- IMAGE-level target (retry of failed images)
    error_type      TEXT
);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs(state);
CREATE TABLE IF NOT EXISTS destinations (
    pacs            TEXT NOT NULL,               -- profile name
    destination     TEXT NOT NULL,
    last_success_at REAL,
    last_unknown_at REAL,                        -- last 0xA801 "move destination unknown"
    PRIMARY KEY (pacs, destination)
);
"""

#: States in which a job was still being worked on; after a restart they are "interrupted".
UNFINISHED = ("running", "cancelling", "retrying")
INTERRUPTED = "interrupted"
#: A queued or interrupted job a runner took over: a later job (``retry_of`` = its id) runs it.
REQUEUED = "requeued"
#: States a runner may take a job from (``JobStore.claim_queued``): not sent yet, and no
#: process is sending it (whoever runs jobs holds the profile's ``instance_lock``).
CLAIMABLE = ("queued", INTERRUPTED, "retrying")
#: States in which a job is over for good; only these are ever deleted by retention.
FINISHED = ("completed", "partial", "failed", "cancelled", REQUEUED)


@dataclass(frozen=True)
class StoredJob:
    """One row of the history, as an immutable value."""

    id: int
    state: str
    os_user: str
    pacs_name: str
    destination: str
    patient_id: str
    study_uid: str
    series_uids: tuple[str, ...]
    label: str
    queued_at: float
    started_at: float | None
    finished_at: float | None
    total: int | None
    completed: int
    failed: int
    warning: int
    status: int | None
    error: str | None
    retry_of: int | None
    priority: int = 0
    attempt: int = 1
    next_retry_at: float | None = None
    failed_uids: tuple[str, ...] = ()
    sop_uids: tuple[str, ...] = ()
    error_type: str | None = None


class JobStore:
    """Open (or repair) the database at ``path``; every write commits at once."""

    def __init__(self, path: Path, *, checkpoint_interval: float = 0.5) -> None:
        self.path = path
        self.checkpoint_interval = checkpoint_interval
        self.moved_aside: Path | None = None
        self._last_checkpoint: dict[int, float] = {}
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = self._open()
        except sqlite3.DatabaseError:
            self.moved_aside = self._move_aside()
            self._db = self._open()
        self.interrupted = self._mark_interrupted()

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=5.0, isolation_level=None,
                             check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.executescript(SCHEMA)
            db.execute("SELECT count(*) FROM jobs").fetchone()
            check = db.execute("PRAGMA quick_check").fetchone()
            if check is None or check[0] != "ok":
                raise sqlite3.DatabaseError(f"quick_check: {check}")
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def _move_aside(self) -> Path:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        target = self.path.with_name(f"{self.path.name}.damaged-{stamp}")
        for suffix in ("", "-wal", "-shm"):
            part = Path(f"{self.path}{suffix}")
            if part.exists():
                part.rename(Path(f"{target}{suffix}"))
        return target

    def _mark_interrupted(self) -> list[int]:
        """Jobs a killed process left running: mark them, keep their counts."""
        rows = self._db.execute(
            f"SELECT id FROM jobs WHERE state IN ({','.join('?' * len(UNFINISHED))})",
            UNFINISHED).fetchall()
        ids = [row[0] for row in rows]
        if ids:
            with self._transaction():
                self._db.executemany("UPDATE jobs SET state=? WHERE id=?",
                                     [(INTERRUPTED, i) for i in ids])
        return ids

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # ------------------------------------------------------------------ writes

    def add(self, *, pacs_json: dict[str, object], destination: str, study_uid: str,
            series_uids: tuple[str, ...] = (), patient_id: str = "", label: str = "",
            retry_of: int | None = None, queued_at: float | None = None) -> int:
        """Record a queued job; returns its id (committed before the caller shows it)."""
        with self._transaction():
            cursor = self._db.execute(
                "INSERT INTO jobs (state, os_user, pacs, destination, patient_id, study_uid, "
                "series_uids, label, queued_at, retry_of) VALUES (?,?,?,?,?,?,?,?,?,?)",
                ("queued", _os_user(), json.dumps(pacs_json), destination, patient_id,
                 study_uid, json.dumps(list(series_uids)), label,
                 time.time() if queued_at is None else queued_at, retry_of))
        return int(cursor.lastrowid or 0)

    def started(self, job_id: int) -> None:
        with self._transaction():
            self._db.execute("UPDATE jobs SET state='running', started_at=? WHERE id=?",
                             (time.time(), job_id))

    def progress(self, job_id: int, *, total: int | None, completed: int, failed: int,
                 warning: int, force: bool = False) -> bool:
        """A progress checkpoint, at most every ``checkpoint_interval`` s per job (True if
        written), so a large move does not hammer the disk."""
        now = time.monotonic()
        if not force and now - self._last_checkpoint.get(job_id, 0.0) < self.checkpoint_interval:
            return False
        self._last_checkpoint[job_id] = now
        with self._transaction():
            self._db.execute("UPDATE jobs SET total=?, completed=?, failed=?, warning=? "
                             "WHERE id=?", (total, completed, failed, warning, job_id))
        return True

    def set_state(self, job_id: int, state: str) -> None:
        with self._transaction():
            self._db.execute("UPDATE jobs SET state=? WHERE id=?", (state, job_id))

    def finished(self, job_id: int, *, state: str, total: int | None, completed: int,
                 failed: int, warning: int, status: int | None, error: str | None) -> None:
        self._last_checkpoint.pop(job_id, None)
        with self._transaction():
            self._db.execute(
                "UPDATE jobs SET state=?, finished_at=?, total=?, completed=?, failed=?, "
                "warning=?, status=?, error=? WHERE id=?",
                (state, time.time(), total, completed, failed, warning, status, error, job_id))

    # ------------------------------------------------------------------ reads

    def jobs(self, *, states: tuple[str, ...] | None = None) -> list[StoredJob]:
        query = "SELECT * FROM jobs"
        params: tuple[str, ...] = ()
        if states:
            query += f" WHERE state IN ({','.join('?' * len(states))})"
            params = states
        return [_row_to_job(row) for row in self._db.execute(query + " ORDER BY id", params)]

    def get(self, job_id: int) -> StoredJob:
        row = self._db.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()
        if row is None:
            raise KeyError(job_id)
        return _row_to_job(row)

    def close(self) -> None:
        self._db.close()

    # ------------------------------------------- history and the durable queue (append-only)

    def history(self, *, since: float | None = None, until: float | None = None,
                destination: str | None = None, state: str | None = None,
                patient_id: str | None = None) -> list[StoredJob]:
        """Jobs queued in ``[since, until)`` (wall-clock epoch), newest first.

        The narrowing the index can do is done here; free-text search is the caller's
        (:mod:`.history`), because the PACS name lives inside the profile JSON.
        """
        clauses: list[str] = []
        params: list[object] = []
        for clause, value in (("queued_at >= ?", since), ("queued_at < ?", until),
                              ("destination = ?", destination), ("state = ?", state),
                              ("patient_id = ?", patient_id)):
            if value is not None:
                clauses.append(clause)
                params.append(value)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._db.execute(f"SELECT * FROM jobs{where} ORDER BY queued_at DESC, id DESC",
                                params)
        return [_row_to_job(row) for row in rows]

    def states(self) -> list[str]:
        """Every state some job is in (so a filter can accept states added later)."""
        return [str(row[0]) for row in
                self._db.execute("SELECT DISTINCT state FROM jobs ORDER BY state")]

    def destinations_used(self) -> list[str]:
        """Every destination a job was ever queued for, for filter choices."""
        return [str(row[0]) for row in
                self._db.execute("SELECT DISTINCT destination FROM jobs ORDER BY destination")]

    def pacs_json(self, job_id: int) -> dict[str, object]:
        """The PACS profile as it was recorded with the job (who was asked)."""
        row = self._db.execute("SELECT pacs FROM jobs WHERE id=?", (job_id,)).fetchone()
        if row is None:
            raise KeyError(job_id)
        data = json.loads(str(row[0]))
        return data if isinstance(data, dict) else {}

    def successor_of(self, job_id: int) -> int | None:
        """The first later job that continued this one (its ``retry_of``), if any."""
        row = self._db.execute("SELECT id FROM jobs WHERE retry_of=? ORDER BY id LIMIT 1",
                               (job_id,)).fetchone()
        return None if row is None else int(row[0])

    def set_priority(self, job_id: int, priority: int) -> None:
        """Record the DIMSE priority a job asks for (``add`` predates the column)."""
        with self._transaction():
            self._db.execute("UPDATE jobs SET priority=? WHERE id=?", (priority, job_id))

    def claim_queued(self, *, orphan_after: float = 60.0) -> list[StoredJob]:
        """Take every job waiting to run, for one runner: returns them as they were and marks
        them "requeued" (finished now) in one transaction, so two runners never both take one.

        The runner must then submit each again with ``retry_of`` pointing at it. A job that
        already has such a successor was taken over before (the window resumes interrupted
        jobs that way) and is left alone. A job marked "requeued" longer than ``orphan_after``
        seconds ago with no successor lost its runner between the two steps (killed); it is
        claimed again, so no send is lost.
        """
        now = time.time()
        with self._transaction():
            rows = self._db.execute(
                f"SELECT * FROM jobs WHERE (state IN ({','.join('?' * len(CLAIMABLE))}) "
                "OR (state=? AND finished_at < ?)) AND NOT EXISTS "
                "(SELECT 1 FROM jobs AS later WHERE later.retry_of = jobs.id) ORDER BY id",
                (*CLAIMABLE, REQUEUED, now - orphan_after)).fetchall()
            self._db.executemany("UPDATE jobs SET state=?, finished_at=? WHERE id=?",
                                 [(REQUEUED, now, row[0]) for row in rows])
        return [_row_to_job(row) for row in rows]

    def delete_finished_before(self, cutoff: float) -> int:
        """Delete jobs in a finished state that ended before ``cutoff`` (wall-clock epoch).

        Only the states listed in :data:`FINISHED` count: a job queued, running, interrupted
        or in any state added later is never deleted.
        """
        with self._transaction():
            cursor = self._db.execute(
                f"DELETE FROM jobs WHERE state IN ({','.join('?' * len(FINISHED))}) "
                "AND COALESCE(finished_at, started_at, queued_at) < ?", (*FINISHED, cutoff))
        return int(cursor.rowcount)

    # ------------------------------------------------------------------ scheduling and retries

    def set_sop_uids(self, job_id: int, sop_uids: tuple[str, ...]) -> None:
        """Record an IMAGE-level target (a retry of failed images; ``add`` predates the
        column), so a restart re-sends those images and not their whole series."""
        with self._transaction():
            self._db.execute("UPDATE jobs SET sop_uids=? WHERE id=?",
                             (json.dumps(list(sop_uids)), job_id))

    def retrying(self, job_id: int, *, attempt: int, next_retry_at: float,
                 status: int | None, error: str | None, error_type: str | None) -> None:
        """Attempt ``attempt`` failed transiently; the next starts at ``next_retry_at`` (wall
        clock, so it still means something after a restart). The counts reached stay."""
        self._last_checkpoint.pop(job_id, None)
        with self._transaction():
            self._db.execute(
                "UPDATE jobs SET state='retrying', attempt=?, next_retry_at=?, status=?, "
                "error=?, error_type=? WHERE id=?",
                (attempt, next_retry_at, status, error, error_type, job_id))

    def retry_due(self, job_id: int, *, attempt: int) -> None:
        """The retry wait is over: the job waits for a free slot again as attempt ``attempt``."""
        with self._transaction():
            self._db.execute(
                "UPDATE jobs SET state='queued', attempt=?, next_retry_at=NULL WHERE id=?",
                (attempt, job_id))

    def set_failure(self, job_id: int, *, failed_uids: tuple[str, ...],
                    error_type: str | None) -> None:
        """Keep the Failed SOP Instance UID List and the error's type, so the failed images
        alone can still be re-sent after a restart."""
        with self._transaction():
            self._db.execute("UPDATE jobs SET failed_uids=?, error_type=? WHERE id=?",
                             (json.dumps(list(failed_uids)), error_type, job_id))


class AttachedJobStore(JobStore):
    """The job store as a second process sees it while another one holds the profile (the
    window, or ``queue run``): it reads, adds and deletes finished rows, but never marks
    running jobs "interrupted", because they are running, in the other process."""

    def _mark_interrupted(self) -> list[int]:
        return []


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _row_to_job(row: tuple[object, ...]) -> StoredJob:
    (job_id, state, os_user, pacs, destination, patient_id, study_uid, series_uids, label,
     queued_at, started_at, finished_at, total, completed, failed, warning, status, error,
     retry_of, priority, attempt, next_retry_at, failed_uids, sop_uids, error_type) = row
    pacs_data = json.loads(str(pacs))
    return StoredJob(
        id=int(job_id), state=str(state), os_user=str(os_user),  # type: ignore[call-overload]
        pacs_name=str(pacs_data.get("name", "")), destination=str(destination),
        patient_id=str(patient_id), study_uid=str(study_uid),
        series_uids=tuple(json.loads(str(series_uids))), label=str(label),
        queued_at=float(queued_at),  # type: ignore[arg-type]
        started_at=started_at, finished_at=finished_at,  # type: ignore[arg-type]
        total=total, completed=int(completed), failed=int(failed),  # type: ignore[arg-type]
        warning=int(warning), status=status, error=error,  # type: ignore[arg-type]
        retry_of=retry_of, priority=int(priority),  # type: ignore[arg-type]
        attempt=int(attempt), next_retry_at=next_retry_at,  # type: ignore[arg-type]
        failed_uids=tuple(json.loads(str(failed_uids))),
        sop_uids=tuple(json.loads(str(sop_uids))), error_type=error_type)  # type: ignore[arg-type]
