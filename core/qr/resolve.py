"""Turn what a person selected into move targets named by unique keys only.

A C-MOVE must never select by patient name or accession number (a typo or a reused accession
would send the wrong patient's images). So a selection by other keys is first resolved with a
C-FIND into Study/Series/SOP Instance UIDs, and each move carries those UIDs.

Those UIDs are the PACS's own, not user input: they go back verbatim (``from_pacs=True``),
a non-conformant one with a warning. An answer whose UID cannot be sent at all, or that could
not be read, is left out with a sentence saying so; the others are still sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from dicom_courier.core.config.profiles import PacsNode
from dicom_courier.core.dimse.engine import Courier
from dicom_courier.core.dimse.find import unreadable_summary
from dicom_courier.core.jobs.retry import UIDS_PER_REQUEST, chunked
from dicom_courier.core.outcome.errors import InvalidInput
from dicom_courier.core.qr.distinct import UNIQUE_KEYS, distinct_matches
from dicom_courier.core.qr.key_search import search_by_levels
from dicom_courier.core.qr.query import (
    FindMatch,
    MoveTarget,
    QueryLevel,
    QueryModel,
    pacs_uid_problem,
)
from dicom_courier.core.qr.uid_lookup import look_up
from dicom_courier.core.text.safe_text import display


@dataclass(frozen=True)
class Resolution:
    """What a selection resolved to: ``targets`` to send, ``left_out`` (one sentence per PACS
    answer that cannot be sent), ``unreadable`` (answers of the C-FIND that could not be read),
    ``repeated`` (answers that named a study, series or image an earlier answer had already
    named, as a PACS answering one row per image does: each is sent once; not a fault),
    ``not_found`` (typed UIDs the PACS does not have, each once; ``left_out`` says so in
    one sentence per level).
    """

    targets: tuple[MoveTarget, ...]
    left_out: tuple[str, ...] = ()
    unreadable: int = 0
    repeated: int = 0
    not_found: tuple[str, ...] = ()

    @property
    def warnings(self) -> tuple[str, ...]:
        """Everything the person must be told before the send, in plain sentences."""
        out = [w for target in self.targets for w in target.warnings] + list(self.left_out)
        if self.unreadable:
            out.append(f"{unreadable_summary(self.unreadable)}: "
                       f"{'it is' if self.unreadable == 1 else 'they are'} not sent.")
        return tuple(out)

    @property
    def incomplete(self) -> bool:
        """True if something the selection matched is not among the targets."""
        return bool(self.left_out or self.unreadable)


def _left_out(match: FindMatch, keywords: Sequence[str]) -> str | None:
    """Why ``match`` cannot be sent (its first UID that cannot be encoded), or None."""
    for keyword in keywords:
        uid = match.get(keyword).strip(" \x00")
        problem = pacs_uid_problem(uid)
        if problem is not None:
            shown = f" ({display(uid, 80)})" if uid else ""
            return (f"An answer from the PACS is not sent: its {keyword}{shown} {problem}, so "
                    "it cannot be named in a move request.")
    return None


def resolve_matches(matches: Sequence[FindMatch], level: QueryLevel, *,
                    per_image: bool = False) -> Resolution:
    """One target per distinct study or series (images: each SOP Instance UID once, grouped
    by their series), by the PACS's own UIDs, in the order of first appearance.

    Answers that repeat an earlier answer's unique keys (:mod:`.distinct`: a PACS answering a
    STUDY C-FIND with one row per image) are counted in ``Resolution.repeated``, not sent
    again. Answers with a UID that cannot be sent are left out, one sentence per distinct
    answer. ``per_image``: one target per image (a PACS that cannot match UID lists).
    Raises InvalidInput for ``level`` PATIENT (PS3.4 C.4.2: move studies instead).
    """
    if level is QueryLevel.PATIENT:
        raise InvalidInput("--level", "a move by patient must be resolved to studies first")
    distinct = distinct_matches(matches, level)
    left_out: list[str] = []
    sendable: list[FindMatch] = []
    for m in distinct:
        reason = _left_out(m, UNIQUE_KEYS[level])
        if reason is None:
            sendable.append(m)
        else:
            left_out.append(reason)
    return Resolution(tuple(targets_from_matches(sendable, level, per_image=per_image)),
                      tuple(left_out),
                      repeated=len(matches) - len(distinct))


def _describe(match: FindMatch) -> str:
    parts = [match.get("StudyDate"), match.get("ModalitiesInStudy") or match.get("Modality"),
             match.get("StudyDescription") or match.get("SeriesDescription")]
    return " ".join(p for p in parts if p)


def targets_from_matches(matches: Sequence[FindMatch], level: QueryLevel, *,
                         per_image: bool = False) -> list[MoveTarget]:
    """One target per distinct study or series; images are grouped by their series (at most
    :data:`.retry.UIDS_PER_REQUEST` per target), each SOP Instance UID once. Answers naming
    what an earlier answer named are dropped (the first wins, order of first appearance
    kept). ``per_image``: one image per target (List-of-UID matching missing on the PACS,
    PS3.4 C.2.2.2.2). The UIDs are the PACS's (``from_pacs=True``);
    raises InvalidInput for one that cannot be encoded (use :func:`resolve_matches` to leave
    such answers out instead, and to count the repeats)."""
    if level is QueryLevel.PATIENT:
        raise InvalidInput("--level", "a move by patient must be resolved to studies first")
    matches = distinct_matches(matches, level)
    targets: list[MoveTarget] = []
    if level is QueryLevel.IMAGE:
        groups: dict[tuple[str, str], list[FindMatch]] = {}
        for m in matches:
            study, series = (m.get(k).strip(" \x00") for k in UNIQUE_KEYS[QueryLevel.SERIES])
            groups.setdefault((study, series), []).append(m)
        for (study, series), members in groups.items():
            # At most UIDS_PER_REQUEST images per move: a PACS limits the identifier it reads.
            for chunk in chunked([m.get("SOPInstanceUID") for m in members],
                                 1 if per_image else UIDS_PER_REQUEST):
                targets.append(MoveTarget(
                    study_uid=study, series_uids=(series,), sop_uids=chunk,
                    patient_id=members[0].get("PatientID") or None, from_pacs=True))
        return targets
    for m in matches:
        series_uids = (m.get("SeriesInstanceUID"),) if level is QueryLevel.SERIES else ()
        targets.append(MoveTarget(study_uid=m.get("StudyInstanceUID"), series_uids=series_uids,
                                  patient_id=m.get("PatientID") or None,
                                  description=_describe(m), from_pacs=True))
    return targets


async def resolve_targets(
    courier: Courier,
    pacs: PacsNode,
    *,
    model: QueryModel,
    level: QueryLevel,
    keys: Mapping[str, str],
) -> Resolution:
    """C-FIND ``keys`` and return a target per match at ``level`` (by UIDs only).

    Keys of a level above ``level`` (``--level SERIES -k PatientID=P12``) are matched at their
    own level first, then each level below is asked under each answer's unique keys
    (:func:`.key_search.search_by_levels`: a PACS need not match upper-level keys at a lower
    level, PS3.4 C.4.1.2.2.1); answers contradicting an exact key sent are left out, with a
    sentence. Images of one series are moved with one UID list only if the PACS matched a
    list of two of them (PS3.4 C.2.2.2.2); otherwise one move per image.

    Answers that cannot be read (:class:`UnreadableResults`) do not stop the others: they are
    counted in ``Resolution.unreadable``. Raises InvalidInput when ``keys`` would match
    everything, :class:`.find.SearchCutShort` when the PACS stopped a C-FIND with 0xFE00
    we did not ask for (a partial list is never sent), and every other error of the find (a
    refusal says it was the look-up, with which model and which ``-k`` key to add:
    :func:`.uid_lookup.refused_look_up`).
    """
    if not any(value for value in keys.values()):
        raise InvalidInput("-k", "a move needs at least one matching key with a value "
                           "(e.g. -k PatientID=12345 -k StudyDate=20240101)")
    returns = {keyword: "" for keyword, value in keys.items() if not value}
    for keyword in ("StudyInstanceUID", "PatientID", "StudyDate", "StudyDescription"):
        returns.setdefault(keyword, "")
    if level in (QueryLevel.SERIES, QueryLevel.IMAGE):
        returns.setdefault("SeriesInstanceUID", "")
    if level is QueryLevel.IMAGE:
        returns.setdefault("SOPInstanceUID", "")
    if level is QueryLevel.STUDY:
        returns.setdefault("ModalitiesInStudy", "")
    found = await search_by_levels(courier, pacs, model=model, level=level, keys=keys,
                                   returns=returns)
    resolution = resolve_matches(found.matches, level)
    if level is QueryLevel.IMAGE and not await _image_lists_work(courier, pacs, model,
                                                                 resolution.targets):
        resolution = resolve_matches(found.matches, level, per_image=True)
    return replace(resolution, unreadable=found.unreadable,
                   repeated=resolution.repeated + found.repeated,
                   left_out=found.left_out + resolution.left_out)


async def _image_lists_work(courier: Courier, pacs: PacsNode, model: QueryModel,
                            targets: Sequence[MoveTarget]) -> bool:
    """Whether ``pacs`` matches a list of SOP Instance UIDs (PS3.4 C.2.2.2.2), asked only when a
    target names several images: a C-FIND of two of them as one list
    (:func:`.uid_lookup.look_up`, which looks each up on its own when the list fails and logs
    it). A C-MOVE with a list needs the same matching, so False means one move per image."""
    target = next((t for t in targets if len(t.sop_uids) > 1), None)
    if target is None:
        return True
    upper = {"StudyInstanceUID": target.study_uid, "SeriesInstanceUID": target.series_uids[0]}
    if model is QueryModel.PATIENT and target.patient_id:
        upper = {"PatientID": target.patient_id, **upper}
    probe = await look_up(courier, pacs, model=model, level=QueryLevel.IMAGE,
                          uids=target.sop_uids[:2], upper=upper, what="the images")
    return probe.lists_work
