"""A shim for a pynetdicom 3.0 race: a paused association reactor still takes a DIMSE response.

Every pynetdicom ``send_*()`` call (C-ECHO, C-FIND, C-MOVE, C-STORE, ...) pauses the
association's reactor thread before it sends its request, so that the reactor cannot take the
response off ``assoc.dimse.msg_queue`` first::

    send_*():  checkpoint.clear(); while not _is_paused: sleep; send; get_msg(block=True)
    reactor:   _is_paused = True; checkpoint.wait(); _is_paused = False; get_msg(block=False)

The handshake is not atomic. When the reactor has just been woken by the previous call's
``checkpoint.set()`` but has not yet run ``_is_paused = False`` (a thread descheduled on a busy
machine), the next ``send_*()`` reads the stale ``_is_paused`` True, sends, and the reactor
then takes the response with ``get_msg(block=False)`` and drops it ("unexpected service
message"). The sender waits its whole DIMSE timeout for a response that already came.

Seen as: two concurrent sends from the demo PACS, one stuck mid-way for 30 s; the PACS's move
handler was blocked in ``send_c_store`` on its sub-association (PS3.4 C.4.2.3) waiting for a
C-STORE-RSP the workstation had sent, which the sub-association's reactor had taken. The same
window exists on our own SCU associations (a lost final C-MOVE or C-ECHO response would look
like a PACS that stopped answering).

The shim: the reactor's own non-blocking ``get_msg`` takes nothing while its checkpoint is
cleared (a ``send_*()`` or a release owns the queue). That closes the window: a ``send_*()``
sends only after it has cleared the checkpoint, and a reactor that read the checkpoint as set
before that had already set ``_is_paused`` False, so the sender was still waiting for it.
Upstream fix (pynetdicom ``Association._run_reactor``): after ``self._is_paused = False``,
``if not self._reactor_checkpoint.is_set(): continue`` before ``self.dimse.get_msg()``.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from pynetdicom.association import Association
from pynetdicom.dimse import DIMSEServiceProvider

log = logging.getLogger(__name__)

_installed = False


def install_reactor_pause_fix() -> bool:
    """Patch ``DIMSEServiceProvider.get_msg`` once per process (idempotent, thread-unsafe:
    call it during start-up, before associations run).

    Returns True if the shim is in place, False if this pynetdicom lacks the private
    attributes it relies on (``Association._reactor_checkpoint``; pynetdicom 1.5 to 3.0.x
    have it), in which case nothing is changed.
    """
    global _installed
    if _installed:
        return True
    probe = Association.__init__
    if "_reactor_checkpoint" not in probe.__code__.co_names:
        log.warning("pynetdicom has no reactor checkpoint; reactor pause fix not installed")
        return False
    original = DIMSEServiceProvider.get_msg

    def get_msg(self: DIMSEServiceProvider, block: bool = False) -> Any:
        assoc = self.assoc
        if (not block and threading.current_thread() is assoc
                and not assoc._reactor_checkpoint.is_set()):
            return None, None  # paused: the response belongs to the waiting send_*()
        return original(self, block)

    get_msg.__doc__ = original.__doc__
    get_msg.__wrapped__ = original  # type: ignore[attr-defined]
    DIMSEServiceProvider.get_msg = get_msg  # type: ignore[method-assign]
    _installed = True
    return True
