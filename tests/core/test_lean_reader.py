"""Issue 12 §1: the lean response reader (core/dimse/lean_reader.py) gives what pynetdicom's gives.

Each scenario runs twice, once per read path (core/dimse/read_path.py), and the two outcomes a
person would notice must be equal: the rows (every value, every mark), the error's kind and
words, the move's counts and outcome, the A-ABORTs the peer got. The lean path must really be
taken (the socket is lent, and always given back). Stream shapes a socket reader must survive:
PDUs split mid-header across recv calls, a whole stream in one recv, a command split over
fragments and PDUs; the PACS aborting, releasing or closing mid-stream; cancel; real Orthanc
and dcmqrscp.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset

from dicom_courier.core.config.profiles import PacsNode, Timeouts
from dicom_courier.core.dimse import watchdog
from dicom_courier.core.dimse.engine import Courier
from dicom_courier.core.dimse.lean_reader import EncodedIdentifier
from dicom_courier.core.dimse.read_path import LEAN, PYNETDICOM, READ_PATH_ENV, read_path
from dicom_courier.core.outcome.errors import CourierError
from dicom_courier.core.qr.query import FindQuery, MoveRequest, MoveTarget, QueryLevel
from tests.fakes.pdu_peer import (
    C_FIND_RSP,
    C_MOVE_RSP,
    EMPTY,
    P_DATA,
    RELEASE_RQ,
    PduPeer,
    PeerConnection,
    abort,
    encode_dataset,
    p_data,
    pdu,
    pdv,
    response_command,
)

STUDY = "1.2.826.0.1.3680043.8.498.12"
PEER_AET = "LEAN"


# ---------------------------------------------------------------- running both paths


@dataclass
class Seen:
    """What a person would notice of one operation, and how the socket was used."""

    rows: list[tuple[tuple[tuple[str, str], ...], frozenset[str], frozenset[str]]] = \
        field(default_factory=list)
    error: tuple[str, str, str] | None = None
    result: tuple[Any, ...] = ()
    aborts: int = 0
    lent: int = 0
    left_lent: int = 0


@pytest.fixture
def lend_spy(monkeypatch: pytest.MonkeyPatch) -> list[watchdog.GuardedSocket]:
    """Every socket lent to the lean reader (to check it was, and was given back)."""
    lent: list[watchdog.GuardedSocket] = []
    original = watchdog.GuardedSocket.lend

    def lend(self: watchdog.GuardedSocket, limit: float = 2.0) -> bool:
        lent.append(self)
        return original(self, limit)

    monkeypatch.setattr(watchdog.GuardedSocket, "lend", lend)
    return lent


def _node(port: int, **timeouts: float) -> PacsNode:
    return PacsNode(name="lean", called_aet=PEER_AET, host="127.0.0.1", port=port,
                    timeouts=Timeouts(**{"connect": 3, "acse": 5, "idle": 3, "total": None,
                                         **timeouts}))


def _error(exc: CourierError | None) -> tuple[str, str, str] | None:
    return None if exc is None else (type(exc).__name__, exc.title, exc.explanation)


def _find(node: PacsNode, query: FindQuery, after: Callable[[Any], None] | None) -> Seen:
    seen = Seen()
    with Courier(cancel_grace=1.0) as courier:
        async def scenario() -> None:
            op = courier.find(node, query, raise_on_error=False)
            if after is not None:
                asyncio.get_running_loop().call_later(0.3, after, op)
            seen.rows = [(tuple(m.values.items()), m.undecodable, m.undeclared_charset)
                         async for m in op]
            result = op.result
            seen.error = _error(result.error)
            seen.result = (result.count, result.status, result.cancelled, result.unreadable)

        asyncio.run(scenario())
    return seen


def _move(node: PacsNode, destination: str, after: Callable[[Any], None] | None) -> Seen:
    seen = Seen()
    with Courier(cancel_grace=1.0) as courier:
        async def scenario() -> None:
            op = courier.move(node, MoveRequest(MoveTarget(STUDY), destination))
            if after is not None:
                asyncio.get_running_loop().call_later(0.3, after, op)
            result = await op.run()
            seen.error = _error(result.error)
            seen.result = (result.outcome, result.total, result.completed, result.failed,
                           result.warning, result.status, result.error_comment,
                           result.failed_sop_uids, result.counts_reported,
                           result.completed_reported, result.cancel_sent)

        asyncio.run(scenario())
    return seen


def _on_both_paths(monkeypatch: pytest.MonkeyPatch, lent: list[watchdog.GuardedSocket],
                   run: Callable[[], Seen], peer: PduPeer | None = None) -> dict[str, Seen]:
    """``run`` on each read path; the lean one must lend its socket and give it back."""
    seen: dict[str, Seen] = {}
    for path in (LEAN, PYNETDICOM):
        monkeypatch.setenv(READ_PATH_ENV, path)
        assert read_path() == path
        lent.clear()
        before = len(peer.connections) if peer is not None else 0
        outcome = run()
        if peer is not None:
            time.sleep(0.2)  # let the peer record what arrived after the close
            outcome.aborts = sum(c.received.aborts for c in peer.connections[before:])
        outcome.lent = len(lent)
        outcome.left_lent = sum(1 for sock in lent if sock.lent)
        seen[path] = outcome
    lean, old = seen[LEAN], seen[PYNETDICOM]
    assert lean.lent >= 1, "the lean path was not taken"
    assert old.lent == 0, "COURIER_READ_PATH=pynetdicom still lent the socket"
    assert lean.left_lent == 0, "a socket was left lent"
    return seen


def _assert_same(seen: dict[str, Seen], *, explanation: bool = True) -> Seen:
    lean, old = seen[LEAN], seen[PYNETDICOM]
    assert lean.rows == old.rows
    if explanation:
        assert lean.error == old.error
    else:
        assert lean.error is not None and old.error is not None
        assert lean.error[:2] == old.error[:2]
    assert lean.result == old.result
    assert lean.aborts == old.aborts
    return lean


# ---------------------------------------------------------------- scripted peers


def _match(i: int) -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.QueryRetrieveLevel = "STUDY"
    ds.PatientName = f"MÜLLER^ANNA{i}"
    ds.StudyDescription = "CT ABD [/w contrast] <b>x</b>"
    ds.StudyInstanceUID = f"{STUDY}.{i}"
    return ds


def _pending(request: Any, identifier: bytes) -> bytes:
    command = response_command(C_FIND_RSP, request.affected_sop_class(), request.message_id(),
                               0xFF00, has_data_set=True)
    return (p_data(pdv(request.context_id, command, command=True, last=True))
            + p_data(pdv(request.context_id, identifier, command=False, last=True)))


def _final(request: Any, status: int = 0x0000, field_: int = C_FIND_RSP,
           counts: Any = None) -> bytes:
    command = response_command(field_, request.affected_sop_class(), request.message_id(),
                               status, counts=counts)
    return p_data(pdv(request.context_id, command, command=True, last=True))


def _stream_script(build: Callable[[Any], bytes], *, pieces: Callable[[bytes], Iterator[bytes]]
                   | None = None, then: Callable[[PeerConnection], None] | None = None
                   ) -> Callable[[PeerConnection], None]:
    """Accept, read the request, send ``build(request)`` (in ``pieces`` if given), then
    ``then`` (default: answer a release)."""
    def script(conn: PeerConnection) -> None:
        conn.accept()
        request = conn.read_request()
        assert request is not None
        data = build(request)
        for piece in (pieces(data) if pieces is not None else [data]):
            if not conn.send(piece):
                return
            time.sleep(0.002)
        (then or (lambda c: c.release_if_asked()))(conn)
    return script


def _split_mid_header(data: bytes) -> Iterator[bytes]:
    """Every PDU cut after 3 bytes of its header, and its body in two."""
    pos = 0
    while pos < len(data):
        length = struct.unpack_from(">L", data, pos + 2)[0]
        end = pos + 6 + length
        yield data[pos:pos + 3]
        yield data[pos + 3:pos + 6 + length // 2]
        yield data[pos + 6 + length // 2:end]
        pos = end


def _matches(request: Any, count: int) -> bytes:
    return b"".join(_pending(request, encode_dataset(_match(i))) for i in range(count))


FIND_ROWS = 40


def _fragmented(request: Any) -> bytes:
    """Commands and data sets in many fragments: some in one PDU, some across PDUs."""
    out = b""
    ctx = request.context_id
    for i in range(5):
        command = response_command(C_FIND_RSP, request.affected_sop_class(), 1, 0xFF00,
                                   has_data_set=True)
        data = encode_dataset(_match(i))
        # command in three fragments: two in one PDU, the last in the next PDU
        out += p_data(pdv(ctx, command[:10], command=True, last=False),
                      pdv(ctx, command[10:30], command=True, last=False))
        out += p_data(pdv(ctx, command[30:], command=True, last=True),
                      pdv(ctx, data[:7], command=False, last=False))
        out += p_data(pdv(ctx, data[7:], command=False, last=True))
    return out + _final(request)


@pytest.mark.network
@pytest.mark.parametrize("script", [
    pytest.param(_stream_script(lambda rq: _matches(rq, FIND_ROWS) + _final(rq)),
                 id="the whole stream in one send"),
    pytest.param(_stream_script(lambda rq: _matches(rq, FIND_ROWS) + _final(rq),
                                pieces=_split_mid_header), id="every PDU split mid-header"),
    pytest.param(_stream_script(_fragmented), id="commands and data sets in fragments"),
    pytest.param(_stream_script(lambda rq: _matches(rq, 3) + _final(rq) + pdu(RELEASE_RQ,
                                                                             bytes(4))),
                 id="the PACS's A-RELEASE-RQ in the same send as the final response"),
    pytest.param(_stream_script(lambda rq: _matches(rq, 3) + _final(rq, 0xA700)),
                 id="a final failure status"),
])
def test_a_search_gives_the_same_rows_and_words_on_both_paths(
        script: Callable[[PeerConnection], None], monkeypatch: pytest.MonkeyPatch,
        lend_spy: list[watchdog.GuardedSocket]) -> None:
    with PduPeer(script) as peer:
        seen = _on_both_paths(monkeypatch, lend_spy,
                              lambda: _find(_node(peer.port), FindQuery(), None), peer)
    lean = _assert_same(seen)
    assert lean.rows, "rows arrived"
    assert lean.aborts == 0


def _abort_after_rows(conn: PeerConnection) -> None:
    conn.send(abort(source=2, reason=1))


def _close_after_rows(conn: PeerConnection) -> None:
    conn.sock.shutdown(socket.SHUT_RDWR)


def _release_after_rows(conn: PeerConnection) -> None:
    conn.send(pdu(RELEASE_RQ, bytes(4)))
    conn.release_if_asked()


def _cut_mid_pdu(request: Any) -> bytes:
    return _matches(request, 2) + _pending(request, encode_dataset(_match(9)))[:40]


@pytest.mark.network
@pytest.mark.parametrize("script", [
    pytest.param(_stream_script(lambda rq: _matches(rq, 2), then=_abort_after_rows),
                 id="the PACS aborts mid-stream"),
    pytest.param(_stream_script(lambda rq: _matches(rq, 2), then=_close_after_rows),
                 id="the PACS closes the connection mid-stream"),
    pytest.param(_stream_script(_cut_mid_pdu, then=_close_after_rows),
                 id="the connection ends inside a PDU"),
    pytest.param(_stream_script(lambda rq: _matches(rq, 2), then=_release_after_rows),
                 id="the PACS asks to release mid-stream"),
])
def test_a_search_the_pacs_ends_early_is_named_alike_on_both_paths(
        script: Callable[[PeerConnection], None], monkeypatch: pytest.MonkeyPatch,
        lend_spy: list[watchdog.GuardedSocket]) -> None:
    with PduPeer(script) as peer:
        seen = _on_both_paths(monkeypatch, lend_spy,
                              lambda: _find(_node(peer.port), FindQuery(), None), peer)
    lean = _assert_same(seen)
    assert len(lean.rows) == 2, "the rows before the end are kept"
    assert lean.error is not None and PEER_AET in lean.error[1]


@pytest.mark.network
def test_a_c_move_rsp_to_our_c_find_is_named_by_what_it_is(
        monkeypatch: pytest.MonkeyPatch, lend_spy: list[watchdog.GuardedSocket]) -> None:
    """pynetdicom ends the association itself, and its path can only say so; ours names the
    answer (the same kind of error, the same title)."""
    script = _stream_script(lambda rq: _matches(rq, 2) + _final(rq, field_=C_MOVE_RSP,
                                                                counts=(0, 0, 0, 0)))
    with PduPeer(script) as peer:
        seen = _on_both_paths(monkeypatch, lend_spy,
                              lambda: _find(_node(peer.port), FindQuery(), None), peer)
    lean = _assert_same(seen, explanation=False)
    assert lean.error is not None
    assert lean.error[1] == f"{PEER_AET} sent data that is not valid DICOM."
    assert "It sent a C-MOVE-RSP where a C-FIND-RSP was due" in lean.error[2]
    assert len(lean.rows) == 2


def _answers_until_cancel(confirm: bool) -> Callable[[PeerConnection], None]:
    """Pending answers every 50 ms until a C-CANCEL-RQ arrives; then 0xFE00 (``confirm``)
    or an A-RELEASE-RQ (the PACS ends the search by releasing, PS3.4 C.4.1.3.1)."""
    def script(conn: PeerConnection) -> None:
        conn.accept()
        request = conn.read_request()
        assert request is not None
        for i in range(200):
            if not conn.send(_pending(request, encode_dataset(_match(i)))):
                return
            got = conn.read_pdu(timeout=0.05)
            if got is not None and got[0] == P_DATA:  # our C-CANCEL-RQ
                if confirm:
                    conn.send(_final(request, 0xFE00))
                    conn.release_if_asked()
                else:
                    conn.send(pdu(RELEASE_RQ, bytes(4)))
                    got = conn.read_pdu(timeout=2)
                    conn.wait_closed(2)
                return
    return script


@pytest.mark.network
@pytest.mark.parametrize("confirm", [True, False], ids=["cancel confirmed with 0xFE00",
                                                        "the PACS releases after the cancel"])
def test_cancel_mid_stream_ends_alike_on_both_paths(
        confirm: bool, monkeypatch: pytest.MonkeyPatch,
        lend_spy: list[watchdog.GuardedSocket]) -> None:
    with PduPeer(_answers_until_cancel(confirm)) as peer:
        seen = _on_both_paths(monkeypatch, lend_spy, lambda: _find(
            _node(peer.port), FindQuery(), lambda op: op.cancel()), peer)
    for outcome in seen.values():  # rows arrive on a clock: compare all but their number
        assert outcome.rows, "rows arrived before the cancel"
        outcome.rows = []
        outcome.result = outcome.result[1:]
    lean = _assert_same(seen)
    assert lean.aborts == 0
    if confirm:
        assert lean.error is None and lean.result == (0xFE00, True, 0)


def _move_script(conn: PeerConnection) -> None:
    conn.accept()
    request = conn.read_request()
    assert request is not None
    failed = Dataset()
    failed.FailedSOPInstanceUIDList = ["1.2.3.4.5", "1.2.3.4.6"]
    ctx, sop = request.context_id, request.affected_sop_class()
    out = b""
    for done, counts in enumerate([(3, 0, 0, 0), (2, EMPTY, 0, 0), (1, 1, None, 0)]):
        out += p_data(pdv(ctx, response_command(C_MOVE_RSP, sop, 1, 0xFF00, counts=counts),
                          command=True, last=True))
        del done
    out += p_data(pdv(ctx, response_command(C_MOVE_RSP, sop, 1, 0xB000, has_data_set=True,
                                            counts=(0, 1, 2, 0),
                                            extra=[(0x00000902, "LO", "two failed ")]),
                      command=True, last=True))
    out += p_data(pdv(ctx, encode_dataset(failed), command=False, last=True))
    conn.send(out)
    conn.release_if_asked()


@pytest.mark.network
def test_a_move_gives_the_same_counts_outcome_and_failed_list_on_both_paths(
        monkeypatch: pytest.MonkeyPatch, lend_spy: list[watchdog.GuardedSocket]) -> None:
    with PduPeer(_move_script) as peer:
        seen = _on_both_paths(monkeypatch, lend_spy,
                              lambda: _move(_node(peer.port), "WS", None), peer)
    lean = _assert_same(seen)
    assert lean.result[3] == 2 and lean.result[7] == ("1.2.3.4.5", "1.2.3.4.6")
    assert lean.result[6] == "two failed"


# ---------------------------------------------------------------- real peers


@pytest.mark.network
@pytest.mark.peers
@pytest.mark.parametrize("level", [QueryLevel.STUDY, QueryLevel.SERIES, QueryLevel.IMAGE])
@pytest.mark.parametrize("archive", ["orthanc", "dcmqrscp"])
def test_real_peers_give_identical_rows_on_both_paths(
        archive: str, level: QueryLevel, request: pytest.FixtureRequest,
        monkeypatch: pytest.MonkeyPatch, lend_spy: list[watchdog.GuardedSocket]) -> None:
    from tests.interop.conftest import node_for
    from tests.peers import INTEROP_STUDIES

    peer = request.getfixturevalue(archive)
    spec = INTEROP_STUDIES[-1]
    keys = {} if level is QueryLevel.STUDY else {"StudyInstanceUID": spec.study_uid}
    if level is QueryLevel.IMAGE:
        keys["SeriesInstanceUID"] = spec.series_uid(0)
    query = FindQuery(level, keys=keys)
    seen = _on_both_paths(monkeypatch, lend_spy, lambda: _find(node_for(peer), query, None))
    lean = _assert_same(seen)
    assert lean.rows and lean.error is None


@pytest.mark.network
@pytest.mark.peers
@pytest.mark.parametrize("archive", ["orthanc", "dcmqrscp"])
def test_real_peers_move_alike_on_both_paths(
        archive: str, request: pytest.FixtureRequest, storescp: Any,
        monkeypatch: pytest.MonkeyPatch, lend_spy: list[watchdog.GuardedSocket]) -> None:
    from tests.interop.conftest import node_for
    from tests.peers import INTEROP_STUDIES

    peer = request.getfixturevalue(archive)
    spec = INTEROP_STUDIES[0]

    def run() -> Seen:
        seen = Seen()
        with Courier() as courier:
            result = asyncio.run(courier.move(node_for(peer), MoveRequest(
                MoveTarget(spec.study_uid), storescp.aet)).run())
        seen.error = _error(result.error)
        seen.result = (result.outcome, result.total, result.completed, result.failed,
                       result.warning, result.status)
        return seen

    seen = _on_both_paths(monkeypatch, lend_spy, run)
    lean = _assert_same(seen)
    assert lean.error is None and lean.result[2] == lean.result[1] and lean.result[2] > 0


# ---------------------------------------------------------------- encodings


def _encoded(ds: Dataset, *, implicit: bool, little: bool) -> bytes:
    fp = DicomBytesIO()
    fp.is_little_endian, fp.is_implicit_VR = little, implicit
    write_dataset(fp, ds)
    return fp.getvalue()


@pytest.mark.parametrize(("implicit", "little", "deflated"), [
    (True, True, False), (False, True, False), (False, False, False), (False, True, True)],
    ids=["implicit LE", "explicit LE", "explicit BE", "deflated explicit LE"])
def test_an_identifier_reads_the_same_in_every_transfer_syntax(
        implicit: bool, little: bool, deflated: bool) -> None:
    plain = EncodedIdentifier(_encoded(_match(1), implicit=True, little=True), True, True)
    data = _encoded(_match(1), implicit=implicit, little=little)
    if deflated:
        packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
        data = packer.compress(data) + packer.flush()
    encoded = EncodedIdentifier(data, implicit, little, deflated)
    match = encoded.match(QueryLevel.STUDY)
    assert match.values == plain.match(QueryLevel.STUDY).values
    assert match.get("PatientName") == "MÜLLER^ANNA1"
    assert str(encoded.dataset().StudyInstanceUID) == f"{STUDY}.1"


def test_a_deflate_bomb_is_refused_not_inflated() -> None:
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    bomb = packer.compress(bytes(50_000_000)) + packer.flush()
    encoded = EncodedIdentifier(bomb, False, True, True, max_inflated=1 << 20)
    with pytest.raises(ValueError, match="more than 1048576 bytes"):
        encoded.raw()


@pytest.mark.network
def test_rows_show_while_the_pacs_holds_half_a_pdu_on_both_paths(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A match followed, in the same send, by the start of a PDU whose rest never comes: the
    match must reach the consumer at once (the window shows it), not when the search ends.
    The lean reader once held it back because bytes were buffered after it."""
    def script(conn: PeerConnection) -> None:
        conn.accept()
        request = conn.read_request()
        assert request is not None
        conn.send(_pending(request, encode_dataset(_match(1)))
                  + pdu(P_DATA, b"\x00" * 10, length=1000))
        time.sleep(12)

    for path in (LEAN, PYNETDICOM):
        monkeypatch.setenv(READ_PATH_ENV, path)
        with PduPeer(script) as peer, Courier(cancel_grace=1.0) as courier:
            async def first_row_after() -> float:
                started = time.monotonic()
                op = courier.find(_node(peer.port, idle=10), FindQuery(level=QueryLevel.STUDY),
                                  raise_on_error=False)
                async for _ in op:
                    return time.monotonic() - started
                raise AssertionError("no row arrived")

            seconds = asyncio.run(first_row_after())
        assert seconds < 5, f"{path}: the row came only when the search ended (idle 10 s)"
