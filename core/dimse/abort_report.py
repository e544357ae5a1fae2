"""Who ended an operation before its final answer, and why, in plain words.

An A-ABORT carries a *source* and a *reason/diagnostic* (PS3.8 9.3.8, Table 9-26): source 0
is the peer's DICOM application (the service-user; its reason field is not significant, and
is never read as a reason), source 2 is
its DICOM network layer (the service-provider), with a reason such as "invalid PDU parameter
value". A peer may also just close the TCP connection. The same symptom needs different
advice: Orthanc aborts (application) right after the first request from an AE title it does
not know, so "register our AE title" fits there and nowhere else; a provider abort with a
protocol reason means the PACS's toolkit could not accept something we sent, which is a
matter for the PACS vendor, not a setting.
"""

from __future__ import annotations

from collections.abc import Mapping

from dicom_courier.core.outcome.errors import AssociationAborted, CourierError, Peer

#: PS3.8 Table 9-26: A-ABORT source.
SOURCES = {0: "the PACS's DICOM application (A-ABORT source 0, service-user)",
           2: "the PACS's DICOM network layer (A-ABORT source 2, service-provider)"}
#: PS3.8 Table 9-26: A-ABORT reason/diagnostic (source 2 only).
REASONS = {0: "no reason given", 1: "unrecognized PDU", 2: "unexpected PDU",
           4: "unrecognized PDU parameter", 5: "unexpected PDU parameter",
           6: "invalid PDU parameter value"}
#: Reasons that mean: the peer's toolkit could not accept a PDU we sent.
PROTOCOL_REASONS = frozenset({1, 2, 4, 5, 6})


class PeerRejectedOurData(AssociationAborted):
    """The PACS's network layer aborted with a protocol reason: an encoding or protocol
    problem between us and this PACS, not a setting. Retrying does not help."""

    retryable = False


def abort_facts(peer_abort: tuple[int, int]) -> dict[str, str]:
    """The A-ABORT's (source, reason/diagnostic) in words, for the Details section.

    PS3.8 9.3.8: the reason/diagnostic field is significant for source 2 only; for any other
    source it is not read as a reason, and its raw value is kept as a detail of its own.
    """
    source, reason = peer_abort
    facts = {"Aborted by": SOURCES.get(source, f"an undefined A-ABORT source {source}")}
    if source == 2:
        facts["Abort reason"] = (f"{REASONS.get(reason, 'a reason PS3.8 does not define')} "
                                 f"(reason/diagnostic {reason})")
        return facts
    facts["Abort reason"] = ("not given (source 0 carries none)" if source == 0 else
                             f"not given (PS3.8 defines none for source {source})")
    facts["Abort reason/diagnostic field (raw, not significant)"] = str(reason)
    return facts


def ended_early_error(peer: Peer, what: str, answered: int,
                      peer_abort: tuple[int, int] | None, settings_hint: str,
                      sofar: Mapping[str, str] | None = None) -> CourierError:
    """The error for a ``what`` ("search", "send", "echo") the PACS ended before its final
    answer, after ``answered`` responses; ``peer_abort`` = (source, reason) of its A-ABORT, or
    None if it closed the connection without one. ``settings_hint`` says where the PACS keeps
    its list of AE titles (e.g. Orthanc's "DicomModalities")."""
    details = dict(sofar or {})
    if peer_abort is not None:
        details.update(abort_facts(peer_abort))
    else:
        details["Aborted by"] = "nobody: the PACS closed the connection without an A-ABORT"
    source, reason = peer_abort if peer_abort is not None else (None, None)
    register = (f"Ask the PACS administrator to register our AE title {peer.calling_aet} with "
                f"this computer's address ({settings_hint}), then retry.")
    if source == 2 and reason in PROTOCOL_REASONS:
        return PeerRejectedOurData(
            f"{peer.called_aet} stopped the {what}: its DICOM network layer rejected our "
            f"message ({REASONS[reason]}).",
            "The PACS's DICOM software could not accept a PDU we sent. This points at an "
            "encoding or protocol problem between DICOM Courier and this PACS, not at a "
            "setting; retrying will not help.",
            "Send the details (with the time it happened) to the PACS vendor or administrator, "
            "and report it to the DICOM Courier project.",
            peer=peer, details=details)
    if answered == 0 and source in (None, 0):
        who = "aborted" if source == 0 else "closed the connection"
        return AssociationAborted(
            f"{peer.called_aet} ended the connection right after our "
            f"{'send request' if what == 'send' else what}.",
            f"It accepted the association, then {who} before answering. PACS such as Orthanc "
            f"do this when they do not know our AE title {peer.calling_aet}, or do not allow "
            f"it to {_verb(what)}.",
            register, peer=peer, details=details)
    if source == 2:
        return AssociationAborted(
            f"{peer.called_aet}'s DICOM network layer aborted the {what} "
            f"({REASONS.get(reason or 0, 'an undefined reason')}).",
            f"{answered} answers had arrived. A PACS does this when it runs out of resources "
            "or one of its own timers runs out.",
            "Retry; if it keeps happening, check the PACS's log at that time.",
            peer=peer, details=details)
    if source == 0:
        return AssociationAborted(
            f"{peer.called_aet} aborted the {what}.",
            f"Its DICOM application ended the association after {answered} answers, without "
            "saying why.",
            "Retry; if it keeps happening, check the PACS's log at that time.",
            peer=peer, details=details)
    if source is not None:
        return AssociationAborted(
            f"{peer.called_aet} aborted the {what}.",
            f"It sent an A-ABORT with a source ({source}) that PS3.8 does not define, after "
            f"{answered} answers.",
            "Retry; if it keeps happening, send the details to the PACS vendor.",
            peer=peer, details=details)
    return AssociationAborted(
        f"{peer.called_aet} dropped the connection during the {what}.",
        f"{answered} answers arrived before the connection was closed without an A-ABORT.",
        "Retry; if it keeps happening, check the PACS's log and the network.",
        peer=peer, details=details)


def _verb(what: str) -> str:
    return {"search": "query", "send": "retrieve", "echo": "connect"}.get(what, what)
