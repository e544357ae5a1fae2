"""Event-loop gaps of the REAL main window while a big search streams and moves run.

Not a test: nothing here asserts on a time, and pytest never collects it. It opens the real
main window (``gui.app.create_main_window``: the composition root's parts, the real engine,
offscreen), points it at a real PACS over real sockets and drives it the way a person does:

1. *search*: a universal STUDY-level search (``MainWindow.search({})``, what "Search
   everything? → Yes" runs) streams every study of the PACS into the grid;
2. *search_moves*: the 4 move studies are selected in that grid and sent
   (``MainWindow.send_selection``, the Send button's slot), then the same search is started
   again at once, so 4 C-MOVEs of ~1,000 images run while the grid fills;
3. *idle*: the window open with nothing running, for as long as phase 2 took.

A 10 ms ``QTimer`` (precise) records the interval between its callbacks; each phase reports
the p99 and the max of those intervals (ms). An idle loop shows ~10-11 ms; anything above is
time the GUI thread could not run (its own work, or waiting for the interpreter lock).

Output: progress on stderr, and as the last line of stdout one JSON object (the contract in
``benchmarks/run.py``): rows ``idle_p99``, ``idle_max``, ``search_p99``, ``search_max``,
``search_moves_p99``, ``search_moves_max``; ``info`` holds the matches received and every
move's outcome and counts (a failed run must never look fast).

Peers: either an already loaded PACS (``--host/--port/--called-aet/--dest-aet
--move-studies``) or ``--setup``: its own Orthanc and storescp (``tests.peers``), loaded
through Orthanc's REST API with ``--studies`` single-image studies and 4 move studies of
``--images`` images each (``core/demo/synthetic.StudySpec``). ``--workdir`` keeps that
Orthanc's storage between runs (loaded once)::

    .venv/bin/python benchmarks/window_gap.py --setup --studies 3000 --images 300 --repeats 1
    .venv/bin/python benchmarks/window_gap.py --setup --workdir /tmp/gapbench   # full size
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_API", "pyside6")

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # appended: the installed dicom_courier stays first
    sys.path.append(str(REPO_ROOT))

import qasync  # noqa: E402
from PySide6.QtCore import QItemSelection, QItemSelectionModel, Qt, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from dicom_courier.core.config.app_settings import (  # noqa: E402
    AppSettings,
    StudyDates,
    save_app_settings,
)
from dicom_courier.core.config.paths import app_paths  # noqa: E402
from dicom_courier.core.config.profile_store import NodeStore  # noqa: E402
from dicom_courier.core.config.profiles import Destination, PacsNode, Timeouts  # noqa: E402
from dicom_courier.core.dimse.engine_choice import PROCESS, engine_choice  # noqa: E402
from dicom_courier.core.process_tuning import freeze_start_up  # noqa: E402
from dicom_courier.gui.app import create_main_window  # noqa: E402
from dicom_courier.gui.deferred_courier import DeferredCourier  # noqa: E402
from dicom_courier.gui.main_window import MainWindow  # noqa: E402
from dicom_courier.gui.results_model import Role  # noqa: E402

PROBE_INTERVAL_MS = 10
PROFILE_NAME = "Benchmark PACS"
MOVE_STUDY_COUNT = 4


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- the probe ---------------------------------------------------------------------------------

class GapProbe:
    """A 10 ms precise QTimer on the GUI thread recording the intervals between callbacks."""

    def __init__(self) -> None:
        self._timer = QTimer()
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(PROBE_INTERVAL_MS)
        self._timer.timeout.connect(self._tick)
        self._last = 0.0
        self._last_cpu = 0.0
        self.intervals_ms: list[float] = []
        #: The GUI thread's own CPU time (ms) within each interval: a long interval with
        #: little CPU of its own was spent waiting (for the interpreter lock held by others).
        self.cpu_ms: list[float] = []
        #: The whole process's CPU time (ms, every thread) within each interval.
        self.process_cpu_ms: list[float] = []
        self._last_process = 0.0

    def start(self) -> None:
        self.intervals_ms = []
        self.cpu_ms = []
        self.process_cpu_ms = []
        self._last = time.perf_counter()
        self._last_cpu = time.thread_time()
        self._last_process = time.process_time()
        self._timer.start()

    def stop(self) -> list[float]:
        self._timer.stop()
        self._tick()  # the gap still open when the phase ended counts too
        return self.intervals_ms

    def _tick(self) -> None:
        now, cpu, process = time.perf_counter(), time.thread_time(), time.process_time()
        self.intervals_ms.append((now - self._last) * 1000.0)
        self.cpu_ms.append((cpu - self._last_cpu) * 1000.0)
        self.process_cpu_ms.append((process - self._last_process) * 1000.0)
        self._last, self._last_cpu, self._last_process = now, cpu, process

    def gap_cpu_share(self, over_ms: float = 20.0, *,
                      process: bool = False) -> float | None:
        """Of the time spent in intervals longer than ``over_ms``, the share of CPU time the
        GUI thread used itself (1.0: its own work; near 0: it waited), or with ``process``
        the whole process (all threads; ~1.0 with the GUI share low: other threads held the
        interpreter lock). None without such intervals."""
        cpu = self.process_cpu_ms if process else self.cpu_ms
        long = [(w, c) for w, c in zip(self.intervals_ms, cpu, strict=True) if w > over_ms]
        wall = sum(w for w, _ in long)
        return round(sum(c for _, c in long) / wall, 3) if wall else None


def p99(values: Sequence[float]) -> float:
    """The 99th percentile (nearest rank) of ``values``; 0.0 when there are none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(0.99 * len(ordered)) - 1))]


