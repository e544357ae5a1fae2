"""One running DICOM Courier per profile: the second one is refused with a clear message.

Two processes sharing one job database would each take the other's running sends for
interrupted ones. An advisory lock (fcntl.flock) on ``instance.lock`` in the data directory is
released by the kernel when the process dies, so a crash never leaves a stale lock behind.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from pathlib import Path
from typing import IO, Self

from dicom_courier.core.config.private_files import create_private_file, make_private_dir
from dicom_courier.core.outcome.errors import CourierError

#: errno values that mean "this folder cannot be written now" rather than a broken setup.
_CANNOT_WRITE = frozenset({errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT})


class AlreadyRunning(CourierError):
    """Another process holds this profile."""


class ProfileLock:
    """Hold with ``acquire()`` (or ``with``) for the life of the process."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "instance.lock"
        self._handle: IO[str] | None = None
        #: True when the data folder cannot be written: nothing can be recorded or sent.
        self.read_only = False

    def acquire(self) -> Self:
        """Take the lock; raises AlreadyRunning, or OSError if the folder cannot be written.

        The lock file names this process; it is 0600 in a 0700 folder (like the job database).
        """
        try:
            make_private_dir(self.path.parent, tighten=True)
            create_private_file(self.path)
            handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - until release()
        except OSError as exc:
            if exc.errno not in _CANNOT_WRITE:
                raise
            # A folder nobody can write (read-only mount, full disk) can hold no new send, so
            # the job store opens read-only; an existing lock file is still locked, read-only.
            self.read_only = True
            try:
                handle = open(self.path, encoding="utf-8")  # noqa: SIM115 - until release()
            except OSError:
                return self
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise AlreadyRunning(
                "DICOM Courier is already running with this profile.",
                f"{holder} uses the same settings and send history ({self.path.parent}). Two "
                "copies would each take the other's running sends for interrupted ones.",
                "Switch to the window that is already open (or wait for the command using "
                "it to end).",
                details={"Lock file": str(self.path)},
                cli_action="Switch to the window that is already open, or start this one with "
                           "another --config-dir.",
            ) from None
        if not self.read_only:
            handle.seek(0)
            handle.truncate()
            handle.write(f"process {os.getpid()} "
                         f"(started {time.strftime('%Y-%m-%d %H:%M:%S')})")
            handle.flush()
        self._handle = handle
        return self

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None

    def __enter__(self) -> Self:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
