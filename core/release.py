"""End an association after its final response without costing the user time (PS3.8 7.2).

Once the final response is in, the result is final: the command line prints it, the queue
starts the next job, the duration stops. Releasing the association (our A-RELEASE-RQ, the
PACS's A-RELEASE-RP) happens after that, on a :class:`Releaser`: a small bounded set of
threads of its own, so the DIMSE pool is free for the next operation at once and lingering
releases can never starve it. Each release is bounded by the watchdog's release timer
(:data:`~.watchdog.RELEASE_LIMIT`, 2 s, counted from the hand-over), then one A-ABORT.

A PACS that releases first, or whose A-RELEASE-RQ crosses ours (a release collision,
PS3.8 7.2.2), is answered with A-RELEASE-RP (see :mod:`.release_collision`).
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from dicom_courier.core.watchdog import TRIP_FINISH, AssociationGuard, Phase

if TYPE_CHECKING:
    from pynetdicom import Association

log = logging.getLogger(__name__)

#: Threads that end associations; with each release bounded at RELEASE_LIMIT seconds, a
#: burst of releases waits at most a few seconds for a thread (and the watchdog's timer,
#: started at the hand-over, still aborts the ones whose peer does not answer).
RELEASE_THREADS = 4
#: How long :meth:`Releaser.close` lets releases under way finish on their own when the
#: caller may wait (the command line exiting), seconds; then they are aborted.
CLOSE_GRACE = 0.5


def release_bounded(assoc: Association, guard: AssociationGuard) -> None:
    """Release ``assoc`` after its final response; one A-ABORT if the PACS does not agree
    within the watchdog's release timer (``min(acse, idle, RELEASE_LIMIT)`` seconds from
    :meth:`AssociationGuard.set_phase` to ``RELEASING``). Never raises for the peer's doing.

    Runs on: a release thread, or the DIMSE worker for an operation without a releaser.
    """
    try:
        if guard.phase is not Phase.RELEASING:  # not handed over: the timer starts now
            guard.set_phase(Phase.RELEASING)
        if guard.tripped or assoc.is_released or assoc.is_aborted:
            return  # aborted meanwhile, or the PACS released first and was answered
        if assoc.is_established and assoc.is_alive():
            _release(assoc, guard)
        elif not assoc.is_released and assoc.dul.is_alive():
            guard.trip(TRIP_FINISH)
    except Exception:  # noqa: BLE001 - a failed release must not outlive its association
        log.debug("release failed; aborting", exc_info=True)
        guard.trip(TRIP_FINISH)
    finally:
        guard.close()


def _release(assoc: Association, guard: AssociationGuard) -> None:
    """pynetdicom's ``Association.release()`` with the check it lacks (3.0.4).

    pynetdicom's reactor answers a PACS's A-RELEASE-RQ by itself while it runs, which it does
    between the final response and the release. ``release()`` checks ``is_established``
    *before* pausing it, so the reactor can answer (and end the connection) in between; our
    request then waits for an answer that cannot come. Here the check follows the pause.
    Upstream fix: the same re-check in ``Association.release()``.
    """
    assoc._reactor_checkpoint.clear()
    try:
        while not assoc._is_paused and assoc.is_alive() and not guard.tripped:
            time.sleep(0.0005)
        if assoc.is_established and not assoc.is_released and not guard.tripped:
            assoc.acse.negotiate_release()
    finally:
        assoc._reactor_checkpoint.set()


class Releaser:
    """Ends associations handed over after their final response, on its own threads.

    ``submit`` returns at once. ``close`` ends every release still under way (A-ABORT after
    an optional grace) and refuses new ones (they are aborted at once).
    Thread use: ``submit`` and ``close`` from any thread.
    """

    def __init__(self, max_threads: int = RELEASE_THREADS) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._guards: set[AssociationGuard] = set()
        self._closed = False
        self._pool = ThreadPoolExecutor(max_workers=max_threads,
                                        thread_name_prefix="release")

    @property
    def lingering(self) -> int:
        """Releases handed over and not yet ended."""
        with self._lock:
            return len(self._guards)

    def submit(self, assoc: Association, guard: AssociationGuard) -> None:
        """Release ``assoc`` in the background; its release timer starts now.

        Runs on: the DIMSE worker, right after the final response.
        """
        guard.set_phase(Phase.RELEASING)
        with self._lock:
            if not self._closed:
                self._guards.add(guard)
                self._pool.submit(self._run, assoc, guard)
                return
        guard.trip(TRIP_FINISH)  # closing: no release any more
        guard.close()

    def _run(self, assoc: Association, guard: AssociationGuard) -> None:
        """Runs on: a release thread."""
        try:
            release_bounded(assoc, guard)
        finally:
            with self._lock:
                self._guards.discard(guard)
                self._changed.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for every release to end; True if they did."""
        end = time.monotonic() + timeout
        with self._lock:
            while self._guards:
                remaining = end - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
        return True

    def close(self, grace: float = 0.0) -> None:
        """Let releases under way end within ``grace`` seconds, A-ABORT the rest, and stop
        the threads (each ends within the watchdog's abort limit, well under a second)."""
        with self._lock:
            self._closed = True
        self.wait_idle(grace)
        with self._lock:
            guards = list(self._guards)
        for guard in guards:
            guard.trip(TRIP_FINISH)
        self._pool.shutdown(wait=True)
