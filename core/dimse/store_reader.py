"""The lean C-STORE reader: the receiver's C-STORE requests read off the socket by their own
association thread, answered without pynetdicom's reactors.

pynetdicom accepts the association (A-ASSOCIATE-RQ/AC, PS3.8 7.1, the allow-list, the
presentation contexts). From then on its reader thread polls every 1 ms, reads each PDU in
4 KiB pieces, copies every fragment twice and hands each message through a queue to the
association thread, which polls that queue every 1 ms too: a few ms per instance, ~3x what
DCMTK's storescp needs for 0.5 MB instances (benchmarks/receive_speed.py, row 10). Here:

- **Take-over** (race-free): at EVT_CONN_OPEN the association's socket becomes a
  :class:`LeanStoreSocket`. When pynetdicom's reader thread sends the A-ASSOCIATE-AC through
  it, the socket is *lent* (that thread then never reads it again until it is given back);
  at EVT_ESTABLISHED the association's own thread runs :class:`_StoreLoop` instead of
  waiting in pynetdicom's reactor.
- **PDUs** (PS3.8 9.3.1, 9.3.5 P-DATA-TF) are read in large chunks (``recv_into`` a 1 MiB
  buffer; a data set fragment larger than what is buffered is read straight into the data
  set's buffer), **presentation data values** (PS3.8 Annex E) joined into the command set
  and the data set.
- **The command set** (PS3.7 6.3, Annex E, Implicit VR Little Endian) is walked by a tiny
  element reader. A C-STORE-RQ (PS3.7 9.3.1.1) becomes pynetdicom's own ``C_STORE``
  primitive, and the association's bound EVT_C_STORE handler (the receiver's) is called
  through ``evt.trigger`` exactly as pynetdicom's Storage SCP calls it (same event, same
  status validation, 0xC211 when the handler raises).
- **The C-STORE-RSP** (PS3.7 9.3.1.2) is encoded here (Implicit VR Little Endian: Affected
  SOP Class/Instance UID, Message ID Being Responded To, Status, Error Comment) and sent in
  one P-DATA-TF; a status data set with other elements goes through pynetdicom's DIMSE.

Anything else gives the socket back to pynetdicom at a PDU boundary, with the bytes read but
not consumed pushed back in front of it (re-framed as one P-DATA-TF when a message's command
fragments or a PDU's remaining PDVs were already taken apart): any other PDU (A-RELEASE-RQ,
A-ABORT, ...), any other DIMSE message (C-ECHO, ...), a C-STORE-RQ pynetdicom would refuse
(unknown context, not a Storage SOP class, an invalid command), the end of the connection,
a network error, the idle timeout (pynetdicom then aborts, as it would). pynetdicom then
does what it always did. The lean path is not taken at all when handlers for PDU/DIMSE
notification events are bound, pynetdicom's chunked or unrestricted storage options are on,
or ``COURIER_RECEIVE_PATH=pynetdicom`` (:func:`receive_path`; for comparison in tests and
benchmarks, or as a fallback in the field).

Nothing here imports Qt. Runs on: the association's threads (see each function).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any

from pynetdicom import _config, evt
from pynetdicom.association import Association
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.events import Event
from pynetdicom.service_class import StorageServiceClass
from pynetdicom.sop_class import uid_to_service_class
from pynetdicom.transport import AssociationSocket

from dicom_courier.core.dimse.receiver_guard import watch_of

log = logging.getLogger(__name__)

#: The environment variable that chooses the receive path.
RECEIVE_PATH_ENV = "COURIER_RECEIVE_PATH"
#: This module's reader.
LEAN = "lean"
#: pynetdicom's reader thread, DIMSE assembly and Storage SCP.
PYNETDICOM = "pynetdicom"

#: Bytes asked of the socket per read (large: one read often holds a whole PDU).
READ_CHUNK = 1 << 20
#: While lent, pynetdicom's reader asks ``ready`` at most this often (s).
LENT_POLL = 0.05
#: Our reads wake this often (s) to see whether the association was aborted or killed.
TICK = 0.25
#: The largest command fragment read here (bytes); a C-STORE-RQ's command set is ~200 bytes
#: (PS3.7 9.3.1.1). A larger one is left to pynetdicom, which reads what is sent, 4 KiB at a
#: time, whatever the PDV announces.
MAX_COMMAND = 1 << 16
#: How long (s) the association thread waits for the A-ASSOCIATE-AC to go out.
ACCEPT_WAIT = 10.0

_P_DATA_TF = 0x04
_C_STORE_RQ = 0x0001
_C_STORE_RSP = 0x8001
_NO_DATA_SET = 0x0101
#: Notification events whose handlers see every PDU / DIMSE message: bound, we stand aside.
_WATCHED_EVENTS = (evt.EVT_DATA_RECV, evt.EVT_DATA_SENT, evt.EVT_PDU_RECV, evt.EVT_PDU_SENT,
                   evt.EVT_DIMSE_RECV, evt.EVT_DIMSE_SENT, evt.EVT_FSM_TRANSITION)


def receive_path() -> str:
    """:data:`LEAN` or :data:`PYNETDICOM`, from :data:`RECEIVE_PATH_ENV` (anything but
    "pynetdicom", case and spaces aside, means lean). Read when each association opens."""
    value = os.environ.get(RECEIVE_PATH_ENV, LEAN).strip().lower()
    return PYNETDICOM if value == PYNETDICOM else LEAN


def lean_store_handlers() -> list[evt.EventHandlerType]:
    """The handlers a Storage SCP binds (with its own) to read C-STOREs on the lean path:
    EVT_CONN_OPEN arms the socket, EVT_ESTABLISHED serves. Runs on: the caller's thread."""
    return [(evt.EVT_CONN_OPEN, _on_conn_open), (evt.EVT_ESTABLISHED, _on_established)]


