"""C-MOVE (PS3.4 C.4.2): ask a PACS to send a study, series or images to a destination AE.

The whole response loop runs in one DIMSE worker thread; every response becomes a
:class:`MoveProgress`, and the end a :class:`MoveResult` whose outcome and error a person can
act on. Our own timers close the gaps pynetdicom leaves (see :mod:`.operation`).
"""

from __future__ import annotations

import time
from concurrent.futures import Executor

from dicom_courier.core.config.profiles import PacsNode
from dicom_courier.core.dimse.abort_report import ended_early_error
from dicom_courier.core.dimse.association import (
    ORTHANC_AE_LIST,
    finish_association,
    guard_error,
    open_association,
    peer_of,
    unexpected_error,
)
from dicom_courier.core.dimse.channel import Channel
from dicom_courier.core.dimse.lean_reader import C_MOVE_RSP, ResponseStream, open_responses
from dicom_courier.core.dimse.operation import (
    ABORT_BY_USER,
    ABORT_CANCEL_GRACE,
    ABORT_CONSUMER_GONE,
    ABORT_DEADLINE,
    DimseOperation,
)
from dicom_courier.core.dimse.patient_lookup import needs_patient_id, patient_id_first
from dicom_courier.core.dimse.watchdog import idle_ran_out
from dicom_courier.core.outcome.decide import decide_move, target_words
from dicom_courier.core.outcome.errors import (
    Cancelled,
    CourierError,
    DeadlineExceeded,
    PeerTimeout,
)
from dicom_courier.core.outcome.events import MoveProgress, MoveResult
from dicom_courier.core.outcome.suboperations import SubOperationTally
from dicom_courier.core.qr.model_choice import accepted_model, move_models_looking_up
from dicom_courier.core.qr.query import MoveRequest, QueryModel

_MSG_ID = 1


#: The running tally of one move (kept under its old name for this module's readers).
_Counts = SubOperationTally


