"""End an association after its final response without costing the user time (PS3.8 7.2).

Once the final response is in, the result is final: the command line prints it, the queue
starts the next job, the duration stops. Releasing the association (our A-RELEASE-RQ, the
PACS's A-RELEASE-RP) happens after that: our A-RELEASE-RQ goes out at the hand-over, on
the DIMSE worker (it only queues a PDU), and waiting for the answer is left to a
:class:`Releaser`, a small bounded set of threads of its own, so the DIMSE pool is free for
the next operation at once and lingering releases can never starve it. Each release is
bounded by the watchdog's release timer (:data:`~.watchdog.RELEASE_LIMIT`, 2 s, counted from
the hand-over, when the request went out), then one A-ABORT.

The A-RELEASE-RP is taken in by pynetdicom's reader thread whether or not a release thread
waits for it yet, so PACS that never answer (each holds a release thread until its timer)
cannot make a healthy PACS wait: its release completes on the wire at once, and the thread
that picks it up later only collects the confirmation and stops pynetdicom's threads.

A PACS that releases first, or whose A-RELEASE-RQ crosses ours (a release collision,
PS3.8 7.2.2), is answered with A-RELEASE-RP (see :mod:`.release_collision`).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from pynetdicom import evt
from pynetdicom.pdu_primitives import A_RELEASE

from dicom_courier.core.dimse.watchdog import TRIP_FINISH, AssociationGuard, Phase

if TYPE_CHECKING:
    from pynetdicom import Association

log = logging.getLogger(__name__)

#: Threads that wait for release answers and stop pynetdicom's threads. Each A-RELEASE-RQ
#: went out at the hand-over and each watchdog times its own release, so a release that
#: waits for a thread loses nothing: its answer (or its A-ABORT at the timer) is on the wire
#: already, and the thread only collects it.
RELEASE_THREADS = 4
#: How often a release thread looks whether the connection closed under it, seconds.
_POLL = 0.05
#: How long :meth:`Releaser.close` lets releases under way finish on their own when the
#: caller may wait (the command line exiting), seconds; then they are aborted.
CLOSE_GRACE = 0.5


def release_bounded(assoc: Association, guard: AssociationGuard) -> None:
    """Release ``assoc`` after its final response; one A-ABORT if the PACS does not agree
    within the watchdog's release timer (``min(acse, idle, RELEASE_LIMIT)`` seconds from
    :meth:`AssociationGuard.set_phase` to ``RELEASING``). Never raises for the peer's doing.

    Runs on: the DIMSE worker, for an operation without a releaser.
    """
    if guard.phase is not Phase.RELEASING:  # not handed over: the timer starts now
        guard.set_phase(Phase.RELEASING)
    _end_release(assoc, guard, _request_release(assoc, guard))


def _request_release(assoc: Association, guard: AssociationGuard) -> bool:
    """Send our A-RELEASE-RQ now (PS3.8 7.2.1), without waiting for the answer.

    Returns True if it went out; pynetdicom's reactor is then left paused (it would take
    the answer) until :func:`_end_release`. False if there is nothing to release: aborted
    meanwhile, or the PACS released first and was answered. Never raises.
    Runs on: the DIMSE worker, right after the final response.
    """
    try:
        if guard.tripped or assoc.is_released or assoc.is_aborted:
            return False
        if not (assoc.is_established and assoc.is_alive()):
            if not assoc.is_released and assoc.dul.is_alive():
                guard.trip(TRIP_FINISH)
            return False
        # pynetdicom's Association.release() checks is_established *before* pausing the
        # reactor, which can answer the PACS's own A-RELEASE-RQ (and end the connection) in
        # between; here the check follows the pause. Upstream fix: the same re-check there.
        assoc._reactor_checkpoint.clear()
        while not assoc._is_paused and assoc.is_alive() and not guard.tripped:
            time.sleep(0.0005)
        if assoc.is_established and not assoc.is_released and not guard.tripped:
            assoc.acse.send_release(is_response=False)
            return True
        assoc._reactor_checkpoint.set()
        return False
    except Exception:  # noqa: BLE001 - a failed release must not outlive its association
        log.debug("release request failed; aborting", exc_info=True)
        guard.trip(TRIP_FINISH)
        assoc._reactor_checkpoint.set()
        return False


def _end_release(assoc: Association, guard: AssociationGuard, requested: bool) -> None:
    """Wait for the answer to our A-RELEASE-RQ (if ``requested``), then stop pynetdicom's
    threads for ``assoc`` and the watchdog. Never raises.

    Runs on: a release thread, or the DIMSE worker for an operation without a releaser.
    """
    try:
        if requested:
            _await_release(assoc, guard)
    except Exception:  # noqa: BLE001 - a failed release must not outlive its association
        log.debug("release failed; aborting", exc_info=True)
        guard.trip(TRIP_FINISH)
    finally:
        if requested:  # the reactor was left paused for the answer
            assoc._reactor_checkpoint.set()
        guard.close()


def _await_release(assoc: Association, guard: AssociationGuard) -> None:
    """The rest of pynetdicom's ``ACSE.negotiate_release`` (3.0.4), after its request went
    out: the A-RELEASE confirmation ends it (released), an A-ABORT or A-P-ABORT ends it
    (aborted, also the watchdog's trip at the release timer), a request from the PACS is a
    collision answered with A-RELEASE-RP (PS3.8 7.2.2; see :mod:`.release_collision`).

    A connection that is closed with nothing left for us (pynetdicom's reactor took the
    indication before it was paused) ends the wait too, instead of holding this thread.
    """
    acse, dul = assoc.acse, assoc.dul
    limit = assoc.acse_timeout  # None: no limit of pynetdicom's; the watchdog ends it long before
    backstop = time.monotonic() + (math.inf if limit is None else limit)
    while True:
        primitive = dul.receive_pdu(wait=True, timeout=_POLL)
        if primitive is None and _connection_closed(assoc):
            primitive = dul.receive_pdu(wait=False)  # queued before the close, if at all
            if primitive is None:
                break  # closed, and pynetdicom's reactor took what it said
        if primitive is None:
            if time.monotonic() < backstop:
                continue
            guard.trip(TRIP_FINISH)
            break
        if isinstance(primitive, A_RELEASE) and primitive.result is None:
            acse.send_release(is_response=True)  # a collision: answer, wait for ours
            continue
        if isinstance(primitive, A_RELEASE):
            assoc.is_released = True
            assoc.is_established = False
            evt.trigger(assoc, evt.EVT_RELEASED, {})
            return
        break  # A-ABORT or A-P-ABORT (the watchdog's trip at the release timer too)
    assoc.is_aborted = True
    assoc.is_established = False
    evt.trigger(assoc, evt.EVT_ABORTED, {})


def _connection_closed(assoc: Association) -> bool:
    """The transport connection is gone (PS3.8 Sta1): nothing more can come."""
    dul = assoc.dul
    return dul.state_machine.current_state == "Sta1" or not dul.is_alive()


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
        """Release ``assoc`` in the background: its A-RELEASE-RQ goes out now, and its
        release timer starts now; a release thread waits for the answer.

        Runs on: the DIMSE worker, right after the final response.
        """
        guard.set_phase(Phase.RELEASING)
        with self._lock:
            closed = self._closed
        requested = not closed and _request_release(assoc, guard)
        with self._lock:
            if not self._closed:
                self._guards.add(guard)
                self._pool.submit(self._run, assoc, guard, requested)
                return
        guard.trip(TRIP_FINISH)  # closing: no release any more
        _end_release(assoc, guard, requested=False)

    def _run(self, assoc: Association, guard: AssociationGuard, requested: bool) -> None:
        """Runs on: a release thread."""
        try:
            _end_release(assoc, guard, requested)
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
