"""The command line records and tells what arrived, as the window does (issue 13 part G).

``move --verify`` and ``move --dest @here`` write the arrival words, received count and
folder into jobs.db, and a send the check found short is recorded "partial" (§2); ``queue
run`` of a send to this computer starts the receiver, ties the files to the job and waits
for them, and checks queryable destinations, counting partial in its summary and exit code
(§3); a send to this computer is shown as "This computer" to people, "@here" to scripts
(§4). The PACS is the embedded demo PACS; the destination a queryable workstation.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pynetdicom.events import Event

from dicom_courier.core.config.app_settings import AppSettings, save_app_settings
from dicom_courier.core.config.paths import app_paths
from dicom_courier.core.config.receiver_settings import (
    ReceiverSettings,
    save_receiver_settings,
)
from dicom_courier.core.demo.pacs import DemoPacs
from dicom_courier.core.demo.synthetic import StudySpec
from tests.cli_runner import run_cli
from tests.fakes.queryable_store import QueryableStore
from tests.peers.ports import free_port

pytestmark = pytest.mark.network

SPEC = StudySpec(key="arr-1", patient_name="Arr^Test", patient_id="A1", series_count=2,
                 instances_per_series=2)


class Forgetful(QueryableStore):
    """Accepts every image but later holds ``forget`` fewer (a destination that lost them)."""

    forget = 0

    def _on_store(self, event: Event) -> int:
        status = super()._on_store(event)
        with self._held_lock:
            if status == 0 and self.forget > 0:
                self._held.pop(str(event.dataset.SOPInstanceUID), None)
                self.forget -= 1
        return status


class Peers:
    def __init__(self, pacs: DemoPacs, ws: Forgetful, receiver_port: int,
                 config: Path) -> None:
        self.pacs, self.ws, self.receiver_port, self.config = pacs, ws, receiver_port, config


@pytest.fixture
def peers(tmp_path: Path) -> Iterator[Peers]:
    config = tmp_path / "cfg"
    port = free_port()
    paths = app_paths(str(config))
    with Forgetful(tmp_path / "ws", ae_title="WS3") as ws, DemoPacs(
            [SPEC], destinations={"WS3": ("127.0.0.1", ws.port),
                                  "COURIER": ("127.0.0.1", port)}) as pacs:
        added = run_cli("nodes", "add", "Demo", "--host", "127.0.0.1", "--port",
                        str(pacs.port), "--aet", pacs.ae_title, "--dest",
                        f"WS3@127.0.0.1:{ws.port}", "--queryable-dest", "WS3",
                        config_dir=config)
        assert added.returncode == 0, added.stderr
        save_app_settings(paths.settings_file, AppSettings(arrival_wait=0, arrival_interval=1))
        save_receiver_settings(paths.receiver_file, ReceiverSettings(
            ae_title="COURIER", port=port, bind="127.0.0.1", folder=str(tmp_path / "in")))
        yield Peers(pacs, ws, port, config)


def _jobs(config: Path) -> list[dict[str, Any]]:
    listed = run_cli("queue", "list", "--format", "json", config_dir=config)
    assert listed.returncode == 0, listed.stderr
    rows: list[dict[str, Any]] = json.loads(listed.stdout)
    return rows


def _ran(config: Path) -> dict[str, Any]:
    """The row ``queue run`` wrote (a retry of the queued one, which it marks requeued)."""
    [job] = [job for job in _jobs(config) if job["retry_of"] is not None]
    return job


def test_move_verify_records_the_check_and_a_short_send_is_partial(peers: Peers) -> None:
    peers.ws.forget = 1
    moved = run_cli("move", "--pacs", "Demo", "--dest", "WS3", "--study", SPEC.study_uid,
                    "--verify", config_dir=peers.config)
    assert moved.returncode == 3, moved.stderr
    assert "WS3: destination has 3 of 4 after 0 s" in moved.stderr
    [job] = _jobs(peers.config)
    assert (job["state"], job["completed"], job["arrival_verified"]) == ("partial", 4, False)
    assert job["arrival"] == "destination has 3 of 4 after 0 s"
    table = run_cli("queue", "list", config_dir=peers.config).stdout
    assert "partial" in table and "destination has 3 of 4" in table
    exported = run_cli("queue", "export", "--csv", "-", config_dir=peers.config).stdout
    [row] = list(csv.DictReader(io.StringIO(exported)))
    assert (row["final status"], row["arrival"]) == ("partial", "destination has 3 of 4 after "
                                                                "0 s")


def test_move_verify_of_a_send_with_failures_is_verified_for_what_was_sent(
        peers: Peers) -> None:
    """The PACS reports 1 of 4 failed: the 3 it sent are all there. The failure is the
    send's own outcome (partial), the check says "verified 3/3", as the queue would."""
    peers.ws.fail_every = 4
    moved = run_cli("move", "--pacs", "Demo", "--dest", "WS3", "--study", SPEC.study_uid,
                    "--verify", config_dir=peers.config)
    assert moved.returncode == 3, moved.stderr
    assert "WS3: verified at destination: 3/3" in moved.stderr
    [job] = _jobs(peers.config)
    assert (job["state"], job["failed"], job["arrival"], job["arrival_verified"]) == (
        "partial", 1, "verified at destination: 3/3", True)