# -- peers ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Peer:
    host: str
    port: int
    called_aet: str
    calling_aet: str
    dest_aet: str
    move_studies: tuple[str, ...]


def find_spec(index: int) -> Any:
    from dicom_courier.core.demo.synthetic import StudySpec

    return StudySpec(
        key=f"gap-find-{index:05d}", patient_name=f"Gap^Patient{index:05d}",
        patient_id=f"GAP{index:05d}", birth_date=f"19{40 + index % 60:02d}0{1 + index % 9}1"
        f"{index % 10}", sex="MFO"[index % 3],
        study_date=f"202{index % 5}{1 + index % 12:02d}{1 + index % 28:02d}",
        study_time=f"{index % 24:02d}{index % 60:02d}00", accession=f"AG{index:07d}",
        description=f"Window gap study {index}", referring="Referrer^Gap",
        modalities=("CT",) if index % 2 else ("MR",), series_count=1, instances_per_series=1)


def move_spec(index: int, images: int) -> Any:
    from dicom_courier.core.demo.synthetic import StudySpec

    return StudySpec(
        key=f"gap-move-{index}-{images}", patient_name=f"Gap^Mover{index}",
        patient_id=f"GAPMOVE{index}", study_date="20250101", study_time=f"0{index}0000",
        accession=f"AGM{index:05d}", description=f"Window gap move study {index}",
        modalities=("CT",), series_count=1, instances_per_series=images)


def _instance_bytes(spec: Any, instance: int) -> bytes:
    from pydicom import dcmwrite

    from dicom_courier.core.demo.synthetic import make_instance

    buffer = io.BytesIO()
    dcmwrite(buffer, make_instance(spec, 0, instance), enforce_file_format=True)
    return buffer.getvalue()


def load_orthanc(orthanc: Any, studies: int, images: int, workers: int = 4) -> list[str]:
    """Upload ``studies`` one-image studies and 4 studies of ``images`` images (skipped when
    Orthanc already holds them); returns the move studies' UIDs."""
    movers = [move_spec(i, images) for i in range(MOVE_STUDY_COUNT)]
    expected = studies + MOVE_STUDY_COUNT
    held = len(orthanc.rest_get("/studies"))
    if held == expected and orthanc.instance_count() == studies + MOVE_STUDY_COUNT * images:
        log(f"Orthanc already holds the {expected} studies")
        return [spec.study_uid for spec in movers]
    if held:
        raise RuntimeError(f"Orthanc holds {held} studies, expected 0 or {expected}: "
                           "use an empty --workdir")
    work = [(find_spec(i), 0) for i in range(studies)]
    work += [(spec, n) for spec in movers for n in range(images)]
    started = time.perf_counter()

    def one(item: tuple[Any, int]) -> None:
        orthanc.upload([_instance_bytes(*item)])

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="upload")
    try:
        for done, _ in enumerate(pool.map(one, work), 1):
            if done % 2000 == 0:
                log(f"  uploaded {done}/{len(work)} instances")
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    log(f"loaded {len(work)} instances into Orthanc in {time.perf_counter() - started:.0f} s")
    held = len(orthanc.rest_get("/studies"))
    if held != expected:
        raise RuntimeError(f"Orthanc holds {held} studies, expected {expected}")
    return [spec.study_uid for spec in movers]


