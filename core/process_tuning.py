"""Interpreter settings for a long-running Courier process (the window; an engine worker).

CPython's cyclic garbage collector walks every tracked object of the oldest generation on a
full collection. After start-up that is mostly what never dies: modules, classes, functions,
Qt wrappers, pynetdicom's and pydicom's dictionaries (~60,000 objects in the window). Measured
on the window benchmark (``benchmarks/window_gap.py``, 10,004-study search + 4 moves): each
full collection held the interpreter lock 25-175 ms (median ~45 ms), a stall of the window's
event loop of that length. :func:`freeze_start_up` collects once and moves what is left into
the permanent generation (``gc.freeze``, Python 3.7+): later full collections skip it (1-26 ms,
median ~3 ms, in the same benchmark). Objects made afterwards (rows, responses, a cleared
grid's rows) are collected as before.

Nothing here imports Qt.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

_frozen = False


def freeze_start_up(first: Callable[[], object] | None = None) -> int:
    """Run ``first`` (the rest of start-up, e.g. loading the engine), then collect once and
    exempt every object alive now from later collections.

    Call it once, when start-up is over (the window painted and the engine loaded) and
    before any data arrives: whatever is alive at that moment is never collected. Later
    calls do nothing (so rows that exist by then are never frozen). Returns the number of
    objects frozen (0 on a later call). Raises what ``first`` raises (then nothing is
    frozen). Runs on: the calling thread (the GUI thread in the window: one collection,
    ~30 ms, right after the first paint).
    """
    global _frozen
    if first is not None:
        first()
    if _frozen:
        return 0
    _frozen = True
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.debug("start-up objects exempt from garbage collection: %d", frozen)
    return frozen
