"""``dicom-courier move ... --dest @here``: bring studies to this computer (issue 13 §2).

The PACS profile's retrieve method decides how (:mod:`dicom_courier.core.dimse.retrieve_here`):
C-MOVE to the built-in receiver, which runs for the duration of the command (AE title, port
and folder from ``receiver.json``, the window's Preferences, or ``--receiver-aet``,
``--receiver-port``, ``--folder``; this PACS's AE title is always allowed to send), C-GET
over our own association (no receiver), or automatic (C-MOVE, C-GET when the PACS cannot
send to us; also when our receiver cannot start). The moves run as any ``move`` does
(progress bars or JSON lines, Ctrl-C, the send recorded in ``jobs.db`` with destination
``@here``). After each C-MOVE's final response the command waits, at most ``arrival_wait``
seconds (settings.json, as the queue and ``queue run``; no longer than ``--deadline`` or the
profile's deadline), until every image the PACS reported for it is on disk
(:class:`HereVerifier`; the job row records "received N of M", the count and the study
folder, "partial" when fewer arrived, as the queue does); after a C-GET it does not wait (its
images come only over its own association, which has ended). Then it prints "received N of
M into FOLDER". Exit code 0 only when all arrived (3 when fewer did, unless the send itself
ended worse). Images this computer refuses (a full disk) are said in one line per reason, not
one log line per image (``-v`` shows those).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from dicom_courier.core.cli.parser import EXIT_OK, EXIT_PARTIAL
from dicom_courier.core.cli.receive_cmd import quiet_store_warnings, saved_settings_with
from dicom_courier.core.cli.render import stderr
from dicom_courier.core.cli.safe_text import literal
from dicom_courier.core.cli.verify_cmd import arrival_settings
from dicom_courier.core.config.paths import app_paths
from dicom_courier.core.config.profile_store import NodeStore
from dicom_courier.core.config.profiles import PacsNode, validate_ae_title, validate_port
from dicom_courier.core.config.receiver_settings import (
    AllowList,
    ReceiverSettings,
    allow_list,
)
from dicom_courier.core.config.retrieve_method import RetrieveMethod
from dicom_courier.core.dimse.arrival_hub import ArrivalHub
from dicom_courier.core.dimse.retrieve_here import (
    C_GET_NOTE,
    NO_RECEIVER_NOTE,
    HereRetrieve,
    retrieve_here,
)
from dicom_courier.core.jobs.arrival_phase import arrival_limit, expected_here, here_check
from dicom_courier.core.jobs.row_words import arrival_verified, arrival_words
from dicom_courier.core.outcome.arrival import Arrival, ArrivalCheck, StoreRefusal
from dicom_courier.core.outcome.errors import CourierError, InvalidInput
from dicom_courier.core.outcome.events import MoveResult
from dicom_courier.core.qr.query import MoveRequest, MoveTarget
from dicom_courier.core.text.safe_text import json_text

logger = logging.getLogger(__name__)

#: Seconds to wait after the final response for images still on their way when settings.json
#: cannot be read (its own default, ``AppSettings.arrival_wait``, is the same).
ARRIVAL_WAIT = 30.0

#: Runs the moves (``main._move_with``) with the courier it is given; returns the exit code.
RunMoves = Callable[[Any, PacsNode, argparse.Namespace], Awaitable[int]]


class Arrivals:
    """Distinct images that arrived for the targets asked for. ``note`` runs on any thread
    (the receiver's, a C-GET's worker); the counts are read on the loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._lock = threading.Lock()
        self._studies: set[str] = set()
        #: SOP Instance UID -> (study UID, series UID, the file's path) of what arrived.
        self._seen: dict[str, tuple[str, str, str]] = {}
        self._loop = loop
        #: Set (on the loop) after each arrival; the waiter clears it.
        self.changed = asyncio.Event()

    def expect_study(self, study_uid: str) -> None:
        with self._lock:
            self._studies.add(study_uid)

    def note(self, arrival: Arrival) -> None:
        with self._lock:
            if arrival.study_uid in self._studies:
                self._seen.setdefault(arrival.sop_uid, (arrival.study_uid,
                                                        arrival.series_uid, arrival.path))
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
            self._loop.call_soon_threadsafe(self.changed.set)

    def _of(self, target: MoveTarget) -> list[str]:
        """The paths of the distinct images of ``target`` that arrived."""
        with self._lock:
            return [path for sop, (study, series, path) in self._seen.items()
                    if study == target.study_uid
                    and (not target.series_uids or series in target.series_uids)
                    and (not target.sop_uids or sop in target.sop_uids)]

    def count_for(self, target: MoveTarget) -> int:
        """Distinct images of ``target`` (its study; its series or images, if named)."""
        return len(self._of(target))

    def folder_for(self, target: MoveTarget) -> str | None:
        """The study folder ``target``'s first image was written to (``<patient>/<study>``)."""
        paths = self._of(target)
        return str(Path(paths[0]).parent.parent) if paths else None

    async def wait_for(self, expected: int, limit: float,
                       target: MoveTarget | None = None) -> float:
        """Until ``expected`` images (of ``target``; None: of all) arrived or ``limit``
        seconds passed; returns the seconds waited."""
        started = time.monotonic()
        end = started + limit

        def count() -> int:
            return self.count if target is None else self.count_for(target)

        while count() < expected and time.monotonic() < end:
            self.changed.clear()
            if count() >= expected:
                break
            try:
                await asyncio.wait_for(self.changed.wait(), end - time.monotonic())
            except TimeoutError:
                break
        return time.monotonic() - started

    @property
    def count(self) -> int:
        with self._lock:
            return len(self._seen)


