"""Answer a PACS admin's questions about a profile, one check at a time, in plain words.

Is the PACS reachable and does it accept our association (C-ECHO)? Does it let our AE title
query (a C-FIND that matches nothing; Orthanc accepts an unknown AE's association and only then
refuses)? Does it know each destination (a C-MOVE of a study that does not exist: 0xA801 is a sure
"no"; anything else is reported as what it is, since some PACS look at the destination only
when something matches)?
Does the destination itself answer (C-ECHO to its address)? Both destination answers use the
same diagnosis as a failed send (:mod:`.destination_check`): the same verdict types, the same
words for what the echo found, and one echo when the probe move already made it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from enum import StrEnum

from pydicom.uid import generate_uid

from dicom_courier.core.config.profiles import Destination, PacsNode
from dicom_courier.core.dimse.association import DESTINATION_PREFIX
from dicom_courier.core.dimse.destination_check import (
    DestinationDown,
    DestinationEcho,
    DestinationFault,
    Reach,
    finding_of,
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
    """One question and its answer; ``error`` carries the details when it failed."""

    question: str
    verdict: Verdict
    answer: str
    error: CourierError | None = None


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
    """Yield each check's answer as soon as it is known; stop early when the PACS is down."""
    where = f"{node.called_aet} at {node.host}:{node.port}"
    if node.tls.unverified:
        yield Check(f"Is the TLS certificate of {where} checked?", Verdict.WARNING,
                    "no: certificate verification is off in this profile, so anyone on the "
                    "network can pose as the PACS and read what is sent; set the PACS's CA "
                    "file and turn verification on")
    try:
        echo = await courier.echo(node)
    except CourierError as exc:
        yield Check(f"Is {where} reachable and does it accept {node.calling_aet}?",
                    Verdict.FAILED, exc.title, exc)
        return
    yield Check(f"Is {where} reachable and does it accept {node.calling_aet}?", Verdict.OK,
                f"yes, echo answered in {echo.round_trip_ms:.1f} ms")

    question = f"May {node.calling_aet} search {node.called_aet}?"
    query = FindQuery(QueryLevel.STUDY, QueryModel.STUDY, {"StudyInstanceUID": _probe_uid()})
    try:
        async for _match in courier.find(node, query):
            pass
        yield Check(question, Verdict.OK, "yes, a C-FIND was answered")
    except AssociationAborted as exc:
        yield Check(question, Verdict.FAILED,
                    f"no: {node.called_aet} aborted the search; it probably does not know our "
                    f"AE title {node.calling_aet}", exc)
    except CourierError as exc:
        yield Check(question, Verdict.FAILED, exc.title, exc)

    for dest in node.destinations:
        async for check in _check_destination(courier, node, dest):
            yield check


async def _check_destination(courier: Courier, node: PacsNode,
                             dest: Destination) -> AsyncIterator[Check]:
    question = f"Does {node.called_aet} know the destination {dest.ae_title}?"
    request = MoveRequest(MoveTarget(study_uid=_probe_uid()), dest.ae_title, QueryModel.STUDY)
    result = await courier.move(node, request).run()
    error = result.error
    echoed = error.echo if isinstance(error, DestinationFault) else None
    if isinstance(error, MoveDestinationUnknown):  # the diagnosis's DestinationUnknown too
        yield Check(question, Verdict.FAILED, f"no (0xA801): {error.action}", error)
    elif isinstance(error, DestinationDown):
        yield Check(question, Verdict.UNCLEAR,
                    f"cannot tell while {dest.ae_title} does not answer: "
                    f"{node.called_aet} answered 0x{error.status or 0:04X} to a probe move, "
                    f"and {error.title}", error)
    elif result.status == 0x0000:
        yield Check(question, Verdict.UNCLEAR,
                    "not refused: it accepted a probe move of a study that does not exist "
                    "(nothing was sent). An unknown destination is refused with 0xA801 by most "
                    "PACS, but some (dcmqrscp) look at the destination only when something "
                    "matches, so only a real send proves it")
    elif error is not None and error.status is not None and (error.status & 0xF000) == 0xC000:
        yield Check(question, Verdict.UNCLEAR,
                    f"cannot tell: {node.called_aet} answered 0x{error.status:04X} without "
                    "details, as some PACS (Orthanc) do for an unknown destination and for a "
                    "study that does not exist alike; check its DICOM node list", error)
    elif error is not None:
        yield Check(question, Verdict.FAILED, error.title, error)

    reach = f"Does {dest.ae_title} answer at its address?"
    if not (dest.host and dest.port):
        yield Check(reach, Verdict.SKIPPED,
                    "no address saved for it (save it as AET@HOST:PORT to check)")
        return
    if echoed is not None and echoed.reach is not Reach.UNCHECKED:
        yield _reach_check(reach, dest, echoed, error)  # the probe's diagnosis already asked
        return
    address = f"{dest.host}:{dest.port}"
    try:
        echo = await courier.echo(destination_as_pacs(node, dest))
    except CourierError as exc:
        yield _reach_check(reach, dest, finding_of(address, exc), exc)
    else:
        yield _reach_check(reach, dest, finding_of(address, None, ms=echo.round_trip_ms), None)


def _reach_check(question: str, dest: Destination, found: DestinationEcho,
                 error: CourierError | None) -> Check:
    """The answer to "does it answer?", in the destination diagnosis's words."""
    if found.reach is Reach.ANSWERS:
        return Check(question, Verdict.OK, f"yes, {found.address}: {found.finding}")
    return Check(question, Verdict.FAILED,
                 f"no: {dest.ae_title} did not answer at {found.address} ({found.finding})",
                 error)
