"""Review of issue 12 §1: a row must show while the PACS holds the next answer's data set.

The lean reader tells the search "more responses are already buffered" (``more_buffered``)
when a whole further PDU is in its buffer, and the search then holds the row back for the next
one. A whole PDU is not a whole response: a PACS that has sent the next answer's command set
(one PDU) but not yet its data set leaves the row unshown until that data set comes, or until
the idle timeout ends the search. pynetdicom's path shows it at once (its queue holds only
complete messages).
"""

from __future__ import annotations

import asyncio
import time

import pytest
from pydicom.dataset import Dataset

from dicom_courier.core.config.profiles import PacsNode, Timeouts
from dicom_courier.core.dimse.engine import Courier
from dicom_courier.core.dimse.read_path import LEAN, PYNETDICOM, READ_PATH_ENV
from dicom_courier.core.qr.query import FindQuery, QueryLevel
from tests.fakes.pdu_peer import (
    C_FIND_RSP,
    PduPeer,
    PeerConnection,
    encode_dataset,
    p_data,
    pdv,
    response_command,
)
from tests.fakes.read_paths import READ_PATHS

IDLE = 6.0


def _command(conn: PeerConnection, status: int) -> bytes:
    request = conn.last_request
    assert request is not None
    return p_data(pdv(request.context_id, response_command(
        C_FIND_RSP, request.affected_sop_class(), request.message_id(), status,
        has_data_set=True), command=True, last=True))


def _one_row_then_the_next_command(conn: PeerConnection) -> None:
    """One whole Pending answer, then (same send) the next answer's command set; its data
    set is held (a PACS still looking it up)."""
    conn.accept()
    request = conn.read_request()
    assert request is not None
    match = Dataset()
    match.QueryRetrieveLevel = "STUDY"
    match.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.12.1"
    conn.send(_command(conn, 0xFF00)
              + p_data(pdv(request.context_id, encode_dataset(match), command=False, last=True))
              + _command(conn, 0xFF00))
    time.sleep(IDLE + 2)


@pytest.mark.network
@pytest.mark.parametrize("path", READ_PATHS)
def test_a_row_shows_while_the_pacs_holds_the_next_data_set(
        path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(READ_PATH_ENV, path)
    assert path in (LEAN, PYNETDICOM)
    node_timeouts = Timeouts(connect=3, acse=5, idle=IDLE, total=None)
    with PduPeer(_one_row_then_the_next_command) as peer, Courier(cancel_grace=1.0) as courier:
        node = PacsNode(name="held", called_aet="HELD", host="127.0.0.1", port=peer.port,
                        timeouts=node_timeouts)

        async def first_row_after() -> float:
            started = time.monotonic()
            op = courier.find(node, FindQuery(level=QueryLevel.STUDY), raise_on_error=False)
            async for _ in op:
                return time.monotonic() - started
            raise AssertionError("no row arrived")

        seconds = asyncio.run(first_row_after())
    assert seconds < 2, f"{path}: the row showed only after {seconds:.1f} s (idle {IDLE:g} s)"
