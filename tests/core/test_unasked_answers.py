"""Issue 8, second review: what Courier says must follow from what the PACS and we really did.

Rows on the PDU-level rig (tests/fakes/pdu_peer.py), each asserting what a person sees:

1. a send we cancelled, or one the PACS had started (Pending counted sub-operations), is not
   blamed on the PACS's list of DICOM nodes;
2. 0xA801 from a DCMTK-family PACS (dcmqrscp, Orthanc) means "not in its list", even when the
   destination is also down: both facts are said, and the send is never retried;
3. explicit zero counts read "found nothing to send" whatever the final Success/Warning status;
4. a search the PACS cut short with a 0xFE00 we did not ask for is reported as incomplete, and a
   move by keys refuses to send from it;
5. an A-ABORT from source 0 shows no reason (PS3.8 9.3.8: its reason field is not significant).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydicom.dataset import Dataset

from dicom_courier.core.cli import render
from dicom_courier.core.cli.main import run
from dicom_courier.core.config.profiles import Destination, PacsNode, Timeouts
from dicom_courier.core.dimse.abort_report import abort_facts, ended_early_error
from dicom_courier.core.dimse.destination_check import (
    DestinationDown,
    DestinationFault,
    DestinationUnknown,
)
from dicom_courier.core.dimse.engine import Courier
from dicom_courier.core.dimse.find import SearchCutShort
from dicom_courier.core.jobs.retry import RetryPolicy
from dicom_courier.core.outcome.errors import NothingMatched, Peer
from dicom_courier.core.outcome.events import MoveOutcome, MoveResult
from dicom_courier.core.qr.query import FindQuery, MoveRequest, MoveTarget
from tests.fakes.pdu_peer import (
    C_FIND_RSP,
    C_MOVE_RSP,
    Count,
    PduPeer,
    PeerConnection,
    encode_dataset,
)
from tests.peers import reserve_dead_port

AET = "RIG"
DEST = "WS3"
STUDY = "1.2.826.0.1.3680043.8.498.4242"
DCMTK = ("1.2.276.0.7230010.3.0.3.6.7", "OFFIS_DCMTK_367")  # dcmqrscp, and Orthanc 1.10
ORTHANC = ("1.2.826.0.1.3680043.9.7433.1.99", "ORTHANC_1_12_4")
Counts = tuple[Count, Count, Count, Count]
WAIT_CANCEL = "wait for C-CANCEL"


@pytest.fixture
def dead_port() -> Iterator[int]:
    sock = reserve_dead_port()
    try:
        yield int(sock.getsockname()[1])
    finally:
        sock.close()


def _node(port: int, dest_port: int | None = None) -> PacsNode:
    dests = () if dest_port is None else (Destination(DEST, "127.0.0.1", dest_port),)
    return PacsNode(name="rig", called_aet=AET, host="127.0.0.1", port=port,
                    timeouts=Timeouts(connect=3, acse=5, idle=5), destinations=dests)


def _move_script(steps: list[Any], version: tuple[str, str] | None = None,
                 cancels: list[int] | None = None) -> Callable[[PeerConnection], None]:
    """A PACS answering the C-MOVE with ``steps``: (status, counts) responses, or WAIT_CANCEL
    (read the next request, which must be our C-CANCEL; its command field goes to ``cancels``)."""
    def script(conn: PeerConnection) -> None:
        conn.accept(**({} if version is None else
                       {"implementation_uid": version[0], "version_name": version[1]}))
        request = conn.read_request()
        assert request is not None
        for step in steps:
            if step == WAIT_CANCEL:
                got = conn.read_request(timeout=5)
                if cancels is not None and got is not None:
                    cancels.append(got.command_field())
                continue
            status, counts = step
            conn.respond(request, C_MOVE_RSP, status, counts=counts)
        conn.release_if_asked()
    return script


def _move(script: Callable[[PeerConnection], None], dest_port: int | None = None, *,
          cancel_on_first: bool = False) -> MoveResult:
    with PduPeer(script) as peer, Courier(cancel_grace=3.0) as courier:
        async def scenario() -> MoveResult:
            op = courier.move(_node(peer.port, dest_port), MoveRequest(MoveTarget(STUDY), DEST))
            cancel = cancel_on_first
            async for _ in op:
                if cancel:  # on the first Pending, as a person pressing Cancel
                    op.cancel()
                    cancel = False
            return op.result

        return asyncio.run(scenario())


def _retries(result: MoveResult) -> int:
    policy, attempt = RetryPolicy(), 1
    while policy.next_delay(result, attempt) is not None:
        attempt += 1
    return attempt - 1


# ---------------------------------------------------------------- 1. cancelled or started


@pytest.mark.network
def test_a_send_we_cancelled_is_not_blamed_on_the_destination_list(dead_port: int) -> None:
    """Pending (10,0,0,0), our C-CANCEL, then a comment-less 0xC000: Courier said "RIG most
    likely does not have WS3 in its list of DICOM nodes … Queued sends try once more"."""
    cancels: list[int] = []
    result = _move(_move_script([(0xFF00, (10, 0, 0, 0)), WAIT_CANCEL, (0xC000, None)],
                                version=DCMTK, cancels=cancels),
                   dead_port, cancel_on_first=True)
    assert cancels == [0x0FFF]  # the PACS did get our C-CANCEL
    assert result.cancel_sent
    assert not isinstance(result.error, DestinationFault), result.error
    text = result.error.render() if result.error is not None else ""
    assert "most likely does not have" not in text and "try once more" not in text
    assert "did not answer at" not in text


