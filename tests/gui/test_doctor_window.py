"""Issue 13 §4 in the window: the destination test shows the doctor's steps with their results
and times and its verdict, and moves a probe image ONLY after a person picked the probe study
(the study selected in the grid, named, or a typed Study UID): nothing is sent without it."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from dicom_courier.core.config.profile_store import NodeStore
from dicom_courier.core.config.profiles import Destination, PacsNode
from dicom_courier.core.config.retrieve_method import RetrieveMethod
from dicom_courier.core.dimse.destination_verdict import Confidence, DestinationVerdict
from dicom_courier.core.dimse.diagnose import Check, DestinationTest, Verdict
from dicom_courier.gui.destinations_model import DestinationColumn
from dicom_courier.gui.pacs_manager import PacsManagerDialog

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "raise")
SHOTS = Path(os.environ.get("COURIER_SHOTS", "/tmp/i13shots"))
STUDY = "1.2.826.0.1.3680043.8.498.4711"
NODE = PacsNode(name="Main PACS", called_aet="ORTHANC", host="127.0.0.1", port=4242,
                destinations=(Destination("WS3", "10.0.0.3", 104, "Reading room 3"),))


class RecordingTests:
    """The admin's tests, scripted: what the doctor would answer, and what it was asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str | None]] = []

    async def pacs(self, node: PacsNode) -> AsyncIterator[Check]:
        yield Check("reachable?", Verdict.OK, "yes", step="C-ECHO", ms=3)

    async def destination(self, node: PacsNode, dest: Destination,
                          probe_study: str | None = None) -> DestinationTest:
        self.asked.append((dest.ae_title, probe_study))
        await asyncio.sleep(0)
        checks = [Check("Does ORTHANC know WS3?", Verdict.OK, "yes: it accepted a probe move "
                        "that moves nothing", step="probe C-MOVE", ms=14),
                  Check("Does WS3 answer?", Verdict.OK, "yes, in 2.1 ms",
                        step="C-ECHO to WS3", ms=4)]
        if probe_study is not None:
            checks += [Check("Can ORTHANC send one image to WS3?", Verdict.OK,
                             "1 of 1 sent (the smallest of 6: 64×64, 16 bit, about 8 KB)",
                             step="probe move", ms=180),
                       Check("Did it arrive?", Verdict.OK, "verified at destination: 1/1",
                             step="arrival check", ms=35)]
        verdict = DestinationVerdict(Confidence.CERTAIN, True,
                                     "certain: WS3 works end to end" if probe_study else
                                     "WS3 answers; ORTHANC knows it")
        return DestinationTest(tuple(checks), verdict)


def _dialog(qtbot: QtBot, tmp_path: Path, tests: RecordingTests) -> PacsManagerDialog:
    store = NodeStore(tmp_path / "nodes.json")
    store.put(NODE)
    dialog = PacsManagerDialog(store, tests, select=NODE.name)  # type: ignore[arg-type]
    qtbot.addWidget(dialog)
    dialog.resize(980, 860)
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is dialog)
    dialog.destinations_view.selectRow(0)
    return dialog


async def _test_destination(dialog: PacsManagerDialog) -> str:
    done: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    dialog.destination_tested.connect(lambda text: done.done() or done.set_result(text))
    QTest.mouseClick(dialog.test_destination_button, Qt.MouseButton.LeftButton)
    return await asyncio.wait_for(done, 5)


def test_without_a_chosen_probe_study_nothing_is_sent(
        qtbot: QtBot, tmp_path: Path, run_async: Any) -> None:
    tests = RecordingTests()
    dialog = _dialog(qtbot, tmp_path, tests)
    assert dialog.probe_chooser.none.isChecked()  # the default: ask and echo only
    assert not dialog.probe_chooser.selected.isEnabled()  # no study selected in the window
    run_async(_test_destination(dialog))
    assert tests.asked == [("WS3", None)]
    assert [row[:2] for row in dialog.destination_test.steps.rows()] == [
        ("probe C-MOVE", "✓ passed"), ("C-ECHO to WS3", "✓ passed")]


