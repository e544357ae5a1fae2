"""Benchmark the engine against DCMTK's findscu/movescu on real peers (Orthanc, dcmqrscp).

Not a test: nothing here asserts on timings, and pytest never collects it. Run it from the
repository root::

    .venv/bin/python benchmarks/run.py            # full run (5,000 studies, ~2-3 min)
    .venv/bin/python benchmarks/run.py --quick    # smaller, for trying changes (~40 s)

It starts one Orthanc, one dcmqrscp and one storescp on loopback in a temporary folder,
loads synthetic studies, then times the same C-FIND and C-MOVE work done by our engine
(in one process, one asyncio.run) and by DCMTK's command-line tools (one process per run,
as a script would use them). Every peer process is stopped at the end, also on error or
Ctrl-C. The summary goes to stdout and to benchmarks/results/latest.json.
See benchmarks/README.md for how to read it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
# Appended, not prepended (as tests/conftest.py does): the root's core/ must never shadow the
# installed dicom_courier package; we only need the ``tests.peers`` namespace package from it.
if str(REPO_ROOT) not in sys.path:
    sys.path.append(str(REPO_ROOT))

import pydicom  # noqa: E402
import pynetdicom  # noqa: E402
from pydicom import dcmwrite  # noqa: E402

from dicom_courier import __version__  # noqa: E402
from dicom_courier.core.config.profiles import PacsNode, Timeouts  # noqa: E402
from dicom_courier.core.demo.synthetic import StudySpec, iter_study  # noqa: E402
from dicom_courier.core.dimse.association import finish_association, open_association  # noqa: E402
from dicom_courier.core.dimse.engine import Courier  # noqa: E402
from dicom_courier.core.outcome.errors import ConnectionFailed  # noqa: E402
from dicom_courier.core.outcome.events import MoveOutcome  # noqa: E402
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
RESULTS_DIR = Path(__file__).resolve().parent / "results"
FIND_TARGET = 1.5
MOVE_TARGET = 1.2


# -- small helpers ---------------------------------------------------------------------------

def log(message: str) -> None:
    print(message, flush=True)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def ratio(ours: float, theirs: float) -> float:
    return ours / theirs if theirs > 0 else float("inf")


def fmt_s(seconds: float) -> str:
    return f"{seconds:.3f} s"


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


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


def run_dcmtk(args: Sequence[str], *, capture: bool = False,
              timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """One DCMTK tool invocation with TCP_NODELAY=1 (as the peers), output to /dev/null."""
    out = subprocess.PIPE if capture else subprocess.DEVNULL
    return subprocess.run(list(args), env=peer_env(), stdin=subprocess.DEVNULL, stdout=out,
                          stderr=out, text=True, errors="replace", timeout=timeout)


def spec_for(kind: str, index: int, *, instances: int) -> StudySpec:
    """Distinct study, patient and accession per index; dates spread over a few years."""
    return StudySpec(
        key=f"bench-{kind}-{index:05d}",
        patient_name=f"Bench{kind.capitalize()}^Patient{index:05d}",
        patient_id=f"{kind.upper()}{index:05d}",
        birth_date=f"19{40 + index % 60:02d}0{1 + index % 9}1{index % 10}",
        sex="MFO"[index % 3],
        study_date=f"202{index % 5}{1 + index % 12:02d}{1 + index % 28:02d}",
        study_time=f"{index % 24:02d}{index % 60:02d}00",
        accession=f"A{kind[0].upper()}{index:07d}",
        description=f"Benchmark {kind} study {index}",
        referring="Referrer^Bench",
        modalities=("CT",) if index % 2 else ("MR",),
        series_count=1,
        instances_per_series=instances,
    )


def study_bytes(spec: StudySpec) -> list[bytes]:
    out = []
    for ds in iter_study(spec):
        buffer = io.BytesIO()
        dcmwrite(buffer, ds, enforce_file_format=True)
        out.append(buffer.getvalue())
    return out


def upload_parallel(orthanc: OrthancPeer, specs: Sequence[StudySpec], workers: int) -> None:
    """POST every instance to Orthanc's REST API from ``workers`` threads."""
    def one(spec: StudySpec) -> int:
        return len(orthanc.upload(study_bytes(spec)))

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="upload")
    try:
        for _ in pool.map(one, specs):
            pass
    finally:
        # On Ctrl-C or an error, drop the queued uploads instead of finishing them.
        pool.shutdown(wait=True, cancel_futures=True)