@pytest.mark.network
def test_a_send_the_pacs_had_started_is_not_blamed_on_the_destination(dead_port: int) -> None:
    """No cancel: the PACS counted 10 sub-operations (it accepted WS3), then 0xC000."""
    result = _move(_move_script([(0xFF00, (10, 0, 0, 0)), (0xC000, None)], version=DCMTK),
                   dead_port)
    assert result.pending_counted and not result.cancel_sent
    assert not isinstance(result.error, DestinationFault), result.error


@pytest.mark.network
def test_pending_failures_then_a702_are_still_diagnosed(dead_port: int) -> None:
    """Sub-operations that failed one by one (Pending with failures) still point at WS3."""
    result = _move(_move_script([(0xFF00, (5, 0, 1, 0)), (0xA702, (0, 0, 6, 0))],
                                version=DCMTK), dead_port)
    assert isinstance(result.error, DestinationDown), result.error
    assert f"did not answer at 127.0.0.1:{dead_port}" in result.error.title


# ---------------------------------------------------------------- 2. 0xA801 by family


@pytest.mark.parametrize("version", [DCMTK, ORTHANC], ids=["dcmtk", "orthanc"])
@pytest.mark.network
def test_a801_from_a_dcmtk_family_pacs_means_unknown_even_when_down(
        version: tuple[str, str], dead_port: int) -> None:
    result = _move(_move_script([(0xA801, None)], version=version), dead_port)
    error = result.error
    assert type(error) is DestinationUnknown, error
    assert error.title == (f"{AET} does not know the destination {DEST}, and {DEST} does not "
                           f"answer at 127.0.0.1:{dead_port} either.")
    assert "nothing points at the PACS itself" not in error.render()
    assert f"listens on port {dead_port}" in error.action
    assert _retries(result) == 0  # permanent until the PACS's list is fixed


@pytest.mark.network
def test_a801_from_a_pynetdicom_pacs_with_the_destination_down_stays_down(
        dead_port: int) -> None:
    result = _move(_move_script([(0xA801, None)],
                                version=("1.2.826.0.1.3680043.9.3811.2.1.0",
                                         "PYNETDICOM_210")), dead_port)
    assert type(result.error) is DestinationDown, result.error
    assert _retries(result) > 0


# ---------------------------------------------------------------- 3. explicit zeros


