"""C-FIND answers decode like pydicom would, fast, and never raise on bad bytes."""

from __future__ import annotations

from io import BytesIO

import pytest
from pydicom.dataset import Dataset
from pynetdicom.dsutils import decode, encode

from dicom_courier.core.qr.decode import decode_match
from dicom_courier.core.qr.query import QueryLevel


def _as_received(ds: Dataset, implicit: bool = True) -> Dataset:
    """Encode and read back, as pynetdicom hands a response identifier over (raw elements)."""
    data = encode(ds, implicit, True)
    assert data is not None
    return decode(BytesIO(data), implicit, True)


@pytest.mark.parametrize("implicit", [True, False])
@pytest.mark.parametrize(
    ("charset", "name"),
    [
        ("ISO_IR 192", "Müller^Jürgen"),
        ("ISO_IR 100", "Dubois^Amélie"),
        (["", "ISO 2022 IR 87"], "Yamada^Tarou=山田^太郎=やまだ^たろう"),
        ("", "Smith^John"),
        ("ISO_IR 144", "Иванов^Иван"),
    ],
)
def test_names_decode_in_their_character_set(charset: object, name: str,
                                             implicit: bool) -> None:
    ds = Dataset()
    ds.SpecificCharacterSet = charset
    ds.PatientName = name
    ds.StudyDescription = "Thorax  "
    ds.ModalitiesInStudy = ["CT", "PT"]
    ds.NumberOfStudyRelatedInstances = 42
    ds.StudyInstanceUID = "1.2.3.4"
    match = decode_match(_as_received(ds, implicit), QueryLevel.STUDY)
    assert match.get("PatientName") == name
    assert match.get("StudyDescription") == "Thorax"
    assert match.get("ModalitiesInStudy") == "CT\\PT"
    assert match.get("NumberOfStudyRelatedInstances") == "42"
    assert match.get("StudyInstanceUID") == "1.2.3.4"
    assert match.undecodable == frozenset()
    assert match.level is QueryLevel.STUDY


def test_bad_bytes_are_marked_not_raised() -> None:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientName = "placeholder"
    ds.PatientID = "ID1"
    received = _as_received(ds)
    raw = received.get_item(0x00100010)
    received[0x00100010] = raw._replace(value=b"M\xfcller^J\xfcrgen", length=13)
    match = decode_match(received, QueryLevel.STUDY)
    assert "\ufffd" in match.get("PatientName")
    assert match.undecodable == frozenset({"PatientName"})
    assert match.get("PatientID") == "ID1"


def test_unknown_character_set_does_not_break_the_row() -> None:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 999"
    ds.PatientName = "Doe^Jane"
    match = decode_match(_as_received(ds), QueryLevel.PATIENT)
    assert match.get("PatientName") == "Doe^Jane"


def test_sequences_and_group_length_are_left_out() -> None:
    ds = Dataset()
    ds.PatientID = "P1"
    ds.ReferencedStudySequence = [Dataset()]
    match = decode_match(_as_received(ds), QueryLevel.STUDY)
    assert set(match.values) == {"PatientID"}
