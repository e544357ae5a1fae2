"""The window against a peer that holds a PDU half-sent or sends unreadable results.

Closing the window must not wait for the peer to hang up (seen: 28 s), and a search that
ends in a fault keeps the rows it received and says how many are shown.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from pydicom.dataset import Dataset
from pytestqt.qtbot import QtBot

from dicom_courier.core.config.profile_store import NodeStore
from dicom_courier.core.config.profiles import Destination, PacsNode, Timeouts
from dicom_courier.core.jobs.queue import JobState
from dicom_courier.gui import create_main_window
from tests.fakes.pdu_peer import (
    C_FIND_RSP,
    P_DATA,
    PduPeer,
    PeerConnection,
    encode_dataset,
    pdu,
)
from tests.gui.waiting import until

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "raise")


def _match(name: str) -> bytes:
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    ds.PatientName = name
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.5"
    return encode_dataset(ds)


def _window(qtbot: QtBot, tmp_path: Path, port: int) -> Any:
    NodeStore(tmp_path / "nodes.json").put(PacsNode(
        name="hostile", called_aet="HOSTILE", host="127.0.0.1", port=port,
        timeouts=Timeouts(idle=60), destinations=(Destination("WS"),)))
    win = create_main_window(tmp_path)
    qtbot.addWidget(win)
    win.reload_profiles(select="hostile")
    return win




@pytest.mark.network
def test_closing_the_window_does_not_wait_for_a_peer_holding_a_pdu(
        qtbot: QtBot, tmp_path: Path, run_async: Any) -> None:
    def script(conn: PeerConnection) -> None:
        conn.accept()
        request = conn.read_request()
        assert request is not None
        if request.command_field() == 0x0020:  # C-FIND-RQ: one row, then half a PDU
            conn.respond(request, C_FIND_RSP, 0xFF00, identifier=_match("HELD^SEARCH"))
        conn.send(pdu(P_DATA, b"\x00" * 10, length=1000))

    with PduPeer(script) as peer:
        win = _window(qtbot, tmp_path, peer.port)

        async def scenario() -> float:
            search = asyncio.ensure_future(win.search({"PatientName": "HELD*"}))
            await until(lambda: win.results_model.rowCount() == 1)
            win.results_view.selectRow(0)
            win.send_selection()
            await until(lambda: bool(win.queue.jobs())
                         and win.queue.jobs()[0].state is JobState.RUNNING)
            await asyncio.sleep(0.3)
            started = time.monotonic()
            await win.shutdown()
            await search
            return time.monotonic() - started

        seconds = run_async(scenario())
    assert seconds < 1.5
    assert win.queue.jobs()[0].state.is_finished


@pytest.mark.network
def test_a_search_with_an_unreadable_result_keeps_the_rest(
        qtbot: QtBot, tmp_path: Path, run_async: Any) -> None:
    def script(conn: PeerConnection) -> None:
        conn.accept()
        request = conn.read_request()
        assert request is not None
        conn.respond(request, C_FIND_RSP, 0xFF00, identifier=_match("FIRST^ROW"))
        conn.respond(request, C_FIND_RSP, 0xFF00,
                     identifier=b"\x28\x00\x10\x00\x03\x00\x00\x00\x01\x02\x03")
        conn.respond(request, C_FIND_RSP, 0xFF00, identifier=_match("SECOND^ROW"))
        conn.respond(request, C_FIND_RSP, 0x0000)
        conn.release_if_asked()

    with PduPeer(script) as peer:
        win = _window(qtbot, tmp_path, peer.port)
        try:
            run_async(win.search({"PatientName": "*"}))
        finally:
            run_async(win.shutdown())
    assert win.results_model.rowCount() == 2
    assert win.count_label.text() == ("2 results shown; search incomplete: 1 answer from "
                                      "the PACS could not be read.")
    boxes = [w for w in win.findChildren(object) if getattr(w, "objectName", lambda: "")()
             == "errorBox"]
    assert boxes and boxes[-1].text() == "1 answer from the PACS could not be read."


def test_the_message_cap_is_kept_by_nodes_json_and_the_pacs_manager() -> None:
    from dicom_courier.core.outcome.errors import CourierError
    from dicom_courier.gui.profile_draft import ProfileDraft, validate_draft

    node = PacsNode(name="capped", called_aet="HOSTILE", host="127.0.0.1", port=104,
                    max_message_mb=8)
    assert PacsNode.from_json(node.to_json()).max_message_mb == 8
    saved = validate_draft(ProfileDraft.from_node(node)).node
    assert saved is not None and saved.max_message_mb == 8
    assert PacsNode.from_json({k: v for k, v in node.to_json().items()
                               if k != "max_message_mb"}).max_message_mb == 64
    with pytest.raises(CourierError, match="largest message"):
        PacsNode.from_json({**node.to_json(), "max_message_mb": 0})
