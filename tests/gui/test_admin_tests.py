"""Issue 11 §6: the admin's tests in the window, against the demo PACS, with real clicks.

Test runs what ``nodes test`` runs (C-ECHO, then a C-FIND probe: an echo alone passes for a
calling AE the PACS refuses at query time), each step with its result and time; Test
destination asks the PACS about the destination (a probe move that moves nothing) and echoes
it, then shows the verdict with its confidence; Stop ends a test at once.
"""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QPushButton
from pytestqt.qtbot import QtBot

from dicom_courier.core.config.profile_store import NodeStore
from dicom_courier.core.config.profiles import Destination, PacsNode, Timeouts
from dicom_courier.core.demo.pacs import DemoPacs
from dicom_courier.core.demo.synthetic import demo_studies
from dicom_courier.core.demo.workstation import Workstation
from dicom_courier.core.dimse.engine import Courier
from dicom_courier.gui import create_main_window
from dicom_courier.gui.app import DEMO_PROFILE, start_demo_peers
from dicom_courier.gui.destination_test import CourierTests
from dicom_courier.gui.destinations_model import DestinationColumn
from dicom_courier.gui.pacs_manager import PacsManagerDialog
from tests.fakes.quirky import QuirkyPacs
from tests.gui.waiting import until
from tests.peers import reserve_dead_port

pytestmark = [pytest.mark.network, pytest.mark.qt_log_ignore("propagateSizeHints", "raise")]

MS = re.compile(r"^\d+ ms$")


@pytest.fixture
def courier() -> Iterator[Courier]:
    with Courier(max_workers=2) as courier:
        yield courier


def _open(qtbot: QtBot, store: NodeStore, courier: Courier,
          select: str | None = None) -> PacsManagerDialog:
    dialog = PacsManagerDialog(store, CourierTests(courier), select=select)
    qtbot.addWidget(dialog)
    dialog.resize(960, 760)
    dialog.show()
    qtbot.waitExposed(dialog)
    return dialog


async def _click_and_wait(button: QPushButton, signal: Any) -> Any:
    """A real left click on ``button``; the arguments of ``signal``'s next emission."""
    done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    def finished(*args: Any) -> None:
        if not done.done():
            done.set_result(args)

    signal.connect(finished)
    try:
        QTest.mouseClick(button, Qt.MouseButton.LeftButton)
        return await done
    finally:
        signal.disconnect(finished)


def _steps(dialog: PacsManagerDialog) -> list[tuple[str, str]]:
    rows = dialog.test_steps.rows()
    assert all(MS.match(row[2]) for row in rows), rows  # every step shows its time
    return [row[:2] for row in rows]


# --------------------------------------------------------------------------- Test (the PACS)


def test_test_from_the_window_runs_echo_then_find_both_passing_with_times(
        qtbot: QtBot, qasync_loop: Any, tmp_path: Path, run_async: Any) -> None:
    with ExitStack() as stack:
        node = start_demo_peers(stack, tmp_path / "ws")
        NodeStore(tmp_path / "config" / "nodes.json").put(node)
        window = create_main_window(tmp_path / "config")
        qtbot.addWidget(window)
        window.manage_action.trigger()  # File → Manage PACS and destinations…
        dialog = window.findChild(PacsManagerDialog)
        assert dialog is not None and dialog.current_draft().display_name == DEMO_PROFILE
        ok, text = run_async(_click_and_wait(dialog.test_button, dialog.connection_tested))
        dialog.grab().save("/tmp/pacs_manager_test_passed.png")
        dialog.close()
        run_async(window.shutdown())
    assert ok, text
    assert _steps(dialog) == [("C-ECHO", "✓ passed"), ("C-FIND probe", "✓ passed")]
    assert re.match(r"^Passed: C-ECHO \d+ ms, C-FIND probe \d+ ms — verified ", text), text


