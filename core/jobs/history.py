"""The history of sends, for the admin's question: "was this study sent, when, to where, by
whom, and did every image arrive?"

Reads :class:`.store.JobStore` (every send is recorded there before it is shown) through one
filter shared by the command line (``queue export``) and the window's history dialog, writes it
as CSV, and applies the retention rule. Times in the store are UTC epoch seconds; everything a
person reads is local time with its UTC offset, so an export stays unambiguous when it is
mailed to another site or read after a daylight-saving change.
"""

from __future__ import annotations

import csv
import errno
import io
import os
import stat
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TextIO

from dicom_courier.core.config.app_settings import LoadedSettings
from dicom_courier.core.config.atomic import write_text_atomically
from dicom_courier.core.jobs.job import JobState, StoredJob
from dicom_courier.core.jobs.store import JobStore
from dicom_courier.core.jobs.store_errors import StoreError
from dicom_courier.core.outcome.arrival import HERE, THIS_COMPUTER, shown_destination
from dicom_courier.core.text.safe_text import csv_cell

#: How long finished jobs are kept by default (days).
DEFAULT_RETENTION_DAYS = 90

#: The CSV header, in order. One row per job; a retry or a resumed run is its own row whose
#: "retry of" names the job it continues, so nothing that happened is merged away.
#: "arrival" is the arrival check's words as the queue showed them ("verified at destination:
#: 120/120", "destination has 1 of 8 after 30 s", "received 40 of 120"; empty: not checked)
#: and "received" the instances a send to this computer wrote (empty for other sends).
#: "destination" is as people read it: "This computer" for a send to the built-in receiver
#: (``jobs.db`` and ``queue list --format json`` keep the machine value "@here").
CSV_COLUMNS: tuple[str, ...] = (
    "job id", "OS user", "queued", "started", "finished", "PACS", "destination",
    "patient ID", "label", "study UID", "series UIDs", "total", "completed", "failed",
    "warning", "final status", "DIMSE status", "duration (s)", "error", "retry of",
    "arrival", "received",
)


@dataclass(frozen=True)
class HistoryFilter:
    """Which jobs to show. Every field narrows; None (or "") means "any".

    ``since`` and ``until`` bound the time a job was queued, ``since`` inclusive and ``until``
    exclusive (so "until tomorrow 00:00" means "up to the end of today"); a naive datetime is
    local time. ``text`` matches, case-insensitively, part of the patient ID, the label, the
    study UID, the destination, the PACS name or the OS user.
    """

    since: datetime | None = None
    until: datetime | None = None
    destination: str | None = None
    status: str | None = None
    patient_id: str | None = None
    text: str | None = None


def _given(value: str | None) -> str | None:
    stripped = (value or "").strip()
    return stripped or None


def _machine_destination(destination: str | None) -> str | None:
    """A destination filter as typed: "This computer" (any case) is the send to ``@here``."""
    if destination is not None and destination.casefold() == THIS_COMPUTER.casefold():
        return HERE
    return destination


def matches_text(job: StoredJob, text: str) -> bool:
    """True if ``text`` (already casefolded) is part of one of the searchable fields."""
    return any(text in field.casefold() for field in (
        job.patient_id, job.label, job.study_uid, job.destination,
        shown_destination(job.destination), job.pacs_name, job.os_user))


def query_history(store: JobStore, history_filter: HistoryFilter = HistoryFilter()) -> list[
        StoredJob]:
    """The jobs ``history_filter`` lets through, newest (last queued) first."""
    jobs = store.history(
        since=history_filter.since.timestamp() if history_filter.since else None,
        until=history_filter.until.timestamp() if history_filter.until else None,
        destination=_machine_destination(_given(history_filter.destination)),
        state=_given(history_filter.status),
        patient_id=_given(history_filter.patient_id))
    text = _given(history_filter.text)
    if text is None:
        return jobs
    needle = text.casefold()
    return [job for job in jobs if matches_text(job, needle)]


# ---------------------------------------------------------------------- how values are shown


def local_iso(epoch: float | None) -> str:
    """ISO 8601 local time with its UTC offset ("2024-06-11T08:15:02+02:00"), or ""."""
    if epoch is None:
        return ""
    return datetime.fromtimestamp(epoch).astimezone().isoformat(timespec="seconds")


def duration_seconds(job: StoredJob) -> float | None:
    """How long the move ran (start to end), or None if it never started or has not ended."""
    if job.started_at is None or job.finished_at is None:
        return None
    return max(0.0, job.finished_at - job.started_at)


