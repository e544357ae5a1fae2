"""Real archives moving studies to the built-in receiver (issue 13 §5): Orthanc and dcmqrscp
each C-MOVE a study to our Storage SCP; every instance is on disk once, intact, with the
sender's AE title in its file meta, and the hub heard each."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest

from dicom_courier.core.config.receiver_settings import ReceiverSettings, allow_list
from dicom_courier.core.dimse.arrival_hub import ArrivalHub
from dicom_courier.core.dimse.engine import Courier
from dicom_courier.core.dimse.receiver import Receiver
from dicom_courier.core.outcome.arrival import Arrival
from dicom_courier.core.outcome.events import MoveOutcome
from dicom_courier.core.qr.query import MoveRequest, MoveTarget, QueryModel
from tests.conftest import require_binary
from tests.interop.conftest import node_for, run
from tests.peers import INTEROP_STUDIES, DcmqrscpPeer, OrthancPeer, free_port

pytestmark = pytest.mark.network

RECEIVER_AET = "COURIER_RX"


class Running:
    def __init__(self, receiver: Receiver, arrivals: list[Arrival]) -> None:
        self.receiver = receiver
        self.arrivals = arrivals


def start_receiver(folder: Path, port: int, sender: object) -> Running:
    hub = ArrivalHub()
    arrivals: list[Arrival] = []
    hub.subscribe(arrivals.append)
    settings = ReceiverSettings(enabled=True, ae_title=RECEIVER_AET, port=port)
    receiver = Receiver(settings, folder, allow_list(settings, [node_for(sender)]), hub)
    receiver.start()
    return Running(receiver, arrivals)


def originals(interop_files: list[Path], study_uid: str) -> dict[str, pydicom.Dataset]:
    found = {}
    for path in interop_files:
        ds = pydicom.dcmread(path)
        if ds.StudyInstanceUID == study_uid:
            found[ds.SOPInstanceUID] = ds
    return found


def check_arrived(folder: Path, running: Running, expected: dict[str, pydicom.Dataset],
                  sender_aet: str) -> None:
    files = {p.stem: p for p in folder.rglob("*.dcm")}
    assert set(files) == set(expected)
    for sop_uid, path in files.items():
        received = pydicom.dcmread(path)
        assert received.file_meta.SourceApplicationEntityTitle == sender_aet
        assert received.file_meta.MediaStorageSOPInstanceUID == sop_uid
        assert received.PixelData == expected[sop_uid].PixelData  # intact
        assert path.parent.parent.parent.name == str(expected[sop_uid].PatientID)
    assert sorted(a.sop_uid for a in running.arrivals) == sorted(expected)
    assert not [p for p in folder.rglob(".*")]  # no temporary file left


def move_here(courier: Courier, sender: object, study_uid: str) -> None:
    result = run(courier.move(node_for(sender), MoveRequest(
        MoveTarget(study_uid=study_uid), RECEIVER_AET, QueryModel.STUDY)).run())
    assert result.outcome is MoveOutcome.COMPLETED, result.error and result.error.render()


@pytest.fixture
def receiver_port() -> int:
    return free_port()


def test_orthanc_moves_a_study_to_the_receiver(orthanc: OrthancPeer, courier: Courier,
                                               interop_files: list[Path], tmp_path: Path,
                                               receiver_port: int) -> None:
    orthanc.add_modality(f"courier_rx_{receiver_port}", RECEIVER_AET, receiver_port)
    spec = INTEROP_STUDIES[3]  # MR and CT: two storage classes
    folder = tmp_path / "received"
    running = start_receiver(folder, receiver_port, orthanc)
    try:
        move_here(courier, orthanc, spec.study_uid)
    finally:
        running.receiver.stop()
    check_arrived(folder, running, originals(interop_files, spec.study_uid), orthanc.aet)


def test_dcmqrscp_moves_a_study_to_the_receiver(tmp_path: Path, interop_files: list[Path],
                                                courier: Courier, receiver_port: int) -> None:
    peer = DcmqrscpPeer(tmp_path / "dcmqrscp", destination_port=free_port(),
                        dead_port=free_port(), extra_destinations={RECEIVER_AET: receiver_port},
                        binary=require_binary("dcmqrscp", "dcmtk"),
                        indexer=require_binary("dcmqridx", "dcmtk"))
    peer.load(interop_files)
    peer.start()
    spec = INTEROP_STUDIES[0]
    folder = tmp_path / "received"
    try:
        running = start_receiver(folder, receiver_port, peer)
        try:
            move_here(courier, peer, spec.study_uid)
        finally:
            running.receiver.stop()
    finally:
        peer.stop()
    check_arrived(folder, running, originals(interop_files, spec.study_uid), peer.aet)
