"""The built-in receiver under attack (issue 13 §1, hostile-peer review, part R2): slots,
pace, size, the called AE title, and what the person is told (core/dimse/receiver_guard.py).

Small limits are passed in (``ReceiverLimits``) so every case takes a few seconds. Attackers
connect from 127.0.0.2/127.0.0.3 (loopback) so the honest sender (127.0.0.1) is another
address, as on a real network.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pynetdicom import AE

from dicom_courier.core.cli.receive_cmd import ReceiveReport
from dicom_courier.core.config.receiver_settings import ReceiverSettings, read_receiver_settings
from dicom_courier.core.dimse.arrival_hub import ArrivalHub
from dicom_courier.core.dimse.receiver import Receiver
from dicom_courier.core.dimse.receiver_guard import ReceiverLimits
from dicom_courier.core.dimse.store_files import patient_folder_name
from dicom_courier.core.dimse.store_reader import RECEIVE_PATH_ENV
from dicom_courier.core.outcome.arrival import Arrival
from tests.core.test_receiver import Seen, dataset, make_receiver
from tests.core.test_store_files import CT, EXPLICIT, encoded, files_under
from tests.core.test_store_reader import (
    APPLICATION_CONTEXT,
    RawSender,
    _item,
    associate_rq,
    store_command,
)
from tests.fakes.pdu_peer import p_data, pdu, pdv

pytestmark = [pytest.mark.network,
              pytest.mark.filterwarnings("ignore:.*VR UI:UserWarning")]

#: A-ASSOCIATE-RJ rejected-transient, service-provider (presentation), local-limit-exceeded.
LOCAL_LIMIT_RJ = bytes.fromhex("03000000000400020302")
FAST = ReceiverLimits(associate_wait=1.0, per_peer=4, max_associations=32, max_waiting=64,
                      message_min_time=1.0, message_min_rate=64 * 1024, tick=0.1,
                      turn_away_wait=1.0)


@pytest.fixture(params=["lean", "pynetdicom"])
def read_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(RECEIVE_PATH_ENV, request.param)
    return str(request.param)


@contextlib.contextmanager
def running(tmp_path: Path, hub: ArrivalHub, seen: Seen, limits: ReceiverLimits = FAST,
            **settings: object) -> Iterator[Receiver]:
    receiver = make_receiver(tmp_path / "received", hub, seen, **settings)
    receiver.limits = limits
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()


@pytest.fixture
def receiver(tmp_path: Path, hub: ArrivalHub, seen: Seen) -> Iterator[Receiver]:
    with running(tmp_path, hub, seen) as started:
        yield started


def connect_from(source: str, port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0))
    return sock


def honest_store(port: int, sop_uid: str = "1.2.3.4.5.77") -> int:
    ae = AE(ae_title="PACS")
    ae.add_requested_context(CT, EXPLICIT)
    ae.acse_timeout = 5
    assoc = ae.associate("127.0.0.1", port, ae_title="COURIER")
    assert assoc.is_established, "the honest sender was locked out"
    status = int(assoc.send_c_store(dataset(sop_uid)).Status)
    assoc.release()
    return status


def wait_for(condition: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def read_all(sock: socket.socket, seconds: float) -> bytes:
    """What the receiver sends until it closes (or ``seconds`` pass)."""
    sock.settimeout(seconds)
    data = b""
    try:
        while chunk := sock.recv(4096):
            data += chunk
    except OSError:
        pass
    return data


def reasons(seen: Seen) -> str:
    return "\n".join(refusal.reason for refusal in seen.refusals)


# -- 1. slots ---------------------------------------------------------------------------------

def test_silent_connections_from_one_address_lock_nobody_out(receiver: Receiver, seen: Seen,
                                                             tmp_path: Path) -> None:
    threads_before = threading.active_count()
    flood = [connect_from("127.0.0.2", receiver.port) for _ in range(60)]
    time.sleep(0.3)
    # The honest sender at another address is served at once ...
    assert honest_store(receiver.port) == 0
    assert len(files_under(tmp_path / "received")) == 1
    # ... the flood costs a few threads, not two per connection ...
    assert threading.active_count() - threads_before < 20
    # ... those over the per-address limit were told "local limit exceeded" ...
    answers = [read_all(sock, 0.5) for sock in flood[-3:]]
    assert all(answer.startswith(LOCAL_LIMIT_RJ) for answer in answers), answers
    # ... and the person sees why, once, naming the address.
    assert "127.0.0.2" in reasons(seen) and "local limit exceeded" in reasons(seen)
    assert len([r for r in seen.refusals if "127.0.0.2" in r.reason]) == 1
    # The silent ones that were let in are dropped after the wait for their request.
    assert wait_for(lambda: receiver._guard is not None and receiver._guard.connections == 0,
                    FAST.associate_wait + 3)
    for sock in flood:
        sock.close()


def test_silent_connections_from_many_addresses_make_room_for_a_sender(
        tmp_path: Path, hub: ArrivalHub, seen: Seen) -> None:
    limits = ReceiverLimits(associate_wait=2.0, per_peer=2, max_waiting=6, tick=0.1)
    with running(tmp_path, hub, seen, limits) as receiver:
        threads_before = threading.active_count()
        flood = [connect_from(f"127.0.1.{index}", receiver.port) for index in range(1, 41)]
        time.sleep(0.5)
        assert threading.active_count() - threads_before <= 2 * limits.max_waiting + 4
        assert honest_store(receiver.port) == 0  # the oldest silent one made room
        assert "that had sent nothing" in reasons(seen)
        assert len(seen.refusals) <= 2  # a flood from 40 addresses: a line, not 40
        assert read_all(flood[0], 1) == b""  # the oldest: closed, no answer needed
        for sock in flood:
            sock.close()


def test_idle_associations_from_one_address_leave_the_others_a_slot(
        receiver: Receiver, seen: Seen) -> None:
    idle = []
    for _ in range(FAST.per_peer):
        sock = connect_from("127.0.0.3", receiver.port)
        sock.sendall(associate_rq())
        assert sock.recv(1) == b"\x02"  # A-ASSOCIATE-AC: an allowed AE title, then silence
        idle.append(sock)
    extra = connect_from("127.0.0.3", receiver.port)
    extra.sendall(associate_rq())
    assert read_all(extra, 2).startswith(LOCAL_LIMIT_RJ)
    assert honest_store(receiver.port) == 0
    assert f"at most {FAST.per_peer} from one address" in reasons(seen)
    for sock in [*idle, extra]:
        sock.close()


def test_slots_count_accepted_associations_only(tmp_path: Path, hub: ArrivalHub,
                                                seen: Seen) -> None:
    limits = ReceiverLimits(associate_wait=2.0, per_peer=4, max_associations=2, tick=0.1)
    with running(tmp_path, hub, seen, limits) as receiver:
        silent = [connect_from("127.0.0.2", receiver.port) for _ in range(3)]
        assert honest_store(receiver.port, "1.2.3.4.5.78") == 0  # 3 silent: no slot taken
        held = []
        for source in ("127.0.0.3", "127.0.0.4"):
            sock = connect_from(source, receiver.port)
            sock.sendall(associate_rq())
            assert sock.recv(1) == b"\x02"
            held.append(sock)
        ae = AE(ae_title="PACS")
        ae.add_requested_context(CT, EXPLICIT)
        assoc = ae.associate("127.0.0.1", receiver.port, ae_title="COURIER")
        assert assoc.is_rejected
        rj = assoc.acceptor.primitive
        assert (rj.result, rj.result_source, rj.diagnostic) == (0x02, 0x03, 0x02)
        assert "PACS at 127.0.0.1 was asked to retry later" in reasons(seen)
        assert "2 associations open (at most 2)" in reasons(seen)
        for sock in [*silent, *held]:
            sock.close()


# -- 2. pace ----------------------------------------------------------------------------------

def test_a_trickling_sender_is_aborted_and_told(receiver: Receiver, seen: Seen, tmp_path: Path,
                                                read_path: str) -> None:
    sender = RawSender(receiver.port)
    sender.associate()
    data = encoded("1.2.3.4.5.6", pixels=b"\x05" * 4000)
    sender.sock.sendall(p_data(pdv(1, store_command("1.2.3.4.5.6"), command=True, last=True)))
    sender.sock.sendall(struct.pack(">BBI", 4, 0, len(data) + 6)
                        + struct.pack(">IBB", len(data) + 2, 1, 2))
    started = time.monotonic()
    closed_after = None
    for index in range(40):  # one byte every 0.1 s: every read restarts the idle timer
        try:
            sender.sock.sendall(data[index:index + 1])
        except OSError:
            closed_after = time.monotonic() - started
            break
        if seen.refusals:
            closed_after = time.monotonic() - started
            break
        time.sleep(0.1)
    assert closed_after is not None and closed_after < 3.5, "the trickle held its slot"
    assert "sent one message too slowly" in reasons(seen)
    assert "PACS at 127.0.0.1" in reasons(seen)
    assert wait_for(lambda: receiver._server is not None
                    and not receiver._server.active_associations, 3)
    assert files_under(tmp_path / "received") == []
    assert honest_store(receiver.port) == 0
    sender.sock.close()


def test_a_fast_message_is_never_too_slow(receiver: Receiver, seen: Seen,
                                          read_path: str) -> None:
    ae = AE(ae_title="PACS")
    ae.add_requested_context(CT, EXPLICIT)
    assoc = ae.associate("127.0.0.1", receiver.port, ae_title="COURIER")
    for index in range(2):  # idle between messages is not a slow message
        assert int(assoc.send_c_store(dataset(f"1.2.3.4.5.{index + 10}")).Status) == 0
        time.sleep(FAST.message_min_time + 0.2)
    assoc.release()
    assert seen.refusals == []


# -- 3. size ----------------------------------------------------------------------------------

def test_an_instance_over_the_cap_aborts_and_names_the_setting(
        tmp_path: Path, hub: ArrivalHub, seen: Seen, read_path: str) -> None:
    with running(tmp_path, hub, seen, max_instance_mb=1) as receiver:
        ae = AE(ae_title="PACS")
        ae.add_requested_context(CT, EXPLICIT)
        assoc = ae.associate("127.0.0.1", receiver.port, ae_title="COURIER")
        assert int(assoc.send_c_store(dataset("1.2.3.4.5.20", pixels=b"\x01" * 900_000))
                   .Status) == 0
        big = dataset("1.2.3.4.5.21", pixels=b"\x02" * 1_200_000)
        assoc.send_c_store(big)
        assert wait_for(lambda: assoc.is_aborted, 5)
        words = reasons(seen)
        assert "larger than 1 MB" in words and "max_instance_mb" in words
        assert "receiver.json" in words
        stored = files_under(tmp_path / "received")
        assert [p.name for p in stored] == ["1.2.3.4.5.20.dcm"]


def test_an_announced_length_over_the_cap_aborts_before_it_is_sent(
        tmp_path: Path, hub: ArrivalHub, seen: Seen, read_path: str) -> None:
    with running(tmp_path, hub, seen, max_instance_mb=1) as receiver:
        sender = RawSender(receiver.port)
        sender.associate()
        announced = 5_000_000
        sender.sock.sendall(p_data(pdv(1, store_command("1.2.3.4.5.6"), command=True,
                                       last=True)))
        sender.sock.sendall(struct.pack(">BBI", 4, 0, announced + 6)
                            + struct.pack(">IBB", announced + 2, 1, 2) + b"\x00" * 1000)
        answer = read_all(sender.sock, 3)
        assert answer[:1] == b"\x07", answer[:10]  # A-ABORT, without the 5 MB being sent
        assert wait_for(lambda: "larger than 1 MB" in reasons(seen), 2)
        sender.sock.close()


def test_max_instance_mb_is_a_setting_and_a_bad_value_costs_only_itself(tmp_path: Path) -> None:
    assert ReceiverSettings().max_instance_mb == 2048
    path = tmp_path / "receiver.json"
    path.write_text(json.dumps({"port": 4242, "max_instance_mb": 300}))
    assert read_receiver_settings(path)[0].max_instance_mb == 300
    for bad in (0, -1, "lots", 10**9, True):
        path.write_text(json.dumps({"port": 4242, "max_instance_mb": bad}))
        settings, problems = read_receiver_settings(path)
        assert settings.max_instance_mb == 2048 and settings.port == 4242
        assert len(problems) == 1 and "largest instance" in problems[0]
    assert ReceiverSettings(max_instance_mb=512).to_json()["max_instance_mb"] == 512


# -- 4. called AE title -----------------------------------------------------------------------

def test_a_wrong_called_ae_title_is_rejected_with_what_to_fix(receiver: Receiver,
                                                              seen: Seen) -> None:
    ae = AE(ae_title="PACS")
    ae.add_requested_context(CT, EXPLICIT)
    assoc = ae.associate("127.0.0.1", receiver.port, ae_title="OTHER_WS")
    assert assoc.is_rejected
    rj = assoc.acceptor.primitive
    assert (rj.result, rj.result_source, rj.diagnostic) == (0x01, 0x01, 0x07)
    words = reasons(seen)
    assert "PACS at 127.0.0.1 called us OTHER_WS" in words
    assert "this computer's AE title is COURIER" in words and "fix it on the PACS" in words


# -- 5. minor ---------------------------------------------------------------------------------

def _rq(calling: bytes) -> bytes:
    body = struct.pack(">HH", 1, 0) + b"COURIER".ljust(16) + calling.ljust(16)[:16]
    body += b"\x00" * 32 + _item(0x10, APPLICATION_CONTEXT.encode())
    body += _item(0x20, struct.pack(">BBBB", 1, 0, 0, 0) + _item(0x30, CT.encode())
                  + _item(0x40, EXPLICIT.encode()))
    body += _item(0x50, _item(0x51, struct.pack(">I", 16384)))
    return pdu(0x01, body)


@pytest.mark.parametrize(("calling", "shown"), [
    (b"\x1b]0;pwned\x07", "\\x1b]0;pwned\\x07"), (b"PACS\x00\x01", "PACS\\x00\\x01"),
    (b"\xff\xfePACS", "\\xff\\xfePACS"), (b"PACS\\EVIL", "PACS\\x5cEVIL"),
], ids=["esc", "nul", "non-ascii", "backslash"])
def test_a_calling_ae_title_that_is_not_one_is_refused_out_loud(
        receiver: Receiver, seen: Seen, calling: bytes, shown: str) -> None:
    sock = socket.create_connection(("127.0.0.1", receiver.port), timeout=5)
    sock.sendall(_rq(calling))
    assert read_all(sock, 3)[:1] in (b"\x07", b"")  # pynetdicom aborts, as before
    assert wait_for(lambda: seen.refusals, 2)
    refusal = seen.refusals[0]
    assert shown in refusal.reason and "not a DICOM AE title" in refusal.reason
    assert "\x1b" not in refusal.reason and "\x00" not in refusal.reason
    assert refusal.calling_aet == shown
    sock.close()


def test_the_same_instance_sent_twice_counts_once(receiver: Receiver, seen: Seen) -> None:
    ae = AE(ae_title="PACS")
    ae.add_requested_context(CT, EXPLICIT)
    assoc = ae.associate("127.0.0.1", receiver.port, ae_title="COURIER")
    for _ in range(2):
        assert int(assoc.send_c_store(dataset("1.2.3.4.5.30")).Status) == 0
    assert int(assoc.send_c_store(dataset("1.2.3.4.5.31")).Status) == 0
    assoc.release()
    assert seen.ended.wait(5)
    assert seen.sessions[0].stored == 2

    async def report_of(arrivals: list[Arrival]) -> int:
        report = ReceiveReport(asyncio.get_running_loop(), verbose=False)
        for arrival in arrivals:
            report.on_arrival(arrival)
        await asyncio.sleep(0.01)
        return report.received

    assert asyncio.run(report_of(seen.arrivals)) == 2


def test_no_patient_id_and_the_id_underscore_get_their_own_folders() -> None:
    assert patient_folder_name("") != patient_folder_name("_")
    assert patient_folder_name("_") == "_"
    assert "~" in patient_folder_name("")
    assert patient_folder_name("no-patient-id~") != patient_folder_name("")
