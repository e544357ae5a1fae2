"""A move that delivered nothing is diagnosed: destination down, unknown to the PACS, or undecided.

Each row is a PACS played by the PDU-level peer (tests/fakes/pdu_peer.py) that answers the
C-MOVE with one status and no image, the way real PACS report a destination they cannot deliver
to (0xA801, DCMTK's 0xA702, 0xB000 or 0x0000 with everything failed, Orthanc's comment-less
0xC000). The destination is a listening storage SCP (our Workstation), a port where nothing
listens, or has no address in the profile. Every row asserts what a person would notice: the
verdict's type (which the retry policy reads), the key words of the title naming the
destination and its address, whether a queued send is retried, and that the follow-up stayed
within its budget.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dicom_courier.core.config.profiles import Destination, PacsNode, Timeouts
from dicom_courier.core.demo.workstation import Workstation
from dicom_courier.core.dimse import destination_check
from dicom_courier.core.dimse.destination_check import (
    FOLLOW_UP_BUDGET,
    DestinationDown,
    DestinationUndecided,
    DestinationUnknown,
    PeerFamily,
    Reach,
    echo_destination,
    family_of,
)
from dicom_courier.core.dimse.diagnose import Check, Verdict, diagnose
from dicom_courier.core.dimse.engine import Courier
from dicom_courier.core.jobs.retry import RetryPolicy
from dicom_courier.core.outcome.events import MoveOutcome, MoveResult
from dicom_courier.core.qr.query import MoveRequest, MoveTarget
from tests.fakes.pdu_peer import C_ECHO_RSP, C_FIND_RSP, C_MOVE_RSP, PduPeer, PeerConnection
from tests.peers import reserve_dead_port

STUDY = "1.2.826.0.1.3680043.8.498.88"
DEST = "WS3"
DCMTK = ("1.2.276.0.7230010.3.0.3.6.7", "OFFIS_DCMTK_367")  # what Orthanc 1.10 sends, too
ORTHANC = ("1.2.826.0.1.3680043.9.7433.1.99", "ORTHANC_1_12_4")
NONE = (None, None, None, None)
#: Slack over the follow-up budget for the move itself on a loaded machine.
SLACK = 1.5


def _pacs_script(status: int, counts: tuple[Any, Any, Any, Any] | None = NONE, *,
                 version: tuple[str, str] | None = None) -> Callable[[PeerConnection], None]:
    """A PACS answering C-ECHO and C-FIND with success and every C-MOVE with ``status``."""
    def script(conn: PeerConnection) -> None:
        kwargs: dict[str, Any] = {}
        if version is not None:
            kwargs = {"implementation_uid": version[0], "version_name": version[1]}
        conn.accept(**kwargs)
        request = conn.read_request()
        assert request is not None
        field = request.command_field()
        if field == 0x0030:
            conn.respond(request, C_ECHO_RSP, 0x0000)
        elif field == 0x0020:
            conn.respond(request, C_FIND_RSP, 0x0000)
        else:
            conn.respond(request, C_MOVE_RSP, status, counts=counts)
        conn.release_if_asked()
    return script


@pytest.fixture
def dead_port() -> Iterator[int]:
    sock = reserve_dead_port()
    try:
        yield int(sock.getsockname()[1])
    finally:
        sock.close()


@pytest.fixture
def workstation(tmp_path: Path) -> Iterator[Workstation]:
    with Workstation(tmp_path / "ws3", ae_title=DEST) as ws:
        yield ws


def _node(port: int, dest: Destination | None) -> PacsNode:
    return PacsNode(name="rig", called_aet="PACS", host="127.0.0.1", port=port,
                    timeouts=Timeouts(connect=3, acse=5, idle=5),
                    destinations=(dest,) if dest is not None else ())


def _move(script: Callable[[PeerConnection], None],
          dest: Destination | None) -> tuple[MoveResult, float]:
    with PduPeer(script) as peer, Courier() as courier:
        async def scenario() -> MoveResult:
            return await courier.move(_node(peer.port, dest),
                                      MoveRequest(MoveTarget(STUDY), DEST)).run()
        started = time.monotonic()
        result = asyncio.run(scenario())
        return result, time.monotonic() - started


def _retries(result: MoveResult) -> int:
    """How many automatic retries the queue's default policy grants this result."""
    policy = RetryPolicy()
    attempt = 1
    while policy.next_delay(result, attempt) is not None:
        attempt += 1
    return attempt - 1


DOWN, LISTENING, NO_ADDRESS = "down", "listening", "no address"


# ---------------------------------------------------------------- the rows


