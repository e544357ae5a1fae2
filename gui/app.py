"""Start the window: one QApplication, one qasync loop, one Courier, one MainWindow.

This is the window's composition root: :func:`compose` builds, once per window, everything the
window works with (the settings, the PACS profiles, ``jobs.db``, the move queue and the
signals that carry its announcements to the models) and wires them together; the window only
shows them. ``create_main_window(config_dir)`` builds the window without entering the event
loop (tests and embedding); ``run_app`` is the ``dicom-courier`` entry with no subcommand.
``--demo`` starts the embedded demo PACS and a workstation receiver and points a demo profile
at them.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

os.environ.setdefault("QT_API", "pyside6")  # qasync must pick PySide6

import qasync  # noqa: E402
from PySide6.QtCore import QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402

from dicom_courier.core.config.app_settings import (  # noqa: E402
    AppSettings,
    StudyDates,
    read_app_settings,
)
from dicom_courier.core.config.atomic import remove_stale_temp_files  # noqa: E402
from dicom_courier.core.config.instance_lock import AlreadyRunning, ProfileLock  # noqa: E402
from dicom_courier.core.config.paths import AppPaths, app_paths  # noqa: E402
from dicom_courier.core.config.profile_store import NodeStore  # noqa: E402
from dicom_courier.core.config.profiles import Destination, PacsNode, Timeouts  # noqa: E402
from dicom_courier.core.dimse.arrival_hub import ArrivalHub  # noqa: E402 (no pynetdicom)
from dicom_courier.core.dimse.engine_choice import PROCESS, THREAD, engine_choice  # noqa: E402
from dicom_courier.core.jobs.arrivals import ArrivalLedger  # noqa: E402
from dicom_courier.core.jobs.destination_memory import DestinationMemory  # noqa: E402
from dicom_courier.core.jobs.history import RetentionRun, retention_at_start  # noqa: E402
from dicom_courier.core.jobs.job import JobSnapshot  # noqa: E402
from dicom_courier.core.jobs.queue import MoveQueue  # noqa: E402
from dicom_courier.core.jobs.retry import RetryPolicy  # noqa: E402
from dicom_courier.core.jobs.store import DEFAULT_BUSY_TIMEOUT, JobStore  # noqa: E402
from dicom_courier.core.process_tuning import freeze_start_up  # noqa: E402
from dicom_courier.core.qr.model_choice import ModelMemory  # noqa: E402
from dicom_courier.core.signals import EngineSignals  # noqa: E402
from dicom_courier.gui.deferred_courier import DeferredCourier, after_first_paint  # noqa: E402
from dicom_courier.gui.main_window import MainWindow  # noqa: E402
from dicom_courier.gui.receiver_control import WindowReceiver  # noqa: E402
from dicom_courier.gui.receiver_wiring import (  # noqa: E402
    ArrivalTiming,
    HereStarter,
    saved_nodes,
)
from dicom_courier.gui.second_instance import refuse_second_copy  # noqa: E402

if TYPE_CHECKING:  # the engine (pynetdicom, pydicom) loads after the first paint
    from dicom_courier.core.dimse.engine import Courier
    from dicom_courier.core.dimse.process_courier import ProcessCourier

DEMO_PROFILE = "Demo PACS"


@dataclass(frozen=True, eq=False)
class WindowParts:
    """Everything one window works with, built and wired by :func:`compose`.

    ``settings_problems``: one line per ``settings.json`` value not used; ``retention``: what
    the history retention rule did at start. ``signals`` carries the queue's announcements
    (added, changed, removed) and ``jobs.db``'s refusals (``store_refused``) to the window.
    """

    paths: AppPaths
    courier: Courier | ProcessCourier | DeferredCourier
    profiles: NodeStore
    settings: AppSettings
    settings_problems: tuple[str, ...]
    signals: EngineSignals
    history: JobStore
    destination_memory: DestinationMemory
    queue: MoveQueue
    model_memory: ModelMemory
    retention: RetentionRun
    receiver: WindowReceiver | None = None
    arrival_timing: ArrivalTiming | None = None


@dataclass(frozen=True)
class _LessonsThenSignals:
    """The queue's listener in the window: a finished job's lesson about its destination is
    noted first (for the next send's check), then the window hears of the job."""

    memory: DestinationMemory
    signals: EngineSignals

    def on_job_added(self, job: JobSnapshot) -> None:
        self.signals.on_job_added(job)

    def on_job_changed(self, job: JobSnapshot) -> None:
        self.memory.note_job(job)
        self.signals.on_job_changed(job)

    def on_jobs_removed(self, job_ids: tuple[int, ...]) -> None:
        self.signals.on_jobs_removed(job_ids)


def compose(paths: AppPaths, courier: Courier | ProcessCourier | DeferredCourier, *,
            busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> WindowParts:
    """Build and wire the window's parts for the profile at ``paths`` over ``courier``.

    Leftovers of an interrupted save are removed; a bad settings value costs that value only;
    a locked, full or read-only ``jobs.db`` is opened listed-only (sends refused, said by the
    window); the retention rule runs only on completely read settings. Never raises for a
    damaged file (a damaged ``jobs.db`` is moved aside, see :class:`JobStore`).
    ``busy_timeout`` (s): how long ``jobs.db`` waits for another process's lock (product
    default 5 s; tests pass a short one).
    """
    for folder in (paths.config_dir, paths.data_dir):  # an interrupted save's leftovers
        remove_stale_temp_files(folder)
    loaded = read_app_settings(paths.settings_file)  # a bad value costs that value only
    signals = EngineSignals()
    # Every send, durably (issue 4). Locked, full or read-only: listed, sends refused.
    history = JobStore(paths.data_dir / "jobs.db", busy_timeout=busy_timeout,
                       allow_unreadable=True)
    memory = DestinationMemory(history)
    profiles = NodeStore(paths.nodes_file)
    # Issue 13: "This computer". Arrivals (the receiver's, a C-GET's) go to one hub; the
    # ledger counts them per send; the receiver itself starts after the first paint.
    hub = ArrivalHub()
    receiver = WindowReceiver(paths, hub, nodes=lambda: saved_nodes(profiles))
    timing = ArrivalTiming.of(loaded.settings)
    queue = MoveQueue(courier, _LessonsThenSignals(memory, signals),  # add, change, remove
                      per_pacs_limit=loaded.settings.moves_per_pacs, store=history,
                      retry_policy=RetryPolicy(), on_store_error=signals.report_store_error,
                      arrivals=ArrivalLedger(hub),
                      retrieve_here=HereStarter(courier, receiver, hub),
                      check_arrival=timing.checker(courier),
                      arrival_wait=timing.wait)
    return WindowParts(paths=paths, courier=courier, profiles=profiles,
                       settings=loaded.settings, settings_problems=loaded.problems,
                       signals=signals, history=history, destination_memory=memory,
                       queue=queue, model_memory=ModelMemory(),
                       retention=retention_at_start(history, loaded),
                       receiver=receiver, arrival_timing=timing)


def create_main_window(config_dir: str | os.PathLike[str] | None = None, *,
                       courier: Courier | ProcessCourier | None = None,
                       busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> MainWindow:
    """The main window over ``courier`` (default: its own, a :class:`DeferredCourier` that
    imports the engine on first use, on DIMSE threads of this process unless
    ``COURIER_ENGINE=process``); needs a running QApplication and qasync loop.
    ``busy_timeout`` (s): see :func:`compose`."""
    courier = courier or DeferredCourier(engine=engine_choice(THREAD))
    window = MainWindow(compose(app_paths(config_dir), courier, busy_timeout=busy_timeout))
    start_receiver_after_paint(window)
    return window


def start_receiver_after_paint(window: MainWindow) -> None:
    """Start "This computer" (the built-in receiver) right after the window's first paint
    when it is turned on: it imports pynetdicom, and the window paints first (issue 12 §3).
    A port in use or a folder that cannot be written is said in the window, non-modal."""
    receiver = window.receiver
    if receiver is not None and receiver.enabled:
        after_first_paint(window, receiver.start)


def start_demo_peers(stack: ExitStack, folder: Path, store_delay: float = 0.03) -> PacsNode:
    """Start the demo PACS and its workstation receiver; return a profile for them."""
    from dicom_courier.core.demo.pacs import DemoPacs
    from dicom_courier.core.demo.workstation import Workstation

    workstation = stack.enter_context(Workstation(folder, ae_title="WORKSTATION"))
    pacs = stack.enter_context(DemoPacs(
        store_delay=store_delay,
        destinations={"WORKSTATION": ("127.0.0.1", workstation.port)}))
    return PacsNode(name=DEMO_PROFILE, called_aet=pacs.ae_title, host="127.0.0.1",
                    port=pacs.port, timeouts=Timeouts(connect=5, idle=30),
                    destinations=(Destination("WORKSTATION", "127.0.0.1", workstation.port,
                                              "Demo workstation"),))


@contextmanager
def _ctrl_c_closes(windows: list[QWidget]) -> Iterator[None]:
    """Ctrl+C in the terminal that started the window closes it as Ctrl+Q does (asking first
    when sends are running or waiting); before the window exists it is ignored (start-up is
    short and holds the profile lock). Qt's event loop keeps Python from seeing SIGINT, so a
    timer hands it the interpreter four times a second. The old handler is put back."""
    def closes(*_: object) -> None:
        for window in windows:
            QTimer.singleShot(0, window.close)

    previous = signal.signal(signal.SIGINT, closes)
    wake = QTimer()
    wake.timeout.connect(lambda: None)
    wake.start(250)
    try:
        yield
    finally:
        wake.stop()
        signal.signal(signal.SIGINT, previous)


def run_app(config_dir: str | None = None, *, demo: bool = False) -> int:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("DICOM Courier")
    with ExitStack() as stack:
        shown: list[QWidget] = []
        stack.enter_context(_ctrl_c_closes(shown))
        paths = app_paths(config_dir)
        if demo:
            paths = app_paths(paths.data_dir / "demo-profile")
        try:
            stack.enter_context(ProfileLock(paths.data_dir))
        except AlreadyRunning as exc:  # a launcher has no terminal: stderr and a dialog
            return refuse_second_copy(exc)  # before the event loop exists: exec() is safe
        loop = qasync.QEventLoop(app)
        asyncio.set_event_loop(loop)
        if demo:
            node = start_demo_peers(stack, paths.data_dir / "workstation")
            NodeStore(paths.nodes_file).put(node)
        # The engine starts after the first paint, in a process of its own unless
        # COURIER_ENGINE=thread (issue 12 §2: the window never waits for the network).
        courier = DeferredCourier(engine=engine_choice(PROCESS))
        window = MainWindow(compose(paths, courier))
        if demo:
            window.reload_profiles(select=DEMO_PROFILE)
            # The demo's studies are from 2023-2024: "last 7 days" (the default) finds none.
            window.form.set_default_dates(StudyDates.ANY, apply=True)
            window.statusBar().showMessage(
                f"Demo: search, select a study, press Send. Received files go to "
                f"{paths.data_dir / 'workstation'}", 0)
        window.show()
        # ready before a person can click; then start-up's objects leave the GC's full passes
        after_first_paint(window, lambda: freeze_start_up(courier.warm_up))
        start_receiver_after_paint(window)
        closed = asyncio.Event()
        app.lastWindowClosed.connect(closed.set)
        shown.append(window)
        async def until_closed() -> None:
            await closed.wait()
            await window.shutdown()  # in the same run: nothing of it runs after the loop

        # The loop runs until shutdown ends, not until Qt sees the last window close (a move
        # task ended in between once ran outside the loop: "bound to a different loop").
        app.setQuitOnLastWindowClosed(False)
        with loop:
            loop.run_until_complete(until_closed())
        window.deleteLater()
    app.shutdown()  # let PySide6 clean up before Python finalises (it crashed on exit otherwise)
    return 0
