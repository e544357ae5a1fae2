"""A failed or partial send in plain words, and the text helpers the failure dialogs share.

Split from :mod:`dicom_courier.gui.failure_dialog` so the words live apart from the widgets:
:class:`FailureReport` renders one send's failure from the engine's error catalogue
(:mod:`dicom_courier.core.outcome.status`, :mod:`dicom_courier.core.outcome.errors`), and the
functions here
word counts, names and a batch's headline. Nothing here needs Qt.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

from dicom_courier.core.config.profiles import PacsNode
from dicom_courier.core.jobs.queue import JobLabel, JobSnapshot
from dicom_courier.core.jobs.retry_choice import RetryChoice, retry_choice
from dicom_courier.core.outcome.errors import CourierError
from dicom_courier.core.outcome.events import MoveOutcome, MoveResult
from dicom_courier.core.text.people_text import format_person_name


def counts_text(result: MoveResult) -> str:
    """"45 of 60 images sent, 15 failed, 0 with warnings" (the CLI's wording,
    ``SubOperationTally.describe``: sent = arrived, with or without warnings)."""
    if not result.counts_reported:
        return "the PACS did not report image counts"
    if not result.completed_reported:
        of = "" if result.total is None else f" of {result.total}"
        return (f"{result.failed} failed, {result.warning} with warnings; the PACS did not "
                f"say how many{of} arrived")
    sent = str(result.sent) if result.total is None else f"{result.sent} of {result.total}"
    return f"{sent} images sent, {result.failed} failed, {result.warning} with warnings"


def readable_person_name(value: str) -> str:
    """"DOE^JANE" -> "DOE, JANE": a DICOM PN (PS3.5 6.2) as people write it (the words of
    :func:`dicom_courier.core.text.people_text.format_person_name`, as in the grid and the CLI)."""
    return format_person_name(value)


@dataclass(frozen=True)
class FailureReport:
    """One failed or partial send, with everything the dialogs show; built once, read often.

    The patient's name is shown in the dialog but left out of :meth:`render` (the text that
    "Copy details" puts on the clipboard): such reports get pasted into tickets and chats, and
    the study UID already identifies the study for support.
    """

    result: MoveResult
    pacs_name: str
    label: JobLabel = JobLabel()
    study_uid: str | None = None
    job_id: int | None = None

    @classmethod
    def from_job(cls, job: JobSnapshot) -> FailureReport:
        if job.result is None:
            raise ValueError(f"job {job.job_id} has no result to report")
        return cls(result=job.result, pacs_name=job.pacs.name, label=job.label,
                   study_uid=job.request.target.study_uid, job_id=job.job_id)

    @classmethod
    def from_result(cls, result: MoveResult, pacs: PacsNode, label: JobLabel | None = None,
                    *, study_uid: str | None = None, job_id: int | None = None) -> FailureReport:
        return cls(result=result, pacs_name=pacs.name, label=label or JobLabel(),
                   study_uid=study_uid,
                   job_id=job_id)

    # ------------------------------------------------------------------ plain words

    @property
    def error(self) -> CourierError | None:
        return self.result.error

    @property
    def is_partial(self) -> bool:
        return self.result.outcome is MoveOutcome.PARTIAL

    @property
    def title(self) -> str:
        if self.error is not None:
            return self.error.title
        if self.is_partial:
            return f"Only part of the send to {self.result.destination} succeeded."
        return f"The send to {self.result.destination} failed."

    @property
    def explanation(self) -> str:
        return self.error.explanation if self.error is not None else ""

    @property
    def action(self) -> str:
        if self.error is not None:
            return self.error.action
        return "Check the destination's log, then retry the send."

    @property
    def counts(self) -> str:
        return counts_text(self.result)

    @property
    def error_kind(self) -> str:
        return type(self.error).__name__ if self.error is not None else self.result.outcome.value

    @property
    def retry(self) -> RetryChoice:
        """What Retry offers for this send (:func:`core.jobs.retry_choice.retry_choice`)."""
        return retry_choice(self.result)

    @property
    def can_retry(self) -> bool:
        """Retry helps for a known job whose fault may pass, or that sent only part."""
        return self.job_id is not None and self.retry.helps

    @property
    def patient(self) -> str:
        return readable_person_name(self.label.patient)

    @property
    def study(self) -> str:
        return self.label.study or self.study_uid or ""

    def details(self) -> list[tuple[str, str]]:
        """Technical facts for the "Details" section, in a stable order."""
        found: dict[str, str] = dict(self.error.details) if self.error is not None else {}
        result = self.result
        if "DIMSE status" not in found and result.status is not None:
            found["DIMSE status"] = f"0x{result.status:04X}"
        if result.error_comment and "Error comment from the PACS" not in found:
            found["Error comment from the PACS"] = result.error_comment
        for key, value in result.peer.as_details().items():
            found.setdefault(key, value)
        found.setdefault("Move destination", result.destination)
        found.setdefault("Images", self.counts)
        found["PACS profile"] = self.pacs_name
        if self.study_uid:
            found["Study Instance UID"] = self.study_uid
        found["Error type"] = self.error_kind
        found["Outcome"] = result.outcome.value
        found["Duration"] = f"{result.duration:.1f} s"
        if self.job_id is not None:
            found["Job"] = f"#{self.job_id}"
        return list(found.items())

    def details_text(self) -> str:
        width = max(len(key) for key, _ in self.details())
        lines = [f"{key + ':':<{width + 1}} {value}" for key, value in self.details()]
        uids = self.result.failed_sop_uids
        if uids:
            lines.append("")
            lines.append(f"Failed SOP Instance UIDs ({len(uids)}):")
            lines += [f"  {uid}" for uid in uids]
        return "\n".join(lines)

    def render(self) -> str:
        """The whole report as plain text, for the clipboard and support."""
        parts = [self.title]
        if self.explanation:
            parts.append(self.explanation)
        parts.append(f"What to do: {self.action}")
        parts.append(f"Images: {self.counts}")
        return "\n".join(parts) + "\n\nDetails\n" + self.details_text() + "\n"


def report_of(source: JobSnapshot | FailureReport) -> FailureReport:
    return source if isinstance(source, FailureReport) else FailureReport.from_job(source)


def what_to_do_html(action: str) -> str:
    return f"<b>What to do:</b> {html.escape(action)}" if action else ""


def summary_headline(reports: Sequence[FailureReport]) -> tuple[str, str, str]:
    """(headline, explanation, action) for a batch; shared words only if the errors agree.

    ``action`` is the bare "what to do" sentence, or "" when the failures need different fixes.
    """
    count = len(reports)
    partial = any(r.is_partial for r in reports)
    verb = "did not complete" if partial else "failed"
    noun = "send" if count == 1 else "sends"
    titles = {r.title for r in reports}
    if len(titles) == 1:
        first = reports[0]
        return f"{count} {noun} {verb}: {first.title}", first.explanation, first.action
    kinds = {r.error_kind for r in reports}
    actions = {r.action for r in reports}
    if len(kinds) == 1:
        action = actions.pop() if len(actions) == 1 else ""
        return (f"{count} {noun} {verb} with the same kind of problem.",
                "Select a send and press \"Show details\" for the specifics.", action)
    return (f"{count} {noun} {verb} with different problems.",
            "Select a send and press \"Show details\" for what happened and what to do.", "")