@pytest.mark.parametrize(("status", "counts", "version", "where", "kind", "title", "retries"), [
    # 0xA801: pynetdicom-based PACS say it also for a known destination that is down.
    pytest.param(0xA801, NONE, None, DOWN, DestinationDown,
                 "WS3 did not answer at 127.0.0.1:{port} — is it running", 3, id="A801-down"),
    pytest.param(0xA801, NONE, None, LISTENING, DestinationUnknown,
                 "PACS does not know the destination WS3", 0, id="A801-listening"),
    pytest.param(0xA801, NONE, None, NO_ADDRESS, DestinationUnknown,
                 "PACS does not know the destination WS3", 0, id="A801-no-address"),
    # 0xA702: DCMTK's dcmqrscp when the destination does not listen (all sub-operations failed).
    pytest.param(0xA702, (None, 0, 6, 0), DCMTK, DOWN, DestinationDown,
                 "WS3 did not answer at 127.0.0.1:{port} — is it running", 3, id="A702-down"),
    pytest.param(0xA702, (None, 0, 6, 0), DCMTK, LISTENING, DestinationUndecided,
                 "PACS could not send any image to WS3", 1, id="A702-listening"),
    pytest.param(0xA702, (None, 0, 6, 0), DCMTK, NO_ADDRESS, DestinationUndecided,
                 "PACS could not send any image to WS3", 1, id="A702-no-address"),
    # 0xB000 / 0x0000 with nothing sent.
    pytest.param(0xB000, (0, 0, 3, 0), None, DOWN, DestinationDown,
                 "WS3 did not answer at 127.0.0.1:{port}", 3, id="B000-all-failed-down"),
    pytest.param(0xB000, (0, 0, 3, 0), None, LISTENING, DestinationUndecided,
                 "PACS could not send any image to WS3", 1, id="B000-all-failed-listening"),
    pytest.param(0x0000, (0, 0, 2, 0), None, DOWN, DestinationDown,
                 "WS3 did not answer at 127.0.0.1:{port}", 3, id="0000-all-failed-down"),
    # Orthanc: comment-less 0xC000, no sub-operation, whatever the cause.
    pytest.param(0xC000, (None, 0, 0, 0), DCMTK, DOWN, DestinationDown,
                 "WS3 did not answer at 127.0.0.1:{port}", 3, id="C000-orthanc-down"),
    pytest.param(0xC000, (None, 0, 0, 0), DCMTK, LISTENING, DestinationUndecided,
                 "PACS most likely does not have WS3 in its list of DICOM nodes, or cannot "
                 "reach it", 1, id="C000-orthanc-listening"),
    pytest.param(0xC000, NONE, ORTHANC, NO_ADDRESS, DestinationUndecided,
                 "PACS most likely does not have WS3 in its list of DICOM nodes, or cannot "
                 "reach it", 1, id="C000-orthanc-no-address"),
])
@pytest.mark.network
def test_a_move_that_delivered_nothing_is_diagnosed(
        status: int, counts: tuple[Any, Any, Any, Any], version: tuple[str, str] | None,
        where: str, kind: type, title: str, retries: int, request: pytest.FixtureRequest
) -> None:
    if where == DOWN:
        port = request.getfixturevalue("dead_port")
        dest: Destination | None = Destination(DEST, "127.0.0.1", port)
    elif where == LISTENING:
        port = request.getfixturevalue("workstation").port
        dest = Destination(DEST, "127.0.0.1", port)
    else:
        port, dest = 0, None
    result, seconds = _move(_pacs_script(status, counts, version=version), dest)

    assert result.outcome is MoveOutcome.FAILED and result.completed == 0
    assert type(result.error) is kind, result.error and result.error.render()
    error = result.error
    assert title.format(port=port) in error.title
    assert error.status == status and result.status == status
    assert error.details["DIMSE status"] == f"0x{status:04X}"  # the raw facts stay
    assert error.details["Move destination"] == DEST
    # Counts the PACS never sent are "not reported", never "0 sent, 0 failed".
    if counts is NONE:
        assert error.details["Images"] == "the PACS did not report image counts"
    # Said when the send is over (retries included): never a promise of another try.
    assert "automatically" not in error.action and "try once more" not in error.action
    assert _retries(result) == retries
    assert seconds < FOLLOW_UP_BUDGET + SLACK
    if where == LISTENING:
        assert f"WS3 itself answers at 127.0.0.1:{port}" in error.explanation \
            or "running at" in error.explanation
    if where == NO_ADDRESS:
        assert error.echo.reach is Reach.UNCHECKED
        assert "not saved in the profile" in error.details["Destination address"]


@pytest.mark.network
def test_orthanc_names_the_destination_first_and_where_orthanc_keeps_it() -> None:
    result, _ = _move(_pacs_script(0xC000, (None, 0, 0, 0), version=DCMTK), None)
    error = result.error
    assert isinstance(error, DestinationUndecided)
    assert error.title.startswith("PACS most likely does not have WS3")
    causes = error.explanation.split("Likely causes, most likely first:")[1]
    assert causes.index("not in PACS's list of DICOM nodes") < causes.index("no longer")
    assert '"DicomModalities"' in error.action and "/modalities" in error.action
    assert "announces itself as DCMTK" in error.explanation
    assert "disk space" not in error.render()


