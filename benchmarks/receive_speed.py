"""Row 10 (issue 13): receiving 500 x 0.5 MB instances pushed by DCMTK storescu.

Not a test: nothing here asserts on a time, and pytest never collects it. Run it from the
repository root::

    .venv/bin/python benchmarks/receive_speed.py               # 3 repeats, 500 instances
    .venv/bin/python benchmarks/receive_speed.py --repeats 5 --sides storescp,courier
    (sides: storescp, courier, courier_pynetdicom, naive)

One DCMTK ``storescu`` process sends every instance over ONE association (it waits for each
C-STORE-RSP before the next C-STORE-RQ) to a receiver running as its own process on loopback:

* ``receive_courier_s``: ``dicom-courier --config-dir DIR receive --port N --aet COURIER
  --folder DIR --allow BENCHSCU --bind 127.0.0.1`` (the real path, whole process, issue 13
  part A), output to a log file; C-STOREs read by its lean reader
  (core/dimse/store_reader.py, ``COURIER_RECEIVE_PATH=lean``, the default);
* ``receive_courier_pynetdicom_path_s``: the same process with ``COURIER_RECEIVE_PATH=
  pynetdicom`` (pynetdicom's reader and Storage SCP: the receiver's first version);
* ``receive_storescp_s``: DCMTK ``storescp --aetitle STORESCP --output-directory DIR
  --accept-all N`` (no --fork; its default options otherwise);
* ``receive_naive_pynetdicom_s`` (the baseline the issue calls "naive", ~4x): this script
  with ``--serve-naive``, a pynetdicom ``AE`` with one ``evt.EVT_C_STORE`` handler that writes
  preamble + file meta + ``event.request.DataSet.getvalue()`` (pynetdicom's documented Storage
  SCP) per instance.

A sample is ``storescu``'s whole process, from just before its start to its exit (so all 500
C-STORE-RSPs came back), with ``TCP_NODELAY=1`` in its environment as every DCMTK tool in the
benchmarks. The receiver is started before (untimed, until its port accepts) and stopped
after. Every receiver writes every instance as a complete DICOM Part 10 file (preamble, file
meta, data set) and **none fsyncs per file** (storescp's default; Courier's receiver leaves
fsync off by default too: ``info.fsync``). After every sample, untimed: storescu must have
exited 0, the folder must hold exactly the 500 SOP Instance UIDs (by file name) and nothing
else, then it is emptied and ``os.sync()`` runs so one side's dirty pages are not written
back during the next side's sample. In the first (untimed) warm-up sample of each side, three
received files are read back with pydicom and compared with the sent ones (SOP Instance UID,
Pixel Data). Sides alternate: the order rotates on every repeat.

The instances are generated once with pydicom (one study, 5 series, MR, 512 x 512 x 16 bit =
524,288 bytes of pixel data, distinct UIDs, Explicit VR Little Endian) into a cache folder
(``--cache``, default ``benchmarks/results/cache/receive-<count>``, git-ignored) and reused.

The last line of stdout is one JSON object (benchmarks contract, as startup.py):
``{"measure": "receive_speed", "unit": "s", "repeats": N, "rows": {...}, "info": {...}}``;
progress goes to stderr. benchmarks/run.py reads it as row 10 (``--only 10``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
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
if str(REPO_ROOT) not in sys.path:
    sys.path.append(str(REPO_ROOT))  # for tests.peers (never shadows dicom_courier)

SCU_AET = "BENCHSCU"
SIDES = ("storescp", "courier", "courier_pynetdicom", "naive")
ROW_NAMES = {"storescp": "receive_storescp_s", "courier": "receive_courier_s",
             "courier_pynetdicom": "receive_courier_pynetdicom_path_s",
             "naive": "receive_naive_pynetdicom_s"}
AETS = {"storescp": "STORESCP", "courier": "COURIER", "courier_pynetdicom": "COURIER",
        "naive": "NAIVESCP"}
#: The environment variable that chooses the receiver's read path (core/dimse/store_reader.py).
RECEIVE_PATH_ENV = "COURIER_RECEIVE_PATH"
SIDE = 512  # 512 x 512 x 2 bytes = 524,288 bytes of pixel data per instance
COURIER_CLI = Path(sys.executable).with_name("dicom-courier")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- the data ----------------------------------------------------------------------------------

def generate(cache: Path, count: int, series: int) -> dict[str, Path]:
    """The ``count`` instances in ``cache`` (made once); {SOP Instance UID: path}.

    A complete cache has a ``manifest.json`` listing every file; anything else is regenerated.
    """
    manifest = cache / "manifest.json"
    with contextlib.suppress(OSError, ValueError, KeyError):
        listed = json.loads(manifest.read_text(encoding="utf-8"))
        files = {uid: cache / name for uid, name in listed["files"].items()}
        if len(files) == count and all(p.is_file() for p in files.values()):
            return files
    from dicom_courier.core.demo.synthetic import StudySpec, make_instance

    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True)
    ignore = BENCH_DIR / "results" / ".gitignore"
    if cache.is_relative_to(ignore.parent) and not ignore.exists():
        ignore.write_text("*\n", encoding="utf-8")  # generated data is never committed
    per_series = -(-count // series)
    spec = StudySpec(key=f"bench-receive-{count}", patient_name="Bench^Receive",
                     patient_id="RECV00001", modalities=("MR",), series_count=series,
                     instances_per_series=per_series, description="Benchmark receive study")
    started = time.perf_counter()
    files = {}
    for index in range(count):
        series_index, instance_index = divmod(index, per_series)
        ds = make_instance(spec, series_index, instance_index)
        ds.Rows = ds.Columns = SIDE
        ds.BitsAllocated = ds.BitsStored = 16
        ds.HighBit = 15
        seed = ds.SOPInstanceUID.encode()[-32:].ljust(32, b"0")
        ds.PixelData = (seed * (SIDE * SIDE * 2 // 32 + 1))[: SIDE * SIDE * 2]
        ds["PixelData"].VR = "OW"
        name = f"{index:05d}.dcm"
        ds.save_as(cache / name, enforce_file_format=True)
        files[str(ds.SOPInstanceUID)] = cache / name
    manifest.write_text(json.dumps({"files": {u: p.name for u, p in files.items()}}),
                        encoding="utf-8")
    log(f"generated {count} instances in {cache} ({time.perf_counter() - started:.1f} s)")
    return files


# -- the receivers -----------------------------------------------------------------------------

def naive_scp(port: int, folder: Path, aet: str) -> int:
    """pynetdicom's documented Storage SCP (the issue's "naive" baseline); runs until SIGTERM."""
    from pynetdicom import AE, AllStoragePresentationContexts, evt
    from pynetdicom.dsutils import write_file_meta_info  # type: ignore[attr-defined]

    def handle_store(event: Any) -> int:
        path = folder / f"{event.request.AffectedSOPInstanceUID}.dcm"
        with path.open("wb") as out:
            out.write(b"\x00" * 128 + b"DICM")
            write_file_meta_info(out, event.file_meta)
            out.write(event.request.DataSet.getvalue())
        return 0x0000

    ae = AE(ae_title=aet)
    ae.supported_contexts = AllStoragePresentationContexts
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    server = ae.start_server(("127.0.0.1", port), block=False,
                             evt_handlers=[(evt.EVT_C_STORE, handle_store)])
    try:
        while not stop:
            time.sleep(0.05)
    except KeyboardInterrupt:
        pass
    server.shutdown()
    return 0


class Receiver:
    """One receiver process (one side) on ``port``, writing into ``folder``."""

    def __init__(self, side: str, port: int, folder: Path, workdir: Path) -> None:
        from tests.peers import dcmtk_binary, peer_env

        self.side, self.port, self.folder = side, port, folder
        self.log_path = workdir / f"{side}.log"
        if side == "storescp":
            self.command = [dcmtk_binary("storescp"), "--aetitle", AETS[side],
                            "--output-directory", str(folder), "--accept-all", str(port)]
            self.env = peer_env()
        elif side.startswith("courier"):
            self.command = [str(COURIER_CLI), "--config-dir", str(workdir / "courier-config"),
                            "receive", "--port", str(port), "--aet", AETS[side],
                            "--folder", str(folder), "--allow", SCU_AET,
                            "--bind", "127.0.0.1"]
            self.env = dict(os.environ)
            self.env[RECEIVE_PATH_ENV] = "pynetdicom" if side == "courier_pynetdicom" else "lean"
        else:
            self.command = [sys.executable, str(Path(__file__).resolve()), "--serve-naive",
                            "--port", str(port), "--folder", str(folder), "--aet", AETS[side]]
            self.env = dict(os.environ)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        from tests.peers import wait_for_port

        self.folder.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, env=self.env,
                                         cwd=str(REPO_ROOT), start_new_session=True)
        try:
            wait_for_port("127.0.0.1", self.port, timeout=30, process=self.proc)
        except (TimeoutError, ChildProcessError) as exc:
            self.stop()
            raise RuntimeError(f"{self.side} did not start: {exc}\n{self.log_tail()}") from exc

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        # Ctrl-C is how people stop `dicom-courier receive`; storescp ends on SIGTERM.
        proc.send_signal(signal.SIGINT if self.side.startswith("courier") else signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def log_tail(self, lines: int = 15) -> str:
        with contextlib.suppress(OSError):
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
            return "\n".join(text.splitlines()[-lines:])
        return ""

    def received(self) -> dict[str, Path]:
        """{SOP Instance UID: path} of every file in the folder, from its name."""
        out = {}
        for path in self.folder.rglob("*"):
            if not path.is_file():
                continue
            if self.side == "storescp":  # <modality>.<SOP UID>
                uid = path.name.split(".", 1)[1] if "." in path.name else path.name
            else:  # <SOP UID>.dcm
                uid = path.name.removesuffix(".dcm")
            out[uid] = path
        return out


# -- one sample --------------------------------------------------------------------------------

def storescu_command(port: int, aet: str, cache: Path) -> list[str]:
    from tests.peers import dcmtk_binary

    return [dcmtk_binary("storescu"), "-q", "-aet", SCU_AET, "-aec", aet,
            "+sd", "+sp", "*.dcm", "127.0.0.1", str(port), str(cache)]


def sample(side: str, files: dict[str, Path], cache: Path, workdir: Path,
           check_content: bool = False) -> tuple[float, dict[str, Any]]:
    """One timed storescu run into a fresh receiver of ``side``; (seconds, facts)."""
    from tests.peers import free_port, peer_env

    folder = workdir / f"in-{side}"
    shutil.rmtree(folder, ignore_errors=True)
    receiver = Receiver(side, free_port(), folder, workdir)
    receiver.start()
    try:
        command = storescu_command(receiver.port, AETS[side], cache)
        started = time.perf_counter()
        result = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, env=peer_env(), timeout=600)
        seconds = time.perf_counter() - started
        got = receiver.received()  # at storescu's exit: every C-STORE-RSP came back
        if result.returncode != 0:
            raise RuntimeError(f"storescu -> {side} exited with {result.returncode}: "
                               f"{result.stdout.decode(errors='replace')[-800:]}\n"
                               f"{receiver.log_tail()}")
        if set(got) != set(files):
            raise RuntimeError(f"{side}: {len(got)} files on disk at storescu's exit, expected "
                               f"{len(files)} ({len(set(files) - set(got))} missing, "
                               f"{len(set(got) - set(files))} unexpected)\n{receiver.log_tail()}")
        sizes = [p.stat().st_size for p in got.values()]
        facts: dict[str, Any] = {"files": len(got), "bytes_on_disk": sum(sizes),
                                 "min_file_bytes": min(sizes)}
        if check_content:
            facts["content_checked"] = compare(got, files)
    finally:
        receiver.stop()
        shutil.rmtree(folder, ignore_errors=True)
        os.sync()
    return seconds, facts


def compare(got: dict[str, Path], files: dict[str, Path]) -> int:
    """Read three received files back and compare them with the sent ones; how many."""
    import pydicom

    uids = sorted(files)
    for uid in (uids[0], uids[len(uids) // 2], uids[-1]):
        theirs = pydicom.dcmread(got[uid])
        ours = pydicom.dcmread(files[uid])
        if theirs.SOPInstanceUID != uid or theirs.PixelData != ours.PixelData:
            raise RuntimeError(f"{got[uid]} differs from the instance sent")
        if getattr(theirs, "preamble", None) is None or not theirs.file_meta:
            raise RuntimeError(f"{got[uid]} is not a Part 10 file")
    return 3


# -- main --------------------------------------------------------------------------------------

def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed samples per side (>= 1)")
    parser.add_argument("--count", type=int, default=500, help="instances sent per sample")
    parser.add_argument("--series", type=int, default=5, help="series in the one study")
    parser.add_argument("--sides", default=",".join(SIDES),
                        help=f"comma-separated sides to measure ({', '.join(SIDES)})")
    parser.add_argument("--cache", type=Path, default=None,
                        help="where the instances are generated once "
                             "(default benchmarks/results/cache/receive-<count>)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    # Internal: the naive pynetdicom baseline's own process.
    parser.add_argument("--serve-naive", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--aet", default=AETS["naive"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.sides = [s.strip() for s in args.sides.split(",") if s.strip()]
    unknown = sorted(set(args.sides) - set(SIDES))
    if unknown:
        parser.error(f"--sides: unknown {', '.join(unknown)} (known: {', '.join(SIDES)})")
    if args.cache is None:
        args.cache = BENCH_DIR / "results" / "cache" / f"receive-{args.count}"
    return args


def fsync_setting() -> str:
    """What Courier's writer does about fsync: write_instance's ``fsync`` default."""
    import inspect

    try:
        from dicom_courier.core.dimse.store_files import write_instance
    except ImportError:
        return "unknown (core/dimse/store_files.py not importable)"
    default = inspect.signature(write_instance).parameters.get("fsync")
    return (f"write_instance(fsync={default.default!r}) by default" if default is not None
            else "write_instance has no fsync option")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve_naive:
        assert args.folder is not None
        return naive_scp(args.port, args.folder, args.aet)
    import pydicom
    import pynetdicom

    from tests.peers import dcmtk_binary

    files = generate(args.cache, args.count, args.series)
    total_bytes = sum(p.stat().st_size for p in files.values())
    tmp = Path(tempfile.mkdtemp(prefix="courier-receive-bench-"))
    samples: dict[str, list[float]] = {side: [] for side in args.sides}
    facts: dict[str, Any] = {}
    try:
        for side in args.sides:  # warm-up, untimed: page cache, .pyc files, proves the side
            seconds, facts[side] = sample(side, files, args.cache, tmp, check_content=True)
            log(f"  warm-up {side}: {seconds:.3f} s, {facts[side]['files']} files, content "
                "checked")
        for i in range(args.repeats):
            shift = i % len(args.sides)
            order = args.sides[shift:] + args.sides[:shift]
            this_round = {}
            for side in order:
                seconds, _ = sample(side, files, args.cache, tmp)
                samples[side].append(seconds)
                this_round[side] = seconds
            log(f"  round {i + 1}/{args.repeats}: " + ", ".join(
                f"{s} {v:.3f} s" for s, v in this_round.items())
                + f"  (all {len(files)} instances on disk)")
    finally:
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    medians = {side: statistics.median(v) for side, v in samples.items()}
    ratios = {f"{side}_vs_storescp": medians[side] / medians["storescp"]
              for side in samples if side != "storescp" and "storescp" in medians}
    version: Callable[[str], str] = lambda name: subprocess.run(  # noqa: E731
        [dcmtk_binary(name), "--version"], capture_output=True, text=True
    ).stdout.splitlines()[0]
    info = {
        "instances": len(files), "bytes_sent_files": total_bytes,
        "pixel_bytes_per_instance": SIDE * SIDE * 2, "cache": str(args.cache),
        "storescu_command": " ".join(storescu_command(0, "<AET>", args.cache)),
        "receiver_commands": {s: " ".join(Receiver(s, 0, Path("<DIR>"), Path("<TMP>")).command)
                              for s in args.sides},
        "per_side_first_sample": facts, "ratios_of_medians": ratios,
        "fsync": "no receiver fsyncs per file: storescp's default; courier: " + fsync_setting(),
        "timed": "storescu process, start to exit (one association, waits for every "
                 "C-STORE-RSP); receivers start before and stop after, untimed",
        "storescu": version("storescu"), "pydicom": pydicom.__version__,
        "pynetdicom": pynetdicom.__version__, "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
    }
    for side, values in samples.items():
        log(f"{side:9s} min/median/max {min(values):.3f}/{medians[side]:.3f}/{max(values):.3f} s")
    for name, value in ratios.items():
        log(f"ratio of medians {name}: {value:.2f}")
    print(json.dumps({"measure": "receive_speed", "unit": "s", "repeats": args.repeats,
                      "rows": {ROW_NAMES[s]: v for s, v in samples.items()}, "info": info}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
