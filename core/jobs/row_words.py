"""What a send's row says about its images, and how much of its bar is filled (Qt-free).

The window's queue row and anything else that shows a send's images in a few words read them
here, so "52 sent · 8 failed of 60" is said once. The rules:

* **Sent means arrived.** "sent" counts images that reached the destination (completed +
  with warnings, PS3.4 C.4.2.1.6), the CLI's word (:func:`.outcome.decide.summary_phrase`:
  "partial: 52 of 60 sent, 8 failed"). Failed images are never in it, and they are named.
* **Warnings are a part of sent**, said in brackets: "60 of 60 sent (2 with warnings)".
* **Unknown is not zero.** A PACS that sends no counts gets "no image counts", a total it
  never gave is not invented ("12 sent", no "of ?"), and the bar then shows no percentage.
* **A bar is full only when everything arrived** (sent == total > 0). Failed images are their
  own segment; whatever did not arrive is never painted as arrived.
* **A waiting row of a paused queue says "paused"**, not "queued".
* **What arrived is said beside what the PACS said** (issue 13): a send to this computer
  reads "received 40 of 120" (its files on disk, not the PACS's counts); a checked send adds
  the check's words ("8 of 8 sent · destination has 1 of 8 after 30 s"); the bar of a send
  whose check found fewer is never full (:func:`job_bar_shape`).

Nothing here raises; every function takes plain numbers or a job snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass

from dicom_courier.core.jobs.job import JobSnapshot, JobState
from dicom_courier.core.outcome.arrival import THIS_COMPUTER, ArrivalCheck

#: A row's words while the queue checks the destination after the final response.
CHECKING_DESTINATION = "checking destination…"

#: Waiting rows: nothing runs for them until the queue starts them.
WAITING: frozenset[JobState] = frozenset({JobState.QUEUED, JobState.RETRYING})
#: Rows whose move is under way.
ACTIVE: frozenset[JobState] = frozenset({JobState.RUNNING, JobState.CANCELLING})


@dataclass(frozen=True)
class ImageCounts:
    """A send's sub-operation counts (images, PS3.4 C.4.2.1.6) as a row shows them.

    ``total`` is None while (or when) the PACS did not say; ``reported`` is False when no
    response carried any count; ``completed_known`` is False when the final response counted
    failures but not arrivals (then ``completed`` is a lower bound, not a fact).
    """

    completed: int = 0
    warning: int = 0
    failed: int = 0
    total: int | None = None
    reported: bool = True
    completed_known: bool = True

    @property
    def sent(self) -> int:
        """Images that arrived (completed + with warnings)."""
        return self.completed + self.warning

    @property
    def done(self) -> int:
        """Images the PACS has finished with, whatever their fate."""
        return self.completed + self.warning + self.failed

    @property
    def everything_arrived(self) -> bool:
        """True only when the PACS said how many and every one of them arrived."""
        return (self.reported and self.completed_known and self.total is not None
                and self.total > 0 and self.sent == self.total)

    @classmethod
    def of_job(cls, job: JobSnapshot) -> ImageCounts:
        """The counts to show: the final result once there is one, else the last response
        (no response yet: nothing reported)."""
        result = job.result
        if result is not None:
            return cls(result.completed, result.warning, result.failed, result.total,
                       reported=result.counts_reported,
                       completed_known=result.completed_reported)
        progress = job.progress
        if progress is None:
            return cls(reported=False)
        return cls(progress.completed, progress.warning, progress.failed, progress.total)


def counts_words(counts: ImageCounts, *, finished: bool) -> str:
    """The images of one send in a few words.

    "24 of 60 sent" · "52 sent · 8 failed of 60" · "60 of 60 sent (2 with warnings)" ·
    "12 sent" (total not given yet) · "30 sent · total not reported" (over, total never
    given; "0 sent" when nothing was counted) · "? sent · 1 failed of 3" (arrivals not
    reported) · "no counts yet" (running) / "no image counts" (over, the PACS never sent
    counts). ``finished``: the send is over.
    """
    if not counts.reported:
        return "no image counts" if finished else "no counts yet"
    warned = f" ({counts.warning} with warnings)" if counts.warning else ""
    sent = f"{counts.sent}" if counts.completed_known else "?"
    failed = f" · {counts.failed} failed" if counts.failed else ""
    if counts.total is None:
        if finished and counts.done == 0:
            return "0 sent"
        tail = " · total not reported" if finished else ""
        return f"{sent} sent{warned}{failed}{tail}"
    if counts.failed or not counts.completed_known:
        return f"{sent} sent{warned}{failed} of {counts.total}"
    return f"{sent} of {counts.total} sent{warned}"


def row_progress_words(job: JobSnapshot, *, paused: bool = False) -> str:
    """The progress cell of a queue row: "queued" ("paused" while the queue is paused) before
    a send starts, else :func:`counts_words` with what arrived (:func:`row_arrival_words`):
    a send to this computer says what it received instead ("received 40 of 120 · 2
    failed"), a checked send adds the check ("8 of 8 sent · verified at destination: 8/8")."""
    if job.state is JobState.QUEUED:
        return "paused" if paused else "queued"
    if job.state is JobState.RETRYING and paused:
        return "paused"
    counts = ImageCounts.of_job(job)
    sent_words = counts_words(counts, finished=job.state.is_finished)
    arrived = row_arrival_words(job)
    if arrived is None:
        return sent_words
    if job.to_here and job.state is not JobState.RETRYING:
        failed = f" · {counts.failed} failed" if counts.failed else ""
        return f"{arrived}{failed}"
    return f"{sent_words} · {arrived}"


def arrival_words(check: ArrivalCheck, *, total: int | None = None) -> str:
    """The arrival check's words: :meth:`ArrivalCheck.words` for a destination ("verified at
    destination: 120/120", "destination has 1 of 8 after 30 s", "not checked: …"); for this
    computer, what is on disk: "received 120 of 120", "received 1 of 8 after 30 s".

    ``total``: the study's image count as the PACS reported it (PS3.4 C.4.2.1.6: completed +
    failed + warning + remaining). When the PACS sent fewer than that (failures, a full disk),
    a send to this computer says the study's total, "received 50 of 360", never "50 of 50"
    while images are missing."""
    if check.where != THIS_COMPUTER or check.error is not None:
        return check.words()
    of = check.expected
    if total is not None and (of is None or total > of):
        of = total
    if of is None:
        return f"received {check.found} (the PACS reported no count)"
    if check.verified or check.waited < 0.5:  # verified: all it sent is here
        return f"received {check.found} of {of}"
    return f"received {check.found} of {of} after {check.waited:.0f} s"


def arrival_verified(check: ArrivalCheck | None) -> bool | None:
    """True: every instance the PACS reported was found; False: fewer were; None: not
    checked (no check, a check that could not run, or a count the PACS never gave)."""
    if check is None or check.error is not None or check.expected is None:
        return None
    return check.verified


def row_arrival_words(job: JobSnapshot) -> str | None:
    """What arrived, as a row says it; None when there is nothing to say (a send elsewhere
    that is not checked). "received 40 of 120" (a send to this computer; 120 is the PACS's
    total) and "… · waiting for the rest" after the final response; "checking destination…";
    then the check's words (:func:`arrival_words`)."""
    if job.arrival is not None:
        return arrival_words(job.arrival, total=ImageCounts.of_job(job).total)
    if job.received is None:
        return CHECKING_DESTINATION if job.checking else None
    progress = job.progress
    total = progress.total if progress is not None else None
    text = f"received {job.received}" + (f" of {total}" if total is not None else "")
    return f"{text} · waiting for the rest" if job.checking else text


def arrival_outcome_words(job: JobSnapshot) -> str | None:
    """The status words of a finished send whose arrival check found fewer than the PACS
    reported ("partial: destination has 1 of 8 after 30 s"), to be shown instead of the
    PACS's own outcome ("completed" would not be true); None otherwise."""
    check = job.arrival
    if not job.state.is_finished or check is None or arrival_verified(check) is not False:
        return None
    return f"{job.state.value.replace('_', ' ')}: {arrival_words(check)}"


def paused_words(job: JobSnapshot) -> str | None:
    """What a waiting row of a paused queue says instead of its state; None for a row that
    is not waiting (running sends go on while paused)."""
    if job.state is JobState.QUEUED:
        return "paused" if job.attempt <= 1 else f"paused (attempt {job.attempt} waits)"
    if job.state is JobState.RETRYING:
        return f"paused (attempt {job.attempt + 1} waits)"
    return None


def paused_banner(waiting: int) -> str:
    """The paused queue's banner: "Queue paused — 3 sends waiting. Running sends go on."."""
    sends = "send" if waiting == 1 else "sends"
    return f"Queue paused — {waiting} {sends} waiting. Running sends go on."


@dataclass(frozen=True)
class BarShape:
    """How much of a progress bar each kind of image fills (fractions of its width, 0..1).

    ``indeterminate``: a running send whose total is unknown (stripes, no percentage).
    ``full`` only when every image arrived; a bar that is not full must leave a visible gap.
    """

    completed: float = 0.0
    warning: float = 0.0
    failed: float = 0.0
    indeterminate: bool = False
    full: bool = False

    @property
    def arrived(self) -> float:
        """The part painted as arrived (completed + with warnings)."""
        return self.completed + self.warning


def bar_shape(counts: ImageCounts, *, active: bool) -> BarShape:
    """The bar of ``counts``; ``active``: the move is under way (running or cancelling).

    Unknown total: stripes while active, an empty bar once over (never a made-up
    percentage). Arrivals not reported: only the failed part is drawn.
    """
    total = counts.total
    if not counts.reported or total is None:
        return BarShape(indeterminate=active)
    if total <= 0:
        return BarShape()

    def part(amount: int) -> float:
        return max(0.0, min(1.0, amount / total))

    completed = part(counts.completed) if counts.completed_known else 0.0
    warning = part(counts.warning) if counts.completed_known else 0.0
    failed = min(part(counts.failed), max(0.0, 1.0 - completed - warning))
    return BarShape(completed, warning, failed, full=counts.everything_arrived)


def job_bar_shape(job: JobSnapshot, *, active: bool) -> BarShape:
    """The bar of a send with what arrived: a send to this computer fills with what it
    received; a send whose check found fewer fills with what was found (never full); full
    only when every image is verified, or (no check possible) the PACS said so."""
    counts = ImageCounts.of_job(job)
    shape = bar_shape(counts, active=active)
    verified = arrival_verified(job.arrival)
    total = counts.total
    if job.to_here and job.received is not None and total and not shape.indeterminate:
        arrived = max(0.0, min(1.0, job.received / total))
        failed = min(shape.failed, 1.0 - arrived)
        return BarShape(arrived, 0.0, failed,
                        full=bool(verified) and counts.everything_arrived)
    if verified is False and job.arrival is not None and job.arrival.expected:
        share = max(0.0, min(1.0, job.arrival.found / job.arrival.expected))
        return BarShape(shape.completed * share, shape.warning * share, shape.failed)
    if job.checking and job.arrival is None and not job.to_here:
        # the destination is being asked: working, amount not known yet (never the full
        # bar of a verified send, which it may never become)
        return BarShape(indeterminate=True)
    return shape
