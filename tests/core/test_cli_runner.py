"""The command line as a real process (the few rows where the process itself matters), and
the in-process runner every other command-line test uses (:mod:`tests.cli_runner`): it shows
what a real process would show, and a command that leaves something behind fails its test.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import pytest
from pynetdicom import _config as pynetdicom_config

from tests.cli_runner import LeftBehind, run_cli

BAD_PORT = ("find", "--host", "h", "--port", "70000", "--aet", "X")
BAD_PORT_WORDS = "dicom-courier find: error: --port: must be a whole number from 1 to 65535"


# ---------------------------------------------------------------- a real process


def test_the_installed_command_says_a_bad_argument_in_one_line(tmp_path: Path) -> None:
    """The console script (``dicom-courier`` on PATH), exit code 2 through ``sys.exit``; and
    the in-process runner shows exactly what it shows."""
    script = Path(sys.executable).with_name("dicom-courier")
    assert script.exists(), f"{script}: install the package (make test)"
    result = subprocess.run([str(script), "--config-dir", str(tmp_path), *BAD_PORT],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(BAD_PORT_WORDS)
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stdout == ""
    here = run_cli(*BAD_PORT, config_dir=tmp_path)
    assert (here.returncode, here.stdout, here.stderr) == (
        result.returncode, result.stdout, result.stderr)


def test_python_m_dicom_courier_help_exits_0() -> None:
    result = subprocess.run([sys.executable, "-m", "dicom_courier", "--help"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: dicom-courier ")
    assert "Traceback" not in result.stderr


# ---------------------------------------------------------------- the in-process runner


def test_a_verbose_command_leaves_nothing_for_the_next_test(tmp_path: Path) -> None:
    """``-vv`` turns on DEBUG logs and pynetdicom's identifier logging (patient data): in a
    fresh process for the command only, then everything is as before."""
    def state() -> tuple[object, ...]:
        root = logging.getLogger()
        return (list(root.handlers), root.level, logging.getLogger("pynetdicom").level,
                logging.getLogger("pydicom").level, pynetdicom_config.LOG_REQUEST_IDENTIFIERS,
                pynetdicom_config.LOG_RESPONSE_IDENTIFIERS, threading.excepthook,
                list(warnings.filters), signal.getsignal(signal.SIGINT))

    before = state()
    loud = run_cli("-vv", "nodes", "list", config_dir=tmp_path)
    assert loud.returncode == 0 and "DEBUG " in loud.stderr  # its own stderr handler
    assert state() == before
    quiet = run_cli("nodes", "list", config_dir=tmp_path)
    assert quiet.returncode == 0 and quiet.stderr == ""  # as a new process: not verbose
    assert state() == before


def test_an_exception_out_of_the_command_is_a_traceback_and_exit_1(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As Python prints it, so "no traceback" assertions stay true in-process."""
    def broken(argv: list[str]) -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr("dicom_courier.core.cli.main.run", broken)
    result = run_cli("nodes", "list", config_dir=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("Traceback (most recent call last):")
    assert result.stderr.rstrip().endswith("RuntimeError: boom")


def test_a_file_left_open_in_the_config_folder_fails_the_test(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kept = []

    def leaky(argv: list[str]) -> int:
        kept.append((tmp_path / "instance.lock").open("w"))
        return 0

    monkeypatch.setattr("dicom_courier.core.cli.main.run", leaky)
    try:
        with pytest.raises(LeftBehind, match="instance.lock still open"):
            run_cli("nodes", "list", config_dir=tmp_path)
    finally:
        for handle in kept:
            handle.close()


def test_a_changed_signal_handler_fails_the_test_and_is_put_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = signal.getsignal(signal.SIGINT)

    def grabs_ctrl_c(argv: list[str]) -> int:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        return 0

    monkeypatch.setattr("dicom_courier.core.cli.main.run", grabs_ctrl_c)
    with pytest.raises(LeftBehind, match="the SIGINT handler"):
        run_cli("nodes", "list", config_dir=tmp_path)
    assert signal.getsignal(signal.SIGINT) is before


@pytest.mark.parametrize("argv", [(), ("--demo",)], ids=["no-arguments", "demo"])
def test_the_window_is_never_opened_in_process(tmp_path: Path, argv: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="opens the window"):
        run_cli(*argv, config_dir=tmp_path)


def test_a_config_folder_is_required(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="needs config_dir"):
        run_cli("nodes", "list")