@dataclass
class _Loan:
    """Who reads the socket: pynetdicom's reader (not lent) or the association thread."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    armed: bool = True  # lend at the A-ASSOCIATE-AC
    lent: bool = False
    accepted: threading.Event = field(default_factory=threading.Event)
    wake: threading.Event = field(default_factory=threading.Event)
    pushback: bytes = b""

    def give_back(self, pushback: bytes | bytearray | memoryview) -> None:
        with self.lock:
            self.pushback = bytes(pushback) + self.pushback
            self.lent = False
            self.armed = False
        self.wake.set()


class LeanStoreSocket(AssociationSocket):
    """pynetdicom's socket wrapper, lent to the association thread from the A-ASSOCIATE-AC
    on (pynetdicom offers no hook to choose the class: installed at EVT_CONN_OPEN)."""

    _loan: _Loan

    @property
    def ready(self) -> bool:
        loan = self._loan
        if loan.lent:
            loan.wake.wait(LENT_POLL)  # pynetdicom asks every 1 ms: sleep here instead
            loan.wake.clear()
            if loan.lent:
                return False
        if loan.pushback:
            return True
        return bool(AssociationSocket.ready.fget(self))  # type: ignore[attr-defined]

    def recv(self, nr_bytes: int) -> bytearray:
        loan = self._loan
        if loan.pushback:
            with loan.lock:
                data, loan.pushback = loan.pushback[:nr_bytes], loan.pushback[nr_bytes:]
            out = bytearray(data)
            if len(out) < nr_bytes:
                out += super().recv(nr_bytes - len(out))
            return out
        return super().recv(nr_bytes)

    def send(self, bytestream: bytes) -> None:
        loan = self._loan
        if loan.armed and bytestream[:1] == b"\x02":  # A-ASSOCIATE-AC (PS3.8 9.3.3)
            with loan.lock:
                loan.lent = loan.armed
                loan.armed = False
            super().send(bytestream)
            loan.accepted.set()
            return
        super().send(bytestream)


def _on_conn_open(event: Event) -> None:
    """Runs on: the server's request thread, before pynetdicom's reader starts."""
    sock = event.assoc.dul.socket
    if receive_path() != LEAN or sock is None or type(sock) is not AssociationSocket:
        return
    sock.__class__ = LeanStoreSocket
    sock._loan = _Loan()  # type: ignore[attr-defined]


def _eligible(assoc: Association) -> bool:
    if _config.STORE_RECV_CHUNKED_DATASET or _config.UNRESTRICTED_STORAGE_SERVICE:
        return False
    if assoc.acceptor.accepted_common_extended:
        return False
    return not any(assoc.get_handlers(e) for e in _WATCHED_EVENTS)


def _on_established(event: Event) -> None:
    """Runs on: the association's thread, after the A-ASSOCIATE-AC was queued. Serves
    C-STOREs until something else comes, then returns to pynetdicom's reactor."""
    assoc = event.assoc
    sock = assoc.dul.socket
    if not isinstance(sock, LeanStoreSocket):
        return
    loan = sock._loan
    loan.accepted.wait(ACCEPT_WAIT)
    with loan.lock:
        loan.armed = False
        lent = loan.lent
    raw = sock.socket
    if not lent or raw is None:
        loan.give_back(b"")
        return
    if not _eligible(assoc):
        loan.give_back(b"")
        return
    timeout = raw.gettimeout()
    loop = _StoreLoop(assoc, raw)
    pushback: bytes | None = None
    try:
        raw.settimeout(TICK)
        pushback = loop.run()
    except Exception:  # a bug of ours mid-message: the stream is lost, end it plainly
        log.exception("The lean C-STORE reader failed; aborting the association")
    finally:
        assoc.dul._idle_timer.restart()
        with contextlib.suppress(OSError):
            raw.settimeout(timeout)
        loan.give_back(pushback or b"")
    if pushback is None and assoc.is_established:
        assoc.abort()


