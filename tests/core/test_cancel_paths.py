"""Issue 9 §4: every cancel is C-CANCEL now and A-ABORT after one grace period; §5 --max-pdu.

One row per path that cancels: ``find --limit``, Ctrl-C in ``find``, Ctrl-C while ``move -k``
looks its targets up, a cancel reaching every operation of a Courier, cancel in the queue.
Each runs against a PACS that ignores C-CANCEL (QuirkyPacs(ignore_cancel=True), the PDU peer,
StallingScp) and must end within the grace (+ 2 s). After an abort on a PACS that never
confirmed the cancel, the words say the rest may still arrive; a PACS that confirms does not
get those words. The window's paths are in tests/gui/test_window_cancel.py.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydicom.dataset import Dataset

from dicom_courier.core.cli.main import run
from dicom_courier.core.cli.move_cmd import _summary_line
from dicom_courier.core.config.profile_store import NodeStore
from dicom_courier.core.config.profiles import PacsNode, Timeouts
from dicom_courier.core.demo.pacs import DemoPacs
from dicom_courier.core.demo.synthetic import StudySpec
from dicom_courier.core.demo.workstation import Workstation
from dicom_courier.core.dimse.engine import Courier
from dicom_courier.core.jobs.queue import JobState, MoveQueue
from dicom_courier.core.outcome.decide import summary_phrase
from dicom_courier.core.outcome.events import MoveOutcome
from dicom_courier.core.qr.query import FindQuery, MoveRequest, MoveTarget, QueryLevel, QueryModel
from tests.fakes.misbehaving import StallingScp
from tests.fakes.pdu_peer import (
    ASSOCIATE_RQ,
    C_FIND_RSP,
    AssociateRq,
    PduPeer,
    PeerConnection,
    associate_rj,
    encode_dataset,
    parse_associate_rq,
)
from tests.fakes.quirky import QuirkyPacs
from tests.fakes.read_paths import READ_PATHS, use_read_path
from tests.waiting import until, wait_until

DEFAULT_GRACE = 5.0  # Courier's default; the command line has no setting for it
SHORT_GRACE = 1.0
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True, params=READ_PATHS)
def read_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test here runs on our lean response reader and on pynetdicom's."""
    return use_read_path(monkeypatch, request.param)


def _studies(count: int) -> list[StudySpec]:
    return [StudySpec(key=f"cancel-{i}", patient_name=f"Cancel^P{i}", patient_id=f"CX{i:03d}",
                      series_count=1, instances_per_series=1) for i in range(count)]


STUDIES_400 = _studies(400)


def _address(pacs: Any, aet: str = "QUIRKY") -> list[str]:
    return ["--host", "127.0.0.1", "--port", str(pacs.port), "--aet", aet]


# ------------------------------------------------------------------ find --limit


