"""Our timers own every association: a watchdog ends it within them, whatever the peer sends.

pynetdicom (3.0) sets the socket to blocking after connecting and reads a whole PDU with
blocking ``recv`` calls (``DULServiceProvider._read_pdu_data``). A peer that announces a PDU
longer than what it sends, trickles one byte a second or goes silent mid-PDU therefore holds
the reader thread for ever; pynetdicom's own DIMSE/ACSE timeouts then call ``abort()``, which
waits for that same reader, so the idle timeout, the deadline, Cancel and closing the window
all waited until the peer hung up. It also assembles a DIMSE message from P-DATA fragments
without a size limit, and a peer that never sets the last-fragment bit grows our memory
without bound.

:class:`AssociationGuard` is the shim that closes those gaps, per association:

- At ``EVT_CONN_OPEN`` (on pynetdicom's reader thread, before anything is read) the
  association's socket becomes a :class:`GuardedSocket`: reads and writes wait at most
  :data:`SOCKET_TICK` at a time and give up as soon as the guard has *tripped*.
- A watchdog thread trips the guard when one of our timers runs out: A-ASSOCIATE answer
  (``acse``), a complete DIMSE message (``idle``, restarted by each one), A-RELEASE answer;
  the operation trips it for the deadline, cancel grace or an abort.
- The reader checks every PDU header before reading the body (PS3.8 9.3.1): a PDU or a DIMSE
  message (the sum of its P-DATA fragments, PS3.8 E.2) larger than ``max_message`` bytes,
  an unknown PDU type, a malformed presentation data value item, or an A-ASSOCIATE-AC
  without a usable Maximum Length (PS3.8 D.1.1) trips it at once, before the bytes are read.
- Tripping sends exactly one A-ABORT (later ones, including pynetdicom's own, are dropped),
  shuts the socket down so pynetdicom sees the connection closed, and wakes the worker
  waiting for a DIMSE message. If pynetdicom's reader thread died (a fuzzed PDU can raise
  inside its state machine), the watchdog notices and does the same from its own thread.

An upstream fix would be a socket timeout on every ``recv`` with a check of the association's
abort flag between reads, a maximum DIMSE message size in ``DIMSEMessage.decode_msg``, an
``abort()`` that does not wait for a blocked reader, and validation of the Maximum Length
sub-item; see :mod:`dicom_courier.core.dimse.transport` for the rest of our pynetdicom set-up.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import socket
import struct
import threading
import time
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

from pynetdicom import evt
from pynetdicom.pdu_primitives import A_P_ABORT
from pynetdicom.transport import AssociationSocket

if TYPE_CHECKING:
    from pynetdicom import Association
    from pynetdicom.dul import DULServiceProvider

    from dicom_courier.core.dimse.release import Releaser

log = logging.getLogger(__name__)

#: How often the watchdog looks at its timers, in seconds.
TICK = 0.05
#: The longest one blocking socket call may wait before the guard is checked again, seconds.
SOCKET_TICK = 0.1
#: While the socket is lent to our lean reader, pynetdicom's reader thread (which polls every
#: 1 ms, ``DULServiceProvider._run_loop_delay``) waits up to this long, in seconds, in
#: ``GuardedSocket.ready`` instead: it wakes at once when the socket is given back or a
#: primitive is queued for it to send (our request, a C-CANCEL, an A-ABORT).
LENT_POLL = 0.02
#: How long we try to get our one A-ABORT out to a peer that does not read, seconds.
ABORT_SEND_LIMIT = 0.5
#: Association, release and abort PDUs are small; anything larger is not DICOM.
MAX_CONTROL_PDU = 1 << 20
#: The longest we wait for the peer to agree to release, in seconds, from the moment the
#: association is handed over for release (after the final response); then one A-ABORT.
#: A release never costs the user time (``core.release``), but it holds a thread and the
#: PACS's association slot.
RELEASE_LIMIT = 2.0

# Why a guard tripped (besides the operation's own reasons in core.association).
TRIP_ACSE = "acse-timeout"
TRIP_IDLE = "idle"
TRIP_RELEASE = "release-timeout"
TRIP_OVERSIZE = "oversize"
TRIP_PROTOCOL = "protocol"
TRIP_FINISH = "finish"
#: How a :data:`TRIP_OVERSIZE` detail starts when the message was a C-GET's image (an
#: incoming C-STORE-RQ data set over ``GuardLimits.max_store``), then the cap in bytes.
OVERSIZE_IMAGE = "an image (C-STORE data set) of more than"

_ABORT_TYPE = 0x07
_P_DATA_TYPE = 0x04
_ASSOCIATE_AC_TYPE = 0x02
_KNOWN_PDU_TYPES = frozenset(range(0x01, 0x08))
_PDU_NAMES = {0x01: "A-ASSOCIATE-RQ", 0x02: "A-ASSOCIATE-AC", 0x03: "A-ASSOCIATE-RJ",
              0x04: "P-DATA-TF", 0x05: "A-RELEASE-RQ", 0x06: "A-RELEASE-RP", 0x07: "A-ABORT"}


class Phase(Enum):
    """Where the association is; each phase has its own timer."""

    CONNECTING = "connecting"
    NEGOTIATING = "negotiating"  # waiting for A-ASSOCIATE-AC/RJ: ``acse``
    RUNNING = "running"  # request sent, waiting for responses: ``idle`` per message
    RELEASING = "releasing"  # final response in, release under way: min(acse, RELEASE_LIMIT)
    DONE = "done"


@dataclass(frozen=True)
class Trip:
    """Why the guard ended the association: a reason code and a sentence of detail."""

    reason: str
    detail: str = ""


@dataclass(frozen=True)
class GuardLimits:
    """The timers (seconds) and size caps (bytes) one association is held to, and what we
    proposed: the transfer syntaxes a context may be accepted with, our request's message ID.
    ``max_total``: all the data sets of the association together (one C-FIND's answers).
    """

    acse: float
    idle: float
    max_message: int
    max_total: int
    transfer_syntaxes: frozenset[str]
    message_id: int = 1
    #: A C-GET association (PS3.4 C.4.3): the peer's C-STORE-RQs (its sub-operations,
    #: PS3.7 9.1.3) may come between the responses; each is still held to ``max_message``,
    #: is not counted in ``max_total`` and restarts the idle timer. Nowhere else.
    peer_stores: bool = False
    #: With ``peer_stores``: the cap (bytes) on each C-STORE-RQ's data set (an image, held
    #: to the receiver's ``max_instance_mb``, not to ``max_message``); None: ``max_message``.
    max_store: int | None = None

    @property
    def largest_data(self) -> int:
        """The largest data set (bytes) any message of this association may carry."""
        if self.peer_stores and self.max_store is not None:
            return max(self.max_message, self.max_store)
        return self.max_message


class AssociationGuard:
    """Ends one association within our timers, whatever the peer sends. See the module doc.

    Thread use: ``install`` runs on pynetdicom's reader thread; ``trip``, ``set_phase`` and
    ``close`` on any thread; the watchdog runs on its own thread until ``close``.
    """

    def __init__(self, limits: GuardLimits) -> None:
        self.limits = limits
        self._lock = threading.Lock()
        self.trip_info: Trip | None = None
        self.phase = Phase.CONNECTING
        self._phase_since = time.monotonic()
        self.last_message_at = time.monotonic()
        self.assoc: Association | None = None
        self.peer_abort: tuple[int, int] | None = None  # (source, reason) of the peer's A-ABORT
        self.aborts_sent = 0
        self._abort_claimed = False
        self._bailed = False
        self._closed = threading.Event()
        self._watcher: threading.Thread | None = None
        self._reader = _PduReader(self)
        #: Where a clean end is handed over (``core.release``); None: released in place.
        self.releaser: Releaser | None = None
        #: Set (by ``OperationControl``) before our C-CANCEL goes out: from then on the PACS
        #: may end the operation by asking to release (answered, A-RELEASE-RP) or aborting.
        self.cancel_sent = False

    # ------------------------------------------------------------------ set-up and phases

    def install(self, assoc: Association) -> None:
        """Runs on: pynetdicom's reader thread, at EVT_CONN_OPEN (before the first read)."""
        self.assoc = assoc
        sock = assoc.dul.socket
        if sock is None or sock.socket is None:
            return
        sock.__class__ = GuardedSocket
        sock._guard = self  # type: ignore[attr-defined]
        sock._lend_lock = threading.Lock()  # type: ignore[attr-defined]
        sock._wake = threading.Event()  # type: ignore[attr-defined]
        assoc.dul.to_provider_queue.__class__ = _WakingQueue
        assoc.dul.to_provider_queue._wake = sock._wake  # type: ignore[attr-defined]
        sock.socket.settimeout(SOCKET_TICK)
        self.set_phase(Phase.NEGOTIATING)
        self._watcher = threading.Thread(target=self._watch, name="association-watchdog",
                                         daemon=True)
        self._watcher.start()

    def set_phase(self, phase: Phase) -> None:
        with self._lock:
            self.phase = phase
            self._phase_since = self.last_message_at = time.monotonic()

    @property
    def tripped(self) -> bool:
        return self.trip_info is not None

    @property
    def data_set_missing(self) -> bool:
        """True if the last command announced a data set (PS3.7 E.1 Command Data Set Type)
        that did not wholly arrive before the association ended: one answer that cannot be
        read (a Pending C-FIND response without its match)."""
        return self._reader.expecting_data

    @property
    def answered(self) -> bool:
        """The final response to our request is wholly in (or the association was handed
        over for release): from here on it ends by release, not by our A-ABORT."""
        return (self._reader.final_seen and not self._reader.expecting_data) or \
            self.phase in (Phase.RELEASING, Phase.DONE)

    def message_received(self) -> None:
        """Runs on: the reader thread. A whole DIMSE message arrived: the idle timer restarts."""
        self.last_message_at = time.monotonic()

    # ------------------------------------------------------------------ ending it

    def trip(self, reason: str, detail: str = "") -> bool:
        """End the association now (any thread); False if it was already ending.

        pynetdicom's own ``abort()`` becomes a no-op (we send the one A-ABORT), the reader is
        released within :data:`SOCKET_TICK`, and a worker waiting for a DIMSE message wakes.
        """
        with self._lock:
            if self.trip_info is not None:
                return False
            self.trip_info = Trip(reason, detail)
            assoc = self.assoc
        if reason in (TRIP_PROTOCOL, TRIP_OVERSIZE):
            log.info("association ended: %s %s", reason, detail)
        if assoc is not None:
            assoc._sent_abort = True
            assoc.dimse.msg_queue.put((None, None))  # wakes a worker waiting for a response
            if self.phase in (Phase.NEGOTIATING, Phase.RELEASING):
                # ... and one waiting for the A-ASSOCIATE or A-RELEASE answer.
                primitive = A_P_ABORT()
                primitive.provider_reason = 0x00
                assoc.dul.to_user_queue.put(primitive)
        return True

    def claim_abort(self) -> bool:
        """True once per association: whoever gets it sends the one A-ABORT."""
        with self._lock:
            if self._abort_claimed:
                return False
            self._abort_claimed = True
            return True

    def bail(self, raw: socket.socket | None) -> None:
        """Send our A-ABORT (once) and shut the socket down. Runs on the thread that reads."""
        with self._lock:
            if self._bailed:
                return
            self._bailed = True
        if raw is None:
            return
        info = self.trip_info
        provider = info is not None and info.reason in (TRIP_PROTOCOL, TRIP_OVERSIZE)
        if self.claim_abort():
            abort_pdu = struct.pack(">BBLBBBB", _ABORT_TYPE, 0, 4, 0, 0,
                                    2 if provider else 0, 0)
            if _send_bounded(raw, abort_pdu, ABORT_SEND_LIMIT):
                self.aborts_sent += 1
        with contextlib.suppress(OSError):
            raw.shutdown(socket.SHUT_RDWR)

    @property
    def bailed(self) -> bool:
        return self._bailed

    def close(self, join_timeout: float = 2.0) -> None:
        """Stop the watchdog and make sure pynetdicom's threads for this association end.

        Runs on: the DIMSE worker thread, after release or abort.
        """
        self.set_phase(Phase.DONE)
        self._closed.set()
        assoc = self.assoc
        if assoc is None:
            return
        dul = assoc.dul
        if dul.is_alive():
            _stop_reader_when_closed(dul, join_timeout)
        if dul.is_alive():  # never seen; belt and braces for a reader we cannot reach
            log.warning("pynetdicom's reader did not stop; closing its socket")
            dul._kill_thread = True
            sock = dul.socket
            if sock is not None and sock.socket is not None:
                with contextlib.suppress(OSError):
                    sock.socket.shutdown(socket.SHUT_RDWR)
            dul.join(join_timeout)
        assoc._kill = True
        assoc._reactor_checkpoint.set()
        if assoc.is_alive() and assoc is not threading.current_thread():
            assoc.join(join_timeout)
        if self._watcher is not None and self._watcher is not threading.current_thread():
            self._watcher.join(join_timeout)

    # ------------------------------------------------------------------ the watchdog

    def _watch(self) -> None:
        """Runs on: the association's watchdog thread, until ``close``."""
        while not self._closed.wait(TICK):
            if self.trip_info is None:
                self._check_timers()
                continue
            assoc = self.assoc
            if assoc is not None and not assoc.dul.is_alive() and not self._bailed:
                # Nobody reads the socket any more, so this thread may write to it.
                sock = assoc.dul.socket
                self.bail(sock.socket if sock is not None else None)

    def _check_timers(self) -> None:
        with self._lock:
            phase, since, last = self.phase, self._phase_since, self.last_message_at
        now = time.monotonic()
        limits = self.limits
        acse = min(limits.acse, limits.idle)
        if phase is Phase.NEGOTIATING and now - since >= acse:
            self.trip(TRIP_ACSE, f"no answer to the association request within {acse:g} s")
        elif phase is Phase.RUNNING and now - last >= limits.idle:
            self.trip(TRIP_IDLE, f"no complete response within {limits.idle:g} s")
        elif phase is Phase.RELEASING and now - since >= min(acse, RELEASE_LIMIT) and \
                not self._connection_closed():  # closed: released (or dropped) already
            self.trip(TRIP_RELEASE, "no answer to the release request within "
                                    f"{min(acse, RELEASE_LIMIT):g} s")
        elif phase in (Phase.NEGOTIATING, Phase.RUNNING, Phase.RELEASING):
            self._check_reader()

    def _connection_closed(self) -> bool:
        """pynetdicom's state machine is back in Sta1: nothing can be sent or come any more
        (the release completed while no release thread waited for it yet, or the PACS
        closed the connection)."""
        assoc = self.assoc
        return assoc is not None and assoc.dul.state_machine.current_state == "Sta1"

    def _check_reader(self) -> None:
        """Notice a reader that died, or that pynetdicom aborted after an invalid PDU.

        In both cases pynetdicom leaves the worker waiting for its DIMSE timeout.
        """
        assoc = self.assoc
        if assoc is None:
            return
        dul = assoc.dul
        state = dul.state_machine.current_state
        if not dul.is_alive() and state != "Sta1":
            self.trip(TRIP_PROTOCOL, "data that stopped pynetdicom's reader")
        elif state == "Sta8" and self.phase is Phase.RUNNING and self.cancel_sent and \
                not self._reader.final_seen:
            self._answer_release_after_cancel()
        elif state == "Sta13" and self.peer_abort is None and not assoc._sent_release:
            # Sta13 after our A-RELEASE-RP (the PACS released first, PS3.8 9.2 AR-4) is a
            # normal end; without a release of ours it follows an invalid PDU (AA-8).
            self.trip(TRIP_PROTOCOL, "a PDU that is not valid DICOM")

    def _answer_release_after_cancel(self) -> None:
        """The PACS asked to release after our C-CANCEL, without a final response: it ends
        the operation that way. Answer it as pynetdicom's reactor would (A-RELEASE-RP, PS3.8
        9.2 AR-4; the reactor is paused while a request is answered), then wake the worker,
        which finds the association released (nothing to abort).

        Runs on: the watchdog thread.
        """
        assoc = self.assoc
        if assoc is None or not assoc.acse.is_release_requested():  # takes the indication
            return
        log.info("the PACS asked to release after our C-CANCEL; answering it")
        assoc.acse.send_release(is_response=True)
        assoc.is_released = True
        assoc.is_established = False
        assoc.dimse.msg_queue.put((None, None))

    # ------------------------------------------------------------------ what the reader saw

    def inspect_read(self, nr_bytes: int, data: bytes | bytearray) -> None:
        """Runs on: the reader thread, after each complete ``recv(nr_bytes)``."""
        self._reader.feed(nr_bytes, data)


class _PduReader:
    """Follows pynetdicom's reads PDU by PDU: header (6 bytes), then the body.

    Checks sizes before a body is read; checks each PDU against the phase (PS3.8 9.2), each
    accepted presentation context against what we proposed (PS3.8 9.3.3.2), and each DIMSE
    message's fragments (PS3.8 E.2, PS3.7 6.3: a command in Implicit VR Little Endian, then
    the data set it announces). Only a whole *response to our request* restarts the idle
    timer; a request from the peer, a response to another message, a data value on a context
    that was not accepted or a command before the announced data set ends the association.
    On a C-GET association only (``GuardLimits.peer_stores``) a C-STORE-RQ is allowed: its
    data set is capped by ``max_message`` but not counted in ``max_total``, and a whole one
    restarts the idle timer.
    """

    def __init__(self, guard: AssociationGuard) -> None:
        self._guard = guard
        self._expect: tuple[int, int] | None = None  # (PDU type, length) of the next body
        self._accepted: set[int] = set()  # presentation context IDs the peer accepted
        self._command = bytearray()
        self._expect_data = False
        self._data_bytes = 0
        self._total_data_bytes = 0
        self._final_seen = False
        self._store_data = False  # the data set being read belongs to a C-STORE-RQ

    @property
    def expecting_data(self) -> bool:
        """A command announced a data set whose last fragment has not arrived."""
        return self._expect_data

    @property
    def final_seen(self) -> bool:
        """A final (not Pending) response to our request came in."""
        return self._final_seen

    def feed(self, nr_bytes: int, data: bytes | bytearray) -> None:
        guard = self._guard
        if self._expect is None:
            if nr_bytes != 6 or len(data) != 6:
                return
            pdu_type, _, length = struct.unpack(">BBL", data)
            self._expect = (pdu_type, length)
            self._check_header(pdu_type, length)
            return
        pdu_type, length = self._expect
        self._expect = None
        if nr_bytes != length or len(data) != length or guard.tripped:
            return
        if pdu_type == _P_DATA_TYPE:
            self._count_fragments(bytes(data))
        elif pdu_type == _ABORT_TYPE and length >= 4:
            guard.peer_abort = (data[2], data[3])
        elif pdu_type == _ASSOCIATE_AC_TYPE:
            self._check_acceptance(bytes(data))

    def _check_header(self, pdu_type: int, length: int) -> None:
        guard = self._guard
        phase = guard.phase
        if pdu_type not in _KNOWN_PDU_TYPES:
            guard.trip(TRIP_PROTOCOL, f"an unknown PDU type 0x{pdu_type:02X} ({length} bytes)")
        elif pdu_type == _P_DATA_TYPE and length > guard.limits.largest_data + 65536:
            limits = guard.limits
            if limits.peer_stores and limits.max_store is not None:
                # a C-GET's responses are small (at most a failed-UID list): it is an image
                guard.trip(TRIP_OVERSIZE, f"{OVERSIZE_IMAGE} {limits.max_store} bytes (one "
                                          f"P-DATA-TF PDU of {length} bytes)")
            else:
                guard.trip(TRIP_OVERSIZE, f"one P-DATA-TF PDU of {length} bytes")
        elif pdu_type != _P_DATA_TYPE and length > MAX_CONTROL_PDU:
            guard.trip(TRIP_PROTOCOL,
                       f"an {_PDU_NAMES[pdu_type]} PDU announcing {length} bytes")
        elif pdu_type not in _EXPECTED_PDUS.get(phase, _KNOWN_PDU_TYPES) and not (
                pdu_type == 0x05 and (self._final_seen or guard.cancel_sent)):
            # A release right after the answer, or in reply to our C-CANCEL, is an end.
            guard.trip(TRIP_PROTOCOL, f"an {_PDU_NAMES[pdu_type]} PDU while {_DOING[phase]}")

    def _count_fragments(self, body: bytes) -> None:
        guard = self._guard
        limits = guard.limits
        pos = 0
        while pos < len(body):
            if pos + 6 > len(body):
                guard.trip(TRIP_PROTOCOL, "a P-DATA-TF PDU with a truncated data value item")
                return
            item_length, context, control = struct.unpack_from(">LBB", body, pos)
            if item_length < 2 or pos + 4 + item_length > len(body):
                guard.trip(TRIP_PROTOCOL,
                           f"a P-DATA-TF PDU with a data value item of length {item_length}")
                return
            if self._accepted and context not in self._accepted:
                guard.trip(TRIP_PROTOCOL, f"a data value on presentation context {context}, "
                                          "which was not accepted for this association")
                return
            fragment = body[pos + 6:pos + 4 + item_length]
            pos += 4 + item_length
            is_last = bool(control & 0x02)
            if control & 0x01:
                if self._expect_data:
                    guard.trip(TRIP_PROTOCOL, "a new DIMSE command before the data set its "
                                              "previous command announced")
                    return
                self._command += fragment
                if len(self._command) > limits.max_message:
                    guard.trip(TRIP_OVERSIZE,
                               f"a DIMSE command of more than {limits.max_message} bytes")
                    return
                if is_last and not self._command_complete():
                    return
            else:
                if not self._expect_data:
                    guard.trip(TRIP_PROTOCOL, "a data set that no command announced")
                    return
                self._data_bytes += len(fragment)
                if not self._store_data:  # a C-GET's stores are many, each capped alone
                    self._total_data_bytes += len(fragment)
                if self._store_data and limits.max_store is not None:
                    if self._data_bytes > limits.max_store:  # a C-GET's image
                        guard.trip(TRIP_OVERSIZE, f"{OVERSIZE_IMAGE} {limits.max_store} bytes")
                        return
                elif self._data_bytes > limits.max_message:
                    guard.trip(TRIP_OVERSIZE,
                               f"a DIMSE data set of more than {limits.max_message} bytes")
                    return
                if self._total_data_bytes > limits.max_total:
                    guard.trip(TRIP_OVERSIZE, f"answers of more than {limits.max_total} bytes "
                                              "in all")
                    return
                if is_last:
                    self._expect_data = self._store_data = False
                    self._data_bytes = 0
                    guard.message_received()

    def _command_complete(self) -> bool:
        """A whole command set arrived: check it is a response to our request. False if not."""
        guard = self._guard
        command, self._command = bytes(self._command), bytearray()
        fields = command_fields(command)
        if fields is None:
            guard.trip(TRIP_PROTOCOL, "a DIMSE command set that cannot be read")
            return False
        command_field = fields.get(0x0100)
        if command_field == _C_STORE_RQ and guard.limits.peer_stores:
            return self._store_request(fields)  # a C-GET's sub-operation (PS3.4 C.4.3.3)
        if command_field is None or not command_field & 0x8000:
            name = _COMMAND_NAMES.get(command_field or 0, f"command 0x{command_field or 0:04X}")
            guard.trip(TRIP_PROTOCOL, f"a {name} request, where only responses to our "
                                      "request may come")
            return False
        responding_to = fields.get(0x0120)
        if responding_to != guard.limits.message_id:
            guard.trip(TRIP_PROTOCOL, f"a response to message {responding_to}, not to our "
                                      f"request (message {guard.limits.message_id})")
            return False
        if fields.get(0x0900) not in _PENDING:
            self._final_seen = True  # the PACS may release (collide) from here on
        if fields.get(0x0800, NO_DATA_SET) != NO_DATA_SET:
            self._expect_data = True
        else:
            guard.message_received()
        return True

    def _store_request(self, fields: dict[int, int]) -> bool:
        """A C-STORE-RQ on a C-GET association: its data set follows (PS3.7 9.3.1.1)."""
        if fields.get(0x0800, NO_DATA_SET) == NO_DATA_SET:
            self._guard.trip(TRIP_PROTOCOL, "a C-STORE request without a data set")
            return False
        self._expect_data = self._store_data = True
        return True

    def _check_acceptance(self, body: bytes) -> None:
        """PS3.8 9.3.3: every accepted context names one of our transfer syntaxes, and the
        user information carries a Maximum Length we can send within (D.1.1)."""
        guard = self._guard
        pos = 68  # protocol version, reserved, AE titles, reserved
        maximum: int | None = None
        while pos + 4 <= len(body):
            item_type, _, length = struct.unpack_from(">BBH", body, pos)
            value = body[pos + 4:pos + 4 + length]
            if item_type == 0x21 and len(value) >= 4:
                context, result = value[0], value[2]
                syntax = _sub_items(value[4:]).get(0x40, b"").decode("ascii", "replace")
                syntax = syntax.rstrip("\x00 ")
                if result == 0:
                    if syntax not in guard.limits.transfer_syntaxes:
                        shown = repr(syntax[:64]) if syntax else "no transfer syntax"
                        guard.trip(TRIP_PROTOCOL, f"an association accepted with {shown} on "
                                                  f"presentation context {context}, which we "
                                                  "did not propose")
                        return
                    self._accepted.add(context)
            elif item_type == 0x50:
                raw = _sub_items(value).get(0x51)
                if raw is not None and len(raw) == 4:
                    maximum = struct.unpack(">L", raw)[0]
            pos += 4 + length
        if maximum is None:
            guard.trip(TRIP_PROTOCOL, "an association accepted without the mandatory "
                                      "Maximum Length item")
        elif 0 < maximum < 8:
            guard.trip(TRIP_PROTOCOL, f"an association accepted with a Maximum Length of "
                                      f"{maximum} bytes, too small for any data")


#: Command Data Set Type (0000,0800) of a command without a data set (PS3.7 E.1).
NO_DATA_SET = 0x0101
#: Command Field (0000,0100) of a C-STORE-RQ (PS3.7 E.1).
_C_STORE_RQ = 0x0001
_PENDING = frozenset({0xFF00, 0xFF01})
#: PDU types that may arrive in each phase (PS3.8 9.2 state table); A-ABORT always may.
_EXPECTED_PDUS: dict[Phase, frozenset[int]] = {
    Phase.NEGOTIATING: frozenset({0x02, 0x03, 0x07}),
    Phase.RUNNING: frozenset({0x04, 0x07}),
    Phase.RELEASING: frozenset({0x04, 0x05, 0x06, 0x07}),
}
_DOING = {Phase.CONNECTING: "connecting", Phase.NEGOTIATING: "we waited for the association "
          "answer", Phase.RUNNING: "our request was being answered",
          Phase.RELEASING: "we released the association", Phase.DONE: "closing"}
_COMMAND_NAMES = {0x0001: "C-STORE", 0x0010: "C-GET", 0x0020: "C-FIND", 0x0021: "C-MOVE",
                  0x0030: "C-ECHO", 0x0FFF: "C-CANCEL", 0x0100: "N-EVENT-REPORT",
                  0x0110: "N-GET", 0x0120: "N-SET", 0x0130: "N-ACTION", 0x0140: "N-CREATE",
                  0x0150: "N-DELETE"}


def _sub_items(data: bytes) -> dict[int, bytes]:
    """Sub-items (type, reserved, 2-byte length, value) of an A-ASSOCIATE item, by type."""
    out: dict[int, bytes] = {}
    pos = 0
    while pos + 4 <= len(data):
        sub_type, _, length = struct.unpack_from(">BBH", data, pos)
        out.setdefault(sub_type, data[pos + 4:pos + 4 + length])
        pos += 4 + length
    return out


def idle_ran_out(guard: AssociationGuard | None, last_response_at: float, idle: float) -> bool:
    """Did responses stop because the peer went silent: our watchdog tripped on the idle
    timeout, or the silence since ``last_response_at`` (``time.monotonic`` seconds) is at least
    90 % of ``idle`` (seconds; a peer that hung up just before the watchdog). PS3.8 9.1.4 (ARTIM
    has no DIMSE equivalent: the idle timer is ours). Used by C-FIND, C-MOVE and C-GET."""
    tripped = (guard is not None and guard.trip_info is not None
               and guard.trip_info.reason == TRIP_IDLE)
    return tripped or time.monotonic() - last_response_at >= idle * 0.9


def command_fields(command: bytes) -> dict[int, int] | None:
    """The US elements of group 0000 of a command set (PS3.7 E.1, Implicit VR Little Endian)
    by element number; None if the elements run past the end or group 0000 does not come
    first.

    Elements of a later group are skipped, as pynetdicom does: Orthanc (DCMTK's DIMSE) puts
    the Failed SOP Instance UID List (0008,0058), with its group length, in the command set
    of its C-GET responses after a failed sub-operation."""
    fields: dict[int, int] = {}
    pos = 0
    while pos < len(command):
        if pos + 8 > len(command):
            return None
        group, element, length = struct.unpack_from("<HHL", command, pos)
        if (group != 0x0000 and pos == 0) or pos + 8 + length > len(command):
            return None
        if length == 2 and group == 0x0000:
            fields[element] = struct.unpack_from("<H", command, pos + 8)[0]
        pos += 8 + length
    return fields


class _WakingQueue(queue.Queue):  # type: ignore[type-arg]
    """pynetdicom's queue of primitives for its reader thread to send (``to_provider_queue``),
    which also wakes that thread if it waits in ``GuardedSocket.ready`` (a lent socket): our
    request and a C-CANCEL go out at once, not up to :data:`LENT_POLL` later. Becomes its
    class at EVT_CONN_OPEN (``AssociationGuard.install``), as the socket does."""

    _wake: threading.Event

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        super().put(item, block, timeout)
        self._wake.set()


def _stop_reader_when_closed(dul: DULServiceProvider, limit: float) -> None:
    """Wait up to ``limit`` seconds for pynetdicom's reader to reach Sta1 (the connection
    closed: released, aborted or dropped), then stop it as ``DULServiceProvider.stop_dul``
    does. pynetdicom's reader does not stop by itself in Sta1; an association whose end
    nobody ``kill()``-ed (a release we waited for ourselves) would hold ``join`` to ``limit``.
    """
    end = time.monotonic() + limit
    while dul.is_alive() and time.monotonic() < end:
        if dul.state_machine.current_state == "Sta1":
            dul._kill_thread = True
            dul.join(max(0.0, end - time.monotonic()))
            return
        time.sleep(0.005)


def _send_bounded(raw: socket.socket, data: bytes, limit: float) -> bool:
    """Send ``data`` unless the peer does not take it within ``limit`` seconds."""
    end = time.monotonic() + limit
    view, sent = memoryview(data), 0
    while sent < len(data):
        if time.monotonic() >= end:
            return False
        try:
            sent += raw.send(view[sent:])
        except TimeoutError:
            continue
        except OSError:
            return False
    return True


class GuardedSocket(AssociationSocket):
    """pynetdicom's socket wrapper, with reads and writes that give up when the guard trips.

    An instance of pynetdicom's :class:`AssociationSocket` becomes one at EVT_CONN_OPEN
    (``AssociationGuard.install``); pynetdicom offers no hook to choose the class.
    """

    _guard: AssociationGuard
    _lend_lock: threading.Lock
    #: pynetdicom's reader waits on it while the socket is lent (``LENT_POLL``); set when it
    #: has work: the socket was given back, or a primitive was queued for it to send.
    _wake: threading.Event
    #: Lent to a DIMSE worker (``core.dimse.lean_reader``): pynetdicom's reader must not read.
    _lent = False
    #: Bytes the borrower read but did not consume, served first by ``recv`` (PDU-aligned).
    _pushback = b""
    #: pynetdicom's reader was told ``ready`` and has not finished reading that PDU yet.
    _dul_reading = False
    _body_next = False

    @property
    def ready(self) -> bool:
        # A tripped guard makes the reader call recv(), which sends the A-ABORT and closes.
        if self._guard.tripped and not self._guard.bailed:
            return True
        if self._lent:
            # pynetdicom's reader asks every 1 ms; while lent it sleeps here instead (woken
            # by ``give_back``), holding the interpreter lock 20x less often.
            # Cleared after waking: pynetdicom checks its send queue before asking again.
            self._wake.wait(LENT_POLL)
            self._wake.clear()
        with self._lend_lock:
            if self._lent:
                return False
            ready = bool(self._pushback) or bool(super().ready)
            if ready:
                self._dul_reading = True  # pynetdicom reads a whole PDU next (header, body)
            return ready

    def lend(self, limit: float = 2.0) -> bool:
        """Stop pynetdicom's reader from reading; the caller reads the socket itself.

        Waits (at most ``limit`` seconds) for a PDU pynetdicom is reading to be wholly read,
        so the caller starts at a PDU boundary (PS3.8 9.3.1). False if it did not finish in
        time (the socket is then not lent). Runs on: DIMSE worker thread.
        """
        with self._lend_lock:
            self._lent = True
        end = time.monotonic() + limit
        while self._dul_reading and not self._guard.tripped:
            if time.monotonic() >= end:
                self.give_back(b"")
                return False
            time.sleep(0.001)
        return True

    def give_back(self, pushback: bytes | bytearray) -> None:
        """End a loan: ``pushback`` (unread by the guard, starting at a PDU boundary) is
        served by ``recv`` before the socket. Runs on: DIMSE worker thread."""
        with self._lend_lock:
            self._pushback = bytes(pushback) + self._pushback
            self._lent = False
            self._wake.set()

    @property
    def lent(self) -> bool:
        return self._lent

    def _take_pushback(self, nr_bytes: int) -> bytes:
        with self._lend_lock:
            data, self._pushback = self._pushback[:nr_bytes], self._pushback[nr_bytes:]
        return data

    def recv(self, nr_bytes: int) -> bytearray:
        """Read ``nr_bytes``; fewer (pynetdicom: connection closed) if the guard trips."""
        data = self._recv(nr_bytes)
        # pynetdicom reads a PDU as recv(6), then recv(length) unless the type is unknown.
        if self._body_next:
            self._body_next = self._dul_reading = False
        elif nr_bytes == 6 and len(data) == 6 and data[0] in _KNOWN_PDU_TYPES:
            self._body_next = True
        else:
            self._dul_reading = False
        return data

    def _recv(self, nr_bytes: int) -> bytearray:
        guard = self._guard
        raw = self.socket
        data = bytearray(self._take_pushback(nr_bytes) if self._pushback else b"")
        while len(data) < nr_bytes:
            if guard.tripped or raw is None:
                guard.bail(raw)
                return data
            try:
                chunk = raw.recv(min(nr_bytes - len(data), 65536))
            except TimeoutError:
                continue
            except OSError:
                return data
            if not chunk:
                return data
            data.extend(chunk)
        guard.inspect_read(nr_bytes, data)
        return data

    def send(self, bytestream: bytes) -> None:
        """Send ``bytestream``; at most one A-ABORT per association; give up on a trip."""
        guard = self._guard
        raw = self.socket
        is_abort = bytestream[:1] == bytes([_ABORT_TYPE])
        if is_abort and not guard.claim_abort():
            return
        view, sent = memoryview(bytestream), 0
        started = time.monotonic()
        try:
            while sent < len(bytestream):
                if raw is None or guard.bailed:
                    raise OSError("the association was ended")
                if guard.tripped and (not is_abort
                                      or time.monotonic() - started > ABORT_SEND_LIMIT):
                    raise OSError("the association was ended")
                try:
                    sent += raw.send(view[sent:])
                except TimeoutError:
                    continue
            if is_abort:
                guard.aborts_sent += 1
            evt.trigger(self.assoc, evt.EVT_DATA_SENT, {"data": bytestream})
        except OSError:
            # What pynetdicom's own send does on failure: Evt17, transport connection closed.
            self.event_queue.put("Evt17")
