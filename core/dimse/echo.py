"""C-ECHO (PS3.7 9.1.5): is the PACS there, and does it accept us?"""

from __future__ import annotations

import time

from pynetdicom.sop_class import Verification

from dicom_courier.core.config.profiles import PacsNode
from dicom_courier.core.dimse.abort_report import ended_early_error
from dicom_courier.core.dimse.association import (
    ABORT_DEADLINE,
    ORTHANC_AE_LIST,
    OperationControl,
    finish_association,
    guard_error,
    open_association,
    peer_of,
    unexpected_error,
)
from dicom_courier.core.outcome.errors import (
    AssociationAborted,
    Cancelled,
    DeadlineExceeded,
    DimseFailure,
)
from dicom_courier.core.outcome.events import EchoResult


def echo_blocking(pacs: PacsNode, control: OperationControl | None = None) -> EchoResult:
    """Associate, C-ECHO, release. Runs on: DIMSE worker thread."""
    peer = peer_of(pacs)
    control = control or OperationControl()
    started = time.monotonic()
    assoc = open_association(pacs, [Verification], control)
    associated = time.monotonic()
    clean = False
    try:
        try:
            status = assoc.send_c_echo()
        except Exception as exc:  # noqa: BLE001 - pynetdicom on bytes it did not expect
            raise unexpected_error(exc, pacs, "echo") from None
        echoed = time.monotonic()
        if "Status" not in status:
            fault = guard_error(control, pacs, "echo")
            if fault is not None:
                raise fault
            if control.abort_reason == ABORT_DEADLINE:
                raise DeadlineExceeded(
                    f"{pacs.called_aet} did not answer the echo within the deadline of "
                    f"{pacs.timeouts.total:g} s.",
                    "We ended the association when the total deadline passed.",
                    "Check that the PACS is not overloaded, or raise the total deadline.",
                    peer=peer)
            if control.abort_reason is not None:
                raise Cancelled("The echo was stopped.", "You stopped it before the PACS "
                                "answered.", "Test again when ready.", peer=peer)
            quick = time.monotonic() - associated < pacs.timeouts.idle * 0.9
            if control.abort_reason is None and quick:
                guard = control.guard
                raise ended_early_error(peer, "echo", 0,
                                        guard.peer_abort if guard is not None else None,
                                        ORTHANC_AE_LIST)
            raise AssociationAborted(
                f"{pacs.called_aet} did not answer the echo.",
                f"No answer within {pacs.timeouts.idle:g} s.",
                "Check the PACS's log; retry.", peer=peer)
        if int(status.Status) != 0x0000:
            raise DimseFailure(
                f"{pacs.called_aet} answered the echo with status 0x{int(status.Status):04X}.",
                "The PACS is reachable but refused the verification.",
                "Check with the PACS administrator that our AE title may connect.",
                peer=peer, status=int(status.Status))
        clean = True
    finally:
        finish_association(assoc, clean=clean, guard=control.guard)
    return EchoResult(peer=peer, round_trip_ms=(echoed - associated) * 1000,
                      association_ms=(associated - started) * 1000)
