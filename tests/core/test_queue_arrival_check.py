"""Sends to a destination that answers C-FIND are checked there before they end; a send the
check found short never reads "completed", in the row, the history or ``queue list``.

No socket: the moves are scripted (:mod:`tests.fakes.fake_move`) and the check is an in-test
stand-in with the shape of the queue's ``check_arrival`` (what
:func:`core.jobs.arrival_phase.arrival_checker` builds from part E's
``core.dimse.arrival_check.check_arrival``).
"""

from __future__ import annotations

import asyncio
import csv
import io
import socket
from pathlib import Path

import pytest

from dicom_courier.core.config.profiles import Destination, PacsNode
from dicom_courier.core.jobs.history import CSV_COLUMNS, export_csv
from dicom_courier.core.jobs.job import JobSnapshot
from dicom_courier.core.jobs.queue import JobState, MoveQueue
from dicom_courier.core.jobs.row_words import (
    CHECKING_DESTINATION,
    arrival_outcome_words,
    job_bar_shape,
    row_progress_words,
)
from dicom_courier.core.jobs.store import JobStore
from dicom_courier.core.outcome.arrival import ArrivalCheck
from dicom_courier.core.outcome.events import MoveResult
from dicom_courier.core.qr.query import MoveRequest, MoveTarget
from tests.cli_runner import run_cli
from tests.fakes.fake_move import FakeMoves, MoveScript, QueueWatch

STUDY = "1.2.826.0.1.3680043.8.498.1"
WS3 = Destination("WS3", host="127.0.0.1", port=11113, queryable=True)
WS4 = Destination("WS4", host="127.0.0.1", port=11114)  # not queryable: never checked
NODE = PacsNode(name="demo", called_aet="DEMOPACS", host="127.0.0.1", port=11112,
                destinations=(WS3, WS4))


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a queue test tried to open a connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


class Checker:
    """Answers ``found`` of what the PACS reported, after ``release`` if held."""

    def __init__(self, found: int | None = None, *, hold: bool = False,
                 error: str | None = None) -> None:
        self.found = found
        self.error = error
        self.calls: list[tuple[str, str, int]] = []
        self.go = asyncio.Event() if hold else None
        self.cancelled = False

    async def __call__(self, pacs: PacsNode, dest: Destination, request: MoveRequest,
                       result: MoveResult) -> ArrivalCheck:
        self.calls.append((pacs.name, dest.ae_title, result.sent))
        if self.go is not None:
            try:
                await self.go.wait()
            except asyncio.CancelledError:
                self.cancelled = True
                raise
        found = result.sent if self.found is None else self.found
        waited = 0.0 if found >= result.sent else 30.0
        return ArrivalCheck(dest.ae_title, result.sent, 0 if self.error else found, waited,
                            error=self.error)


def run(checker: Checker, destination: str, *, store: JobStore | None = None,
        images: int = 8) -> tuple[JobSnapshot, list[JobSnapshot]]:
    watch = QueueWatch()

    async def scenario() -> JobSnapshot:
        queue = MoveQueue(None, watch, start_move=FakeMoves(default=MoveScript(images=images)),
                          check_arrival=checker, store=store)
        job_id = queue.submit(NODE, MoveRequest(MoveTarget(STUDY), destination))
        if checker.go is not None:
            await watch.until(lambda: queue.get(job_id).checking)
            checker.go.set()
        await watch.until(lambda: queue.get(job_id).state.is_finished)
        return queue.get(job_id)

    job = asyncio.run(scenario())
    return job, watch.snapshots(job.job_id)


def test_a_verified_send_reads_verified_and_its_bar_is_full() -> None:
    checker = Checker(hold=True)
    job, seen = run(checker, "WS3")
    assert checker.calls == [("demo", "WS3", 8)]
    checking = [s for s in seen if s.checking]
    assert checking and row_progress_words(checking[0]) == f"8 of 8 sent · {CHECKING_DESTINATION}"
    assert all(not s.state.is_finished for s in checking)  # not over while it is checked
    # while the destination is asked, the bar is not the full green of a verified send
    # (seen in review: full green for the whole wait, then it shrank to 4 of 6)
    assert not any(job_bar_shape(s, active=True).full for s in checking)
    assert job.state is JobState.COMPLETED
    assert row_progress_words(job) == "8 of 8 sent · verified at destination: 8/8"
    assert job_bar_shape(job, active=False).full
    assert arrival_outcome_words(job) is None


def test_a_send_the_destination_holds_1_of_8_of_is_partial_everywhere(tmp_path: Path) -> None:
    """The field case: the PACS said "8 of 8 sent", the workstation holds 1."""
    store = JobStore(tmp_path / "profile" / "data" / "jobs.db")  # the profile's job store
    job, _seen = run(Checker(found=1), "WS3", store=store)
    words = "destination has 1 of 8 after 30 s"
    assert job.state is JobState.PARTIAL
    assert row_progress_words(job) == f"8 of 8 sent · {words}"
    assert arrival_outcome_words(job) == f"partial: {words}"
    shape = job_bar_shape(job, active=False)
    assert not shape.full and shape.arrived == pytest.approx(1 / 8)
    recorded = store.get(job.job_id)
    assert (recorded.state, recorded.arrival, recorded.arrival_verified) == (
        JobState.PARTIAL, words, False)
    out = io.StringIO()
    export_csv([recorded], out)
    (row,) = csv.DictReader(io.StringIO(out.getvalue()))
    assert tuple(row) == CSV_COLUMNS
    assert (row["final status"], row["completed"], row["arrival"], row["received"]) == (
        "partial", "8", words, "")
    store.close()
    listed = run_cli("queue", "list", config_dir=tmp_path / "profile")
    assert listed.returncode == 0, listed.stderr
    assert "destination has 1 of 8" in " ".join(listed.stdout.split())


def test_a_destination_that_cannot_be_asked_keeps_the_pacs_state_and_says_not_checked(
        ) -> None:
    job, _seen = run(Checker(error="WS3 at 127.0.0.1:11113 did not answer"), "WS3")
    assert job.state is JobState.COMPLETED  # what the PACS said, and no more
    assert row_progress_words(job) == (
        "8 of 8 sent · not checked: WS3 at 127.0.0.1:11113 did not answer")


def test_a_destination_not_marked_queryable_is_not_checked() -> None:
    checker = Checker(found=0)
    job, seen = run(checker, "WS4")
    assert checker.calls == [] and job.arrival is None and not any(s.checking for s in seen)
    assert job.state is JobState.COMPLETED and row_progress_words(job) == "8 of 8 sent"


def test_cancel_during_the_check_stops_it_and_says_so() -> None:
    checker = Checker(hold=True)
    watch = QueueWatch()

    async def scenario() -> JobSnapshot:
        queue = MoveQueue(None, watch, start_move=FakeMoves(default=MoveScript(images=8)),
                          check_arrival=checker)
        job_id = queue.submit(NODE, MoveRequest(MoveTarget(STUDY), "WS3"))
        await watch.until(lambda: queue.get(job_id).checking)
        queue.cancel(job_id)
        await watch.until(lambda: queue.get(job_id).state.is_finished)
        return queue.get(job_id)

    job = asyncio.run(scenario())
    assert checker.cancelled
    assert job.state is JobState.COMPLETED  # the PACS had sent them; only the check stopped
    assert row_progress_words(job) == "8 of 8 sent · not checked: the check was cancelled"
