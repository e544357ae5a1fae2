"""How a send ended: the one function that decides it (PS3.4 C.4.2.1.5, C.4.2.1.6, C.4.2.3).

:func:`decide_move` reads the final status, the sub-operation counts
(:class:`~dicom_courier.core.outcome.suboperations.SubOperationTally`), whether we sent C-CANCEL and
whether the association ended before a final response, and returns a :class:`Verdict`: the
outcome, the error a person can act on (or None) and a plain note. The command line's summary
and exit code, ``--json``, the job store and the window's queue all read the result it makes;
none of them decides anything again. The table it implements, row by row, is
``docs/outcome-table.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dicom_courier.core.outcome.errors import (
    Cancelled,
    CourierError,
    DimseFailure,
    ErrorContext,
    NoImageArrived,
    NothingMatched,
    PartialFailure,
    Peer,
)
from dicom_courier.core.outcome.events import MoveOutcome, MoveResult
from dicom_courier.core.outcome.status import category_of, failure_for_status
from dicom_courier.core.outcome.suboperations import SubOperationTally, finishes_all
from dicom_courier.core.qr.query import MoveTarget

_RETRY_ACTION = "Send again if it was cancelled by mistake."
_FINISHED_BEFORE_CANCEL = "the PACS finished before our cancel took effect"


@dataclass(frozen=True)
class Verdict:
    """What :func:`decide_move` decided: outcome, error (None unless a person must act), note."""

    outcome: MoveOutcome
    error: CourierError | None
    note: str | None = None


def status_words(code: int) -> str:
    """``0xB000 (sub-operations finished with failures or warnings)`` and the like."""
    words = {
        0x0000: "success",
        0xB000: "sub-operations finished with failures or warnings",
        0xFE00: "cancelled",
    }.get(code, category_of(code).value.lower())
    return f"0x{code:04X} ({words})"


def decide_move(counts: SubOperationTally, *, error: CourierError | None, cancel_sent: bool,
                peer: Peer, destination: str, model: str | None = None,
                target: str | None = None) -> Verdict:
    """The outcome of one C-MOVE, per ``docs/outcome-table.md``.

    ``counts`` holds the last status (``counts.status``; None if no response came) and the
    counts; ``error`` is set when the association ended before a final response (then the
    status, if any, was Pending); ``cancel_sent`` is True once we asked for C-CANCEL;
    ``model`` ("study"/"patient") is the request's Q/R model, so that 0xA900 advice never
    suggests the model already in use; ``target`` names what the move asked for ("study
    1.2.3", :func:`target_words`), so that "found nothing to send" says for what (row 10).
    Never raises.
    """
    code = counts.status
    if error is not None:  # ended early: no final status
        if isinstance(error, Cancelled):
            return Verdict(MoveOutcome.CANCELLED, error)
        if cancel_sent:  # the PACS honoured our C-CANCEL by ending the association
            return Verdict(MoveOutcome.CANCELLED, _ended_after_cancel(error, counts, peer))
        return Verdict(MoveOutcome.FAILED, error)
    if code is None:
        return Verdict(MoveOutcome.FAILED, DimseFailure(
            f"{peer.called_aet} ended the send without an answer.",
            "No response to the move request arrived.",
            "Retry; if it keeps happening, check the PACS's log.", peer=peer))
    pacs = peer.called_aet
    details = {"Move destination": destination, "Images": counts.describe()}
    for number, remark in enumerate(counts.remarks, 1):
        details[f"Note {number}"] = remark
    common: ErrorContext = {"peer": peer, "status": code, "comment": counts.comment,
                            "details": details}
    remaining = counts.remaining or 0
    sent_of = (f"{counts.sent} of {counts.total}" if counts.total is not None
               else str(counts.sent))

    everything_arrived = (counts.reported and not counts.completed_unknown
                          and counts.total is not None and counts.total > 0
                          and counts.completed == counts.total)
    if code == 0xFE00 and everything_arrived:
        return Verdict(MoveOutcome.COMPLETED, None, _FINISHED_BEFORE_CANCEL if cancel_sent
                       else "the PACS reported a cancel after every image arrived")
    if code == 0xFE00 or (cancel_sent and finishes_all(code) and remaining > 0
                          and not counts.failed):
        asked = ("confirmed our cancel" if cancel_sent
                 else "cancelled the send on its own (we did not ask)")
        return Verdict(MoveOutcome.CANCELLED, Cancelled(
            "The send was cancelled.",
            f"{pacs} {asked} with status {status_words(code)}. {_sentence(counts)}; images "
            "already sent stay at the destination.",
            _RETRY_ACTION, **common))

    if not finishes_all(code) and counts.sent:  # a Failure status after images arrived
        return _failure_after_images(counts, code, pacs, destination, common)
    if not finishes_all(code) and cancel_sent:  # nothing arrived and we had asked to stop
        return Verdict(MoveOutcome.CANCELLED, Cancelled(
            "The send was cancelled.",
            f"{pacs} ended it after our cancel with status {status_words(code)}. "
            f"{_sentence(counts)}.",
            _RETRY_ACTION, **common))
    if not finishes_all(code):  # a Failure (or unknown) final status
        failure = failure_for_status(code, operation="send", peer=peer, comment=counts.comment,
                                     destination=destination, counts=counts.describe(),
                                     model=model)
        failure.extra_details.update({k: v for k, v in details.items() if k.startswith("Note")})
        outcome = MoveOutcome.PARTIAL if counts.sent else MoveOutcome.FAILED
        return Verdict(outcome, failure)

    if not counts.reported:
        if code == 0x0000:
            return Verdict(MoveOutcome.COMPLETED, None, "the PACS did not report image counts")
        if code == 0xB000:
            return Verdict(MoveOutcome.PARTIAL, PartialFailure(
                "The send may be incomplete.",
                f"{pacs} answered {status_words(code)} but reported no image counts, so we "
                "cannot tell which images arrived.",
                f"Check on {destination} which images arrived, and send again what is missing.",
                **common))
        return Verdict(MoveOutcome.COMPLETED_WITH_WARNINGS, None,
                       f"the PACS answered 0x{code:04X} and did not report image counts")

    if counts.completed_unknown:
        of = "" if counts.total is None else f" of the {counts.total}"
        return Verdict(MoveOutcome.PARTIAL, PartialFailure(
            f"The send may be incomplete: {counts.failed} image(s) failed at {destination}.",
            f"{pacs} answered {status_words(code)}: {counts.failed} failed; the PACS did not "
            f"say how many{of} arrived.",
            f"Check on {destination} which images arrived, and send again what is missing.",
            **common))

    if counts.done == 0 and remaining == 0:
        return Verdict(MoveOutcome.FAILED, NothingMatched(
            f"{pacs} found nothing to send.",
            f"The PACS answered {status_words(code)} with zero images: nothing matched the "
            f"request{f' for {target}' if target else ''} (the study may have been deleted, "
            "or the UID is wrong).",
            "Search again and send from the fresh results.", **common))

    if counts.failed and not counts.sent:
        return Verdict(MoveOutcome.FAILED, NoImageArrived(
            f"No image arrived at {destination}.",
            f"{pacs} answered {status_words(code)}: all {counts.failed} image(s) it tried to "
            f"send to {destination} failed.",
            f"Check that {destination} is running, reachable from the PACS and has disk space "
            "(its log names rejected images), then send again.",
            **common))

    if counts.failed or remaining:
        why = (f"{counts.failed} failed" if counts.failed else "")
        if remaining:
            why += (", " if why else "") + f"{remaining} not sent"
        cancel = " after our cancel" if cancel_sent else ""
        return Verdict(MoveOutcome.PARTIAL, PartialFailure(
            f"Only part of the send succeeded: {sent_of} images arrived at {destination}.",
            f"{pacs} answered {status_words(code)}{cancel}; {why}.",
            f"Check {destination}'s log for rejected images (disk space, storage rules), "
            "then retry the failed images.",
            **common))

    if counts.warning:
        return Verdict(MoveOutcome.COMPLETED_WITH_WARNINGS, None,
                       f"{counts.warning} of {counts.total} images arrived with warnings")
    if code != 0x0000:
        return Verdict(MoveOutcome.COMPLETED_WITH_WARNINGS, None,
                       f"the PACS answered 0x{code:04X} but reported no failed image")
    return Verdict(MoveOutcome.COMPLETED, None, _FINISHED_BEFORE_CANCEL if cancel_sent else None)


def _failure_after_images(counts: SubOperationTally, code: int, pacs: str, destination: str,
                          common: ErrorContext) -> Verdict:
    """A Failure status after images arrived: never "no image could be sent", never retried
    whole. Every counted image arrived → completed with warnings (the failure is noted);
    otherwise partial with the images not accounted for."""
    if not counts.failed and counts.total is not None and counts.sent >= counts.total:
        return Verdict(MoveOutcome.COMPLETED_WITH_WARNINGS, None,
                       f"the PACS reported a failure ({status_words(code)}) after all "
                       f"{counts.total} images arrived: check at {destination}")
    missing = None if counts.total is None else counts.total - counts.sent - counts.failed
    why = [f"{counts.failed} failed"] if counts.failed else []
    if missing:
        why.append(f"{missing} not sent")
    sent_of = (f"{counts.sent} of {counts.total}" if counts.total is not None
               else str(counts.sent))
    return Verdict(MoveOutcome.PARTIAL, PartialFailure(
        f"Only part of the send succeeded: {sent_of} images arrived at {destination}.",
        f"{pacs} ended the send with {status_words(code)} after {counts.sent} image(s) "
        f"arrived" + (f"; {', '.join(why)}." if why else "."),
        f"Check on {destination} which images arrived and {pacs}'s log, then retry the "
        "failed images.", **common))


def _ended_after_cancel(error: CourierError, counts: SubOperationTally, peer: Peer) -> Cancelled:
    """The PACS ended the association (A-ABORT or closed) after our C-CANCEL: our cancel."""
    details = dict(error.details)
    details["How it ended"] = error.title
    text = counts.describe()
    rest = (f"; {counts.remaining} more may still arrive" if counts.remaining
            else "; more may still arrive")
    return Cancelled(
        "The send was cancelled.",
        f"{peer.called_aet} ended the association after our cancel instead of confirming it, "
        f"so it may still send the rest. {text[0].upper() + text[1:]}{rest}; images already "
        "sent stay at the destination.",
        _RETRY_ACTION, peer=peer, details=details)


def _sentence(counts: SubOperationTally) -> str:
    text = counts.describe()
    if counts.remaining:
        text += f", {counts.remaining} not sent"
    return text[0].upper() + text[1:]


def target_words(target: MoveTarget) -> str:
    """What one move asks for, by its UIDs: "study 1.2.3", "series 1.2.3.4" (several: "series
    A, B of study S"), "image 1.2.3.4.5" or "3 images of series 1.2.3.4"."""
    if target.sop_uids:
        if len(target.sop_uids) == 1:
            return f"image {target.sop_uids[0]}"
        return f"{len(target.sop_uids)} images of series {target.series_uids[0]}"
    if target.series_uids:
        return f"series {', '.join(target.series_uids)} of study {target.study_uid}"
    return f"study {target.study_uid}"


def overall_outcome(results: Sequence[MoveResult], cancelled: bool,
                    not_started: int = 0) -> MoveOutcome:
    """The worst outcome of several sends (failed > cancelled > partial > with warnings).

    A failed send among other sends that delivered images (completed, with warnings, or
    partial) makes the run partial, not failed (a failed send alone stays failed, whatever
    arrived before it failed): part of what was asked arrived (``move --study A
    --study MISSING``: "partial", exit code 3).
    ``cancelled`` is True when a person stopped the run; it counts only for sends that were
    cancelled (their own outcome) or never started (``not_started`` > 0, or no result at all):
    a send the PACS finished before the cancel took effect keeps its own outcome.
    """
    outcomes = {r.outcome for r in results}
    if MoveOutcome.FAILED in outcomes and any(
            r.outcome is not MoveOutcome.FAILED and _delivered(r) for r in results):
        outcomes = (outcomes - {MoveOutcome.FAILED}) | {MoveOutcome.PARTIAL}
    stopped = cancelled and (not_started > 0 or not results)
    for worst in (MoveOutcome.FAILED, MoveOutcome.CANCELLED, MoveOutcome.PARTIAL,
                  MoveOutcome.COMPLETED_WITH_WARNINGS):
        if worst in outcomes or (worst is MoveOutcome.CANCELLED and stopped):
            return worst
    return MoveOutcome.COMPLETED


def _delivered(result: MoveResult) -> bool:
    """Whether images of this send arrived: completed (with or without counts), with
    warnings, or any image counted as sent."""
    return result.outcome in (MoveOutcome.COMPLETED, MoveOutcome.COMPLETED_WITH_WARNINGS) \
        or result.sent > 0


def failed_moves_note(results: Sequence[MoveResult]) -> str | None:
    """"1 of 2 moves failed" when some sends of a run failed and others did not, else None."""
    failed = sum(1 for r in results if r.outcome is MoveOutcome.FAILED)
    if not failed or failed == len(results):
        return None
    return f"{failed} of {len(results)} moves failed"


def summary_phrase(result: MoveResult) -> str:
    """One line for a finished send, as the queue row and the CLI show it.

    "completed", "completed (the PACS did not report image counts)", "completed with warnings
    (1 of 3 images arrived with warnings …)", "partial: 2 of 3 sent, 1 failed",
    "failed: <error title>", "cancelled: 4 of 10 sent".
    """
    outcome = result.outcome
    if outcome in (MoveOutcome.COMPLETED, MoveOutcome.COMPLETED_WITH_WARNINGS):
        return f"{outcome.words} ({result.note})" if result.note else outcome.words
    if outcome is MoveOutcome.FAILED:
        return f"failed: {result.error.title}" if result.error is not None else "failed"
    if outcome is MoveOutcome.CANCELLED and result.cancel_unconfirmed:
        return _unconfirmed_phrase(result)
    if not result.counts_reported:
        return outcome.words
    if not result.completed_reported:
        of = "" if result.total is None else f" of {result.total}"
        return (f"{outcome.words}: {result.failed} failed; the PACS did not say how "
                f"many{of} arrived")
    of = "" if result.total is None else f" of {result.total}"
    text = f"{outcome.words}: {result.sent}{of} sent"
    if result.failed:
        text += f", {result.failed} failed"
    unsent = None if result.total is None else result.total - result.sent - result.failed
    if outcome is MoveOutcome.CANCELLED and unsent:
        text += f", {unsent} not sent"
    return text


#: Said whenever we aborted before the PACS confirmed our C-CANCEL (PS3.4 C.4.2.3.1).
UNCONFIRMED_CANCEL = "the PACS did not confirm the cancel"


def _unconfirmed_phrase(result: MoveResult) -> str:
    """"cancelled: 1 of 11 sent; 10 more may still arrive (the PACS did not confirm the
    cancel)": we ended the association, the PACS's own sends may go on."""
    if not result.counts_reported or not result.completed_reported:
        return f"cancelled; images may still arrive ({UNCONFIRMED_CANCEL})"
    of = "" if result.total is None else f" of {result.total}"
    text = f"cancelled: {result.sent}{of} sent"
    if result.failed:
        text += f", {result.failed} failed"
    rest = None if result.total is None else result.total - result.sent - result.failed
    more = f"{rest} more" if rest else "more"
    if rest == 0:
        return f"{text} ({UNCONFIRMED_CANCEL})"
    return f"{text}; {more} may still arrive ({UNCONFIRMED_CANCEL})"
