"""A stored send, sent again: one rule for the window's "resume interrupted sends" and for
``queue run`` (issue 10).

A job row in ``jobs.db`` (:class:`.store.StoredJob`) holds everything a send asked for: the
Study Instance UID, the series and SOP Instance UIDs that narrow it down (an IMAGE-level
target is a "retry failed images only" job), the Patient ID (a Patient Root C-MOVE names it,
PS3.4 C.4.2.2.1), the destination AE title, the DIMSE priority (PS3.7 9.1.1.1.4) and the
label a person recognises it by. :func:`resumption_of` turns such a row back into a send
without losing any of it; the new job points at the old one (``retry_of``), so the history
keeps both.

Before issue 10 the window and ``queue run`` each rebuilt the row themselves and had drifted:
the window resumed a STAT job at normal priority and a failed-images-only job as its whole
series. Both now call this module.

Nothing here imports Qt or opens a connection.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from dicom_courier.core.config.profiles import PacsNode
from dicom_courier.core.jobs.job import JobLabel, JobState
from dicom_courier.core.jobs.store import JobStore, StoredJob
from dicom_courier.core.outcome.arrival import HERE
from dicom_courier.core.outcome.errors import CourierError
from dicom_courier.core.qr.model_choice import ModelMemory
from dicom_courier.core.qr.query import MoveRequest, MoveTarget, Priority, QueryLevel

#: How a stored label joins its two parts (what :meth:`.queue.MoveQueue.submit` writes).
LABEL_SEPARATOR = " — "


@dataclass(frozen=True)
class Resumption:
    """A stored job and the send that continues it (submit ``request`` to ``pacs`` with
    ``label`` and ``retry_of=stored.id``)."""

    stored: StoredJob
    pacs: PacsNode
    request: MoveRequest
    label: JobLabel

    @property
    def retry_of(self) -> int:
        """The id of the job this send continues."""
        return self.stored.id


def stored_priority(job: StoredJob) -> Priority:
    """The DIMSE priority the job asked for; MEDIUM (what most PACS default to) when the
    stored value is not a DIMSE priority (PS3.7 9.1.1.1.4)."""
    try:
        return Priority(job.priority)
    except ValueError:
        return Priority.MEDIUM


def label_of(job: StoredJob) -> JobLabel:
    """The job's label as recorded (``"patient — study"``), split back into its parts."""
    patient, _, study = job.label.partition(LABEL_SEPARATOR)
    return JobLabel(patient=patient, study=study, patient_id=job.patient_id)


def target_of(job: StoredJob) -> MoveTarget:
    """What the job retrieves: its study, series and SOP Instance UIDs (the level follows:
    IMAGE when it names images) and its Patient ID, if it has one.

    The UIDs are sent back as they were accepted when the job was first queued
    (``from_pacs=True``). Raises InvalidInput when a stored UID cannot be encoded at all.
    """
    return MoveTarget(study_uid=job.study_uid, series_uids=job.series_uids,
                      sop_uids=job.sop_uids, patient_id=job.patient_id or None,
                      from_pacs=True)


def request_from_stored(job: StoredJob, pacs: PacsNode,
                        models: ModelMemory | None = None) -> MoveRequest:
    """The C-MOVE request (PS3.4 C.4.2) that sends ``job`` again from ``pacs``.

    Every field the job recorded is kept: target level and UIDs (:func:`target_of`), Patient
    ID, destination and priority. The model is the one ``models`` learned for ``pacs``
    (Study Root when nothing is known), with the other model proposed too; a Patient Root
    move without the Patient ID looks it up first (:mod:`.patient_lookup`). Raises
    InvalidInput when a stored UID cannot be encoded.
    """
    memory = models if models is not None else ModelMemory()
    return MoveRequest(target=target_of(job), destination=job.destination,
                       model=memory.model_for(pacs), priority=stored_priority(job),
                       other_models=memory.others(pacs))


def resumption_of(job: StoredJob, pacs: PacsNode,
                  models: ModelMemory | None = None) -> Resumption:
    """``job`` as a send to submit again (see :func:`request_from_stored`). Raises
    InvalidInput when a stored UID cannot be encoded."""
    return Resumption(stored=job, pacs=pacs, request=request_from_stored(job, pacs, models),
                      label=label_of(job))


