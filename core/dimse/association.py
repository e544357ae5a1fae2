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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, Association, build_role, evt
from pynetdicom.events import Event
from pynetdicom.pdu import A_ASSOCIATE_AC, A_ASSOCIATE_RJ

from dicom_courier.core.config.profiles import PacsNode
from dicom_courier.core.dimse.release import Releaser, release_bounded
from dicom_courier.core.dimse.release_collision import RELEASE_COLLISION_HANDLERS
from dicom_courier.core.dimse.tls import TlsAttempt
from dicom_courier.core.dimse.transport import NODELAY_HANDLERS, quiet_pynetdicom
from dicom_courier.core.dimse.watchdog import (
    TRIP_ACSE,
    TRIP_FINISH,
    TRIP_OVERSIZE,
    TRIP_PROTOCOL,
    AssociationGuard,
    GuardLimits,
    Phase,
    Trip,
)
from dicom_courier.core.outcome.errors import (
    AssociationAborted,
    AssociationRejected,
    CalledAeNotRecognised,
    CallingAeNotRecognised,
    Cancelled,
    ConnectionFailed,
    CourierError,
    DeadlineExceeded,
    MessageTooLarge,
    NotSupported,
    Peer,
    ProtocolViolation,
)
from dicom_courier.core.qr.model_choice import not_supported_advice, what_was_proposed

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
#: The transfer syntaxes we propose: every PACS accepts these. Deflated is not proposed (a
#: few hundred kB inflate to gigabytes: its size on the wire says nothing), nor Big Endian.
TRANSFER_SYNTAXES = [ImplicitVRLittleEndian, ExplicitVRLittleEndian]
#: Seconds pynetdicom's own timers wait beyond ours: they only back up the watchdog.
_BACKSTOP = 5.0


#: Where the PACS most asked about keeps the AE titles it accepts, for advice.
ORTHANC_AE_LIST = 'Orthanc: "DicomModalities"'

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


def guard_limits(pacs: PacsNode) -> GuardLimits:
    """The timers and the message size cap our watchdog holds an association to."""
    cap = pacs.max_message_mb * 1024 * 1024
    return GuardLimits(acse=pacs.timeouts.acse, idle=pacs.timeouts.idle, max_message=cap,
                       max_total=cap, transfer_syntaxes=frozenset(TRANSFER_SYNTAXES))


