"""Typed UIDs → move targets that every PACS can match (issue 9 §2).

A person names what to send by UID (``--study``, ``--series``, ``--image``; the window's
selection). This module decides which look-ups and which C-MOVEs that takes:

- **Upper keys** (PS3.4 C.4.1.2.2.1 hierarchical search, C.4.2.2.1 for retrieve): every
  SERIES or IMAGE request, look-up or move, carries the unique keys of the levels above it.
  A series given without its study has the study looked up first (SERIES-level C-FIND with
  StudyInstanceUID as a return key).
- **Query model**: look-ups use the model the person chose (the one the PACS accepted for the
  move). A Patient Root move needs the Patient ID: given (``patient_id``), returned by the
  series look-up, or found with a Patient Root STUDY-level C-FIND returning PatientID.
- **UID lists** (PS3.4 C.2.2.2.2): several UIDs are looked up with one list, then one by one
  when the PACS cannot match the list (:mod:`.uid_lookup`); the moves then name one UID each.
  A UID the PACS really does not have is named ("2 of 3 images found on QUIRKY; not found:
  …"); when none is found the error says so, never "nothing matched" of keys.

The result is a :class:`.resolve.Resolution`: what cannot be sent is in ``left_out`` (a move
that then completes is partial, exit code 3).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from dicom_courier.core.config.profiles import PacsNode
from dicom_courier.core.dimse.association import peer_of
from dicom_courier.core.dimse.engine import Courier
from dicom_courier.core.jobs.retry import chunked
from dicom_courier.core.outcome.errors import CourierError, InvalidInput
from dicom_courier.core.qr.input_rules import check_text
from dicom_courier.core.qr.query import (
    FindMatch,
    MoveTarget,
    QueryLevel,
    QueryModel,
    pacs_uid_problem,
)
from dicom_courier.core.qr.resolve import Resolution
from dicom_courier.core.qr.uid_lookup import MODEL_NAMES, NOUNS, LookUp, look_up


@dataclass(frozen=True)
class TypedUids:
    """What a person named, already held to PS3.5 9.1: Study, Series and SOP Instance UIDs,
    and the Patient ID if they gave it (only used by the Patient Root model)."""

    studies: tuple[str, ...] = ()
    series: tuple[str, ...] = ()
    images: tuple[str, ...] = ()
    patient_id: str | None = None

    def check(self, model: QueryModel) -> None:
        """Raise InvalidInput (naming the option) for a combination that names nothing clearly:
        images without exactly one series, a series with several studies, a Patient ID with
        the Study Root model."""
        if self.images and len(self.series) != 1:
            raise InvalidInput("--image", "needs exactly one --series naming the images' series")
        if self.series and len(self.studies) > 1:
            raise InvalidInput("--study", "with --series, give at most one --study (the "
                               "series' study)")
        if self.patient_id is not None and model is not QueryModel.PATIENT:
            raise InvalidInput("--patient-id", "is only used with --model patient (Study Root "
                               "requests do not carry the Patient ID)")


def check_patient_id(value: str | None, field_name: str = "--patient-id") -> str | None:
    """A typed Patient ID (LO, PS3.5 6.2): not blank, no control characters or backslash, at
    most 64 characters; None if not given. Raises InvalidInput naming ``field_name``."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        raise InvalidInput(field_name, "must not be blank")
    if "\\" in text:
        raise InvalidInput(field_name, "must be one Patient ID (no backslash)")
    return check_text(text, field_name, max_length=64)


async def targets_for_uids(courier: Courier, pacs: PacsNode, uids: TypedUids,
                           model: QueryModel) -> Resolution:
    """The move targets for ``uids`` in ``model``, each study, series or image once.

    Study Root: studies, and series with their study, need no look-up. Everything else is
    looked up first (see the module docstring). Returns a Resolution whose ``left_out`` names
    the UIDs the PACS does not have. Raises InvalidInput (:meth:`TypedUids.check`), a
    CourierError naming the UIDs when none of them was found, the look-up's refusal
    (:func:`.uid_lookup.refused_look_up`: which model, which key to add) and every other
    error of a look-up.
    """
    uids.check(model)
    once = replace(uids, studies=tuple(dict.fromkeys(uids.studies)),  # each UID named once
                   series=tuple(dict.fromkeys(uids.series)),
                   images=tuple(dict.fromkeys(uids.images)))
    plan = _Plan(courier, pacs, model, once)
    return await plan.targets()


#: How many UIDs a sentence names before "and N more" (the rest: --json not_found_uids).
SHOWN_UIDS = 3


def some_uids(uids: Sequence[str], shown: int = SHOWN_UIDS) -> str:
    """``uids`` for a sentence: all of a short list, else the first ``shown`` and "and N
    more" (``"1.2.3, 1.2.4, 1.2.5 and 187 more"``)."""
    if len(uids) <= shown + 1:
        return ", ".join(uids)
    return f"{', '.join(uids[:shown])} and {len(uids) - shown} more"


