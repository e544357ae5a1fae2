"""How the window's queue reaches "This computer" and the arrival check (issue 13).

:class:`HereStarter` is the queue's ``retrieve_here`` factory: a send whose destination is
:data:`~dicom_courier.core.outcome.arrival.HERE` is retrieved per its PACS profile's method
(C-MOVE to the window's receiver, C-GET, or automatic: :mod:`dicom_courier.core.dimse
.retrieve_here`), the files written where the receiver writes. When the receiver is not
running (turned off, or its port was taken), a C-MOVE to us cannot arrive: an automatic
profile retrieves with C-GET instead, a C-MOVE profile fails at once with the reason, and the
PACS is asked nothing. :class:`ArrivalTiming` holds the arrival check's wait and re-check
interval (Preferences change them for the next send) and makes the queue's
``check_arrival`` (:func:`dicom_courier.core.jobs.arrival_phase.arrival_checker`).

Runs on: the GUI thread (the qasync loop). The engine is imported when a send starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dicom_courier.core.config.app_settings import AppSettings
from dicom_courier.core.config.profile_store import NodeStore
from dicom_courier.core.config.profiles import Destination, PacsNode
from dicom_courier.core.config.retrieve_method import RetrieveMethod
from dicom_courier.core.jobs.arrival_phase import (
    ArrivalChecker,
    NotSetUpHere,
    ReceiverNotSetUp,
    arrival_checker,
)
from dicom_courier.core.outcome.arrival import ArrivalCheck
from dicom_courier.core.outcome.errors import CourierError
from dicom_courier.core.outcome.events import MoveResult
from dicom_courier.core.qr.query import MoveRequest

if TYPE_CHECKING:
    from dicom_courier.core.dimse.arrival_hub import ArrivalHub
    from dicom_courier.gui.receiver_control import WindowReceiver


def saved_nodes(store: NodeStore) -> list[PacsNode]:
    """The saved PACS profiles, [] when the file cannot be read (the window says why
    elsewhere; the receiver's default allow-list is then empty: nobody may send)."""
    try:
        return store.load()
    except CourierError:
        return []


@dataclass(frozen=True)
class HereStarter:
    """The queue's ``retrieve_here``: ``(pacs, request) -> RunningMove`` for a send to HERE."""

    courier: Any  # Courier, ProcessCourier or DeferredCourier (move, get)
    receiver: WindowReceiver
    hub: ArrivalHub

    def __call__(self, pacs: PacsNode, request: MoveRequest) -> Any:
        from dicom_courier.core.dimse.retrieve_here import (
            C_GET_NOTE,
            NO_RECEIVER_NOTE,
            retrieve_here,
        )

        method = pacs.retrieve
        note = C_GET_NOTE  # the row says "completed (retrieved with C-GET)"
        if not self.receiver.running and method is not RetrieveMethod.GET:
            if method is RetrieveMethod.AUTO:  # no receiver: C-GET needs none
                pacs = pacs.with_changes(retrieve=RetrieveMethod.GET)
                note = NO_RECEIVER_NOTE
            else:
                return self._receiver_down(pacs, request)
        return retrieve_here(self.courier, pacs, request, receiver_aet=self.receiver.ae_title,
                             folder=self.receiver.folder, hub=self.hub,
                             max_instance_mb=self.receiver.settings.max_instance_mb,
                             get_note=note)

    def _receiver_down(self, pacs: PacsNode, request: MoveRequest) -> Any:
        if not self.receiver.enabled:
            return NotSetUpHere(pacs, request)  # its words: turn the receiver on in Preferences
        error = ReceiverNotSetUp(
            "This computer cannot receive images now: its receiver is not running.",
            f"The receiver did not start ({self.receiver.problem or 'unknown reason'}), so "
            f"{pacs.called_aet} could not send to {self.receiver.ae_title}; nothing was "
            "asked of the PACS.",
            "Fix the receiver's settings in Preferences (another port, another folder), or "
            "set this PACS profile to retrieve with C-GET, then retry the send.")
        return NotSetUpHere(pacs, request, error)


@dataclass
class ArrivalTiming:
    """The arrival check's bounded wait and re-check interval (s), as Preferences set them."""

    wait: float
    interval: float

    @classmethod
    def of(cls, settings: AppSettings) -> ArrivalTiming:
        return cls(float(settings.arrival_wait), float(settings.arrival_interval))

    def update(self, settings: AppSettings) -> None:
        """New preferences: the next send's check uses them."""
        self.wait = float(settings.arrival_wait)
        self.interval = float(settings.arrival_interval)

    def checker(self, courier: Any) -> ArrivalChecker:
        """The queue's ``check_arrival`` over ``courier``, with the wait of the moment."""

        async def check(pacs: PacsNode, dest: Destination, request: MoveRequest,
                        result: MoveResult) -> ArrivalCheck:
            run = arrival_checker(courier, wait=self.wait, interval=self.interval)
            return await run(pacs, dest, request, result)

        return check