def test_a_typed_probe_uid_is_checked_then_the_probe_move_runs_with_its_steps(
        qtbot: QtBot, tmp_path: Path, run_async: Any) -> None:
    tests = RecordingTests()
    dialog = _dialog(qtbot, tmp_path, tests)
    chooser = dialog.probe_chooser
    chooser.uid_edit.setFocus()
    QTest.keyClicks(chooser.uid_edit, "1.2.03")  # typing picks "this Study UID"
    assert chooser.typed.isChecked()
    assert chooser.error_label.isVisible()
    assert chooser.error_label.text().startswith("Probe Study UID: must be a DICOM UID")
    QTest.mouseClick(dialog.test_destination_button, Qt.MouseButton.LeftButton)
    assert tests.asked == []  # a bad choice sends nothing, and says why
    assert dialog.destination_test.verdict_label.text().startswith("Probe Study UID:")

    chooser.uid_edit.selectAll()
    QTest.keyClicks(chooser.uid_edit, STUDY)
    assert not chooser.error_label.isVisible()
    text = run_async(_test_destination(dialog))
    assert tests.asked == [("WS3", STUDY)]
    assert text == "certain: WS3 works end to end"
    rows = dialog.destination_test.steps.rows()
    assert [row[:3] for row in rows] == [
        ("probe C-MOVE", "✓ passed", "14 ms"), ("C-ECHO to WS3", "✓ passed", "4 ms"),
        ("probe move", "✓ passed", "180 ms"), ("arrival check", "✓ passed", "35 ms")]
    SHOTS.mkdir(parents=True, exist_ok=True)
    dialog.grab().save(str(SHOTS / "destination_test_probe.png"))


def test_the_selected_study_is_offered_by_name_only_for_its_own_pacs(
        qtbot: QtBot, tmp_path: Path, run_async: Any) -> None:
    tests = RecordingTests()
    dialog = _dialog(qtbot, tmp_path, tests)
    chooser = dialog.probe_chooser
    chooser.offer_selected("Other PACS", STUDY, "Dubois, Amélie — CT <b>x</b> & more")
    assert not chooser.selected.isEnabled()  # found on another PACS: not this one's study
    chooser.offer_selected(NODE.name, STUDY, "Dubois, Amélie — CT <b>x</b> & more")
    assert chooser.selected.isEnabled()
    assert chooser.selected.text().endswith("Dubois, Amélie — CT <b>x</b> && more")
    QTest.keyClick(chooser.selected, Qt.Key.Key_E, Qt.KeyboardModifier.AltModifier)
    qtbot.waitUntil(chooser.selected.isChecked, timeout=2000)  # s&elected: its access key
    run_async(_test_destination(dialog))
    assert tests.asked == [("WS3", STUDY)]


def test_retrieve_method_and_can_be_queried_are_saved_in_the_profile(
        qtbot: QtBot, tmp_path: Path) -> None:
    tests = RecordingTests()
    dialog = _dialog(qtbot, tmp_path, tests)
    combo = dialog.retrieve_combo
    assert combo.currentData() == RetrieveMethod.MOVE
    combo.setFocus()
    QTest.keyClick(combo, Qt.Key.Key_End)  # Automatic
    assert combo.currentData() == RetrieveMethod.AUTO
    view = dialog.destinations_view
    view.setFocus()
    view.setCurrentIndex(dialog.destinations_model.index(0, DestinationColumn.QUERYABLE))
    QTest.keyClick(view, Qt.Key.Key_Space)  # toggles "can be queried"
    assert dialog.destinations_model.rows()[0][DestinationColumn.QUERYABLE] == "yes"
    assert dialog.save()
    saved = NodeStore(tmp_path / "nodes.json").load()[0]
    assert saved.retrieve is RetrieveMethod.AUTO
    assert saved.destinations[0].queryable and saved.destinations[0].can_be_checked

    # "can be queried" needs the destination's address: the rule is named, Save waits
    model = dialog.destinations_model
    model.setData(model.index(0, DestinationColumn.HOST), "")
    assert not dialog.save_button.isEnabled()
    assert "needs the destination's host and port" in dialog.error_label.text()
