"""Every row of docs/outcome-table.md, played by the PDU rig, read the same everywhere.

Each row is a scripted C-MOVE conversation (tests/fakes/pdu_peer.py): Pending and final
responses with their counts present, absent (None) or empty (EMPTY: a zero-length element),
a C-CANCEL from us, or an A-ABORT. For every row the same result must reach:
``dicom-courier move`` (exit code, the summary line, ``--json`` result and summary, whose
``outcome`` and ``status`` agree), the job store row it records, and a MoveQueue run (its
state and store row; the window's row text is checked in tests/gui/test_outcome_rows.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pydicom.dataset import Dataset

from dicom_courier.core.cli import main as cli_main
from dicom_courier.core.config.paths import app_paths
from dicom_courier.core.config.profiles import PacsNode, Timeouts
from dicom_courier.core.dimse.engine import Courier
from dicom_courier.core.jobs.queue import JobSnapshot, MoveQueue
from dicom_courier.core.jobs.store import JobStore, StoredJob
from dicom_courier.core.outcome.decide import decide_move
from dicom_courier.core.outcome.errors import NoImageArrived, Peer
from dicom_courier.core.outcome.events import MoveOutcome
from dicom_courier.core.outcome.suboperations import SubOperationTally
from dicom_courier.core.qr.query import FindQuery, MoveRequest, MoveTarget
from tests.fakes.pdu_peer import (
    C_FIND_RSP,
    C_MOVE_RSP,
    EMPTY,
    PduPeer,
    PeerConnection,
    abort,
)

STUDY = "1.2.826.0.1.3680043.8.498.4242"
CANCEL, ABORT = "cancel", "abort"
ABORT_USER, CLOSE = "abort-source-0", "close"  # the PACS's DICOM application; TCP close
E4 = (EMPTY, EMPTY, EMPTY, EMPTY)
C_CANCEL_RQ = 0x0FFF


@dataclass(frozen=True)
class Row:
    """One case: the PACS's responses, and what Courier must make of them."""

    name: str
    steps: tuple[object, ...]  # (status, counts) | CANCEL | ABORT
    outcome: str
    total: int | None
    completed: int | None
    failed: int | None
    words: tuple[str, ...] = ()      # in the CLI's stderr (title, note or summary line)
    never: tuple[str, ...] = ("Traceback",)
    warning: int | None = 0
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return {"completed": 0, "completed_with_warnings": 0, "partial": 3, "cancelled": 4,
                "failed": 1}[self.outcome]


