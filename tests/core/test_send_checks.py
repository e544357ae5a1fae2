"""The pre-send checks (core.send_checks): what to ask before a send, decided from jobs.db.

Before issue 10 the window decided "already queued or sent within N minutes" from a dict of
its own: it forgot every send at restart, never saw `move` or `queue run` sends, and called a
send that delivered nothing "sent". Now the engine reads jobs.db and returns plain questions;
`move` prints the same finding as a Warning line.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from dicom_courier.core.cli.main import run
from dicom_courier.core.cli.send_warnings import pre_send_warnings
from dicom_courier.core.config.profiles import Destination, PacsNode
from dicom_courier.core.demo.synthetic import StudySpec
from dicom_courier.core.demo.workstation import Workstation
from dicom_courier.core.jobs.destination_memory import DestinationMemory
from dicom_courier.core.jobs.send_checks import (
    CheckKind,
    SendPlan,
    recent_sends,
    repeat_warnings,
    send_questions,
)
from dicom_courier.core.jobs.store import JobStore
from dicom_courier.core.outcome.errors import MoveDestinationUnknown, Peer
from dicom_courier.core.outcome.events import MoveOutcome, MoveResult
from dicom_courier.core.outcome.status import failure_for_status
from dicom_courier.core.qr.query import FindMatch, MoveTarget, QueryLevel
from tests.fakes.quirky import QuirkyPacs

NODE = PacsNode(name="Main", called_aet="PACS", host="127.0.0.1", port=104,
                destinations=(Destination("WS"),))
A, B, C = "1.2.3.1", "1.2.3.2", "1.2.3.3"
NOW = 1_800_000_000.0
PEER = Peer("COURIER", "PACS", "h", 104)


def _match(uid: str, patient: str = "P1") -> FindMatch:
    return FindMatch(QueryLevel.STUDY, {"StudyInstanceUID": uid, "PatientID": patient,
                                        "NumberOfStudyRelatedSeries": "2",
                                        "NumberOfStudyRelatedInstances": "10"})


def _plan(*uids: str, destination: str = "WS") -> SendPlan:
    return SendPlan(pacs=NODE, destination=destination, destination_label=destination,
                    matches=tuple(_match(uid) for uid in uids))


def _job(store: JobStore, uid: str, *, state: str, completed: int = 0,
         ended_minutes_ago: float = 5.0, destination: str = "WS",
         pacs: PacsNode = NODE, series: tuple[str, ...] = ()) -> int:
    job_id = store.add(pacs_json=pacs.to_json(), destination=destination, study_uid=uid,
                       series_uids=series, queued_at=NOW - ended_minutes_ago * 60 - 30)
    if state in ("queued",):
        return job_id
    store.started(job_id)
    if state in ("running", "retrying", "cancelling"):
        store.set_state(job_id, state)
        return job_id
    store.finished(job_id, state=state, total=10, completed=completed, failed=0, warning=0,
                   status=None, error=None)
    store._db.execute("UPDATE jobs SET finished_at=? WHERE id=?",  # when it ended, for the test
                      (NOW - ended_minutes_ago * 60, job_id))
    return job_id


@pytest.fixture
def store(tmp_path: Path) -> JobStore:
    return JobStore(tmp_path / "jobs.db")


def _uids(store: JobStore, *uids: str, minutes: int = 60, destination: str = "WS",
          pacs_name: str = "Main") -> list[str]:
    found = recent_sends(store, pacs_name=pacs_name, destination=destination,
                         study_uids=uids, minutes=minutes, now=NOW)
    return [repeat.study_uid for repeat in found]


@pytest.mark.parametrize(("state", "completed", "minutes_ago", "repeat"), [
    ("queued", 0, 0, True),                  # waiting in jobs.db (any process, any session)
    ("running", 0, 0, True),
    ("retrying", 0, 0, True),
    ("completed", 10, 5, True),              # sent 5 minutes ago
    ("completed", 10, 90, False),            # sent 90 minutes ago: outside the 60
    ("partial", 4, 5, True),                 # some images arrived
    ("failed", 0, 5, False),                 # nothing arrived: sending again is the fix
    ("cancelled", 0, 5, False),
    ("cancelled", 3, 5, True),
])
def test_a_repeat_is_read_from_the_job_database(store: JobStore, state: str, completed: int,
                                                minutes_ago: float, repeat: bool) -> None:
    _job(store, A, state=state, completed=completed, ended_minutes_ago=minutes_ago)
    assert _uids(store, A, B) == ([A] if repeat else [])


def test_only_the_same_pacs_and_destination_count(store: JobStore) -> None:
    _job(store, A, state="completed", completed=10)
    _job(store, B, state="completed", completed=10, destination="OTHER")
    _job(store, C, state="completed", completed=10, pacs=NODE.with_changes(name="Other"))
    assert _uids(store, A, B, C) == [A]
    assert _uids(store, A, pacs_name="  main ") == [A]  # a profile name in any case
    assert _uids(store, A, minutes=0) == []  # the "recently" part turned off


def test_a_series_send_of_the_study_counts(store: JobStore) -> None:
    _job(store, A, state="completed", completed=3, series=("1.2.3.1.1",))
    assert _uids(store, A) == [A]


def test_a_study_sent_by_an_earlier_session_is_asked_about(tmp_path: Path) -> None:
    first = JobStore(tmp_path / "jobs.db")
    _job(first, A, state="completed", completed=10)
    first.close()
    again = JobStore(tmp_path / "jobs.db")  # the old window dict forgot it at restart
    questions = send_questions(_plan(A, B), store=again, destinations=DestinationMemory(again),
                               confirm_over=10, resend_minutes=60, now=NOW)
    assert [q.kind for q in questions] == [CheckKind.RECENT_REPEAT]
    assert questions[0].targets == (A,)
    assert questions[0].text == ("Of these 2 studies, 1 was sent to WS in the last 60 "
                                 "minutes. Send again?")


def test_nothing_to_ask_sends_at_once(store: JobStore) -> None:
    assert send_questions(_plan(A), store=store, destinations=DestinationMemory(store),
                          confirm_over=1, resend_minutes=60, now=NOW) == []


def test_questions_come_in_order_with_their_targets(store: JobStore) -> None:
    _job(store, B, state="queued")
    memory = DestinationMemory(store)
    error = failure_for_status(0xA801, operation="send", peer=PEER, destination="WS")
    assert isinstance(error, MoveDestinationUnknown)
    memory.note("Main", "WS", MoveResult(
        outcome=MoveOutcome.FAILED, total=None, completed=0, failed=0, warning=0,
        status=0xA801, duration=0.1, error_comment=None, failed_sop_uids=(), error=error,
        destination="WS", peer=PEER))
    questions = send_questions(_plan(A, B, A), store=store, destinations=memory,
                               confirm_over=1, resend_minutes=60, now=NOW)
    assert [q.kind for q in questions] == [CheckKind.DESTINATION_REFUSED,
                                           CheckKind.LARGE_SEND, CheckKind.RECENT_REPEAT]
    refused, large, repeat = questions
    assert "does not know the destination WS (0xA801)" in refused.text
    assert refused.targets == (A, B)
    assert large.title == "Send 2 studies?"
    assert large.text.startswith("2 studies · 4 series · 20 images → WS (from PACS)")
    assert "3 selected rows name 2 studies: each study is sent once." in large.text
    assert repeat.targets == (B,)
    assert "1 is already queued or being sent to WS" in repeat.text


def test_the_size_question_follows_the_setting(store: JobStore) -> None:
    memory = DestinationMemory(store)
    asked = send_questions(_plan(A, B, C), store=store, destinations=memory, confirm_over=2,
                           resend_minutes=60, now=NOW)
    assert [q.kind for q in asked] == [CheckKind.LARGE_SEND]
    assert send_questions(_plan(A, B, C), store=store, destinations=memory, confirm_over=3,
                          resend_minutes=60, now=NOW) == []


def test_the_command_line_words_say_when_and_how_much(store: JobStore) -> None:
    sent = _job(store, A, state="completed", completed=10, ended_minutes_ago=12)
    waiting = _job(store, B, state="queued")
    repeats = recent_sends(store, pacs_name="Main", destination="WS", study_uids=[A, B],
                           minutes=60, now=NOW)
    assert repeat_warnings(repeats, destination="WS", now=NOW) == [
        f"study {A} was sent 12 minutes ago (job {sent}, completed: 10 of 10 images) to WS; "
        "it is sent again.",
        f"study {B} is already queued as job {waiting} to WS; it is sent again."]
    targets = [MoveTarget(study_uid=A), MoveTarget(study_uid=C)]
    lines = pre_send_warnings(store, NODE, "WS", targets, resend_minutes=60)
    assert len(lines) == 1 and lines[0].startswith(f"study {A} was sent ")


def test_a_repeat_to_this_computer_names_it_as_people_read_it(store: JobStore) -> None:
    """``move --dest @here`` twice: the warning says "This computer", never "@here"."""
    sent = _job(store, A, state="completed", completed=10, ended_minutes_ago=0.5,
                destination="@here")
    lines = pre_send_warnings(store, NODE, "@here", [MoveTarget(study_uid=A)],
                              resend_minutes=60)
    assert len(lines) == 1 and lines[0].startswith(f"study {A} was sent "), lines
    assert lines[0].endswith(f"(job {sent}, completed: 10 of 10 images) to This computer; "
                             "it is sent again."), lines


SPEC = StudySpec(key="send-checks-cli", patient_name="AGAIN^CLI", patient_id="AC1",
                 series_count=1, instances_per_series=2)


@pytest.mark.network
def test_move_warns_when_the_study_was_sent_minutes_ago(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`move` twice: the second prints a Warning line (no prompt) and still sends."""
    with Workstation(tmp_path / "ws", ae_title="WS") as ws, QuirkyPacs([SPEC]) as pacs:
        pacs.add_destination("WS", "127.0.0.1", ws.port)
        config = str(tmp_path / "cfg")
        assert run(["--config-dir", config, "nodes", "add", "Demo", "--host", "127.0.0.1",
                    "--port", str(pacs.port), "--aet", pacs.ae_title, "--dest", "WS"]) == 0
        argv = ["--config-dir", config, "move", "--pacs", "Demo", "--study", SPEC.study_uid]
        capsys.readouterr()
        assert run(argv) == 0
        first = capsys.readouterr().err
        assert "Warning" not in first
        started = time.monotonic()
        assert run(argv) == 0
        second = " ".join(capsys.readouterr().err.split())
        assert time.monotonic() - started < 10
        assert f"Warning: study {SPEC.study_uid} was sent less than a minute ago" in second
        assert "completed: 2 of 2 images) to WS; it is sent again." in second
        assert len(pacs.moves) == 2 and len(pacs.instances_sent) == 4  # sent again


def test_one_study_is_asked_about_in_a_plain_sentence(store: JobStore) -> None:
    _job(store, A, state="partial", completed=4)
    questions = send_questions(_plan(A), store=store, destinations=DestinationMemory(store),
                               confirm_over=1, resend_minutes=30, now=NOW)
    assert [q.text for q in questions] == [
        "This study was partly sent to WS in the last 30 minutes (4 of 10 images arrived). "
        "Send it again?"]
    _job(store, A, state="running")
    again = send_questions(_plan(A), store=store, destinations=DestinationMemory(store),
                           confirm_over=1, resend_minutes=30, now=NOW)
    assert again[0].text == "This study is already queued or being sent to WS. Send it again?"
