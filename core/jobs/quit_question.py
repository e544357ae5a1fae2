"""What to ask when a person closes DICOM Courier while sends are running or waiting.

Closing the window used to abort every send and record it *cancelled*, so the next start
offered nothing to resume (issue 11). Now the window asks first, with the counts, and offers
three answers (:class:`QuitChoice`): keep the window open (the sends go on), quit and resume
them at the next start (they are left *interrupted* in ``jobs.db``, as a crash leaves them,
see :meth:`.queue.MoveQueue.leave_interrupted`; the next start offers them), or cancel them and
quit (recorded *cancelled*, as before). With no send running or waiting it asks nothing.

This module decides what is asked; the window only shows it (:mod:`dicom_courier.gui.quit_dialog`).
Nothing here imports Qt. A choice's label marks its access key with ``&`` (the convention of
every desktop toolkit: ``&Keep`` is Alt+K).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum

from dicom_courier.core.jobs.job import JobSnapshot, JobState

#: A send that holds an association now (C-MOVE in progress, PS3.4 C.4.2).
RUNNING_STATES = frozenset({JobState.RUNNING})
#: A send that has not started yet, or waits for its next automatic attempt.
WAITING_STATES = frozenset({JobState.QUEUED, JobState.RETRYING})


class QuitChoice(IntEnum):
    """The answers. The values are the dialog's result codes: 0 is what Esc (reject) means."""

    KEEP_OPEN = 0
    QUIT_AND_RESUME = 1
    CANCEL_AND_QUIT = 2


@dataclass(frozen=True)
class Choice:
    """One answer: ``label`` (``&`` before the access key), ``explanation`` (one sentence
    saying what happens to the sends)."""

    choice: QuitChoice
    label: str
    explanation: str


@dataclass(frozen=True)
class QuitQuestion:
    """The question (plain text, no markup): ``running`` and ``waiting`` are counts of sends
    (see :data:`RUNNING_STATES`, :data:`WAITING_STATES`); ``choices`` in the order shown, the
    first one the default (Enter) and the one Esc means."""

    title: str
    text: str
    running: int
    waiting: int
    choices: tuple[Choice, ...]

    @property
    def counts(self) -> str:
        """The counts as a person reads them, e.g. "2 sends running, 2 waiting"."""
        return counts_text(self.running, self.waiting)


def _sends(count: int) -> str:
    return f"{count} send{'' if count == 1 else 's'}"


def counts_text(running: int, waiting: int) -> str:
    """"2 sends running, 2 waiting", "1 send running", "3 sends waiting"; "" for 0 and 0."""
    if running and waiting:
        return f"{_sends(running)} running, {waiting} waiting"
    if running:
        return f"{_sends(running)} running"
    if waiting:
        return f"{_sends(waiting)} waiting"
    return ""


CHOICES: tuple[Choice, ...] = (
    Choice(QuitChoice.KEEP_OPEN, "&Keep the window open",
           "The sends go on; nothing is stopped."),
    Choice(QuitChoice.QUIT_AND_RESUME, "Quit and &resume them next time",
           "The sends stop now and are offered for resuming when DICOM Courier starts again "
           "(a resumed send asks the PACS for all it named again)."),
    Choice(QuitChoice.CANCEL_AND_QUIT, "&Cancel them and quit",
           "The sends are cancelled and recorded as cancelled; images already sent stay at "
           "the destination."),
)


def quit_question(jobs: Iterable[JobSnapshot]) -> QuitQuestion | None:
    """The question to ask before quitting with ``jobs`` (the live queue's snapshots), or
    None when no send is running or waiting (then quit at once, as before).

    A send being cancelled (CANCELLING) is not counted: the person already asked to stop it,
    and it ends cancelled whatever is chosen. Finished sends are not counted. Raises nothing.
    """
    running = waiting = 0
    for job in jobs:
        if job.state in RUNNING_STATES:
            running += 1
        elif job.state in WAITING_STATES:
            waiting += 1
    if not running and not waiting:
        return None
    counts = counts_text(running, waiting)
    text = (f"{counts}.\n\nIf DICOM Courier quits now, these sends do not finish. Keep the "
            "window open until they do, or quit and resume them the next time DICOM Courier "
            "starts.")
    return QuitQuestion(title="Quit with unfinished sends?", text=text, running=running,
                        waiting=waiting, choices=CHOICES)
