"""retrieve_here: the profile's retrieve method picks C-MOVE to us, C-GET, or automatic.

A fake courier plays scripted moves and gets (no sockets): which operation ran with which
destination, and what the one result says, are what the queue row and the CLI show.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from dicom_courier.core.config.profiles import PacsNode
from dicom_courier.core.config.retrieve_method import (
    RetrieveMethod,
    parse_retrieve_method,
)
from dicom_courier.core.dimse.arrival_hub import ArrivalHub
from dicom_courier.core.dimse.retrieve_here import C_GET_NOTE, NO_RECEIVER_NOTE, retrieve_here
from dicom_courier.core.outcome.arrival import HERE
from dicom_courier.core.outcome.errors import InvalidInput, MoveDestinationUnknown, Peer
from dicom_courier.core.outcome.events import MoveOutcome, MoveProgress, MoveResult
from dicom_courier.core.qr.query import MoveRequest, MoveTarget

PEER = Peer("COURIER", "PACS", "127.0.0.1", 104)
STUDY = "1.2.3.4"


def _progress(status: int, completed: int, remaining: int = 0) -> MoveProgress:
    return MoveProgress(remaining=remaining, completed=completed, failed=0, warning=0,
                        total=remaining + completed, status=status, elapsed=0.1,
                        is_final=status != 0xFF00)


def _result(status: int, completed: int, outcome: MoveOutcome, destination: str,
            *, pending: bool = False) -> MoveResult:
    error = None if outcome is MoveOutcome.COMPLETED else MoveDestinationUnknown(
        "PACS does not know the destination COURIER.", "", "", peer=PEER, status=status)
    return MoveResult(outcome=outcome, total=completed, completed=completed, failed=0,
                      warning=0, status=status, duration=0.1, error_comment=None,
                      failed_sop_uids=(), error=error, destination=destination, peer=PEER,
                      pending_counted=pending)


@dataclass
class FakeOp:
    events: list[MoveProgress]
    final: MoveResult
    cancelled: bool = False

    def __aiter__(self) -> AsyncIterator[MoveProgress]:
        return self._run()

    async def _run(self) -> AsyncIterator[MoveProgress]:
        for event in self.events:
            await asyncio.sleep(0)
            yield event

    @property
    def result(self) -> MoveResult:
        return self.final

    def cancel(self) -> None:
        self.cancelled = True

    def abort(self) -> None:
        self.cancelled = True


@dataclass
class FakeCourier:
    move_answer: FakeOp
    get_answer: FakeOp
    calls: list[tuple[str, str]] = field(default_factory=list)

    def move(self, pacs: PacsNode, request: MoveRequest) -> FakeOp:
        self.calls.append(("move", request.destination))
        return self.move_answer

    def get(self, pacs: PacsNode, request: MoveRequest, *, folder: Path, our_aet: str,
            hub: ArrivalHub) -> FakeOp:
        self.calls.append(("get", our_aet))
        return self.get_answer


def _unknown() -> FakeOp:
    return FakeOp([_progress(0xA801, 0)], _result(0xA801, 0, MoveOutcome.FAILED, "COURIER"))


def _got(n: int) -> FakeOp:
    return FakeOp([_progress(0xFF00, 1, n - 1), _progress(0x0000, n)],
                  _result(0x0000, n, MoveOutcome.COMPLETED, HERE))


def _run(courier: FakeCourier, method: RetrieveMethod
         ) -> tuple[list[MoveProgress], MoveResult]:
    pacs = PacsNode(name="p", called_aet="PACS", host="127.0.0.1", port=104, retrieve=method)
    running = retrieve_here(courier, pacs, MoveRequest(MoveTarget(STUDY), HERE),
                            receiver_aet="COURIER", folder=Path("/nonexistent"),
                            hub=ArrivalHub())

    async def scenario() -> list[MoveProgress]:
        return [p async for p in running]
    events = asyncio.run(scenario())
    return events, running.result


def test_move_asks_the_pacs_to_send_to_our_receiver_ae() -> None:
    courier = FakeCourier(FakeOp([_progress(0x0000, 3)],
                                 _result(0x0000, 3, MoveOutcome.COMPLETED, "COURIER")), _got(9))
    _, result = _run(courier, RetrieveMethod.MOVE)
    assert courier.calls == [("move", "COURIER")]
    assert result.outcome is MoveOutcome.COMPLETED and result.destination == HERE


def test_get_never_asks_for_a_move() -> None:
    courier = FakeCourier(_unknown(), _got(4))
    events, result = _run(courier, RetrieveMethod.GET)
    assert courier.calls == [("get", "COURIER")]
    assert result.completed == 4 and events[-1].is_final


def test_auto_falls_back_to_get_on_a801_with_nothing_sent_and_says_so() -> None:
    courier = FakeCourier(_unknown(), _got(6))
    events, result = _run(courier, RetrieveMethod.AUTO)
    assert courier.calls == [("move", "COURIER"), ("get", "COURIER")]
    assert result.outcome is MoveOutcome.COMPLETED and result.completed == 6
    assert result.note == ("PACS does not know COURIER as a destination; retrieved with "
                           "C-GET instead")
    assert all(e.status != 0xA801 for e in events)  # the move's end is not shown as the end
    assert events[-1].is_final and events[-1].completed == 6


def test_auto_keeps_a_move_that_failed_after_images_arrived() -> None:
    move = FakeOp([_progress(0xFF00, 2, 3), _progress(0xA801, 2)],
                  _result(0xA801, 2, MoveOutcome.FAILED, "COURIER", pending=True))
    courier = FakeCourier(move, _got(6))
    events, result = _run(courier, RetrieveMethod.AUTO)
    assert courier.calls == [("move", "COURIER")]
    assert result.outcome is MoveOutcome.FAILED and events[-1].status == 0xA801


def test_auto_does_not_fall_back_after_a_cancel() -> None:
    move = FakeOp([_progress(0xFF00, 0), _progress(0xA801, 0)],
                  _result(0xA801, 0, MoveOutcome.FAILED, "COURIER"))
    courier = FakeCourier(move, _got(6))
    pacs = PacsNode(name="p", called_aet="PACS", host="h", port=104,
                    retrieve=RetrieveMethod.AUTO)
    running = retrieve_here(courier, pacs, MoveRequest(MoveTarget(STUDY), HERE),
                            receiver_aet="COURIER", folder=Path("/x"), hub=ArrivalHub())

    async def scenario() -> None:
        async for _ in running:
            running.cancel()
    asyncio.run(scenario())
    assert courier.calls == [("move", "COURIER")]
    assert courier.move_answer.cancelled
    assert running.result.status == 0xA801


def test_a_move_the_pacs_will_not_send_to_us_says_c_get_needs_no_address() -> None:
    """The default method is C-MOVE: a PACS that does not know this computer answers 0xA801
    (Orthanc: a bare 0xC000). The words say what fixes it here, the retrieve method, and do
    not ask to save the receiver's address in the PACS profile (it is this computer)."""
    refused = _result(0xA801, 0, MoveOutcome.FAILED, "COURIER")
    assert refused.error is not None
    refused.error.explanation = (
        "PACS answered 0xA801. (Save COURIER's address as AET@HOST:PORT in the profile and "
        "Courier checks whether it answers.)")
    refused.error.action = "Check PACS's list of DICOM nodes for COURIER."
    courier = FakeCourier(FakeOp([_progress(0xA801, 0)], refused), _got(6))
    _, result = _run(courier, RetrieveMethod.MOVE)
    assert courier.calls == [("move", "COURIER")]  # never a C-GET unasked
    error = result.error
    assert isinstance(error, MoveDestinationUnknown)  # the fact stays what it was
    assert "Save COURIER's address" not in error.explanation
    assert "this computer's built-in receiver" in error.explanation
    assert "Check PACS's list of DICOM nodes for COURIER." in error.action
    assert "retrieve method" in error.action and "C-GET" in error.action
    assert "--retrieve auto" in error.command_line_action
    assert "nodes add p" in error.command_line_action