def open_association(pacs: PacsNode, abstract_syntaxes: list[str],
                     control: OperationControl | None = None, *,
                     storage: Sequence[tuple[str, Sequence[str]]] = (),
                     handlers: Sequence[evt.EventHandlerType] = (),
                     store_cap: int | None = None) -> Association:
    """Associate with ``pacs`` proposing ``abstract_syntaxes``; raise a typed error otherwise.

    Our watchdog (:mod:`.watchdog`) guards the association from the moment the TCP connection
    is up: the A-ASSOCIATE answer must come within ``min(acse, idle)`` seconds, whatever bytes
    the peer sends. ``control`` may end the attempt from another thread (cancel, deadline).
    ``storage`` (a C-GET, :mod:`.get`): (Storage SOP Class UID, transfer syntaxes) contexts
    proposed with SCP/SCU Role Selection for the SCP role (PS3.7 D.3.3.4), so the PACS may
    send C-STORE-RQs on this association (the watchdog then allows them); ``handlers``:
    pynetdicom event handlers bound to it (the C-STORE handler); ``store_cap``: with
    ``storage``, the largest image (C-STORE data set, bytes) the PACS may send on it (None:
    the profile's ``max_message_mb``, which keeps capping its responses).
    Runs on: DIMSE worker thread.

    Raises:
        ConnectionFailed, AssociationRejected (and subclasses), NotSupported,
        AssociationAborted, ProtocolViolation, MessageTooLarge, DeadlineExceeded, Cancelled.
    """
    quiet_pynetdicom()
    if control is None:
        control = OperationControl()
    peer = peer_of(pacs)
    _check_host_resolves(pacs, peer)
    tls = TlsAttempt(pacs)  # DICOM TLS (PS3.15 B.1), see core.tls; InvalidInput for a bad file
    timeouts = pacs.timeouts
    limits = guard_limits(pacs)
    if storage:  # a C-GET: the PACS's C-STORE-RQs come on this association
        limits = replace(limits, peer_stores=True, max_store=store_cap,
                         transfer_syntaxes=limits.transfer_syntaxes
                         | {str(ts) for _, syntaxes in storage for ts in syntaxes})
    guard = control.new_guard(limits)
    if control.abort_reason is not None:  # cancelled (or past the deadline) before connecting
        guard.close()
        raise _stopped_error(control.abort_reason, pacs, peer)

    ae = AE(ae_title=pacs.calling_aet)
    ae.connection_timeout = timeouts.connect
    # pynetdicom's own timers are only a backstop: the watchdog ends the association first.
    ae.acse_timeout = min(timeouts.acse, timeouts.idle) + _BACKSTOP
    ae.dimse_timeout = timeouts.idle + _BACKSTOP
    ae.network_timeout = max(timeouts.idle, timeouts.acse) + _BACKSTOP
    ae.maximum_pdu_size = pacs.max_pdu
    for uid in abstract_syntaxes:
        ae.add_requested_context(uid, TRANSFER_SYNTAXES)
    for uid, syntaxes in storage:
        ae.add_requested_context(uid, list(syntaxes))
    roles: list[Any] = [  # SCP_SCU_RoleSelectionNegotiation items (pynetdicom's list type)
        build_role(uid, scp_role=True) for uid, _ in storage]

    observed = _Observed()

    def on_open(event: Event) -> None:
        observed.connected = True
        guard.install(event.assoc)
        control.connecting(event.assoc)

    def on_pdu(event: Event) -> None:
        if isinstance(event.pdu, A_ASSOCIATE_RJ | A_ASSOCIATE_AC):
            observed.answered = True
        if isinstance(event.pdu, A_ASSOCIATE_RJ):
            observed.rejection = event.pdu

    bound: list[evt.EventHandlerType] = [
        *NODELAY_HANDLERS, *RELEASE_COLLISION_HANDLERS, (evt.EVT_CONN_OPEN, on_open),
        (evt.EVT_PDU_RECV, on_pdu), *handlers]
    started = time.monotonic()
    try:
        assoc = ae.associate(pacs.host, pacs.port, ae_title=pacs.called_aet,
                             max_pdu=pacs.max_pdu, evt_handlers=bound, tls_args=tls.args,
                             ext_neg=roles or None)
    except Exception as exc:  # pynetdicom fails on some malformed answers (PS3.8 9.3.4)
        log.info("association request failed inside pynetdicom: %r", exc)
        guard.trip(TRIP_PROTOCOL, f"an association answer pynetdicom could not read ({exc!r})")
        guard.close()
        if observed.rejection is not None:
            raise _rejection_error(observed.rejection, peer) from None
        raise _guard_error(guard.trip_info, pacs, peer, "set-up") from None
    assoc.unbind(evt.EVT_PDU_RECV, on_pdu)  # only needed for the A-ASSOCIATE answer
    control.connecting(None)
    if assoc.is_established and not guard.tripped:
        guard.set_phase(Phase.RUNNING)
        control.peer_implementation = _implementation_of(assoc)
        return assoc
    trip = guard.trip_info
    if assoc.is_established:
        finish_association(assoc, clean=False, guard=guard)
    else:
        guard.close()
    if control.abort_reason is not None:
        raise _stopped_error(control.abort_reason, pacs, peer)
    tls_failure = tls.failure(peer, _settings_of(pacs), connected=observed.connected,
                              answered=observed.answered)
    if tls_failure is not None:  # a certificate problem, or TLS on one side only
        raise tls_failure
    if trip is not None and trip.reason in (TRIP_PROTOCOL, TRIP_OVERSIZE) and observed.answered:
        raise _guard_error(trip, pacs, peer, "set-up")

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
            f"(presentation contexts): {what_was_proposed(abstract_syntaxes)}.",
            not_supported_advice(abstract_syntaxes, pacs.calling_aet),  # names no model tried
            peer=peer,
        )
    acse = min(timeouts.acse, timeouts.idle)
    if (trip is not None and trip.reason == TRIP_ACSE) or elapsed >= acse * 0.9:
        explanation = (f"{pacs.host}:{pacs.port} accepted the TCP connection but sent no "
                       f"DICOM answer within {acse:g} s.")
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
        details={"What the PACS sent": trip.detail} if trip and trip.detail else None,
    )


def _implementation_of(assoc: Association) -> tuple[str, str]:
    """(Implementation Class UID, Implementation Version Name) the PACS sent (PS3.7 D.3.3.2),
    "" where absent: tells Orthanc, DCMTK and pynetdicom-based PACS apart."""
    acceptor = assoc.acceptor
    return (str(getattr(acceptor, "implementation_class_uid", "") or ""),
            str(getattr(acceptor, "implementation_version_name", "") or ""))


