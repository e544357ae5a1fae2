"""Why a PACS delivered nothing to a move destination: ask the destination itself.

PACS report a destination they cannot deliver to in different ways (PS3.4 C.4.2.1.5, Table
C.4-2): 0xA801 "move destination unknown" (pynetdicom-based PACS answer it also when they know
the destination but cannot connect to it), 0xA702 "unable to perform sub-operations" (DCMTK's
dcmqrscp, when the destination does not listen), 0xB000 or even 0x0000 with every
sub-operation failed, and Orthanc's comment-less 0xC000 with no sub-operation at all.

When a move ends with nothing delivered and one of these answers, :func:`diagnose_move` runs
one bounded follow-up: a C-ECHO (PS3.7 9.1.5) from us to the destination's own address, when
the profile knows it. The facts (the PACS's status and counts, the peer's implementation, what
the echo found) then decide one typed verdict, which the retry policy reads by its type:

- :class:`DestinationDown` — the destination did not answer us: retried with back-off;
- :class:`DestinationUnknown` — the PACS said 0xA801 and the destination is not shown to be
  down: permanent until someone adds it to the PACS's list of DICOM nodes;
- :class:`DestinationUndecided` — the facts do not tell: the likely causes, most likely
  first; retried once (:data:`UNDECIDED_ATTEMPTS`).

The whole follow-up takes at most :data:`FOLLOW_UP_BUDGET` seconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Unpack

from dicom_courier.core.config.profiles import Destination, PacsNode, Timeouts
from dicom_courier.core.dimse.association import (
    ABORT_DEADLINE,
    DESTINATION_PREFIX,
    OperationControl,
)
from dicom_courier.core.dimse.echo import echo_blocking
from dicom_courier.core.outcome.errors import (
    AssociationRejected,
    ConnectionFailed,
    CourierError,
    DimseFailure,
    ErrorContext,
    MoveDestinationUnknown,
    NothingMatched,
    Peer,
)
from dicom_courier.core.outcome.events import MoveOutcome, MoveResult
from dicom_courier.core.outcome.status import (
    SAVE_ADDRESS_HINT,
    TEST_DESTINATION_IN_WINDOW,
    TEST_DESTINATION_ON_COMMAND_LINE,
)
from dicom_courier.core.outcome.suboperations import finishes_all

#: Seconds the whole follow-up (resolve, connect, associate, echo, release) may take.
FOLLOW_UP_BUDGET = 3.0
#: Our timers for the echo to the destination: connect, A-ASSOCIATE answer, echo answer.
ECHO_TIMEOUTS = Timeouts(connect=1.5, acse=0.7, idle=0.7)
#: Attempts (the first included) of a send whose cause could not be told: retried once.
UNDECIDED_ATTEMPTS = 2


# ---------------------------------------------------------------- the verdicts


class Reach(StrEnum):
    """What our own C-ECHO to the destination found."""

    ANSWERS = "answers"        # it accepted (or even refused) our association: it is up
    SILENT = "does not answer"  # refused, unreachable, or no DICOM answer in time
    UNCHECKED = "not checked"   # the profile has no address for it


@dataclass(frozen=True)
class DestinationEcho:
    """The follow-up's facts: where we called, what happened (plain words), how long it took."""

    reach: Reach
    address: str | None  # "host:port"
    finding: str
    seconds: float = 0.0


class DestinationFault(DimseFailure):
    """Nothing reached the move destination; the verdict of :func:`diagnose_move`.

    ``destination`` is its AE title, ``echo`` what our C-ECHO to it found; ``certain``
    whether the facts leave no other reading (an admin's test says "certain" only then).
    """

    diagnosis = "undecided"
    certain = False

    def __init__(self, title: str, explanation: str, action: str, *, destination: str,
                 echo: DestinationEcho, **context: Unpack[ErrorContext]) -> None:
        super().__init__(title, explanation, action, **context)
        self.destination = destination
        self.echo = echo


class _VerdictContext(ErrorContext):
    """What every verdict of :func:`verdict_for` takes by keyword."""

    destination: str
    echo: DestinationEcho


class DestinationDown(DestinationFault):
    """The destination did not answer our echo: switched off, not listening, or blocked.

    Transient: retried automatically with back-off.
    """

    retryable = True
    diagnosis = "destination down"


class DestinationUnknown(DestinationFault, MoveDestinationUnknown):
    """The PACS does not know the destination (0xA801, and the destination is not down).

    Permanent: fails the same way until the PACS's list of DICOM nodes is fixed.
    """

    retryable = False
    diagnosis = "destination unknown to the PACS"


