"""The demo PACS's in-memory archive and its matching rules (PS3.4 C.2.2.2).

Single value, wildcard, range and UID-list matching, with universal matching for empty keys.
Keys the archive holds no value for are not used for matching (PS3.4 C.2.2.1.1 lets an SCP
ignore keys it does not support) and come back empty.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from dicom_courier.core.demo.synthetic import StudySpec, iter_study

LEVELS = ("PATIENT", "STUDY", "SERIES", "IMAGE")
UNIQUE_KEY = {
    "PATIENT": "PatientID",
    "STUDY": "StudyInstanceUID",
    "SERIES": "SeriesInstanceUID",
    "IMAGE": "SOPInstanceUID",
}
#: Attributes each level holds (PS3.4 C.6.1.1 / C.6.2.1); IMAGE records are the instances.
_LEVEL_KEYWORDS = {
    "PATIENT": ("PatientName", "PatientID", "PatientBirthDate", "PatientSex"),
    "STUDY": (
        "StudyInstanceUID", "StudyDate", "StudyTime", "AccessionNumber", "StudyDescription",
        "ReferringPhysicianName", "StudyID",
    ),
    "SERIES": ("SeriesInstanceUID", "SeriesNumber", "SeriesDescription", "Modality"),
}
#: Keys that are only ever returned, never matched.
_RETURN_ONLY = frozenset({
    "QueryRetrieveLevel", "SpecificCharacterSet", "RetrieveAETitle", "InstanceAvailability",
    "NumberOfPatientRelatedStudies", "NumberOfPatientRelatedSeries",
    "NumberOfPatientRelatedInstances", "NumberOfStudyRelatedSeries",
    "NumberOfStudyRelatedInstances", "NumberOfSeriesRelatedInstances",
})
_WILDCARD_VRS = frozenset({"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT"})
_RANGE_VRS = frozenset({"DA", "TM", "DT"})
_NUMERIC_VRS = frozenset({"IS", "DS", "US", "UL", "SS", "SL", "FL", "FD", "UV", "SV"})
_UNMATCHABLE_VRS = frozenset({"SQ", "OB", "OW", "OF", "OD", "OL", "OV", "UN"})


@dataclass(frozen=True)
class Catalogue:
    """Every generated instance plus one record per patient, study and series."""

    records: dict[str, tuple[Dataset, ...]]

    @property
    def instances(self) -> tuple[Dataset, ...]:
        return self.records["IMAGE"]


def _record(source: Dataset, levels: Iterable[str], **computed: Any) -> Dataset:
    """A record holding ``source``'s attributes of ``levels`` plus computed return keys."""
    record = Dataset()
    record.SpecificCharacterSet = source.SpecificCharacterSet
    for level in levels:
        for keyword in _LEVEL_KEYWORDS[level]:
            if keyword in source:
                record.add(source[keyword])
    for keyword, value in computed.items():
        setattr(record, keyword, value)
    return record


def build_catalogue(specs: Iterable[StudySpec]) -> Catalogue:
    instances = [ds for spec in specs for ds in iter_study(spec)]
    by_patient: dict[str, list[Dataset]] = {}
    by_study: dict[str, list[Dataset]] = {}
    by_series: dict[str, list[Dataset]] = {}
    for ds in instances:
        by_patient.setdefault(ds.PatientID, []).append(ds)
        by_study.setdefault(ds.StudyInstanceUID, []).append(ds)
        by_series.setdefault(ds.SeriesInstanceUID, []).append(ds)

    def count(members: list[Dataset], keyword: str) -> int:
        return len({ds[keyword].value for ds in members})

    patients = tuple(
        _record(
            members[0], ["PATIENT"],
            NumberOfPatientRelatedStudies=count(members, "StudyInstanceUID"),
            NumberOfPatientRelatedSeries=count(members, "SeriesInstanceUID"),
            NumberOfPatientRelatedInstances=len(members),
        )
        for members in by_patient.values()
    )
    studies = tuple(
        _record(
            members[0], ["PATIENT", "STUDY"],
            ModalitiesInStudy=list(dict.fromkeys(ds.Modality for ds in members)),
            NumberOfStudyRelatedSeries=count(members, "SeriesInstanceUID"),
            NumberOfStudyRelatedInstances=len(members),
        )
        for members in by_study.values()
    )
    series = tuple(
        _record(
            members[0], ["PATIENT", "STUDY", "SERIES"],
            NumberOfSeriesRelatedInstances=len(members),
        )
        for members in by_series.values()
    )
    return Catalogue(
        {"PATIENT": patients, "STUDY": studies, "SERIES": series, "IMAGE": tuple(instances)}
    )


