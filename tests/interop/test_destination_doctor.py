"""The destination doctor against real peers (issue 13 §4, §5 rows): ``nodes test NAME
--dest AET [--probe-study UID]`` — a known destination (the probe arrives), an unknown one
(0xA801), a switched-off one (nothing listening), and nothing sent without a probe study."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dicom_courier.core.cli.main import run as cli_run
from dicom_courier.core.config.profiles import Destination
from dicom_courier.core.dimse.diagnose import Verdict
from dicom_courier.core.dimse.doctor import doctor
from dicom_courier.core.dimse.engine import Courier
from tests.fakes.queryable_store import QueryableStore
from tests.interop.conftest import node_for, run
from tests.peers import LOOPBACK, interop_datasets

FIRST = next(iter(interop_datasets()))
STUDY = str(FIRST.StudyInstanceUID)


def _doctor(tmp_path: Path, capsys: pytest.CaptureFixture[str], peer: Any,
            *argv: str, dests: tuple[str, ...] = ()) -> tuple[int, str, str]:
    """``nodes add`` a profile for ``peer`` (``dests`` as typed, queryable), then
    ``nodes test src *argv``; returns (exit code, stdout, stderr) with lines kept."""
    cfg = tmp_path / "cfg"
    cfg.mkdir(exist_ok=True)
    (cfg / "settings.json").write_text('{"arrival_wait": 5, "arrival_interval": 1}',
                                       encoding="utf-8")
    add = ["nodes", "add", "src", "--host", LOOPBACK, "--port", str(peer.port), "--aet",
           peer.aet]
    for dest in dests:
        add += ["--dest", dest, "--queryable-dest", dest.partition("@")[0]]
    assert cli_run(["--config-dir", str(cfg), *add]) == 0
    capsys.readouterr()
    code = cli_run(["--config-dir", str(cfg), "nodes", "test", "src", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _verdict(out: str) -> str:
    lines = [line for line in out.splitlines() if line.startswith("Verdict: ")]
    assert len(lines) == 1, out
    return lines[0]


def test_a_known_destination_gets_the_probe_end_to_end(
        orthanc: Any, destination_port: int, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    with QueryableStore(tmp_path / "ws", "STORESCP", port=destination_port) as ws:
        code, out, err = _doctor(tmp_path, capsys, orthanc, "--dest", "STORESCP",
                                 "--probe-study", STUDY,
                                 dests=(f"STORESCP@{LOOPBACK}:{destination_port}",))
        assert ws.received_count == 1  # one instance, not the study
    assert code == 0, out + err
    assert _verdict(out).startswith("Verdict: STORESCP works end to end: a probe instance "
                                    "arrived in ")
    flat = " ".join(out.split())
    assert "the smallest of 6 instances" in flat
    assert "OK [probe C-MOVE (1 instance)," in flat and "OK [C-FIND at STORESCP," in flat
    assert " ms]" in flat  # each step with its time


def test_without_a_probe_study_nothing_is_sent_and_the_output_says_how(
        orthanc: Any, destination_port: int, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    with QueryableStore(tmp_path / "ws", "STORESCP", port=destination_port) as ws:
        code, out, _ = _doctor(tmp_path, capsys, orthanc, "--dest", "STORESCP",
                               dests=(f"STORESCP@{LOOPBACK}:{destination_port}",))
        assert ws.received_count == 0
    assert code == 0
    assert "nothing was sent" in _verdict(out)
    assert ("To prove it end to end, run: dicom-courier nodes test src --dest STORESCP "
            "--probe-study STUDY_UID" in " ".join(out.split()))


def test_an_unknown_destination_is_refused_with_a801(
        dcmqrscp: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """dcmqrscp accepts the no-match probe whatever the destination; the real probe move
    of one instance gets 0xA801."""
    code, out, _ = _doctor(tmp_path, capsys, dcmqrscp, "--dest", "NOBODY",
                           "--probe-study", STUDY)
    assert code == 1
    assert _verdict(out) == "Verdict: the PACS DCMQRSCP does not know NOBODY (0xA801)"


def test_a_switched_off_destination_is_said_and_nothing_is_moved(
        orthanc: Any, dead_port: int, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    dead = orthanc.dead_destination
    code, out, _ = _doctor(tmp_path, capsys, orthanc, "--dest", dead, "--probe-study", STUDY,
                           dests=(f"{dead}@{LOOPBACK}:{dead_port}",))
    assert code == 1
    assert _verdict(out) == (f"Verdict: {dead} is switched off: no answer at "
                             f"{LOOPBACK}:{dead_port}")
    assert "[C-MOVE (no match)" in out and "C-FIND (IMAGE)" not in out  # no probe instance sought


def test_the_window_gets_the_same_steps_and_a_sent_but_missing_probe(
        orthanc: Any, destination_port: int, tmp_path: Path) -> None:
    """``doctor()`` for the window: a destination that takes the probe and then does not hold
    it (it keeps nothing it is sent) is "the PACS says sent, but … has not got it"."""
    class ForgetfulStore(QueryableStore):
        def _on_find(self, event: Any) -> Any:
            yield 0x0000, None  # answers every query with nothing

    dest = Destination("STORESCP", LOOPBACK, destination_port, queryable=True)
    with ForgetfulStore(tmp_path / "ws", "STORESCP", port=destination_port) as ws, \
            Courier() as courier:
        steps = doctor(courier, node_for(orthanc), dest, STUDY, wait=0.5, interval=0.2)

        async def scenario() -> list[Any]:
            return [check async for check in steps]
        checks = run(scenario())
        assert ws.received_count == 1
    assert [c.step for c in checks] == ["C-ECHO", "C-FIND probe", "C-MOVE (no match)",
                                        "C-ECHO to STORESCP", "C-FIND (IMAGE)",
                                        "probe C-MOVE (1 instance)",
                                        "C-FIND at STORESCP"]
    assert checks[-1].verdict is Verdict.FAILED and all(c.ms is not None for c in checks)
    assert steps.verdict is not None and steps.verdict.works is False
    assert steps.verdict.text == "the PACS says sent, but STORESCP has not got it after 1 s"


@pytest.mark.parametrize("here", ["@here", "@HERE"])
def test_this_computer_gets_the_probe_through_the_receiver(
        orthanc: Any, destination_port: int, tmp_path: Path,
        capsys: pytest.CaptureFixture[str], here: str) -> None:
    """``--dest @here``: the receiver (receiver.json: COURIER, where Orthanc knows it) runs
    for the duration, and the probe's file is looked for in its folder. Any case, as
    ``move --dest`` and ``queue add --dest`` take it (``@HERE`` was "--dest: must not be
    blank")."""
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    received = tmp_path / "received"
    (cfg / "receiver.json").write_text(
        f'{{"ae_title": "COURIER", "port": {destination_port}, "bind": "{LOOPBACK}", '
        f'"folder": "{received}"}}', encoding="utf-8")
    code, out, err = _doctor(tmp_path, capsys, orthanc, "--dest", here,
                             "--probe-study", STUDY)
    assert code == 0, out + err
    assert _verdict(out).startswith("Verdict: COURIER works end to end: a probe instance "
                                    "arrived in ")
    assert len(list(received.rglob("*.dcm"))) == 1
    assert "Is this computer's receiver COURIER running? yes" in " ".join(out.split())
    assert "save it as AET@HOST:PORT" not in out  # it is this computer: no address to save
