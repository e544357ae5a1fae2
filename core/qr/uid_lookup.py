"""C-FIND look-ups of UIDs a person typed, in a form every PACS can answer.

- **UID lists** (List of UID matching, PS3.4 C.2.2.2.2): several UIDs are first looked up in
  one request. Not every PACS supports it: some refuse the request (seen: 0xC320), others
  read the list as one value and match nothing. Every UID was given by a person, so a list
  look-up that fails or finds fewer UIDs than asked falls back to one look-up per UID (said
  in the INFO log), and :attr:`LookUp.lists_work` is then False, so that the moves name one
  UID each too (a C-MOVE with a list needs the same matching).
- **Hierarchical keys** (PS3.4 C.4.1.2.2.1): every look-up carries the unique keys of the
  levels above it that are known, single-valued, in the model the person chose.
- **Refusals**: a look-up the PACS refuses is re-worded to say that it was the look-up, with
  which model and at which level; for 0xA900 the sentence names the key to add and how.

Nothing here imports Qt; the command line (:mod:`.uid_targets`) and the window use it.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from dicom_courier.core.config.profiles import PacsNode
from dicom_courier.core.dimse.association import peer_of
from dicom_courier.core.dimse.engine import Courier
from dicom_courier.core.dimse.find import SearchCutShort, search_cut_short
from dicom_courier.core.jobs.retry import chunked
from dicom_courier.core.outcome.errors import (
    CourierError,
    DimseFailure,
    NotSupported,
    UnreadableResults,
)
from dicom_courier.core.qr.query import FindMatch, FindQuery, QueryLevel, QueryModel

LOGGER = logging.getLogger(__name__)

#: The models' names as the standard and PACS manuals write them.
MODEL_NAMES: Mapping[QueryModel, str] = {QueryModel.STUDY: "Study Root",
                                        QueryModel.PATIENT: "Patient Root"}

#: Each unique key as a person reads it, and how to give it on the command line.
_KEY_WORDS: Mapping[str, tuple[str, str]] = {
    "PatientID": ("the Patient ID", "--patient-id ID"),
    "StudyInstanceUID": ("the Study Instance UID", "--study UID"),
    "SeriesInstanceUID": ("the Series Instance UID", "--series UID"),
}

_ORDER = (QueryLevel.PATIENT, QueryLevel.STUDY, QueryLevel.SERIES, QueryLevel.IMAGE)

#: Nouns per level: (one, several).
NOUNS: Mapping[QueryLevel, tuple[str, str]] = {
    QueryLevel.PATIENT: ("patient", "patients"), QueryLevel.STUDY: ("study", "studies"),
    QueryLevel.SERIES: ("series", "series"), QueryLevel.IMAGE: ("image", "images")}


def upper_keys(model: QueryModel, level: QueryLevel) -> tuple[str, ...]:
    """The unique keys of every level above ``level`` in ``model`` (PS3.4 C.4.1.2.2.1), top
    first: e.g. ``("PatientID", "StudyInstanceUID")`` for a Patient Root SERIES request."""
    start = 0 if model is QueryModel.PATIENT else 1
    return tuple(upper.unique_key for upper in _ORDER[start:_ORDER.index(level)])


@dataclass(frozen=True)
class LookUp:
    """What a look-up of UIDs found.

    ``found``: the answer for each UID asked for that the PACS has, in the order asked (one
    answer per UID, however many the PACS sent). ``missing``: the UIDs it has not.
    ``lists_work``: False when the PACS could not match the UIDs as one list, so each was
    looked up (and must be moved) on its own. ``unreadable``: answers that could not be read.
    """

    level: QueryLevel
    found: Mapping[str, FindMatch] = field(default_factory=dict)
    missing: tuple[str, ...] = ()
    lists_work: bool = True
    unreadable: int = 0


async def look_up(courier: Courier, pacs: PacsNode, *, model: QueryModel, level: QueryLevel,
                  uids: Sequence[str], upper: Mapping[str, str],
                  returns: Collection[str] = (), what: str = "") -> LookUp:
    """C-FIND ``uids`` (the unique key of ``level``) with the known ``upper`` keys, in ``model``.

    Several UIDs: one request with a UID list (PS3.4 C.2.2.2.2; at most
    :data:`.retry.UIDS_PER_REQUEST` UIDs per request); if the PACS answers it with
    a failure status, or finds fewer distinct UIDs than asked, each UID not found is looked
    up on its own (logged at INFO). ``returns``: keywords to ask back (e.g. PatientID).
    ``what`` names what is looked up in a refusal ("the series' study").

    Returns a :class:`LookUp`; only answers naming a UID that was asked for count (a PACS that
    ignores the key sends nothing extra). Raises the refusal (:func:`refused_look_up`) of a
    single-UID look-up, :class:`.find.SearchCutShort`'s refusal when the PACS stopped a
    look-up with 0xFE00 we did not ask for, and every other error of the find (association
    rejected, timeout, ...).
    """
    key = level.unique_key
    asked = list(dict.fromkeys(uids))
    keys = {keyword: "" for keyword in returns}
    keys.update({keyword: value for keyword, value in upper.items() if value})
    matching = [keyword for keyword, value in keys.items() if value]  # upper keys sent
    found: dict[str, FindMatch] = {}
    unreadable = 0
    lists_work = True
    todo = asked
    one, several = NOUNS[level]
    error: CourierError | None = None
    if len(asked) > 1:
        for chunk in chunked(asked):  # at most UIDS_PER_REQUEST UIDs per identifier
            matches, unread, error = await find_for_move(courier, pacs, FindQuery(
                level=level, model=model, keys={**keys, key: "\\".join(chunk)}))
            unreadable += unread
            if error is not None and not _list_refusal(error):
                raise refused_look_up(error, pacs, model=model, level=level, sent=matching,
                                      what=what)
            if error is not None:
                break  # the PACS refused a list: every UID not yet found, one by one
            found.update(_by_uid(matches, key, chunk))
        todo = [uid for uid in asked if uid not in found]
        if todo:
            # after a refusal nothing was "not found": the list was not matched at all
            how = (f"refused the list ({_status_text(error)})" if error is not None
                   else f"matched {len(found)} of the {len(asked)} {several} in the list")
            which = "" if error is not None else " not found"
            LOGGER.info("%s %s: looking up the %d %s%s one by one (%s model, %s level)",
                        pacs.called_aet, how, len(todo), one if len(todo) == 1 else several,
                        which, MODEL_NAMES[model], level.value)
            lists_work = error is None  # stays True if none of the others exists either
    for uid in todo:
        matches, unread, error = await find_for_move(courier, pacs, FindQuery(
            level=level, model=model, keys={**keys, key: uid}))
        unreadable += unread
        if error is not None:
            raise refused_look_up(error, pacs, model=model, level=level, sent=matching, what=what)
        got = _by_uid(matches, key, [uid])
        if got and len(asked) > 1:
            lists_work = False  # the list missed a UID the PACS has
        found.update(got)
    if not lists_work:
        LOGGER.info("%s cannot match a list of %s UIDs: each %s is sent in a move of its own",
                    pacs.called_aet, one, one)
    return LookUp(level=level, found={uid: found[uid] for uid in asked if uid in found},
                  missing=tuple(uid for uid in asked if uid not in found),
                  lists_work=lists_work, unreadable=unreadable)


def refused_look_up(error: CourierError, pacs: PacsNode, *, model: QueryModel,
                    level: QueryLevel, sent: Collection[str], what: str = "",
                    by_keys: bool = False) -> CourierError:
    """``error`` of a look-up re-worded: "QUIRKY refused the look-up of the series' study
    (Study Root model, SERIES level)." For 0xA900 the explanation names the upper unique keys
    ``sent`` lacked and the action says how to give them (PS3.4 C.4.1.2.2.1); Study Root is
    suggested only to a Patient Root look-up. ``by_keys``: the request was made from ``-k``
    keys, so the advice is ``-k StudyInstanceUID=…`` (not ``--study``, which cannot be
    combined with ``-k``). Errors that are not DIMSE failures (no association, a timeout) are
    returned unchanged. Returns an error of ``error``'s class.
    """
    if not isinstance(error, DimseFailure):
        return error
    where = f"{MODEL_NAMES[model]} model, {level.value} level"
    subject = what or f"the {NOUNS[level][0]}"
    title = f"{pacs.called_aet} refused the look-up of {subject} ({where})."
    explanation, action = f"{error.title} {error.explanation}", error.action
    if error.status == 0xA900:
        lacking = [k for k in upper_keys(model, level) if k not in sent]
        if lacking:
            names = " and ".join(_KEY_WORDS[k][0] for k in lacking)
            # a request made from -k keys takes -k advice (--study with -k is a usage error)
            flags = " and ".join(f"-k {k}=…" if by_keys else _KEY_WORDS[k][1] for k in lacking)
            article = "an" if level.value[0] in "AEIOU" else "a"
            given = "which was not given" if len(lacking) == 1 else "which were not given"
            explanation = (
                "The PACS answered \"identifier does not match SOP class\" (0xA900): it "
                f"searches hierarchically (PS3.4 C.4.1.2.2.1), so {article} {level.value} "
                f"request must name {names}, {given}.")
            action = f"Give {names} (command line: {flags})."
        else:
            explanation = ("The PACS answered \"identifier does not match SOP class\" "
                           f"(0xA900) although the look-up named every key above the "
                           f"{level.value} level.")
            action = "Read the PACS's log for the key it wants; send the details to support."
        if model is QueryModel.PATIENT:
            action += (" Or use the Study Root model if the PACS offers it (command line: "
                       "--model study).")
    details = {**error.extra_details, "Look-up": where}
    return type(error)(title, explanation, action, peer=error.peer, status=error.status,
                       comment=error.comment, details=details, retryable=error.retryable)


def _list_refusal(error: CourierError) -> bool:
    """Whether ``error`` may be the PACS refusing a UID list: a failure status to the C-FIND
    itself (not a missing service, a lost association or a timeout)."""
    return isinstance(error, DimseFailure) and not isinstance(error, NotSupported) \
        and error.status is not None


def _status_text(error: CourierError) -> str:
    return f"0x{error.status:04X}" if error.status is not None else error.title


def _by_uid(matches: Sequence[FindMatch], key: str, asked: Sequence[str]) -> dict[str, FindMatch]:
    """The first answer for each UID in ``asked`` (padding stripped); others are ignored."""
    wanted = set(asked)
    out: dict[str, FindMatch] = {}
    for match in matches:
        uid = match.get(key).strip(" \x00")
        if uid in wanted and uid not in out:
            out[uid] = match
    return out


async def find_for_move(courier: Courier, pacs: PacsNode,
                        query: FindQuery) -> tuple[list[FindMatch], int, CourierError | None]:
    """Run one look-up of what a move will send: (answers, unreadable answers, the error the
    PACS ended it with, None for unreadable answers alone, which are counted).

    Raises :class:`.find.SearchCutShort`'s refusal when the PACS stopped the C-FIND with
    0xFE00 we did not ask for: a partial list is never sent (PS3.4 C.4.1.1.4).
    """
    operation = courier.find(pacs, query, raise_on_error=False)
    matches = [match async for match in operation]
    error = operation.result.error
    if isinstance(error, SearchCutShort):  # a partial list: refuse rather than send part
        refusal = search_cut_short(peer_of(pacs), operation.result.count, for_move=True)
        refusal.extra_details.update(error.extra_details)
        raise refusal
    if isinstance(error, UnreadableResults):
        error = None
    return matches, operation.result.unreadable, error
