"""ReceiverGuard: the built-in receiver's limits against peers that hold it or flood it.

The receiver listens on the network, and the window's process is where it runs: no peer may
lock honest senders out, take memory without bound or hold a thread for ever, and whenever
the receiver refuses something for a limit, it says so (a :class:`StoreRefusal` on the
:class:`~.arrival_hub.ArrivalHub`: the window's status bar, ``receive``'s "Refused:" lines).

- **Waiting for the request**: a connection must send its A-ASSOCIATE-RQ within
  :attr:`ReceiverLimits.associate_wait` seconds (the ARTIM timer, PS3.8 9.1.5; the receiver
  sets pynetdicom's ACSE timeout to it).
- **Per address**: at most :attr:`ReceiverLimits.per_peer` connections at once from one
  address, and at most :attr:`ReceiverLimits.max_waiting` connections (all addresses) that
  have not associated yet; over the first, a new connection is turned away at accept with
  A-ASSOCIATE-RJ transient, local-limit-exceeded (:mod:`.turn_away`, no thread each); over
  the second, the oldest connection that has sent nothing makes room (so senders from many
  addresses that send nothing cannot lock an honest one out, and threads stay bounded).
- **Slots**: :attr:`ReceiverLimits.max_associations` counts only accepted associations (an
  allowed AE title that called our AE title), not connections that have sent nothing, nor
  refused ones; past it, A-ASSOCIATE-RJ transient, local-limit-exceeded.
- **Pace**: one incoming message (from its first byte to our answer) must complete within
  ``max(message_min_time, bytes received / message_min_rate)`` seconds, else the
  association is aborted (A-ABORT, PS3.8 9.3.8); a peer sending 1 byte a second no longer
  holds a slot for ever (the idle timer alone restarts with every byte).
- **Size**: the presentation data values (PS3.8 Annex E) of one message may announce at
  most ``max_instance_mb`` (``receiver.json``); past it the association is aborted at once,
  before the rest is read.
- **AE titles** that are not DICOM AE titles (control, non-ASCII characters, a backslash:
  PS3.5 6.2) make pynetdicom abort the association; the refusal is published, shown
  escaped.

Both read paths are covered: pynetdicom's (its DUL reads through the association socket's
``recv``, wrapped here) and the lean C-STORE reader (:mod:`.store_reader` reports its reads,
announced lengths and answers to the connection's :class:`ConnectionWatch`).

Runs on: the server thread (:meth:`ReceiverGuard.admit`), association threads (the rest),
and one watchdog thread per receiver.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import socket
import struct
import threading
import time
from dataclasses import dataclass
from typing import Any

from pynetdicom.association import Association
from pynetdicom.events import Event
from pynetdicom.transport import ThreadedAssociationServer

from dicom_courier.core.dimse.arrival_hub import ArrivalHub
from dicom_courier.core.dimse.turn_away import TurnAway
from dicom_courier.core.outcome.arrival import StoreRefusal

log = logging.getLogger(__name__)

#: A-ABORT PDU (PS3.8 9.3.8): source 0 (DICOM UL service-user), reason 0.
_ABORT = struct.pack(">BBIBBBB", 0x07, 0, 4, 0, 0, 0, 0)
_ASSOCIATE_RQ = 0x01
_P_DATA_TF = 0x04
#: The same limit refusal for one address is published again only after this many seconds.
REPEAT_AFTER = 10.0
#: The key of refusals for the limit of connections waiting to associate (all addresses).
_WAITING = "(all addresses)"


@dataclass(frozen=True)
class ReceiverLimits:
    """The receiver's limits (see the module text). Times in seconds, rates in bytes/s."""

    associate_wait: float = 10.0
    per_peer: int = 8
    max_associations: int = 32
    max_waiting: int = 64
    message_min_time: float = 120.0
    message_min_rate: float = 64 * 1024
    tick: float = 0.5
    turn_away_wait: float = 2.0