class HereVerifier:
    """The ``--dest @here`` check after each move (a :class:`.verify_cmd.SendCheck`): wait,
    at most ``limit`` seconds, until the images the PACS reported sent for the target are on
    disk, then the check is the files themselves (``where`` = "This computer"), recorded with
    the job ("received 6 of 6", the received count, the study folder) as the queue does."""

    def __init__(self, arrivals: Arrivals, limit: float) -> None:
        self.arrivals, self.limit = arrivals, limit
        self.checks: list[ArrivalCheck] = []
        #: What the PACS said it sent, summed over C-GETs that brought fewer (else 0).
        self.said_more = 0
        #: True when some move waited for late images and not all came.
        self.waited_in_vain = False

    @property
    def all_verified(self) -> bool:
        """No check found fewer than the PACS reported (a send without counts proves
        nothing either way)."""
        return all(arrival_verified(check) is not False for check in self.checks)

    def summary(self) -> str:
        """"received 6 of 6" (one move) or the sums of every move."""
        if len(self.checks) == 1:
            return arrival_words(self.checks[0])
        found = sum(check.found for check in self.checks)
        if any(check.expected is None for check in self.checks):
            return f"received {found}"
        return f"received {found} of {sum(check.expected or 0 for check in self.checks)}"

    async def after(self, target: MoveTarget, result: MoveResult) -> ArrivalCheck:
        expected = expected_here(result)
        waited = 0.0
        limit = arrival_limit(result, self.limit)  # none after a C-GET: it is over
        if expected is not None:
            waited = await self.arrivals.wait_for(expected, limit, target)
        check = here_check(expected, self.arrivals.count_for(target), waited)
        if result.said_sent is not None:
            self.said_more += result.said_sent
        elif limit and expected is not None and check.found < expected:
            self.waited_in_vain = True
        self.checks.append(check)
        return check

    def arrived(self, target: MoveTarget) -> tuple[int | None, str | None]:
        return self.arrivals.count_for(target), self.arrivals.folder_for(target)


class _ToHere:
    """The courier the moves run on: ``move`` retrieves to this computer
    (:func:`.retrieve_here.retrieve_here`); everything else (find, running, cancel_grace) is
    the real courier's."""

    def __init__(self, courier: Any, receiver_aet: str, folder: Path, hub: ArrivalHub,
                 arrivals: Arrivals, max_instance_mb: int | None = None,
                 get_note: str = C_GET_NOTE) -> None:
        self._courier = courier
        self._get_note = get_note  # the result's note when it used C-GET
        self._max_instance_mb = max_instance_mb
        self._receiver_aet = receiver_aet
        self._folder = folder
        self._hub = hub
        self._arrivals = arrivals
        self.retrieves: list[HereRetrieve] = []

    def move(self, pacs: PacsNode, request: MoveRequest) -> HereRetrieve:
        self._arrivals.expect_study(request.target.study_uid)
        running = retrieve_here(self._courier, pacs, request, receiver_aet=self._receiver_aet,
                                folder=self._folder, hub=self._hub,
                                max_instance_mb=self._max_instance_mb,
                                get_note=self._get_note)
        self.retrieves.append(running)
        return running

    def __getattr__(self, name: str) -> Any:
        return getattr(self._courier, name)


def receiver_settings_from(args: argparse.Namespace) -> ReceiverSettings:
    """receiver.json with ``--receiver-aet``, ``--receiver-port``, ``--folder`` on top (its
    unusable values were said as warnings). Raises InvalidInput naming the option."""
    changes: dict[str, Any] = {}
    if args.receiver_aet is not None:
        changes["ae_title"] = validate_ae_title(args.receiver_aet, "--receiver-aet")
    if args.receiver_port is not None:
        changes["port"] = validate_port(args.receiver_port, "--receiver-port")
    if args.folder is not None:
        if not args.folder.strip() or "\x00" in args.folder:
            raise InvalidInput("--folder", "must be a folder path", args.folder)
        changes["folder"] = args.folder
    return saved_settings_with(args.config_dir, changes)