@contextlib.contextmanager
def own_peers(args: argparse.Namespace) -> Iterator[tuple[Peer, Any]]:
    """Start storescp + Orthanc (tests.peers), load them, yield the Peer and the storescp."""
    from tests.peers import OrthancPeer, StorescpPeer, free_port, reserve_dead_port

    keep = args.workdir is not None
    root = Path(args.workdir) if keep else Path(tempfile.mkdtemp(prefix="courier-gap-"))
    root.mkdir(parents=True, exist_ok=True)
    dead = reserve_dead_port()
    peers: list[Any] = []
    try:
        destination_port = free_port()
        storescp = StorescpPeer(root / "received", destination_port, workdir=root / "storescp",
                                aet="STORESCP")
        peers.append(storescp)
        storescp.start()
        storescp.clear()
        orthanc = OrthancPeer(root / "orthanc", destination_port=destination_port,
                              dead_port=int(dead.getsockname()[1]), calling_aet="COURIER",
                              known_destination="STORESCP")
        peers.append(orthanc)
        orthanc.start()
        log(f"Orthanc on {orthanc.port}, storescp on {destination_port}, folder {root}")
        uids = load_orthanc(orthanc, args.studies, args.images)
        yield Peer("127.0.0.1", orthanc.port, orthanc.aet, "COURIER", "STORESCP",
                   tuple(uids)), storescp
    finally:
        for peer in reversed(peers):
            peer.stop()
        dead.close()
        if not keep:
            shutil.rmtree(root, ignore_errors=True)


# -- one run of the three phases ---------------------------------------------------------------

async def _until(done: Callable[[], bool], limit_s: float) -> bool:
    """Let the loop run until ``done()`` (polled every 50 ms) or ``limit_s`` s; True if done."""
    deadline = time.monotonic() + limit_s
    while not done():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def _select_studies(window: MainWindow, uids: set[str]) -> int:
    """Select, in the grid, the rows of ``uids`` (as a person's Ctrl+clicks would)."""
    proxy = window.results_proxy
    selection = QItemSelection()
    found = 0
    for row in range(proxy.rowCount()):
        index = proxy.index(row, 0)
        if index.data(Role.STUDY_UID_ROLE) in uids:
            selection.select(index, index)
            found += 1
    flags = QItemSelectionModel.SelectionFlag.ClearAndSelect \
        | QItemSelectionModel.SelectionFlag.Rows
    window.results_view.selectionModel().select(selection, flags)
    return found


def _phase(name: str, probe: GapProbe, samples: dict[str, list[float]],
           intervals: list[float], run: dict[str, Any]) -> None:
    samples[f"{name}_p99"].append(round(p99(intervals), 2))
    samples[f"{name}_max"].append(round(max(intervals, default=0.0), 2))
    share, whole = probe.gap_cpu_share(), probe.gap_cpu_share(process=True)
    run[f"{name}_ticks"] = len(intervals)
    run[f"{name}_gaps_over_20ms_gui_thread_cpu_share"] = share
    run[f"{name}_gaps_over_20ms_process_cpu_share"] = whole
    log(f"  {name}: {len(intervals)} ticks, p99 {p99(intervals):.1f} ms, "
        f"max {max(intervals, default=0.0):.1f} ms; in gaps > 20 ms CPU of the GUI thread "
        f"{'-' if share is None else f'{share:.0%}'}, of the process "
        f"{'-' if whole is None else f'{whole:.0%}'}")


