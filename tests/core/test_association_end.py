"""The end of an association never costs the user time (issue 9 §3).

Once the final response is in, the result is final: ``async for`` ends, ``result`` is there,
the command line prints, the queue starts the next job. The release (PS3.8 7.2) happens
after that, on the engine's releaser, bounded at 2 s and then one A-ABORT; a PACS that
releases first, or whose A-RELEASE-RQ crosses ours (release collision, PS3.8 7.2.2), is
answered with A-RELEASE-RP, with no traceback and no wait.

Peers are scripted at the PDU level (tests/fakes/pdu_peer.py). Timeouts are 30 s where the
old code waited for them, so each row fails on it by far.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pydicom.dataset import Dataset
from pynetdicom.fsm import InvalidEventError, StateMachine
from pynetdicom.pdu import A_RELEASE_RP
from pynetdicom.pdu_primitives import A_RELEASE

from dicom_courier.core.cli.main import run
from dicom_courier.core.config.profiles import PacsNode, Timeouts
from dicom_courier.core.dimse import release_collision
from dicom_courier.core.dimse.engine import Courier
from dicom_courier.core.dimse.release import Releaser
from dicom_courier.core.dimse.transport import quiet_pynetdicom
from dicom_courier.core.jobs.queue import JobState, MoveQueue
from dicom_courier.core.qr.query import FindQuery, MoveRequest, MoveTarget
from tests.fakes.pdu_peer import (
    ABORT,
    C_ECHO_RSP,
    C_FIND_RSP,
    C_MOVE_RQ,
    C_MOVE_RSP,
    RELEASE_RP,
    RELEASE_RQ,
    PduPeer,
    PeerConnection,
    encode_dataset,
    p_data,
    pdu,
    pdv,
    release_rp,
    response_command,
)

STUDIES = [f"1.2.826.0.1.3680043.8.498.{i}" for i in (31, 32, 33)]
C_ECHO_RQ = 0x0030
Release = Callable[[PeerConnection], None]


def _node(port: int, *, acse: float = 30.0, idle: float = 30.0) -> PacsNode:
    return PacsNode(name="ends", called_aet="ENDS", host="127.0.0.1", port=port,
                    timeouts=Timeouts(connect=3, acse=acse, idle=idle))


def _match() -> bytes:
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    ds.StudyInstanceUID = STUDIES[0]
    return encode_dataset(ds)


def _pacs(release: Release, *, release_with_final: bool = False,
          requests: list[tuple[float, int]] | None = None) -> Callable[[PeerConnection], None]:
    """Answers one C-FIND (one match), C-MOVE (one image sent) or C-ECHO, then ``release``.

    ``release_with_final``: its own A-RELEASE-RQ goes out in the same TCP send as the final
    response (the closest a PACS can come to releasing before we do).
    """
    def script(conn: PeerConnection) -> None:
        conn.accept()
        request = conn.read_request()
        assert request is not None
        if requests is not None:
            requests.append((time.monotonic(), request.command_field()))
        field = request.command_field()
        counts: Any = None
        if field == C_MOVE_RQ:
            rsp, counts = C_MOVE_RSP, (0, 1, 0, 0)
            conn.respond(request, rsp, 0xFF00, counts=(1, 0, 0, 0))
        elif field == C_ECHO_RQ:
            rsp = C_ECHO_RSP
        else:
            rsp = C_FIND_RSP
            conn.respond(request, rsp, 0xFF00, identifier=_match())
        final = p_data(pdv(request.context_id, response_command(
            rsp, request.affected_sop_class(), request.message_id(), 0x0000, counts=counts),
            command=True, last=True))
        conn.send(final + (pdu(RELEASE_RQ, bytes(4)) if release_with_final else b""))
        release(conn)
    return script


def never_answers(conn: PeerConnection) -> None:
    """Ignores our A-RELEASE-RQ (the connection stays open until we close it)."""


def releases_first(conn: PeerConnection) -> None:
    """Its A-RELEASE-RQ went out with the final response; it waits for our A-RELEASE-RP. If
    our A-RELEASE-RQ crosses it, it is a conformant acceptor in a collision (PS3.8 9.2,
    Sta10): our A-RELEASE-RP first, then its own."""
    end = time.monotonic() + 3
    while time.monotonic() < end:
        got = conn.read_pdu(timeout=end - time.monotonic())
        if got is None or got[0] == ABORT:
            return
        if got[0] == RELEASE_RP:
            if RELEASE_RQ in conn.received.pdu_types:
                conn.send(release_rp())
            return


def collides_after_ours(delay: float) -> Release:
    """Answers our A-RELEASE-RQ with one of its own (a collision), waits for our
    A-RELEASE-RP, then sends its own ``delay`` seconds later."""
    def release(conn: PeerConnection) -> None:
        got = conn.read_pdu(timeout=5)
        assert got is not None and got[0] == RELEASE_RQ
        conn.send(pdu(RELEASE_RQ, bytes(4)))
        got = conn.read_pdu(timeout=5)
        assert got is not None and got[0] == RELEASE_RP
        time.sleep(delay)
        conn.send(release_rp())
    return release


def _received(peer: PduPeer) -> list[list[int]]:
    """The release and abort PDUs each connection received, in order."""
    return [[t for t in c.received.pdu_types if t in (RELEASE_RQ, RELEASE_RP, ABORT)]
            for c in peer.connections]


async def _find(courier: Courier, port: int) -> tuple[int, float, Any]:
    started = time.monotonic()
    op = courier.find(_node(port), FindQuery())
    rows = [match async for match in op]
    return len(rows), time.monotonic() - started, op.result


# ---------------------------------------------------------------- a PACS that never answers


@pytest.mark.network
def test_find_shows_its_rows_at_the_final_response_when_the_release_is_never_answered(
        ) -> None:
    """Seen: `find` printed its rows after 30 s (the association timeout)."""
    with PduPeer(_pacs(never_answers)) as peer, Courier() as courier:
        rows, seconds, result = asyncio.run(_find(courier, peer.port))
        handed_over = time.monotonic()
        assert rows == 1 and result.error is None and result.count == 1
        assert seconds < 1.0
        assert result.duration < 1.0, "the duration stops at the final response"
        # The release goes on in the background and ends with one A-ABORT at 2 s.
        assert courier.releaser.wait_idle(2.0 + 1.0)
        assert time.monotonic() - handed_over < 2.0 + 0.5
        time.sleep(0.2)
        assert _received(peer) == [[RELEASE_RQ, ABORT]]


@pytest.mark.network
def test_three_moves_from_the_command_line_take_the_move_time(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Seen: every move took 30 s longer; a 50-study queue lost 25 minutes."""
    requests: list[tuple[float, int]] = []
    with PduPeer(_pacs(never_answers, requests=requests)) as peer:
        args = ["--config-dir", str(tmp_path / "cfg"), "move", "--host", "127.0.0.1",
                "--port", str(peer.port), "--aet", "ENDS", "--dest", "WS"]
        for uid in STUDIES:
            args += ["--study", uid]
        started = time.monotonic()
        code = run(args)
        seconds = time.monotonic() - started
        time.sleep(0.2)
        received = _received(peer)
    printed = capsys.readouterr()
    assert code == 0
    assert "3 of 3 images sent to WS" in printed.out + printed.err
    assert [field for _, field in requests].count(C_MOVE_RQ) == 3
    assert seconds < 2.0, "not 3 x (move + release wait)"
    # Every association still ended: released or, unanswered, aborted once.
    assert all(r == [RELEASE_RQ, ABORT] for r in received)


