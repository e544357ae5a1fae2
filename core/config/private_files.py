"""Files holding patient data are owner-only: 0600 files in 0700 folders.

The job database (and SQLite's ``-wal``/``-shm`` beside it, which SQLite creates with the
database file's own mode), CSV exports, the settings and profiles files and the instance lock
all go through these helpers. Folders we create are created 0700 level by level (``mkdir``'s
``parents=True`` would give the intermediate levels the default mode); a folder that already
existed is left as it is, except the profile's own data folder (:func:`make_private_dir` with
``tighten=True``), which only ever holds our files.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

#: Owner read/write: the mode of every file that may hold patient data.
FILE_MODE = 0o600
#: Owner read/write/search: the mode of every folder we create for such files.
DIR_MODE = 0o700


def make_private_dir(path: Path, *, tighten: bool = False) -> None:
    """Create ``path`` and any missing parents with mode 0700.

    ``tighten``: also set an existing ``path`` (not its parents) to 0700 if we own it.
    Raises OSError (EACCES, EROFS, ENOSPC, ENOTDIR) when a level cannot be created.
    """
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for level in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another process made it meanwhile
            level.mkdir(mode=DIR_MODE)
            os.chmod(level, DIR_MODE)  # mkdir's mode is filtered by the umask
    if tighten and not missing:
        _tighten(path, DIR_MODE)


def create_private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 if it does not exist; an existing file we own is
    set to 0600. Raises OSError when it cannot be created."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        _tighten(path, FILE_MODE)
        return
    os.close(fd)
    with contextlib.suppress(OSError):
        os.chmod(path, FILE_MODE)


def tighten_file(path: Path) -> None:
    """Set an existing file we own to 0600 (best effort: a read-only disk keeps its mode)."""
    _tighten(path, FILE_MODE)


def _tighten(path: Path, mode: int) -> None:
    with contextlib.suppress(OSError):
        info = path.stat()
        if info.st_uid == os.geteuid() and stat.S_IMODE(info.st_mode) & ~mode:
            os.chmod(path, mode)
