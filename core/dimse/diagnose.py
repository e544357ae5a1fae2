"""Answer a PACS admin's questions about a profile, one check at a time, in plain words.

Is the PACS reachable and does it accept our association (C-ECHO)? Does it let our AE title
query (a C-FIND that matches nothing; Orthanc accepts an unknown AE's association and only then
refuses)? Does it know each destination (a C-MOVE of a study that does not exist: 0xA801 is a sure
"no"; anything else is reported as what it is, since some PACS look at the destination only
when something matches)?
Does the destination itself answer (C-ECHO to its address)? Both destination answers use the
same diagnosis as a failed send (:mod:`.destination_check`): the same verdict types, the same
words for what the echo found, and one echo when the probe move already made it.

``nodes test`` runs :func:`diagnose`; the window's PACS manager runs the same steps in two
parts: :func:`pacs_checks` (its Test button) and :func:`examine_destination` (its Test
destination button, which also sums the answers up in one
:class:`~.destination_verdict.DestinationVerdict`). Each check carries the time it took.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from enum import StrEnum

from pydicom.uid import generate_uid

from dicom_courier.core.config.profiles import Destination, PacsNode
from dicom_courier.core.dimse.association import DESTINATION_PREFIX
from dicom_courier.core.dimse.destination_check import (
    DestinationDown,
    DestinationEcho,
    DestinationFault,
    PeerFamily,
    Reach,
    family_of,
    finding_of,
)
from dicom_courier.core.dimse.destination_verdict import (
    DestinationVerdict,
    Known,
    destination_verdict,
)
from dicom_courier.core.dimse.engine import Courier
from dicom_courier.core.outcome.errors import (
    AssociationAborted,
    CourierError,
    MoveDestinationUnknown,
)
from dicom_courier.core.qr.query import FindQuery, MoveRequest, MoveTarget, QueryLevel, QueryModel


class Verdict(StrEnum):
    OK = "ok"
    FAILED = "failed"
    UNCLEAR = "unclear"  # the PACS's answer does not tell (e.g. a comment-less 0xC000)
    SKIPPED = "skipped"
    WARNING = "warning"  # works, but unsafe (e.g. the PACS's TLS certificate is not checked)


@dataclass(frozen=True)
class Check:
    """One question and its answer; ``error`` carries the details when it failed.

    ``step`` names the DICOM exchange that answered it ("C-ECHO", "C-FIND probe", "probe
    C-MOVE", "C-ECHO to WS3"; "" for a setting); ``ms`` how long it took, in milliseconds
    (None when nothing was sent).
    """

    question: str
    verdict: Verdict
    answer: str
    error: CourierError | None = None
    step: str = ""
    ms: float | None = None


@dataclass(frozen=True)
class DestinationTest:
    """The answers about one destination (:func:`examine_destination`) and what they add up to."""

    checks: tuple[Check, ...]
    verdict: DestinationVerdict


def _ms_since(started: float) -> float:
    return (time.monotonic() - started) * 1000


def bounded(node: PacsNode, seconds: float | None) -> PacsNode:
    """``node`` whose total deadline is at most ``seconds`` (None: ``node`` as it is), so a
    test that a person waits for ends in time even when the profile has no deadline."""
    if seconds is None:
        return node
    total = node.timeouts.total
    return replace(node, timeouts=replace(
        node.timeouts, total=seconds if total is None else min(total, seconds)))


def _probe_uid() -> str:
    """A Study Instance UID that matches nothing, so a probe moves no patient data."""
    return generate_uid(prefix="1.2.826.0.1.3680043.8.498.")


def destination_as_pacs(node: PacsNode, dest: Destination) -> PacsNode:
    """A profile that calls the destination itself, for a direct C-ECHO."""
    assert dest.host is not None and dest.port is not None
    return PacsNode(name=f"{DESTINATION_PREFIX}{dest.ae_title}", called_aet=dest.ae_title,
                    host=dest.host,
                    port=dest.port, calling_aet=node.calling_aet, timeouts=node.timeouts)


async def diagnose(courier: Courier, node: PacsNode) -> AsyncIterator[Check]:
    """Yield each check's answer as soon as it is known (``nodes test``): the PACS's
    (:func:`pacs_checks`), then each destination's; stop early when the PACS is down.
    Raises nothing for a network fault (each is a FAILED check with its error)."""
    async for check in pacs_checks(courier, node):
        yield check
        if check.step == "C-ECHO" and check.verdict is Verdict.FAILED:
            return
    for dest in node.destinations:
        async for check in _check_destination(courier, node, dest):
            yield check


async def pacs_checks(courier: Courier, node: PacsNode, *,
                      step_deadline: float | None = None) -> AsyncIterator[Check]:
    """Is the PACS there and does it accept us (C-ECHO, PS3.7 9.1.5)? May we search (a
    C-FIND that matches nothing, PS3.4 C.4.1)? One :class:`Check` each, with its time in ms;
    the C-FIND is not tried when the echo failed. ``step_deadline`` (s) caps each step
    (:func:`bounded`). Cancelling the consuming task aborts the step's association.
    Raises nothing for a network fault (a FAILED check carries the error)."""
    node = bounded(node, step_deadline)
    where = f"{node.called_aet} at {node.host}:{node.port}"
    if node.tls.unverified:
        yield Check(f"Is the TLS certificate of {where} checked?", Verdict.WARNING,
                    "no: certificate verification is off in this profile, so anyone on the "
                    "network can pose as the PACS and read what is sent; set the PACS's CA "
                    "file and turn verification on")
    question = f"Is {where} reachable and does it accept {node.calling_aet}?"
    started = time.monotonic()
    try:
        echo = await courier.echo(node)
    except CourierError as exc:
        yield Check(question, Verdict.FAILED, exc.title, exc, "C-ECHO", _ms_since(started))
        return
    yield Check(question, Verdict.OK, f"yes, echo answered in {echo.round_trip_ms:.1f} ms",
                step="C-ECHO", ms=_ms_since(started))

    question = f"May {node.calling_aet} search {node.called_aet}?"
    query = FindQuery(QueryLevel.STUDY, QueryModel.STUDY, {"StudyInstanceUID": _probe_uid()})
    started = time.monotonic()
    try:
        async for _match in courier.find(node, query):
            pass
        yield Check(question, Verdict.OK, "yes, a C-FIND was answered", step="C-FIND probe",
                    ms=_ms_since(started))
    except AssociationAborted as exc:
        yield Check(question, Verdict.FAILED,
                    f"no: {node.called_aet} aborted the search; it probably does not know our "
                    f"AE title {node.calling_aet}", exc, "C-FIND probe", _ms_since(started))
    except CourierError as exc:
        yield Check(question, Verdict.FAILED, exc.title, exc, "C-FIND probe",
                    _ms_since(started))


#: The step name of the C-MOVE of a study that does not exist (does the PACS know the
#: destination? nothing is sent); the doctor's real probe move is named apart.
NO_MATCH_MOVE = "C-MOVE (no match)"


async def examine_destination(courier: Courier, node: PacsNode, dest: Destination, *,
                           step_deadline: float | None = None) -> DestinationTest:
    """Does the PACS know ``dest`` (a probe C-MOVE of a study that does not exist, PS3.4
    C.4.2: nothing is sent), and does ``dest`` answer at its own address (C-ECHO, when the
    profile has one)? Returns both checks (with their times in ms) and the verdict with its
    confidence. ``step_deadline`` (s) caps each step (:func:`bounded`); cancelling the
    awaiting task aborts the step's association. Raises nothing for a network fault."""
    node = bounded(node, step_deadline)
    if dest not in node.destinations:  # the move's own diagnosis looks its address up there
        node = replace(node, destinations=(dest, *node.destinations))
    probe, known, certain, echoed = await _probe_move(courier, node, dest)
    reach, found = await _reach(courier, node, dest, echoed, probe.error)
    return DestinationTest((probe, reach), destination_verdict(
        node.called_aet, dest.ae_title, known, certain=certain,
        found=found, probe_problem=probe.answer if known is Known.PROBE_FAILED else ""))


async def _check_destination(courier: Courier, node: PacsNode,
                             dest: Destination) -> AsyncIterator[Check]:
    probe, _known, _certain, echoed = await _probe_move(courier, node, dest)
    yield probe
    reach, _found = await _reach(courier, node, dest, echoed, probe.error)
    yield reach


async def _probe_move(courier: Courier, node: PacsNode, dest: Destination
                      ) -> tuple[Check, Known, bool, DestinationEcho | None]:
    """The probe move's check, what it says about the PACS knowing ``dest``, whether that is
    certain, and what the move's own diagnosis found when it echoed ``dest``."""
    question = f"Does {node.called_aet} know the destination {dest.ae_title}?"
    request = MoveRequest(MoveTarget(study_uid=_probe_uid()), dest.ae_title, QueryModel.STUDY)
    started = time.monotonic()
    operation = courier.move(node, request)
    result = await operation.run()
    ms = _ms_since(started)
    family = family_of(operation.control.peer_implementation)
    error = result.error
    echoed = error.echo if isinstance(error, DestinationFault) else None

    def check(verdict: Verdict, answer: str, with_error: bool = True) -> Check:
        return Check(question, verdict, answer, error if with_error else None,
                     NO_MATCH_MOVE, ms)

    if isinstance(error, MoveDestinationUnknown):  # the diagnosis's DestinationUnknown too
        certain = isinstance(error, DestinationFault) and error.certain
        return check(Verdict.FAILED, f"no (0xA801): {error.action}"), Known.NO, certain, echoed
    if isinstance(error, DestinationDown):
        return check(Verdict.UNCLEAR,
                     f"cannot tell while {dest.ae_title} does not answer: "
                     f"{node.called_aet} answered 0x{error.status or 0:04X} to a probe move, "
                     f"and {error.title}"), Known.UNTOLD, False, echoed
    if result.status == 0x0000 and family is PeerFamily.DCMTK:
        # dcmqrscp looks the destination up only once something matched: its Success to a
        # study that does not exist says nothing about the destination.
        return check(Verdict.UNCLEAR,
                     f"cannot tell: {node.called_aet} announced DCMTK, and dcmqrscp accepts "
                     "a probe move of a study that does not exist whatever the destination "
                     "(it looks at the destination only when something matches; nothing was "
                     "sent), so only a real send proves it",
                     with_error=False), Known.UNTOLD, False, echoed
    if result.status == 0x0000:
        return check(Verdict.UNCLEAR,
                     "not refused: it accepted a probe move of a study that does not exist "
                     "(nothing was sent). An unknown destination is refused with 0xA801 by "
                     "most PACS, but some (dcmqrscp) look at the destination only when "
                     "something matches, so only a real send proves it",
                     with_error=False), Known.NOT_REFUSED, False, echoed
    if error is not None and error.status is not None and (error.status & 0xF000) == 0xC000:
        return check(Verdict.UNCLEAR,
                     f"cannot tell: {node.called_aet} answered 0x{error.status:04X} without "
                     "details, as some PACS (Orthanc) do for an unknown destination and for a "
                     "study that does not exist alike; check its DICOM node list"
                     ), Known.UNTOLD, False, echoed
    title = error.title if error is not None else f"status 0x{result.status or 0:04X}"
    return check(Verdict.FAILED, title), Known.PROBE_FAILED, False, echoed


async def _reach(courier: Courier, node: PacsNode, dest: Destination,
                 echoed: DestinationEcho | None, error: CourierError | None
                 ) -> tuple[Check, DestinationEcho]:
    """Does ``dest`` answer at its address? One C-ECHO, unless the probe's diagnosis made it."""
    question = f"Does {dest.ae_title} answer at its address?"
    step = f"C-ECHO to {dest.ae_title}"
    if not (dest.host and dest.port):
        found = DestinationEcho(Reach.UNCHECKED, None, "no address saved for it")
        return Check(question, Verdict.SKIPPED,
                     "no address saved for it (save it as AET@HOST:PORT to check)",
                     step=step), found
    if echoed is not None and echoed.reach is not Reach.UNCHECKED:
        # the probe's diagnosis already asked
        return _reach_check(question, dest, echoed, error, step, echoed.seconds * 1000), echoed
    address = f"{dest.host}:{dest.port}"
    started = time.monotonic()
    try:
        echo = await courier.echo(destination_as_pacs(node, dest))
    except CourierError as exc:
        found = finding_of(address, exc)
        return _reach_check(question, dest, found, exc, step, _ms_since(started)), found
    found = finding_of(address, None, ms=echo.round_trip_ms)
    return _reach_check(question, dest, found, None, step, _ms_since(started)), found


def _reach_check(question: str, dest: Destination, found: DestinationEcho,
                 error: CourierError | None, step: str, ms: float) -> Check:
    """The answer to "does it answer?", in the destination diagnosis's words."""
    if found.reach is Reach.ANSWERS:
        return Check(question, Verdict.OK, f"yes, {found.address}: {found.finding}",
                     step=step, ms=ms)
    return Check(question, Verdict.FAILED,
                 f"no: {dest.ae_title} did not answer at {found.address} ({found.finding})",
                 error, step, ms)
