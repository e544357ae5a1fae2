"""Issue 8 §5-6 in the window: what the status bar says about answers that cannot be read,
how a value without a declared character set is marked, and that the PACS's own UIDs are
sent back verbatim (a study that cannot be named in a move is left out, the others sent)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydicom.dataset import Dataset
from pytestqt.qtbot import QtBot

from dicom_courier.core.config.profile_store import NodeStore
from dicom_courier.core.config.profiles import Destination, PacsNode, Timeouts
from dicom_courier.core.qr.query import FindMatch, QueryLevel
from dicom_courier.gui import create_main_window
from dicom_courier.gui.results_model import Column
from dicom_courier.gui.send_summary import SendPlan
from tests.fakes.pdu_peer import (
    PduPeer,
    element,
    find_answers,
    query_retrieve_script,
)
from tests.gui.waiting import until

#: Every test here talks DICOM over loopback TCP (see tests/conftest.py).
pytestmark = [pytest.mark.network, pytest.mark.qt_log_ignore("propagateSizeHints", "raise")]

STUDY = "1.2.826.0.1.3680043.8.498.5"
ODD_STUDY = "CT1.2.840.113619.2.55.3.604688119.969.1268071029.1"
ODD_SERIES = "MR1.2.840.113619.2.55.3.604688119.969.1268071029.320"
GOOD_SERIES = "1.2.840.113619.2.55.3.604688119.969.1268071029.321"
CUT_OFF = (element(0x0008, 0x0052, b"STUDY ") + element(0x0010, 0x0010, b"CUT^OFF ")
           + element(0x0020, 0x000D, b"AB", length=999999))


def _study(name: bytes, uid: str = STUDY) -> bytes:
    raw_uid = uid.encode() + b"\x00" * (len(uid) % 2)
    return (element(0x0008, 0x0052, b"STUDY ") + element(0x0010, 0x0010,
                                                          name + b" " * (len(name) % 2))
            + element(0x0020, 0x000D, raw_uid))


def _window(qtbot: QtBot, tmp_path: Path, port: int) -> Any:
    NodeStore(tmp_path / "nodes.json").put(PacsNode(
        name="rig", called_aet="RIGPACS", host="127.0.0.1", port=port,
        timeouts=Timeouts(idle=5), destinations=(Destination("WS"),)))
    win = create_main_window(tmp_path)
    qtbot.addWidget(win)
    win.reload_profiles(select="rig")
    return win




def _search(qtbot: QtBot, tmp_path: Path, run_async: Any, script: Any) -> Any:
    with PduPeer(script) as peer:
        win = _window(qtbot, tmp_path, peer.port)
        try:
            run_async(win.search({"PatientName": "*"}))
        finally:
            run_async(win.shutdown())
    return win


def test_the_status_bar_says_an_answer_cut_off_could_not_be_read(
        qtbot: QtBot, tmp_path: Path, run_async: Any) -> None:
    win = _search(qtbot, tmp_path, run_async,
                  find_answers(_study(b"GOOD^ONE"), CUT_OFF, _study("MÜLLER^ANNA".encode())))
    assert win.results_model.rowCount() == 2  # the cut-off answer is not a row
    assert [win.results_model.match_at(r).get("StudyInstanceUID") for r in range(2)] == \
        [STUDY, STUDY]
    assert win.count_label.text() == ("2 results shown; search incomplete: 1 answer from the "
                                      "PACS could not be read.")
    # the name sent without a character set is read as UTF-8 and marked
    name = win.results_model.index(1, Column.PATIENT_NAME)
    assert win.results_model.data(name).startswith("\u26a0 ")
    assert "Character set not declared" in win.results_model.data(
        name, int(Qt_ToolTipRole()))


def Qt_ToolTipRole() -> int:  # noqa: N802 - reads like the Qt constant it returns
    from PySide6.QtCore import Qt

    return int(Qt.ItemDataRole.ToolTipRole)


def test_the_status_bar_names_the_fault_and_the_answer_that_never_came(
        qtbot: QtBot, tmp_path: Path, run_async: Any) -> None:
    win = _search(qtbot, tmp_path, run_async,
                  find_answers(_study(b"FIRST^ROW"), _study(b"LOST"), missing_after=1))
    assert win.results_model.rowCount() == 1
    text = win.count_label.text()
    assert text.startswith("1 results shown; search incomplete: RIGPACS sent data that is "
                           "not valid DICOM.")
    assert text.endswith("1 answer from the PACS could not be read.")




def test_the_pacs_uids_are_sent_back_verbatim_and_an_unsendable_one_is_said(
        qtbot: QtBot, tmp_path: Path, run_async: Any) -> None:
    moves: list[Dataset] = []
    answers = [_study(b"ODD^UID", ODD_STUDY), _study(b"NO^UID", ""),
               _study(b"GOOD^UID", STUDY)]
    with PduPeer(query_retrieve_script(answers, moves)) as peer:
        win = _window(qtbot, tmp_path, peer.port)

        async def scenario() -> None:
            await win.search({"PatientName": "*"})
            rows = [win.results_model.match_at(r) for r in range(win.results_model.rowCount())]
            assert len(rows) == 3
            queued = win.enqueue(SendPlan(pacs=win.current_pacs(), destination="WS",
                                          destination_label="WS", matches=tuple(rows)))
            assert len(queued) == 2
            assert "1 not sent" in win.statusBar().currentMessage()
            assert "Study Instance UID " + ODD_STUDY in win.statusBar().currentMessage()
            await until(lambda: len(win.queue.jobs()) == 2
                         and all(j.state.is_finished for j in win.queue.jobs()))
            study = FindMatch(QueryLevel.STUDY, {"StudyInstanceUID": STUDY})
            series = [FindMatch(QueryLevel.SERIES, {"SeriesInstanceUID": uid})
                      for uid in (ODD_SERIES, GOOD_SERIES)]
            assert len(win.enqueue_series(study, series)) == 2
            await until(lambda: len(win.queue.jobs()) == 4
                         and all(j.state.is_finished for j in win.queue.jobs()))

        try:
            run_async(scenario())
            message = win.statusBar().currentMessage()
        finally:
            run_async(win.shutdown())
    wire = sorted((bytes(ds.get_item(0x0020000D).value).rstrip(b"\x00"),
                   bytes(ds.get_item(0x0020000E).value).rstrip(b"\x00")
                   if 0x0020000E in ds else b"") for ds in moves)
    assert wire == sorted([(ODD_STUDY.encode(), b""), (STUDY.encode(), b""),
                           (STUDY.encode(), ODD_SERIES.encode()),
                           (STUDY.encode(), GOOD_SERIES.encode())])
    assert f"The PACS returned the Series Instance UID {ODD_SERIES}" in message
