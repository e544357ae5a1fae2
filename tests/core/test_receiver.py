"""The built-in receiver (core/dimse/receiver.py) against pynetdicom SCUs on loopback: who may
send, what is written, what is refused, and how start-up faults read (issue 13 §1, §5)."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filereader import read_dataset
from pynetdicom import AE, AllStoragePresentationContexts
from pynetdicom.sop_class import Verification

from dicom_courier.core.config.receiver_settings import (
    AllowList,
    ReceiverSettings,
    allow_list,
)
from dicom_courier.core.dimse import store_files
from dicom_courier.core.dimse.arrival_hub import ArrivalHub
from dicom_courier.core.dimse.receiver import ReceivedSession, Receiver
from dicom_courier.core.outcome.arrival import Arrival, StoreRefusal
from dicom_courier.core.outcome.errors import ReceiverError
from tests.core.test_store_files import CT, EXPLICIT, encoded

pytestmark = [pytest.mark.network,
              pytest.mark.filterwarnings("ignore:.*VR UI:UserWarning")]


class Seen:
    def __init__(self, hub: ArrivalHub) -> None:
        self.arrivals: list[Arrival] = []
        self.refusals: list[StoreRefusal] = []
        self.sessions: list[ReceivedSession] = []
        self.ended = threading.Event()
        hub.subscribe(self.arrivals.append)
        hub.subscribe_refusals(self.refusals.append)

    def session(self, session: ReceivedSession) -> None:
        self.sessions.append(session)
        self.ended.set()


def make_receiver(folder: Path, hub: ArrivalHub, seen: Seen, *, aets: tuple[str, ...] = ("PACS",),
                  allow: AllowList | None = None, **settings: object) -> Receiver:
    options: dict[str, object] = {"port": 0, **settings}
    return Receiver(ReceiverSettings(**options), folder,  # type: ignore[arg-type]
                    allow or AllowList(frozenset(aets)), hub, on_session=seen.session)


@pytest.fixture
def receiver(tmp_path: Path, hub: ArrivalHub, seen: Seen) -> Iterator[Receiver]:
    running = make_receiver(tmp_path / "received", hub, seen)
    running.start()
    yield running
    running.stop()


def dataset(sop_uid: str = "1.2.3.4.5.6", pixels: bytes = b"\x01\x02" * 64,
            patient_id: str = "PID1") -> Dataset:
    ds = read_dataset(io.BytesIO(encoded(sop_uid, pixels=pixels, patient_id=patient_id)),
                      False, True)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = EXPLICIT
    return ds


def send(port: int, datasets: list[Dataset], calling: str = "PACS") -> list[int]:
    ae = AE(ae_title=calling)
    ae.add_requested_context(CT, EXPLICIT)
    assoc = ae.associate("127.0.0.1", port, ae_title="COURIER")
    assert assoc.is_established
    try:
        return [int(assoc.send_c_store(ds).Status) for ds in datasets]
    finally:
        assoc.release()


def test_an_allowed_pacs_stores_and_the_hub_hears_it(receiver: Receiver, seen: Seen) -> None:
    assert send(receiver.port, [dataset()]) == [0x0000]
    assert seen.ended.wait(5)
    path = receiver.folder.resolve() / "PID1" / "1.2.3.4" / "1.2.3.4.5" / "1.2.3.4.5.6.dcm"
    assert [a.path for a in seen.arrivals] == [str(path)]
    assert pydicom.dcmread(path).file_meta.SourceApplicationEntityTitle == "PACS"
    assert seen.sessions[0].stored == 1 and seen.sessions[0].ended == "released"


def test_c_echo_is_answered(receiver: Receiver) -> None:
    ae = AE(ae_title="PACS")
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", receiver.port, ae_title="COURIER")
    assert assoc.is_established
    assert assoc.send_c_echo().Status == 0
    assoc.release()


def test_an_unknown_calling_ae_is_rejected_naming_the_reason(receiver: Receiver,
                                                             seen: Seen) -> None:
    ae = AE(ae_title="STRANGER")
    ae.add_requested_context(CT, EXPLICIT)
    assoc = ae.associate("127.0.0.1", receiver.port, ae_title="COURIER")
    assert assoc.is_rejected
    rejection = assoc.acceptor.primitive
    # PS3.8 7.1.1.9: rejected-permanent (1), service-user (1), calling AE not recognised (3)
    assert (rejection.result, rejection.result_source, rejection.diagnostic) == (1, 1, 3)
    assert len(seen.refusals) == 1
    refusal = seen.refusals[0]
    assert refusal.calling_aet == "STRANGER" and refusal.address == "127.0.0.1"
    assert "STRANGER at 127.0.0.1 may not send here" in refusal.reason
    assert seen.arrivals == [] and not receiver.folder.joinpath("PID1").exists()


def test_the_address_check_refuses_an_allowed_ae_from_another_host(
        tmp_path: Path, hub: ArrivalHub, seen: Seen) -> None:
    allow = AllowList(frozenset({"PACS"}), {"PACS": frozenset({"10.99.0.1"})})
    running = make_receiver(tmp_path, hub, seen, allow=allow)
    running.start()
    try:
        ae = AE(ae_title="PACS")
        ae.add_requested_context(CT, EXPLICIT)
        assert ae.associate("127.0.0.1", running.port, ae_title="COURIER").is_rejected
    finally:
        running.stop()
    assert "must connect from 10.99.0.1" in seen.refusals[0].reason


def test_a_sop_uid_like_dotdot_x_is_refused_and_nothing_is_written_outside(
        tmp_path: Path, hub: ArrivalHub, seen: Seen) -> None:
    folder = tmp_path / "inside" / "received"
    running = make_receiver(folder, hub, seen)
    running.start()
    try:
        statuses = send(running.port, [dataset("../../x"), dataset("1.2.3.4.5.7")])
    finally:
        running.stop()
    assert statuses == [0xC000, 0x0000]  # refused; the association goes on
    written = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    assert [p.name for p in written] == ["1.2.3.4.5.7.dcm"]
    assert all(p.is_relative_to(folder) for p in written)
    assert seen.refusals[0].status == 0xC000 and "not a DICOM UID" in seen.refusals[0].reason


def test_four_parallel_associations_each_file_arrives_once_intact(receiver: Receiver,
                                                                  seen: Seen) -> None:
    per_sender = 15
    errors: list[BaseException] = []
    statuses: list[int] = []

    def sender(n: int) -> None:
        try:
            items = [dataset(f"1.2.3.{n}.{i}", pixels=bytes([n, i]) * 20_000)
                     for i in range(per_sender)]
            statuses.extend(send(receiver.port, items))
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == [] and statuses == [0] * 4 * per_sender
    files = sorted(receiver.folder.rglob("*.dcm"))
    assert len(files) == 4 * per_sender
    for path in files:
        n, i = (int(x) for x in path.stem.split(".")[3:5])
        assert pydicom.dcmread(path).PixelData == bytes([n, i]) * 20_000
    assert len({a.sop_uid for a in seen.arrivals}) == len(seen.arrivals) == 4 * per_sender
    assert not [p for p in receiver.folder.rglob("*") if p.name.startswith(".")]


def test_a_peer_proposing_128_contexts_is_served(receiver: Receiver) -> None:
    ae = AE(ae_title="PACS")
    for context in AllStoragePresentationContexts[:128]:
        ae.add_requested_context(context.abstract_syntax, EXPLICIT)
    assert len(ae.requested_contexts) == 128 and CT in [c.abstract_syntax
                                                        for c in ae.requested_contexts]
    assoc = ae.associate("127.0.0.1", receiver.port, ae_title="COURIER")
    assert assoc.is_established and len(assoc.accepted_contexts) == 128
    assert assoc.send_c_store(dataset()).Status == 0
    assoc.release()


def test_disk_full_is_answered_out_of_resources_and_the_user_hears_it(
        receiver: Receiver, seen: Seen, monkeypatch: pytest.MonkeyPatch) -> None:
    real_fdopen = os.fdopen

    class Full:
        def __init__(self, handle: io.BufferedWriter) -> None:
            self.handle = handle

        def __enter__(self) -> Full:
            return self

        def __exit__(self, *exc: object) -> None:
            self.handle.close()

        def write(self, data: bytes) -> int:
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(store_files.os, "fdopen", lambda fd, mode: Full(real_fdopen(fd, mode)))
    assert send(receiver.port, [dataset()]) == [0xA700]
    assert seen.refusals[0].status == 0xA700 and "disk is full" in seen.refusals[0].reason
    assert [p for p in receiver.folder.rglob("*") if p.is_file()] == []


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)],
                          capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip("mounting a tmpfs is not permitted here (the portable stand-in runs)")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], capture_output=True, check=False)


def test_a_real_full_disk_leaves_no_partial_file(tiny_disk: Path, hub: ArrivalHub,
                                                 seen: Seen) -> None:
    running = make_receiver(tiny_disk / "received", hub, seen)
    running.start()
    try:
        statuses = send(running.port, [dataset("1.2.3.1", pixels=b"\x05" * 300_000),
                                       dataset("1.2.3.2", pixels=b"\x06" * 900_000),
                                       dataset("1.2.3.3", pixels=b"\x07" * 900_000)])
    finally:
        running.stop()
    assert statuses[0] == 0 and 0xA700 in statuses[1:]
    files = sorted(p.name for p in tiny_disk.rglob("*") if p.is_file())
    stored = [f"1.2.3.{i}.dcm" for i, status in enumerate(statuses, 1) if status == 0]
    assert files == stored  # whole files only, no temporary file
    assert any(r.status == 0xA700 for r in seen.refusals)


def test_a_port_in_use_names_the_port_and_what_to_do(tmp_path: Path, hub: ArrivalHub,
                                                      seen: Seen) -> None:
    with socket.socket() as taken:
        taken.bind(("", 0))
        taken.listen()
        port = taken.getsockname()[1]
        running = make_receiver(tmp_path, hub, seen, port=port)
        with pytest.raises(ReceiverError) as error:
            running.start()
    assert error.value.title == (f"Port {port} on all interfaces is already in use by another "
                                 "program")
    assert "--port" in error.value.command_line_action
    assert error.value.details["Our AE title"] == "COURIER"
    assert not running.running


def test_a_bind_address_not_of_this_computer_is_said(tmp_path: Path, hub: ArrivalHub,
                                                     seen: Seen) -> None:
    running = make_receiver(tmp_path, hub, seen, bind="203.0.113.77")
    with pytest.raises(ReceiverError) as error:
        running.start()
    assert "203.0.113.77 is not an address of this computer" in str(error.value)


def test_a_folder_that_cannot_be_created_is_said_at_start(tmp_path: Path, hub: ArrivalHub,
                                                          seen: Seen) -> None:
    (tmp_path / "file").write_text("x")
    running = make_receiver(tmp_path / "file" / "received", hub, seen)
    with pytest.raises(ReceiverError) as error:
        running.start()
    assert "cannot store files in" in error.value.title
    assert "--folder" in error.value.command_line_action


def test_stop_ends_open_associations_and_is_idempotent(receiver: Receiver, seen: Seen) -> None:
    ae = AE(ae_title="PACS")
    ae.add_requested_context(CT, EXPLICIT)
    assoc = ae.associate("127.0.0.1", receiver.port, ae_title="COURIER")
    assert assoc.is_established
    receiver.stop()
    receiver.stop()
    assoc.join(5)
    assert not assoc.is_established
    assert not receiver.running


def test_the_default_allow_list_is_the_profiles_pacs_ae_titles() -> None:
    from dicom_courier.core.config.profiles import PacsNode

    nodes = [PacsNode(name="main", called_aet="MAINPACS", host="127.0.0.1", port=104,
                      calling_aet="COURIER")]
    default = allow_list(ReceiverSettings(), nodes)
    assert default.aets == {"MAINPACS"} and default.hosts is None
    assert default.refusal("MAINPACS", "10.1.1.1") is None
    assert default.refusal("OTHER", "10.1.1.1") is not None
    checked = allow_list(ReceiverSettings(check_address=True), nodes)
    assert checked.refusal("MAINPACS", "::ffff:127.0.0.1") is None
    assert "must connect from 127.0.0.1" in (checked.refusal("MAINPACS", "10.1.1.1") or "")
    explicit = allow_list(ReceiverSettings(allowed_aets=("X",)), nodes)
    assert explicit.aets == {"X"}
    nobody = allow_list(ReceiverSettings(), [])
    assert "no PACS profile is saved" in (nobody.refusal("A", "1.2.3.4") or "")


def test_an_unexpected_writer_error_logs_no_patient_id_at_the_default_level(
        receiver: Receiver, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """A bug of ours while storing: the PACS gets 0xC000, the log names the sender and the kind
    of error, never the path (whose folder is the Patient ID) unless debugging."""
    from dicom_courier.core.dimse import receiver as receiver_module

    def broken(*_args: object, **_kwargs: object) -> None:
        raise ValueError(f"{receiver.folder}/SECRET-PID-42/1.2.3/broken")

    monkeypatch.setattr(receiver_module, "write_instance", broken)
    caplog.set_level("INFO")
    assert send(receiver.port, [dataset(patient_id="SECRET-PID-42")]) == [0xC000]
    logged = "\n".join(record.getMessage() + str(record.exc_info or "")
                       for record in caplog.records if record.levelno >= 20)
    assert "failed unexpectedly (ValueError)" in logged
    assert "SECRET-PID-42" not in logged