class ConnectionWatch:
    """One connection's pace and size: its current message's start, bytes and announced
    length. Fed by the reading thread, read by the watchdog (plain numbers: no lock)."""

    def __init__(self, guard: ReceiverGuard, address: str, raw: socket.socket) -> None:
        self.guard = guard
        self.address = address
        self.raw = raw
        self.opened = time.monotonic()
        self.assoc: Association | None = None  # set at EVT_CONN_OPEN
        self.calling_aet = ""
        self.associated = False
        self.ended = False
        self.started: float | None = None
        self.received = 0
        self.announced = 0
        self._header = True  # pynetdicom's reads: the next recv is a PDU header
        self._pdu_type = 0

    def got(self, count: int) -> None:
        """``count`` bytes of an incoming message were read."""
        if self.started is None:
            self.started = time.monotonic()
        self.received += count

    def answered(self) -> None:
        """We sent something (a response, the A-ASSOCIATE-AC): the message is over."""
        self.started = None
        self.received = self.announced = 0

    def announce(self, length: int) -> bool:
        """A PDV or PDU of ``length`` bytes is coming for the current message; False (and the
        association aborted, the refusal published) when that passes the size cap."""
        self.announced += length
        if self.announced <= self.guard.max_instance_bytes:
            return True
        self.guard.too_large(self)
        return False

    def overdue(self, now: float, limits: ReceiverLimits) -> float | None:
        """Seconds the current message has taken when past its deadline, else None."""
        started = self.started
        if started is None or self.ended:
            return None
        elapsed = now - started
        allowed = max(limits.message_min_time, self.received / limits.message_min_rate)
        return elapsed if elapsed > allowed else None

    def pdu_read(self, wanted: int, data: bytes | bytearray) -> None:
        """pynetdicom's DUL read ``data`` (it asked for ``wanted`` bytes: a PDU header of 6,
        then the PDU's body)."""
        if data:
            self.got(len(data))
        if self._header:
            if wanted == 6 and len(data) == 6:
                self._pdu_type, _, length = struct.unpack(">BBI", bytes(data))
                if self._pdu_type == _P_DATA_TF:
                    self.announce(length)
                self._header = length == 0
            return
        self._header = True
        if self._pdu_type == _ASSOCIATE_RQ and len(data) >= 36:
            self.guard.check_titles(self, bytes(data[4:20]), bytes(data[20:36]))


class GuardedServer(ThreadedAssociationServer):
    """pynetdicom's threaded server with the guard's say at accept (before any thread)."""

    #: The listen backlog (socketserver's default is 5: a burst of connections, a PACS
    #: opening several associations at once, waited for SYN retries of 1-3 s each).
    request_queue_size = 128
    guard: ReceiverGuard

    def process_request(self, request: Any, client_address: Any) -> None:
        if self.guard.admit(request, client_address):
            super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        self.guard.release_socket(request)
        super().shutdown_request(request)


