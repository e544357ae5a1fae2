"""The window does little per engine report, so its event loop keeps running (issue 12 §2).

What is measured (event-loop gaps against a real PACS) is in ``benchmarks/window_gap.py``;
these tests pin the mechanisms, with no sockets and no timing asserts:

* a burst of C-MOVE progress (one snapshot per image) reaches the window's slots a bounded
  number of times, and the row still shows the newest counts; a new state is never held back,
  never overtaken by older counts, and a removed job never comes back;
* rows that stream in faster than a person reads are added to the grid together;
* a repaint of the results grid asks Python once per cell for its data (one ``multiData``
  call, not one ``data()`` call per role), with the same text and alignment as before.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from types import FrameType, MappingProxyType
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QStyledItemDelegate, QStyleOptionViewItem
from pytestqt.qtbot import QtBot

from dicom_courier.core.config.app_settings import AppSettings
from dicom_courier.core.config.profile_store import NodeStore
from dicom_courier.core.config.profiles import PacsNode
from dicom_courier.core.dimse.channel import Channel
from dicom_courier.core.dimse.find import FindResult
from dicom_courier.core.jobs.queue import JobLabel, JobSnapshot, JobState
from dicom_courier.core.outcome.events import MoveProgress
from dicom_courier.core.qr.query import FindMatch, MoveRequest, MoveTarget, QueryLevel
from dicom_courier.core.signals import EngineSignals
from dicom_courier.gui import create_main_window
from dicom_courier.gui.queue_model import MoveQueueModel, QueueColumn
from dicom_courier.gui.results_model import ITEM_FLAGS, Column, StudyResultsModel
from dicom_courier.gui.results_proxy import ResultsFilterProxy
from dicom_courier.gui.results_view import ResultsView

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")

NODE = PacsNode(name="main", called_aet="PACS", host="127.0.0.1", port=104)
IMAGES = 1000


def _running(job_id: int = 1) -> JobSnapshot:
    return JobSnapshot(job_id=job_id, pacs=NODE,
                       request=MoveRequest(MoveTarget(f"1.2.826.0.1.3680043.8.498.{job_id}"),
                                           "WS"),
                       label=JobLabel(patient="Burst^Patient", study="CT"),
                       state=JobState.RUNNING, queued_at=time.monotonic() - 5,
                       started_at=time.monotonic() - 4)


def _counted(job: JobSnapshot, completed: int) -> JobSnapshot:
    return replace(job, progress=MoveProgress(
        remaining=IMAGES - completed, completed=completed, failed=0, warning=0, total=IMAGES,
        status=0xFF00, elapsed=1.0, is_final=False))


class _Heard:
    """Everything ``job_changed`` carried, and how often the model told its views."""

    def __init__(self, signals: EngineSignals, model: MoveQueueModel) -> None:
        self.jobs: list[JobSnapshot] = []
        self.data_changed = 0
        signals.job_changed.connect(self.jobs.append)
        model.dataChanged.connect(self._on_data_changed)

    def _on_data_changed(self, *_args: object) -> None:
        self.data_changed += 1


def _wired(qtbot: QtBot) -> tuple[EngineSignals, MoveQueueModel, _Heard]:
    signals = EngineSignals()
    model = MoveQueueModel()
    model.listen_to(signals)
    return signals, model, _Heard(signals, model)


def _progress_text(model: MoveQueueModel, job_id: int = 1) -> str:
    row = model.row_of(job_id)
    assert row is not None
    return str(model.index(row, QueueColumn.PROGRESS).data())


def test_five_hundred_progress_reports_in_one_turn_reach_the_window_once(
        qtbot: QtBot) -> None:
    """4 moves of 1,000 images report ~4,000 times: each report used to run every slot on
    ``job_changed`` (table, quit guard, failure reporter). Now a burst is one emission."""
    signals, model, heard = _wired(qtbot)
    job = _running()
    signals.on_job_added(job)
    for completed in range(1, 501):  # one loop turn: no event is processed in between
        signals.on_job_changed(_counted(job, completed))
    assert len(heard.jobs) == 1  # only the new job so far: the counts are held
    qtbot.waitUntil(lambda: signals.held_progress == 0)  # the progress timer, not a flush
    model.flush()
    assert [j.progress.completed if j.progress else None for j in heard.jobs] == [None, 500]
    assert _progress_text(model) == "500 of 1000 sent"
    assert heard.data_changed <= 1


def test_a_new_state_is_never_held_or_overtaken_by_older_counts(qtbot: QtBot) -> None:
    signals, model, heard = _wired(qtbot)
    job = _running()
    signals.on_job_added(job)
    for completed in (10, 20, 30):
        signals.on_job_changed(_counted(job, completed))
    finished = replace(_counted(job, IMAGES), state=JobState.CANCELLING)
    signals.on_job_changed(finished)  # a new state: at once
    assert heard.jobs[-1] is finished
    signals.flush_progress()  # nothing older may follow it
    assert heard.jobs[-1] is finished and len(heard.jobs) == 2
    model.flush()
    assert model.job_at(0).state is JobState.CANCELLING


def test_a_removed_job_does_not_come_back_with_its_held_counts(qtbot: QtBot) -> None:
    signals, model, heard = _wired(qtbot)
    job = _running()
    signals.on_job_added(job)
    signals.on_job_changed(_counted(job, 5))
    signals.on_jobs_removed((job.job_id,))
    signals.flush_progress()
    assert model.rowCount() == 0 and model.row_of(job.job_id) is None
    assert len(heard.jobs) == 1


def _match(index: int) -> FindMatch:
    return FindMatch(level=QueryLevel.STUDY, values=MappingProxyType({
        "PatientName": f"Stream^Patient{index:04d}", "PatientID": f"S{index:05d}",
        "StudyDate": f"2024{index % 12 + 1:02d}{index % 28 + 1:02d}", "StudyTime": "101500",
        "ModalitiesInStudy": "CT", "StudyDescription": f"Study {index}",
        "NumberOfStudyRelatedInstances": str(index % 500),
        "StudyInstanceUID": f"1.2.826.0.1.3680043.8.498.7{index}"}))


class _TrickleFind:
    """A FindOperation stand-in whose rows arrive through the engine's own Channel, 10 at a
    time, as fast as the loop lets the producer run (as a PACS answering on loopback)."""

    BATCHES = 50

    def __init__(self) -> None:
        self.result = FindResult(count=self.BATCHES * 10, status=0, duration=0.1,
                                 cancelled=False, error=None)
        self._producer: asyncio.Task[None] | None = None

    def cancel(self) -> None:
        pass

    def abort(self) -> None:
        pass

    def batches(self) -> AsyncIterator[list[FindMatch]]:
        channel: Channel[FindMatch] = Channel(asyncio.get_running_loop())
        self._producer = asyncio.ensure_future(self._produce(channel))
        return channel.batches()

    async def _produce(self, channel: Channel[FindMatch]) -> None:
        for batch in range(self.BATCHES):
            channel.put_many([_match(batch * 10 + i) for i in range(10)])
            await asyncio.sleep(0)
        channel.close()


def test_rows_streaming_in_are_added_to_the_grid_together(qtbot: QtBot, tmp_path: Path,
                                                          run_async: Any) -> None:
    """Each addition costs the grid a relayout and the count an update on the GUI thread:
    50 small batches arriving at once used to be 50 additions."""
    NodeStore(tmp_path / "nodes.json").put(NODE)
    window = create_main_window(tmp_path)
    qtbot.addWidget(window)
    window.settings = AppSettings(result_limit=10_000)
    window.reload_profiles(select="main")
    window.courier.find = lambda *args, **kwargs: _TrickleFind()  # type: ignore[method-assign]
    model = window.results_model
    added: list[int] = []
    append = model.append_matches

    def counting_append(matches: list[FindMatch]) -> None:
        added.append(len(matches))
        append(matches)

    model.append_matches = counting_append  # type: ignore[method-assign]
    try:
        run_async(window.search({"PatientName": "Stream*"}))
        assert sum(added) == 500 and len(added) <= 5, added
        assert model.rowCount() == 500
        assert [model.match_at(r).get("PatientID") for r in range(500)] == \
            [f"S{i:05d}" for i in range(500)]  # arrival order, nothing lost or doubled
        assert window.count_label.text() == "500 studies"
    finally:
        run_async(window.shutdown())


def _calls_during(func: Any, *names: str) -> dict[str, int]:
    """How often each function named ``names`` (qualified name) ran during ``func()``."""
    counts = dict.fromkeys(names, 0)

    def profile(frame: FrameType, event: str, _arg: object) -> None:
        if event == "call" and frame.f_code.co_qualname in counts:
            counts[frame.f_code.co_qualname] += 1

    sys.setprofile(profile)
    try:
        func()
    finally:
        sys.setprofile(None)
    return counts


def test_a_repaint_asks_python_once_per_cell(qtbot: QtBot) -> None:
    """Each call from Qt into Python must win the interpreter lock back from the engine's
    threads: a painted cell asked seven roles through data(); now one multiData() call."""
    model = StudyResultsModel()
    view = ResultsView(model)
    qtbot.addWidget(view)
    view.resize(1000, 400)
    model.append_matches([_match(i) for i in range(300)])
    view.show()
    qtbot.waitExposed(view)
    qtbot.waitUntil(lambda: view.viewport().updatesEnabled() and view.rowAt(0) == 0)
    proxy = view.proxy
    calls = _calls_during(view.viewport().grab, "ResultsFilterProxy.data",
                          "ResultsFilterProxy.multiData")
    rows = view.rowAt(view.viewport().height() - 1) - view.rowAt(0) + 1
    assert calls["ResultsFilterProxy.data"] == 0
    assert 0 < calls["ResultsFilterProxy.multiData"] <= (rows + 1) * len(Column)

    delegate = QStyledItemDelegate()
    for row in (0, 7, 299):
        for column in Column:
            index = proxy.index(row, column)
            option = QStyleOptionViewItem()
            delegate.initStyleOption(option, index)  # what the painted cell shows
            assert option.text == index.data(Qt.ItemDataRole.DisplayRole)
            alignment = index.data(Qt.ItemDataRole.TextAlignmentRole)
            if alignment is not None:
                assert option.displayAlignment == Qt.AlignmentFlag(alignment)
            assert proxy.flags(index) == ITEM_FLAGS
    assert not proxy.index(300, 0).isValid() and not proxy.index(0, len(Column)).isValid()
    assert ResultsFilterProxy().index(0, 0).isValid() is False  # no source: no cells
