"""``dicom-courier queue``: the durable queue from the command line (add, list, run, retry,
export, purge), over the same ``jobs.db`` the window records every send in.

``queue add`` only records jobs (by UID, no network), so a script or an admin can queue sends
for later; ``queue run`` sends everything waiting with the engine's :class:`MoveQueue` (at most
two moves per PACS at once) and exits with the worst outcome.

Running a stored job never rewrites its row: the runner takes it over in one transaction
(:meth:`JobStore.claim_queued` marks it "requeued") and submits it again, which records a new
row whose "retry of" names the old one. So the history shows who queued it and when, who ran
it, and, for a job a crash interrupted, the counts it had reached before it was sent again.

Only one process sends from a profile: ``queue run`` holds the profile lock the window holds
while it is open (:mod:`.instance_lock`) and is refused while another process has it; ``add``,
``list``, ``retry``, ``export`` and ``purge`` work alongside the window.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TimeElapsedColumn
from rich.table import Table

from dicom_courier.core.cli import options
from dicom_courier.core.cli.interrupt import _ctrl_c_cancels
from dicom_courier.core.cli.move_cmd import (
    _detail,
    _final_bar,
    _summary_line,
    _target_label,
    _worst,
    overall_exit_code,
)
from dicom_courier.core.cli.parser import EXIT_FAILED, EXIT_OK
from dicom_courier.core.cli.render import print_error, stderr, stdout
from dicom_courier.core.cli.safe_text import LiteralColumn, cell, line, literal
from dicom_courier.core.config.app_settings import read_app_settings
from dicom_courier.core.config.instance_lock import AlreadyRunning, ProfileLock
from dicom_courier.core.config.paths import app_paths
from dicom_courier.core.config.profiles import PacsNode, validate_ae_title
from dicom_courier.core.jobs.history import (
    HistoryFilter,
    dimse_status_text,
    export_csv,
    known_states,
    local_iso,
    purge_older_than,
    query_history,
)
from dicom_courier.core.jobs.queue import JobSnapshot, JobState, MoveQueue
from dicom_courier.core.jobs.resume import Resumption, record_not_resumable, resumption_of
from dicom_courier.core.jobs.row_words import arrival_words
from dicom_courier.core.jobs.store import (
    CLAIMABLE,
    FINISHED,
    INTERRUPTED,
    REQUEUED,
    AttachedJobStore,
    JobStore,
    StoredJob,
)
from dicom_courier.core.outcome.arrival import HERE, shown_destination
from dicom_courier.core.outcome.errors import CourierError, InvalidInput
from dicom_courier.core.outcome.events import MoveOutcome, MoveResult
from dicom_courier.core.qr.input_rules import check_text, parse_whole_number
from dicom_courier.core.qr.query import MoveTarget, Priority
from dicom_courier.core.text.safe_text import json_text

if TYPE_CHECKING:  # types only: the engine (pynetdicom) loads when a send starts
    from dicom_courier.core.cli.queue_here import RunArrivals
    from dicom_courier.core.dimse.engine import Courier

#: At most this many moves at once against one PACS (the issue's rule for the queue).
PER_PACS_LIMIT = 2
ACTIONS = "add, list, run, retry, export or purge"
#: Jobs run in this order: high priority first, then low last (DIMSE values, PS3.7 9.1.1.1.4).
_URGENCY = {Priority.HIGH: 0, Priority.MEDIUM: 1, Priority.LOW: 2}


def _open(path: Path, store_class: type[JobStore]) -> JobStore:
    try:
        store = store_class(path)
    except OSError as exc:  # sqlite3 errors on open are repaired inside JobStore
        raise CourierError(
            f"The job database {path} cannot be opened: {exc.strerror or exc}.",
            "The queue and the history of sends are kept there.",
            f"Check that {path.parent} is a folder you may write to, or choose another one "
            "with --config-dir.", details={"File": str(path)}) from None
    if store.moved_aside is not None:
        stderr.print(literal(f"Warning: the job database was damaged; it was moved to "
                             f"{store.moved_aside} and a new one was started."))
    return store


@contextmanager
def profile_store(args: argparse.Namespace, *, sending: bool) -> Iterator[JobStore]:
    """The profile's job store, opened so that two processes never fight over it.

    Opening a :class:`JobStore` marks jobs left "running" as interrupted, which is right only
    if no other process is sending them. So the profile's :class:`ProfileLock` (the one the
    window holds while it is open) is taken first. ``sending`` (``queue run``) keeps it to
    the end and is refused if another process has it; the other actions only need it for the
    open, and if the window has it they attach without marking anything.
    """
    paths = app_paths(args.config_dir)
    path = paths.data_dir / "jobs.db"
    lock = ProfileLock(paths.data_dir)
    try:
        lock.acquire()
    except AlreadyRunning as exc:
        if sending:
            raise CourierError(
                "Another DICOM Courier is already sending from this profile.",
                "The window, or another 'queue run', holds it; two senders could send one "
                "study twice.",
                "Close the window or wait for the other run to finish, then run 'queue run' "
                "again (or send from the window).", details=exc.details) from None
        store = _open(path, AttachedJobStore)
    else:
        try:
            store = _open(path, JobStore)
        except BaseException:
            lock.release()
            raise
        if not sending:
            lock.release()
    try:
        yield store
    finally:
        store.close()
        if sending:
            lock.release()


async def run_queue_command(args: argparse.Namespace) -> int:
    """Dispatch ``queue ACTION``; every bad value is an InvalidInput (exit code 2)."""
    action = args.queue_command  # never None: run() prints the usage for 'queue' alone
    with profile_store(args, sending=action == "run") as store:
        if action == "add":
            return _add(store, args)
        if action == "list":
            return _list(store, args)
        if action == "retry":
            return _retry(store, args)
        if action == "export":
            return _export(store, args)
        if action == "purge":
            return _purge(store, args)
        return await _run(store, args)


# ---------------------------------------------------------------------- add, retry


def _waiting_duplicate(store: JobStore, *, pacs_name: str, study_uid: str,
                       series_uids: tuple[str, ...], destination: str) -> StoredJob | None:
    """A job for the same images and destination that has not been sent yet, if any."""
    for job in store.jobs(states=CLAIMABLE):
        if (job.pacs_name.casefold() == pacs_name.casefold() and job.study_uid == study_uid
                and job.series_uids == series_uids and job.destination == destination):
            return job
    return None


def _add(store: JobStore, args: argparse.Namespace) -> int:
    pacs = options.node_store(args).get(args.pacs)
    if options.to_here(args.dest):  # this computer: the receiver or C-GET at 'queue run'
        destination = HERE
    elif args.dest:
        destination = validate_ae_title(args.dest, "--dest")
    elif pacs.default_destination is not None:
        destination = pacs.default_destination.ae_title
    else:
        raise InvalidInput("--dest", "is required (the PACS profile has no saved destination)")
    if not args.study:
        raise InvalidInput("--study", "say what to send: one or more --study UID")
    shown = shown_destination(destination)
    priority = options.priority_from(args.priority)
    patient_id = check_text((args.patient_id or "").strip(), "--patient-id", max_length=64)
    check_text(args.label or "", "--label", max_length=1024)
    targets = [MoveTarget(study_uid=uid, patient_id=patient_id or None)
               for uid in options.uids_from(args.study, "--study")]
    added = 0
    for target in targets:
        # Looked up and added in one transaction: two processes make one job (add_once).
        job_id, waiting = store.add_once(pacs_json=pacs.to_json(), destination=destination,
                                         study_uid=target.study_uid, patient_id=patient_id,
                                         label=(args.label or "").strip())
        if waiting is not None:
            stdout.print(literal(f"Study {target.study_uid} is already queued for {shown} as "
                                 f"job {waiting.id} ({waiting.state}); not added again."))
            continue
        if priority is not Priority.MEDIUM:
            store.set_priority(job_id, int(priority))
        added += 1
        stdout.print(literal(f"Queued job {job_id}: study {target.study_uid} from {pacs.name} to "
                             f"{shown} (priority {priority.name.lower()})."))
    if added:
        stdout.print("Send them with 'dicom-courier queue run'.")
    return EXIT_OK


def _job_id(text: str) -> int:
    """A job number as typed (ASCII digits, 1 to 2**63-1); raises InvalidInput."""
    return parse_whole_number(text, "JOB_ID", minimum=1, maximum=options.MAX_JOB_ID)


def _retry(store: JobStore, args: argparse.Namespace) -> int:
    job_id = _job_id(args.job_id)
    try:
        job = store.get(job_id)
    except KeyError:
        raise InvalidInput("JOB_ID", f"there is no job {job_id} in {store.path}") from None
    if job.state == REQUEUED:
        later = store.successor_of(job_id)
        raise InvalidInput("JOB_ID", f"job {job_id} was handed over to job {later}; retry "
                           "that one")
    if job.state not in FINISHED:
        raise InvalidInput("JOB_ID", f"job {job_id} is {job.state}, not finished; "
                           "'dicom-courier queue run' sends it")
    waiting = _waiting_duplicate(store, pacs_name=job.pacs_name, study_uid=job.study_uid,
                                 series_uids=job.series_uids, destination=job.destination)
    if waiting is not None:
        stdout.print(literal(f"The same send is already queued as job {waiting.id}; "
                             "not added again."))
        return EXIT_OK
    new_id = store.add(pacs_json=store.pacs_json(job_id), destination=job.destination,
                       study_uid=job.study_uid, series_uids=job.series_uids,
                       patient_id=job.patient_id, label=job.label, retry_of=job_id)
    _copy_target_details(store, job, new_id)
    stdout.print(literal(f"Queued job {new_id}, a retry of job {job_id} ({job.state}). "
                         "Send it with 'dicom-courier queue run'."))
    return EXIT_OK


def _copy_target_details(store: JobStore, job: StoredJob, new_id: int) -> None:
    """What ``add`` does not record: priority and an IMAGE-level target."""
    if job.priority != int(Priority.MEDIUM):
        store.set_priority(new_id, job.priority)
    if job.sop_uids:
        store.set_sop_uids(new_id, job.sop_uids)


# ---------------------------------------------------------------------- list, export, purge


def _state(store: JobStore, text: str | None, field_name: str) -> JobState | None:
    if text is None:
        return None
    state = text.strip().lower()
    known = known_states(store)
    if state not in known:
        raise InvalidInput(field_name, f"must be one of {', '.join(known)}", text)
    return JobState.read(state)


def _day(text: str | None, field_name: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(field_name, "must be a date YYYY-MM-DD", text) from None


def _images(job: StoredJob) -> str:
    return f"{job.completed}/{'?' if job.total is None else job.total}"


def _short_time(epoch: float | None) -> str:
    return "" if epoch is None else time.strftime("%Y-%m-%d %H:%M", time.localtime(epoch))


def job_as_json(job: StoredJob) -> dict[str, Any]:
    """One job for scripts: every recorded field, times as ISO 8601 local time."""
    return {
        "id": job.id, "state": job.state, "os_user": job.os_user, "pacs": job.pacs_name,
        "destination": job.destination, "patient_id": job.patient_id, "label": job.label,
        "study_uid": job.study_uid, "series_uids": list(job.series_uids),
        "queued": local_iso(job.queued_at), "started": local_iso(job.started_at) or None,
        "finished": local_iso(job.finished_at) or None, "total": job.total,
        "completed": job.completed, "failed": job.failed, "warning": job.warning,
        "status": dimse_status_text(job.status) or None, "error": job.error,
        "retry_of": job.retry_of, "priority": _priority(job).name.lower(),
        "received": job.received, "arrival": job.arrival,
        "arrival_verified": job.arrival_verified, "folder": job.folder,
    }


def _priority(job: StoredJob) -> Priority:
    try:
        return Priority(job.priority)
    except ValueError:  # not a DIMSE value: ask as most PACS default to
        return Priority.MEDIUM


def _list(store: JobStore, args: argparse.Namespace) -> int:
    state = _state(store, args.state, "--state")
    jobs = store.jobs(states=(state,) if state else None)
    if store.interrupted:
        stderr.print(f"{len(store.interrupted)} job(s) were running when DICOM Courier "
                     "stopped; they are marked interrupted and 'queue run' sends them again.")
    if args.format == "json":
        sys.stdout.write(json_text([job_as_json(j) for j in jobs], indent=1) + "\n")
        return EXIT_OK
    if not jobs:
        what = f"in state {state}" if state else "yet"
        stdout.print(literal(f"No jobs {what} in {store.path}."))
        return EXIT_OK
    table = Table(header_style="bold")
    for title in ("job", "state", "queued", "user", "PACS", "destination", "patient ID",
                  "label", "study UID", "images", "failed", "arrival", "retry of"):
        wide = title == "study UID"  # kept whole, so it can be pasted into other commands
        table.add_column(title, no_wrap=wide, overflow="ignore" if wide else "fold",
                         justify="right" if title in ("job", "images", "failed") else "left")
    for job in jobs:
        cells = (str(job.id), job.state, _short_time(job.queued_at), job.os_user,
                 job.pacs_name, shown_destination(job.destination), job.patient_id, job.label,
                 job.study_uid,
                 _images(job), str(job.failed) if job.failed else "", job.arrival or "",
                 "" if job.retry_of is None else str(job.retry_of))
        table.add_row(*(cell(value) for value in cells))  # literal, controls escaped, cut
    stdout.print(table)
    return EXIT_OK


def _export(store: JobStore, args: argparse.Namespace) -> int:
    since, until = _day(args.since, "--since"), _day(args.until, "--until")
    if since and until and until < since:
        raise InvalidInput("--until", f"must not be before --since ({since.isoformat()})",
                           args.until)
    history_filter = HistoryFilter(
        since=datetime.combine(since, datetime.min.time()) if since else None,
        until=datetime.combine(until + timedelta(days=1), datetime.min.time())
        if until else None,
        destination=args.destination, status=_state(store, args.status, "--status"),
        patient_id=args.patient_id, text=args.text)
    jobs = query_history(store, history_filter)
    if args.csv == "-":
        export_csv(jobs, sys.stdout)
        return EXIT_OK
    target = Path(args.csv).expanduser()
    try:
        count = export_csv(jobs, target)
    except OSError as exc:
        raise CourierError(
            f"The export {target} cannot be written: {exc.strerror or exc}.",
            "No file was written.",
            "Choose a folder you may write to, or '--csv -' to write to the terminal.",
            details={"File": str(target)}) from None
    stderr.print(literal(f"Exported {count} job(s) to {target}."))
    return EXIT_OK


def _purge(store: JobStore, args: argparse.Namespace) -> int:
    days = options.positive_int(args.days, "--days", maximum=options.MAX_DAYS, unit="days")
    if days is None:  # the retention the person chose in settings.json, never a default
        loaded = read_app_settings(app_paths(args.config_dir).settings_file)
        if not loaded.complete:
            raise CourierError(
                "Nothing was deleted: the settings file could not be read completely.",
                "; ".join(loaded.problems) + ". Without it the history_days you chose is not "
                "known, and a default must never delete history you meant to keep.",
                "Fix settings.json, or give the number of days: 'queue purge --days N'.")
        days = loaded.settings.history_days
    removed = purge_older_than(store, days)
    stdout.print(literal(f"Deleted {removed} finished job(s) older than {days} days; jobs not "
                         "yet sent are kept."))
    return EXIT_OK


# ---------------------------------------------------------------------- run


#: A stored job, claimed, with what it takes to send it again (the engine's one rule).
_Planned = Resumption


def _pacs_for(store: JobStore, job: StoredJob, args: argparse.Namespace) -> PacsNode:
    """The saved profile of that name (so a corrected address or timeout applies), else the
    profile as it was recorded with the job. The new row records the one really used."""
    try:
        return options.node_store(args).get(job.pacs_name)
    except CourierError:
        return PacsNode.from_json(store.pacs_json(job.id))


def _plan(store: JobStore, job: StoredJob, args: argparse.Namespace) -> _Planned:
    """The claimed ``job`` as a send again, every field kept (:mod:`..resume`, the rule the
    window's resume uses too): Study Root first, Patient Root proposed too for a PACS that
    offers only it (a missing Patient ID is looked up first: core.patient_lookup)."""
    return resumption_of(job, _pacs_for(store, job, args))


async def _run(store: JobStore, args: argparse.Namespace) -> int:
    claimed = store.claim_queued()
    if not claimed:
        stdout.print("Nothing to send: no job is queued, interrupted or waiting to retry.")
        return EXIT_OK
    planned: list[_Planned] = []
    for job in claimed:
        try:
            planned.append(_plan(store, job, args))
        except CourierError as exc:  # recorded as failed with the reason, never dropped
            record_not_resumable(store, job, exc)
            print_error(exc)
    planned.sort(key=lambda p: (_URGENCY[p.request.priority], p.stored.id))
    from dicom_courier.core.cli.queue_here import RunArrivals
    from dicom_courier.core.cli.receive_cmd import quiet_store_warnings
    from dicom_courier.core.dimse.engine import Courier

    # images this computer refuses: one line per reason (RunArrivals), not a log line each
    with Courier() as courier, quiet_store_warnings(args.verbose):
        # This computer's receiver for the run, the arrival ledger and the arrival check:
        # jobs end as the window's do (issue 13)
        arrivals = RunArrivals(courier, args, planned)
        try:
            arrivals.start()
            code = await QueueRunner(courier, store, arrivals=arrivals).run(planned)
        finally:
            await arrivals.close()
    return EXIT_FAILED if len(planned) < len(claimed) else code  # failed is the worst


#: How often `queue run` tries, a second apart, to record sends the job store refused.
UNRECORDED_ATTEMPTS = 5


def _unrecorded_error(store: JobStore, jobs: Sequence[JobSnapshot]) -> CourierError:
    """The sends that happened but could not be recorded: say so, and what not to do."""
    ended = "; ".join(f"job {job.job_id} (study {job.request.target.study_uid} → "
                      f"{shown_destination(job.destination)}): {job.state.value}"
                      for job in jobs)
    return CourierError(
        f"{len(jobs)} send(s) ended but could not be recorded in the job database.",
        f"The database ({store.path}) refused the change (disk full, read-only or locked). "
        f"The history will show these sends as interrupted although they ended: {ended}.",
        "Make room on that disk (or free the lock) before the next 'queue run': it would send "
        "interrupted jobs again. Check at the destination what arrived.",
        details={"Job database": str(store.path)})


class QueueRunner:
    """Sends claimed jobs through one :class:`MoveQueue` and shows a progress bar per job."""

    def __init__(self, courier: Courier, store: JobStore, *,
                 arrivals: RunArrivals | None = None) -> None:
        self.store = store
        self.queue = MoveQueue(courier, self._on_change, per_pacs_limit=PER_PACS_LIMIT,
                               store=store,
                               **(arrivals.queue_options() if arrivals is not None else {}))
        self.cancelled = False
        self._final: dict[int, JobSnapshot] = {}
        self._submitted: set[int] = set()
        self._all_done = asyncio.Event()
        self._tasks: dict[int, TaskID] = {}
        self._progress: Progress | None = None
        self._closing: asyncio.Task[None] | None = None

    async def run(self, planned: Sequence[_Planned]) -> int:
        started = time.monotonic()
        with _ctrl_c_cancels(self._cancel, self._abort), Progress(
            LiteralColumn(), BarColumn(bar_width=30), MofNCompleteColumn(),
            LiteralColumn("detail"), TimeElapsedColumn(), console=stderr,
            transient=False,
        ) as progress:  # a label or AE title like AI[/]BOX is data, never markup
            self._progress = progress
            for plan in planned:
                self._submit(plan)
            if not self._finished_all():
                await self._all_done.wait()
            self._progress = None
        if self._closing is not None:
            await self._closing
        await self.queue.close()
        finals = [self._final[i] for i in sorted(self._submitted)]
        self._report(finals, time.monotonic() - started)
        results = _results_as_checked(finals)
        cancelled = self.cancelled or any(job.state is JobState.CANCELLED for job in finals)
        unrecorded = await self.queue.flush_records(attempts=UNRECORDED_ATTEMPTS)
        if unrecorded:
            print_error(_unrecorded_error(self.store, [self._final[i] for i in unrecorded
                                                       if i in self._final]))
            return EXIT_FAILED
        return overall_exit_code(results, cancelled, len(finals) - len(results))

    def _submit(self, plan: _Planned) -> None:
        old = plan.stored
        new_id = self.queue.submit(plan.pacs, plan.request, plan.label, retry_of=old.id)
        self._submitted.add(new_id)  # submit records priority and images with the new row
        if old.state == INTERRUPTED or old.started_at is not None:
            reached = f"{old.completed} of {old.total if old.total is not None else '?'}"
            stderr.print(literal(f"Warning: job {old.id} was {old.state} after {reached} "
                                 f"images; it is sent again as job {new_id}. The PACS may "
                                 f"resend images {shown_destination(old.destination)} "
                                 "already has (a C-MOVE cannot skip them)."))

    def _finished_all(self) -> bool:
        return all(i in self._final for i in self._submitted)

    def _on_change(self, job: JobSnapshot) -> None:
        """Runs on: the event loop (MoveQueue reports there). Mirrors a job in its bar."""
        if job.state.is_finished:
            self._final[job.job_id] = job
        progress = self._progress
        if progress is not None:
            task = self._tasks.get(job.job_id)
            if task is None:
                label = job.label.study or job.label.patient or _target_label(
                    job.request.target)
                task = self._tasks[job.job_id] = progress.add_task(
                    f"job {job.job_id}: {label} → {shown_destination(job.destination)}",
                    total=None,
                    detail="")
            progress.update(task, **_bar_fields(job))
        if self._submitted and self._finished_all():
            self._all_done.set()

    def _cancel(self) -> None:
        self.cancelled = True
        stderr.print("Cancelling: jobs not started are cancelled, running moves get "
                     "C-CANCEL (Ctrl-C again to abort now)…")
        for job in self.queue.jobs():
            self.queue.cancel(job.job_id)

    def _abort(self) -> None:
        self.cancelled = True
        if self._closing is None:
            self._closing = asyncio.get_running_loop().create_task(self.queue.close())

    def _report(self, finals: Sequence[JobSnapshot], duration: float) -> None:
        results = _results_as_checked(finals)
        for job in finals:
            result = job.result
            if result is not None and result.error is not None and job.state is not \
                    JobState.CANCELLED:
                stderr.print(literal(f"Job {job.job_id}:"))
                print_error(result.error)
        not_started = sum(1 for job in finals if job.result is None)
        worst = _worst(results, self.cancelled or any(
            job.state is JobState.CANCELLED for job in finals), not_started)
        line = _summary_line(results, worst, f"sent by {len(finals)} job(s)", duration)
        if not_started:
            line += f"; {not_started} not started (cancelled)"
        checked = [job for job in finals if job.arrival is not None]
        if checked:  # never "sent" alone when the destination was asked
            line += "; " + "; ".join(f"job {job.job_id}: {arrival_words(job.arrival)}"
                                     for job in checked if job.arrival is not None)
        stderr.print(literal(line))


def _results_as_checked(finals: Sequence[JobSnapshot]) -> list[MoveResult]:
    """The jobs' results, a send the arrival check found short counted as partial (its
    job's state, :func:`..jobs.arrival_phase.final_state`), for the summary and exit code."""
    results = []
    for job in finals:
        result = job.result
        if result is None:
            continue
        if job.state is JobState.PARTIAL and result.outcome in (
                MoveOutcome.COMPLETED, MoveOutcome.COMPLETED_WITH_WARNINGS):
            result = replace(result, outcome=MoveOutcome.PARTIAL)
        results.append(result)
    return results


def _bar_fields(job: JobSnapshot) -> dict[str, Any]:
    """What a job's bar shows now."""
    if job.result is not None:
        fields = _final_bar(job.result)
        if job.arrival is not None:  # what the destination (or this computer) holds
            fields["detail"] = line(fields["detail"], " · ", arrival_words(job.arrival))
        return fields
    if job.checking:
        return {"detail": "waiting for the images to arrive…" if job.to_here
                else "checking the destination…"}
    if job.state is JobState.CANCELLED:
        return {"detail": line(("cancelled", "yellow"))}
    if job.progress is not None:
        return {"total": job.progress.total, "completed": job.progress.sent,
                "detail": _detail(job.progress)}
    if job.state is JobState.QUEUED:
        return {"detail": f"waiting for a free slot on {job.pacs.name}"}
    return {"detail": "connecting…"}
