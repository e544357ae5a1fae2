"""The durable record of every send: SQLite in WAL mode, written before anything is shown.

Issue 4 builds the durable queue on this; today it records jobs and their history so that a
crash (SIGKILL, power loss) leaves every job on disk: the next start finds jobs that were
running as "interrupted", with the counts they had reached. A damaged database never stops the
app from starting: it is moved aside (its new name is reported) and a fresh one is created.

Only damage moves a file aside: SQLite saying "not a database" / "malformed", or a failed
``PRAGMA quick_check``. A database that is locked by another process, on a full disk or in a
read-only folder is healthy: it is opened read-only if it can be (listing works) and every
change raises a typed :class:`.store_errors.StoreError` saying why, with nothing changed. A
store opened that way tries the file again (read-write) at each change, so freeing the disk
or the lock is enough. The file and its ``-wal``/``-shm`` are owner-only (0600, folder 0700).
The format carries ``PRAGMA user_version``; :data:`MIGRATIONS` upgrade older files in place,
and a file from a newer DICOM Courier is never changed (:class:`.store_errors.StoreTooNew`).
Rows are read by column name, so a file of any earlier format can be listed even while it
cannot be upgraded (read-only). States are :class:`.jobs.JobState` values.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import logging
import sqlite3
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dicom_courier.core.config.private_files import (
    create_private_file,
    make_private_dir,
    tighten_file,
)
from dicom_courier.core.jobs.job import CLAIMABLE as CLAIMABLE
from dicom_courier.core.jobs.job import FINISHED as FINISHED
from dicom_courier.core.jobs.job import IN_PROGRESS, JobState, stored
from dicom_courier.core.jobs.job import StoredJob as StoredJob
from dicom_courier.core.jobs.store_errors import (
    StoreBusy,
    StoreDiskFull,
    StoreError,
    StoreReadOnly,
    StoreTooNew,
    classify,
    is_damage,
)

_log = logging.getLogger(__name__)

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
    error_type      TEXT,
    received        INTEGER,                     -- a send to this computer: instances written
    arrival         TEXT,                        -- the arrival check's words, as shown
    arrival_verified INTEGER,                    -- 1 verified, 0 not, NULL not checked
    folder          TEXT                         -- where a send to this computer wrote
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

#: Columns the ``jobs`` table gained after the 0.1.0 format, with their definitions (each
#: has a default, so ``ALTER TABLE ... ADD COLUMN`` fills existing rows).
ADDED_COLUMNS: tuple[tuple[str, str], ...] = (
    ("priority", "INTEGER NOT NULL DEFAULT 0"),
    ("attempt", "INTEGER NOT NULL DEFAULT 1"),
    ("next_retry_at", "REAL"),
    ("failed_uids", "TEXT NOT NULL DEFAULT '[]'"),
    ("sop_uids", "TEXT NOT NULL DEFAULT '[]'"),
    ("error_type", "TEXT"),
    ("received", "INTEGER"),
    ("arrival", "TEXT"),
    ("arrival_verified", "INTEGER"),
    ("folder", "TEXT"),
)


def _add_missing_columns(db: sqlite3.Connection) -> None:
    """Add each of :data:`ADDED_COLUMNS` the ``jobs`` table lacks (the 0.1.0 format had none
    of them); a table that has them all is left as it is."""
    have = {str(row[1]) for row in db.execute("PRAGMA table_info(jobs)")}
    for name, definition in ADDED_COLUMNS:
        if name not in have:
            db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {definition}")


def _index_by_study(db: sqlite3.Connection) -> None:
    """Find a waiting duplicate of a send without a full scan."""
    db.execute("CREATE INDEX IF NOT EXISTS jobs_by_study ON jobs(study_uid, destination)")


#: The format this version writes (``PRAGMA user_version``). Known earlier files:
#: 0 = 0.1.0 (no priority, retry or SOP UID columns) and issue 4's files (all columns), both
#: without a version; 1 = a version stamped by builds whose upgrade did not add the columns
#: (a 0.1.0 file opened by them still lacks them: "no such column: priority"); 2 = issues
#: 7-12 (every column up to ``error_type``); 3 = issue 13 (``received``, ``arrival``,
#: ``arrival_verified``, ``folder``: what arrived where).
SCHEMA_VERSION = 3
Migration = Callable[[sqlite3.Connection], None]
#: ``MIGRATIONS[n]`` upgrades a file of version n to n + 1; all the steps a file needs run in
#: one transaction, after :data:`SCHEMA` created any table the file lacks.
MIGRATIONS: tuple[tuple[Migration, ...], ...] = (
    (_add_missing_columns, _index_by_study),  # 0 -> 1
    (_add_missing_columns,),                  # 1 -> 2: repair files stamped 1 without them
    (_add_missing_columns,),                  # 2 -> 3: the arrival columns (issue 13)
)
#: How long a change waits for another process's lock on the file before StoreBusy (s).
DEFAULT_BUSY_TIMEOUT = 5.0


@dataclass(frozen=True)
class ArrivalRecord:
    """What arrived for one send, as ``jobs.db`` keeps it (schema 3).

    ``received``: instances written to this computer (None: a send elsewhere); ``words``: the
    arrival check's words as shown (None: not checked yet); ``verified``: None when not
    checked; ``folder``: where a send to this computer wrote (None keeps the recorded one).
    """

    received: int | None = None
    words: str | None = None
    verified: bool | None = None
    folder: str | None = None


class _Damaged(Exception):
    """PRAGMA quick_check found damage."""

# The states come from core.jobs (the one job vocabulary); these names stay for callers that
# import them from here. CLAIMABLE, FINISHED and StoredJob are re-exported above.
#: States in which a job was still being worked on; after a restart they are "interrupted".
UNFINISHED = IN_PROGRESS
INTERRUPTED = JobState.INTERRUPTED
#: A queued or interrupted job a runner took over: a later job (``retry_of`` = its id) runs it.
REQUEUED = JobState.REQUEUED


class JobStore:
    """Open (or repair) the database at ``path``; every write commits at once.

    ``busy_timeout`` (s): how long a change waits for another process's lock before
    :class:`StoreBusy`. ``allow_unreadable``: if the file cannot even be read (locked
    exclusively, or no database yet on a full or read-only disk), start with an empty
    in-memory view instead of raising (the window uses this and shows :attr:`problem`).

    Raises (without ``allow_unreadable``) :class:`StoreError` when the file can be neither
    written nor read. Afterwards :attr:`problem` is None when changes can be saved, else the
    error every change raises; :attr:`moved_aside` names a damaged file that was moved aside.
    """

    def __init__(self, path: Path, *, checkpoint_interval: float = 0.5,
                 busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
                 allow_unreadable: bool = False) -> None:
        self.path = path
        self.checkpoint_interval = checkpoint_interval
        self.busy_timeout = busy_timeout
        self.moved_aside: Path | None = None
        self.problem: StoreError | None = None
        self.interrupted: list[int] = []
        self._last_checkpoint: dict[int, float] = {}
        self._last_received: dict[int, float] = {}
        try:
            self._db = self._open_writable()
        except StoreError as exc:
            self.problem = exc
            self._db = self._open_for_reading(exc, allow_unreadable=allow_unreadable)
            return
        try:
            self.interrupted = self._mark_interrupted()
        except StoreError as exc:  # readable, but another process holds the write lock
            self.problem = exc

    @property
    def read_only(self) -> bool:
        """True while changes cannot be saved (see :attr:`problem` for why)."""
        return self.problem is not None

    def _open_writable(self) -> sqlite3.Connection:
        """Open read-write; only real damage moves the file aside. Raises StoreError."""
        try:
            make_private_dir(self.path.parent, tighten=True)
            create_private_file(self.path)
            for suffix in ("-wal", "-shm"):  # SQLite gives new ones the database's own mode
                tighten_file(Path(f"{self.path}{suffix}"))
            return self._connect_checked()
        except StoreError:
            raise
        except (sqlite3.Error, OSError, _Damaged) as exc:
            if not (isinstance(exc, _Damaged) or is_damage(exc)):
                raise classify(exc, self.path, waited=self.busy_timeout) from None
            _log.warning("job database %s is damaged (%s); moving it aside", self.path, exc)
        try:
            self.moved_aside = self._move_aside()
            create_private_file(self.path)
            return self._connect_checked()
        except (sqlite3.Error, OSError, _Damaged) as exc:
            raise classify(exc, self.path, waited=self.busy_timeout) from None

    def _connect_checked(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None,
                             check_same_thread=False)
        try:
            # Read the version before anything writes (WAL mode rewrites the file header):
            # a file from a newer version is left exactly as it is.
            version = int(db.execute("PRAGMA user_version").fetchone()[0])
            if version > SCHEMA_VERSION:
                raise StoreTooNew(self.path, version, SCHEMA_VERSION)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            if version < SCHEMA_VERSION:
                _migrate(db)
            db.execute("SELECT count(*) FROM jobs").fetchone()
            check = db.execute("PRAGMA quick_check").fetchone()
            if check is None or check[0] != "ok":
                raise _Damaged(f"quick_check: {check}")
        except BaseException:
            db.close()
            raise
        return db

    def _open_for_reading(self, problem: StoreError, *,
                          allow_unreadable: bool) -> sqlite3.Connection:
        """A read-only view for listing while changes cannot be saved."""
        quoted = urllib.parse.quote(str(self.path))
        uris = [f"file:{quoted}?mode=ro"]
        if isinstance(problem, StoreReadOnly | StoreDiskFull):
            # SQLite cannot make its -shm index here; read the file as it is. A -wal left by
            # a crash is not read this way, so such a listing may miss the last changes.
            uris.append(f"file:{quoted}?mode=ro&immutable=1")
        try:
            has_data = self.path.is_file() and self.path.stat().st_size > 0
        except OSError:
            has_data = True  # cannot even look: try, and report the problem if it fails
        if has_data:
            for uri in uris:
                db = None
                try:
                    waited = isinstance(problem, StoreBusy)  # do not wait a second time
                    db = sqlite3.connect(uri, uri=True,
                                         timeout=0.1 if waited else self.busy_timeout,
                                         isolation_level=None, check_same_thread=False)
                    db.execute("SELECT count(*) FROM jobs").fetchone()
                    return db
                except sqlite3.Error as exc:
                    _log.info("read-only open of %s failed: %s", self.path, exc)
                    if db is not None:
                        db.close()
                    if isinstance(problem, StoreBusy) or "no such table" in str(exc):
                        break
        else:
            return _empty_view()  # no database yet: nothing to list
        if allow_unreadable:
            return _empty_view()
        raise problem

    def _writable(self) -> None:
        """Before a change: if the file could not be written before, try it again now."""
        if self.problem is None:
            return
        try:
            db = self._open_writable()
        except StoreError as exc:
            self.problem = exc
            raise exc from None
        self._db.close()
        self._db = db
        self.problem = None
        if not self.interrupted:
            self.interrupted = self._mark_interrupted()

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
            f"SELECT id FROM jobs WHERE state IN ({','.join('?' * len(UNFINISHED))}) ORDER BY id",
            stored(UNFINISHED)).fetchall()
        ids = [int(row[0]) for row in rows]
        if ids:
            with self._transaction():
                self._db.executemany("UPDATE jobs SET state=? WHERE id=?",
                                     [(INTERRUPTED, i) for i in ids])
        return ids

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One write transaction (BEGIN IMMEDIATE: other writers wait, up to busy_timeout).

        Raises StoreBusy, StoreDiskFull, StoreReadOnly or StoreUnavailable, with the
        transaction rolled back: nothing is half-written.
        """
        self._writable()
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        self._db.execute("ROLLBACK")
                raise
        except (sqlite3.Error, OSError) as exc:
            raise classify(exc, self.path, waited=self.busy_timeout) from None

    # ------------------------------------------------------------------ writes

    def add(self, *, pacs_json: dict[str, object], destination: str, study_uid: str,
            series_uids: tuple[str, ...] = (), patient_id: str = "", label: str = "",
            retry_of: int | None = None, queued_at: float | None = None) -> int:
        """Record a queued job; returns its id (committed before the caller shows it).

        Raises StoreError (busy, disk full, read-only): then nothing was recorded, and the
        caller must not send (a send that is not recorded cannot be audited).
        """
        with self._transaction():
            return self._insert(pacs_json=pacs_json, destination=destination,
                                study_uid=study_uid, series_uids=series_uids,
                                patient_id=patient_id, label=label, retry_of=retry_of,
                                queued_at=queued_at)

    def add_once(self, *, pacs_json: dict[str, object], destination: str, study_uid: str,
                 series_uids: tuple[str, ...] = (), patient_id: str = "", label: str = "",
                 retry_of: int | None = None) -> tuple[int, StoredJob | None]:
        """Like :meth:`add`, unless the same send is already waiting (same PACS name, any
        case; same destination, study and series; a state in :data:`CLAIMABLE`).

        Returns ``(new id, None)``, or ``(its id, the waiting job)`` with nothing added. The
        look-up and the insert are one BEGIN IMMEDIATE transaction, so two processes adding
        the same send at the same moment make one job. Raises StoreError like :meth:`add`.
        """
        name = str(pacs_json.get("name", "")).casefold()
        with self._transaction():
            for job in self._select(
                    f"SELECT * FROM jobs WHERE study_uid=? AND destination=? AND state IN "
                    f"({','.join('?' * len(CLAIMABLE))}) ORDER BY id",
                    (study_uid, destination, *stored(CLAIMABLE))):
                if job.pacs_name.casefold() == name and job.series_uids == tuple(series_uids):
                    return job.id, job
            return self._insert(pacs_json=pacs_json, destination=destination,
                                study_uid=study_uid, series_uids=series_uids,
                                patient_id=patient_id, label=label, retry_of=retry_of,
                                queued_at=None), None

    def _insert(self, *, pacs_json: dict[str, object], destination: str, study_uid: str,
                series_uids: tuple[str, ...], patient_id: str, label: str,
                retry_of: int | None, queued_at: float | None) -> int:
        cursor = self._db.execute(
            "INSERT INTO jobs (state, os_user, pacs, destination, patient_id, study_uid, "
            "series_uids, label, queued_at, retry_of) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (JobState.QUEUED.value, _os_user(), json.dumps(pacs_json), destination, patient_id,
             study_uid, json.dumps(list(series_uids)), label,
             time.time() if queued_at is None else queued_at, retry_of))
        return int(cursor.lastrowid or 0)

    def started(self, job_id: int) -> None:
        """Record that the send's C-MOVE is starting now (RUNNING); raises StoreError like
        :meth:`add`, and then the caller must not send."""
        with self._transaction():
            self._db.execute("UPDATE jobs SET state=?, started_at=? WHERE id=?",
                             (JobState.RUNNING.value, time.time(), job_id))

    def progress(self, job_id: int, *, total: int | None, completed: int, failed: int,
                 warning: int, force: bool = False) -> bool:
        """A progress checkpoint, at most every ``checkpoint_interval`` s per job (True if
        written), so a large move does not hammer the disk.

        Best effort: a checkpoint that cannot be written (busy, disk full) is logged and
        skipped (False); the move goes on and the final counts are written by :meth:`finished`.
        """
        now = time.monotonic()
        if not force and now - self._last_checkpoint.get(job_id, 0.0) < self.checkpoint_interval:
            return False
        self._last_checkpoint[job_id] = now
        try:
            with self._not_synced(), self._transaction():
                self._db.execute("UPDATE jobs SET total=?, completed=?, failed=?, "
                                 "warning=? WHERE id=?",
                                 (total, completed, failed, warning, job_id))
        except StoreError as exc:
            _log.warning("progress of job %d not recorded: %s", job_id, exc.title)
            return False
        return True

    @contextlib.contextmanager
    def _not_synced(self) -> Iterator[None]:
        """Commit without waiting for the disk (WAL, ``synchronous=NORMAL``): a checkpoint is
        best effort, and an fsync on the window's thread while the disk is busy with arriving
        images stalled the window for up to 0.5 s (issue 12, benchmarks/window_gap.py). It
        survives a crash of Courier; a power loss may lose it, never a queued send or a
        state change (those commit with ``synchronous=FULL``, as before)."""
        self._writable()  # first: it may open a new connection (with FULL)
        try:
            self._db.execute("PRAGMA synchronous=NORMAL")
        except (sqlite3.Error, OSError) as exc:
            raise classify(exc, self.path, waited=self.busy_timeout) from None
        try:
            yield
        finally:
            with contextlib.suppress(sqlite3.Error, OSError):
                self._db.execute("PRAGMA synchronous=FULL")

    def set_state(self, job_id: int, state: JobState) -> None:
        """Record ``state`` as it is (its text); raises StoreError like :meth:`add`."""
        with self._transaction():
            self._db.execute("UPDATE jobs SET state=? WHERE id=?", (str(state), job_id))

    def finished(self, job_id: int, *, state: JobState, total: int | None, completed: int,
                 failed: int, warning: int, status: int | None, error: str | None,
                 arrival: ArrivalRecord | None = None) -> None:
        """Record the end of a send: its final state, counts, DIMSE status (PS3.7 C) and the
        error's title, at the wall-clock time now; with ``arrival``, what arrived (same
        transaction). Raises StoreError like :meth:`add`."""
        self._last_checkpoint.pop(job_id, None)
        self._last_received.pop(job_id, None)
        with self._transaction():
            self._db.execute(
                "UPDATE jobs SET state=?, finished_at=?, total=?, completed=?, failed=?, "
                "warning=?, status=?, error=? WHERE id=?",
                (str(state), time.time(), total, completed, failed, warning, status, error, job_id))
            if arrival is not None:
                self._write_arrival(job_id, arrival)

    def arrival_progress(self, job_id: int, arrival: ArrivalRecord, *,
                         force: bool = False) -> bool:
        """A checkpoint of what arrived so far (a send to this computer: ``received`` and
        ``folder``), throttled and best effort like :meth:`progress`; True if written."""
        now = time.monotonic()
        if not force and now - self._last_received.get(job_id, 0.0) < self.checkpoint_interval:
            return False
        self._last_received[job_id] = now
        try:
            with self._not_synced(), self._transaction():
                self._write_arrival(job_id, arrival)
        except StoreError as exc:
            _log.warning("arrivals of job %d not recorded: %s", job_id, exc.title)
            return False
        return True

    def _write_arrival(self, job_id: int, arrival: ArrivalRecord) -> None:
        verified = None if arrival.verified is None else int(arrival.verified)
        self._db.execute(
            "UPDATE jobs SET received=?, arrival=?, arrival_verified=?, "
            "folder=COALESCE(?, folder) WHERE id=?",
            (arrival.received, arrival.words, verified, arrival.folder, job_id))

    # ------------------------------------------------------------------ reads

    def _select(self, query: str, params: Iterable[object] = ()) -> list[StoredJob]:
        """The jobs a ``SELECT * FROM jobs ...`` finds, each row read by column name."""
        cursor = self._db.cursor()
        cursor.row_factory = sqlite3.Row
        return [_row_to_job(row) for row in cursor.execute(query, tuple(params))]

    def jobs(self, *, states: Iterable[JobState] | None = None) -> list[StoredJob]:
        """Every job (or those in ``states``), oldest first."""
        query = "SELECT * FROM jobs"
        params: tuple[str, ...] = ()
        if states:
            params = tuple(str(state) for state in states)
            query += f" WHERE state IN ({','.join('?' * len(params))})"
        return self._select(query + " ORDER BY id", params)

    def get(self, job_id: int) -> StoredJob:
        """The job ``job_id``; raises KeyError if there is none."""
        found = self._select("SELECT * FROM jobs WHERE id=?", (job_id,))
        if not found:
            raise KeyError(job_id)
        return found[0]

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
        return self._select(f"SELECT * FROM jobs{where} ORDER BY queued_at DESC, id DESC",
                            params)

    def states(self) -> list[JobState]:
        """Every state some job is in, as written (so a filter accepts any state found)."""
        return [JobState.read(str(row[0])) for row in
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

    def _unclaimed(self, now: float, orphan_after: float) -> list[StoredJob]:
        return self._select(
            f"SELECT * FROM jobs WHERE (state IN ({','.join('?' * len(CLAIMABLE))}) "
            "OR (state=? AND finished_at < ?)) AND NOT EXISTS "
            "(SELECT 1 FROM jobs AS later WHERE later.retry_of = jobs.id) ORDER BY id",
            (*stored(CLAIMABLE), REQUEUED.value, now - orphan_after))

    def unfinished(self, *, orphan_after: float = 60.0) -> list[StoredJob]:
        """Every send not finished that no process runs: what :meth:`claim_queued` would take
        now (queued, interrupted, waiting to retry, or claimed by a runner that died before
        sending it), in id order. Reads only: the window offers these at start, whoever
        marked them (a crash, a quit, a read-only ``queue list`` after a crash)."""
        return self._unclaimed(time.time(), orphan_after)

    def claim_queued(self, *, orphan_after: float = 60.0) -> list[StoredJob]:
        """Take every job waiting to run, for one runner: returns them as they were and marks
        them "requeued" (finished now) in one transaction, so two runners never both take one.

        The runner must then submit each again with ``retry_of`` pointing at it. A job that
        already has such a successor was taken over before and is left alone. A job marked
        "requeued" longer than ``orphan_after`` seconds ago with no successor lost its runner
        between the two steps (killed); it is claimed again, so no send is lost.
        """
        return self.claim(None, orphan_after=orphan_after)

    def claim(self, job_ids: Iterable[int] | None, *,
              orphan_after: float = 60.0) -> list[StoredJob]:
        """Like :meth:`claim_queued`, for the jobs ``job_ids`` only (None: every one): those
        still unfinished and not taken over are returned as they were and marked "requeued"
        in one transaction. The window's "Resume" and ``queue run`` both take jobs this way,
        so a resumed send reads the same in the history whoever resumed it."""
        wanted = None if job_ids is None else set(job_ids)
        now = time.time()
        with self._transaction():
            claimed = [job for job in self._unclaimed(now, orphan_after)
                       if wanted is None or job.id in wanted]
            self._db.executemany("UPDATE jobs SET state=?, finished_at=? WHERE id=?",
                                 [(REQUEUED.value, now, job.id) for job in claimed])
        return claimed

    def cancel_unfinished(self, job_ids: Iterable[int], *,
                          orphan_after: float = 60.0) -> list[int]:
        """Record the jobs ``job_ids`` that are still unfinished and not taken over (see
        :meth:`unfinished`) as cancelled: a person chose not to resume them. Returns the ids
        changed; their counts are kept."""
        wanted = set(job_ids)
        now = time.time()
        with self._transaction():
            ids = [job.id for job in self._unclaimed(now, orphan_after) if job.id in wanted]
            self._db.executemany("UPDATE jobs SET state=?, finished_at=? WHERE id=?",
                                 [(JobState.CANCELLED.value, now, i) for i in ids])
        return ids

    def delete_finished_before(self, cutoff: float) -> int:
        """Delete jobs in a finished state that ended before ``cutoff`` (wall-clock epoch).

        Only the states listed in :data:`FINISHED` count: a job queued, running, interrupted
        or in any state added later is never deleted.
        """
        with self._transaction():
            cursor = self._db.execute(
                f"DELETE FROM jobs WHERE state IN ({','.join('?' * len(FINISHED))}) "
                "AND COALESCE(finished_at, started_at, queued_at) < ?",
                (*stored(FINISHED), cutoff))
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
                "UPDATE jobs SET state=?, attempt=?, next_retry_at=?, status=?, "
                "error=?, error_type=? WHERE id=?",
                (JobState.RETRYING.value, attempt, next_retry_at, status, error, error_type,
                 job_id))

    def retry_due(self, job_id: int, *, attempt: int) -> None:
        """The retry wait is over: the job waits for a free slot again as attempt ``attempt``."""
        with self._transaction():
            self._db.execute(
                "UPDATE jobs SET state=?, attempt=?, next_retry_at=NULL WHERE id=?",
                (JobState.QUEUED.value, attempt, job_id))

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


