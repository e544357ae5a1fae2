"""C-MOVE (PS3.4 C.4.2): ask a PACS to send a study, series or images to a destination AE.

The whole response loop runs in one DIMSE worker thread; every response becomes a
:class:`MoveProgress`, and the end a :class:`MoveResult` whose outcome and error a person can
act on. Our own timers close the gaps pynetdicom leaves (see :mod:`.operation`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from pydicom.dataset import Dataset

from dicom_courier.core.abort_report import ended_early_error
from dicom_courier.core.association import (
    ORTHANC_AE_LIST,
    finish_association,
    guard_error,
    open_association,
    peer_of,
    unexpected_error,
)
from dicom_courier.core.channel import Channel
from dicom_courier.core.errors import (
    Cancelled,
    CourierError,
    DeadlineExceeded,
    NothingMatched,
    PeerTimeout,
)
from dicom_courier.core.events import MoveOutcome, MoveProgress, MoveResult
from dicom_courier.core.operation import (
    ABORT_BY_USER,
    ABORT_CANCEL_GRACE,
    ABORT_CONSUMER_GONE,
    ABORT_DEADLINE,
    DimseOperation,
)
from dicom_courier.core.query import MoveRequest
from dicom_courier.core.status import failure_for_status, is_pending
from dicom_courier.core.watchdog import TRIP_IDLE

_MSG_ID = 1


@dataclass
class _Counts:
    """The running tally of one move, updated from each response."""

    remaining: int | None = None
    completed: int = 0
    failed: int = 0
    warning: int = 0
    total: int | None = None
    status: int | None = None
    comment: str | None = None
    failed_uids: tuple[str, ...] = ()
    responses: int = 0
    failed_list_unreadable: bool = False
    last_response_at: float = field(default_factory=time.monotonic)

    def update(self, status: Dataset, identifier: Dataset | None) -> None:
        self.responses += 1
        self.last_response_at = time.monotonic()
        self.status = int(status.Status)
        for attr, keyword in (("remaining", "NumberOfRemainingSuboperations"),
                              ("completed", "NumberOfCompletedSuboperations"),
                              ("failed", "NumberOfFailedSuboperations"),
                              ("warning", "NumberOfWarningSuboperations")):
            value = status.get(keyword)
            if value is not None:
                setattr(self, attr, int(value))
        if not is_pending(self.status) and status.get("NumberOfRemainingSuboperations") is None:
            # A final response need not repeat the count; after success nothing remains.
            self.remaining = 0 if self.status == 0x0000 else None
        if self.remaining is not None and is_pending(self.status):
            self.total = self.remaining + self.completed + self.failed + self.warning
        elif self.total is None and status.get("NumberOfCompletedSuboperations") is not None:
            self.total = self.completed + self.failed + self.warning
        comment = status.get("ErrorComment")
        if comment:
            self.comment = str(comment)
        if identifier is not None:
            try:
                value = identifier.get("FailedSOPInstanceUIDList")
                uids = [value] if isinstance(value, str) else list(value or [])
            except Exception:  # noqa: BLE001 - anything pydicom raises on a peer's bytes
                uids = []
                self.failed_list_unreadable = True
            if uids:
                self.failed_uids = tuple(str(u) for u in uids if u)

    def describe(self) -> str:
        sent = str(self.completed) if self.total is None else f"{self.completed} of {self.total}"
        return f"{sent} images sent, {self.failed} failed, {self.warning} with warnings"


class MoveOperation(DimseOperation[MoveProgress, MoveResult]):
    """One C-MOVE on its own association. ``async for progress in op`` then ``op.result``."""

    def __init__(self, pacs, request: MoveRequest, executor, *, cancel_grace: float = 5.0):  # type: ignore[no-untyped-def]
        super().__init__(pacs, executor, cancel_grace=cancel_grace)
        self.request = request

    def _work(self, channel: Channel[MoveProgress]) -> MoveResult:
        """Runs on: DIMSE worker thread."""
        started = time.monotonic()
        counts = _Counts()
        try:
            error = self._exchange(channel, counts, started)
        except CourierError as exc:
            error = exc
        except Exception as exc:  # noqa: BLE001 - pynetdicom on bytes it did not expect
            error = unexpected_error(exc, self.pacs, "send")
        finally:
            channel.close()
        return self._after_move(self._result_of(counts, error, time.monotonic() - started))

    def _after_move(self, result: MoveResult) -> MoveResult:
        """Runs on: DIMSE worker thread, after the association ended. The place where a
        result may be refined by a bounded follow-up (the destination diagnosis)."""
        return result

    def _exchange(self, channel: Channel[MoveProgress], counts: _Counts,
                  started: float) -> CourierError | None:
        """Associate, send the C-MOVE and read responses until the final one or a fault."""
        model_uid = self.request.model.move_uid
        identifier = self.request.target.to_identifier(self.request.model)
        assoc = open_association(self.pacs, [model_uid], self.control)
        counts.last_response_at = time.monotonic()
        clean = False
        try:
            responses = assoc.send_c_move(identifier, self.request.destination, model_uid,
                                          msg_id=_MSG_ID, priority=int(self.request.priority))
            self.control.attach(assoc, model_uid, _MSG_ID)
            for status, response_identifier in responses:
                if "Status" not in status:
                    return self._no_status_error(counts)
                counts.update(status, response_identifier)
                final = not is_pending(counts.status or 0)
                channel.put(MoveProgress(
                    remaining=counts.remaining, completed=counts.completed,
                    failed=counts.failed, warning=counts.warning, total=counts.total,
                    status=counts.status or 0, elapsed=time.monotonic() - started,
                    is_final=final))
                if final:
                    clean = True
                    return None
            return self._no_status_error(counts)
        finally:
            self.control.detach()
            finish_association(assoc, clean=clean, guard=self.control.guard)

    def _no_status_error(self, counts: _Counts) -> CourierError:
        """Name why responses stopped: our deadline, our cancel, idle timeout or the peer."""
        peer = peer_of(self.pacs)
        timeouts = self.pacs.timeouts
        reason = self.control.abort_reason
        sofar = {"Images so far": counts.describe()}
        fault = guard_error(self.control, self.pacs, "send", sofar)
        if fault is not None:
            return fault
        if reason == ABORT_DEADLINE:
            return DeadlineExceeded(
                f"The send did not finish within its deadline of {timeouts.total:g} s.",
                f"{peer.called_aet} was still working (or kept answering \"pending\") when the "
                f"deadline passed; we ended the association. {counts.describe()}.",
                "Retry later, or raise the total deadline in the PACS profile for very large "
                "studies.", peer=peer, details=sofar)
        if reason == ABORT_BY_USER:
            return Cancelled(
                "The send was aborted.",
                f"You asked to stop at once, so we ended the association with "
                f"{peer.called_aet}. {counts.describe()}; images already sent stay at the "
                "destination.",
                "Send again if it was stopped by mistake.", peer=peer, details=sofar)
        if reason in (ABORT_CANCEL_GRACE, ABORT_CONSUMER_GONE):
            return Cancelled(
                "The send was cancelled.",
                f"{peer.called_aet} did not confirm the cancel within {self.cancel_grace:g} s, "
                f"so we ended the association. {counts.describe()}; images already sent stay "
                "at the destination.",
                "Send again if it was cancelled by mistake.", peer=peer, details=sofar)
        idle_for = time.monotonic() - counts.last_response_at
        guard = self.control.guard
        idle_tripped = guard is not None and guard.trip_info is not None and \
            guard.trip_info.reason == TRIP_IDLE
        if idle_tripped or idle_for >= timeouts.idle * 0.9:
            return PeerTimeout(
                f"{peer.called_aet} stopped answering for {timeouts.idle:g} s.",
                f"No response came within the idle timeout; we ended the association. "
                f"{counts.describe()}.",
                "Check that the PACS is healthy and retry; for a slow PACS raise the idle "
                "timeout in the profile.", peer=peer, details=sofar)
        return ended_early_error(peer, "send", counts.responses,
                                 guard.peer_abort if guard is not None else None,
                                 ORTHANC_AE_LIST, sofar)

    def _result_of(self, counts: _Counts, error: CourierError | None,
                   duration: float) -> MoveResult:
        destination = self.request.destination
        peer = peer_of(self.pacs)
        code = counts.status
        outcome = MoveOutcome.FAILED
        if error is None and code is not None:
            if code == 0xFE00:
                outcome = MoveOutcome.CANCELLED
            elif counts.failed or counts.warning or code == 0xB000:
                outcome = MoveOutcome.PARTIAL if counts.completed else MoveOutcome.FAILED
            elif code == 0x0000:
                outcome = MoveOutcome.COMPLETED
            if code == 0x0000 and outcome is MoveOutcome.COMPLETED and not counts.completed:
                outcome = MoveOutcome.FAILED
                error = NothingMatched(
                    f"{peer.called_aet} found nothing to send.",
                    "The PACS answered success but sent no image: nothing matched the request "
                    "(the study may have been deleted, or the UID is wrong).",
                    "Search again and send from the fresh results.",
                    peer=peer, status=code, details={"Move destination": destination})
            elif outcome is not MoveOutcome.COMPLETED:
                error = failure_for_status(
                    code, operation="send", peer=peer, comment=counts.comment,
                    destination=destination, counts=counts.describe())
        elif isinstance(error, Cancelled):
            outcome = MoveOutcome.CANCELLED
        return MoveResult(
            outcome=outcome, total=counts.total, completed=counts.completed,
            failed=counts.failed, warning=counts.warning, status=code, duration=duration,
            error_comment=counts.comment, failed_sop_uids=counts.failed_uids, error=error,
            destination=destination, peer=peer)
