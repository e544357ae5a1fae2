"""Read a small settings file by path without ever hanging or filling memory.

A path a person gives (``--config-dir``) or a file someone replaced can be anything: a named
pipe (opening it for reading waits for a writer for ever), a device (``/dev/zero`` never
ends), a folder, a file of gigabytes, or JSON nested 100,000 levels deep (``json`` raises
``RecursionError``). :func:`read_json_file` refuses each with a reason a person can act on:
the file type is checked with ``stat`` before opening, the open is non-blocking and checked
again with ``fstat`` (the file may change in between), and at most ``max_bytes`` are read.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

#: Settings files are a few kilobytes; anything larger than this is not one.
DEFAULT_MAX_BYTES = 8 * 1024 * 1024


class UnusableFile(Exception):
    """The file exists but is not a readable settings file; ``reason`` says why, in words
    ("it is a named pipe (FIFO), not a regular file")."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _not_regular(mode: int) -> str | None:
    """What a non-regular file is, in words; None for a regular file."""
    kinds = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
             (stat.S_ISSOCK, "a socket"))
    for test, name in kinds:
        if test(mode):
            return f"it is {name}, not a regular file"
    return None if stat.S_ISREG(mode) else "it is not a regular file"


def read_text_file(path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """The UTF-8 text of the regular file ``path`` (symbolic links followed).

    Raises FileNotFoundError if there is no file, UnusableFile (not a regular file, larger
    than ``max_bytes`` bytes, not UTF-8), or OSError (e.g. permission denied). Never blocks:
    a FIFO or device is refused before it is read.
    """
    problem = _not_regular(os.stat(path).st_mode)
    if problem:
        raise UnusableFile(problem)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        problem = _not_regular(info.st_mode)  # swapped for a FIFO after the stat above
        if problem:
            raise UnusableFile(problem)
        chunks: list[bytes] = []
        size = 0
        while size <= max_bytes:
            chunk = os.read(fd, min(1024 * 1024, max_bytes + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > max_bytes:
        raise UnusableFile(f"it is larger than {max_bytes // (1024 * 1024)} MB, too large "
                           "for a settings file")
    try:
        return b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnusableFile(f"it is not UTF-8 text (byte {exc.start})") from None


def read_json_file(path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Any:
    """The JSON document in ``path`` (see :func:`read_text_file` for what is refused).

    Also raises UnusableFile for invalid JSON (with line and column), JSON nested too deeply
    to parse, and numbers of thousands of digits (Python's int conversion limit).
    """
    text = read_text_file(path, max_bytes=max_bytes)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UnusableFile(f"it is not valid JSON: {exc}") from None
    except RecursionError:
        raise UnusableFile("it is nested too deeply to be a settings file") from None
    except ValueError:  # "Exceeds the limit (4300 digits) for integer string conversion"
        raise UnusableFile("it holds a number of thousands of digits") from None
