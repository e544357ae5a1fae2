"""C-GET at the PDU level: the PACS's C-STORE-RQs are allowed on a C-GET association only.

A peer scripted byte by byte (tests/fakes/pdu_peer.py) plays the PACS: it answers the
storage-class look-up (IMAGE-level C-FIND), accepts the C-GET association with SCP/SCU role
selection (PS3.7 D.3.3.4), sends C-STORE-RQs and reads our C-STORE-RSPs, then the final
C-GET-RSP. Rows: a store is written and answered 0x0000; a store the writer refuses (the
disk-full stand-in) is answered 0xA700, counted failed and said; a store larger than the
message cap still ends the association; a C-STORE-RQ on a C-MOVE or C-FIND association still
does (a protocol violation, as before C-GET existed).
"""

from __future__ import annotations

import asyncio
import struct
import time
from pathlib import Path
from typing import Any

import pytest
from pydicom.dataset import Dataset

from dicom_courier.core.config.profiles import PacsNode, Timeouts
from dicom_courier.core.dimse import get as get_module
from dicom_courier.core.dimse.arrival_hub import ArrivalHub
from dicom_courier.core.dimse.engine import Courier
from dicom_courier.core.dimse.store_files import StoreRefused
from dicom_courier.core.outcome.arrival import HERE, Arrival, StoreRefusal
from dicom_courier.core.outcome.errors import MessageTooLarge, ProtocolViolation
from dicom_courier.core.outcome.events import MoveOutcome, MoveResult
from dicom_courier.core.qr.query import FindQuery, MoveRequest, MoveTarget, QueryLevel
from tests.fakes.pdu_peer import (
    ASSOCIATE_AC,
    ASSOCIATE_RQ,
    C_FIND_RSP,
    IMPLEMENTATION_UID,
    IMPLICIT_LE,
    PduPeer,
    PeerConnection,
    encode_command,
    encode_dataset,
    p_data,
    pdu,
    pdv,
    response_command,
)

pytestmark = pytest.mark.network

CT = "1.2.840.10008.5.1.4.1.1.2"
STUDY = "1.2.826.0.1.3680043.9.7433.13.1"
SERIES = STUDY + ".1"
C_GET_RSP = 0x8010
C_STORE_RQ = 0x0001


def _node(port: int, **timeouts: float) -> PacsNode:
    return PacsNode(name="pdu", called_aet="PDUPACS", host="127.0.0.1", port=port,
                    max_message_mb=1,
                    timeouts=Timeouts(**{"connect": 5, "acse": 5, "idle": 5, **timeouts}))


def _instance(number: int, *, size: int = 0) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = CT
    ds.SOPInstanceUID = f"{SERIES}.{number}"
    ds.StudyInstanceUID = STUDY
    ds.SeriesInstanceUID = SERIES
    ds.PatientID = "PID-13"
    ds.Modality = "CT"
    if size:
        ds.add_new(0x00420011, "OB", bytes(size))  # Encapsulated Document: any bytes
    return ds


# ---------------------------------------------------------------- the scripted PACS


def _contexts_of(body: bytes) -> list[tuple[int, str, list[str]]]:
    """(context ID, abstract syntax, transfer syntaxes) of an A-ASSOCIATE-RQ body."""
    out, pos = [], 68
    while pos + 4 <= len(body):
        item_type, _, length = struct.unpack_from(">BBH", body, pos)
        value = body[pos + 4:pos + 4 + length]
        if item_type == 0x20:
            abstract, syntaxes, sub = "", [], 4
            while sub + 4 <= len(value):
                sub_type, _, sub_len = struct.unpack_from(">BBH", value, sub)
                text = value[sub + 4:sub + 4 + sub_len].decode().rstrip("\x00")
                if sub_type == 0x30:
                    abstract = text
                elif sub_type == 0x40:
                    syntaxes.append(text)
                sub += 4 + sub_len
            out.append((value[0], abstract, syntaxes))
        pos += 4 + length
    return out


def _item(item_type: int, body: bytes) -> bytes:
    return struct.pack(">BBH", item_type, 0, len(body)) + body


