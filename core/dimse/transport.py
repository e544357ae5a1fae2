"""pynetdicom set-up every association of ours needs: no patient data in logs, no Nagle delay.

pynetdicom logs request and response identifiers (patient names and IDs) by default and logs a
line per DIMSE response, which is both a privacy leak and slow. Nagle's algorithm costs ~40 ms
per small DIMSE message on loopback. Both are fixed here once, for SCUs and SCPs alike, as is
a pynetdicom race that loses a DIMSE response (:mod:`.reactor_pause`).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import warnings

from pynetdicom import Association, _config, evt
from pynetdicom.dul import DULServiceProvider
from pynetdicom.events import Event

from dicom_courier.core.dimse.reactor_pause import install_reactor_pause_fix

_configured = False


def quiet_pynetdicom() -> None:
    """Turn off identifier logging and per-message INFO logs (idempotent)."""
    global _configured
    if _configured:
        return
    _config.LOG_REQUEST_IDENTIFIERS = False
    _config.LOG_RESPONSE_IDENTIFIERS = False
    _config.LOG_HANDLER_LEVEL = "none"
    # Our own errors say what pynetdicom would log, in plain words; -v turns it back on.
    logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)
    # pydicom logs every odd value it decodes ("Found unknown escape sequence"); the results
    # mark undecodable values themselves (core.decode, core.find).
    logging.getLogger("pydicom").setLevel(logging.ERROR)
    # A badly encoded name from a PACS is marked in the results (core.decode); pydicom's own
    # warning would only repeat that on stderr.
    warnings.filterwarnings("ignore", message="Failed to decode byte string")
    # pydicom warns on malformed data sets from a peer; find.py counts and reports those.
    warnings.filterwarnings("ignore", category=UserWarning, module=r"pydicom(\.|$)")
    _quiet_pynetdicom_thread_deaths()
    install_reactor_pause_fix()  # every association of ours, SCU and SCP: see its module
    _configured = True


def _quiet_pynetdicom_thread_deaths() -> None:
    """A peer's malformed bytes can raise inside pynetdicom's reader thread (its state
    machine re-raises); Python would print that traceback to stderr. Our watchdog notices
    the dead reader and reports it in plain words (``core.watchdog``), so the traceback
    goes to the debug log instead. Other threads keep the previous hook.
    """
    previous = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        if isinstance(args.thread, DULServiceProvider | Association):
            logging.getLogger("dicom_courier.pynetdicom").debug(
                "pynetdicom thread %s ended by %r", args.thread.name, args.exc_value,
                exc_info=(args.exc_type, args.exc_value, args.exc_traceback))  # type: ignore[arg-type]
            return
        previous(args)

    threading.excepthook = hook


def _disable_nagle(event: Event) -> None:
    """Runs on: the association's reactor thread, as soon as the TCP connection is up."""
    sock = event.assoc.dul.socket
    raw = getattr(sock, "socket", None)
    if raw is not None:
        # If the connection is already gone, the association itself will report it.
        with contextlib.suppress(OSError):
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


#: Bind these to every AE.associate() / AE.start_server() call.
NODELAY_HANDLERS: list[evt.EventHandlerType] = [
    (evt.EVT_CONN_OPEN, _disable_nagle),
]
