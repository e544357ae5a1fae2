"""The engine's reports: frozen values, safe to hand from a worker thread to any front end.

These are the only things that cross from the DIMSE workers to the command line or the window;
no pydicom Dataset ever does.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from dicom_courier.core.outcome.errors import CourierError, Peer


@dataclass(frozen=True)
class EchoResult:
    """A successful C-ECHO: how long the association and the echo itself took."""

    peer: Peer
    round_trip_ms: float
    association_ms: float


@dataclass(frozen=True)
class MoveProgress:
    """One C-MOVE response as numbers (PS3.4 C.4.2.1.6: the sub-operation counts).

    ``total`` is remaining + completed + failed + warning whenever the PACS reports remaining
    (it must on Pending); on the final response it is the last known total.
    """

    remaining: int | None
    completed: int
    failed: int
    warning: int
    total: int | None
    status: int
    elapsed: float
    is_final: bool

    @property
    def is_success(self) -> bool:
        """This final response alone says success; how the send ended (nothing matched, a
        cancel confirmed with 0x0000 …) is decided by :func:`.outcome.decide_move`."""
        return self.is_final and self.status == 0x0000 and self.failed == 0 and self.warning == 0

    @property
    def done(self) -> int:
        """Images the PACS has finished with: completed + failed + warning."""
        return self.completed + self.failed + self.warning

    @property
    def sent(self) -> int:
        """Images that arrived (completed + warning); failed images are never "sent"."""
        return self.completed + self.warning


class MoveOutcome(StrEnum):
    """How a send ended (decided by :func:`dicom_courier.core.outcome.decide.decide_move` only);
    the command line's exit codes follow from it.

    COMPLETED_WITH_WARNINGS: every image arrived, some with warnings (exit 0: nothing to send
    again).
    """

    COMPLETED = "completed"
    COMPLETED_WITH_WARNINGS = "completed_with_warnings"
    PARTIAL = "partial"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def exit_code(self) -> int:
        return {"completed": 0, "completed_with_warnings": 0, "partial": 3, "cancelled": 4,
                "failed": 1}[self.value]

    @property
    def words(self) -> str:
        """The outcome as a person reads it ("completed with warnings")."""
        return self.value.replace("_", " ")


@dataclass(frozen=True)
class MoveResult:
    """How one C-MOVE ended, with the counts reached and, unless it completed, the error."""

    outcome: MoveOutcome
    total: int | None
    completed: int
    failed: int
    warning: int
    status: int | None
    duration: float
    error_comment: str | None
    failed_sop_uids: tuple[str, ...]
    error: CourierError | None
    destination: str
    peer: Peer
    #: False when no response carried any count: total, completed, failed, warning unknown.
    counts_reported: bool = True
    #: A plain sentence for an outcome without error ("the PACS did not report image counts").
    note: str | None = None
    #: False when the final response counted failures but not completed images: how many
    #: arrived is unknown (``completed`` is then a lower bound and JSON shows null).
    completed_reported: bool = True
    #: True once we asked the PACS to stop (C-CANCEL sent, PS3.7 9.3.4.3).
    cancel_sent: bool = False
    #: True if a Pending response counted sub-operations (remaining > 0, or images that
    #: arrived): the PACS had accepted the destination and started the send.
    pending_counted: bool = False
    #: True when we ended the association ourselves before the PACS confirmed the cancel
    #: (the grace period ran out): the PACS may still send the images not yet counted.
    cancel_unconfirmed: bool = False
    #: False when the C-MOVE request never went out (no connection, association rejected,
    #: no accepted presentation context, stopped before the request): the PACS sent nothing.
    request_sent: bool = True
    #: True for a C-GET (PS3.4 C.4.3): its images came over our own association, which has
    #: ended with the result, so nothing more can arrive (no wait for late images).
    via_get: bool = False
    #: A C-GET whose PACS counted more images as sent than arrived: what it said (then
    #: ``completed``/``warning`` count only what arrived and the rest is in ``failed``).
    said_sent: int | None = None

    @property
    def is_success(self) -> bool:
        return self.outcome is MoveOutcome.COMPLETED

    @property
    def sent(self) -> int:
        """Images that arrived (completed + warning); failed images are never "sent"."""
        return self.completed + self.warning

    def summary(self) -> dict[str, object]:
        """The machine-readable summary (``--json``)."""
        out: dict[str, object] = {
            "outcome": self.outcome.value,
            "total": self.total,
            "completed": self.completed if self.counts_reported and self.completed_reported
            else None,
            "failed": self.failed if self.counts_reported else None,
            "warning": self.warning if self.counts_reported else None,
            "counts_reported": self.counts_reported,
            "status": None if self.status is None else f"0x{self.status:04X}",
            "duration_s": round(self.duration, 3),
            "destination": self.destination,
        }
        if self.failed_sop_uids:
            out["failed_sop_uids"] = list(self.failed_sop_uids)
        if self.error_comment:
            out["error_comment"] = self.error_comment
        if self.note:
            out["note"] = self.note
        if self.cancel_unconfirmed:
            out["cancel_unconfirmed"] = True  # the rest may still arrive at the destination
        if not self.request_sent:
            out["request_sent"] = False  # the PACS never got the move request
        if self.error is not None:
            out["error"] = self.error.title
            out["error_type"] = type(self.error).__name__
            out["explanation"] = self.error.explanation
            out["action"] = self.error.command_line_action
            out["error_details"] = self.error.details
        return out
