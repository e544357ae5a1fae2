"""Open one association in the calling worker thread, and end it from any thread.

pynetdicom blocks, so every association is created, used and released in one DIMSE worker
thread. Failures become typed errors that name both AE titles, the host and the port.
:class:`OperationControl` is the one object the loop thread touches: it sends C-CANCEL at once
and can abort a running request *and unblock it* (pynetdicom's local abort alone leaves a
blocked ``send_c_move`` waiting for its DIMSE timeout).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from dataclasses import dataclass

from pynetdicom import AE, Association, evt
from pynetdicom.events import Event
from pynetdicom.pdu import A_ASSOCIATE_AC, A_ASSOCIATE_RJ

from dicom_courier.core.errors import (
    AssociationAborted,
    AssociationRejected,
    CalledAeNotRecognised,
    CallingAeNotRecognised,
    Cancelled,
    ConnectionFailed,
    CourierError,
    DeadlineExceeded,
    NotSupported,
    Peer,
)
from dicom_courier.core.nodes import PacsNode
from dicom_courier.core.transport import NODELAY_HANDLERS, quiet_pynetdicom

log = logging.getLogger(__name__)

#: Why we aborted an operation ourselves (``OperationControl.abort_reason``).
ABORT_DEADLINE = "deadline"
ABORT_CANCEL_GRACE = "cancel-grace"
ABORT_BY_USER = "aborted"
ABORT_CANCELLED_EARLY = "cancelled-before-request"
ABORT_CONSUMER_GONE = "consumer-gone"

# PS3.8 Table 9-21: (source, reason) of an A-ASSOCIATE-RJ.
_CALLING_AE_NOT_RECOGNISED = (1, 3)
_CALLED_AE_NOT_RECOGNISED = (1, 7)


#: Profile names the command line and `nodes test` give to nodes that are not saved profiles.
AD_HOC_NAME = "--host/--port/--aet"
DESTINATION_PREFIX = "destination "


def _settings_of(pacs: PacsNode) -> str:
    """Where a person changes this node's address, in words."""
    if pacs.name == AD_HOC_NAME:
        return "the --host/--port/--aet options"
    if pacs.name.startswith(DESTINATION_PREFIX):
        return f"the {pacs.name} (its AET@HOST:PORT in the PACS profile)"
    return f"the settings for {pacs.name!r}"


def peer_of(pacs: PacsNode) -> Peer:
    return Peer(calling_aet=pacs.calling_aet, called_aet=pacs.called_aet,
                host=pacs.host, port=pacs.port)


@dataclass
class _Observed:
    """What pynetdicom's event hooks saw while the association was being set up."""

    connected: bool = False
    answered: bool = False  # an A-ASSOCIATE-AC or -RJ came back: it speaks DICOM
    rejection: A_ASSOCIATE_RJ | None = None


