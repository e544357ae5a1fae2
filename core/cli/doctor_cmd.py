"""``nodes test NAME --dest AET [--probe-study UID]``: the destination doctor on the terminal.

One line per step (result, step, time, question, answer), then ``Verdict:`` and one line.
Nothing is sent without ``--probe-study``; then the output says how to run the probe.
``--dest @here`` tests this computer the way the PACS profile retrieves (its retrieve
method): C-MOVE to the receiver (started for the duration from receiver.json, as ``move
--dest @here`` does), C-GET (no receiver started), or automatic (the receiver if it can
start, C-GET when the PACS cannot send to it or it cannot start). Exit 0 when the
destination works (or nothing refused it and no probe was asked for), 1 when a step shows it
does not, 2 for a bad option.
"""

from __future__ import annotations

import argparse
import shlex
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dicom_courier.core.cli import options
from dicom_courier.core.cli.parser import EXIT_FAILED, EXIT_OK
from dicom_courier.core.cli.verify_cmd import arrival_settings
from dicom_courier.core.config.profiles import Destination, PacsNode, validate_ae_title
from dicom_courier.core.outcome.arrival import HERE
from dicom_courier.core.outcome.errors import InvalidInput
from dicom_courier.core.qr.input_rules import validate_uid

if TYPE_CHECKING:
    from dicom_courier.core.dimse.diagnose import Check

#: Each DICOM step of the doctor may take at most this long (s), whatever the profile says.
STEP_DEADLINE = 60.0


def destination_to_test(node: PacsNode, text: str) -> Destination:
    """``--dest``: a saved destination of ``node`` by AE title (its address and queryable
    flag as saved), else ``AET`` or ``AET@HOST:PORT`` as typed. Raises InvalidInput."""
    aet = validate_ae_title(text.partition("@")[0], "--dest")
    saved = next((d for d in node.destinations if d.ae_title == aet), None)
    if saved is not None and "@" not in text:
        return saved
    typed = options.destination_from(text)
    return typed if saved is None else Destination(
        typed.ae_title, typed.host, typed.port, saved.label,
        queryable=saved.queryable and typed.host is not None)


@dataclass(frozen=True)
class NotListening:
    """This computer when no receiver runs (a C-GET needs none): its AE title and folder."""

    ae_title: str
    folder: Path
    running: bool = False


def _here_receiver(args: argparse.Namespace, node: PacsNode) -> AbstractContextManager[Any]:
    """This computer for the doctor: the receiver started for the duration (receiver.json's
    AE title, port, folder and allow-list, with this PACS allowed) when the profile retrieves
    by C-MOVE or automatically; :class:`NotListening` for C-GET, and for automatic when the
    receiver cannot start (said in one line). Raises ReceiverError (port taken …) for C-MOVE.
    """
    from contextlib import contextmanager

    from dicom_courier.core.cli.render import stderr
    from dicom_courier.core.cli.safe_text import literal
    from dicom_courier.core.config.paths import app_paths
    from dicom_courier.core.config.receiver_settings import allow_list, load_receiver_settings
    from dicom_courier.core.config.retrieve_method import RetrieveMethod
    from dicom_courier.core.dimse.arrival_hub import ArrivalHub
    from dicom_courier.core.dimse.receiver import Receiver
    from dicom_courier.core.outcome.errors import CourierError

    paths = app_paths(args.config_dir)
    settings = load_receiver_settings(paths.receiver_file)
    folder = settings.storage_folder(paths)
    idle = NotListening(settings.ae_title, folder)
    if node.retrieve is RetrieveMethod.GET:
        return nullcontext(idle)
    allow = allow_list(settings, [*options.node_store(args).load(), node])
    receiver = Receiver(settings, folder, replace(allow, aets=allow.aets | {node.called_aet}),
                        ArrivalHub())

    @contextmanager
    def running() -> Any:
        try:
            receiver.start()
        except CourierError as error:
            if node.retrieve is not RetrieveMethod.AUTO:
                raise
            stderr.print(literal(f"This computer's receiver did not start ({error.title}); "
                                 "an automatic retrieve uses C-GET then."))
            yield idle
            return
        try:
            yield receiver
        finally:
            receiver.stop()

    return running()


async def run_doctor(node: PacsNode, args: argparse.Namespace) -> int:
    """Run the doctor for ``args.dest`` of ``node`` and print it; returns the exit code.
    Raises InvalidInput for a bad --dest/--probe-study (nothing is sent then)."""
    from dicom_courier.core.cli.render import print_error, stdout
    from dicom_courier.core.cli.safe_text import line, literal
    from dicom_courier.core.dimse.doctor import doctor
    from dicom_courier.core.dimse.engine import Courier

    if args.dest is None:
        raise InvalidInput("--probe-study", "needs --dest AET: the destination to send the "
                           "probe to")
    probe = None if args.probe_study is None else validate_uid(args.probe_study,
                                                                "--probe-study")
    here = options.to_here(args.dest)  # "@here" in any case, as move and queue add take it
    settings = arrival_settings(args.config_dir)
    receiving: AbstractContextManager[Any] = (_here_receiver(args, node) if here
                                              else nullcontext())
    failures = 0
    with receiving as receiver, Courier() as courier:
        dest = (Destination(receiver.ae_title) if here
                else destination_to_test(node, args.dest))
        run = doctor(courier, node, dest, probe, receiver=receiver,
                     wait=float(settings.arrival_wait), interval=float(settings.arrival_interval),
                     step_deadline=STEP_DEADLINE)
        async for check in run:
            stdout.print(_check_line(check, line))
            if check.verdict.value == "failed":
                failures += 1
                if check.error is not None:
                    print_error(check.error)
        verdict = run.verdict
    assert verdict is not None  # set when the steps end
    stdout.print(literal(f"Verdict: {verdict.text}"))
    if verdict.probe_hint:
        stdout.print(literal(
            "To prove it end to end, run: dicom-courier nodes test "
            f"{shlex.quote(node.name)} --dest {HERE if here else shlex.quote(args.dest.strip())} "
            "--probe-study STUDY_UID (moves the smallest instance of that study)"))
    return EXIT_FAILED if verdict.works is False or failures else EXIT_OK


def _check_line(check: Check, line: Any) -> Any:
    marks = {"ok": ("OK", "green"), "failed": ("FAILED", "red"),
             "unclear": ("UNCLEAR", "yellow"), "skipped": ("SKIPPED", "dim"),
             "warning": ("WARNING", "yellow")}
    took = f"{check.ms:.0f} ms" if check.ms is not None else "-"
    step = f"[{check.step or 'setting'}, {took}]"
    return line(marks[check.verdict.value], " ", step, " ", check.question, " ", check.answer)
