"""The one road out of the move queue: every job added, changed or removed, in that order.

Whoever owns the jobs announces them (qutebrowser's download manager and model): the queue
(:mod:`.queue`) calls its listeners in a fixed order, the job recorder (:mod:`.recorder`)
first, so a change is on disk before anyone shows it; then the front end (the window's
:class:`~dicom_courier.core.signals.EngineSignals`, the command line's progress bars). A table
of jobs listens to nothing else: a row appears on ``on_job_added``, changes on
``on_job_changed`` and goes on ``on_jobs_removed``.

Runs on: the asyncio loop thread (in the window, the GUI thread). Listeners must not block.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from dicom_courier.core.jobs.job import JobSnapshot

#: A plain callback that hears every added or changed job (not removals).
ChangeCallback = Callable[[JobSnapshot], None]


@runtime_checkable
class QueueListener(Protocol):
    """What the queue tells about its jobs; every snapshot is immutable and complete."""

    def on_job_added(self, job: JobSnapshot) -> None:
        """A new job (state QUEUED), with its final id; announced once per job."""

    def on_job_changed(self, job: JobSnapshot) -> None:
        """The newer snapshot of a known job: a state change, or a C-MOVE response's counts
        (PS3.4 C.4.2.1.6)."""

    def on_jobs_removed(self, job_ids: tuple[int, ...]) -> None:
        """Finished jobs the queue no longer lists ("Clear finished"); the history keeps them."""


@dataclass(frozen=True)
class CallbackListener:
    """A :class:`QueueListener` made of one callback for added and changed jobs.

    For callers that only follow jobs (the command line's progress bars, tests): ``callback``
    takes a :class:`JobSnapshot`; removals are not passed on (nothing it holds goes away).
    """

    callback: ChangeCallback

    def on_job_added(self, job: JobSnapshot) -> None:
        self.callback(job)

    def on_job_changed(self, job: JobSnapshot) -> None:
        self.callback(job)

    def on_jobs_removed(self, job_ids: tuple[int, ...]) -> None:
        """Nothing to do: a callback keeps no list."""


def as_listener(listener: QueueListener | ChangeCallback) -> QueueListener:
    """``listener`` itself, or a plain callback wrapped in a :class:`CallbackListener`."""
    if isinstance(listener, QueueListener):
        return listener
    return CallbackListener(listener)
