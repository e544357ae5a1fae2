"""Issue 7, section 4: every bad command-line argument is one line on stderr and exit code 2.

Each row runs the CLI entry point in-process (:func:`tests.cli_runner.run_cli`) against a
listening socket that nothing may connect to: validation must come before the network.
Arguments with bytes that are not UTF-8 can only be made by the operating system, so they run
in a subprocess. Files given as ``nodes.json`` (a FIFO, a device, a folder, JSON nested 100,000
levels deep, 100 MB) end with a clear message within seconds; the FIFO and the device in a
subprocess, so a regression that waits on them for ever fails this test, not the whole run.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dicom_courier.core.outcome.errors import InvalidInput
from dicom_courier.core.qr.query import (
    FindQuery,
    MoveTarget,
    QueryLevel,
    QueryModel,
    parse_key_value,
)
from tests.cli_runner import run_cli

HUGE = "9" * 5000  # int() of this raises "Exceeds the limit (4300 digits)" on Python 3.11
UID_RULE = "must be a DICOM UID"
SECONDS_RULE = "must be a number of seconds, more than 0 and at most 86400"
PORT_RULE = "must be a whole number from 1 to 65535, written with the digits 0-9"
LIMIT_RULE = "must be a whole number from 1 to 10000000"


@pytest.fixture
def pacs_port() -> Iterator[tuple[socket.socket, str]]:
    """A listening socket standing in for the PACS; the test asserts nobody connected."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    try:
        yield listener, str(listener.getsockname()[1])
    finally:
        listener.close()


def _nobody_connected(listener: socket.socket) -> bool:
    try:
        connection, _ = listener.accept()
    except BlockingIOError:
        return True
    connection.close()
    return False


def _find(port: str, *extra: str) -> list[str]:
    return ["find", "--host", "127.0.0.1", "--port", port, "--aet", "PACS", *extra]


def _move(port: str, *extra: str) -> list[str]:
    return ["move", "--host", "127.0.0.1", "--port", port, "--aet", "PACS", "--dest", "WS",
            *extra]