ROWS = [
    Row("counts present, success", ((0xFF00, (2, 1, 0, 0)), (0xFF00, (1, 2, 0, 0)),
                                   (0x0000, (0, 3, 0, 0))),
        "completed", 3, 3, 0, ("completed: 3 of 3 images sent to WS",)),
    Row("final response corrects the total upward",
        ((0xFF00, (1, 1, 0, 0)), (0xB000, (None, 2, 1, 0))),
        "partial", 3, 2, 1,
        ("Only part of the send succeeded: 2 of 3 images arrived at WS.", "0xB000",
         "partial: 2 of 3 images sent to WS, 1 failed"), ("2 of 2", "Traceback")),
    Row("no counts at all", ((0xFF00, None), (0xFF00, None), (0xFF00, None), (0x0000, None)),
        "completed", None, None, None, ("the PACS did not report image counts",),
        ("found nothing", "deleted", "Traceback"), warning=None),
    Row("counts sent empty (zero-length)", ((0xFF00, E4), (0xFF00, E4), (0x0000, E4)),
        "completed", None, None, None, ("the PACS did not report image counts",),
        ("found nothing", "Traceback"), warning=None),
    Row("explicit zeros: nothing matched", ((0x0000, (0, 0, 0, 0)),),
        "failed", 0, 0, 0, ("found nothing to send",)),
    Row("success status, every image failed", ((0xFF00, (2, 0, 0, 0)), (0x0000, (0, 0, 2, 0))),
        "failed", 2, 0, 2, ("failed: 0 of 2 images sent to WS, 2 failed",),
        ("Only part", "partial", "Traceback")),
    Row("0xB000, every image failed", ((0xB000, (None, 0, 3, 0)),),
        "failed", 3, 0, 3, ("failed: 0 of 3 images sent to WS, 3 failed",),
        ("Only part", "partial", "Traceback")),
    Row("success status with some failures quotes 0x0000", ((0x0000, (0, 2, 1, 0)),),
        "partial", 3, 2, 1, ("2 of 3 images arrived", "answered 0x0000"),
        ("(0xB000)", "Traceback")),
    Row("warnings only: completed with warnings", ((0xB000, (0, 2, 0, 1)),),
        "completed_with_warnings", 3, 2, 0, ("completed with warnings: 3 of 3 images sent",),
        ("Error", "disk space", "Traceback"), warning=1),
    Row("absurd Pending total replaced by the final counts",
        ((0xFF00, (0xFFFF, 2, 0, 0)), (0x0000, (None, 2, 0, 0))),
        "completed", 2, 2, 0, ("completed: 2 of 2 images sent",), ("65535", "Traceback")),
    Row("final success without counts completes what remained",
        ((0xFF00, (2, 1, 0, 0)), (0x0000, None)),
        "completed", 3, 3, 0, ("completed: 3 of 3 images sent",)),
    Row("a count going backwards keeps the higher",
        ((0xFF00, (2, 3, 0, 0)), (0xFF00, (2, 2, 0, 0)), (0x0000, (0, 5, 0, 0))),
        "completed", 5, 5, 0, ("completed: 5 of 5 images sent",)),
    Row("failure status with nothing sent", ((0xA702, (0, 0, 2, 0)),),
        "failed", 2, 0, 2, ("0xA702",)),
    Row("failure status after some images", ((0xFF00, (2, 1, 0, 0)), (0xC000, (None, 2, 1, 0))),
        "partial", 3, 2, 1, ("0xC000",)),
    Row("cancel confirmed with 0xFE00", ((0xFF00, (8, 2, 0, 0)), CANCEL, (0xFE00, (8, 2, 0, 0))),
        "cancelled", 10, 2, 0, ("cancelled: 2 of 10 images sent",), ("disk", "Traceback")),
    Row("cancel confirmed with 0xB000", ((0xFF00, (8, 2, 0, 0)), CANCEL, (0xB000, (8, 2, 0, 0))),
        "cancelled", 10, 2, 0, ("cancelled: 2 of 10 images sent",), ("disk", "Traceback")),
    Row("cancel confirmed with 0x0000", ((0xFF00, (8, 2, 0, 0)), CANCEL, (0x0000, (8, 2, 0, 0))),
        "cancelled", 10, 2, 0, ("cancelled: 2 of 10 images sent",), ("disk", "Traceback")),
    Row("association aborted mid-send", ((0xFF00, (3, 1, 0, 0)), ABORT),
        "failed", 4, 1, 0, ("failed",)),
    # review of issue 8 (/tmp/attack8): each finding is a row
    Row("cancel confirmed with 0x0000 counting only completed",
        ((0xFF00, (8, 2, 0, 0)), CANCEL, (0x0000, (None, 2, 0, 0))),
        "cancelled", 10, 2, 0, ("2 of 10 images sent to WS", "8 not sent"),
        ("2 of 2", "Traceback")),
    Row("cancel ignored: the PACS completes the study",
        ((0xFF00, (8, 2, 0, 0)), CANCEL, (0xFF00, (4, 6, 0, 0)), (0x0000, (0, 10, 0, 0))),
        "completed", 10, 10, 0, ("completed: 10 of 10 images sent to WS",
                                 "the PACS finished before our cancel took effect"),
        ("cancelled:", "Traceback")),
    Row("failure status after every image arrived",
        ((0xA702, (0, 3, 0, 0)),),
        "completed_with_warnings", 3, 3, 0,
        ("completed with warnings", "the PACS reported a failure (0xA702",
         "after all 3 images arrived: check at WS"),
        ("no image could be sent", "partial", "Traceback")),
    Row("failure status after some images, counts only in Pending",
        ((0xFF00, (1, 3, 0, 0)), (0xA701, None)),
        "partial", 4, 3, 0, ("Only part of the send succeeded: 3 of 4 images arrived at WS.",
                             "0xA701", "1 not sent"),
        ("no image could be sent", "Traceback")),
    Row("0xB000 counting failures but not completed",
        ((0xFF00, (3, 0, 0, 0)), (0xB000, (None, None, 1, None))),
        "partial", 3, None, 1, ("1 failed; the PACS did not say how many of the 3",),
        ("none arrived", "could not send any image", "did not answer", "Traceback")),
    Row("0x0000 counting failures but not completed",
        ((0xFF00, (3, 0, 0, 0)), (0x0000, (None, None, 1, None))),
        "partial", 3, None, 1, ("1 failed; the PACS did not say how many of the 3",),
        ("2 of 3", "Traceback")),
    Row("cancel answered with A-ABORT from the PACS's application",
        ((0xFF00, (8, 2, 0, 0)), CANCEL, ABORT_USER),
        "cancelled", 10, 2, 0, ("cancelled: 2 of 10 images sent to WS", "8 more may still arrive"),
        ("Retry", "Traceback")),
    Row("cancel answered by closing the connection",
        ((0xFF00, (8, 2, 0, 0)), CANCEL, CLOSE),
        "cancelled", 10, 2, 0, ("cancelled: 2 of 10 images sent to WS", "8 more may still arrive"),
        ("Retry", "Traceback")),
    Row("unasked 0xFE00 after every image arrived",
        ((0xFF00, (1, 2, 0, 0)), (0xFE00, (0, 3, 0, 0))),
        "completed", 3, 3, 0, ("completed: 3 of 3 images sent to WS",
                               "the PACS reported a cancel after every image arrived"),
        ("cancelled", "Traceback")),
    Row("cancel answered with a failure status, nothing sent",
        ((0xFF00, (10, 0, 0, 0)), CANCEL, (0xC000, None)),
        "cancelled", 10, 0, 0, ("cancelled: 0 of 10 images sent to WS",),
        ("DICOM nodes", "disk", "Traceback")),
    Row("0xB000 without counts", ((0xFF00, None), (0xB000, None)),
        "partial", None, None, None, ("may be incomplete",), warning=None),
    Row("another warning status without counts", ((0xFF00, None), (0xB007, None)),
        "completed_with_warnings", None, None, None,
        ("the PACS answered 0xB007 and did not report image counts",), warning=None),
    Row("warning status with no failed and no warning image",
        ((0xFF00, (2, 1, 0, 0)), (0xB007, (0, 3, 0, 0))),
        "completed_with_warnings", 3, 3, 0, ("reported no failed image",)),
    Row("failure without counts: no image is known to have arrived",
        ((0xC000, None),), "failed", None, None, None,
        ("no image is known to have arrived",), warning=None),
]