class DestinationUndecided(DestinationFault):
    """The facts do not tell which cause it is; retried once (:data:`UNDECIDED_ATTEMPTS`)."""

    retryable = True
    diagnosis = "undecided"


# ---------------------------------------------------------------- who the PACS is


class PeerFamily(StrEnum):
    """The PACS's software, as far as its A-ASSOCIATE-AC tells (PS3.7 D.3.3.2/D.3.3.3)."""

    ORTHANC = "Orthanc"
    DCMTK = "DCMTK"            # dcmqrscp, and Orthanc builds that announce DCMTK's name
    PYNETDICOM = "pynetdicom"
    OTHER = "other"


_DCMTK_ROOT = "1.2.276.0.7230010.3."
_PYNETDICOM_ROOT = "1.2.826.0.1.3680043.9.3811."


def family_of(implementation: tuple[str, str]) -> PeerFamily:
    """The family from (Implementation Class UID, Implementation Version Name).

    Orthanc 1.10 (Debian 12) sends DCMTK's own identity ("OFFIS_DCMTK_367",
    1.2.276.0.7230010.3.0.3.6.7), exactly like dcmqrscp, so DCMTK means "dcmqrscp or Orthanc".
    """
    class_uid, version = (part.strip().upper() for part in implementation)
    if version.startswith("ORTHANC"):
        return PeerFamily.ORTHANC
    if version.startswith("OFFIS") or class_uid.startswith(_DCMTK_ROOT):
        return PeerFamily.DCMTK
    if version.startswith("PYNETDICOM") or class_uid.startswith(_PYNETDICOM_ROOT):
        return PeerFamily.PYNETDICOM
    return PeerFamily.OTHER


def where_the_list_is(family: PeerFamily, *, orthanc_first: bool = False) -> str:
    """Where this PACS keeps its list of DICOM nodes (move destinations), in words."""
    orthanc = ("Orthanc keeps it in \"DicomModalities\" in its configuration file (or, with "
               "\"DicomModalitiesInDatabase\", through its REST API /modalities)")
    dcmqrscp = ("dcmqrscp keeps it in the HostTable of dcmqrscp.cfg (and in the AETable's "
                "peer list, unless that says ANY)")
    if family is PeerFamily.ORTHANC:
        return orthanc
    if family is PeerFamily.DCMTK:
        both = (orthanc, dcmqrscp) if orthanc_first else (dcmqrscp, orthanc)
        return f"the PACS announced DCMTK: {both[0]}; {both[1]}"
    return (f"{orthanc}; {dcmqrscp}; commercial PACS: the DICOM nodes / AE configuration page")


# ---------------------------------------------------------------- when to diagnose


_UNCLEAR_STATUSES = frozenset({0xA801, 0xA702, 0xB000})
#: Families whose 0xA801 means only "not in my list of DICOM nodes" (dcmqrscp's
#: mapMoveDestination, Orthanc's DicomModalities); pynetdicom's also means "cannot connect".
_A801_ONLY_WHEN_UNLISTED = frozenset({PeerFamily.DCMTK, PeerFamily.ORTHANC})


def needs_diagnosis(result: MoveResult) -> bool:
    """True if ``result`` is a failed move that delivered nothing with a destination-fault
    status: 0xA801, 0xA702, 0xB000, a 0x0000 whose sub-operations all failed, or a
    comment-less 0xCxxx (a 0xCxxx with an error comment already says why).

    Never when we sent C-CANCEL (the ending is ours, not the destination's); never when the
    PACS's Pending responses counted sub-operations (it had accepted the destination) and no
    image failed; never for explicit zero counts with a Success or Warning final status
    (PS3.4 C.4.2.3.1: nothing matched, which the outcome already says)."""
    code = result.status
    if result.outcome is not MoveOutcome.FAILED or code is None or result.error is None:
        return False
    if result.completed or result.warning or result.cancel_sent:
        return False
    if result.pending_counted and not result.failed:
        return False
    if isinstance(result.error, NothingMatched) or (
            finishes_all(code) and result.counts_reported and result.total == 0):
        return False
    if code in _UNCLEAR_STATUSES:
        return True
    if code == 0x0000:
        return result.failed > 0
    return (code & 0xF000) == 0xC000 and not result.error_comment


def destination_address(pacs: PacsNode, ae_title: str) -> Destination | None:
    """The profile's entry for ``ae_title`` if it has a host and port, else None."""
    for dest in pacs.destinations:
        if dest.ae_title == ae_title and dest.host and dest.port:
            return dest
    return None