class MoveOperation(DimseOperation[MoveProgress, MoveResult]):
    """One C-MOVE on its own association. ``async for progress in op`` then ``op.result``."""

    def __init__(self, pacs: PacsNode, request: MoveRequest, executor: Executor, *,
                 cancel_grace: float = 5.0) -> None:
        super().__init__(pacs, executor, cancel_grace=cancel_grace)
        self.request = request
        self._pending_counted = False  # set by the worker: see MoveResult.pending_counted
        self._model_used: QueryModel | None = None  # the model the PACS accepted
        self._request_sent = False  # set by the worker once the C-MOVE request went out

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
        result may be refined by a bounded follow-up (the destination diagnosis).

        A move that delivered nothing with a destination-fault status gets its error replaced
        by the verdict of :func:`.destination_check.diagnose_move` (one C-ECHO to the
        destination, at most ``FOLLOW_UP_BUDGET`` s); the outcome and counts stay as decided.
        """
        from dicom_courier.core.dimse.destination_check import diagnose_move

        return diagnose_move(result, self.pacs, self.control.peer_implementation)

    def _exchange(self, channel: Channel[MoveProgress], counts: _Counts,
                  started: float) -> CourierError | None:
        """Associate, send the C-MOVE and read responses until the final one or a fault.

        The request's model and its usable ``other_models`` are proposed together; the move
        is asked in the first the PACS accepted (:mod:`.model_choice`). Patient Root accepted
        for a target without the Patient ID: that association is released, the Patient ID
        looked up on its own association (:mod:`.patient_lookup`), and the move asked on a
        new one."""
        models = move_models_looking_up(self.request)
        target = self.request.target
        target.to_identifier(  # InvalidInput before connecting
            QueryModel.STUDY if needs_patient_id(models[0], target) else models[0])
        assoc = open_association(self.pacs, [m.move_uid for m in models], self.control)
        model = self._model_used = accepted_model(assoc, models, move=True)
        if needs_patient_id(model, target):  # PS3.4 C.4.2.2.1: the Patient ID is a key
            finish_association(assoc, clean=True, guard=self.control.guard)
            target = patient_id_first(self.pacs, target, self.control)
            assoc = open_association(self.pacs, [model.move_uid], self.control)
        counts.last_response_at = time.monotonic()
        clean = False
        responses: ResponseStream | None = None
        try:
            model_uid = model.move_uid
            identifier = target.to_identifier(model)
            responses = open_responses(
                assoc, self.control.guard, model_uid,
                lambda: assoc.send_c_move(identifier, self.request.destination, model_uid,
                                          msg_id=_MSG_ID, priority=int(self.request.priority)),
                C_MOVE_RSP)
            self._request_sent = True
            self.control.attach(assoc, model_uid, _MSG_ID)
            for response in responses:
                if response.status is None:
                    return self._no_status_error(counts)
                counts.update(response.status_set, response.identifier,
                              cancel_sent=self.cancel_requested)
                progress = counts.progress(time.monotonic() - started)
                if not progress.is_final and (progress.remaining or progress.sent):
                    self._pending_counted = True  # the PACS accepted the destination
                channel.put(progress)
                if progress.is_final:
                    clean = True
                    return None
            return self._no_status_error(counts)
        finally:
            if responses is not None:
                responses.close()  # a lent socket goes back to pynetdicom, whatever happened
            self.control.detach(final=clean)  # a late cancel no longer aborts it
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
        destination = self.request.destination
        if reason == ABORT_CANCEL_GRACE:  # PS3.4 C.4.2.3.1: only the PACS can stop its sends
            return Cancelled(
                "The send was cancelled.",
                f"{peer.called_aet} did not confirm the cancel within {self.cancel_grace:g} s, "
                f"so we ended the association. {counts.describe()}; images already sent stay "
                f"at the destination. {peer.called_aet} may still send the rest: more images "
                f"may still arrive at {destination}.",
                f"Check on {destination} what arrived before sending again; send again if it "
                "was cancelled by mistake.", peer=peer,
                details={**sofar, "Cancel confirmed by the PACS": "no"})
        if reason == ABORT_CONSUMER_GONE:
            return Cancelled(
                "The send was stopped.",
                f"We ended the association with {peer.called_aet} without waiting for it to "
                f"confirm a cancel. {counts.describe()}; images already sent stay at the "
                f"destination, and {peer.called_aet} may still send the rest to "
                f"{destination}.",
                f"Check on {destination} what arrived before sending again.", peer=peer,
                details=sofar)
        guard = self.control.guard
        if idle_ran_out(guard, counts.last_response_at, timeouts.idle):
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
        """The result, its outcome decided by :func:`.outcome.decide_move` (the one table)."""
        destination = self.request.destination
        peer = peer_of(self.pacs)
        verdict = decide_move(counts, error=error, cancel_sent=self.cancel_requested,
                              peer=peer, destination=destination,
                              model=(self._model_used or self.request.model).value,
                              target=target_words(self.request.target))
        return MoveResult(
            outcome=verdict.outcome, total=counts.total, completed=counts.completed,
            failed=counts.failed, warning=counts.warning, status=counts.status,
            duration=duration, error_comment=counts.comment, failed_sop_uids=counts.failed_uids,
            error=verdict.error, destination=destination, peer=peer,
            counts_reported=counts.reported, note=verdict.note,
            completed_reported=not counts.completed_unknown,
            cancel_sent=self.cancel_requested, pending_counted=self._pending_counted,
            cancel_unconfirmed=error is not None and (self.control.abort_reason in (
                ABORT_CANCEL_GRACE, ABORT_CONSUMER_GONE) or (  # or the PACS ended it after
                self.cancel_requested and self._request_sent  # our C-CANCEL, unconfirmed
                and self.control.abort_reason is None)), request_sent=self._request_sent)
