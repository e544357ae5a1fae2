"""One QApplication and one qasync loop for the whole GUI session (see HOUSE_STYLE: a new loop
per test crashed the interpreter with qasync 0.28). Drive async flows with ``run_async``."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_API", "pyside6")

import pytest  # noqa: E402
import qasync  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402  (PySide6 before qasync)

T = TypeVar("T")
_EXIT_STATUS = pytest.StashKey[int]()


@pytest.fixture(scope="session")
def qasync_loop(qapp: QApplication) -> Iterator[qasync.QEventLoop]:
    loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(loop)
    yield loop
    # Do not close: closing a qasync loop with Qt objects alive crashed on exit.


@pytest.fixture
def run_async(qasync_loop: qasync.QEventLoop) -> Any:
    """``run_async(coro, timeout=10)`` runs a coroutine on the session's qasync loop."""

    def runner(coro: Coroutine[Any, Any, T], timeout: float = 20.0) -> T:
        return qasync_loop.run_until_complete(asyncio.wait_for(coro, timeout))

    return runner


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    session.config.stash[_EXIT_STATUS] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """End the process without Python's finalisation once pytest has reported everything.

    PySide6 6.12 sometimes crashes while Python finalises after GUI tests ("bool_dealloc:
    deallocating True or False ... refcount error in a C extension"), turning a green run
    into exit code 134. QApplication.shutdown() avoids it in the app itself but not here.
    """
    status = config.stash.get(_EXIT_STATUS, None)
    if status is None:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
