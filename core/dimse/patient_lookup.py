"""A Patient Root move without the Patient ID: look the Patient ID up first (issue 9 §2).

In the Patient Root model every request below the PATIENT level names the Patient ID, the
unique key of the level above (PS3.4 C.4.2.2.1, C.6.1.1). A send that does not carry it —
a job queued before Courier kept Patient IDs, a search answer whose PatientID was empty, an
interrupted send resumed — cannot be asked of a PACS that accepts only Patient Root. Such
a move first looks the Patient ID up: one Patient Root STUDY-level C-FIND with the Study
Instance UID as matching key and PatientID as return key, on its own association, under the
move's own control (timers, deadline, C-CANCEL with its grace, abort). Then the move goes
out in Patient Root with the Patient ID the PACS returned.

The errors speak neutral words (no command-line flags): the window and the command line
both show them. The Patient ID is never logged.

Nothing here imports Qt. :func:`patient_id_first` runs on the move's DIMSE worker thread.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from pydicom.dataset import Dataset

from dicom_courier.core.config.profiles import PacsNode
from dicom_courier.core.dimse.association import (
    OperationControl,
    guard_error,
    open_association,
    peer_of,
)
from dicom_courier.core.dimse.find_exchange import (
    EarlyEnd,
    FindExchange,
    early_end,
    exchange_find,
    peer_ended_error,
)
from dicom_courier.core.dimse.lean_reader import DimseResponse
from dicom_courier.core.outcome.errors import (
    Cancelled,
    CourierError,
    DeadlineExceeded,
    DimseFailure,
    NothingMatched,
    PeerTimeout,
)
from dicom_courier.core.outcome.status import failure_for_status
from dicom_courier.core.qr.model_choice import usable_patient_id
from dicom_courier.core.qr.query import MoveTarget, QueryModel, set_value

LOGGER = logging.getLogger(__name__)

_WHERE = "Patient Root model, STUDY level"


def needs_patient_id(model: QueryModel, target: MoveTarget) -> bool:
    """True when a move of ``target`` in ``model`` must look the Patient ID up first."""
    return model is QueryModel.PATIENT and not target.patient_id


def patient_id_first(pacs: PacsNode, target: MoveTarget,
                     control: OperationControl) -> MoveTarget:
    """``target`` with the Patient ID ``pacs`` holds its study under (see the module).

    One Patient Root STUDY-level C-FIND (PS3.4 C.4.1, C.6.1.1; PS3.7 9.1.2) on its own
    association, through :func:`.find_exchange.exchange_find` under ``control`` (the
    move's cancel, abort and deadline; the idle timer of ``pacs.timeouts``, in seconds).
    Only answers naming ``target.study_uid`` count (a PACS that ignores the key sends other
    studies); the first usable Patient ID wins. Runs on: DIMSE worker thread.

    Returns: ``target`` with ``patient_id`` set.
    Raises: the association's errors (:func:`.association.open_association`);
        :class:`.errors.DimseFailure` (its class per status) when the PACS refused the
        look-up; :class:`.errors.NothingMatched` when it has no such study or returned no
        usable Patient ID; :class:`.errors.Cancelled` when the person cancelled or the PACS
        answered 0xFE00 (nothing was sent); when the answers stopped before the final one:
        ProtocolViolation or MessageTooLarge (the PACS's data), DeadlineExceeded,
        PeerTimeout (idle), or the error of an association the PACS ended
        (:func:`.find_exchange.peer_ended_error`). The look-up's own errors say "Move
        request sent: no" in their details (or in their words).
    """
    peer = peer_of(pacs)
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "STUDY"
    set_value(identifier, "StudyInstanceUID", target.study_uid)
    identifier.PatientID = ""  # return key
    LOGGER.info("%s offers only the Patient Root model and the send has no Patient ID: "
                "looking it up first (%s)", pacs.called_aet, _WHERE)
    model_uid = QueryModel.PATIENT.find_uid
    assoc = open_association(pacs, [model_uid], control)
    found: list[str] = []

    def on_pending(response: DimseResponse) -> None:
        value = _patient_id(response.dataset(), target.study_uid)
        if value is not None:
            found.append(value)

    # Not the operation's last request: a cancel after this answer still stops the move.
    exchange = exchange_find(assoc, identifier, model_uid, control, on_pending,
                             lambda ended: _ended_early(pacs, control, ended),
                             ends_operation=False)
    status = exchange.status
    if control.cancel_requested.is_set() or status == 0xFE00:
        raise _stopped(pacs)
    if not exchange.final or status is None:
        raise exchange.error or _ended_early(pacs, control, exchange)
    if status != 0x0000 and not (status & 0xF000 == 0xB000 and found):
        raise _refused(pacs, failure_for_status(status, operation="search", peer=peer,
                                                comment=exchange.comment, model="patient"))
    if not found:
        raise _not_found(pacs, target, exchange.answers)
    return replace(target, patient_id=found[0])


def _patient_id(answer: Dataset | None, study_uid: str) -> str | None:
    """The usable Patient ID of an answer that names ``study_uid``, else None (an answer
    that cannot be read is skipped)."""
    if answer is None:
        return None
    try:
        study = str(answer.get("StudyInstanceUID", "") or "").strip(" \x00")
        value = str(answer.get("PatientID", "") or "")
    except Exception:  # noqa: BLE001 - a value pydicom cannot decode: not this answer
        return None
    return usable_patient_id(value) if study == study_uid else None


def _refused(pacs: PacsNode, error: DimseFailure | Cancelled) -> CourierError:
    """The PACS refused the look-up: say so, with the model, and what to do (no flags)."""
    aet = pacs.called_aet
    return type(error)(
        f"{aet} refused the look-up of the study's Patient ID ({_WHERE}).",
        f"{aet} accepts only the Patient Root model, whose move request must name the "
        "patient, and this send does not carry the Patient ID, so Courier asked the PACS for "
        f"it first. The PACS answered: {error.title} {error.explanation}".rstrip(),
        "Search for the patient by Patient ID and send the study from the results (they "
        "carry the Patient ID), or ask the PACS administrator to enable the Study Root model "
        f"for our AE title {pacs.calling_aet}.",
        peer=error.peer, status=error.status, comment=error.comment,
        details={**error.extra_details, "Look-up": _WHERE, "Move request sent": "no"},
        retryable=error.retryable)


def _not_found(pacs: PacsNode, target: MoveTarget, answered: int) -> CourierError:
    aet = pacs.called_aet
    why = ("has no study with this Study Instance UID" if not answered else
           "returned no usable Patient ID for the study")
    return NothingMatched(
        f"{aet} found nothing to send.",
        f"{aet} accepts only the Patient Root model, whose move request must name the "
        f"patient; asked for the Patient ID of study {target.study_uid} ({_WHERE}), it {why}. "
        "The study may have been deleted, or the UID is wrong.",
        "Search again and send from the fresh results.", peer=peer_of(pacs),
        details={"Look-up": _WHERE, "Answers": str(answered), "Move request sent": "no"})


def _stopped(pacs: PacsNode) -> Cancelled:
    return Cancelled(
        "The send was cancelled.",
        f"It was stopped while Courier looked up the study's Patient ID on "
        f"{pacs.called_aet}: no move request was sent, so nothing was sent.",
        "Send again if it was cancelled by mistake.", peer=peer_of(pacs),
        details={"Move request sent": "no"})


def _ended_early(pacs: PacsNode, control: OperationControl,
                 exchange: FindExchange) -> CourierError:
    """Why the look-up's responses stopped before the final one
    (:func:`.find_exchange.early_end`): the peer's fault, our deadline, our own stop, our
    idle timer, or the peer ending the association."""
    sofar = {"Look-up": _WHERE, "Move request sent": "no"}
    fault = guard_error(control, pacs, "search", sofar)
    if fault is not None:
        return fault
    peer = peer_of(pacs)
    end = early_end(control, exchange, pacs.timeouts.idle)
    if end is EarlyEnd.DEADLINE:
        return DeadlineExceeded(
            f"The send did not finish within its deadline of {pacs.timeouts.total:g} s.",
            f"It ended while Courier looked up the study's Patient ID on {pacs.called_aet}; "
            "no move request was sent.",
            "Retry later, or raise the total deadline in the PACS profile.", peer=peer,
            details=sofar)
    if end in (EarlyEnd.STOPPED, EarlyEnd.CANCEL_UNCONFIRMED):
        return _stopped(pacs)
    if end is EarlyEnd.IDLE:
        return PeerTimeout(
            f"{pacs.called_aet} stopped answering for {pacs.timeouts.idle:g} s.",
            "No response to the look-up of the study's Patient ID came within the idle "
            "timeout; we ended the association. No move request was sent.",
            "Check that the PACS is healthy and retry; for a slow PACS raise the idle "
            "timeout in the profile.", peer=peer, details=sofar)
    return peer_ended_error(control, peer, "search", exchange.answers, sofar)
