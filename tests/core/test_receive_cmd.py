"""``dicom-courier receive`` end to end: a real process, stores from an allowed PACS, refuses a
stranger, a line per association without patient data, exit 0 on Ctrl-C; a taken port and a
bad option read as the exit-code table says."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pynetdicom import AE

from tests.cli_runner import run_cli
from tests.core.test_receiver import dataset
from tests.core.test_store_files import CT, EXPLICIT
from tests.peers import free_port

pytestmark = [pytest.mark.network,
              pytest.mark.filterwarnings("ignore:.*VR UI:UserWarning")]

COURIER = Path(sys.executable).parent / "dicom-courier"


def wait_for_line(process: subprocess.Popen[str], text: str, timeout: float = 20.0) -> str:
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    seen = ""
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        seen += line
        if text in line:
            return line
        if not line and process.poll() is not None:
            break
    raise AssertionError(f"no {text!r} in: {seen!r}")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_receive_runs_until_ctrl_c_and_says_what_came(tmp_path: Path, signum: int) -> None:
    port = free_port()
    folder = tmp_path / "in"
    process = subprocess.Popen(
        [str(COURIER), "--config-dir", str(tmp_path / "config"), "receive", "--port", str(port),
         "--aet", "WS_HERE", "--folder", str(folder), "--allow", "PACS"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "COLUMNS": "250"})
    try:
        start = wait_for_line(process, "Receiving as")
        assert f"WS_HERE on port {port} on all interfaces" in start
        assert str(folder) in start and "May send: PACS" in start
        ae = AE(ae_title="PACS")
        ae.add_requested_context(CT, EXPLICIT)
        assoc = ae.associate("127.0.0.1", port, ae_title="WS_HERE")
        assert assoc.is_established
        statuses = [int(assoc.send_c_store(dataset(f"1.2.3.9.{i}")).Status) for i in range(3)]
        statuses.append(int(assoc.send_c_store(dataset("../../x")).Status))
        assoc.release()
        assert statuses == [0, 0, 0, 0xC000]
        summary = wait_for_line(process, "From PACS")
        assert "From PACS (127.0.0.1): 3 instances of 1 study" in summary
        assert "1 refused" in summary
        stranger = AE(ae_title="STRANGER")
        stranger.add_requested_context(CT, EXPLICIT)
        assert stranger.associate("127.0.0.1", port, ae_title="WS_HERE").is_rejected
        time.sleep(0.3)
        process.send_signal(signum)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert "Stopped. 3 instances received, 1 refused." in out
    assert "Refused (status 0xC000)" in err and "not a DICOM UID" in err
    assert "Refused: STRANGER at 127.0.0.1 may not send here" in err
    # each refusal once: the engine's own warnings do not repeat the command's lines
    assert err.count("may not send here") == 1 and err.count("not a DICOM UID") == 1, err
    assert "WARNING" not in err, err
    assert "Traceback" not in err
    assert "PID1" not in out + err and "DOE" not in out + err  # no patient data by default
    assert len(list(folder.rglob("*.dcm"))) == 3


def test_a_taken_port_is_exit_1_naming_it(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("receive", "--port", str(port), "--folder", str(tmp_path / "in"),
                         config_dir=tmp_path)
    assert result.returncode == 1
    assert f"Port {port} on all interfaces is already in use by another program" in result.stderr
    assert "--port" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(("option", "value", "words"), [
    ("--port", "0", "--port"), ("--port", "http", "--port"), ("--aet", "A" * 17, "--aet"),
    ("--allow", "BAD\\AE", "--allow"), ("--bind", "a b", "--bind"),
])
def test_a_bad_option_is_exit_2_naming_it(tmp_path: Path, option: str, value: str,
                                          words: str) -> None:
    result = run_cli("receive", option, value, config_dir=tmp_path)
    assert result.returncode == 2, result.stderr
    assert words in result.stderr and "Traceback" not in result.stderr
