"""Remember, per (PACS, destination), the last success and the last "destination unknown".

So the window can warn before a send to a destination that this PACS refused last time
(0xA801), instead of letting a person queue twenty studies that will all fail the same way.
"Refused" is the destination diagnosis's verdict (:mod:`..dimse.destination_check`), not the bare
status: a 0xA801 for a destination that did not answer our echo (pynetdicom-based PACS say
0xA801 for a known destination that is down) is a destination that was down, not unknown.
Kept in the job database (table ``destinations``), committed at once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from dicom_courier.core.jobs.job import JobSnapshot
from dicom_courier.core.jobs.store import JobStore
from dicom_courier.core.outcome.errors import MoveDestinationUnknown
from dicom_courier.core.outcome.events import MoveOutcome, MoveResult


@dataclass(frozen=True)
class DestinationRecord:
    last_success_at: float | None
    last_unknown_at: float | None

    @property
    def refused_last_time(self) -> bool:
        """The most recent thing we know is a 0xA801 from this PACS for this destination."""
        if self.last_unknown_at is None:
            return False
        return self.last_success_at is None or self.last_unknown_at > self.last_success_at


class DestinationMemory:
    def __init__(self, store: JobStore) -> None:
        self._db = store._db  # one connection per process: share the store's

    def note(self, pacs_name: str, destination: str, result: MoveResult) -> None:
        """Record a finished send's lesson about its destination (if it teaches one)."""
        now = time.time()
        if result.sent or result.outcome in (MoveOutcome.COMPLETED,
                                             MoveOutcome.COMPLETED_WITH_WARNINGS):
            column = "last_success_at"
        elif isinstance(result.error, MoveDestinationUnknown):  # incl. DestinationUnknown
            column = "last_unknown_at"
        else:
            return
        self._db.execute(
            f"INSERT INTO destinations (pacs, destination, {column}) VALUES (?, ?, ?) "
            f"ON CONFLICT(pacs, destination) DO UPDATE SET {column}=excluded.{column}",
            (pacs_name, destination, now))

    def note_job(self, job: JobSnapshot) -> None:
        """Record what ``job`` taught about its destination, once it has finished with a
        result (a queue listener's step); a job still going, or ended without a result (e.g.
        cancelled before it started), teaches nothing."""
        if job.state.is_finished and job.result is not None:
            self.note(job.pacs.name, job.destination, job.result)

    def get(self, pacs_name: str, destination: str) -> DestinationRecord:
        row = self._db.execute(
            "SELECT last_success_at, last_unknown_at FROM destinations "
            "WHERE pacs=? AND destination=?", (pacs_name, destination)).fetchone()
        return DestinationRecord(*row) if row else DestinationRecord(None, None)