@pytest.mark.network
def test_the_queue_starts_the_next_job_without_waiting_for_the_release() -> None:
    requests: list[tuple[float, int]] = []
    with PduPeer(_pacs(never_answers, requests=requests)) as peer, Courier() as courier:
        async def scenario() -> tuple[float, list[JobState]]:
            done = asyncio.Event()

            def on_change(_job: object) -> None:
                if all(job.state.is_finished for job in moves.jobs()):
                    done.set()

            moves = MoveQueue(courier, on_change, per_pacs_limit=1)
            started = time.monotonic()
            for uid in STUDIES[:2]:
                moves.submit(_node(peer.port), MoveRequest(MoveTarget(uid), "WS"))
            await asyncio.wait_for(done.wait(), 10)
            seconds = time.monotonic() - started
            await moves.close()
            return seconds, [job.state for job in moves.jobs()]

        seconds, states = asyncio.run(scenario())
    assert states == [JobState.COMPLETED, JobState.COMPLETED]
    assert len(requests) == 2
    assert requests[1][0] - requests[0][0] < 0.5, "the second move waited for a release"
    assert seconds < 1.0


@pytest.mark.network
def test_echo_answers_at_once_and_its_release_stays_bounded() -> None:
    with PduPeer(_pacs(never_answers)) as peer, Courier() as courier:
        started = time.monotonic()
        result = asyncio.run(courier.echo(_node(peer.port)))
        seconds = time.monotonic() - started
        assert courier.releaser.wait_idle(2.0 + 1.0)
        time.sleep(0.2)
        assert _received(peer) == [[RELEASE_RQ, ABORT]]
    assert result.round_trip_ms >= 0
    assert seconds < 1.0


