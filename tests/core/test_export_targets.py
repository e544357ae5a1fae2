"""Exports go where the person pointed, never over a device, a pipe or a folder; CSV shown on a
terminal cannot drive it with escape sequences.

Seen: `queue export --csv /dev/full` (as root) replaced the device with a file of patient
data; a FIFO and a symbolic link were replaced too; `find --format csv` on a terminal passed a
study description's `ESC]0;…BEL ESC[2J` through.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

import pytest

from dicom_courier.core.cli.render import print_matches
from dicom_courier.core.jobs.store import JobStore
from dicom_courier.core.qr.query import FindMatch, QueryLevel
from tests.cli_runner import run_cli

PACS_JSON: dict[str, object] = {"name": "main", "called_aet": "PACS", "host": "127.0.0.1",
                                "port": 104}
HOSTILE = "CT\x1b]0;pwned\x07\x1b[2J"


def _export(config: Path, target: str) -> subprocess.CompletedProcess[str]:
    return run_cli("queue", "export", "--csv", target, config_dir=config)  # in-process


@pytest.fixture
def config(tmp_path: Path) -> Path:
    store = JobStore(tmp_path / "cfg" / "data" / "jobs.db")
    store.add(pacs_json=PACS_JSON, destination="WS1", study_uid="1.2.3")
    store.close()
    return tmp_path / "cfg"


@pytest.mark.parametrize("kind", ["fifo", "folder", "device"])
def test_an_export_never_replaces_a_device_pipe_or_folder(config: Path, tmp_path: Path,
                                                          kind: str) -> None:
    target = {"fifo": tmp_path / "fifo.csv", "folder": tmp_path / "folder",
              "device": Path("/dev/null")}[kind]
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "folder":
        target.mkdir()
    before = target.stat()
    with ExitStack() as stack:
        if kind == "fifo":  # a reader: an export that wrongly writes into it ends, not blocks
            stack.callback(os.close, os.open(target, os.O_RDONLY | os.O_NONBLOCK))
        done = _export(config, str(target))
    assert done.returncode == 1
    assert "not a regular file" in done.stderr.splitlines()[0]
    assert target.stat().st_mode == before.st_mode and target.stat().st_ino == before.st_ino


def test_an_export_through_a_symbolic_link_writes_its_file(config: Path, tmp_path: Path) -> None:
    real = tmp_path / "real.csv"
    real.write_text("old")
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    done = _export(config, str(link))
    assert done.returncode == 0, done.stderr
    assert link.is_symlink()
    assert "1.2.3" in real.read_text(encoding="utf-8-sig")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("on_terminal", [True, False])
def test_csv_on_a_terminal_shows_escape_sequences_escaped(monkeypatch: pytest.MonkeyPatch,
                                                          on_terminal: bool) -> None:
    out = _Terminal() if on_terminal else io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    match = FindMatch(QueryLevel.STUDY, {"StudyDescription": HOSTILE})
    print_matches([match], "csv", ["StudyDescription"])
    text = out.getvalue()
    # a file too (issue 8: C0/C1 controls never reach a CSV file; it is cat-ed sooner or later)
    assert "\x1b" not in text and "\x07" not in text
    assert "CT\\x1b]0;pwned\\x07\\x1b[2J" in text


def test_json_output_is_valid_json_with_terminal_controls_escaped() -> None:
    import json

    from dicom_courier.core.text.safe_text import json_text

    value = [{"StudyDescription": "x\u202ey\n\x1b\x85\udcffMÜLLER", "count": 1}]
    for indent in (None, 1):
        text = json_text(value, indent=indent)
        assert json.loads(text) == value
        assert not any(ch in text for ch in "\u202e\x1b\x85\udcff")
        assert "MÜLLER" in text  # ordinary letters stay readable
