"""Run the ``dicom-courier`` command in this process, as if in a fresh one (milliseconds, not
the ~0.3 s of starting Python and importing the engine).

:func:`run_cli` calls the console script's own entry point
(:func:`dicom_courier.__main__.main`) with its own stdin, stdout and stderr, its own
environment variables and ``sys.argv``, and turns ``SystemExit`` into the exit code; an
exception that would escape a real process is printed as Python would print it (a
``Traceback`` on stderr, exit code 1), so "no traceback" stays a true assertion. It returns a
:class:`subprocess.CompletedProcess`, like ``subprocess.run(..., capture_output=True,
text=True)``.

What one command may change in the process is set as a fresh interpreter has it before the
command and put back afterwards: the root logger's handlers and every logger's level (the
command installs its own stderr handler, ``-vv`` turns on pynetdicom's DEBUG log and its
identifier logging), pynetdicom's ``_config`` logging flags, :mod:`warnings` filters and
``threading.excepthook`` (:func:`.transport.quiet_pynetdicom` runs again, as in a new
process), and the asyncio loop the current thread had. What no command may leave behind fails
the test (:class:`LeftBehind`): a changed signal handler or umask, a thread still running, a
file in the config folder still open (``instance.lock``, ``jobs.db``).

Keep a real subprocess where the process itself is under test: the installed console script,
bytes that are not UTF-8 in ``argv``, Ctrl-C, and several processes racing for one file.
"""

from __future__ import annotations

import asyncio
import gc
import io
import logging
import os
import signal
import subprocess
import sys
import threading
import traceback
import warnings
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, TextIO

from pynetdicom import _config as pynetdicom_config

from dicom_courier.__main__ import _wants_window, main
from dicom_courier.core.cli import render
from dicom_courier.core.config.paths import CONFIG_DIR_VARIABLE
from dicom_courier.core.dimse import transport

#: pynetdicom settings the command sets (``-vv`` logs identifiers: patient data).
_PYNETDICOM_FLAGS = ("LOG_REQUEST_IDENTIFIERS", "LOG_RESPONSE_IDENTIFIERS", "LOG_HANDLER_LEVEL")

#: The table width :mod:`.cli.render` gives stdout when it is not a terminal.
_PIPE_WIDTH = 250

#: Signals whose handlers a command must leave as it found them.
_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE)

#: How long a thread the command started may take to end after it returned (s).
_THREAD_GRACE = 5.0


class LeftBehind(AssertionError):
    """The command left something in the process a real exit would have cleaned up."""


def run_cli(*args: str, config_dir: Path | None = None, env: Mapping[str, str] | None = None,
            stdin: str = "") -> subprocess.CompletedProcess[str]:
    """Run ``dicom-courier [--config-dir CONFIG_DIR] ARGS...`` in this process.

    ``env``: variables set (over this process's) while it runs. A config folder must be
    given, as ``config_dir`` or ``DICOM_COURIER_CONFIG_DIR`` in ``env``, so a test can never
    touch the real user's profiles. ``stdin``: what the command reads (not a terminal).

    Returns ``CompletedProcess(args, returncode, stdout, stderr)`` with text as a real
    process writes it (UTF-8; stderr with ``backslashreplace``). Raises ValueError for
    arguments that would open the window or name no config folder, and :class:`LeftBehind`
    (after restoring what it can) if the command left a handler, thread or open file.
    """
    argv = (["--config-dir", str(config_dir)] if config_dir is not None else []) + list(args)
    env = dict(env or {})
    if config_dir is None and CONFIG_DIR_VARIABLE not in env:
        raise ValueError("run_cli needs config_dir= (or env DICOM_COURIER_CONFIG_DIR)")
    if _wants_window(argv):
        raise ValueError(f"{argv!r} opens the window, not a command")
    folder = Path(str(config_dir) if config_dir is not None else env[CONFIG_DIR_VARIABLE])
    out, err = _stream("strict"), _stream("backslashreplace")
    with ExitStack() as stack:
        stack.enter_context(_environment(env))
        stack.enter_context(_fresh_logging())
        stack.enter_context(_fresh_warnings())
        stack.enter_context(_kept_event_loop())
        leftovers = stack.enter_context(_nothing_left_behind(folder.resolve()))
        stack.enter_context(_swapped(sys, stdin=io.StringIO(stdin), stdout=out, stderr=err,
                                     argv=["dicom-courier", *argv]))
        # chosen at import from sys.stdout.isatty(): what a pipe gets, even under pytest -s
        stack.enter_context(_swapped(render.stdout, _width=_PIPE_WIDTH))
        code = _exit_code_of(argv)
    out.flush()
    err.flush()
    result = subprocess.CompletedProcess(["dicom-courier", *argv], code,
                                         _text_of(out), _text_of(err))
    if leftovers:
        raise LeftBehind(f"dicom-courier {' '.join(args)} left behind: "
                         f"{'; '.join(leftovers)}\nstderr: {result.stderr}")
    return result


