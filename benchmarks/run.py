"""Issue 12's table, measured: our engine, CLI and window against DCMTK and idle references.

Not a test: nothing here asserts on timings, and pytest never collects it. Run it from the
repository root::

    .venv/bin/python benchmarks/run.py              # every row (~7-9 min on 2 cores)
    .venv/bin/python benchmarks/run.py --quick      # smaller sizes, fewer repeats (~3-4 min)
    .venv/bin/python benchmarks/run.py --only 1,8   # some rows (1-11, "context")
    .venv/bin/python benchmarks/run.py --read-path both   # rows 1, 2, 8, 9 on both read paths

It starts one Orthanc, one storescp (and a dcmqrscp) on loopback in a temporary folder, loads
synthetic studies through Orthanc's REST API, and times the same work done by us and by the
row's reference in the same run, alternating the order of the sides on every repeat. Rows 3-7
come from benchmarks/window_gap.py, startup.py and rows_memory.py, rows 10-11 from
receive_speed.py and window_receive_gap.py (see bench_contract in
benchmarks/README.md); a row whose script is missing or fails is reported "not measured (why)".
Every peer process is stopped at the end, also on error, Ctrl-C or SIGTERM. The table goes to
stdout, every sample to benchmarks/results/latest.json. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = Path(__file__).resolve().parent
# Appended, not prepended (as tests/conftest.py does): the root's core/ must never shadow the
# installed dicom_courier package; we only need the ``tests.peers`` namespace package from it.
if str(REPO_ROOT) not in sys.path:
    sys.path.append(str(REPO_ROOT))

import pydicom  # noqa: E402
import pynetdicom  # noqa: E402
from bench_data import sop_uids, spec_for, upload  # noqa: E402
from bench_report import Row, fill_from, not_measured, run_sub_benchmark, table_lines  # noqa: E402

from dicom_courier import __version__  # noqa: E402
from dicom_courier.core.config.profiles import PacsNode, Timeouts  # noqa: E402
from dicom_courier.core.demo.synthetic import StudySpec, iter_study  # noqa: E402
from dicom_courier.core.dimse.association import finish_association, open_association  # noqa: E402
from dicom_courier.core.dimse.engine import Courier  # noqa: E402
from dicom_courier.core.outcome.errors import ConnectionFailed  # noqa: E402
from dicom_courier.core.qr.query import (  # noqa: E402
    FindQuery,
    MoveRequest,
    MoveTarget,
    QueryLevel,
    QueryModel,
)
from tests.peers import (  # noqa: E402
    DcmqrscpPeer,
    OrthancPeer,
    PeerProcess,
    StorescpPeer,
    dcmtk_binary,
    free_port,
    peer_env,
    reserve_dead_port,
)

CALLING_AET = "COURIER"  # registered in Orthanc; findscu/movescu use it too (-aet COURIER)
DESTINATION_AET = "STORESCP"
RESULTS_DIR = BENCH_DIR / "results"
ALL_ROWS = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "context")
READ_PATH_ROWS = {"1", "2", "8", "9"}  # measured per read path with --read-path both
COURIER_CLI = Path(sys.executable).with_name("dicom-courier")

# Goals of issue 12 (ratio = median ours / median reference; absolute = median ours).
GOAL_FIND_ENGINE = 1.2
GOAL_FIND_CLI = 1.5
GOAL_GAP_P99_MS = 20.0
GOAL_GAP_WORST_MS = 50.0
GOAL_FIRST_PAINT_S = 0.6
GOAL_HELP_S = 0.25
GOAL_RSS_MB = 150.0
GOAL_BIG_MOVE = 1.05
GOAL_MOVES_LOOP = 0.6
GOAL_RECEIVE = 1.5  # issue 13: receiving 500 x 0.5 MB vs storescp


# -- small helpers ---------------------------------------------------------------------------

def log(message: str) -> None:
    print(message, flush=True)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def fmt_s(seconds: float) -> str:
    return f"{seconds:.3f} s"


def timed(func: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = func()
    return time.perf_counter() - started, value


def _cpu_times() -> tuple[int, int] | None:
    """(busy, total) jiffies of the whole machine from /proc/stat, or None off Linux."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def wait_until_quiet(max_wait: float = 20.0, busy_below: float = 0.15) -> float:
    """Wait until the machine is mostly idle (e.g. Orthanc done with "stable" events).

    Returns the busy fraction of the last 0.5 s window. Never waits longer than max_wait.
    """
    deadline = time.monotonic() + max_wait
    busy = 0.0
    while True:
        before = _cpu_times()
        time.sleep(0.5)
        after = _cpu_times()
        if before is None or after is None:
            return 0.0
        busy = (after[0] - before[0]) / max(after[1] - before[1], 1)
        if busy < busy_below or time.monotonic() >= deadline:
            return busy


def node_for(peer: Any) -> PacsNode:
    return PacsNode(name=peer.name, called_aet=peer.aet, host="127.0.0.1", port=peer.port,
                    calling_aet=CALLING_AET, timeouts=Timeouts(connect=5, acse=10, idle=60))


def node_json(peer: Any) -> dict[str, Any]:
    return {"name": peer.name, "called_aet": peer.aet, "host": "127.0.0.1", "port": peer.port,
            "calling_aet": CALLING_AET}


def run_dcmtk(args: Sequence[str], *, capture: bool = False,
              timeout: float = 300.0) -> subprocess.CompletedProcess[str]:
    """One DCMTK tool invocation with TCP_NODELAY=1 (as the peers), output to /dev/null."""
    out = subprocess.PIPE if capture else subprocess.DEVNULL
    return subprocess.run(list(args), env=peer_env(), stdin=subprocess.DEVNULL, stdout=out,
                          stderr=out, text=True, errors="replace", timeout=timeout)


def alternate(sides: dict[str, Callable[[], float]], repeats: int,
              describe: Callable[[dict[str, float]], str] | None = None) -> dict[str, list[float]]:
    """Run every side ``repeats`` times, rotating which goes first; samples per side."""
    samples: dict[str, list[float]] = {name: [] for name in sides}
    names = list(sides)
    for i in range(repeats):
        shift = i % len(names)
        this_round: dict[str, float] = {}
        for name in names[shift:] + names[:shift]:
            this_round[name] = sides[name]()
            samples[name].append(this_round[name])
        text = describe(this_round) if describe else ", ".join(
            f"{name} {fmt_s(value)}" for name, value in this_round.items())
        log(f"  round {i + 1}/{repeats}: {text}")
    return samples


# -- read paths (COURIER_READ_PATH, issue 12 part A) ---------------------------------------------

def effective_read_path() -> str | None:
    """The engine's read path in this process's environment; None if it has no switch."""
    try:
        from dicom_courier.core.dimse.read_path import read_path
    except ImportError:
        return None
    return str(read_path())


