"""The receiver against a peer that announces more than it sends (issue 13 §1, hostile peer).

A PDU or a presentation data value announces its length in 4 bytes (PS3.8 9.3.5, E.2): up to
4 GiB for a few bytes sent.

- Memory must follow what the peer *sent*, never what it announced: before, the lean C-STORE
  reader (core/dimse/store_reader.py) allocated the announced length at once, so 1 kB from
  one allowed AE title made the receiver's process (the window, with its queue) take 2 GB,
  and a few such associations took the machine down.
- A PDU cut short must not hold the association for ever: after anything but a C-STORE (a
  C-ECHO) the association is read by pynetdicom, whose blocking ``recv`` waited for the rest
  of the PDU without end, past the idle timeout (the session was reported "aborted" while
  its slot stayed taken) and past ``Receiver.stop()``.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pynetdicom import AE

from dicom_courier.core.dimse import receiver as receiver_module
from dicom_courier.core.dimse.arrival_hub import ArrivalHub
from dicom_courier.core.dimse.receiver import Receiver
from tests.core.test_receiver import Seen, dataset, make_receiver
from tests.core.test_store_files import CT, EXPLICIT
from tests.core.test_store_reader import RawSender, store_command
from tests.fakes.pdu_peer import encode_command, p_data, pdv

pytestmark = [pytest.mark.network,
              pytest.mark.filterwarnings("ignore:.*VR UI:UserWarning"),
              pytest.mark.skipif(not Path("/proc/self/status").exists(),
                                 reason="reads the resident size from /proc")]

#: What the hostile peer announces (bytes): far more than it sends.
ANNOUNCED = 1_500_000_000
#: How much the receiver's process may grow meanwhile (bytes).
ALLOWED_GROWTH = 150_000_000


def resident() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Receiver]:
    hub = ArrivalHub()
    running = make_receiver(tmp_path / "received", hub, Seen(hub))
    running.start()
    yield running
    running.stop()


def _data_set_fragment() -> bytes:
    """A C-STORE-RQ, then a P-DATA-TF whose one data set PDV announces ANNOUNCED bytes."""
    header = struct.pack(">BBI", 0x04, 0, ANNOUNCED + 6) + struct.pack(">IBB", ANNOUNCED + 2, 1,
                                                                        0x02)
    return (p_data(pdv(1, store_command("1.2.3.4.5.6"), command=True, last=True))
            + header + b"\x00" * 1000)


def _command_fragment() -> bytes:
    """A P-DATA-TF whose one command PDV announces ANNOUNCED bytes."""
    return (struct.pack(">BBI", 0x04, 0, ANNOUNCED + 6)
            + struct.pack(">IBB", ANNOUNCED + 2, 1, 0x03) + b"\x00" * 1000)


def _echo_then_rest() -> bytes:
    """A C-ECHO-RQ and, in the same PDU, a data set PDV announcing ANNOUNCED bytes."""
    echo = encode_command([(0x00000002, "UI", "1.2.840.10008.1.1"), (0x00000100, "US", 0x30),
                           (0x00000110, "US", 1), (0x00000800, "US", 0x0101)])
    item = struct.pack(">IBB", len(echo) + 2, 3, 0x03) + echo
    return (struct.pack(">BBI", 0x04, 0, len(item) + ANNOUNCED + 4) + item
            + struct.pack(">IBB", ANNOUNCED, 1, 0x00) + b"\x00" * 1000)


@pytest.mark.parametrize("announce", [_data_set_fragment, _command_fragment, _echo_then_rest],
                         ids=["data-set", "command", "after-echo"])
def test_an_announced_length_costs_nothing_until_it_is_sent(receiver: Receiver,
                                                            announce: object) -> None:
    before = resident()
    sender = RawSender(receiver.port)
    sender.associate()
    sender.sock.sendall(announce())  # type: ignore[operator]
    time.sleep(1.0)  # the receiver has read what came
    grown = resident() - before
    assert grown < ALLOWED_GROWTH, f"the receiver grew by {grown / 1e6:.0f} MB"
    # ... and an honest sender is served meanwhile.
    ae = AE(ae_title="PACS")
    ae.add_requested_context(CT, EXPLICIT)
    assoc = ae.associate("127.0.0.1", receiver.port, ae_title="COURIER")
    assert assoc.is_established
    assert int(assoc.send_c_store(dataset("1.2.3.4.5.9")).Status) == 0
    assoc.release()
    sender.sock.close()


def test_a_pdu_cut_short_after_an_echo_ends_within_the_idle_timeout(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(receiver_module, "IDLE_TIMEOUT", 1.0)
    hub = ArrivalHub()
    seen = Seen(hub)
    running = make_receiver(tmp_path / "received", hub, seen)
    running.start()
    try:
        sender = RawSender(running.port)
        sender.associate()
        echo = encode_command([(0x00000002, "UI", "1.2.840.10008.1.1"),
                               (0x00000100, "US", 0x30), (0x00000110, "US", 1),
                               (0x00000800, "US", 0x0101)])
        sender.sock.sendall(p_data(pdv(3, echo, command=True, last=True)))
        assert sender.read_pdu()[0] == 0x04  # the C-ECHO-RSP: pynetdicom reads from here on
        sender.sock.sendall(struct.pack(">BBI", 0x04, 0, 100) + b"\x00" * 10)  # 90 missing
        server = running._server
        assert server is not None
        deadline = time.monotonic() + 8
        while server.active_associations and time.monotonic() < deadline:
            time.sleep(0.1)
        assert server.active_associations == [], "the association still holds its slot"
        assert seen.ended.is_set()
        sender.sock.close()
    finally:
        running.stop()
