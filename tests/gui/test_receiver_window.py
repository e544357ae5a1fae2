"""Issue 13 §1 in the window: "This computer (receiver)" in Preferences, the receiver started
with the window, a taken port said without a modal box, and "This computer" as a destination
whose sends are queued as sends to HERE."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from dicom_courier.core.config.profile_store import NodeStore
from dicom_courier.core.config.profiles import Destination, PacsNode
from dicom_courier.core.config.receiver_settings import ReceiverSettings, save_receiver_settings
from dicom_courier.core.outcome.arrival import HERE, THIS_COMPUTER
from dicom_courier.core.qr.query import FindMatch, QueryLevel
from dicom_courier.gui import create_main_window
from dicom_courier.gui.main_window import MainWindow
from dicom_courier.gui.preferences_dialog import PreferencesDialog

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "raise")
SHOTS = Path(os.environ.get("COURIER_SHOTS", "/tmp/i13shots"))
NODE = PacsNode(name="Main PACS", called_aet="ORTHANC", host="127.0.0.1", port=4242,
                destinations=(Destination("WS3", "127.0.0.1", 11113),))
STUDY = "1.2.826.0.1.3680043.8.498.77"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _window(qtbot: QtBot, config: Path) -> MainWindow:
    NodeStore(config / "nodes.json").put(NODE)
    win = create_main_window(config)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    win.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is win)
    return win


def _retype(edit: Any, text: str) -> None:
    edit.setFocus()
    edit.selectAll()
    QTest.keyClick(edit, Qt.Key.Key_Delete)
    QTest.keyClicks(edit, text)


@pytest.mark.network
def test_turning_the_receiver_on_saves_receiver_json_starts_it_and_offers_this_computer(
        qtbot: QtBot, tmp_path: Path, run_async: Any) -> None:
    config = tmp_path / "config"
    win = _window(qtbot, config)
    try:
        assert win.destination_combo.findData(HERE) == -1  # off until turned on
        QTest.keyClick(win, Qt.Key.Key_Comma, Qt.KeyboardModifier.ControlModifier)
        dialog = win.findChild(PreferencesDialog, "preferencesDialog")
        assert dialog is not None and dialog.receiver is not None
        box = dialog.receiver
        assert not box.enabled.isChecked() and not box.ae_title.isEnabled()
        assert "ORTHANC" in box.allowed.placeholderText()  # the default allow-list, shown
        qtbot.waitUntil(lambda: QApplication.activeWindow() is dialog)
        QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_R,
                       Qt.KeyboardModifier.AltModifier)  # &Receive studies on this computer
        qtbot.waitUntil(box.enabled.isChecked, timeout=2000)  # a mnemonic animates a click
        assert box.ae_title.isEnabled()

        _retype(box.ae_title, "A_TITLE_FAR_TOO_LONG")
        assert not dialog.save_button.isEnabled()
        assert "Our AE title: must be at most 16 characters" in dialog.error_label.text()
        _retype(box.ae_title, "COURIER_WS")
        _retype(box.port, "99999")
        assert "Receiver port: must be a whole number from 1 to 65535" in \
            dialog.error_label.text()
        _retype(box.port, str(_free_port()))
        _retype(box.folder, "relative/folder")
        assert "Storage folder: must be a full path" in dialog.error_label.text()
        _retype(box.folder, str(tmp_path / "received"))
        assert dialog.save_button.isEnabled(), dialog.error_label.text()
        SHOTS.mkdir(parents=True, exist_ok=True)
        dialog.grab().save(str(SHOTS / "preferences_receiver.png"))
        QTest.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)

        saved = json.loads((config / "receiver.json").read_text())
        assert saved["enabled"] is True and saved["ae_title"] == "COURIER_WS"
        assert saved["folder"] == str(tmp_path / "received")
        assert win.receiver is not None and win.receiver.running
        assert win.receiver_label.isVisible()
        assert win.receiver_label.text() == (
            f"Receiving as COURIER_WS on port {saved['port']}")
        here = win.destination_combo.findData(HERE)
        assert here >= 1 and win.destination_combo.itemText(here) == THIS_COMPUTER
    finally:
        run_async(win.shutdown())
    assert not win.receiver.running  # stopped with the window


@pytest.mark.network
def test_a_taken_port_is_said_in_the_window_which_still_works(
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
            text = win.receiver_label.text()
            assert text.startswith("⚠ Receiver not running:") and str(port) in text
            assert "in use" in text
            assert win.findChild(PreferencesDialog) is None  # nothing modal
            # the window goes on: This computer is still offered, and C-GET could serve it
            assert win.destination_combo.findData(HERE) >= 1
            assert win.isVisible() and win.destination_combo.isEnabled()
        finally:
            run_async(win.shutdown())


@pytest.mark.network  # the receiver starts with the window
def test_picking_this_computer_and_pressing_send_queues_a_send_here(
        qtbot: QtBot, tmp_path: Path, run_async: Any) -> None:
    config = tmp_path / "config"
    save_receiver_settings(config / "receiver.json", ReceiverSettings(
        enabled=True, port=_free_port(), folder=str(tmp_path / "received")))
    win = _window(qtbot, config)
    try:
        win.queue.pause()  # nothing starts: no PACS is needed to see what was queued
        win.results_model.append_matches([FindMatch(QueryLevel.STUDY, {
            "StudyInstanceUID": STUDY, "PatientName": "Dubois^Amélie", "PatientID": "P7",
            "StudyDescription": "CT <b>x</b>", "StudyDate": "20240101"})])
        win.results_view.selectAll()
        combo = win.destination_combo
        combo.setFocus()
        QTest.keyClick(combo, Qt.Key.Key_End)  # "This computer" is the last entry
        assert combo.currentData() == HERE and combo.currentText() == THIS_COMPUTER

        async def send() -> None:  # the queue runs on the loop
            QTest.keyClick(win, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
            await asyncio.sleep(0)

        run_async(send())
        jobs = win.queue.jobs()
        assert len(jobs) == 1 and jobs[0].request.destination == HERE
        assert jobs[0].to_here
        assert "to This computer" in win.statusBar().currentMessage()
        win.queue_model.flush()
        row = win.queue_model.index(0, 2)
        assert row.data() == THIS_COMPUTER
    finally:
        run_async(win.shutdown())



@pytest.mark.network
def test_saving_pacs_profiles_does_not_cut_a_transfer_to_this_computer(
        qtbot: QtBot, tmp_path: Path, run_async: Any) -> None:
    """Seen in review: a PACS admin saved the PACS manager (a new, unrelated profile) while a
    study came to this computer; the receiver restarted to follow the allow-list, aborted
    the PACS's association, and the send ended "18 of 60 sent, 42 failed"."""
    from pynetdicom import AE
    from pynetdicom.sop_class import Verification

    config = tmp_path / "config"
    port = _free_port()
    save_receiver_settings(config / "receiver.json", ReceiverSettings(
        enabled=True, ae_title="COURIER_RX", port=port, folder=str(tmp_path / "received")))
    win = _window(qtbot, config)
    qtbot.waitUntil(lambda: win.receiver is not None and win.receiver.running)
    ae = AE(ae_title="ORTHANC")  # NODE's AE title: allowed by default
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", port, ae_title="COURIER_RX")
    try:
        assert assoc.is_established
        NodeStore(config / "nodes.json").put(PacsNode(name="Other", called_aet="OTHER",
                                                      host="127.0.0.1", port=104))
        win.receiver.profiles_changed()  # what the PACS manager's Save does
        assert assoc.is_established and assoc.send_c_echo().Status == 0x0000
        late = AE(ae_title="OTHER")  # the new profile may send at once
        late.add_requested_context(Verification)
        other = late.associate("127.0.0.1", port, ae_title="COURIER_RX")
        assert other.is_established
        other.release()
    finally:
        if assoc.is_established:
            assoc.release()
        run_async(win.shutdown())