def read_path_switch_present() -> bool:
    """Whether the engine in this tree reads COURIER_READ_PATH at all (its source mentions it)."""
    if effective_read_path() is not None:
        return True
    for path in (REPO_ROOT / "core").rglob("*.py"):
        with contextlib.suppress(OSError):
            if "COURIER_READ_PATH" in path.read_text(encoding="utf-8", errors="replace"):
                return True
    return False


def read_paths(choice: str, switch: bool) -> list[tuple[str | None, str | None]]:
    """(label, env value to set) per read path to measure; label None = no switch to name."""
    if choice == "default":
        effective = effective_read_path()
        inherited = os.environ.get("COURIER_READ_PATH")
        label = (f"{effective} ({'from env' if inherited else 'default'})" if effective
                 else None)
        return [(label, None)]
    if not switch:
        log(f"warning: --read-path {choice} asked, but this tree's engine has no "
            "COURIER_READ_PATH switch: measuring its only path once")
        return [(None, None)]
    if choice == "both":
        return [("lean", "lean"), ("pynetdicom", "pynetdicom")]
    return [(choice, choice)]


def env_with(read_path: str | None) -> dict[str, str]:
    env = dict(os.environ)
    if read_path is not None:
        env["COURIER_READ_PATH"] = read_path
    return env


class EngineWorker:
    """benchmarks/engine_worker.py running with one read path: our side of rows 1, 8, 9."""

    def __init__(self, label: str | None, read_path: str | None) -> None:
        self.label = label
        self.name = f"ours[{label}]" if label else "ours"
        self.proc = subprocess.Popen(
            [sys.executable, str(BENCH_DIR / "engine_worker.py")], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True, cwd=str(REPO_ROOT), env=env_with(read_path),
            start_new_session=True)
        self.info = self.call({"op": "info"}, timeout=60)
        effective = self.info.get("effective_read_path")
        if label is not None and effective is not None and not label.startswith(effective):
            raise RuntimeError(f"{self.name}: the engine says it reads with {effective}")

    def call(self, command: dict[str, Any], timeout: float = 900.0) -> dict[str, Any]:
        """Send one command, wait for its answer line; RuntimeError on an error or timeout."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            raise RuntimeError(f"{self.name}: no answer to {command['op']!r} "
                               f"(worker exit code {self.proc.poll()})")
        answer: dict[str, Any] = json.loads(line)
        if answer.get("error") and command["op"] != "moves":
            raise RuntimeError(f"{self.name}: {answer['error']}")
        return answer

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(OSError, ValueError):
                assert self.proc.stdin is not None
                self.proc.stdin.write('{"op": "quit"}\n')
                self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


# -- rows 1 and 2: C-FIND ------------------------------------------------------------------------

def find_query() -> FindQuery:
    """STUDY level, Study Root, our default return keys, universal matching."""
    return FindQuery(level=QueryLevel.STUDY, model=QueryModel.STUDY)


def findscu_keys(query: FindQuery) -> list[str]:
    """The very identifier our engine sends, as findscu ``-k`` options."""
    args: list[str] = []
    for elem in query.to_identifier():
        value = elem.value
        text = "" if value in (None, "") else str(value)
        args += ["-k", f"{elem.keyword}={text}" if text else elem.keyword]
    return args


def findscu_command(peer: Any, query: FindQuery, *, quiet: bool = True) -> list[str]:
    return [dcmtk_binary("findscu"), "-S", *(["-q", "-sr"] if quiet else ["-v"]),
            "-aet", CALLING_AET, "-aec", peer.aet, "127.0.0.1", str(peer.port),
            *findscu_keys(query)]


def findscu_count(peer: Any, query: FindQuery) -> int:
    """Untimed check run: how many pending responses findscu receives."""
    result = run_dcmtk(findscu_command(peer, query, quiet=False), capture=True)
    if result.returncode != 0:
        raise RuntimeError(f"findscu failed ({result.returncode}):\n{result.stderr[-2000:]}")
    text = result.stdout + result.stderr
    return sum(1 for line in text.splitlines()
               if "Find Response:" in line and "(Pending)" in line)


def timed_findscu(command: Sequence[str]) -> float:
    seconds, result = timed(lambda: run_dcmtk(command))
    if result.returncode != 0:
        raise RuntimeError(f"findscu exited with {result.returncode}")
    return seconds


def bench_find_engine(peer: Any, expected: int, repeats: int,
                      workers: Sequence[EngineWorker], rows: Sequence[Row]) -> None:
    """Row 1: our engine's C-FIND (request -> last match, warm process) vs a findscu process."""
    query = find_query()
    command = findscu_command(peer, query)
    # Correctness, untimed: findscu must see every study; so must each side's warm-up run.
    theirs = findscu_count(peer, query)
    if theirs != expected:
        raise RuntimeError(f"findscu received {theirs} matches, expected {expected}")
    totals: dict[str, list[float]] = {w.name: [] for w in workers}

    def ours(worker: EngineWorker) -> float:
        answer = worker.call({"op": "find", "node": node_json(peer), "expected": expected})
        if answer["count"] != expected:
            raise RuntimeError(f"{worker.name}: {answer['count']} of {expected} matches")
        totals[worker.name].append(answer["total_seconds"])
        return float(answer["seconds"])

    for worker in workers:
        ours(worker)  # warm-up, untimed
        totals[worker.name].clear()
    sides: dict[str, Callable[[], float]] = {
        w.name: (lambda w=w: ours(w)) for w in workers}
    sides["findscu"] = lambda: timed_findscu(command)
    samples = alternate(sides, repeats)
    for row, worker in zip(rows, workers, strict=True):
        row.ours, row.theirs = samples[worker.name], samples["findscu"]
        row.details = {
            "matches": expected, "findscu_command": " ".join(command),
            "return_keys": [e.keyword for e in query.to_identifier()],
            "ours_with_courier_setup_and_close_s": totals[worker.name],
            "worker_read_path_env": worker.info.get("read_path_env"),
            "worker_effective_read_path": worker.info.get("effective_read_path"),
            "timed": "ours: first request byte to last match yielded, inside a warm process "
                     "(association set-up included, release not); findscu: whole process "
                     "(start, association, all responses, release)"}


def cli_command(peer: Any, config_dir: Path, fmt: str) -> list[str]:
    return [str(COURIER_CLI), "--config-dir", str(config_dir), "find", "--host", "127.0.0.1",
            "--port", str(peer.port), "--aet", peer.aet, "--calling-aet", CALLING_AET,
            "--level", "STUDY", "--model", "study", "--format", fmt]


def count_cli_rows(path: Path, fmt: str) -> int:
    text = path.read_text(encoding="utf-8")
    if fmt == "json":
        return len(json.loads(text))
    import csv
    return max(0, sum(1 for _ in csv.reader(text.splitlines())) - 1)


