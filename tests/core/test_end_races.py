"""Issue 9 §3-4, a hostile peer's review: the end of an association under races and misuse.

One row per finding, each driven through the PDU-level peer (tests/fakes/pdu_peer.py):

- F1: PACS that never answer A-RELEASE-RQ must not make a healthy PACS get aborted (our
  A-RELEASE-RQ goes out at the hand-over; release threads only collect the answers).
- F2: a cancel or abort that lands after the final response (``find --limit N`` on a PACS
  with exactly N matches, Esc or a queue cancel just after the result) does nothing: the
  association is released, not aborted.
- F3: a PACS that ends the association in reply to our C-CANCEL (A-ABORT, a TCP close, or
  its own A-RELEASE-RQ, which we answer) ended the search as we asked: ``--limit`` prints
  the rows and exits 0; a person's cancel is "cancelled".
- F4: a move the PACS ended that way never confirmed the cancel: the rest may still arrive.
- F5: a C-CANCEL cannot leave after our A-RELEASE-RQ (pynetdicom: Evt9 in Sta7, a dead reader).
- F6: a PACS that closes right after its final response never holds a release thread.
Races are made deterministic by running the late step at the exact point it lands.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydicom.dataset import Dataset
from pynetdicom.association import Association

from dicom_courier.core.cli.main import run
from dicom_courier.core.config.profiles import PacsNode, Timeouts
from dicom_courier.core.dimse import find_exchange as find_module
from dicom_courier.core.dimse.engine import Courier
from dicom_courier.core.dimse.transport import quiet_pynetdicom
from dicom_courier.core.outcome.decide import summary_phrase
from dicom_courier.core.outcome.events import MoveOutcome
from dicom_courier.core.qr.query import FindQuery, MoveRequest, MoveTarget
from tests.fakes.pdu_peer import (
    ABORT,
    ASSOCIATE_RQ,
    C_FIND_RSP,
    C_MOVE_RSP,
    P_DATA,
    RELEASE_RP,
    RELEASE_RQ,
    PduPeer,
    PeerConnection,
    abort,
    encode_dataset,
    p_data,
    pdu,
    pdv,
    release_rp,
    response_command,
)
from tests.fakes.read_paths import READ_PATHS, use_read_path
from tests.waiting import until

#: Every test here talks DICOM over loopback TCP (see tests/conftest.py).
pytestmark = pytest.mark.network


@pytest.fixture(autouse=True, params=READ_PATHS)
def read_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test here runs on our lean response reader and on pynetdicom's."""
    return use_read_path(monkeypatch, request.param)

Script = Callable[[PeerConnection], None]
STUDY = "1.2.826.0.1.3680043.8.498.31"


def _node(port: int) -> PacsNode:
    return PacsNode(name="races", called_aet="RACES", host="127.0.0.1", port=port,
                    timeouts=Timeouts(connect=3, acse=30, idle=30))


def _match(i: int = 0) -> bytes:
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    ds.StudyInstanceUID = f"1.2.826.0.1.3680043.8.498.{31 + i}"
    return encode_dataset(ds)


def _ends(peer: PduPeer) -> list[list[int]]:
    """The release and abort PDUs each connection received, in order."""
    return [[t for t in c.received.pdu_types if t in (RELEASE_RQ, RELEASE_RP, ABORT)]
            for c in peer.connections]


def _finds(matches: int, after_final: Script) -> Script:
    """Answers one C-FIND with ``matches`` matches and the final response, all in one TCP
    send (they are all queued before our worker reads the first), then ``after_final``."""
    def script(conn: PeerConnection) -> None:
        conn.accept()
        request = conn.read_request()
        assert request is not None
        data = b""
        for i in range(matches):
            command = response_command(C_FIND_RSP, request.affected_sop_class(),
                                       request.message_id(), 0xFF00, has_data_set=True)
            data += p_data(pdv(request.context_id, command, command=True, last=True))
            data += p_data(pdv(request.context_id, _match(i), command=False, last=True))
        final = response_command(C_FIND_RSP, request.affected_sop_class(),
                                 request.message_id(), 0x0000)
        conn.send(data + p_data(pdv(request.context_id, final, command=True, last=True)))
        after_final(conn)
    return script


def _answers_release(delay: float = 0.0) -> Script:
    def after(conn: PeerConnection) -> None:
        end = time.monotonic() + 5
        while time.monotonic() < end:
            got = conn.read_pdu(timeout=end - time.monotonic())
            if got is None or got[0] == ABORT:
                return
            if got[0] == RELEASE_RQ:
                time.sleep(delay)
                conn.send(release_rp())
                return
    return after


def _never_answers(conn: PeerConnection) -> None:
    """Ignores our A-RELEASE-RQ (the connection stays open until we close it)."""


