"""Issue 11 §5, the engine's half: the words of a send's row, the bar's shape, what Retry
re-sends, and the duplicate-send question (Qt-free: core.jobs.row_words, retry_choice,
send_checks).

Before: a partial send of 60 read "54/60" over a bar painted to the end, a timeout's Retry
depended on the window, and a send that failed part-way was "sent" in the repeat question.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from dicom_courier.core.config.profiles import PacsNode
from dicom_courier.core.dimse.destination_check import (
    DestinationDown,
    DestinationEcho,
    Reach,
)
from dicom_courier.core.jobs.destination_memory import DestinationMemory
from dicom_courier.core.jobs.retry_choice import RetryKind, retry_choice
from dicom_courier.core.jobs.row_words import (
    ImageCounts,
    bar_shape,
    counts_words,
    paused_banner,
)
from dicom_courier.core.jobs.send_checks import (
    SendPlan,
    recent_sends,
    repeat_warnings,
    send_choices,
    send_questions,
)
from dicom_courier.core.jobs.store import JobStore
from dicom_courier.core.outcome.errors import (
    AssociationAborted,
    AssociationRejected,
    ConnectionFailed,
    CourierError,
    PartialFailure,
    Peer,
    PeerTimeout,
)
from dicom_courier.core.outcome.events import MoveOutcome, MoveResult
from dicom_courier.core.outcome.status import failure_for_status
from dicom_courier.core.qr.query import FindMatch, QueryLevel

PEER = Peer("COURIER", "PACS", "127.0.0.1", 104)
NODE = PacsNode(name="Main", called_aet="PACS", host="127.0.0.1", port=104)
NOW = 1_750_000_000.0


# ---------------------------------------------------------------------- row words


@pytest.mark.parametrize(("counts", "finished", "words"), [
    (ImageCounts(60, 0, 0, 60), True, "60 of 60 sent"),
    (ImageCounts(24, 0, 0, 60), False, "24 of 60 sent"),
    (ImageCounts(52, 0, 8, 60), True, "52 sent · 8 failed of 60"),  # never "60/60"
    (ImageCounts(58, 2, 0, 60), True, "60 of 60 sent (2 with warnings)"),
    (ImageCounts(50, 2, 8, 60), True, "52 sent (2 with warnings) · 8 failed of 60"),
    (ImageCounts(12, 0, 0, None), False, "12 sent"),  # no "of ?", no made-up total
    (ImageCounts(30, 0, 0, None), True, "30 sent · total not reported"),
    (ImageCounts(reported=False), False, "no counts yet"),
    (ImageCounts(reported=False), True, "no image counts"),
    (ImageCounts(0, 0, 1, 3, completed_known=False), True, "? sent · 1 failed of 3"),
])
def test_a_row_names_sent_warnings_and_failed_apart(counts: ImageCounts, finished: bool,
                                                    words: str) -> None:
    assert counts_words(counts, finished=finished) == words


def test_a_bar_is_full_only_when_every_image_arrived() -> None:
    full = bar_shape(ImageCounts(60, 0, 0, 60), active=False)
    assert full.full and full.arrived == 1.0
    warned = bar_shape(ImageCounts(58, 2, 0, 60), active=False)
    assert warned.full  # every image arrived, two with warnings
    partial = bar_shape(ImageCounts(52, 0, 8, 60), active=False)
    assert not partial.full
    assert partial.arrived == pytest.approx(52 / 60) and partial.failed == pytest.approx(8 / 60)
    assert not bar_shape(ImageCounts(599, 0, 0, 600), active=True).full
    assert not bar_shape(ImageCounts(0, 0, 1, 3, completed_known=False), active=False).full


def test_an_unknown_total_never_shows_a_percentage() -> None:
    running = bar_shape(ImageCounts(12, 0, 0, None), active=True)
    assert running.indeterminate and running.arrived == 0
    over = bar_shape(ImageCounts(30, 0, 0, None), active=False)
    assert not over.indeterminate and over.arrived == 0 and not over.full
    silent = bar_shape(ImageCounts(reported=False), active=False)
    assert silent.arrived == 0 and not silent.full


def test_the_paused_banner_counts_the_waiting_sends() -> None:
    assert paused_banner(1) == "Queue paused — 1 send waiting. Running sends go on."
    assert paused_banner(3) == "Queue paused — 3 sends waiting. Running sends go on."


# ---------------------------------------------------------------------- retry


def _result(outcome: MoveOutcome, error: CourierError | None, *, completed: int = 0,
            failed: int = 0, total: int | None = None,
            uids: tuple[str, ...] = ()) -> MoveResult:
    return MoveResult(outcome=outcome, total=total, completed=completed, failed=failed,
                      warning=0, status=None, duration=1.0, error_comment=None,
                      failed_sop_uids=uids, error=error, destination="WS3", peer=PEER)


def _down() -> DestinationDown:
    return DestinationDown("WS3 does not answer.", "Our echo got no answer.", "Start WS3.",
                           destination="WS3",
                           echo=DestinationEcho(Reach.SILENT, "10.0.0.9:104", "refused"))


FAILED_UIDS = tuple(f"1.2.3.4.{n}" for n in range(8))

RETRY_ROWS = {
    "0xA801 destination unknown: the PACS admin must add it": (
        _result(MoveOutcome.FAILED, failure_for_status(
            0xA801, operation="send", peer=PEER, destination="WS3")), RetryKind.NONE),
    "destination down (our echo got no answer)": (
        _result(MoveOutcome.FAILED, _down()), RetryKind.WHOLE),
    "the PACS stopped answering (idle timeout)": (
        _result(MoveOutcome.FAILED, PeerTimeout("t", "e", "a")), RetryKind.WHOLE),
    "connection refused": (
        _result(MoveOutcome.FAILED, ConnectionFailed("t", "e", "a")), RetryKind.WHOLE),
    "association rejected, transient (busy)": (
        _result(MoveOutcome.FAILED, AssociationRejected("t", "e", "a", permanent=False,
                                                        reason="busy")), RetryKind.WHOLE),
    "association rejected, permanent": (
        _result(MoveOutcome.FAILED, AssociationRejected("t", "e", "a", permanent=True,
                                                        reason="calling AE")), RetryKind.NONE),
    "network dropped the association": (
        _result(MoveOutcome.FAILED, AssociationAborted("t", "e", "a")), RetryKind.WHOLE),
    "0xA702 PACS out of resources": (
        _result(MoveOutcome.FAILED, failure_for_status(
            0xA702, operation="send", peer=PEER, destination="WS3")), RetryKind.WHOLE),
    "partial with every failed image listed": (
        _result(MoveOutcome.PARTIAL, PartialFailure("t", "e", "a"), completed=52, failed=8,
                total=60, uids=FAILED_UIDS), RetryKind.FAILED_IMAGES),
    "partial, the PACS listed only some failed images": (
        _result(MoveOutcome.PARTIAL, PartialFailure("t", "e", "a"), completed=52, failed=8,
                total=60, uids=FAILED_UIDS[:3]), RetryKind.WHOLE),
    "partial with images never sent": (
        _result(MoveOutcome.PARTIAL, PartialFailure("t", "e", "a"), completed=40, failed=8,
                total=60, uids=FAILED_UIDS), RetryKind.WHOLE),
    "completed": (_result(MoveOutcome.COMPLETED, None, completed=60, total=60),
                  RetryKind.NONE),
}


@pytest.mark.parametrize("name", list(RETRY_ROWS))
def test_retry_is_offered_when_retrying_can_help(name: str) -> None:
    result, kind = RETRY_ROWS[name]
    choice = retry_choice(result)
    assert choice.kind is kind
    assert choice.helps is (kind is not RetryKind.NONE)


def test_the_failed_images_button_says_how_many() -> None:
    result, _ = RETRY_ROWS["partial with every failed image listed"]
    choice = retry_choice(result)
    assert choice.label == "Retry the 8 failed images"
    assert "the 52 that arrived are not sent again" in choice.reason


# ---------------------------------------------------------------------- repeats


def _study(uid: str) -> FindMatch:
    return FindMatch(QueryLevel.STUDY, {"StudyInstanceUID": uid, "PatientID": "P1"})


UIDS = [f"1.2.826.0.1.3680043.8.498.{n}" for n in range(1, 6)]


def _ended(store: JobStore, uid: str, state: str, *, completed: int, failed: int = 0,
           total: int = 10) -> int:
    job_id = store.add(pacs_json=NODE.to_json(), destination="WS", study_uid=uid,
                       queued_at=NOW - 600)
    store.started(job_id)
    store.finished(job_id, state=state, total=total, completed=completed, failed=failed,
                   warning=0, status=None, error=None)
    store._db.execute("UPDATE jobs SET finished_at=? WHERE id=?", (NOW - 300, job_id))
    return job_id


def test_a_failed_send_is_called_failed_and_only_the_repeats_can_be_skipped(
        tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.db")
    _ended(store, UIDS[0], "completed", completed=10)
    failed = _ended(store, UIDS[3], "failed", completed=4)  # aborted after 4 of 10 arrived
    plan = SendPlan(NODE, "WS", "WS", tuple(_study(uid) for uid in UIDS))
    questions = send_questions(plan, store=store, destinations=DestinationMemory(store),
                               confirm_over=50, resend_minutes=60, now=NOW)
    assert [q.text for q in questions] == [
        "Of these 5 studies, in the last 60 minutes 1 was sent to WS and 1 failed part-way "
        "(some or all of their images arrived). Send again?"]
    choices = send_choices(plan, questions)
    assert [c.label for c in choices] == ["Send all 5", "Skip the 2 repeats, send 3"]
    assert [m.get("StudyInstanceUID") for m in choices[0].plan.studies] == UIDS
    assert [m.get("StudyInstanceUID") for m in choices[1].plan.studies] == [
        UIDS[1], UIDS[2], UIDS[4]]

    one = SendPlan(NODE, "WS", "WS", (_study(UIDS[3]),))
    asked = send_questions(one, store=store, destinations=DestinationMemory(store),
                           confirm_over=50, resend_minutes=60, now=NOW)
    assert asked[0].text == ("A send of this study to WS failed in the last 60 minutes (4 of "
                             "10 images arrived before it failed). Send it again?")
    assert [c.label for c in send_choices(one, asked)] == ["Send again"]
    repeats = recent_sends(store, pacs_name="Main", destination="WS", study_uids=[UIDS[3]],
                           minutes=60, now=NOW)
    assert repeat_warnings(repeats, destination="WS", now=NOW) == [
        f"study {UIDS[3]}: a send to WS failed 5 minutes ago (job {failed}: 4 of 10 images "
        "arrived before it failed); it is sent again."]


def test_no_repeat_sends_at_once_and_all_repeats_send_all_again(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.db")
    plan = SendPlan(NODE, "WS", "WS", tuple(_study(uid) for uid in UIDS[:2]))
    questions = send_questions(plan, store=store, destinations=DestinationMemory(store),
                               confirm_over=1, resend_minutes=60, now=time.time())
    assert [c.label for c in send_choices(plan, questions)] == ["Send"]  # the size question
    for uid in UIDS[:2]:
        _ended(store, uid, "partial", completed=6, failed=4)
    again = send_questions(plan, store=store, destinations=DestinationMemory(store),
                           confirm_over=50, resend_minutes=60, now=NOW)
    assert again[0].text == ("Of these 2 studies, in the last 60 minutes 2 were partly sent "
                             "to WS (some or all of their images arrived). Send again?")
    assert [c.label for c in send_choices(plan, again)] == ["Send all 2 again"]


def test_a_series_label_without_a_date_has_no_stray_space() -> None:
    from dicom_courier.core.jobs.picked import series_label

    study = FindMatch(QueryLevel.STUDY, {"StudyDescription": "CT", "PatientID": " P9 "})
    series = FindMatch(QueryLevel.SERIES, {"SeriesNumber": "2", "Modality": "CT"})
    label = series_label(study, series)
    assert (label.study, label.patient_id) == ("CT · series 2 CT", "P9")


def test_the_rate_counts_only_images_that_arrived() -> None:
    """Review of issue 11: a send where every image failed showed "51.0 img/s" in the Rate
    column; the pace used for the time remaining still counts every finished image."""
    from dicom_courier.core.config.profiles import PacsNode
    from dicom_courier.core.jobs.job import JobLabel, JobSnapshot, JobState
    from dicom_courier.core.outcome.events import MoveProgress
    from dicom_courier.core.qr.query import MoveRequest, MoveTarget

    def job(completed: int, failed: int) -> JobSnapshot:
        progress = MoveProgress(remaining=10, completed=completed, failed=failed, warning=0,
                                total=10 + completed + failed, status=0xFF00, elapsed=2.0,
                                is_final=False)
        return JobSnapshot(job_id=1, pacs=PacsNode(name="p", called_aet="P", host="h",
                                                   port=104),
                           request=MoveRequest(MoveTarget("1.2.3"), "WS"), label=JobLabel(),
                           state=JobState.RUNNING, queued_at=0.0, started_at=100.0,
                           finished_at=102.0, progress=progress)

    all_failed = job(0, 10)
    assert all_failed.sent_per_second is None  # nothing arrived: no rate shown
    assert all_failed.images_per_second == 5.0 and all_failed.seconds_remaining == 2.0
    assert job(6, 4).sent_per_second == 3.0
