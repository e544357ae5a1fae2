"""A DICOM peer at the PDU level over raw sockets: it can send anything, at any pace.

pynetdicom SCPs (``misbehaving.py``) can only misbehave in ways pynetdicom allows. This peer
speaks the DICOM Upper Layer protocol (PS3.8 9.3) by hand, so a test scripts exactly which
bytes go out: a PDU cut short, an unknown PDU type, an A-ASSOCIATE-AC without a Maximum Length
item, endless P-DATA fragments, one byte a second, a data set with an unknown VR.

A test gives a *script*: a function that receives a :class:`PeerConnection` for each accepted
TCP connection and runs on that connection's thread. Helpers build the usual PDUs and DIMSE
responses; everything else can be sent as raw bytes. The peer records what it received, so a
test can count the A-ABORTs the client sent.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from io import BytesIO
from typing import Self

from pydicom.dataset import Dataset
from pydicom.filewriter import write_dataset

IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1"
IMPLEMENTATION_UID = "1.2.826.0.1.3680043.9.7433.1.99"

# PDU types (PS3.8 9.3.1)
ASSOCIATE_RQ, ASSOCIATE_AC, ASSOCIATE_RJ = 0x01, 0x02, 0x03
P_DATA, RELEASE_RQ, RELEASE_RP, ABORT = 0x04, 0x05, 0x06, 0x07

# DIMSE command fields (PS3.7 E.1)
C_FIND_RSP, C_MOVE_RSP, C_ECHO_RSP = 0x8020, 0x8021, 0x8030
NO_DATA_SET, HAS_DATA_SET = 0x0101, 0x0000

Script = Callable[["PeerConnection"], None]

#: A sub-operation count sent as a zero-length element (PS3.7 C.4.2.1.6 counts may come empty).
EMPTY = "empty"
#: One count for :func:`response_command`: a number, EMPTY, or None to leave the element out.
Count = int | str | None


# ---------------------------------------------------------------- PDU building blocks


def pdu(pdu_type: int, body: bytes, *, length: int | None = None) -> bytes:
    """A PDU: type, reserved byte, 4-byte length (``length`` overrides the true one), body."""
    return struct.pack(">BBL", pdu_type, 0, len(body) if length is None else length) + body


def _item(item_type: int, body: bytes) -> bytes:
    return struct.pack(">BBH", item_type, 0, len(body)) + body


def _ae(title: str) -> bytes:
    return title.encode("ascii").ljust(16)[:16]


def associate_ac(rq: AssociateRq, *, transfer_syntax: str = IMPLICIT_LE,
                 max_length: int | None = 16384, reject_all: bool = False,
                 implementation_uid: str = IMPLEMENTATION_UID,
                 version_name: str | None = None) -> bytes:
    """An A-ASSOCIATE-AC accepting every proposed context with ``transfer_syntax``.

    ``max_length=None`` leaves the Maximum Length sub-item out (PS3.8 D.1 makes it mandatory).
    ``implementation_uid`` / ``version_name`` play another PACS's identity (PS3.7 D.3.3.2-3),
    e.g. DCMTK's "OFFIS_DCMTK_367", which Orthanc 1.10 sends too.
    """
    body = struct.pack(">HH", 1, 0) + _ae(rq.called_aet) + _ae(rq.calling_aet) + bytes(32)
    body += _item(0x10, APPLICATION_CONTEXT.encode())
    for context_id, _abstract in rq.contexts:
        result = 3 if reject_all else 0
        body += _item(0x21, struct.pack(">BBBB", context_id, 0, result, 0)
                      + _item(0x40, transfer_syntax.encode()))
    user = b""
    if max_length is not None:
        user += _item(0x51, struct.pack(">L", max_length))
    user += _item(0x52, implementation_uid.encode())
    if version_name is not None:
        user += _item(0x55, version_name.encode("ascii"))
    body += _item(0x50, user)
    return pdu(ASSOCIATE_AC, body)


def associate_rj(result: int = 1, source: int = 1, reason: int = 1) -> bytes:
    return pdu(ASSOCIATE_RJ, struct.pack(">BBBB", 0, result, source, reason))


def release_rp() -> bytes:
    return pdu(RELEASE_RP, bytes(4))


def abort(source: int = 0, reason: int = 0) -> bytes:
    return pdu(ABORT, struct.pack(">BBBB", 0, 0, source, reason))


def pdv(context_id: int, data: bytes, *, command: bool, last: bool) -> bytes:
    """One presentation data value item (PS3.8 E.2): length, context ID, control header."""
    control = (0x01 if command else 0) | (0x02 if last else 0)
    return struct.pack(">LBB", len(data) + 2, context_id, control) + data


def p_data(*pdvs: bytes) -> bytes:
    return pdu(P_DATA, b"".join(pdvs))


def encode_command(elements: Iterable[tuple[int, str, object]]) -> bytes:
    """A DIMSE command set in Implicit VR Little Endian, with its Command Group Length.

    ``elements`` are (tag, kind, value); kind is "US", "UL", "UI"/"AE" (text) or EMPTY (a
    zero-length element, whatever the value).
    """
    encoded = b""
    for tag, kind, value in sorted(elements, key=lambda e: e[0]):
        if kind == EMPTY:
            raw = b""
        elif kind == "US":
            raw = struct.pack("<H", int(value))  # type: ignore[call-overload]
        elif kind == "UL":
            raw = struct.pack("<L", int(value))  # type: ignore[call-overload]
        else:
            raw = str(value).encode("ascii")
            if len(raw) % 2:
                raw += b"\x00" if kind == "UI" else b" "
        encoded += struct.pack("<HHL", tag >> 16, tag & 0xFFFF, len(raw)) + raw
    return struct.pack("<HHLL", 0x0000, 0x0000, 4, len(encoded)) + encoded


def encode_dataset(ds: Dataset, transfer_syntax: str = IMPLICIT_LE) -> bytes:
    fp = BytesIO()
    from pydicom.filebase import DicomFileLike

    out = DicomFileLike(fp)
    out.is_little_endian = True
    out.is_implicit_VR = transfer_syntax == IMPLICIT_LE
    write_dataset(out, ds)
    return fp.getvalue()


def response_command(command_field: int, sop_class: str, msg_id: int, status: int, *,
                     has_data_set: bool = False,
                     counts: tuple[Count, Count, Count, Count] | None = None,
                     extra: Iterable[tuple[int, str, object]] = ()) -> bytes:
    """A C-FIND/C-MOVE/C-ECHO response command set; ``counts`` = remaining, completed, failed,
    warning sub-operations (C-MOVE), each a number, :data:`EMPTY` or None (left out)."""
    elements: list[tuple[int, str, object]] = [
        (0x00000002, "UI", sop_class),
        (0x00000100, "US", command_field),
        (0x00000120, "US", msg_id),
        (0x00000800, "US", HAS_DATA_SET if has_data_set else NO_DATA_SET),
        (0x00000900, "US", status),
        *extra,
    ]
    if counts is not None:
        for tag, value in zip((0x00001020, 0x00001021, 0x00001022, 0x00001023), counts,
                              strict=True):
            if value is not None:
                elements.append((tag, EMPTY if value == EMPTY else "US", value))
    return encode_command(elements)


# ---------------------------------------------------------------- what the client asked


@dataclass
class AssociateRq:
    called_aet: str
    calling_aet: str
    contexts: list[tuple[int, str]]  # (presentation context ID, abstract syntax UID)
    max_length: int


@dataclass
class Request:
    """A DIMSE request as received: its context, raw command set and raw data set."""

    context_id: int
    command: bytes
    data_set: bytes | None

    def command_field(self) -> int:
        return _command_us(self.command, 0x0100)

    def message_id(self) -> int:
        return _command_us(self.command, 0x0110)

    def affected_sop_class(self) -> str:
        return _command_text(self.command, 0x0002)


def _command_elements(command: bytes) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    pos = 0
    while pos + 8 <= len(command):
        group, element, length = struct.unpack_from("<HHL", command, pos)
        out[(group << 16) | element] = command[pos + 8:pos + 8 + length]
        pos += 8 + length
    return out


def _command_us(command: bytes, element: int) -> int:
    raw = _command_elements(command).get(element, b"\x00\x00")
    return int(struct.unpack("<H", raw[:2])[0])


def _command_text(command: bytes, element: int) -> str:
    return _command_elements(command).get(element, b"").decode("ascii").rstrip("\x00 ")


def parse_associate_rq(body: bytes) -> AssociateRq:
    called = body[4:20].decode("ascii").strip()
    calling = body[20:36].decode("ascii").strip()
    pos, contexts, max_length = 68, [], 0
    while pos + 4 <= len(body):
        item_type, _, length = struct.unpack_from(">BBH", body, pos)
        value = body[pos + 4:pos + 4 + length]
        if item_type == 0x20:
            context_id = value[0]
            sub = 4
            while sub + 4 <= len(value):
                sub_type, _, sub_len = struct.unpack_from(">BBH", value, sub)
                if sub_type == 0x30:
                    contexts.append((context_id,
                                     value[sub + 4:sub + 4 + sub_len].decode().rstrip("\x00")))
                sub += 4 + sub_len
        elif item_type == 0x50:
            sub = 0
            while sub + 4 <= len(value):
                sub_type, _, sub_len = struct.unpack_from(">BBH", value, sub)
                if sub_type == 0x51:
                    max_length = struct.unpack_from(">L", value, sub + 4)[0]
                sub += 4 + sub_len
        pos += 4 + length
    return AssociateRq(called, calling, contexts, max_length)


# ---------------------------------------------------------------- one connection


@dataclass
class Received:
    """Everything one connection received, for assertions after the fact."""

    pdu_types: list[int] = field(default_factory=list)
    closed_at: float | None = None

    @property
    def aborts(self) -> int:
        return self.pdu_types.count(ABORT)


class PeerConnection:
    """One accepted TCP connection, driven by the script on its own thread."""

    def __init__(self, sock: socket.socket, stopping: threading.Event) -> None:
        self.sock = sock
        self.received = Received()
        self._stopping = stopping
        self._buffer = b""
        self.rq: AssociateRq | None = None
        self.last_request: Request | None = None

    # -- sending

    def send(self, data: bytes) -> bool:
        """Send raw bytes (blocking until they are out); False if the client has gone."""
        try:
            self.sock.settimeout(None)  # read_pdu polls with a short timeout
            self.sock.sendall(data)
        except OSError:
            return False
        return True

    def send_slowly(self, data: bytes, seconds_per_byte: float) -> bool:
        """One byte at a time; stops early (False) when the client goes or the peer stops."""
        for i in range(len(data)):
            if not self.send(data[i:i + 1]) or self._stopping.wait(seconds_per_byte):
                return False
        return True

    # -- receiving

    def read_pdu(self, timeout: float = 10.0) -> tuple[int, bytes] | None:
        """The next PDU (type, body), or None if the client closed or nothing came in time."""
        header = self._read_exact(6, timeout)
        if header is None:
            return None
        pdu_type, _, length = struct.unpack(">BBL", header)
        body = self._read_exact(length, timeout)
        if body is None:
            return None
        self.received.pdu_types.append(pdu_type)
        return pdu_type, body

    def _read_exact(self, count: int, timeout: float) -> bytes | None:
        end = time.monotonic() + timeout
        while len(self._buffer) < count:
            remaining = end - time.monotonic()
            if remaining <= 0 or self._stopping.is_set():
                return None
            try:  # the script may have closed the socket itself (EBADF)
                self.sock.settimeout(min(remaining, 0.05))
                chunk = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                chunk = b""
            if not chunk:
                self.received.closed_at = time.monotonic()
                return None
            self._buffer += chunk
        data, self._buffer = self._buffer[:count], self._buffer[count:]
        return data

    def wait_closed(self, timeout: float = 10.0) -> bool:
        """Read (and record) PDUs until the client closes; True if it did within ``timeout``."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.read_pdu(timeout=end - time.monotonic()) is None:
                return self.received.closed_at is not None
        return False

    # -- the usual conversation

    def read_associate_rq(self) -> AssociateRq:
        got = self.read_pdu()
        assert got is not None and got[0] == ASSOCIATE_RQ, f"expected A-ASSOCIATE-RQ, got {got}"
        self.rq = parse_associate_rq(got[1])
        return self.rq

    def accept(self, **kwargs: object) -> AssociateRq:
        """Read the A-ASSOCIATE-RQ and accept every context (see :func:`associate_ac`)."""
        rq = self.read_associate_rq()
        self.send(associate_ac(rq, **kwargs))  # type: ignore[arg-type]
        return rq

    def read_request(self, timeout: float = 10.0) -> Request | None:
        """Assemble one DIMSE request from P-DATA fragments; None if anything else came."""
        command, data_set, context_id = b"", b"", 0
        command_done = data_done = False
        while not (command_done and data_done):
            got = self.read_pdu(timeout)
            if got is None or got[0] != P_DATA:
                return None
            body, pos = got[1], 0
            while pos + 6 <= len(body):
                length, context_id, control = struct.unpack_from(">LBB", body, pos)
                fragment = body[pos + 6:pos + 4 + length]
                pos += 4 + length
                if control & 0x01:
                    command += fragment
                    if control & 0x02:
                        command_done = True
                        data_done = _command_us(command, 0x0800) == NO_DATA_SET
                else:
                    data_set += fragment
                    data_done = bool(control & 0x02)
        self.last_request = Request(context_id, command, data_set if data_set else None)
        return self.last_request

    def respond(self, request: Request, command_field: int, status: int, *,
                identifier: bytes | None = None,
                counts: tuple[Count, Count, Count, Count] | None = None) -> bool:
        """Send one response to ``request`` (command and data set in one PDU each)."""
        command = response_command(command_field, request.affected_sop_class(),
                                   request.message_id(), status,
                                   has_data_set=identifier is not None, counts=counts)
        ok = self.send(p_data(pdv(request.context_id, command, command=True, last=True)))
        if identifier is not None and ok:
            ok = self.send(p_data(pdv(request.context_id, identifier, command=False,
                                      last=True)))
        return ok

    def release_if_asked(self, timeout: float = 5.0) -> None:
        """Answer an A-RELEASE-RQ with A-RELEASE-RP, then wait for the close."""
        got = self.read_pdu(timeout)
        if got is not None and got[0] == RELEASE_RQ:
            self.send(release_rp())
        self.wait_closed(timeout)