def guard_error(control: OperationControl, pacs: PacsNode, what: str,
                sofar: Mapping[str, str] | None = None) -> CourierError | None:
    """The error for an end that is the peer's doing (too large, not DICOM), else None.

    ``what`` names the operation in words ("search", "send"). Runs on: DIMSE worker thread.
    """
    guard = control.guard
    if guard is None:
        return None
    trip = guard.trip_info
    if trip is None and guard.aborts_sent and control.abort_reason is None:
        # pynetdicom aborted by itself: an answer of the wrong kind, or one it found invalid.
        trip = Trip(TRIP_PROTOCOL, "an answer that does not fit our request (pynetdicom "
                                   "ended the association)")
    if trip is None or trip.reason not in (TRIP_PROTOCOL, TRIP_OVERSIZE):
        return None
    return _guard_error(trip, pacs, peer_of(pacs), what, sofar)


def unexpected_error(exc: Exception, pacs: PacsNode, what: str) -> CourierError:
    """An exception pynetdicom or pydicom raised on a peer's answer, as a plain error.

    The traceback goes to the debug log only (its text may quote the PACS's values).
    Runs on: DIMSE worker thread.
    """
    log.warning("the %s failed inside pynetdicom: %s", what, type(exc).__name__)
    log.debug("pynetdicom failure", exc_info=exc)
    return ProtocolViolation(
        f"{pacs.called_aet} sent an answer Courier could not process.",
        f"Reading its answer during the {what} failed ({type(exc).__name__}); we ended the "
        "association.",
        "Retry once; if it happens again, send the details to the PACS administrator.",
        peer=peer_of(pacs), details={"Failure": f"{type(exc).__name__}: {exc}"[:500]})


def _guard_error(trip: Trip | None, pacs: PacsNode, peer: Peer, what: str,
                 sofar: Mapping[str, str] | None = None) -> CourierError:
    details = {"What the PACS sent": trip.detail if trip else "unknown", **(sofar or {})}
    during = "while the association was being set up" if what == "set-up" else \
        f"during the {what}"
    if trip is not None and trip.reason == TRIP_OVERSIZE:
        return MessageTooLarge(
            f"{pacs.called_aet} sent a message larger than {pacs.max_message_mb} MB.",
            f"It sent {trip.detail} {during}; we stopped reading and ended the association "
            "so that memory stays bounded.",
            "If the PACS really sends such large answers, raise \"largest message\" in "
            f"{_settings_of(pacs)}; otherwise report it to the PACS administrator.",
            peer=peer, details=details)
    return ProtocolViolation(
        f"{pacs.called_aet} sent data that is not valid DICOM.",
        f"It sent {trip.detail if trip else 'something unreadable'} {during}; we ended the "
        "association.",
        "Retry once; if it happens again, send the details to the PACS administrator (the "
        f"PACS's log for connections from {pacs.calling_aet} will show it).",
        peer=peer, details=details)


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


def _rejection_text(pdu: A_ASSOCIATE_RJ) -> str:
    """PS3.8 Table 9-21 in words; a value outside the table is named, not raised."""
    try:
        text = str(pdu.reason_str)
    except (KeyError, ValueError, TypeError):
        text = ""
    if not text or text == "(no value available)":
        return (f"an unknown rejection reason {pdu.reason_diagnostic} from source "
                f"{pdu.source}")
    return text


def _rejection_error(pdu: A_ASSOCIATE_RJ, peer: Peer) -> CourierError:
    permanent = pdu.result != 2  # 2 = transient; anything out of range is not worth retrying
    key = (pdu.source, pdu.reason_diagnostic)
    reason_text = _rejection_text(pdu)
    reason = f"{reason_text} (source {pdu.source}, result {pdu.result}, reason " \
             f"{pdu.reason_diagnostic})"
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
        f"The PACS said: {reason_text}.{transient}",
        "Try again later." if not permanent
        else "Check our AE title and the PACS AE title with the PACS administrator.",
        peer=peer, permanent=permanent, reason=reason, details=details,
    )


