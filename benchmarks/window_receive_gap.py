"""Row 11 (issue 13): event-loop gaps of the REAL main window while its own receiver takes images.

Not a test: nothing here asserts on a time, and pytest never collects it. The window's built-in
receiver ("This computer", gui/receiver_control.py) runs inside the window's process, on
pynetdicom's threads; this measures what a person at the window feels while images arrive.
It opens the real main window as ``dicom-courier`` builds it (``gui.app.create_main_window``,
the engine in its worker process, ``freeze_start_up``), offscreen, with the receiver turned on
(``receiver.json``: port N on 127.0.0.1, AE title COURIER, allowed ORTHANC and BENCHSCU), and:

1. *move_here*: searches the PACS (one study of ``--images`` x 0.5 MB), selects the study,
   picks "This computer" in the destination picker and presses Send
   (``MainWindow.send_selection``): a C-MOVE from Orthanc to the window's receiver, through
   the queue; the queue row counts "received N of M" as files arrive. The phase ends when the
   row is finished (the queue waited for every arrival). The row must end COMPLETED with every
   image received and on disk, or the run says so (``info.runs``);
2. *move_here_parallel*: the same number of images as ``--parallel`` (4) studies of
   ``--images``/4 images each, all selected and sent to "This computer" at once ("Sends at once
   per PACS" set to 4): 4 C-MOVEs, so 4 associations into the receiver at once and 4 queue
   rows counting; every row must end COMPLETED with all its images received (``--parallel
   0`` skips the phase);
3. *push*: DCMTK ``storescu`` (one association, ``+sd``, TCP_NODELAY=1) pushes the same
   ``--images`` files into the window's receiver (no queue row: nobody asked for them); the
   phase ends when storescu exits (every C-STORE-RSP came back);
4. *idle*: the window open with the receiver listening and nothing arriving, as long as
   phase 1 took.

Before each phase the received folder is emptied and ``os.sync()`` runs (untimed). A 10 ms
``QTimer`` (precise) records the interval between its callbacks (window_gap.py's probe); each
phase reports the p99 and the max of those intervals (ms), and the share of CPU time the GUI
thread and the whole process used in intervals over 20 ms (low GUI share + high process share:
other threads of the process held the interpreter lock).

Output: progress on stderr, and as the last line of stdout one JSON object (benchmarks
contract): rows ``move_here_p99``, ``move_here_max``, ``move_here_parallel_p99``,
``move_here_parallel_max``, ``push_p99``, ``push_max``, ``idle_p99``, ``idle_max``,
``move_here_s``, ``move_here_parallel_s``, ``push_s``; ``info`` holds every repeat's counts and
``problems`` (empty when every send and push delivered every image).

Peers: its own Orthanc (``tests.peers``; the calling modality COURIER registered at the
receiver's port), loaded through its REST API with the instances of receive_speed.py's
generator (one study, 5 series, MR 512 x 512 x 16 bit; cached in
``benchmarks/results/cache/receive-<images>``) and the parallel phase's studies (the same
images under 4 other studies, ``.../receive-gap-4x250``). ``--workdir`` keeps Orthanc's
storage::

    .venv/bin/python benchmarks/window_receive_gap.py                 # 3 repeats, 1,000 images
    .venv/bin/python benchmarks/window_receive_gap.py --repeats 1 --images 200
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_API", "pyside6")

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = Path(__file__).resolve().parent
if str(REPO_ROOT) not in sys.path:  # appended: the installed dicom_courier stays first
    sys.path.append(str(REPO_ROOT))
if str(BENCH_DIR) not in sys.path:
    sys.path.append(str(BENCH_DIR))

import qasync  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402
from receive_speed import SCU_AET, generate, storescu_command  # noqa: E402
from window_gap import GapProbe, _select_studies, _until, p99  # noqa: E402

from dicom_courier.core.config.app_settings import (  # noqa: E402
    AppSettings,
    StudyDates,
    save_app_settings,
)
from dicom_courier.core.config.paths import app_paths  # noqa: E402
from dicom_courier.core.config.profile_store import NodeStore  # noqa: E402
from dicom_courier.core.config.profiles import PacsNode, Timeouts  # noqa: E402
from dicom_courier.core.config.receiver_settings import (  # noqa: E402
    ReceiverSettings,
    save_receiver_settings,
)
from dicom_courier.core.config.retrieve_method import RetrieveMethod  # noqa: E402
from dicom_courier.core.dimse.engine_choice import PROCESS, engine_choice  # noqa: E402
from dicom_courier.core.outcome.arrival import HERE  # noqa: E402
from dicom_courier.core.process_tuning import freeze_start_up  # noqa: E402
from dicom_courier.gui.app import create_main_window  # noqa: E402
from dicom_courier.gui.deferred_courier import DeferredCourier  # noqa: E402
from dicom_courier.gui.main_window import MainWindow  # noqa: E402
from dicom_courier.gui.queue_model import QueueColumn  # noqa: E402

PROFILE_NAME = "Benchmark PACS"
RECEIVER_AET = "COURIER"
PHASES = ("move_here", "move_here_parallel", "push", "idle")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def generate_split(cache: Path, count: int, studies: int) -> dict[str, Path]:
    """``count`` instances like receive_speed.generate's, spread over ``studies`` studies
    (one series each), made once in ``cache``; {SOP Instance UID: path}."""
    from pydicom import dcmread

    manifest = cache / "manifest.json"
    with contextlib.suppress(OSError, ValueError, KeyError):
        listed = json.loads(manifest.read_text(encoding="utf-8"))
        files = {uid: cache / name for uid, name in listed["files"].items()}
        if len(files) == count and all(p.is_file() for p in files.values()):
            return files
    from dicom_courier.core.demo.synthetic import StudySpec, make_instance

    single = generate(cache.parent / f"receive-{count}", count, 5)  # its pixel data, reused
    template = dcmread(next(iter(single.values())))
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True)
    per_study = -(-count // studies)
    files = {}
    for index in range(count):
        study, instance = divmod(index, per_study)
        spec = StudySpec(key=f"bench-receive-gap-{studies}x{per_study}-{study}",
                         patient_name=f"Bench^Parallel{study}", patient_id=f"RGAP{study:05d}",
                         modalities=("MR",), series_count=1, instances_per_series=per_study,
                         description=f"Benchmark parallel study {study}")
        ds = make_instance(spec, 0, instance)
        for keyword in ("Rows", "Columns", "BitsAllocated", "BitsStored", "HighBit"):
            setattr(ds, keyword, getattr(template, keyword))
        seed = ds.SOPInstanceUID.encode()[-32:].ljust(32, b"0")
        ds.PixelData = (seed * (len(template.PixelData) // 32 + 1))[: len(template.PixelData)]
        ds["PixelData"].VR = "OW"
        name = f"{index:05d}.dcm"
        ds.save_as(cache / name, enforce_file_format=True)
        files[str(ds.SOPInstanceUID)] = cache / name
    manifest.write_text(json.dumps({"files": {u: p.name for u, p in files.items()}}),
                        encoding="utf-8")
    return files


def study_uid_of(path: Path) -> str:
    from pydicom import dcmread

    return str(dcmread(path, stop_before_pixels=True).StudyInstanceUID)


# -- peers ---------------------------------------------------------------------------------------

@contextlib.contextmanager
def own_orthanc(args: argparse.Namespace, receiver_port: int,
                files: dict[str, Path]) -> Iterator[Any]:
    """An Orthanc that moves to COURIER at ``receiver_port``, holding ``files``."""
    from tests.peers import OrthancPeer, reserve_dead_port

    keep = args.workdir is not None
    root = Path(args.workdir) if keep else Path(tempfile.mkdtemp(prefix="courier-rgap-"))
    root.mkdir(parents=True, exist_ok=True)
    dead = reserve_dead_port()
    orthanc = OrthancPeer(root / "orthanc", destination_port=int(dead.getsockname()[1]),
                          dead_port=int(dead.getsockname()[1]), calling_aet=RECEIVER_AET,
                          calling_port=receiver_port, known_destination="NOBODY")
    try:
        orthanc.start()
        held = orthanc.instance_count()
        if held != len(files):
            if held:
                raise RuntimeError(f"Orthanc holds {held} instances, expected 0 or "
                                   f"{len(files)}: use an empty --workdir")
            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=4, thread_name_prefix="upload") as pool:
                list(pool.map(lambda path: orthanc.upload([path]), files.values()))
            log(f"loaded {len(files)} instances into Orthanc in "
                f"{time.perf_counter() - started:.0f} s")
        log(f"Orthanc on {orthanc.port}, moves to {RECEIVER_AET} at {receiver_port}")
        yield orthanc
    finally:
        orthanc.stop()
        dead.close()
        if not keep:
            shutil.rmtree(root, ignore_errors=True)


# -- one run ---------------------------------------------------------------------------------

def _files_under(folder: Path) -> int:
    return sum(1 for path in folder.rglob("*.dcm") if path.is_file()) if folder.exists() else 0


def _empty(folder: Path) -> None:
    """Remove what the receiver wrote (its folder itself stays), then write dirty pages back."""
    if folder.exists():
        for child in folder.iterdir():
            if child.is_dir():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)
    os.sync()


def _phase(name: str, probe: GapProbe, samples: dict[str, list[float]], run: dict[str, Any],
           seconds: float) -> None:
    intervals = probe.stop()
    samples[f"{name}_p99"].append(round(p99(intervals), 2))
    samples[f"{name}_max"].append(round(max(intervals, default=0.0), 2))
    if f"{name}_s" in samples:
        samples[f"{name}_s"].append(round(seconds, 3))
    share, whole = probe.gap_cpu_share(), probe.gap_cpu_share(process=True)
    over = [w for w in intervals if w > 20.0]
    run[name] = {"ticks": len(intervals), "seconds": round(seconds, 2),
                 "intervals_over_20ms": len(over), "intervals_over_50ms":
                 sum(1 for w in intervals if w > 50.0),
                 "worst_5_ms": [round(w, 1) for w in sorted(intervals)[-5:]],
                 "gaps_over_20ms_gui_thread_cpu_share": share,
                 "gaps_over_20ms_process_cpu_share": whole}
    log(f"  {name}: {seconds:.1f} s, {len(intervals)} ticks, p99 {p99(intervals):.1f} ms, "
        f"max {max(intervals, default=0.0):.1f} ms, {len(over)} over 20 ms; in gaps > 20 ms "
        f"CPU of the GUI thread {'-' if share is None else f'{share:.0%}'}, of the process "
        f"{'-' if whole is None else f'{whole:.0%}'}")


def run_once(loop: asyncio.AbstractEventLoop, orthanc: Any, receiver_port: int,
             args: argparse.Namespace, samples: dict[str, list[float]],
             info: dict[str, Any]) -> None:
    """One fresh window (fresh profile folder), the three phases, samples appended."""
    with tempfile.TemporaryDirectory(prefix="courier-rgap-profile-") as folder:
        paths = app_paths(folder)
        paths.config_dir.mkdir(parents=True, exist_ok=True)
        save_app_settings(paths.settings_file, AppSettings(
            result_limit=1000, confirm_over=100_000, default_study_dates=StudyDates.ANY,
            moves_per_pacs=max(args.parallel, 1)))
        NodeStore(paths.nodes_file).put(PacsNode(
            name=PROFILE_NAME, called_aet=orthanc.aet, host="127.0.0.1", port=orthanc.port,
            calling_aet=RECEIVER_AET, timeouts=Timeouts(connect=5, acse=10, idle=60),
            retrieve=RetrieveMethod.MOVE))
        save_receiver_settings(paths.receiver_file, ReceiverSettings(
            enabled=True, ae_title=RECEIVER_AET, port=receiver_port, bind="127.0.0.1",
            allowed_aets=(orthanc.aet, SCU_AET)))
        # As `dicom-courier` builds it (gui.app.run_app): engine in a worker process unless
        # COURIER_ENGINE=thread; start-up objects frozen out of the GC after warm-up.
        courier = DeferredCourier(engine=engine_choice(PROCESS))
        window = create_main_window(folder, courier=courier)  # type: ignore[arg-type]
        window.reload_profiles(select=PROFILE_NAME)
        window.show()
        freeze_start_up(courier.warm_up)
        info["engine"] = engine_choice(PROCESS)
        run: dict[str, Any] = {}
        try:
            loop.run_until_complete(_phases(window, args, samples, run))
        finally:
            window.searches.abort()
            loop.run_until_complete(window.shutdown())
            window.close()
            window.deleteLater()
            loop.run_until_complete(asyncio.sleep(0.2))
        info.setdefault("runs", []).append(run)


async def _phases(window: MainWindow, args: argparse.Namespace,
                  samples: dict[str, list[float]], run: dict[str, Any]) -> None:
    receiver = window.receiver
    assert receiver is not None
    if not await _until(lambda: receiver.running or receiver.problem is not None, 30.0) \
            or not receiver.running:
        raise RuntimeError(f"the window's receiver did not start: {receiver.problem}")
    folder = receiver.folder
    probe = GapProbe()
    task = window._spawn(window.search({}))
    if not await _until(task.done, 60.0):
        raise RuntimeError("the search did not end in time")
    proxy = window.results_proxy
    if _select_studies(window, {args.single_study}) != 1:
        raise RuntimeError(f"the search listed {proxy.rowCount()} studies, without the "
                           "benchmark's study")
    combo = window.destination_combo
    here = combo.findData(HERE)
    if here < 0:
        raise RuntimeError("'This computer' is not in the destination picker")
    combo.setCurrentIndex(here)
    await asyncio.sleep(1.0)  # first paints, start-up timers

    # 1. C-MOVE to this computer through the queue
    _empty(folder)
    await asyncio.sleep(0.3)
    started = time.perf_counter()
    probe.start()
    window.send_selection()  # the Send button's slot
    jobs = window.queue_model.jobs
    if len(jobs()) != 1:
        raise RuntimeError(f"{len(jobs())} sends queued, expected 1 "
                           f"(status: {window.statusBar().currentMessage()!r})")
    shot = asyncio.ensure_future(_screenshot(window, args)) if args.screenshot else None
    finished = await _until(lambda: all(job.state.is_finished for job in jobs()),
                            args.timeout)
    duration = time.perf_counter() - started
    _phase("move_here", probe, samples, run, duration)
    if shot is not None:
        run["screenshot"] = await shot  # its grab is inside this phase's probe
    if not finished:
        raise RuntimeError("the send to this computer did not end in time")
    window.queue_model.flush()
    job = jobs()[0]
    model = window.queue_model
    row = model.row_of(job.job_id) or 0
    run["move"] = {
        "state": job.state.value,
        "outcome": job.result.outcome.value if job.result else None,
        "completed": job.result.completed if job.result else None,
        "received": job.received,
        "files_on_disk": _files_under(folder),
        "progress_text": model.index(row, QueueColumn.PROGRESS).data(),
        "status_text": model.index(row, QueueColumn.STATUS).data(),
    }
    log(f"  move: {run['move']}")

    # 2. the same number of images as 4 studies, sent at once
    if args.parallel:
        await _parallel_phase(window, args, samples, run, probe)

    # 3. storescu pushes the same files into the window's receiver
    from tests.peers import peer_env

    _empty(folder)
    await asyncio.sleep(0.5)
    command = storescu_command(args.receiver_port, RECEIVER_AET, args.cache)
    started = time.perf_counter()
    # Started before the probe: spawning a process from the GUI thread is the benchmark's
    # cost, not the window's; storescu needs longer than that to open its association.
    scu = subprocess.Popen(command, env=peer_env(), stdin=subprocess.DEVNULL,  # noqa: ASYNC220
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    probe.start()
    try:
        done = await _until(lambda: scu.poll() is not None, args.timeout)
    finally:
        if scu.poll() is None:
            scu.kill()
    push_seconds = time.perf_counter() - started
    _phase("push", probe, samples, run, push_seconds)
    stderr = scu.stderr.read() if scu.stderr else ""
    run["push_result"] = {"exit_code": scu.returncode, "files_on_disk": _files_under(folder),
                          "stderr_tail": stderr[-300:] if stderr else ""}
    log(f"  push: {run['push_result']}")
    if not done:
        raise RuntimeError("storescu did not end in time")

    # 4. idle, as long as the move took
    _empty(folder)
    await asyncio.sleep(0.5)
    probe.start()
    await asyncio.sleep(duration)
    _phase("idle", probe, samples, run, duration)


async def _parallel_phase(window: MainWindow, args: argparse.Namespace,
                          samples: dict[str, list[float]], run: dict[str, Any],
                          probe: GapProbe) -> None:
    """4 studies selected and sent to this computer at once; ends when every row finished."""
    receiver = window.receiver
    assert receiver is not None
    folder = receiver.folder
    if _select_studies(window, set(args.parallel_studies)) != len(args.parallel_studies):
        raise RuntimeError("the search did not list the parallel phase's studies")
    _empty(folder)
    await asyncio.sleep(0.5)
    jobs = window.queue_model.jobs
    before = {job.job_id for job in jobs()}
    started = time.perf_counter()
    probe.start()
    window.send_selection()
    mine = [job.job_id for job in jobs() if job.job_id not in before]
    if len(mine) != len(args.parallel_studies):
        raise RuntimeError(f"{len(mine)} sends queued, expected {len(args.parallel_studies)}")

    def ours() -> list[Any]:
        return [job for job in jobs() if job.job_id in mine]

    finished = await _until(lambda: all(job.state.is_finished for job in ours()), args.timeout)
    _phase("move_here_parallel", probe, samples, run, time.perf_counter() - started)
    if not finished:
        raise RuntimeError("the parallel sends to this computer did not end in time")
    window.queue_model.flush()
    run["parallel"] = {"sends": [{"state": job.state.value, "received": job.received}
                                 for job in ours()],
                       "files_on_disk": _files_under(folder),
                       "expected_per_send": args.images // args.parallel}
    log(f"  parallel: {run['parallel']}")


async def _screenshot(window: MainWindow, args: argparse.Namespace) -> str | None:
    """Save the window once the queue row has counted some arrivals; the path."""
    def mid_way() -> bool:
        jobs = window.queue_model.jobs()
        return bool(jobs) and args.images // 3 <= (jobs[0].received or 0) < args.images

    if not await _until(mid_way, 120.0):
        return None
    window.queue_model.flush()
    await asyncio.sleep(0.25)
    window.grab().save(args.screenshot)
    log(f"  screenshot: {args.screenshot}")
    return str(args.screenshot)


def problems_of(info: dict[str, Any], images: int) -> list[str]:
    """What went wrong in the runs (a failed run must never look fast)."""
    problems = []
    for number, run in enumerate(info.get("runs", []), 1):
        move = run.get("move", {})
        if move.get("state") != "completed" or move.get("received") != images \
                or move.get("files_on_disk") != images:
            problems.append(f"repeat {number}: the send to this computer ended {move}")
        parallel = run.get("parallel")
        if parallel is not None and (
                parallel.get("files_on_disk") != images or any(
                    send.get("state") != "completed"
                    or send.get("received") != parallel.get("expected_per_send")
                    for send in parallel.get("sends", []))):
            problems.append(f"repeat {number}: the parallel sends ended {parallel}")
        push = run.get("push_result", {})
        if push.get("exit_code") != 0 or push.get("files_on_disk") != images:
            problems.append(f"repeat {number}: the storescu push ended {push}")
    return problems


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--images", type=int, default=1000,
                        help="0.5 MB images moved and pushed per phase")
    parser.add_argument("--cache", type=Path, default=None,
                        help="where the generated instances are kept "
                             "(default benchmarks/results/cache/receive-<images>)")
    parser.add_argument("--parallel", type=int, default=4,
                        help="studies the same number of images is spread over and sent at "
                             "once in the parallel phase (0: no such phase)")
    parser.add_argument("--workdir", help="keep Orthanc's folder here (loaded once)")
    parser.add_argument("--screenshot",
                        help="save the window mid-way through the move here (the grab itself "
                             "costs the GUI thread ~40 ms inside the probe: its move_here_max "
                             "is then no measure; run.py never passes it)")
    parser.add_argument("--timeout", type=float, default=300.0,
                        help="seconds a phase may take before the run counts as failed")
    args = parser.parse_args(argv)
    if args.cache is None:
        args.cache = BENCH_DIR / "results" / "cache" / f"receive-{args.images}"
    if args.parallel and args.images % args.parallel:
        parser.error("--images must be a multiple of --parallel")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from tests.peers import free_port

    files = generate(args.cache, args.images, 5)
    args.single_study = study_uid_of(next(iter(files.values())))
    everything = dict(files)
    args.parallel_studies = []
    if args.parallel:
        split = generate_split(args.cache.parent / f"receive-gap-{args.parallel}x"
                               f"{args.images // args.parallel}", args.images, args.parallel)
        everything.update(split)
        args.parallel_studies = sorted({study_uid_of(path) for path in split.values()})
    args.receiver_port = free_port()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setQuitOnLastWindowClosed(False)  # windows come and go between repeats
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    samples: dict[str, list[float]] = {f"{phase}_{stat}": [] for phase in PHASES
                                       for stat in ("p99", "max")}
    samples["move_here_s"] = []
    samples["move_here_parallel_s"] = []
    samples["push_s"] = []
    info: dict[str, Any] = {
        "probe_interval_ms": 10, "images": args.images,
        "image_bytes": next(iter(files.values())).stat().st_size,
        "platform": os.environ.get("QT_QPA_PLATFORM"),
        "load_average_at_start": os.getloadavg(),
    }
    with own_orthanc(args, args.receiver_port, everything) as orthanc:
        for repeat in range(args.repeats):
            log(f"repeat {repeat + 1}/{args.repeats} (load average {os.getloadavg()})")
            run_once(loop, orthanc, args.receiver_port, args, samples, info)
    info["load_average_at_end"] = os.getloadavg()
    info["problems"] = problems_of(info, args.images)
    info["medians"] = {row: statistics.median(values) for row, values in samples.items()
                       if values}
    asyncio.set_event_loop(None)
    loop.close()
    print(json.dumps({"measure": "window_receive_gap", "unit": "ms", "repeats": args.repeats,
                      "rows": samples, "info": info}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
