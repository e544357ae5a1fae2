"""DICOM TLS (PS3.15 B.1) for our associations: the SSL context, and certificate problems in words.

:func:`build_context` turns a profile's
:class:`~dicom_courier.core.config.profiles.TlsSettings` into an
``ssl.SSLContext`` (TLS 1.2 or newer, the PACS's certificate and host name checked unless the
profile says not to). :class:`TlsAttempt` hands it to pynetdicom as
``AE.associate(tls_args=...)`` and, when the association fails, says why in plain words.

Why the attempt records errors itself: pynetdicom's ``AssociationSocket.connect()`` catches the
``OSError`` of a failed handshake, logs it and reports only "connection closed" (Evt17), and its
reader thread does the same for a TLS alert that arrives after the handshake (TLS 1.3 sends "a
client certificate is required" only then). Our context sets the documented
``SSLContext.sslsocket_class`` hook to a subclass of ``ssl.SSLSocket`` whose ``do_handshake``
and ``recv`` note the exception before it is swallowed; the attempt turns it into a typed error.
An upstream fix would be for pynetdicom to keep the exception on the ``T_CONNECT`` primitive
(or pass it to ``EVT_CONN_CLOSE``) so callers can read it.

A plain association that a port answers with TLS bytes fails as "not DICOM"; then one short TLS
handshake (certificate not checked, nothing sent after it) tells whether the port expects TLS.
"""

from __future__ import annotations

import logging
import socket
import ssl
import time
from datetime import UTC, datetime
from pathlib import Path

from dicom_courier.core.config.profiles import PacsNode, TlsSettings
from dicom_courier.core.dimse.certificate import CertificateFacts, read_certificate
from dicom_courier.core.outcome.errors import ConnectionFailed, CourierError, InvalidInput, Peer

log = logging.getLogger(__name__)

# OpenSSL X509_V_ERR_* verify codes (x509_vfy.h) seen in SSLCertVerificationError.verify_code.
_UNTRUSTED_CODES = frozenset({
    2,   # UNABLE_TO_GET_ISSUER_CERT
    18,  # DEPTH_ZERO_SELF_SIGNED_CERT
    19,  # SELF_SIGNED_CERT_IN_CHAIN
    20,  # UNABLE_TO_GET_ISSUER_CERT_LOCALLY
    21,  # UNABLE_TO_VERIFY_LEAF_SIGNATURE
    27,  # CERT_UNTRUSTED
})
_NOT_YET_VALID = 9
_EXPIRED = 10
_HOST_MISMATCH_CODES = frozenset({62, 64})  # HOSTNAME_MISMATCH, IP_ADDRESS_MISMATCH

#: OpenSSL reasons meaning: the PACS wants a client certificate (TLS 1.3 / 1.2 alerts).
_CLIENT_CERT_WANTED = frozenset({"TLSV13_ALERT_CERTIFICATE_REQUIRED",
                                 "SSLV3_ALERT_HANDSHAKE_FAILURE"})
#: Reasons meaning: the PACS refused the client certificate we sent.
_CLIENT_CERT_REFUSED = frozenset({"SSLV3_ALERT_BAD_CERTIFICATE", "TLSV1_ALERT_UNKNOWN_CA",
                                  "SSLV3_ALERT_CERTIFICATE_EXPIRED",
                                  "SSLV3_ALERT_CERTIFICATE_UNKNOWN",
                                  "TLSV1_ALERT_DECRYPT_ERROR"})
#: Reasons meaning: what came back is not TLS at all (a plain DICOM port).
_NOT_TLS = frozenset({"WRONG_VERSION_NUMBER", "PACKET_LENGTH_TOO_LONG", "RECORD_LAYER_FAILURE",
                      "UNEXPECTED_EOF_WHILE_READING", "EOF_IN_VIOLATION_OF_PROTOCOL",
                      "HTTP_REQUEST", "UNKNOWN_PROTOCOL"})
_OLD_PROTOCOL = frozenset({"UNSUPPORTED_PROTOCOL", "TLSV1_ALERT_PROTOCOL_VERSION",
                           "NO_PROTOCOLS_AVAILABLE"})

#: How long a probe connection (does this port expect TLS? what certificate does it show?)
#: may take, at most, in seconds: a TLS server answers a ClientHello in milliseconds.
PROBE_TIMEOUT = 1.0


# ---------------------------------------------------------------- errors


class TlsError(ConnectionFailed):
    """The secure (TLS) connection to the PACS could not be set up; nothing was sent."""

    retryable = False


