"""FindMatch, stored lean (issue 12 §4): the same Mapping, equality and immutability as before.

A search may hold 50,000 answers, so a FindMatch keeps one shared key tuple per key order and
its values in one tuple, sharing values that repeat across rows. What callers read must not
change: ``.values`` is a read-only Mapping equal to the one given, in the same order.
"""

from __future__ import annotations

import copy
import pickle
from dataclasses import FrozenInstanceError
from types import MappingProxyType

import pytest

from dicom_courier.core.qr import query
from dicom_courier.core.qr.query import FindMatch, QueryLevel

UID = "1.2.826.0.1.3680043.8.498.10203040506070809011121314151617181920"


def _values(**extra: str) -> dict[str, str]:
    return {"PatientName": "Müller^Jürgen", "PatientID": "PID001", "StudyDate": "20240301",
            "ModalitiesInStudy": "CT\\MR", "StudyInstanceUID": UID, **extra}


def test_values_read_back_as_the_mapping_given_in_its_order() -> None:
    given = _values(StudyDescription="CT ABD [/w contrast]")
    match = FindMatch(level=QueryLevel.STUDY, values=MappingProxyType(given))
    assert list(match.values) == list(given)  # the identifier's element order
    assert list(match.values.items()) == list(given.items())
    assert dict(match.values) == given and match.values == given and given == match.values
    assert len(match.values) == 6 and "PatientID" in match.values and "Nope" not in match.values
    assert match.values["StudyDate"] == "20240301" and match.get("StudyDate") == "20240301"
    assert repr(match.values) == repr(given)


def test_missing_keys() -> None:
    match = FindMatch(QueryLevel.STUDY, _values())
    assert match.get("AccessionNumber") == ""  # FindMatch.get: "" by default
    assert match.get("AccessionNumber", "-") == "-"
    assert match.values.get("AccessionNumber") is None  # Mapping.get: None by default
    with pytest.raises(KeyError):
        match.values["AccessionNumber"]
    empty = FindMatch(QueryLevel.STUDY, {})
    assert not empty.values and len(empty.values) == 0 and empty.values == {}


def test_equality_ignores_key_order_and_holds_level_and_marks() -> None:
    given = _values()
    a = FindMatch(QueryLevel.STUDY, given)
    b = FindMatch(QueryLevel.STUDY, dict(reversed(list(given.items()))))
    assert a == b and a.values == b.values
    assert list(a.values) != list(b.values)  # each keeps its own order
    assert a != FindMatch(QueryLevel.SERIES, given)
    assert a != FindMatch(QueryLevel.STUDY, given, undecodable=frozenset({"PatientName"}))
    assert a != FindMatch(QueryLevel.STUDY, given, undeclared_charset=frozenset({"PatientName"}))
    assert a != FindMatch(QueryLevel.STUDY, _values(PatientID="PID002"))
    assert a != FindMatch(QueryLevel.STUDY, _values(AccessionNumber=""))
    assert a != given  # a FindMatch is not its values


def test_equal_matches_hash_alike() -> None:
    given = _values()
    a = FindMatch(QueryLevel.STUDY, given)
    b = FindMatch(QueryLevel.STUDY, dict(reversed(list(given.items()))))
    assert hash(a) == hash(b) and len({a, b}) == 1


def test_marks_read_back() -> None:
    match = FindMatch(QueryLevel.STUDY, _values(), undecodable={"PatientName"},  # type: ignore[arg-type]
                      undeclared_charset=frozenset({"StudyDate"}))
    assert match.undecodable == frozenset({"PatientName"})
    assert isinstance(match.undecodable, frozenset)
    assert match.undeclared_charset == frozenset({"StudyDate"})
    plain = FindMatch(QueryLevel.STUDY, _values())
    assert plain.undecodable == frozenset() and plain.undeclared_charset == frozenset()
    assert plain.level is QueryLevel.STUDY