async def _screenshot(window: MainWindow, path: str, matches: int) -> str | None:
    """Save the window once rows are streaming in and the sends have counts; the path."""
    def mid_way() -> bool:
        rows = window.results_model.rowCount()
        counted = [job for job in window.queue_model.jobs()
                   if job.progress is not None and job.progress.completed > 0]
        return matches // 4 <= rows < matches and len(counted) >= 2

    if not await _until(mid_way, 60.0):
        return None
    window.queue_model.flush()
    await asyncio.sleep(0.25)  # the grid's throttled repaint
    window.grab().save(path)
    log(f"  screenshot: {path}")
    return path


def run_once(loop: asyncio.AbstractEventLoop, peer: Peer, args: argparse.Namespace,
             samples: dict[str, list[float]], info: dict[str, Any], storescp: Any) -> None:
    """One fresh window (fresh profile folder), the three phases, samples appended."""
    with tempfile.TemporaryDirectory(prefix="courier-gap-profile-") as folder:
        paths = app_paths(folder)
        paths.config_dir.mkdir(parents=True, exist_ok=True)
        save_app_settings(paths.settings_file, AppSettings(
            result_limit=1_000_000, confirm_over=100, moves_per_pacs=MOVE_STUDY_COUNT,
            default_study_dates=StudyDates.ANY))
        NodeStore(paths.nodes_file).put(PacsNode(
            name=PROFILE_NAME, called_aet=peer.called_aet, host=peer.host, port=peer.port,
            calling_aet=peer.calling_aet, timeouts=Timeouts(connect=5, acse=10, idle=60),
            destinations=(Destination(peer.dest_aet, label="Benchmark destination"),)))
        # As `dicom-courier` builds it (gui.app.run_app): the engine in a worker process
        # unless COURIER_ENGINE=thread, start-up objects frozen out of the GC after warm-up.
        courier = DeferredCourier(engine=engine_choice(PROCESS))
        window = create_main_window(folder, courier=courier)  # type: ignore[arg-type]
        window.reload_profiles(select=PROFILE_NAME)
        window.show()
        freeze_start_up(courier.warm_up)
        info["engine"] = engine_choice(PROCESS)
        run: dict[str, Any] = {}
        try:
            loop.run_until_complete(_phases(window, peer, args, samples, run, storescp))
        finally:
            window.searches.abort()
            loop.run_until_complete(window.shutdown())
            window.close()
            window.deleteLater()
            loop.run_until_complete(asyncio.sleep(0.2))
        info.setdefault("runs", []).append(run)
        log(f"  matches {run['search_matches']} / {run['search_moves_matches']}, moves "
            + ", ".join(f"{m['outcome']} {m['completed']}" for m in run["moves"]))
        if storescp is not None:
            storescp.clear()


async def _phases(window: MainWindow, peer: Peer, args: argparse.Namespace,
                  samples: dict[str, list[float]], run: dict[str, Any], storescp: Any) -> None:
    """search only; the 4 sends and the search again; idle as long as that took."""
    probe = GapProbe()
    await asyncio.sleep(1.0)  # first paints, start-up timers

    # 1. search only
    probe.start()
    task = window._spawn(window.search({}))  # what "Search everything? -> Yes" runs
    if not await _until(task.done, args.timeout):
        raise RuntimeError("the search did not end in time")
    _phase("search", probe, samples, probe.stop(), run)
    run["search_matches"] = window.results_model.rowCount()
    run["search_count_label"] = window.count_label.text()

    # 2. the 4 studies sent (Send button), the search run again at once
    wanted = set(peer.move_studies)
    selected = _select_studies(window, wanted)
    if selected != len(wanted):
        raise RuntimeError(f"{selected} of the {len(wanted)} move studies are listed")
    await asyncio.sleep(0.3)
    before = len(storescp.received_files()) if storescp is not None else 0
    started = time.perf_counter()
    probe.start()
    window.send_selection()  # the Send button's slot
    task = window._spawn(window.search({}))
    jobs = window.queue_model.jobs
    if len(jobs()) != len(wanted):
        raise RuntimeError(f"{len(jobs())} sends queued, expected {len(wanted)} "
                           f"(status: {window.statusBar().currentMessage()!r})")
    shot = (asyncio.ensure_future(_screenshot(window, args.screenshot, run["search_matches"]))
            if args.screenshot and "screenshot" not in run else None)
    finished = await _until(lambda: task.done() and all(
        job.state.is_finished for job in jobs()), args.timeout)
    if shot is not None:
        run["screenshot"] = await shot
    duration = time.perf_counter() - started
    _phase("search_moves", probe, samples, probe.stop(), run)
    if not finished:
        raise RuntimeError("the search and the sends did not end in time")
    run["search_moves_matches"] = window.results_model.rowCount()
    run["search_moves_seconds"] = round(duration, 2)
    window.queue_model.flush()
    run["moves"] = [{
        "state": job.state.value,
        "outcome": job.result.outcome.value if job.result else None,
        "completed": job.result.completed if job.result else None,
        "failed": job.result.failed if job.result else None,
        "warning": job.result.warning if job.result else None,
        "progress_text": window.queue_model.index(
            window.queue_model.row_of(job.job_id) or 0, 3).data(),
    } for job in jobs()]
    if storescp is not None:
        run["files_arrived"] = len(storescp.received_files()) - before

    # 3. idle, as long as phase 2
    await asyncio.sleep(0.5)
    probe.start()
    await asyncio.sleep(duration)
    _phase("idle", probe, samples, probe.stop(), run)


