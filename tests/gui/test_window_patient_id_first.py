"""Review J in the window: an interrupted send stored without a Patient ID, resumed against a
PACS that offers only Patient Root, has the Patient ID looked up first and arrives whole.

The old code proposed Study Root only for such a send and failed with "does not offer the
service … Try the Patient Root model (command line: --model patient)", advice the window
cannot follow; Retry failed the same. A PACS that refuses the look-up gets a message in
words the window can follow (no command-line flags), and Retry says the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from dicom_courier.core.config.profiles import PacsNode, Timeouts
from dicom_courier.core.demo.synthetic import StudySpec
from dicom_courier.core.demo.workstation import Workstation
from dicom_courier.core.jobs.queue import JobState
from dicom_courier.core.jobs.store import JobStore
from dicom_courier.gui import create_main_window
from tests.fakes.quirky import QuirkyPacs
from tests.gui.quirky_window import save_profile
from tests.gui.waiting import until

#: Every test here talks DICOM over loopback TCP (see tests/conftest.py).
pytestmark = [pytest.mark.network, pytest.mark.qt_log_ignore("propagateSizeHints", "raise")]

P6 = StudySpec(key="pidw6", patient_name="SIX^IMAGES", patient_id="PW6", description="MR knee",
               modalities=("MR",), series_count=2, instances_per_series=3)

Opener = Callable[..., tuple[Any, QuirkyPacs, Workstation, int]]


@pytest.fixture
def resumed(qtbot: QtBot, qasync_loop: Any, tmp_path: Path,
            run_async: Any) -> Iterator[Opener]:
    """``resumed(**quirks)``: a job row for P6 stored *without* a Patient ID and left running
    (the process "died"), then the window opened on that profile: (window, pacs, ws, id)."""
    stack: list[Any] = []

    def go(**quirks: Any) -> tuple[Any, QuirkyPacs, Workstation, int]:
        ws = Workstation(tmp_path / "ws")
        ws.__enter__()
        stack.append(ws)
        pacs = QuirkyPacs([P6], **quirks)
        pacs.__enter__()
        stack.append(pacs)
        pacs.add_destination("WORKSTATION", "127.0.0.1", ws.port)
        config = tmp_path / "cfg"
        save_profile(config, pacs)
        node = PacsNode(name="quirky", called_aet=pacs.ae_title, host="127.0.0.1",
                        port=pacs.port, timeouts=Timeouts(idle=10))
        store = JobStore(config / "data" / "jobs.db")
        crashed = store.add(pacs_json=node.to_json(), destination="WORKSTATION",
                            study_uid=P6.study_uid, label="SIX^IMAGES — MR knee")  # no ID
        store.started(crashed)
        store.close()
        window = create_main_window(config)
        qtbot.addWidget(window)
        window.reload_profiles(select="quirky")
        stack.append(window)
        return window, pacs, ws, crashed

    yield go
    for item in reversed(stack):
        if isinstance(item, QuirkyPacs | Workstation):
            item.__exit__(None, None, None)
        else:
            run_async(item.shutdown())


def _resume(window: Any, run_async: Any, count: int = 1) -> None:
    box = window.findChild(QMessageBox, "resumeInterrupted")
    assert box is not None

    async def scenario() -> None:
        box.button(QMessageBox.StandardButton.Yes).click()
        await until(lambda: len(window.queue.jobs()) == count
                    and all(j.state.is_finished for j in window.queue.jobs()),
                    describe=window.queue.jobs)

    run_async(scenario())


def test_resumed_send_without_patient_id_arrives_on_a_patient_root_only_pacs(
        resumed: Opener, run_async: Any) -> None:
    window, pacs, ws, crashed = resumed(models=frozenset({"patient"}))
    _resume(window, run_async)
    job = window.queue.jobs()[0]
    assert job.state is JobState.COMPLETED, job.result  # old: FAILED, "--model patient"
    assert job.retry_of == crashed
    assert ws.received_count == P6.instance_count == len(pacs.instances_sent)
    assert [f["QueryRetrieveLevel"] for f in pacs.finds] == ["STUDY"]  # the look-up
    assert [m["PatientID"] for m in pacs.moves] == [P6.patient_id]


def test_a_refused_look_up_is_said_in_the_window_s_words_and_retry_says_the_same(
        resumed: Opener, run_async: Any) -> None:
    window, pacs, ws, _ = resumed(models=frozenset({"patient"}), hierarchical=True)
    _resume(window, run_async)
    job = window.queue.jobs()[0]
    assert job.state is JobState.FAILED and job.result is not None
    error = job.result.error
    assert error is not None
    assert "refused the look-up of the study's Patient ID (Patient Root model" in error.title
    assert "--" not in error.action and "command line" not in error.action

    async def retried() -> None:
        window.queue.retry(job.job_id)  # what the failure dialog's Retry does
        await until(lambda: len(window.queue.jobs()) == 2
                    and all(j.state.is_finished for j in window.queue.jobs()))

    run_async(retried())
    again = window.queue.jobs()[1]
    assert again.result is not None and again.result.error is not None
    assert again.result.error.title == error.title
    assert pacs.moves == [] and ws.received_count == 0
