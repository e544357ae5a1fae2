"""The move queue as a table: one row per job, fed by the queue's announcements only.

The queue announces every job added, changed and removed (:mod:`core.queue_listener`);
:class:`~dicom_courier.core.signals.EngineSignals` relays them as ``job_changed`` and
``jobs_removed``, and :meth:`MoveQueueModel.listen_to` connects exactly those two. Nothing else
changes the rows: "Clear finished" asks the queue, and the rows go when the queue says so.

The queue reports every change as a fresh immutable :class:`JobSnapshot`, and a 1,000-image move
reports one per image. Storing a snapshot is cheap; telling the view is not. So snapshots are
stored at once but ``dataChanged`` is coalesced: at most one emission per flush (every 150 ms),
spanning the rows that changed since the last one. New jobs are inserted immediately, because
row structure must never lag behind what the view is told.
"""

from __future__ import annotations

import time
from enum import IntEnum
from typing import NamedTuple

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
)
from PySide6.QtGui import QColor

from dicom_courier.core.jobs.queue import JobSnapshot, JobState
from dicom_courier.core.jobs.row_words import (
    WAITING,
    BarShape,
    ImageCounts,
    arrival_outcome_words,
    counts_words,
    job_bar_shape,
    paused_words,
    row_arrival_words,
    row_progress_words,
)
from dicom_courier.core.outcome.arrival import THIS_COMPUTER
from dicom_courier.core.outcome.decide import summary_phrase
from dicom_courier.core.signals import EngineSignals
from dicom_courier.gui.plain_text import cell_text, plain_tooltip

_Index = QModelIndex | QPersistentModelIndex

#: The JobSnapshot of the row (any column).
JOB_ROLE = int(Qt.ItemDataRole.UserRole) + 1
#: A :class:`ProgressData` tuple, what the progress delegate paints.
PROGRESS_ROLE = int(Qt.ItemDataRole.UserRole) + 2

#: How long bursts of snapshots are gathered before the view hears of them.
FLUSH_INTERVAL_MS = 150
#: How often elapsed / remaining time of running jobs is refreshed with no new response.
TICK_INTERVAL_MS = 1000

#: The status of a send to this computer after the PACS's final response, while its files
#: are not all on disk yet (no rate, no time remaining: nothing is counted down).
WAITING_FOR_FILES = "waiting for the files…"

FAILED_COLOUR = QColor("#c62828")
PARTIAL_COLOUR = QColor("#d35400")

_ACTIVE = frozenset({JobState.RUNNING, JobState.CANCELLING})


class QueueColumn(IntEnum):
    PATIENT = 0
    STUDY = 1
    DESTINATION = 2
    PROGRESS = 3
    STATUS = 4
    RATE = 5
    ELAPSED = 6
    REMAINING = 7

    @property
    def title(self) -> str:
        return _TITLES[self]


_TITLES = {
    QueueColumn.PATIENT: "Patient",
    QueueColumn.STUDY: "Study",
    QueueColumn.DESTINATION: "Destination",
    QueueColumn.PROGRESS: "Progress",
    QueueColumn.STATUS: "Status",
    QueueColumn.RATE: "Rate",
    QueueColumn.ELAPSED: "Elapsed",
    QueueColumn.REMAINING: "Remaining",
}


class ProgressData(NamedTuple):
    """Sub-operation counts of a job (PS3.4 C.4.2.1.6); ``total`` is None while unknown.

    ``reported``: some response carried counts; ``completed_known``: the PACS said how many
    arrived; ``paused``: the row waits in a paused queue. ``words`` and ``shape`` (issue 13):
    a send whose arrivals are counted or checked says what arrived ("received 40 of 120",
    "8 of 8 sent · destination has 1 of 8 after 30 s") and fills its bar with that
    (:func:`core.jobs.row_words.job_bar_shape`); None for any other send.
    """

    completed: int
    failed: int
    warning: int
    total: int | None
    state: JobState
    reported: bool = True
    completed_known: bool = True
    paused: bool = False
    words: str | None = None
    shape: BarShape | None = None

    @property
    def image_counts(self) -> ImageCounts:
        """The counts as :mod:`core.jobs.row_words` reads them."""
        return ImageCounts(self.completed, self.warning, self.failed, self.total,
                           reported=self.reported, completed_known=self.completed_known)

    @property
    def done(self) -> int:
        return self.completed + self.failed + self.warning

    @property
    def sent(self) -> int:
        """Images that arrived (failed ones are never counted as sent)."""
        return self.completed + self.warning


