"""The lean C-STORE reader (core/dimse/store_reader.py) inside the built-in receiver: the same
files, statuses, refusals and endings as pynetdicom's own path, however the sender cuts its
PDUs (issue 13 §1, speed: benchmarks/receive_speed.py)."""

from __future__ import annotations

import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pynetdicom import AE
from pynetdicom.sop_class import Verification

from dicom_courier.core.dimse import receiver as receiver_module
from dicom_courier.core.dimse import store_reader
from dicom_courier.core.dimse.arrival_hub import ArrivalHub
from dicom_courier.core.dimse.receiver import Receiver
from tests.core.test_receiver import Seen, dataset, make_receiver
from tests.core.test_store_files import CT, EXPLICIT, encoded, files_under
from tests.fakes.pdu_peer import (
    ABORT,
    APPLICATION_CONTEXT,
    ASSOCIATE_AC,
    P_DATA,
    RELEASE_RP,
    RELEASE_RQ,
    abort,
    encode_command,
    p_data,
    pdu,
    pdv,
)
from tests.peers import dcmtk_binary, peer_env

pytestmark = [pytest.mark.network,
              pytest.mark.filterwarnings("ignore:.*VR UI:UserWarning")]

C_STORE_RQ, C_ECHO_RQ = 0x0001, 0x0030


@pytest.fixture
def lean_stores(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """SOP Instance UIDs the lean path stored (pynetdicom's path adds none)."""
    stored: list[str] = []
    original = store_reader._StoreLoop._store

    def spy(self: store_reader._StoreLoop, command: store_reader._Command) -> None:
        stored.append(command.text(0x1000) or "")
        original(self, command)

    monkeypatch.setattr(store_reader._StoreLoop, "_store", spy)
    return stored


@pytest.fixture
def receiver(tmp_path: Path, hub: ArrivalHub, seen: Seen) -> Iterator[Receiver]:
    running = make_receiver(tmp_path / "received", hub, seen)
    running.start()
    yield running
    running.stop()


# -- a raw sender: exactly the PDUs a test writes ----------------------------------------------

def _item(item_type: int, body: bytes) -> bytes:
    return struct.pack(">BBH", item_type, 0, len(body)) + body


def associate_rq(calling: str = "PACS", called: str = "COURIER",
                 contexts: tuple[tuple[int, str], ...] = ((1, CT), (3, Verification))) -> bytes:
    body = struct.pack(">HH", 1, 0) + called.ljust(16).encode() + calling.ljust(16).encode()
    body += b"\x00" * 32 + _item(0x10, APPLICATION_CONTEXT.encode())
    for context_id, sop_class in contexts:
        body += _item(0x20, struct.pack(">BBBB", context_id, 0, 0, 0)
                      + _item(0x30, str(sop_class).encode()) + _item(0x40, EXPLICIT.encode()))
    body += _item(0x50, _item(0x51, struct.pack(">I", 16384)))
    return pdu(0x01, body)


class RawSender:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)

    def read_pdu(self) -> tuple[int, bytes]:
        header = self._exact(6)
        if len(header) < 6:
            return -1, b""
        pdu_type, _, length = struct.unpack(">BBI", header)
        return pdu_type, self._exact(length)

    def _exact(self, count: int) -> bytes:
        data = b""
        while len(data) < count:
            try:
                chunk = self.sock.recv(count - len(data))
            except OSError:
                return data
            if not chunk:
                return data
            data += chunk
        return data

    def associate(self) -> None:
        self.sock.sendall(associate_rq())
        assert self.read_pdu()[0] == ASSOCIATE_AC

    def response(self) -> dict[int, bytes]:
        """The next C-STORE/C-ECHO response's command elements."""
        pdu_type, body = self.read_pdu()
        assert pdu_type == P_DATA, f"PDU type {pdu_type}"
        command = body[6:]
        fields, offset = {}, 0
        while offset < len(command):
            _, element, length = struct.unpack_from("<HHI", command, offset)
            fields[element] = command[offset + 8:offset + 8 + length]
            offset += 8 + length
        return fields

    def release(self) -> None:
        self.sock.sendall(pdu(RELEASE_RQ, b"\x00" * 4))
        assert self.read_pdu()[0] == RELEASE_RP
        self.sock.close()


def store_command(sop_uid: str, message_id: int = 1) -> bytes:
    return encode_command([(0x00000002, "UI", CT), (0x00000100, "US", C_STORE_RQ),
                           (0x00000110, "US", message_id), (0x00000700, "US", 0),
                           (0x00000800, "US", 0x0000), (0x00001000, "UI", sop_uid)])


def status(fields: dict[int, bytes]) -> int:
    return int(struct.unpack("<H", fields[0x0900])[0])


