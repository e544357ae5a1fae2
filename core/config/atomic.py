"""Write a file so that a crash leaves either the old or the new content, never half of one."""

from __future__ import annotations

import contextlib
import os
import re
import stat
import tempfile
import time
from pathlib import Path

from dicom_courier.core.config.private_files import make_private_dir

#: Our temporary files only: ``.NAME.`` + mkstemp's 8 random characters + ``.tmp``.
TEMP_FILE = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")
#: A temporary file younger than this (s) may belong to a write in progress: left alone.
STALE_AFTER = 30.0


def write_text_atomically(path: Path, text: str) -> None:
    """Write to a temporary file beside ``path``, fsync it, then rename over ``path``.

    The file is 0600 (mkstemp's mode, kept by the rename); a missing folder is created 0700.
    Raises OSError (ENOSPC, EROFS, EACCES …) with nothing changed and no temporary file left.
    """
    make_private_dir(path.parent)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    if hasattr(os, "O_DIRECTORY"):
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def remove_stale_temp_files(folder: Path, *, older_than: float = STALE_AFTER,
                            now: float | None = None) -> list[Path]:
    """Delete what an interrupted :func:`write_text_atomically` left in ``folder``: regular
    files we own, named like our temporary files, not modified for ``older_than`` seconds.
    Returns the paths removed; never raises (a folder that cannot be read is skipped)."""
    removed: list[Path] = []
    limit = (time.time() if now is None else now) - older_than
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            if not TEMP_FILE.match(entry.name):
                continue
            with contextlib.suppress(OSError):
                info = entry.stat(follow_symlinks=False)
                if (stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid()
                        and info.st_mtime < limit):
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    return removed
