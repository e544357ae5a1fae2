"""Ctrl-C during ``dicom-courier move`` sends C-CANCEL, prints the counts so far, exits 4."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from dicom_courier.core.demo.workstation import Workstation
from tests.fakes.misbehaving import StallingScp
from tests.peers import INTEROP_STUDIES

SPEC = INTEROP_STUDIES[3]


def _start_move(host_args: list[str], tmp_path: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "dicom_courier", "--config-dir", str(tmp_path), "move",
         *host_args, *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_progress(process: subprocess.Popen[str]) -> list[dict[str, Any]]:
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line, process.stderr.read() if process.stderr else ""
    return [json.loads(line)]


def test_ctrl_c_cancels_a_real_move_and_reports_counts(dcmqrscp: Any,
                                                       slow_destination: Workstation,
                                                       tmp_path: Path) -> None:
    process = _start_move(["--host", "127.0.0.1", "--port", str(dcmqrscp.port), "--aet",
                           dcmqrscp.aet], tmp_path, "--dest", "STORESCP", "--study",
                          SPEC.study_uid, "--json")
    first = _wait_for_progress(process)
    assert first[0]["event"] == "progress"
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=20)
    assert process.returncode == 4, err
    summary = json.loads(out.splitlines()[-1])
    assert summary["event"] == "summary"
    assert summary["status"] == "cancelled"
    assert 1 <= summary["completed"] < 6
    assert "Traceback" not in err


def test_ctrl_c_on_a_pacs_that_ignores_cancel_aborts_after_the_grace(tmp_path: Path) -> None:
    with StallingScp(stall_after_pending=1) as fake:
        process = _start_move(["--host", "127.0.0.1", "--port", str(fake.port), "--aet",
                               fake.ae_title], tmp_path, "--dest", "X", "--study", "1.2.3")
        time.sleep(1.0)  # the first Pending is in
        process.send_signal(signal.SIGINT)
        started = time.monotonic()
        _, err = process.communicate(timeout=20)
        took = time.monotonic() - started
    assert process.returncode == 4, err
    assert "Cancelling: C-CANCEL sent" in err
    assert "cancelled: 1 of 11 images sent to X" in err
    assert 5.0 <= took <= 7.0  # the default grace period, then A-ABORT


def test_second_ctrl_c_aborts_at_once(tmp_path: Path) -> None:
    with StallingScp(stall_after_pending=1) as fake:
        process = _start_move(["--host", "127.0.0.1", "--port", str(fake.port), "--aet",
                               fake.ae_title], tmp_path, "--dest", "X", "--study", "1.2.3",
                              "--json")
        _wait_for_progress(process)
        process.send_signal(signal.SIGINT)
        time.sleep(0.3)
        process.send_signal(signal.SIGINT)
        started = time.monotonic()
        out, err = process.communicate(timeout=10)
        took = time.monotonic() - started
    assert process.returncode == 4, err
    assert json.loads(out.splitlines()[-1])["status"] == "cancelled"
    assert took < 2.0  # not the 5 s grace period