class _Plan:
    """The look-ups of one selection, and what they found."""

    def __init__(self, courier: Courier, pacs: PacsNode, model: QueryModel,
                 uids: TypedUids) -> None:
        self.courier, self.pacs, self.model, self.uids = courier, pacs, model, uids
        self.patient_root = model is QueryModel.PATIENT
        self.left_out: list[str] = []
        self.not_found: list[str] = []  # typed UIDs the PACS does not have
        self.unreadable = 0
        self.patient_of: dict[str, str] = {}  # study UID → Patient ID (Patient Root only)

    async def targets(self) -> Resolution:
        uids = self.uids
        if uids.series:
            study_of = await self._studies_of_series()
            studies = list(dict.fromkeys(study_of.values()))
        else:
            study_of, studies = {}, list(uids.studies)
        if self.patient_root:
            studies = await self._patients_of(studies)
        targets: list[MoveTarget] = []
        if uids.images:
            series = uids.series[0]
            if series in study_of and study_of[series] in studies:
                targets = await self._image_targets(study_of[series], series)
        elif uids.series:
            targets = [self._target(study_of[s], (s,)) for s in uids.series
                       if s in study_of and study_of[s] in studies]
        else:
            targets = [self._target(study) for study in studies]
        return Resolution(targets=tuple(targets), left_out=tuple(self.left_out),
                          unreadable=self.unreadable, not_found=tuple(self.not_found))

    def _target(self, study: str, series: tuple[str, ...] = (),
                images: tuple[str, ...] = ()) -> MoveTarget:
        return MoveTarget(study_uid=study, series_uids=series, sop_uids=images,
                          patient_id=self.uids.patient_id or self.patient_of.get(study),
                          from_pacs=True)

    def _upper(self, study: str | None = None) -> dict[str, str]:
        upper: dict[str, str] = {}
        patient = self.uids.patient_id or (self.patient_of.get(study) if study else None)
        if self.patient_root and patient:
            upper["PatientID"] = patient
        if study:
            upper["StudyInstanceUID"] = study
        return upper

    async def _look_up(self, level: QueryLevel, uids: Sequence[str], upper: Mapping[str, str],
                       returns: tuple[str, ...], what: str) -> LookUp:
        found = await look_up(self.courier, self.pacs, model=self.model, level=level,
                              uids=uids, upper=upper, returns=returns, what=what)
        self.unreadable += found.unreadable
        if found.missing:
            self._not_found(level, len(uids), found.missing)
        return found

    def _not_found(self, level: QueryLevel, asked: int, missing: Sequence[str]) -> None:
        """Say which UIDs the PACS does not have; raise when it has none of them."""
        one, several = NOUNS[level]
        shown = some_uids(missing)
        if len(missing) == asked:
            noun = one if asked == 1 else several
            title = (f"The {one} {shown} was not found on {self.pacs.called_aet}." if asked == 1
                     else f"None of the {asked} {noun} was found on {self.pacs.called_aet}.")
            raise CourierError(
                title,
                f"{self.pacs.called_aet} answered the look-up ({MODEL_NAMES[self.model]} "
                f"model, {level.value} level) without any {one} of "
                f"{'this UID' if asked == 1 else 'these UIDs'}: {shown}.",
                "Check the UID (copy it from 'dicom-courier find' or the window), and that "
                "this is the PACS that holds it.", peer=peer_of(self.pacs))
        found = asked - len(missing)
        self.not_found.extend(missing)
        self.left_out.append(f"{found} of {asked} {several} found on {self.pacs.called_aet}; "
                             f"not found: {shown}.")

    async def _studies_of_series(self) -> dict[str, str]:
        """Series UID → its Study Instance UID: the typed one, else looked up."""
        uids = self.uids
        if uids.studies:
            return {series: uids.studies[0] for series in uids.series}
        returns = ("StudyInstanceUID", "PatientID") if self.patient_root else \
            ("StudyInstanceUID",)
        found = await self._look_up(QueryLevel.SERIES, uids.series, self._upper(), returns,
                                    "the series' study")
        study_of: dict[str, str] = {}
        for series, match in found.found.items():
            study = self._pacs_uid(match, "StudyInstanceUID", f"series {series}")
            if study is None:
                continue
            study_of[series] = study
            patient = match.get("PatientID")
            if self.patient_root and patient and study not in self.patient_of:
                self.patient_of[study] = patient
        return study_of

    async def _patients_of(self, studies: list[str]) -> list[str]:
        """The studies whose Patient ID is known (given, or looked up: Patient Root STUDY
        level with PatientID as a return key); the others are said in ``left_out``."""
        unknown = [s for s in studies if not (self.uids.patient_id or self.patient_of.get(s))]
        if unknown:
            found = await self._look_up(QueryLevel.STUDY, unknown, {}, ("PatientID",),
                                        "the study's Patient ID")
            for study, match in found.found.items():
                patient = match.get("PatientID")
                if patient:
                    self.patient_of[study] = patient
                else:
                    self.left_out.append(
                        f"Study {study} is not sent: {self.pacs.called_aet} returned no "
                        "Patient ID for it, which the Patient Root model needs (give it "
                        "with --patient-id).")
        return [s for s in studies if self.uids.patient_id or self.patient_of.get(s)]

    async def _image_targets(self, study: str, series: str) -> list[MoveTarget]:
        """One target for the images of ``series`` if the PACS matches UID lists, otherwise
        one target per image (a C-MOVE with a list needs the same matching)."""
        upper = {**self._upper(study), "SeriesInstanceUID": series}
        found = await self._look_up(QueryLevel.IMAGE, self.uids.images, upper, (),
                                    "the images")
        images = tuple(found.found)
        if found.lists_work:  # one move per UIDS_PER_REQUEST images (a UI value's length)
            return [self._target(study, (series,), chunk) for chunk in chunked(images)]
        return [self._target(study, (series,), (image,)) for image in images]

    def _pacs_uid(self, match: FindMatch, keyword: str, of: str) -> str | None:
        """The PACS's ``keyword`` of an answer, or None (said in ``left_out``) if it cannot
        be named in a move (:func:`.query.pacs_uid_problem`)."""
        uid = match.get(keyword).strip(" \x00")
        problem = pacs_uid_problem(uid)
        if problem is None:
            return uid
        self.left_out.append(f"The {of} is not sent: the {keyword} the PACS returned for it "
                             f"{problem}, so it cannot be named in a move request.")
        return None
