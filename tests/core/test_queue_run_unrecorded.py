"""`queue run` when the job database refuses to record how sends ended.

Seen: the disk filled during `queue run`; the send completed, its record was "kept to write
later", the command exited 0, and the next `queue run` found the job "interrupted" and sent
all 60 images again. Now the run tries again, then exits 1 naming the unrecorded sends and
what not to do.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dicom_courier.core.cli import main as cli_main
from dicom_courier.core.cli import queue_cmd
from dicom_courier.core.demo.pacs import DemoPacs
from dicom_courier.core.demo.synthetic import StudySpec
from dicom_courier.core.demo.workstation import Workstation
from dicom_courier.core.jobs.store import JobStore
from dicom_courier.core.jobs.store_errors import StoreDiskFull

#: Every test here talks DICOM over loopback TCP (see tests/conftest.py).
pytestmark = pytest.mark.network

SPEC = StudySpec(key="unrecorded-1", patient_name="Unrec^Test", patient_id="U1",
                 series_count=1, instances_per_series=2)


@pytest.mark.parametrize("disk_recovers", [False, True])
def test_a_queue_run_whose_end_cannot_be_recorded_says_so_and_fails(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        disk_recovers: bool) -> None:
    monkeypatch.setattr(queue_cmd, "UNRECORDED_ATTEMPTS", 2)
    with Workstation(tmp_path / "ws", ae_title="WS") as ws, DemoPacs(
            [SPEC], destinations={"WS": ("127.0.0.1", ws.port)}) as pacs:
        config = str(tmp_path / "cfg")
        assert cli_main.run(["--config-dir", config, "nodes", "add", "Demo", "--host",
                             "127.0.0.1", "--port", str(pacs.port), "--aet", pacs.ae_title,
                             "--dest", "WS"]) == 0
        assert cli_main.run(["--config-dir", config, "queue", "add", "--pacs", "Demo",
                             "--study", SPEC.study_uid]) == 0
        real_finished = JobStore.finished
        refusals = {"left": 1 if disk_recovers else 10**6}

        def finished(self: JobStore, job_id: int, **kwargs: object) -> None:
            if refusals["left"] > 0:
                refusals["left"] -= 1
                raise StoreDiskFull(self.path, cause="test")
            real_finished(self, job_id, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(JobStore, "finished", finished)
        capsys.readouterr()
        code = cli_main.run(["--config-dir", config, "queue", "run"])
        err = capsys.readouterr().err
        assert ws.received_count == 2
    if disk_recovers:
        assert code == 0, err
        assert "could not be recorded" not in err
    else:
        assert code == 1
        assert "1 send(s) ended but could not be recorded in the job database." in err
        assert f"study {SPEC.study_uid} → WS): completed" in err
        assert "Traceback" not in err