# (id, argv with {port} for the listening port, the field named, the rule named)
ROWS: list[tuple[str, list[str], str, str]] = [
    ("port-superscript-two", ["find", "--host", "127.0.0.1", "--port", "²", "--aet", "X"],
     "--port", PORT_RULE),
    ("port-arabic-indic-104", ["find", "--host", "127.0.0.1", "--port", "١٠٤", "--aet", "X"],
     "--port", PORT_RULE),
    ("port-fullwidth", ["find", "--host", "127.0.0.1", "--port", "１０４", "--aet", "X"],
     "--port", PORT_RULE),
    ("port-5000-digits", ["find", "--host", "127.0.0.1", "--port", HUGE, "--aet", "X"],
     "--port", PORT_RULE),
    ("port-underscore", ["find", "--host", "127.0.0.1", "--port", "1_04", "--aet", "X"],
     "--port", PORT_RULE),
    ("nodes-add-port-arabic", ["nodes", "add", "lab", "--host", "h", "--port", "١٠٤", "--aet",
                               "X"], "--port", PORT_RULE),
    ("dest-port-superscript", ["nodes", "add", "lab", "--host", "h", "--port", "104", "--aet",
                               "X", "--dest", "WS@h:²"], "--dest port", PORT_RULE),
    ("limit-superscript", _find("{port}", "--limit", "²"), "--limit", LIMIT_RULE),
    ("limit-5000-digits", _find("{port}", "--limit", HUGE), "--limit", LIMIT_RULE),
    ("limit-zero", _find("{port}", "--limit", "0"), "--limit", LIMIT_RULE),
    ("deadline-nan", _find("{port}", "--deadline", "nan"), "--deadline", SECONDS_RULE),
    ("deadline-1e999", _find("{port}", "--deadline", "1e999"), "--deadline", SECONDS_RULE),
    ("deadline-5000-digits", _find("{port}", "--deadline", HUGE), "--deadline", SECONDS_RULE),
    ("idle-timeout-inf", _find("{port}", "--idle-timeout", "inf"), "--idle-timeout",
     SECONDS_RULE),
    ("idle-timeout-arabic", _find("{port}", "--idle-timeout", "١٠"), "--idle-timeout",
     SECONDS_RULE),
    ("connect-timeout-minus-zero", _find("{port}", "--connect-timeout", "-0"),
     "--connect-timeout", SECONDS_RULE),
    ("connect-timeout-nan", ["echo", "--host", "127.0.0.1", "--port", "{port}", "--aet", "X",
                             "--connect-timeout", "NaN"], "--connect-timeout", SECONDS_RULE),
    ("calling-aet-empty", _find("{port}", "--calling-aet", ""), "--calling-aet",
     "must not be blank"),
    ("calling-aet-spaces", _find("{port}", "--calling-aet", "   "), "--calling-aet",
     "must not be blank"),
    ("calling-aet-non-ascii", _find("{port}", "--calling-aet", "MÜLLER"), "--calling-aet",
     "must use plain ASCII characters only"),
    ("nodes-add-calling-aet-empty", ["nodes", "add", "lab", "--host", "h", "--port", "104",
                                     "--aet", "X", "--calling-aet", ""], "--calling-aet",
     "must not be blank"),
    ("aet-non-ascii", ["find", "--host", "127.0.0.1", "--port", "{port}", "--aet", "PACSÉ"],
     "--aet", "must use plain ASCII characters only"),
    ("study-time-25", _find("{port}", "-k", "StudyTime=25"), "-k",
     "StudyTime: 25 is not a time of day (hours 00-23"),
    ("study-time-minute-60", _find("{port}", "-k", "StudyTime=1260"), "-k",
     "is not a time of day"),
    ("study-time-fraction-without-seconds", _find("{port}", "-k", "StudyTime=1200.5"), "-k",
     "StudyTime must be HH, HHMM, HHMMSS or HHMMSS.FFFFFF"),
    ("study-time-reversed", _find("{port}", "-k", "StudyTime=120000-080000"), "-k",
     "StudyTime: the range ends before it starts"),
    ("study-date-reversed", _find("{port}", "-k", "StudyDate=20240630-20240101"), "-k",
     "StudyDate: the range ends before it starts (20240630 is after 20240101)"),
    ("study-date-arabic-digits", _find("{port}", "-k", "StudyDate=٢٠٢٤0101"), "-k",
     "StudyDate must be YYYYMMDD"),
    ("series-number-superscript", _find("{port}", "-k", "SeriesNumber=²"), "-k",
     "SeriesNumber must be a whole number"),
    ("series-number-minus-zero", _find("{port}", "-k", "SeriesNumber=-0"), "-k",
     "SeriesNumber: -0 is not a distinct number"),
    ("instances-5000-digits", _find("{port}", "-k", f"NumberOfStudyRelatedInstances={HUGE}"),
     "-k", "NumberOfStudyRelatedInstances must be a whole number"),
    ("weight-nan", _find("{port}", "-k", "PatientWeight=nan"), "-k",
     "PatientWeight must be a number (finite"),
    ("weight-inf", _find("{port}", "-k", "PatientWeight=inf"), "-k",
     "PatientWeight must be a number (finite"),
    ("weight-1e999", _find("{port}", "-k", "PatientWeight=1e999"), "-k",
     "PatientWeight must be a number (finite"),
    ("weight-minus-zero", _find("{port}", "-k", "PatientWeight=-0.0"), "-k",
     "PatientWeight: -0 is not a distinct number"),
    ("key-uid-empty-component", _find("{port}", "-k", "StudyInstanceUID=1..2"),
     "-k StudyInstanceUID", UID_RULE),
    ("key-uid-trailing-dot", _find("{port}", "-k", "StudyInstanceUID=1.2."),
     "-k StudyInstanceUID", UID_RULE),
    ("key-uid-leading-dot", _find("{port}", "-k", "StudyInstanceUID=.1"),
     "-k StudyInstanceUID", UID_RULE),
    ("key-uid-leading-zero", _find("{port}", "-k", "StudyInstanceUID=1.02"),
     "-k StudyInstanceUID", UID_RULE),
    ("key-uid-arabic-digits", _find("{port}", "-k", "StudyInstanceUID=١.٢"),
     "-k StudyInstanceUID", UID_RULE),
    ("key-uid-65-chars", _find("{port}", "-k", "StudyInstanceUID=1." + "2" * 63),
     "-k StudyInstanceUID", UID_RULE),
    ("key-uid-list-empty-item", _find("{port}", "-k", "StudyInstanceUID=1.2\\\\1.3"),
     "-k StudyInstanceUID", UID_RULE),
    ("key-control-character", _find("{port}", "-k", "PatientName=A\x1b[2JB"),
     "-k PatientName", "must not contain control characters"),
    ("move-study-empty-component", _move("{port}", "--study", "1..2"), "--study", UID_RULE),
    ("move-study-superscript", _move("{port}", "--study", "1.²"), "--study", UID_RULE),
    ("move-series-trailing-dot", _move("{port}", "--study", "1.2", "--series", "1.2."),
     "--series", UID_RULE),
    ("move-image-leading-dot", _move("{port}", "--series", "1.2", "--image", ".1"),
     "--image", UID_RULE),
    ("priority-dotless-i", _move("{port}", "--study", "1.2", "--priority", "hıgh"),
     "--priority", "must be low, medium or high"),
    ("level-long-s", _find("{port}", "--level", "ſtudy"), "--level",
     "must be one of PATIENT, STUDY, SERIES, IMAGE"),
    ("profile-name-control", ["nodes", "add", "Lab\x1bPACS", "--host", "h", "--port", "104",
                              "--aet", "X"], "NAME", "must not contain control characters"),
    ("host-control", ["find", "--host", "127.0.0.1\x07", "--port", "{port}", "--aet", "X"],
     "--host", "must not contain control characters"),
    ("queue-retry-superscript", ["queue", "retry", "²"], "JOB_ID",
     "must be a whole number from 1 to"),
    ("queue-retry-5000-digits", ["queue", "retry", HUGE], "JOB_ID",
     "must be a whole number from 1 to"),
    ("queue-purge-days-5000-digits", ["queue", "purge", "--days", HUGE], "--days",
     "must be a whole number of days from 1 to 36525"),
    ("queue-add-study-leading-zero", ["queue", "add", "--pacs", "main", "--study", "1.02"],
     "--study", UID_RULE),
    ("demo-delay-arabic", ["demo", "--delay", "١"], "--delay",
     "must be a number of seconds, at least 0 and at most 1"),
    ("demo-delay-nan", ["demo", "--delay", "nan"], "--delay", "must be a number of seconds"),
]