def _accept_with_roles(conn: PeerConnection) -> dict[str, int]:
    """Accept every context that offers Implicit VR LE, grant the SCP role for storage
    classes (PS3.7 D.3.3.4); the accepted context ID per abstract syntax."""
    got = conn.read_pdu()
    assert got is not None and got[0] == ASSOCIATE_RQ
    body = got[1]
    called, calling = body[4:20], body[20:36]
    out = struct.pack(">HH", 1, 0) + called + calling + bytes(32)
    out += _item(0x10, b"1.2.840.10008.3.1.1.1")
    accepted: dict[str, int] = {}
    roles = b""
    for context_id, abstract, syntaxes in _contexts_of(body):
        ok = IMPLICIT_LE in syntaxes
        out += _item(0x21, struct.pack(">BBBB", context_id, 0, 0 if ok else 4, 0)
                     + _item(0x40, (IMPLICIT_LE if ok else syntaxes[0]).encode()))
        if ok:
            accepted.setdefault(abstract, context_id)
            if abstract.startswith("1.2.840.10008.5.1.4.1.1."):
                uid = abstract.encode()
                roles += _item(0x54, struct.pack(">H", len(uid)) + uid + bytes([0, 1]))
    user = _item(0x51, struct.pack(">L", 65536)) + _item(0x52, IMPLEMENTATION_UID.encode())
    conn.send(pdu(ASSOCIATE_AC, out + _item(0x50, user + roles)))
    return accepted


def _answer_lookup(conn: PeerConnection) -> None:
    """The storage-class look-up: one IMAGE-level answer naming CT, then success."""
    conn.accept()
    request = conn.read_request()
    assert request is not None
    answer = Dataset()
    answer.QueryRetrieveLevel = "IMAGE"
    answer.SOPClassUID = CT
    conn.respond(request, C_FIND_RSP, 0xFF00, identifier=encode_dataset(answer))
    conn.respond(request, C_FIND_RSP, 0x0000)
    conn.release_if_asked()


def _store_rq(context_id: int, instance: Dataset, msg_id: int) -> bytes:
    command = encode_command([
        (0x00000002, "UI", instance.SOPClassUID), (0x00000100, "US", C_STORE_RQ),
        (0x00000110, "US", msg_id), (0x00000700, "US", 0), (0x00000800, "US", 0x0000),
        (0x00001000, "UI", instance.SOPInstanceUID)])
    data = encode_dataset(instance)
    return (p_data(pdv(context_id, command, command=True, last=True))
            + p_data(pdv(context_id, data, command=False, last=True)))