def progress_of(job: JobSnapshot, *, paused: bool = False) -> ProgressData:
    """The counts to show: the final result once there is one, else the last response
    (:meth:`ImageCounts.of_job`); ``paused``: the queue is paused (a waiting row says so)."""
    counts = ImageCounts.of_job(job)
    waiting = paused and job.state in WAITING
    words = shape = None
    arrived = row_arrival_words(job)
    if job.to_here and job.state is JobState.RETRYING and not waiting:
        # nothing is on its way: the last attempt's "0 of 0 sent · received 0 of 0" is not
        # what a person needs; when the next attempt starts is
        words, shape = retry_words(job), BarShape()
    elif not waiting and job.state is not JobState.QUEUED and arrived is not None:
        # what arrived, not only what the PACS said: a send here counts its files; a
        # checked send's bar says the check (the PACS's own counts are in the tooltip)
        words = (row_progress_words(job, paused=paused)
                 if job.to_here or job.arrival is None else arrived)
        shape = job_bar_shape(job, active=job.state in _ACTIVE)
    return ProgressData(counts.completed, counts.failed, counts.warning, counts.total,
                        job.state, counts.reported, counts.completed_known,
                        waiting, words, shape)


def status_text(job: JobSnapshot, *, paused: bool = False) -> str:
    """One short phrase per state; a failure names what happened (the error's title). A
    waiting row of a paused queue says "paused" (:func:`core.jobs.row_words.paused_words`)."""
    state = job.state
    if paused and (words := paused_words(job)) is not None:
        return words
    if state is JobState.CANCELLING:
        return "cancelling…"
    if state is JobState.RUNNING and job.to_here and job.checking:
        return WAITING_FOR_FILES  # the PACS has answered; the files are not all here yet
    if state.is_finished and (checked := arrival_outcome_words(job)) is not None:
        return checked  # the check found fewer than the PACS said: never "completed"
    if state.is_finished and job.result is not None:
        return summary_phrase(job.result)  # the words of the one outcome table
    if state is JobState.FAILED:
        error = job.result.error if job.result else None
        return f"failed: {error.title}" if error is not None else "failed"
    if state is JobState.RETRYING:
        error = job.result.error if job.result else None
        why = f" after: {error.title}" if error is not None else ""
        return f"retrying (attempt {job.attempt + 1}){_retry_wait(job)}{why}"
    if job.attempt > 1 and state in (JobState.QUEUED, JobState.RUNNING):
        return f"{state.value} (attempt {job.attempt})"
    return state.value


def _retry_wait(job: JobSnapshot) -> str:
    """" in 20 s" until a retrying job's next attempt ("" when not scheduled)."""
    if job.next_retry_at is None:
        return ""
    return f" in {max(0, int(job.next_retry_at - time.monotonic()))} s"


def retry_words(job: JobSnapshot) -> str:
    """The progress cell of a retrying send to this computer: "retrying in 20 s"."""
    return f"retrying{_retry_wait(job)}"


def status_tooltip(job: JobSnapshot) -> str | None:
    """Why it failed and what to do, straight from the error catalogue (no text of our own)."""
    error = job.result.error if job.result else None
    if error is None:
        return None
    parts = [error.explanation or error.title, f"What to do: {error.action}"]
    return "\n\n".join(part for part in parts if part)


def format_duration(seconds: float | None) -> str:
    """``m:ss`` (minutes keep counting past 59: a queue rarely runs for hours)."""
    if seconds is None:
        return ""
    minutes, secs = divmod(max(0, round(seconds)), 60)
    return f"{minutes}:{secs:02d}"


def format_rate(images_per_second: float | None) -> str:
    return "" if images_per_second is None else f"{images_per_second:.1f} img/s"


def short_uid(uid: str, keep: int = 14) -> str:
    """The tail of a UID: the head is usually an organisation root shared by every study."""
    return uid if len(uid) <= keep + 1 else f"…{uid[-keep:]}"