class _Closed(Exception):
    """The connection ended, failed, went idle or the association was ended: give back."""


@dataclass
class _Command:
    """The elements of one command set we need, as raw values (PS3.7 E.1)."""

    context_id: int
    fields: dict[int, bytes]

    def us(self, element: int) -> int | None:
        raw = self.fields.get(element)
        return struct.unpack("<H", raw[:2])[0] if raw is not None and len(raw) >= 2 else None

    def text(self, element: int) -> str | None:
        raw = self.fields.get(element)
        return None if raw is None else raw.decode("ascii", "replace").rstrip("\x00 ")


class _StoreLoop:
    """Reads P-DATA-TF PDUs, stores each C-STORE-RQ, answers it; returns the pushback."""

    def __init__(self, assoc: Association, raw: socket.socket) -> None:
        self.assoc = assoc
        self.raw = raw
        self.buf = bytearray(READ_CHUNK)
        self.view = memoryview(self.buf)
        self.start = 0  # unconsumed bytes: buf[start:end]
        self.end = 0
        # The data set being assembled: its first ``size`` bytes, written in place through
        # getbuffer(); handed to the handler as this BytesIO, whose getvalue() then returns
        # its own buffer (CPython shares it: no copy of the 0.5 MB).
        self.data = BytesIO()
        self.capacity = 0
        self.size = 0
        self.guess = 1 << 16  # the last data set's size: one allocation per message
        self.idle_expired = False
        self.watch = watch_of(assoc)  # the receiver guard's pace and size (None: unguarded)
        timeout = assoc.network_timeout
        self.idle = float(timeout) if timeout is not None else None
        self.last_read = time.monotonic()

    # -- the socket ------------------------------------------------------------------------

    def _stopped(self) -> bool:
        assoc = self.assoc
        return bool(assoc.is_aborted or assoc._kill or assoc.dul._kill_thread
                    or not assoc.is_established)

    def _recv_into(self, target: memoryview) -> int:
        """One read into ``target``; raises _Closed at the end of the connection, an error,
        the idle timeout or when the association was ended meanwhile."""
        while True:
            try:
                count = self.raw.recv_into(target)
            except (TimeoutError, BlockingIOError, InterruptedError):
                if self._stopped():
                    raise _Closed from None
                if self.idle is not None and time.monotonic() - self.last_read > self.idle:
                    self.idle_expired = True
                    raise _Closed from None
                continue
            except OSError:
                raise _Closed from None
            if count == 0:
                raise _Closed
            self.last_read = time.monotonic()
            if self.watch is not None:
                self.watch.got(count)
            return count

    def _fill(self, need: int) -> None:
        """At least ``need`` unconsumed bytes in the buffer (compacting or growing it)."""
        if self.end - self.start >= need:
            return
        if self.start + need > len(self.buf):
            kept = self.end - self.start
            if need > len(self.buf):
                grown = bytearray(need)
                grown[:kept] = self.view[self.start:self.end]
                self.buf, self.view = grown, memoryview(grown)
            else:
                self.buf[:kept] = self.view[self.start:self.end]
            self.start, self.end = 0, kept
        while self.end - self.start < need:
            self.end += self._recv_into(self.view[self.end:])

    def _take_into_data(self, length: int) -> None:
        """Append the next ``length`` bytes of the stream to the data set.

        The buffer grows with what the peer *sent* (doubling, or at once to the last data
        set's size), never to what it announced: a PDV may announce 4 GiB and send 1 kB."""
        needed = self.size + length
        buffered = min(length, self.end - self.start)
        while True:
            reach = min(needed, self.size + max(buffered, READ_CHUNK))
            if reach > self.capacity:
                self.capacity = max(reach, self.capacity * 2, self.guess)
                self.data.seek(self.capacity - 1)
                self.data.write(b"\x00")
            with self.data.getbuffer() as target:
                if buffered:
                    target[self.size:self.size + buffered] = \
                        self.view[self.start:self.start + buffered]
                    self.start += buffered
                    self.size += buffered
                    buffered = 0
                end = min(needed, self.capacity)
                while self.size < end:  # the rest straight from the socket, no second copy
                    self.size += self._recv_into(target[self.size:end])
            if self.size >= needed:
                return

    def _new_data_set(self) -> None:
        self.data = BytesIO()
        self.capacity = self.size = 0

    # -- the stream ------------------------------------------------------------------------

    def run(self) -> bytes | None:
        """Serve until something is not ours: the bytes to push back (PDU-aligned), or None
        when the association must be aborted (as pynetdicom would: an invalid or mangled
        message, the idle timeout)."""
        command_pdvs: list[tuple[int, int, bytes]] = []  # this message's command fragments
        storing: _Command | None = None
        try:
            while True:
                self._fill(6)
                pdu_type = self.buf[self.start]
                pdu_length = struct.unpack_from(">I", self.buf, self.start + 2)[0]
                if pdu_type != _P_DATA_TF:
                    if storing is not None:  # e.g. A-ABORT mid-data set: pynetdicom's too
                        return self.view[self.start:self.end].tobytes()
                    return self._pushback(command_pdvs, b"")
                pdu_start = self.start
                self.start += 6
                remaining = pdu_length
                while remaining > 0:
                    self._fill(6)
                    item_length = struct.unpack_from(">I", self.buf, self.start)[0]
                    if item_length < 2 or item_length + 4 > remaining:
                        if storing is None and not command_pdvs and self.start == pdu_start + 6:
                            self.start = pdu_start  # malformed: pynetdicom judges it
                            return self._pushback([], b"")
                        raise _Corrupt("a malformed presentation data value")
                    context_id = self.buf[self.start + 4]
                    control = self.buf[self.start + 5]
                    self.start += 6
                    remaining -= 4 + item_length
                    payload = item_length - 2
                    if storing is not None:
                        if control & 1:
                            raise _Corrupt("a command before the data set ended")
                        if self.watch is not None and not self.watch.announce(payload):
                            raise _Corrupt("an instance larger than the receiver accepts")
                        self._take_into_data(payload)
                        if control & 2:
                            self._store(storing)
                            storing = None
                        continue
                    if not control & 1:  # a data set fragment without its command
                        self.start -= 6
                        return self._pushback(
                            command_pdvs, self._rest_as_pdu(remaining + 4 + item_length))
                    if payload > MAX_COMMAND:  # not a command set we know: pynetdicom's
                        self.start -= 6
                        return self._pushback(
                            command_pdvs, self._rest_as_pdu(remaining + 4 + item_length))
                    self._fill(payload)
                    command_pdvs.append((context_id, control, self.view[
                        self.start:self.start + payload].tobytes()))
                    self.start += payload
                    if not control & 2:
                        continue
                    command = _parse_command(command_pdvs)
                    if command is None or not self._ours(command):
                        return self._pushback(command_pdvs, self._rest_as_pdu(remaining))
                    command_pdvs = []
                    storing = command
                    self._new_data_set()
        except _Corrupt as error:
            log.warning("Aborting an association to the receiver: %s", error)
            return None
        except _Closed:
            if self.idle_expired:
                log.warning("Network timeout reached: no data for %.0f s", self.idle or 0)
                return None
            if storing is not None or command_pdvs:
                return b""  # the message is lost either way; pynetdicom sees the end
            return self.view[self.start:self.end].tobytes()

    def _rest_as_pdu(self, length: int) -> bytes:
        """The header of one P-DATA-TF PDU holding the next ``length`` bytes (whole PDV items
        of the current PDU); b"" for none. The items themselves are not read here: they follow
        as unconsumed bytes and from the socket (a PDU may announce 4 GiB and send 1 kB)."""
        if length <= 0:
            return b""
        return struct.pack(">BBI", _P_DATA_TF, 0, length)

    def _pushback(self, command_pdvs: list[tuple[int, int, bytes]],
                  rest_of_pdu: bytes) -> bytes:
        """Command fragments already taken apart and the current PDU's other PDVs, each
        re-framed as a P-DATA-TF, then every unconsumed byte: what pynetdicom reads next."""
        framed = b""
        if command_pdvs:
            items = b"".join(struct.pack(">IBB", len(value) + 2, context_id, control) + value
                             for context_id, control, value in command_pdvs)
            framed = struct.pack(">BBI", _P_DATA_TF, 0, len(items)) + items
        return framed + rest_of_pdu + self.view[self.start:self.end].tobytes()

    def _ours(self, command: _Command) -> bool:
        """A C-STORE-RQ with a data set that pynetdicom would pass to its Storage SCP."""
        if command.us(0x0100) != _C_STORE_RQ or command.us(0x0800) in (None, _NO_DATA_SET):
            return False
        assoc = self.assoc
        if assoc._sent_release or command.context_id not in assoc._accepted_cx:
            return False
        sop_class = command.text(0x0002)
        if not sop_class or command.us(0x0110) is None or not command.text(0x1000):
            return False
        try:
            return uid_to_service_class(sop_class) is StorageServiceClass
        except Exception:  # noqa: BLE001
            return False

    # -- one C-STORE -------------------------------------------------------------------------

    def _store(self, command: _Command) -> None:
        """Build pynetdicom's C_STORE, call the bound handler, answer (PS3.4 B.2.2)."""
        assoc = self.assoc
        context = assoc._accepted_cx[command.context_id]
        dataset = self.data
        dataset.truncate(self.size)
        dataset.seek(self.size)  # where pynetdicom's assembly leaves it
        self.guess = max(self.size + 1024, 1 << 16)
        self._new_data_set()
        request = C_STORE()
        rsp = C_STORE()
        try:
            request.MessageID = command.us(0x0110)
            request.AffectedSOPClassUID = command.text(0x0002)
            request.AffectedSOPInstanceUID = command.text(0x1000)
            request.Priority = command.us(0x0700) or 0
            originator = command.text(0x1030)
            if originator:
                request.MoveOriginatorApplicationEntityTitle = originator
            if command.us(0x1031) is not None:
                request.MoveOriginatorMessageID = command.us(0x1031)
            request.DataSet = dataset
            rsp.MessageIDBeingRespondedTo = request.MessageID
            rsp.AffectedSOPInstanceUID = request.AffectedSOPInstanceUID
            rsp.AffectedSOPClassUID = request.AffectedSOPClassUID
        except Exception:  # noqa: BLE001  (pynetdicom: an invalid message ends it)
            raise _Corrupt("an invalid C-STORE request") from None
        status: Any
        try:
            status = evt.trigger(assoc, evt.EVT_C_STORE,
                                 {"request": request, "context": context.as_tuple})
        except Exception:  # as pynetdicom's Storage SCP: 0xC211, logged
            log.exception("Exception in handler bound to 'evt.EVT_C_STORE'")
            status = 0xC211
        if not assoc.is_established:  # the handler aborted or released
            raise _Closed
        rsp = StorageServiceClass(assoc).validate_status(status, rsp)
        encoded = _encode_response(rsp, command.context_id, assoc)
        if encoded is None:
            assoc.dimse.send_msg(rsp, command.context_id)  # rare: pynetdicom's encoder
            return
        try:
            self.raw.sendall(encoded)
        except OSError:
            raise _Closed from None
        if self.watch is not None:
            self.watch.answered()