class GetPacs:
    """A PACS answering one C-GET with ``instances`` as C-STORE-RQs, then the final response
    (its counts from the statuses we answered; with ``final``, every store counts as
    completed whatever we answered, and the final response is ``final``)."""

    def __init__(self, instances: list[Dataset],
                 final: tuple[int, tuple[int, int, int, int]] | None = None, *,
                 pause: float = 0.0, honour_cancel: bool = True,
                 pendings: bool = True, failed_list_in_command: bool = False) -> None:
        self.instances = instances
        #: Orthanc (DCMTK's DIMSE): after a failed store, its C-GET-RSPs carry the Failed
        #: SOP Instance UID List (0008,0058), with its own group length, in the command set.
        self.failed_list_in_command = failed_list_in_command
        self.final = final
        self.pause = pause  # seconds between stores, listening for a C-CANCEL-RQ
        self.honour_cancel = honour_cancel
        self.pendings = pendings  # False: nothing but the stores between request and end
        self.cancelled = False
        self.store_statuses: list[int] = []

    def __call__(self, conn: PeerConnection) -> None:
        if not self._is_get(conn):
            _answer_lookup(conn)
            return
        accepted = _accept_with_roles(conn)
        request = conn.read_request()
        assert request is not None and request.command_field() == 0x0010, "expected C-GET-RQ"
        model = request.affected_sop_class()
        for number, instance in enumerate(self.instances, 1):
            total = len(self.instances)
            if not conn.send(_store_rq(accepted[CT], instance, 100 + number)):
                return
            reply = conn.read_request()
            if reply is None:
                return
            status = struct.unpack("<H", _element(reply.command, 0x0900))[0]
            self.store_statuses.append(status)
            done = len(self.store_statuses)
            ok = done if self.final else self.store_statuses.count(0)  # final: it counts all
            if self.pendings:
                conn.send(p_data(pdv(request.context_id, response_command(
                    C_GET_RSP, model, request.message_id(), 0xFF00,
                    counts=(total - done, ok, done - ok, 0)) + self._failed_list(),
                    command=True, last=True)))
            if self.pause and done < total:
                cancel = conn.read_request(timeout=self.pause)
                if cancel is not None and cancel.command_field() == 0x0FFF:
                    self.cancelled = True
                    if not self.honour_cancel:
                        conn.wait_closed(10)
                        return
                    conn.send(p_data(pdv(request.context_id, response_command(
                        C_GET_RSP, model, request.message_id(), 0xFE00,
                        counts=(total - done, ok, done - ok, 0)), command=True, last=True)))
                    conn.release_if_asked()
                    return
        ok = self.store_statuses.count(0)
        status, counts = self.final or (
            0x0000 if ok == len(self.instances) else 0xB000,
            (0, ok, len(self.instances) - ok, 0))
        conn.send(p_data(pdv(request.context_id, response_command(
            C_GET_RSP, model, request.message_id(), status, counts=counts)
            + self._failed_list(), command=True, last=True)))
        conn.release_if_asked()

    def _failed_list(self) -> bytes:
        """Orthanc's extra group after the command group: (0008,0000), (0008,0058)."""
        failed = [f"{SERIES}.{n}" for n, status in enumerate(self.store_statuses, 1)
                  if status != 0]
        if not self.failed_list_in_command or not failed:
            return b""
        raw = "\\".join(failed).encode("ascii")
        raw += b"\x00" * (len(raw) % 2)
        element = struct.pack("<HHL", 0x0008, 0x0058, len(raw)) + raw
        return struct.pack("<HHLL", 0x0008, 0x0000, 4, len(element)) + element

    @staticmethod
    def _is_get(conn: PeerConnection) -> bool:
        """Peek at the A-ASSOCIATE-RQ: a C-GET association proposes a GET model."""
        end = time.monotonic() + 5
        while time.monotonic() < end:
            conn.sock.settimeout(0.05)
            try:
                head = conn.sock.recv(65536, 0x02)  # MSG_PEEK
            except TimeoutError:
                continue
            if len(head) >= 6:
                length = struct.unpack(">L", head[2:6])[0]
                if len(head) >= 6 + length:
                    return b"1.2.840.10008.5.1.4.1.2.2.3" in head or \
                        b"1.2.840.10008.5.1.4.1.2.1.3" in head
        return False


def _element(command: bytes, element: int) -> bytes:
    pos = 0
    while pos + 8 <= len(command):
        group, elem, length = struct.unpack_from("<HHL", command, pos)
        if group == 0 and elem == element:
            return command[pos + 8:pos + 8 + length]
        pos += 8 + length
    raise AssertionError(f"no (0000,{element:04X}) in the command")


def _get(port: int, folder: Path, *, cancel_after: int | None = None,
         target: MoveTarget | None = None, max_instance_mb: int | None = None,
         **timeouts: float) -> tuple[MoveResult, list[Arrival], list[StoreRefusal], float]:
    """One C-GET of ``target`` (default: the study); ``cancel_after``: cancel once that many
    progress reports came; ``max_instance_mb``: the receiver's largest image (MiB)."""
    hub = ArrivalHub()
    arrivals: list[Arrival] = []
    refusals: list[StoreRefusal] = []
    hub.subscribe(arrivals.append)
    hub.subscribe_refusals(refusals.append)

    async def scenario() -> MoveResult:
        with Courier(cancel_grace=1.0) as courier:
            op = courier.get(_node(port, **timeouts),
                             MoveRequest(target or MoveTarget(STUDY), HERE),
                             folder=folder, our_aet="COURIER", hub=hub,
                             max_instance_mb=max_instance_mb)
            seen = 0
            async for _progress in op:
                seen += 1
                if seen == cancel_after:
                    op.cancel()
            return op.result
    started = time.monotonic()
    result = asyncio.run(scenario())
    return result, arrivals, refusals, time.monotonic() - started


# ---------------------------------------------------------------- rows