@pytest.mark.parametrize("status", [0x0000, 0xB000, 0xB007])
@pytest.mark.network
def test_explicit_zeros_read_nothing_matched_whatever_the_final_status(
        status: int, dead_port: int) -> None:
    result = _move(_move_script([(status, (0, 0, 0, 0))]), dead_port)
    assert result.outcome is MoveOutcome.FAILED
    assert isinstance(result.error, NothingMatched), result.error
    assert result.error.title == f"{AET} found nothing to send."


# ---------------------------------------------------------------- 4. a search cut short


def _study(name: str, uid: str) -> bytes:
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    ds.PatientName = name
    ds.StudyInstanceUID = uid
    return encode_dataset(ds)


def _cut_short_pacs(moves: list[str]) -> Callable[[PeerConnection], None]:
    """One Pending match, then a final 0xFE00 nobody asked for; C-MOVEs are recorded."""
    def script(conn: PeerConnection) -> None:
        conn.accept()
        request = conn.read_request()
        assert request is not None
        if request.command_field() == 0x0021:
            moves.append("move")
            conn.respond(request, C_MOVE_RSP, 0x0000, counts=(0, 1, 0, 0))
        else:
            conn.respond(request, C_FIND_RSP, 0xFF00, identifier=_study("A^ONE", "1.2.3.1"))
            conn.respond(request, C_FIND_RSP, 0xFE00)
        conn.release_if_asked()
    return script


@pytest.fixture
def wide_consoles(monkeypatch: pytest.MonkeyPatch) -> None:
    for console in (render.stdout, render.stderr):
        monkeypatch.setattr(console, "width", 2000)


@pytest.mark.network
def test_the_engine_reports_an_unasked_fe00_as_a_cut_short_search() -> None:
    with PduPeer(_cut_short_pacs([])) as peer, Courier() as courier:
        async def scenario() -> tuple[int, Any]:
            op = courier.find(_node(peer.port), FindQuery(), raise_on_error=False)
            return len([m async for m in op]), op.result
        rows, result = asyncio.run(scenario())
    assert rows == 1 and not result.cancelled and not result.is_success
    assert isinstance(result.error, SearchCutShort)


@pytest.mark.usefixtures("wide_consoles")
@pytest.mark.network
def test_find_says_the_list_may_be_incomplete_and_exits_3(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with PduPeer(_cut_short_pacs([])) as peer:
        code = run(["--config-dir", str(tmp_path), "find", "--host", "127.0.0.1", "--port",
                    str(peer.port), "--aet", AET, "-k", "PatientName=*"])
    out, err = capsys.readouterr()
    assert code == 3
    assert "A, ONE" in out and "1 result(s)" not in out  # the table words names for people
    assert "RIG stopped the search before the end: the list may be incomplete" in err


@pytest.mark.usefixtures("wide_consoles")
@pytest.mark.network
def test_move_by_keys_refuses_to_send_a_list_the_pacs_cut_short(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    moves: list[str] = []
    with PduPeer(_cut_short_pacs(moves)) as peer:
        code = run(["--config-dir", str(tmp_path), "move", "--host", "127.0.0.1", "--port",
                    str(peer.port), "--aet", AET, "--dest", "WS", "-k", "PatientName=*"])
    err = capsys.readouterr().err
    assert code == 1 and moves == []
    assert "RIG stopped the search before the end: the list may be incomplete" in err
    assert "Nothing was sent" in err


# ---------------------------------------------------------------- 5. abort source 0


def test_an_application_abort_shows_no_reason() -> None:
    facts = abort_facts((0, 6))
    assert facts["Abort reason"] == "not given (source 0 carries none)"
    assert facts["Abort reason/diagnostic field (raw, not significant)"] == "6"
    error = ended_early_error(Peer(called_aet=AET, host="127.0.0.1", port=104,
                                   calling_aet="COURIER"), "send", 2, (0, 6), "its AE list")
    text = error.render()
    assert "invalid PDU parameter value" not in text
    assert abort_facts((2, 6))["Abort reason"] == \
        "invalid PDU parameter value (reason/diagnostic 6)"