# ---------------------------------------------------------------- the listening peer


class PduPeer:
    """Listen on a free loopback port; run ``script`` for every connection, each in a thread.

    ``stop()`` closes every connection at once, whatever the script is doing.
    """

    def __init__(self, script: Script, host: str = "127.0.0.1") -> None:
        self.script = script
        self.host = host
        self.connections: list[PeerConnection] = []
        self.errors: list[BaseException] = []
        self._stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self.port = 0

    def start(self) -> Self:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, 0))
        listener.listen(8)
        listener.settimeout(0.05)
        self._listener = listener
        self.port = listener.getsockname()[1]
        thread = threading.Thread(target=self._accept_loop, name="pdu-peer", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = PeerConnection(sock, self._stopping)
            self.connections.append(conn)
            thread = threading.Thread(target=self._run, args=(conn,), name="pdu-peer-conn",
                                      daemon=True)
            thread.start()
            self._threads.append(thread)

    def _run(self, conn: PeerConnection) -> None:
        try:
            self.script(conn)
        except (OSError, AssertionError) as exc:
            self.errors.append(exc)
        finally:
            # Leave the connection open until the client closes it or the peer stops: a
            # misbehaving peer that holds a connection is part of what tests need.
            while not self._stopping.is_set() and conn.received.closed_at is None:
                conn.read_pdu(timeout=0.1)
            conn.sock.close()

    def stop(self) -> None:
        self._stopping.set()
        if self._listener is not None:
            self._listener.close()
        for conn in self.connections:
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(timeout=2)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ---------------------------------------------------------------- answers and identifiers
# (issue 8 §5-6: answers that cannot be read; the PACS's own UIDs sent back)

C_FIND_RQ, C_MOVE_RQ = 0x0020, 0x0021


def element(group: int, elem: int, value: bytes, *, length: int | None = None) -> bytes:
    """One Implicit VR Little Endian element; ``length`` overrides the true one (a data set
    cut off mid-element announces more than it holds)."""
    return struct.pack("<HHL", group, elem, len(value) if length is None else length) + value


def send_pending_without_data_set(conn: PeerConnection, request: Request) -> bool:
    """A Pending C-FIND-RSP whose Command Data Set Type announces a match that never comes."""
    command = response_command(C_FIND_RSP, request.affected_sop_class(), request.message_id(),
                               0xFF00, has_data_set=True)
    return conn.send(p_data(pdv(request.context_id, command, command=True, last=True)))


def request_identifier(request: Request) -> Dataset:
    """The identifier a C-FIND-RQ or C-MOVE-RQ carried, decoded (Implicit VR Little Endian)."""
    from pynetdicom.dsutils import decode

    assert request.data_set is not None, "the request carried no identifier"
    return decode(BytesIO(request.data_set), True, True)


def query_retrieve_script(find_answers: list[bytes], moves: list[Dataset], *,
                          move_counts: tuple[int, int, int, int] = (0, 1, 0, 0)) -> Script:
    """A PACS that answers every C-FIND with ``find_answers`` (raw identifiers, each a Pending
    response, then Success) and every C-MOVE with Success and ``move_counts``, recording each
    C-MOVE-RQ identifier in ``moves``. One association per operation, released when asked."""
    def script(conn: PeerConnection) -> None:
        conn.accept()
        request = conn.read_request()
        assert request is not None
        if request.command_field() == C_MOVE_RQ:
            moves.append(request_identifier(request))
            conn.respond(request, C_MOVE_RSP, 0x0000, counts=move_counts)
        else:
            for identifier in find_answers:
                conn.respond(request, C_FIND_RSP, 0xFF00, identifier=identifier)
            conn.respond(request, C_FIND_RSP, 0x0000)
        conn.release_if_asked()
    return script


def find_answers(*identifiers: bytes,
                 missing_after: int | None = None) -> Callable[[PeerConnection], None]:
    """A C-FIND peer script sending ``identifiers`` (encoded data sets) as Pending answers,
    then 0x0000; with ``missing_after`` = i, a Pending without its match comes before the
    i-th (the rest are never read: we end the association)."""
    def script(conn: PeerConnection) -> None:
        conn.accept()
        request = conn.read_request()
        assert request is not None
        for i, identifier in enumerate(identifiers):
            if i == missing_after:
                send_pending_without_data_set(conn, request)
            conn.respond(request, C_FIND_RSP, 0xFF00, identifier=identifier)
        conn.respond(request, C_FIND_RSP, 0x0000)
        conn.release_if_asked()
    return script