def test_a_store_on_a_get_association_is_written_and_answered(tmp_path: Path) -> None:
    pacs = GetPacs([_instance(1), _instance(2)])
    with PduPeer(pacs) as peer:
        result, arrivals, _, _ = _get(peer.port, tmp_path)
    assert result.outcome is MoveOutcome.COMPLETED, result.error and result.error.render()
    assert pacs.store_statuses == [0x0000, 0x0000]
    assert (result.completed, result.failed) == (2, 0)
    assert {p.stem for p in tmp_path.rglob("*.dcm")} == {f"{SERIES}.1", f"{SERIES}.2"}
    assert [a.calling_aet for a in arrivals] == ["PDUPACS", "PDUPACS"]


def test_a_store_the_writer_refuses_is_answered_a700_and_said(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = get_module.write_instance

    def disk_full_after_one(folder: Path, dataset: bytes, **kwargs: Any) -> Arrival:
        if kwargs["sop_uid"].endswith(".2"):  # the disk-full stand-in
            raise StoreRefused(0xA700, "The disk is full: no space left on device.")
        return real(folder, dataset, **kwargs)

    monkeypatch.setattr(get_module, "write_instance", disk_full_after_one)
    pacs = GetPacs([_instance(1), _instance(2)])
    with PduPeer(pacs) as peer:
        result, arrivals, refusals, _ = _get(peer.port, tmp_path)
    assert pacs.store_statuses == [0x0000, 0xA700]
    assert result.outcome is MoveOutcome.PARTIAL
    assert (result.completed, result.failed) == (1, 1)
    assert result.error is not None
    words = result.error.render()
    assert "disk is full" in words and "0xA700" in words and "1 image(s)" in words, words
    assert len(arrivals) == 1 and len(refusals) == 1 and refusals[0].status == 0xA700
    assert [p.stem for p in tmp_path.rglob("*.dcm")] == [f"{SERIES}.1"]


def test_orthanc_failed_list_in_the_command_set_does_not_end_the_get(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Orthanc answers every C-GET-RSP after a refused store with the Failed SOP Instance
    UID List in the command set (group 0008 after group 0000); pynetdicom reads it. Seen
    with Orthanc 1.10 and a full disk here: the retrieve ended as "ORTHANC sent data that
    is not valid DICOM" after the first refusal, and the rest of the study never came."""
    real = get_module.write_instance

    def disk_full_on_two(folder: Path, dataset: bytes, **kwargs: Any) -> Arrival:
        if kwargs["sop_uid"].endswith(".2"):
            raise StoreRefused(0xA700, "The disk is full: no space left on device.")
        return real(folder, dataset, **kwargs)

    monkeypatch.setattr(get_module, "write_instance", disk_full_on_two)
    pacs = GetPacs([_instance(1), _instance(2), _instance(3)], failed_list_in_command=True)
    with PduPeer(pacs) as peer:
        result, arrivals, _, _ = _get(peer.port, tmp_path)
    assert not isinstance(result.error, ProtocolViolation), result.error.render()
    assert pacs.store_statuses == [0x0000, 0xA700, 0x0000]  # the third store still came
    assert result.outcome is MoveOutcome.PARTIAL
    assert (result.completed, result.failed) == (2, 1)
    assert result.error is not None and "disk is full" in result.error.render()
    assert len(arrivals) == 2


def test_a_refused_store_the_pacs_counts_as_completed_is_not_called_complete(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def disk_full(folder: Path, dataset: bytes, **kwargs: Any) -> Arrival:
        raise StoreRefused(0xA700, "The disk is full: no space left on device.")

    monkeypatch.setattr(get_module, "write_instance", disk_full)
    pacs = GetPacs([_instance(1)], final=(0x0000, (0, 1, 0, 0)))  # the PACS says "1 sent"
    with PduPeer(pacs) as peer:
        result, _, _, _ = _get(peer.port, tmp_path)
    assert result.outcome is MoveOutcome.FAILED
    assert result.error is not None and "No image could be written" in result.error.title
    assert list(tmp_path.rglob("*.dcm")) == []


def test_an_image_larger_than_the_receivers_cap_ends_the_get(tmp_path: Path) -> None:
    """One size rule for images coming here: the receiver's max_instance_mb, in words that
    say "image" and where to raise it (not the profile's cap on answers)."""
    pacs = GetPacs([_instance(1, size=1_200_000)])
    with PduPeer(pacs) as peer:
        result, arrivals, _, took = _get(peer.port, tmp_path, max_instance_mb=1)
    assert isinstance(result.error, MessageTooLarge), result.error
    assert result.outcome is MoveOutcome.FAILED
    words = result.error.render()
    assert "an image larger than 1 MB" in words and "max_instance_mb" in words, words
    assert "answers" not in words, words
    assert arrivals == [] and list(tmp_path.rglob("*.dcm")) == []
    assert took < 5


def test_an_image_over_the_profiles_answer_cap_is_still_received(tmp_path: Path) -> None:
    """max_message_mb (1 MB here) caps the PACS's answers, not the images a C-GET brings:
    a large multi-frame image is written under the receiver's default (2048 MiB)."""
    pacs = GetPacs([_instance(1, size=1_200_000)])  # max_message_mb=1
    with PduPeer(pacs) as peer:
        result, arrivals, _, _ = _get(peer.port, tmp_path)
    assert result.outcome is MoveOutcome.COMPLETED, result.error and result.error.render()
    assert len(arrivals) == 1 and arrivals[0].size > 1_200_000


def _store_on(conn: PeerConnection) -> None:
    """Answer the request with a C-STORE-RQ instead of a response."""
    conn.accept()
    request = conn.read_request()
    assert request is not None
    conn.send(_store_rq(request.context_id, _instance(1), 7))
    conn.wait_closed(5)


@pytest.mark.parametrize("operation", ["move", "find"])
def test_a_store_on_a_move_or_find_association_is_still_a_protocol_violation(
        operation: str) -> None:
    async def scenario(port: int) -> Any:
        with Courier(cancel_grace=1.0) as courier:
            node = _node(port)
            if operation == "move":
                return await courier.move(node, MoveRequest(MoveTarget(STUDY), "WS")).run()
            op = courier.find(node, FindQuery(QueryLevel.STUDY, keys={"PatientID": "X"}),
                              raise_on_error=False)
            return await op.run()

    with PduPeer(_store_on) as peer:
        started = time.monotonic()
        result = asyncio.run(scenario(peer.port))
        took = time.monotonic() - started
        aborts = peer.connections[0].received.aborts if peer.connections else 0
    assert isinstance(result.error, ProtocolViolation), result.error
    assert "C-STORE request" in result.error.explanation
    assert took < 5
    assert aborts == 1


def test_cancel_during_a_get_is_confirmed_and_what_arrived_stays(tmp_path: Path) -> None:
    pacs = GetPacs([_instance(n) for n in range(1, 6)], pause=2.0)
    with PduPeer(pacs) as peer:
        result, arrivals, _, took = _get(peer.port, tmp_path, cancel_after=1)
    assert pacs.cancelled
    assert result.outcome is MoveOutcome.CANCELLED
    assert result.cancel_sent and not result.cancel_unconfirmed
    assert (result.completed, result.total) == (1, 5)
    assert len(arrivals) == 1 and len(list(tmp_path.rglob("*.dcm"))) == 1
    assert took < 2.0  # the cancel did not wait for the PACS's next image


def test_cancel_a_pacs_ignores_ends_after_the_grace(tmp_path: Path) -> None:
    pacs = GetPacs([_instance(n) for n in range(1, 6)], pause=5.0, honour_cancel=False)
    with PduPeer(pacs) as peer:
        result, arrivals, _, took = _get(peer.port, tmp_path, cancel_after=1)
    assert pacs.cancelled
    assert result.outcome is MoveOutcome.CANCELLED
    assert result.error is not None
    words = result.error.render()
    assert "did not confirm the cancel" in words and "Nothing more arrives" in words, words
    assert len(arrivals) == 1
    assert took < 4.0  # grace 1 s, then A-ABORT


def test_each_incoming_store_restarts_the_idle_timer(tmp_path: Path) -> None:
    """Four stores 0.6 s apart, no response in between: 1.8 s of work under a 1 s idle
    timeout is not a silent PACS."""
    pacs = GetPacs([_instance(n) for n in range(1, 5)], pause=0.6, pendings=False)
    with PduPeer(pacs) as peer:
        result, arrivals, _, _ = _get(peer.port, tmp_path, idle=1.0)
    assert result.outcome is MoveOutcome.COMPLETED, result.error and result.error.render()
    assert len(arrivals) == 4
