"""Take the README's screenshots: the real window, offscreen, on the demo PACS, mid-move.

Run from the repository root: ``.venv/bin/python docs/screenshots.py``. It writes
``docs/screenshots/main-window.png`` (search results and two sends in progress) and
``docs/screenshots/failure.png`` (the dialog for an unknown destination). For CJK names to
render, install a CJK font first (Debian: ``apt-get install fonts-droid-fallback``).
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_API", "pyside6")

import qasync  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

OUT = Path(__file__).resolve().parent / "screenshots"


async def _until(condition: object, within: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not condition():  # type: ignore[operator]
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("the demo did not get there in time")
        await asyncio.sleep(0.05)


def main() -> int:
    app = QApplication(sys.argv[:1])
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    from dicom_courier.core.config.app_settings import StudyDates
    from dicom_courier.core.config.paths import app_paths
    from dicom_courier.core.config.profile_store import NodeStore
    from dicom_courier.core.config.profiles import Destination
    from dicom_courier.core.dimse.engine import Courier
    from dicom_courier.gui.app import DEMO_PROFILE, compose, start_demo_peers
    from dicom_courier.gui.main_window import MainWindow
    from dicom_courier.gui.send_summary import SendPlan

    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        paths = app_paths(Path(tmp) / "config")
        node = start_demo_peers(stack, Path(tmp) / "ws", store_delay=0.08)
        node = node.with_changes(destinations=(*node.destinations, Destination("WS-3")))
        NodeStore(paths.nodes_file).put(node)
        window = MainWindow(compose(paths, Courier()))
        window.reload_profiles(select=DEMO_PROFILE)
        window.resize(1360, 860)
        window.show()

        async def scenario() -> None:
            window.form.set_default_dates(StudyDates.ANY, apply=True)  # as `--demo` starts
            await window.search(window.form.query_keys())
            window.results_view.selectAll()
            matches = tuple(window.results_view.selected_matches())
            window.enqueue(SendPlan(node, "WORKSTATION", "Demo workstation", matches[:3]))
            await _until(lambda: any((j.progress and j.progress.completed >= 12)
                                     for j in window.queue.jobs()))
            window.results_view.selectRow(1)
            window.queue_model.flush()
            window.grab().save(str(OUT / "main-window.png"))
            window.enqueue(SendPlan(node, "WS-3", "WS-3", matches[3:4]))
            await _until(lambda: window.failures.open_dialogs())
            dialog = window.failures.open_dialogs()[0]
            dialog.set_details_expanded(True)  # type: ignore[attr-defined]
            await asyncio.sleep(0.2)
            dialog.grab().save(str(OUT / "failure.png"))
            await window.shutdown()

        loop.run_until_complete(scenario())
        window.close()
        window.deleteLater()
    loop.close()
    app.shutdown()  # PySide6's own clean-up before Python finalises, or it may crash on exit
    print(f"wrote {OUT / 'main-window.png'} and {OUT / 'failure.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
