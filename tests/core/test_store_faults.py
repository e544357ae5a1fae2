"""Locked, full and read-only are not damaged: the job database never loses a queued send.

How each fault is made (real where the machine allows it, documented where it cannot be):
- locked: a second *process* holds the file with ``BEGIN EXCLUSIVE`` (in WAL mode, a writer
  mid-transaction) or with ``locking_mode=EXCLUSIVE`` (nobody may even read).
- full disk: a 1 MB tmpfs mounted for the test (needs root with CAP_SYS_ADMIN, e.g. this CI
  container); where ``mount`` is not allowed that test is skipped, and SQLite's own
  ``PRAGMA max_page_count`` gives the same SQLITE_FULL on any machine (always runs).
- read-only: a read-only bind mount (root ignores ``chmod``, so chmod alone proves nothing in
  CI); as a non-root user, chmod 0500 folder / 0400 file. Skipped when neither is possible.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from dicom_courier.core.jobs.store import SCHEMA, SCHEMA_VERSION, JobStore
from dicom_courier.core.jobs.store_errors import (
    StoreBusy,
    StoreDiskFull,
    StoreReadOnly,
    StoreTooNew,
)

PACS_JSON = {"name": "Main", "called_aet": "PACS", "host": "h", "port": 104}

HOLDER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
if sys.argv[2] == "exclusive":
    db.execute("PRAGMA locking_mode=EXCLUSIVE")
db.execute("BEGIN EXCLUSIVE")
db.execute("UPDATE jobs SET label=label WHERE id=1")
print("held", flush=True)
sys.stdin.read()
db.execute("ROLLBACK")
"""


def _three_queued(path: Path) -> list[int]:
    store = JobStore(path)
    ids = [store.add(pacs_json=PACS_JSON, destination="WS1", study_uid=f"1.2.{i}")
           for i in range(3)]
    store.close()
    return ids


@contextmanager
def _held(path: Path, how: str) -> Iterator[subprocess.Popen[str]]:
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(path), how],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield holder
    finally:
        if holder.stdin is not None:
            holder.stdin.close()
        holder.wait(timeout=10)


def _no_file_moved(folder: Path) -> None:
    assert not [p.name for p in folder.iterdir() if ".damaged-" in p.name]


@pytest.mark.parametrize("how", ["writer-mid-transaction", "exclusive"])
def test_a_locked_database_is_never_moved_aside_and_names_its_holder(
        tmp_path: Path, how: str) -> None:
    path = tmp_path / "jobs.db"
    ids = _three_queued(path)
    with _held(path, how) as holder:
        if how == "exclusive":  # nobody can read: a clear error, not a fresh empty file
            with pytest.raises(StoreBusy) as caught:
                JobStore(path, busy_timeout=0.3)
            error = caught.value
        else:  # readers go on in WAL mode: listing works, a change waits then says why
            store = JobStore(path, busy_timeout=0.3)
            assert [j.id for j in store.jobs(states=("queued",))] == ids
            with pytest.raises(StoreBusy) as caught:
                store.add(pacs_json=PACS_JSON, destination="WS1", study_uid="1.2.9")
            error = caught.value
            store.close()
        assert f"held by PID {holder.pid}" in error.title
        assert "Nothing was changed" in error.explanation
    _no_file_moved(tmp_path)
    after = JobStore(path)
    assert [j.id for j in after.jobs(states=("queued",))] == ids  # the 3 sends are still there
    assert after.moved_aside is None


@contextmanager
def _tiny_tmpfs(folder: Path, size: str = "1m") -> Iterator[Path]:
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs",
                              str(folder)], capture_output=True, check=False)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN); the "
                    "max_page_count test covers SQLITE_FULL")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _fill(folder: Path) -> None:
    with open(folder / "filler", "wb") as handle:  # noqa: PTH123 - write until ENOSPC
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError:
            pass