def _script(row: Row, on_cancel: Callable[[], None]) -> Callable[[PeerConnection], None]:
    def script(conn: PeerConnection) -> None:
        conn.accept()
        request = conn.read_request()
        assert request is not None
        for step in row.steps:
            if step == CANCEL:
                on_cancel()
                got = conn.read_request(timeout=5)
                assert got is not None and got.command_field() == C_CANCEL_RQ
                continue
            if step in (ABORT, ABORT_USER):
                conn.send(abort(2 if step == ABORT else 0, 0))
                return
            if step == CLOSE:  # TCP close without A-ABORT (the fd is closed by the peer)
                conn.sock.shutdown(socket.SHUT_RDWR)
                return
            status, counts = step  # type: ignore[misc]
            conn.respond(request, C_MOVE_RSP, status, counts=counts)
            time.sleep(0.01)
        conn.release_if_asked()
    return script


def _node(port: int) -> PacsNode:
    return PacsNode(name="rig", called_aet="RIG", host="127.0.0.1", port=port,
                    timeouts=Timeouts(connect=3, acse=3, idle=5))


def _sigint() -> None:
    os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C does; the CLI's handler sends C-CANCEL


def _cli(row: Row, tmp_path: Path, capsys: pytest.CaptureFixture[str],
         as_json: bool) -> tuple[int, str, str, StoredJob]:
    config = str(tmp_path / "cfg")
    with PduPeer(_script(row, _sigint)) as peer:
        assert cli_main.run(["--config-dir", config, "nodes", "add", "Rig", "--host",
                             "127.0.0.1", "--port", str(peer.port), "--aet", "RIG",
                             "--dest", "WS"]) == 0
        capsys.readouterr()
        code = cli_main.run(["--config-dir", config, "move", "--pacs", "Rig", "--study", STUDY,
                             "--dest", "WS", *(["--json"] if as_json else [])])
        out, err = capsys.readouterr()
        assert not peer.errors, peer.errors
    store = JobStore(app_paths(config).data_dir / "jobs.db")
    try:
        jobs = store.jobs()
    finally:
        store.close()
    assert len(jobs) == 1
    return code, out, err, jobs[0]