# ---------------------------------------------------------------- F1


def test_pacs_that_never_release_do_not_get_a_healthy_pacs_aborted() -> None:
    """Seen: 4 never-answering releases held the 4 release threads 2 s each; the healthy
    PACS's releases, queued behind them, had used their 2 s before they started: it got
    A-RELEASE-RQ + A-ABORT, or only an A-ABORT. Six here, more than the threads."""
    arrived: list[float] = []

    def healthy(conn: PeerConnection) -> None:
        got = conn.read_pdu(timeout=5)
        arrived.append(time.monotonic())
        if got is not None and got[0] == RELEASE_RQ:
            time.sleep(0.1)
            conn.send(release_rp())

    with PduPeer(_finds(1, _never_answers)) as bad, PduPeer(_finds(1, healthy)) as good, \
            Courier() as courier:
        async def scenario() -> float:
            await asyncio.gather(*[_find(courier, bad.port) for _ in range(6)])
            started = time.monotonic()
            results = await asyncio.gather(*[_find(courier, good.port) for _ in range(3)])
            assert all(result.error is None for result in results)
            return started

        started = asyncio.run(scenario())
        assert courier.releaser.wait_idle(2.0 + 1.5)
        time.sleep(0.2)
        bad_ends, good_ends = _ends(bad), _ends(good)
    assert good_ends == [[RELEASE_RQ]] * 3, "a healthy PACS gets a proper release"
    assert all(at - started < 0.5 for at in arrived), "its A-RELEASE-RQ went out at once"
    assert bad_ends == [[RELEASE_RQ, ABORT]] * 6


async def _find(courier: Courier, port: int, **kwargs: Any) -> Any:
    op = courier.find(_node(port), FindQuery(), **kwargs)
    async for _match_row in op:
        pass
    return op.result


# ---------------------------------------------------------------- F2


@pytest.fixture
def late_step(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Callable[[], None]]]:
    """Steps to run on the loop *after* the find's worker detached from its request and
    before it hands the association over: where a late cancel lands. The worker waits until
    the loop ran them (and everything it had queued before, such as the limit's cancel)."""
    steps: list[Callable[[], None]] = []
    real = find_module.finish_association

    def finish(assoc: Association, *, clean: bool, guard: Any = None) -> None:
        loop = _LOOP[0]
        done = threading.Event()

        def on_loop() -> None:
            for step in steps:
                step()
            done.set()

        loop.call_soon_threadsafe(on_loop)
        assert done.wait(5)
        time.sleep(0.1)  # threads the steps started (a C-CANCEL, an abort) run now
        real(assoc, clean=clean, guard=guard)

    monkeypatch.setattr(find_module, "finish_association", finish)
    yield steps


_LOOP: list[asyncio.AbstractEventLoop] = []


