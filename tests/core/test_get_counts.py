"""C-GET: what arrived is the fact, and what is refused is said (issue 13 part C2 §1, §2).

The PDU-level GetPacs of test_get_watchdog plays the PACS. Rows: a PACS whose final
response says 8 completed after sending 1 gives "1 of 8", partial, in words "said 8 sent;
1 arrived", and ``move --dest @here`` does not wait for images that cannot come; a
C-STORE-RQ on the presentation context of another SOP class (pynetdicom answers 0x0122 by
itself) is published as a refusal in plain words and counted failed; an instance outside
the requested study, series or images is answered 0xC000, published, counted failed and
never written.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from pydicom.dataset import Dataset

from dicom_courier.core.config.paths import app_paths
from dicom_courier.core.config.profile_store import NodeStore
from dicom_courier.core.config.profiles import Timeouts
from dicom_courier.core.config.retrieve_method import RetrieveMethod
from dicom_courier.core.outcome.events import MoveOutcome
from dicom_courier.core.qr.query import MoveTarget
from tests.core.test_get_watchdog import SERIES, STUDY, GetPacs, _get, _instance, _node
from tests.fakes.pdu_peer import PduPeer, query_retrieve_script
from tests.peers.ports import free_port

pytestmark = pytest.mark.network

MR = "1.2.840.10008.5.1.4.1.1.4"


def _mr(number: int) -> Dataset:
    ds = _instance(number)
    ds.SOPClassUID = MR
    ds.Modality = "MR"
    return ds


def test_a_pacs_that_says_more_than_it_sent_is_capped_by_what_arrived(tmp_path: Path) -> None:
    pacs = GetPacs([_instance(1)], final=(0x0000, (0, 8, 0, 0)))
    with PduPeer(pacs) as peer:
        result, arrivals, _, _ = _get(peer.port, tmp_path)
    assert len(arrivals) == 1
    assert result.outcome is MoveOutcome.PARTIAL
    assert (result.completed, result.failed, result.total) == (1, 7, 8)
    assert result.via_get and result.said_sent == 8
    assert result.error is not None
    words = result.error.render()
    assert "said 8 sent; 1 arrived" in words and "nothing more can arrive" in words, words


def test_a_store_on_another_classes_context_is_refused_said_and_counted_failed(
        tmp_path: Path) -> None:
    """pynetdicom answers it 0x0122 and calls no handler; the PACS still says 2 of 2."""
    pacs = GetPacs([_instance(1), _mr(2)], final=(0x0000, (0, 2, 0, 0)))
    with PduPeer(pacs) as peer:
        result, arrivals, refusals, _ = _get(peer.port, tmp_path)
    assert pacs.store_statuses == [0x0000, 0x0122]
    assert len(arrivals) == 1 and [p.stem for p in tmp_path.rglob("*.dcm")] == [f"{SERIES}.1"]
    assert len(refusals) == 1 and refusals[0].status == 0x0122
    assert "PDUPACS sent an MR image on a CT image presentation context" in refusals[0].reason
    assert result.outcome is MoveOutcome.PARTIAL
    assert (result.completed, result.failed) == (1, 1)
    assert result.error is not None
    words = result.error.render()
    assert "MR image on a CT image presentation context" in words, words
    assert "Free disk space" not in words, words


def _other_study(number: int) -> Dataset:
    ds = _instance(number)
    ds.StudyInstanceUID = STUDY + ".99"
    return ds


def _other_series(number: int) -> Dataset:
    ds = _instance(number)
    ds.SeriesInstanceUID = SERIES + ".99"
    return ds


@pytest.mark.parametrize(("stray", "target", "words"), [
    (_other_study(2), MoveTarget(STUDY), "another study"),
    (_other_series(2), MoveTarget(STUDY, (SERIES,)), "a series that was not asked for"),
    (_instance(2), MoveTarget(STUDY, (SERIES,), (f"{SERIES}.1",)),
     "not one of the images asked for"),
], ids=["other-study", "other-series", "other-image"])
def test_an_instance_outside_the_request_is_refused_and_never_written(
        tmp_path: Path, stray: Dataset, target: MoveTarget, words: str) -> None:
    pacs = GetPacs([_instance(1), stray])
    with PduPeer(pacs) as peer:
        result, arrivals, refusals, _ = _get(peer.port, tmp_path, target=target)
    assert pacs.store_statuses == [0x0000, 0xC000]
    assert [a.sop_uid for a in arrivals] == [f"{SERIES}.1"]
    assert [p.stem for p in tmp_path.rglob("*.dcm")] == [f"{SERIES}.1"]
    assert len(refusals) == 1 and words in refusals[0].reason
    assert result.outcome is MoveOutcome.PARTIAL
    assert (result.completed, result.failed) == (1, 1)


def test_move_to_here_by_c_get_does_not_wait_for_images_that_cannot_come(
        tmp_path: Path) -> None:
    """The PACS says 8 sent after 1: the command ends at once (no 30 s wait: the C-GET's
    association is over), says "received 1 of 8" and exits 3 (partial)."""
    pacs = GetPacs([_instance(1)], final=(0x0000, (0, 8, 0, 0)))
    with PduPeer(pacs) as peer:
        NodeStore(app_paths(str(tmp_path)).nodes_file).put(
            _node(peer.port).with_changes(name="pdu", retrieve=RetrieveMethod.GET))
        folder = tmp_path / "in"
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "dicom_courier", "--config-dir", str(tmp_path), "move",
             "--pacs", "pdu", "--dest", "@here", "--study", STUDY, "--folder", str(folder)],
            capture_output=True, text=True, timeout=60)
        took = time.monotonic() - started
    assert done.returncode == 3, done.stderr
    assert f"received 1 of 8 into {folder}" in done.stderr, done.stderr
    assert "nothing more can arrive" in done.stderr
    assert took < 20, took  # not the 30 s arrival wait


def _move_here(port: int, config: Path, folder: Path, *more: str
               ) -> subprocess.CompletedProcess[str]:
    NodeStore(app_paths(str(config)).nodes_file).put(
        _node(port).with_changes(name="pdu", retrieve=RetrieveMethod.GET))
    return subprocess.run(
        [sys.executable, "-m", "dicom_courier", "--config-dir", str(config), *more, "move",
         "--pacs", "pdu", "--dest", "@here", "--study", STUDY, "--folder", str(folder)],
        capture_output=True, text=True, timeout=60)


def test_move_to_here_says_a_refusal_once_not_once_per_image(tmp_path: Path) -> None:
    """Every image is refused (the folder cannot be made: a file is in the way, the stand-in
    for a full disk): one "Refused" line and the error, not a log line per image; -v shows
    the writer's lines again."""
    (tmp_path / "blocked").write_text("a file, not a folder")
    folder = tmp_path / "blocked" / "in"
    with PduPeer(GetPacs([_instance(n) for n in range(1, 6)])) as peer:
        done = _move_here(peer.port, tmp_path, folder)
    lines = done.stderr.splitlines()
    assert done.returncode == 1, done.stderr
    assert sum("Refused (status 0xA700)" in line for line in lines) == 1, done.stderr
    assert not [line for line in lines if "WARNING" in line], done.stderr
    assert "Courier could not write 5 image(s)" in " ".join(done.stderr.split())
    with PduPeer(GetPacs([_instance(n) for n in range(1, 3)])) as peer:
        loud = _move_here(peer.port, tmp_path, folder, "-v")
    assert sum("Could not store an instance" in line for line in loud.stderr.splitlines()) \
        == 2, loud.stderr