# ---------------------------------------------------------------- the follow-up


def echo_destination(pacs: PacsNode, dest: Destination,
                     budget: float = FOLLOW_UP_BUDGET) -> DestinationEcho:
    """C-ECHO ``dest`` at its own address, as ``pacs``'s calling AE; never longer than
    ``budget`` seconds (our timers, then an A-ABORT of our own; the echo runs on a helper
    thread the caller waits for). Returns what it found; raises nothing.

    Runs on: DIMSE worker thread (any thread but the GUI's).
    """
    assert dest.host is not None and dest.port is not None
    address = f"{dest.host}:{dest.port}"
    node = PacsNode(name=f"{DESTINATION_PREFIX}{dest.ae_title}", called_aet=dest.ae_title,
                    host=dest.host, port=dest.port, calling_aet=pacs.calling_aet,
                    timeouts=ECHO_TIMEOUTS)
    control = OperationControl()
    outcome: list[DestinationEcho] = []
    started = time.monotonic()

    def attempt() -> None:
        try:
            echo = echo_blocking(node, control)
            outcome.append(finding_of(address, None,
                                      ms=echo.association_ms + echo.round_trip_ms))
        except CourierError as exc:
            associated = control.peer_implementation != ("", "")
            outcome.append(finding_of(address, exc, associated=associated))
        except Exception as exc:  # noqa: BLE001 - a follow-up must never break the result
            outcome.append(DestinationEcho(Reach.SILENT, address, f"the check failed: {exc!r}"))

    helper = threading.Thread(target=attempt, name=f"destination-echo-{dest.ae_title}",
                              daemon=True)
    helper.start()
    helper.join(max(0.0, budget - 0.1))
    if helper.is_alive():  # the timers did not end it (a slow name lookup): end it ourselves
        control.abort(ABORT_DEADLINE)
        helper.join(0.05)  # a last answer the abort itself produced; never beyond the budget
    seconds = time.monotonic() - started
    if outcome:
        return replace(outcome[0], seconds=seconds)
    return DestinationEcho(Reach.SILENT, address,
                           f"no answer within {budget:g} s", seconds)


def finding_of(address: str, error: CourierError | None, *, associated: bool = False,
               ms: float | None = None) -> DestinationEcho:
    """What one C-ECHO to a destination at ``address`` found, in plain words.

    ``error`` is what the echo raised (None: it answered, in ``ms`` milliseconds);
    ``associated`` whether our association had been accepted before it failed. A destination
    that rejects our association or refuses the echo is running all the same (the PACS calls
    it with its own AE title).
    """
    if error is None:
        took = "" if ms is None else f" in {ms:.0f} ms"
        return DestinationEcho(Reach.ANSWERS, address, f"it answered our C-ECHO{took}")
    if isinstance(error, AssociationRejected):
        return DestinationEcho(Reach.ANSWERS, address,
                               f"it is running: it rejected our own association ({error.reason})")
    if isinstance(error, ConnectionFailed):
        if error.title.startswith("No answer"):
            words = (f"no answer from {address} within the connect timeout (host down, or a "
                     "firewall drops the connection)")
        elif "unknown" in error.title:
            words = "its host name does not resolve"
        else:
            words = (f"could not connect to {address}: nothing listens on that port, or the "
                     "host is unreachable")
        return DestinationEcho(Reach.SILENT, address, words)
    title = error.title.rstrip(".")  # the finding is quoted inside other sentences
    if associated or isinstance(error, DimseFailure):
        return DestinationEcho(Reach.ANSWERS, address,
                               f"it is running: it accepted our association, then: {title}")
    return DestinationEcho(Reach.SILENT, address, f"no DICOM answer: {title}")


Echo = Callable[[PacsNode, Destination], DestinationEcho]


def diagnose_move(result: MoveResult, pacs: PacsNode,
                  implementation: tuple[str, str] = ("", ""), *,
                  echo: Echo = echo_destination) -> MoveResult:
    """``result`` with its error replaced by the destination verdict, when it needs one.

    Returns ``result`` unchanged unless :func:`needs_diagnosis`; the outcome and counts are
    never changed. ``implementation`` is the PACS's (class UID, version name). At most one
    C-ECHO, bounded by :data:`FOLLOW_UP_BUDGET` seconds. Raises nothing.

    Runs on: DIMSE worker thread, after the move's association ended.
    """
    if not needs_diagnosis(result):
        return result
    dest = destination_address(pacs, result.destination)
    found = echo(pacs, dest) if dest is not None else \
        DestinationEcho(Reach.UNCHECKED, None, "no address saved for it in the profile")
    return replace(result, error=verdict_for(result, found, family_of(implementation),
                                             implementation))


