"""Before a send: what to ask the person first (issue 10: decisions in the engine).

Three checks, each answering with a :class:`SendQuestion` (plain values: kind, title, text,
the Study Instance UIDs concerned) that a front end only shows:

- **Sent or queued recently** (:data:`CheckKind.RECENT_REPEAT`): a study already waiting or
  running for the same destination from the same PACS, or one whose images reached it less
  than ``resend_minutes`` ago. Read from ``jobs.db`` (:class:`.store.JobStore`), so it sees
  every process's sends: the window's, ``move``'s, ``queue run``'s, and those of an earlier
  session. A send that delivered no image (failed, cancelled at once) is no repeat.
- **Destination refused last time** (:data:`CheckKind.DESTINATION_REFUSED`): the PACS's last
  word on this destination was 0xA801 "Move Destination unknown" (PS3.4 C.4.2.1.5),
  as judged by :mod:`.destination_memory`.
- **A large send** (:data:`CheckKind.LARGE_SEND`): more chosen rows than the person's
  ``confirm_over`` setting (:mod:`.app_settings`); the text is :func:`describe_plan`, which
  counts distinct studies, series and images.

A repeat is named for how the earlier send ended: "sent" only when every image arrived;
"partly sent", "failed part-way" or "cancelled part-way" otherwise (:attr:`RecentSend.kind`),
never "sent" for a send that failed.

The window asks them in one non-modal dialog whose buttons are :func:`send_choices` ("Send
all 5" / "Skip the 2 repeats, send 3"; cancel is the window's); the command line never asks
(scripts run it), it prints :func:`repeat_warnings` as ``Warning:`` lines
(:mod:`.cli.send_warnings`). Texts hold AE titles and UIDs:
show them as plain text, never markup. Nothing here imports Qt or opens a connection.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from dicom_courier.core.config.profiles import PacsNode
from dicom_courier.core.jobs.destination_memory import DestinationMemory
from dicom_courier.core.jobs.job import IN_PROGRESS, JobState
from dicom_courier.core.jobs.store import JobStore, StoredJob
from dicom_courier.core.qr.distinct import distinct_matches
from dicom_courier.core.qr.query import FindMatch, QueryLevel

_log = logging.getLogger(__name__)

#: Job states in which a send is waiting or under way (nothing decided yet).
ACTIVE_STATES: frozenset[JobState] = frozenset({JobState.QUEUED, *IN_PROGRESS})
#: Finished states in which every requested image arrived.
_DELIVERED_STATES = frozenset({JobState.COMPLETED, JobState.COMPLETED_WITH_WARNINGS})


class CheckKind(StrEnum):
    """Which check raised a question."""

    RECENT_REPEAT = "recent_repeat"
    DESTINATION_REFUSED = "destination_refused"
    LARGE_SEND = "large_send"


@dataclass(frozen=True)
class SendQuestion:
    """One thing to ask before a send: ``title`` (a few words), ``text`` (whole sentences,
    plain text) and ``targets``, the Study Instance UIDs it concerns (all for a question
    about the whole send)."""

    kind: CheckKind
    title: str
    text: str
    targets: tuple[str, ...]


@dataclass(frozen=True)
class SendPlan:
    """The studies a person chose and where they go (``matches``: the chosen rows; ``studies``:
    one row per distinct study, in the order chosen)."""

    pacs: PacsNode
    destination: str
    destination_label: str
    matches: tuple[FindMatch, ...]

    @property
    def studies(self) -> tuple[FindMatch, ...]:
        return tuple(distinct_matches(self.matches, QueryLevel.STUDY))


def _total(matches: tuple[FindMatch, ...], keyword: str) -> str:
    values = [m.get(keyword) for m in matches]
    if not values or any(not v.strip().isdigit() for v in values):
        return "?"
    return f"{sum(int(v) for v in values):,}"


def describe_plan(plan: SendPlan) -> str:
    """``"2 studies of 2 patients · 5 series · 76 images → WS3 (from PACS)"``, distinct studies
    only; a count is ``?`` when a study's row does not give it (series and image counts are
    those of each study's first row, never sums over repeated rows)."""
    chosen = plan.studies
    studies = len(chosen)
    series = _total(chosen, "NumberOfStudyRelatedSeries")
    images = _total(chosen, "NumberOfStudyRelatedInstances")
    patients = {m.get("PatientID") for m in chosen}
    who = (f" of {len(patients)} patients" if len(patients) > 1 else "")
    return (f"{studies} {'study' if studies == 1 else 'studies'}{who} · {series} series · "
            f"{images} images → {plan.destination} (from {plan.pacs.called_aet})")


