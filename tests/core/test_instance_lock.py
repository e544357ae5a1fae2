"""A second process on the same profile is refused; a crashed one leaves no stale lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dicom_courier.core.config.instance_lock import AlreadyRunning, ProfileLock

HOLD = """
import sys, time
from pathlib import Path
from dicom_courier.core.config.instance_lock import ProfileLock
lock = ProfileLock(Path(sys.argv[1])).acquire()
print("locked", flush=True)
time.sleep(60)
"""


def test_second_process_is_refused_and_a_killed_one_frees_the_lock(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(AlreadyRunning) as info:
            ProfileLock(tmp_path).acquire()
        assert f"process {holder.pid}" in info.value.explanation
        assert "--config-dir" in info.value.command_line_action  # the window: no option
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=10)
    deadline = time.monotonic() + 5
    while True:
        try:
            with ProfileLock(tmp_path):
                break
        except AlreadyRunning:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