def _assert_store(row: Row, job: StoredJob) -> None:
    assert job.state == row.outcome
    assert job.total == row.total
    assert (job.completed, job.failed) == (row.completed or 0, row.failed or 0)


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
@pytest.mark.network
def test_cli_json_and_store_read_one_outcome(row: Row, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err, job = _cli(row, tmp_path, capsys, as_json=True)
    assert code == row.exit_code, err
    lines = [json.loads(text) for text in out.splitlines() if text.startswith("{")]
    progress = [e for e in lines if e.get("event") == "progress"]
    result = next(e for e in lines if e.get("event") == "result")
    summary = next(e for e in lines if e.get("event") == "summary")
    assert result["outcome"] == summary["outcome"] == summary["status"] == row.outcome
    assert (result["total"], result["completed"], result["failed"], result["warning"]) == \
        (row.total, row.completed, row.failed, row.warning)
    assert summary["total"] == row.total
    done = 0
    for event in progress:  # never more done than the total, never backwards
        handled = event["completed"] + event["failed"] + event["warning"]
        assert handled >= done
        done = handled
        assert event["total"] is None or handled <= event["total"]
        assert event["total"] != 0xFFFF + 2
    _assert_store(row, job)


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
@pytest.mark.network
def test_cli_words_and_exit_code(row: Row, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err, job = _cli(row, tmp_path, capsys, as_json=False)
    assert code == row.exit_code, err
    flat = " ".join(err.split())
    for words in row.words:
        assert words in flat, (words, err)
    for words in row.never:
        assert words not in flat, (words, err)
    _assert_store(row, job)


def run_in_queue(row: Row, store_path: Path) -> tuple[JobSnapshot, StoredJob]:
    """One MoveQueue with a job store against the rig playing ``row`` (own asyncio loop)."""
    finals: list[JobSnapshot] = []

    async def scenario(port: int, holder: dict[str, object]) -> None:
        store = JobStore(store_path)
        ended = asyncio.Event()

        def on_change(job: JobSnapshot) -> None:
            if job.state.is_finished:
                finals.append(job)
                ended.set()

        with Courier(cancel_grace=2.0) as courier:
            queue = MoveQueue(courier, on_change, store=store)
            holder["queue"], holder["loop"] = queue, asyncio.get_running_loop()
            job_id = queue.submit(_node(port), MoveRequest(MoveTarget(STUDY), "WS"))
            holder["job"] = job_id
            await ended.wait()
            await queue.close()
        holder["row"] = store.get(job_id)
        store.close()

    holder: dict[str, object] = {}

    def cancel() -> None:
        loop = holder["loop"]
        loop.call_soon_threadsafe(holder["queue"].cancel, holder["job"])  # type: ignore[attr-defined]

    with PduPeer(_script(row, cancel)) as peer:
        asyncio.run(scenario(peer.port, holder))
    return finals[-1], holder["row"]  # type: ignore[return-value]


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
@pytest.mark.network
def test_queue_state_and_store_row(row: Row, tmp_path: Path) -> None:
    job, stored = run_in_queue(row, tmp_path / "jobs.db")
    assert job.state.value == row.outcome
    assert job.result is not None and job.result.outcome.value == row.outcome
    _assert_store(row, stored)


@pytest.mark.network
def test_a_search_ending_with_a_warning_gets_search_words() -> None:
    def script(conn: PeerConnection) -> None:
        conn.accept()
        request = conn.read_request()
        assert request is not None
        conn.respond(request, C_FIND_RSP, 0x0001)  # Warning category (PS3.7 C.1.4)
        conn.release_if_asked()

    with PduPeer(script) as peer, Courier() as courier:
        async def scenario() -> object:
            op = courier.find(_node(peer.port), FindQuery(), raise_on_error=False)
            async for _match in op:
                pass
            return op.result

        result = asyncio.run(scenario())
    error = result.error  # type: ignore[attr-defined]
    assert error is not None
    text = error.render()
    assert "finished the search with a warning (0x0001)" in text
    assert "disk space" not in text and "images" not in text and "retry the failed" not in text


def _tally(*responses: tuple[int, tuple[object, ...] | None]) -> SubOperationTally:
    tally = SubOperationTally()
    for code, counts in responses:
        status = Dataset()
        status.Status = code
        for keyword, value in zip(("NumberOfRemainingSuboperations",
                                   "NumberOfCompletedSuboperations",
                                   "NumberOfFailedSuboperations",
                                   "NumberOfWarningSuboperations"), counts or (), strict=False):
            if value is not None:
                setattr(status, keyword, value)
        tally.update(status, None)
    return tally


PEER = Peer(calling_aet="COURIER", called_aet="RIG", host="127.0.0.1", port=104)


@pytest.mark.parametrize(("code", "words"), [(0x0000, "0x0000 (success)"),
                                             (0xB000, "0xB000 (sub-operations finished")])
def test_no_image_arrived_is_failed_and_quotes_the_status_sent(code: int, words: str) -> None:
    verdict = decide_move(_tally((0xFF00, (2, 0, 0, 0)), (code, (0, 0, 2, 0))), error=None,
                          cancel_sent=False, peer=PEER, destination="WS")
    assert verdict.outcome is MoveOutcome.FAILED
    assert isinstance(verdict.error, NoImageArrived)
    assert verdict.error.title == "No image arrived at WS."
    assert words in verdict.error.explanation and "Only part" not in verdict.error.render()


def test_a_cancel_that_ends_with_failures_is_partial_and_says_so() -> None:
    verdict = decide_move(_tally((0xFF00, (8, 1, 1, 0)), (0xB000, (8, 1, 1, 0))), error=None,
                          cancel_sent=True, peer=PEER, destination="WS")
    assert verdict.outcome is MoveOutcome.PARTIAL
    assert verdict.error is not None and "after our cancel" in verdict.error.explanation


def test_a_count_going_backwards_is_noted_in_the_details() -> None:
    tally = _tally((0xFF00, (2, 3, 0, 0)), (0xFF00, (2, 2, 0, 0)), (0xC000, (None, 2, 1, 0)))
    assert (tally.completed, tally.failed, tally.total) == (3, 1, 5)
    verdict = decide_move(tally, error=None, cancel_sent=False, peer=PEER, destination="WS")
    assert verdict.outcome is MoveOutcome.PARTIAL and verdict.error is not None
    assert "went backwards (3, then 2)" in " ".join(verdict.error.details.values())


@pytest.mark.parametrize(("model", "suggests_study_root"), [("study", False), ("patient", True)])
def test_a_move_refused_with_0xa900_never_suggests_the_model_in_use(
        model: str, suggests_study_root: bool) -> None:
    verdict = decide_move(_tally((0xA900, (None, None, None, None))), error=None,
                          cancel_sent=False, peer=PEER, destination="WS", model=model)
    assert verdict.outcome is MoveOutcome.FAILED and verdict.error is not None
    assert "0xA900" in verdict.error.explanation
    assert ("Study Root" in verdict.error.action) is suggests_study_root