class MoveQueueModel(QAbstractTableModel):
    """Rows in submission order; snapshots replace each other, the view hears in batches."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._jobs: list[JobSnapshot] = []
        self._rows: dict[int, int] = {}  # job id -> row
        self._dirty: set[int] = set()  # job ids changed since the last flush
        self._flush_timer = QTimer(self)
        self._flush_timer.setSingleShot(True)
        self._flush_timer.setInterval(FLUSH_INTERVAL_MS)
        self._flush_timer.timeout.connect(self._flush)
        self._tick_timer = QTimer(self)
        self._tick_timer.setInterval(TICK_INTERVAL_MS)
        self._tick_timer.timeout.connect(self._on_tick)
        self._paused = False

    # ------------------------------------------------------------------ feeding

    def listen_to(self, signals: EngineSignals) -> None:
        """Follow the queue behind ``signals``: rows are added, changed and removed only as
        it announces (``job_changed`` → :meth:`apply`, ``jobs_removed`` → :meth:`remove_jobs`).
        """
        signals.job_changed.connect(self.apply)
        signals.jobs_removed.connect(self.remove_jobs)

    def apply(self, job: JobSnapshot) -> None:
        """Slot for ``EngineSignals.job_changed``: insert a new job, or store the newer snapshot.

        A known job only marks its row dirty; the flush timer, if not already pending, is
        started, so a burst of snapshots costs one ``dataChanged`` per interval (a throttle,
        not a debounce: a steady stream still shows progress every 150 ms).
        """
        row = self._rows.get(job.job_id)
        if row is None:
            row = len(self._jobs)
            self.beginInsertRows(QModelIndex(), row, row)
            self._jobs.append(job)
            self._rows[job.job_id] = row
            self.endInsertRows()
        else:
            self._jobs[row] = job
            self._dirty.add(job.job_id)
            if not self._flush_timer.isActive():
                self._flush_timer.start()
        if job.state in _ACTIVE and not self._tick_timer.isActive():
            self._tick_timer.start()

    def remove_jobs(self, job_ids: list[int]) -> None:
        """Slot for ``EngineSignals.jobs_removed``: drop rows, one removal per contiguous
        block of rows (unknown ids are ignored)."""
        rows = sorted({self._rows[i] for i in job_ids if i in self._rows}, reverse=True)
        while rows:
            last = first = rows.pop(0)
            while rows and rows[0] == first - 1:
                first = rows.pop(0)
            self.beginRemoveRows(QModelIndex(), first, last)
            for job in self._jobs[first:last + 1]:
                self._dirty.discard(job.job_id)
            del self._jobs[first:last + 1]
            self._rows = {job.job_id: row for row, job in enumerate(self._jobs)}
            self.endRemoveRows()

    @property
    def paused(self) -> bool:
        """True while the queue is paused: waiting rows say "paused"."""
        return self._paused

    def set_paused(self, paused: bool) -> None:
        """The queue was paused (True) or resumed: every waiting row's words change now."""
        if paused == self._paused:
            return
        self._paused = paused
        if self._jobs:
            self.dataChanged.emit(self.index(0, 0),
                                  self.index(len(self._jobs) - 1, len(QueueColumn) - 1))

    def waiting_count(self) -> int:
        """Rows waiting to start (queued, or waiting to retry)."""
        return sum(1 for job in self._jobs if job.state in WAITING)

    def job_at(self, row: int) -> JobSnapshot:
        return self._jobs[row]

    def row_of(self, job_id: int) -> int | None:
        return self._rows.get(job_id)

    def jobs(self) -> list[JobSnapshot]:
        return list(self._jobs)

    def flush(self) -> None:
        """Tell the view about pending changes now (tests, and before a screenshot)."""
        self._flush_timer.stop()
        self._flush()

    def _flush(self) -> None:
        rows = [self._rows[i] for i in self._dirty if i in self._rows]
        self._dirty.clear()
        if rows:
            self.dataChanged.emit(self.index(min(rows), 0),
                                  self.index(max(rows), len(QueueColumn) - 1))

    def _on_tick(self) -> None:
        """Elapsed and remaining time move on between responses; stop when nothing runs."""
        active = [job.job_id for job in self._jobs if job.state in _ACTIVE]
        if not active:
            self._tick_timer.stop()
            return
        self._dirty.update(active)
        if not self._flush_timer.isActive():
            self._flush_timer.start()

    # ------------------------------------------------------------------ Qt model API

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._jobs)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else _COLUMN_COUNT

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if orientation is Qt.Orientation.Horizontal and 0 <= section < len(QueueColumn):
            if role == Qt.ItemDataRole.DisplayRole:
                return QueueColumn(section).title
            if role == Qt.ItemDataRole.TextAlignmentRole and section in _RIGHT_ALIGNED:
                return _RIGHT
        return super().headerData(section, orientation, role)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or not 0 <= index.row() < len(self._jobs):
            return None
        job = self._jobs[index.row()]
        column = QueueColumn(index.column())
        if role == JOB_ROLE:
            return job
        if role == PROGRESS_ROLE:
            return progress_of(job, paused=self._paused)
        if role == Qt.ItemDataRole.DisplayRole:
            return cell_text(_display(job, column, self._paused))
        if role == Qt.ItemDataRole.ToolTipRole:  # labels, AE titles, error comments: data
            return plain_tooltip(_tooltip(job, column))
        if role == Qt.ItemDataRole.ForegroundRole and column is QueueColumn.STATUS:
            if job.state is JobState.FAILED:
                return FAILED_COLOUR
            if job.state in (JobState.PARTIAL, JobState.COMPLETED_WITH_WARNINGS):
                return PARTIAL_COLOUR
            return None
        if role == Qt.ItemDataRole.TextAlignmentRole:
            if column in _RIGHT_ALIGNED:
                return _RIGHT
            if column is QueueColumn.PROGRESS:
                return int(Qt.AlignmentFlag.AlignCenter)
        return None


