"""A running move's responses, in the batches its worker handed over together.

:class:`~.operation.DimseOperation` (and the engine process's remote operations) offer
``batches()``: the responses one worker hand-over carried, so a consumer wakes once per
batch, not once per response. A test's fake move, or any other ``RunningMove`` without it,
is read one response at a time. Used by the queue and by :mod:`.retrieve_here`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from dicom_courier.core.outcome.events import MoveProgress


async def progress_batches(operation: Any) -> AsyncIterator[list[MoveProgress]]:
    """Yield ``operation``'s :class:`MoveProgress` responses as non-empty lists, in order:
    its ``batches()`` when it has that method, else one list per response (PS3.7 9.1.4 /
    9.1.3: the C-MOVE / C-GET responses). Raises what the operation's iteration raises."""
    batches = getattr(operation, "batches", None)
    if batches is None:
        async for progress in operation:
            yield [progress]
        return
    async for batch in batches():
        if batch:
            yield batch
