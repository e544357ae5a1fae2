"""When a failed send is tried again on its own, and after how long.

Only a transient fault is worth a second try without a person deciding: the PACS or network
was busy or away (connection refused or timed out, transient association rejection, out of
resources 0xA701/0xA702, idle timeout, a dropped association). The error catalogue already
says which those are (:attr:`CourierError.retryable`); this module only adds the timing.
A permanent fault (0xA801 unknown destination, permanent rejection, 0xA900) fails the same way
every time, and a cancel is a person's decision, so neither is ever retried automatically.
A move that delivered nothing follows its destination diagnosis (:mod:`..dimse.destination_check`):
destination down → retried with back-off; unknown to the PACS → never; undecided → once.

Waits grow exponentially (10 s, 20 s, 40 s …, capped) with random jitter, so that many jobs
failing together against one PACS that went down do not all come back at the same instant.

A partial send is not repeated whole: :func:`series_of_images` places the images the PACS
listed as failed in their series, so the queue can re-send just those at IMAGE level.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dicom_courier.core.config.profiles import PacsNode
from dicom_courier.core.outcome.errors import CourierError
from dicom_courier.core.outcome.events import MoveOutcome, MoveResult
from dicom_courier.core.qr.query import QueryLevel, QueryModel

if TYPE_CHECKING:  # the engine (pynetdicom) is imported where a move runs, not at start
    from dicom_courier.core.dimse.engine import Courier


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential back-off for automatic retries of one job.

    ``max_attempts`` counts every attempt, the first one included (4 = up to 3 retries).
    ``jitter`` is the fraction by which a delay may randomly grow or shrink (0.2 = ±20 %).
    """

    max_attempts: int = 4
    base_delay: float = 10.0
    factor: float = 2.0
    max_delay: float = 600.0
    jitter: float = 0.2

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.factor < 1:
            raise ValueError("delays must not be negative and factor must be at least 1")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be in [0, 1)")

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based) before the next.

        base_delay * factor ** (attempt - 1), capped at ``max_delay``, then moved by up to
        ±jitter; the result never exceeds ``max_delay``. ``rng`` makes the jitter repeatable.
        """
        if attempt < 1:
            raise ValueError("attempt numbers start at 1")
        exponent = min(attempt - 1, 64)  # beyond this the cap applies anyway; avoid overflow
        nominal = min(self.max_delay, self.base_delay * self.factor ** exponent)
        if self.jitter:
            nominal *= 1.0 + (rng or random).uniform(-self.jitter, self.jitter)
        return max(0.0, min(self.max_delay, nominal))

    def should_retry(self, result: MoveResult) -> bool:
        """True if ``result`` failed for a reason that may go away by itself.

        Completed, partial and cancelled sends are never retried (once images arrived, a
        whole move is never repeated automatically); a failure is retried only if its
        error says so (partial failures carry a non-retryable PartialFailure: the images that
        did not arrive are re-sent by "retry failed images", not by repeating the whole move).
        """
        if result.outcome in (MoveOutcome.COMPLETED, MoveOutcome.COMPLETED_WITH_WARNINGS,
                              MoveOutcome.CANCELLED, MoveOutcome.PARTIAL):
            return False  # images arrived (or a person stopped it): never repeat it whole
        return result.error is not None and result.error.retryable

    def next_delay(self, result: MoveResult, attempt: int,
                   rng: random.Random | None = None) -> float | None:
        """The wait before attempt ``attempt + 1``, or None if there will be no such attempt."""
        if attempt >= self.attempts_for(result) or not self.should_retry(result):
            return None
        return self.delay(attempt, rng)

    def attempts_for(self, result: MoveResult) -> int:
        """How many attempts ``result``'s kind of failure gets, the first one included.

        The destination diagnosis decides by its type (:mod:`..dimse.destination_check`): a
        destination that did not answer is transient (``max_attempts``); one the PACS does not
        know is permanent (not retryable at all); an undecided case is retried once.
        """
        from dicom_courier.core.dimse.destination_check import (
            UNDECIDED_ATTEMPTS,
            DestinationUndecided,
        )

        if isinstance(result.error, DestinationUndecided):
            return min(self.max_attempts, UNDECIDED_ATTEMPTS)
        return self.max_attempts


# ---------------------------------------------------------------- retry of the failed images

#: At most this many UIDs per C-FIND or C-MOVE identifier: a UI value's length field is 16 bits
#: in explicit VR, so a list of ~1,000 UIDs would no longer fit in one attribute.
UIDS_PER_REQUEST = 200


def chunked(uids: Sequence[str], size: int = UIDS_PER_REQUEST) -> list[tuple[str, ...]]:
    """``uids`` in consecutive groups of at most ``size``."""
    return [tuple(uids[i:i + size]) for i in range(0, len(uids), size)]


async def series_of_images(courier: Courier, pacs: PacsNode, study_uid: str,
                           sop_uids: Sequence[str], *, model: QueryModel = QueryModel.STUDY,
                           patient_id: str | None = None,
                           ) -> tuple[dict[str, tuple[str, ...]], bool] | None:
    """Group ``sop_uids`` of one study by their series, asking the PACS.

    Needed because a C-MOVE's Failed SOP Instance UID List (PS3.4 C.4.2.1.4.2) names images
    only, while an IMAGE-level C-MOVE must name their series (a hierarchical PACS requires the
    unique keys of every level above). IMAGE-level C-FINDs in the job's ``model`` (with the
    Patient ID for Patient Root) through :func:`.uid_lookup.look_up`: UID lists of at most
    :data:`UIDS_PER_REQUEST` UIDs (PS3.4 C.2.2.2.2), one look-up per UID where the PACS
    cannot match lists.

    Returns ``(groups, lists_work)`` — ``lists_work`` False: the PACS cannot match UID lists,
    so each image must be moved on its own — or None when the lookup fails or leaves an image
    unplaced: the caller then re-sends the whole target rather than silently dropping an
    image it could not place.
    """
    from dicom_courier.core.qr.uid_lookup import look_up  # uid_lookup imports this module

    upper = {"StudyInstanceUID": study_uid}
    if model is QueryModel.PATIENT:
        if not patient_id:
            return None
        upper = {"PatientID": patient_id, **upper}
    try:
        found = await look_up(courier, pacs, model=model, level=QueryLevel.IMAGE,
                              uids=list(dict.fromkeys(sop_uids)), upper=upper,
                              returns=("SeriesInstanceUID",), what="the failed images' series")
    except CourierError:
        return None
    series_of = {sop: match.get("SeriesInstanceUID").strip(" \x00")
                 for sop, match in found.found.items()}
    if found.missing or not all(series_of.values()):
        return None
    groups: dict[str, list[str]] = {}
    for sop in dict.fromkeys(sop_uids):
        groups.setdefault(series_of[sop], []).append(sop)
    return {series: tuple(members) for series, members in groups.items()}, found.lists_work