def bench_find_cli(peer: Any, expected: int, repeats: int,
                   paths: Sequence[tuple[str | None, str | None]], tmp: Path, fmt: str,
                   rows: Sequence[Row]) -> None:
    """Row 2: ``dicom-courier find ... --format json > file`` process vs a findscu process."""
    query = find_query()
    command = findscu_command(peer, query)
    config_dir = tmp / "cli-config"
    out_path = tmp / f"cli-out.{fmt}"
    cli = cli_command(peer, config_dir, fmt)

    def ours(read_path: str | None) -> float:
        # As installed: compiled modules cached (.pyc), written by the warm-up run below.
        env = env_with(read_path)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        with out_path.open("w", encoding="utf-8") as out:
            seconds, result = timed(lambda: subprocess.run(
                cli, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.PIPE, text=True,
                errors="replace", env=env, timeout=300))
        if result.returncode != 0:
            raise RuntimeError(f"dicom-courier find exited with {result.returncode}: "
                               f"{result.stderr[-500:]}")
        count = count_cli_rows(out_path, fmt)
        if count != expected:
            raise RuntimeError(f"dicom-courier find printed {count} of {expected} rows")
        return seconds

    for _label, read_path in paths:
        ours(read_path)  # warm-up (page cache, config folder), untimed; checks the count
    names = [f"cli[{label}]" if label else "cli" for label, _ in paths]
    sides: dict[str, Callable[[], float]] = {
        name: (lambda rp=rp: ours(rp)) for name, (_, rp) in zip(names, paths, strict=True)}
    sides["findscu"] = lambda: timed_findscu(command)
    samples = alternate(sides, repeats)
    for row, name in zip(rows, names, strict=True):
        row.ours, row.theirs = samples[name], samples["findscu"]
        row.details = {"matches": expected, "command": " ".join(cli) + f" > {out_path.name}",
                       "findscu_command": " ".join(command),
                       "checked": f"exit code 0 and {expected} rows in the {fmt} output, every run"}


# -- rows 8 and 9: C-MOVE ------------------------------------------------------------------------

def movescu_command(peer: Any, uid: str, port: int | None = None) -> list[str]:
    return [dcmtk_binary("movescu"), "-S", "-q", "-aet", CALLING_AET, "-aec", peer.aet,
            "-aem", DESTINATION_AET, "127.0.0.1", str(port if port is not None else peer.port),
            "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={uid}"]


def dcmtk_moves(peer: Any, uids: Sequence[str]) -> list[float]:
    durations = []
    for uid in uids:
        seconds, result = timed(lambda uid=uid: run_dcmtk(movescu_command(peer, uid)))
        if result.returncode != 0:
            raise RuntimeError(f"movescu of {uid} exited with {result.returncode}")
        durations.append(seconds)
    return durations


def check_arrived(storescp: StorescpPeer, expected_sops: set[str], who: str) -> None:
    """Every instance of the round is on disk, nothing else; then empty the folder."""
    files = storescp.wait_for_files(len(expected_sops), timeout=120)
    names = {p.name.split(".", 1)[1] for p in files}
    if names != expected_sops or len(files) != len(expected_sops):
        raise RuntimeError(f"{who}: {len(files)} files arrived, expected {len(expected_sops)} "
                           f"({len(expected_sops - names)} missing)")
    storescp.clear()


def bench_moves(peer: Any, specs: Sequence[StudySpec], storescp: StorescpPeer, rounds: int,
                workers: Sequence[EngineWorker], *, single: bool) -> dict[str, Any]:
    """Move every study of ``specs`` once per side per round; samples per side.

    ``single`` (row 8, one study): a sample is that one move, request -> final response for
    us, the movescu process for DCMTK. Otherwise (row 9): a sample is the whole round.
    Every round's instances must all arrive (checked by SOP Instance UID) before the folder is
    emptied, so a failed round can never look fast.
    """
    node = node_json(peer)
    uids = [s.study_uid for s in specs]
    per_study = specs[0].instance_count
    expected = sop_uids(specs)
    storescp.clear()
    each: dict[str, list[float]] = {w.name: [] for w in workers}
    each["movescu"] = []

    def ours(worker: EngineWorker, these: Sequence[str], check: set[str]) -> float:
        answer = worker.call({"op": "moves", "node": node, "uids": list(these),
                              "per_study": per_study, "destination": DESTINATION_AET})
        if answer.get("error"):
            raise RuntimeError(f"{worker.name}: {answer['error']}")
        check_arrived(storescp, check, worker.name)
        each[worker.name].extend(answer["each"])
        return float(answer["each"][0] if single else answer["seconds"])

    def theirs(these: Sequence[str], check: set[str]) -> float:
        seconds, durations = timed(lambda: dcmtk_moves(peer, these))
        check_arrived(storescp, check, "movescu")
        each["movescu"].extend(durations)
        return seconds

    # Warm-up (untimed): one study each way (for row 8: the big one), proves the destination.
    warm = sop_uids(specs[:1])
    for worker in workers:
        ours(worker, uids[:1], warm)
    theirs(uids[:1], warm)
    for samples in each.values():
        samples.clear()
    sides: dict[str, Callable[[], float]] = {
        w.name: (lambda w=w: ours(w, uids, expected)) for w in workers}
    sides["movescu"] = lambda: theirs(uids, expected)
    samples = alternate(sides, rounds, lambda r: ", ".join(
        f"{k} {fmt_s(v)}" for k, v in r.items()) + f"  (all {len(expected)} instances arrived)")
    return {"samples": samples, "each": each, "uids": len(uids), "per_study": per_study,
            "command": " ".join(movescu_command(peer, "<StudyInstanceUID>"))}


def fill_move_rows(rows: Sequence[Row], archive: str, result: dict[str, Any],
                   workers: Sequence[EngineWorker]) -> None:
    for row, worker in zip(rows, workers, strict=True):
        row.ours, row.theirs = result["samples"][worker.name], result["samples"]["movescu"]
        row.details = {
            "archive": archive, "studies": result["uids"],
            "instances_per_study": result["per_study"], "movescu_command": result["command"],
            "ours_per_move_s": result["each"][worker.name],
            "movescu_per_move_s": result["each"]["movescu"],
            "worker_read_path_env": worker.info.get("read_path_env"),
            "worker_effective_read_path": worker.info.get("effective_read_path")}


# -- the rows of issue 12's table ----------------------------------------------------------------

