"""``dicom-courier queue`` against dcmqrscp and storescp: queue sends, run them, export the
history, and resume a job a crash interrupted, all over the one jobs.db of a profile."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from dicom_courier.core.config.instance_lock import ProfileLock
from dicom_courier.core.config.paths import app_paths
from dicom_courier.core.config.profiles import PacsNode
from dicom_courier.core.jobs.store import JobStore
from tests.peers import INTEROP_STUDIES

FIRST, SECOND = INTEROP_STUDIES[0], INTEROP_STUDIES[1]


def cli(*args: str, config_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dicom_courier", "--config-dir",
                           str(config_dir), *args], capture_output=True, text=True, timeout=120)


def save_profile(dcmqrscp: Any, config_dir: Path) -> None:
    added = cli("nodes", "add", "Archive", "--host", "127.0.0.1", "--port", str(dcmqrscp.port),
                "--aet", dcmqrscp.aet, "--dest", "STORESCP", config_dir=config_dir)
    assert added.returncode == 0, added.stderr


def listed(config_dir: Path, *args: str) -> list[dict[str, Any]]:
    result = cli("queue", "list", "--format", "json", *args, config_dir=config_dir)
    assert result.returncode == 0, result.stderr
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


def test_queued_studies_are_sent_and_exported(dcmqrscp: Any, storescp: Any,
                                              tmp_path: Path) -> None:
    save_profile(dcmqrscp, tmp_path)
    added = cli("queue", "add", "--pacs", "archive", "--study", FIRST.study_uid, "--study",
                SECOND.study_uid, "--patient-id", "IOP001", "--label", "Müller, Jürgen — CT",
                config_dir=tmp_path)
    assert added.returncode == 0, added.stderr
    assert "Queued job 1" in added.stdout and "Queued job 2" in added.stdout
    again = cli("queue", "add", "--pacs", "Archive", "--study", FIRST.study_uid,
                config_dir=tmp_path)
    assert "already queued for STORESCP as job 1" in again.stdout  # not a second send

    queued = listed(tmp_path)
    assert [(j["id"], j["state"], j["study_uid"], j["destination"]) for j in queued] == [
        (1, "queued", FIRST.study_uid, "STORESCP"), (2, "queued", SECOND.study_uid, "STORESCP")]
    table = cli("queue", "list", config_dir=tmp_path)
    assert FIRST.study_uid in table.stdout and "queued" in table.stdout

    run = cli("queue", "run", config_dir=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "completed: 12 of 12 images sent by 2 job(s)" in run.stderr
    assert "Warning" not in run.stderr  # nothing was interrupted
    assert len(storescp.wait_for_files(12)) == 12

    jobs = {j["id"]: j for j in listed(tmp_path)}
    assert (jobs[1]["state"], jobs[2]["state"]) == ("requeued", "requeued")
    sent = [j for j in jobs.values() if j["state"] == "completed"]
    assert sorted(j["retry_of"] for j in sent) == [1, 2]  # each names the job it ran
    assert all((j["completed"], j["total"], j["failed"]) == (6, 6, 0) for j in sent)
    assert all(j["label"] == "Müller, Jürgen — CT" and j["status"] == "0x0000" for j in sent)
    assert cli("queue", "run", config_dir=tmp_path).stdout.startswith("Nothing to send")

    export = tmp_path / "history.csv"
    exported = cli("queue", "export", "--csv", str(export), "--status", "completed",
                   "--destination", "STORESCP", "--since", "2000-01-01", config_dir=tmp_path)
    assert exported.returncode == 0, exported.stderr
    assert f"Exported 2 job(s) to {export}" in exported.stderr
    with export.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(r["study UID"] for r in rows) == sorted([FIRST.study_uid, SECOND.study_uid])
    for row in rows:
        assert (row["completed"], row["total"], row["failed"]) == ("6", "6", "0")
        assert row["final status"] == "completed" and row["DIMSE status"] == "0x0000"
        assert row["destination"] == "STORESCP" and row["PACS"] == "Archive"
        assert row["label"] == "Müller, Jürgen — CT" and row["retry of"] in ("1", "2")
        assert row["started"] and float(row["duration (s)"]) >= 0


def test_an_interrupted_job_is_resumed_with_a_warning(dcmqrscp: Any, storescp: Any,
                                                      tmp_path: Path) -> None:
    save_profile(dcmqrscp, tmp_path)
    node = PacsNode(name="Archive", called_aet=dcmqrscp.aet, host="127.0.0.1",
                    port=dcmqrscp.port)
    store = JobStore(app_paths(tmp_path).data_dir / "jobs.db")
    job = store.add(pacs_json=node.to_json(), destination="STORESCP",
                    study_uid=SECOND.study_uid, series_uids=(SECOND.series_uid(0),))
    store.started(job)
    store.progress(job, total=3, completed=1, failed=0, warning=0, force=True)
    store.close()  # as if the process had been killed mid-move

    run = cli("queue", "run", config_dir=tmp_path)
    assert run.returncode == 0, run.stderr
    assert (f"Warning: job {job} was interrupted after 1 of 3 images; it is sent again as "
            f"job {job + 1}. The PACS may resend images STORESCP already has") in run.stderr
    assert len(storescp.wait_for_files(3)) == 3
    rows = {j["id"]: j for j in listed(tmp_path)}
    assert rows[job]["state"] == "requeued" and rows[job]["completed"] == 1  # what it reached
    assert (rows[job + 1]["state"], rows[job + 1]["completed"], rows[job + 1]["retry_of"]) == (
        "completed", 3, job)
    assert rows[job + 1]["series_uids"] == [SECOND.series_uid(0)]

    retried = cli("queue", "retry", str(job + 1), config_dir=tmp_path)
    assert retried.returncode == 0, retried.stderr
    assert f"Queued job {job + 2}, a retry of job {job + 1}" in retried.stdout
    assert listed(tmp_path, "--state", "queued")[0]["retry_of"] == job + 1


def test_a_failed_send_exits_1_and_names_the_job(dcmqrscp: Any, tmp_path: Path) -> None:
    save_profile(dcmqrscp, tmp_path)
    cli("queue", "add", "--pacs", "Archive", "--dest", "NOSUCHWS", "--study", FIRST.study_uid,
        config_dir=tmp_path)
    run = cli("queue", "run", config_dir=tmp_path)
    assert run.returncode == 1, run.stderr
    assert "Job 2:" in run.stderr and "does not know the destination NOSUCHWS" in run.stderr
    assert listed(tmp_path, "--state", "failed")[0]["retry_of"] == 1


def test_while_the_window_sends_run_is_refused_and_list_takes_nothing(tmp_path: Path) -> None:
    paths = app_paths(tmp_path)
    with ProfileLock(paths.data_dir):  # as the window holds it while it is open
        store = JobStore(paths.data_dir / "jobs.db")
        job = store.add(pacs_json=PacsNode(name="Archive", called_aet="PACS", host="h",
                                           port=104).to_json(),
                        destination="STORESCP", study_uid=FIRST.study_uid)
        store.started(job)  # the window is sending it
        run = cli("queue", "run", config_dir=tmp_path)
        assert run.returncode == 1
        assert "Another DICOM Courier is already sending from this profile." in run.stderr
        assert "Traceback" not in run.stderr
        assert [j["state"] for j in listed(tmp_path)] == ["running"]  # not "interrupted"
        assert store.get(job).state == "running"
        store.close()
    again = cli("queue", "list", "--format", "json", config_dir=tmp_path)  # the window quit
    assert json.loads(again.stdout)[0]["state"] == "interrupted"
    assert "were running when DICOM Courier stopped" in again.stderr


def test_bad_arguments_are_one_line_and_exit_2(tmp_path: Path) -> None:
    for args in (["queue", "export", "--csv", "x.csv", "--since", "2024-02-30"],
                 ["queue", "list", "--state", "sent"],
                 ["queue", "retry", "seven"],
                 ["queue", "retry", "99"],
                 ["queue", "add", "--pacs", "nowhere", "--study", "1.2.3"],
                 ["queue", "export"]):  # 'queue' alone prints its usage: test_cli_input.py
        result = cli(*args, config_dir=tmp_path)
        assert result.returncode == 2, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, (args, result.stderr)
        assert result.stderr.startswith("dicom-courier queue"), (args, result.stderr)
        assert "Traceback" not in result.stderr
