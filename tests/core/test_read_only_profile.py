"""A profile whose data folder is read-only: listing works, every change says why it cannot
be saved; no traceback, from the command line or the window's start-up.

Seen: every `queue` command and the window ended in a traceback (creating instance.lock).
Root ignores chmod, so the folder is made read-only with a read-only bind mount onto itself
(skipped where mounting is not allowed).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from dicom_courier.core.config.instance_lock import ProfileLock
from dicom_courier.core.jobs.store import JobStore
from tests.cli_runner import run_cli

PACS_JSON: dict[str, object] = {"name": "main", "called_aet": "PACS", "host": "127.0.0.1",
                                "port": 104}


@contextmanager
def _read_only(folder: Path) -> Iterator[None]:
    if os.geteuid() != 0:
        folder.chmod(0o500)
        try:
            yield
        finally:
            folder.chmod(0o700)
        return
    if subprocess.run(["mount", "--bind", str(folder), str(folder)],
                      capture_output=True, check=False).returncode != 0:
        pytest.skip("root ignores chmod and a bind mount is not allowed here")
    try:
        if subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)],
                          capture_output=True, check=False).returncode != 0:
            pytest.skip("cannot remount read-only here")
        yield
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, config_dir=config)


@pytest.mark.parametrize("lock_exists", [True, False])
def test_queue_commands_on_a_read_only_data_folder(tmp_path: Path, lock_exists: bool) -> None:
    data = tmp_path / "data"
    store = JobStore(data / "jobs.db")
    store.add(pacs_json=PACS_JSON, destination="WS1", study_uid="1.2.3")
    store.close()
    if lock_exists:
        ProfileLock(data).acquire().release()
    else:
        (data / "instance.lock").unlink(missing_ok=True)
    with _read_only(data):
        listed = _cli(tmp_path, "queue", "list")
        run = _cli(tmp_path, "queue", "run")
        purge = _cli(tmp_path, "queue", "purge", "--days", "1")
    assert listed.returncode == 0, listed.stderr
    assert "1.2.3" in listed.stdout
    for refused in (run, purge):
        assert refused.returncode == 1
        assert "cannot be written" in refused.stderr
        assert "Traceback" not in refused.stderr


def test_the_lock_on_a_read_only_folder_still_excludes_a_second_holder(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ProfileLock(data).acquire().release()
    with _read_only(data):
        first = ProfileLock(data).acquire()
        assert first.read_only
        with pytest.raises(Exception, match="already running"):
            ProfileLock(data).acquire()
        first.release()