# ---------------------------------------------------------------- the words


def _status_words(code: int, comment: str | None) -> str:
    if code == 0xA801:
        return "\"move destination unknown\" (0xA801)"
    if code == 0xA702:
        return "\"out of resources: unable to perform sub-operations\" (0xA702)"
    if code == 0xB000:
        return "\"sub-operations complete, one or more failures\" (0xB000)"
    if code == 0x0000:
        return "success (0x0000) although every image failed"
    if comment:
        return f"0x{code:04X} (\"{comment}\")"
    return f"\"unable to process\" (0x{code:04X}) without saying why"


def _counts_words(result: MoveResult) -> str:
    if result.failed:
        return f"{result.failed} image(s) failed, none arrived"
    return "it did not send a single image"


def _causes(items: list[str]) -> str:
    return " ".join(f"({n}) {item};" for n, item in enumerate(items, 1)).rstrip(";") + "."


def verdict_for(result: MoveResult, found: DestinationEcho, family: PeerFamily,
                implementation: tuple[str, str] = ("", "")) -> DestinationFault:
    """The typed verdict for a move that delivered nothing (see the module docstring).

    Pure: decides from ``result``'s status and counts, ``found`` and ``family`` only;
    ``implementation`` (class UID, version name) is kept in the details as sent.
    """
    code = result.status if result.status is not None else 0xC000
    dest = result.destination
    peer: Peer = result.peer
    pacs = peer.called_aet
    where = found.address
    said = f"{pacs} answered {_status_words(code, result.error_comment)}: " \
           f"{_counts_words(result)}."
    orthanc_like = ((code & 0xF000) == 0xC000 and not result.failed
                    and family in (PeerFamily.ORTHANC, PeerFamily.DCMTK, PeerFamily.OTHER))
    where_list = where_the_list_is(family, orthanc_first=orthanc_like)
    details: dict[str, str] = {}
    if result.error is not None:
        details.update(result.error.extra_details)
    details.update({
        "Move destination": dest,
        "Images": (f"{result.completed} sent, {result.failed} failed, "
                   f"{result.warning} with warnings"
                   + ("" if result.total is None else f", {result.total} in total"))
                  if result.counts_reported else "the PACS did not report image counts",
        "Destination address": where or "not saved in the profile",
        "Destination check (C-ECHO from this computer)":
            found.finding + (f" ({found.seconds:.2f} s)" if found.reach is not Reach.UNCHECKED
                             else ""),
        "PACS software (from its association answer)":
            family.value if family is not PeerFamily.OTHER else "not recognised",
        "PACS implementation (class UID, version name)":
            " / ".join(part or "(none)" for part in implementation),
    })
    common: _VerdictContext = {"peer": peer, "status": code, "comment": result.error_comment,
                               "details": details, "destination": dest, "echo": found}

    if code == 0xA801 and family in _A801_ONLY_WHEN_UNLISTED:
        # dcmqrscp (and Orthanc, which may announce DCMTK) answer 0xA801 only for an AE title
        # missing from their list: the PACS does not know it, whatever our echo found.
        who = ("Orthanc" if family is PeerFamily.ORTHANC else
               "dcmqrscp and Orthanc (this PACS announced DCMTK, as both do)")
        why = (f"{said} {who} answer this only when the AE title is missing from their list "
               f"of DICOM nodes, so {pacs} does not know {dest}.")
        todo = (f"On the PACS, add {dest} with its host and port to the list of known DICOM "
                f"nodes ({where_list}), or pick a destination the PACS already knows.")
        if found.reach is Reach.SILENT:
            assert where is not None
            host, _, port = where.rpartition(":")
            why += f" {dest} also did not answer us at {where}: {found.finding}."
            todo += (f" {dest} must also be running: check that it listens on port {port} at "
                     f"{host}.")
        elif found.reach is Reach.ANSWERS:
            why += f" {dest} itself is running at {where} ({found.finding})."
        unknown = DestinationUnknown(
            f"{pacs} does not know the destination {dest}"
            + (f", and {dest} does not answer at {where} either." if found.reach is Reach.SILENT
               else "."),
            why, todo + " Trying again without that change fails the same way.",
            **common)
        unknown.extra_details["Diagnosis"] = unknown.diagnosis
        unknown.certain = True  # these PACS answer 0xA801 for nothing else
        return unknown

    if found.reach is Reach.SILENT:
        assert where is not None
        host, _, port = where.rpartition(":")
        if code == 0xA801:
            why = (f"{said} Some PACS (those built on pynetdicom among them) answer this also "
                   f"when they know the destination but cannot connect to it, and {dest} did "
                   f"not answer us either: {found.finding}.")
            more = (f" If the send still fails once {dest} answers, {pacs} does not know it: "
                    f"add it to its list of DICOM nodes ({where_list}).")
        else:
            why = f"{said} We then called {dest} ourselves: {found.finding}."
            more = ""
        verdict: DestinationFault = DestinationDown(
            f"{dest} did not answer at {where} — is it running, and can the PACS reach it?",
            why + f" So {dest} is most likely switched off, not listening on port {port}, or "
            "out of reach (network, firewall); nothing points at the PACS itself.",
            f"Start {dest} (or its DICOM receiver) and check that it listens on port {port} "
            f"at {host}, and that {pacs} may connect to it (firewall); then send it again.{more}",
            **common)
        verdict.extra_details["Diagnosis"] = verdict.diagnosis
        return verdict

    if code == 0xA801:
        if found.reach is Reach.ANSWERS:
            why = (f"{said} It has no host and port for the AE title {dest}, or not the right "
                   f"ones: {dest} itself is running at {where} ({found.finding}).")
        else:
            why = (f"{said} It has no host and port for the AE title {dest}, so it cannot "
                   "send the images there. (A few PACS, those built on pynetdicom among "
                   "them, also answer 0xA801 when they know the destination but cannot "
                   f"connect to it; save {dest}'s address as AET@HOST:PORT in the profile and "
                   "Courier tells the two apart.)")
        verdict = DestinationUnknown(
            f"{pacs} does not know the destination {dest}.", why,
            f"On the PACS, add {dest} with its host and port to the list of known DICOM "
            f"nodes ({where_list}), or pick a destination the PACS already knows. Trying "
            "again without that change fails the same way.",
            **common)
        verdict.extra_details["Diagnosis"] = verdict.diagnosis
        verdict.certain = found.reach is Reach.ANSWERS  # up, yet refused: not in its list
        return verdict

    reached = found.reach is Reach.ANSWERS
    if orthanc_like:
        title = (f"{pacs} most likely does not have {dest} in its list of DICOM nodes, or "
                 "cannot reach it.")
        causes = [f"{dest} is not in {pacs}'s list of DICOM nodes"
                  + (f" (or is listed with another host or port than {where})" if reached
                     else ""),
                  f"{pacs} knows {dest} but cannot reach it"
                  + (" (a firewall between them: we reached it from this computer)"
                     if reached else " (not running, wrong host or port, firewall)"),
                  "the study is no longer on the PACS",
                  f"{pacs} does not allow our AE title {peer.calling_aet} to retrieve"]
        which = {
            PeerFamily.ORTHANC: "Orthanc answers this one status for all of these",
            PeerFamily.DCMTK: "Orthanc, which announces itself as DCMTK as this PACS did, "
                              "answers this one status for all of these",
        }.get(family, "Some PACS (Orthanc among them) answer this one status for all of these")
        explanation = f"{said} {which}. Likely causes, most likely first: {_causes(causes)}"
    else:
        title = f"{pacs} could not send any image to {dest}."
        if reached:
            causes = [f"{pacs} has {dest} in its list of DICOM nodes with another host or port "
                      f"than {where}, or not at all",
                      f"{dest} refuses {pacs} (its AE title is not allowed) or refused the "
                      "images (disk full, image type not accepted): see its log",
                      f"a firewall between {pacs} and {dest} (we reached it from this "
                      "computer)"]
        else:
            causes = [f"{dest} is not running or {pacs} cannot reach it",
                      f"{pacs} has a wrong host or port for {dest}, or does not know it",
                      f"{dest} refused the images (disk full, image type not accepted)"]
        explanation = f"{said} Likely causes, most likely first: {_causes(causes)}"
    if reached:
        explanation += f" {dest} itself answers at {where}: {found.finding}."
    else:
        explanation += SAVE_ADDRESS_HINT.format(dest=dest)
    check = (f"Check {pacs}'s list of DICOM nodes for {dest} ({where_list}) and {pacs}'s log "
             "for this send. Test it: ")
    # (No "queued sends try again": this is said when the send is over, retries included.)
    verdict = DestinationUndecided(
        title, explanation, f"{check}{TEST_DESTINATION_IN_WINDOW}.", **common)
    verdict.cli_action = f"{check}{TEST_DESTINATION_ON_COMMAND_LINE}."
    verdict.extra_details["Diagnosis"] = verdict.diagnosis
    return verdict