# ---------------------------------------------------------------------- recent sends


@dataclass(frozen=True)
class RecentSend:
    """A job in ``jobs.db`` that makes a new send of ``study_uid`` a repeat."""

    study_uid: str
    job: StoredJob

    @property
    def active(self) -> bool:
        """True while the job waits or runs; False when it delivered images recently."""
        return self.job.state in ACTIVE_STATES

    @property
    def kind(self) -> str:
        """How the earlier send stands: "active" (waiting or running), "sent" (every image
        arrived), "failed" (failed after some images arrived), "cancelled" (cancelled after
        some arrived) or "partial" (some images arrived; any other end)."""
        state = self.job.state
        if state in ACTIVE_STATES:
            return "active"
        if state in _DELIVERED_STATES:
            return "sent"
        if state is JobState.FAILED:
            return "failed"
        if state is JobState.CANCELLED:
            return "cancelled"
        return "partial"

    @property
    def arrived(self) -> str:
        """"4 of 10 images arrived" (of the total when the job recorded one)."""
        job = self.job
        of = "" if job.total is None else f" of {job.total}"
        count = job.completed + job.warning
        return f"{count}{of} image{'' if count == 1 and not of else 's'} arrived"


def _uid(text: str) -> str:
    return text.strip(" \x00")


def _delivered(job: StoredJob) -> bool:
    return job.state in _DELIVERED_STATES or job.completed > 0


def recent_sends(store: JobStore, *, pacs_name: str, destination: str,
                 study_uids: Iterable[str], minutes: int,
                 now: float | None = None) -> list[RecentSend]:
    """The studies of ``study_uids`` that ``store`` shows as already queued or running for
    ``destination`` from the PACS profile ``pacs_name`` (any case), or as delivered there
    (some or all images) by a send that ended less than ``minutes`` minutes before ``now``
    (wall-clock epoch seconds; default: now). Any level counts (a series or image send of the
    study too). One entry per study, the most recent job, in the order of ``study_uids``.

    ``minutes`` <= 0 turns the "recently" part off (queued or running still count). A
    database that cannot be read is logged and treated as holding no such send.
    """
    wanted = list(dict.fromkeys(_uid(uid) for uid in study_uids))
    if not wanted:
        return []
    now = time.time() if now is None else now
    cutoff = now - minutes * 60
    try:
        jobs = store.jobs(states=ACTIVE_STATES)
        if minutes > 0:  # sends queued before the cutoff that ended after it count too
            jobs += store.history(since=cutoff - 24 * 3600, destination=destination)
    except sqlite3.Error as exc:
        _log.warning("send history not readable for the repeat check: %s", exc)
        return []
    name = pacs_name.strip().casefold()
    found: dict[str, StoredJob] = {}
    for job in jobs:
        if (job.destination != destination or job.pacs_name.strip().casefold() != name
                or _uid(job.study_uid) not in wanted):
            continue
        if job.state not in ACTIVE_STATES and not (
                _delivered(job) and (job.finished_at or job.queued_at) >= cutoff
                and minutes > 0):
            continue
        uid = _uid(job.study_uid)
        if uid not in found or job.id > found[uid].id:
            found[uid] = job
    return [RecentSend(uid, found[uid]) for uid in wanted if uid in found]


def _ago(seconds: float) -> str:
    minutes = max(0, round(seconds / 60))
    if minutes < 1:
        return "less than a minute ago"
    return f"{minutes} minute{'s' if minutes != 1 else ''} ago"


def _was(count: int) -> str:
    return "was" if count == 1 else "were"


#: How a group of finished repeats of one kind is named ("2 were sent", "1 failed part-way").
_FINISHED_WORDS = {
    "sent": lambda n: f"{n} {_was(n)} sent",
    "partial": lambda n: f"{n} {_was(n)} partly sent",
    "failed": lambda n: f"{n} failed part-way",
    "cancelled": lambda n: f"{n} {_was(n)} cancelled part-way",
}


