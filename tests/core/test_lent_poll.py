"""Issue 12 §2: while our lean reader has the socket, pynetdicom's reader thread sleeps.

pynetdicom's reader thread asks its socket ``ready`` every 1 ms (``_run_loop_delay``), for every
association, even while the socket is lent to our lean reader and it may not read: a thousand
wake-ups a second per association, each taking the interpreter lock from the window. While
lent, ``GuardedSocket.ready`` now waits (``watchdog.LENT_POLL``) for the loan to end, and the
give-back wakes it at once, so the release after the final response is as prompt as before.

Here ``LENT_POLL`` is made 30 s: a reader that was not woken by the give-back would hold the
release past our release limit (2 s), and the PACS would get an A-ABORT instead.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from dicom_courier.core.config.profiles import PacsNode, Timeouts
from dicom_courier.core.dimse import watchdog
from dicom_courier.core.dimse.engine import Courier
from dicom_courier.core.dimse.read_path import LEAN, READ_PATH_ENV
from dicom_courier.core.qr.query import FindQuery
from tests.core.test_lean_reader import _match
from tests.fakes.pdu_peer import (
    C_FIND_RSP,
    RELEASE_RQ,
    PduPeer,
    PeerConnection,
    encode_dataset,
    p_data,
    pdv,
    response_command,
)

HOLD = 0.4  # seconds the PACS waits before answering (the socket is lent all that time)


def _slow_answer(conn: PeerConnection) -> None:
    conn.accept()
    request = conn.read_request()
    assert request is not None
    time.sleep(HOLD)
    ctx, sop, msg = request.context_id, request.affected_sop_class(), request.message_id()
    out = b""
    for i in range(3):
        command = response_command(C_FIND_RSP, sop, msg, 0xFF00, has_data_set=True)
        out += p_data(pdv(ctx, command, command=True, last=True))
        out += p_data(pdv(ctx, encode_dataset(_match(i)), command=False, last=True))
    out += p_data(pdv(ctx, response_command(C_FIND_RSP, sop, msg, 0x0000), command=True,
                      last=True))
    conn.send(out)
    conn.release_if_asked()


@pytest.mark.network
def test_the_reader_thread_sleeps_while_lent_and_wakes_for_the_release(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(READ_PATH_ENV, LEAN)
    monkeypatch.setattr(watchdog, "LENT_POLL", 30.0)
    asked = {"lent": 0, "free": 0}
    lock = threading.Lock()
    original = watchdog.GuardedSocket.ready.fget
    assert original is not None

    def counting_ready(self: watchdog.GuardedSocket) -> bool:
        with lock:
            asked["lent" if self.lent else "free"] += 1
        return bool(original(self))

    monkeypatch.setattr(watchdog.GuardedSocket, "ready", property(counting_ready))
    with PduPeer(_slow_answer) as peer:
        node = PacsNode(name="lent", called_aet="LEAN", host="127.0.0.1", port=peer.port,
                        timeouts=Timeouts(connect=3, acse=5, idle=5, total=None))
        with Courier(cancel_grace=1.0) as courier:
            async def scenario() -> Any:
                op = courier.find(node, FindQuery(), raise_on_error=False)
                rows = [m async for m in op]
                return rows, op.result

            rows, result = asyncio.run(scenario())
        time.sleep(0.2)  # let the peer record what arrived before the close
        received = peer.connections[0].received.pdu_types
    assert len(rows) == 3 and result.error is None and result.count == 3
    # Lent for HOLD seconds: pynetdicom's 1 ms poll asked hundreds of times; now it waits.
    assert asked["lent"] <= 5, f"pynetdicom's reader asked {asked['lent']} times while lent"
    assert asked["free"] > 0  # it reads again after the give-back ...
    # ... at once: the release went out and was answered; no A-ABORT (a reader still asleep
    # would have held the release past the release limit).
    assert RELEASE_RQ in received
    assert peer.connections[0].received.aborts == 0