def test_a_calling_ae_refused_at_query_time_fails_the_test_although_echo_passes(
        qtbot: QtBot, tmp_path: Path, courier: Courier, run_async: Any) -> None:
    """Orthanc answers the echo of an AE title it does not know and aborts its C-FIND."""
    with QuirkyPacs(demo_studies(), refuse_find_from=frozenset({"STRANGER"})) as pacs:
        store = NodeStore(tmp_path / "nodes.json")
        store.save([PacsNode(name="Quirky", called_aet=pacs.ae_title, host="127.0.0.1",
                             port=pacs.port, calling_aet="STRANGER",
                             timeouts=Timeouts(connect=3, idle=10))])
        dialog = _open(qtbot, store, courier)
        ok, text = run_async(_click_and_wait(dialog.test_button, dialog.connection_tested))
        dialog.grab().save("/tmp/pacs_manager_test_find_refused.png")
    assert not ok
    assert _steps(dialog) == [("C-ECHO", "✓ passed"), ("C-FIND probe", "✗ failed")]
    assert text.startswith("Failed at C-FIND probe: no: QUIRKY aborted the search"), text
    assert "STRANGER" in text
    assert "#c62828" in dialog.test_status.styleSheet()
    assert dialog.test_button.isEnabled() and not dialog.stop_test_button.isVisible()


def test_stop_ends_a_test_of_a_pacs_that_never_answers_at_once(
        qtbot: QtBot, tmp_path: Path, courier: Courier, run_async: Any) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # connects, never answers the A-ASSOCIATE-RQ
    try:
        store = NodeStore(tmp_path / "nodes.json")
        store.save([PacsNode(name="Silent", called_aet="SILENT", host="127.0.0.1",
                             port=silent.getsockname()[1])])  # acse timeout: 30 s
        dialog = _open(qtbot, store, courier)

        async def scenario() -> tuple[tuple[bool, str], float]:
            pressed = asyncio.ensure_future(
                _click_and_wait(dialog.test_button, dialog.connection_tested))
            await asyncio.sleep(0.3)
            assert dialog.test_button.text() == "Testing…"
            assert not dialog.test_button.isEnabled()
            assert dialog.stop_test_button.isVisible()
            started = time.monotonic()
            QTest.mouseClick(dialog.stop_test_button, Qt.MouseButton.LeftButton)
            result = await pressed
            return result, time.monotonic() - started

        (ok, text), seconds = run_async(scenario())
    finally:
        silent.close()
    assert not ok and text.startswith("Stopped: the test did not finish"), text
    assert seconds < 1.5
    assert dialog.test_button.isEnabled() and dialog.test_button.text() == "Test"


# --------------------------------------------------------------------------- Test destination


@pytest.fixture
def demo_with_destinations(tmp_path: Path) -> Iterator[tuple[NodeStore, int]]:
    """The demo PACS knowing WORKSTATION (running) and WSDOWN (nobody listens); the profile
    also lists WS3, which answers at the workstation's address but the PACS does not know."""
    dead = reserve_dead_port()
    dead_port = dead.getsockname()[1]
    with ExitStack() as stack:
        stack.callback(dead.close)
        ws = stack.enter_context(Workstation(tmp_path / "ws", ae_title="WORKSTATION"))
        pacs = stack.enter_context(DemoPacs(destinations={
            "WORKSTATION": ("127.0.0.1", ws.port), "WSDOWN": ("127.0.0.1", dead_port)}))
        store = NodeStore(tmp_path / "nodes.json")
        store.save([PacsNode(
            name=DEMO_PROFILE, called_aet=pacs.ae_title, host="127.0.0.1", port=pacs.port,
            timeouts=Timeouts(connect=3, idle=10),
            destinations=(Destination("WORKSTATION", "127.0.0.1", ws.port),
                          Destination("WS3", "127.0.0.1", ws.port),
                          Destination("WSDOWN", "127.0.0.1", dead_port)))])
        yield store, dead_port


