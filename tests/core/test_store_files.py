"""The receiver's writer (core/dimse/store_files.py): Part 10 files, atomically, never outside
the folder; statuses per PS3.4 B.2.3; the ArrivalHub; the storage contexts."""

from __future__ import annotations

import errno
import os
import stat
import threading
import zlib
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset

from dicom_courier.core.dimse import store_files
from dicom_courier.core.dimse.arrival_hub import ArrivalHub
from dicom_courier.core.dimse.storage_classes import TRANSFER_SYNTAXES, storage_contexts
from dicom_courier.core.dimse.store_files import StoreRefused, patient_folder_name, write_instance
from dicom_courier.core.outcome.arrival import Arrival, StoreRefusal

# The tests build data sets with bad UIDs on purpose; pydicom warns about each.
pytestmark = pytest.mark.filterwarnings("ignore:.*VR UI:UserWarning")

CT = "1.2.840.10008.5.1.4.1.1.2"
EXPLICIT = "1.2.840.10008.1.2.1"
IMPLICIT = "1.2.840.10008.1.2"
BIG = "1.2.840.10008.1.2.2"
DEFLATED = "1.2.840.10008.1.2.1.99"
STUDY = "1.2.3.4"
SERIES = "1.2.3.4.5"


def encoded(sop_uid: str = "1.2.3.4.5.6", *, patient_id: str = "PID1", syntax: str = EXPLICIT,
            pixels: bytes = b"\x01\x02" * 64, study: str = STUDY, series: str = SERIES) -> bytes:
    ds = Dataset()
    ds.SOPClassUID = CT
    ds.SOPInstanceUID = sop_uid
    ds.PatientName = "DOE^JANE"
    ds.PatientID = patient_id
    ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = series
    ds.ReferencedImageSequence = [Dataset()]  # a sequence before the UIDs
    ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID = "9.9"
    ds.Rows = 8
    ds.Columns = 8
    ds.BitsAllocated = 16
    ds.PixelData = pixels
    buffer = DicomBytesIO()
    buffer.is_little_endian = syntax != BIG
    buffer.is_implicit_VR = syntax == IMPLICIT
    write_dataset(buffer, ds)
    raw = buffer.getvalue()
    if syntax == DEFLATED:
        compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
        raw = compressor.compress(raw) + compressor.flush()
    return raw


def store(folder: Path, data: bytes, *, sop_uid: str = "1.2.3.4.5.6", syntax: str = EXPLICIT,
          sop_class: str = CT) -> Arrival:
    return write_instance(folder, data, transfer_syntax=syntax, sop_class_uid=sop_class,
                          sop_uid=sop_uid, calling_aet="ORTHANC", our_aet="COURIER")


def files_under(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file())


@pytest.mark.parametrize("syntax", [EXPLICIT, IMPLICIT, BIG, DEFLATED])
def test_a_part10_file_with_the_senders_ae_title_and_the_bytes_as_received(
        tmp_path: Path, syntax: str) -> None:
    data = encoded(syntax=syntax)
    arrival = store(tmp_path, data, syntax=syntax)
    path = tmp_path.resolve() / "PID1" / STUDY / SERIES / "1.2.3.4.5.6.dcm"
    assert arrival.path == str(path)
    assert (arrival.study_uid, arrival.series_uid, arrival.patient_id) == (STUDY, SERIES, "PID1")
    raw = path.read_bytes()
    assert raw.endswith(data) and arrival.size == len(raw)  # not re-encoded
    read = pydicom.dcmread(path)
    assert read.file_meta.SourceApplicationEntityTitle == "ORTHANC"
    assert read.file_meta.TransferSyntaxUID == syntax
    assert read.file_meta.MediaStorageSOPInstanceUID == "1.2.3.4.5.6"
    assert read.file_meta.MediaStorageSOPClassUID == CT
    assert read.PatientName == "DOE^JANE" and read.PixelData == b"\x01\x02" * 64
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert files_under(tmp_path) == [path]  # no temporary file left


@pytest.mark.parametrize("bad_uid", ["../../x", "../x", "1.2/../../3", "/etc/passwd", "1.2.",
                                     "", "1" * 65, "1.2.3\\x", ".."])
def test_a_sop_uid_that_is_not_a_uid_is_refused_and_nothing_is_written(
        tmp_path: Path, bad_uid: str, caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "received"
    folder.mkdir()
    with pytest.raises(StoreRefused) as refused:
        store(folder, encoded(bad_uid), sop_uid=bad_uid)
    assert refused.value.status == 0xC000
    assert "not a DICOM UID" in refused.value.reason
    assert files_under(tmp_path) == []
    assert "PID1" not in caplog.text and "DOE" not in caplog.text


@pytest.mark.parametrize(("study", "series"), [("../../x", SERIES), (STUDY, "../y"),
                                               ("", SERIES)])
def test_a_study_or_series_uid_that_would_escape_is_refused(tmp_path: Path, study: str,
                                                            series: str) -> None:
    folder = tmp_path / "received"
    folder.mkdir()
    with pytest.raises(StoreRefused) as refused:
        store(folder, encoded(study=study, series=series))
    assert refused.value.status == 0xC000
    assert files_under(tmp_path) == []


def test_a_data_set_whose_sop_uid_differs_from_the_commands_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreRefused) as refused:
        store(tmp_path, encoded("1.2.3.99"), sop_uid="1.2.3.4.5.6")
    assert refused.value.status == 0xA900
    assert "differs" in refused.value.reason
    with pytest.raises(StoreRefused) as wrong_class:
        store(tmp_path, encoded(), sop_class="1.2.840.10008.5.1.4.1.1.4")
    assert wrong_class.value.status == 0xA900
    assert files_under(tmp_path) == []