def _one_study(repeat: RecentSend, destination: str, minutes: int) -> str:
    """The sentence for a send of one study that repeats ``repeat``."""
    last = f"in the last {minutes} minutes"
    kind = repeat.kind
    if kind == "active":
        return f"This study is already queued or being sent to {destination}."
    if kind == "sent":
        return f"This study was sent to {destination} {last}."
    if kind == "failed":
        return (f"A send of this study to {destination} failed {last} ({repeat.arrived} "
                "before it failed).")
    if kind == "cancelled":
        return (f"A send of this study to {destination} was cancelled {last} "
                f"({repeat.arrived}).")
    return f"This study was partly sent to {destination} {last} ({repeat.arrived})."


def repeat_question(repeats: Sequence[RecentSend], *, destination: str, minutes: int,
                    total: int) -> SendQuestion | None:
    """The question about ``repeats`` among ``total`` chosen studies; None if there are none.
    Says how many are queued or running now, and how the others' sends in the last
    ``minutes`` ended: sent (every image), partly sent, failed or cancelled part-way."""
    if not repeats:
        return None
    if total == 1:
        text = f"{_one_study(repeats[0], destination, minutes)} Send it again?"
    else:
        kinds = [r.kind for r in repeats]
        finished = [k for k in _FINISHED_WORDS if k in kinds]
        parts = []
        if finished == ["sent"]:
            sent = kinds.count("sent")
            parts.append(f"{sent} {_was(sent)} sent to {destination} in the last {minutes} "
                         "minutes")
        elif finished:
            named = [_FINISHED_WORDS[k](kinds.count(k)) for k in finished]
            named[0] += f" to {destination}"
            joined = named[0] if len(named) == 1 else \
                f"{', '.join(named[:-1])} and {named[-1]}"
            parts.append(f"in the last {minutes} minutes {joined} (some or all of their "
                         "images arrived)")
        active = kinds.count("active")
        if active:
            parts.append(f"{active} {'is' if active == 1 else 'are'} already queued or being "
                         f"sent to {destination}")
        text = f"Of these {total} studies, {'; '.join(parts)}. Send again?"
    return SendQuestion(kind=CheckKind.RECENT_REPEAT, title="Send again?", text=text,
                        targets=tuple(r.study_uid for r in repeats))


def repeat_warnings(repeats: Sequence[RecentSend], *, destination: str,
                    now: float | None = None) -> list[str]:
    """One sentence per repeat, for the command line (which never asks: it prints each after
    ``Warning:``), e.g. ``"study 1.2.3 was sent 12 minutes ago (job 7, completed: 48 of 48
    images) to WS; it is sent again."``."""
    now = time.time() if now is None else now
    lines = []
    for repeat in repeats:
        job = repeat.job
        when = _ago(now - (job.finished_at or job.queued_at))
        kind = repeat.kind
        if kind == "active":
            what = f"is already {job.state} as job {job.id} to {destination}"
        elif kind == "sent":
            of = "" if job.total is None else f" of {job.total}"
            what = (f"was sent {when} (job {job.id}, {job.state.replace('_', ' ')}: "
                    f"{job.completed + job.warning}{of} images) to {destination}")
        elif kind == "failed":
            what = (f": a send to {destination} failed {when} (job {job.id}: "
                    f"{repeat.arrived} before it failed)")
        elif kind == "cancelled":
            what = (f": a send to {destination} was cancelled {when} (job {job.id}: "
                    f"{repeat.arrived})")
        else:
            what = f"was partly sent {when} (job {job.id}: {repeat.arrived}) to {destination}"
        space = "" if what.startswith(":") else " "
        lines.append(f"study {repeat.study_uid}{space}{what}; it is sent again.")
    return lines


# ---------------------------------------------------------------------- all checks


