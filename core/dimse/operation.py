"""The loop-side half of a DIMSE operation: run the worker, stream its items, enforce our timers.

A subclass implements :meth:`DimseOperation._work`, which runs on a DIMSE worker thread, owns
its association from start to end and puts items into a :class:`Channel`. This class iterates
those items on the asyncio loop and adds what pynetdicom lacks: an immediate cancel (C-CANCEL,
then A-ABORT after a grace period) and a total deadline that ends even an endless Pending.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor
from typing import Generic, TypeVar

from dicom_courier.core.config.profiles import PacsNode
from dicom_courier.core.dimse.association import (
    ABORT_BY_USER,
    ABORT_CANCEL_GRACE,
    ABORT_CANCELLED_EARLY,
    ABORT_CONSUMER_GONE,
    ABORT_DEADLINE,
    OperationControl,
)
from dicom_courier.core.dimse.channel import Channel

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")

__all__ = ["ABORT_BY_USER", "ABORT_CANCEL_GRACE", "ABORT_CANCELLED_EARLY",
           "ABORT_CONSUMER_GONE", "ABORT_DEADLINE", "DimseOperation"]


class DimseOperation(Generic[ItemT, ResultT]):
    """Iterate with ``async for``; afterwards ``result`` holds the outcome. Use once."""

    def __init__(self, pacs: PacsNode, executor: Executor, *, cancel_grace: float = 5.0) -> None:
        self.pacs = pacs
        self.control = OperationControl()
        self.cancel_grace = cancel_grace
        self._executor = executor
        self._loop: asyncio.AbstractEventLoop | None = None
        self._grace_handle: asyncio.TimerHandle | None = None
        self._result: ResultT | None = None
        self._started = False

    @property
    def result(self) -> ResultT:
        if self._result is None:
            raise RuntimeError("the operation has not finished yet")
        return self._result

    @property
    def cancel_requested(self) -> bool:
        return self.control.cancel_requested.is_set()

    @property
    def finished(self) -> bool:
        """True once the worker has returned its result."""
        return self._result is not None

    def __aiter__(self) -> AsyncIterator[ItemT]:
        self._start_once()
        return self._iterate()

    def batches(self) -> AsyncIterator[list[ItemT]]:
        """Iterate the items in the batches the worker handed over (one loop wake-up each).

        A worker hands over what it has whenever the peer has nothing more queued, so a slow
        PACS's rows show as they arrive. Use instead of ``async for``, once.
        """
        self._start_once()
        return self._batches()

    def _start_once(self) -> None:
        if self._started:
            raise RuntimeError("an operation can be iterated only once")
        self._started = True

    async def run(self) -> ResultT:
        """Run to the end, ignoring the items; return the result."""
        async for _item in self:
            pass
        return self.result

    def cancel(self) -> None:
        """Send C-CANCEL now; abort if the PACS has not ended the operation after the grace.

        Before the request is out there is nothing to cancel politely: the attempt ends now.
        After the final response (the operation finished, or its association was handed
        over for release) there is nothing to cancel: nothing happens.
        """
        if self.control.cancel_requested.is_set() or self.finished or self.control.over:
            return
        if not self.control.request_sent:
            self.control.cancel_requested.set()
            if self._started:
                self._abort_soon(ABORT_CANCELLED_EARLY)
            else:  # not connected yet: nothing can block, and it must never connect
                self.control.abort(ABORT_CANCELLED_EARLY)
            return
        _in_thread(self.control.request_cancel, "c-cancel")
        if self._loop is not None:
            self._grace_handle = self._loop.call_later(
                self.cancel_grace, self._abort_soon, ABORT_CANCEL_GRACE)

    def abort(self) -> None:
        """End at once with A-ABORT (a second Ctrl-C, or closing the app); nothing after
        the final response (the association is being released)."""
        if self.finished or self.control.over:
            return
        self.control.cancel_requested.set()
        self._abort_soon(ABORT_BY_USER)

    def _abort_soon(self, reason: str) -> None:
        _in_thread(lambda: self.control.abort(reason), f"abort-{reason}")

    async def _iterate(self) -> AsyncIterator[ItemT]:
        async for batch in self._batches():
            for item in batch:
                yield item

    async def _batches(self) -> AsyncIterator[list[ItemT]]:
        loop = self._loop = asyncio.get_running_loop()
        channel: Channel[ItemT] = Channel(loop)
        future = loop.run_in_executor(self._executor, self._work, channel)
        deadline = self.pacs.timeouts.total
        deadline_handle = (loop.call_later(deadline, self._abort_soon, ABORT_DEADLINE)
                           if deadline else None)
        try:
            async for batch in channel.batches():
                yield batch
            self._result = await future
        finally:
            if deadline_handle is not None:
                deadline_handle.cancel()
            if self._grace_handle is not None:
                self._grace_handle.cancel()
            if not future.done():
                # The consumer stopped early (break, or its task was cancelled).
                self._abort_soon(ABORT_CONSUMER_GONE)

    def _work(self, channel: Channel[ItemT]) -> ResultT:
        """Runs on: DIMSE worker thread. Must close ``channel`` before returning."""
        raise NotImplementedError


def _in_thread(target: Callable[[], object], name: str) -> None:
    """Run a short, possibly blocking pynetdicom call off the loop thread, without a pool.

    A pool could be full of running moves; a cancel must not wait behind them.
    """
    threading.Thread(target=target, name=name, daemon=True).start()
