"""Issue 13, the window after a keyboard-only review (part W2): This computer's doctor, C-GET
without the receiver, a full disk's counts, a PACS manager that fits 1366x768 and lets Tab
out of its table, steps not cut, the receiver kept across allow-list edits, a taken port said
once with what to do, allowed senders split on spaces, and the send button's words."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QAbstractButton, QApplication, QGroupBox, QLabel, QWidget
from pytestqt.qtbot import QtBot

from dicom_courier.core.config.profile_store import NodeStore
from dicom_courier.core.config.profiles import Destination, PacsNode
from dicom_courier.core.config.receiver_settings import ReceiverSettings, save_receiver_settings
from dicom_courier.core.config.retrieve_method import RetrieveMethod
from dicom_courier.core.dimse.destination_verdict import Confidence, DestinationVerdict
from dicom_courier.core.dimse.diagnose import Check, DestinationTest, Verdict
from dicom_courier.core.jobs.queue import JobState
from dicom_courier.core.outcome.arrival import HERE, THIS_COMPUTER, ArrivalCheck
from dicom_courier.gui import create_main_window
from dicom_courier.gui.destination_test import StepsView
from dicom_courier.gui.main_window import MainWindow
from dicom_courier.gui.pacs_manager import PacsManagerDialog
from dicom_courier.gui.queue_model import MoveQueueModel, QueueColumn
from dicom_courier.gui.receiver_settings_box import ReceiverSettingsBox
from tests.gui.test_queue_panel import make_job

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "raise",
                                       "This plugin does not support")
SHOTS = Path(os.environ.get("COURIER_SHOTS", "/tmp/i13shots"))
NODE = PacsNode(name="Main PACS", called_aet="ORTHANC", host="127.0.0.1", port=4242,
                destinations=(Destination("WS3", "10.0.0.3", 104, "Reading room 3",
                                          queryable=True),))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _window(qtbot: QtBot, config: Path, node: PacsNode = NODE) -> MainWindow:
    NodeStore(config / "nodes.json").put(node)
    win = create_main_window(config)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    return win


def _access_keys(root: QWidget) -> dict[str, list[str]]:
    """Visible buttons, group boxes and buddied labels by their access key."""
    found: dict[str, list[str]] = {}
    for widget in root.findChildren(QWidget):
        if not widget.isVisibleTo(root):
            continue
        if isinstance(widget, QAbstractButton):
            text = widget.text()
        elif isinstance(widget, QGroupBox):
            text = widget.title()
        elif isinstance(widget, QLabel) and widget.buddy() is not None:
            text = widget.text()
        else:
            continue
        match = re.search(r"&([^&\s])", text.replace("&&", ""))
        if match:
            found.setdefault(match.group(1).lower(), []).append(text)
    return found


# --------------------------------------------------------------------- d, g: PACS manager

def test_pacs_manager_fits_a_small_screen_tab_leaves_its_table_and_keys_are_unique(
        qtbot: QtBot, tmp_path: Path) -> None:
    store = NodeStore(tmp_path / "nodes.json")
    store.put(NODE)
    dialog = PacsManagerDialog(store, None)  # type: ignore[arg-type]  # no test runs here
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    # d: fits 1366x768 (seen: >= 845 px, 961 px after a test)
    assert dialog.minimumSizeHint().height() <= 700
    assert dialog.height() <= 700
    # g: Tab and Ctrl+Tab leave the destinations table (seen: both stayed inside)
    view = dialog.destinations_view
    view.setFocus()
    view.setCurrentIndex(dialog.destinations_model.index(0, 0))
    QTest.keyClick(view, Qt.Key.Key_Tab)
    assert QApplication.focusWidget() is not view
    view.setFocus()
    QTest.keyClick(view, Qt.Key.Key_Tab, Qt.KeyboardModifier.ControlModifier)
    assert QApplication.focusWidget() is not view
    # access keys: present on every button named in the review, unique in the dialog
    keys = _access_keys(dialog)
    assert all(len(texts) == 1 for texts in keys.values()), keys
    for button in (dialog.add_destination_button, dialog.remove_destination_button,
                   dialog.up_button, dialog.down_button, dialog.test_destination_button,
                   dialog.save_button, dialog.close_button, dialog.add_button,
                   dialog.remove_button):
        assert "&" in button.text(), button.text()
    rows = dialog.destinations_model.rowCount()
    dialog.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is dialog)
    QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_A,
                   Qt.KeyboardModifier.AltModifier)  # &Add destination
    qtbot.waitUntil(lambda: dialog.destinations_model.rowCount() == rows + 1, timeout=2000)
    SHOTS.mkdir(parents=True, exist_ok=True)
    dialog.grab().save(str(SHOTS / "w2_manager_small_screen.png"))


# --------------------------------------------------------------------- e: every step shown

def test_the_steps_list_shows_all_seven_doctor_steps(qtbot: QtBot) -> None:
    steps = StepsView("steps")
    qtbot.addWidget(steps)
    names = ["C-ECHO", "C-FIND probe", "receiver", "C-MOVE (no match)", "C-ECHO to WS3",
             "C-FIND (IMAGE)", "probe C-MOVE (1 instance)"]
    steps.show_checks([Check("?", Verdict.OK, "yes", step=name, ms=3) for name in names])
    steps.show()
    qtbot.waitExposed(steps)
    last = steps.topLevelItem(len(names) - 1)
    assert steps.visualItemRect(last).bottom() <= steps.viewport().height()  # not cut
    assert not steps.verticalScrollBar().isVisible()
    steps.grab().save(str(SHOTS / "w2_steps.png"))


# --------------------------------------------------------------------- c, i: queue rows

def test_a_full_disk_send_says_the_study_total_and_a_waiting_row_no_rate() -> None:
    model = MoveQueueModel()
    full = replace(make_job(1, JobState.PARTIAL, completed=50, total=360, started_ago=9,
                            status=0xB000, destination=HERE),
                   received=50, arrival=ArrivalCheck(THIS_COMPUTER, 50, 50, 0.3))
    waiting = replace(make_job(2, JobState.RUNNING, completed=6, total=6, started_ago=2,
                               destination=HERE), received=0, checking=True)
    retrying = replace(make_job(3, JobState.RETRYING, started_ago=2, destination=HERE),
                       received=0, next_retry_at=time.monotonic() + 20.5)
    for job in (full, waiting, retrying):
        model.apply(job)

    def cell(row: int, column: QueueColumn) -> str:
        return str(model.index(row, column).data())

    # c: never "received 50 of 50" while 310 images are missing; the PACS's words stay
    assert cell(0, QueueColumn.PROGRESS) == "received 50 of 360"
    assert cell(0, QueueColumn.STATUS).startswith("partial: 50 of 360 sent")
    # i: nothing received yet: no rate, no "0:00" remaining, and say what it waits for
    assert cell(1, QueueColumn.STATUS) == "waiting for the files…"
    assert cell(1, QueueColumn.RATE) == "" and cell(1, QueueColumn.REMAINING) == ""
    # i: a retrying send here says when it retries, not "0 of 0 sent · received 0 of 0"
    assert cell(2, QueueColumn.PROGRESS) in ("retrying in 20 s", "retrying in 19 s")
    assert "0 of 0" not in cell(2, QueueColumn.PROGRESS)


# --------------------------------------------------------------------- k: allowed senders

def test_allowed_senders_split_on_spaces_and_each_is_checked(qtbot: QtBot,
                                                             tmp_path: Path) -> None:
    box = ReceiverSettingsBox(ReceiverSettings(enabled=True), default_folder=tmp_path,
                              profile_aets=["ORTHANC"])
    qtbot.addWidget(box)
    box.allowed.setFocus()
    QTest.keyClicks(box.allowed, "ORTHANC DCMQRSCP")
    assert box.problems() == {}
    assert box.settings().allowed_aets == ("ORTHANC", "DCMQRSCP")
    assert "commas or spaces" in box.allowed.placeholderText() + box.allowed.toolTip()
    box.allowed.clear()
    QTest.keyClicks(box.allowed, "ORTHANC, A_TITLE_FAR_TOO_LONG")
    assert box.problems()["allowed_aets"].startswith(
        "Allowed senders: must be at most 16 characters")


# --------------------------------------------------------------------- b, l: the picker

def test_this_computer_is_offered_for_c_get_without_the_receiver(
        qtbot: QtBot, tmp_path: Path, run_async: Any) -> None:
    config = tmp_path / "config"
    get_node = replace(NODE, retrieve=RetrieveMethod.GET)
    win = _window(qtbot, config, get_node)  # the receiver is off (no receiver.json)
    try:
        assert win.receiver is not None and not win.receiver.enabled
        combo = win.destination_combo
        here = combo.findData(HERE)
        assert here >= 1 and combo.itemText(here) == THIS_COMPUTER  # C-GET needs none
        assert win.send_action.text() == "Send to &workstation"
        combo.setFocus()
        QTest.keyClick(combo, Qt.Key.Key_End)
        assert combo.currentData() == HERE
        assert win.send_action.text() == "&Retrieve to this computer"  # l
        assert win.send_button.accessibleName() == "Retrieve to this computer"
        win.grab().save(str(SHOTS / "w2_retrieve_button.png"))
        # C-MOVE with the receiver off: nothing could arrive, not offered
        NodeStore(config / "nodes.json").put(replace(NODE, retrieve=RetrieveMethod.MOVE),
                                             replace=True)
        win.reload_profiles()
        assert combo.findData(HERE) == -1
        assert win.send_action.text() == "Send to &workstation"
    finally:
        run_async(win.shutdown())


def test_automatic_with_the_receiver_off_retrieves_by_c_get_and_says_so(
        tmp_path: Path, run_async: Any) -> None:
    from dicom_courier.core.config.receiver_settings import ReceiverSettings
    from dicom_courier.core.dimse.arrival_hub import ArrivalHub
    from dicom_courier.core.outcome.events import MoveOutcome, MoveResult
    from dicom_courier.core.qr.query import MoveRequest, MoveTarget
    from dicom_courier.gui.receiver_wiring import HereStarter

    class Off:
        running = enabled = False
        ae_title, folder, problem = "COURIER", tmp_path, None
        settings = ReceiverSettings()  # as WindowReceiver: max_instance_mb for a C-GET

    class FakeGet:
        result = MoveResult(outcome=MoveOutcome.COMPLETED, total=3, completed=3, failed=0,
                            warning=0, status=0x0000, duration=0.1, error_comment=None,
                            failed_sop_uids=(), error=None, destination="COURIER",
                            peer="ORTHANC")

        def __aiter__(self) -> Any:
            return self._none()

        async def _none(self) -> Any:
            return
            yield

        def cancel(self) -> None: ...

        def abort(self) -> None: ...

    class Courier:
        asked: list[str] = []

        def move(self, *_args: Any, **_kw: Any) -> Any:
            self.asked.append("move")
            raise AssertionError("no C-MOVE without a receiver")

        def get(self, *_args: Any, **_kw: Any) -> Any:
            self.asked.append("get")
            return FakeGet()

    courier = Courier()
    starter = HereStarter(courier, Off(), ArrivalHub())  # type: ignore[arg-type]
    auto = replace(NODE, retrieve=RetrieveMethod.AUTO)
    running = starter(auto, MoveRequest(MoveTarget("1.2.3"), HERE))

    async def drive() -> Any:
        async for _progress in running:
            pass
        return running.result

    result = run_async(drive())
    assert courier.asked == ["get"]
    assert result.note is not None and "C-GET" in result.note and "receiver is not running" in \
        result.note


# --------------------------------------------------------------------- a: This computer test

@pytest.mark.network  # the receiver starts with the window
def test_test_destination_with_this_computer_runs_the_doctor_with_the_receiver(
        qtbot: QtBot, tmp_path: Path, run_async: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import dicom_courier.gui.here_test as here_test

    asked: list[tuple[str, str | None, Any]] = []

    async def fake_doctor(courier: Any, node: PacsNode, dest: Destination,
                          probe: str | None, *, step_deadline: float | None = None,
                          receiver: Any = None) -> DestinationTest:
        asked.append((dest.ae_title, probe, receiver))
        await asyncio.sleep(0)
        names = ["C-ECHO", "C-FIND probe", "receiver", "C-MOVE (no match)"]
        return DestinationTest(
            tuple(Check("?", Verdict.OK, "yes", step=name, ms=2) for name in names),
            DestinationVerdict(Confidence.UNKNOWN, False, "ORTHANC knows COURIER_RX; "
                               "nothing was sent (pick a probe study to prove it end to end)"))

    monkeypatch.setattr(here_test, "probe_destination", fake_doctor)
    config = tmp_path / "config"
    save_receiver_settings(config / "receiver.json", ReceiverSettings(
        enabled=True, ae_title="COURIER_RX", port=_free_port(),
        folder=str(tmp_path / "received")))
    win = _window(qtbot, config)
    try:
        win.destination_combo.setCurrentIndex(win.destination_combo.findData(HERE))

        async def press() -> None:  # Send → Test destination… (a menu action)
            win.test_destination_action.trigger()
            for _ in range(20):
                await asyncio.sleep(0.01)

        run_async(press())
        dialog = win.findChild(here_test.HereTestDialog, "hereTest")
        assert dialog is not None and dialog.isVisible()
        assert asked == [("COURIER_RX", None, win.receiver)]  # no probe unless picked
        assert [row[0] for row in dialog.result_panel.steps.rows()][2] == "receiver"
        assert "nothing was sent" in dialog.result_panel.verdict_label.text()
        assert dialog.probe_chooser.none.isChecked()
        dialog.probe_chooser.uid_edit.setFocus()
        QTest.keyClicks(dialog.probe_chooser.uid_edit, "1.2.826.0.1.3680043.8.498.4711")

        async def again() -> None:
            QTest.keyClick(dialog, Qt.Key.Key_T, Qt.KeyboardModifier.AltModifier)  # &Test
            for _ in range(20):
                await asyncio.sleep(0.01)

        run_async(again())
        assert asked[-1][:2] == ("COURIER_RX", "1.2.826.0.1.3680043.8.498.4711")
        dialog.grab().save(str(SHOTS / "w2_here_test.png"))
        dialog.reject()
    finally:
        run_async(win.shutdown())


# --------------------------------------------------------------------- h, j: the receiver

@pytest.mark.network
def test_new_allowed_senders_do_not_restart_the_receiver(
        qtbot: QtBot, tmp_path: Path, run_async: Any) -> None:
    from pynetdicom import AE
    from pynetdicom.sop_class import Verification

    config = tmp_path / "config"
    port = _free_port()
    settings = ReceiverSettings(enabled=True, ae_title="COURIER_RX", port=port,
                                folder=str(tmp_path / "received"))
    save_receiver_settings(config / "receiver.json", settings)
    win = _window(qtbot, config)
    qtbot.waitUntil(lambda: win.receiver is not None and win.receiver.running)
    assert win.receiver is not None
    ae = AE(ae_title="ORTHANC")
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", port, ae_title="COURIER_RX")
    try:
        assert assoc.is_established
        win.receiver.apply(replace(settings, allowed_aets=("ORTHANC", "DCMQRSCP"),
                                   check_address=False))
        assert assoc.is_established and assoc.send_c_echo().Status == 0x0000  # not cut
        late = AE(ae_title="DCMQRSCP")  # the new sender may send at once
        late.add_requested_context(Verification)
        other = late.associate("127.0.0.1", port, ae_title="COURIER_RX")
        assert other.is_established
        other.release()
        win.receiver.apply(replace(settings, allowed_aets=("DCMQRSCP",)))
        stranger = ae.associate("127.0.0.1", port, ae_title="COURIER_RX")
        assert not stranger.is_established  # ORTHANC is no longer allowed
    finally:
        if assoc.is_established:
            assoc.release()
        run_async(win.shutdown())


@pytest.mark.network
def test_a_taken_port_is_said_once_with_what_to_do(
        qtbot: QtBot, tmp_path: Path, run_async: Any) -> None:
    config = tmp_path / "config"
    with socket.socket() as taken:
        taken.bind(("", 0))
        taken.listen()
        port = taken.getsockname()[1]
        save_receiver_settings(config / "receiver.json", ReceiverSettings(
            enabled=True, port=port, folder=str(tmp_path / "received")))
        win = _window(qtbot, config)
        try:
            qtbot.waitUntil(lambda: win.receiver_label.isVisible(), timeout=5000)
            label = win.receiver_label.text()
            assert "in use" in label and str(port) in label
            assert "change the port in Preferences → This computer" in label
            assert str(port) not in win.statusBar().currentMessage()  # said once
            win.statusBar().grab().save(str(SHOTS / "w2_taken_port.png"))
        finally:
            run_async(win.shutdown())
