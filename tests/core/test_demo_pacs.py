"""The demo PACS and workstation, driven by a raw pynetdicom SCU over loopback."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.association import Association
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    PatientRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelMove,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)

from dicom_courier.core.demo.pacs import DemoPacs
from dicom_courier.core.demo.synthetic import StudySpec
from dicom_courier.core.demo.workstation import Workstation
from dicom_courier.core.dimse.transport import NODELAY_HANDLERS

PATIENT_FIND = PatientRootQueryRetrieveInformationModelFind
STUDY_FIND = StudyRootQueryRetrieveInformationModelFind
PATIENT_MOVE = PatientRootQueryRetrieveInformationModelMove
STUDY_MOVE = StudyRootQueryRetrieveInformationModelMove

CHEST = StudySpec(
    key="t-chest", patient_name="Müller^Jürgen", patient_id="P1", study_date="20240611",
    study_time="101500", accession="A1", description="CT chest", modalities=("CT",),
    series_count=2, instances_per_series=3,
)
ABDOMEN = StudySpec(
    key="t-abdomen", patient_name="Müller^Jürgen", patient_id="P1", study_date="20231102",
    study_time="083000", accession="A0", description="CT abdomen", modalities=("CT",),
    series_count=1, instances_per_series=2,
)
KNEE = StudySpec(
    key="t-knee", patient_name="Dubois^Amélie", patient_id="P2", study_date="20240612",
    study_time="140000", accession="A2", description="MR knee", modalities=("MR", "OT"),
    series_count=2, instances_per_series=2, charset="ISO_IR 100",
)
HEAD = StudySpec(
    key="t-head", patient_name="Yamada^Tarou=山田^太郎=やまだ^たろう", patient_id="P3",
    study_date="20240101", study_time="235959", accession="A3", description="CT head",
    modalities=("CT",), series_count=1, instances_per_series=2,
)
STUDIES = (CHEST, ABDOMEN, KNEE, HEAD)
SPEC_BY_UID = {spec.study_uid: spec for spec in STUDIES}


# --- fixtures and a tiny SCU ----------------------------------------------------------------


@pytest.fixture(scope="module")
def pacs() -> Iterator[DemoPacs]:
    with DemoPacs(STUDIES) as running:
        yield running


@pytest.fixture(scope="module")
def scu() -> Iterator[AE]:
    ae = AE(ae_title="TESTSCU")
    for model in (Verification, PATIENT_FIND, STUDY_FIND, PATIENT_MOVE, STUDY_MOVE):
        ae.add_requested_context(model)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 5
    yield ae
    ae.shutdown()


@pytest.fixture
def workstation(tmp_path: Path, pacs: DemoPacs) -> Iterator[Workstation]:
    with Workstation(tmp_path / "inbox") as running:
        pacs.add_destination(running.ae_title, running.host, running.port)
        yield running
    pacs.remove_destination(running.ae_title)


@contextmanager
def associated(ae: AE, port: int, called: str = "DEMOPACS") -> Iterator[Association]:
    assoc = ae.associate("127.0.0.1", port, ae_title=called, evt_handlers=NODELAY_HANDLERS)
    assert assoc.is_established
    try:
        yield assoc
    finally:
        if assoc.is_established:
            assoc.release()


def query(level: str, charset: str = "ISO_IR 192", **keys: object) -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = charset
    ds.QueryRetrieveLevel = level
    for keyword, value in keys.items():
        setattr(ds, keyword, value)
    return ds


def find(ae: AE, port: int, model: str, identifier: Dataset) -> tuple[list[Dataset], int]:
    """All matches and the final status of one C-FIND."""
    matches, final = [], -1
    with associated(ae, port) as assoc:
        for status, found in assoc.send_c_find(identifier, model):
            if status.Status == 0xFF00:
                matches.append(found)
            else:
                final = status.Status
    return matches, final


def move(
    ae: AE, port: int, model: str, identifier: Dataset, destination: str = "WORKSTATION"
) -> tuple[list[Dataset], Dataset, Dataset | None]:
    """The pending statuses, the final status and its identifier of one C-MOVE."""
    pending: list[Dataset] = []
    with associated(ae, port) as assoc:
        for status, found in assoc.send_c_move(identifier, destination, model):
            if status.Status == 0xFF00:
                pending.append(status)
            else:
                return pending, status, found
    raise AssertionError("no final C-MOVE response")


def uids(matches: list[Dataset], keyword: str) -> set[str]:
    return {str(ds[keyword].value) for ds in matches}


# --- C-ECHO and C-FIND ----------------------------------------------------------------------


@pytest.mark.network
def test_echo(pacs: DemoPacs, scu: AE) -> None:
    with associated(scu, pacs.port) as assoc:
        assert assoc.send_c_echo().Status == 0x0000


def test_port_zero_picks_a_free_port(pacs: DemoPacs) -> None:
    assert pacs.is_running
    assert pacs.port > 0


@pytest.mark.network
def test_patient_level_with_counts(pacs: DemoPacs, scu: AE) -> None:
    identifier = query(
        "PATIENT", PatientID="", PatientName="", PatientSex="",
        NumberOfPatientRelatedStudies="", NumberOfPatientRelatedInstances="",
    )
    matches, final = find(scu, pacs.port, PATIENT_FIND, identifier)
    assert final == 0x0000
    by_id = {ds.PatientID: ds for ds in matches}
    assert set(by_id) == {"P1", "P2", "P3"}
    assert by_id["P1"].NumberOfPatientRelatedStudies == 2
    assert by_id["P1"].NumberOfPatientRelatedInstances == CHEST.instance_count + 2
    assert all(ds.QueryRetrieveLevel == "PATIENT" for ds in matches)
    assert all(ds.RetrieveAETitle == "DEMOPACS" for ds in matches)


@pytest.mark.network
def test_study_root_has_no_patient_level(pacs: DemoPacs, scu: AE) -> None:
    _, final = find(scu, pacs.port, STUDY_FIND, query("PATIENT", PatientID=""))
    assert final == 0xA900


@pytest.mark.parametrize("model", [PATIENT_FIND, STUDY_FIND])
@pytest.mark.network
def test_study_level_returns_records_and_computed_keys(
    pacs: DemoPacs, scu: AE, model: str
) -> None:
    identifier = query(
        "STUDY", PatientID="P1", StudyInstanceUID="", StudyDate="", AccessionNumber="",
        ModalitiesInStudy="", NumberOfStudyRelatedSeries="", NumberOfStudyRelatedInstances="",
        PatientComments="", PatientName="",
    )
    matches, final = find(scu, pacs.port, model, identifier)
    assert final == 0x0000
    assert uids(matches, "StudyInstanceUID") == {CHEST.study_uid, ABDOMEN.study_uid}
    chest = next(ds for ds in matches if ds.StudyInstanceUID == CHEST.study_uid)
    assert chest.AccessionNumber == "A1"
    assert chest.StudyDate == "20240611"
    assert chest.ModalitiesInStudy == "CT"
    assert chest.NumberOfStudyRelatedSeries == 2
    assert chest.NumberOfStudyRelatedInstances == 6
    assert "PatientComments" in chest and chest.PatientComments == ""  # asked, not held
    assert "StudyDescription" not in chest  # not asked


@pytest.mark.parametrize("spec", [CHEST, KNEE, HEAD], ids=["utf8", "latin1", "japanese"])
@pytest.mark.network
def test_non_ascii_names_come_back_intact(pacs: DemoPacs, scu: AE, spec: StudySpec) -> None:
    identifier = query("STUDY", StudyInstanceUID=spec.study_uid, PatientName="")
    [match], _ = find(scu, pacs.port, STUDY_FIND, identifier)
    assert match.SpecificCharacterSet == spec.charset
    assert str(match.PatientName) == spec.patient_name


@pytest.mark.parametrize("model", [PATIENT_FIND, STUDY_FIND])
@pytest.mark.network
def test_series_level(pacs: DemoPacs, scu: AE, model: str) -> None:
    identifier = query(
        "SERIES", PatientID="P2", StudyInstanceUID=KNEE.study_uid, SeriesInstanceUID="",
        Modality="", SeriesNumber="", NumberOfSeriesRelatedInstances="",
    )
    matches, final = find(scu, pacs.port, model, identifier)
    assert final == 0x0000
    assert uids(matches, "SeriesInstanceUID") == {KNEE.series_uid(0), KNEE.series_uid(1)}
    assert {ds.Modality for ds in matches} == {"MR", "OT"}
    assert all(ds.NumberOfSeriesRelatedInstances == 2 for ds in matches)


@pytest.mark.parametrize("model", [PATIENT_FIND, STUDY_FIND])
@pytest.mark.network
def test_image_level(pacs: DemoPacs, scu: AE, model: str) -> None:
    identifier = query(
        "IMAGE", PatientID="P1", StudyInstanceUID=CHEST.study_uid,
        SeriesInstanceUID=CHEST.series_uid(1), SOPInstanceUID="", InstanceNumber="",
        SOPClassUID="",
    )
    matches, final = find(scu, pacs.port, model, identifier)
    assert final == 0x0000
    assert uids(matches, "SOPInstanceUID") == {CHEST.sop_uid(1, i) for i in range(3)}
    assert {ds.InstanceNumber for ds in matches} == {1, 2, 3}


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ({}, STUDIES),
        ({"PatientName": "Müller^Jürgen"}, (CHEST, ABDOMEN)),
        ({"PatientName": "müller*"}, (CHEST, ABDOMEN)),  # PN matching ignores case
        ({"PatientName": "D?bois*"}, (KNEE,)),
        ({"PatientName": "*"}, STUDIES),
        ({"PatientName": "山田*"}, (HEAD,)),  # any one component group
        ({"PatientName": "Mül"}, ()),
        ({"PatientID": "P?"}, STUDIES),
        ({"StudyDate": "20240611"}, (CHEST,)),
        ({"StudyDate": "20240101-20240611"}, (CHEST, HEAD)),
        ({"StudyDate": "-20231231"}, (ABDOMEN,)),
        ({"StudyDate": "20240612-"}, (KNEE,)),
        ({"StudyTime": "1000-1500"}, (CHEST, KNEE)),
        ({"StudyInstanceUID": [CHEST.study_uid, HEAD.study_uid]}, (CHEST, HEAD)),
        ({"AccessionNumber": "A2"}, (KNEE,)),
        ({"AccessionNumber": "a2"}, ()),  # only PN ignores case
        ({"ModalitiesInStudy": "OT"}, (KNEE,)),
        ({"ModalitiesInStudy": ["CT", "OT"]}, STUDIES),
        ({"StudyDescription": "CT *", "StudyDate": "20240101-"}, (CHEST, HEAD)),
    ],
)
@pytest.mark.network
def test_study_matching(
    pacs: DemoPacs, scu: AE, keys: dict[str, object], expected: tuple[StudySpec, ...]
) -> None:
    identifier = query("STUDY", **{"StudyInstanceUID": "", **keys})
    matches, final = find(scu, pacs.port, STUDY_FIND, identifier)
    assert final == 0x0000
    assert uids(matches, "StudyInstanceUID") == {spec.study_uid for spec in expected}


@pytest.mark.network
def test_latin1_query_matches_utf8_record(pacs: DemoPacs, scu: AE) -> None:
    identifier = query("PATIENT", charset="ISO_IR 100", PatientName="Müller*", PatientID="")
    matches, _ = find(scu, pacs.port, PATIENT_FIND, identifier)
    assert uids(matches, "PatientID") == {"P1"}


# --- C-MOVE ---------------------------------------------------------------------------------


def on_disk(workstation: Workstation, spec: StudySpec) -> set[str]:
    return {path.stem for path in (workstation.folder / spec.study_uid).glob("*.dcm")}


@pytest.mark.parametrize("model", [PATIENT_MOVE, STUDY_MOVE])
@pytest.mark.network
def test_move_study_puts_every_instance_on_disk(
    pacs: DemoPacs, scu: AE, workstation: Workstation, model: str
) -> None:
    identifier = query("STUDY", PatientID="P2", StudyInstanceUID=KNEE.study_uid)
    pending, final, _ = move(scu, pacs.port, model, identifier)
    assert final.Status == 0x0000
    assert final.NumberOfCompletedSuboperations == KNEE.instance_count
    assert final.NumberOfFailedSuboperations == 0
    remaining = [status.NumberOfRemainingSuboperations for status in pending]
    assert remaining == list(range(KNEE.instance_count - 1, -1, -1))
    expected = {KNEE.sop_uid(s, i) for s in range(2) for i in range(2)}
    assert on_disk(workstation, KNEE) == expected == workstation.received_uids()
    stored = dcmread(workstation.path_of(KNEE.sop_uid(0, 0)))
    assert str(stored.PatientName) == "Dubois^Amélie"
    assert stored.StudyInstanceUID == KNEE.study_uid


@pytest.mark.network
def test_move_patient(pacs: DemoPacs, scu: AE, workstation: Workstation) -> None:
    _, final, _ = move(scu, pacs.port, PATIENT_MOVE, query("PATIENT", PatientID="P1"))
    assert final.Status == 0x0000
    assert final.NumberOfCompletedSuboperations == CHEST.instance_count + 2
    assert len(on_disk(workstation, CHEST)) == 6
    assert len(on_disk(workstation, ABDOMEN)) == 2


@pytest.mark.network
def test_move_series(pacs: DemoPacs, scu: AE, workstation: Workstation) -> None:
    identifier = query(
        "SERIES", StudyInstanceUID=CHEST.study_uid, SeriesInstanceUID=CHEST.series_uid(1)
    )
    _, final, _ = move(scu, pacs.port, STUDY_MOVE, identifier)
    assert final.Status == 0x0000
    assert workstation.received_uids() == {CHEST.sop_uid(1, i) for i in range(3)}


@pytest.mark.parametrize(
    "sop_uids",
    [[HEAD.sop_uid(0, 1)], [HEAD.sop_uid(0, 0), HEAD.sop_uid(0, 1)]],
    ids=["single", "uid-list"],
)
@pytest.mark.network
def test_move_images(
    pacs: DemoPacs, scu: AE, workstation: Workstation, sop_uids: list[str]
) -> None:
    identifier = query(
        "IMAGE", PatientID="P3", StudyInstanceUID=HEAD.study_uid,
        SeriesInstanceUID=HEAD.series_uid(0), SOPInstanceUID=sop_uids,
    )
    _, final, _ = move(scu, pacs.port, PATIENT_MOVE, identifier)
    assert final.Status == 0x0000
    assert final.NumberOfCompletedSuboperations == len(sop_uids)
    assert on_disk(workstation, HEAD) == set(sop_uids)


@pytest.mark.network
def test_move_nothing_matching_succeeds_with_zero(
    pacs: DemoPacs, scu: AE, workstation: Workstation
) -> None:
    _, final, _ = move(scu, pacs.port, STUDY_MOVE, query("STUDY", StudyInstanceUID="1.2.3"))
    assert final.Status == 0x0000
    assert final.NumberOfCompletedSuboperations == 0


@pytest.mark.network
def test_move_to_unknown_destination(pacs: DemoPacs, scu: AE) -> None:
    identifier = query("STUDY", StudyInstanceUID=CHEST.study_uid)
    _, final, _ = move(scu, pacs.port, STUDY_MOVE, identifier, destination="NOWHERE")
    assert final.Status == 0xA801


@pytest.mark.network
def test_move_without_unique_key_is_refused(
    pacs: DemoPacs, scu: AE, workstation: Workstation
) -> None:
    _, final, _ = move(scu, pacs.port, STUDY_MOVE, query("STUDY", StudyInstanceUID=""))
    assert final.Status == 0xA900
    assert workstation.received_count == 0


@pytest.mark.network
def test_partial_failure_lists_the_failed_instances(
    pacs: DemoPacs, scu: AE, tmp_path: Path
) -> None:
    with Workstation(tmp_path, ae_title="FLAKY", fail_every=2) as flaky:
        pacs.add_destination("FLAKY", flaky.host, flaky.port)
        identifier = query("STUDY", StudyInstanceUID=CHEST.study_uid)
        _, final, failures = move(scu, pacs.port, STUDY_MOVE, identifier, "FLAKY")
    assert final.Status == 0xB000
    assert final.NumberOfCompletedSuboperations == 3
    assert final.NumberOfFailedSuboperations == 3
    assert failures is not None
    assert set(failures.FailedSOPInstanceUIDList) == set(flaky.failed_uids())
    assert len(flaky.failed_uids()) == 3
    assert flaky.received_count == 3


@pytest.mark.network
def test_all_failed_is_a702(pacs: DemoPacs, scu: AE, tmp_path: Path) -> None:
    with Workstation(tmp_path, ae_title="BROKEN", fail_every=1) as broken:
        pacs.add_destination("BROKEN", broken.host, broken.port)
        identifier = query("STUDY", StudyInstanceUID=ABDOMEN.study_uid)
        _, final, _ = move(scu, pacs.port, STUDY_MOVE, identifier, "BROKEN")
    assert final.Status == 0xA702
    assert final.NumberOfFailedSuboperations == 2


@pytest.mark.network
def test_cancel_mid_move(scu: AE, tmp_path: Path) -> None:
    with (
        Workstation(tmp_path) as workstation,
        DemoPacs([CHEST], store_delay=0.05) as slow,
    ):
        slow.add_destination(workstation.ae_title, workstation.host, workstation.port)
        identifier = query("STUDY", StudyInstanceUID=CHEST.study_uid)
        statuses = []
        with associated(scu, slow.port) as assoc:
            for status, _ in assoc.send_c_move(identifier, "WORKSTATION", STUDY_MOVE, msg_id=7):
                statuses.append(status)
                if len(statuses) == 2:
                    assoc.send_c_cancel(7, query_model=STUDY_MOVE)
        final = statuses[-1]
        assert final.Status == 0xFE00
        assert final.NumberOfRemainingSuboperations > 0
        assert final.NumberOfCompletedSuboperations == workstation.received_count >= 2


@pytest.mark.network
def test_stop_interrupts_a_slow_move_promptly(scu: AE, tmp_path: Path) -> None:
    with Workstation(tmp_path) as workstation:
        slow = DemoPacs([CHEST], store_delay=30).start()
        slow.add_destination(workstation.ae_title, workstation.host, workstation.port)
        statuses: list[int] = []

        def run_move() -> None:
            assoc = scu.associate("127.0.0.1", slow.port, ae_title="DEMOPACS")
            identifier = query("STUDY", StudyInstanceUID=CHEST.study_uid)
            for status, _ in assoc.send_c_move(identifier, "WORKSTATION", STUDY_MOVE):
                statuses.append(status.get("Status", -1))

        client = threading.Thread(target=run_move)
        client.start()
        time.sleep(0.3)  # the move is now sleeping in store_delay
        started = time.monotonic()
        slow.stop()
        client.join(timeout=5)
        assert time.monotonic() - started < 2
        assert not client.is_alive()
        assert 0x0000 not in statuses  # an interrupted move must not look successful