def test_on_a_really_full_disk_queued_sends_stay_and_changes_are_refused(
        tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    with _tiny_tmpfs(disk):
        path = disk / "jobs.db"
        ids = _three_queued(path)
        _fill(disk)
        store = JobStore(path)  # the file is healthy: it opens, and lists
        assert [j.id for j in store.jobs()] == ids
        with pytest.raises(StoreDiskFull) as caught:
            for i in range(200):  # the WAL has some room left; fill it
                store.add(pacs_json=PACS_JSON, destination="WS1", study_uid=f"9.{i}",
                          label="x" * 2000)
        assert caught.value.title.startswith(f"The disk holding {disk} is full: ")
        assert "MB free; nothing was changed." in caught.value.title
        store.close()
        _no_file_moved(disk)
        (disk / "filler").unlink()
        again = JobStore(path)
        assert again.moved_aside is None
        assert [j.id for j in again.jobs()][:3] == ids
        again.close()


def test_a_new_database_on_a_full_disk_is_an_error_not_a_crash(tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    with _tiny_tmpfs(disk):
        _fill(disk)
        store = JobStore(disk / "jobs.db")  # nothing to list, and says why nothing can change
        assert store.jobs() == [] and isinstance(store.problem, StoreDiskFull)
        with pytest.raises(StoreDiskFull):
            store.add(pacs_json=PACS_JSON, destination="WS1", study_uid="1.2")
        store.close()


def test_sqlite_full_rolls_back_and_keeps_the_file(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    ids = _three_queued(path)
    store = JobStore(path)
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count={pages}")  # SQLite's own "disk full"
    with pytest.raises(StoreDiskFull) as caught:
        store.add(pacs_json=PACS_JSON, destination="WS1", study_uid="1.3",
                  label="x" * 100_000)
    assert "nothing was changed" in caught.value.title
    assert not store._db.in_transaction
    store.close()
    _no_file_moved(tmp_path)
    assert [j.id for j in JobStore(path).jobs()] == ids


@contextmanager
def _read_only(folder: Path) -> Iterator[Path]:
    """``folder`` made read-only for this process: a bind mount as root, chmod otherwise."""
    if os.geteuid() != 0:
        files = list(folder.iterdir())
        for item in files:
            item.chmod(0o400)
        folder.chmod(0o500)
        try:
            yield folder
        finally:
            folder.chmod(0o700)
            for item in files:
                item.chmod(0o600)
        return
    view = folder.with_name(folder.name + "-ro")
    view.mkdir()
    bound = subprocess.run(["mount", "--bind", str(folder), str(view)], capture_output=True,
                           check=False)
    if bound.returncode != 0:
        pytest.skip("root ignores chmod and a read-only bind mount is not allowed here")
    try:
        remount = subprocess.run(["mount", "-o", "remount,bind,ro", str(view)],
                                 capture_output=True, check=False)
        if remount.returncode != 0:
            pytest.skip("cannot remount read-only here")
        yield view
    finally:
        subprocess.run(["umount", "-l", str(view)], check=False)


def test_a_read_only_folder_lists_and_refuses_changes_with_the_reason(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    ids = _three_queued(folder / "jobs.db")
    with _read_only(folder) as view:
        store = JobStore(view / "jobs.db")
        assert [j.id for j in store.jobs(states=("queued",))] == ids
        assert isinstance(store.problem, StoreReadOnly) and store.read_only
        with pytest.raises(StoreReadOnly) as caught:
            store.add(pacs_json=PACS_JSON, destination="WS1", study_uid="1.2.9")
        assert "read-only: changes cannot be saved" in caught.value.title
        store.close()
        _no_file_moved(view)
    assert JobStore(folder / "jobs.db").moved_aside is None


def test_only_a_failed_integrity_check_moves_a_file_aside(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    _three_queued(path)
    data = bytearray(path.read_bytes())
    wal = Path(f"{path}-wal")
    assert not wal.exists() or wal.stat().st_size == 0  # checkpointed at close
    data[4096:8192] = b"\xff" * 4096  # trample the jobs table's root page
    path.write_bytes(bytes(data))
    store = JobStore(path)
    assert store.moved_aside is not None and store.jobs() == []


def test_a_file_of_the_earlier_format_opens_with_its_jobs(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    old = sqlite3.connect(path)  # issue 4's file: the same tables, no user_version
    old.executescript(SCHEMA)
    old.execute("INSERT INTO jobs (state, os_user, pacs, destination, study_uid, queued_at) "
                "VALUES ('queued', 'alice', ?, 'WS1', '1.2.3', 1.0)", (str(PACS_JSON)
                                                                     .replace("'", '"'),))
    old.commit()
    old.close()
    store = JobStore(path)
    assert store.moved_aside is None
    assert [(j.state, j.os_user, j.study_uid) for j in store.jobs()] == [
        ("queued", "alice", "1.2.3")]
    assert store._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    store.close()


def test_a_file_from_a_newer_version_is_left_alone_and_listed(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    ids = _three_queued(path)
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 5}")
    db.commit()
    db.close()
    store = JobStore(path)
    assert isinstance(store.problem, StoreTooNew) and store.moved_aside is None
    assert [j.id for j in store.jobs()] == ids
    with pytest.raises(StoreTooNew):
        store.add(pacs_json=PACS_JSON, destination="WS1", study_uid="1.2.9")


def test_database_files_are_owner_only(tmp_path: Path) -> None:
    os.umask(0o022)
    data = tmp_path / "profile" / "data"
    store = JobStore(data / "jobs.db")
    store.add(pacs_json=PACS_JSON, destination="WS1", study_uid="1.2.3")
    modes = {p.name: oct(p.stat().st_mode & 0o777) for p in data.iterdir()}
    assert modes["jobs.db"] == "0o600"
    assert modes["jobs.db-wal"] == "0o600" and modes["jobs.db-shm"] == "0o600"
    assert oct(data.stat().st_mode & 0o777) == "0o700"
    assert oct(data.parent.stat().st_mode & 0o777) == "0o700"
    store.close()


def test_an_existing_world_readable_database_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    _three_queued(path)
    path.chmod(0o644)
    JobStore(path).close()
    assert oct(path.stat().st_mode & 0o777) == "0o600"
