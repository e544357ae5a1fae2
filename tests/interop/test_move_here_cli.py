"""``dicom-courier move --dest @here`` end to end against Orthanc, as a real process.

C-MOVE to the receiver the command runs for its duration, and C-GET: the files on disk, the
"received N of M into FOLDER" line (the folder as literal text) and the exit code; a port
already taken is a clear message, not a hang.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dicom_courier.core.config.paths import app_paths
from dicom_courier.core.config.profile_store import NodeStore
from dicom_courier.core.config.retrieve_method import RetrieveMethod
from tests.interop.conftest import node_for
from tests.peers import INTEROP_STUDIES

pytestmark = pytest.mark.network

SPEC = INTEROP_STUDIES[0]  # 2 series x 3 instances


def cli(*args: str, config_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dicom_courier", "--config-dir",
                           str(config_dir), *args], capture_output=True, text=True, timeout=120)


def _profile(orthanc: Any, config_dir: Path, method: RetrieveMethod) -> None:
    NodeStore(app_paths(str(config_dir)).nodes_file).put(
        node_for(orthanc, name="orth", retrieve=method))


def _files(folder: Path) -> set[str]:
    return {p.stem for p in folder.rglob("*.dcm")}


EXPECTED = {SPEC.sop_uid(s, i) for s in range(2) for i in range(3)}


def test_move_to_here_runs_the_receiver_and_says_what_arrived(
        orthanc: Any, destination_port: int, tmp_path: Path) -> None:
    """The session Orthanc knows COURIER at the destination port: our receiver, for the
    duration of the command."""
    _profile(orthanc, tmp_path, RetrieveMethod.MOVE)
    folder = tmp_path / "in [bold]x[/bold]"  # shown literally, never as markup
    result = cli("move", "--pacs", "orth", "--dest", "@here", "--study", SPEC.study_uid,
                 "--receiver-aet", "COURIER", "--receiver-port", str(destination_port),
                 "--folder", str(folder), config_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"received 6 of 6 into {folder}" in result.stderr
    assert _files(folder) == EXPECTED
    listed = cli("nodes", "list", config_dir=tmp_path)
    assert "retrieve here by C-MOVE to this computer" in listed.stdout


def test_get_to_here_needs_no_receiver(orthanc: Any, tmp_path: Path) -> None:
    _profile(orthanc, tmp_path, RetrieveMethod.GET)
    folder = tmp_path / "got"
    with socket.socket() as taken:  # the receiver's port is busy: C-GET does not need it
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        result = cli("move", "--pacs", "orth", "--dest", "@here", "--study", SPEC.study_uid,
                     "--receiver-port", str(taken.getsockname()[1]), "--folder", str(folder),
                     config_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"received 6 of 6 into {folder}" in result.stderr
    assert _files(folder) == EXPECTED


def test_move_to_here_with_the_port_taken_says_so(orthanc: Any, tmp_path: Path) -> None:
    _profile(orthanc, tmp_path, RetrieveMethod.MOVE)
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = cli("move", "--pacs", "orth", "--dest", "@here", "--study", SPEC.study_uid,
                     "--receiver-port", str(port), "--folder", str(tmp_path / "in"),
                     config_dir=tmp_path)
    assert result.returncode == 1, result.stderr
    assert str(port) in result.stderr and "in use" in result.stderr, result.stderr
    # the way out names move's own option: "--port N" is the PACS's port here
    words = " ".join(result.stderr.split())
    assert "move --receiver-port N" in words, words
    assert "Traceback" not in result.stderr
    assert _files(tmp_path / "in") == set()


def test_nodes_add_retrieve_is_saved_and_a_bad_one_is_one_line(tmp_path: Path) -> None:
    added = cli("nodes", "add", "p", "--host", "127.0.0.1", "--port", "104", "--aet", "PACS",
                "--retrieve", "auto", config_dir=tmp_path)
    assert added.returncode == 0, added.stderr
    assert NodeStore(app_paths(str(tmp_path)).nodes_file).get("p").retrieve is \
        RetrieveMethod.AUTO
    bad = cli("nodes", "add", "q", "--host", "127.0.0.1", "--port", "104", "--aet", "PACS",
              "--retrieve", "fetch", config_dir=tmp_path)
    assert bad.returncode == 2
    assert "--retrieve: must be move, get or auto" in bad.stderr
    wrong = cli("move", "--pacs", "p", "--dest", "WS", "--study", "1.2.3", "--folder", "x",
                config_dir=tmp_path)
    assert wrong.returncode == 2 and "--folder" in wrong.stderr and "@here" in wrong.stderr


def test_images_this_computer_refuses_are_blamed_on_this_computer(
        orthanc: Any, destination_port: int, tmp_path: Path) -> None:
    """Our receiver refuses the PACS's first image (here a file stands where the patient's
    folder goes; a full disk reads the same): Orthanc then ends the C-MOVE with a bare
    0xC000. The words name this computer's refusal, not "ORTHANC most likely does not have
    COURIER in its list of DICOM nodes" (what they said before)."""
    _profile(orthanc, tmp_path, RetrieveMethod.MOVE)
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / SPEC.patient_id).write_text("in the way", encoding="utf-8")
    result = cli("move", "--pacs", "orth", "--dest", "@here", "--study", SPEC.study_uid,
                 "--receiver-aet", "COURIER", "--receiver-port", str(destination_port),
                 "--folder", str(folder), config_dir=tmp_path)
    words = " ".join(result.stderr.split())
    assert result.returncode in (1, 3), result.stderr
    assert "This computer could not store" in words, words
    assert "Not a directory" in words and f"Check the storage folder {folder}" in words, words
    assert "list of DICOM nodes" not in words, words
    assert "Traceback" not in words, words


def test_back_to_back_moves_to_here_rebind_the_fixed_port(
        orthanc: Any, destination_port: int, tmp_path: Path) -> None:
    """A report said the port stayed unbindable for up to a minute after ``move --dest
    @here`` (TIME_WAIT): the receiver binds with SO_REUSEADDR, so a second run on the same
    fixed port right after the first starts and receives."""
    _profile(orthanc, tmp_path, RetrieveMethod.MOVE)
    for run in range(2):
        folder = tmp_path / f"run{run}"
        result = cli("move", "--pacs", "orth", "--dest", "@here", "--study", SPEC.study_uid,
                     "--receiver-aet", "COURIER", "--receiver-port", str(destination_port),
                     "--folder", str(folder), config_dir=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "in use" not in result.stderr
        assert _files(folder) == EXPECTED
