"""What an interrupted write of the receiver's writer left behind: removed when it starts.

:func:`.store_files.write_instance` writes each instance to a temporary file next to its
final place (``.XXXXXXXX.part``, ``tempfile.mkstemp(prefix=".", suffix=".part")``) and renames
it into place; the receiver probes its folder with ``.probe.XXXXXXXX``. A crash, a power cut
or a killed process between the two steps leaves such a file. :func:`remove_stale_leftovers`
removes them from the storage folder tree, at the receiver's start, under strict rules:

* only names of exactly those two patterns, only regular files (never a symlink, never a
  folder), only files this user owns, only files not modified for ``older_than`` seconds
  (a write under way in another process is never touched);
* only in the receiver's layout: the folder itself and at most three folder levels below it
  (``<PatientID>/<StudyUID>/<SeriesUID>``), symlinked folders not followed;
* bounded: at most ``max_entries`` directory entries are looked at (a huge archive costs
  a bounded time at start), then the walk stops.

Runs on: the caller's thread (the receiver's :meth:`~.receiver.Receiver.start`). Never raises.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import stat
import time
from pathlib import Path

log = logging.getLogger(__name__)

#: The writer's temporary names (tempfile's 8 random characters) and the folder probe's.
LEFTOVER_NAME = re.compile(r"\A\.(?:[a-z0-9_]{8}\.part|probe\.[a-z0-9_]{8})\Z")
#: A leftover is stale once it was not modified for this long (s).
STALE_AFTER = 60.0
#: The receiver's layout: <PatientID>/<StudyUID>/<SeriesUID>/<SOPUID>.dcm.
MAX_DEPTH = 3
#: At most this many directory entries are looked at by one cleanup.
MAX_ENTRIES = 200_000


def remove_stale_leftovers(folder: Path, *, older_than: float = STALE_AFTER,
                           now: float | None = None, max_entries: int = MAX_ENTRIES
                           ) -> list[Path]:
    """Remove the writer's stale temporary files under ``folder`` (see the module).

    Args:
        folder: the receiver's storage folder.
        older_than: seconds since the last modification after which a leftover is stale.
        now: the wall-clock time (epoch s) to compare with; None: now.
        max_entries: at most this many directory entries are looked at.

    Returns:
        The paths removed (possibly empty). Never raises: what cannot be read or removed is
        skipped.
    """
    limit = (time.time() if now is None else now) - older_than
    removed: list[Path] = []
    budget = max_entries
    pending: list[tuple[str, int]] = [(str(folder), 0)]
    uid = os.geteuid()
    while pending and budget > 0:
        path, depth = pending.pop()
        with contextlib.suppress(OSError), os.scandir(path) as entries:
            for entry in entries:
                budget -= 1
                if budget < 0:
                    break
                if LEFTOVER_NAME.match(entry.name):
                    _remove_if_stale(entry, limit, uid, removed)
                elif depth < MAX_DEPTH and not entry.name.startswith("."):
                    with contextlib.suppress(OSError):
                        if entry.is_dir(follow_symlinks=False):
                            pending.append((entry.path, depth + 1))
    if removed:
        log.info("Removed %d unfinished temporary file(s) left in %s by an interrupted write",
                 len(removed), folder)
    return removed


def _remove_if_stale(entry: os.DirEntry[str], limit: float, uid: int,
                     removed: list[Path]) -> None:
    with contextlib.suppress(OSError):
        info = entry.stat(follow_symlinks=False)
        if stat.S_ISREG(info.st_mode) and info.st_uid == uid and info.st_mtime < limit:
            os.unlink(entry.path)
            removed.append(Path(entry.path))