def _exit_code_of(argv: list[str]) -> int:
    """What the process would exit with; prints an escaping exception as Python does."""
    try:
        return main(argv)
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        sys.stderr.write(f"{exc.code}\n")
        return 1
    except KeyboardInterrupt:
        raise  # the person running the tests pressed Ctrl-C
    except BaseException:  # a real process: traceback on stderr, exit code 1
        traceback.print_exc(file=sys.stderr)
        return 1


def _stream(errors: str) -> io.TextIOWrapper:
    """A pipe's text stream: UTF-8, not a terminal, written through at once."""
    return io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors=errors, newline="\n",
                            write_through=True)


def _text_of(stream: io.TextIOWrapper) -> str:
    buffer = stream.buffer
    assert isinstance(buffer, io.BytesIO)
    return buffer.getvalue().decode("utf-8")


@contextmanager
def _swapped(owner: Any, **values: object) -> Iterator[None]:
    saved = {name: getattr(owner, name) for name in values}
    for name, value in values.items():
        setattr(owner, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(owner, name, value)


@contextmanager
def _environment(env: Mapping[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def _fresh_logging() -> Iterator[None]:
    """No root handler, root at WARNING, pynetdicom not yet quietened: as a new process.

    The command's own handler (bound to the captured stderr) is closed afterwards and every
    logger, pynetdicom flag and the thread excepthook is put back.
    """
    root = logging.getLogger()
    loggers = [root, *(lg for lg in logging.Logger.manager.loggerDict.values()
                       if isinstance(lg, logging.Logger))]
    levels = {lg: (lg.level, lg.propagate, lg.disabled) for lg in loggers}
    handlers = list(root.handlers)
    flags = {name: getattr(pynetdicom_config, name) for name in _PYNETDICOM_FLAGS}
    excepthook, configured = threading.excepthook, transport._configured
    root.handlers = []
    root.setLevel(logging.WARNING)
    transport._configured = False
    try:
        yield
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers = handlers
        for lg in logging.Logger.manager.loggerDict.values():
            if isinstance(lg, logging.Logger) and lg not in levels:
                lg.setLevel(logging.NOTSET)  # made during the command: back to inheriting
        for lg, (level, propagate, disabled) in levels.items():
            lg.setLevel(level)
            lg.propagate, lg.disabled = propagate, disabled
        for name, value in flags.items():
            setattr(pynetdicom_config, name, value)
        threading.excepthook, transport._configured = excepthook, configured


@contextmanager
def _fresh_warnings() -> Iterator[None]:
    """A new interpreter's warning filters; a warning shown is written to stderr."""
    with warnings.catch_warnings():
        warnings.resetwarnings()  # then a new CPython 3.11's filters, most specific last:
        warnings.simplefilter("ignore", ResourceWarning)
        warnings.simplefilter("ignore", ImportWarning)
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("default", category=DeprecationWarning, module="__main__")

        def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                 file: TextIO | None = None, line: str | None = None) -> None:
            sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))

        warnings.showwarning = show
        yield


@contextmanager
def _kept_event_loop() -> Iterator[None]:
    """``asyncio.run`` leaves the thread with no current loop (and marks one as set): put back
    what the thread had, so a later ``get_event_loop`` behaves as if no command had run."""
    local = getattr(asyncio.get_event_loop_policy(), "_local", None)
    saved = dict(vars(local)) if local is not None else {}
    try:
        yield
    finally:
        if local is not None:
            vars(local).clear()
            vars(local).update(saved)


def _umask() -> int:
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def _open_files_under(folder: Path) -> set[str]:
    found = set()
    fd_dir = Path("/proc/self/fd")
    if not fd_dir.is_dir():
        return found
    for entry in fd_dir.iterdir():
        try:
            target = Path(os.readlink(entry))
        except OSError:
            continue
        if target.is_relative_to(folder):
            found.add(str(target))
    return found


@contextmanager
def _nothing_left_behind(folder: Path) -> Iterator[list[str]]:
    """Yields a list that names, after the block, what the command left in the process."""
    handlers = {sig: signal.getsignal(sig) for sig in _SIGNALS}
    mask, threads = _umask(), set(threading.enumerate())
    files_before = _open_files_under(folder)
    found: list[str] = []
    try:
        yield found
    finally:
        for sig, handler in handlers.items():
            if signal.getsignal(sig) is not handler:
                found.append(f"the {sig.name} handler")
                signal.signal(sig, handler)
        if _umask() != mask:
            found.append("a changed umask")
            os.umask(mask)
        for thread in set(threading.enumerate()) - threads:
            thread.join(_THREAD_GRACE)
            if thread.is_alive():
                found.append(f"thread {thread.name!r} still running")
        opened = _open_files_under(folder) - files_before
        if opened:
            gc.collect()  # only what nothing refers to any more is closed by this
            opened = _open_files_under(folder) - files_before
        found.extend(f"{path} still open" for path in sorted(opened))