class CertificateUntrusted(TlsError):
    """The PACS's certificate is self-signed or signed by a CA not in our CA file."""


class CertificateExpired(TlsError):
    """The PACS's certificate expired (or is not valid yet)."""


class CertificateHostMismatch(TlsError):
    """The PACS's certificate was issued for another host name than the one we dialled."""


class ClientCertificateRequired(TlsError):
    """The PACS wants a client certificate and we sent none, or refused ours."""


class TlsNotSpoken(TlsError):
    """TLS is on in the profile but the port answers plain DICOM (or nothing TLS)."""


class TlsExpected(TlsError):
    """TLS is off in the profile but the port speaks TLS."""


# ---------------------------------------------------------------- context


class _RecordingSocket(ssl.SSLSocket):
    """An SSLSocket that tells its :class:`TlsAttempt` about errors pynetdicom will swallow.

    Runs on: pynetdicom's association (reactor) thread.
    """

    def do_handshake(self, block: bool = False) -> None:
        attempt = getattr(self.context, "attempt", None)
        if attempt is not None:
            attempt.handshake_started = True
        try:
            super().do_handshake(block)
        except OSError as exc:
            if attempt is not None and attempt.error is None:
                attempt.error = exc
            raise

    def recv(self, buflen: int = 1024, flags: int = 0) -> bytes:
        try:
            return super().recv(buflen, flags)
        except ssl.SSLError as exc:
            attempt = getattr(self.context, "attempt", None)
            # An alert from the PACS (not our own shutdown, not a plain EOF).
            if attempt is not None and attempt.error is None and \
                    not isinstance(exc, ssl.SSLEOFError | ssl.SSLZeroReturnError):
                attempt.error = exc
            raise


class _AttemptContext(ssl.SSLContext):
    """An SSLContext whose sockets report to the attempt they belong to."""

    attempt: TlsAttempt | None = None


def _load_ca(context: ssl.SSLContext, ca_file: str) -> None:
    try:
        context.load_verify_locations(cafile=ca_file)
    except (ssl.SSLError, ValueError) as exc:
        raise InvalidInput("TLS CA file", "must hold CA certificates in PEM format "
                           f"({getattr(exc, 'reason', None) or exc})", ca_file) from None


def _load_client_cert(context: ssl.SSLContext, cert_file: str, key_file: str) -> None:
    try:
        # A password callback that returns nothing: an encrypted key fails here instead of
        # OpenSSL asking for its password on the terminal.
        context.load_cert_chain(cert_file, key_file or None, password=lambda: b"")
    except (ssl.SSLError, ValueError) as exc:
        key_text = Path(key_file or cert_file).read_bytes()[:4096]
        if b"ENCRYPTED" in key_text:
            raise InvalidInput("TLS client key", "must not be protected by a password "
                               "(export it without one, readable by this user only)",
                               key_file or cert_file) from None
        raise InvalidInput("TLS client certificate", "must be a PEM certificate with its "
                           "matching private key (PEM) "
                           f"({getattr(exc, 'reason', None) or exc})",
                           cert_file) from None


def build_context(tls: TlsSettings) -> ssl.SSLContext:
    """An SSL client context for ``tls``: TLS >= 1.2, verification as the profile says.

    With ``verify`` (the default) the PACS's certificate must chain to ``ca_file`` (or, if no
    file is given, to the system's trusted CAs) and name the host we dial; without it any
    certificate is accepted. Raises InvalidInput naming the field when a file is missing,
    unreadable, or not PEM of the right kind.
    """
    tls.check_files()
    context = _AttemptContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.sslsocket_class = _RecordingSocket
    if tls.verify:
        context.check_hostname = True
        context.verify_mode = ssl.CERT_REQUIRED
        if tls.ca_file:
            _load_ca(context, tls.ca_file)
        else:
            context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if tls.cert_file:
        _load_client_cert(context, tls.cert_file, tls.key_file)
    return context


# ---------------------------------------------------------------- one association attempt