def refused_question(memory: DestinationMemory, pacs: PacsNode, destination: str,
                     targets: Sequence[str]) -> SendQuestion | None:
    """The question when ``pacs``'s last answer about ``destination`` was 0xA801; else
    None."""
    try:
        if not memory.get(pacs.name, destination).refused_last_time:
            return None
    except sqlite3.Error as exc:
        _log.warning("destination memory not readable: %s", exc)
        return None
    return SendQuestion(
        kind=CheckKind.DESTINATION_REFUSED, title="Destination refused last time",
        text=f"Last time, {pacs.called_aet} answered that it does not know the destination "
             f"{destination} (0xA801). Unless its DICOM node list was fixed since, this send "
             "will fail too.", targets=tuple(targets))


def large_send_question(plan: SendPlan, confirm_over: int) -> SendQuestion | None:
    """The summary to confirm when more rows than ``confirm_over`` are chosen; else None.
    The summary counts distinct studies, and says so when the rows name fewer studies (a PACS
    answering one row per image), so 23 rows of one study are shown as the one study."""
    studies = plan.studies
    if len(plan.matches) <= confirm_over:
        return None
    text = describe_plan(plan)
    if len(studies) < len(plan.matches):  # a PACS answering one row per image
        text += (f"\n({len(plan.matches)} selected rows name {len(studies)} "
                 f"{'study' if len(studies) == 1 else 'studies'}: each study is sent once.)")
    noun = "study" if len(studies) == 1 else "studies"
    return SendQuestion(kind=CheckKind.LARGE_SEND, title=f"Send {len(studies)} {noun}?",
                        text=text, targets=tuple(_uid(m.get("StudyInstanceUID"))
                                                 for m in studies))


def send_questions(plan: SendPlan, *, store: JobStore, destinations: DestinationMemory,
                   confirm_over: int, resend_minutes: int,
                   now: float | None = None) -> list[SendQuestion]:
    """Everything to ask before sending ``plan``, in the order to show it: the refused
    destination, the size of the send, then repeats (see the module docstring). An empty
    list: send at once. ``confirm_over``: studies; ``resend_minutes``: minutes."""
    uids = [_uid(m.get("StudyInstanceUID")) for m in plan.studies]
    repeats = recent_sends(store, pacs_name=plan.pacs.name, destination=plan.destination,
                           study_uids=uids, minutes=resend_minutes, now=now)
    found = (refused_question(destinations, plan.pacs, plan.destination, uids),
             large_send_question(plan, confirm_over),
             repeat_question(repeats, destination=plan.destination, minutes=resend_minutes,
                             total=len(uids)))
    return [question for question in found if question is not None]


# ---------------------------------------------------------------------- the person's choices


@dataclass(frozen=True)
class SendChoice:
    """One answer to the questions before a send: ``label`` (a button's words) and the plan
    it sends. Not sending at all is always a choice too (the front end's Cancel)."""

    label: str
    plan: SendPlan


def without_studies(plan: SendPlan, study_uids: Iterable[str]) -> SendPlan:
    """``plan`` without every row naming one of ``study_uids`` (padding ignored)."""
    skip = {_uid(uid) for uid in study_uids}
    return SendPlan(pacs=plan.pacs, destination=plan.destination,
                    destination_label=plan.destination_label,
                    matches=tuple(m for m in plan.matches
                                  if _uid(m.get("StudyInstanceUID")) not in skip))


def send_choices(plan: SendPlan, questions: Sequence[SendQuestion]) -> list[SendChoice]:
    """The ways to go on after ``questions`` about ``plan``, the first one sending all of it.

    No repeat among them: ``[Send]``. One study, a repeat: ``[Send again]``. Some of the
    studies are repeats: ``[Send all 5, Skip the 2 repeats, send 3]``; all are: ``[Send all
    5 again]``.
    """
    total = len(plan.studies)
    repeat = next((q for q in questions if q.kind is CheckKind.RECENT_REPEAT), None)
    if repeat is None:
        return [SendChoice("Send", plan)]
    if total <= 1:
        return [SendChoice("Send again", plan)]
    repeats = len(set(repeat.targets))
    if repeats >= total:
        return [SendChoice(f"Send all {total} again", plan)]
    rest = without_studies(plan, repeat.targets)
    noun = "repeat" if repeats == 1 else "repeats"
    return [SendChoice(f"Send all {total}", plan),
            SendChoice(f"Skip the {repeats} {noun}, send {len(rest.studies)}", rest)]
