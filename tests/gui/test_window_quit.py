"""Quitting never loses a send (issue 11, section 1), with real key events.

Seen: with 2 sends running and 2 queued, Ctrl+Q closed at once, aborted everything and
recorded the jobs *cancelled*, so the next start offered nothing to resume. Now Ctrl+Q, File →
Quit and the close box ask first (keep the window open / quit and resume them next time /
cancel them and quit); "quit and resume" leaves them interrupted and a new window on the same
profile offers them. Scripted moves (tests/fakes/fake_move.py): no socket.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox
from pytestqt.qtbot import QtBot

from dicom_courier.core.config.profiles import PacsNode
from dicom_courier.core.dimse.engine import Courier
from dicom_courier.core.jobs.job import JobLabel, JobState
from dicom_courier.core.jobs.quit_question import QuitChoice
from dicom_courier.core.jobs.store import JobStore
from dicom_courier.core.qr.query import MoveRequest, MoveTarget
from dicom_courier.gui import create_main_window
from dicom_courier.gui.main_window import MainWindow
from dicom_courier.gui.quit_dialog import QuitDialog
from tests.fakes.fake_move import FakeMoves, MoveScript
from tests.gui.waiting import until

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "raise")

NODE = PacsNode(name="main", called_aet="DEMOPACS", host="127.0.0.1", port=11112)
STUDY = "1.2.826.0.1.3680043.8.498.7200"
ALT = Qt.KeyboardModifier.AltModifier


def _window(qtbot: QtBot, config: Path, moves: FakeMoves | None = None) -> MainWindow:
    courier = Courier()
    courier.move = moves or FakeMoves()  # type: ignore[method-assign]  # the queue's start_move
    window = create_main_window(config, courier=courier)
    qtbot.addWidget(window)
    return window


def _two_running_two_queued(window: MainWindow, moves: FakeMoves, run_async: Any) -> list[int]:
    """The example as seen: 4 sends to one PACS (2 moves at once), the first 3 images in."""

    async def start() -> list[int]:
        ids = [window.queue.submit(NODE, MoveRequest(MoveTarget(f"{STUDY}.{n}"), "WS"),
                                   JobLabel(f"Shift^End{n}", "CT chest")) for n in range(4)]
        await moves.until_started(2)
        return ids

    ids = run_async(start())
    assert [window.queue.get(i).state for i in ids] == [JobState.RUNNING] * 2 + [
        JobState.QUEUED] * 2
    return ids


def _shown(qtbot: QtBot, window: MainWindow) -> None:
    window.show()
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=2000)


def _press_ctrl_q(qtbot: QtBot, window: MainWindow) -> QuitDialog:
    qtbot.keyClick(window, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
    dialog = window.quit_guard.dialog
    assert dialog is not None and dialog.isVisible()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is dialog, timeout=2000)
    return dialog


def _alt(qtbot: QtBot, dialog: QuitDialog, key: Qt.Key) -> None:
    """Alt+key, a choice's access key (the button clicks itself after Qt's 100 ms press)."""
    qtbot.keyClick(dialog, key, ALT)


def _states(config: Path, ids: list[int]) -> list[str]:
    store = JobStore(config / "data" / "jobs.db")
    try:
        rows = {job.id: job for job in store.jobs()}
        return [rows[i].state for i in ids]
    finally:
        store.close()


def _resume_offer(qtbot: QtBot, config: Path, run_async: Any) -> str | None:
    """A NEW window on the same profile: the text of its resume question, if it asks."""
    window = _window(qtbot, config)
    try:
        box = window.findChild(QMessageBox, "resumeInterrupted")
        return None if box is None else box.text()
    finally:
        run_async(window.shutdown())


def test_ctrl_q_with_2_running_and_2_queued_asks_and_quit_and_resume_keeps_them(
        qtbot: QtBot, tmp_path: Path, run_async: Any) -> None:
    """The example exactly as seen: 2 running + 2 queued, Ctrl+Q; then Alt+R."""
    config = tmp_path / "config"
    moves = FakeMoves(default=MoveScript(images=10, hold=True))
    window = _window(qtbot, config, moves)
    ids = _two_running_two_queued(window, moves, run_async)
    _shown(qtbot, window)
    dialog = _press_ctrl_q(qtbot, window)
    assert window.isVisible()  # asked, not closed
    assert dialog.windowTitle() == "Quit with unfinished sends?"
    assert dialog.text_label.text().startswith("2 sends running, 2 waiting.")
    assert dialog.windowModality() == Qt.WindowModality.WindowModal  # open(), not exec()
    _alt(qtbot, dialog, Qt.Key.Key_R)  # "Quit and &resume them next time"
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=2000)
    run_async(window.shutdown())  # what run_app does once the last window closed
    assert all(move.aborted for move in moves.started) and len(moves.started) == 2
    assert _states(config, ids) == ["interrupted"] * 4
    offer = _resume_offer(qtbot, config, run_async)
    assert offer is not None and offer.startswith("4 send(s) did not finish")
    assert all(f"Shift^End{n} — CT chest" in offer for n in range(4))


def test_the_close_box_asks_and_enter_on_a_tabbed_choice_answers(
        qtbot: QtBot, tmp_path: Path, run_async: Any) -> None:
    config = tmp_path / "config"
    moves = FakeMoves(default=MoveScript(images=10, hold=True))
    window = _window(qtbot, config, moves)
    ids = _two_running_two_queued(window, moves, run_async)
    _shown(qtbot, window)
    assert window.close() is False  # the close box: refused for now, asked
    dialog = window.quit_guard.dialog
    assert dialog is not None and dialog.isVisible()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is dialog, timeout=2000)
    keep = dialog.buttons[QuitChoice.KEEP_OPEN]
    assert keep.hasFocus() and keep.isDefault()  # Enter alone keeps the window open
    qtbot.keyClick(keep, Qt.Key.Key_Tab)
    resume = dialog.buttons[QuitChoice.QUIT_AND_RESUME]
    assert resume.hasFocus()
    qtbot.keyClick(resume, Qt.Key.Key_Return)
    assert not window.isVisible()
    run_async(window.shutdown())
    assert _states(config, ids) == ["interrupted"] * 4
    offer = _resume_offer(qtbot, config, run_async)
    assert offer is not None and offer.startswith("4 send(s) did not finish")


@pytest.mark.parametrize("key", ["escape", "alt+k", "enter"])
def test_keep_the_window_open_leaves_the_sends_running(
        qtbot: QtBot, tmp_path: Path, run_async: Any, key: str) -> None:
    moves = FakeMoves(default=MoveScript(images=10, hold=True))
    window = _window(qtbot, tmp_path / "config", moves)
    try:
        ids = _two_running_two_queued(window, moves, run_async)
        _shown(qtbot, window)
        dialog = _press_ctrl_q(qtbot, window)
        moves.started[0].finish()  # no nested event loop: the sends go on while it asks

        async def first_done() -> None:
            await until(lambda: window.queue.get(ids[0]).state is JobState.COMPLETED)
            await until(lambda: len(moves.started) == 3)

        run_async(first_done())
        assert dialog.text_label.text().startswith("2 sends running, 1 waiting.")  # live
        if key == "escape":
            qtbot.keyClick(dialog, Qt.Key.Key_Escape)
        elif key == "alt+k":
            _alt(qtbot, dialog, Qt.Key.Key_K)
        else:
            qtbot.keyClick(dialog.focusWidget(), Qt.Key.Key_Return)
        qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=2000)
        assert window.quit_guard.dialog is None
        assert window.isVisible()
        assert not any(move.aborted or move.cancel_requested for move in moves.started)
        assert [window.queue.get(i).state for i in ids] == [
            JobState.COMPLETED, JobState.RUNNING, JobState.RUNNING, JobState.QUEUED]
    finally:
        run_async(window.shutdown())


def test_cancel_them_and_quit_records_them_cancelled_and_offers_nothing(
        qtbot: QtBot, tmp_path: Path, run_async: Any) -> None:
    config = tmp_path / "config"
    moves = FakeMoves(default=MoveScript(images=10, hold=True))
    window = _window(qtbot, config, moves)
    ids = _two_running_two_queued(window, moves, run_async)
    _shown(qtbot, window)
    dialog = _press_ctrl_q(qtbot, window)
    _alt(qtbot, dialog, Qt.Key.Key_C)  # "&Cancel them and quit"
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=2000)
    run_async(window.shutdown())
    assert _states(config, ids) == ["cancelled"] * 4
    assert _resume_offer(qtbot, config, run_async) is None


def test_file_quit_with_no_sends_closes_at_once(qtbot: QtBot, tmp_path: Path,
                                                run_async: Any) -> None:
    window = _window(qtbot, tmp_path / "config")
    _shown(qtbot, window)
    window.quit_action.trigger()  # File → Quit
    assert not window.isVisible() and window.quit_guard.dialog is None
    run_async(window.shutdown())


def test_the_session_ending_leaves_the_sends_interrupted_never_cancelled(
        qtbot: QtBot, tmp_path: Path, run_async: Any) -> None:
    """Logout: QGuiApplication.commitDataRequest (its slot, called as Qt would) leaves the
    sends interrupted; the window then closes without asking, as Qt closes it."""
    config = tmp_path / "config"
    moves = FakeMoves(default=MoveScript(images=10, hold=True))
    window = _window(qtbot, config, moves)
    ids = _two_running_two_queued(window, moves, run_async)
    _shown(qtbot, window)
    dialog = _press_ctrl_q(qtbot, window)  # even while the question is open
    assert window.quit_guard.session_ending() == ids
    assert not dialog.isVisible()
    assert not window.isVisible()  # closed without a second question
    run_async(window.shutdown())
    assert _states(config, ids) == ["interrupted"] * 4
    offer = _resume_offer(qtbot, config, run_async)
    assert offer is not None and offer.startswith("4 send(s) did not finish")


def test_the_session_ending_with_no_sends_changes_nothing(qtbot: QtBot, tmp_path: Path,
                                                         run_async: Any) -> None:
    window = _window(qtbot, tmp_path / "config")
    try:
        _shown(qtbot, window)
        assert window.quit_guard.session_ending() == []
        assert window.isVisible()  # Qt closes it as before, if the session really ends
    finally:
        run_async(window.shutdown())


def test_every_send_finishing_while_asked_leaves_only_keep_and_quit(
        qtbot: QtBot, tmp_path: Path, run_async: Any) -> None:
    """Seen in review: the sends all finished while the question was open; the text said so,
    but the buttons still offered to resume and to cancel sends that no longer existed."""
    config = tmp_path / "config"
    moves = FakeMoves(default=MoveScript(images=10, hold=True))
    window = _window(qtbot, config, moves)
    ids = _two_running_two_queued(window, moves, run_async)
    _shown(qtbot, window)
    dialog = _press_ctrl_q(qtbot, window)

    async def all_finish() -> None:  # the two waiting ones start as the first two end
        for count in (2, 4):
            await until(lambda n=count: len(moves.started) == n)
            for move in moves.started:
                move.finish()
        await until(lambda: all(window.queue.get(i).state.is_finished for i in ids))

    run_async(all_finish())
    assert dialog.isVisible()
    assert dialog.text_label.text() == "Every send has finished. You can quit now."
    assert not dialog.buttons[QuitChoice.QUIT_AND_RESUME].isVisible()
    quit_now = dialog.buttons[QuitChoice.CANCEL_AND_QUIT]
    assert quit_now.isVisible() and quit_now.text() == "&Quit"
    _alt(qtbot, dialog, Qt.Key.Key_Q)
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=2000)
    run_async(window.shutdown())
    assert _states(config, ids) == ["completed"] * 4
    assert _resume_offer(qtbot, config, run_async) is None
