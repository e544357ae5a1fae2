"""The lean response reader: C-FIND and C-MOVE responses read off the socket by our worker.

pynetdicom negotiates the association, sends our request (and C-CANCEL), releases and aborts.
Between the request and the final response, its reader thread, state machine, DIMSE
assembly and response generators cost ~1,800 Python calls per C-FIND response; this module
reads the response stream itself, on the DIMSE worker thread that waits for it:

- **PDUs** (PS3.8 9.3.1, 9.3.5 P-DATA-TF): the worker *borrows* the association's
  :class:`.watchdog.GuardedSocket` (``lend``: pynetdicom's reader then does not read) before
  the request goes out, and reads it in large chunks (one ``recv`` often holds many PDUs).
- **Presentation data values** (PS3.8 Annex E: item length, context ID, message control
  header: command or data set, last fragment or not) are joined into a command set and
  its data set.
- **The command set** (PS3.7 section 6.3 and Annex E, Implicit VR Little Endian, group 0000)
  gives Command Field, Status and Command Data Set Type; a final response (or any C-MOVE
  response) is also turned into pynetdicom's own primitive, so its status data set
  (Status, Error Comment, the sub-operation counts...) is exactly what pynetdicom's
  generators yield.
- **The identifier** stays bytes (:class:`EncodedIdentifier`), decoded by the consumer:
  :func:`.qr.decode_bytes.decode_match_bytes` for a C-FIND match, pydicom otherwise.

Our watchdog keeps every check: each PDU's header and body go to
``AssociationGuard.inspect_read`` as :class:`.watchdog.GuardedSocket` feeds them (size caps
before the body is read, accepted contexts, "a response to our message", the idle timer,
``final_seen``/``data_set_missing``, the peer's A-ABORT), and a tripped guard is seen within
:data:`.watchdog.SOCKET_TICK` (we send the one A-ABORT and close, as ``GuardedSocket.recv``
does). Anything that is not a P-DATA-TF (A-RELEASE-RQ, A-ABORT, an unknown PDU), the end of
the connection, or a trip gives the socket back, with the bytes read but not consumed
pushed back in front of it, and the rest of the exchange is pynetdicom's own generator's:
it reads those PDUs as it always did (release collision, peer abort, Evt17...) and reports
the early end as it always did (a status without ``Status``). After the final response the
socket is given back at once (a release that follows is pynetdicom's).

Transfer syntaxes read here: Implicit and Explicit VR Little Endian, Explicit VR Big
Endian, Deflated Explicit VR Little Endian (inflated here, bounded, PS3.5 A.5); any other
goes through pynetdicom (:func:`open_responses`), as does ``COURIER_READ_PATH=pynetdicom``
(:mod:`.read_path`).

Nothing here imports Qt. Everything here runs on: DIMSE worker thread.
"""

from __future__ import annotations

import logging
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from io import BytesIO
from typing import TYPE_CHECKING, Any

from pydicom.dataset import Dataset
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)
from pynetdicom.dimse_messages import _MESSAGE_TYPES, DIMSEMessage
from pynetdicom.dsutils import decode
from pynetdicom.status import (
    STATUS_CANCEL,
    STATUS_FAILURE,
    STATUS_WARNING,
    code_to_category,
)

from dicom_courier.core.dimse.read_path import LEAN, read_path
from dicom_courier.core.dimse.watchdog import (
    NO_DATA_SET,
    TRIP_PROTOCOL,
    GuardedSocket,
    command_fields,
)
from dicom_courier.core.outcome.status import is_pending
from dicom_courier.core.qr.decode_bytes import decode_match_bytes

if TYPE_CHECKING:
    from pynetdicom.association import Association

    from dicom_courier.core.dimse.watchdog import AssociationGuard
    from dicom_courier.core.qr.query import FindMatch, QueryLevel

log = logging.getLogger(__name__)

#: Command Field of the responses we read (PS3.7 E.1).
C_FIND_RSP = 0x8020
C_MOVE_RSP = 0x8021
_NAMES = {C_FIND_RSP: "C-FIND-RSP", C_MOVE_RSP: "C-MOVE-RSP"}
#: (implicit VR, little endian, deflated) of each transfer syntax this reader handles.
ENCODINGS: dict[str, tuple[bool, bool, bool]] = {
    ImplicitVRLittleEndian: (True, True, False),
    ExplicitVRLittleEndian: (False, True, False),
    ExplicitVRBigEndian: (False, False, False),
    DeflatedExplicitVRLittleEndian: (False, True, True),
}
#: How much one recv asks for, in bytes.
RECV_CHUNK = 1 << 18
_P_DATA = 0x04
_HEADER = struct.Struct(">BBL")
_ITEM = struct.Struct(">LBB")