def make_row(number: str, args: argparse.Namespace, read_path: str | None = None) -> Row:
    """An empty row of the table, with its measure, reference, unit and goal."""
    gap = "window loop gap"
    specs: dict[str, tuple[str, str, str, str | None, float | None]] = {
        "1": (f"C-FIND {args.studies:,} studies, engine (request -> last match)",
              "findscu process", "s", "ratio", GOAL_FIND_ENGINE),
        "2": (f"C-FIND {args.studies:,} studies, CLI whole process ({args.cli_format} to a file)",
              "findscu process", "s", "ratio", GOAL_FIND_CLI),
        "3 p99": (f"{gap}, {args.window_studies:,}-study search + 4 x {args.window_images:,}-"
                  "image moves, p99", "idle p99", "ms", "absolute", GOAL_GAP_P99_MS),
        "3 worst": (f"{gap}, {args.window_studies:,}-study search + 4 x {args.window_images:,}-"
                    "image moves, worst", "idle worst", "ms", "absolute", GOAL_GAP_WORST_MS),
        "4 worst": (f"{gap}, search only, worst", "idle worst", "ms", "absolute",
                    GOAL_GAP_WORST_MS),
        "4 p99": (f"{gap}, search only, p99", "idle p99", "ms", None, None),
        "5": ("process start -> first painted main window", "bare PySide6 window", "s",
              "absolute", GOAL_FIRST_PAINT_S),
        "6": ("dicom-courier --help, whole process", "-", "s", "absolute", GOAL_HELP_S),
        "7": ("process RSS, 50,000 rows in the results grid", "-", "MB", "absolute",
              GOAL_RSS_MB),
        "8": (f"C-MOVE 1 study x {args.big_images:,} x 0.5 MB (request -> final response)",
              "movescu process", "s", "ratio", GOAL_BIG_MOVE),
        "9": (f"{args.moves} single-study moves in a loop (orthanc, {args.instances} images "
              "each)", "movescu processes", "s", "ratio", GOAL_MOVES_LOOP),
        "10": ("receive 500 x 0.5 MB from storescu, `dicom-courier receive` process",
               "storescp process", "s", "ratio", GOAL_RECEIVE),
        "11 move p99": (f"{gap}, window's receiver takes a C-MOVE of {args.receive_gap_images:,}"
                        " x 0.5 MB (queue row counting), p99", "idle p99", "ms", "absolute",
                        GOAL_GAP_P99_MS),
        "11 move worst": (f"{gap}, window's receiver takes a C-MOVE of "
                          f"{args.receive_gap_images:,} x 0.5 MB (queue row counting), worst",
                          "idle worst", "ms", "absolute", GOAL_GAP_WORST_MS),
        "11 x4 p99": (f"{gap}, the same images as 4 studies sent to this computer at once (4 "
                      "receiver associations, 4 rows counting), p99", "idle p99", "ms",
                      "absolute", GOAL_GAP_P99_MS),
        "11 x4 worst": (f"{gap}, the same images as 4 studies sent to this computer at once "
                        "(4 receiver associations, 4 rows counting), worst", "idle worst",
                        "ms", "absolute", GOAL_GAP_WORST_MS),
        "11 push p99": (f"{gap}, storescu pushes {args.receive_gap_images:,} x 0.5 MB into the "
                        "window's receiver, p99", "idle p99", "ms", "absolute", GOAL_GAP_P99_MS),
        "11 push worst": (f"{gap}, storescu pushes {args.receive_gap_images:,} x 0.5 MB into "
                          "the window's receiver, worst", "idle worst", "ms", "absolute",
                          GOAL_GAP_WORST_MS),
        "9 (dcmqrscp)": (f"{args.moves} single-study moves in a loop (dcmqrscp, "
                         f"{args.instances} images each)", "movescu processes", "s", "ratio",
                         GOAL_MOVES_LOOP),
    }
    measure, reference, unit, kind, goal = specs[number]
    return Row(number, measure, reference, unit, kind, goal, read_path=read_path)


def bench_window(orthanc: Any, move_uids: Sequence[str], studies: int,
                 args: argparse.Namespace, env: dict[str, str], rows: dict[str, Row],
                 subs: dict[str, Any]) -> None:
    """Rows 3 and 4 from benchmarks/window_gap.py against our loaded Orthanc (``studies``)."""
    script = "window_gap.py"
    result, why = run_sub_benchmark(script, [
        "--host", "127.0.0.1", "--port", str(orthanc.port), "--called-aet", orthanc.aet,
        "--calling-aet", CALLING_AET, "--dest-aet", DESTINATION_AET,
        "--move-studies", ",".join(move_uids), "--repeats", str(args.sub_repeats),
    ], timeout=args.window_timeout, env=env, log=log)
    subs[script] = result if result is not None else {"not_measured": why}
    names = {"3 p99": ("search_moves_p99", "idle_p99"),
             "3 worst": ("search_moves_max", "idle_max"),
             "4 worst": ("search_max", "idle_max"),
             "4 p99": ("search_p99", "idle_p99")}
    fill_from(result, why, script,
              [(rows[key], ours, ref) for key, (ours, ref) in names.items() if key in rows])
    if result is None:
        return
    problems = window_problems(result.get("info") or {}, studies, len(move_uids),
                               args.window_images)
    for row in rows.values():
        row.details["sanity"] = problems or "every repeat: all matches, all moves completed"
        if problems and row.why_not is None:
            row.why_not = f"{script}: {problems[0]}" + (
                f" (+{len(problems) - 1} more, see JSON)" if len(problems) > 1 else "")


def window_problems(info: dict[str, Any], studies: int, moves: int, images: int) -> list[str]:
    """What window_gap.py's own report says went wrong (a failed run must not look fast).

    Reads ``info["runs"]``: per repeat, ``*_matches`` counts (each must be ``studies``) and
    ``moves`` (``moves`` entries, each outcome "completed" with ``images`` completed). A report
    without ``runs`` is one problem: nothing says the work was done.
    """
    runs = info.get("runs")
    if not isinstance(runs, list) or not runs:
        return ["its report has no per-repeat 'runs' to check matches and moves against"]
    problems = []
    for number, run in enumerate(runs, 1):
        if not isinstance(run, dict):
            problems.append(f"repeat {number}: unreadable report")
            continue
        for key, value in run.items():
            if key.endswith("matches") and value != studies:
                problems.append(f"repeat {number}: {key} = {value}, the PACS holds {studies}")
        done = run.get("moves")
        if not isinstance(done, list) or len(done) != moves:
            problems.append(f"repeat {number}: {len(done) if isinstance(done, list) else 'no'} "
                            f"move reports, expected {moves}")
            continue
        for move in done:
            if (not isinstance(move, dict) or move.get("outcome") != "completed"
                    or move.get("completed") != images):
                problems.append(f"repeat {number}: a move ended {move!r:.120}")
    return problems