_RIGHT_ALIGNED = frozenset({QueueColumn.RATE, QueueColumn.ELAPSED, QueueColumn.REMAINING})
_COLUMN_COUNT = len(QueueColumn)
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)


def progress_text(counts: ProgressData) -> str:
    """The bar's text (:func:`core.jobs.row_words.counts_words`): "24 of 60 sent", "52 sent ·
    8 failed of 60", "12 sent" while the total is unknown, "no image counts"; "queued" before
    it starts, "paused" while it waits in a paused queue. Failed images are never "sent"."""
    if counts.state is JobState.QUEUED or (counts.paused and counts.state in WAITING):
        return "paused" if counts.paused else "queued"
    if counts.words is not None:
        return counts.words
    return counts_words(counts.image_counts, finished=counts.state.is_finished)


def progress_tooltip(counts: ProgressData) -> str | None:
    """The breakdown the bar's colours stand for, in words (and for screen readers)."""
    if counts.state is JobState.QUEUED or not counts.reported or \
            (counts.done == 0 and counts.total is None):
        return None
    if not counts.completed_known:
        of = "" if counts.total is None else f" of {counts.total}"
        return f"{counts.failed} failed{of} images; the PACS did not say how many arrived"
    parts = [f"{counts.completed} received"]
    if counts.warning:
        parts.append(f"{counts.warning} with warnings")
    if counts.failed:
        parts.append(f"{counts.failed} failed")
    of = "an unknown number" if counts.total is None else str(counts.total)
    return f"{', '.join(parts)} of {of} images"


def _display(job: JobSnapshot, column: QueueColumn, paused: bool = False) -> str:
    if column is QueueColumn.PATIENT:
        return job.label.patient
    if column is QueueColumn.STUDY:
        return job.label.study or short_uid(job.request.target.study_uid)
    if column is QueueColumn.DESTINATION:
        return THIS_COMPUTER if job.to_here else job.destination
    if column is QueueColumn.PROGRESS:
        return progress_text(progress_of(job, paused=paused))
    if column is QueueColumn.STATUS:
        return status_text(job, paused=paused)
    waiting_here = job.to_here and (job.checking or not job.received)
    if column is QueueColumn.RATE:  # arrived images only: none here yet, no rate
        return "" if waiting_here else format_rate(job.sent_per_second)
    if column is QueueColumn.ELAPSED:
        return format_duration(job.elapsed) if job.started_at is not None else ""
    if job.state is not JobState.RUNNING or waiting_here:  # nothing to count down from
        return ""
    return format_duration(job.seconds_remaining)


def _tooltip(job: JobSnapshot, column: QueueColumn) -> str | None:
    if column is QueueColumn.STATUS:
        return status_tooltip(job)
    if column is QueueColumn.PROGRESS:
        counts = progress_of(job)
        tip = progress_tooltip(counts)
        if counts.words is not None:  # the whole sentence, however narrow the bar
            words = row_progress_words(job)  # a checked send's words hold the PACS's count
            if not job.to_here or not counts.reported:
                return words  # never "8 received" beside "destination has 1 of 8"
            said = counts_words(counts.image_counts, finished=job.state.is_finished)
            return f"{words}\nthe PACS reported {said}"  # its claim, beside what is on disk
        return tip
    if column is QueueColumn.STUDY:
        return job.request.target.study_uid
    if column is QueueColumn.DESTINATION:
        if job.to_here:
            where = f": {job.folder}" if job.folder else ""
            return f"{THIS_COMPUTER}{where} (from {job.pacs.name})"
        return f"{job.destination} (from {job.pacs.name})"
    return None