def _row_to_job(row: sqlite3.Row) -> StoredJob:
    """A ``jobs`` row, read by column name. A column the file lacks (a file of an earlier
    format listed read-only, before it could be upgraded) reads as its default."""
    names = set(row.keys())

    def value(name: str) -> object:
        return row[name] if name in names else None

    def text(name: str, default: str = "") -> str:
        found = value(name)
        return default if found is None else str(found)

    def integer(name: str) -> int | None:
        found = value(name)
        return None if found is None else int(str(found))

    def real(name: str) -> float | None:
        found = value(name)
        return None if found is None else float(str(found))

    def uids(name: str) -> tuple[str, ...]:
        return tuple(str(uid) for uid in json.loads(text(name, "[]")) or ())

    pacs_data = json.loads(text("pacs", "{}"))
    error, error_type = value("error"), value("error_type")
    return StoredJob(
        id=integer("id") or 0, state=JobState.read(text("state")), os_user=text("os_user"),
        pacs_name=str(pacs_data.get("name", "")) if isinstance(pacs_data, dict) else "",
        destination=text("destination"), patient_id=text("patient_id"),
        study_uid=text("study_uid"), series_uids=uids("series_uids"), label=text("label"),
        queued_at=real("queued_at") or 0.0, started_at=real("started_at"),
        finished_at=real("finished_at"), total=integer("total"),
        completed=integer("completed") or 0, failed=integer("failed") or 0,
        warning=integer("warning") or 0, status=integer("status"),
        error=None if error is None else str(error), retry_of=integer("retry_of"),
        priority=integer("priority") or 0, attempt=integer("attempt") or 1,
        next_retry_at=real("next_retry_at"), failed_uids=uids("failed_uids"),
        sop_uids=uids("sop_uids"), error_type=None if error_type is None else str(error_type),
        received=integer("received"), arrival=None if value("arrival") is None
        else text("arrival"), arrival_verified=None if value("arrival_verified") is None
        else bool(integer("arrival_verified")), folder=None if value("folder") is None
        else text("folder"))


def _migrate(db: sqlite3.Connection) -> None:
    """Bring a file of an earlier ``user_version`` (or a new, empty one) up to
    :data:`SCHEMA_VERSION` in one transaction (another process may be doing the same)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        if version < SCHEMA_VERSION:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            for steps in MIGRATIONS[version:]:
                for step in steps:
                    step(db)
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
        raise


def _empty_view() -> sqlite3.Connection:
    """An empty, in-memory job table: what there is to list when no file can be read."""
    db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    for statement in SCHEMA.split(";"):
        if statement.strip():
            db.execute(statement)
    return db
