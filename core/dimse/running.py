"""The operations one :class:`~.engine.Courier` is running, so that one cancel reaches them all.

A person's cancel means one thing everywhere (issue 9 §4): :meth:`.operation.DimseOperation.cancel`
sends C-CANCEL at once (PS3.7 9.1.2.1.5 / PS3.4 C.4.1.3.1, C.4.2.3.1) and A-ABORTs after the
grace period if the PACS has not ended the operation by then. This registry lets a caller
that does not hold the operations (Ctrl-C while ``move -k`` looks its targets up) reach them
through that same method, and makes an operation created *after* the cancel stop before it
sends anything (a fallback look-up must not start once the person has said stop).
"""

from __future__ import annotations

import weakref
from typing import Any, TypeVar

from dicom_courier.core.dimse.operation import DimseOperation

OpT = TypeVar("OpT", bound=DimseOperation[Any, Any])

_CANCEL = "cancel"
_ABORT = "abort"


class RunningOperations:
    """Weak set of a Courier's operations; ``cancel_all()`` / ``abort_all()`` reach each once.

    Runs on: the asyncio loop thread (like the operations' own ``cancel``/``abort``).
    """

    def __init__(self) -> None:
        self._live: weakref.WeakSet[DimseOperation[Any, Any]] = weakref.WeakSet()
        self._stopping: str | None = None

    @property
    def stopping(self) -> bool:
        """True once :meth:`cancel_all` or :meth:`abort_all` was called."""
        return self._stopping is not None

    def track(self, operation: OpT) -> OpT:
        """Remember ``operation`` (returned as is); after a cancel it is cancelled at once,
        which ends it before its request goes out (nothing reaches the PACS)."""
        self._live.add(operation)
        if self._stopping == _ABORT:
            operation.abort()
        elif self._stopping == _CANCEL:
            operation.cancel()
        return operation

    def cancel_all(self) -> int:
        """C-CANCEL every unfinished operation, each with its grace period; how many."""
        if self._stopping is None:
            self._stopping = _CANCEL
        running = [op for op in list(self._live) if not op.finished]
        for operation in running:
            operation.cancel()
        return len(running)

    def abort_all(self) -> None:
        """A-ABORT every unfinished operation now (a second Ctrl-C)."""
        self._stopping = _ABORT
        for operation in list(self._live):
            if not operation.finished:
                operation.abort()
