"""``dicom-courier receive``: run the built-in receiver alone until Ctrl-C (or SIGTERM).

Settings come from ``receiver.json`` (the window's Preferences) with the options on top:
``--port``, ``--aet``, ``--folder``, ``--bind``, ``--allow AET ...`` (who may send: the list
replaces the PACS profiles' AE titles, as ``allowed_aets`` in receiver.json does; a PACS
admin who names the senders expects exactly those, and a refused one is told so).
``enabled`` in the file is not needed: running the command is the choice. Prints one line at
start (AE title, port, folder, who may send), one line per association when it ends (sender,
counts, size, time: never patient data), each refusal, and at ``-v`` one line per instance
(its SOP class and size). Exit 0 on Ctrl-C / SIGTERM; 1 when the receiver cannot start
(port taken …); 2 for a bad option.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Iterator, Mapping
from dataclasses import replace

from dicom_courier.core.cli.parser import EXIT_OK
from dicom_courier.core.cli.render import stderr, stdout
from dicom_courier.core.cli.safe_text import literal
from dicom_courier.core.config.paths import app_paths
from dicom_courier.core.config.profile_store import NodeStore
from dicom_courier.core.config.profiles import validate_ae_title, validate_port
from dicom_courier.core.config.receiver_settings import (
    ReceiverSettings,
    allow_list,
    read_receiver_settings,
)
from dicom_courier.core.dimse.arrival_hub import ArrivalHub
from dicom_courier.core.dimse.receiver import ReceivedSession, Receiver
from dicom_courier.core.outcome.arrival import Arrival, StoreRefusal
from dicom_courier.core.outcome.errors import InvalidInput

#: The same refusal reason is printed again only after this many seconds (a full disk
#: refuses every instance: one line, then the association's summary counts them).
REPEAT_AFTER = 10.0

#: Loggers whose warnings say what the command prints itself as "Refused: …" lines: at the
#: default level they would repeat each line, once per instance refused (a full disk: one
#: warning per image). Shown again with -v.
SAID_BY_THE_COMMAND = ("dicom_courier.core.dimse.store_files",
                       "dicom_courier.core.dimse.receiver")


def saved_settings_with(config_dir: str | None,
                        changes: Mapping[str, object]) -> ReceiverSettings:
    """receiver.json of the profile in ``config_dir`` (its unusable values said as warnings on
    stderr), turned on, with ``changes`` (field name -> value) on top: the receiver of
    ``receive`` and of ``move``/``queue run --dest @here``. Raises InvalidInput naming the
    field a change breaks."""
    settings, problems = read_receiver_settings(app_paths(config_dir).receiver_file)
    for problem in problems:
        stderr.print(literal(f"Warning: {problem}"))
    return replace(settings, **{"enabled": True, **changes})  # type: ignore[arg-type]


def settings_from(args: argparse.Namespace) -> ReceiverSettings:
    """receiver.json with the command's options on top. Raises InvalidInput naming the option."""
    changes: dict[str, object] = {}
    if args.port is not None:
        changes["port"] = validate_port(args.port, "--port")
    if args.aet is not None:
        changes["ae_title"] = validate_ae_title(args.aet, "--aet")
    if args.folder is not None:
        changes["folder"] = args.folder
    if args.bind is not None:
        changes["bind"] = args.bind
    if args.allow:
        changes["allowed_aets"] = tuple(validate_ae_title(aet, "--allow") for aet in args.allow)
    try:
        return saved_settings_with(args.config_dir, changes)
    except InvalidInput as error:
        option = {"receiver folder": "--folder", "receiver bind address": "--bind"}
        if error.field in option:
            raise InvalidInput(option[error.field], error.rule, changes.get(
                "folder" if error.field == "receiver folder" else "bind")) from None
        raise