def open_association(pacs: PacsNode, abstract_syntaxes: list[str],
                     control: OperationControl | None = None) -> Association:
    """Associate with ``pacs`` proposing ``abstract_syntaxes``; raise a typed error otherwise.

    ``control`` may end the attempt from another thread (cancel, deadline) while we wait for
    the PACS to answer; the ACSE wait is also capped by the idle timeout.
    Runs on: DIMSE worker thread.
    """
    quiet_pynetdicom()
    peer = peer_of(pacs)
    _check_host_resolves(pacs, peer)
    timeouts = pacs.timeouts

    ae = AE(ae_title=pacs.calling_aet)
    ae.connection_timeout = timeouts.connect
    ae.acse_timeout = min(timeouts.acse, timeouts.idle)
    ae.dimse_timeout = timeouts.idle
    ae.network_timeout = max(timeouts.idle, timeouts.acse)
    ae.maximum_pdu_size = pacs.max_pdu
    for uid in abstract_syntaxes:
        ae.add_requested_context(uid)

    observed = _Observed()

    def on_open(event: Event) -> None:
        observed.connected = True
        if control is not None:
            control.connecting(event.assoc)

    def on_pdu(event: Event) -> None:
        if isinstance(event.pdu, A_ASSOCIATE_RJ | A_ASSOCIATE_AC):
            observed.answered = True
        if isinstance(event.pdu, A_ASSOCIATE_RJ):
            observed.rejection = event.pdu

    handlers = [*NODELAY_HANDLERS, (evt.EVT_CONN_OPEN, on_open), (evt.EVT_PDU_RECV, on_pdu)]
    started = time.monotonic()
    assoc = ae.associate(pacs.host, pacs.port, ae_title=pacs.called_aet,
                         max_pdu=pacs.max_pdu, evt_handlers=handlers)
    assoc.unbind(evt.EVT_PDU_RECV, on_pdu)  # only needed for the A-ASSOCIATE answer
    if control is not None:
        control.connecting(None)
    if assoc.is_established:
        return assoc
    if control is not None and control.abort_reason is not None:
        raise _stopped_error(control.abort_reason, pacs, peer)

    elapsed = time.monotonic() - started
    if observed.rejection is not None:
        raise _rejection_error(observed.rejection, peer)
    if not observed.connected:
        if elapsed >= timeouts.connect * 0.9:
            raise ConnectionFailed(
                f"No answer from {pacs.host}:{pacs.port} within {timeouts.connect:g} s.",
                "The address did not answer at all: the host may be down, the address wrong, "
                "or a firewall may drop the connection.",
                f"Check the PACS host and port in {_settings_of(pacs)}, and that this "
                "computer may reach it (firewall, VPN).",
                peer=peer,
            )
        raise ConnectionFailed(
            f"Could not connect to {pacs.host}:{pacs.port}.",
            "The connection was refused: nothing accepts DICOM connections on that port, or "
            "the host is unreachable.",
            f"Check that the PACS is running and that the port in {_settings_of(pacs)} "
            f"is its DICOM port (not its web port).",
            peer=peer,
        )
    if observed.answered and not assoc.accepted_contexts:
        raise NotSupported(
            f"{pacs.called_aet} does not offer the service we asked for.",
            "The PACS accepted the association but none of the proposed services "
            "(presentation contexts).",
            "Try the other query model (Study Root / Patient Root), or ask the PACS "
            f"administrator to enable query/retrieve for our AE title {pacs.calling_aet}.",
            peer=peer,
        )
    if elapsed >= ae.acse_timeout * 0.9:
        explanation = (f"{pacs.host}:{pacs.port} accepted the TCP connection but sent no "
                       f"DICOM answer within {ae.acse_timeout:g} s.")
    else:
        explanation = (f"{pacs.host}:{pacs.port} accepted the TCP connection, then closed it or "
                       "answered with something that is not DICOM.")
    raise AssociationAborted(
        f"{pacs.host}:{pacs.port} does not answer like a DICOM service.",
        explanation,
        f"Check the port in {_settings_of(pacs)}: it must be the PACS's DICOM port, "
        "not its web port (Orthanc: DICOM 4242, web 8042). If it is right, check the PACS's "
        f"log for connections from {pacs.calling_aet}.",
        peer=peer,
    )


def _stopped_error(reason: str, pacs: PacsNode, peer: Peer) -> CourierError:
    """Our own deadline or a person's cancel ended the attempt before any request went out."""
    if reason == ABORT_DEADLINE:
        return DeadlineExceeded(
            f"{pacs.called_aet} did not accept the association within the deadline of "
            f"{pacs.timeouts.total:g} s.",
            f"{pacs.host}:{pacs.port} accepted the connection but did not answer in time.",
            "Check that the port is the PACS's DICOM port and that the PACS is not overloaded.",
            peer=peer)
    return Cancelled(
        "Stopped before anything was sent.",
        f"The association with {pacs.called_aet} at {pacs.host}:{pacs.port} was still being "
        "set up; nothing reached the PACS.",
        "Send or search again when ready.", peer=peer)