def dimse_status_text(status: int | None) -> str:
    """A DIMSE status as the standard writes it (PS3.7 C): "0xA801", or "" if none."""
    return "" if status is None else f"0x{status:04X}"


def csv_row(job: StoredJob) -> list[str]:
    """One job as the values of :data:`CSV_COLUMNS`."""
    duration = duration_seconds(job)
    return [
        str(job.id), job.os_user, local_iso(job.queued_at), local_iso(job.started_at),
        local_iso(job.finished_at), job.pacs_name, shown_destination(job.destination),
        job.patient_id, job.label,
        job.study_uid, ";".join(job.series_uids),
        "" if job.total is None else str(job.total), str(job.completed), str(job.failed),
        str(job.warning), job.state, dimse_status_text(job.status),
        "" if duration is None else f"{duration:.1f}", job.error or "",
        "" if job.retry_of is None else str(job.retry_of),
        job.arrival or "", "" if job.received is None else str(job.received),
    ]


def export_csv(jobs: Iterable[StoredJob], target: str | os.PathLike[str] | TextIO) -> int:
    """Write ``jobs`` as CSV with :data:`CSV_COLUMNS`; returns the number of rows.

    A path gets UTF-8 with a byte-order mark (so a spreadsheet shows "Müller" and "山田", not
    mojibake; Python reads it with ``encoding="utf-8-sig"``), written atomically so a failed
    export never leaves half a file. A text stream is written as it is, without the mark.
    A cell a spreadsheet would run as a formula (a label ``=HYPERLINK(…)``) is written with a
    leading ``'`` and a control character is written escaped (``\\x1b``,
    :func:`.safe_text.csv_cell`); every other character is written as it is.
    """
    path: Path | None = None
    stream: TextIO | None = None
    if isinstance(target, str | os.PathLike):
        path = _export_path(target)
    else:
        stream = target
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    count = 0
    for job in jobs:
        writer.writerow([csv_cell(value) for value in csv_row(job)])
        count += 1
    if stream is not None:
        stream.write(buffer.getvalue())
        stream.flush()
    elif path is not None:
        write_text_atomically(path, "\ufeff" + buffer.getvalue())
    return count


def _export_path(target: str | os.PathLike[str]) -> Path:
    """Where an export really goes: through a symbolic link to its file (the link stays); a
    device, pipe or folder is refused (OSError), never replaced by a file of patient data."""
    path = Path(target).expanduser().resolve()
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return path
    if not stat.S_ISREG(mode):
        kind = "a folder" if stat.S_ISDIR(mode) else "a device or pipe"
        raise OSError(errno.EINVAL, f"it is {kind}, not a regular file", str(path))
    return path


def purge_older_than(store: JobStore, days: float = DEFAULT_RETENTION_DAYS, *,
                     now: float | None = None) -> int:
    """Retention: delete finished jobs that ended more than ``days`` ago; returns how many.

    A job that is queued, running or interrupted is kept however old it is: it is a send that
    has not happened yet, not history.
    """
    if days < 0:
        raise ValueError("days must not be negative")
    cutoff = (time.time() if now is None else now) - days * 86400.0
    return store.delete_finished_before(cutoff)


@dataclass(frozen=True)
class RetentionRun:
    """What :func:`retention_at_start` did: ``deleted`` rows, or why it ``skipped`` ("" if not)."""

    deleted: int = 0
    skipped: str = ""


def retention_at_start(store: JobStore, loaded: LoadedSettings, *,
                       now: float | None = None) -> RetentionRun:
    """Apply ``history_days`` only if the settings were read completely and the store can be
    changed; otherwise delete nothing and say why (a default must never delete history the
    user meant to keep). A store error while deleting is a skip, not a crash."""
    if not loaded.complete:
        return RetentionRun(skipped="old history was not deleted, because the settings file "
                                    "could not be read completely")
    if store.problem is not None:
        return RetentionRun(skipped=f"old history was not deleted: {store.problem.title}")
    try:
        return RetentionRun(deleted=purge_older_than(store, loaded.settings.history_days,
                                                     now=now))
    except StoreError as exc:
        return RetentionRun(skipped=f"old history was not deleted: {exc.title}")


def known_states(store: JobStore) -> list[JobState]:
    """Every state a filter may ask for, sorted by its text: every :class:`.jobs.JobState`
    and any other state found in the database (a hand-edited file's is not refused)."""
    return sorted({*JobState, *store.states()})
