"""TurnAway: connections the receiver will not serve, answered without a thread each.

When a peer address already holds its share of the receiver's connections (or too many
connections wait to associate), the new connection is answered at once with
A-ASSOCIATE-RJ "rejected-transient, DICOM UL service-provider (presentation), local-limit-
exceeded" (PS3.8 7.1.1.9, Table 9-21: result 2, source 3, reason 2), so an honest sender
knows to retry later. The RJ is written before the peer's A-ASSOCIATE-RQ is read (the RQ's
bytes are read and dropped afterwards): the peer reads it as the answer to its request.

One thread serves every turned-away connection: it reads and drops what the peer sends until
the peer closes or :attr:`TurnAway.wait` seconds passed (closing with unread bytes would
reset the connection and could destroy the RJ before the peer reads it). At most
:attr:`TurnAway.most` are held; beyond that they are closed at once.

Runs on: the receiver's server thread (:meth:`TurnAway.take`) and its own thread.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
import time

#: A-ASSOCIATE-RJ (PS3.8 9.3.4): rejected-transient, service-provider (presentation
#: related function), local-limit-exceeded.
LOCAL_LIMIT_RJ = struct.pack(">BBIBBBB", 0x03, 0, 4, 0, 0x02, 0x03, 0x02)


class TurnAway:
    """Answers and closes connections the receiver turned away (see the module text).

    ``wait``: seconds a connection is held to read the peer's close; ``most``: connections
    held at once; ``tick``: seconds between looks at the held sockets.
    """

    def __init__(self, *, wait: float = 2.0, most: int = 256, tick: float = 0.1) -> None:
        self.wait = wait
        self.most = most
        self.tick = tick
        self._lock = threading.Lock()
        self._held: dict[socket.socket, float] = {}
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def take(self, sock: socket.socket) -> None:
        """Answer ``sock`` with :data:`LOCAL_LIMIT_RJ` and close it soon. Never blocks (the
        RJ is 10 bytes into an empty send buffer), never raises."""
        with contextlib.suppress(OSError):
            sock.setblocking(False)
            sock.send(LOCAL_LIMIT_RJ)
        with self._lock:
            if self._stopped.is_set() or len(self._held) >= self.most:
                _close(sock)
                return
            self._held[sock] = time.monotonic() + self.wait
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="ReceiverTurnAway",
                                                daemon=True)
                self._thread.start()

    @property
    def held(self) -> int:
        """Connections answered and not yet closed."""
        with self._lock:
            return len(self._held)

    def stop(self) -> None:
        """Close every held connection and end the thread. Idempotent."""
        self._stopped.set()
        with self._lock:
            held, self._held = list(self._held), {}
            thread = self._thread
        for sock in held:
            _close(sock)
        if thread is not None:
            thread.join(1.0)

    def _run(self) -> None:
        while not self._stopped.is_set():
            with self._lock:
                held = list(self._held.items())
            if not held:
                self._stopped.wait(self.tick)
                continue
            now = time.monotonic()
            done = [sock for sock, deadline in held if deadline <= now]
            try:
                readable, _, _ = select.select([s for s, _ in held], [], [], self.tick)
            except (OSError, ValueError):
                readable = [sock for sock, _ in held]
            for sock in readable:
                try:
                    if not sock.recv(65536):
                        done.append(sock)
                except BlockingIOError:
                    pass
                except OSError:
                    done.append(sock)
            with self._lock:
                for sock in done:
                    if self._held.pop(sock, None) is not None:
                        _close(sock)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.close()
