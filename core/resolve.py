"""Turn what a person selected into move targets named by unique keys only.

A C-MOVE must never select by patient name or accession number (a typo or a reused accession
would send the wrong patient's images). So a selection by other keys is first resolved with a
C-FIND into Study/Series/SOP Instance UIDs, and each move carries those UIDs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from dicom_courier.core.engine import Courier
from dicom_courier.core.errors import InvalidInput
from dicom_courier.core.nodes import PacsNode
from dicom_courier.core.query import FindMatch, FindQuery, MoveTarget, QueryLevel, QueryModel


def _describe(match: FindMatch) -> str:
    parts = [match.get("StudyDate"), match.get("ModalitiesInStudy") or match.get("Modality"),
             match.get("StudyDescription") or match.get("SeriesDescription")]
    return " ".join(p for p in parts if p)


def targets_from_matches(matches: Sequence[FindMatch], level: QueryLevel) -> list[MoveTarget]:
    """One target per study or series; images are grouped by their series."""
    if level is QueryLevel.PATIENT:
        raise InvalidInput("--level", "a move by patient must be resolved to studies first")
    targets: list[MoveTarget] = []
    if level is QueryLevel.IMAGE:
        groups: dict[tuple[str, str], list[FindMatch]] = {}
        for m in matches:
            groups.setdefault((m.get("StudyInstanceUID"), m.get("SeriesInstanceUID")), []).append(m)
        for (study, series), members in groups.items():
            targets.append(MoveTarget(
                study_uid=study, series_uids=(series,),
                sop_uids=tuple(m.get("SOPInstanceUID") for m in members),
                patient_id=members[0].get("PatientID") or None))
        return targets
    for m in matches:
        series = (m.get("SeriesInstanceUID"),) if level is QueryLevel.SERIES else ()
        targets.append(MoveTarget(study_uid=m.get("StudyInstanceUID"), series_uids=series,
                                  patient_id=m.get("PatientID") or None,
                                  description=_describe(m)))
    return targets


async def resolve_targets(
    courier: Courier,
    pacs: PacsNode,
    *,
    model: QueryModel,
    level: QueryLevel,
    keys: Mapping[str, str],
) -> list[MoveTarget]:
    """C-FIND at ``level`` with ``keys`` and return a target per match (by UIDs only).

    Raises InvalidInput when ``keys`` would match everything, and the find's own errors.
    """
    if not any(value for value in keys.values()):
        raise InvalidInput("-k", "a move needs at least one matching key with a value "
                           "(e.g. -k PatientID=12345 -k StudyDate=20240101)")
    wanted = dict(keys)
    for keyword in ("StudyInstanceUID", "PatientID", "StudyDate", "StudyDescription"):
        wanted.setdefault(keyword, "")
    if level in (QueryLevel.SERIES, QueryLevel.IMAGE):
        wanted.setdefault("SeriesInstanceUID", "")
    if level is QueryLevel.IMAGE:
        wanted.setdefault("SOPInstanceUID", "")
    if level is QueryLevel.STUDY:
        wanted.setdefault("ModalitiesInStudy", "")
    query = FindQuery(level=level, model=model, keys=wanted)
    matches = [match async for match in courier.find(pacs, query)]
    return targets_from_matches(matches, level)