class TlsAttempt:
    """TLS for one association attempt: ``args`` for pynetdicom, ``failure`` for our error.

    Create it in the DIMSE worker thread before ``AE.associate`` (it raises InvalidInput for a
    bad file, before anything touches the network); read ``failure`` after it returned.
    """

    def __init__(self, pacs: PacsNode) -> None:
        self.pacs = pacs
        self.error: OSError | None = None
        self.handshake_started = False
        self._started = time.monotonic()
        self._context: _AttemptContext | None = None
        if pacs.tls.enabled:
            context = build_context(pacs.tls)
            assert isinstance(context, _AttemptContext)
            context.attempt = self
            self._context = context

    @property
    def args(self) -> tuple[ssl.SSLContext, str] | None:
        """``(context, server_hostname)`` for ``AE.associate(tls_args=...)``; None = plain."""
        if self._context is None:
            return None
        return (self._context, self.pacs.host)

    def failure(self, peer: Peer, where: str, *, connected: bool,
                answered: bool) -> CourierError | None:
        """The TLS reason an association failed, or None if TLS was not the cause.

        ``where`` names the settings a person edits (e.g. "the settings for 'Main PACS'");
        ``connected``/``answered``: the TCP+TLS connection came up / the PACS answered with an
        A-ASSOCIATE-AC/-RJ. Runs on: DIMSE worker thread (may make one short probe connection).
        """
        if answered:
            return None
        if self._context is None:
            # Only when the port hung up or answered non-DICOM at once: a silent peer that ran
            # into our ACSE timer gets no extra wait.
            quick = time.monotonic() - self._started < 0.9 * min(self.pacs.timeouts.acse,
                                                                  self.pacs.timeouts.idle)
            if connected and quick and port_speaks_tls(self.pacs.host, self.pacs.port,
                                             min(PROBE_TIMEOUT, self.pacs.timeouts.connect)):
                return _tls_expected(peer, where)
            return None
        if self.error is None:
            return None
        return describe_tls_error(self.error, peer, where, self.pacs,
                                  handshake_done=connected)


def port_speaks_tls(host: str, port: int, timeout: float) -> bool:
    """True if ``host:port`` completes (or refuses with a TLS alert) a TLS handshake.

    The certificate is not checked and nothing is sent after the handshake.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw, \
                context.wrap_socket(raw, server_hostname=host):
            return True
    except ssl.SSLError as exc:
        return "ALERT" in (exc.reason or "")
    except OSError:
        return False


def peer_certificate(host: str, port: int, timeout: float) -> CertificateFacts | None:
    """The PACS's own certificate, fetched without checking it, for an error message."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw, \
                context.wrap_socket(raw, server_hostname=host) as tls_sock:
            der = tls_sock.getpeercert(binary_form=True)
    except OSError:
        return None
    return read_certificate(der) if der else None


# ---------------------------------------------------------------- errors in words


