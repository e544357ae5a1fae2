"""The one way tests wait: poll a condition until it holds, or fail naming what was seen.

Peers, queues and windows report through callbacks, threads and signals, so there is often
nothing to await; a fixed sleep would be a guess. ``until`` polls on the asyncio loop,
``wait_until`` in plain (thread) code.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


def _failure(describe: Callable[[], object] | None) -> AssertionError:
    seen = f": {describe()}" if describe is not None else ""
    return AssertionError(f"condition not reached in time{seen}")


async def until(condition: Callable[[], object], within: float = 15.0,
                describe: Callable[[], object] | None = None) -> None:
    """Poll ``condition`` every 20 ms on the running loop; AssertionError if it is not true
    within ``within`` s (its message carries ``describe()``, e.g. the jobs' states)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        if loop.time() > deadline:
            raise _failure(describe)
        await asyncio.sleep(0.02)


def wait_until(condition: Callable[[], object], within: float = 10.0,
               describe: Callable[[], object] | None = None) -> None:
    """:func:`until` for code that is not on an asyncio loop (a test driving a subprocess)."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise _failure(describe)
        time.sleep(0.02)