@pytest.mark.network
def test_a702_for_a_switched_off_destination_is_not_called_busy(dead_port: int) -> None:
    """The example of the issue: dcmqrscp's 0xA702 read "the PACS is busy … try later"."""
    result, _ = _move(_pacs_script(0xA702, (None, 0, 6, 0), version=DCMTK),
                      Destination(DEST, "127.0.0.1", dead_port))
    text = result.error.render() if result.error else ""
    assert "busy" not in text and "short of memory" not in text
    assert f"port {dead_port}" in text and "HostTable" not in result.error.title  # type: ignore


@pytest.mark.parametrize(("status", "counts"), [
    (0xB000, (0, 2, 1, 0)),  # something arrived: partial, not a destination fault
    (0x0000, (0, 0, 0, 0)),  # explicit zeros: nothing matched
    (0xB000, (0, 0, 0, 0)),  # explicit zeros, whatever the final status: nothing matched
])
@pytest.mark.network
def test_moves_that_delivered_something_or_matched_nothing_are_left_alone(
        status: int, counts: tuple[int, int, int, int], dead_port: int,
        monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []
    monkeypatch.setattr(destination_check, "echo_destination",
                        lambda *a, **k: calls.append(a))  # must not be called
    result, _ = _move(_pacs_script(status, counts), Destination(DEST, "127.0.0.1", dead_port))
    assert calls == []
    assert not isinstance(result.error, destination_check.DestinationFault)


# ---------------------------------------------------------------- the budget


@pytest.mark.network
def test_a_destination_that_accepts_and_never_answers_is_bounded() -> None:
    """TCP accepted, A-ASSOCIATE never answered: our timers end the echo well within 3 s."""
    def silent(conn: PeerConnection) -> None:
        conn.read_associate_rq()
    with PduPeer(silent) as peer:
        node = _node(1, None)
        started = time.monotonic()
        found = echo_destination(node, Destination(DEST, "127.0.0.1", peer.port))
        seconds = time.monotonic() - started
    assert found.reach is Reach.SILENT and "no DICOM answer" in found.finding
    assert seconds <= FOLLOW_UP_BUDGET


def test_the_budget_holds_even_when_our_own_timers_do_not(monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    """A name lookup that hangs is outside our association timers: the budget still ends it."""
    release = threading.Event()

    def hangs(*_args: object) -> None:
        release.wait(30)
        raise OSError("the lookup failed after all")

    monkeypatch.setattr(destination_check, "echo_blocking", hangs)
    try:
        started = time.monotonic()
        found = echo_destination(_node(1, None), Destination(DEST, "slow.example", 104),
                                 budget=0.5)
        seconds = time.monotonic() - started
    finally:
        release.set()
    assert found.reach is Reach.SILENT and "no answer within 0.5 s" in found.finding
    assert seconds <= 0.5


# ---------------------------------------------------------------- who the PACS is


@pytest.mark.parametrize(("implementation", "family"), [
    (("1.2.276.0.7230010.3.0.3.6.7", "OFFIS_DCMTK_367"), PeerFamily.DCMTK),  # dcmqrscp, Orthanc
    (("1.2.826.0.1.3680043.9.7433.1.99", "ORTHANC_1_12_4"), PeerFamily.ORTHANC),
    (("1.2.826.0.1.3680043.9.3811.2.1.0", "PYNETDICOM_210"), PeerFamily.PYNETDICOM),
    (("1.3.51.0.42.1.1", ""), PeerFamily.OTHER),
    (("", ""), PeerFamily.OTHER),
])
def test_the_peer_family_comes_from_its_association_answer(
        implementation: tuple[str, str], family: PeerFamily) -> None:
    assert family_of(implementation) is family


# ---------------------------------------------------------------- nodes test


@pytest.mark.network
def test_nodes_test_uses_the_same_diagnosis(dead_port: int) -> None:
    """Orthanc-like probe answer, destination down: "cannot tell while WS3 does not answer"
    and the reach check in the diagnosis's own words (one echo, from the probe)."""
    with PduPeer(_pacs_script(0xC000, (None, 0, 0, 0), version=DCMTK)) as peer, \
            Courier() as courier:
        node = _node(peer.port, Destination(DEST, "127.0.0.1", dead_port))

        async def scenario() -> list[Check]:
            return [check async for check in diagnose(courier, node)]
        checks = asyncio.run(scenario())
        move_associations = len(peer.connections)
    assert [c.verdict for c in checks] == [Verdict.OK, Verdict.OK, Verdict.UNCLEAR,
                                           Verdict.FAILED]
    assert "cannot tell while WS3 does not answer" in checks[2].answer
    assert isinstance(checks[2].error, DestinationDown)
    assert f"WS3 did not answer at 127.0.0.1:{dead_port}" in checks[3].answer
    assert "nothing listens on that port" in checks[3].answer
    assert move_associations == 3  # echo, search, probe move