def test_unreadable_bytes_are_refused_as_cannot_understand(tmp_path: Path) -> None:
    with pytest.raises(StoreRefused) as refused:
        store(tmp_path, b"\x10\x00\x20\x00LO\xff\x7f" + b"x" * 30)
    assert refused.value.status == 0xC000
    assert files_under(tmp_path) == []


@pytest.mark.parametrize(("patient_id", "expected_start"), [
    ("../../etc", "_.._etc~"), ("a/b", "a_b~"), ("..", "_~"), ("", "no-patient-id~"),
    ("CON", "CON~"),
    ("x\x1b]0;y\x07", "x__0_y_~"), ("  PAD", "_"), ("Ünïcode", "_n_code~"),
])
def test_patient_ids_become_safe_folder_names(patient_id: str, expected_start: str) -> None:
    name = patient_folder_name(patient_id)
    assert name.startswith(expected_start) or (expected_start == "_" and name.startswith("PAD~"))
    assert "/" not in name and "\\" not in name and name not in {".", ".."}
    assert not name.startswith(".") and len(name) <= 64 + 9


def test_two_ids_that_sanitise_alike_get_different_folders() -> None:
    assert patient_folder_name("a/b") != patient_folder_name("a:b")
    assert patient_folder_name("x" * 80) != patient_folder_name("x" * 81)
    assert patient_folder_name("SMITH 123") == "SMITH 123"  # a safe ID is kept as it is


def test_a_patient_id_that_would_escape_stays_inside(tmp_path: Path) -> None:
    folder = tmp_path / "received"
    folder.mkdir()
    arrival = store(folder, encoded(patient_id="../../outside"))
    assert Path(arrival.path).is_relative_to(folder.resolve())
    assert files_under(tmp_path) == [Path(arrival.path)]


def test_a_symlink_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "received"
    folder.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (folder / "PID1").symlink_to(outside)
    with pytest.raises(StoreRefused):
        store(folder, encoded())
    assert list(outside.iterdir()) == []


def test_a_repeat_overwrites_whole(tmp_path: Path) -> None:
    store(tmp_path, encoded(pixels=b"\x01" * 100))
    arrival = store(tmp_path, encoded(pixels=b"\x02" * 100))
    assert pydicom.dcmread(arrival.path).PixelData == b"\x02" * 100
    assert len(files_under(tmp_path)) == 1


def test_disk_full_is_out_of_resources_and_leaves_no_partial_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_fdopen = os.fdopen

    class FullFile:
        def __init__(self, handle: object) -> None:
            self.handle = handle

        def __enter__(self) -> FullFile:
            return self

        def __exit__(self, *exc: object) -> None:
            self.handle.close()  # type: ignore[attr-defined]

        def write(self, data: bytes) -> int:
            self.handle.write(data[:10])  # type: ignore[attr-defined]
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store_files.os, "fdopen",
                        lambda fd, mode: FullFile(real_fdopen(fd, mode)))
    with pytest.raises(StoreRefused) as refused:
        store(tmp_path, encoded())
    assert refused.value.status == 0xA700
    assert "disk is full" in refused.value.reason
    assert files_under(tmp_path) == []


def test_a_read_only_folder_is_out_of_resources(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders; the tmpfs test covers root")
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(StoreRefused) as refused:
            store(tmp_path, encoded())
    finally:
        tmp_path.chmod(0o700)
    assert refused.value.status == 0xA700
    assert files_under(tmp_path) == []


def test_a_read_only_folder_as_root_via_a_file_in_the_way(tmp_path: Path) -> None:
    # Root ignores permission bits: a file where the patient folder should be gives ENOTDIR/EEXIST.
    (tmp_path / "PID1").write_bytes(b"")
    with pytest.raises(StoreRefused) as refused:
        store(tmp_path, encoded())
    assert refused.value.status == 0xA700
    assert files_under(tmp_path) == [tmp_path / "PID1"]


def test_parallel_writers_each_write_their_file(tmp_path: Path) -> None:
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(20):
                uid = f"1.2.3.{n}.{i}"
                store(tmp_path, encoded(uid, pixels=bytes([n, i]) * 50), sop_uid=uid)
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    written = files_under(tmp_path)
    assert len(written) == 80
    for path in written:
        n, i = (int(x) for x in path.stem.split(".")[3:5])
        assert pydicom.dcmread(path).PixelData == bytes([n, i]) * 50


def test_the_hub_fans_out_and_survives_a_failing_subscriber() -> None:
    hub = ArrivalHub()
    seen: list[Arrival] = []
    refusals: list[StoreRefusal] = []

    def broken(_arrival: Arrival) -> None:
        raise RuntimeError("boom")

    hub.subscribe(broken)
    unsubscribe = hub.subscribe(seen.append)
    hub.subscribe_refusals(refusals.append)
    arrival = Arrival("A", "P", "1", "2", "3", CT, "/x", 1)
    hub.publish(arrival)
    hub.refused("The disk is full.", calling_aet="A", status=0xA700)
    unsubscribe()
    unsubscribe()
    hub.publish(arrival)
    assert seen == [arrival]
    assert refusals == [StoreRefusal("The disk is full.", calling_aet="A", status=0xA700)]


def test_storage_contexts_cover_every_storage_class_and_the_compressed_syntaxes() -> None:
    contexts = storage_contexts()
    classes = {sop_class for sop_class, _ in contexts}
    assert CT in classes and "1.2.840.10008.5.1.4.1.1.4" in classes and len(classes) > 100
    for syntax in ("1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.4.90",
                   "1.2.840.10008.1.2.5", DEFLATED, IMPLICIT, BIG):
        assert syntax in TRANSFER_SYNTAXES
    contexts[0][1].clear()
    assert storage_contexts()[0][1]  # a new list every call