@pytest.mark.parametrize(("row", "verdict", "steps", "usable"), [
    pytest.param(0, "WORKSTATION answers; the PACS DEMOPACS did not refuse it",
                 [("C-MOVE (no match)", "? unclear"), ("C-ECHO to WORKSTATION", "✓ passed")], True,
                 id="known-and-answering"),
    pytest.param(1, "certain: the PACS DEMOPACS does not know WS3",
                 [("C-MOVE (no match)", "✗ failed"), ("C-ECHO to WS3", "✓ passed")], False,
                 id="unknown-to-the-pacs-0xA801"),
    pytest.param(2, "certain: WSDOWN does not answer at 127.0.0.1:{port}; DEMOPACS did not "
                    "refuse it",
                 [("C-MOVE (no match)", "? unclear"), ("C-ECHO to WSDOWN", "✗ failed")], False,
                 id="known-but-down"),
])
def test_test_destination_shows_the_verdict_with_its_confidence(
        qtbot: QtBot, courier: Courier, run_async: Any, demo_with_destinations: Any,
        row: int, verdict: str, steps: list[tuple[str, str]], usable: bool) -> None:
    store, dead_port = demo_with_destinations
    dialog = _open(qtbot, store, courier)
    assert not dialog.test_destination_button.isEnabled()  # nothing selected yet
    view = dialog.destinations_view
    cell = view.visualRect(dialog.destinations_model.index(row, DestinationColumn.AE_TITLE))
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=cell.center())
    assert dialog.test_destination_button.isEnabled()
    (text,) = run_async(_click_and_wait(dialog.test_destination_button,
                                        dialog.destination_tested))
    expected = verdict.format(port=dead_port)
    assert text == expected
    panel = dialog.destination_test
    assert panel.verdict_label.text() == expected and panel.isVisible()
    rows = panel.steps.rows()
    assert [r[:2] for r in rows] == steps
    assert all(MS.match(r[2]) for r in rows), rows
    assert ("#2e7d32" in panel.verdict_label.styleSheet()) is usable
    assert store.load()[0].destinations[row].ae_title in text  # nothing was saved or moved
    dialog.grab().save(f"/tmp/pacs_manager_destination_{row}.png")


@pytest.mark.qt_log_ignore("propagateSizeHints", "raise", "grabbing the keyboard")  # offscreen
def test_test_destination_from_the_send_menu_tests_the_chosen_destination(
        qtbot: QtBot, qasync_loop: Any, tmp_path: Path, run_async: Any,
        demo_with_destinations: Any) -> None:
    """Issue 11 §6 (left open by the first pass): the destination chosen in the main window
    can be tested from the window itself — Send → Test destination… (Alt+N, T)."""
    store, _dead_port = demo_with_destinations
    config = tmp_path / "config"
    config.mkdir()
    (config / "nodes.json").write_bytes((tmp_path / "nodes.json").read_bytes())
    window = create_main_window(config)
    qtbot.addWidget(window)
    window.reload_profiles(select=DEMO_PROFILE)
    window.destination_combo.setCurrentIndex(window.destination_combo.findData("WS3"))
    window.show()
    window.activateWindow()
    qtbot.waitActive(window)

    async def from_the_menu() -> tuple[PacsManagerDialog, str]:
        QTest.keyClick(window, Qt.Key.Key_N, Qt.KeyboardModifier.AltModifier)  # Se&nd
        menu = QApplication.activePopupWidget()
        assert menu is not None
        QTest.keyClick(menu, Qt.Key.Key_T)  # &Test destination…
        await until(lambda: window.findChild(PacsManagerDialog) is not None)
        dialog = window.findChild(PacsManagerDialog)
        assert dialog is not None
        await until(lambda: dialog.destination_test.verdict_label.text().startswith("certain")
                    or "answers" in dialog.destination_test.verdict_label.text(),
                    describe=dialog.destination_test.verdict_label.text)
        return dialog, dialog.destination_test.verdict_label.text()

    try:
        dialog, verdict = run_async(from_the_menu())
        assert verdict == "certain: the PACS DEMOPACS does not know WS3"
        dialog.close()
    finally:
        run_async(window.shutdown())