def _saved_profile(config_dir: Path) -> None:
    assert run_cli("nodes", "add", "main", "--host", "127.0.0.1", "--port", "104", "--aet",
                   "PACS", "--dest", "WS", config_dir=config_dir).returncode == 0


@pytest.mark.parametrize(("argv", "field", "rule"), [row[1:] for row in ROWS],
                         ids=[row[0] for row in ROWS])
@pytest.mark.network
def test_a_bad_argument_is_one_line_exit_2_and_nothing_is_sent(
        argv: list[str], field: str, rule: str, tmp_path: Path,
        pacs_port: tuple[socket.socket, str]) -> None:
    listener, port = pacs_port
    if argv[:2] == ["queue", "add"]:
        _saved_profile(tmp_path)
    result = run_cli(*(a.replace("{port}", port) for a in argv), config_dir=tmp_path)
    err = result.stderr
    assert result.returncode == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert f"error: {field}: " in lines[0]
    assert rule in lines[0]
    assert "Traceback" not in err
    assert len(lines[0]) < 600  # a value of 5000 digits is shown by its start only
    assert _nobody_connected(listener)


def test_nodes_and_queue_without_an_action_print_their_usage(tmp_path: Path) -> None:
    for command, actions in (("nodes", ("add", "list", "remove", "test")),
                             ("queue", ("add", "list", "run", "retry", "export", "purge"))):
        result = run_cli(command, config_dir=tmp_path)
        assert result.returncode == 2
        err = result.stderr
        assert err.startswith(f"usage: dicom-courier {command} [-h] ACTION")
        assert all(f"    {action} " in err for action in actions), err
        assert "None" not in err and "Traceback" not in err