@dataclass(frozen=True, slots=True)
class EncodedIdentifier:
    """A response's identifier as it arrived: ``data`` in its context's transfer syntax
    (PS3.5 A.1-A.5; ``deflated``: Deflated Explicit VR Little Endian, not yet inflated);
    ``max_inflated``: the most bytes inflating may give (the message size cap)."""

    data: bytes
    implicit_vr: bool
    little_endian: bool
    deflated: bool = False
    max_inflated: int = 1 << 26

    def raw(self) -> bytes:
        """The data set bytes, inflated if deflated. Raises ValueError when inflating
        fails or would exceed ``max_inflated`` bytes (a "deflate bomb")."""
        if not self.deflated:
            return self.data
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        try:
            out = inflater.decompress(self.data, self.max_inflated + 1)
        except zlib.error as exc:
            raise ValueError(f"a deflated data set that cannot be inflated ({exc})") from None
        if len(out) > self.max_inflated:
            raise ValueError(f"a deflated data set of more than {self.max_inflated} bytes")
        return out

    def match(self, level: QueryLevel) -> FindMatch:
        """The C-FIND match it holds (:func:`.qr.decode_bytes.decode_match_bytes`); raises
        whatever that raises on bytes that are not a data set."""
        return decode_match_bytes(self.raw(), level, implicit_vr=self.implicit_vr,
                                  little_endian=self.little_endian)

    def dataset(self) -> Dataset:
        """Decoded by pydicom (lazily, as pynetdicom decodes). Raises on unreadable bytes."""
        return decode(BytesIO(self.raw()), self.implicit_vr, self.little_endian)


class DimseResponse:
    """One C-FIND or C-MOVE response, from either read path.

    ``status``: the Status (0000,0900), None when the responses ended early (pynetdicom's
    empty status data set: association aborted, released, closed or timed out).
    ``status_set``: the status data set pynetdicom's generators yield (Status and the
    optional status elements, PS3.7 C.4.1/C.4.2). ``identifier``: the decoded identifier
    (pynetdicom's path; a lean C-MOVE's final Cancel/Warning/Failure identifier), or None.
    ``encoded``: a lean C-FIND match's identifier bytes, or None. ``key``: an object that
    is the same for pynetdicom's repeated yield of one response. ``more_buffered``: further
    responses were already read (the consumer need not hurry to hand over).
    """

    __slots__ = ("_command", "_status_set", "encoded", "identifier", "key", "more_buffered",
                 "status")

    def __init__(self, status: int | None, *, status_set: Dataset | None = None,
                 identifier: Dataset | None = None, encoded: EncodedIdentifier | None = None,
                 command: bytes = b"", more_buffered: bool = False, key: object = None
                 ) -> None:
        self.status = status
        self._status_set = status_set
        self.identifier = identifier
        self.encoded = encoded
        self._command = command
        self.more_buffered = more_buffered
        self.key = self if key is None else key

    @classmethod
    def of_pynetdicom(cls, status_set: Dataset, identifier: Dataset | None) -> DimseResponse:
        """Wrap one (status, identifier) pair a pynetdicom response generator yielded."""
        status = int(status_set.Status) if "Status" in status_set else None
        return cls(status, status_set=status_set, identifier=identifier, key=status_set)

    @property
    def status_set(self) -> Dataset:
        if self._status_set is None:
            try:
                self._status_set = _status_set_of(self._command)
            except Exception:  # noqa: BLE001 - a command we already read the Status of
                fallback = Dataset()
                fallback.Status = self.status
                self._status_set = fallback
        return self._status_set

    def dataset(self) -> Dataset | None:
        """The identifier as a pydicom Dataset (decoded now from ``encoded`` if need be),
        or None if there is none or it cannot be decoded."""
        if self.identifier is not None or self.encoded is None:
            return self.identifier
        try:
            return self.encoded.dataset()
        except Exception:  # noqa: BLE001 - anything pydicom raises on a peer's bytes
            return None