def test_images_our_receiver_refused_are_said_first() -> None:
    """Our receiver refused the PACS's images (a full disk) while the C-MOVE ran; the PACS
    then ended it with a bare 0xC000. The result says what this computer refused."""
    hub = ArrivalHub()

    class RefusingOp(FakeOp):
        async def _run(self) -> AsyncIterator[MoveProgress]:
            hub.refused("An instance from PACS could not be stored in /in: the disk is full.",
                        calling_aet="PACS", address="127.0.0.1", status=0xA700)
            async for event in super()._run():
                yield event

    move = RefusingOp([_progress(0xC000, 0)],
                      _result(0xC000, 0, MoveOutcome.FAILED, "COURIER"))
    courier = FakeCourier(move, _got(6))
    pacs = PacsNode(name="p", called_aet="PACS", host="127.0.0.1", port=104,
                    retrieve=RetrieveMethod.MOVE)
    running = retrieve_here(courier, pacs, MoveRequest(MoveTarget(STUDY), HERE),
                            receiver_aet="COURIER", folder=Path("/in"), hub=hub)

    async def scenario() -> None:
        async for _ in running:
            pass
    asyncio.run(scenario())
    error = running.result.error
    assert error is not None
    assert error.title == "This computer could not store 1 image(s) PACS sent."
    assert "the disk is full" in error.explanation and "0xC000" in error.explanation
    assert "/in" in error.action
    assert "retrieve method" not in error.action  # C-GET would meet the same full disk


def test_profile_retrieve_method_round_trips_and_old_files_load() -> None:
    node = PacsNode(name="p", called_aet="PACS", host="h", port=104,
                    retrieve=RetrieveMethod.AUTO)
    data = node.to_json()
    assert data["retrieve"] == "auto"
    assert PacsNode.from_json(data).retrieve is RetrieveMethod.AUTO
    del data["retrieve"]  # a nodes.json written before issue 13
    assert PacsNode.from_json(data).retrieve is RetrieveMethod.MOVE


@pytest.mark.parametrize("bad", ["fetch", "", 3, None])
def test_a_bad_retrieve_method_names_the_field_and_the_rule(bad: Any) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_retrieve_method(bad, "--retrieve")
    assert caught.value.title.startswith("--retrieve: must be move, get or auto")


def test_a_get_says_it_used_c_get_wherever_it_runs() -> None:
    """The note is the retrieve's own, so the window, ``move --dest @here`` and ``queue run``
    record the same words ("completed (retrieved with C-GET)") for the same send."""
    courier = FakeCourier(_unknown(), _got(4))
    _, result = _run(courier, RetrieveMethod.GET)
    assert result.note == C_GET_NOTE


def test_an_automatic_retrieve_without_a_receiver_says_why_it_used_c_get() -> None:
    courier = FakeCourier(_unknown(), _got(4))
    pacs = PacsNode(name="p", called_aet="PACS", host="127.0.0.1", port=104,
                    retrieve=RetrieveMethod.GET)
    running = retrieve_here(courier, pacs, MoveRequest(MoveTarget(STUDY), HERE),
                            receiver_aet="COURIER", folder=Path("/nonexistent"),
                            hub=ArrivalHub(), get_note=NO_RECEIVER_NOTE)
    asyncio.run(running.run())
    assert courier.calls == [("get", "COURIER")]
    assert running.result.note == NO_RECEIVER_NOTE
    assert "receiver is not running" in NO_RECEIVER_NOTE
