"""After the PACS's final response: wait for the arrivals, or check the destination.

A C-MOVE's final response (PS3.4 C.4.2.1.6) says what the PACS *says* it sent; some PACS
answer it before their C-STOREs are done (Orthanc with ``SynchronousCMove`` off). So the move
queue (:mod:`.queue`) ends a send only after this step:

* **a send to this computer** (destination :data:`~.outcome.arrival.HERE`): wait, bounded by
  ``arrival_wait`` seconds, until the instances the PACS reported sent (completed + with
  warnings) are on disk (:class:`~.arrivals.ArrivalLedger` counts them); the check is then
  the files themselves (``where`` = "This computer");
* **a send to a destination that answers C-FIND** (its profile is ``queryable``): run the
  injected arrival check (:func:`~.dimse.arrival_check.check_arrival`, PS3.4 C.4.1), which
  queries the destination and re-checks for a bounded time.

The rule that decides the job's state (:func:`final_state`): a check that found fewer than
the PACS reported turns "completed" into "partial": a send whose images did not all arrive
never reads as completed. A check that could not run (the destination did not answer)
changes nothing but is said in words ("not checked: …"). Pure helpers, no I/O of their own.

Runs on: the asyncio loop thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dicom_courier.core.config.profiles import Destination, PacsNode
from dicom_courier.core.jobs.job import JobState
from dicom_courier.core.outcome.arrival import THIS_COMPUTER, ArrivalCheck
from dicom_courier.core.outcome.arrival_rule import worth_checking
from dicom_courier.core.outcome.errors import Peer, ReceiverError
from dicom_courier.core.outcome.events import MoveOutcome, MoveProgress, MoveResult
from dicom_courier.core.qr.query import MoveRequest

if TYPE_CHECKING:  # the engine (pynetdicom) is imported where a check runs, not at start
    from dicom_courier.core.dimse.engine import Courier

#: Checks a send at its destination: ``(pacs, destination, request, result)`` -> what it found.
ArrivalChecker = Callable[[PacsNode, Destination, MoveRequest, MoveResult],
                          Awaitable[ArrivalCheck]]
#: How long a send to this computer waits for its last instances by default (s).
DEFAULT_ARRIVAL_WAIT = 30.0
#: The check's words when a person cancelled it.
CHECK_CANCELLED = "the check was cancelled"


class ReceiverNotSetUp(ReceiverError):
    """A send to this computer was asked of a queue that has no receiver to take it (the
    receiver is off, or this front end, e.g. ``queue run``, does not run one)."""


@dataclass
class ArrivalWait:
    """One job's wait after the final response: ``changed`` is set whenever its count moves,
    ``stop`` when a person cancels the wait."""

    changed: asyncio.Event = field(default_factory=asyncio.Event)
    stop: asyncio.Event = field(default_factory=asyncio.Event)


def queryable_destination(pacs: PacsNode, ae_title: str) -> Destination | None:
    """The profile of ``pacs``'s destination ``ae_title`` if it answers C-FIND (part of its
    profile: ``Destination.queryable`` with host and port), else None."""
    for dest in pacs.destinations:
        if dest.ae_title == ae_title and dest.can_be_checked:
            return dest
    return None


def expected_here(result: MoveResult) -> int | None:
    """How many instances a send to this computer waits for: those the PACS reported sent
    (completed + with warnings, PS3.4 C.4.2.1.6; a C-GET's PACS that counted more than
    arrived: what it said), None when it did not say."""
    if not result.counts_reported or not result.completed_reported:
        return None
    return result.said_sent if result.said_sent is not None else result.sent


def arrival_limit(result: MoveResult, limit: float) -> float:
    """Seconds a send to this computer may wait for late images: ``limit``, but none after
    a C-GET (its images come only over its own association, which has ended)."""
    return 0.0 if result.via_get else limit


def should_check(result: MoveResult) -> bool:
    """A destination is checked after a send that reached the PACS and sent something (or
    said it succeeded without counts): :func:`..outcome.arrival_rule.worth_checking`, the
    rule ``move --verify`` uses too. A failed image is said by the send's own outcome."""
    return worth_checking(result)


def final_state(pacs_state: JobState, check: ArrivalCheck | None) -> JobState:
    """The job's state from the PACS's outcome and what the arrival check found.

    Fewer found than the PACS reported (the check ran, the count was known): "completed" and
    "completed with warnings" become "partial"; a failed, partial or cancelled send keeps
    its state. No check, or one that could not run: the PACS's state.
    """
    if check is None or check.error is not None or check.expected is None or check.verified:
        return pacs_state
    if pacs_state in (JobState.COMPLETED, JobState.COMPLETED_WITH_WARNINGS):
        return JobState.PARTIAL
    return pacs_state