@pytest.mark.network
def test_lingering_releases_never_hold_the_dimse_pool() -> None:
    """One DIMSE worker, six searches in a row and two at once: none waits for a release,
    the releases use at most their own few threads, and all end within their 2 s."""
    with PduPeer(_pacs(never_answers)) as peer, Courier(max_workers=1) as courier:
        async def scenario() -> list[float]:
            times = [(await _find(courier, peer.port))[1] for _ in range(4)]
            both = await asyncio.gather(_find(courier, peer.port), _find(courier, peer.port))
            return times + [seconds for _, seconds, _ in both]

        started = time.monotonic()
        times = asyncio.run(scenario())
        total = time.monotonic() - started
        release_threads = [t for t in threading.enumerate() if t.name.startswith("release")]
        assert courier.releaser.lingering == 6
        assert courier.releaser.wait_idle(2.0 + 1.5)
    assert total < 1.5, times
    assert len(release_threads) <= 4


@pytest.mark.parametrize("wait", [False, True], ids=["window closed", "command line exits"])
@pytest.mark.network
def test_closing_the_courier_ends_lingering_releases_at_once(wait: bool) -> None:
    with PduPeer(_pacs(never_answers)) as peer:
        courier = Courier()
        asyncio.run(_find(courier, peer.port))
        started = time.monotonic()
        courier.close(wait=wait)
        seconds = time.monotonic() - started
        time.sleep(0.2)
        received = _received(peer)
    assert seconds < (0.5 if wait else 0) + 0.6
    # One A-ABORT (after our A-RELEASE-RQ if the release had started).
    assert received in ([[ABORT]], [[RELEASE_RQ, ABORT]])


# ---------------------------------------------------------------- release collisions


def _quiet_but_recorded(caplog: pytest.LogCaptureFixture) -> None:
    """Record everything, pynetdicom's own DEBUG log included ("Invalid event ...")."""
    quiet_pynetdicom()  # first, or it would silence pynetdicom again
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="pynetdicom")


def _assert_nothing_alarming(caplog: pytest.LogCaptureFixture,
                             capfd: pytest.CaptureFixture[str]) -> None:
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Invalid event" not in err, err
    assert "Invalid event" not in caplog.text
    assert "InvalidEventError" not in caplog.text
    assert "association ended" not in caplog.text  # the watchdog saw nothing wrong
    ours = [r for r in caplog.records if r.name.startswith("dicom_courier")]
    assert all(r.levelno < logging.WARNING for r in ours), [r.getMessage() for r in ours]


@pytest.mark.parametrize("operation", ["find", "move", "echo"])
@pytest.mark.network
def test_a_pacs_that_releases_right_after_its_final_response_is_answered(
        operation: str, caplog: pytest.LogCaptureFixture,
        capfd: pytest.CaptureFixture[str]) -> None:
    """Seen: a state-machine traceback ("Invalid event ... for the current state") and a
    hang of ~10 s. Several rounds: which thread meets the PACS's request first varies."""
    _quiet_but_recorded(caplog)
    with PduPeer(_pacs(releases_first, release_with_final=True)) as peer, \
            Courier() as courier:
        async def one() -> tuple[float, bool]:
            started = time.monotonic()
            node = _node(peer.port)
            if operation == "find":
                op = courier.find(node, FindQuery())
                ok = [m async for m in op] != [] and op.result.error is None
            elif operation == "move":
                result = await courier.move(node, MoveRequest(MoveTarget(STUDIES[0]),
                                                              "WS")).run()
                ok = result.error is None and result.completed == 1
            else:
                ok = (await courier.echo(node)).round_trip_ms >= 0
            return time.monotonic() - started, ok

        for _ in range(6):
            seconds, ok = asyncio.run(one())
            assert ok and seconds < 1.0
            assert courier.releaser.wait_idle(2.0)
        time.sleep(0.2)
        received = _received(peer)
    # Each time we answered the PACS's request (A-RELEASE-RP), or our request crossed it
    # and the collision was completed; never an A-ABORT.
    assert all(r in ([RELEASE_RP], [RELEASE_RQ, RELEASE_RP]) for r in received), received
    _assert_nothing_alarming(caplog, capfd)


