"""Who ended the operation, and why, in the words a person can act on (PS3.8 9.3.8).

Each row: a PDU-level peer that answers our request with some responses, then an A-ABORT with
a given source and reason (or just closes). The title names what happened; the "register our
AE title" advice appears only where it fits (an application abort, or a close, right after
our first request: what Orthanc does for an AE title it does not know); a provider abort with
a protocol reason points at the PACS vendor and is not retried.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from dicom_courier.core.dimse.abort_report import PeerRejectedOurData
from dicom_courier.core.outcome.errors import AssociationAborted
from tests.core.test_hostile_peer import PEER_AET, _after_request, _find, _move
from tests.fakes.pdu_peer import C_FIND_RSP, C_MOVE_RSP, PeerConnection, abort

#: Every test here talks DICOM over loopback TCP (see tests/conftest.py).
pytestmark = pytest.mark.network


def _then_abort(source: int | None, reason: int = 0) -> Callable[[PeerConnection], None]:
    def misbehave(conn: PeerConnection) -> None:
        if source is None:
            conn.sock.close()
        else:
            conn.send(abort(source, reason))
    return misbehave


@pytest.mark.parametrize(("answers", "source", "reason", "title", "advice", "aborted_by"), [
    (0, 0, 0, "ended the connection right after our search.", "register our AE title",
     "DICOM application"),
    (0, None, 0, "ended the connection right after our search.", "register our AE title",
     "without an A-ABORT"),
    (2, 0, 0, "aborted the search.", "check the PACS's log", "DICOM application"),
    (1, 2, 0, "'s DICOM network layer aborted the search (no reason given).",
     "check the PACS's log", "network layer"),
    (0, 2, 6, " stopped the search: its DICOM network layer rejected our message (invalid PDU "
     "parameter value).", "PACS vendor", "network layer"),
    (1, 1, 0, "aborted the search.", "PACS vendor", "undefined A-ABORT source 1"),
])
def test_who_ended_the_search_is_named(answers: int, source: int | None, reason: int,
                                       title: str, advice: str, aborted_by: str) -> None:
    outcome = _find(_after_request(_then_abort(source, reason), good_rows=answers), idle=5.0)
    error = outcome.error
    assert isinstance(error, AssociationAborted), error
    assert error.title.startswith(PEER_AET) and error.title.endswith(title), error.title
    assert advice in error.action
    assert ("register our AE title" in error.action) == (answers == 0 and source in (None, 0))
    assert aborted_by in error.details["Aborted by"]
    assert len(outcome.rows) == answers
    assert outcome.seconds < 2


def test_a_protocol_abort_of_a_send_is_not_retried_and_points_at_the_vendor() -> None:
    outcome = _move(_after_request(_then_abort(2, 4), pending=C_MOVE_RSP), idle=5.0)
    assert isinstance(outcome.error, PeerRejectedOurData), outcome.error
    assert not outcome.error.retryable
    assert "unrecognized PDU parameter" in outcome.error.title
    assert "PACS vendor" in outcome.error.action


def test_an_application_abort_right_after_a_send_request_gives_the_registration_advice() -> None:
    outcome = _move(_after_request(_then_abort(0), pending=C_MOVE_RSP), idle=5.0)
    assert isinstance(outcome.error, AssociationAborted), outcome.error
    assert outcome.error.title == f"{PEER_AET} ended the connection right after our send request."
    assert "not allow it to retrieve" in outcome.error.explanation
    assert "register our AE title COURIER" in outcome.error.action


def test_a_search_abort_after_answers_keeps_them() -> None:
    outcome = _find(_after_request(_then_abort(0), good_rows=3, pending=C_FIND_RSP))
    assert len(outcome.rows) == 3