@pytest.mark.parametrize("argv", [["echo"], ["find"], ["move"], ["nodes", "add"],
                                  ["nodes", "remove"], ["nodes", "test"], ["queue", "add"],
                                  ["queue", "retry"], ["queue", "export"]],
                         ids=lambda argv: "-".join(argv))
def test_every_subcommand_without_arguments_is_one_line_exit_2(argv: list[str],
                                                              tmp_path: Path) -> None:
    result = run_cli(*argv, config_dir=tmp_path)
    assert result.returncode == 2
    err = result.stderr
    assert len(err.strip().splitlines()) == 1, err
    assert "is required" in err or "required" in err
    assert "Traceback" not in err


def test_argparse_errors_keep_typed_line_breaks_on_one_line(tmp_path: Path) -> None:
    result = run_cli("find", "--bo\ngus\x1b[2J", config_dir=tmp_path)
    assert result.returncode == 2
    err = result.stderr
    assert len(err.strip().splitlines()) == 1, err
    assert "\x1b" not in err and "--bo\\x0agus\\x1b[2J" in err


# ---------------------------------------------------------------- non-UTF-8 bytes (subprocess)


def _cli_bytes(*args: bytes, config_dir: Path) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "LC_ALL": "C.UTF-8"}
    return subprocess.run([sys.executable, "-m", "dicom_courier", b"--config-dir",
                           os.fsencode(config_dir), *args], capture_output=True, timeout=60,
                          env=env)


@pytest.mark.parametrize(
    ("argv", "field", "shown"),
    [
        ([b"find", b"--host", b"127.0.0.1", b"--port", b"{port}", b"--aet", b"X", b"-k",
          b"PatientName=M\xfcller*"], b"-k", b"b'PatientName=M\\xfcller*'"),
        ([b"find", b"--pacs", b"Lab\xff"], b"--pacs", b"b'Lab\\xff'"),
        ([b"nodes", b"add", b"Lab\xe9", b"--host", b"h", b"--port", b"104", b"--aet", b"X"],
         b"argument 5", b"b'Lab\\xe9'"),
        ([b"find", b"--host", b"127.0.0.1", b"--port", b"{port}", b"--aet=X\xfc"], b"--aet",
         b"b'--aet=X\\xfc'"),
    ],
    ids=["key-value", "profile-name", "nodes-add-name", "aet-with-equals"],
)
@pytest.mark.network
def test_non_utf8_bytes_in_an_argument_are_refused_not_sent_as_question_marks(
        argv: list[bytes], field: bytes, shown: bytes, tmp_path: Path,
        pacs_port: tuple[socket.socket, str]) -> None:
    listener, port = pacs_port
    result = _cli_bytes(*(a.replace(b"{port}", port.encode()) for a in argv),
                        config_dir=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(b"dicom-courier: error: " + field + b": is not valid UTF-8")
    assert shown in lines[0]
    assert b"Traceback" not in result.stderr
    assert _nobody_connected(listener)
    assert not (tmp_path / "nodes.json").exists()


def test_non_utf8_config_dir_for_the_window_is_refused_before_qt(tmp_path: Path) -> None:
    result = _cli_bytes(b"--demo", config_dir=Path(os.fsdecode(os.fsencode(tmp_path) + b"\xff")))
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(b"dicom-courier: error: --config-dir: is not valid UTF-8")
    assert len(result.stderr.strip().splitlines()) == 1


# ---------------------------------------------------------------- nodes.json that is no file


def _nodes_list(config_dir: Path) -> tuple[int, str, float]:
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "dicom_courier", "--config-dir",
                             str(config_dir), "nodes", "list"], capture_output=True,
                            text=True, timeout=30)
    return result.returncode, result.stderr, time.monotonic() - started


