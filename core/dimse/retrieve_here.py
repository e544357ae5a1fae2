"""A send to "This computer": C-MOVE to our receiver, C-GET, or automatic (issue 13 §2).

:func:`retrieve_here` picks the way per the PACS profile's
:class:`~dicom_courier.core.config.retrieve_method.RetrieveMethod` and returns one object
with the queue's ``RunningMove`` surface (``async for`` / ``batches()`` of
:class:`MoveProgress`, ``result``, ``cancel()``, ``abort()``):

* ``move``: a C-MOVE (PS3.4 C.4.2) whose Move Destination is our receiver's AE title; the
  PACS opens its own association to our receiver (which must be running).
* ``get``: a C-GET (PS3.4 C.4.3) over our own association (:mod:`.get`), written into
  ``folder`` and published to ``hub``.
* ``auto``: the C-MOVE first; if the PACS refuses it before sending anything, with a
  status that says it cannot send to our receiver, and nobody cancelled it, a C-GET of the
  same request follows, and the result's note says so ("ORTHANC does not know COURIER as a
  destination; retrieved with C-GET instead"). Peers say "I do not know that destination"
  differently (house style: decide from facts): 0xA801 (DCMTK, PS3.4 C.4.2.1.5), 0xC000
  (Orthanc), 0xA702 (others) with no image counted; each falls back.

The result's ``destination`` is the request's (:data:`~dicom_courier.core.outcome.arrival
.HERE`). Runs on: the loop thread (the operations' own workers do the DIMSE work).
"""

from __future__ import annotations

import shlex
import threading
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dicom_courier.core.config.profiles import PacsNode
from dicom_courier.core.config.retrieve_method import RetrieveMethod
from dicom_courier.core.dimse.progress_batches import progress_batches
from dicom_courier.core.outcome.arrival import StoreRefusal
from dicom_courier.core.outcome.errors import CourierError, ReceiverError
from dicom_courier.core.outcome.events import MoveProgress, MoveResult
from dicom_courier.core.outcome.status import SAVE_ADDRESS_HINT
from dicom_courier.core.qr.query import MoveRequest

if TYPE_CHECKING:
    from dicom_courier.core.dimse.arrival_hub import ArrivalHub

#: Move destination unknown (PS3.4 C.4.2.1.5).
MOVE_DESTINATION_UNKNOWN = 0xA801
#: Out of resources: unable to perform sub-operations (what some PACS answer instead).
_CANNOT_SUB_OPERATE = 0xA702
#: The note of a retrieve to this computer done with C-GET (the row and history read
#: "completed (retrieved with C-GET)"), the same in the window, ``move`` and ``queue run``.
C_GET_NOTE = "retrieved with C-GET"
#: The note when an automatic profile went straight to C-GET because our receiver is not
#: running (turned off, or it could not start): a C-MOVE to us could not arrive.
NO_RECEIVER_NOTE = "retrieved with C-GET: the receiver is not running, C-GET needs none"


def refuses_destination(status: int | None) -> bool:
    """A final C-MOVE status with which PACS refuse a move to a destination they cannot
    send to, before sending anything: 0xA801, 0xA702, or 0xC000-0xCFFF."""
    return status is not None and (status in (MOVE_DESTINATION_UNKNOWN, _CANNOT_SUB_OPERATE)
                                   or status & 0xF000 == 0xC000)


def fallback_note(pacs: PacsNode, receiver_aet: str, status: int | None) -> str:
    """The note of an automatic retrieve that fell back to C-GET."""
    if status == MOVE_DESTINATION_UNKNOWN:
        return (f"{pacs.called_aet} does not know {receiver_aet} as a destination; "
                "retrieved with C-GET instead")
    shown = "no status" if status is None else f"0x{status:04X}"
    return (f"{pacs.called_aet} refused to send to {receiver_aet} ({shown}, nothing sent); "
            "retrieved with C-GET instead")