@pytest.mark.parametrize("late", ["limit cancel", "person's cancel", "abort"])
def test_a_cancel_landing_after_the_final_response_leaves_the_release_alone(
        late: str, late_step: list[Callable[[], None]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Seen: `find --limit 3` on a PACS with exactly 3 matches A-ABORTed 8 times in 10: the
    limit's cancel ran after the worker detached, took the "before the request" branch and
    aborted the association the releaser held."""
    with PduPeer(_finds(3, _answers_release())) as peer, Courier() as courier:
        async def scenario() -> Any:
            _LOOP[:] = [asyncio.get_running_loop()]
            op = courier.find(_node(peer.port), FindQuery(),
                              limit=3 if late == "limit cancel" else None)
            if late == "limit cancel":  # its cancel (at the 3rd match) lands late
                monkeypatch.setattr(op, "_cancel_from_worker",
                                    lambda: late_step.append(op.cancel))
            elif late == "person's cancel":
                late_step.append(op.cancel)
            elif late == "abort":
                late_step.append(op.abort)
            rows = [match async for match in op]
            return len(rows), op.result

        rows, result = asyncio.run(scenario())
        assert courier.releaser.wait_idle(3)
        time.sleep(0.2)
        ends = _ends(peer)
    assert rows == 3 and result.error is None and not result.cancelled
    assert ends == [[RELEASE_RQ]], "released, not aborted"


@pytest.mark.parametrize("late", ["cancel", "abort"])
def test_cancel_on_a_finished_search_does_not_abort_its_background_release(late: str) -> None:
    """Esc, closing the series dialog or a queue cancel just after the rows appeared."""
    with PduPeer(_finds(1, _answers_release(delay=0.5))) as peer, Courier() as courier:
        async def scenario() -> str | None:
            op = courier.find(_node(peer.port), FindQuery())
            assert len([match async for match in op]) == 1
            assert op.finished
            op.cancel() if late == "cancel" else op.abort()
            await asyncio.sleep(0.1)
            return op.control.abort_reason

        reason = asyncio.run(scenario())
        assert courier.releaser.wait_idle(3)
        time.sleep(0.2)
        ends = _ends(peer)
    assert reason is None
    assert ends == [[RELEASE_RQ]], "released, not aborted"


# ---------------------------------------------------------------- F3 and F4


def _ends_on_cancel(how: str, *, move: bool = False) -> Script:
    """Sends a Pending answer every 50 ms; answers our C-CANCEL by ending the association:
    A-ABORT, a TCP close, or its own A-RELEASE-RQ (then it closes after our A-RELEASE-RP)."""
    def script(conn: PeerConnection) -> None:
        conn.accept()
        request = conn.read_request()
        assert request is not None
        for i in range(100):
            if move:
                conn.respond(request, C_MOVE_RSP, 0xFF00, counts=(100 - i, i, 0, 0))
            else:
                conn.respond(request, C_FIND_RSP, 0xFF00, identifier=_match(i))
            got = conn.read_pdu(timeout=0.05)
            if got is None:
                if conn.received.closed_at is not None:
                    return
                continue
            assert got[0] == P_DATA  # our C-CANCEL
            if how == "abort":
                conn.send(abort(0, 0))
            elif how == "close":
                conn.sock.shutdown(socket.SHUT_RDWR)
            else:
                conn.send(pdu(RELEASE_RQ, bytes(4)))
                answer = conn.read_pdu(timeout=3)
                assert answer is not None and answer[0] == RELEASE_RP
                conn.sock.shutdown(socket.SHUT_RDWR)
            conn.wait_closed(3)
            return
    return script


HOW = ["abort", "close", "release"]


@pytest.mark.parametrize("how", HOW)
def test_find_limit_on_a_pacs_that_ends_the_association_after_our_cancel_succeeds(
        how: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Seen: "Error: … aborted the search", "dropped the connection", "sent data that is not
    valid DICOM" (its A-RELEASE-RQ), each with exit 1, after the 3 rows."""
    with PduPeer(_ends_on_cancel(how)) as peer:
        started = time.monotonic()
        code = run(["--config-dir", str(tmp_path / "cfg"), "find", "--host", "127.0.0.1",
                    "--port", str(peer.port), "--aet", "RACES", "--limit", "3",
                    "--format", "csv"])
        seconds = time.monotonic() - started
        time.sleep(0.2)
        received = [list(c.received.pdu_types) for c in peer.connections]
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert len(printed.out.strip().splitlines()) == 1 + 3  # header and the 3 rows
    assert "Error" not in printed.err and "valid DICOM" not in printed.err
    assert seconds < 2.0
    if how == "release":  # request (2 PDUs), C-CANCEL; answered (A-RELEASE-RP), no abort
        assert received == [[ASSOCIATE_RQ, P_DATA, P_DATA, P_DATA, RELEASE_RP]]


async def _run_and_cancel(op: Any) -> Any:
    """A person's cancel once the operation is under way."""
    task = asyncio.ensure_future(op.run())
    await until(lambda: op.control.request_sent, 5.0)
    await asyncio.sleep(0.12)
    op.cancel()
    return await asyncio.wait_for(task, 5)


@pytest.mark.parametrize("how", HOW)
def test_a_persons_cancel_of_a_search_the_pacs_ends_is_cancelled_not_failed(how: str) -> None:
    with PduPeer(_ends_on_cancel(how)) as peer, Courier(cancel_grace=2) as courier:
        result = asyncio.run(_run_and_cancel(
            courier.find(_node(peer.port), FindQuery(), raise_on_error=False)))
        time.sleep(0.1)
        ends = _ends(peer)
    assert result.cancelled and result.error is None and result.count >= 1
    assert ABORT not in ends[0]


@pytest.mark.parametrize("how", HOW)
def test_a_move_the_pacs_ends_after_our_cancel_says_the_rest_may_still_arrive(
        how: str) -> None:
    """Seen: "cancelled: 7 of 100 sent, 93 not sent", although the PACS never confirmed
    the cancel and may go on sending (PS3.4 C.4.2.3.1)."""
    with PduPeer(_ends_on_cancel(how, move=True)) as peer, \
            Courier(cancel_grace=2) as courier:
        result = asyncio.run(_run_and_cancel(
            courier.move(_node(peer.port), MoveRequest(MoveTarget(STUDY), "WS"))))
    phrase = summary_phrase(result)
    assert result.outcome is MoveOutcome.CANCELLED
    assert result.cancel_unconfirmed
    assert "may still arrive" in phrase and "not sent" not in phrase, phrase


def test_a_move_cancelled_before_its_request_went_out_is_not_unconfirmed() -> None:
    """Nothing reached the PACS: nothing can still arrive."""
    with PduPeer(_ends_on_cancel("abort", move=True)) as peer, Courier() as courier:
        async def scenario() -> Any:
            op = courier.move(_node(peer.port), MoveRequest(MoveTarget(STUDY), "WS"))
            op.cancel()
            return await op.run()

        result = asyncio.run(scenario())
    assert result.outcome is MoveOutcome.CANCELLED and not result.cancel_unconfirmed


# ---------------------------------------------------------------- F5


def test_a_cancel_crossing_the_final_response_goes_out_before_our_release(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Seen: the C-CANCEL left after our A-RELEASE-RQ: "Invalid event 'Evt9' for the current
    state 'Sta7'" killed pynetdicom's reader and the watchdog blamed the PACS. The cancel's
    thread is held up 0.1 s inside send_c_cancel while the final response arrives."""
    quiet_pynetdicom()
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="pynetdicom")
    deaths: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: deaths.append(args.exc_value))
    real_cancel = Association.send_c_cancel

    def slow_cancel(self: Association, *args: Any, **kwargs: Any) -> None:
        time.sleep(0.1)
        real_cancel(self, *args, **kwargs)

    monkeypatch.setattr(Association, "send_c_cancel", slow_cancel)
    go = threading.Event()

    def script(conn: PeerConnection) -> None:
        conn.accept()
        request = conn.read_request()
        assert request is not None
        conn.respond(request, C_MOVE_RSP, 0xFF00, counts=(1, 0, 0, 0))
        go.wait(5)
        time.sleep(0.02)
        conn.send(p_data(pdv(request.context_id, response_command(
            C_MOVE_RSP, request.affected_sop_class(), request.message_id(), 0x0000,
            counts=(None, 1, 0, 0)), command=True, last=True)))
        _answers_release(delay=0.1)(conn)

    with PduPeer(script) as peer, Courier() as courier:
        async def scenario() -> Any:
            op = courier.move(_node(peer.port), MoveRequest(MoveTarget(STUDY), "WS"))
            task = asyncio.ensure_future(op.run())
            await until(lambda: op.control.request_sent, 5.0)
            await asyncio.sleep(0.1)
            op.cancel()
            go.set()
            return await asyncio.wait_for(task, 5)

        result = asyncio.run(scenario())
        assert courier.releaser.wait_idle(3)
        time.sleep(0.2)
        received = [list(c.received.pdu_types) for c in peer.connections]
    assert "Invalid event" not in caplog.text
    assert "association ended" not in caplog.text
    assert deaths == []
    assert result.outcome is MoveOutcome.COMPLETED and result.error is None
    # The C-MOVE request (command, identifier), the C-CANCEL, then the release.
    assert received == [[ASSOCIATE_RQ, P_DATA, P_DATA, P_DATA, RELEASE_RQ]]


# ---------------------------------------------------------------- F6


def test_a_pacs_that_closes_after_its_final_response_never_holds_a_release_thread(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Seen: 3 of 60 such releases held a thread for the 2 s release timer. pynetdicom's
    reactor had taken the A-P-ABORT (connection closed) before our release paused it, and
    our A-RELEASE request then met the closed state machine (Sta1). Made certain here: the
    PACS closes while the reactor is paused, and the indication is taken off the queue as
    that reactor does, just before the hand-over."""
    close_now = threading.Event()
    real = find_module.finish_association

    def reactor_took_the_abort(assoc: Association, *, clean: bool, guard: Any = None) -> None:
        assoc._reactor_checkpoint.clear()
        while not assoc._is_paused:
            time.sleep(0.001)
        close_now.set()
        end = time.monotonic() + 3
        while assoc.dul.state_machine.current_state != "Sta1" and time.monotonic() < end:
            time.sleep(0.005)
        assert assoc.dul.receive_pdu(wait=True, timeout=1) is not None  # the A-P-ABORT
        assert assoc.is_established  # the reactor had not got to that yet
        real(assoc, clean=clean, guard=guard)

    monkeypatch.setattr(find_module, "finish_association", reactor_took_the_abort)

    def closes(conn: PeerConnection) -> None:
        close_now.wait(5)
        conn.sock.shutdown(socket.SHUT_RDWR)

    with PduPeer(_finds(1, closes)) as peer, Courier() as courier:
        result = asyncio.run(_find(courier, peer.port))
        started = time.monotonic()
        assert courier.releaser.wait_idle(3)
        seconds = time.monotonic() - started
    assert result.error is None and result.count == 1
    assert seconds < 0.5, "the release thread waited for an answer that cannot come"
