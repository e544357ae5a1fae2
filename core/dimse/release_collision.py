"""A workaround for pynetdicom 3.0 when the PACS asks to release first (PS3.8 7.2.2, 9.2).

Some PACS send their own A-RELEASE-RQ right after the final response. If pynetdicom's
state machine takes that request in (Sta6 + Evt12, AR-2: "awaiting the local A-RELEASE
response", Sta8) before our own A-RELEASE request primitive reaches it, it meets our request
as Evt11 in Sta8, which its transition table lacks: the reader thread dies with "Invalid
event 'Evt11' for the current state 'Sta8'" (a traceback), and the association is left to
time out. ``ACSE.negotiate_release`` never looks for a request from the peer before sending
its own, and even if it did, the peer's PDU can arrive between that look and the moment the
reader thread handles our primitive.

In PS3.8 terms both sides want the association to end, and what is left to do locally is to
answer the peer's request: the A-RELEASE response primitive (Sta8 + Evt14, AR-4: send
A-RELEASE-RP, then Sta13). :func:`install` wraps one association's ``do_action`` so that:

- Sta8 + Evt11: our queued A-RELEASE request becomes the response, pynetdicom's own AR-4
  runs, and the local user (``negotiate_release``) gets an affirmative A-RELEASE
  confirmation on the to-user queue: the release is complete;
- Evt11 or Evt14 in Sta13 or Sta1, when the association is ending already: dropped. After
  we answered the peer's request (pynetdicom's reactor may answer it before our release
  starts, and ``negotiate_release`` answers the peer's indication a second time, taking it
  for a collision) our request is confirmed the same way; after an abort (AA-8, e.g. a peer
  that sends A-RELEASE-RP before ours in a collision, Sta9 + Evt13, as PS3.8 9.2 prescribes)
  the user already has the A-P-ABORT indication.

Every other event goes to pynetdicom unchanged; the collision proper (our request first:
Sta7 + Evt12, AR-8, Sta9 and Sta11) already works there.

Upstream fix: ``ACSE.negotiate_release`` answers with ``send_release(is_response=True)``
when ``is_release_requested()``, and ``fsm.TRANSITION_TABLE`` maps ("Evt11", "Sta8") to an
action that sends A-RELEASE-RP and confirms the release to the local user (as above), which
also closes the race inside the DUL thread.
"""

from __future__ import annotations

import contextlib
import queue
from typing import TYPE_CHECKING

from pynetdicom import evt
from pynetdicom.pdu_primitives import A_RELEASE

if TYPE_CHECKING:
    from pynetdicom.dul import DULServiceProvider
    from pynetdicom.events import Event

_LOCAL_RELEASE_REQUEST = "Evt11"  # A-RELEASE request primitive (ours)
_LOCAL_RELEASE_RESPONSE = "Evt14"  # A-RELEASE response primitive (ours)
_AWAITING_LOCAL_RESPONSE = "Sta8"  # the peer asked to release; we have not answered
#: A-RELEASE-RP or A-ABORT sent, waiting for the connection to close (Sta13); closed (Sta1).
_ENDING = frozenset({"Sta13", "Sta1"})


def install(event: Event) -> None:
    """Wrap this association's state machine (see the module doc). Idempotent.

    Runs on: pynetdicom's reader thread, at EVT_CONN_OPEN (before any PDU is read).
    """
    dul = event.assoc.dul
    machine = dul.state_machine
    if getattr(machine, "_courier_release_fix", False):
        return
    original = machine.do_action
    answered = False  # we sent A-RELEASE-RP to the peer's A-RELEASE-RQ (AR-4)

    def do_action(fsm_event: str) -> None:
        nonlocal answered
        state = machine.current_state
        if fsm_event == _LOCAL_RELEASE_REQUEST and state == _AWAITING_LOCAL_RESPONSE:
            dul.to_provider_queue.queue[0].result = "affirmative"  # ours becomes the answer
            original(_LOCAL_RELEASE_RESPONSE)
            answered = True
            _confirm(dul)
            return
        if state in _ENDING and fsm_event in (_LOCAL_RELEASE_REQUEST, _LOCAL_RELEASE_RESPONSE):
            with contextlib.suppress(queue.Empty):  # nothing left to do with it
                dul.to_provider_queue.get(False)
            if answered and fsm_event == _LOCAL_RELEASE_REQUEST:
                _confirm(dul)
            return
        original(fsm_event)
        if fsm_event == _LOCAL_RELEASE_RESPONSE and state == _AWAITING_LOCAL_RESPONSE:
            answered = True

    machine.do_action = do_action  # type: ignore[method-assign, assignment]
    machine._courier_release_fix = True  # type: ignore[attr-defined]


def _confirm(dul: DULServiceProvider) -> None:
    """Tell the local user the release is complete (an A-RELEASE confirmation)."""
    confirmation = A_RELEASE()
    confirmation.result = "affirmative"
    dul.to_user_queue.put(confirmation)


#: Bind to every association we request (``core.association.open_association``).
RELEASE_COLLISION_HANDLERS: list[evt.EventHandlerType] = [(evt.EVT_CONN_OPEN, install)]
