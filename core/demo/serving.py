"""Serve a pynetdicom AE in the background and stop it quickly and cleanly.

pynetdicom's own server polls every 0.5 s on shutdown and aborting an association from another
thread while its handler runs crashes that thread; this server polls every 50 ms and lets each
handler end its own association first.
"""

from __future__ import annotations

import inspect
import logging
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any, Self

from pynetdicom import AE
from pynetdicom.events import Event, EventHandlerType
from pynetdicom.transport import ThreadedAssociationServer

from dicom_courier.core.dimse.transport import NODELAY_HANDLERS, quiet_pynetdicom

LOGGER = logging.getLogger(__name__)


class _QuickStopServer(ThreadedAssociationServer):
    """Notices shutdown() within 50 ms rather than socketserver's 500 ms."""

    def serve_forever(self, poll_interval: float = 0.05) -> None:
        super().serve_forever(poll_interval)

    def shutdown(self) -> None:
        # Not AssociationServer.shutdown(): that unlists us from AE._servers, where we are not.
        socketserver.BaseServer.shutdown(self)
        self.server_close()


class BackgroundScp:
    """An AE listening in a daemon thread, with a stop() that never races a busy handler.

    Aborting an association from another thread while its handler is still answering makes
    pynetdicom's DUL thread die with InvalidEventError (a P-DATA after our own A-ABORT: Evt9
    in Sta13). So stop() raises ``stopping``, waits for busy handlers (wrapped by
    ``tracked``) to end their own associations through ``end_if_over``, and only then
    aborts the idle ones. Shared by the demo PACS, the workstation and the test fakes.
    """

    def __init__(self, ae: AE) -> None:
        self.ae = ae
        self.stopping = threading.Event()
        self._busy = 0
        self._idle = threading.Condition()
        self._ending: set[threading.Thread] = set()
        self._server: _QuickStopServer | None = None

    def start(self, host: str, port: int, evt_handlers: list[EventHandlerType]) -> int:
        """Listen on (host, port), 0 picking a free port; returns the bound port."""
        self.stopping.clear()
        server = self.ae.make_server(
            (host, port), evt_handlers=evt_handlers, server_class=_QuickStopServer
        )
        assert isinstance(server, _QuickStopServer)
        thread = threading.Thread(target=server.serve_forever, name=f"{self.ae.ae_title}@{host}")
        thread.daemon = True
        thread.start()
        self._server = server
        return int(server.server_address[1])

    def tracked(self, handler: Callable[..., Any]) -> Callable[..., Any]:
        """``handler`` (plain or generator) counted as busy while it runs or is suspended."""
        if inspect.isgeneratorfunction(handler):

            def run_generator(event: Event, *args: Any) -> Iterator[Any]:
                with self._working():
                    yield from handler(event, *args)

            return run_generator

        def run(event: Event, *args: Any) -> Any:
            with self._working():
                return handler(event, *args)

        return run

    def end_if_over(self, event: Event) -> bool:
        """True once ``event``'s association is over for its handler, which must then return.

        If stop() has begun, the association is aborted here, from its own thread. If the peer
        has aborted, the association is killed: pynetdicom's reactor is this very thread, so
        it has not noticed yet and would otherwise answer into the closed connection.
        """
        assoc = event.assoc
        if assoc.acse.is_aborted():
            assoc.kill()
        elif self.stopping.is_set():
            if assoc.is_established:
                assoc.abort()
        else:
            return False
        with self._idle:
            self._ending = {t for t in self._ending if t.is_alive()}
            self._ending.add(threading.current_thread())
        return True

    def stop(self, grace: float = 5.0) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        deadline = time.monotonic() + grace
        server.shutdown()  # no new associations from here on
        self.stopping.set()
        with self._idle:
            self._idle.wait_for(lambda: self._busy == 0, timeout=grace)
            ending, self._ending = self._ending, set()
        for thread in ending:  # still tidying up, e.g. releasing a C-MOVE sub-association
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        threads = self.ae.active_associations
        self.ae.shutdown()  # the idle ones
        for thread in threads:
            thread.join(timeout=max(0.1, deadline - time.monotonic()))

    @contextmanager
    def _working(self) -> Iterator[None]:
        with self._idle:
            self._busy += 1
        try:
            yield
        finally:
            with self._idle:
                self._busy -= 1
                self._idle.notify_all()


class ServedAe:
    """The lifecycle every in-process SCP shares: listen in the background on a (free) port,
    report the real port, stop promptly; usable as a context manager.

    Subclasses add their presentation contexts in ``_configure`` and their event handlers in
    ``_handlers``.
    """

    def __init__(self, ae_title: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self.ae_title = ae_title
        self.host = host
        self._requested_port = port
        self._port = port
        self._scp: BackgroundScp | None = None

    @property
    def port(self) -> int:
        """The listening port (the real one once started, even if constructed with 0)."""
        return self._port

    @property
    def is_running(self) -> bool:
        return self._scp is not None

    def start(self) -> Self:
        """Listen in the background; returns once the port is bound."""
        if self._scp is not None:
            return self
        quiet_pynetdicom()
        ae = AE(ae_title=self.ae_title)
        ae.maximum_associations = 16
        ae.acse_timeout = 10  # also bounds how long an abort waits for the peer to hang up
        self._configure(ae)
        scp = BackgroundScp(ae)
        self._port = scp.start(self.host, self._requested_port,
                               [*NODELAY_HANDLERS, *self._handlers(scp)])
        self._scp = scp
        self._started(scp)
        LOGGER.info("%s %s listening on %s:%d", type(self).__name__, self.ae_title, self.host,
                    self._port)
        return self

    def stop(self) -> None:
        """Let handlers end their own associations, abort idle ones, close the port."""
        if self._scp is None:
            return
        self._scp.stop()
        self._scp = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _configure(self, ae: AE) -> None:
        """Add presentation contexts and settings before the AE listens."""

    def _handlers(self, scp: BackgroundScp) -> list[EventHandlerType]:
        """The (event, handler[, args]) bindings; NODELAY_HANDLERS are added for you."""
        return []

    def _started(self, scp: BackgroundScp) -> None:
        """Called once listening (e.g. to keep ``scp.stopping``)."""