# -- FIND --------------------------------------------------------------------------------------

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


def ours_find(node: PacsNode, query: FindQuery) -> int:
    async def scenario() -> int:
        count = 0
        with Courier() as courier:
            async for _match in courier.find(node, query):
                count += 1
        return count
    return asyncio.run(scenario())


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


def bench_find(peer: Any, expected: int, repeats: int) -> dict[str, Any]:
    node = node_for(peer)
    query = find_query()
    # Correctness, untimed: findscu must see every study (each timed run of ours checks its
    # own count). This verbose run also warms Orthanc's caches for both sides.
    theirs = findscu_count(peer, query)
    if theirs != expected:
        raise RuntimeError(f"findscu received {theirs} matches, expected {expected}")
    command = findscu_command(peer, query)
    ours_runs: list[float] = []
    dcmtk_runs: list[float] = []

    def run_ours() -> None:
        seconds, count = timed(lambda: ours_find(node, query))
        if count != expected:
            raise RuntimeError(f"our find returned {count} of {expected} matches")
        ours_runs.append(seconds)

    def run_findscu() -> None:
        seconds, result = timed(lambda: run_dcmtk(command))
        if result.returncode != 0:
            raise RuntimeError(f"findscu exited with {result.returncode}")
        dcmtk_runs.append(seconds)

    for i in range(repeats):
        order = (run_ours, run_findscu) if i % 2 == 0 else (run_findscu, run_ours)
        for step in order:
            step()
        log(f"  round {i + 1}/{repeats}: ours {fmt_s(ours_runs[-1])}, "
            f"findscu {fmt_s(dcmtk_runs[-1])}")
    ours_med, dcmtk_med = median(ours_runs), median(dcmtk_runs)
    return {
        "studies": expected,
        "repeats": repeats,
        "return_keys": [e.keyword for e in query.to_identifier()],
        "findscu_command": " ".join(command),
        "ours_runs_s": ours_runs,
        "findscu_runs_s": dcmtk_runs,
        "ours_median_s": ours_med,
        "findscu_median_s": dcmtk_med,
        "ratio": ratio(ours_med, dcmtk_med),
        "target": FIND_TARGET,
    }


# -- MOVE --------------------------------------------------------------------------------------

def ours_moves(node: PacsNode, uids: Sequence[str], per_study: int) -> list[float]:
    """Sequential moves in one asyncio.run, one association each; per-move seconds."""
    async def scenario() -> list[float]:
        durations = []
        with Courier() as courier:
            for uid in uids:
                started = time.perf_counter()
                result = await courier.move(
                    node, MoveRequest(MoveTarget(uid), DESTINATION_AET)).run()
                durations.append(time.perf_counter() - started)
                if result.outcome is not MoveOutcome.COMPLETED or result.completed != per_study:
                    detail = result.error.render() if result.error else ""
                    raise RuntimeError(f"our move of {uid} ended {result.outcome} "
                                       f"({result.completed}/{per_study}): {detail}")
        return durations
    return asyncio.run(scenario())


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
    files = storescp.wait_for_files(len(expected_sops), timeout=30)
    names = {p.name.split(".", 1)[1] for p in files}
    if names != expected_sops or len(files) != len(expected_sops):
        raise RuntimeError(f"{who}: {len(files)} files arrived, expected {len(expected_sops)} "
                           f"({len(expected_sops - names)} missing)")
    storescp.clear()


