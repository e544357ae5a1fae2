"""The peer fixtures themselves work, checked with DCMTK's own command-line tools.

If these fail, interop failures elsewhere say nothing about the engine. They also pin down
the peer behaviours the engine's tests rely on (statuses for bad destinations, etc.).
"""

from __future__ import annotations

import re
from pathlib import Path

import pydicom
import pytest

from tests.peers import (
    INTEROP_INSTANCE_COUNT,
    INTEROP_STUDIES,
    DcmqrscpPeer,
    OrthancPeer,
    StorescpPeer,
    run_tool,
)

pytestmark = [pytest.mark.peers, pytest.mark.usefixtures("dcmtk_tools")]

_STATUS = re.compile(r"DIMSE Status\s*:\s*0x([0-9a-fA-F]{4})")


def _address(peer: OrthancPeer | DcmqrscpPeer | StorescpPeer) -> list[str]:
    return [peer.host, str(peer.port)]


def _find_studies(peer: OrthancPeer | DcmqrscpPeer, out_dir: Path) -> list[pydicom.Dataset]:
    """Study-level C-FIND with findscu; responses extracted to files and read back."""
    out_dir.mkdir()
    result = run_tool(
        "findscu", "-S", "-aet", peer.calling_aet, "-aec", peer.aet,
        "-k", "QueryRetrieveLevel=STUDY", "-k", "StudyInstanceUID", "-k", "PatientName",
        "-k", "SpecificCharacterSet=ISO_IR 192",
        "-X", "-od", str(out_dir), *_address(peer),
    )
    assert result.returncode == 0, result.stderr
    return [pydicom.dcmread(path) for path in sorted(out_dir.glob("rsp*.dcm"))]


def _move_statuses(peer: OrthancPeer | DcmqrscpPeer, destination: str, study_uid: str) -> list[int]:
    """C-MOVE one study with movescu; returns every C-MOVE-RSP status in order."""
    result = run_tool(
        "movescu", "-d", "-S", "-aet", peer.calling_aet, "-aec", peer.aet, "-aem", destination,
        "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study_uid}",
        *_address(peer),
    )
    return [int(code, 16) for code in _STATUS.findall(result.stdout + result.stderr)]


@pytest.mark.parametrize("peer_name", ["orthanc", "dcmqrscp", "storescp"])
def test_echoscu_succeeds(peer_name: str, request: pytest.FixtureRequest) -> None:
    peer = request.getfixturevalue(peer_name)
    result = run_tool("echoscu", "-aet", "COURIER", "-aec", peer.aet, *_address(peer))
    assert result.returncode == 0, result.stderr


def test_orthanc_holds_the_uploaded_instances(orthanc: OrthancPeer) -> None:
    assert orthanc.instance_count() == INTEROP_INSTANCE_COUNT
    assert len(orthanc.rest_get("/studies")) == len(INTEROP_STUDIES)
    names = {p["MainDicomTags"]["PatientName"] for p in orthanc.rest_get("/patients?expand")}
    assert names == {spec.patient_name for spec in INTEROP_STUDIES}


@pytest.mark.parametrize("peer_name", ["orthanc", "dcmqrscp"])
def test_findscu_sees_every_study(
    peer_name: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    peer = request.getfixturevalue(peer_name)
    responses = _find_studies(peer, tmp_path / "responses")
    assert sorted(r.StudyInstanceUID for r in responses) == sorted(
        spec.study_uid for spec in INTEROP_STUDIES
    )
    assert {str(r.PatientName) for r in responses} == {s.patient_name for s in INTEROP_STUDIES}


def test_storescp_receives_a_file_sent_by_storescu(
    storescp: StorescpPeer, interop_files: list[Path]
) -> None:
    assert storescp.received_files() == []
    result = run_tool("storescu", "-aet", "COURIER", "-aec", storescp.aet,
                      *_address(storescp), str(interop_files[0]))
    assert result.returncode == 0, result.stderr
    (received,) = storescp.wait_for_files(1)
    assert pydicom.dcmread(received).SOPInstanceUID == pydicom.dcmread(
        interop_files[0]
    ).SOPInstanceUID


@pytest.mark.parametrize("peer_name", ["orthanc", "dcmqrscp"])
def test_move_to_storescp_delivers_the_study(
    peer_name: str, request: pytest.FixtureRequest, storescp: StorescpPeer
) -> None:
    peer = request.getfixturevalue(peer_name)
    spec = INTEROP_STUDIES[0]
    statuses = _move_statuses(peer, peer.known_destination, spec.study_uid)
    assert statuses[-1] == 0x0000, peer.log_tail()
    files = storescp.wait_for_files(spec.instance_count)
    assert len(files) == spec.instance_count


@pytest.mark.parametrize(
    ("peer_name", "unknown_status", "dead_status"),
    [
        # Orthanc 1.10 says only "unable to process" for both, with no sub-operation counts.
        ("orthanc", 0xC000, 0xC000),
        # dcmqrscp: Move Destination Unknown; Out of Resources - unable to perform sub-ops.
        ("dcmqrscp", 0xA801, 0xA702),
    ],
    ids=["orthanc", "dcmqrscp"],
)
def test_bad_move_destinations(
    peer_name: str, unknown_status: int, dead_status: int, request: pytest.FixtureRequest
) -> None:
    peer = request.getfixturevalue(peer_name)
    study_uid = INTEROP_STUDIES[1].study_uid
    assert _move_statuses(peer, "NOSUCHAE", study_uid) == [unknown_status]
    assert _move_statuses(peer, peer.dead_destination, study_uid) == [dead_status]


def test_orthanc_aborts_find_from_an_unknown_calling_aet(orthanc: OrthancPeer) -> None:
    """Association accepted (C-ECHO works), then C-FIND answered with an A-ABORT."""
    echo = run_tool("echoscu", "-aet", "STRANGER", "-aec", orthanc.aet, *_address(orthanc))
    assert echo.returncode == 0, echo.stderr
    find = run_tool(
        "findscu", "-S", "-aet", "STRANGER", "-aec", orthanc.aet,
        "-k", "QueryRetrieveLevel=STUDY", "-k", "StudyInstanceUID", *_address(orthanc),
    )
    # findscu 3.6.7 still exits 0 here; only its log tells about the abort.
    assert "Peer aborted Association" in find.stdout + find.stderr
    assert "Find Response" not in find.stdout + find.stderr


def test_dcmqrscp_rejects_a_wrong_called_aet(dcmqrscp: DcmqrscpPeer) -> None:
    result = run_tool("echoscu", "-aet", "COURIER", "-aec", "WRONGAET", *_address(dcmqrscp))
    assert result.returncode != 0
    assert "Called AE Title Not Recognized" in result.stdout + result.stderr
