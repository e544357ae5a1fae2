"""Start the window: one QApplication, one qasync loop, one Courier, one MainWindow.

``create_main_window(config_dir)`` builds the window without entering the event loop (tests
and embedding); ``run_app`` is the ``dicom-courier`` entry with no subcommand. ``--demo``
starts the embedded demo PACS and a workstation receiver and points a demo profile at them.
"""

from __future__ import annotations

import asyncio
import os
import sys
from contextlib import ExitStack
from pathlib import Path

os.environ.setdefault("QT_API", "pyside6")  # qasync must pick PySide6

import qasync  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from dicom_courier.core.config.instance_lock import AlreadyRunning, ProfileLock  # noqa: E402
from dicom_courier.core.config.paths import app_paths  # noqa: E402
from dicom_courier.core.config.profile_store import NodeStore  # noqa: E402
from dicom_courier.core.config.profiles import Destination, PacsNode, Timeouts  # noqa: E402
from dicom_courier.core.dimse.engine import Courier  # noqa: E402
from dicom_courier.gui.main_window import MainWindow  # noqa: E402

DEMO_PROFILE = "Demo PACS"


def create_main_window(config_dir: str | os.PathLike[str] | None = None) -> MainWindow:
    """The main window over its own Courier; needs a running QApplication and qasync loop."""
    return MainWindow(app_paths(config_dir), Courier())


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


def run_app(config_dir: str | None = None, *, demo: bool = False) -> int:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("DICOM Courier")
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with ExitStack() as stack:
        paths = app_paths(config_dir)
        if demo:
            paths = app_paths(paths.data_dir / "demo-profile")
        try:
            stack.enter_context(ProfileLock(paths.data_dir))
        except AlreadyRunning as exc:
            sys.stderr.write(exc.render() + "\n")
            return 1
        if demo:
            node = start_demo_peers(stack, paths.data_dir / "workstation")
            NodeStore(paths.nodes_file).put(node)
        window = MainWindow(paths, Courier())
        if demo:
            window.reload_profiles(select=DEMO_PROFILE)
            window.statusBar().showMessage(
                f"Demo: search, select a study, press Send. Received files go to "
                f"{paths.data_dir / 'workstation'}", 0)
        window.show()
        closed = asyncio.Event()
        app.lastWindowClosed.connect(closed.set)
        with loop:
            loop.run_until_complete(closed.wait())
            loop.run_until_complete(window.shutdown())
        window.deleteLater()
    app.shutdown()  # let PySide6 clean up before Python finalises (it crashed on exit otherwise)
    return 0