def _date(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else "(unknown)"


def describe_tls_error(exc: OSError, peer: Peer, where: str, pacs: PacsNode, *,
                       handshake_done: bool) -> TlsError:
    """Turn the ``ssl``/``OSError`` of a failed TLS connection into a typed error in words.

    May fetch the PACS's certificate once more (unchecked) to name its dates or host names.
    """
    tls = pacs.tls
    who = peer.describe()
    details = {"TLS error": f"{type(exc).__name__}: {exc}"}
    if isinstance(exc, ssl.SSLCertVerificationError):
        code = exc.verify_code
        details["Certificate check"] = f"{exc.verify_message} (OpenSSL code {code})"
        facts = peer_certificate(pacs.host, pacs.port,
                                 min(PROBE_TIMEOUT, pacs.timeouts.connect))
        if facts is not None:
            details["PACS certificate"] = (f"for {', '.join(facts.names) or '(no name)'}, "
                                           f"issued by {facts.issuer_cn or '(no name)'}, "
                                           f"valid {_date(facts.not_before)} to "
                                           f"{_date(facts.not_after)}")
        trusted = f"the CA file {tls.ca_file}" if tls.ca_file else "this computer's trusted CAs"
        if code in _UNTRUSTED_CODES:
            return CertificateUntrusted(
                f"Secure connection to {who} refused: the PACS's certificate is not signed "
                "by a CA we trust.",
                _untrusted_explanation(code, facts, trusted),
                f"Get the PACS's CA certificate (PEM) from its administrator and set it as the "
                f"TLS CA file in {where}.",
                peer=peer, details=details)
        if code in (_EXPIRED, _NOT_YET_VALID):
            when = _date(facts.not_after if code == _EXPIRED else facts.not_before) \
                if facts else None
            what = (f"the PACS's certificate expired on {when}" if code == _EXPIRED and when
                    else "the PACS's certificate has expired" if code == _EXPIRED
                    else f"the PACS's certificate is not valid before {when}")
            return CertificateExpired(
                f"Secure connection to {who} refused: {what}.",
                "An expired certificate proves nothing about who answers. If the date of this "
                "computer is right, the PACS needs a new certificate.",
                "Ask the PACS administrator to renew the PACS's DICOM TLS certificate; check "
                "this computer's date and time.",
                peer=peer, details=details)
        if code in _HOST_MISMATCH_CODES:
            names = ", ".join(facts.names) if facts and facts.names else None
            what = (f"the certificate is for {names}, not {pacs.host}" if names
                    else f"the certificate is not for {pacs.host}")
            return CertificateHostMismatch(
                f"Secure connection to {who} refused: {what}.",
                "The PACS's certificate names other hosts than the address in the profile, so "
                "we cannot tell that it is the right PACS.",
                f"Use the host name the certificate was issued for as the PACS host in {where}"
                + (f" ({names})" if names else "") + ", or ask the PACS administrator for a "
                "certificate that names this address.",
                peer=peer, details=details)
        return TlsError(
            f"Secure connection to {who} refused: the PACS's certificate failed the check "
            f"({exc.verify_message}).",
            "We cannot tell that we are talking to the right PACS.",
            f"Ask the PACS administrator about its DICOM TLS certificate; check {where}.",
            peer=peer, details=details)

    reason = getattr(exc, "reason", None) or ""
    if reason in _CLIENT_CERT_REFUSED and tls.cert_file:
        return ClientCertificateRequired(
            f"{who} did not accept our client certificate.",
            f"The PACS refused the certificate in {tls.cert_file} ({reason.lower()}).",
            "Ask the PACS administrator which CA must sign our client certificate, and set "
            f"the right certificate and key in {where}.",
            peer=peer, details=details)
    if reason in _CLIENT_CERT_WANTED or (reason in _CLIENT_CERT_REFUSED and not tls.cert_file):
        return ClientCertificateRequired(
            f"{who} requires a client certificate.",
            "The PACS accepts only callers that show a certificate it trusts; the profile "
            "has none." if not tls.cert_file else
            "The PACS ended the secure connection: it probably does not accept our client "
            "certificate.",
            f"Get a client certificate and key (PEM) for our AE title {peer.calling_aet} from "
            f"the PACS administrator and set them in {where}.",
            peer=peer, details=details)
    if reason in _OLD_PROTOCOL:
        return TlsError(
            f"{who} offers only TLS versions older than 1.2.",
            "Versions before TLS 1.2 are not safe and are not used.",
            "Ask the PACS administrator to enable TLS 1.2 or 1.3 for DICOM.",
            peer=peer, details=details)
    if isinstance(exc, TimeoutError):
        return TlsNotSpoken(
            f"{who} did not answer the TLS handshake within {pacs.timeouts.connect:g} s.",
            "The port accepted the connection but sent no TLS answer: it probably speaks "
            "plain DICOM, not DICOM TLS.",
            f"Turn TLS off in {where}, or use the PACS's DICOM TLS port (often 2762).",
            peer=peer, details=details)
    if not handshake_done and (reason in _NOT_TLS or isinstance(
            exc, ssl.SSLEOFError | ConnectionResetError | BrokenPipeError)):
        return TlsNotSpoken(
            f"{who} does not speak DICOM TLS on port {peer.port}.",
            "The port closed the connection or answered with something that is not TLS: it "
            "probably expects plain DICOM.",
            f"Turn TLS off in {where}, or use the PACS's DICOM TLS port (often 2762).",
            peer=peer, details=details)
    return TlsError(
        f"Secure connection to {who} failed: {reason.lower().replace('_', ' ') or exc}.",
        "The TLS handshake with the PACS did not succeed.",
        f"Check the TLS settings in {where} with the PACS administrator.",
        peer=peer, details=details)


def _untrusted_explanation(code: int, facts: CertificateFacts | None, trusted: str) -> str:
    if code in (18, 19):  # self-signed leaf, or a self-signed root we do not have
        signer = "is self-signed" if code == 18 else "chains to a root CA"
        if code == 19 and facts is not None and facts.issuer_cn:
            signer = f"is signed by {facts.issuer_cn}"
    else:
        issuer = facts.issuer_cn if facts is not None and facts.issuer_cn else "a CA"
        signer = f"is signed by {issuer}"
    return (f"Its certificate {signer}, which is not among {trusted}, so we cannot tell that "
            "we are talking to the right PACS.")


def _tls_expected(peer: Peer, where: str) -> TlsExpected:
    return TlsExpected(
        f"{peer.describe()} expects DICOM TLS.",
        f"Port {peer.port} answered with a TLS handshake, not plain DICOM, and TLS is off in "
        "the profile.",
        f"Turn TLS on in {where} (with the PACS's CA file), or use its plain DICOM port.",
        peer=peer)