@pytest.mark.network
def test_find_limit_on_a_pacs_that_ignores_cancel_returns_within_the_grace(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The issue's example: 400 matches sent slowly, C-CANCEL ignored (was 21 s)."""
    with QuirkyPacs(STUDIES_400, ignore_cancel=True, pace=0.05) as pacs:
        started = time.monotonic()
        code = run(["--config-dir", str(tmp_path), "find", *_address(pacs), "--limit", "3",
                    "--format", "csv", "-k", "PatientID=CX*"])
        took = time.monotonic() - started
        cancels = pacs.finds_cancelled
    out = capsys.readouterr().out
    assert code == 0
    assert len(out.strip().splitlines()) == 1 + 3  # header + exactly --limit rows
    assert cancels == 1  # C-CANCEL reached the PACS
    assert took < DEFAULT_GRACE + 2, took


def _pacing_script(answers: int, pace: float) -> Callable[[PeerConnection], None]:
    """A PACS at the PDU level that answers ``answers`` matches, ``pace`` s apart, and reads
    nothing it is sent (our C-CANCEL and A-ABORT stay unanswered)."""
    def script(conn: PeerConnection) -> None:
        conn.accept()
        request = conn.read_request()
        assert request is not None
        for index in range(answers):
            ds = Dataset()
            ds.QueryRetrieveLevel = "STUDY"
            ds.PatientName = f"PACED^{index}"
            ds.StudyInstanceUID = f"1.2.826.0.1.3680043.8.498.9{index}"
            if not conn.respond(request, C_FIND_RSP, 0xFF00, identifier=encode_dataset(ds)):
                return
            time.sleep(pace)
        conn.respond(request, C_FIND_RSP, 0x0000)
    return script


@pytest.mark.network
def test_find_limit_on_a_pdu_peer_that_ignores_cancel_is_aborted_after_the_grace() -> None:
    async def scenario(port: int) -> tuple[Any, float]:
        node = PacsNode(name="paced", called_aet="PACED", host="127.0.0.1", port=port,
                        timeouts=Timeouts(connect=3, idle=10))
        with Courier(cancel_grace=SHORT_GRACE) as courier:
            started = time.monotonic()
            operation = courier.find(node, FindQuery(QueryLevel.STUDY, QueryModel.STUDY,
                                                     {"PatientName": "*"}), limit=3)
            rows = [match async for match in operation]
            return (rows, operation.result), time.monotonic() - started

    with PduPeer(_pacing_script(400, 0.05)) as peer:
        (rows, result), took = asyncio.run(scenario(peer.port))
    assert len(rows) == 3 and result.error is None
    assert took < SHORT_GRACE + 2, took


# ------------------------------------------------------------------ Ctrl-C on the command line


def _start(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "dicom_courier", "--config-dir",
                             str(tmp_path), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT)


def _wait_for_answers(pacs: QuirkyPacs) -> None:
    """Until the command's C-FIND is being answered (then Ctrl-C cancels a running one)."""
    wait_until(lambda: pacs.finds)
    time.sleep(0.5)  # answers are streaming: a cancel now stops a running search


@pytest.mark.network
def test_ctrl_c_in_find_sends_c_cancel_prints_the_rows_and_ends_within_the_grace(
        tmp_path: Path) -> None:
    with QuirkyPacs(STUDIES_400, ignore_cancel=True, pace=0.05) as pacs:
        process = _start(tmp_path, "find", *_address(pacs), "--format", "csv",
                         "-k", "PatientID=CX*")
        _wait_for_answers(pacs)
        process.send_signal(signal.SIGINT)
        started = time.monotonic()
        out, err = process.communicate(timeout=DEFAULT_GRACE + 10)
        took = time.monotonic() - started
        cancels = pacs.finds_cancelled
    assert process.returncode == 4, err
    assert "Cancelling: C-CANCEL sent" in err
    assert "the list is incomplete" in err
    assert cancels == 1  # before: the association was aborted at once, no C-CANCEL
    rows = out.strip().splitlines()
    assert rows[0].startswith("PatientName") and 2 <= len(rows) < 401  # the rows received
    assert "Traceback" not in err
    assert took < DEFAULT_GRACE + 2, took


@pytest.mark.network
def test_ctrl_c_while_move_looks_up_its_targets_sends_c_cancel_and_sends_nothing(
        tmp_path: Path) -> None:
    with Workstation(tmp_path / "ws") as ws, \
            QuirkyPacs(STUDIES_400, ignore_cancel=True, pace=0.05) as pacs:
        pacs.add_destination("WORKSTATION", "127.0.0.1", ws.port)
        process = _start(tmp_path, "move", *_address(pacs), "--dest", "WORKSTATION",
                         "-k", "PatientID=CX*")
        _wait_for_answers(pacs)
        process.send_signal(signal.SIGINT)
        started = time.monotonic()
        _, err = process.communicate(timeout=DEFAULT_GRACE + 10)
        took = time.monotonic() - started
        moves, cancels, received = pacs.moves, pacs.finds_cancelled, ws.received_count
    assert process.returncode == 4, err
    assert "nothing was sent" in err
    assert moves == [] and received == 0  # a look-up cut short is never sent in part
    assert cancels == 1
    assert "Traceback" not in err
    assert took < DEFAULT_GRACE + 2, took


# ------------------------------------------------------------------ one place for all


@pytest.mark.network
def test_cancel_all_reaches_a_running_find_and_stops_a_new_one_before_it_is_sent() -> None:
    async def scenario(node: PacsNode, peer: PduPeer) -> tuple[Any, Any, float]:
        with Courier(cancel_grace=SHORT_GRACE) as courier:
            query = FindQuery(QueryLevel.STUDY, QueryModel.STUDY, {"PatientName": "*"})
            running = courier.find(node, query, raise_on_error=False)
            task = asyncio.ensure_future(running.run())
            await until(lambda: peer.connections)
            await asyncio.sleep(0.3)  # answers are coming
            started = time.monotonic()
            assert courier.running.cancel_all() == 1
            first = await task
            took = time.monotonic() - started
            later = await courier.find(node, query, raise_on_error=False).run()
            return first, later, took

    with PduPeer(_pacing_script(400, 0.05)) as peer:
        node = PacsNode(name="paced", called_aet="PACED", host="127.0.0.1", port=peer.port,
                        timeouts=Timeouts(connect=3, idle=10))
        first, later, took = asyncio.run(scenario(node, peer))
        connections = len(peer.connections)
    assert first.cancelled and first.error is None and 0 < first.count < 400
    assert took < SHORT_GRACE + 2, took
    assert later.cancelled and later.count == 0
    assert connections == 1  # the second search never reached the PACS


# ------------------------------------------------------------------ the queue


def _stalling_node(fake: StallingScp) -> PacsNode:
    return PacsNode(name="stall", called_aet=fake.ae_title, host="127.0.0.1", port=fake.port,
                    timeouts=Timeouts(connect=3, idle=20))


@pytest.mark.network
def test_queue_cancel_on_a_pacs_that_ignores_it_ends_within_the_grace_and_says_the_rest_may_come(
        ) -> None:
    async def scenario(node: PacsNode) -> tuple[Any, float]:
        with Courier(cancel_grace=SHORT_GRACE) as courier:
            queue = MoveQueue(courier, lambda job: None)
            job_id = queue.submit(node, MoveRequest(MoveTarget("1.2.3"), "WS"))
            await until(lambda: queue.get(job_id).progress is not None)
            started = time.monotonic()
            queue.cancel(job_id)
            await until(lambda: queue.get(job_id).state.is_finished, within=SHORT_GRACE + 5)
            return queue.get(job_id), time.monotonic() - started

    with StallingScp(stall_after_pending=1) as fake:
        job, took = asyncio.run(scenario(_stalling_node(fake)))
    assert took < SHORT_GRACE + 2, took
    assert job.state is JobState.CANCELLED
    result = job.result
    assert result is not None and result.cancel_unconfirmed
    assert result.outcome is MoveOutcome.CANCELLED
    # the queue row, the failure dialog's explanation, the command line's summary line
    assert summary_phrase(result) == ("cancelled: 1 of 11 sent; 10 more may still arrive "
                                      "(the PACS did not confirm the cancel)")
    assert result.error is not None
    assert "may still arrive at WS" in result.error.explanation
    line = _summary_line([result], "cancelled", "sent to WS", 1.0)
    assert "10 more may still arrive" in line and "not sent" not in line
    assert result.summary()["cancel_unconfirmed"] is True


@pytest.mark.network
def test_a_pacs_that_confirms_the_cancel_gets_no_such_words(tmp_path: Path) -> None:
    spec = StudySpec(key="confirms", patient_name="Confirm^P", patient_id="CF1",
                     series_count=1, instances_per_series=30)

    async def scenario(node: PacsNode) -> Any:
        with Courier(cancel_grace=SHORT_GRACE) as courier:
            queue = MoveQueue(courier, lambda job: None)
            job_id = queue.submit(node, MoveRequest(MoveTarget(spec.study_uid), "WS"))
            await until(lambda: (queue.get(job_id).progress or None) is not None
                         and queue.get(job_id).progress.completed >= 1)  # type: ignore[union-attr]
            queue.cancel(job_id)
            await until(lambda: queue.get(job_id).state.is_finished)
            return queue.get(job_id)

    with Workstation(tmp_path / "ws", ae_title="WS") as ws, DemoPacs(
            [spec], destinations={"WS": ("127.0.0.1", ws.port)}, store_delay=0.05) as pacs:
        job = asyncio.run(scenario(PacsNode(name="demo", called_aet=pacs.ae_title,
                                            host="127.0.0.1", port=pacs.port)))
    result = job.result
    assert job.state is JobState.CANCELLED and result is not None
    assert not result.cancel_unconfirmed
    assert "may still arrive" not in summary_phrase(result)
    assert result.error is None or "may still" not in result.error.explanation


# ------------------------------------------------------------------ --max-pdu (§5)


def _recording_peer(seen: list[AssociateRq]) -> Callable[[PeerConnection], None]:
    def script(conn: PeerConnection) -> None:
        got = conn.read_pdu()
        assert got is not None and got[0] == ASSOCIATE_RQ
        seen.append(parse_associate_rq(got[1]))
        conn.send(associate_rj())
    return script


@pytest.mark.parametrize(("extra", "expected"), [
    ((), 0),                             # not given: unlimited, as before
    (("--max-pdu", "32768"), 32768),
    (("--max-pdu", " 4096 "), 4096),     # the smallest allowed
    (("--max-pdu", "0"), 0),
])
@pytest.mark.network
def test_max_pdu_reaches_the_associate_request(tmp_path: Path, extra: tuple[str, ...],
                                               expected: int) -> None:
    seen: list[AssociateRq] = []
    with PduPeer(_recording_peer(seen)) as peer:
        code = run(["--config-dir", str(tmp_path), "echo", *_address(peer, "PEER"), *extra])
    assert code == 1  # the peer rejects: only the request matters here
    assert [rq.max_length for rq in seen] == [expected]


@pytest.mark.network
def test_max_pdu_overrides_a_profile_for_one_command(tmp_path: Path) -> None:
    seen: list[AssociateRq] = []
    with PduPeer(_recording_peer(seen)) as peer:
        NodeStore(tmp_path / "nodes.json").put(PacsNode(
            name="saved", called_aet="PEER", host="127.0.0.1", port=peer.port, max_pdu=16384))
        run(["--config-dir", str(tmp_path), "echo", "--pacs", "saved"])
        run(["--config-dir", str(tmp_path), "echo", "--pacs", "saved", "--max-pdu", "65536"])
    assert [rq.max_length for rq in seen] == [16384, 65536]


@pytest.mark.parametrize("value", ["100", "4095", "-1", "abc", "2147483649", "1e5", "٤٠٩٦"])
def test_a_bad_max_pdu_is_one_line_and_exit_2(tmp_path: Path, value: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    code = run(["--config-dir", str(tmp_path), "find", "--host", "127.0.0.1", "--port", "9",
                "--aet", "X", "--max-pdu", value])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert "--max-pdu" in err and "0 (unlimited) or from 4096 to 2147483648 bytes" in err
