"""One blocking C-FIND exchange on an open association, and why it ended early.

The request and its responses (PS3.4 C.4.1; PS3.7 9.1.2 C-FIND, 9.3.2 its messages): send
the C-FIND-RQ, read Pending responses (0xFF00, 0xFF01) until the final one, under our
:class:`.association.OperationControl` (C-CANCEL with its grace, abort, the deadline) and
our watchdog (idle timer, message size cap). :func:`exchange_find` owns the association
from the request to its release (after a final response) or its abort (otherwise).

:func:`early_end` names why the responses stopped before the final one, in the order both
callers decide it: our deadline, our own abort, the PACS ending it after our C-CANCEL, our
idle timer, else the PACS. The words stay with the callers (:mod:`.find` speaks of a
search, :mod:`.patient_lookup` of a send whose move request was not sent);
:func:`peer_ended_error` gives the common words for the last case.

Nothing here imports Qt. Everything here runs on: DIMSE worker thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum

from pydicom.dataset import Dataset
from pynetdicom.association import Association

from dicom_courier.core.dimse.abort_report import ended_early_error
from dicom_courier.core.dimse.association import (
    ABORT_DEADLINE,
    ORTHANC_AE_LIST,
    OperationControl,
    finish_association,
)
from dicom_courier.core.dimse.lean_reader import C_FIND_RSP, DimseResponse, open_responses
from dicom_courier.core.dimse.watchdog import idle_ran_out
from dicom_courier.core.outcome.errors import CourierError, Peer
from dicom_courier.core.outcome.status import is_pending

#: Message ID of the C-FIND-RQ (one request per association: PS3.7 9.3.2.1).
FIND_MSG_ID = 1

#: ``on_pending(response)``: one Pending response (PS3.4 C.4.1.1.4): its identifier as bytes
#: (``response.encoded``, the lean reader) or as pynetdicom decoded it
#: (``response.identifier``, None when it could not); see :class:`.lean_reader.DimseResponse`.
OnPending = Callable[[DimseResponse], None]
#: ``why_ended(exchange)``: the error for responses that stopped before the final one,
#: asked at once (before the association is aborted, so the watchdog's facts are fresh).
WhyEnded = Callable[["FindExchange"], CourierError]


@dataclass
class FindExchange:
    """What one C-FIND exchange got back (filled as responses arrive).

    ``status``: the last status received (Pending or final; None before any); ``comment``:
    the final response's Error Comment (0000,0902), if any; ``answers``: Pending responses
    received; ``final``: the final response arrived (the association is then released, not
    aborted); ``error``: ``why_ended``'s error when the responses stopped before the final
    one; ``last_response_at``: ``time.monotonic()`` seconds of the last response (of the
    request while none came).
    """

    last_response_at: float = field(default_factory=time.monotonic)
    status: int | None = None
    comment: str | None = None
    answers: int = 0
    final: bool = False
    error: CourierError | None = None


def exchange_find(assoc: Association, identifier: Dataset, model_uid: str,
                  control: OperationControl, on_pending: OnPending, why_ended: WhyEnded, *,
                  on_end: Callable[[], None] | None = None,
                  on_wait: Callable[[], None] | None = None,
                  ends_operation: bool = True) -> FindExchange:
    """Send one C-FIND-RQ on ``assoc`` and read its responses to the end (PS3.4 C.4.1.2).

    ``identifier``: the request's keys; ``model_uid``: the Q/R model's C-FIND SOP Class UID
    (accepted on ``assoc``). The responses are read by the lean reader or by pynetdicom
    (:func:`.lean_reader.open_responses`, :mod:`.read_path`). Each Pending response goes to
    ``on_pending`` (which may ask ``control`` to cancel); a response without a status (the
    association ended, timed out or was aborted) stops the loop, and ``why_ended`` names it
    (:attr:`FindExchange.error`). ``on_end``: called once the responses stopped, before
    the association is finished (hand over what ``on_pending`` held back); not after an
    exception. ``on_wait``: called when the reader is about to wait for the PACS with no
    whole response left to read (hand over what was held back so far;
    :func:`.lean_reader.open_responses`). ``ends_operation``: the final response ends the
    operation, so a late cancel or abort no longer touches this association
    (:meth:`.OperationControl.detach`); False for a look-up before the operation's own
    request. ``assoc`` is released after a final response, aborted otherwise, in every
    case (:func:`.association.finish_association`).

    Returns: the :class:`FindExchange`; a final status is not judged here (0xFE00, a
    failure: the caller's words). Raises: whatever ``on_pending``, ``why_ended`` or
    pynetdicom raise (the association is still finished). Runs on: DIMSE worker thread.
    """
    exchange = FindExchange()
    responses = None
    try:
        responses = open_responses(
            assoc, control.guard, model_uid,
            lambda: assoc.send_c_find(identifier, model_uid, msg_id=FIND_MSG_ID), C_FIND_RSP,
            on_wait=on_wait)
        control.attach(assoc, model_uid, FIND_MSG_ID)
        for response in responses:
            status = response.status
            if status is None:
                exchange.error = why_ended(exchange)
                break
            exchange.last_response_at = time.monotonic()
            exchange.status = status
            if is_pending(status):
                exchange.answers += 1
                on_pending(response)
                continue
            exchange.final = True
            text = response.status_set.get("ErrorComment")
            exchange.comment = str(text) if text else None
            break
        if on_end is not None:
            on_end()
    finally:
        if responses is not None:
            responses.close()  # a lent socket goes back to pynetdicom, whatever happened
        # After the final response a late cancel no longer aborts it (ends_operation).
        control.detach(final=exchange.final and ends_operation)
        finish_association(assoc, clean=exchange.final, guard=control.guard)
    return exchange


class EarlyEnd(Enum):
    """Why a DIMSE exchange's responses stopped before the final one (after
    :func:`.association.guard_error` found no fault of the peer's data)."""

    #: Our total deadline aborted it.
    DEADLINE = "deadline"
    #: We aborted it ourselves: cancel grace over, a person's abort, consumer gone.
    STOPPED = "stopped"
    #: The PACS ended the association after our C-CANCEL instead of confirming it
    #: (PS3.4 C.4.1.3.1).
    CANCEL_UNCONFIRMED = "cancel-unconfirmed"
    #: No response within the idle timeout: our watchdog (or the clock) says so.
    IDLE = "idle"
    #: The PACS aborted or closed the connection.
    PEER_ENDED = "peer-ended"


def early_end(control: OperationControl, exchange: FindExchange, idle: float) -> EarlyEnd:
    """Why ``exchange``'s responses stopped early; ``idle``: the idle timeout in seconds (a
    silence of 90 % of it also counts, for a peer that hung up just before our watchdog).
    Check :func:`.association.guard_error` first. Runs on: DIMSE worker thread."""
    reason = control.abort_reason
    if reason == ABORT_DEADLINE:
        return EarlyEnd.DEADLINE
    if reason is not None:
        return EarlyEnd.STOPPED
    if control.cancel_requested.is_set():
        return EarlyEnd.CANCEL_UNCONFIRMED
    if idle_ran_out(control.guard, exchange.last_response_at, idle):
        return EarlyEnd.IDLE
    return EarlyEnd.PEER_ENDED


def peer_ended_error(control: OperationControl, peer: Peer, what: str, answered: int,
                     sofar: Mapping[str, str] | None = None) -> CourierError:
    """The error for a ``what`` ("search") the PACS ended after ``answered`` responses, by
    its A-ABORT's source and reason if it sent one (:func:`.abort_report.ended_early_error`).
    Runs on: DIMSE worker thread."""
    guard = control.guard
    return ended_early_error(peer, what, answered,
                             guard.peer_abort if guard is not None else None,
                             ORTHANC_AE_LIST, sofar)
