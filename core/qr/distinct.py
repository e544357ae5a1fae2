"""One study, series or image once: a PACS may name the same one in many answers (issue 9 §1).

Some archives answer a STUDY or SERIES C-FIND with one row per *image* (they match on their
instance table), so 412 answers may name 4 studies. What the PACS sent is still shown row by
row (the grid, ``find``), with a note that says so ("412 answers, 4 distinct studies"); what
is *sent* is each study, series or image once, in the order of first appearance.

Rows are told apart by the unique keys of their level and every level above it (PS3.4
C.6.1.1 / C.6.2.1: Patient ID; Study, Series, SOP Instance UID), padding (spaces, NULs)
stripped. A row without its own level's unique key cannot be compared: it is never merged.

Qt-free: the command line and the window both count with this module.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from dicom_courier.core.qr.query import FindMatch, MoveTarget, QueryLevel

#: The keys that name one row of each level: its own unique key and those of the levels above.
UNIQUE_KEYS: Mapping[QueryLevel, tuple[str, ...]] = {
    QueryLevel.PATIENT: ("PatientID",),
    QueryLevel.STUDY: ("StudyInstanceUID",),
    QueryLevel.SERIES: ("StudyInstanceUID", "SeriesInstanceUID"),
    QueryLevel.IMAGE: ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"),
}

_NOUNS: Mapping[QueryLevel, tuple[str, str]] = {
    QueryLevel.PATIENT: ("patient", "patients"),
    QueryLevel.STUDY: ("study", "studies"),
    QueryLevel.SERIES: ("series", "series"),
    QueryLevel.IMAGE: ("image", "images"),
}


def noun(level: QueryLevel, count: int) -> str:
    """``"study"`` or ``"studies"`` (by ``count``) for ``level``."""
    singular, plural = _NOUNS[level]
    return singular if count == 1 else plural


def unique_key(match: FindMatch, level: QueryLevel) -> str | None:
    """The values of :data:`UNIQUE_KEYS` ``[level]`` in ``match``, padding stripped, joined
    with a backslash (which no single UI, LO value can hold); None when the row lacks its own
    level's key (such a row is distinct from every other).

    A string, not a tuple: a set of 50,000 strings is not tracked by the garbage collector,
    a set of tuples is, and its collections stalled the window during a large search.
    """
    parts = [match.get(keyword).strip(" \x00") for keyword in UNIQUE_KEYS[level]]
    return "\\".join(parts) if parts[-1] else None


def distinct_matches(matches: Iterable[FindMatch], level: QueryLevel) -> list[FindMatch]:
    """``matches`` with every row whose unique key an earlier row had left out (the first
    wins; order kept). Rows without a unique key are all kept."""
    seen: set[str] = set()
    out = []
    for match in matches:
        key = unique_key(match, level)
        if key is not None:
            if key in seen:
                continue
            seen.add(key)
        out.append(match)
    return out


@dataclass(frozen=True)
class AnswerCount:
    """How many answers a search returned (``answers``) and how many distinct rows of
    ``level`` they name (``distinct``)."""

    level: QueryLevel
    answers: int = 0
    distinct: int = 0

    @property
    def repeated(self) -> int:
        """Answers that named a row an earlier answer had already named."""
        return self.answers - self.distinct

    def note(self) -> str | None:
        """``"412 answers, 4 distinct studies"``, or None when no answer was repeated."""
        if not self.repeated:
            return None
        return (f"{self.answers:,} answers, {self.distinct:,} distinct "
                f"{noun(self.level, self.distinct)}")


class AnswerTally:
    """Counts answers and distinct rows as they arrive (a search in batches)."""

    def __init__(self, level: QueryLevel) -> None:
        self.level = level
        self._seen: set[str] = set()
        self._answers = 0
        self._unkeyed = 0

    def add(self, matches: Iterable[FindMatch]) -> None:
        """Count one more batch of answers."""
        for match in matches:
            self._answers += 1
            key = unique_key(match, self.level)
            if key is None:
                self._unkeyed += 1
            else:
                self._seen.add(key)

    def clear(self) -> None:
        """Forget every answer (a new search starts)."""
        self._seen.clear()
        self._answers = self._unkeyed = 0

    @property
    def count(self) -> AnswerCount:
        return AnswerCount(self.level, self._answers, len(self._seen) + self._unkeyed)


def count_answers(matches: Iterable[FindMatch], level: QueryLevel) -> AnswerCount:
    """The :class:`AnswerCount` of ``matches`` at ``level``."""
    tally = AnswerTally(level)
    tally.add(matches)
    return tally.count


def target_key(target: MoveTarget) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """What a move retrieves: its study, series and SOP Instance UIDs (order-free)."""
    return (target.study_uid, tuple(sorted(target.series_uids)), tuple(sorted(target.sop_uids)))


def distinct_targets(targets: Sequence[MoveTarget]) -> tuple[list[MoveTarget], int]:
    """``targets`` without those that retrieve exactly what an earlier one retrieves (same
    study, series and SOP Instance UIDs): one C-MOVE each. Returns ``(targets, left_out)``,
    ``left_out`` being how many repeats were dropped. Order of first appearance kept."""
    seen: set[tuple[str, tuple[str, ...], tuple[str, ...]]] = set()
    out = []
    for target in targets:
        key = target_key(target)
        if key not in seen:
            seen.add(key)
            out.append(target)
    return out, len(targets) - len(out)
