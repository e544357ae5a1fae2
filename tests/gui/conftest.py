"""One QApplication and one qasync loop for the whole GUI session (see HOUSE_STYLE: a new loop
per test crashed the interpreter with qasync 0.28). Drive async flows with ``run_async``."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_API", "pyside6")

import pytest  # noqa: E402
import qasync  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402  (PySide6 before qasync)

T = TypeVar("T")


@pytest.fixture(scope="session")
def qasync_loop(qapp: QApplication) -> Iterator[qasync.QEventLoop]:
    # pytest-qt closes a test's widgets before the test's fixtures end: a window closed with
    # sends still running asks first (the quit question), and the last window closing would
    # make Qt quit, stopping this shared loop for every later test. The app itself stops on
    # lastWindowClosed explicitly (gui.app.run_app), so tests lose nothing by turning it off.
    qapp.setQuitOnLastWindowClosed(False)
    loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(loop)
    yield loop
    # Close it while Qt is still alive; left to the garbage collector, its __del__ runs after
    # Qt's objects are gone and prints "Signal source has been deleted".
    asyncio.set_event_loop(None)
    loop.close()


@pytest.fixture
def run_async(qasync_loop: qasync.QEventLoop) -> Any:
    """``run_async(coro, timeout=10)`` runs a coroutine on the session's qasync loop."""

    def runner(coro: Coroutine[Any, Any, T], timeout: float = 20.0) -> T:
        return qasync_loop.run_until_complete(asyncio.wait_for(coro, timeout))

    return runner
