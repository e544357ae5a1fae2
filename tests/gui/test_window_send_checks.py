"""The window asks what the engine's pre-send checks return (core.send_checks, issue 10).

"Already sent within N minutes" comes from jobs.db: a study sent by an earlier session (or by
`move`) is asked about after a restart. The old window kept the sends in a dict of its own
and queued such a study again without a word.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from dicom_courier.core.config.profiles import PacsNode, Timeouts
from dicom_courier.core.demo.synthetic import StudySpec
from dicom_courier.core.demo.workstation import Workstation
from dicom_courier.core.jobs.store import JobStore
from tests.fakes.quirky import QuirkyPacs
from tests.gui.quirky_window import quirky_window

#: Every test here talks DICOM over loopback TCP (see tests/conftest.py).
pytestmark = [pytest.mark.network, pytest.mark.qt_log_ignore("propagateSizeHints", "raise")]

SPEC = StudySpec(key="win-again", patient_name="AGAIN^WINDOW", patient_id="WA1",
                 description="MR knee", modalities=("MR",), series_count=1,
                 instances_per_series=2)


def test_a_study_sent_before_a_restart_is_asked_about(qtbot: QtBot, tmp_path: Path,
                                                      run_async: Any) -> None:
    with Workstation(tmp_path / "ws") as ws, QuirkyPacs([SPEC]) as pacs:
        pacs.add_destination("WORKSTATION", "127.0.0.1", ws.port)
        config = tmp_path / "cfg"
        node = PacsNode(name="quirky", called_aet=pacs.ae_title, host="127.0.0.1",
                        port=pacs.port, timeouts=Timeouts(idle=10))
        store = JobStore(config / "data" / "jobs.db")  # an earlier session's send
        sent = store.add(pacs_json=node.to_json(), destination="WORKSTATION",
                         study_uid=SPEC.study_uid, queued_at=time.time() - 600)
        store.started(sent)
        store.finished(sent, state="completed", total=2, completed=2, failed=0, warning=0,
                       status=0, error=None)
        store.close()
        window = quirky_window(qtbot, config, pacs)
        try:
            run_async(window.search({"PatientID": "WA1"}))
            window.results_view.selectRow(0)
            window.send_selection()
            box = window.findChild(QMessageBox, "confirmSend")
            assert box is not None  # old: queued again without a question
            assert box.text() == ("This study was sent to WORKSTATION in the last 60 "
                                  "minutes. Send it again?")
            shots = os.environ.get("COURIER_SCREENSHOT")
            if shots:
                box.grab().save(str(Path(shots) / "send_again.png"))
            box.button(QMessageBox.StandardButton.Cancel).click()
            assert window.queue.jobs() == [] and pacs.moves == []
        finally:
            run_async(window.shutdown())