def test_a_fifo_as_nodes_json_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "nodes.json")
    code, err, seconds = _nodes_list(tmp_path)
    assert code == 1, err
    assert "cannot be read: it is a named pipe (FIFO), not a regular file" in err
    assert "Traceback" not in err
    assert seconds < 20


def test_a_device_as_nodes_json_is_refused_not_read_for_ever(tmp_path: Path) -> None:
    (tmp_path / "nodes.json").symlink_to("/dev/zero")
    code, err, seconds = _nodes_list(tmp_path)
    assert code == 1, err
    assert "cannot be read: it is a character device, not a regular file" in err
    assert seconds < 20


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda p: p.write_text("[" * 100_000 + "]" * 100_000), "nested too deeply"),
        (lambda p: p.write_text('{"pacs": [{"name": "x", "called_aet": "X", "host": "h", '
                                f'"port": {HUGE}}}]}}'), "a number of thousands of digits"),
        (lambda p: p.mkdir(), "it is a folder, not a regular file"),
        (lambda p: p.touch() or os.truncate(p, 100 * 1024 * 1024), "it is larger than 8 MB"),
        (lambda p: p.write_bytes(b'{"pacs": [], "x": "\xff"}'), "it is not UTF-8 text"),
        (lambda p: p.write_text('{"pacs": [{"name": "x", "called_aet": "X", "host": "h", '
                                '"port": 104, "timeouts": {"idle": NaN}}]}'),
         "idle timeout: must be a number of seconds"),
    ],
    ids=["nested-100000", "5000-digit-number", "folder", "100-MB", "not-utf8", "nan-timeout"],
)
def test_an_unusable_nodes_json_is_one_clear_error(make: object, reason: str,
                                                   tmp_path: Path) -> None:
    path = tmp_path / "nodes.json"
    make(path)  # type: ignore[operator]
    started = time.monotonic()
    result = run_cli("nodes", "list", config_dir=tmp_path)
    assert result.returncode == 1
    err = result.stderr
    assert f"The settings file {path} cannot be read" in err
    assert reason in err
    assert "Traceback" not in err
    assert time.monotonic() - started < 10


# ---------------------------------------------------------------- what stays accepted


@pytest.mark.parametrize("text", ["StudyTime=0800-1200", "StudyTime=235960.123456",
                                  "StudyTime=-0930", "StudyTime=10-", "StudyDate=20240101-",
                                  "StudyDate=-20240101", "StudyDate=20240101-20240101",
                                  "StudyInstanceUID=1.2.0.3\\2.25.10", "SeriesNumber=-3",
                                  "PatientWeight=72.5", "PatientWeight=1e2",
                                  "PatientName=MÜLLER*"])
def test_valid_typed_keys_still_pass(text: str) -> None:
    assert parse_key_value(text)[1] == text.partition("=")[2]


def test_uids_a_pacs_sent_back_are_sent_back_as_they_came() -> None:
    """A non-conformant UID from a PACS (leading zero) is not a usage error."""
    query = FindQuery(QueryLevel.SERIES, QueryModel.STUDY, {"StudyInstanceUID": "1.02.3"})
    assert query.keys["StudyInstanceUID"] == "1.02.3"
    assert MoveTarget(study_uid="1.02.3").study_uid == "1.02.3"
    with pytest.raises(InvalidInput, match="must be a DICOM UID"):
        parse_key_value("StudyInstanceUID=1.02.3")