def bench_move(peer: Any, specs: Sequence[StudySpec], storescp: StorescpPeer,
               rounds: int) -> dict[str, Any]:
    node = node_for(peer)
    uids = [s.study_uid for s in specs]
    per_study = specs[0].instance_count
    expected = {s.sop_uid(0, i) for s in specs for i in range(s.instances_per_series)}
    storescp.clear()
    # Warm-up (untimed): one move each way, also proves the destination works.
    ours_moves(node, uids[:1], per_study)
    dcmtk_moves(peer, uids[:1])
    storescp.wait_for_files(per_study, timeout=30)
    storescp.clear()

    ours_rounds: list[float] = []
    dcmtk_rounds: list[float] = []
    ours_each: list[float] = []
    dcmtk_each: list[float] = []

    def run_ours() -> None:
        seconds, each = timed(lambda: ours_moves(node, uids, per_study))
        check_arrived(storescp, expected, "ours")
        ours_rounds.append(seconds)
        ours_each.extend(each)

    def run_movescu() -> None:
        seconds, each = timed(lambda: dcmtk_moves(peer, uids))
        check_arrived(storescp, expected, "movescu")
        dcmtk_rounds.append(seconds)
        dcmtk_each.extend(each)

    for i in range(rounds):
        order = (run_ours, run_movescu) if i % 2 == 0 else (run_movescu, run_ours)
        for step in order:
            step()
        log(f"  round {i + 1}/{rounds}: ours {fmt_s(ours_rounds[-1])}, "
            f"movescu {fmt_s(dcmtk_rounds[-1])}  ({len(uids)} moves each, all "
            f"{len(expected)} instances arrived both times)")
    ours_med, dcmtk_med = median(ours_rounds), median(dcmtk_rounds)
    return {
        "archive": peer.name,
        "studies": len(uids),
        "instances_per_study": per_study,
        "rounds": rounds,
        "ours_rounds_s": ours_rounds,
        "movescu_rounds_s": dcmtk_rounds,
        "ours_median_s": ours_med,
        "movescu_median_s": dcmtk_med,
        "ours_per_move_median_ms": median(ours_each) * 1000,
        "movescu_per_move_median_ms": median(dcmtk_each) * 1000,
        "ratio": ratio(ours_med, dcmtk_med),
        "target": MOVE_TARGET,
        "movescu_command": " ".join(movescu_command(peer, "<StudyInstanceUID>")),
    }


# -- context: process start-up and Nagle ---------------------------------------------------------

def bench_startup(peer: Any, dead_port: int, samples: int) -> dict[str, Any]:
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
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--studies", type=int, default=5000, help="studies for C-FIND")
    parser.add_argument("--find-repeats", type=int, default=5)
    parser.add_argument("--moves", type=int, default=50, help="studies moved per round")
    parser.add_argument("--move-rounds", type=int, default=3)
    parser.add_argument("--instances", type=int, default=3,
                        help="instances per moved study (1 series)")
    parser.add_argument("--upload-workers", type=int, default=4)
    parser.add_argument("--no-dcmqrscp", action="store_true", help="skip the dcmqrscp variant")
    parser.add_argument("--quick", action="store_true",
                        help="1,000 studies, 3 find repeats, 2 move rounds")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "latest.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.studies, args.find_repeats, args.move_rounds = 1000, 3, 2
    return args