def bench_startup_rows(args: argparse.Namespace, env: dict[str, str], rows: dict[str, Row],
                       subs: dict[str, Any]) -> None:
    """Rows 5 and 6 from benchmarks/startup.py."""
    script = "startup.py"
    result, why = run_sub_benchmark(script, ["--repeats", str(args.sub_repeats)],
                                    timeout=args.sub_timeout, env=env, log=log)
    subs[script] = result if result is not None else {"not_measured": why}
    pairs = []
    if "5" in rows:
        pairs.append((rows["5"], "first_paint_courier_s", "first_paint_bare_pyside6_s"))
    if "6" in rows:
        pairs.append((rows["6"], "help_s", None))
    fill_from(result, why, script, pairs)


def supports_option(script: str, option: str) -> bool:
    """Whether ``benchmarks/<script> --help`` lists ``option`` (False if that fails)."""
    try:
        result = subprocess.run([sys.executable, str(BENCH_DIR / script), "--help"],
                                capture_output=True, text=True, timeout=60, cwd=str(REPO_ROOT))
    except (OSError, subprocess.SubprocessError):
        return False
    return result.returncode == 0 and option in result.stdout


def bench_receive_row(args: argparse.Namespace, env: dict[str, str], row: Row,
                      subs: dict[str, Any]) -> None:
    """Row 10 (issue 13) from benchmarks/receive_speed.py: storescu -> our receiver process
    vs storescp (the naive pynetdicom SCP and our pynetdicom path are kept as context)."""
    script = "receive_speed.py"
    result, why = run_sub_benchmark(script, ["--repeats", str(max(3, args.sub_repeats))],
                                    timeout=args.sub_timeout, env=env, log=log)
    subs[script] = result if result is not None else {"not_measured": why}
    fill_from(result, why, script, [(row, "receive_courier_s", "receive_storescp_s")])
    if result is not None:
        for name in ("receive_courier_pynetdicom_path_s", "receive_naive_pynetdicom_s"):
            row.details[name] = result.get("rows", {}).get(name)


def bench_receive_gap_rows(args: argparse.Namespace, env: dict[str, str],
                           rows: Sequence[Row], subs: dict[str, Any]) -> None:
    """Row 11 (issue 13) from benchmarks/window_receive_gap.py: the real window's loop gap
    while its own receiver takes a C-MOVE through the queue, the same images as 4 studies sent
    at once (x4), and a storescu push (its own Orthanc; the idle window as the reference)."""
    script = "window_receive_gap.py"
    result, why = run_sub_benchmark(script, [
        "--repeats", str(args.sub_repeats), "--images", str(args.receive_gap_images),
    ], timeout=args.window_timeout, env=env, log=log)
    subs[script] = result if result is not None else {"not_measured": why}
    names = {"11 move p99": ("move_here_p99", "idle_p99"),
             "11 move worst": ("move_here_max", "idle_max"),
             "11 x4 p99": ("move_here_parallel_p99", "idle_p99"),
             "11 x4 worst": ("move_here_parallel_max", "idle_max"),
             "11 push p99": ("push_p99", "idle_p99"),
             "11 push worst": ("push_max", "idle_max")}
    fill_from(result, why, script, [(row, *names[row.row]) for row in rows])
    if result is None:
        return
    info = result.get("info") or {}
    problems = info.get("problems")
    if not isinstance(problems, list) or not info.get("runs"):
        problems = ["its report has no per-repeat 'runs' and 'problems' to check arrivals"]
    for row in rows:
        row.details["seconds"] = {k: result.get("rows", {}).get(k)
                                  for k in ("move_here_s", "move_here_parallel_s", "push_s")}
        row.details["sanity"] = problems or ("every repeat: every send to this computer "
                                             "completed with every image received and on "
                                             "disk; storescu exited 0, every file on disk")
        if problems and row.why_not is None:
            row.why_not = f"{script}: {problems[0]}" + (
                f" (+{len(problems) - 1} more, see JSON)" if len(problems) > 1 else "")


def bench_rss_row(args: argparse.Namespace, env: dict[str, str], row: Row,
                  subs: dict[str, Any]) -> None:
    """Row 7 from benchmarks/rows_memory.py (the empty window's RSS kept as context)."""
    script = "rows_memory.py"
    # Its tracemalloc breakdown (a separate, slow process) guides work; it is no measurement.
    extra = ["--no-trace"] if supports_option(script, "--no-trace") else []
    result, why = run_sub_benchmark(script, ["--repeats", str(args.sub_repeats), *extra],
                                    timeout=args.sub_timeout, env=env, log=log)
    subs[script] = result if result is not None else {"not_measured": why}
    fill_from(result, why, script, [(row, "rss_50k_rows_mb", None)])
    if result is not None:
        empty = result.get("rows", {}).get("rss_empty_window_mb")
        row.details["rss_empty_window_mb"] = empty


# -- context (not a row): per-process and per-association costs, Nagle ------------------------

def bench_context(peer: Any, dead_port: int, samples: int) -> dict[str, Any]:
    """What one DCMTK process costs before any DICOM work, vs our in-process equivalents.

    * movescu to a port that refuses at once: exec + dictionary + network set-up, no DICOM.
    * echoscu vs our Courier.echo: one full association (A-ASSOCIATE, C-ECHO, A-RELEASE),
      with and without a process start.
    * our move to the refusing port: in-process, but pynetdicom's A-ABORT path sleeps 0.1 s.
    """
    movescu = dcmtk_binary("movescu")
    version = [timed(lambda: run_dcmtk([movescu, "--version"]))[0] for _ in range(samples)]
    refused_cmd = movescu_command(peer, "1.2.3", port=dead_port)
    refused = [timed(lambda: run_dcmtk(refused_cmd))[0] for _ in range(samples)]
    echo_cmd = [dcmtk_binary("echoscu"), "-q", "-aet", CALLING_AET, "-aec", peer.aet,
                "127.0.0.1", str(peer.port)]
    echoscu = [timed(lambda: run_dcmtk(echo_cmd))[0] for _ in range(samples)]

    node = node_for(peer)
    dead_node = node.with_changes(port=dead_port)

    async def ours() -> tuple[list[float], list[float]]:
        echoes, failures = [], []
        with Courier() as courier:
            await courier.echo(node)  # warm-up
            for _ in range(samples):
                started = time.perf_counter()
                await courier.echo(node)
                echoes.append(time.perf_counter() - started)
            for _ in range(samples):
                started = time.perf_counter()
                result = await courier.move(
                    dead_node, MoveRequest(MoveTarget("1.2.3"), DESTINATION_AET)).run()
                failures.append(time.perf_counter() - started)
                if not isinstance(result.error, ConnectionFailed):
                    raise RuntimeError(f"expected a refused connection, got {result!r}")
        return echoes, failures

    ours_echo, ours_refused = asyncio.run(ours())
    python_import = [timed(lambda: subprocess.run(
        [sys.executable, "-c", "import dicom_courier.core.dimse.engine"], check=True))[0]
        for _ in range(3)]
    out = {
        "samples": samples,
        "movescu_version_ms": median(version) * 1000,
        "movescu_refused_ms": median(refused) * 1000,
        "echoscu_process_ms": median(echoscu) * 1000,
        "ours_echo_in_process_ms": median(ours_echo) * 1000,
        "ours_refused_in_process_ms": median(ours_refused) * 1000,
        "python_start_and_import_engine_ms": median(python_import) * 1000,
    }
    log(f"  movescu process, connection refused: {out['movescu_refused_ms']:.1f} ms "
        f"(movescu --version: {out['movescu_version_ms']:.1f} ms)")
    log(f"  one C-ECHO association: echoscu process {out['echoscu_process_ms']:.1f} ms, "
        f"ours in-process {out['ours_echo_in_process_ms']:.1f} ms")
    log(f"  ours in-process, connection refused: {out['ours_refused_in_process_ms']:.1f} ms "
        "(pynetdicom sleeps 0.1 s in Association.abort)")
    log(f"  a new Python process importing the engine: "
        f"{out['python_start_and_import_engine_ms']:.0f} ms (paid once by our loop)")
    return out