class ReceiveReport:
    """Prints what the receiver does. Callbacks arrive on association threads and hop to the
    loop, where all printing happens."""

    def __init__(self, loop: asyncio.AbstractEventLoop, *, verbose: bool) -> None:
        self.loop = loop
        self.verbose = verbose
        self.received = 0  # distinct instances (a SOP Instance UID sent again counts once)
        self.refused = 0
        self._instances: set[tuple[str, str]] = set()  # (study, SOP Instance UID)
        self._last_reason = ""
        self._last_said = 0.0

    def on_arrival(self, arrival: Arrival) -> None:
        self.loop.call_soon_threadsafe(self._arrived, arrival)

    def on_refusal(self, refusal: StoreRefusal) -> None:
        self.loop.call_soon_threadsafe(self._refused, refusal)

    def on_session(self, session: ReceivedSession) -> None:
        self.loop.call_soon_threadsafe(self._session, session)

    def _arrived(self, arrival: Arrival) -> None:
        self._instances.add((arrival.study_uid, arrival.sop_uid))
        self.received = len(self._instances)
        if self.verbose:
            stdout.print(literal(f"Stored an instance from {arrival.calling_aet} "
                                 f"({_sop_class_name(arrival.sop_class_uid)}, "
                                 f"{_size(arrival.size)})."))

    def _refused(self, refusal: StoreRefusal) -> None:
        if refusal.status is not None:
            self.refused += 1
        now = time.monotonic()
        if refusal.reason == self._last_reason and now - self._last_said < REPEAT_AFTER:
            return
        self._last_reason, self._last_said = refusal.reason, now
        status = f" (status 0x{refusal.status:04X})" if refusal.status is not None else ""
        stderr.print(literal(f"Refused{status}: {refusal.reason}"))

    def _session(self, session: ReceivedSession) -> None:
        studies = len(session.studies)
        what = (f"{session.stored} instance{'s' if session.stored != 1 else ''} of {studies} "
                f"stud{'ies' if studies != 1 else 'y'}, {_size(session.size)}")
        refused = f", {session.refused} refused" if session.refused else ""
        stdout.print(literal(f"From {session.calling_aet} ({session.address}): {what}"
                             f"{refused} in {session.seconds:.1f} s ({session.ended})."))


def _size(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB" if size >= 100_000 else f"{size / 1000:.0f} kB"


def _sop_class_name(uid: str) -> str:
    from pydicom.uid import UID

    name = UID(uid).name
    return name if name and name != uid else uid


def _who_may_send(settings: ReceiverSettings, aets: frozenset[str]) -> str:
    if not aets:
        return ("nobody yet: no PACS profile is saved (add one with 'nodes add', or use "
                "--allow AET)")
    where = " from its profile's host" if settings.check_address else ""
    source = (" only (this list replaces the PACS profiles' AE titles)"
              if settings.allowed_aets is not None else " (the PACS profiles)")
    return ", ".join(sorted(aets)) + source + where


async def run_receive(args: argparse.Namespace) -> int:
    """Run the receiver until Ctrl-C or SIGTERM; returns the exit code (0).
    Raises InvalidInput (a bad option), ReceiverError (cannot start), SettingsFileError."""
    with quiet_store_warnings(args.verbose):
        return await _receive(args)


@contextlib.contextmanager
def quiet_store_warnings(verbose: int) -> Iterator[None]:
    """At the default level (``verbose`` 0), the writer's and the receiver's per-image
    warnings are held back (:data:`SAID_BY_THE_COMMAND`): the command says each refusal
    itself, once. With ``-v`` they show."""
    with contextlib.ExitStack() as quiet:
        if not verbose:
            for name in SAID_BY_THE_COMMAND:
                quiet.enter_context(_at_least(logging.getLogger(name), logging.ERROR))
        yield


@contextlib.contextmanager
def _at_least(logger: logging.Logger, level: int) -> Iterator[None]:
    before = logger.level
    logger.setLevel(max(level, before))
    try:
        yield
    finally:
        logger.setLevel(before)


async def _receive(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    paths = app_paths(args.config_dir)
    nodes = NodeStore(paths.nodes_file).load() if settings.allowed_aets is None else []
    allow = allow_list(settings, nodes)
    loop = asyncio.get_running_loop()
    report = ReceiveReport(loop, verbose=args.verbose > 0)
    hub = ArrivalHub()
    hub.subscribe(report.on_arrival)
    hub.subscribe_refusals(report.on_refusal)
    folder = settings.storage_folder(paths)
    receiver = Receiver(settings, folder, allow, hub, on_session=report.on_session)
    await asyncio.to_thread(receiver.start)
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows: no SIGTERM
            loop.add_signal_handler(signum, stop.set)
    try:
        stdout.print(literal(
            f"Receiving as {receiver.ae_title} on {receiver.where}, storing in {folder}. "
            f"May send: {_who_may_send(settings, allow.aets)}. Ctrl-C stops."))
        await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signum)
        await asyncio.to_thread(receiver.stop)
        await asyncio.sleep(0)  # print what the last associations reported
    refused = f", {report.refused} refused" if report.refused else ""
    stdout.print(literal(f"Stopped. {report.received} instance"
                         f"{'s' if report.received != 1 else ''} received{refused}."))
    return EXIT_OK