def test_move_to_here_records_what_was_received(peers: Peers, tmp_path: Path) -> None:
    moved = run_cli("move", "--pacs", "Demo", "--dest", "@here", "--study", SPEC.study_uid,
                    config_dir=peers.config)
    assert moved.returncode == 0, moved.stderr
    assert "sent to This computer" in moved.stderr and "sent to @here" not in moved.stderr
    assert f"received 4 of 4 into {tmp_path / 'in'}" in moved.stderr
    [job] = _jobs(peers.config)
    assert (job["state"], job["destination"], job["received"]) == ("completed", "@here", 4)
    assert (job["arrival"], job["arrival_verified"]) == ("received 4 of 4", True)
    assert job["folder"] and Path(job["folder"]).is_dir()
    assert len(list(Path(job["folder"]).rglob("*.dcm"))) == 4
    table = run_cli("queue", "list", config_dir=peers.config).stdout
    assert "This computer" in table and "@here" not in table
    exported = run_cli("queue", "export", "--csv", "-", config_dir=peers.config).stdout
    [row] = list(csv.DictReader(io.StringIO(exported)))
    assert (row["destination"], row["received"]) == ("This computer", "4")


def test_queue_run_to_here_starts_the_receiver_and_waits_for_the_files(
        peers: Peers, tmp_path: Path) -> None:
    added = run_cli("queue", "add", "--pacs", "Demo", "--dest", "@HERE", "--study",
                    SPEC.study_uid, config_dir=peers.config)
    assert added.returncode == 0, added.stderr
    assert "to This computer" in added.stdout
    ran = run_cli("queue", "run", config_dir=peers.config)
    assert ran.returncode == 0, ran.stderr
    assert "received 4 of 4" in ran.stderr
    job = _ran(peers.config)
    assert (job["state"], job["destination"], job["received"], job["arrival"]) == (
        "completed", "@here", 4, "received 4 of 4")
    assert len(list((tmp_path / "in").rglob("*.dcm"))) == 4


def test_queue_run_to_here_with_the_port_taken_fails_with_the_reason(peers: Peers) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", peers.receiver_port))
        taken.listen(1)
        run_cli("queue", "add", "--pacs", "Demo", "--dest", "@here", "--study",
                SPEC.study_uid, config_dir=peers.config)
        ran = run_cli("queue", "run", config_dir=peers.config)
    assert ran.returncode == 1, ran.stderr
    assert "receiver did not start" in ran.stderr and str(peers.receiver_port) in ran.stderr
    assert "Traceback" not in ran.stderr
    assert _ran(peers.config)["state"] == "failed"


def test_queue_run_checks_a_queryable_destination_and_counts_partial(peers: Peers) -> None:
    peers.ws.forget = 1
    run_cli("queue", "add", "--pacs", "Demo", "--dest", "WS3", "--study", SPEC.study_uid,
            config_dir=peers.config)
    ran = run_cli("queue", "run", config_dir=peers.config)
    assert ran.returncode == 3, ran.stderr
    assert "partial:" in ran.stderr and "destination has 3 of 4" in ran.stderr
    job = _ran(peers.config)
    assert (job["state"], job["arrival"]) == ("partial", "destination has 3 of 4 after 0 s")
