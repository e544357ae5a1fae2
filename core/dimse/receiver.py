"""Receiver: the built-in Storage SCP ("This computer", issue 13 §1).

A pynetdicom server (PS3.4 Annex B Storage SCP, plus Verification SCP for C-ECHO, PS3.7 9.1.5)
on its own threads. It accepts every Storage SOP class in the transfer syntaxes of
:mod:`.storage_classes` without decompressing anything, and writes each instance through
:func:`.store_files.write_instance` (Part 10 file, atomic, never outside the folder). Each
written instance is published to the :class:`.arrival_hub.ArrivalHub`; each refusal too.

Who may send: the :class:`~dicom_courier.core.config.receiver_settings.AllowList`. Anyone
else gets A-ASSOCIATE-RJ "rejected-permanent, service-user, calling-AE-title-not-recognized"
(PS3.8 7.1.1.9, Table 9-21: result 1, source 1, reason 3), logged and published as a
refusal naming the AE title and the address. An allowed sender that calls another AE title
than ours gets reason 7 "called-AE-title-not-recognized" and a refusal saying what to fix
(a PACS configured with a wrong AE title for us, or traffic meant for another receiver).

Limits (:mod:`.receiver_guard`): the A-ASSOCIATE-RQ within 10 s, at most 8 connections per
peer address, 32 accepted associations, each message at a minimum pace, one instance at most
``max_instance_mb``; every refusal for a limit is published.

C-STORE answers (PS3.4 B.2.3): 0x0000 stored; 0xA700 out of resources (disk full, folder
not writable); 0xA900 data set does not match the command; 0xC000 cannot understand (a UID
that is not a UID, an unreadable data set). See :mod:`.store_files`.

Threads: pynetdicom's server thread, and two threads per association (its reactor runs our
handlers: ``Runs on`` below). Nothing here touches an event loop; subscribers of the hub hop
to theirs.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from pynetdicom import AE, evt
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.events import Event
from pynetdicom.sop_class import Verification
from pynetdicom.transport import ThreadedAssociationServer

from dicom_courier.core.config.private_files import make_private_dir
from dicom_courier.core.config.receiver_settings import AllowList, ReceiverSettings
from dicom_courier.core.dimse.arrival_hub import ArrivalHub
from dicom_courier.core.dimse.receiver_guard import GuardedServer, ReceiverGuard, ReceiverLimits
from dicom_courier.core.dimse.storage_classes import TRANSFER_SYNTAXES, storage_contexts
from dicom_courier.core.dimse.store_files import StoreRefused, write_instance
from dicom_courier.core.dimse.store_leftovers import remove_stale_leftovers
from dicom_courier.core.dimse.store_reader import lean_store_handlers
from dicom_courier.core.dimse.transport import NODELAY_HANDLERS, quiet_pynetdicom
from dicom_courier.core.outcome.arrival import StoreRefusal
from dicom_courier.core.outcome.errors import ReceiverError

log = logging.getLogger(__name__)

#: The largest PDU we receive (bytes, PS3.8 D.1.1): larger PDUs, fewer reads per instance.
MAX_PDU = 262_144
#: Associations at once (a PACS moving with several in parallel, C-GETs, a few senders):
#: the default of :class:`ReceiverLimits` (with the other limits: :mod:`.receiver_guard`).
MAX_ASSOCIATIONS = ReceiverLimits.max_associations
#: A peer silent this long (s) mid-association is dropped (pynetdicom's network timeout).
IDLE_TIMEOUT = 60.0
#: How long (s) stop() waits for association threads after aborting them.
STOP_WAIT = 3.0


@dataclass
class ReceivedSession:
    """One association's work, reported when it ends (the CLI's summary line).

    ``studies``: distinct Study Instance UIDs stored; ``stored``: distinct instances stored
    (a SOP Instance UID sent twice counts once: ``instances``); ``refused``: C-STOREs
    answered with a failure; ``size``: bytes written; ``seconds``: from the association
    request to its end; ``ended``: "released", "aborted" or "closed".
    """

    calling_aet: str
    address: str
    started: float = field(default_factory=time.monotonic)
    stored: int = 0
    refused: int = 0
    size: int = 0
    studies: set[str] = field(default_factory=set)
    instances: set[tuple[str, str]] = field(default_factory=set)  # (study, SOP Instance UID)
    seconds: float = 0.0
    ended: str = "closed"


SessionCallback = Callable[[ReceivedSession], None]


def _bound_reads(event: Event) -> None:
    """Runs on: the server's request thread, at EVT_CONN_OPEN (before anything is read).

    No single read waits longer than :data:`IDLE_TIMEOUT`. pynetdicom's reader (which reads
    every PDU after anything but a C-STORE, e.g. a C-ECHO) waits for a whole PDU with
    blocking ``recv`` calls: a peer that announces a PDU and sends part of it (or whose
    network went away without a FIN) held the association's threads and its slot for ever,
    past ``stop()``. Timed out, pynetdicom sees the connection closed (Evt17). The lean
    reader keeps its own shorter reads and puts this timeout back when it gives the socket
    back."""
    raw = getattr(event.assoc.dul.socket, "socket", None)
    if raw is not None:
        with contextlib.suppress(OSError):
            raw.settimeout(IDLE_TIMEOUT)


class Receiver:
    """The Storage SCP. ``start()`` binds and serves on background threads; ``stop()`` ends it.

    ``settings``: AE title, port (0: any free port), bind address; ``folder``: where files go
    (created 0700 at start); ``allow``: who may send; ``hub``: where arrivals and refusals are
    published; ``on_session``: called with a :class:`ReceivedSession` when an accepted
    association ends (Runs on: that association's thread; must not block); ``limits``: the
    guard's limits (:class:`ReceiverLimits`: time to associate, connections per address,
    slots, pace; tests pass small ones), the size cap is ``settings.max_instance_mb``.
    Rejects a called AE title other than ours (PS3.8 7.1.1.9, reason 7).
    """

    def __init__(self, settings: ReceiverSettings, folder: Path, allow: AllowList,
                 hub: ArrivalHub, *, on_session: SessionCallback | None = None,
                 limits: ReceiverLimits | None = None) -> None:
        self.settings = settings
        self.ae_title = settings.ae_title
        self.folder = folder
        self.allow = allow
        self.hub = hub
        self.port = settings.port
        self._on_session = on_session
        self.limits = limits or ReceiverLimits()
        self._guard: ReceiverGuard | None = None
        self._server: ThreadedAssociationServer | None = None
        self._ae: AE | None = None
        self._lock = threading.Lock()
        #: One file written at a time, whatever the number of associations: several
        #: associations writing at once starve the window's thread of the interpreter lock
        #: (benchmark row 11, 4 sends at once: worst gap 59 -> 30 ms), at no cost in speed.
        self._write_lock = threading.Lock()
        self._sessions: dict[int, ReceivedSession] = {}

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def where(self) -> str:
        """"port 11112 on all interfaces" / "port 11112 on 10.0.0.5": for messages."""
        return f"port {self.port} on {self.settings.bind or 'all interfaces'}"

    def start(self) -> None:
        """Create the folder and start listening. Idempotent while running.

        Raises ReceiverError: the folder cannot be created or written; the bind address is
        not this computer's; the port is in use or needs privileges.
        """
        if self._server is not None:
            return
        quiet_pynetdicom()
        self._check_folder()
        remove_stale_leftovers(self.folder)  # an interrupted write's temporary files
        host = self._bind_host()
        ae = AE(ae_title=self.ae_title)
        ae.maximum_pdu_size = MAX_PDU
        limits = self.limits
        # The guard counts slots (accepted associations only) and connections per address;
        # pynetdicom's own count (every connection, also silent ones) never decides first.
        ae.maximum_associations = limits.max_associations + limits.max_waiting + 1
        ae.network_timeout = IDLE_TIMEOUT
        ae.acse_timeout = limits.associate_wait  # ARTIM: the A-ASSOCIATE-RQ must come by then
        ae.dimse_timeout = IDLE_TIMEOUT
        for sop_class, syntaxes in storage_contexts():
            ae.add_supported_context(sop_class, syntaxes)
        ae.add_supported_context(Verification, list(TRANSFER_SYNTAXES[:3]))
        handlers: list[evt.EventHandlerType] = [
            *NODELAY_HANDLERS,
            *lean_store_handlers(),  # C-STOREs read by store_reader (issue 13 part B)
            (evt.EVT_CONN_OPEN, _bound_reads),
            (evt.EVT_REQUESTED, self._on_requested),
            (evt.EVT_C_STORE, self._on_store),
            (evt.EVT_RELEASED, self._on_end, ["released"]),
            (evt.EVT_ABORTED, self._on_end, ["aborted"]),
            (evt.EVT_CONN_CLOSE, self._on_end, ["closed"]),
        ]
        guard = ReceiverGuard(limits, self.hub, our_aet=self.ae_title,
                              max_instance_mb=self.settings.max_instance_mb)
        handlers.append((evt.EVT_CONN_OPEN, guard.on_conn_open))  # after the lean reader's
        try:
            server = ae.make_server((host, self.settings.port), evt_handlers=handlers,
                                    server_class=GuardedServer)
        except OSError as error:
            raise self._start_error(error) from None
        assert isinstance(server, GuardedServer)
        server.guard = guard
        guard.start()
        thread = threading.Thread(target=server.serve_forever, name="ReceiverServer",
                                  daemon=True)
        thread.start()
        ae._servers.append(server)  # as ae.start_server does (server.shutdown() removes it)
        self._ae = ae
        self._guard = guard
        self._server = server
        self.port = int(server.server_address[1])
        log.info("Receiver %r listening on %s, storing in %s", self.ae_title, self.where,
                 self.folder)

    def stop(self) -> None:
        """Stop listening and abort open associations (a partial file is never left:
        files are renamed into place only when whole). Idempotent; never raises."""
        server, self._server = self._server, None
        if server is None:
            return
        try:
            associations = list(server.active_associations)
            server.shutdown()
            for assoc in associations:
                assoc.abort()
            deadline = time.monotonic() + STOP_WAIT
            for assoc in associations:
                assoc.join(max(0.0, deadline - time.monotonic()))
        except Exception:  # noqa: BLE001  (shutting down: report, never raise)
            log.exception("The receiver did not stop cleanly")
        guard, self._guard = self._guard, None
        if guard is not None:
            guard.stop()
        log.info("Receiver %r stopped", self.ae_title)

    # ------------------------------------------------------------------ start-up checks

    def _check_folder(self) -> None:
        try:
            make_private_dir(self.folder)
            fd, probe = tempfile.mkstemp(prefix=".probe.", dir=self.folder)
            os.close(fd)
            os.unlink(probe)
        except OSError as error:
            raise ReceiverError(
                f"The receiver cannot store files in {self.folder}",
                f"The folder cannot be created or written ({error.strerror or error}).",
                "Choose another storage folder in Preferences → This computer (receiver).",
                cli_action="Choose another folder: \"folder\" in receiver.json, or for one "
                           "command --folder DIR (receive, move --dest @here).",
                details={"Folder": str(self.folder)}) from None

    def _bind_host(self) -> str:
        bind = self.settings.bind
        if not bind:
            return ""
        try:
            infos = socket.getaddrinfo(bind, None, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            raise self._bind_error(f"{bind} is not a name or address of this computer") from None
        return str(infos[0][4][0])

    def _bind_error(self, why: str) -> ReceiverError:
        return ReceiverError(
            f"The receiver cannot listen on {self.settings.bind}",
            f"{why}.",
            "Choose one of this computer's addresses, or leave the bind address empty for all "
            "interfaces, in Preferences → This computer (receiver).",
            cli_action="Use one of this computer's addresses (\"bind\" in receiver.json, or "
                       "receive --bind ADDR), or leave it out for all interfaces.",
            details=self._details())

    def _start_error(self, error: OSError) -> ReceiverError:
        if error.errno == errno.EADDRINUSE:
            return ReceiverError(
                f"Port {self.settings.port} on {self.settings.bind or 'all interfaces'} is "
                "already in use by another program",
                "Another DICOM receiver (storescp, Orthanc, a second DICOM Courier …) or "
                "another service already listens there, so the receiver cannot start.",
                "Stop that program, or choose another port in Preferences → This computer "
                "(receiver) and tell the PACS administrator the new port.",
                cli_action="Stop that program, or choose another port (\"port\" in "
                           "receiver.json, or for one command: receive --port N, move "
                           "--receiver-port N) and tell the PACS administrator the new port.",
                details=self._details())
        if error.errno in (errno.EACCES, errno.EPERM):
            return ReceiverError(
                f"Port {self.settings.port} needs administrator rights",
                "Ports below 1024 may only be opened by the administrator on this computer.",
                "Choose a port from 1024 up (DICOM's usual is 11112).",
                details=self._details())
        if error.errno == errno.EADDRNOTAVAIL:
            return self._bind_error(f"{self.settings.bind} is not an address of this computer")
        return ReceiverError(
            f"The receiver could not start on {self.where}",
            f"The system refused ({error.strerror or error}).",
            "Choose another port or bind address in Preferences → This computer (receiver).",
            details=self._details())

    def _details(self) -> dict[str, str]:
        return {"Our AE title": self.ae_title, "Port": str(self.settings.port),
                "Bind address": self.settings.bind or "all interfaces"}

    # ------------------------------------------------------------------ handlers

    def _on_requested(self, event: Event) -> None:
        """Runs on: the association's reactor thread, on A-ASSOCIATE-RQ (before negotiation).
        Rejects a sender the allow-list does not name (PS3.8 7.1.1.9)."""
        assoc = event.assoc
        primitive = assoc.requestor.primitive
        calling = str(getattr(primitive, "calling_ae_title", "")).strip()
        address = str(assoc.requestor.address)
        called = str(getattr(primitive, "called_ae_title", "")).strip()
        why = self.allow.refusal(calling, address)
        reject = (0x01, 0x01, 0x03)  # rejected-permanent, service-user, calling AE title
        if why is None and called != self.ae_title:
            why = (f"{calling} at {address} called us {called or '(blank)'}; this computer's "
                   f"AE title is {self.ae_title} — fix it on the PACS (the AE title it has "
                   "for this computer).")
            reject = (0x01, 0x01, 0x07)  # ... called AE title not recognized
        if why is None and self._guard is not None:
            why = self._guard.claim_slot(assoc, calling)
            reject = (0x02, 0x03, 0x02)  # rejected-transient, provider, local limit exceeded
        if why is None:
            with self._lock:
                self._sessions[id(assoc)] = ReceivedSession(calling, address)
            return
        log.warning("Rejected an association to %r: %s", self.ae_title, why)
        self.hub.refused(StoreRefusal(why, calling_aet=calling, address=address))
        assoc.acse.send_reject(*reject)
        assoc.kill()  # as pynetdicom does after its own rejections

    def _on_store(self, event: Event) -> int:
        """Runs on: the association's reactor thread, per C-STORE-RQ (PS3.4 B.2.2)."""
        assoc = event.assoc
        request = cast(C_STORE, event.request)
        calling = str(assoc.requestor.ae_title).strip()
        session = self._sessions.get(id(assoc))
        try:
            with self._write_lock:
                arrival = write_instance(
                    self.folder, request.DataSet.getvalue(),  # type: ignore[union-attr]
                    transfer_syntax=str(event.context.transfer_syntax),
                    sop_class_uid=str(request.AffectedSOPClassUID),
                    sop_uid=str(request.AffectedSOPInstanceUID),
                    calling_aet=calling, our_aet=self.ae_title)
        except StoreRefused as refused:
            if session is not None:
                session.refused += 1
            self.hub.refused(StoreRefusal(refused.reason, calling_aet=calling,
                                          address=str(assoc.requestor.address),
                                          status=refused.status))
            return refused.status
        except Exception as error:  # a bug of ours: answer, log, keep serving
            # The traceback may hold a path with a Patient ID folder: only at debug level.
            log.error("Storing an instance from %r failed unexpectedly (%s)", calling,
                      type(error).__name__)
            log.debug("Storing an instance failed", exc_info=True)
            return 0xC000
        if session is not None:
            session.instances.add((arrival.study_uid, arrival.sop_uid))
            session.stored = len(session.instances)
            session.size += arrival.size
            session.studies.add(arrival.study_uid)
        self.hub.publish(arrival)
        return 0x0000

    def _on_end(self, event: Event, how: str) -> None:
        """Runs on: the association's reactor thread (released, aborted) or the server's
        thread (connection closed). Reports each accepted association once."""
        with self._lock:
            session = self._sessions.pop(id(event.assoc), None)
        if session is None:
            return
        session.ended = how
        session.seconds = time.monotonic() - session.started
        log.info("Association from %r ended (%s): %d stored, %d refused", session.calling_aet,
                 how, session.stored, session.refused)
        if self._on_session is not None:
            try:
                self._on_session(session)
            except Exception:
                log.exception("A receiver session listener failed")
