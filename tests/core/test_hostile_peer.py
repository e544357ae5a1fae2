"""Whatever bytes a peer sends, an association ends within our own timers, in plain words.

Each row is a peer scripted at the PDU level (tests/fakes/pdu_peer.py) that does one thing no
real PACS does on demand: cut a PDU short, trickle bytes, go silent mid-PDU, send an unknown
PDU type, stream P-DATA fragments for ever, answer A-ASSOCIATE with nonsense, send data sets
pydicom cannot read. Every row asserts what a person would notice: the error's kind and
words (naming the PACS), how long it took (timer + 1 s), that rows received so far are kept,
that the peer got at most one A-ABORT, and that nothing was printed to stderr.
"""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from pydicom.dataset import Dataset

from dicom_courier.core.config.profiles import PacsNode, Timeouts
from dicom_courier.core.dimse.engine import Courier
from dicom_courier.core.jobs.queue import JobState, MoveQueue
from dicom_courier.core.outcome.errors import (
    AssociationAborted,
    AssociationRejected,
    Cancelled,
    CourierError,
    DeadlineExceeded,
    MessageTooLarge,
    PeerTimeout,
    ProtocolViolation,
    UnreadableResults,
)
from dicom_courier.core.outcome.events import MoveOutcome
from dicom_courier.core.qr.query import FindQuery, MoveRequest, MoveTarget
from tests.fakes.pdu_peer import (
    C_FIND_RSP,
    C_MOVE_RSP,
    EXPLICIT_LE,
    IMPLICIT_LE,
    P_DATA,
    PduPeer,
    PeerConnection,
    associate_ac,
    associate_rj,
    encode_command,
    encode_dataset,
    p_data,
    pdu,
    pdv,
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

STUDY = "1.2.826.0.1.3680043.8.498.77"
PEER_AET = "HOSTILE"


def _node(port: int, *, idle: float = 2.0, total: float | None = None, acse: float = 5.0,
          max_message_mb: int = 64) -> PacsNode:
    return PacsNode(name="hostile", called_aet=PEER_AET, host="127.0.0.1", port=port,
                    max_message_mb=max_message_mb,
                    timeouts=Timeouts(connect=3, acse=acse, idle=idle, total=total))


def _match(name: str = "GOOD^ONE") -> bytes:
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    ds.PatientName = name
    ds.StudyInstanceUID = STUDY
    return encode_dataset(ds)


@dataclass
class Outcome:
    error: CourierError | None
    seconds: float
    rows: list[dict[str, str]] = field(default_factory=list)
    aborts: int = 0


def _find(script: Callable[[PeerConnection], None], *, after: Callable[[Any], None] | None = None,
          **node: Any) -> Outcome:
    """One C-FIND against a peer running ``script``; ``after(op)`` runs once it started."""
    with PduPeer(script) as peer, Courier() as courier:
        async def scenario() -> Outcome:
            started = time.monotonic()
            op = courier.find(_node(peer.port, **node), FindQuery())
            rows: list[dict[str, str]] = []
            error: CourierError | None = None
            if after is not None:
                asyncio.get_running_loop().call_later(0.5, after, op)
            try:
                async for match in op:
                    rows.append(dict(match.values))
            except CourierError as exc:
                error = exc
            return Outcome(error, time.monotonic() - started, rows)

        outcome = asyncio.run(scenario())
        time.sleep(0.2)  # let the peer record what arrived after the close
        outcome.aborts = sum(c.received.aborts for c in peer.connections)
    return outcome


def _move(script: Callable[[PeerConnection], None], *,
          after: Callable[[Any], None] | None = None, **node: Any) -> Outcome:
    with PduPeer(script) as peer, Courier(cancel_grace=1.0) as courier:
        async def scenario() -> Outcome:
            started = time.monotonic()
            op = courier.move(_node(peer.port, **node), MoveRequest(MoveTarget(STUDY), "WS"))
            if after is not None:
                asyncio.get_running_loop().call_later(0.5, after, op)
            result = await op.run()
            return Outcome(result.error, time.monotonic() - started)

        outcome = asyncio.run(scenario())
        time.sleep(0.2)
        outcome.aborts = sum(c.received.aborts for c in peer.connections)
    return outcome


# ---------------------------------------------------------------- what the peer does


def _after_request(misbehave: Callable[[PeerConnection], None], *, good_rows: int = 0,
                   transfer_syntax: str = IMPLICIT_LE, pending: int = C_FIND_RSP
                   ) -> Callable[[PeerConnection], None]:
    def script(conn: PeerConnection) -> None:
        conn.accept(transfer_syntax=transfer_syntax)
        request = conn.read_request()
        assert request is not None
        for _ in range(good_rows):
            conn.respond(request, pending, 0xFF00, identifier=_match())
        misbehave(conn)
    return script


def cut_short(conn: PeerConnection) -> None:
    conn.send(pdu(P_DATA, b"\x00" * 10, length=1000))  # announces 1000 bytes, sends 10


def header_then_silence(conn: PeerConnection) -> None:
    conn.send(pdu(P_DATA, b"", length=5000)[:6])


def one_byte_a_second(conn: PeerConnection) -> None:
    conn.send_slowly(p_data(pdv(1, b"\x00" * 200, command=True, last=True)), 1.0)


def unknown_pdu_type(conn: PeerConnection) -> None:
    for _ in range(50):  # pynetdicom answered every invalid PDU with another A-ABORT
        conn.send(pdu(0x0A, b"\x01" * 20))


def endless_fragments(conn: PeerConnection) -> None:
    """A pending C-FIND-RSP announcing a data set, then data set fragments that never end."""
    request = conn.last_request
    assert request is not None
    conn.send(p_data(pdv(1, response_command(C_FIND_RSP, request.affected_sop_class(),
                                             request.message_id(), 0xFF00,
                                             has_data_set=True), command=True, last=True)))
    fragment = p_data(pdv(1, b"\x00" * 16000, command=False, last=False))

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and conn.send(fragment):
        pass


def four_gigabyte_pdu(conn: PeerConnection) -> None:
    conn.send(pdu(P_DATA, b"\x00" * 100, length=0xFFFFFFF0))


def fuzzed_command(conn: PeerConnection) -> None:
    # A complete command fragment whose element lengths run past its end: pynetdicom's
    # reader thread raises inside its state machine and dies.
    conn.send(p_data(pdv(1, struct.pack("<HHL", 0, 0, 0xFFFF) + b"\x01" * 11,
                         command=True, last=True)))


# ---------------------------------------------------------------- the rows


@pytest.mark.parametrize(("misbehave", "expected", "limit"), [
    pytest.param(cut_short, PeerTimeout, 2 + 1, id="PDU cut short"),
    pytest.param(header_then_silence, PeerTimeout, 2 + 1, id="silent mid-PDU"),
    pytest.param(one_byte_a_second, PeerTimeout, 2 + 1, id="one byte a second"),
    pytest.param(unknown_pdu_type, ProtocolViolation, 1, id="unknown PDU type"),
    pytest.param(fuzzed_command, ProtocolViolation, 1, id="P-DATA that kills the reader"),
])
def test_search_ends_within_the_idle_timeout_whatever_the_bytes(
        misbehave: Callable[[PeerConnection], None], expected: type[CourierError],
        limit: float, capfd: pytest.CaptureFixture[str]) -> None:
    outcome = _find(_after_request(misbehave, good_rows=2), idle=2.0)
    assert isinstance(outcome.error, expected), outcome.error
    assert outcome.seconds < limit
    assert PEER_AET in outcome.error.title
    assert len(outcome.rows) == 2, "the rows received before the fault are kept"
    assert outcome.aborts <= 1
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.parametrize(("misbehave", "expected", "limit"), [
    pytest.param(cut_short, PeerTimeout, 2 + 1, id="PDU cut short"),
    pytest.param(one_byte_a_second, PeerTimeout, 2 + 1, id="one byte a second"),
    pytest.param(unknown_pdu_type, ProtocolViolation, 1, id="unknown PDU type"),
    pytest.param(fuzzed_command, ProtocolViolation, 1, id="P-DATA that kills the reader"),
])
def test_send_ends_within_the_idle_timeout_whatever_the_bytes(
        misbehave: Callable[[PeerConnection], None], expected: type[CourierError],
        limit: float, capfd: pytest.CaptureFixture[str]) -> None:
    outcome = _move(_after_request(misbehave, pending=C_MOVE_RSP), idle=2.0)
    assert isinstance(outcome.error, expected), outcome.error
    assert outcome.seconds < limit
    assert outcome.aborts <= 1
    assert "Traceback" not in capfd.readouterr().err


def test_deadline_ends_a_search_held_mid_pdu() -> None:
    """Seen: a deadline of 5 s ended at 45 s, when the peer finally hung up."""
    outcome = _find(_after_request(cut_short), idle=60.0, total=2.0)
    assert isinstance(outcome.error, DeadlineExceeded), outcome.error
    assert outcome.seconds < 2 + 1
    assert outcome.aborts == 1


def test_cancel_ends_a_send_held_mid_pdu_after_the_grace() -> None:
    outcome = _move(_after_request(cut_short, pending=C_MOVE_RSP), idle=60.0,
                    after=lambda op: op.cancel())
    assert isinstance(outcome.error, Cancelled), outcome.error
    assert outcome.seconds < 0.5 + 1.0 + 1  # cancelled at 0.5 s, grace 1 s
    assert outcome.aborts == 1


def test_abort_ends_a_search_held_mid_pdu_at_once() -> None:
    outcome = _find(_after_request(cut_short, good_rows=1), idle=60.0,
                    after=lambda op: op.abort())
    assert outcome.seconds < 0.5 + 1
    assert len(outcome.rows) == 1
    assert outcome.aborts == 1


def test_closing_the_queue_ends_a_send_held_mid_pdu() -> None:
    """Seen: MoveQueue.close() took 28 s while a PACS held a half-sent PDU."""
    script = _after_request(cut_short, pending=C_MOVE_RSP)
    with PduPeer(script) as peer, Courier() as courier:
        async def scenario() -> tuple[float, JobState]:
            queue = MoveQueue(courier, lambda job: None)
            job_id = queue.submit(_node(peer.port, idle=60.0),
                                  MoveRequest(MoveTarget(STUDY), "WS"))
            await until(lambda: queue.get(job_id).state is JobState.RUNNING, 5)
            await asyncio.sleep(0.5)
            started = time.monotonic()
            await queue.close()
            return time.monotonic() - started, queue.get(job_id).state

        seconds, state = asyncio.run(scenario())
    assert seconds < 1.0
    assert state.is_finished


@pytest.mark.parametrize("misbehave", [
    pytest.param(endless_fragments, id="P-DATA fragments that never end"),
    pytest.param(four_gigabyte_pdu, id="one PDU announcing 4 GB"),
])
def test_a_message_larger_than_the_cap_ends_the_search(
        misbehave: Callable[[PeerConnection], None]) -> None:
    outcome = _find(_after_request(misbehave, good_rows=1), idle=30.0, max_message_mb=2)
    assert isinstance(outcome.error, MessageTooLarge), outcome.error
    assert outcome.error.title == f"{PEER_AET} sent a message larger than 2 MB."
    assert outcome.seconds < 5
    assert len(outcome.rows) == 1


def test_memory_stays_bounded_under_endless_fragments() -> None:
    """Seen: 3.6 GB in 10 s. With a 64 MB cap the process grows by little more than that."""
    def rss_mb() -> float:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * 4096 / 2**20

    before = rss_mb()
    outcome = _find(_after_request(endless_fragments), idle=30.0)
    assert isinstance(outcome.error, MessageTooLarge), outcome.error
    assert rss_mb() - before < 200


# ---------------------------------------------------------------- association set-up


def _answer(answer: Callable[[Any], bytes]) -> Callable[[PeerConnection], None]:
    def script(conn: PeerConnection) -> None:
        rq = conn.read_associate_rq()
        conn.send(answer(rq))
    return script


@pytest.mark.parametrize("answer", [
    pytest.param(lambda rq: associate_ac(rq, max_length=None), id="AC without Maximum Length"),
    pytest.param(lambda rq: associate_ac(rq, max_length=3), id="AC with Maximum Length 3"),
    pytest.param(lambda rq: pdu(0x02, b"\x00\x01"), id="AC of two bytes"),
])
def test_a_broken_association_answer_is_named(answer: Callable[[Any], bytes],
                                              capfd: pytest.CaptureFixture[str]) -> None:
    outcome = _find(_answer(answer), idle=10.0)
    assert isinstance(outcome.error, AssociationAborted), outcome.error
    assert PEER_AET in outcome.error.title or "127.0.0.1" in outcome.error.title
    assert outcome.seconds < 2
    assert outcome.aborts <= 1
    assert "Traceback" not in capfd.readouterr().err


def test_an_association_answer_cut_short_ends_at_the_association_timeout() -> None:
    def script(conn: PeerConnection) -> None:
        rq = conn.read_associate_rq()
        conn.send(associate_ac(rq)[:40])

    outcome = _find(script, acse=2.0, idle=30.0)
    assert isinstance(outcome.error, AssociationAborted), outcome.error
    port = outcome.error.peer.port  # type: ignore[union-attr]
    assert outcome.error.title == f"127.0.0.1:{port} does not answer like a DICOM service."
    assert "within 2 s" in outcome.error.explanation
    assert outcome.seconds < 2 + 1
    assert outcome.aborts == 1


def test_a_peer_that_never_answers_the_release_is_left_within_the_association_timeout() -> None:
    def script(conn: PeerConnection) -> None:
        conn.accept()
        request = conn.read_request()
        assert request is not None
        conn.respond(request, C_FIND_RSP, 0xFF00, identifier=_match())
        conn.respond(request, C_FIND_RSP, 0x0000)
        # ... and then ignores the A-RELEASE-RQ

    # The search is over at its final response; the release goes on in the background
    # (issue 9 §3, tests/core/test_association_end.py) and ends with one A-ABORT.
    with PduPeer(script) as peer, Courier() as courier:
        async def scenario() -> tuple[int, float]:
            started = time.monotonic()
            rows = [m async for m in courier.find(_node(peer.port, acse=1.0, idle=30.0),
                                                  FindQuery())]
            return len(rows), time.monotonic() - started

        rows, seconds = asyncio.run(scenario())
        assert courier.releaser.wait_idle(1 + 1), "the release was left within acse"
        time.sleep(0.2)  # let the peer record what arrived after the close
        aborts = sum(c.received.aborts for c in peer.connections)
    assert rows == 1
    assert seconds < 0.5
    assert aborts == 1


def test_echo_held_mid_pdu_ends_at_the_idle_timeout() -> None:
    def script(conn: PeerConnection) -> None:
        conn.accept()
        conn.read_request()
        cut_short(conn)

    with PduPeer(script) as peer, Courier() as courier:
        started = time.monotonic()
        with pytest.raises(AssociationAborted) as info:
            asyncio.run(courier.echo(_node(peer.port, idle=1.0)))
        assert time.monotonic() - started < 1 + 1
    assert "did not answer the echo" in info.value.title


@pytest.mark.parametrize(("result", "source", "reason"), [
    (1, 9, 1), (7, 1, 1), (1, 1, 200), (2, 3, 77),
])
def test_a_rejection_with_out_of_range_fields_is_named(result: int, source: int, reason: int,
                                                       capfd: pytest.CaptureFixture[str]
                                                       ) -> None:
    outcome = _find(_answer(lambda rq: associate_rj(result, source, reason)), idle=10.0)
    assert isinstance(outcome.error, AssociationAborted | AssociationRejected), outcome.error
    assert outcome.seconds < 2
    assert "Traceback" not in capfd.readouterr().err


# ---------------------------------------------------------------- data sets


def _element(group: int, element: int, value: bytes, vr: bytes | None = None) -> bytes:
    if vr is None:
        return struct.pack("<HHL", group, element, len(value)) + value
    return struct.pack("<HH2sH", group, element, vr, len(value)) + value


@pytest.mark.parametrize(("identifier", "transfer_syntax"), [
    pytest.param(_element(0x0010, 0x0010, b"DOE^JOHN", b"ZZ"), EXPLICIT_LE,
                 id="unknown explicit VR"),
    pytest.param(_element(0x0028, 0x0010, b"\x01\x02\x03"), IMPLICIT_LE,
                 id="binary value of the wrong length"),
    pytest.param(b"\xff" * 37, IMPLICIT_LE, id="no element at all"),
])
def test_an_unreadable_result_is_reported_and_the_rest_kept(identifier: bytes,
                                                           transfer_syntax: str) -> None:
    def script(conn: PeerConnection) -> None:
        conn.accept(transfer_syntax=transfer_syntax)
        request = conn.read_request()
        assert request is not None
        good = encode_dataset(_dataset("GOOD^ONE"), transfer_syntax)
        conn.respond(request, C_FIND_RSP, 0xFF00, identifier=good)
        conn.respond(request, C_FIND_RSP, 0xFF00, identifier=identifier)
        conn.respond(request, C_FIND_RSP, 0xFF00, identifier=good)
        conn.respond(request, C_FIND_RSP, 0x0000)
        conn.release_if_asked()

    outcome = _find(script)
    assert isinstance(outcome.error, UnreadableResults), outcome.error
    assert outcome.error.title == "1 answer from the PACS could not be read."
    assert outcome.error.explanation.startswith(f"{PEER_AET} sent 1 answer")
    assert [row["PatientName"] for row in outcome.rows] == ["GOOD^ONE", "GOOD^ONE"]
    assert outcome.aborts == 0  # the association itself ended normally


def test_nul_padding_in_specific_character_set_is_read() -> None:
    identifier = (_element(0x0008, 0x0005, b"ISO_IR 100\x00\x00")
                  + _element(0x0010, 0x0010, "MÜLLER^ANNA".encode("latin-1")))

    def script(conn: PeerConnection) -> None:
        conn.accept()
        request = conn.read_request()
        assert request is not None
        conn.respond(request, C_FIND_RSP, 0xFF00, identifier=identifier)
        conn.respond(request, C_FIND_RSP, 0x0000)
        conn.release_if_asked()

    outcome = _find(script)
    assert outcome.error is None
    assert [row["PatientName"] for row in outcome.rows] == ["MÜLLER^ANNA"]


def _dataset(name: str) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    ds.PatientName = name
    ds.StudyInstanceUID = STUDY
    return ds


def test_a_well_behaved_peer_still_works_and_is_released() -> None:
    def script(conn: PeerConnection) -> None:
        conn.accept()
        request = conn.read_request()
        assert request is not None
        for _ in range(3):
            conn.respond(request, C_FIND_RSP, 0xFF00, identifier=_match())
        conn.respond(request, C_FIND_RSP, 0x0000)
        conn.release_if_asked()

    outcome = _find(script)
    assert outcome.error is None
    assert len(outcome.rows) == 3
    assert outcome.aborts == 0


def test_a_send_that_completes_is_released_not_aborted() -> None:
    def script(conn: PeerConnection) -> None:
        conn.accept()
        request = conn.read_request()
        assert request is not None
        conn.respond(request, C_MOVE_RSP, 0xFF00, counts=(1, 1, 0, 0))
        conn.respond(request, C_MOVE_RSP, 0x0000, counts=(0, 2, 0, 0))
        conn.release_if_asked()

    with PduPeer(script) as peer, Courier() as courier:
        result = asyncio.run(courier.move(_node(peer.port), MoveRequest(MoveTarget(STUDY),
                                                                        "WS")).run())
        time.sleep(0.2)
        assert result.outcome is MoveOutcome.COMPLETED
        assert sum(c.received.aborts for c in peer.connections) == 0



# ---------------------------------------------------------------- answers that break the rules
# Found by a hostile-peer review: each of these used to print a traceback, count as activity
# (so the idle timer ran late), blame the wrong side, or inflate without limit.

DEFLATED = "1.2.840.10008.1.2.1.99"


def _command(conn: PeerConnection, elements: list[tuple[int, str, object]]) -> None:
    conn.send(p_data(pdv(1, encode_command(elements), command=True, last=True)))


def peer_request(command_field: int) -> Callable[[PeerConnection], None]:
    def misbehave(conn: PeerConnection) -> None:
        for _ in range(5):
            _command(conn, [(0x00000100, "US", command_field), (0x00000110, "US", 7),
                            (0x00000800, "US", 0x0101)])
            time.sleep(0.3)
    return misbehave


def command_pile_up(conn: PeerConnection) -> None:
    request = conn.last_request
    assert request is not None
    pending = response_command(C_FIND_RSP, request.affected_sop_class(), 1, 0xFF00,
                               has_data_set=True)
    for _ in range(20):  # each announces a data set that never comes
        conn.send(p_data(pdv(1, pending, command=True, last=True)))


def wrong_message_id(conn: PeerConnection) -> None:
    request = conn.last_request
    assert request is not None
    conn.send(p_data(pdv(1, response_command(C_FIND_RSP, request.affected_sop_class(), 77,
                                             0x0000), command=True, last=True)))


def move_response_to_a_find(conn: PeerConnection) -> None:
    request = conn.last_request
    assert request is not None
    conn.send(p_data(pdv(1, response_command(C_MOVE_RSP, request.affected_sop_class(), 1,
                                             0x0000, counts=(0, 0, 0, 0)),
                         command=True, last=True)))


def unaccepted_context(conn: PeerConnection) -> None:
    conn.send(p_data(pdv(99, b"\x00" * 8, command=True, last=True)))


def release_request(conn: PeerConnection) -> None:
    conn.send(pdu(0x05, bytes(4)))


def association_request(conn: PeerConnection) -> None:
    conn.send(pdu(0x01, b"\x00\x01" + bytes(66)))


@pytest.mark.parametrize("misbehave", [
    pytest.param(peer_request(0x0FFF), id="C-CANCEL-RQ from the PACS every 0.3 s"),
    pytest.param(peer_request(0x0100), id="N-EVENT-REPORT-RQ from the PACS"),
    pytest.param(command_pile_up, id="commands whose data sets never come"),
    pytest.param(wrong_message_id, id="a response to another message"),
    pytest.param(move_response_to_a_find, id="a C-MOVE-RSP to our C-FIND"),
    pytest.param(unaccepted_context, id="a data value on context 99"),
    pytest.param(release_request, id="A-RELEASE-RQ before the answer"),
    pytest.param(association_request, id="A-ASSOCIATE-RQ mid-search"),
])
def test_an_answer_that_breaks_the_protocol_ends_at_once_and_is_named(
        misbehave: Callable[[PeerConnection], None],
        capfd: pytest.CaptureFixture[str]) -> None:
    outcome = _find(_after_request(misbehave, good_rows=1), idle=5.0)
    assert isinstance(outcome.error, ProtocolViolation), outcome.error
    assert outcome.error.title == f"{PEER_AET} sent data that is not valid DICOM."
    assert outcome.seconds < 1.5, "ended at once, not at the idle timeout"
    assert len(outcome.rows) == 1
    assert outcome.aborts <= 1
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.parametrize("answer", [
    pytest.param(lambda rq: associate_ac(rq, transfer_syntax=DEFLATED),
                 id="Deflated, which we do not propose (a 0.5 MB answer inflated to 1 GB)"),
    pytest.param(lambda rq: associate_ac(rq, transfer_syntax=""), id="no transfer syntax"),
    pytest.param(lambda rq: associate_ac(rq, transfer_syntax="abc"), id="transfer syntax abc"),
    pytest.param(lambda rq: associate_ac(rq, transfer_syntax="1.2.840.10008.1.2.4.50"),
                 id="JPEG Baseline"),
])
def test_an_acceptance_with_a_transfer_syntax_we_did_not_propose_is_named(
        answer: Callable[[Any], bytes], capfd: pytest.CaptureFixture[str]) -> None:
    outcome = _find(_answer(answer), idle=10.0)
    assert isinstance(outcome.error, ProtocolViolation), outcome.error
    assert "did not propose" in outcome.error.explanation
    assert outcome.seconds < 2
    assert "Traceback" not in capfd.readouterr().err


def test_answers_larger_than_the_cap_in_all_end_the_search_and_keep_the_rows() -> None:
    """Seen: 30 answers of 30 MB each (under the per-message cap) grew the CLI to 1.1 GB."""
    big = _dataset("BIG^ROW")
    big.StudyDescription = "x" * 400_000

    def script(conn: PeerConnection) -> None:
        conn.accept()
        request = conn.read_request()
        assert request is not None
        for _ in range(10):
            if not conn.respond(request, C_FIND_RSP, 0xFF00, identifier=encode_dataset(big)):
                return
        conn.respond(request, C_FIND_RSP, 0x0000)

    outcome = _find(script, max_message_mb=1)
    assert isinstance(outcome.error, MessageTooLarge), outcome.error
    assert "in all" in outcome.error.explanation
    assert 1 <= len(outcome.rows) <= 2


def test_a_search_limit_ends_even_if_the_pacs_ignores_c_cancel() -> None:
    """Seen: `find --limit 1` ran for ever against a PACS that kept answering after C-CANCEL."""
    def script(conn: PeerConnection) -> None:
        conn.accept()
        request = conn.read_request()
        assert request is not None
        for _ in range(120):
            if not conn.respond(request, C_FIND_RSP, 0xFF00, identifier=_match()):
                return
            time.sleep(0.25)

    with PduPeer(script) as peer, Courier(cancel_grace=1.0) as courier:
        async def scenario() -> tuple[Any, int, float]:
            started = time.monotonic()
            op = courier.find(_node(peer.port, idle=2.0), FindQuery(), limit=1,
                              raise_on_error=False)
            rows = [match async for match in op]
            return op.result, len(rows), time.monotonic() - started

        result, rows, seconds = asyncio.run(scenario())
    assert rows == 1
    assert result.error is None and result.cancelled
    assert seconds < 1.0 + 1.5


def test_echo_ends_at_its_deadline() -> None:
    """Seen: `echo --deadline 2` against a silent port took 30 s."""
    def script(conn: PeerConnection) -> None:
        conn.read_associate_rq()  # and never answers

    with PduPeer(script) as peer, Courier() as courier:
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded):
            asyncio.run(courier.echo(_node(peer.port, idle=30.0, acse=30.0, total=1.0)))
        assert time.monotonic() - started < 1 + 1


def test_a_peer_that_releases_right_after_its_final_answer_is_fine() -> None:
    """A release collision (PS3.8 7.2.2): the PACS asks to release as we do."""
    def script(conn: PeerConnection) -> None:
        conn.accept()
        request = conn.read_request()
        assert request is not None
        conn.respond(request, C_FIND_RSP, 0xFF00, identifier=_match())
        conn.respond(request, C_FIND_RSP, 0x0000)
        conn.send(pdu(0x05, bytes(4)))  # A-RELEASE-RQ of its own
        conn.release_if_asked()

    outcome = _find(script, acse=3.0)
    assert outcome.error is None
    assert len(outcome.rows) == 1
    assert outcome.seconds < 3 + 1