def nagle_status(peer: Any) -> dict[str, Any]:
    """Read TCP_NODELAY on a socket opened by the engine's own open_association()."""
    assoc = open_association(node_for(peer), [QueryModel.STUDY.find_uid])
    try:
        raw = assoc.dul.socket.socket
        ours = bool(raw.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
    finally:
        finish_association(assoc, clean=True)
    dcmtk: bool | None = None
    strace = shutil.which("strace")
    if strace:
        # DCMTK disables Nagle when TCP_NODELAY=1 is in its environment (peer_env() sets it).
        result = run_dcmtk([strace, "-f", "-e", "trace=setsockopt",
                            *movescu_command(peer, "1.2.3")], capture=True)
        dcmtk = "TCP_NODELAY, [1]" in result.stderr
    return {"ours_tcp_nodelay": ours, "dcmtk_tcp_nodelay": dcmtk,
            "dcmtk_env_TCP_NODELAY": peer_env().get("TCP_NODELAY"),
            "dcmtk_checked_with": "strace" if strace else None}


# -- main ----------------------------------------------------------------------------------------

def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    size = parser.add_argument_group("sizes (--quick: smaller)")
    size.add_argument("--studies", type=int, default=5000, help="C-FIND matches, rows 1-2")
    size.add_argument("--window-studies", type=int, default=10000,
                      help="studies the window's search returns, rows 3-4 (at least)")
    size.add_argument("--window-images", type=int, default=1000,
                      help="images in each of the 4 studies the window moves, row 3")
    size.add_argument("--big-images", type=int, default=1000, help="0.5 MB images moved, row 8")
    size.add_argument("--moves", type=int, default=50, help="studies moved per round, row 9")
    size.add_argument("--receive-gap-images", type=int, default=1000,
                      help="0.5 MB images the window's receiver takes per phase, row 11")
    size.add_argument("--instances", type=int, default=3, help="images per study, row 9")
    rep = parser.add_argument_group("repeats")
    rep.add_argument("--find-repeats", type=int, default=5, help="rows 1-2")
    rep.add_argument("--move-rounds", type=int, default=3, help="rows 8-9")
    rep.add_argument("--sub-repeats", type=int, default=3,
                     help="--repeats of window_gap.py, startup.py, rows_memory.py (rows 3-7)")
    parser.add_argument("--only", default=",".join(ALL_ROWS),
                        help="comma-separated rows to measure: 1-11 and 'context' (default: all)")
    parser.add_argument("--read-path", choices=("default", "lean", "pynetdicom", "both"),
                        default="default",
                        help="COURIER_READ_PATH for the engine; 'both' measures rows 1, 2, 8, "
                             "9 on each path (rows 3-7 run with the default)")
    parser.add_argument("--cli-format", choices=("json", "csv"), default="json",
                        help="row 2's --format")
    parser.add_argument("--upload-workers", type=int, default=4)
    parser.add_argument("--no-dcmqrscp", action="store_true",
                        help="skip row 9's second archive (dcmqrscp)")
    parser.add_argument("--window-timeout", type=float, default=900.0,
                        help="seconds window_gap.py (and window_receive_gap.py) may take "
                             "before it counts as not measured")
    parser.add_argument("--sub-timeout", type=float, default=300.0,
                        help="the same for startup.py and rows_memory.py")
    parser.add_argument("--quick", action="store_true",
                        help="1,000 find studies, 2,000 window studies, 4 x 200 window images, "
                             "100 big images, 20 moves, 200 receive-gap images; 3 find "
                             "repeats, 2 move rounds, "
                             "1 sub-benchmark repeat")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "latest.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.studies, args.window_studies, args.window_images = 1000, 2000, 200
        args.big_images, args.moves, args.receive_gap_images = 100, 20, 200
        args.find_repeats, args.move_rounds, args.sub_repeats = 3, 2, 1
    args.only = [r.strip() for r in args.only.split(",") if r.strip()]
    unknown = sorted(set(args.only) - set(ALL_ROWS))
    if unknown:
        parser.error(f"--only: unknown rows {', '.join(unknown)} (known: {', '.join(ALL_ROWS)})")
    return args


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def load(orthanc: OrthancPeer, what: str, specs: Sequence[StudySpec], workers: int,
         loads: dict[str, Any], *, big: bool = False) -> None:
    if not specs:
        return
    images = sum(s.instance_count for s in specs)
    seconds, stored = timed(lambda: upload(orthanc, specs, workers, big=big))
    if stored != images:
        raise RuntimeError(f"Orthanc accepted {stored} of {images} instances ({what})")
    loads[what] = {"studies": len(specs), "instances": images, "seconds": seconds,
                   "per_instance_ms": seconds / images * 1000}
    log(f"loaded {what}: {len(specs):,} studies, {images:,} instances in {fmt_s(seconds)} "
        f"({workers} upload threads)")


def study_count(orthanc: OrthancPeer) -> int:
    return int(orthanc.rest_get("/statistics")["CountStudies"])


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    only = set(args.only)
    # SIGTERM unwinds like Ctrl-C, so the finally blocks below stop every peer and worker.
    signal.signal(signal.SIGTERM, _raise_interrupt)
    started = time.perf_counter()
    switch = read_path_switch_present()
    paths = read_paths(args.read_path, switch)
    global_path = args.read_path if switch and args.read_path in ("lean", "pynetdicom") else None
    sub_env = env_with(global_path)
    results: dict[str, Any] = {
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "environment": {
            "python": platform.python_version(),
            "dicom_courier": __version__,
            "pydicom": pydicom.__version__,
            "pynetdicom": pynetdicom.__version__,
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "findscu": run_dcmtk([dcmtk_binary("findscu"), "--version"],
                                 capture=True).stdout.splitlines()[0],
            "read_path_switch_in_engine": switch,
            "COURIER_READ_PATH_inherited": os.environ.get("COURIER_READ_PATH"),
            "read_paths_measured": [label for label, _ in paths],
            "read_path_rows_3_to_7": global_path or effective_read_path(),
        },
        "load_average_at_start": os.getloadavg(),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
    }
    # Every row selected, in the order; each phase fills its rows or says why not.
    labels = [label for label, _ in paths]
    table: dict[str, list[Row]] = {}
    for number in ALL_ROWS:
        if number not in only or number == "context":
            continue
        if number in READ_PATH_ROWS:
            names = [number] + (["9 (dcmqrscp)"] if number == "9" and not args.no_dcmqrscp
                                else [])
            table[number] = [make_row(n, args, label) for n in names for label in labels]
        elif number in ("3", "4"):  # the engine reads with the default path (or --read-path)
            window_path = global_path or read_paths("default", switch)[0][0]
            table[number] = [make_row(f"{number} {k}", args, window_path) for k in
                             (("p99", "worst") if number == "3" else ("worst", "p99"))]
        elif number == "11":
            table[number] = [make_row(f"11 {k}", args) for k in
                             ("move p99", "move worst", "x4 p99", "x4 worst", "push p99",
                              "push worst")]
        else:
            table[number] = [make_row(number, args)]
    subs: dict[str, Any] = {}
    errors: list[str] = []
    quiet: dict[str, float] = {}
    loads: dict[str, Any] = {}

    phase_seconds: dict[str, float] = {}

    def phase(name: str, rows: Sequence[Row], work: Callable[[], None]) -> None:
        """Run one phase; an error marks its unmeasured rows 'not measured' and goes on."""
        phase_started = time.perf_counter()
        try:
            work()
            phase_seconds[name] = time.perf_counter() - phase_started
            log(f"  [{name}: {phase_seconds[name]:.0f} s]")
        except Exception as exc:  # noqa: BLE001 - one failed row must not end the run
            why = f"{type(exc).__name__}: {exc}".strip()
            errors.append(f"{name}: {why}")
            log(f"  {name} failed: {why}")
            not_measured(rows, why[:300])

    tmp = Path(tempfile.mkdtemp(prefix="courier-bench-"))
    dead_sock = reserve_dead_port()
    dead_port = int(dead_sock.getsockname()[1])
    peers: list[PeerProcess] = []
    workers: list[EngineWorker] = []
    try:
        with contextlib.ExitStack() as stack:
            stack.callback(lambda: [p.stop() for p in reversed(peers)])
            stack.callback(lambda: [w.close() for w in workers])

            # Rows 5-7 first, on a machine with nothing loaded yet.
            if "5" in table or "6" in table:
                log("\nROWS 5-6: start-up (benchmarks/startup.py)")
                quiet["before_startup"] = wait_until_quiet()
                startup_rows = {r.row: r for n in ("5", "6") for r in table.get(n, [])}
                phase("rows 5-6", list(startup_rows.values()),
                      lambda: bench_startup_rows(args, sub_env, startup_rows, subs))
            if "7" in table:
                log("\nROW 7: 50,000 rows RSS (benchmarks/rows_memory.py)")
                quiet["before_rss"] = wait_until_quiet()
                phase("row 7", table["7"],
                      lambda: bench_rss_row(args, sub_env, table["7"][0], subs))

            if "10" in table:
                log("\nROW 10: receive 500 x 0.5 MB from storescu (benchmarks/receive_speed.py)")
                quiet["before_receive"] = wait_until_quiet()
                phase("row 10", table["10"],
                      lambda: bench_receive_row(args, sub_env, table["10"][0], subs))
            if "11" in table:
                log(f"\nROW 11: the window's loop while its receiver takes "
                    f"{args.receive_gap_images:,} x 0.5 MB (benchmarks/window_receive_gap.py)")
                quiet["before_receive_gap"] = wait_until_quiet()
                phase("row 11", table["11"],
                      lambda: bench_receive_gap_rows(args, sub_env, table["11"], subs))
            needs_peers = bool(only & {"1", "2", "3", "4", "8", "9", "context"})
            if not needs_peers:
                raise _Done
            destination_port = free_port()
            storescp = StorescpPeer(tmp / "received", destination_port, workdir=tmp / "storescp",
                                    aet=DESTINATION_AET)
            peers.append(storescp)
            storescp.start()
            # 8 DICOM threads: the window's search and its 4 moves are 5 associations at once
            # (Orthanc 1.10 serves 4 by default and queues the rest).
            orthanc = OrthancPeer(tmp / "orthanc", destination_port=destination_port,
                                  dead_port=dead_port, calling_aet=CALLING_AET,
                                  known_destination=DESTINATION_AET, binary="Orthanc",
                                  extra_config={"DicomThreadsCount": 8})
            peers.append(orthanc)
            orthanc.start()
            log(f"\nOrthanc on {orthanc.port}, storescp on {destination_port}, tmp {tmp}")
            if only & READ_PATH_ROWS:
                workers.extend(EngineWorker(label, rp) for label, rp in paths)
                for worker in workers:
                    log(f"  engine worker {worker.name}: pid {worker.info['pid']}, "
                        f"COURIER_READ_PATH={worker.info['read_path_env']}, reads with "
                        f"{worker.info['effective_read_path']}")
            results["nagle"] = nagle_status(orthanc)

            # Rows 1-2 on exactly --studies studies (nothing else is loaded yet).
            find_specs = [spec_for("find", i, instances=1) for i in range(args.studies)]
            if only & {"1", "2", "3", "4"}:
                load(orthanc, "find studies", find_specs, args.upload_workers, loads)
                if study_count(orthanc) != args.studies:
                    raise RuntimeError(f"Orthanc holds {study_count(orthanc)} studies, "
                                       f"expected {args.studies}")
            if "1" in table:
                log(f"\nROW 1: C-FIND, STUDY level, Study Root, {args.studies:,} matches, "
                    f"{args.find_repeats} repeats (rotating order)")
                quiet["before_row_1"] = wait_until_quiet()
                phase("row 1", table["1"], lambda: bench_find_engine(
                    orthanc, args.studies, args.find_repeats, workers, table["1"]))
            if "2" in table:
                log(f"\nROW 2: the same through the CLI, whole process, {args.find_repeats} "
                    "repeats")
                quiet["before_row_2"] = wait_until_quiet()
                phase("row 2", table["2"], lambda: bench_find_cli(
                    orthanc, args.studies, args.find_repeats, paths, tmp, args.cli_format,
                    table["2"]))

            # Rows 9 and 8: their studies come after the C-FIND rows.
            if "9" in table:
                move_specs = [spec_for("move", i, instances=args.instances)
                              for i in range(args.moves)]
                orthanc_rows = [r for r in table["9"] if r.row == "9"]
                dcmqrscp_rows = [r for r in table["9"] if r.row != "9"]

                def row_9() -> None:
                    load(orthanc, "move studies", move_specs, args.upload_workers, loads)
                    quiet["before_row_9"] = wait_until_quiet()
                    log(f"\nROW 9: {args.moves} single-study moves (Orthanc, "
                        f"{args.instances} images each), {args.move_rounds} rounds")
                    fill_move_rows(orthanc_rows, "orthanc", bench_moves(
                        orthanc, move_specs, storescp, args.move_rounds, workers,
                        single=False), workers)

                def row_9_dcmqrscp() -> None:
                    dcmqrscp = DcmqrscpPeer(tmp / "dcmqrscp", destination_port=destination_port,
                                            dead_port=dead_port, calling_aet=CALLING_AET,
                                            known_destination=DESTINATION_AET)
                    peers.append(dcmqrscp)
                    dcmqrscp.load([ds for spec in move_specs for ds in iter_study(spec)])
                    dcmqrscp.start()
                    quiet["before_row_9_dcmqrscp"] = wait_until_quiet()
                    log(f"\nROW 9 (dcmqrscp): the same {args.moves} studies, "
                        f"{args.move_rounds} rounds")
                    fill_move_rows(dcmqrscp_rows, "dcmqrscp", bench_moves(
                        dcmqrscp, move_specs, storescp, args.move_rounds, workers,
                        single=False), workers)

                phase("row 9", orthanc_rows, row_9)
                if dcmqrscp_rows:
                    phase("row 9 (dcmqrscp)", dcmqrscp_rows, row_9_dcmqrscp)
            if "8" in table:
                big_specs = [spec_for("big", 0, instances=args.big_images)]

                def row_8() -> None:
                    load(orthanc, "0.5 MB images", big_specs, args.upload_workers, loads,
                         big=True)
                    quiet["before_row_8"] = wait_until_quiet()
                    log(f"\nROW 8: C-MOVE of 1 study x {args.big_images:,} x 0.5 MB, "
                        f"{args.move_rounds} rounds")
                    fill_move_rows(table["8"], "orthanc", bench_moves(
                        orthanc, big_specs, storescp, args.move_rounds, workers, single=True),
                        workers)

                phase("row 8", table["8"], row_8)

            # Rows 3-4: >= --window-studies studies in all, 4 of them to move.
            if "3" in table or "4" in table:
                window_rows = {r.row: r for n in ("3", "4") for r in table.get(n, [])}
                window_specs = [spec_for("wmove", i, instances=args.window_images)
                                for i in range(4)]

                def rows_3_4() -> None:
                    load(orthanc, "window move studies", window_specs, args.upload_workers,
                         loads)
                    fill = max(0, args.window_studies - study_count(orthanc))
                    load(orthanc, "fill studies",
                         [spec_for("fill", i, instances=1) for i in range(fill)],
                         args.upload_workers, loads)
                    total = study_count(orthanc)
                    log(f"Orthanc holds {total:,} studies; the window moves 4 of "
                        f"{args.window_images:,} images")
                    quiet["before_rows_3_4"] = wait_until_quiet()
                    log("\nROWS 3-4: window event loop gaps (benchmarks/window_gap.py)")
                    for row in window_rows.values():
                        row.details["studies_on_pacs"] = total
                    bench_window(orthanc, [s.study_uid for s in window_specs], total, args,
                                 sub_env, window_rows, subs)
                    storescp.clear()

                phase("rows 3-4", list(window_rows.values()), rows_3_4)

            if "context" in only:
                log("\nCONTEXT (not a row): per-process and per-association fixed costs "
                    "(medians of 10)")
                quiet["before_context"] = wait_until_quiet()
                try:
                    results["context"] = bench_context(orthanc, dead_port, samples=10)
                except Exception as exc:  # noqa: BLE001 - context only
                    errors.append(f"context: {type(exc).__name__}: {exc}")
    except _Done:
        pass
    except Exception as exc:  # noqa: BLE001 - peers or data failed: report, write what we have
        why = f"{type(exc).__name__}: {exc}".strip()
        errors.append(f"set-up: {why}")
        log(f"set-up failed: {why}")
        not_measured([r for rows in table.values() for r in rows], why[:300])
    except KeyboardInterrupt:
        log("\ninterrupted: all peers stopped, nothing written")
        return 130
    finally:
        dead_sock.close()
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    rows = [row for number in ALL_ROWS for row in table.get(number, [])]
    results["load"] = loads
    results["cpu_busy_before_phase"] = quiet
    results["phase_seconds"] = phase_seconds
    results["errors"] = errors
    results["sub_benchmarks"] = subs
    results["rows"] = [row.as_json() for row in rows]
    results["total_seconds"] = time.perf_counter() - started
    results["load_average_at_end"] = os.getloadavg()
    lines = table_lines(rows) + context_lines(results)
    results["summary"] = lines
    args.output.parent.mkdir(parents=True, exist_ok=True)
    gitignore = args.output.parent / ".gitignore"
    if args.output.parent == RESULTS_DIR and not gitignore.exists():
        gitignore.write_text("*\n", encoding="utf-8")
    args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    log("\n=== summary (ratio = median ours / median reference; verdicts on medians) " + "=" * 20)
    for line in lines:
        log(line)
    log(f"whole run {results['total_seconds']:.0f} s, load average at start "
        f"{results['load_average_at_start'][0]:.2f}, at end "
        f"{results['load_average_at_end'][0]:.2f}; JSON: {args.output}")
    return 0


class _Done(Exception):
    """No row needs a peer: skip the peer phases."""


def context_lines(results: dict[str, Any]) -> list[str]:
    lines = []
    for row in results["rows"]:
        empty = row["details"].get("rss_empty_window_mb")
        if empty:
            lines.append(f"row 7 context: empty window RSS {', '.join(f'{v:.0f}' for v in empty)}"
                         " MB")
    context = results.get("context")
    if context:
        lines.append(
            f"per-move fixed cost: movescu process start {context['movescu_refused_ms']:.1f} ms"
            f" (ours: none, one process); one association: echoscu "
            f"{context['echoscu_process_ms']:.1f} ms, ours {context['ours_echo_in_process_ms']:.1f}"
            " ms")
    nagle = results.get("nagle")
    if nagle:
        lines.append(f"Nagle disabled (TCP_NODELAY): ours {nagle['ours_tcp_nodelay']}, "
                     f"DCMTK tools {nagle['dcmtk_tcp_nodelay']} "
                     f"(env TCP_NODELAY={nagle['dcmtk_env_TCP_NODELAY']})")
    for error in results["errors"]:
        lines.append(f"error: {error}")
    return lines


if __name__ == "__main__":
    sys.exit(main())