def pacs_for(job: StoredJob, saved: Mapping[str, PacsNode],
             recorded: Callable[[int], Mapping[str, object]]) -> PacsNode:
    """The PACS a job is sent again from: the saved profile of its name (any case), so a
    corrected address or timeout applies; else the profile recorded with the job
    (``recorded(job.id)``, e.g. :meth:`.store.JobStore.pacs_json`). Raises CourierError
    (InvalidInput) when the recorded profile is no longer valid."""
    by_name = {name.casefold(): node for name, node in saved.items()}
    node = by_name.get(job.pacs_name.strip().casefold())
    if node is not None:
        return node
    return PacsNode.from_json(dict(recorded(job.id)))


def offered_for_resume(store: JobStore) -> list[StoredJob]:
    """The jobs the window offers to resume at start: every send not finished that no process
    runs (:meth:`.store.JobStore.unfinished`), in id order — those a crash or a kill stopped
    (now "interrupted", whoever opened the database first), those a quit left to resume, and
    those that were still waiting in the queue. A "Not now" leaves them as they are, so the
    next start asks again (and ``queue run`` sends them)."""
    return store.unfinished()


def take_over(store: JobStore, jobs: Sequence[StoredJob]) -> list[StoredJob]:
    """Claim ``jobs`` for sending again (:meth:`.store.JobStore.claim`: marked "requeued" in
    one transaction, as ``queue run`` does); returns those still unfinished and not taken
    over by someone else meanwhile, as they were. Raises StoreError when it cannot be
    recorded (then nothing was claimed and nothing must be sent)."""
    return store.claim(job.id for job in jobs)


def record_not_resumable(store: JobStore, job: StoredJob, error: CourierError) -> None:
    """A claimed ``job`` that cannot be sent again (its profile or a UID is no longer valid) is
    recorded failed with the reason, never dropped (the window and ``queue run`` alike).
    Raises StoreError when that cannot be recorded."""
    store.finished(job.id, state=JobState.FAILED, total=job.total, completed=job.completed,
                   failed=job.failed, warning=job.warning, status=None, error=error.title)


@dataclass(frozen=True)
class ResumeQuestion:
    """What to ask before resuming (plain text: labels are data, never markup)."""

    title: str
    text: str
    jobs: tuple[StoredJob, ...]


def _what(job: StoredJob) -> str:
    level = target_of_level(job)
    if level is QueryLevel.IMAGE:
        return f"{len(job.sop_uids)} image(s) of one series"
    if level is QueryLevel.SERIES:
        return f"{len(job.series_uids)} series"
    return "the whole study"


def target_of_level(job: StoredJob) -> QueryLevel:
    """The level a job retrieves at, from its UIDs (no validation, never raises)."""
    if job.sop_uids:
        return QueryLevel.IMAGE
    return QueryLevel.SERIES if job.series_uids else QueryLevel.STUDY


def resume_question(jobs: Sequence[StoredJob], *, shown: int = 5) -> ResumeQuestion | None:
    """The question the window asks at start about ``jobs`` (:func:`offered_for_resume`);
    None when there is nothing to resume. Names at most ``shown`` jobs, each with how far it
    got (or that it was still waiting), what it asks for again and its priority when it is
    not normal."""
    if not jobs:
        return None
    parts = []
    for job in jobs[:shown]:
        if job.state is JobState.QUEUED and job.started_at is None:
            reached = "was waiting, not started"
        elif job.destination == HERE and job.received is not None:
            # what is on disk here, not what the PACS said it sent (issue 13)
            of = f" of {job.total}" if job.total is not None else ""
            reached = f"{job.received}{of} images received on this computer"
        elif job.total is not None:
            reached = f"{job.completed} of {job.total} images"
        else:
            reached = f"{job.completed} images (total not yet reported)"
        stat = " (STAT)" if stored_priority(job) is Priority.HIGH else ""
        parts.append(f"{job.label or job.study_uid}{stat}: {reached}; "
                     f"asks for {_what(job)} again")
    if len(jobs) > shown:
        parts.append(f"and {len(jobs) - shown} more")
    if all(target_of_level(job) is QueryLevel.STUDY for job in jobs):
        again = "A resumed send asks the PACS for the whole study again"
    else:
        again = "A resumed send asks the PACS again for all it named (study, series or images)"
    listed = "".join(f"\n• {part}" for part in parts)
    text = (f"{len(jobs)} send(s) did not finish when DICOM Courier last stopped:{listed}"
            f"\n\nResume them now? {again}: the PACS may send images the destination "
            "already has.\n\nNot now: they stay in the queue, and you are asked again at the "
            "next start. Cancel them: they are recorded as cancelled and never sent.")
    return ResumeQuestion(title="Resume unfinished sends?", text=text, jobs=tuple(jobs))
