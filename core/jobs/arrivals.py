"""Which arrivals belong to which send: the ledger that ties the receiver's files to jobs.

The built-in receiver (a Storage SCP, PS3.4 Annex B) and a C-GET (PS3.4 C.4.3) publish each
instance they wrote on an arrival hub, on their own threads. The :class:`ArrivalLedger`
subscribes once, hands the arrivals over to the asyncio loop in batches (one
``call_soon_threadsafe`` per burst, not one per instance), and counts for every send to this
computer the *distinct* SOP Instance UIDs that match its target (the study; its series, if
the send names some; its SOP Instance UIDs, for an IMAGE-level send) and arrived since that
send started. A second send of the same study counts its own arrivals; an instance sent twice
counts once. Each send hears its count at most every ``interval`` seconds (100 ms, like the
queue's progress), and at once when :meth:`ArrivalLedger.flush` is called.

Runs on: the asyncio loop thread (everything but :meth:`ArrivalLedger.on_arrival`, which any
thread may call).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from dicom_courier.core.outcome.arrival import Arrival
from dicom_courier.core.qr.query import MoveTarget

#: Told ``(job id, distinct instances received)`` when a send's count changed.
ReceivedSink = Callable[[int, int], None]
#: How often at most one send hears its count (s).
DEFAULT_INTERVAL = 0.1


class ArrivalSource(Protocol):
    """What the ledger needs of an arrival hub (:class:`~.dimse.arrival_hub.ArrivalHub`):
    ``subscribe(callback)`` returns the call that unsubscribes; callbacks run on any thread."""

    def subscribe(self, callback: Callable[[Arrival], None]) -> Callable[[], None]: ...


@dataclass
class _Tracked:
    """One running send to this computer: its target and what arrived for it."""

    target: MoveTarget
    sink: ReceivedSink
    seen: set[str] = field(default_factory=set)
    folder: str | None = None
    told: int = -1                     # the count the sink last heard
    told_at: float = 0.0               # when (monotonic)
    due: asyncio.TimerHandle | None = None

    def matches(self, arrival: Arrival) -> bool:
        target = self.target
        return (arrival.study_uid == target.study_uid
                and (not target.series_uids or arrival.series_uid in target.series_uids)
                and (not target.sop_uids or arrival.sop_uid in target.sop_uids))


class ArrivalLedger:
    """Counts, per send to this computer, the distinct instances of its target that arrived.

    ``hub``: the arrival hub to subscribe to now (None: call :meth:`attach` later, or feed
    :meth:`on_arrival` directly). ``interval``: at most how often (s) one send hears its count.
    """

    def __init__(self, hub: ArrivalSource | None = None, *,
                 interval: float = DEFAULT_INTERVAL) -> None:
        self.interval = interval
        self._jobs: dict[int, _Tracked] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._pending: list[Arrival] = []
        self._hop_scheduled = False
        self._unsubscribe: list[Callable[[], None]] = []
        if hub is not None:
            self.attach(hub)

    def attach(self, hub: ArrivalSource) -> None:
        """Hear the arrivals ``hub`` publishes (until :meth:`close`)."""
        self._unsubscribe.append(hub.subscribe(self.on_arrival))

    def close(self) -> None:
        """Stop hearing arrivals and forget every send; idempotent."""
        for unsubscribe in self._unsubscribe:
            with contextlib.suppress(Exception):  # a hub already gone has nothing to undo
                unsubscribe()
        self._unsubscribe.clear()
        for job_id in list(self._jobs):
            self.untrack(job_id)

    # ------------------------------------------------------------------ the queue's side

    def track(self, job_id: int, target: MoveTarget, sink: ReceivedSink) -> None:
        """Start counting for send ``job_id`` (again from zero: only what arrives from now on
        counts). ``sink`` hears ``(job_id, received)`` on the loop thread. Call on the loop."""
        self._loop = asyncio.get_running_loop()
        self.untrack(job_id)
        self._jobs[job_id] = _Tracked(target, sink)

    def untrack(self, job_id: int) -> None:
        """Stop counting for ``job_id`` (nothing happens for a send not tracked)."""
        tracked = self._jobs.pop(job_id, None)
        if tracked is not None and tracked.due is not None:
            tracked.due.cancel()

    def received(self, job_id: int) -> int:
        """Distinct instances of ``job_id``'s target that arrived since it started (0 for a
        send not tracked). Arrivals still on their way to the loop are not counted yet."""
        tracked = self._jobs.get(job_id)
        return len(tracked.seen) if tracked is not None else 0

    def folder(self, job_id: int) -> str | None:
        """The study folder ``job_id``'s first arrival was written to, or None."""
        tracked = self._jobs.get(job_id)
        return tracked.folder if tracked is not None else None

    def flush(self, job_id: int | None = None) -> None:
        """Count the arrivals handed over so far and tell ``job_id`` (every send: None) its
        count now, whatever the interval. Call on the loop."""
        self._drain()
        for key, tracked in list(self._jobs.items()):
            if job_id is None or key == job_id:
                self._tell(key, tracked)

    # ------------------------------------------------------------------ the hub's side

    def on_arrival(self, arrival: Arrival) -> None:
        """One instance was written (any thread). Handed to the loop with the others that
        come before the loop gets to them; dropped when no send is waiting for arrivals.

        Runs on: the receiver's or the C-GET's worker thread (or the loop)."""
        loop = self._loop
        if loop is None or not self._jobs:
            return
        with self._lock:
            self._pending.append(arrival)
            if self._hop_scheduled:
                return
            self._hop_scheduled = True
        try:
            loop.call_soon_threadsafe(self._drain)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            with self._lock:
                self._pending.clear()
                self._hop_scheduled = False

    def _drain(self) -> None:
        """Count a batch of arrivals (on the loop) and tell the sends whose count moved."""
        with self._lock:
            batch, self._pending = self._pending, []
            self._hop_scheduled = False
        touched: set[int] = set()
        for arrival in batch:
            for job_id, tracked in self._jobs.items():
                if tracked.matches(arrival) and arrival.sop_uid not in tracked.seen:
                    tracked.seen.add(arrival.sop_uid)
                    if tracked.folder is None:  # <patient>/<study>/<series>/<sop>.dcm
                        tracked.folder = str(Path(arrival.path).parent.parent)
                    touched.add(job_id)
        for job_id in touched:
            self._tell_soon(job_id, self._jobs[job_id])

    def _tell_soon(self, job_id: int, tracked: _Tracked) -> None:
        """Tell now if the last telling is ``interval`` old, else once when it is."""
        if tracked.due is not None:
            return
        wait = tracked.told_at + self.interval - time.monotonic()
        if wait <= 0:
            self._tell(job_id, tracked)
            return
        loop = asyncio.get_running_loop()
        tracked.due = loop.call_later(wait, self._tell_due, job_id)

    def _tell_due(self, job_id: int) -> None:
        tracked = self._jobs.get(job_id)
        if tracked is not None:
            tracked.due = None
            self._tell(job_id, tracked)

    def _tell(self, job_id: int, tracked: _Tracked) -> None:
        if tracked.due is not None:
            tracked.due.cancel()
            tracked.due = None
        count = len(tracked.seen)
        tracked.told_at = time.monotonic()
        if count != tracked.told:
            tracked.told = count
            tracked.sink(job_id, count)