# --- matching (PS3.4 C.2.2.2) ---------------------------------------------------------------


def _texts(elem: DataElement) -> list[str]:
    value = elem.value
    values = list(value) if isinstance(value, MultiValue | list | tuple) else [value]
    return [str(v).strip() for v in values if v is not None]


def _sortable(vr: str, text: str) -> str:
    """Dates and times as strings that compare in time order (TM '1015' == '101500')."""
    text = text.replace(":", "") if vr == "TM" else text.replace(".", "") if vr == "DA" else text
    if vr == "TM":
        whole, _, fraction = text.partition(".")
        return f"{whole.ljust(6, '0')}.{fraction.ljust(6, '0')}"
    if vr == "DT":
        return text.ljust(14, "0")
    return text


def _wildcard_matches(pattern: str, value: str, ignore_case: bool) -> bool:
    flags = re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL
    if "*" not in pattern and "?" not in pattern:
        return pattern.casefold() == value.casefold() if ignore_case else pattern == value
    regex = "".join(
        ".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern
    )
    return re.fullmatch(regex, value, flags) is not None


def _value_matches(vr: str, pattern: str, value: str) -> bool:
    if pattern in ("", "*"):
        return True
    if vr in _RANGE_VRS:
        if "-" in pattern:
            low, _, high = pattern.partition("-")
            key = _sortable(vr, value)
            return (not low or key >= _sortable(vr, low)) and (
                not high or key <= _sortable(vr, high)
            )
        return _sortable(vr, pattern) == _sortable(vr, value)
    if vr == "PN":
        # A name matches on the whole value or on any one component group (alphabetic,
        # ideographic, phonetic), ignoring case and trailing empty components.
        pattern = pattern.rstrip("^ ")
        groups = [value, *value.split("=")]
        return any(_wildcard_matches(pattern, g.rstrip("^ "), True) for g in groups)
    if vr in _WILDCARD_VRS:
        return _wildcard_matches(pattern, value, False)
    if vr in _NUMERIC_VRS:
        try:
            return float(pattern) == float(value)
        except ValueError:
            return False
    return pattern == value


def matches(record: Dataset, identifier: Dataset, keywords: Iterable[str] | None = None) -> bool:
    """Whether ``record`` matches every matching key of ``identifier`` (or just ``keywords``)."""
    wanted = set(keywords) if keywords is not None else None
    for query in identifier:
        if query.tag.group in (0x0000, 0x0002) or query.keyword in _RETURN_ONLY:
            continue
        if wanted is not None and query.keyword not in wanted:
            continue
        if query.tag not in record or query.is_empty:
            continue
        held = record[query.tag]
        if held.VR in _UNMATCHABLE_VRS:
            continue
        patterns, values = _texts(query), _texts(held) or [""]
        if not any(_value_matches(held.VR, p, v) for p in patterns for v in values):
            return False
    return True


def response_for(record: Dataset, identifier: Dataset, level: str, ae_title: str) -> Dataset:
    """The C-FIND response for ``record``: every requested key, empty where we hold no value."""
    response = Dataset()
    response.SpecificCharacterSet = record.SpecificCharacterSet
    response.QueryRetrieveLevel = level
    for query in identifier:
        if query.tag.group in (0x0000, 0x0002) or query.keyword in (
            "QueryRetrieveLevel", "SpecificCharacterSet", "RetrieveAETitle",
        ):
            continue
        if query.tag in record:
            response.add(record[query.tag])
        else:
            response.add_new(query.tag, query.VR, [] if query.VR == "SQ" else None)
    response.RetrieveAETitle = ae_title
    return response


def level_of(identifier: Dataset, allowed: Sequence[str]) -> str | None:
    level = str(identifier.get("QueryRetrieveLevel", "")).strip().upper()
    return level if level in allowed else None
