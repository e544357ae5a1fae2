"""The destination doctor for this computer follows the profile's retrieve method (issue 13
part C2 §4), against the real Orthanc: C-GET probes by C-GET with no receiver (its port may
be taken); automatic tries the C-MOVE, and when the PACS refuses to send to our AE title,
probes by C-GET and says which way worked."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from dicom_courier.core.cli.main import run as cli_run
from tests.interop.test_destination_doctor import STUDY, _verdict
from tests.peers import LOOPBACK
from tests.peers.ports import free_port

pytestmark = pytest.mark.network


def _doctor_here(tmp_path: Path, capsys: pytest.CaptureFixture[str], peer: Any,
                 method: str, receiver: str) -> tuple[int, str, str]:
    """A profile retrieving by ``method``, receiver.json ``receiver`` (JSON members), then
    ``nodes test src --dest @here --probe-study STUDY``: (exit code, stdout, stderr)."""
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    (cfg / "receiver.json").write_text(f'{{{receiver}, "folder": "{tmp_path / "in"}"}}',
                                       encoding="utf-8")
    assert cli_run(["--config-dir", str(cfg), "nodes", "add", "src", "--host", LOOPBACK,
                    "--port", str(peer.port), "--aet", peer.aet, "--retrieve", method]) == 0
    capsys.readouterr()
    code = cli_run(["--config-dir", str(cfg), "nodes", "test", "src", "--dest", "@here",
                    "--probe-study", STUDY])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_c_get_profile_is_probed_by_c_get_without_a_receiver(
        orthanc: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:  # the receiver's port is busy: C-GET does not need it
        taken.bind((LOOPBACK, 0))
        taken.listen(1)
        code, out, err = _doctor_here(tmp_path, capsys, orthanc, "get",
                                      f'"ae_title": "COURIER", "port": '
                                      f'{taken.getsockname()[1]}')
    assert code == 0, out + err
    flat = " ".join(out.split())
    assert "probe C-GET (1 instance)" in flat and "probe C-MOVE" not in flat, out
    assert "receiver COURIER running" not in flat, out
    assert _verdict(out).startswith(
        "Verdict: COURIER works end to end by C-GET: a probe instance arrived in "), out
    assert len(list((tmp_path / "in").rglob("*.dcm"))) == 1


def test_an_automatic_profile_falls_back_to_c_get_and_says_so(
        orthanc: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Orthanc does not know STRANGER: the C-MOVE to this computer is refused before
    anything is sent; the probe then comes by C-GET, and the verdict says why."""
    code, out, err = _doctor_here(tmp_path, capsys, orthanc, "auto",
                                  f'"ae_title": "STRANGER", "port": {free_port()}, '
                                  f'"bind": "{LOOPBACK}"')
    assert code == 0, out + err
    assert "probe C-GET (1 instance)" in " ".join(out.split()), out
    verdict = " ".join(_verdict(out).split())
    assert verdict.startswith("Verdict: STRANGER works end to end by C-GET ("), verdict
    assert "STRANGER" in verdict.partition("by C-GET (")[2], verdict
    assert len(list((tmp_path / "in").rglob("*.dcm"))) == 1
