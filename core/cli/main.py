"""``dicom-courier``: the command line over the engine (for scripts, admins and tests).

One composition root: parse, validate into engine values, run one coroutine on a fresh asyncio
loop with one :class:`Courier`, map the outcome to an exit code. A CourierError is printed as
plain words (never a traceback); a bad argument is one line and exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from dicom_courier.core.cli.arguments import undecodable_argument
from dicom_courier.core.cli.parser import (
    EXIT_CANCELLED,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_USAGE,
    build_parser,
)

# Only argparse and the parser are imported with this module, so ``--help`` and a usage error
# cost no engine: each command imports what it uses (pynetdicom and pydicom only for the
# commands that talk DICOM; rich once a command runs).
if TYPE_CHECKING:
    import threading

    from dicom_courier.core.cli.move_cmd import MoveRunner
    from dicom_courier.core.cli.verify_cmd import SendCheck
    from dicom_courier.core.config.profiles import PacsNode
    from dicom_courier.core.dimse.engine import Courier
    from dicom_courier.core.qr.query import Priority, QueryLevel, QueryModel
    from dicom_courier.core.qr.resolve import Resolution

#: Printed whenever a profile is saved that does not check the PACS's certificate.
TLS_NO_VERIFY_WARNING = ("WARNING: TLS is on but the PACS's certificate is NOT verified: anyone "
                         "on the network can pose as this PACS and read what is sent.")

#: The commands that need an ACTION, and where argparse puts it.
_ACTION_OF = {"nodes": "nodes_command", "queue": "queue_command"}


def run(argv: Sequence[str]) -> int:
    """Run one command; returns the exit code (2: a bad argument, one line on stderr)."""
    bad_bytes = undecodable_argument(argv)
    if bad_bytes is not None:
        sys.stderr.write(bad_bytes + "\n")
        return EXIT_USAGE
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv))
    except SystemExit as exc:  # a usage error (one line, already printed) or --help
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    _configure_logging(args.verbose, talks_dicom=_talks_dicom(args))
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    command = args.command
    if args.command in _ACTION_OF:
        action = getattr(args, _ACTION_OF[args.command])
        if action is None:  # 'nodes' or 'queue' alone: show what it can do
            sys.stderr.write(args.command_parser.format_help())
            return EXIT_USAGE
        command += f" {action}"
    import asyncio

    from dicom_courier.core.cli.render import print_error, print_usage_error
    from dicom_courier.core.outcome.errors import CourierError, InvalidInput

    try:
        return asyncio.run(_dispatch(args))
    except InvalidInput as exc:
        print_usage_error(command, exc)
        return EXIT_USAGE
    except CourierError as exc:
        print_error(exc)
        return EXIT_FAILED
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted.\n")
        return EXIT_CANCELLED


#: The commands that never open an association: pynetdicom is neither imported nor set up.
_OFFLINE = frozenset({"nodes add", "nodes list", "nodes remove", "queue add", "queue list",
                      "queue retry", "queue export", "queue purge"})


def _talks_dicom(args: argparse.Namespace) -> bool:
    """True if the parsed command may open an association (echo, find, move, demo, nodes
    test, queue run); False for one that only reads or writes our own files."""
    if args.command is None:
        return False
    action = getattr(args, _ACTION_OF.get(args.command, ""), None)
    return f"{args.command} {action}" not in _OFFLINE


def _configure_logging(verbosity: int, *, talks_dicom: bool = True) -> None:
    """Log to stderr at WARNING (-v INFO, -vv DEBUG) through a formatter that escapes control
    characters. ``talks_dicom``: also set pynetdicom up (quiet; -vv shows its DIMSE
    identifiers), before any association, as the engine expects."""
    import logging

    from dicom_courier.core.cli.log_format import PrintableFormatter  # no rich

    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    handler = logging.StreamHandler()  # a PACS value in a log line cannot drive the terminal
    handler.setFormatter(PrintableFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])
    if not talks_dicom:
        return
    from dicom_courier.core.dimse.transport import quiet_pynetdicom

    quiet_pynetdicom()
    if verbosity == 1:
        logging.getLogger("pynetdicom").setLevel(logging.WARNING)
    if verbosity >= 2:
        from pynetdicom import _config

        logging.getLogger("pynetdicom").setLevel(logging.DEBUG)
        _config.LOG_REQUEST_IDENTIFIERS = _config.LOG_RESPONSE_IDENTIFIERS = True


async def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "nodes":
        return await _nodes(args)
    if args.command == "queue":
        from dicom_courier.core.cli.queue_cmd import run_queue_command

        return await run_queue_command(args)
    if args.command == "receive":
        from dicom_courier.core.cli.receive_cmd import run_receive

        return await run_receive(args)
    if args.command == "demo":
        from dicom_courier.core.cli.demo_cmd import run_demo

        return await run_demo(args)
    from dicom_courier.core.cli import options
    from dicom_courier.core.dimse.engine import Courier

    pacs = options.pacs_from(args)
    with Courier() as courier:
        if args.command == "echo":
            return await _echo(courier, pacs)
        if args.command == "find":
            return await _find(courier, pacs, args)
        return await _move(courier, pacs, args)


async def _echo(courier: Courier, pacs: PacsNode) -> int:
    from dicom_courier.core.cli.render import stdout
    from dicom_courier.core.cli.safe_text import literal

    result = await courier.echo(pacs)
    stdout.print(literal(f"{pacs.called_aet} at {pacs.host}:{pacs.port} answered the echo "
                         f"from {pacs.calling_aet}: round trip {result.round_trip_ms:.1f} ms "
                         f"(association {result.association_ms:.1f} ms)"))
    return EXIT_OK


def _level_and_model(args: argparse.Namespace) -> tuple[QueryLevel, QueryModel]:
    from dicom_courier.core.qr.query import check_level_in_model, parse_level, parse_model

    level, model = parse_level(args.level), parse_model(args.model)
    check_level_in_model(level, model)
    return level, model


async def _find(courier: Courier, pacs: PacsNode, args: argparse.Namespace) -> int:
    from dicom_courier.core.cli import options
    from dicom_courier.core.cli.interrupt import ctrl_c_cancels_all
    from dicom_courier.core.cli.render import print_error, print_matches
    from dicom_courier.core.dimse.find import SearchCutShort
    from dicom_courier.core.qr.distinct import count_answers, distinct_matches, noun
    from dicom_courier.core.qr.name_match import exact_name_note
    from dicom_courier.core.qr.query import DEFAULT_RETURN_KEYS, FindQuery

    level, model = _level_and_model(args)
    query = FindQuery(level=level, model=model, keys=options.keys_from(args))
    limit = options.positive_int(args.limit, "--limit")
    operation = courier.find(pacs, query, limit=limit, raise_on_error=False)
    # A table needs rich: load it while the PACS answers (the loop mostly waits for it).
    preload = _preload(_TABLE_MODULES) if args.format == "table" else None
    with ctrl_c_cancels_all(courier) as interrupt:  # C-CANCEL, then A-ABORT after the grace
        matches = [match async for match in operation]
    if preload is not None:
        preload.join()
    answers = count_answers(matches, level)  # a PACS may name one study in many answers
    shown = distinct_matches(matches, level) if args.distinct else matches
    print_matches(shown, args.format, DEFAULT_RETURN_KEYS[level])
    result = operation.result
    if interrupt.pressed and result.cancelled:  # the rows received are printed above
        _say(f"cancelled: {result.count} result(s) received before the search was stopped; "
             "the list is incomplete")
        return EXIT_CANCELLED
    if isinstance(result.error, SearchCutShort):  # real rows, but maybe not all: partial
        print_error(result.error)
        return EXIT_PARTIAL
    if result.error is not None:  # the rows that did arrive are printed above
        from dicom_courier.core.cli.pacs_answers import report_find

        return report_find(result)  # 3 if only unreadable answers were left out
    name_note = exact_name_note(query.keys, result.count)  # keys are sent as typed
    if name_note is not None:
        _say(f"hint: {name_note}")
    if args.format == "table":
        note = f"{result.count} result(s) in {result.duration:.2f} s"
        if answers.repeated:  # "412 answers, 4 distinct studies in 0.50 s"
            note = f"{answers.note()} in {result.duration:.2f} s" + (
                f" (each {noun(level, 1)} shown once: --distinct)" if args.distinct else
                f" (the PACS sent the same {noun(level, 1)} more than once; --distinct shows "
                "each once)")
        if limit is not None and result.count >= limit:
            note += f" (stopped at --limit {limit}; there may be more)"
        _say(note, to_stdout=True)
    elif answers.repeated:  # csv/json: stdout stays pure data; the note goes to stderr
        _say(f"{answers.note()}" + (
            f" (each {noun(level, 1)} shown once: --distinct)" if args.distinct else
            f" (the PACS sent the same {noun(level, 1)} more than once; --distinct shows each "
            "once)"))
    return EXIT_OK


#: What printing a table loads (rich and our table code), imported while a search runs.
_TABLE_MODULES = ("rich.console", "rich.table", "rich.text", "rich.padding",
                  "dicom_courier.core.cli.safe_text", "dicom_courier.core.cli.match_table",
                  "dicom_courier.core.cli.match_output")


def _preload(modules: Sequence[str]) -> threading.Thread:
    """Import ``modules`` on a thread of their own (started; join it before use). An import
    that fails there is left for the real import to report."""
    import importlib
    import threading

    def load() -> None:
        for name in modules:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 - the caller's own import raises it properly
                return

    thread = threading.Thread(target=load, name="courier-preload", daemon=True)
    thread.start()
    return thread


def _say(text: str, *, to_stdout: bool = False) -> None:
    """One literal line (rich loads here: JSON and CSV output without a note need none)."""
    from dicom_courier.core.cli import render
    from dicom_courier.core.cli.safe_text import literal

    (render.stdout if to_stdout else render.stderr).print(literal(text))


def _destination(pacs: PacsNode, args: argparse.Namespace) -> str:
    from dicom_courier.core.config.profiles import validate_ae_title
    from dicom_courier.core.outcome.errors import InvalidInput

    if args.dest:
        return validate_ae_title(args.dest, "--dest")
    if pacs.default_destination is None:
        raise InvalidInput("--dest", "is required (the PACS profile has no saved destination)")
    return pacs.default_destination.ae_title


async def _move_targets(courier: Courier, pacs: PacsNode,
                        args: argparse.Namespace) -> Resolution:
    from dicom_courier.core.cli import options
    from dicom_courier.core.outcome.errors import InvalidInput
    from dicom_courier.core.qr.query import QueryLevel
    from dicom_courier.core.qr.resolve import resolve_targets
    from dicom_courier.core.qr.uid_targets import TypedUids, check_patient_id, targets_for_uids

    level, model = _level_and_model(args)
    keys = options.keys_from(args)
    for flag in ("study", "series", "image"):  # typed UIDs: PS3.5 9.1, before anything is sent
        options.uids_from(getattr(args, flag), f"--{flag}")
    by_uid = bool(args.study or args.series or args.image)
    patient_id = check_patient_id(args.patient_id)
    if by_uid and keys:
        raise InvalidInput("-k", "give either UIDs (--study/--series/--image) or -k keys, "
                           "not both")
    if not by_uid:
        if not keys:
            raise InvalidInput("--study", "say what to send: --study UID, --series UID, "
                               "--image UID or -k Keyword=Value")
        if patient_id is not None:
            raise InvalidInput("--patient-id", "goes with --study/--series/--image; with -k "
                               "keys give -k PatientID=ID")
        if level is QueryLevel.PATIENT:
            level = QueryLevel.STUDY
        return await resolve_targets(courier, pacs, model=model, level=level, keys=keys)
    # which look-ups and moves typed UIDs take on this PACS: core.uid_targets (issue 9 §2)
    typed = TypedUids(studies=tuple(args.study), series=tuple(args.series),
                      images=tuple(args.image), patient_id=patient_id)
    return await targets_for_uids(courier, pacs, typed, model)


async def _move(courier: Courier, pacs: PacsNode, args: argparse.Namespace) -> int:
    import time

    from dicom_courier.core.cli import options
    from dicom_courier.core.cli.move_cmd import json_summary_without_moves
    from dicom_courier.core.outcome.arrival import HERE
    from dicom_courier.core.outcome.errors import CourierError, InvalidInput

    here = options.to_here(args.dest)  # this computer: our receiver or C-GET (issue 13 §2)
    options.check_here_options(args, here)
    destination = HERE if here else _destination(pacs, args)
    if args.verify and not here:  # refused before anything is sent if it cannot be asked
        # (@here is always checked: the files on disk)
        from dicom_courier.core.cli.verify_cmd import verified_destination

        verified_destination(pacs, destination)
    priority = options.priority_from(args.priority)
    _, model = _level_and_model(args)
    started = time.monotonic()
    runner: list[MoveRunner] = []  # set once the moves start (it prints its own summary)
    try:
        if here:
            from dicom_courier.core.cli.move_here_cmd import move_here

            return await move_here(courier, pacs, args, lambda to_here, node, here_args:
                                   _move_with(to_here, node, here_args, destination,
                                              priority, model, runner))
        return await _move_with(courier, pacs, args, destination, priority, model, runner)
    except InvalidInput:
        raise  # a usage error: one line, exit 2, no JSON
    except CourierError as exc:  # --json: scripts still get their summary line (README)
        if args.json and not (runner and runner[0].reported):
            json_summary_without_moves("failed", exc.title, type(exc).__name__, destination,
                                       time.monotonic() - started)
        raise


async def _move_with(courier: Courier, pacs: PacsNode, args: argparse.Namespace,
                     destination: str, priority: Priority, model: QueryModel,
                     runner_out: list[MoveRunner]) -> int:
    import time

    from dicom_courier.core.cli.interrupt import ctrl_c_cancels_all
    from dicom_courier.core.cli.move_cmd import MoveRunner, json_summary_without_moves
    from dicom_courier.core.cli.pacs_answers import (
        move_exit_code,
        nothing_to_send,
        report_resolution,
    )
    from dicom_courier.core.cli.render import stderr
    from dicom_courier.core.cli.safe_text import literal
    from dicom_courier.core.outcome.errors import CourierError
    from dicom_courier.core.qr.uid_targets import check_patient_id

    started = time.monotonic()
    with ctrl_c_cancels_all(courier) as interrupt:  # C-CANCEL, then A-ABORT after the grace
        try:
            resolution = await _move_targets(courier, pacs, args)
        except CourierError:
            if not interrupt.pressed:
                raise
            resolution = None
    if interrupt.pressed:  # a look-up cut short is never sent, not even in part
        stderr.print(literal("cancelled while looking up what to send: nothing was sent"))
        if args.json:
            json_summary_without_moves("cancelled", "Cancelled while looking up what to "
                                       "send: nothing was sent.", "Cancelled", destination,
                                       time.monotonic() - started)
        return EXIT_CANCELLED
    assert resolution is not None
    if not resolution.targets:
        raise nothing_to_send(resolution, pacs.called_aet)
    report_resolution(resolution, as_json=args.json)  # PACS answers left out, odd UIDs
    from dicom_courier.core.cli.send_record import recorded_sends
    from dicom_courier.core.cli.send_warnings import warn_before_send

    with recorded_sends(args.config_dir) as recorder:  # refuses if sends cannot be recorded
        warn_before_send(recorder.store, pacs, destination, resolution.targets,
                         args.config_dir)  # already sent recently, refused last time
        runner = MoveRunner(courier, pacs, destination, model=model, priority=priority,
                            as_json=args.json, recorder=recorder,
                            typed_patient_id=check_patient_id(args.patient_id),
                            verifier=_verifier(courier, pacs, destination, args))
        runner_out.append(runner)
        return move_exit_code(resolution, await runner.run(resolution.targets))


def _verifier(courier: Courier, pacs: PacsNode, destination: str,
              args: argparse.Namespace) -> SendCheck | None:
    """``move --verify``: the arrival check after each move (None without --verify); for
    this computer, the files' own check the ``--dest @here`` path hands over
    (``args.here_verifier``, :class:`.move_here_cmd.HereVerifier`)."""
    from dicom_courier.core.outcome.arrival import HERE

    if destination == HERE:
        here: SendCheck | None = getattr(args, "here_verifier", None)
        return here
    if not args.verify:
        return None
    from dicom_courier.core.cli.verify_cmd import (
        ArrivalVerifier,
        arrival_settings,
        verified_destination,
    )

    settings = arrival_settings(args.config_dir)
    return ArrivalVerifier(courier, pacs, verified_destination(pacs, destination),
                           wait=settings.arrival_wait, interval=settings.arrival_interval,
                           as_json=args.json)


async def _nodes(args: argparse.Namespace) -> int:
    import json

    from dicom_courier.core.cli import options
    from dicom_courier.core.cli.render import stderr, stdout
    from dicom_courier.core.cli.safe_text import literal
    from dicom_courier.core.config.profiles import (
        DEFAULT_MAX_MESSAGE_MB,
        PacsNode,
        validate_ae_title,
        validate_host,
        validate_port,
    )

    store = options.node_store(args)
    action = args.nodes_command  # never None: run() prints the usage for 'nodes' alone
    if action == "add":
        node = PacsNode(
            name=options.profile_name(args.name),
            called_aet=validate_ae_title(args.aet, "--aet"),
            host=validate_host(args.host, "--host"),
            port=validate_port(args.port, "--port"),
            calling_aet=options.calling_aet_from(args),
            timeouts=options.timeouts_from(args),
            destinations=options.queryable_marked(
                tuple(options.destination_from(d) for d in args.dest), args.queryable_dest),
            tls=options.tls_from(args),
            max_message_mb=options.positive_int(args.max_message_mb, "--max-message-mb",
                                                maximum=4096, unit="MB")
            or DEFAULT_MAX_MESSAGE_MB,
            retrieve=options.retrieve_from(args.retrieve),
        )
        if node.tls.enabled:
            from dicom_courier.core.dimse.tls import build_context

            build_context(node.tls)  # unusable certificate files: one line now, not at use
        replaced = store.put(node, replace=args.replace)
        verb = "Replaced" if replaced else "Saved"
        stdout.print(literal(f"{verb} PACS {node.name!r} ({node.called_aet} at {node.host}:"
                             f"{node.port}) in {store.path}"))
        if node.tls.unverified:
            sys.stderr.write(TLS_NO_VERIFY_WARNING + "\n")
        return EXIT_OK
    if action == "list":
        nodes = store.load()
        for problem in store.problems:  # a bad value costs that value: said, not hidden
            stderr.print(literal(f"Warning: {problem}"))
        if args.format == "json":
            sys.stdout.write(json.dumps([n.to_json() for n in nodes], indent=1) + "\n")
        elif not nodes:
            stdout.print(literal(f"No PACS saved yet in {store.path}. Add one with "
                                 "'dicom-courier nodes add NAME --host H --port P --aet AET'."))
        for n in nodes if args.format == "table" else []:
            dests = ", ".join(d.ae_title + (f"@{d.host}:{d.port}" if d.host else "")
                              + (" (queryable)" if d.queryable else "")
                              + (" (default)" if i == 0 else "")
                              for i, d in enumerate(n.destinations)) or "none"
            stdout.print(literal(f"{n.name}: {n.called_aet} at {n.host}:{n.port}, we are "
                                 f"{n.calling_aet}; {n.tls.describe()}; "
                                 f"destinations: {dests}; retrieve here by "
                                 f"{n.retrieve.words}"))
        return EXIT_OK
    if action == "remove":
        store.remove(args.name)
        stdout.print(literal(f"Removed PACS {args.name!r}."))
        return EXIT_OK
    if args.dest is not None or args.probe_study is not None:  # the destination doctor
        from dicom_courier.core.cli.doctor_cmd import run_doctor

        return await run_doctor(store.get(args.name), args)
    return await _nodes_test(store.get(args.name))


async def _nodes_test(node: PacsNode) -> int:
    """Answer the admin's questions about a profile, one line per check."""
    from dicom_courier.core.cli.render import print_error, stdout
    from dicom_courier.core.cli.safe_text import line
    from dicom_courier.core.dimse.diagnose import Verdict, diagnose
    from dicom_courier.core.dimse.engine import Courier

    marks = {Verdict.OK: ("OK", "green"), Verdict.FAILED: ("FAILED", "red"),
             Verdict.UNCLEAR: ("UNCLEAR", "yellow"), Verdict.SKIPPED: ("SKIPPED", "dim"),
             Verdict.WARNING: ("WARNING", "yellow")}
    failures = 0
    with Courier() as courier:
        async for check in diagnose(courier, node):
            stdout.print(line(marks[check.verdict], " ", check.question, " ", check.answer))
            if check.verdict is Verdict.FAILED:
                failures += 1
                if check.error is not None:
                    print_error(check.error)
    return EXIT_FAILED if failures else EXIT_OK
