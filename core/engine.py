"""The engine's front door: one DIMSE thread pool, and echo / find / move on any asyncio loop.

The command line and the window both compose exactly one :class:`Courier`. It owns the worker
pool (never the loop's default executor) and shuts it down in order.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from dicom_courier.core.association import ABORT_BY_USER, ABORT_DEADLINE, OperationControl
from dicom_courier.core.echo import echo_blocking
from dicom_courier.core.events import EchoResult
from dicom_courier.core.find import FindOperation
from dicom_courier.core.move import MoveOperation
from dicom_courier.core.nodes import PacsNode
from dicom_courier.core.operation import DimseOperation
from dicom_courier.core.query import FindQuery, MoveRequest, QueryModel
from dicom_courier.core.release import CLOSE_GRACE, Releaser
from dicom_courier.core.running import RunningOperations
from dicom_courier.core.transport import quiet_pynetdicom

OpT = TypeVar("OpT", bound=DimseOperation[Any, Any])


class Courier:
    """Echo, find and move against PACS nodes; every association on a DIMSE worker thread."""

    def __init__(self, max_workers: int = 8, *, cancel_grace: float = 5.0) -> None:
        quiet_pynetdicom()
        self.cancel_grace = cancel_grace
        #: Every find and move made here: ``running.cancel_all()`` is a person's cancel (Ctrl-C).
        self.running = RunningOperations()
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="dimse")
        #: Ends associations after their final response, on threads of its own (issue 9 §3).
        self.releaser = Releaser()

    async def echo(self, pacs: PacsNode) -> EchoResult:
        """C-ECHO ``pacs``; raises a :class:`~dicom_courier.core.errors.CourierError`."""
        loop = asyncio.get_running_loop()
        control = OperationControl(self.releaser)
        total = pacs.timeouts.total  # the deadline covers connection set-up, as for find/move
        deadline = loop.call_later(total, control.abort, ABORT_DEADLINE) if total else None
        try:
            return await loop.run_in_executor(self._executor, echo_blocking, pacs, control)
        except asyncio.CancelledError:
            control.abort(ABORT_BY_USER)  # end a pending connection now, not at its timeout
            raise
        finally:
            if deadline is not None:
                deadline.cancel()

    def find(self, pacs: PacsNode, query: FindQuery, *, limit: int | None = None,
             raise_on_error: bool = True,
             other_models: tuple[QueryModel, ...] = ()) -> FindOperation:
        """A C-FIND to iterate with ``async for``; ``limit`` cancels after that many matches;
        ``other_models``: models the PACS may be asked in instead (see :class:`FindOperation`)."""
        return self.running.track(self._released_here(FindOperation(
            pacs, query, self._executor, limit=limit, cancel_grace=self.cancel_grace,
            raise_on_error=raise_on_error, other_models=other_models)))

    def move(self, pacs: PacsNode, request: MoveRequest) -> MoveOperation:
        """A C-MOVE to iterate with ``async for`` (progress), then read ``.result``."""
        return self.running.track(self._released_here(MoveOperation(
            pacs, request, self._executor, cancel_grace=self.cancel_grace)))

    def _released_here(self, operation: OpT) -> OpT:
        """``operation``, its association handed to our releaser after the final response."""
        operation.control.releaser = self.releaser
        return operation

    def close(self, *, wait: bool = True) -> None:
        """Shut the pool down; cancel or abort running operations first.

        Releases still under way end too: with ``wait`` they get ``CLOSE_GRACE`` seconds to
        finish (a command line exiting right after its result), then A-ABORT; without it
        (closing the window) they are aborted at once.
        """
        self._executor.shutdown(wait=wait, cancel_futures=True)
        self.releaser.close(CLOSE_GRACE if wait else 0.0)

    def __enter__(self) -> Courier:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        # After an interruption do not wait for workers: each ends within its own timeouts.
        self.close(wait=exc_type is None)
