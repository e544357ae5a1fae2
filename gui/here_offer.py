"""When the window offers "This computer", and what its send button says then (issue 13).

A send to this computer arrives in one of two ways (:mod:`dicom_courier.core.dimse
.retrieve_here`): by C-MOVE (PS3.4 C.4.2), which needs the built-in receiver listening, or by
C-GET (PS3.4 C.4.3), which brings the images over Courier's own association and needs no
receiver. So "This computer" is offered while the receiver is turned on, or when the chosen
PACS profile retrieves with C-GET or Automatic (Automatic goes straight to C-GET while the
receiver is off: :class:`~dicom_courier.gui.receiver_wiring.HereStarter`). A C-MOVE profile
with the receiver off is not offered it: nothing could arrive.

Runs on: the GUI thread. No Qt here.
"""

from __future__ import annotations

from typing import Protocol

from dicom_courier.core.config.profiles import PacsNode
from dicom_courier.core.config.retrieve_method import RetrieveMethod
from dicom_courier.core.outcome.arrival import HERE

#: The send action's words for another node, and for this computer (access keys: W, R).
SEND_WORDS = "Send to &workstation"
RETRIEVE_WORDS = "&Retrieve to this computer"


class _Receiver(Protocol):
    @property
    def enabled(self) -> bool: ...


def here_offered(receiver: _Receiver | None, pacs: PacsNode | None) -> bool:
    """True when "This computer" belongs in the destination picker for ``pacs``: the window
    has a receiver and it is turned on, or ``pacs`` retrieves by C-GET or Automatic."""
    if receiver is None or pacs is None:
        return False
    return receiver.enabled or pacs.retrieve in (RetrieveMethod.GET, RetrieveMethod.AUTO)


def send_words(destination: object) -> str:
    """The send action's text (with its access key) for the chosen ``destination``."""
    return RETRIEVE_WORDS if destination == HERE else SEND_WORDS
