"""The window's "Resume interrupted sends" keeps every field of the stored job (issue 10).

The bug: the window rebuilt the stored job by hand and resumed a STAT job at normal priority
and a "failed images only" job as its whole series (3 images asked for, not the 2 that
failed). It now uses the engine's rule (core.resume), as `queue run` does.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
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
from dicom_courier.core.qr.query import Priority, QueryLevel
from dicom_courier.gui import create_main_window
from tests.fakes.quirky import QuirkyPacs
from tests.gui.quirky_window import save_profile
from tests.gui.waiting import until

#: Every test here talks DICOM over loopback TCP (see tests/conftest.py).
pytestmark = [pytest.mark.network, pytest.mark.qt_log_ignore("propagateSizeHints", "raise")]

SPEC = StudySpec(key="win-resume", patient_name="STAT^WINDOW", patient_id="WR1",
                 description="CT head", modalities=("CT",), series_count=2,
                 instances_per_series=3)
FAILED_IMAGES = (SPEC.sop_uid(1, 0), SPEC.sop_uid(1, 2))


@pytest.fixture
def peers(tmp_path: Path) -> Iterator[tuple[QuirkyPacs, Workstation]]:
    with Workstation(tmp_path / "ws") as ws, QuirkyPacs([SPEC]) as pacs:
        pacs.add_destination("WORKSTATION", "127.0.0.1", ws.port)
        yield pacs, ws


def test_resume_keeps_stat_priority_and_the_failed_images(
        qtbot: QtBot, tmp_path: Path, peers: tuple[QuirkyPacs, Workstation],
        run_async: Any) -> None:
    pacs, ws = peers
    config = tmp_path / "cfg"
    save_profile(config, pacs)
    node = PacsNode(name="quirky", called_aet=pacs.ae_title, host="127.0.0.1",
                    port=pacs.port, timeouts=Timeouts(idle=10))
    store = JobStore(config / "data" / "jobs.db")
    stat = store.add(pacs_json=node.to_json(), destination="WORKSTATION",
                     study_uid=SPEC.study_uid, patient_id="WR1", label="STAT^WINDOW — CT head")
    store.set_priority(stat, int(Priority.HIGH))
    images = store.add(pacs_json=node.to_json(), destination="WORKSTATION",
                       study_uid=SPEC.study_uid, series_uids=(SPEC.series_uid(1),),
                       patient_id="WR1", label="STAT^WINDOW — CT head", retry_of=None)
    store.set_sop_uids(images, FAILED_IMAGES)  # a "retry failed images only" job
    for job_id in (stat, images):
        store.started(job_id)
    store.close()  # the process "died" here

    window = create_main_window(config)
    qtbot.addWidget(window)
    try:
        box = window.findChild(QMessageBox, "resumeInterrupted")
        assert box is not None
        assert "STAT^WINDOW — CT head (STAT): 0 images (total not yet reported)" in box.text()
        assert "asks for 2 image(s) of one series again" in box.text()
        shots = os.environ.get("COURIER_SCREENSHOT")  # a folder: look at the question by eye
        if shots:
            box.grab().save(str(Path(shots) / "resume_interrupted.png"))

        async def scenario() -> None:
            box.button(QMessageBox.StandardButton.Yes).click()
            await until(lambda: len(window.queue.jobs()) == 2
                        and all(j.state.is_finished for j in window.queue.jobs()),
                        describe=window.queue.jobs)

        run_async(scenario())
        by_origin = {job.retry_of: job for job in window.queue.jobs()}
        resumed_stat, resumed_images = by_origin[stat], by_origin[images]
        assert resumed_stat.request.priority is Priority.HIGH  # old: MEDIUM
        assert resumed_images.request.target.level is QueryLevel.IMAGE  # old: SERIES
        assert resumed_images.request.target.sop_uids == FAILED_IMAGES
        assert resumed_stat.state is JobState.COMPLETED
        assert resumed_images.state is JobState.COMPLETED
        assert resumed_images.result is not None and resumed_images.result.completed == 2
        image_moves = [m for m in pacs.moves if m["QueryRetrieveLevel"] == "IMAGE"]
        assert len(image_moves) == 1
        sent = pacs.instances_sent  # every C-STORE sub-operation the PACS started
        assert len(sent) == SPEC.instance_count + 2  # the study, then the 2 images only
        assert {uid for uid in sent if sent.count(uid) == 2} == set(FAILED_IMAGES)
        assert ws.received_uids() == {SPEC.sop_uid(s, i) for s in range(2) for i in range(3)}
        rows = {row.id: row for row in window.history.jobs()}
        assert rows[resumed_stat.job_id].priority == int(Priority.HIGH)
        assert rows[resumed_images.job_id].sop_uids == FAILED_IMAGES
    finally:
        run_async(window.shutdown())
