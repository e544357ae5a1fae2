"""The command line against real peers: output formats, JSON progress lines, exit codes."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.peers import INTEROP_STUDIES

SPEC = INTEROP_STUDIES[1]


def cli(*args: str, config_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dicom_courier", "--config-dir",
                           str(config_dir), *args], capture_output=True, text=True, timeout=120)


def address(peer: Any) -> list[str]:
    return ["--host", "127.0.0.1", "--port", str(peer.port), "--aet", peer.aet]


def test_echo_prints_round_trip(dcmqrscp: Any, tmp_path: Path) -> None:
    result = cli("echo", *address(dcmqrscp), config_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"DCMQRSCP at 127.0.0.1:{dcmqrscp.port} answered the echo from COURIER" in result.stdout


def test_find_json_and_csv(orthanc: Any, tmp_path: Path) -> None:
    as_json = cli("find", *address(orthanc), "-k", "PatientName=Dubois*", "--format", "json",
                  config_dir=tmp_path)
    assert as_json.returncode == 0, as_json.stderr
    rows = json.loads(as_json.stdout)
    assert [(r["PatientName"], r["StudyInstanceUID"]) for r in rows] == [
        (SPEC.patient_name, SPEC.study_uid)]
    as_csv = cli("find", *address(orthanc), "-k", "PatientID=IOP00*", "-k", "StudyDescription",
                 "--format", "csv", config_dir=tmp_path)
    assert as_csv.returncode == 0, as_csv.stderr
    table = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert len(table) == 4
    assert {r["StudyDescription"] for r in table} == {s.description for s in INTEROP_STUDIES}


def test_find_series_level_table(dcmqrscp: Any, tmp_path: Path) -> None:
    result = cli("find", *address(dcmqrscp), "--level", "SERIES", "-k",
                 f"StudyInstanceUID={SPEC.study_uid}", config_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "2 result(s)" in result.stdout
    assert SPEC.series_uid(0) in result.stdout and SPEC.series_uid(1) in result.stdout


def test_move_json_lines_and_exit_0(dcmqrscp: Any, storescp: Any, tmp_path: Path) -> None:
    result = cli("move", *address(dcmqrscp), "--dest", "STORESCP", "--study", SPEC.study_uid,
                 "--json", config_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    progress = [line for line in lines if line["event"] == "progress"]
    assert progress and progress[-1]["is_final"]
    assert "is_success" not in progress[-1]  # no outcome guess before the result line
    assert progress[0]["total"] == 6
    summary = lines[-1]
    assert summary["event"] == "summary"
    for key in ("total", "completed", "failed", "warning", "status", "duration_s"):
        assert key in summary
    assert (summary["total"], summary["completed"], summary["failed"]) == (6, 6, 0)
    assert "error" not in summary
    assert len(storescp.wait_for_files(6)) == 6


def test_move_by_keys_resolves_to_uids_first(orthanc: Any, storescp: Any,
                                             tmp_path: Path) -> None:
    result = cli("move", *address(orthanc), "--dest", "STORESCP", "-k", "PatientID=IOP002",
                 config_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "completed: 6 of 6 images sent to STORESCP" in result.stderr
    assert len(storescp.wait_for_files(6)) == 6


def test_move_series_by_uid_and_images_by_uid(dcmqrscp: Any, storescp: Any,
                                              tmp_path: Path) -> None:
    series = cli("move", *address(dcmqrscp), "--dest", "STORESCP", "--series",
                 SPEC.series_uid(0), config_dir=tmp_path)
    assert series.returncode == 0, series.stderr
    images = cli("move", *address(dcmqrscp), "--dest", "STORESCP", "--series",
                 SPEC.series_uid(1), "--image", SPEC.sop_uid(1, 0), config_dir=tmp_path)
    assert images.returncode == 0, images.stderr
    assert len(storescp.wait_for_files(4)) == 4


def test_unknown_destination_exit_1_with_plain_words(dcmqrscp: Any, tmp_path: Path) -> None:
    result = cli("move", *address(dcmqrscp), "--dest", "NOSUCHWS", "--study", SPEC.study_uid,
                 "--json", config_dir=tmp_path)
    assert result.returncode == 1
    summary = json.loads(result.stdout.splitlines()[-1])
    assert summary["error"] == "DCMQRSCP does not know the destination NOSUCHWS."
    human = cli("move", *address(dcmqrscp), "--dest", "NOSUCHWS", "--study", SPEC.study_uid,
                config_dir=tmp_path)
    assert human.returncode == 1
    assert "does not know the destination NOSUCHWS" in human.stderr
    assert "What to do:" in human.stderr
    assert "Traceback" not in human.stderr


def test_partial_move_exits_3(tmp_path: Path) -> None:
    from tests.fakes.misbehaving import StatusScp

    with StatusScp(0xB000, completed=2, failed=1) as fake:
        result = cli("move", "--host", "127.0.0.1", "--port", str(fake.port), "--aet",
                     fake.ae_title, "--dest", fake.ae_title, "--study", "1.2.3", "--json",
                     config_dir=tmp_path)
    assert result.returncode == 3, result.stderr
    summary = json.loads(result.stdout.splitlines()[-1])
    assert (summary["completed"], summary["failed"], summary["status"]) == (2, 1, "partial")


def test_saved_profile_with_default_destination(dcmqrscp: Any, storescp: Any,
                                                tmp_path: Path) -> None:
    added = cli("nodes", "add", "qr", "--host", "127.0.0.1", "--port", str(dcmqrscp.port),
                "--aet", "DCMQRSCP", "--dest", f"STORESCP@127.0.0.1:{storescp.port}",
                config_dir=tmp_path)
    assert added.returncode == 0, added.stderr
    tested = cli("nodes", "test", "qr", config_dir=tmp_path)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "OK Is DCMQRSCP at 127.0.0.1" in tested.stdout
    assert "OK May COURIER search DCMQRSCP?" in tested.stdout
    reachable = f"OK Does STORESCP answer at its address? yes, 127.0.0.1:{storescp.port}"
    assert reachable in tested.stdout
    moved = cli("move", "--pacs", "qr", "--study", SPEC.study_uid, config_dir=tmp_path)
    assert moved.returncode == 0, moved.stderr
    assert len(storescp.wait_for_files(6)) == 6
