"""One rule for what an arrival check expects (issue 13 part G §1): ``move --verify`` and
the queue (``queue run``, the window) give the same words for the same send.

Expected = the images the PACS reported sent (completed + warning); the source's per-series
counts say which series are short and serve only when the PACS reported no counts. Both
front ends are driven with one scripted courier (no socket): the source PACS answers its
per-series counts, the destination what it holds.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping

import pytest

from dicom_courier.core.cli.verify_cmd import ArrivalVerifier
from dicom_courier.core.config.profiles import Destination, PacsNode
from dicom_courier.core.dimse.association import DESTINATION_PREFIX
from dicom_courier.core.jobs.arrival_phase import arrival_checker, should_check
from dicom_courier.core.outcome.arrival import ArrivalCheck
from dicom_courier.core.outcome.errors import ConnectionFailed, Peer
from dicom_courier.core.outcome.events import MoveOutcome, MoveResult
from dicom_courier.core.qr.query import FindMatch, FindQuery, MoveRequest, MoveTarget

STUDY = "1.2.3.4"
S1, S2 = "1.2.3.4.1", "1.2.3.4.2"
PACS = PacsNode("main", "PACS", "10.0.0.1", 104)
WS3 = Destination("WS3", "10.0.0.9", 4006, queryable=True)


class TwoPeers:
    """``find`` on the source answers ``source`` (None: the source cannot be asked); on the
    destination ``dest``; SERIES level with NumberOfSeriesRelatedInstances."""

    def __init__(self, source: Mapping[str, int] | None, dest: Mapping[str, int]) -> None:
        self.source, self.dest = source, dest

    def find(self, pacs: PacsNode, query: FindQuery, *, limit: int | None = None
             ) -> AsyncIterator[FindMatch]:
        return self._answers(pacs, query)

    async def _answers(self, pacs: PacsNode, query: FindQuery) -> AsyncIterator[FindMatch]:
        at_destination = pacs.name.startswith(DESTINATION_PREFIX)
        counts = self.dest if at_destination else self.source
        if counts is None:
            raise ConnectionFailed("Could not connect to PACS.", "refused", "start it")
        for uid, count in counts.items():
            yield FindMatch(query.level, {"SeriesInstanceUID": uid,
                                          "NumberOfSeriesRelatedInstances": str(count)})


def result(completed: int, failed: int = 0, *, counts: bool = True) -> MoveResult:
    outcome = (MoveOutcome.COMPLETED if not failed else MoveOutcome.PARTIAL)
    return MoveResult(outcome=outcome, total=completed + failed if counts else None,
                      completed=completed if counts else 0, failed=failed if counts else 0,
                      warning=0, status=0xB000 if failed else 0x0000, duration=1.0,
                      error_comment=None, failed_sop_uids=(), error=None, destination="WS3",
                      peer=Peer("COURIER", "PACS", "10.0.0.1", 104), counts_reported=counts)


def both(courier: TwoPeers, moved: MoveResult) -> tuple[ArrivalCheck | None, ArrivalCheck]:
    """(the queue's check, or None when the queue does not check; ``move --verify``'s)."""
    target = MoveTarget(study_uid=STUDY)

    async def run() -> tuple[ArrivalCheck | None, ArrivalCheck]:
        queue = None
        if should_check(moved):
            check = arrival_checker(courier, wait=0, interval=1)  # type: ignore[arg-type]
            queue = await check(PACS, WS3, MoveRequest(target=target, destination="WS3"),
                                moved)
        verifier = ArrivalVerifier(courier, PACS, WS3,  # type: ignore[arg-type]
                                   wait=0, interval=1, as_json=True)
        return queue, await verifier._check(target, moved)

    return asyncio.run(run())


@pytest.mark.parametrize(("source", "dest", "moved", "words"), [
    # the PACS reported 3 failures: the 5 it sent are all there (the failures are the
    # send's own outcome, "partial: 5 of 8 … 3 failed")
    ({S1: 8}, {S1: 5}, result(5, 3), "verified at destination: 5/5"),
    ({S1: 4, S2: 4}, {S1: 4, S2: 1}, result(5, 3), "verified at destination: 5/5"),
    ({S1: 4, S2: 4}, {S1: 2, S2: 1}, result(5, 3), "destination has 3 of 5 after 0 s"),
    # everything sent, one series short
    ({S1: 4, S2: 4}, {S1: 4, S2: 1}, result(8), "destination has 5 of 8 after 0 s"),
    # no counts from the PACS: the source's own count is the number
    ({S1: 4, S2: 4}, {S1: 4, S2: 4}, result(0, counts=False), "verified at destination: 8/8"),
    ({S1: 4, S2: 4}, {S1: 4}, result(0, counts=False), "destination has 4 of 8 after 0 s"),
    # no counts anywhere: never "verified 0/0"
    (None, {S1: 2}, result(0, counts=False), "destination has 2 (the PACS reported no count)"),
    # the source's look-up holds fewer than the PACS sent: it cannot make a whole send short
    ({S1: 3}, {S1: 4, S2: 2}, result(6), "verified at destination: 6/6"),
])
def test_both_front_ends_give_the_same_words(source: Mapping[str, int] | None,
                                             dest: Mapping[str, int], moved: MoveResult,
                                             words: str) -> None:
    queue, cli = both(TwoPeers(source, dest), moved)
    assert cli.words() == words
    assert queue is not None and queue.words() == words


def test_nothing_sent_is_not_looked_for_by_either() -> None:
    failed = MoveResult(outcome=MoveOutcome.FAILED, total=None, completed=0, failed=0,
                        warning=0, status=None, duration=0.1, error_comment=None,
                        failed_sop_uids=(), error=None, destination="WS3",
                        peer=Peer("COURIER", "PACS", "10.0.0.1", 104), counts_reported=False,
                        request_sent=False)
    queue, cli = both(TwoPeers({S1: 1}, {S1: 1}), failed)
    assert queue is None
    assert cli.error is not None and "nothing was looked for" in cli.words()
