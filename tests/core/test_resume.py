"""One rule to send a stored job again (core.resume), shared by the window and `queue run`.

The bug (issue 10): the window rebuilt a stored job by hand and had drifted from `queue run`:
it resumed a STAT job at normal priority and a "failed images only" job as its whole series.
Both paths now call :func:`resumption_of`; these rows check every field it keeps, and that
`queue run` sends a STAT, IMAGE-level job as such (the window path: tests/gui/
test_window_resume.py).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from dicom_courier.core.cli import queue_cmd
from dicom_courier.core.cli.main import run
from dicom_courier.core.config.profile_store import NodeStore
from dicom_courier.core.config.profiles import Destination, PacsNode, Timeouts
from dicom_courier.core.demo.synthetic import StudySpec
from dicom_courier.core.demo.workstation import Workstation
from dicom_courier.core.jobs.resume import (
    offered_for_resume,
    pacs_for,
    request_from_stored,
    resume_question,
    resumption_of,
)
from dicom_courier.core.jobs.store import JobStore, StoredJob
from dicom_courier.core.qr.model_choice import ModelMemory
from dicom_courier.core.qr.query import Priority, QueryLevel, QueryModel
from tests.fakes.quirky import QuirkyPacs

SPEC = StudySpec(key="resume-fields", patient_name="STAT^RESUME", patient_id="RS1",
                 description="CT head", modalities=("CT",), series_count=2,
                 instances_per_series=3)
NODE = PacsNode(name="Main", called_aet="PACS", host="127.0.0.1", port=104,
                destinations=(Destination("WS"),))


def _stored(store: JobStore, *, priority: Priority = Priority.MEDIUM,
            series: tuple[str, ...] = (), sops: tuple[str, ...] = (),
            patient_id: str = "RS1", node: PacsNode = NODE, started: bool = True) -> int:
    job_id = store.add(pacs_json=node.to_json(), destination="WS", study_uid=SPEC.study_uid,
                       series_uids=series, patient_id=patient_id,
                       label="STAT^RESUME — CT head")
    store.set_priority(job_id, int(priority))
    if sops:
        store.set_sop_uids(job_id, sops)
    if started:
        store.started(job_id)
    return job_id


FAILED_IMAGES = (SPEC.sop_uid(1, 0), SPEC.sop_uid(1, 2))


@pytest.fixture
def store(tmp_path: Path) -> JobStore:
    return JobStore(tmp_path / "jobs.db")


def test_a_stat_job_resumes_as_stat_with_every_field(store: JobStore) -> None:
    job = store.get(_stored(store, priority=Priority.HIGH))
    plan = resumption_of(job, NODE)
    assert plan.request.priority is Priority.HIGH  # old window: MEDIUM
    assert plan.request.destination == "WS" and plan.pacs is NODE
    assert plan.request.target.level is QueryLevel.STUDY
    assert plan.request.target.study_uid == SPEC.study_uid
    assert plan.request.target.patient_id == "RS1"
    assert plan.label.patient == "STAT^RESUME" and plan.label.study == "CT head"
    assert plan.retry_of == job.id
    assert plan.request.model is QueryModel.STUDY
    assert plan.request.other_models == (QueryModel.PATIENT,)  # Patient Root proposed too


def test_a_failed_images_only_job_resumes_at_image_level(store: JobStore) -> None:
    job = store.get(_stored(store, series=(SPEC.series_uid(1),), sops=FAILED_IMAGES))
    request = request_from_stored(job, NODE)
    assert request.target.level is QueryLevel.IMAGE  # old window: SERIES (all 3 images)
    assert request.target.sop_uids == FAILED_IMAGES
    assert request.target.series_uids == (SPEC.series_uid(1),)


def test_the_model_the_pacs_accepted_is_asked_first(store: JobStore) -> None:
    memory = ModelMemory()
    memory.learn(NODE, QueryModel.PATIENT)
    request = request_from_stored(store.get(_stored(store)), NODE, memory)
    assert request.model is QueryModel.PATIENT and request.other_models == (QueryModel.STUDY,)


def test_a_priority_that_is_no_dimse_value_is_asked_as_medium(store: JobStore) -> None:
    job_id = _stored(store)
    store.set_priority(job_id, 7)
    assert request_from_stored(store.get(job_id), NODE).priority is Priority.MEDIUM


def test_a_job_without_patient_id_keeps_none(store: JobStore) -> None:
    request = request_from_stored(store.get(_stored(store, patient_id="")), NODE)
    assert request.target.patient_id is None


def test_the_saved_profile_is_used_else_the_recorded_one(store: JobStore) -> None:
    job = store.get(_stored(store))
    moved = NODE.with_changes(host="10.0.0.9")
    assert pacs_for(job, {"MAIN": moved}, store.pacs_json) is moved  # any case
    recorded = pacs_for(job, {}, store.pacs_json)  # profile deleted since
    assert recorded.name == "Main" and recorded.host == "127.0.0.1"


def test_queue_run_and_the_window_build_the_same_send(store: JobStore, tmp_path: Path) -> None:
    NodeStore(tmp_path / "nodes.json").put(NODE)
    job = store.get(_stored(store, priority=Priority.HIGH, series=(SPEC.series_uid(1),),
                            sops=FAILED_IMAGES))
    args = argparse.Namespace(config_dir=str(tmp_path))
    planned = queue_cmd._plan(store, job, args)
    assert planned.request == resumption_of(job, NODE).request
    assert planned.request.priority is Priority.HIGH
    assert planned.request.target.sop_uids == FAILED_IMAGES


def test_offered_are_every_unfinished_send_no_one_continues(tmp_path: Path) -> None:
    """Crash-interrupted and still-waiting sends are offered (a window's waiting send must
    not be lost to a crash); one already continued by another job is not."""
    first = JobStore(tmp_path / "jobs.db")
    crashed = _stored(first, priority=Priority.HIGH)
    resumed = _stored(first)
    waiting = _stored(first, started=False)  # queued, never started
    first.close()
    store = JobStore(tmp_path / "jobs.db")
    assert sorted(store.interrupted) == [crashed, resumed]
    store.add(pacs_json=NODE.to_json(), destination="WS", study_uid=SPEC.study_uid,
              retry_of=resumed)  # already continued by another job
    offered = [job.id for job in offered_for_resume(store)]
    continuing = max(job.id for job in store.jobs())
    assert offered == [crashed, waiting, continuing]  # the continuing job waits too


def test_the_question_says_what_each_resumed_send_asks_for(store: JobStore) -> None:
    stat = store.get(_stored(store, priority=Priority.HIGH))
    images = store.get(_stored(store, series=(SPEC.series_uid(1),), sops=FAILED_IMAGES))
    store.progress(stat.id, total=6, completed=2, failed=0, warning=0, force=True)
    question = resume_question([store.get(stat.id), images])
    assert question is not None and question.title == "Resume unfinished sends?"
    assert "2 send(s) did not finish" in question.text
    assert "STAT^RESUME — CT head (STAT): 2 of 6 images; asks for the whole study again" \
        in question.text
    assert "asks for 2 image(s) of one series again" in question.text
    assert "for the whole study again: the PACS" not in question.text  # not true for images
    assert "may send images the destination already has" in question.text
    only_study = resume_question([stat])
    assert only_study is not None
    assert "asks the PACS for the whole study again" in only_study.text
    assert resume_question([]) is None


@pytest.mark.network
def test_queue_run_sends_a_stat_failed_images_job_as_such(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """End to end: the PACS gets one IMAGE-level C-MOVE naming the two images, and only
    they arrive; the new row keeps priority HIGH and the SOP Instance UIDs."""
    with Workstation(tmp_path / "ws", ae_title="WS") as ws, QuirkyPacs([SPEC]) as pacs:
        pacs.add_destination("WS", "127.0.0.1", ws.port)
        node = NODE.with_changes(called_aet=pacs.ae_title, port=pacs.port,
                                 timeouts=Timeouts(idle=10))
        config = tmp_path / "cfg"
        NodeStore(config / "nodes.json").put(node)
        store = JobStore(config / "data" / "jobs.db")
        old = _stored(store, priority=Priority.HIGH, series=(SPEC.series_uid(1),),
                      sops=FAILED_IMAGES, node=node)
        store.close()
        code = run(["--config-dir", str(config), "queue", "run"])
        err = capsys.readouterr().err
        assert code == 0, err
        assert [m["QueryRetrieveLevel"] for m in pacs.moves] == ["IMAGE"]
        assert ws.received_uids() == set(FAILED_IMAGES)
    after = JobStore(config / "data" / "jobs.db")
    new = [job for job in after.jobs() if job.retry_of == old]
    assert len(new) == 1 and new[0].priority == int(Priority.HIGH)
    assert new[0].sop_uids == FAILED_IMAGES and new[0].state == "completed"
    assert isinstance(new[0], StoredJob)


def test_the_question_says_what_a_send_here_received_not_what_the_pacs_said(
        store: JobStore) -> None:
    """Seen in review (issue 13): quitting while a send to this computer waited for its files
    (the PACS had answered "6 of 6", none had arrived), the next start asked about it as
    "6 of 6 images" — a person would cancel a send that had brought nothing."""
    from dicom_courier.core.jobs.store import ArrivalRecord
    from dicom_courier.core.outcome.arrival import HERE

    job_id = store.add(pacs_json=NODE.to_json(), destination=HERE, study_uid=SPEC.study_uid,
                       patient_id="RS1", label="STAT^RESUME — CT head")
    store.started(job_id)
    store.progress(job_id, total=6, completed=6, failed=0, warning=0, force=True)
    store.arrival_progress(job_id, ArrivalRecord(received=0), force=True)
    question = resume_question([store.get(job_id)])
    assert question is not None
    assert "6 of 6 images" not in question.text
    assert "STAT^RESUME — CT head: 0 of 6 images received on this computer; asks for the " \
        "whole study again" in question.text


def test_the_question_names_five_jobs_and_counts_the_rest(store: JobStore) -> None:
    jobs = [store.get(_stored(store)) for _ in range(7)]
    question = resume_question(jobs)
    assert question is not None
    assert question.text.startswith("7 send(s) did not finish")
    assert question.text.count("\n• STAT^RESUME — CT head: ") == 5
    assert "\n• and 2 more\n" in question.text and len(question.jobs) == 7
