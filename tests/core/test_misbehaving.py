"""Sanity checks of the misbehaving fakes, with a raw pynetdicom SCU."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.association import Association
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    PatientRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)

from dicom_courier.core.dimse.transport import NODELAY_HANDLERS
from tests.fakes import AbortingScp, EndlessPendingScp, RejectingScp, StallingScp, StatusScp

FIND = StudyRootQueryRetrieveInformationModelFind
MOVE = StudyRootQueryRetrieveInformationModelMove


@pytest.fixture
def scu() -> Iterator[AE]:
    ae = AE(ae_title="TESTSCU")
    for model in (Verification, FIND, MOVE, PatientRootQueryRetrieveInformationModelFind):
        ae.add_requested_context(model)
    ae.acse_timeout = ae.network_timeout = 5
    ae.dimse_timeout = 0.5  # how long a stalled peer may keep us waiting
    yield ae
    ae.shutdown()


@contextmanager
def associated(ae: AE, port: int) -> Iterator[Association]:
    assoc = ae.associate("127.0.0.1", port, evt_handlers=NODELAY_HANDLERS)
    assert assoc.is_established
    try:
        yield assoc
    finally:
        if assoc.is_established:
            assoc.release()


def study_query() -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    ds.StudyInstanceUID = ""
    ds.PatientName = ""
    return ds


def responses(assoc: Association, model: str, limit: int = 100, cancel_after: int = 0,
              msg_id: int = 1) -> list[Dataset]:
    """The statuses of one C-FIND or C-MOVE, optionally sending C-CANCEL after some."""
    if model == MOVE:
        stream = assoc.send_c_move(study_query(), "ANYWHERE", MOVE, msg_id=msg_id)
    else:
        stream = assoc.send_c_find(study_query(), model, msg_id=msg_id)
    statuses = []
    for status, _ in stream:
        statuses.append(status)
        if len(statuses) == cancel_after:
            assoc.send_c_cancel(msg_id, query_model=model)
        if len(statuses) >= limit:
            break
    return statuses


def eventually(condition: Callable[[], bool], seconds: float = 2.0) -> bool:
    """pynetdicom marks an association aborted a moment after the last response is read."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def codes(statuses: list[Dataset]) -> list[int | None]:
    return [status.get("Status") for status in statuses]


@pytest.mark.network
def test_echo_works_on_every_fake(scu: AE) -> None:
    for fake in (StallingScp(), EndlessPendingScp(), AbortingScp(), StatusScp(0xC000)):
        with fake, associated(scu, fake.port) as assoc:
            assert assoc.send_c_echo().Status == 0x0000


@pytest.mark.parametrize("model", [FIND, MOVE])
@pytest.mark.network
def test_stalling_sends_pending_then_goes_silent(scu: AE, model: str) -> None:
    with StallingScp(stall_after_pending=2) as fake:
        with associated(scu, fake.port) as assoc:
            statuses = responses(assoc, model)
            # pynetdicom's SCU gives up after dimse_timeout: an empty status, then abort
            assert codes(statuses) == [0xFF00, 0xFF00, None]
            assert eventually(lambda: assoc.is_aborted)
        if model == MOVE:
            assert [s.NumberOfCompletedSuboperations for s in statuses[:2]] == [1, 2]
            assert [s.NumberOfRemainingSuboperations for s in statuses[:2]] == [11, 10]
        started = time.monotonic()
    assert time.monotonic() - started < 2


@pytest.mark.network
def test_stalling_is_released_by_stop_while_the_peer_waits(scu: AE) -> None:
    fake = StallingScp().start()
    scu.dimse_timeout = 30
    seen: list[Dataset] = []

    def wait_for_answer() -> None:
        with associated(scu, fake.port) as assoc:
            seen.extend(responses(assoc, FIND))

    client = threading.Thread(target=wait_for_answer)
    client.start()
    time.sleep(0.2)
    started = time.monotonic()
    fake.stop()
    client.join(timeout=5)
    assert time.monotonic() - started < 2
    assert not client.is_alive()
    assert 0x0000 not in codes(seen)


