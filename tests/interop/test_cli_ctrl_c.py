"""Ctrl-C during ``dicom-courier move`` sends C-CANCEL, prints the counts so far, exits 4.

Every Ctrl-C here waits for a fact, never for a fixed time: the first Pending response is out
(the peer says so, or the command printed it) before the first Ctrl-C, and the command said
"Cancelling" before the second. (A fixed 1 s sleep made the first Ctrl-C arrive before the
move had started on a loaded machine: the test flaked.)
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from pynetdicom.events import Event

from dicom_courier.core.demo.workstation import Workstation
from tests.fakes.misbehaving import StallingScp
from tests.peers import INTEROP_STUDIES

SPEC = INTEROP_STUDIES[3]
#: Seconds to wait for the command to reach a point before the test fails (never a pause).
WAIT = 30.0


class TellingStallingScp(StallingScp):
    """A StallingScp that says when its Pending responses have been sent (``stalled``)."""

    def __init__(self, stall_after_pending: int = 0) -> None:
        super().__init__(stall_after_pending)
        self.stalled = threading.Event()

    def _wait_over(self, event: Event, seconds: float | None) -> bool:
        if seconds is None:  # StallingScp waits for ever only once its Pendings are sent
            self.stalled.set()
        return super()._wait_over(event, seconds)


def _start_move(host_args: list[str], tmp_path: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "dicom_courier", "--config-dir", str(tmp_path), "move",
         *host_args, *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_progress(process: subprocess.Popen[str]) -> list[dict[str, Any]]:
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line, process.stderr.read() if process.stderr else ""
    return [json.loads(line)]


def _wait_for_stderr(process: subprocess.Popen[str], words: str) -> list[str]:
    """Read the command's stderr up to the line holding ``words``; the lines read.

    Bounded by the command itself: if it ends without saying ``words``, stderr ends too.
    """
    assert process.stderr is not None
    lines: list[str] = []
    while not lines or words not in lines[-1]:
        line = process.stderr.readline()
        assert line, f"the command ended without saying {words!r}: {''.join(lines)}"
        lines.append(line)
    return lines


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
    with TellingStallingScp(stall_after_pending=1) as fake:
        process = _start_move(["--host", "127.0.0.1", "--port", str(fake.port), "--aet",
                               fake.ae_title], tmp_path, "--dest", "X", "--study", "1.2.3")
        assert fake.stalled.wait(WAIT), "the move never reached the PACS"  # Pending is out
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
        said = _wait_for_stderr(process, "Cancelling: C-CANCEL sent")  # the first one counted
        process.send_signal(signal.SIGINT)
        started = time.monotonic()
        out, rest = process.communicate(timeout=10)
        err = "".join(said) + rest
        took = time.monotonic() - started
    assert process.returncode == 4, err
    assert json.loads(out.splitlines()[-1])["status"] == "cancelled"
    assert took < 2.0  # not the 5 s grace period
