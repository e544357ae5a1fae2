"""The arrival check against real Orthanc (issue 13 §3, §5 rows).

Seen in the field: a PACS that answers the final C-MOVE response before its C-STOREs are done
(Orthanc with ``"SynchronousCMove": false``) — Courier said "6 of 6 sent" while the
workstation held 1. The destination here is a slow storage SCP that also answers C-FIND for
what it holds (``tests/fakes/queryable_store.py``), with and without
NumberOfSeriesRelatedInstances.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dicom_courier.core.cli.main import run as cli_run
from dicom_courier.core.config.profiles import Destination
from dicom_courier.core.dimse.arrival_check import check_arrival, source_counts
from dicom_courier.core.dimse.engine import Courier
from dicom_courier.core.qr.query import MoveRequest, MoveTarget
from tests.conftest import require_binary
from tests.fakes.queryable_store import QueryableStore
from tests.interop.conftest import node_for, run
from tests.peers import LOOPBACK, OrthancPeer, free_port, interop_datasets
from tests.waiting import wait_until

FIRST = next(iter(interop_datasets()))
STUDY = str(FIRST.StudyInstanceUID)  # 2 series x 3 instances
SERIES = str(FIRST.SeriesInstanceUID)


@pytest.fixture(scope="module")
def ws3_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def async_orthanc(tmp_path_factory: pytest.TempPathFactory, interop_files: list[Path],
                  dead_port: int, ws3_port: int) -> Iterator[OrthancPeer]:
    """An Orthanc that answers C-MOVE before its C-STOREs are done, knowing WS3."""
    peer = OrthancPeer(tmp_path_factory.mktemp("orthanc-async"), destination_port=free_port(),
                       dead_port=dead_port, binary=require_binary("Orthanc", "orthanc"),
                       extra_modalities={"ws3": ("WS3", LOOPBACK, ws3_port)},
                       extra_config={"SynchronousCMove": False})
    peer.start()
    try:
        peer.upload(interop_files)
        yield peer
    finally:
        peer.stop()


def _cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = cli_run(["--config-dir", str(tmp_path / "cfg"), *argv])
    return code, " ".join(capsys.readouterr().err.split())


def _profile(tmp_path: Path, capsys: pytest.CaptureFixture[str], peer: Any, dest: str,
             port: int, wait: int) -> None:
    (tmp_path / "cfg").mkdir(exist_ok=True)
    (tmp_path / "cfg" / "settings.json").write_text(
        f'{{"arrival_wait": {wait}, "arrival_interval": 1}}', encoding="utf-8")
    code, err = _cli(tmp_path, capsys, "nodes", "add", "src", "--host", LOOPBACK, "--port",
                     str(peer.port), "--aet", peer.aet, "--dest", f"{dest}@{LOOPBACK}:{port}",
                     "--queryable-dest", dest)
    assert code == 0, err


def test_move_verify_catches_a_pacs_that_answers_before_it_sends(
        async_orthanc: OrthancPeer, ws3_port: int, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    _profile(tmp_path, capsys, async_orthanc, "WS3", ws3_port, wait=0)
    with QueryableStore(tmp_path / "ws3", "WS3", port=ws3_port, store_delay=0.2) as ws3:
        code, err = _cli(tmp_path, capsys, "move", "--pacs", "src", "--dest", "WS3",
                         "--study", STUDY, "--verify")
        held = ws3.received_count
        wait_until(lambda: ws3.received_count == 6, within=20)  # Orthanc's sends end
    assert held < 6  # what the PACS claimed was not there yet
    assert code == 3, err  # partly completed, never 0
    assert "WS3: destination has" in err and "of 6 after 0 s" in err
    # the summary never says "sent" without what the check found
    assert "completed: 6 of 6 images sent to WS3" in err
    assert err.rstrip().split("; ")[-1].startswith("destination has")


def test_the_check_waits_for_a_pacs_that_sends_late(
        async_orthanc: OrthancPeer, ws3_port: int, tmp_path: Path) -> None:
    """Re-checked every 0.3 s, the instances counted image by image (no series counts)."""
    node = node_for(async_orthanc)
    dest = Destination("WS3", LOOPBACK, ws3_port, queryable=True)
    with QueryableStore(tmp_path / "ws3", "WS3", port=ws3_port, store_delay=0.2,
                        series_counts=False) as ws3, Courier() as courier:
        async def scenario() -> Any:
            expected = await source_counts(courier, node, STUDY)
            result = await courier.move(node, MoveRequest(MoveTarget(STUDY), "WS3")).run()
            assert result.sent == 6 and ws3.received_count < 6
            return await check_arrival(courier, node, dest, STUDY, expected=expected,
                                       expected_total=result.sent, wait=20, interval=0.3)
        check = run(scenario())
        assert ws3.finds > 2  # asked again, not once
    assert check.verified and check.words() == "verified at destination: 6/6"
    assert check.waited > 0.3
    assert [s.found for s in check.series] == [3, 3]


@pytest.mark.parametrize(("narrower", "words"), [
    ((), "verified at destination: 6/6"),
    (("--series", SERIES), "verified at destination: 3/3"),
], ids=["study", "one-series"])
def test_move_verify_of_a_slow_destination_that_holds_everything(
        orthanc: Any, destination_port: int, tmp_path: Path,
        capsys: pytest.CaptureFixture[str], narrower: tuple[str, ...], words: str) -> None:
    """A synchronous PACS and a slow destination that fills series counts: verified."""
    _profile(tmp_path, capsys, orthanc, "STORESCP", destination_port, wait=10)
    with QueryableStore(tmp_path / "ws", "STORESCP", port=destination_port,
                        store_delay=0.05):
        code, err = _cli(tmp_path, capsys, "move", "--pacs", "src", "--dest", "STORESCP",
                         "--study", STUDY, *narrower,
                         "--verify")
    assert code == 0, err
    assert f"STORESCP: {words}" in err and err.rstrip().endswith(words)
