"""A move by ``-k`` keys, searched level by level, so every PACS matches what was typed.

Matching on attributes of a level above the one asked for (``--level SERIES -k
PatientID=P12``) is relational search, which a PACS need not offer (PS3.4 C.4.1.2.2.1,
C.4.1.2.2.2): dcmqrscp ignores such keys and answers every series it holds, naming another
patient. So the keys are sorted by the level that holds them (PS3.4 C.6.1.1 Patient Root,
C.6.2.1 Study Root: patient attributes belong to the STUDY level there), the search starts at
the highest level that has a matching key, and each level below is asked with the unique keys
of the answer above it (hierarchical search: every PACS can answer it).

A safety net follows every answer: an answer whose returned value contradicts an exact key we
sent (a typed value without wildcard, range or list, not a person's name; or the UID of the
level above) is not sent, and a sentence says so.

Qt-free; :func:`.resolve.resolve_targets` uses it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pydicom.datadict import dictionary_VR

from dicom_courier.core.config.profiles import PacsNode
from dicom_courier.core.dimse.engine import Courier
from dicom_courier.core.outcome.errors import InvalidInput
from dicom_courier.core.qr.distinct import distinct_matches
from dicom_courier.core.qr.query import FindMatch, FindQuery, QueryLevel, QueryModel
from dicom_courier.core.qr.uid_lookup import NOUNS, find_for_move, refused_look_up
from dicom_courier.core.text.safe_text import display

#: Attributes of the PATIENT level (PS3.4 C.6.1.1.2, Table C.6-1; C.6.2.1.2 holds them at the
#: STUDY level of the Study Root model).
PATIENT_KEYWORDS = frozenset({
    "PatientName", "PatientID", "IssuerOfPatientID", "OtherPatientIDs", "OtherPatientNames",
    "PatientBirthDate", "PatientBirthTime", "PatientSex", "EthnicGroup", "PatientComments",
    "PatientSpeciesDescription", "PatientBreedDescription", "ResponsiblePerson",
    "ResponsibleOrganization", "PatientIdentityRemoved", "NumberOfPatientRelatedStudies",
    "NumberOfPatientRelatedSeries", "NumberOfPatientRelatedInstances",
})

#: Attributes of the STUDY level (PS3.4 C.6.1.1.3, Table C.6-2).
STUDY_KEYWORDS = frozenset({
    "StudyDate", "StudyTime", "AccessionNumber", "StudyID", "StudyInstanceUID",
    "ReferringPhysicianName", "StudyDescription", "NameOfPhysiciansReadingStudy",
    "AdmittingDiagnosesDescription", "PatientAge", "PatientSize", "PatientWeight",
    "Occupation", "AdditionalPatientHistory", "OtherStudyNumbers", "ModalitiesInStudy",
    "SOPClassesInStudy", "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances",
    "InterpretationAuthor", "StudyStatusID", "StudyPriorityID", "InstitutionalDepartmentName",
})

#: Attributes of the SERIES level (PS3.4 C.6.1.1.4, Table C.6-3; and common series keys).
SERIES_KEYWORDS = frozenset({
    "Modality", "SeriesNumber", "SeriesInstanceUID", "SeriesDescription", "SeriesDate",
    "SeriesTime", "BodyPartExamined", "Laterality", "ProtocolName",
    "PerformedProcedureStepStartDate", "PerformedProcedureStepStartTime",
    "NumberOfSeriesRelatedInstances", "StationName", "OperatorsName",
    "PerformingPhysicianName",
})

_CHAIN: Mapping[QueryModel, tuple[QueryLevel, ...]] = {
    QueryModel.PATIENT: (QueryLevel.PATIENT, QueryLevel.STUDY, QueryLevel.SERIES,
                         QueryLevel.IMAGE),
    QueryModel.STUDY: (QueryLevel.STUDY, QueryLevel.SERIES, QueryLevel.IMAGE),
}

_LOOSE_VRS = frozenset({"PN", "TM", "DT", "SQ", "UN"})  # matched loosely, or not comparable
_NUMERIC_VRS = frozenset({"IS", "DS", "US", "UL", "SS", "SL", "FL", "FD", "UV", "SV"})


def key_level(keyword: str, model: QueryModel) -> QueryLevel | None:
    """The level that holds ``keyword`` in ``model`` (patient attributes: PATIENT in Patient
    Root, STUDY in Study Root), or None for an attribute of the IMAGE level or unknown here."""
    if keyword in PATIENT_KEYWORDS:
        return QueryLevel.PATIENT if model is QueryModel.PATIENT else QueryLevel.STUDY
    if keyword in STUDY_KEYWORDS:
        return QueryLevel.STUDY
    if keyword in SERIES_KEYWORDS:
        return QueryLevel.SERIES
    return None


@dataclass(frozen=True)
class Step:
    """One level of the search: ``level`` asked with ``keys`` (the typed matching keys that
    level holds), below the answers of the step before."""

    level: QueryLevel
    keys: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    """The levels to ask, top first (the last is the level asked for), and ``known``: unique
    keys of upper levels the person typed as one exact value, carried without a search of
    their own (e.g. ``-k StudyInstanceUID=UID`` with ``--level SERIES``)."""

    steps: tuple[Step, ...]
    known: Mapping[str, str] = field(default_factory=dict)


def plan_search(model: QueryModel, level: QueryLevel, keys: Mapping[str, str]) -> Plan:
    """Sort the matching ``keys`` (those with a value) by the level holding them and return the
    levels to ask, from the highest that has a matching key down to ``level``.

    A key of ``level`` or below it, or one not in the tables, stays with ``level`` (as
    typed). A level above ``level`` whose only key is its own unique key, with one exact value,
    is not asked: the value is carried down (``Plan.known``). Raises InvalidInput when
    ``level`` is not a level of ``model``.
    """
    chain = _CHAIN[model]
    if level not in chain:
        raise InvalidInput("--level", f"{level.value} is not a level of this model")
    chain = chain[:chain.index(level) + 1]
    by_level: dict[QueryLevel, dict[str, str]] = {lvl: {} for lvl in chain}
    for keyword, value in keys.items():
        if not value:
            continue
        held = key_level(keyword, model)
        by_level[held if held in by_level else level][keyword] = value
    start = next(i for i, lvl in enumerate(chain) if by_level[lvl] or lvl is level)
    known: dict[str, str] = {}
    for lvl in chain[start:-1]:
        wanted = by_level[lvl]
        if list(wanted) != [lvl.unique_key] or exact_value(lvl.unique_key,
                                                           wanted[lvl.unique_key]) is None:
            break
        known.update(wanted)
        start += 1
    return Plan(tuple(Step(lvl, by_level[lvl]) for lvl in chain[start:]), known)


def exact_value(keyword: str, value: str) -> str | None:
    """``value`` as an exact match that every answer must carry back, or None when it may
    match other values: empty, a wildcard (``*``, ``?``), a list, a range, a person's name
    (PS3.4 C.2.2.2.1: PN matching may ignore case and components), a time."""
    text = value.strip(" \x00")
    vr = dictionary_VR(keyword) if keyword else ""
    if not text or vr in _LOOSE_VRS or any(ch in text for ch in "*?\\"):
        return None
    if vr == "DA" and "-" in text:
        return None
    return text


def _same(keyword: str, asked: str, returned: str) -> bool:
    vr = dictionary_VR(keyword)
    if vr in _NUMERIC_VRS:
        try:
            return float(asked) == float(returned)
        except ValueError:
            return asked == returned
    if vr == "DA":
        return asked.replace(".", "") == returned.replace(".", "")  # ACR-NEMA "2024.01.15"
    if vr == "CS":
        return asked.upper() == returned.upper()
    return asked == returned


def contradicting(matches: Sequence[FindMatch], exact: Mapping[str, str],
                  ) -> tuple[list[FindMatch], dict[str, int]]:
    """Split ``matches`` into those that agree with every ``exact`` key (keyword → value from
    :func:`exact_value`) and, per keyword, how many answers returned another value. An answer
    that returns the key empty is kept (a PACS need not return every key it matched on)."""
    kept: list[FindMatch] = []
    dropped: dict[str, int] = {}
    for match in matches:
        wrong = next((k for k, v in exact.items()
                      if (got := match.get(k).strip(" \x00")) and not _same(k, v, got)), None)
        if wrong is None:
            kept.append(match)
        else:
            dropped[wrong] = dropped.get(wrong, 0) + 1
    return kept, dropped


def parent_keys(match: FindMatch, level: QueryLevel, model: QueryModel) -> dict[str, str]:
    """The unique keys that an answer at ``level`` gives the level below it (the PACS's own
    values, padding stripped): its own unique key and those above it in ``model``."""
    chain = _CHAIN[model]
    return {lvl.unique_key: match.get(lvl.unique_key).strip(" \x00")
            for lvl in chain[:chain.index(level) + 1]}


@dataclass(frozen=True)
class Found:
    """What :func:`search_by_levels` found: ``matches`` at the level asked for, as the PACS
    sent them (repeats included, contradicting answers not); ``unreadable`` answers (every
    level); ``repeated`` answers of the upper levels that named a row already named;
    ``left_out``: one sentence per kind of answer not sent (contradicting a key, or naming no
    UID to search under); ``finds``: the C-FINDs made."""

    matches: tuple[FindMatch, ...]
    unreadable: int = 0
    repeated: int = 0
    left_out: tuple[str, ...] = ()
    finds: int = 0


async def search_by_levels(courier: Courier, pacs: PacsNode, *, model: QueryModel,
                           level: QueryLevel, keys: Mapping[str, str],
                           returns: Mapping[str, str]) -> Found:
    """C-FIND ``keys`` level by level (:func:`plan_search`) down to ``level``.

    ``returns``: return keys (empty values) asked at ``level`` only. Each level below the first
    is asked once per distinct answer above it, with that answer's unique keys. Answers that
    contradict an exact key sent are dropped (:func:`contradicting`) and said in
    ``Found.left_out``. Raises :class:`.find.SearchCutShort`'s refusal (a partial list is never
    sent), the look-up's refusal (:func:`.uid_lookup.refused_look_up`: which model, level and
    which ``-k`` key to add) and every other error of a C-FIND.
    """
    plan = plan_search(model, level, keys)
    typed = {k: e for k, v in keys.items() if (e := exact_value(k, v)) is not None}
    parents: list[dict[str, str]] = [dict(plan.known)]
    unreadable = repeated = finds = 0
    dropped: dict[tuple[str, QueryLevel], int] = {}
    left_out: list[str] = []
    final: list[FindMatch] = []
    for step in plan.steps:
        last = step.level is level
        below: list[dict[str, str]] = []
        for parent in parents:
            query_keys = {**(returns if last else {}), **step.keys, **parent}
            matches, unread = await _ask(courier, pacs, model, step.level, query_keys)
            finds += 1
            unreadable += unread
            exact = {k: typed[k] for k in step.keys if k in typed} | parent
            kept, wrong = contradicting(matches, exact)
            for keyword, count in wrong.items():
                dropped[(keyword, step.level)] = dropped.get((keyword, step.level), 0) + count
            if last:
                final.extend(kept)
                continue
            distinct = distinct_matches(kept, step.level)
            repeated += len(kept) - len(distinct)
            for match in distinct:
                child = parent | {k: v for k, v in parent_keys(match, step.level, model).items()
                                  if v}
                reason = _cannot_search_under(child, step.level, model)
                if reason is None:
                    below.append(child)
                else:
                    left_out.append(f"An answer from {pacs.called_aet} is not searched further "
                                    f"({step.level.value} level): {reason}.")
        parents = below
    for (keyword, at), count in dropped.items():
        left_out.append(_contradiction(pacs.called_aet, keyword, typed.get(keyword), at, count))
    return Found(tuple(final), unreadable, repeated, tuple(left_out), finds)


def _cannot_search_under(keys: Mapping[str, str], level: QueryLevel,
                         model: QueryModel) -> str | None:
    """Why the unique keys of an answer at ``level`` cannot name it in the next search, or
    None: one is missing, or would match other values (a wildcard or a list)."""
    chain = _CHAIN[model]
    for keyword in (lvl.unique_key for lvl in chain[:chain.index(level) + 1]):
        value = keys.get(keyword, "")
        if not value:
            return f"it returned no {keyword}"
        if exact_value(keyword, value) is None:
            return f"its {keyword} ({display(value, 80)}) would match other values"
    return None


def _contradiction(aet: str, keyword: str, typed: str | None, level: QueryLevel,
                   count: int) -> str:
    """The sentence for ``count`` answers whose ``keyword`` contradicted the value sent:
    "3 answers from DCMQRSCP are not sent: their PatientID is not the P12 asked for (…)"."""
    subject = ("An answer" if count == 1 else f"{count:,} answers") + f" from {aet}"
    verb, their = ("is", "its") if count == 1 else ("are", "their")
    asked = (f"the {display(typed, 80)} asked for" if typed is not None
             else f"the one of the {NOUNS[_upper_of(keyword)][0]} searched under")
    return (f"{subject} {verb} not sent: {their} {keyword} is not {asked} ({aet} did not "
            f"match on {keyword} at the {level.value} level).")


def _upper_of(keyword: str) -> QueryLevel:
    return next((lvl for lvl in QueryLevel if lvl.unique_key == keyword), QueryLevel.STUDY)


async def _ask(courier: Courier, pacs: PacsNode, model: QueryModel, level: QueryLevel,
               keys: Mapping[str, str]) -> tuple[list[FindMatch], int]:
    """One C-FIND: (answers, unreadable answers); raises as :func:`search_by_levels` says."""
    matches, unreadable, error = await find_for_move(
        courier, pacs, FindQuery(level=level, model=model, keys=keys))
    if error is not None:
        raise refused_look_up(error, pacs, model=model, level=level,
                              sent=[k for k, v in keys.items() if v],
                              what=f"the {NOUNS[level][1]} the keys match", by_keys=True)
    return matches, unreadable