class _Corrupt(_Closed):
    """PDUs pynetdicom would not make sense of either mid-message: end the association."""


def _parse_command(pdvs: list[tuple[int, int, bytes]]) -> _Command | None:
    """The command set's group 0000 elements (Implicit VR Little Endian), or None when it
    is not one (pynetdicom will judge it)."""
    raw = b"".join(value for _, _, value in pdvs)
    fields: dict[int, bytes] = {}
    offset = 0
    try:
        while offset < len(raw):
            group, element, length = struct.unpack_from("<HHI", raw, offset)
            offset += 8
            if group != 0 or offset + length > len(raw):
                return None
            fields[element] = raw[offset:offset + length]
            offset += length
    except struct.error:
        return None
    return _Command(context_id=pdvs[-1][0], fields=fields)


def _element(element: int, value: bytes) -> bytes:
    return struct.pack("<HHI", 0x0000, element, len(value)) + value


def _uid(value: object) -> bytes:
    raw = str(value).encode("ascii")
    return raw + b"\x00" if len(raw) % 2 else raw


def _encode_response(rsp: C_STORE, context_id: int, assoc: Association) -> bytes | None:
    """One P-DATA-TF PDU holding the C-STORE-RSP command set (PS3.7 9.3.1.2, E.1), or None
    when it carries elements encoded only by pynetdicom (Offending Element...)."""
    if rsp.OffendingElement is not None or rsp.Status is None:
        return None
    comment = rsp.ErrorComment
    body = b"".join((
        _element(0x0002, _uid(rsp.AffectedSOPClassUID)),
        _element(0x0100, struct.pack("<H", _C_STORE_RSP)),
        _element(0x0120, struct.pack("<H", rsp.MessageIDBeingRespondedTo)),
        _element(0x0800, struct.pack("<H", _NO_DATA_SET)),
        _element(0x0900, struct.pack("<H", rsp.Status)),
        _element(0x0902, _padded(str(comment))) if comment else b"",
        _element(0x1000, _uid(rsp.AffectedSOPInstanceUID)),
    ))
    command = _element(0x0000, struct.pack("<I", len(body))) + body
    pdv = struct.pack(">IBB", len(command) + 2, context_id, 0x03) + command
    pdu = struct.pack(">BBI", _P_DATA_TF, 0, len(pdv)) + pdv
    peer_max = assoc.requestor.maximum_length
    if peer_max and len(pdu) - 6 > peer_max:
        return None
    return pdu


def _padded(text: str) -> bytes:
    raw = text.encode("ascii", "replace")[:64]
    return raw + b" " if len(raw) % 2 else raw