class HereRetrieve:
    """One retrieve to this computer (see the module). Iterate once, then read ``result``."""

    def __init__(self, courier: Any, pacs: PacsNode, request: MoveRequest, *,
                 receiver_aet: str, folder: Path, hub: ArrivalHub,
                 max_instance_mb: int | None = None, get_note: str = C_GET_NOTE) -> None:
        self.courier = courier
        #: The result's note when it used C-GET without a refused C-MOVE first.
        self.get_note = get_note
        #: The largest image a C-GET takes (MB, the receiver's setting; None: its default).
        self.max_instance_mb = max_instance_mb
        self.pacs = pacs
        self.request = request
        self.receiver_aet = receiver_aet
        self.folder = folder
        self.hub = hub
        #: The method actually used so far ("move" or "get"); "get" after a fallback.
        self.method_used: RetrieveMethod | None = None
        self._current: Any = None
        self._result: MoveResult | None = None
        self._stopped = False
        self._started = False

    @property
    def result(self) -> MoveResult:
        if self._result is None:
            raise RuntimeError("the retrieve has not finished yet")
        return self._result

    @property
    def finished(self) -> bool:
        return self._result is not None

    @property
    def cancel_requested(self) -> bool:
        return self._stopped

    def cancel(self) -> None:
        """C-CANCEL the running C-MOVE or C-GET (A-ABORT after its grace); no fallback."""
        self._stopped = True
        if self._current is not None:
            self._current.cancel()

    def abort(self) -> None:
        """A-ABORT the running operation now; no fallback."""
        self._stopped = True
        if self._current is not None:
            self._current.abort()

    def __aiter__(self) -> AsyncIterator[MoveProgress]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[MoveProgress]:
        async for batch in self.batches():
            for progress in batch:
                yield progress

    async def run(self) -> MoveResult:
        """Run to the end, ignoring the progress; return the result."""
        async for _batch in self.batches():
            pass
        return self.result

    async def batches(self) -> AsyncIterator[list[MoveProgress]]:
        """The progress in the batches the operations handed over (the queue's preference)."""
        if self._started:
            raise RuntimeError("a retrieve can be iterated only once")
        self._started = True
        method = self.pacs.retrieve
        if method is RetrieveMethod.GET:
            async for batch in self._run_get():
                yield batch
            return
        held: MoveProgress | None = None
        self.method_used = RetrieveMethod.MOVE
        refusals = _Refusals(self.pacs)  # what our receiver refused of this PACS meanwhile
        stop_hearing = self.hub.subscribe_refusals(refusals.note)
        try:
            move = self._current = self.courier.move(
                self.pacs, replace(self.request, destination=self.receiver_aet))
            if self._stopped:
                move.cancel()
            async for batch in progress_batches(move):
                if method is RetrieveMethod.AUTO and batch and _unknown_here(batch[-1]):
                    held, batch = batch[-1], batch[:-1]  # maybe the fallback's, not an end
                if batch:
                    yield batch
        finally:
            stop_hearing()
        result: MoveResult = refusals.explain(move.result, self.folder)
        if (method is RetrieveMethod.MOVE and refusals.first is None and _falls_back(result)
                and result.error is not None):
            _point_to_c_get(result.error, self.pacs, self.receiver_aet)
        if method is RetrieveMethod.AUTO and not self._stopped and _falls_back(result):
            async for batch in self._run_get(fallback=result.status):
                yield batch
            return
        if held is not None:
            yield [held]
        self._result = replace(result, destination=self.request.destination)

    async def _run_get(self, *, fallback: int | None = None
                       ) -> AsyncIterator[list[MoveProgress]]:
        """The C-GET; ``fallback``: the refused C-MOVE's status, when it replaces one."""
        self.method_used = RetrieveMethod.GET
        cap = {} if self.max_instance_mb is None else {"max_instance_mb": self.max_instance_mb}
        get = self._current = self.courier.get(self.pacs, self.request, folder=self.folder,
                                               our_aet=self.receiver_aet, hub=self.hub, **cap)
        if self._stopped:
            get.cancel()
        async for batch in progress_batches(get):
            yield batch
        result: MoveResult = get.result
        note = self.get_note if fallback is None else fallback_note(
            self.pacs, self.receiver_aet, fallback)
        result = replace(result, note=f"{note}; {result.note}" if result.note else note)
        self._result = replace(result, destination=self.request.destination)


