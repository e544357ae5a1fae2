"""``dicom-courier move``: send targets one after another with a live progress bar per target.

Ctrl-C sends C-CANCEL to the running move at once (a second Ctrl-C aborts it) and marks the
targets not yet started as cancelled; the counts reached are printed either way.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TimeElapsedColumn
from rich.text import Text

from dicom_courier.core.cli.interrupt import _ctrl_c_cancels
from dicom_courier.core.cli.render import print_error, stderr
from dicom_courier.core.cli.safe_text import LiteralColumn, line, literal
from dicom_courier.core.cli.send_record import RecordedOperation, SendRecorder
from dicom_courier.core.config.profiles import PacsNode
from dicom_courier.core.outcome.arrival import shown_destination
from dicom_courier.core.outcome.decide import (
    UNCONFIRMED_CANCEL,
    failed_moves_note,
    overall_outcome,
    summary_phrase,
)
from dicom_courier.core.outcome.errors import CourierError, NothingMatched
from dicom_courier.core.outcome.events import MoveOutcome, MoveProgress, MoveResult
from dicom_courier.core.qr.distinct import distinct_targets
from dicom_courier.core.qr.query import MoveRequest, MoveTarget, Priority, QueryModel
from dicom_courier.core.text.safe_text import json_text

if TYPE_CHECKING:  # types only: the engine (pynetdicom) loads when a send starts
    from dicom_courier.core.cli.verify_cmd import SendCheck
    from dicom_courier.core.dimse.engine import Courier
    from dicom_courier.core.dimse.move import MoveOperation

logger = logging.getLogger(__name__)


def overall_exit_code(results: Sequence[MoveResult], cancelled: bool,
                      not_started: int = 0) -> int:
    """The exit code of the worst outcome (:func:`.outcome.overall_outcome`)."""
    return overall_outcome(results, cancelled, not_started).exit_code


def _target_label(target: MoveTarget) -> str:
    if target.description:
        return target.description
    uid = target.series_uids[0] if target.series_uids else target.study_uid
    kind = {"STUDY": "study", "SERIES": "series", "IMAGE": "images of series"}[target.level.value]
    short = uid if len(uid) <= 28 else "…" + uid[-27:]
    extra = f" ({len(target.sop_uids)})" if target.sop_uids else ""
    return f"{kind} {short}{extra}"


class MoveRunner:
    """Runs the moves of one command and reports them as progress bars or JSON lines."""

    def __init__(self, courier: Courier, pacs: PacsNode, destination: str, *,
                 model: QueryModel, priority: Priority, as_json: bool,
                 recorder: SendRecorder | None = None,
                 typed_patient_id: str | None = None,
                 verifier: SendCheck | None = None) -> None:
        self.courier, self.pacs, self.destination = courier, pacs, destination
        self.shown = shown_destination(destination)  # "This computer" for @here
        self.typed_patient_id = typed_patient_id  # --patient-id: the person's own input
        self.model, self.priority, self.as_json = model, priority, as_json
        self.recorder = recorder  # every send is a job row, as in the window (send_record)
        self.verifier = verifier  # --verify / --dest @here: what arrived, after each move
        self.cancelled = False
        self.current: MoveOperation | None = None
        self.reported = False  # True once the summary is printed

    def _cancel(self) -> None:
        self.cancelled = True
        if self.current is not None:
            stderr.print(literal(  # the same words as find (core.cli.interrupt)
                f"Cancelling: C-CANCEL sent, waiting up to {self.courier.cancel_grace:g} s "
                "for the PACS to confirm (Ctrl-C again to abort now)…"))
            self.current.cancel()

    def _abort(self) -> None:
        self.cancelled = True
        if self.current is not None:
            self.current.abort()

    async def run(self, targets: Sequence[MoveTarget]) -> int:
        """Move each distinct target once (a repeat of an earlier one is dropped, said with
        -v), one after another; returns the exit code."""
        targets, repeats = distinct_targets(targets)
        if repeats:
            logger.info("%d target(s) named twice: each is sent once.", repeats)
        started = time.monotonic()
        results: list[MoveResult] = []
        with _ctrl_c_cancels(self._cancel, self._abort):
            if self.as_json:
                for target in targets:
                    if self.cancelled:
                        break
                    results.append(await self._one_json(target))
            else:
                with Progress(  # data (descriptions, AE titles) is never markup
                    LiteralColumn(), BarColumn(bar_width=30),
                    MofNCompleteColumn(), LiteralColumn("detail"),
                    TimeElapsedColumn(), console=stderr, transient=False,
                ) as progress:
                    for target in targets:
                        if self.cancelled:
                            break
                        results.append(await self._one_bar(target, progress))
        not_started = len(targets) - len(results)
        self._report(results, not_started, time.monotonic() - started)
        code = overall_exit_code(results, self.cancelled, not_started)
        if code == 0 and self.verifier is not None and not self.verifier.all_verified:
            return MoveOutcome.PARTIAL.exit_code  # sent, but not all of it is there
        return code

    def _operation(self, target: MoveTarget) -> MoveOperation | RecordedOperation:
        """The move of ``target``, recorded first if there is a recorder (raises StoreError
        when it cannot be: then nothing is sent)."""
        request = MoveRequest(target=target, destination=self.destination, model=self.model,
                              priority=self.priority)
        job_id = None
        if self.recorder is not None:
            job_id = self.recorder.begin(self.pacs, request, target.description or "")
        self.current = self.courier.move(self.pacs, request)
        if self.recorder is None or job_id is None:
            return self.current
        return RecordedOperation(self.current, self.recorder, job_id)

    async def _one_bar(self, target: MoveTarget, progress: Progress) -> MoveResult:
        task: TaskID = progress.add_task(f"{_target_label(target)} → {self.shown}",
                                         total=None, detail="connecting…")
        operation = self._operation(target)
        async for event in operation:
            progress.update(task, total=event.total, completed=event.sent,
                            detail=_detail(event))
        result = self._explained(operation.result)
        progress.update(task, **_final_bar(result))
        await self._check(target, operation, result)
        return result

    async def _one_json(self, target: MoveTarget) -> MoveResult:
        operation = self._operation(target)
        async for event in operation:
            _json_line({"event": "progress", "study_uid": target.study_uid,
                        "remaining": event.remaining, "completed": event.completed,
                        "failed": event.failed, "warning": event.warning, "total": event.total,
                        "status": f"0x{event.status:04X}", "elapsed_s": round(event.elapsed, 3),
                        "is_final": event.is_final})  # the outcome is in the result line
        result = self._explained(operation.result)
        _json_line({"event": "result", "study_uid": target.study_uid,
                    "series_uids": list(target.series_uids), **result.summary()})
        await self._check(target, operation, result)
        return result

    async def _check(self, target: MoveTarget, operation: MoveOperation | RecordedOperation,
                     result: MoveResult) -> None:
        """What arrived (``--verify``, ``--dest @here``), recorded with the job as the
        queue records it: the words, received count, folder, and "partial" when fewer
        arrived than the PACS reported sent (:meth:`SendRecorder.checked`)."""
        if self.verifier is None:
            return
        check = await self.verifier.after(target, result)
        if isinstance(operation, RecordedOperation):
            received, folder = self.verifier.arrived(target)
            operation.recorder.checked(operation.job_id, operation.result, check,
                                       received=received, folder=folder)

    def _explained(self, result: MoveResult) -> MoveResult:
        """A move that matched nothing, asked with a Patient ID the person typed: the error
        says that nothing was found under that Patient ID (shown on their terminal, never
        logged), since a wrong Patient ID is the likeliest cause."""
        error = result.error
        if self.typed_patient_id is None or not isinstance(error, NothingMatched):
            return result
        pacs = self.pacs.called_aet
        return replace(result, error=NothingMatched(
            f"{pacs} found nothing to send for the Patient ID given (--patient-id).",
            f"{pacs} answered the move (Patient Root model) with zero images: it holds "
            f"nothing of this request under the Patient ID \"{self.typed_patient_id}\". "
            "The Patient ID may not be this study's, the study may have been deleted, or the "
            "UID is wrong.",
            "Check the Patient ID, or leave --patient-id out: Courier then looks it up from "
            "the study.", peer=error.peer, status=error.status, comment=error.comment,
            details=error.extra_details))

    def _report(self, results: Sequence[MoveResult], not_started: int, duration: float) -> None:
        known = all(r.counts_reported for r in results)
        totals: dict[str, int | None] = {k: sum(getattr(r, k) for r in results) if known
                                         else None for k in ("completed", "failed", "warning")}
        total = (sum(r.total for r in results if r.total is not None)
                 if all(r.total is not None for r in results) else None)
        worst = _worst(results, self.cancelled, not_started)
        self.reported = True
        if self.as_json:
            summary: dict[str, Any] = {"event": "summary", "total": total, **totals,
                                       "outcome": worst, "status": worst,
                                       "duration_s": round(duration, 3),
                                       "moves": len(results), "not_started": not_started,
                                       "destination": self.destination}
            if self.verifier is not None:
                summary["verified"] = self.verifier.all_verified
            errors = [error.title + (f" ({count} moves)" if count > 1 else "")
                      for error, count in _distinct_errors(results)]
            if errors:
                summary["error"] = "; ".join(errors)
            _json_line(summary)
            return
        for error, count in _distinct_errors(results, skip_cancelled=True):
            print_error(error)  # an identical error of several moves is printed once
            if count > 1:
                stderr.print(literal(f"({count} moves)"))
        line = _summary_line(results, worst, f"sent to {self.shown}", duration)
        if not_started:
            line += f"; {not_started} not started (cancelled)"
        if self.verifier is not None and self.verifier.checks:  # never "sent" alone
            line += f"; {self.verifier.summary()}"
        stderr.print(literal(line))


def json_summary_without_moves(outcome: str, error: str, error_type: str, destination: str,
                               duration: float) -> None:
    """``move --json``: the summary line (README's contract) of a command that ended before
    any move (a look-up refused, cancelled or finding nothing; sends that cannot be
    recorded): ``outcome`` ("failed"/"cancelled"), ``error`` (its title), no counts."""
    _json_line({"event": "summary", "total": None, "completed": None, "failed": None,
                "warning": None, "outcome": outcome, "status": outcome,
                "duration_s": round(duration, 3), "moves": 0, "not_started": 0,
                "destination": destination, "error": error, "error_type": error_type})


def _distinct_errors(results: Sequence[MoveResult], *, skip_cancelled: bool = False
                     ) -> list[tuple[CourierError, int]]:
    """Each distinct error of ``results`` (same class, words and details) with the number of
    moves that ended with it, in order of first appearance."""
    seen: dict[tuple[object, ...], tuple[CourierError, int]] = {}
    for result in results:
        error = result.error
        if error is None or (skip_cancelled and result.outcome is MoveOutcome.CANCELLED):
            continue
        key = (type(error), error.title, error.explanation, error.action,
               tuple(error.details.items()))
        first, count = seen.get(key, (error, 0))
        seen[key] = (first, count + 1)
    return list(seen.values())


def _worst(results: Sequence[MoveResult], cancelled: bool, not_started: int = 0) -> str:
    return overall_outcome(results, cancelled, not_started).value


def _summary_line(results: Sequence[MoveResult], worst: str, where: str,
                  duration: float) -> str:
    """"partial: 2 of 3 images sent to WS, 1 failed, 0 with warnings, in 0.4 s"; counts that
    a PACS did not report are said to be unknown, never shown as 0."""
    head = worst.replace("_", " ")
    if not results or not all(r.counts_reported and r.completed_reported for r in results):
        notes = sorted({r.note for r in results if r.note})
        if results and all(r.counts_reported for r in results):  # completed not reported
            failed = sum(r.failed for r in results)
            of = (f" of the {sum(r.total for r in results if r.total is not None)}"
                  if all(r.total is not None for r in results) else "")
            return (f"{head}: {failed} failed; the PACS did not say how many{of} images "
                    f"arrived ({len(results)} move(s) {where}), in {duration:.1f} s")
        why = f" ({'; '.join(notes)})" if notes else ""
        unsent = sum(1 for r in results if not r.request_sent)  # never reached the PACS
        if results and unsent == len(results):
            return (f"{head}: {unsent} move(s) not sent: the PACS got no move request{why}; "
                    f"no image was sent, in {duration:.1f} s")
        if head == "failed" and not any(r.sent for r in results):
            why += "; no image is known to have arrived"
        moves = f"{len(results) - unsent} move(s) {where}" + (
            f", {unsent} not sent (the PACS got no move request)" if unsent else "")
        return f"{head}: {moves}{why}, in {duration:.1f} s"
    sent = sum(r.sent for r in results)
    failed = sum(r.failed for r in results)
    warning = sum(r.warning for r in results)
    of = (f" of {sum(r.total for r in results if r.total is not None)}"
          if all(r.total is not None for r in results) else "")
    text = f"{head}: {sent}{of} images {where}, {failed} failed, {warning} with warnings"
    unsent = sum(r.total - r.sent - r.failed for r in results
                 if r.total is not None and r.outcome is MoveOutcome.CANCELLED
                 and not r.cancel_unconfirmed)
    if unsent > 0:
        text += f", {unsent} not sent"
    unconfirmed = [r for r in results if r.cancel_unconfirmed]
    if unconfirmed:  # we aborted; the PACS's own sends may go on (PS3.4 C.4.2.3.1)
        rest = sum(r.total - r.sent - r.failed for r in unconfirmed if r.total is not None)
        more = f"{rest} more" if rest > 0 and all(r.total is not None for r in unconfirmed) \
            else "more"
        text += f"; {more} may still arrive ({UNCONFIRMED_CANCEL})"
    failed_moves = failed_moves_note(results)  # "partial: 23 of 23 … ; 1 of 2 moves failed"
    if failed_moves:
        text += f"; {failed_moves}"
    notes = sorted({r.note for r in results if r.note})
    if notes:
        text += f" ({'; '.join(notes)})"
    return f"{text}, in {duration:.1f} s"


def _final_bar(result: MoveResult) -> dict[str, Any]:
    """The finished bar: images that arrived of the total (never more than the total)."""
    total = result.total if result.total is not None else max(result.sent, 1)
    return {"total": total, "completed": min(result.sent, total),
            "detail": _outcome_text(result)}


def _detail(event: MoveProgress) -> Text:
    """The progress bar's detail: counts in colour (styles, never markup parsed from text)."""
    parts: list[tuple[str, str]] = []
    if event.failed:
        parts.append((f"{event.failed} failed", "red"))
    if event.warning:
        parts.append((f"{event.warning} warnings", "yellow"))
    if event.elapsed > 0 and event.completed:
        parts.append((f"{event.completed / event.elapsed:.0f} img/s", ""))
    return Text(" ").join(line(part) for part in parts)


def _outcome_text(result: MoveResult) -> Text:
    """The finished bar's words, from :func:`.outcome.summary_phrase` (literal, coloured)."""
    colour = {MoveOutcome.COMPLETED: "green", MoveOutcome.COMPLETED_WITH_WARNINGS: "yellow",
              MoveOutcome.PARTIAL: "yellow", MoveOutcome.CANCELLED: "yellow",
              MoveOutcome.FAILED: "red"}[result.outcome]
    return line((summary_phrase(result), colour))


def _json_line(obj: dict[str, Any]) -> None:
    sys.stdout.write(json_text(obj) + "\n")
    sys.stdout.flush()