class ReceiverGuard:
    """The limits of one running receiver (see the module text).

    ``hub``: where refusals go; ``our_aet``: the receiver's AE title (for messages);
    ``max_instance_mb``: the size cap of one message (MB, 10^6 bytes).
    """

    def __init__(self, limits: ReceiverLimits, hub: ArrivalHub, *, our_aet: str,
                 max_instance_mb: int) -> None:
        self.limits = limits
        self.hub = hub
        self.our_aet = our_aet
        self.max_instance_mb = max_instance_mb
        self.max_instance_bytes = max_instance_mb * 1_000_000
        self.turn_away = TurnAway(wait=limits.turn_away_wait)
        self._lock = threading.Lock()
        self._watches: dict[int, ConnectionWatch] = {}  # id(raw socket) -> watch
        self._said: dict[str, tuple[float, int]] = {}  # address -> (last said, not said)
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ life

    def start(self) -> None:
        """Start the watchdog thread."""
        self._thread = threading.Thread(target=self._watch_pace, name="ReceiverWatchdog",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """End the watchdog and the turned-away connections. Idempotent."""
        self._stopped.set()
        self.turn_away.stop()
        if self._thread is not None:
            self._thread.join(2.0)

    @property
    def connections(self) -> int:
        """Connections being served (waiting to associate or associated)."""
        with self._lock:
            return len(self._watches)

    # ------------------------------------------------------------------ accept

    def admit(self, raw: socket.socket, client_address: Any) -> bool:
        """Runs on: the server thread, per accepted connection. True: serve it (its
        :class:`ConnectionWatch` is registered); False: turned away (answered and closed by
        :class:`~.turn_away.TurnAway`, refusal published)."""
        address = normal_address(str(client_address[0]) if client_address else "")
        limits = self.limits
        evicted: ConnectionWatch | None = None
        with self._lock:
            watches = [w for w in self._watches.values() if not w.ended]
            from_there = sum(1 for w in watches if w.address == address)
            waiting = [w for w in watches if not w.associated]
            if len(waiting) >= limits.max_waiting:
                evicted = _oldest_silent(waiting)
            if from_there >= limits.per_peer:
                why = (f"{address} already has {from_there} connections open to this "
                       f"computer's receiver (at most {limits.per_peer} from one address)")
                evicted = None
            elif len(waiting) >= limits.max_waiting and evicted is None:
                why = (f"{len(waiting)} connections are waiting to associate with this "
                       f"computer's receiver (at most {limits.max_waiting})")
            else:
                if evicted is not None:
                    evicted.ended = True
                self._watches[id(raw)] = ConnectionWatch(self, address, raw)
                why = ""
        if evicted is not None:
            self._evict(evicted)
        if not why:
            return True
        self.turn_away.take(raw)
        key = address if from_there >= limits.per_peer else _WAITING
        self._limit_refusal(key, f"Turned away a connection from {address}: {why}. It "
                                 "was answered \"rejected (transient): local limit "
                                 "exceeded\"; a sender may retry later.", address)
        return False

    def on_conn_open(self, event: Event) -> None:
        """Runs on: the connection's request thread, at EVT_CONN_OPEN (before the
        association's threads start). Wraps the socket's reads/sends and the association
        thread's end so the watch follows the connection."""
        assoc = event.assoc
        sock = assoc.dul.socket
        raw = getattr(sock, "socket", None)
        with self._lock:
            watch = self._watches.get(id(raw)) if raw is not None else None
        if sock is None or watch is None:
            return
        sock.courier_watch = watch  # type: ignore[attr-defined]  # read by store_reader
        watch.assoc = assoc
        recv, send = sock.recv, sock.send

        def watched_recv(nr_bytes: int) -> bytearray:
            if watch.ended:  # aborted: what the kernel still holds is not read
                return bytearray()
            data = recv(nr_bytes)
            watch.pdu_read(nr_bytes, data)
            return bytearray() if watch.ended else data

        def watched_send(bytestream: bytes) -> None:
            send(bytestream)
            watch.answered()

        sock.recv = watched_recv  # type: ignore[method-assign]
        sock.send = watched_send  # type: ignore[method-assign]
        run = assoc.run

        def run_then_release() -> None:
            try:
                run()
            finally:
                self._release(watch)

        assoc.run = run_then_release  # type: ignore[method-assign]

    def _evict(self, watch: ConnectionWatch) -> None:
        """Close a connection that has sent nothing, to make room (server thread): its
        association thread, waiting for the A-ASSOCIATE-RQ, is woken and ends at once."""
        with contextlib.suppress(OSError):
            watch.raw.shutdown(socket.SHUT_RDWR)
        if watch.assoc is not None:
            watch.assoc.dul.to_user_queue.put(None)  # type: ignore[arg-type]  # "timed out"
        self._limit_refusal(_WAITING, (
            f"Closed a connection from {watch.address} that had sent nothing for "
            f"{time.monotonic() - watch.opened:.0f} s: {self.limits.max_waiting} connections "
            "were waiting to associate with this computer's receiver (its limit)."),
            watch.address)

    def release_socket(self, raw: Any) -> None:
        """The server closes ``raw`` (any thread): its connection no longer counts."""
        with self._lock:
            watch = self._watches.pop(id(raw), None)
        if watch is not None:
            watch.ended = True

    def _release(self, watch: ConnectionWatch) -> None:
        watch.ended = True
        with self._lock:
            if self._watches.get(id(watch.raw)) is watch:
                del self._watches[id(watch.raw)]

    # ------------------------------------------------------------------ association

    def claim_slot(self, assoc: Association, calling_aet: str) -> str | None:
        """Runs on: the association thread, at EVT_REQUESTED for an allowed sender. None: it
        has a slot now; else why not (the caller rejects transient, local-limit-exceeded)."""
        watch = watch_of(assoc)
        with self._lock:
            busy = sum(1 for w in self._watches.values() if w.associated)
            if busy >= self.limits.max_associations:
                address = watch.address if watch is not None else str(assoc.requestor.address)
                return (f"{calling_aet} at {address} was asked to retry later: this "
                        f"computer's receiver already has {busy} associations open (at most "
                        f"{self.limits.max_associations}). Answered \"rejected (transient): "
                        "local limit exceeded\".")
            if watch is not None:
                watch.associated = True
                watch.calling_aet = calling_aet
        return None

    def check_titles(self, watch: ConnectionWatch, called: bytes, calling: bytes) -> None:
        """An A-ASSOCIATE-RQ's raw AE titles (PS3.8 9.3.2): one that is not a DICOM AE title
        gets a refusal (pynetdicom then aborts the association)."""
        bad = [(what, raw) for what, raw in (("calling", calling), ("called", called))
               if not _valid_ae(raw)]
        if not bad:
            return
        what, raw = bad[0]
        shown = shown_ae(raw)
        self.hub.refused(StoreRefusal(
            f"A sender at {watch.address} used a {what} AE title that is not a DICOM AE title "
            f"({shown}: control, non-ASCII characters or a backslash); the association was "
            "aborted. Fix the AE title on the sending system.",
            calling_aet=shown_ae(calling), address=watch.address))

    # ------------------------------------------------------------------ pace and size

    def too_large(self, watch: ConnectionWatch) -> None:
        """Runs on: the reading thread. Abort, and say which limit and where to raise it."""
        if watch.ended:
            return
        who = watch.calling_aet or "A sender"
        self._abort(watch, (
            f"{who} at {watch.address} sent an instance larger than {self.max_instance_mb} MB,"
            f" the largest this computer's receiver accepts: the association was aborted. To "
            f"accept larger instances, raise \"max_instance_mb\" in receiver.json (Preferences"
            f" → This computer (receiver))."))

    def _watch_pace(self) -> None:
        limits = self.limits
        while not self._stopped.wait(limits.tick):
            now = time.monotonic()
            with self._lock:
                watches = list(self._watches.values())
            for watch in watches:
                elapsed = watch.overdue(now, limits)
                if elapsed is None:
                    continue
                who = watch.calling_aet or "A sender"
                self._abort(watch, (
                    f"{who} at {watch.address} sent one message too slowly ({_kb(watch.received)}"
                    f" in {elapsed:.0f} s; each message may take {limits.message_min_time:.0f}"
                    f" s, or longer at {limits.message_min_rate / 1024:.0f} KiB/s or more): the"
                    " association was aborted."))

    def _abort(self, watch: ConnectionWatch, reason: str) -> None:
        """Send A-ABORT and shut the connection down (any thread): every reader of it wakes
        up to a closed connection and pynetdicom ends the association."""
        watch.ended = True
        log.warning("Receiver %r: %s", self.our_aet, reason)
        self.hub.refused(StoreRefusal(reason, calling_aet=watch.calling_aet,
                                      address=watch.address))
        with contextlib.suppress(OSError):
            watch.raw.send(_ABORT, socket.MSG_DONTWAIT)
        with contextlib.suppress(OSError):
            watch.raw.shutdown(socket.SHUT_RDWR)

    def _limit_refusal(self, key: str, reason: str, address: str = "") -> None:
        """Publish a limit refusal at most every :data:`REPEAT_AFTER` s per ``key`` (an
        address, or :data:`_WAITING` for the limit of all addresses): a flood is one line,
        then one line with how many more."""
        now = time.monotonic()
        with self._lock:
            last, unsaid = self._said.get(key, (-REPEAT_AFTER, 0))
            if now - last < REPEAT_AFTER:
                self._said[key] = (last, unsaid + 1)
                return
            self._said[key] = (now, 0)
            if len(self._said) > 1024:
                self._said = {key: (now, 0)}
        if unsaid:
            reason += f" ({unsaid} more like this since the last such line.)"
        log.warning("Receiver %r: %s", self.our_aet, reason)
        self.hub.refused(StoreRefusal(reason, address=address or key))


def _oldest_silent(waiting: list[ConnectionWatch]) -> ConnectionWatch | None:
    """The connection waiting longest that has sent nothing yet (and has its association)."""
    silent = [w for w in waiting if w.started is None and w.received == 0
              and w.assoc is not None]
    return min(silent, key=lambda w: w.opened) if silent else None


def watch_of(assoc: Association) -> ConnectionWatch | None:
    """The :class:`ConnectionWatch` of an association of a guarded receiver, else None."""
    watch = getattr(assoc.dul.socket, "courier_watch", None)
    return watch if isinstance(watch, ConnectionWatch) else None


def normal_address(address: str) -> str:
    """``::ffff:10.0.0.9`` → ``10.0.0.9``; IPv6 compressed; anything else as it is."""
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def shown_ae(raw: bytes) -> str:
    """An AE title from the wire as people may see it: printable ASCII as it is (trailing
    spaces and NULs dropped), anything else as ``\\xNN``."""
    text = raw.rstrip(b" \x00")
    return "".join(chr(b) if 0x20 <= b < 0x7F and b != 0x5C else f"\\x{b:02x}"
                   for b in text) or "(blank)"


def _valid_ae(raw: bytes) -> bool:
    """PS3.5 6.2 AE: printable ASCII without backslash, not only spaces (PS3.8 9.3.2: padded
    with spaces). pynetdicom refuses the same."""
    return bool(raw.strip(b" ")) and all(0x20 <= b < 0x7F and b != 0x5C for b in raw)


def _kb(count: int) -> str:
    return f"{count / 1_000_000:.1f} MB" if count >= 1_000_000 else f"{count / 1000:.0f} kB"
