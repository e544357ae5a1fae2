"""Every bad argument is one line naming the field and the rule, exit code 2, no traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_runner import run_cli as cli


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["find", "--host", "h", "--port", "70000", "--aet", "X"],
         "--port: must be a whole number from 1 to 65535"),
        (["find", "--host", "h", "--port", "104", "--aet", "X", "-k", "PatientNme=A*"],
         "'PatientNme' is not a DICOM keyword"),
        (["find", "--host", "h", "--port", "104", "--aet", "X", "--level", "STUDIES"],
         "--level: must be one of PATIENT, STUDY, SERIES, IMAGE"),
        (["find", "--host", "h", "--port", "104", "--aet", "X", "--level", "PATIENT"],
         "PATIENT is not a level of the study root model"),
        (["find", "--host", "h", "--port", "104", "--aet", "THIS-AE-IS-TOO-LONG"],
         "--aet: must be at most 16 characters"),
        (["find", "--port", "104", "--aet", "X"], "--host: is required"),
        (["find", "--pacs", "nope"], "--pacs: no PACS profile named 'nope'"),
        (["move", "--host", "h", "--port", "104", "--aet", "X", "--study", "1.2.3"],
         "--dest: is required"),
        (["move", "--host", "h", "--port", "104", "--aet", "X", "--dest", "WS",
          "--study", "not-a-uid"], "--study: must be a DICOM UID"),
        (["move", "--host", "h", "--port", "104", "--aet", "X", "--dest", "WS"],
         "say what to send"),
        (["move", "--host", "h", "--port", "104", "--aet", "X", "--dest", "WS",
          "--study", "1.2", "--priority", "urgent"], "--priority: must be low, medium or high"),
        (["move", "--host", "h", "--port", "104", "--aet", "X", "--dest", "WS",
          "--image", "1.2.3"], "--image: needs exactly one --series"),
        (["nodes", "add", "main", "--host", "h", "--port", "104", "--aet", "PACS",
          "--dest", "WS@host"], "--dest: must be AET or AET@HOST:PORT"),
        # this computer is not a destination to save (was: "--dest: must not be blank")
        (["nodes", "add", "main", "--host", "h", "--port", "104", "--aet", "PACS",
          "--dest", "@here"], "--dest: @here is this computer, not a destination to save"),
        (["find", "--bogus"], "unrecognized arguments: --bogus"),
        (["find", "--format", "xml"], "invalid choice: 'xml'"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(args: list[str], expected: str,
                                               tmp_path: Path) -> None:
    result = cli(*args, config_dir=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert expected in lines[0]
    assert "Traceback" not in result.stderr


def test_nodes_add_list_remove_round_trip(tmp_path: Path) -> None:
    assert cli("nodes", "add", "Main", "--host", "pacs.local", "--port", "4242", "--aet",
               "ORTHANC", "--calling-aet", "ME", "--dest", "WS1@10.0.0.9:11112", "--dest",
               "AIBOX", "--idle-timeout", "30", config_dir=tmp_path).returncode == 0
    saved = json.loads((tmp_path / "nodes.json").read_text())
    assert saved["schema_version"] == 1
    assert saved["pacs"][0]["destinations"][0] == {"ae_title": "WS1", "host": "10.0.0.9",
                                                   "port": 11112}
    assert saved["pacs"][0]["timeouts"]["idle"] == 30
    listed = cli("nodes", "list", config_dir=tmp_path)
    assert listed.returncode == 0
    assert "Main: ORTHANC at pacs.local:4242, we are ME" in listed.stdout
    assert "WS1@10.0.0.9:11112 (default), AIBOX" in listed.stdout
    again = cli("nodes", "add", "main", "--host", "h", "--port", "104", "--aet", "X",
                config_dir=tmp_path)
    assert again.returncode == 2
    assert "a PACS profile named 'main' exists already (add --replace" in again.stderr
    replaced = cli("nodes", "add", "Main", "--host", "h2", "--port", "104", "--aet", "X",
                   "--replace", config_dir=tmp_path)
    assert replaced.returncode == 0
    assert "Replaced PACS 'Main'" in replaced.stdout
    assert cli("nodes", "remove", "main", config_dir=tmp_path).returncode == 0
    assert json.loads((tmp_path / "nodes.json").read_text())["pacs"] == []
    assert not list(tmp_path.glob(".nodes.json.*.tmp"))  # no leftovers of atomic writes


def test_environment_variable_points_at_the_config_dir(tmp_path: Path) -> None:
    added = cli("nodes", "add", "X", "--host", "h", "--port", "104", "--aet", "PACS",
                env={"DICOM_COURIER_CONFIG_DIR": str(tmp_path)})
    assert added.returncode == 0, added.stderr
    assert (tmp_path / "nodes.json").exists()


def test_config_dir_that_is_a_file_or_read_only_is_reported(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("")
    for args in (("nodes", "add", "x", "--host", "h", "--port", "104", "--aet", "X"),
                 ("nodes", "list")):
        result = cli(*args, config_dir=afile)
        assert result.returncode == 1, result.stderr
        assert "is a file, not a folder" in result.stderr
        assert "Traceback" not in result.stderr


def test_host_with_a_port_is_refused(tmp_path: Path) -> None:
    result = cli("nodes", "add", "x", "--host", "127.0.0.1:4242", "--port", "4242", "--aet",
                 "X", config_dir=tmp_path)
    assert result.returncode == 2
    assert "must be a host name or IP address without a port" in result.stderr


def test_a_damaged_settings_file_is_reported_not_overwritten(tmp_path: Path) -> None:
    (tmp_path / "nodes.json").write_text("{not json")
    result = cli("nodes", "list", config_dir=tmp_path)
    assert result.returncode == 1
    assert f"The settings file {tmp_path / 'nodes.json'} cannot be read" in result.stderr
    assert "Traceback" not in result.stderr
    assert (tmp_path / "nodes.json").read_text() == "{not json"


@pytest.mark.network
def test_connection_refused_names_both_ae_titles_host_and_port(tmp_path: Path) -> None:
    from tests.peers.ports import free_port

    port = free_port()
    result = cli("echo", "--host", "127.0.0.1", "--port", str(port), "--aet", "NOBODY",
                 "--calling-aet", "ME", "--connect-timeout", "3", config_dir=tmp_path)
    assert result.returncode == 1
    assert f"Could not connect to 127.0.0.1:{port}" in result.stderr
    assert "Our AE title (calling): ME" in result.stderr
    assert "PACS AE title (called): NOBODY" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("StudyDate=2024-06-11", "StudyDate must be YYYYMMDD or a range YYYYMMDD-YYYYMMDD"),
        ("StudyDate=20241399", "20241399 is not a calendar date"),
        ("SeriesNumber=abc", "SeriesNumber must be a whole number"),
        ("PatientWeight=heavy", "PatientWeight must be a number"),
        ("PixelData=x", "PixelData holds binary data and cannot be a key"),
        ("QueryRetrieveLevel=PATIENT", "cannot be given as a key (use --level)"),
        ("StudyInstanceUID=not a uid", "must be a DICOM UID"),
        ("PatientID=" + "x" * 65, "PatientID must be at most 64 characters"),
        ("FileMetaInformationGroupLength=1", "is not part of a query"),
    ],
)
def test_bad_key_values_are_refused_before_any_network(key: str, expected: str,
                                                       tmp_path: Path) -> None:
    # Port 9 (discard) would hang or refuse: a usage error must come first.
    result = cli("find", "--host", "127.0.0.1", "--port", "9", "--aet", "X", "-k", key,
                 config_dir=tmp_path)
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_key_given_twice_is_refused(tmp_path: Path) -> None:
    result = cli("find", "--host", "h", "--port", "104", "--aet", "X", "-k", "PatientID=A",
                 "-k", "PatientID=B", config_dir=tmp_path)
    assert result.returncode == 2
    assert "PatientID is given twice" in result.stderr
