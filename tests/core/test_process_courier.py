"""The engine worker process (issue 12 §2): the same rows, results and errors as the in-process
engine, cancel and abort with their meaning, and a worker that dies never hangs anything.

Every network row runs the same scenario through ``Courier`` (threads) and ``ProcessCourier``
(one engine process, shared by the module: spawning costs ~0.5 s) and compares what a person
would see: the rows, the counts, the outcome, the error's class and every attribute.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import pickle
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydicom.dataset import Dataset

from dicom_courier.core.config.profile_store import SettingsFileError
from dicom_courier.core.config.profiles import PacsNode, Timeouts
from dicom_courier.core.demo.pacs import DemoPacs
from dicom_courier.core.demo.synthetic import StudySpec
from dicom_courier.core.demo.workstation import Workstation
from dicom_courier.core.dimse.destination_check import (
    DestinationDown,
    DestinationEcho,
    DestinationFault,
    DestinationUndecided,
    Reach,
)
from dicom_courier.core.dimse.engine import Courier
from dicom_courier.core.dimse.find import SearchCutShort
from dicom_courier.core.dimse.process_courier import EngineStopped, ProcessCourier
from dicom_courier.core.jobs.queue import JobState, MoveQueue
from dicom_courier.core.jobs.store_errors import StoreBusy, StoreError, StoreTooNew
from dicom_courier.core.outcome import errors
from dicom_courier.core.outcome.errors import CourierError, Peer
from dicom_courier.core.outcome.events import MoveOutcome
from dicom_courier.core.qr.query import FindQuery, MoveRequest, MoveTarget, QueryLevel, QueryModel
from tests.fakes.pdu_peer import (
    C_FIND_RSP,
    C_MOVE_RSP,
    PduPeer,
    PeerConnection,
    encode_dataset,
    find_answers,
)
from tests.waiting import until, wait_until

PEER = Peer(calling_aet="COURIER", called_aet="PACS", host="pacs.example", port=104)
STUDY = "1.2.826.0.1.3680043.8.498.4242"
GRACE = 1.0


# ---------------------------------------------------------------- errors cross the pipe whole

def _all_subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_all_subclasses(sub)]
    return list(dict.fromkeys(found))


def _example(cls: type[CourierError]) -> CourierError:
    """One instance of ``cls`` with every fact set, built the way the engine builds it."""
    context: dict[str, Any] = {"peer": PEER, "status": 0xC123, "comment": "<b>x</b>",
                               "details": {"Images": "3 of 5"}}
    echo = DestinationEcho(Reach.SILENT, "ws:104", "refused", 0.25)
    if issubclass(cls, DestinationFault):
        return cls("t", "e", "a", destination="WS", echo=echo, **context)
    if issubclass(cls, errors.AssociationRejected):
        return cls("t", "e", "a", permanent=True, reason="called AE", **context)
    if cls is errors.InvalidInput:
        return errors.InvalidInput("Port", "a number", "x" * 200)
    if cls is StoreBusy:
        return StoreBusy(Path("/tmp/jobs.db"), waited=5.0, cause="locked")
    if cls is StoreTooNew:
        return StoreTooNew(Path("/tmp/jobs.db"), 9, 3)
    if cls is StoreError:
        return StoreError(Path("/tmp/jobs.db"), "t", "e", "a", retryable=True, cause="disk")
    if issubclass(cls, StoreError):
        return cls(Path("/tmp/jobs.db"), cause="disk")  # type: ignore[call-arg]
    if cls is SettingsFileError:
        return SettingsFileError(Path("/tmp/nodes.json"), "not JSON")
    return cls("t", "e", "a", retryable=not cls.retryable, cli_action="cli", **context)


import dicom_courier.core.config.instance_lock  # noqa: E402,F401 (AlreadyRunning)
import dicom_courier.core.dimse.abort_report  # noqa: E402,F401 (PeerRejectedOurData)
import dicom_courier.core.dimse.tls  # noqa: E402,F401 (TlsError and its kinds)

ERROR_CLASSES = _all_subclasses(CourierError)


def test_the_error_list_holds_every_kind() -> None:
    names = {cls.__name__ for cls in ERROR_CLASSES}
    assert {"PeerTimeout", "InvalidInput", "CallingAeNotRecognised", "DestinationUnknown",
            "SearchCutShort", "StoreBusy", "TlsError", "EngineStopped", "AlreadyRunning",
            "PeerRejectedOurData", "SettingsFileError"} <= names
    assert {DestinationDown, DestinationUndecided, SearchCutShort, EngineStopped} <= set(
        ERROR_CLASSES)


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda cls: cls.__name__)
def test_every_error_pickles_with_every_attribute(cls: type[CourierError]) -> None:
    error = _example(cls)
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is type(error)
    assert back.__dict__ == error.__dict__
    assert back.args == error.args
    assert (back.title, back.explanation, back.action, back.command_line_action) == (
        error.title, error.explanation, error.action, error.command_line_action)
    assert (back.retryable, back.status, back.peer, back.details) == (
        error.retryable, error.status, error.peer, error.details)
    assert back.render() == error.render() and str(back) == str(error)


# ---------------------------------------------------------------- shared peers and engines

@pytest.fixture(scope="module")
def process_courier() -> Iterator[ProcessCourier]:
    with ProcessCourier(cancel_grace=GRACE) as courier:
        yield courier


def _both(process_courier: ProcessCourier,
          scenario: Callable[[Any], Any]) -> tuple[Any, Any]:
    """``scenario(courier)`` (a coroutine function) on threads, then in the engine process."""
    with Courier(cancel_grace=GRACE) as courier:
        threaded = asyncio.run(scenario(courier))
    return threaded, asyncio.run(scenario(process_courier))


def _facts(error: CourierError | None) -> tuple[Any, ...] | None:
    return None if error is None else (type(error), error.__dict__)


def _same_result(threaded: Any, remote: Any) -> None:
    """Equal but for the time taken; the errors equal in class and every attribute."""
    assert _facts(remote.error) == _facts(threaded.error)
    assert dataclasses.replace(remote, duration=0.0, error=None) == \
        dataclasses.replace(threaded, duration=0.0, error=None)


def _node(port: int, aet: str, *, idle: float = 10.0) -> PacsNode:
    return PacsNode(name="p", called_aet=aet, host="127.0.0.1", port=port,
                    timeouts=Timeouts(connect=3, acse=5, idle=idle))


MOVER = StudySpec(key="pc-move", patient_name="Mover^Max", patient_id="PM1",
                  study_date="20240101", study_time="120000", accession="PCM1",
                  description="CT <b>x</b>", modalities=("CT",), series_count=1,
                  instances_per_series=4)
SLOW = StudySpec(key="pc-slow", patient_name="Slow^Sam", patient_id="PS1",
                 study_date="20240102", study_time="120000", accession="PCS1",
                 description="MR slow", modalities=("MR",), series_count=1,
                 instances_per_series=6)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PacsNode, Workstation]]:
    with Workstation(tmp_path_factory.mktemp("inbox"), ae_title="WORKSTATION") as ws, \
            DemoPacs((MOVER, SLOW), store_delay=0.02,
                     destinations={"WORKSTATION": ("127.0.0.1", ws.port)}) as pacs:
        yield _node(pacs.port, pacs.ae_title), ws


@pytest.mark.network
def test_search_on_the_demo_pacs_gives_the_same_rows_and_result(
        process_courier: ProcessCourier, demo: Any) -> None:
    node, _ = demo

    async def search(courier: Any) -> tuple[list[Any], Any]:
        op = courier.find(node, FindQuery(QueryLevel.STUDY, QueryModel.STUDY, {}),
                          other_models=(QueryModel.PATIENT,))
        rows = [match async for match in op]
        return rows, op.result

    (rows, result), (remote_rows, remote_result) = _both(process_courier, search)
    assert rows and remote_rows == rows
    assert [r.values for r in remote_rows] == [r.values for r in rows]
    _same_result(result, remote_result)
    assert remote_result.count == len(rows) and remote_result.is_success


@pytest.mark.network
def test_search_with_an_unreadable_answer_gives_the_same_rows_and_error(
        process_courier: ProcessCourier) -> None:
    answers = [_identifier("GOOD^ONE"), _identifier("CT ABD [/w contrast]")]
    with PduPeer(find_answers(*answers, missing_after=1)) as peer:
        node = _node(peer.port, "HOSTILE")

        async def search(courier: Any) -> tuple[list[Any], Any]:
            op = courier.find(node, FindQuery(), raise_on_error=False)
            return [match async for match in op], op.result

        (rows, result), (remote_rows, remote_result) = _both(process_courier, search)
    assert remote_rows == rows and len(rows) >= 1
    assert remote_result.error is not None and "HOSTILE" in remote_result.error.render()
    _same_result(result, remote_result)


@pytest.mark.network
def test_search_on_orthanc_gives_the_same_rows_and_result(
        process_courier: ProcessCourier, orthanc: Any) -> None:
    node = _node(orthanc.port, orthanc.aet)

    async def search(courier: Any) -> tuple[list[Any], Any]:
        op = courier.find(node, FindQuery(QueryLevel.STUDY, QueryModel.STUDY, {}))
        return [match async for match in op], op.result

    (rows, result), (remote_rows, remote_result) = _both(process_courier, search)
    assert rows and sorted(map(repr, remote_rows)) == sorted(map(repr, rows))
    _same_result(result, remote_result)


@pytest.mark.network
@pytest.mark.parametrize("destination", ["WORKSTATION", "NOWHERE"])
def test_a_move_gives_the_same_progress_and_result(process_courier: ProcessCourier,
                                                   demo: Any, destination: str) -> None:
    node, _ = demo

    async def search_one(courier: Any) -> str:
        op = courier.find(node, FindQuery(QueryLevel.STUDY, QueryModel.STUDY, {}))
        return [match async for match in op][0].get("StudyInstanceUID")

    study = asyncio.run(search_one(process_courier))

    async def move(courier: Any) -> tuple[list[Any], Any]:
        op = courier.move(node, MoveRequest(MoveTarget(study), destination))
        progress = [(p.completed, p.remaining, p.status, p.is_final) async for p in op]
        return progress, op.result

    (progress, result), (remote_progress, remote_result) = _both(process_courier, move)
    assert remote_progress == progress
    _same_result(result, remote_result)
    if destination == "NOWHERE":  # the destination diagnosis ran in the engine process
        assert remote_result.outcome is MoveOutcome.FAILED
        assert isinstance(remote_result.error, DestinationFault)
    else:
        assert remote_result.outcome is MoveOutcome.COMPLETED and remote_result.completed


@pytest.mark.network
def test_an_echo_gives_the_same_result_and_the_same_error(process_courier: ProcessCourier,
                                                          demo: Any, dead_port: int) -> None:
    node, _ = demo
    remote = asyncio.run(process_courier.echo(node))
    assert remote.peer.called_aet == node.called_aet and remote.round_trip_ms >= 0

    async def refused(courier: Any) -> CourierError:
        with pytest.raises(CourierError) as caught:
            await courier.echo(_node(dead_port, "DEAD"))
        return caught.value

    threaded, remote_error = _both(process_courier, refused)
    assert _facts(remote_error) == _facts(threaded)


# ---------------------------------------------------------------- cancel keeps its meaning

def _identifier(name: str) -> bytes:
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    ds.PatientName = name
    ds.StudyInstanceUID = STUDY
    return encode_dataset(ds)


def _cancel_script(*, confirm: bool) -> Callable[[PeerConnection], None]:
    """One match, then wait for our C-CANCEL: confirm it (0xFE00) or ignore it."""
    def script(conn: PeerConnection) -> None:
        conn.accept()
        request = conn.read_request()
        assert request is not None
        conn.respond(request, C_FIND_RSP, 0xFF00, identifier=_identifier("FIRST^ONE"))
        conn.read_request()  # the C-CANCEL-RQ
        if confirm:
            conn.respond(request, C_FIND_RSP, 0xFE00)
        conn.release_if_asked(timeout=GRACE + 3)
    return script


@pytest.mark.network
@pytest.mark.parametrize("confirm", [True, False], ids=["confirmed", "grace-abort"])
def test_cancel_mid_search_ends_it_the_same_way(process_courier: ProcessCourier,
                                                confirm: bool) -> None:
    with PduPeer(_cancel_script(confirm=confirm)) as peer:
        node = _node(peer.port, "SLOWPACS")

        async def search(courier: Any) -> tuple[list[Any], Any]:
            op = courier.find(node, FindQuery())
            rows = []
            async for match in op:
                rows.append(match)
                op.cancel()
            return rows, op.result

        (rows, result), (remote_rows, remote_result) = _both(process_courier, search)
    assert remote_rows == rows and len(rows) == 1
    assert remote_result.cancelled and result.cancelled
    _same_result(result, remote_result)


@pytest.mark.network
def test_cancel_mid_move_ends_it_cancelled(process_courier: ProcessCourier) -> None:
    def script(conn: PeerConnection) -> None:
        conn.accept()
        request = conn.read_request()
        assert request is not None
        conn.respond(request, C_MOVE_RSP, 0xFF00, counts=(3, 1, 0, 0))
        conn.read_request()  # the C-CANCEL-RQ
        conn.respond(request, C_MOVE_RSP, 0xFE00, counts=(3, 1, 0, 0))
        conn.release_if_asked()

    with PduPeer(script) as peer:
        node = _node(peer.port, "SLOWPACS")

        async def move(courier: Any) -> Any:
            op = courier.move(node, MoveRequest(MoveTarget(STUDY), "WS"))
            async for _progress in op:
                op.cancel()
            return op.result

        result, remote = _both(process_courier, move)
    assert remote.outcome is MoveOutcome.CANCELLED and remote.cancel_sent
    _same_result(result, remote)


@pytest.mark.network
def test_a_cancel_before_the_start_never_connects(process_courier: ProcessCourier,
                                                  dead_port: int) -> None:
    async def search() -> Any:
        op = process_courier.find(_node(dead_port, "DEAD"), FindQuery())
        op.cancel()
        rows = [match async for match in op]
        return rows, op.result

    rows, result = asyncio.run(search())
    assert rows == [] and result.cancelled and result.error is None


# ---------------------------------------------------------------- the worker dies

def _stalling(find: bool) -> Callable[[PeerConnection], None]:
    """One answer (a match, or a Pending move of 1 of 4 images), then silence."""
    def script(conn: PeerConnection) -> None:
        conn.accept()
        request = conn.read_request()
        assert request is not None
        if find:
            conn.respond(request, C_FIND_RSP, 0xFF00, identifier=_identifier("FIRST^ONE"))
        else:
            conn.respond(request, C_MOVE_RSP, 0xFF00, counts=(3, 1, 0, 0))
        conn.wait_closed(timeout=15)
    return script


def _kill_engine(courier: ProcessCourier) -> int:
    pid = courier.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    return pid


@pytest.mark.network
def test_worker_killed_mid_search_ends_it_at_once_in_plain_words(
        process_courier: ProcessCourier) -> None:
    with PduPeer(_stalling(find=True)) as peer:
        node = _node(peer.port, "STALLER", idle=30)

        async def search() -> tuple[list[Any], CourierError]:
            rows = []
            with pytest.raises(CourierError) as caught:
                async for match in process_courier.find(node, FindQuery()):
                    rows.append(match)
                    _kill_engine(process_courier)
            return rows, caught.value

        # The idle timeout is 30 s: a hang would hit wait_for's bound, not end the test.
        rows, error = asyncio.run(asyncio.wait_for(search(), 10))
        killed = process_courier.pid
    assert len(rows) == 1
    assert isinstance(error, EngineStopped) and error.retryable
    assert error.title == "The engine process stopped unexpectedly during the search on STALLER."
    assert "1 result arrived before it stopped" in error.explanation
    assert "SIGKILL" in error.details["Engine process"]
    assert error.details["PACS AE title (called)"] == "STALLER"

    # The next operation starts a new engine process.
    with PduPeer(find_answers(_identifier("NEXT^ONE"))) as peer:
        async def again() -> list[Any]:
            return [m async for m in process_courier.find(_node(peer.port, "X"), FindQuery())]

        assert [m.get("PatientName") for m in asyncio.run(again())] == ["NEXT^ONE"]
    assert process_courier.pid != killed


@pytest.mark.network
def test_a_stopped_engine_is_ended_and_its_search_fails_in_plain_words(
        process_courier: ProcessCourier, monkeypatch: pytest.MonkeyPatch) -> None:
    """An engine process that is alive but never answers (SIGSTOP here; a deadlock or a
    machine swapping in the field): a cancel, an abort or quitting must not wait for it for
    ever. The window's reader ends it after STALL_LIMIT s of silence (shortened here)."""
    from dicom_courier.core.dimse import process_courier as module

    monkeypatch.setattr(module, "STALL_LIMIT", 2.0)
    with PduPeer(_stalling(find=True)) as peer:
        node = _node(peer.port, "STALLER", idle=30)

        async def search() -> CourierError:
            with pytest.raises(CourierError) as caught:
                operation = process_courier.find(node, FindQuery())
                async for _ in operation:
                    pid = process_courier.pid
                    assert pid is not None
                    os.kill(pid, signal.SIGSTOP)
                    operation.cancel()  # the stopped engine cannot confirm it
            return caught.value

        # idle 30 s and cancel grace inside the (stopped) engine: only the stall check ends it
        error = asyncio.run(asyncio.wait_for(search(), 10))
    assert isinstance(error, EngineStopped) and error.retryable
    assert "did not answer for 2 s" in error.details["Engine process"]


