"""A send as a value: its state, its label, the live snapshot and the recorded row.

The one job vocabulary of DICOM Courier. The queue (:mod:`.queue`), the job database
(:mod:`.store`, whose ``state`` column holds exactly these values), the history
(:mod:`.history`), the command line and the window all speak :class:`JobState`; nothing else
names a job's state. The values are the strings ``jobs.db`` has always stored, so files of every
earlier version read unchanged. Adding a state changes the file format: it needs a new
``store.SCHEMA_VERSION`` (an older Courier then refuses the file instead of misreading it).

Pure values, no I/O: safe to hand from the loop thread to the window.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum

from dicom_courier.core.config.profiles import PacsNode
from dicom_courier.core.outcome.arrival import HERE, ArrivalCheck
from dicom_courier.core.outcome.events import MoveOutcome, MoveProgress, MoveResult
from dicom_courier.core.qr.query import MoveRequest, Priority


class JobState(StrEnum):
    """Where a send is. The value is the text stored in ``jobs.db`` and shown to people.

    A live queue holds QUEUED, RUNNING, CANCELLING, RETRYING and the five outcomes (the
    :class:`.events.MoveOutcome` values). The last two are the database's: INTERRUPTED (the
    process that ran it ended while it ran; a live queue announces it only as it closes,
    leaving its sends to resume, see ``MoveQueue.leave_interrupted``) and REQUEUED (a runner
    took it over: a later job, ``retry_of`` = its id, sends it).
    """

    QUEUED = "queued"
    RUNNING = "running"
    CANCELLING = "cancelling"
    RETRYING = "retrying"  # an attempt failed transiently; the next one waits for its time
    COMPLETED = "completed"
    COMPLETED_WITH_WARNINGS = "completed_with_warnings"  # every image arrived, some flagged
    PARTIAL = "partial"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"
    REQUEUED = "requeued"

    @property
    def is_finished(self) -> bool:
        """True when this job will never send again (an outcome, or REQUEUED: another job
        continues it). Only finished jobs are retried by hand or deleted by retention."""
        return self in FINISHED

    @classmethod
    def of_outcome(cls, outcome: MoveOutcome) -> JobState:
        """The final state of a send whose C-MOVE ended with ``outcome`` (same words)."""
        return cls(outcome.value)

    @classmethod
    def read(cls, text: str) -> JobState:
        """The state stored as ``text`` in ``jobs.db``; never raises.

        A text this version does not know (a hand-edited file) is kept as it is written: the
        value equals ``text`` and is shown as it is, it is not one of the members, and it is
        neither finished, in progress nor waiting (so nothing runs or deletes that job).
        """
        try:
            return cls(text)
        except ValueError:
            unlisted = str.__new__(cls, text)
            unlisted._name_ = text
            unlisted._value_ = text
            return unlisted


#: Over for good: the only states retention deletes and a person may retry by hand.
FINISHED: frozenset[JobState] = frozenset({
    JobState.COMPLETED, JobState.COMPLETED_WITH_WARNINGS, JobState.PARTIAL, JobState.FAILED,
    JobState.CANCELLED, JobState.REQUEUED})
#: Being worked on by a process; found in the database at start, they were "interrupted".
IN_PROGRESS: frozenset[JobState] = frozenset({
    JobState.RUNNING, JobState.CANCELLING, JobState.RETRYING})
#: Not sent yet and no process sending it: a runner may take it (``JobStore.claim_queued``).
CLAIMABLE: frozenset[JobState] = frozenset({
    JobState.QUEUED, JobState.INTERRUPTED, JobState.RETRYING})


def stored(states: frozenset[JobState]) -> tuple[str, ...]:
    """``states`` as the sorted texts of the ``state`` column (for ``IN (...)`` queries)."""
    return tuple(sorted(state.value for state in states))


@dataclass(frozen=True)
class JobLabel:
    """What a person recognises a send by (shown in the queue, never sent to the PACS).

    ``patient_id``: the Patient ID the PACS returned for the study, as it came (padding
    stripped), recorded in ``jobs.db`` for the history even when a Patient Root move could
    not carry it (the move's own ``MoveTarget.patient_id`` is then None).
    """

    patient: str = ""
    study: str = ""
    patient_id: str = ""

    @property
    def text(self) -> str:
        """The one-line label recorded in ``jobs.db``: "patient — study", or either alone."""
        return f"{self.patient} — {self.study}".strip(" —")


@dataclass(frozen=True)
class JobSnapshot:
    """One job as it is now; a new snapshot replaces the old one on every change.

    ``attempt`` counts automatic attempts of this job (1 = the first); ``next_retry_at`` is
    when a RETRYING job tries again, on the queue's clock (``time.monotonic`` unless a test
    injected another). ``queued_at``/``started_at``/``finished_at`` are always
    ``time.monotonic``; ``started_at`` is that of the current attempt, so rates stay right.

    Arrivals (issue 13): ``received`` is None for a send to another node, else the distinct
    instances of this job's target written to this computer since it started (the built-in
    receiver or a C-GET, counted by :class:`~.arrivals.ArrivalLedger`); ``arrival`` is what
    the arrival check found once it is over (files on disk for "This computer", a C-FIND of
    a queryable destination otherwise); ``checking`` is True while the PACS has answered its
    final response and the queue waits for the arrivals or checks the destination; ``folder``
    the study folder the arrivals were written to (as text; None before any arrived).
    """

    job_id: int
    pacs: PacsNode
    request: MoveRequest
    label: JobLabel
    state: JobState
    queued_at: float
    started_at: float | None = None
    finished_at: float | None = None
    progress: MoveProgress | None = None
    result: MoveResult | None = None
    retry_of: int | None = None
    attempt: int = 1
    next_retry_at: float | None = None
    received: int | None = None
    arrival: ArrivalCheck | None = None
    checking: bool = False
    folder: str | None = None

    @property
    def destination(self) -> str:
        return self.request.destination

    @property
    def to_here(self) -> bool:
        """A send to this computer (the built-in receiver, or a C-GET): ``destination`` is
        :data:`~dicom_courier.core.outcome.arrival.HERE`."""
        return self.request.destination == HERE

    @property
    def priority(self) -> Priority:
        return self.request.priority

    @property
    def elapsed(self) -> float:
        if self.started_at is None:
            return 0.0
        return (self.finished_at or time.monotonic()) - self.started_at

    @property
    def images_per_second(self) -> float | None:
        """Images the PACS finished with (sent, failed or warned) per second: the pace that
        the time remaining is estimated from. None before any."""
        done = self.progress.done if self.progress else 0
        return done / self.elapsed if done and self.elapsed > 0 else None

    @property
    def sent_per_second(self) -> float | None:
        """Images that arrived per second (failed ones never count: a send where every image
        failed has no rate to show). None before any arrived."""
        sent = self.progress.sent if self.progress else 0
        return sent / self.elapsed if sent and self.elapsed > 0 else None

    @property
    def seconds_remaining(self) -> float | None:
        rate = self.images_per_second
        if self.progress is None or self.progress.remaining is None or not rate:
            return None
        return self.progress.remaining / rate


@dataclass(frozen=True)
class StoredJob:
    """One send as ``jobs.db`` recorded it (one row of the history), as an immutable value.

    Times are wall-clock UTC epoch seconds; ``pacs_name`` is the name in the profile recorded
    with the job; ``priority`` is the DIMSE priority value (PS3.7 9.1.1.1, ``core.query
    .Priority``); ``sop_uids`` is an IMAGE-level target (a retry of failed images) and
    ``failed_uids`` the PACS's Failed SOP Instance UID List (PS3.4 C.4.2.1.4).
    ``received`` (a send to this computer: instances written here), ``arrival`` (the arrival
    check's words, as shown: "verified at destination: 120/120"), ``arrival_verified`` (None:
    not checked) and ``folder`` (where a send to this computer wrote) are None when unknown.
    """

    id: int
    state: JobState
    os_user: str
    pacs_name: str
    destination: str
    patient_id: str
    study_uid: str
    series_uids: tuple[str, ...]
    label: str
    queued_at: float
    started_at: float | None
    finished_at: float | None
    total: int | None
    completed: int
    failed: int
    warning: int
    status: int | None
    error: str | None
    retry_of: int | None
    priority: int = 0
    attempt: int = 1
    next_retry_at: float | None = None
    failed_uids: tuple[str, ...] = ()
    sop_uids: tuple[str, ...] = ()
    error_type: str | None = None
    received: int | None = None
    arrival: str | None = None
    arrival_verified: bool | None = None
    folder: str | None = None
