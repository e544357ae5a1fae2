"""dcmqrscp and a move by keys of an upper level (issue 9 review, finding 1).

dcmqrscp searches hierarchically: at SERIES or IMAGE level of the Study Root model it does not
match on PatientID (matching upper-level attributes at a lower level is relational, PS3.4
C.4.1.2.2.1) and answers every series it holds, naming other patients. ``move --level SERIES
-k PatientID=P12`` sent all 35 images of two patients (exit 0); now the study is looked up
first, then its series or images, and only P12's 12 images arrive.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dicom_courier.core.cli.main import run
from dicom_courier.core.demo.synthetic import StudySpec, iter_study, write_datasets
from dicom_courier.core.demo.workstation import Workstation
from tests.conftest import running_dcmqrscp
from tests.peers import DcmqrscpPeer

P23 = StudySpec(key="upper-p23", patient_name="TWENTY^THREE", patient_id="P23",
                series_count=1, instances_per_series=23)
P12 = StudySpec(key="upper-p12", patient_name="TWELVE^IMAGES", patient_id="P12",
                modalities=("MR",), series_count=3, instances_per_series=4)
P12_IMAGES = {P12.sop_uid(s, i) for s in range(3) for i in range(4)}


@pytest.fixture(scope="module")
def two_patients(tmp_path_factory: pytest.TempPathFactory, destination_port: int,
                 dead_port: int) -> Iterator[DcmqrscpPeer]:
    """A dcmqrscp of its own holding P12 (3 series, 12 images) and P23 (1 series, 23)."""
    files = write_datasets([ds for spec in (P23, P12) for ds in iter_study(spec)],
                           tmp_path_factory.mktemp("upper-data"))
    with running_dcmqrscp(tmp_path_factory.mktemp("upper-qr"), destination_port, dead_port,
                          files) as peer:
        yield peer


@pytest.mark.parametrize("level", ["SERIES", "IMAGE"])
def test_patient_id_at_a_lower_level_moves_that_patient_only(
        two_patients: DcmqrscpPeer, destination_port: int, tmp_path: Path, level: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    with Workstation(tmp_path / "ws", ae_title="STORESCP", port=destination_port) as ws:
        code = run(["--config-dir", str(tmp_path / "cfg"), "move", "--host", "127.0.0.1",
                    "--port", str(two_patients.port), "--aet", two_patients.aet,
                    "--dest", "STORESCP", "--level", level, "-k", "PatientID=P12"])
        err = capsys.readouterr().err
        assert code == 0, err
        assert ws.received_uids() == P12_IMAGES
        assert ws.received_count == 12
    assert "completed: 12 of 12 images sent to STORESCP" in " ".join(err.split())