@pytest.mark.network
def test_worker_killed_mid_move_fails_the_send_retryable_with_its_counts(
        process_courier: ProcessCourier) -> None:
    jobs: list[Any] = []
    with PduPeer(_stalling(find=False)) as peer:
        node = _node(peer.port, "STALLER", idle=30)

        async def send() -> Any:
            queue = MoveQueue(process_courier, jobs.append)  # type: ignore[arg-type]
            job_id = queue.submit(node, MoveRequest(MoveTarget(STUDY), "WS"))
            await until(lambda: queue.get(job_id).progress is not None)
            _kill_engine(process_courier)
            await until(lambda: queue.get(job_id).state.is_finished)
            await queue.close()
            return queue.get(job_id)

        job = asyncio.run(asyncio.wait_for(send(), 10))
    assert job.state is JobState.FAILED
    result = job.result
    assert result.outcome is MoveOutcome.FAILED and isinstance(result.error, EngineStopped)
    assert result.error.retryable and result.request_sent
    assert (result.completed, result.total) == (1, 4)
    assert result.error.title == ("The engine process stopped unexpectedly during the send "
                                  "from STALLER to WS.")
    assert "1 of 4 images had arrived at WS" in result.error.explanation


# ---------------------------------------------------------------- no orphan process

def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[1].startswith("Z")  # a zombie has ended
    except FileNotFoundError:
        return True


@pytest.mark.network
def test_close_ends_the_engine_process(demo: Any) -> None:
    node, _ = demo
    courier = ProcessCourier()
    asyncio.run(courier.echo(node))
    pid = courier.pid
    assert pid is not None and not _gone(pid)
    courier.close(wait=False)
    assert _gone(pid)


def test_the_engine_process_ends_when_the_window_process_is_killed(tmp_path: Path) -> None:
    script = tmp_path / "window.py"
    script.write_text(
        "import os, signal, sys\n"
        "from dicom_courier.core.dimse.process_courier import ProcessCourier\n"
        "if __name__ == '__main__':\n"
        "    courier = ProcessCourier()\n"
        "    courier.start()\n"
        "    print(courier.pid, flush=True)\n"
        "    sys.stdin.readline()\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n")
    window = subprocess.Popen([sys.executable, str(script)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert window.stdout is not None and window.stdin is not None
        pid = int(window.stdout.readline())
        time.sleep(0.3)
        window.stdin.write("\n")
        window.stdin.flush()
        window.wait(10)
        wait_until(lambda: _gone(pid), within=10)
    finally:
        window.kill()