class OperationControl:
    """Cancel and abort one running DIMSE operation from any thread.

    The worker ``attach``es the association once the request is sent. ``request_cancel``
    sends C-CANCEL at once (or as soon as the request is out); ``abort`` trips the
    association's watchdog, which sends one A-ABORT, closes the connection and wakes the
    worker blocked in pynetdicom so it returns now, whatever the peer is sending.

    ``releaser`` (the engine's, see :mod:`.release`) takes the association over after the
    final response, so that its release costs the operation no time; without one the worker
    releases in place, still bounded by :data:`~.watchdog.RELEASE_LIMIT`.

    Once the final response is in, the result is final: a cancel or abort arriving after it
    (a ``find --limit`` cancel that crossed the last answer, Esc or a queue cancel just after
    the result) does nothing to that association, which is released, not aborted. No
    C-CANCEL goes out once the association is detached (its release may have started:
    pynetdicom cannot send P-DATA after our A-RELEASE-RQ, PS3.8 9.2 Sta7).
    """

    def __init__(self, releaser: Releaser | None = None) -> None:
        self.releaser = releaser
        self._lock = threading.Lock()
        self._assoc: Association | None = None
        self._model_uid: str | None = None
        self._msg_id = 1
        self.cancel_requested = threading.Event()
        self._cancel_sent = False
        self._over = False  # the operation's last request got its final response
        self._connecting: Association | None = None
        self.abort_reason: str | None = None
        self.guard: AssociationGuard | None = None
        #: (Implementation Class UID, Version Name) of the PACS, once associated.
        self.peer_implementation: tuple[str, str] = ("", "")

    def new_guard(self, limits: GuardLimits) -> AssociationGuard:
        """Runs on: DIMSE worker thread, before connecting. The guard of this attempt."""
        guard = AssociationGuard(limits)
        guard.releaser = self.releaser
        with self._lock:
            self.guard = guard
            reason = self.abort_reason
        if reason is not None:
            guard.trip(reason)
        return guard

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
        """End an association attempt whose TCP connection is not up yet: close its socket."""
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
            cancel_now = self.cancel_requested.is_set() and not self._cancel_sent
        if cancel_now and self.abort_reason is None:
            self._send_cancel()

    def detach(self, *, final: bool = False) -> None:
        """Runs on: DIMSE worker thread, when its request ended (before the association is
        released or aborted); no C-CANCEL goes out after this. ``final``: the operation's
        last request got its final response, so the operation is over: from now on
        :meth:`abort` and a cancel do nothing (see the class doc)."""
        with self._lock:
            self._assoc = None
            self._over = self._over or final

    @property
    def over(self) -> bool:
        """True once the operation's last request got its final response."""
        with self._lock:
            return self._over

    def request_cancel(self) -> None:
        """Any thread: send C-CANCEL now if the request is out, else as soon as it is."""
        self.cancel_requested.set()
        self._send_cancel()

    def _send_cancel(self) -> None:
        """Send C-CANCEL (PS3.7 9.1.2.1.5) while the request is attached and unanswered.

        The lock is held across the send (it only queues P-DATA for pynetdicom's reader
        thread), so :meth:`detach`, and the release that follows it, cannot overtake it.
        """
        with self._lock:
            assoc, model_uid, guard = self._assoc, self._model_uid, self.guard
            if assoc is None or self._cancel_sent or model_uid is None:
                return
            if guard is not None and (guard.phase is not Phase.RUNNING or guard.answered):
                return  # the final response is in: nothing left to cancel
            self._cancel_sent = True
            if guard is not None:
                guard.cancel_sent = True  # the PACS may now end the association itself
            try:
                assoc.send_c_cancel(self._msg_id, query_model=model_uid)
            except (RuntimeError, ValueError, OSError) as exc:
                log.info("C-CANCEL not sent, association already gone: %s", exc)

    def abort(self, reason: str) -> None:
        """Any thread: one A-ABORT and an unblocked worker; ``reason`` is kept for the error.

        Nothing once the operation is over (:attr:`over`); an association whose final
        response is in (``guard.answered``: a look-up before the operation's own request) is
        left to its release, and ``reason`` stops the next request before it goes out.
        """
        with self._lock:
            if self._over:
                return
            if self.abort_reason is None:
                self.abort_reason = reason
            guard, connecting = self.guard, self._connecting
        if guard is not None and not guard.answered:
            guard.trip(self.abort_reason or reason)
        if connecting is not None and (guard is None or guard.assoc is None):
            self._close_connection(connecting)


def finish_association(assoc: Association, *, clean: bool,
                       guard: AssociationGuard | None = None) -> None:
    """Release after a final status, abort otherwise; then wait for pynetdicom's threads.

    After a final status the result is final: with a releaser (``guard.releaser``) the
    release is handed over and this returns at once; without one it runs here. Either way
    the watchdog bounds it (``min(acse, idle, RELEASE_LIMIT)`` seconds, then one A-ABORT),
    and a PACS that released first or collides is answered (PS3.8 7.2.2, see
    :mod:`.release`). An abort sends one A-ABORT and returns within ``ABORT_SEND_LIMIT``.
    Runs on: DIMSE worker thread.
    """
    if guard is None:  # an association we did not open through open_association
        if assoc.is_established:
            assoc.release() if clean else assoc.abort()
        return
    if (clean or assoc.is_released) and not guard.tripped and \
            (assoc.is_established or assoc.is_released):
        # A released association (the PACS asked, we answered: after our C-CANCEL, or
        # right after its final response) has nothing left to abort.
        if guard.releaser is not None:
            guard.releaser.submit(assoc, guard)
        else:
            release_bounded(assoc, guard)
        return
    try:
        if assoc.is_established or assoc.dul.is_alive():
            guard.trip(TRIP_FINISH)
    finally:
        guard.close()
