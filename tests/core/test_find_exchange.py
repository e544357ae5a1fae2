"""Issue 10: one C-FIND exchange (core/dimse/find_exchange.py) for the search and for the
Patient ID look-up of a Patient Root move.

The look-up used to carry its own copy of the response loop; it now reads the search's
exchange and names an early end with the search's decision (core/dimse/find_exchange.py
``early_end``) in its own words, which say that no move request was sent. The search's side
is pinned by tests/core/test_hostile_peer.py; these rows pin the look-up's side, which had
no hostile-peer rows: a PACS answering the look-up against the protocol, one that goes
silent, and a cancel while it is silent. (They also pass on the old loop: the move keeps
its behaviour.)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from dicom_courier.core.config.profiles import PacsNode, Timeouts
from dicom_courier.core.dimse.engine import Courier
from dicom_courier.core.outcome.errors import (
    Cancelled,
    PeerTimeout,
    ProtocolViolation,
)
from dicom_courier.core.outcome.events import MoveOutcome, MoveResult
from dicom_courier.core.qr.query import MoveRequest, MoveTarget, QueryModel
from tests.fakes.pdu_peer import (
    C_MOVE_RQ,
    C_MOVE_RSP,
    PduPeer,
    PeerConnection,
    p_data,
    pdv,
    response_command,
)
from tests.fakes.read_paths import READ_PATHS, use_read_path

#: Every test here talks DICOM over loopback TCP (see tests/conftest.py).
pytestmark = pytest.mark.network


@pytest.fixture(autouse=True, params=READ_PATHS)
def read_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test here runs on our lean response reader and on pynetdicom's."""
    return use_read_path(monkeypatch, request.param)

STUDY = "1.2.826.0.1.3680043.8.498.78"
PEER_AET = "LOOKUP"


def _move_response_to_our_find(conn: PeerConnection) -> None:
    request = conn.last_request
    assert request is not None
    conn.send(p_data(pdv(1, response_command(C_MOVE_RSP, request.affected_sop_class(), 1,
                                             0x0000, counts=(0, 0, 0, 0)),
                         command=True, last=True)))


def _response_to_another_message(conn: PeerConnection) -> None:
    request = conn.last_request
    assert request is not None
    conn.send(p_data(pdv(1, response_command(0x8020, request.affected_sop_class(), 77,
                                             0x0000), command=True, last=True)))


def _silence(conn: PeerConnection) -> None:
    conn.wait_closed(10)


class _PatientRootOnly:
    """Accepts every association; the first (the move's model choice) is released, the
    second gets the look-up's C-FIND and answers it with ``misbehave``. Records whether a
    C-MOVE request ever arrived."""

    def __init__(self, misbehave: Callable[[PeerConnection], None]) -> None:
        self.misbehave = misbehave
        self.moves = 0

    def __call__(self, conn: PeerConnection) -> None:
        conn.accept()
        request = conn.read_request(timeout=5)
        if request is None:  # the model-choice association: released unused
            return
        if request.command_field() == C_MOVE_RQ:
            self.moves += 1
            return
        self.misbehave(conn)


def _send_without_patient_id(script: _PatientRootOnly, *, idle: float = 5.0,
                             cancel_after: float | None = None) -> tuple[MoveResult, float]:
    with PduPeer(script) as peer, Courier(cancel_grace=0.5) as courier:
        node = PacsNode(name="lookup", called_aet=PEER_AET, host="127.0.0.1", port=peer.port,
                        timeouts=Timeouts(connect=3, acse=5, idle=idle, total=None))

        async def scenario() -> MoveResult:
            op = courier.move(node, MoveRequest(MoveTarget(STUDY), "WS",
                                                model=QueryModel.PATIENT))
            if cancel_after is not None:
                asyncio.get_running_loop().call_later(cancel_after, op.cancel)
            return await op.run()

        started = time.monotonic()
        result = asyncio.run(scenario())
        return result, time.monotonic() - started


@pytest.mark.parametrize("misbehave", [
    pytest.param(_move_response_to_our_find, id="a C-MOVE-RSP to the look-up's C-FIND"),
    pytest.param(_response_to_another_message, id="a C-FIND-RSP to another message"),
])
def test_a_look_up_answered_against_the_protocol_is_named_like_a_search(
        misbehave: Callable[[PeerConnection], None],
        capfd: pytest.CaptureFixture[str]) -> None:
    script = _PatientRootOnly(misbehave)
    result, seconds = _send_without_patient_id(script)
    error = result.error
    assert result.outcome is MoveOutcome.FAILED
    assert isinstance(error, ProtocolViolation), error
    assert error.title == f"{PEER_AET} sent data that is not valid DICOM."
    assert error.extra_details.get("Move request sent") == "no"
    assert script.moves == 0
    assert seconds < 3, "ended at once, not at the idle timeout"
    assert "Traceback" not in capfd.readouterr().err


def test_a_look_up_that_gets_no_answer_ends_at_the_idle_timeout_and_sends_nothing() -> None:
    script = _PatientRootOnly(_silence)
    result, seconds = _send_without_patient_id(script, idle=1.0)
    error = result.error
    assert isinstance(error, PeerTimeout), error
    assert error.title == f"{PEER_AET} stopped answering for 1 s."
    assert "No move request was sent" in error.explanation
    assert script.moves == 0
    assert seconds < 4


def test_cancel_during_a_silent_look_up_says_nothing_was_sent() -> None:
    script = _PatientRootOnly(_silence)
    result, seconds = _send_without_patient_id(script, idle=10.0, cancel_after=0.5)
    assert result.outcome is MoveOutcome.CANCELLED, result
    assert isinstance(result.error, Cancelled), result.error
    assert result.error.title == "The send was cancelled."
    assert "no move request was sent" in result.error.explanation
    assert script.moves == 0
    assert seconds < 4, "C-CANCEL, then A-ABORT after the 0.5 s grace"
