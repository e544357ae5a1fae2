"""The window over the engine worker process (issue 12 §2): a search and a send on the demo PACS
end as they do in-process; a worker killed mid-search ends the search at once in plain words;
closing the window leaves no engine process; ``COURIER_ENGINE`` chooses the engine."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from pydicom.dataset import Dataset
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from dicom_courier.core.config.profile_store import NodeStore
from dicom_courier.core.config.profiles import Destination, PacsNode, Timeouts
from dicom_courier.core.dimse.engine_choice import ENGINE_ENV, PROCESS, THREAD, engine_choice
from dicom_courier.core.dimse.process_courier import ProcessCourier
from dicom_courier.core.jobs.queue import JobState
from dicom_courier.gui import create_main_window
from dicom_courier.gui.app import DEMO_PROFILE, start_demo_peers
from dicom_courier.gui.deferred_courier import DeferredCourier
from dicom_courier.gui.main_window import MainWindow
from dicom_courier.gui.query_form import DatePreset
from tests.fakes.pdu_peer import C_FIND_RSP, PduPeer, PeerConnection, encode_dataset
from tests.gui.waiting import until

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "raise")


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[1].startswith("Z")
    except FileNotFoundError:
        return True


@pytest.fixture
def demo_window(qtbot: QtBot, qasync_loop: Any, tmp_path: Path,
                run_async: Any) -> Iterator[tuple[MainWindow, ProcessCourier, Path]]:
    with ExitStack() as stack:
        node = start_demo_peers(stack, tmp_path / "ws", store_delay=0.01)
        NodeStore(tmp_path / "config" / "nodes.json").put(node)
        courier = ProcessCourier()
        win = create_main_window(tmp_path / "config", courier=courier)
        qtbot.addWidget(win)
        win.reload_profiles(select=DEMO_PROFILE)
        win.form.set_date_preset(DatePreset.ANY)  # the demo's studies are from 2023-2024
        yield win, courier, tmp_path / "ws"
        pid = courier.pid
        run_async(win.shutdown())
        assert pid is None or _gone(pid)  # closing the window ended the engine process


@pytest.mark.network
def test_search_and_send_through_the_engine_process(demo_window: Any, run_async: Any,
                                                     tmp_path: Path) -> None:
    window, courier, folder = demo_window
    window.form.fields["queryPatientId"].setText("DEMO002")

    async def scenario() -> None:
        window.form.request_search()
        await until(lambda: window.results_model.rowCount() == 1 and window._search is None)
        window.results_view.selectRow(0)
        window.destination_combo.setCurrentIndex(window.destination_combo.findData(
            "WORKSTATION"))
        window.send_selection()
        await until(lambda: window.queue.jobs() and window.queue.jobs()[0].state.is_finished)

    run_async(scenario())
    assert courier.pid is not None and courier.pid != os.getpid()
    job = window.queue.jobs()[0]
    assert job.state is JobState.COMPLETED
    assert job.label.patient == "Dubois, Amélie"
    window.queue_model.flush()
    row = window.queue_model.row_of(job.job_id)
    assert row is not None and window.queue_model.index(row, 4).data() == "completed"
    assert len(list(folder.rglob("*.dcm"))) == 48 == job.result.completed
    assert window.count_label.text() == "1 study"
    window.grab().save(str(tmp_path / "process-engine-window.png"))


def _match(name: str) -> bytes:
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    ds.PatientName = name
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.6"
    return encode_dataset(ds)


@pytest.mark.network
def test_engine_killed_mid_search_ends_it_at_once_in_plain_words(
        qtbot: QtBot, qasync_loop: Any, tmp_path: Path, run_async: Any) -> None:
    def script(conn: PeerConnection) -> None:  # one row, then silence (idle timeout: 60 s)
        conn.accept()
        request = conn.read_request()
        assert request is not None
        conn.respond(request, C_FIND_RSP, 0xFF00, identifier=_match("FIRST^ONE"))
        conn.wait_closed(timeout=15)

    with PduPeer(script) as peer:
        NodeStore(tmp_path / "nodes.json").put(PacsNode(
            name="staller", called_aet="STALLER", host="127.0.0.1", port=peer.port,
            timeouts=Timeouts(idle=60), destinations=(Destination("WS"),)))
        courier = ProcessCourier()
        win = create_main_window(tmp_path, courier=courier)
        qtbot.addWidget(win)
        win.reload_profiles(select="staller")

        async def scenario() -> None:
            search = asyncio.ensure_future(win.search({"PatientName": "FIRST*"}))
            await until(lambda: win.results_model.rowCount() == 1)
            assert courier.pid is not None
            os.kill(courier.pid, signal.SIGKILL)
            await asyncio.wait_for(search, 5)  # not the 60 s idle timeout

        try:
            run_async(scenario())
            assert win.count_label.text() == (
                "1 results shown; search incomplete: The engine process stopped "
                "unexpectedly during the search on STALLER.")
            box = win.findChild(QMessageBox, "errorBox")  # the search's error, non-modal
            assert box is not None and box.text() == (
                "The engine process stopped unexpectedly during the search on STALLER.")
            assert "Retry: Courier starts a new engine process" in box.informativeText()
            assert "ended by signal SIGKILL" in box.detailedText()
            box.grab().save(str(tmp_path / "engine-stopped-box.png"))
        finally:
            run_async(win.shutdown())


def test_courier_engine_chooses_the_window_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENGINE_ENV, raising=False)
    assert engine_choice(PROCESS) == PROCESS and engine_choice(THREAD) == THREAD
    monkeypatch.setenv(ENGINE_ENV, " Thread ")
    assert engine_choice(PROCESS) == THREAD
    monkeypatch.setenv(ENGINE_ENV, "process")
    assert engine_choice(THREAD) == PROCESS
    monkeypatch.setenv(ENGINE_ENV, "bogus")
    assert engine_choice(PROCESS) == PROCESS
    courier = DeferredCourier(engine=PROCESS)
    assert isinstance(courier.load(), ProcessCourier) and courier.load().pid is None
    courier.close()
    with pytest.raises(ValueError, match="engine must be"):
        DeferredCourier(engine="fork")


def test_create_main_window_keeps_threads_unless_asked(
        qtbot: QtBot, qasync_loop: Any, tmp_path: Path, run_async: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    for value, engine in ((None, THREAD), ("process", PROCESS)):
        if value is None:
            monkeypatch.delenv(ENGINE_ENV, raising=False)
        else:
            monkeypatch.setenv(ENGINE_ENV, value)
        win = create_main_window(tmp_path / (value or "default"))
        qtbot.addWidget(win)
        assert isinstance(win.courier, DeferredCourier) and win.courier.engine == engine
        run_async(win.shutdown())