async def wait_for_arrivals(received: Callable[[], int], wait: ArrivalWait, expected: int,
                            limit: float) -> float:
    """Wait until ``received()`` reaches ``expected``, ``limit`` seconds pass or ``wait.stop``
    is set; returns the seconds waited. Wakes on ``wait.changed`` only (no polling)."""
    started = time.monotonic()
    while received() < expected and not wait.stop.is_set():
        left = limit - (time.monotonic() - started)
        if left <= 0:
            break
        wait.changed.clear()
        waiters = [asyncio.ensure_future(wait.changed.wait()),
                   asyncio.ensure_future(wait.stop.wait())]
        try:
            await asyncio.wait(waiters, timeout=left, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
    return time.monotonic() - started


def here_check(expected: int | None, received: int, waited: float) -> ArrivalCheck:
    """What a send to this computer found: the files on disk."""
    return ArrivalCheck(where=THIS_COMPUTER, expected=expected, found=received, waited=waited)


async def run_check(checker: ArrivalChecker, job_pacs: PacsNode, dest: Destination,
                    request: MoveRequest, result: MoveResult, wait: ArrivalWait) -> ArrivalCheck:
    """Run ``checker`` until it answers or ``wait.stop`` is set (then it is cancelled and the
    check says so). A check that raises is reported as not checked, never raised."""
    started = time.monotonic()
    check = asyncio.ensure_future(checker(job_pacs, dest, request, result))
    stop = asyncio.ensure_future(wait.stop.wait())
    try:
        await asyncio.wait([check, stop], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
    if not check.done():
        check.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await check
        return ArrivalCheck(where=dest.display_name, expected=result.sent, found=0,
                            waited=time.monotonic() - started, error=CHECK_CANCELLED)
    try:
        return check.result()
    except Exception as exc:  # noqa: BLE001 - a check never ends a send
        return ArrivalCheck(where=dest.display_name, expected=result.sent, found=0,
                            waited=time.monotonic() - started,
                            error=f"the check failed ({type(exc).__name__})")


def arrival_checker(courier: Courier, *, wait: float = DEFAULT_ARRIVAL_WAIT,
                    interval: float = 3.0) -> ArrivalChecker:
    """The queue's ``check_arrival``: :func:`.dimse.arrival_check.check_send`, the one rule
    ``move --verify`` uses too (expected = what the PACS reported sent; C-FIND the
    destination, PS3.4 C.4.1), re-checking every ``interval`` s for up to ``wait`` s. Never
    raises for a network fault (the check's ``error`` says it)."""

    async def check(pacs: PacsNode, dest: Destination, request: MoveRequest,
                    result: MoveResult) -> ArrivalCheck:
        from dicom_courier.core.dimse.arrival_check import check_send  # noqa: PLC0415

        return await check_send(courier, pacs, dest, request.target, result, wait=wait,
                                interval=interval)

    return check


class NotSetUpHere:
    """The :class:`~.queue.RunningMove` of a send to this computer that cannot be made: no
    response, a failed result whose error says how to turn the receiver on (or ``error``,
    when the receiver is on but could not start)."""

    def __init__(self, pacs: PacsNode, request: MoveRequest,
                 error: ReceiverNotSetUp | None = None) -> None:
        error = error or ReceiverNotSetUp(
            "This computer cannot receive images now.",
            "The send is to this computer, but DICOM Courier's receiver is not running "
            "here, so nothing was asked of the PACS.",
            "Turn on \"This computer (receiver)\" in Preferences, then retry the send.",
            cli_action="Send it with 'dicom-courier move … --dest @here', which starts the "
                       "receiver for the send.")
        self._result = MoveResult(
            outcome=MoveOutcome.FAILED, total=None, completed=0, failed=0, warning=0,
            status=None, duration=0.0, error_comment=None, failed_sop_uids=(), error=error,
            destination=request.destination,
            peer=Peer(calling_aet=pacs.calling_aet, called_aet=pacs.called_aet,
                      host=pacs.host, port=pacs.port),
            counts_reported=False, request_sent=False)

    def __aiter__(self) -> AsyncIterator[MoveProgress]:
        return self._nothing()

    async def _nothing(self) -> AsyncIterator[MoveProgress]:
        return
        yield  # an async generator that yields nothing

    @property
    def result(self) -> MoveResult:
        return self._result

    def cancel(self) -> None:
        """Nothing runs: nothing to stop."""

    def abort(self) -> None:
        """Nothing runs: nothing to end."""