def _read_path() -> str:
    """The engine's C-FIND/C-MOVE response reader in this run (COURIER_READ_PATH)."""
    try:
        from dicom_courier.core.dimse.read_path import read_path
    except ImportError:  # an engine without the switch: pynetdicom's reader only
        return "pynetdicom (no COURIER_READ_PATH switch)"
    return read_path()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    parser.add_argument("--called-aet", default="ORTHANC")
    parser.add_argument("--calling-aet", default="COURIER")
    parser.add_argument("--dest-aet", default="STORESCP")
    parser.add_argument("--move-studies", default="",
                        help="comma-separated Study Instance UIDs of the 4 move studies")
    parser.add_argument("--setup", action="store_true",
                        help="start and load an Orthanc and a storescp of our own")
    parser.add_argument("--studies", type=int, default=10_000,
                        help="--setup: one-image studies for the search")
    parser.add_argument("--images", type=int, default=1000,
                        help="--setup: images in each of the 4 move studies")
    parser.add_argument("--workdir", help="--setup: keep the peers' folder here (reused)")
    parser.add_argument("--screenshot", help="save the window mid-way through phase 2 here")
    parser.add_argument("--timeout", type=float, default=300.0,
                        help="seconds a phase may take before the run counts as failed")
    args = parser.parse_args(argv)
    if not args.setup and (args.host is None or args.port is None or not args.move_studies):
        parser.error("give --host, --port and --move-studies, or --setup")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setQuitOnLastWindowClosed(False)  # windows come and go between repeats
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    samples: dict[str, list[float]] = {f"{phase}_{stat}": [] for phase in (
        "idle", "search", "search_moves") for stat in ("p99", "max")}
    info: dict[str, Any] = {
        "probe_interval_ms": PROBE_INTERVAL_MS,
        "read_path": _read_path(),
        "platform": os.environ.get("QT_QPA_PLATFORM"),
        "load_average_at_start": os.getloadavg(),
    }
    with contextlib.ExitStack() as stack:
        if args.setup:
            peer, storescp = stack.enter_context(own_peers(args))
        else:
            storescp = None
            peer = Peer(args.host, args.port, args.called_aet, args.calling_aet, args.dest_aet,
                        tuple(u for u in args.move_studies.split(",") if u))
        info["move_studies"] = list(peer.move_studies)
        for repeat in range(args.repeats):
            log(f"repeat {repeat + 1}/{args.repeats}")
            run_once(loop, peer, args, samples, info, storescp)
    info["load_average_at_end"] = os.getloadavg()
    info["medians"] = {row: statistics.median(values) for row, values in samples.items()
                       if values}
    asyncio.set_event_loop(None)
    loop.close()
    print(json.dumps({"measure": "window_gap", "unit": "ms", "repeats": args.repeats,
                      "rows": samples, "info": info}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