class ResponseStream:
    """The responses to one request, from the lean reader or pynetdicom's generator.

    Iterate once; :meth:`close` always (it gives a lent socket back and resumes
    pynetdicom's association reactor). Runs on: DIMSE worker thread.
    """

    def __init__(self, responses: Iterator[DimseResponse], close: Callable[[], None],
                 lean: bool) -> None:
        self._responses = responses
        self._close = close
        #: True if our reader reads the responses (False: pynetdicom's).
        self.lean = lean

    def __iter__(self) -> Iterator[DimseResponse]:
        return self._responses

    def close(self) -> None:
        self._close()


def open_responses(assoc: Association, guard: AssociationGuard | None, model_uid: str,
                   send: Callable[[], Iterator[tuple[Dataset, Dataset | None]]],
                   response_field: int, *,
                   on_wait: Callable[[], None] | None = None) -> ResponseStream:
    """Send the request with ``send`` (pynetdicom's ``send_c_find``/``send_c_move``, which
    returns its response generator) and return the stream of its responses.

    The lean reader reads them (PS3.8 9.3.5, Annex E; PS3.7 6.3, Annex E) unless
    ``COURIER_READ_PATH=pynetdicom``, the association is not guarded, or the context for
    ``model_uid`` was accepted with a transfer syntax it does not read: then pynetdicom's
    generator does. ``response_field``: :data:`C_FIND_RSP` or :data:`C_MOVE_RSP` (anything
    else, a C-GET's, is read by pynetdicom: its C-STORE-RQs need pynetdicom's SCP).
    ``on_wait``: called (on this thread, between responses) each time the lean reader has
    consumed every whole response it holds and is about to wait for the PACS: hand over what
    was held back (a response's ``more_buffered`` only says more bytes are buffered, which
    may be part of a response the PACS holds). Not called on pynetdicom's path.
    Raises: whatever ``send`` raises (nothing is left lent). Runs on: DIMSE worker thread.
    """
    reader = _lean_reader(assoc, guard, model_uid, response_field)
    if reader is not None:
        reader.on_wait = on_wait
    if reader is None or not reader.lend():
        generator = send()
        wrapped = (DimseResponse.of_pynetdicom(s, i) for s, i in generator)
        return ResponseStream(wrapped, lambda: _close(generator), lean=False)
    try:
        reader.fallback = send()
    except BaseException:
        reader.close()
        raise
    return ResponseStream(reader.responses(), reader.close, lean=True)


def _lean_reader(assoc: Association, guard: AssociationGuard | None, model_uid: str,
                 response_field: int) -> _LeanReader | None:
    if read_path() != LEAN or guard is None or response_field not in _NAMES:
        return None  # C-FIND and C-MOVE only: a C-GET reads through pynetdicom (.read_path)
    sock = assoc.dul.socket
    if not isinstance(sock, GuardedSocket) or sock.socket is None:
        return None
    try:
        context = assoc._get_valid_context(model_uid, "", "scu")
    except (ValueError, KeyError):
        return None  # pynetdicom's send raises its own error
    syntax = context.transfer_syntax[0] if context.transfer_syntax else None
    encoding = ENCODINGS.get(str(syntax)) if syntax is not None else None
    if encoding is None:
        return None
    return _LeanReader(assoc, guard, sock, encoding, response_field)