class _Refusals:
    """What our receiver refused of ``pacs`` while a C-MOVE to it ran (any thread notes).

    A PACS whose C-STORE we refused (a full disk, an unusable folder) or whose association
    we rejected (its calling AE title is not allowed) ends the C-MOVE with its own status;
    Orthanc's is a bare 0xC000, which alone reads as "the PACS does not know us". The
    refusal is the fact: :meth:`explain` puts it first."""

    def __init__(self, pacs: PacsNode) -> None:
        self.pacs = pacs
        self._lock = threading.Lock()
        self.count = 0
        self.first: StoreRefusal | None = None

    def note(self, refusal: StoreRefusal) -> None:
        """Runs on: the receiver's association thread."""
        host = refusal.address.rpartition(":")[0] if refusal.address.count(":") == 1 \
            else refusal.address
        if refusal.calling_aet != self.pacs.called_aet and host != self.pacs.host:
            return  # another peer's (the receiver serves everyone)
        with self._lock:
            self.count += 1
            if self.first is None:
                self.first = refusal

    def explain(self, result: MoveResult, folder: Path) -> MoveResult:
        """``result`` with an error that says what this computer refused, when it refused
        something and the move did not succeed; otherwise ``result`` as it is."""
        with self._lock:
            first, count = self.first, self.count
        original = result.error
        if first is None or original is None:
            return result
        pacs = self.pacs.called_aet
        if first.status is None:  # the association was rejected
            title = f"This computer's receiver refused {pacs}'s connection."
            action = ("Allow the AE title it calls with in the receiver's settings (allowed "
                      "AE titles), then retrieve again.")
        else:
            title = f"This computer could not store {count} image(s) {pacs} sent."
            action = (f"Check the storage folder {folder} (free disk space, a folder this "
                      "user can write), or choose another, then retrieve again.")
        status = "" if result.status is None else f" with status 0x{result.status:04X}"
        details = {key: value for key, value in original.extra_details.items()
                   if not key.startswith(("Destination", "Diagnosis"))}  # not about us
        error = ReceiverError(
            title, f"{first.reason} Then {pacs} ended the send{status}.", action,
            peer=original.peer, status=original.status, comment=original.comment,
            details={**details, "Refused by this computer": f"{count} time(s): "
                                                            f"{first.reason}"})
        return replace(result, error=error)


def _point_to_c_get(error: CourierError, pacs: PacsNode, receiver_aet: str) -> None:
    """A C-MOVE to this computer the PACS refused before sending anything: the destination
    is our receiver, so say that, and that C-GET needs no address for this computer (the
    most common way out when the PACS cannot be given ours)."""
    error.explanation = error.explanation.replace(SAVE_ADDRESS_HINT.format(dest=receiver_aet),
                                                  "")
    error.explanation += (f" {receiver_aet} is this computer's built-in receiver: "
                          f"{pacs.called_aet} must have it in its list of DICOM nodes with "
                          "this computer's address and the receiver's port.")
    get = "Or retrieve with C-GET, which needs no address for this computer: "
    error.cli_action = (f"{error.command_line_action} {get}dicom-courier nodes add "
                        f"{shlex.quote(pacs.name)} … --retrieve auto --replace (or --retrieve "
                        "get).")
    error.action = (f"{error.action} {get}set this PACS profile's retrieve method to C-GET "
                    "or Automatic (Manage PACS and destinations…).")


def retrieve_here(courier: Any, pacs: PacsNode, request: MoveRequest, *, receiver_aet: str,
                  folder: Path, hub: ArrivalHub, max_instance_mb: int | None = None,
                  get_note: str = C_GET_NOTE) -> HereRetrieve:
    """Bring ``request`` from ``pacs`` to this computer, per ``pacs.retrieve`` (see the module).

    Args:
        courier: a ``Courier`` or ``ProcessCourier`` (anything with ``move`` and ``get``).
        pacs: the PACS profile; its ``retrieve`` picks C-MOVE, C-GET or automatic; its
            timeouts (seconds) bound each operation.
        request: what to retrieve; its ``destination`` (normally
            :data:`~dicom_courier.core.outcome.arrival.HERE`) is kept in the result.
        receiver_aet: our receiver's AE title: the C-MOVE's Move Destination, and our AE
            title as the receiving end of a C-GET.
        folder: where a C-GET writes (the receiver's storage folder).
        hub: where a C-GET publishes each image it wrote.
        max_instance_mb: the largest image a C-GET accepts, in MB (the receiver's
            ``max_instance_mb``, the one size rule for images coming here; None: its
            default); responses stay held to the profile's ``max_message_mb``.
        get_note: the result's note when it used C-GET (not after a refused C-MOVE, which
            says its own): :data:`C_GET_NOTE`, or :data:`NO_RECEIVER_NOTE` when an
            automatic profile was turned to C-GET because the receiver is not running.

    Returns:
        :class:`HereRetrieve` (nothing is sent before it is iterated). Never raises for a
        failed retrieve: ``result.error`` says why, as for ``Courier.move``.
    """
    return HereRetrieve(courier, pacs, request, receiver_aet=receiver_aet, folder=folder,
                        hub=hub, max_instance_mb=max_instance_mb, get_note=get_note)


def _unknown_here(progress: MoveProgress) -> bool:
    return progress.is_final and refuses_destination(progress.status) and not progress.done


def _falls_back(result: MoveResult) -> bool:
    """The C-MOVE was refused before anything was sent: the PACS cannot send to us."""
    return (result.request_sent and refuses_destination(result.status) and result.sent == 0
            and result.failed == 0 and not result.pending_counted and not result.cancel_sent)
