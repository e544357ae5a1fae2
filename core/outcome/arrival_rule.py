"""The one rule for what an arrival check expects (issue 13 §3), for every front end.

``move --verify``, ``move --dest @here``, ``queue run`` and the window all check a send
against the same number:

* **expected = the images the PACS reported sent** for the send's target: completed +
  with warnings (PS3.4 C.4.2.1.6, Number of Completed / Warning Sub-operations). An image
  the PACS reported *failed* is not looked for: the send's own outcome already says it
  ("partial: 5 of 8 … 3 failed"), so 5 found of 5 sent reads "verified at destination: 5/5";
* the source PACS's own per-series counts (:func:`.dimse.arrival_check.source_counts`) only
  say *which* series are short, and serve as the expected number when the PACS reported no
  counts at all; a total of 0 is never expected ("verified 0/0" proves nothing);
* a send is checked when its request reached the PACS and it sent something, or reported
  success without counts (:func:`worth_checking`); otherwise the check says that nothing
  was looked for.

Values only: no I/O, no engine.
"""

from __future__ import annotations

from collections.abc import Mapping

from dicom_courier.core.outcome.events import MoveOutcome, MoveResult

#: The check's ``error`` when there was nothing to look for.
NOTHING_SENT = "nothing is known to have been sent, so nothing was looked for"


def reported_sent(result: MoveResult) -> int | None:
    """The images the PACS reported sent (completed + warning), None when it reported no
    such count, or 0 (no proof of anything)."""
    if not result.counts_reported or not result.completed_reported:
        return None
    return result.sent or None


def worth_checking(result: MoveResult) -> bool:
    """True when the destination is worth asking: the request reached the PACS, and it sent
    something, or it said it succeeded without giving counts."""
    if not result.request_sent:
        return False
    if result.sent > 0:
        return True
    return reported_sent(result) is None and result.outcome in (
        MoveOutcome.COMPLETED, MoveOutcome.COMPLETED_WITH_WARNINGS)


def expected_total(result: MoveResult, source: Mapping[str, int] | None) -> int | None:
    """What the check expects in all: :func:`reported_sent`, else the source's own count of
    the target (``source``: Series Instance UID → instances), else None (never 0)."""
    reported = reported_sent(result)
    if reported is not None:
        return reported
    return (sum(source.values()) or None) if source else None


def series_caps(result: MoveResult, source: Mapping[str, int] | None
                ) -> Mapping[str, int] | None:
    """The per-series counts the check may use to say which series are short: the source's,
    when they can hold what the PACS reported sent (fewer than that would make a complete
    send look short: a stale or partial look-up), else None."""
    if not source:
        return None
    reported = reported_sent(result)
    if reported is not None and sum(source.values()) < reported:
        return None
    return source