def test_immutable() -> None:
    match = FindMatch(QueryLevel.STUDY, _values())
    with pytest.raises(FrozenInstanceError):
        match.level = QueryLevel.SERIES  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        del match.undecodable  # type: ignore[misc]
    with pytest.raises(TypeError):
        match.values["PatientID"] = "X"  # type: ignore[index]
    given = _values()
    match = FindMatch(QueryLevel.STUDY, given)
    given["PatientID"] = "changed later"
    assert match.get("PatientID") == "PID001"  # a copy, not a view of the caller's dict


def test_pickle_copy_and_odd_values_survive() -> None:
    odd = FindMatch(QueryLevel.STUDY, {"PatientName": None, "StudyDate": 20240101,  # type: ignore[dict-item]
                                       "StudyInstanceUID": UID}, frozenset({"StudyTime"}))
    for match in (FindMatch(QueryLevel.IMAGE, _values()), odd):
        assert pickle.loads(pickle.dumps(match)) == match
        assert copy.deepcopy(match) == match and copy.copy(match) == match
    assert odd.get("PatientName") is None and odd.get("StudyDate") == 20240101  # type: ignore[comparison-overlap]


def test_repeated_values_and_keys_are_shared_between_matches() -> None:
    """What makes 50,000 rows small: one key tuple per key order, one copy of a repeated
    date, code or name; never a UID (one per study)."""
    def fresh(text: str) -> str:  # a new str object, as the decoder makes for every answer
        return (text + " ")[:-1]

    query._shared_values.clear()  # other tests may have filled it (it then starts over)
    query._layouts.clear()
    a, b = (FindMatch(QueryLevel.STUDY, {k: fresh(v) for k, v in _values().items()})
            for _ in range(2))
    assert a.get("StudyDate") is b.get("StudyDate")
    assert a.get("ModalitiesInStudy") is b.get("ModalitiesInStudy")
    assert list(a.values)[0] is list(b.values)[0]
    assert a.values._layout is b.values._layout  # one shared key layout
    assert a.get("StudyInstanceUID") is not b.get("StudyInstanceUID")


def test_the_shared_table_stays_bounded() -> None:
    for index in range(query._SHARED_LIMIT + 100):
        FindMatch(QueryLevel.STUDY, {"StudyDescription": f"Study {index}",
                                     "ReferringPhysicianName": "x" * 65})
        assert len(query._shared_values) <= query._SHARED_LIMIT
    assert "x" * 65 not in query._shared_values  # long values are never kept


def test_an_answer_with_a_private_or_unknown_element_is_a_row() -> None:
    """decode_match names elements pydicom does not know "(gggg,eeee)"; such an answer must
    still be a row (once counted as "cannot be read": pydicom raises ValueError for it)."""
    from io import BytesIO

    from pydicom.dataset import Dataset
    from pydicom.filebase import DicomBytesIO
    from pydicom.filereader import read_dataset
    from pydicom.filewriter import write_dataset

    from dicom_courier.core.qr.decode import decode_match

    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    ds.StudyInstanceUID = "1.2.3"
    ds.add_new(0x00090010, "LO", "VENDOR")
    ds.add_new(0x00091001, "LO", "PRIVATE1")
    out = DicomBytesIO()
    out.is_little_endian, out.is_implicit_VR = True, True
    write_dataset(out, ds)
    match = decode_match(read_dataset(BytesIO(out.getvalue()), True, True), QueryLevel.STUDY)
    assert match.get("(0009,1001)") == "PRIVATE1"
    assert match.get("StudyInstanceUID") == "1.2.3"


def test_many_key_layouts_do_not_end_sharing_for_later_searches() -> None:
    """A peer (or a long day of searches) that makes more distinct key sets than the table
    holds: later rows with one key set must still share one layout (the table starts over)."""
    for index in range(query._LAYOUT_LIMIT + 10):
        FindMatch(QueryLevel.STUDY, {f"(0009,{index:04X})": "x"})
    a, b = (FindMatch(QueryLevel.STUDY, _values()) for _ in range(2))
    assert a.values._layout is b.values._layout
    assert len(query._layouts) <= query._LAYOUT_LIMIT
