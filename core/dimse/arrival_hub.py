"""ArrivalHub: where the receiver and C-GET announce what they wrote (or refused).

One hub per process, made in the composition root (the window's ``gui/app.py``, the CLI
command) and handed to the :class:`~.receiver.Receiver`, C-GET and the queue's ledger; no
global. Publishers call from any thread (pynetdicom's association threads, DIMSE workers);
each callback runs on the publisher's thread and must not block: a subscriber that lives on
an event loop hops there itself (``loop.call_soon_threadsafe``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from dicom_courier.core.outcome.arrival import Arrival, StoreRefusal

log = logging.getLogger(__name__)

ArrivalCallback = Callable[[Arrival], None]
RefusalCallback = Callable[[StoreRefusal], None]


class ArrivalHub:
    """Fan-out of :class:`Arrival` and :class:`StoreRefusal` values to subscribers.

    Thread-safe. A callback that raises is logged and does not stop the others (nor the
    store: the file is already on disk).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._arrivals: tuple[ArrivalCallback, ...] = ()
        self._refusals: tuple[RefusalCallback, ...] = ()

    def subscribe(self, callback: ArrivalCallback) -> Callable[[], None]:
        """Call ``callback(arrival)`` for every later arrival; returns the unsubscribe call
        (idempotent)."""
        with self._lock:
            self._arrivals = (*self._arrivals, callback)

        def unsubscribe() -> None:
            with self._lock:
                self._arrivals = tuple(c for c in self._arrivals if c is not callback)
        return unsubscribe

    def subscribe_refusals(self, callback: RefusalCallback) -> Callable[[], None]:
        """Call ``callback(refusal)`` for every later refusal (a store or an association we
        refused); returns the unsubscribe call (idempotent)."""
        with self._lock:
            self._refusals = (*self._refusals, callback)

        def unsubscribe() -> None:
            with self._lock:
                self._refusals = tuple(c for c in self._refusals if c is not callback)
        return unsubscribe

    def publish(self, arrival: Arrival) -> None:
        """Announce one instance on disk. Runs on: the caller's thread."""
        for callback in self._arrivals:  # a tuple: subscribing meanwhile is safe
            try:
                callback(arrival)
            except Exception:
                log.exception("An arrival subscriber failed")

    def refused(self, reason: str | StoreRefusal, *, calling_aet: str = "", address: str = "",
                status: int | None = None) -> None:
        """Announce something refused: one plain sentence without patient data (or a ready
        :class:`StoreRefusal`). Runs on: the caller's thread."""
        refusal = reason if isinstance(reason, StoreRefusal) else StoreRefusal(
            reason, calling_aet=calling_aet, address=address, status=status)
        for callback in self._refusals:
            try:
                callback(refusal)
            except Exception:
                log.exception("A refusal subscriber failed")
