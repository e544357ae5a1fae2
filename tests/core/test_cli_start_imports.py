"""The command line starts without the engine (issue 12 §3): ``--help``, a usage error and the
commands that only read or write our own files import neither pynetdicom nor pydicom (nor rich
for help); the commands that talk DICOM still set pynetdicom up first.

Each check runs in a fresh interpreter (this test process has long imported everything).
Functional, not timed: what is imported, not how long it takes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dicom_courier.core.cli.main import _talks_dicom
from dicom_courier.core.cli.parser import build_parser

#: What a start that prints help (or lists profiles) must not load.
HEAVY = ("pynetdicom", "pydicom", "dicom_courier.core.dimse.engine",
         "dicom_courier.core.dimse.association")

_RUN = """
import json, sys
from dicom_courier.__main__ import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
sys.stdout.flush()
print("\\nLOADED " + json.dumps([code, sorted(m for m in sys.modules)]))
"""


def _start(*args: str) -> tuple[int, str, set[str]]:
    """Run ``dicom-courier ARGS`` in a fresh interpreter: (exit code, stdout, module names)."""
    done = subprocess.run([sys.executable, "-c", _RUN, *args], capture_output=True, text=True,
                          timeout=60, check=False)
    head, _, tail = done.stdout.rpartition("\nLOADED ")
    assert tail, done.stderr
    code, modules = json.loads(tail)
    return code, head, set(modules)


@pytest.mark.parametrize("args", [("--help",), ("find", "--help"), ("move", "--help"),
                                  ("queue", "--help"), ("nodes", "add", "--help")])
def test_help_loads_no_engine_and_no_rich(args: tuple[str, ...]) -> None:
    code, out, modules = _start(*args)
    assert code == 0
    assert "usage: dicom-courier" in out
    assert not {m for m in modules if m.split(".")[0] in ("pynetdicom", "pydicom", "rich")}
    assert not modules & set(HEAVY)


def test_a_usage_error_loads_no_engine() -> None:
    code, _, modules = _start("find", "--no-such-option")
    assert code == 2
    assert not modules & set(HEAVY)


@pytest.mark.parametrize("args", [("nodes", "list"), ("queue", "list")])
def test_commands_on_our_own_files_load_no_engine(tmp_path: Path,
                                                  args: tuple[str, ...]) -> None:
    code, out, modules = _start("--config-dir", str(tmp_path), *args)
    assert code == 0
    assert not modules & set(HEAVY)
    if args == ("nodes", "list"):
        assert "No PACS saved yet" in out


def test_importing_the_command_line_loads_no_engine() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import sys, json, dicom_courier.core.cli.main; "
         "print(json.dumps(sorted(sys.modules)))"],
        capture_output=True, text=True, timeout=60, check=True)
    assert not set(json.loads(done.stdout)) & set(HEAVY)


@pytest.mark.parametrize(("args", "talks"), [
    (["echo", "--host", "h", "--port", "1", "--aet", "A"], True),
    (["find", "--pacs", "P"], True),
    (["move", "--pacs", "P", "--study", "1.2"], True),
    (["demo"], True),
    (["nodes", "test", "P"], True),
    (["queue", "run"], True),
    (["nodes", "add", "P", "--host", "h", "--port", "1", "--aet", "A"], False),
    (["nodes", "list"], False),
    (["nodes", "remove", "P"], False),
    (["queue", "add", "--pacs", "P"], False),
    (["queue", "list"], False),
    (["queue", "retry", "1"], False),
    (["queue", "export", "--csv", "-"], False),
    (["queue", "purge"], False),
])
def test_pynetdicom_is_set_up_exactly_for_the_commands_that_talk_dicom(
        args: list[str], talks: bool) -> None:
    """-v/-vv and the quiet pynetdicom set-up (quiet_pynetdicom) must still come before any
    association: every command that may open one is classed as talking DICOM."""
    assert _talks_dicom(build_parser().parse_args(args)) is talks