def uid_of(fields: dict[int, bytes], element: int) -> str:
    return fields[element].decode().rstrip("\x00")


def pieces(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


# -- tests -------------------------------------------------------------------------------------

def test_fragments_cut_anyhow_are_stored_whole(receiver: Receiver, seen: Seen,
                                               lean_stores: list[str]) -> None:
    """A command split over two PDUs, a data set in 100-byte PDVs, several PDVs per PDU, and
    one PDU holding the last fragment of one message and the whole command of the next."""
    first, second = encoded("1.2.3.4.5.6", pixels=b"\x07" * 3000), encoded("1.2.3.4.5.7")
    sender = RawSender(receiver.port)
    sender.associate()
    command = store_command("1.2.3.4.5.6", 1)
    sender.sock.sendall(p_data(pdv(1, command[:10], command=True, last=False)))
    sender.sock.sendall(p_data(pdv(1, command[10:], command=True, last=True)))
    data = pieces(first, 100)
    for i in range(0, len(data) - 1, 3):
        sender.sock.sendall(p_data(*[pdv(1, d, command=False, last=False)
                                     for d in data[i:min(i + 3, len(data) - 1)]]))
    sender.sock.sendall(p_data(pdv(1, data[-1], command=False, last=True),
                               pdv(1, store_command("1.2.3.4.5.7", 2), command=True, last=True)))
    answer = sender.response()
    assert status(answer) == 0x0000 and uid_of(answer, 0x1000) == "1.2.3.4.5.6"
    assert struct.unpack("<H", answer[0x0120])[0] == 1 and uid_of(answer, 0x0002) == CT
    sender.sock.sendall(p_data(pdv(1, second, command=False, last=True)))
    answer = sender.response()
    assert status(answer) == 0x0000 and struct.unpack("<H", answer[0x0120])[0] == 2
    sender.release()
    assert seen.ended.wait(5)
    assert lean_stores == ["1.2.3.4.5.6", "1.2.3.4.5.7"]
    folder = receiver.folder.resolve() / "PID1" / "1.2.3.4" / "1.2.3.4.5"
    assert (folder / "1.2.3.4.5.6.dcm").read_bytes().endswith(first)
    assert (folder / "1.2.3.4.5.7.dcm").read_bytes().endswith(second)
    assert [a.sop_uid for a in seen.arrivals] == ["1.2.3.4.5.6", "1.2.3.4.5.7"]
    assert seen.sessions[0].stored == 2 and seen.sessions[0].ended == "released"


def test_a_uid_that_would_escape_is_refused_as_before(receiver: Receiver, seen: Seen,
                                                      lean_stores: list[str]) -> None:
    sender = RawSender(receiver.port)
    sender.associate()
    sender.sock.sendall(p_data(pdv(1, store_command("../../x"), command=True, last=True)))
    sender.sock.sendall(p_data(pdv(1, encoded("../../x"), command=False, last=True)))
    assert status(sender.response()) == 0xC000
    sender.release()
    assert lean_stores == ["../../x"]
    assert files_under(receiver.folder.parent) == []
    assert "not a DICOM UID" in seen.refusals[0].reason


def test_echo_and_stores_mixed_on_one_association(receiver: Receiver, seen: Seen,
                                                  lean_stores: list[str]) -> None:
    """Stores first (lean), then a C-ECHO hands the association back to pynetdicom, which
    answers it and the stores after it; the release is pynetdicom's."""
    ae = AE(ae_title="PACS")
    ae.add_requested_context(CT, EXPLICIT)
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", receiver.port, ae_title="COURIER")
    assert assoc.is_established
    statuses = [int(assoc.send_c_store(dataset("1.2.3.4.5.1")).Status),
                int(assoc.send_c_store(dataset("1.2.3.4.5.2")).Status),
                int(assoc.send_c_echo().Status),
                int(assoc.send_c_store(dataset("1.2.3.4.5.3")).Status)]
    assoc.release()
    assert statuses == [0, 0, 0, 0]
    assert seen.ended.wait(5)
    assert lean_stores == ["1.2.3.4.5.1", "1.2.3.4.5.2"]
    assert sorted(a.sop_uid for a in seen.arrivals) == ["1.2.3.4.5.1", "1.2.3.4.5.2",
                                                        "1.2.3.4.5.3"]
    assert seen.sessions[0].ended == "released" and seen.sessions[0].stored == 3


def test_an_abort_mid_data_set_leaves_no_file_and_the_next_sender_is_served(
        receiver: Receiver, seen: Seen) -> None:
    sender = RawSender(receiver.port)
    sender.associate()
    data = encoded("1.2.3.4.5.6", pixels=b"\x05" * 4000)
    sender.sock.sendall(p_data(pdv(1, store_command("1.2.3.4.5.6"), command=True, last=True)))
    sender.sock.sendall(p_data(pdv(1, data[:1000], command=False, last=False)))
    sender.sock.sendall(abort())
    assert seen.ended.wait(5)
    assert seen.sessions[0].stored == 0  # ended "closed", as on pynetdicom's path
    assert files_under(receiver.folder) == []  # no temporary file either
    ae = AE(ae_title="PACS")
    ae.add_requested_context(CT, EXPLICIT)
    assoc = ae.associate("127.0.0.1", receiver.port, ae_title="COURIER")
    assert int(assoc.send_c_store(dataset("1.2.3.4.5.9")).Status) == 0
    assoc.release()
    assert [p.name for p in files_under(receiver.folder)] == ["1.2.3.4.5.9.dcm"]


def test_a_store_on_a_context_never_accepted_aborts_as_pynetdicom_does(
        receiver: Receiver, lean_stores: list[str]) -> None:
    sender = RawSender(receiver.port)
    sender.associate()
    sender.sock.sendall(p_data(pdv(7, store_command("1.2.3.4.5.6"), command=True, last=True),
                               pdv(7, encoded(), command=False, last=True)))
    assert sender.read_pdu()[0] in (ABORT, -1)
    assert lean_stores == [] and files_under(receiver.folder) == []


def test_stop_ends_a_silent_association_at_once(receiver: Receiver, seen: Seen) -> None:
    sender = RawSender(receiver.port)
    sender.associate()
    started = time.monotonic()
    receiver.stop()
    assert time.monotonic() - started < receiver_module.STOP_WAIT + 1
    sender.sock.settimeout(5)
    assert sender.read_pdu()[0] in (ABORT, -1)


def test_a_silent_sender_is_dropped_after_the_idle_timeout(
        tmp_path: Path, hub: ArrivalHub, seen: Seen, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(receiver_module, "IDLE_TIMEOUT", 0.5)
    running = make_receiver(tmp_path / "received", hub, seen)
    running.start()
    try:
        sender = RawSender(running.port)
        sender.associate()
        sender.sock.settimeout(8)
        assert sender.read_pdu()[0] in (ABORT, -1)
        assert seen.ended.wait(5) and seen.sessions[0].ended in ("aborted", "closed")
    finally:
        running.stop()


def test_the_pynetdicom_path_stays_selectable(receiver: Receiver, seen: Seen,
                                             lean_stores: list[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(store_reader.RECEIVE_PATH_ENV, "pynetdicom")
    ae = AE(ae_title="PACS")
    ae.add_requested_context(CT, EXPLICIT)
    assoc = ae.associate("127.0.0.1", receiver.port, ae_title="COURIER")
    assert int(assoc.send_c_store(dataset()).Status) == 0
    assoc.release()
    assert seen.ended.wait(5)
    assert lean_stores == [] and len(seen.arrivals) == 1


def test_storescu_files_are_identical_on_both_paths(tmp_path: Path, hub: ArrivalHub,
                                                    seen: Seen, lean_stores: list[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """DCMTK's storescu, one association of three instances: byte-identical files."""
    import pydicom
    from pydicom.dataset import FileMetaDataset

    sources = tmp_path / "send"
    sources.mkdir()
    for number in range(3):
        ds = dataset(f"1.2.3.4.5.{number + 1}", pixels=bytes([number]) * 70_000)
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = EXPLICIT
        ds.file_meta.MediaStorageSOPClassUID = CT
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        pydicom.dcmwrite(sources / f"{number}.dcm", ds, enforce_file_format=True)
    results: dict[str, dict[str, bytes]] = {}
    for path in (store_reader.LEAN, store_reader.PYNETDICOM):
        monkeypatch.setenv(store_reader.RECEIVE_PATH_ENV, path)
        running = make_receiver(tmp_path / path, hub, seen, aets=("STORESCU",))
        running.start()
        try:
            done = subprocess.run(
                [dcmtk_binary("storescu"), "-aet", "STORESCU", "-aec", "COURIER", "+sd",
                 "127.0.0.1", str(running.port), str(sources)],
                env=peer_env(), capture_output=True, timeout=60)
            assert done.returncode == 0, done.stderr
        finally:
            running.stop()
        results[path] = {p.name: p.read_bytes() for p in files_under(tmp_path / path)}
    assert len(results[store_reader.LEAN]) == 3
    assert results[store_reader.LEAN] == results[store_reader.PYNETDICOM]
    assert sorted(lean_stores) == ["1.2.3.4.5.1", "1.2.3.4.5.2", "1.2.3.4.5.3"]