@pytest.mark.network  # the receiver starts with the window
def test_the_series_dialog_names_this_computer_never_at_here(
        qtbot: QtBot, tmp_path: Path, run_async: Any) -> None:
    """Seen in review: Enter on a study with "This computer" chosen opened its series with a
    button "Send selected series to @here" (the machine value, shown to a person)."""
    config = tmp_path / "config"
    save_receiver_settings(config / "receiver.json", ReceiverSettings(
        enabled=True, port=_free_port(), folder=str(tmp_path / "received")))
    win = _window(qtbot, config)
    try:
        win.destination_combo.setCurrentIndex(win.destination_combo.findData(HERE))
        study = FindMatch(QueryLevel.STUDY, {"StudyInstanceUID": STUDY, "PatientID": "P7"})
        dialog = win.show_series(study)
        assert dialog is not None
        assert dialog.send_button.text() == f"Send selected series to {THIS_COMPUTER}"
        dialog.close()
    finally:
        run_async(win.shutdown())


@pytest.mark.network
def test_a_send_to_this_computer_from_the_demo_pacs_shows_images_received(
        qtbot: QtBot, tmp_path: Path, run_async: Any) -> None:
    """End to end in the window: the demo PACS moves a study to the window's receiver; the
    row counts the files written, and the send ends "received N of N" with the files there."""
    from dicom_courier.core.demo.pacs import DemoPacs
    from dicom_courier.core.demo.synthetic import demo_studies
    from tests.gui.waiting import until

    config = tmp_path / "config"
    port = _free_port()
    save_receiver_settings(config / "receiver.json", ReceiverSettings(
        enabled=True, ae_title="COURIER_RX", port=port, folder=str(tmp_path / "received")))
    studies = demo_studies()[:1]
    with DemoPacs(studies, destinations={"COURIER_RX": ("127.0.0.1", port)}) as pacs:
        node = PacsNode(name="Demo", called_aet=pacs.ae_title, host="127.0.0.1",
                        port=pacs.port)
        NodeStore(config / "nodes.json").put(node)
        win = create_main_window(config)
        qtbot.addWidget(win)
        win.show()
        qtbot.waitUntil(lambda: win.receiver is not None and win.receiver.running)
        study_uid = studies[0].study_uid
        try:
            from dicom_courier.core.qr.query import MoveRequest, MoveTarget

            async def send() -> int:
                job_id = win.queue.submit(node, MoveRequest(MoveTarget(study_uid), HERE))
                await until(lambda: win.queue.get(job_id).state.is_finished, within=20)
                return job_id

            job = win.queue.get(run_async(send(), timeout=30))
            win.queue_model.flush()
            words = win.queue_model.index(0, 3).data()
        finally:
            run_async(win.shutdown())
    files = list((tmp_path / "received").rglob("*.dcm"))
    assert job.state == "completed", (job.state, job.result)
    assert job.received == len(files) > 0
    assert words == f"received {len(files)} of {len(files)}"