def summary_lines(results: dict[str, Any]) -> list[str]:
    lines = []
    find = results.get("find")
    if find:
        ok = "met" if find["ratio"] <= FIND_TARGET else "MISSED"
        lines.append(
            f"find {find['studies']} studies: ours {find['ours_median_s']:.2f} s, findscu "
            f"{find['findscu_median_s']:.2f} s, ratio {find['ratio']:.2f} "
            f"(target <= {FIND_TARGET}: {ok})")
    for move in results.get("move", []):
        ok = "met" if move["ratio"] <= MOVE_TARGET else "MISSED"
        lines.append(
            f"move {move['studies']} studies x {move['instances_per_study']} inst "
            f"({move['archive']}): ours {move['ours_median_s']:.2f} s, movescu "
            f"{move['movescu_median_s']:.2f} s, ratio {move['ratio']:.2f} "
            f"(target <= {MOVE_TARGET}: {ok})")
    startup = results.get("startup")
    if startup:
        lines.append(
            f"per-move fixed cost: movescu process start {startup['movescu_refused_ms']:.1f} ms"
            f" (ours: none, one process); one association: echoscu "
            f"{startup['echoscu_process_ms']:.1f} ms, ours {startup['ours_echo_in_process_ms']:.1f}"
            " ms")
    nagle = results.get("nagle")
    if nagle:
        lines.append(f"Nagle disabled (TCP_NODELAY): ours {nagle['ours_tcp_nodelay']}, "
                     f"DCMTK tools {nagle['dcmtk_tcp_nodelay']} "
                     f"(env TCP_NODELAY={nagle['dcmtk_env_TCP_NODELAY']})")
    return lines


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so the finally blocks below stop every peer.
    signal.signal(signal.SIGTERM, _raise_interrupt)
    started = time.perf_counter()
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
        },
        "load_average_at_start": os.getloadavg(),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
    }
    tmp = Path(tempfile.mkdtemp(prefix="courier-bench-"))
    dead_sock = reserve_dead_port()
    dead_port = int(dead_sock.getsockname()[1])
    peers: list[PeerProcess] = []
    try:
        with contextlib.ExitStack() as stack:
            stack.callback(lambda: [p.stop() for p in reversed(peers)])
            destination_port = free_port()
            storescp = StorescpPeer(tmp / "received", destination_port, workdir=tmp / "storescp",
                                    aet=DESTINATION_AET)
            peers.append(storescp)
            storescp.start()
            orthanc = OrthancPeer(tmp / "orthanc", destination_port=destination_port,
                                  dead_port=dead_port, calling_aet=CALLING_AET,
                                  known_destination=DESTINATION_AET, binary="Orthanc")
            peers.append(orthanc)
            orthanc.start()
            log(f"Orthanc on {orthanc.port}, storescp on {destination_port}, tmp {tmp}")

            find_specs = [spec_for("find", i, instances=1) for i in range(args.studies)]
            seconds, _ = timed(lambda: upload_parallel(orthanc, find_specs, args.upload_workers))
            count = len(orthanc.rest_get("/studies"))
            if count != args.studies:
                raise RuntimeError(f"Orthanc holds {count} studies, expected {args.studies}")
            results["load"] = {"studies": args.studies, "seconds": seconds,
                               "per_instance_ms": seconds / args.studies * 1000,
                               "upload_workers": args.upload_workers}
            log(f"loaded {args.studies} single-instance studies into Orthanc in "
                f"{fmt_s(seconds)} ({args.upload_workers} upload threads)")

            results["nagle"] = nagle_status(orthanc)
            quiet = {"before_find": wait_until_quiet()}

            log(f"\nFIND: STUDY level, Study Root, {args.studies} matches, "
                f"{args.find_repeats} repeats (alternating order)")
            results["find"] = bench_find(orthanc, args.studies, args.find_repeats)

            # Move studies come after the find so the find matches exactly --studies studies.
            move_specs = [spec_for("move", i, instances=args.instances)
                          for i in range(args.moves)]
            upload_parallel(orthanc, move_specs, args.upload_workers)
            quiet["before_move_orthanc"] = wait_until_quiet()
            results["move"] = []
            log(f"\nMOVE (Orthanc): {args.moves} studies x 1 series x {args.instances} "
                f"instances to storescp, {args.move_rounds} rounds")
            results["move"].append(bench_move(orthanc, move_specs, storescp, args.move_rounds))

            if not args.no_dcmqrscp:
                dcmqrscp = DcmqrscpPeer(tmp / "dcmqrscp", destination_port=destination_port,
                                        dead_port=dead_port, calling_aet=CALLING_AET,
                                        known_destination=DESTINATION_AET)
                peers.append(dcmqrscp)
                dcmqrscp.load([ds for spec in move_specs for ds in iter_study(spec)])
                dcmqrscp.start()
                quiet["before_move_dcmqrscp"] = wait_until_quiet()
                log(f"\nMOVE (dcmqrscp): same {args.moves} studies, {args.move_rounds} rounds")
                results["move"].append(
                    bench_move(dcmqrscp, move_specs, storescp, args.move_rounds))

            log("\nCONTEXT: per-process and per-association fixed costs (medians of 10)")
            quiet["before_context"] = wait_until_quiet()
            results["startup"] = bench_startup(orthanc, dead_port, samples=10)
            results["cpu_busy_before_phase"] = quiet
    except KeyboardInterrupt:
        log("\ninterrupted: all peers stopped")
        return 130
    finally:
        dead_sock.close()
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    results["total_seconds"] = time.perf_counter() - started
    results["load_average_at_end"] = os.getloadavg()
    lines = summary_lines(results)
    results["summary"] = lines
    args.output.parent.mkdir(parents=True, exist_ok=True)
    gitignore = args.output.parent / ".gitignore"
    if args.output.parent == RESULTS_DIR and not gitignore.exists():
        gitignore.write_text("*\n", encoding="utf-8")
    args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    log("\n=== summary " + "=" * 68)
    for line in lines:
        log(line)
    log(f"whole run {results['total_seconds']:.0f} s; JSON: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