def _check_host_resolves(pacs: PacsNode, peer: Peer) -> None:
    try:
        socket.getaddrinfo(pacs.host, pacs.port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise ConnectionFailed(
            f"The host name {pacs.host!r} is unknown.",
            "The name could not be resolved to an address.",
            f"Check the spelling of the host in {_settings_of(pacs)}, "
            "or use its IP address.",
            peer=peer,
            retryable=False,
        ) from None


def _rejection_error(pdu: A_ASSOCIATE_RJ, peer: Peer) -> CourierError:
    permanent = pdu.result == 1
    key = (pdu.source, pdu.reason_diagnostic)
    reason = f"{pdu.reason_str} ({pdu.source_str}, {pdu.result_str})"
    details = {"Rejection": reason}
    if key == _CALLING_AE_NOT_RECOGNISED:
        return CallingAeNotRecognised(
            f"{peer.called_aet} does not know our AE title {peer.calling_aet}.",
            "The PACS rejected the association: calling AE title not recognised.",
            f"Ask the PACS administrator to register the AE title {peer.calling_aet} with this "
            "computer's address, or change \"our AE title\" in the profile to one the PACS knows.",
            peer=peer, permanent=permanent, reason=reason, details=details,
        )
    if key == _CALLED_AE_NOT_RECOGNISED:
        return CalledAeNotRecognised(
            f"{peer.host}:{peer.port} is not called {peer.called_aet}.",
            "The PACS rejected the association: called AE title not recognised.",
            "Correct the PACS AE title in the profile (it is case-sensitive); the PACS "
            "administrator can tell you the right one.",
            peer=peer, permanent=permanent, reason=reason, details=details,
        )
    transient = "" if permanent else " It said the problem is temporary."
    return AssociationRejected(
        f"{peer.called_aet} rejected the association.",
        f"The PACS said: {pdu.reason_str}.{transient}",
        "Try again later." if not permanent
        else "Check our AE title and the PACS AE title with the PACS administrator.",
        peer=peer, permanent=permanent, reason=reason, details=details,
    )


class OperationControl:
    """Cancel and abort one running DIMSE operation from any thread.

    The worker ``attach``es the association once the request is sent. ``request_cancel``
    sends C-CANCEL at once (or as soon as the request is out); ``abort`` sends A-ABORT and
    wakes the worker blocked in pynetdicom so it returns now, not at its DIMSE timeout.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._assoc: Association | None = None
        self._model_uid: str | None = None
        self._msg_id = 1
        self.cancel_requested = threading.Event()
        self._cancel_sent = False
        self._connecting: Association | None = None
        self.abort_reason: str | None = None

    def connecting(self, assoc: Association | None) -> None:
        """Runs on: the association's thread. Remember the attempt so abort() can end it."""
        with self._lock:
            self._connecting = assoc
            reason = self.abort_reason
        if assoc is not None and reason is not None:
            self._close_connection(assoc)

    @property
    def request_sent(self) -> bool:
        with self._lock:
            return self._assoc is not None

    @staticmethod
    def _close_connection(assoc: Association) -> None:
        """End an association attempt still waiting for A-ASSOCIATE-AC: close its socket.

        pynetdicom then sees the connection closed (Evt17) and ``associate()`` returns.
        """
        sock = assoc.dul.socket
        if sock is not None:
            try:
                sock.close()
            except OSError:
                log.debug("closing a pending connection failed", exc_info=True)

    def attach(self, assoc: Association, model_uid: str, msg_id: int) -> None:
        """Runs on: DIMSE worker thread, right after the request went out."""
        with self._lock:
            self._assoc, self._model_uid, self._msg_id = assoc, model_uid, msg_id
            reason = self.abort_reason
            cancel_now = self.cancel_requested.is_set() and not self._cancel_sent
        if reason is not None:
            self._abort_assoc(assoc)
        elif cancel_now:
            self._send_cancel()

    def detach(self) -> None:
        with self._lock:
            self._assoc = None

    def request_cancel(self) -> None:
        """Any thread: send C-CANCEL now if the request is out, else as soon as it is."""
        self.cancel_requested.set()
        self._send_cancel()

    def _send_cancel(self) -> None:
        with self._lock:
            assoc, model_uid = self._assoc, self._model_uid
            if assoc is None or self._cancel_sent or model_uid is None:
                return
            self._cancel_sent = True
        try:
            assoc.send_c_cancel(self._msg_id, query_model=model_uid)
        except (RuntimeError, ValueError, OSError) as exc:
            log.info("C-CANCEL not sent, association already gone: %s", exc)

    def abort(self, reason: str) -> None:
        """Any thread: A-ABORT and unblock the worker; ``reason`` is kept for the error."""
        with self._lock:
            if self.abort_reason is None:
                self.abort_reason = reason
            assoc, connecting = self._assoc, self._connecting
        if assoc is not None:
            self._abort_assoc(assoc)
        elif connecting is not None:
            self._close_connection(connecting)

    @staticmethod
    def _abort_assoc(assoc: Association) -> None:
        """Wake the worker's response loop with pynetdicom's own "no response" marker.

        The worker then aborts the association itself, in its own thread. Calling
        ``assoc.abort()`` from here instead would restart pynetdicom's reactor, which can take
        the marker off the queue first, leaving the worker blocked until its DIMSE timeout.
        """
        assoc.dimse.msg_queue.put((None, None))


def finish_association(assoc: Association, *, clean: bool) -> None:
    """Release after a final status, abort otherwise. Runs on: DIMSE worker thread."""
    if not assoc.is_established:
        return
    if clean:
        assoc.release()
    else:
        assoc.abort()