class _LeanReader:
    """Reads one request's responses off a lent :class:`GuardedSocket` (see the module)."""

    def __init__(self, assoc: Association, guard: AssociationGuard, sock: GuardedSocket,
                 encoding: tuple[bool, bool, bool], response_field: int) -> None:
        self._assoc = assoc
        self._guard = guard
        self._sock = sock
        self._implicit, self._little, self._deflated = encoding
        self._field = response_field
        self._buf = bytearray()
        self._pos = 0
        self._command = bytearray()
        self._data: list[bytes] | None = None  # data set fragments, while one is due
        self._pending_command: tuple[int, bytes] | None = None  # (status, command) awaiting data
        self._lent = False
        self._closed = False
        self.fallback: Iterator[tuple[Dataset, Dataset | None]] | None = None
        self.on_wait: Callable[[], None] | None = None

    # ------------------------------------------------------------------ the loan

    def lend(self) -> bool:
        self._lent = self._sock.lend()
        return self._lent

    def _give_back(self, pushback: bytes | bytearray = b"") -> None:
        if self._lent:
            self._lent = False
            self._sock.give_back(pushback)

    def close(self) -> None:
        """Give the socket back (with what was read but not consumed), resume pynetdicom's
        reactor and close its generator. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._give_back(self._buf[self._pos:])
        self._buf = bytearray()
        if self.fallback is not None:
            _close(self.fallback)
        self._assoc._reactor_checkpoint.set()

    # ------------------------------------------------------------------ reading

    def responses(self) -> Iterator[DimseResponse]:
        try:
            yield from self._read()
        finally:
            self.close()

    def _read(self) -> Iterator[DimseResponse]:
        guard = self._guard
        while True:
            if guard.tripped:
                guard.bail(self._sock.socket)
                break
            if not self._fill(6):
                break
            buf, pos = self._buf, self._pos
            pdu_type, _, length = _HEADER.unpack_from(buf, pos)
            if pdu_type != _P_DATA:
                break  # pushed back below: pynetdicom reads it as it always did
            guard.inspect_read(6, bytes(buf[pos:pos + 6]))
            if guard.tripped:  # too large, or not expected now: nothing more is read
                guard.bail(self._sock.socket)
                self._discard()
                break
            if not self._fill(6 + length):
                self._discard()  # its header went to the guard: nothing is pushed back
                break
            buf, pos = self._buf, self._pos
            body = bytes(buf[pos + 6:pos + 6 + length])
            self._drop(6 + length)
            guard.inspect_read(length, body)
            responses: list[DimseResponse] | None = None
            if not guard.tripped:
                responses = self._parse(body)  # None: one pynetdicom would not take (tripped)
            if guard.tripped or responses is None:
                guard.bail(self._sock.socket)
                self._discard()
                break
            if not responses:
                continue
            for response in responses[:-1]:
                response.more_buffered = True  # the next one is already parsed
            responses[-1].more_buffered = self._pos < len(self._buf)  # see ``on_wait``
            for response in responses:
                if not is_pending(response.status or 0):
                    # The final response: the rest is pynetdicom's (release, collision).
                    self._give_back(self._buf[self._pos:])
                    self._buf, self._pos = bytearray(), 0
                    self._assoc._reactor_checkpoint.set()
                    log.info("final response 0x%04X (read by the lean reader)",
                             response.status or 0)  # no identifier: no patient data
                    yield response
                    return
                yield response
        # Ended early: pynetdicom's generator reads on and reports the end as it does.
        self._give_back(self._buf[self._pos:])
        self._buf, self._pos = bytearray(), 0
        yield from self._delegate()

    def _delegate(self) -> Iterator[DimseResponse]:
        fallback = self.fallback
        if fallback is None:
            yield DimseResponse(None, status_set=Dataset())
            return
        for status_set, identifier in fallback:
            yield DimseResponse.of_pynetdicom(status_set, identifier)

    def _discard(self) -> None:
        self._buf, self._pos = bytearray(), 0

    def _drop(self, count: int) -> None:
        self._pos += count
        if self._pos >= len(self._buf):
            self._buf, self._pos = bytearray(), 0
        elif self._pos > RECV_CHUNK:
            del self._buf[:self._pos]
            self._pos = 0

    def _fill(self, need: int) -> bool:
        """Read until ``need`` bytes from the current position are buffered. False when the
        connection ended or the guard tripped (then our A-ABORT went out)."""
        guard = self._guard
        raw = self._sock.socket
        buf = self._buf
        waited = False
        while len(buf) - self._pos < need:
            if guard.tripped or raw is None:
                guard.bail(raw)
                return False
            if not waited and self.on_wait is not None:
                waited = True
                self.on_wait()  # nothing whole is left to read: what is held goes now
            try:
                chunk = raw.recv(RECV_CHUNK)
            except TimeoutError:
                continue
            except OSError:
                return False
            if not chunk:
                return False
            buf += chunk
            self._assoc.dul._idle_timer.restart()  # as pynetdicom's reader does per PDU
        return True

    # ------------------------------------------------------------------ P-DATA to responses

    def _parse(self, body: bytes) -> list[DimseResponse] | None:
        """The responses completed by one P-DATA-TF body (PS3.8 9.3.5, E.2), whose items the
        guard has checked; None if one is not a response pynetdicom would take (tripped)."""
        out: list[DimseResponse] = []
        pos, end = 0, len(body)
        while pos < end:
            item_length, _context, control = _ITEM.unpack_from(body, pos)
            fragment = body[pos + 6:pos + 4 + item_length]
            pos += 4 + item_length
            if control & 0x01:
                self._command += fragment
                if control & 0x02:
                    command, self._command = bytes(self._command), bytearray()
                    response = self._command_done(command)
                    if response is False:
                        return None
                    if isinstance(response, DimseResponse):
                        out.append(response)
            elif self._data is not None:
                self._data.append(fragment)
                if control & 0x02:
                    done = self._data_done()
                    if done is None:
                        return None
                    out.append(done)
        return out

    def _command_done(self, command: bytes) -> DimseResponse | bool | None:
        """A whole command set (PS3.7 E.1): its response now, None if its data set is due,
        False if it is not one pynetdicom would take (the guard is tripped)."""
        fields = command_fields(command) or {}  # the guard has checked it fits
        field, status = fields.get(0x0100), fields.get(0x0900)
        if field != self._field:
            name = _NAMES.get(field or 0, f"command 0x{field or 0:04X}")
            self._guard.trip(TRIP_PROTOCOL, f"a {name} where a {_NAMES[self._field]} was due")
            return False
        if status is None:
            self._guard.trip(TRIP_PROTOCOL, f"a {_NAMES[self._field]} without a status")
            return False
        if fields.get(0x0800, NO_DATA_SET) != NO_DATA_SET:
            self._data, self._pending_command = [], (status, command)
            return None
        return self._response(status, command, None) or False

    def _data_done(self) -> DimseResponse | None:
        assert self._data is not None and self._pending_command is not None
        data = b"".join(self._data)
        status, command = self._pending_command
        self._data, self._pending_command = None, None
        return self._response(status, command, data)

    def _response(self, status: int, command: bytes, data: bytes | None
                  ) -> DimseResponse | None:
        """The response; None (the guard tripped) for a command set pynetdicom could not
        turn into its primitive (it would end the association: Evt19)."""
        try:
            return self._build(status, command, data)
        except Exception as exc:  # noqa: BLE001 - a peer's bytes, read by pydicom/pynetdicom
            self._guard.trip(TRIP_PROTOCOL, f"a {_NAMES[self._field]} command set that cannot "
                                            f"be read ({type(exc).__name__})")
            return None

    def _build(self, status: int, command: bytes, data: bytes | None) -> DimseResponse:
        encoded = None if data is None else EncodedIdentifier(
            data, self._implicit, self._little, self._deflated,
            self._guard.limits.max_message)
        if self._field == C_FIND_RSP:
            if is_pending(status):
                return DimseResponse(status, encoded=encoded, command=command)
            return DimseResponse(status, status_set=_status_set_of(command), command=command)
        # C-MOVE (PS3.4 C.4.2.1.4): the identifier (Failed SOP Instance UID List) of a final
        # Cancel, Warning or Failure, decoded as pynetdicom does.
        identifier = None
        if encoded is not None and code_to_category(status) in (
                STATUS_CANCEL, STATUS_WARNING, STATUS_FAILURE):
            try:
                identifier = encoded.dataset()
            except Exception:  # noqa: BLE001 - pynetdicom: "failed to decode", no identifier
                identifier = None
        return DimseResponse(status, status_set=_status_set_of(command), identifier=identifier,
                             command=command)


def _close(generator: Iterator[Any]) -> None:
    """Close pynetdicom's response generator (typed as an Iterator)."""
    close = getattr(generator, "close", None)
    if close is not None:
        close()


def _status_set_of(command: bytes) -> Dataset:
    """The status data set pynetdicom's generator would yield for this response command:
    Status and the optional status elements its primitive carries (PS3.7 C.4.1.1, C.4.2.1).

    Built through pynetdicom's own message and primitive classes, so values are exactly
    pynetdicom's. Raises on a command set pynetdicom could not turn into a primitive.
    """
    message: Any = DIMSEMessage()
    message.command_set = decode(BytesIO(command), True, True)
    message.__class__ = _MESSAGE_TYPES[int(message.command_set.CommandField)][1]
    message.context_id = 1
    message.data_set = BytesIO()
    primitive = message.message_to_primitive()
    status = Dataset()
    status.Status = primitive.Status
    for keyword in primitive.STATUS_OPTIONAL_KEYWORDS:
        value = getattr(primitive, keyword)
        if value is not None:
            setattr(status, keyword, value)
    return status

