"""The PACS manager: inline validation from the core's rules, Test on unsaved values, Save for
the CLI. Async flows run on the session's qasync loop through ``run_async``."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from dicom_courier.core.config.profile_store import NodeStore
from dicom_courier.core.config.profiles import Destination, PacsNode, Timeouts
from dicom_courier.core.demo.pacs import DemoPacs
from dicom_courier.core.dimse.diagnose import Check
from dicom_courier.core.dimse.engine import Courier
from dicom_courier.core.outcome.errors import ConnectionFailed, Peer
from dicom_courier.gui.destination_test import CourierTests
from dicom_courier.gui.destinations_model import DestinationColumn
from dicom_courier.gui.pacs_manager import PacsManagerDialog
from tests.peers import reserve_dead_port

# The offscreen platform warns whenever a top-level window with a minimum size is shown.
pytestmark = pytest.mark.qt_log_ignore("does not support propagateSizeHints")

RED = "#c62828"
PORT_RULE = "must be a whole number from 1 to 65535"

MAIN = PacsNode(name="Main PACS", called_aet="ORTHANC", host="127.0.0.1", port=4242,
                timeouts=Timeouts(connect=3, idle=30),
                destinations=(Destination("WS-1", "10.0.0.21", 11112, "Reading room 1"),
                              Destination("WS-2", label="Reading room 2")))
BACKUP = PacsNode(name="Backup", called_aet="BACKUP", host="127.0.0.1", port=11112)


class NeverCalled:
    """NodeTests for tests that press no Test button."""

    def pacs(self, node: PacsNode) -> AsyncIterator[Check]:
        raise AssertionError("no test expected in this test")

    async def destination(self, node: PacsNode, dest: Destination) -> Any:
        raise AssertionError("no test expected in this test")


@pytest.fixture
def store(tmp_path: Path) -> NodeStore:
    store = NodeStore(tmp_path / "nodes.json")
    store.save([MAIN, BACKUP])
    return store


@pytest.fixture
def courier() -> Iterator[Courier]:
    with Courier(max_workers=2) as courier:
        yield courier


def open_manager(qtbot: QtBot, store: NodeStore, tests: Any = None,
                 select: str | None = None) -> PacsManagerDialog:
    dialog = PacsManagerDialog(store, tests or NeverCalled(), select=select)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    return dialog


def retype(qtbot: QtBot, dialog: PacsManagerDialog, key: str, text: str) -> None:
    """Type into a field as a person would (select all, then keys)."""
    edit = dialog.fields[key]
    edit.selectAll()
    qtbot.keyClick(edit, Qt.Key.Key_Delete)
    qtbot.keyClicks(edit, text)


async def press_test(dialog: PacsManagerDialog) -> tuple[bool, str]:
    """Click Test on the loop and wait for ``connection_tested``."""
    done: asyncio.Future[tuple[bool, str]] = asyncio.get_running_loop().create_future()

    def finished(ok: bool, text: str) -> None:
        if not done.done():
            done.set_result((ok, text))

    dialog.connection_tested.connect(finished)
    try:
        dialog.test_button.click()
        return await done
    finally:
        dialog.connection_tested.disconnect(finished)


# --------------------------------------------------------------------------- validation


def test_lists_profiles_and_is_not_modal(qtbot: QtBot, store: NodeStore) -> None:
    dialog = open_manager(qtbot, store, select="backup")
    assert dialog.objectName() == "pacsManager"
    assert not dialog.isModal()
    assert dialog.profile_names() == ["Main PACS", "Backup"]
    assert dialog.fields["called_aet"].text() == "BACKUP"
    dialog.select_profile("Main PACS")
    assert dialog.fields["port"].text() == "4242"
    assert dialog.fields["connect"].text() == "3"
    assert dialog.fields["total"].text() == ""
    assert dialog.destinations_model.rows() == [
        ["WS-1", "10.0.0.21", "11112", "Reading room 1", ""],  # last: "can be queried"
        ["WS-2", "", "", "Reading room 2", ""]]
    assert dialog.destinations_model.headerData(0, Qt.Orientation.Vertical) == "Default"
    assert dialog.save_button.isEnabled() and dialog.test_button.isEnabled()


def test_invalid_port_marks_the_field_and_disables_save(qtbot: QtBot, store: NodeStore) -> None:
    dialog = open_manager(qtbot, store)
    retype(qtbot, dialog, "port", "70000")
    port = dialog.fields["port"]
    assert RED in port.styleSheet()
    assert PORT_RULE in port.toolTip()
    assert "PACS port: " + PORT_RULE in dialog.error_label.text()
    assert dialog.error_label.isVisible()
    assert not dialog.save_button.isEnabled()
    assert not dialog.test_button.isEnabled()

    retype(qtbot, dialog, "port", "11112")
    assert port.styleSheet() == ""
    assert not dialog.error_label.isVisible()
    assert dialog.save_button.isEnabled() and dialog.test_button.isEnabled()


def test_seventeen_character_ae_title_is_refused_until_fixed(qtbot: QtBot,
                                                             store: NodeStore) -> None:
    dialog = open_manager(qtbot, store)
    retype(qtbot, dialog, "called_aet", "A" * 17)
    called = dialog.fields["called_aet"]
    assert RED in called.styleSheet()
    assert "PACS AE title: must be at most 16 characters" in called.toolTip()
    assert "PACS AE title: must be at most 16 characters" in dialog.error_label.text()
    assert not dialog.save_button.isEnabled()
    # The list marks the profile too, so it can be found after switching away.
    assert dialog.profile_list.item(0).text() == "Main PACS *"
    dialog.select_profile("Backup")
    assert "Also to fix before saving: Main PACS." in dialog.error_label.text()
    assert not dialog.save_button.isEnabled()
    dialog.select_profile("Main PACS")
    assert called.text() == "A" * 17  # the draft kept what was typed

    qtbot.keyClick(called, Qt.Key.Key_Backspace)
    assert called.styleSheet() == ""
    assert dialog.save_button.isEnabled()


def test_destination_cells_are_validated(qtbot: QtBot, store: NodeStore,
                                         qtmodeltester: Any) -> None:
    dialog = open_manager(qtbot, store)
    model = dialog.destinations_model
    model.setData(model.index(1, DestinationColumn.PORT), "99999")
    tip = model.data(model.index(1, DestinationColumn.PORT), Qt.ItemDataRole.ToolTipRole)
    assert tip.startswith("destination port: " + PORT_RULE)
    assert model.data(model.index(1, DestinationColumn.PORT),
                      Qt.ItemDataRole.BackgroundRole) is not None
    assert "Destination 2: destination port: " + PORT_RULE in dialog.error_label.text()
    assert not dialog.save_button.isEnabled()
    model.setData(model.index(1, DestinationColumn.AE_TITLE), "WS-1")
    assert "must be unique within a PACS" in dialog.error_label.text()
    model.setData(model.index(1, DestinationColumn.AE_TITLE), "WS-2")
    model.setData(model.index(1, DestinationColumn.PORT), "")
    assert dialog.save_button.isEnabled()
    qtmodeltester.check(model)


def test_destinations_add_remove_and_reorder(qtbot: QtBot, store: NodeStore,
                                             qtmodeltester: Any) -> None:
    dialog = open_manager(qtbot, store)
    model = dialog.destinations_model
    qtmodeltester.check(model)
    dialog.add_destination_button.click()
    assert model.rowCount() == 3
    assert not dialog.save_button.isEnabled()  # a new row needs its AE title
    model.setData(model.index(2, DestinationColumn.AE_TITLE), "WS-3")
    assert dialog.save_button.isEnabled()
    dialog.destinations_view.selectRow(2)
    dialog.up_button.click()
    dialog.up_button.click()
    assert [row[0] for row in model.rows()] == ["WS-3", "WS-1", "WS-2"]
    assert not dialog.up_button.isEnabled()  # already the default
    dialog.down_button.click()
    assert [row[0] for row in model.rows()] == ["WS-1", "WS-3", "WS-2"]
    dialog.remove_destination_button.click()
    assert [row[0] for row in model.rows()] == ["WS-1", "WS-2"]


# --------------------------------------------------------------------------- saving


def test_save_writes_nodes_json_for_node_store_and_cli(qtbot: QtBot, store: NodeStore) -> None:
    dialog = open_manager(qtbot, store)
    retype(qtbot, dialog, "host", "pacs.example.org")
    retype(qtbot, dialog, "total", "600")
    model = dialog.destinations_model
    dialog.destinations_view.selectRow(1)
    dialog.up_button.click()  # WS-2 becomes the default
    with qtbot.waitSignal(dialog.profiles_changed, timeout=1000):
        dialog.save_button.click()

    main, backup = NodeStore(store.path).load()
    assert main == MAIN.with_changes(
        host="pacs.example.org", timeouts=Timeouts(connect=3, idle=30, total=600),
        destinations=(MAIN.destinations[1], MAIN.destinations[0]))
    assert backup == BACKUP
    assert main.default_destination == Destination("WS-2", label="Reading room 2")
    assert json.loads(store.path.read_text())["schema_version"] == 1
    assert not dialog.has_unsaved_changes()
    assert dialog.profile_list.item(0).text() == "Main PACS"
    assert [row[0] for row in model.rows()] == ["WS-2", "WS-1"]

    listed = subprocess.run(
        [sys.executable, "-m", "dicom_courier", "--config-dir", str(store.path.parent),
         "nodes", "list", "--format", "json"],
        capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(listed.stdout) == [main.to_json(), backup.to_json()]


def test_add_duplicate_remove_with_inline_confirmation(qtbot: QtBot, store: NodeStore) -> None:
    dialog = open_manager(qtbot, store)
    dialog.duplicate_button.click()
    assert dialog.profile_names() == ["Main PACS", "Backup", "Main PACS copy"]
    assert dialog.fields["called_aet"].text() == "ORTHANC"
    assert dialog.destinations_model.rowCount() == 2

    dialog.add_button.click()
    assert dialog.fields["name"].text() == "New PACS"
    assert not dialog.save_button.isEnabled()  # a new profile needs AE title and host
    assert "PACS AE title: must not be blank" in dialog.error_label.text()
    retype(qtbot, dialog, "called_aet", "NEWPACS")
    retype(qtbot, dialog, "host", "10.1.1.1")
    retype(qtbot, dialog, "name", "Backup")
    assert "PACS name: must differ from the other profiles' names" in dialog.error_label.text()
    retype(qtbot, dialog, "name", "Research")
    assert dialog.save_button.isEnabled()

    dialog.select_profile("Backup")
    dialog.remove_button.click()
    assert dialog.confirm_bar.isVisible()  # asked inline, not with exec()
    assert "Backup" in dialog.confirm_label.text()
    dialog.confirm_cancel_button.click()
    assert "Backup" in dialog.profile_names()
    dialog.remove_button.click()
    dialog.confirm_button.click()
    assert dialog.profile_names() == ["Main PACS", "Main PACS copy", "Research"]
    assert [n.name for n in store.load()] == ["Main PACS", "Backup"]  # not before Save

    dialog.save_button.click()
    saved = store.load()
    assert [n.name for n in saved] == ["Main PACS", "Main PACS copy", "Research"]
    assert saved[2] == PacsNode(name="Research", called_aet="NEWPACS", host="10.1.1.1",
                                port=104)


def test_save_keeps_profiles_added_elsewhere_meanwhile(qtbot: QtBot, store: NodeStore) -> None:
    dialog = open_manager(qtbot, store)
    retype(qtbot, dialog, "port", "4343")
    NodeStore(store.path).put(PacsNode(name="From CLI", called_aet="CLI", host="h", port=1))
    dialog.save_button.click()
    assert [n.name for n in store.load()] == ["Main PACS", "Backup", "From CLI"]
    assert store.load()[0].port == 4343
    assert "From CLI" in dialog.profile_names()


def test_close_with_unsaved_changes_asks_inline(qtbot: QtBot, store: NodeStore) -> None:
    dialog = open_manager(qtbot, store)
    retype(qtbot, dialog, "host", "elsewhere")
    dialog.close_button.click()
    assert dialog.isVisible() and dialog.confirm_bar.isVisible()
    dialog.confirm_cancel_button.click()
    assert dialog.isVisible()
    dialog.close_button.click()
    dialog.confirm_button.click()  # "Discard changes"
    assert not dialog.isVisible()
    assert store.load()[0].host == "127.0.0.1"


def test_unreadable_file_is_shown_and_never_overwritten(qtbot: QtBot, tmp_path: Path) -> None:
    path = tmp_path / "nodes.json"
    path.write_text("{ not json", encoding="utf-8")
    dialog = open_manager(qtbot, NodeStore(path))
    assert dialog.file_error_label.isVisible()
    assert "cannot be read" in dialog.file_error_label.text()
    assert not dialog.save_button.isEnabled() and not dialog.add_button.isEnabled()
    assert path.read_text(encoding="utf-8") == "{ not json"


# --------------------------------------------------------------------------- Test (C-ECHO)


@pytest.mark.network
def test_test_against_demo_pacs_shows_ok_with_latency(qtbot: QtBot, store: NodeStore,
                                                      courier: Courier, run_async: Any) -> None:
    with DemoPacs() as pacs:
        store.save([PacsNode(name="Demo", called_aet=pacs.ae_title, host="127.0.0.1",
                             port=pacs.port)])
        dialog = open_manager(qtbot, store, CourierTests(courier))
        ok, text = run_async(press_test(dialog))
    assert ok, text
    # the same steps as `nodes test`: the echo, then the search probe, each with its time
    assert text.startswith("Passed: C-ECHO ") and ", C-FIND probe " in text, text
    assert " ms — verified " in text
    assert [row[:2] for row in dialog.test_steps.rows()] == [
        ("C-ECHO", "✓ passed"), ("C-FIND probe", "✓ passed")]
    assert dialog.test_status.text() == text
    assert "#2e7d32" in dialog.test_status.styleSheet()
    assert dialog.test_button.isEnabled() and dialog.test_button.text() == "Test"


@pytest.mark.network
def test_test_against_closed_port_shows_the_connection_error(qtbot: QtBot, store: NodeStore,
                                                             courier: Courier,
                                                             run_async: Any) -> None:
    dead = reserve_dead_port()
    try:
        port = dead.getsockname()[1]
        store.save([PacsNode(name="Dead", called_aet="NOBODY", host="127.0.0.1", port=port,
                             timeouts=Timeouts(connect=3))])
        dialog = open_manager(qtbot, store, CourierTests(courier))
        ok, text = run_async(press_test(dialog))
    finally:
        dead.close()
    assert not ok
    assert text == f"Failed at C-ECHO: Could not connect to 127.0.0.1:{port}."
    assert [row[:2] for row in dialog.test_steps.rows()] == [("C-ECHO", "✗ failed")]
    assert dialog.test_status.text() == text
    assert RED in dialog.test_status.styleSheet()
    assert "Check that the PACS is running" in dialog.test_status.toolTip()
    assert dialog.test_button.isEnabled()


@pytest.mark.network
def test_test_uses_the_unsaved_values_in_the_editor(qtbot: QtBot, store: NodeStore,
                                                    courier: Courier, run_async: Any) -> None:
    dead = reserve_dead_port()
    with DemoPacs() as pacs:
        try:
            stale = dead.getsockname()[1]
            store.save([PacsNode(name="Demo", called_aet=pacs.ae_title, host="127.0.0.1",
                                 port=stale)])
            dialog = open_manager(qtbot, store, CourierTests(courier))
            retype(qtbot, dialog, "port", str(pacs.port))  # not saved
            ok, text = run_async(press_test(dialog))
        finally:
            dead.close()
    assert ok, text
    assert store.load()[0].port == stale  # testing does not save
    assert dialog.has_unsaved_changes()


def test_button_says_testing_while_the_echo_runs_and_recovers_from_any_error(
        qtbot: QtBot, store: NodeStore, run_async: Any) -> None:
    started, release = asyncio.Event(), asyncio.Event()
    seen: list[PacsNode] = []

    class SlowTests(NeverCalled):
        async def pacs(self, node: PacsNode) -> AsyncIterator[Check]:  # type: ignore[override]
            seen.append(node)
            started.set()
            await release.wait()
            raise ConnectionFailed("Could not connect.", "Refused.", "Start the PACS.",
                                   peer=Peer("COURIER", node.called_aet, node.host, node.port))
            yield  # an async generator

    dialog = open_manager(qtbot, store, SlowTests())
    retype(qtbot, dialog, "calling_aet", "MYSCU")

    async def scenario() -> tuple[bool, str]:
        pressed = asyncio.ensure_future(press_test(dialog))
        await started.wait()
        assert dialog.test_button.text() == "Testing…"
        assert not dialog.test_button.isEnabled()
        retype(qtbot, dialog, "port", "4243")  # editing during a test keeps the button off
        assert not dialog.test_button.isEnabled()
        release.set()
        return await pressed

    ok, text = run_async(scenario())
    assert (ok, text) == (False, "Could not connect.")
    assert seen[0].calling_aet == "MYSCU" and seen[0].port == 4242
    assert dialog.test_button.isEnabled() and dialog.test_button.text() == "Test"
    # The result described port 4242, no longer what the editor says: not shown as current.
    assert dialog.test_status.text() == ""

    class BrokenTests(NeverCalled):
        async def pacs(self, node: PacsNode) -> AsyncIterator[Check]:  # type: ignore[override]
            raise RuntimeError("boom")
            yield  # an async generator

    dialog._tests = BrokenTests()  # a bug in the callee must not leave the button disabled
    ok, text = run_async(press_test(dialog))
    assert not ok and "boom" in text
    assert dialog.test_button.isEnabled()


def test_the_can_be_queried_column_is_in_sight_at_the_dialogs_own_size(
        qtbot: QtBot, store: NodeStore) -> None:
    """Seen in review (issue 13): at the manager's own size the new "Can be queried" column
    lay past the right edge of the destinations table; an admin never saw it."""
    dialog = open_manager(qtbot, store, select=MAIN.name)
    view = dialog.destinations_view
    header = view.horizontalHeader()
    column = DestinationColumn.QUERYABLE
    left = header.sectionViewportPosition(column)
    assert left >= 0 and left + header.sectionSize(column) <= view.viewport().width()
    title = view.model().headerData(column, Qt.Orientation.Horizontal)
    assert header.fontMetrics().horizontalAdvance(title) < header.sectionSize(column)
