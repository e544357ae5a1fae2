"""A bounded fuzz run: mutated C-FIND-RSP and C-MOVE-RSP streams never hang or crash us.

Fixed seeds, a few hundred streams, run eight at a time. Each stream is a valid conversation
(pending responses, then the final one) with a handful of random mutations: flipped bytes,
changed length fields, cuts, inserted garbage, repeated chunks. Whatever arrives, every
operation must end with a result or a :class:`CourierError` within the idle timeout plus one
second, nothing may be printed to stderr, at most one A-ABORT may go out per association, and
memory must stay bounded.
"""

from __future__ import annotations

import asyncio
import random
import time

import pytest
from pydicom.dataset import Dataset

from dicom_courier.core.config.profiles import PacsNode, Timeouts
from dicom_courier.core.dimse.engine import Courier
from dicom_courier.core.outcome.errors import CourierError
from dicom_courier.core.qr.query import FindQuery, MoveRequest, MoveTarget
from tests.fakes.pdu_peer import (
    C_FIND_RSP,
    C_MOVE_RSP,
    PduPeer,
    PeerConnection,
    encode_dataset,
    p_data,
    pdv,
    response_command,
)
from tests.fakes.read_paths import READ_PATHS, use_read_path

#: Every test here talks DICOM over loopback TCP (see tests/conftest.py).
pytestmark = pytest.mark.network


@pytest.fixture(autouse=True, params=READ_PATHS)
def read_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test here runs on our lean response reader and on pynetdicom's."""
    return use_read_path(monkeypatch, request.param)

FIND_UID = "1.2.840.10008.5.1.4.1.2.2.1"
MOVE_UID = "1.2.840.10008.5.1.4.1.2.2.2"
STREAMS = 160  # of each kind
IDLE = 0.5
PARALLEL = 8


def _find_stream() -> bytes:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.QueryRetrieveLevel = "STUDY"
    ds.PatientName = "MÜLLER^ANNA"
    ds.StudyDescription = "CT ABD [/w contrast]"
    ds.StudyInstanceUID = "1.2.3.4"
    ds.StudyDate = "20240101"
    identifier = encode_dataset(ds)
    out = b""
    for _ in range(3):
        out += p_data(pdv(1, response_command(C_FIND_RSP, FIND_UID, 1, 0xFF00,
                                              has_data_set=True), command=True, last=True))
        out += p_data(pdv(1, identifier, command=False, last=True))
    return out + p_data(pdv(1, response_command(C_FIND_RSP, FIND_UID, 1, 0x0000),
                            command=True, last=True))


def _move_stream() -> bytes:
    out = b""
    for done in range(3):
        out += p_data(pdv(1, response_command(C_MOVE_RSP, MOVE_UID, 1, 0xFF00,
                                              counts=(3 - done, done, 0, 0)),
                          command=True, last=True))
    failed = Dataset()
    failed.FailedSOPInstanceUIDList = ["1.2.3.4.5", "1.2.3.4.6"]
    out += p_data(pdv(1, response_command(C_MOVE_RSP, MOVE_UID, 1, 0xB000, has_data_set=True,
                                          counts=(0, 1, 2, 0)), command=True, last=True))
    return out + p_data(pdv(1, encode_dataset(failed), command=False, last=True))


def mutate(data: bytes, rng: random.Random) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        kind = rng.choice(("flip", "length", "cut", "insert", "repeat"))
        pos = rng.randrange(len(buf))
        if kind == "flip":
            buf[pos] = rng.randrange(256)
        elif kind == "length" and pos + 4 <= len(buf):
            buf[pos:pos + 4] = rng.randrange(2**32).to_bytes(4, "big")
        elif kind == "cut":
            del buf[pos:]
            if not buf:
                buf = bytearray(data[:1])
        elif kind == "insert":
            buf[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
        else:
            end = min(len(buf), pos + rng.randint(1, 200))
            buf[pos:pos] = buf[pos:end]
    return bytes(buf)


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096 / 2**20


@pytest.mark.parametrize("kind", ["find", "move"])
def test_mutated_response_streams_never_hang_or_crash(kind: str,
                                                      capfd: pytest.CaptureFixture[str]) -> None:
    seed = {"find": 7433, "move": 1789}[kind]
    rng = random.Random(seed)
    base = _find_stream() if kind == "find" else _move_stream()
    streams = [mutate(base, rng) for _ in range(STREAMS)]
    pending = list(reversed(streams))

    def script(conn: PeerConnection) -> None:
        stream = pending.pop()
        conn.accept()
        if conn.read_request() is not None:
            conn.send(stream)
        conn.wait_closed(IDLE + 5)

    before = _rss_mb()
    slowest = 0.0
    errors: dict[str, int] = {}
    with PduPeer(script) as peer, Courier(max_workers=PARALLEL) as courier:
        node = PacsNode(name="fuzz", called_aet="FUZZ", host="127.0.0.1", port=peer.port,
                        max_message_mb=4,
                        timeouts=Timeouts(connect=3, acse=3, idle=IDLE, total=10))

        async def one() -> float:
            started = time.monotonic()
            try:
                if kind == "find":
                    async for _match in courier.find(node, FindQuery()):
                        pass
                else:
                    result = await courier.move(node, MoveRequest(MoveTarget("1.2.3.4"),
                                                                  "WS")).run()
                    if result.error is not None:
                        errors[type(result.error).__name__] = \
                            errors.get(type(result.error).__name__, 0) + 1
            except CourierError as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
            return time.monotonic() - started

        async def all_streams() -> list[float]:
            gate = asyncio.Semaphore(PARALLEL)

            async def gated() -> float:
                async with gate:
                    return await one()

            return await asyncio.gather(*(gated() for _ in streams))

        durations = asyncio.run(all_streams())
        slowest = max(durations)
        time.sleep(0.3)
        most_aborts = max(c.received.aborts for c in peer.connections)
        connections = len(peer.connections)

    assert connections == STREAMS
    assert slowest < IDLE + 1.5, f"an operation took {slowest:.1f} s"
    assert most_aborts <= 1
    assert _rss_mb() - before < 300
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Exception" not in err, err[-2000:]
    assert errors, "the mutations never made anything fail: the fuzz test is not fuzzing"
