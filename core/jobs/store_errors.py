"""Why the job database cannot be used right now, as typed errors a person can act on.

"Locked", "disk full" and "read-only" are not "damaged": :func:`classify` turns an SQLite or
OS error into one of the errors below, and only :data:`DAMAGED_CODES` (and a failed
``PRAGMA quick_check``) ever make :class:`.store.JobStore` move a file aside.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import sqlite3
from pathlib import Path

from dicom_courier.core.outcome.errors import CourierError

#: SQLite result codes that mean the file itself is not a usable database.
DAMAGED_CODES = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})
_BUSY_CODES = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})
_READ_ONLY_CODES = frozenset({sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN,
                              sqlite3.SQLITE_PERM, sqlite3.SQLITE_AUTH})
_READ_ONLY_ERRNOS = frozenset({errno.EROFS, errno.EACCES, errno.EPERM})
#: Below this much free space an I/O error is taken for a full disk (MB).
_NEARLY_FULL_MB = 1.0
_LOCK_LINE = re.compile(
    r"^\d+:\s+(?P<kind>POSIX|FLOCK|OFDLCK)\s+\S+\s+\S+\s+(?P<pid>-?\d+)\s+"
    r"[0-9a-f]+:[0-9a-f]+:(?P<inode>\d+)\s")


class StoreError(CourierError):
    """The job database cannot be used for this (``path``: the database file)."""

    def __init__(self, path: Path, title: str, explanation: str, action: str,
                 *, retryable: bool, cause: str = "") -> None:
        details = {"Job database": str(path)}
        if cause:
            details["SQLite / OS error"] = cause
        super().__init__(title, explanation, action, details=details, retryable=retryable)
        self.path = path


class StoreBusy(StoreError):
    """Another process held a lock on the database for longer than we wait."""

    def __init__(self, path: Path, *, waited: float, cause: str = "") -> None:
        self.holder = holder_of(path)
        super().__init__(
            path, f"The job database is busy (held by {self.holder}).",
            f"Another program kept {path.name} locked for more than {waited:g} s. Nothing was "
            "changed and no file was moved or deleted.",
            "Wait for that program to finish (another DICOM Courier, a backup or an SQLite "
            "browser), or close it, then try again.", retryable=True, cause=cause)


class StoreDiskFull(StoreError):
    """The disk holding the database has no room for the change."""

    def __init__(self, path: Path, *, cause: str = "") -> None:
        self.free_mb = free_mb(path)
        super().__init__(
            path, f"The disk holding {path.parent} is full: {self.free_mb:.0f} MB free; "
            "nothing was changed.",
            "Every send is recorded before it starts; a send that cannot be recorded is not "
            "started, so it can always be audited.",
            "Free some space on that disk, then try again.", retryable=True, cause=cause)


class StoreReadOnly(StoreError):
    """The database (or its folder) cannot be written: listing works, changes do not."""

    def __init__(self, path: Path, *, cause: str = "") -> None:
        super().__init__(
            path, f"The job database {path} is read-only: changes cannot be saved.",
            f"{path.parent} (or the file) cannot be written by this user. The queue and the "
            "history can be listed; nothing can be queued or sent until it is writable, "
            "because a send that is not recorded cannot be audited.",
            f"Make {path.parent} writable for you (ask whoever looks after this computer).",
            retryable=False, cause=cause)
        self.cli_action = (f"Make {path.parent} writable for you, or choose another folder "
                           "with --config-dir.")


class StoreTooNew(StoreError):
    """The file was written by a newer DICOM Courier (a higher ``PRAGMA user_version``)."""

    def __init__(self, path: Path, version: int, known: int) -> None:
        super().__init__(
            path, f"The job database {path} is from a newer DICOM Courier (format {version}; "
            f"this version knows up to {known}).",
            "It was left as it is: it is not damaged, and it can be listed but not changed here.",
            "Use the newer DICOM Courier.", retryable=False)
        self.cli_action = "Use the newer DICOM Courier, or choose another folder with --config-dir."


class StoreUnavailable(StoreError):
    """Any other failure to read or write the database (an I/O error, damage found while
    running); the file is left as it is."""

    def __init__(self, path: Path, *, cause: str = "") -> None:
        super().__init__(
            path, f"The job database {path} cannot be used: {cause or 'unknown error'}.",
            "Nothing was changed and no file was moved.",
            "Check the disk (and its connection, for a network folder), then try again.",
            retryable=True, cause=cause)


def primary_code(exc: sqlite3.Error) -> int | None:
    """The primary SQLite result code of ``exc`` (extended codes folded), or None."""
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else int(code) & 0xFF


def is_damage(exc: BaseException) -> bool:
    """True only for errors that mean the file is not a usable database."""
    return isinstance(exc, sqlite3.DatabaseError) and primary_code(exc) in DAMAGED_CODES


def classify(exc: BaseException, path: Path, *, waited: float) -> StoreError:
    """The typed error for an SQLite or OS error met while using the database at ``path``.

    ``waited``: the busy timeout that ran out (s), named in the busy message. Damage
    (:func:`is_damage`) is reported as :class:`StoreUnavailable` here: moving a file aside is
    the opener's decision, never a side effect of a failed write.
    """
    cause = str(exc)
    if isinstance(exc, StoreError):
        return exc
    if isinstance(exc, OSError):
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return StoreDiskFull(path, cause=cause)
        if exc.errno in _READ_ONLY_ERRNOS:
            return StoreReadOnly(path, cause=cause)
        return StoreUnavailable(path, cause=exc.strerror or cause)
    code = primary_code(exc) if isinstance(exc, sqlite3.Error) else None
    if code in _BUSY_CODES or "locked" in cause:
        return StoreBusy(path, waited=waited, cause=cause)
    if code == sqlite3.SQLITE_FULL:
        return StoreDiskFull(path, cause=cause)
    if code in _READ_ONLY_CODES:
        return StoreReadOnly(path, cause=cause)
    if code == sqlite3.SQLITE_IOERR and free_mb(path) < _NEARLY_FULL_MB:
        return StoreDiskFull(path, cause=cause)
    return StoreUnavailable(path, cause=cause)


def free_mb(path: Path) -> float:
    """Free space (MB, 10^6 bytes) on the disk holding ``path``'s folder; 0.0 if unknown."""
    for folder in (path.parent, *path.parent.parents):
        with contextlib.suppress(OSError):
            return shutil.disk_usage(folder).free / 1e6
    return 0.0


def holder_of(path: Path) -> str:
    """Who holds a lock on the database: "PID 1234" from ``/proc/locks`` (Linux), else the
    process named in the profile's ``instance.lock``, else "another program"."""
    inodes: set[int] = set()
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(OSError):
            inodes.add(os.stat(f"{path}{suffix}").st_ino)
    pids: list[int] = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/locks").read_text(encoding="ascii", errors="replace").splitlines():
            match = _LOCK_LINE.match(line)
            if match and int(match["inode"]) in inodes:
                pid = int(match["pid"])
                if pid > 0 and pid != os.getpid() and pid not in pids:
                    pids.append(pid)
    if pids:
        return ", ".join(f"PID {pid}" for pid in pids)
    with contextlib.suppress(OSError):
        text = (path.parent / "instance.lock").read_text(encoding="utf-8").strip()
        match = re.match(r"process (\d+)", text)
        if match and int(match[1]) != os.getpid() and _alive(int(match[1])):
            return f"PID {match[1]}, another DICOM Courier"
    return "another program"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True