@pytest.mark.network
def test_a_release_collision_after_our_request_is_completed_in_the_background(
        caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> None:
    """The PACS answers our A-RELEASE-RQ with its own (PS3.8 7.2.2), and takes a second to
    send its A-RELEASE-RP: the result does not wait for it."""
    _quiet_but_recorded(caplog)
    with PduPeer(_pacs(collides_after_ours(1.0))) as peer, Courier() as courier:
        rows, seconds, result = asyncio.run(_find(courier, peer.port))
        assert courier.releaser.wait_idle(2.0)
        time.sleep(0.2)
        received = _received(peer)
    assert rows == 1 and result.error is None
    assert seconds < 0.5
    assert received == [[RELEASE_RQ, RELEASE_RP]], "released, not aborted"
    assert not peer.errors
    _assert_nothing_alarming(caplog, capfd)


# ---------------------------------------------------------------- the workaround itself


class _Dul:
    """What pynetdicom's state machine and its release actions use of a DUL."""

    def __init__(self) -> None:
        self.to_provider_queue: queue.Queue[Any] = queue.Queue()
        self.to_user_queue: queue.Queue[Any] = queue.Queue()
        self.sent: list[Any] = []
        self.artim_timer = SimpleNamespace(start=lambda: None)
        self.assoc = SimpleNamespace(dul=self, is_acceptor=False, is_requestor=True,
                                     _handlers={}, get_handlers=lambda event: [])
        self.state_machine = StateMachine(self)  # type: ignore[arg-type]

    def _send(self, pdu: Any) -> None:
        self.sent.append(pdu)


def _release_primitive(result: str | None) -> A_RELEASE:
    primitive = A_RELEASE()
    primitive.result = result
    return primitive


def test_our_release_request_after_the_pacs_asked_first_answers_it() -> None:
    """PS3.8 9.2 Sta8 (the peer's A-RELEASE-RQ is in) + Evt11 (our A-RELEASE request): the
    table has no entry and pynetdicom raises; the workaround answers with A-RELEASE-RP
    (AR-4), confirms the release to the local user, and drops what comes after."""
    plain = _Dul()
    plain.state_machine.current_state = "Sta8"
    plain.to_provider_queue.put(_release_primitive(None))
    with pytest.raises(InvalidEventError):
        plain.state_machine.do_action("Evt11")

    dul = _Dul()
    release_collision.install(SimpleNamespace(assoc=dul.assoc))  # type: ignore[arg-type]
    machine = dul.state_machine
    machine.current_state = "Sta8"
    dul.to_provider_queue.put(_release_primitive(None))
    machine.do_action("Evt11")
    assert machine.current_state == "Sta13"
    assert [type(p) for p in dul.sent] == [A_RELEASE_RP]
    confirmation = dul.to_user_queue.get_nowait()
    assert isinstance(confirmation, A_RELEASE) and confirmation.result == "affirmative"
    # pynetdicom's negotiate_release then answers the peer's indication once more: dropped.
    dul.to_provider_queue.put(_release_primitive("affirmative"))
    machine.do_action("Evt14")
    assert machine.current_state == "Sta13"
    assert len(dul.sent) == 1 and dul.to_provider_queue.empty()


def test_our_release_request_after_pynetdicom_answered_the_pacs_is_confirmed() -> None:
    dul = _Dul()
    release_collision.install(SimpleNamespace(assoc=dul.assoc))  # type: ignore[arg-type]
    machine = dul.state_machine
    machine.current_state = "Sta8"
    dul.to_provider_queue.put(_release_primitive("affirmative"))  # the reactor's answer
    machine.do_action("Evt14")
    dul.to_provider_queue.put(_release_primitive(None))  # then our release starts
    machine.do_action("Evt11")
    assert machine.current_state == "Sta13"
    assert len(dul.sent) == 1
    assert dul.to_user_queue.get_nowait().result == "affirmative"


def test_a_closed_releaser_aborts_at_once() -> None:
    """A release handed over while the engine closes is not left open."""
    releaser = Releaser()
    releaser.close()
    tripped: list[str] = []
    guard = SimpleNamespace(set_phase=lambda phase: None, trip=tripped.append,
                            close=lambda: tripped.append("closed"))
    releaser.submit(SimpleNamespace(), guard)  # type: ignore[arg-type]
    assert tripped == ["finish", "closed"]