@pytest.mark.parametrize(("wait", "more", "said"), [
    (1, (), "waited 1 s"),
    (20, ("--deadline", "1"), "waited 1 s"),  # bounded by the deadline
], ids=["arrival_wait", "deadline"])
def test_move_to_here_waits_arrival_wait_as_the_queue_does(
        tmp_path: Path, wait: int, more: tuple[str, ...], said: str) -> None:
    """One rule: settings.json's arrival_wait (not the profile's deadline, nor 30 s), no
    longer than a deadline. The PACS says 2 sent to our receiver and sends nothing."""
    (tmp_path / "settings.json").write_text(f'{{"arrival_wait": {wait}}}', encoding="utf-8")
    moves: list[Dataset] = []
    with PduPeer(query_retrieve_script([], moves, move_counts=(0, 2, 0, 0))) as peer:
        NodeStore(app_paths(str(tmp_path)).nodes_file).put(_node(peer.port).with_changes(
            name="pdu", retrieve=RetrieveMethod.MOVE,
            timeouts=Timeouts(connect=5, acse=5, idle=5, total=600)))
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "dicom_courier", "--config-dir", str(tmp_path), "move",
             "--pacs", "pdu", "--dest", "@here", "--study", STUDY, "--folder",
             str(tmp_path / "in"), "--receiver-port", str(free_port()), *more],
            capture_output=True, text=True, timeout=60)
        took = time.monotonic() - started
    assert len(moves) == 1
    assert done.returncode == 3, done.stderr
    assert f"received 0 of 2 into {tmp_path / 'in'} ({said} for the rest)" in " ".join(
        done.stderr.split()), done.stderr
    assert took < 15, took
