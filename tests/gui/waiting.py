"""Wait on the session's qasync loop until a condition holds (the window and the queue report
through callbacks and signals, so there is nothing to await)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def until(condition: Callable[[], object], within: float = 15.0,
                describe: Callable[[], object] | None = None) -> None:
    """Poll ``condition`` every 20 ms; AssertionError if it is not true within ``within`` s
    (its message carries ``describe()``, e.g. the jobs' states, to explain a rare timeout)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        if loop.time() > deadline:
            seen = f": {describe()}" if describe is not None else ""
            raise AssertionError(f"condition not reached in time{seen}")
        await asyncio.sleep(0.02)