@pytest.mark.parametrize("model", [FIND, MOVE])
@pytest.mark.network
def test_endless_pending_ends_only_on_cancel(scu: AE, model: str) -> None:
    with EndlessPendingScp(interval=0.02) as fake, associated(scu, fake.port) as assoc:
        statuses = responses(assoc, model, cancel_after=5, msg_id=3)
    assert all(code == 0xFF00 for code in codes(statuses[:5]))
    assert codes(statuses)[-1] == 0xFE00
    if model == MOVE:
        assert statuses[0].NumberOfRemainingSuboperations == 10
        assert statuses[-1].NumberOfRemainingSuboperations == 10
        assert statuses[-1].NumberOfCompletedSuboperations == 0


@pytest.mark.network
def test_endless_pending_stops_promptly(scu: AE) -> None:
    with EndlessPendingScp(interval=0.02) as fake, associated(scu, fake.port) as assoc:
        statuses = responses(assoc, MOVE, limit=3)
        started = time.monotonic()
        fake.stop()
        assert time.monotonic() - started < 2
    assert codes(statuses) == [0xFF00] * 3


@pytest.mark.parametrize("model", [FIND, MOVE])
@pytest.mark.network
def test_aborting_sends_pending_then_aborts(scu: AE, model: str) -> None:
    with AbortingScp(after_pending=2) as fake, associated(scu, fake.port) as assoc:
        statuses = responses(assoc, model)
        assert codes(statuses)[:2] == [0xFF00, 0xFF00]
        assert 0x0000 not in codes(statuses)
        assert eventually(lambda: assoc.is_aborted)


@pytest.mark.network
def test_rejecting_refuses_unknown_calling_aet(scu: AE) -> None:
    with RejectingScp(allowed_calling_aets=["FRIEND"]) as fake:
        assoc = scu.associate("127.0.0.1", fake.port)
        assert assoc.is_rejected
        rejection = assoc.acceptor.primitive
        assert rejection is not None
        assert (rejection.result, rejection.result_source, rejection.diagnostic) == (1, 1, 3)

        friend = AE(ae_title="FRIEND")
        friend.add_requested_context(Verification)
        accepted = friend.associate("127.0.0.1", fake.port)
        assert accepted.is_established
        accepted.release()


@pytest.mark.parametrize("final", [0xC000, 0xA900, 0xA701, 0xB000, 0xFE00])
@pytest.mark.network
def test_status_move_reports_counts_and_failed_uids(scu: AE, final: int) -> None:
    with StatusScp(final, "made-up trouble") as fake, associated(scu, fake.port) as assoc:
        statuses = responses(assoc, MOVE)
    assert codes(statuses) == [0xFF00, 0xFF00, final]
    last = statuses[-1]
    assert last.NumberOfCompletedSuboperations == 2
    assert (last.NumberOfFailedSuboperations if final != 0xFE00 else
            last.NumberOfRemainingSuboperations) == 1
    assert last.ErrorComment == "made-up trouble"


@pytest.mark.network
def test_status_move_identifier_lists_failed_uids(scu: AE) -> None:
    with StatusScp(0xB000, completed=1, failed=2) as fake, associated(scu, fake.port) as assoc:
        final, failures = list(assoc.send_c_move(study_query(), "ANYWHERE", MOVE))[-1]
    assert final.Status == 0xB000
    assert failures is not None
    assert list(failures.FailedSOPInstanceUIDList) == fake.failed_uids


@pytest.mark.parametrize(("final", "count"), [(0xA801, 0), (0x0000, 3)])
@pytest.mark.network
def test_status_move_without_failures(scu: AE, final: int, count: int) -> None:
    with StatusScp(final, completed=3, failed=0) as fake, associated(scu, fake.port) as assoc:
        statuses = responses(assoc, MOVE)
    assert codes(statuses)[-1] == final
    assert len(statuses) == count + 1


@pytest.mark.network
def test_status_find(scu: AE) -> None:
    with StatusScp(0xC001, "no", find_matches=2) as fake, associated(scu, fake.port) as assoc:
        statuses = responses(assoc, FIND)
    assert codes(statuses) == [0xFF00, 0xFF00, 0xC001]
    assert statuses[-1].ErrorComment == "no"


def test_status_rejects_impossible_combinations() -> None:
    with pytest.raises(ValueError, match="Pending"):
        StatusScp(0xFF00)
    with pytest.raises(ValueError, match="Success"):
        StatusScp(0x0000, failed=1)
    with pytest.raises(ValueError, match="sub-operations"):
        StatusScp(0xC000, failed=0)