def _allowed(settings: ReceiverSettings, pacs: PacsNode, config_dir: str | None) -> AllowList:
    """The saved profiles' allow-list, with this PACS's AE title always in it."""
    try:
        nodes = NodeStore(app_paths(config_dir).nodes_file).load()
    except CourierError:
        nodes = []
    allow = allow_list(settings, [*nodes, pacs])
    return replace(allow, aets=allow.aets | {pacs.called_aet})


async def move_here(courier: Any, pacs: PacsNode, args: argparse.Namespace,
                    run_moves: RunMoves) -> int:
    """Run ``move --dest @here`` (see the module); returns the exit code.

    Raises: InvalidInput for a bad option; ReceiverError (a CourierError) when the method is
    C-MOVE and our receiver cannot start (port taken, folder unwritable); what ``run_moves``
    raises.
    """
    from dicom_courier.core.dimse.receiver import Receiver

    settings = receiver_settings_from(args)
    folder = settings.storage_folder(app_paths(args.config_dir))
    hub = ArrivalHub()
    loop = asyncio.get_running_loop()
    arrivals = Arrivals(loop)
    hub.subscribe(arrivals.note)
    hub.subscribe_refusals(RefusalLines(loop).note)
    receiver: Receiver | None = None
    get_note = C_GET_NOTE
    if pacs.retrieve is not RetrieveMethod.GET:
        receiver = Receiver(settings, folder, _allowed(settings, pacs, args.config_dir), hub)
        try:
            receiver.start()
        except CourierError as error:
            if pacs.retrieve is RetrieveMethod.MOVE:
                raise
            stderr.print(literal(f"Our receiver could not start ({error.title}); retrieving "
                                 "with C-GET instead."))
            receiver = None
            pacs = pacs.with_changes(retrieve=RetrieveMethod.GET)
            get_note = NO_RECEIVER_NOTE
    verifier = HereVerifier(arrivals, arrival_wait(args.config_dir, pacs))
    here_args = argparse.Namespace(**{**vars(args), "verify": False,  # checked on disk here
                                      "here_verifier": verifier})
    to_here = _ToHere(courier, settings.ae_title, folder, hub, arrivals,
                      settings.max_instance_mb, get_note)
    try:
        with quiet_store_warnings(args.verbose):
            code = await run_moves(to_here, pacs, here_args)
        return _after(verifier, folder, code, args)
    finally:
        if receiver is not None:
            await asyncio.to_thread(receiver.stop)


def arrival_wait(config_dir: str | None, pacs: PacsNode) -> float:
    """Seconds to wait for late images after a C-MOVE's final response: ``arrival_wait``
    of settings.json (the queue's rule), no longer than the deadline (``--deadline`` or the
    profile's ``timeouts.total``) when one is set."""
    try:
        wait = float(arrival_settings(config_dir).arrival_wait)
    except CourierError:
        wait = ARRIVAL_WAIT
    total = pacs.timeouts.total
    return min(wait, float(total)) if total else wait


class RefusalLines:
    """Says each kind of refused image once (a full disk refuses every image: one line,
    the result's error gives the count). ``note`` runs on any thread; prints on the loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._said: set[str] = set()

    def note(self, refusal: StoreRefusal) -> None:
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody listens any more
            self._loop.call_soon_threadsafe(self._say, refusal)

    def _say(self, refusal: StoreRefusal) -> None:
        if refusal.reason in self._said:
            return
        self._said.add(refusal.reason)
        status = f" (status 0x{refusal.status:04X})" if refusal.status is not None else ""
        stderr.print(literal(f"Refused{status}: {refusal.reason}"))


def _after(verifier: HereVerifier, folder: Path, code: int,
           args: argparse.Namespace) -> int:
    """Say how many images of the moves are on disk (each move waited, bounded, for the
    images the PACS reported: :class:`HereVerifier`), decide the exit code."""
    checks = verifier.checks
    if not checks:
        return code
    known = all(check.expected is not None for check in checks)
    expected = sum(check.expected or 0 for check in checks) if known else None
    received = sum(check.found for check in checks)
    of = f" of {expected}" if expected is not None else ""
    words = f"received {received}{of} into {folder}"
    if expected is None:
        words += " (the PACS did not say how many it sent)"
    elif received < expected and verifier.said_more:
        words += (" (the PACS said it sent them, but a C-GET's images come only over its own "
                  "association, which has ended: nothing more can arrive)")
    elif received < expected and verifier.waited_in_vain:
        words += f" (waited {verifier.limit:g} s for the rest)"
    if args.json:
        import sys

        sys.stdout.write(json_text({"event": "received", "received": received,
                                    "expected": expected, "folder": str(folder)}) + "\n")
        sys.stdout.flush()
    else:
        stderr.print(literal(words))
    if code == EXIT_OK and expected is not None and received < expected:
        return EXIT_PARTIAL  # the PACS said it sent them; not all are here
    return code
