"""Q/R SCPs that misbehave on purpose: stall, pend forever, abort, reject, or fail.

Each fake listens on a free loopback port, accepts Verification and the Patient Root and Study
Root FIND and MOVE SOP classes, and stops promptly on ``stop()`` even while a handler is stuck.

pynetdicom only lets a C-MOVE handler report Pending together with a real C-STORE sub-operation,
and only lets it finish with a non-A801 status after associating with the Move Destination. So
the fakes send their made-up Pending responses themselves (``_send_move_pending``), and when a
final status has to come from pynetdicom they name themselves as the destination: each fake is
also a storage SCP ("the sink") that accepts Secondary Capture images and discards them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any, Self

from pydicom.dataset import Dataset
from pynetdicom import AE, build_context, evt
from pynetdicom.dimse_primitives import C_MOVE
from pynetdicom.events import Event
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    PatientRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelMove,
    SecondaryCaptureImageStorage,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)

from dicom_courier.core.demo.serving import BackgroundScp, ServedAe
from dicom_courier.core.demo.synthetic import StudySpec, make_instance, stable_uid
from dicom_courier.core.dimse.transport import NODELAY_HANDLERS

PENDING = 0xFF00
CANCEL = 0xFE00
_POLL = 0.02

QR_MODELS = (
    PatientRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelMove,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelMove,
)

MoveYield = Any  # (addr, port[, kwargs]) | int | (status, dataset): pynetdicom's move protocol


class _FakeScp(ServedAe):
    """Plumbing shared by the fakes: the AE, the free port, the sink and a prompt stop()."""

    default_ae_title = "FAKESCP"

    def __init__(self, ae_title: str | None = None, host: str = "127.0.0.1") -> None:
        super().__init__(ae_title or self.default_ae_title, host, 0)
        self._stopping = threading.Event()

    def _configure(self, ae: AE) -> None:
        ae.acse_timeout = 5  # bounds how long an abort waits for the peer to hang up
        for uid in (Verification, *QR_MODELS, SecondaryCaptureImageStorage):
            ae.add_supported_context(uid)
        self._configure_more(ae)

    def _handlers(self, scp: BackgroundScp) -> list[Any]:
        return [
            (evt.EVT_C_ECHO, lambda event: 0x0000),
            (evt.EVT_C_FIND, scp.tracked(self._on_find)),
            (evt.EVT_C_MOVE, scp.tracked(self._on_move)),
            (evt.EVT_C_STORE, lambda event: 0x0000),  # the sink
        ]

    def _started(self, scp: BackgroundScp) -> None:
        self._stopping = scp.stopping

    # hooks — Runs on: the association's pynetdicom thread

    def _configure_more(self, ae: AE) -> None:
        """Adjust the AE before it listens."""

    def _on_find(self, event: Event) -> Iterator[tuple[int | Dataset, Dataset | None]]:
        yield from ()

    def _on_move(self, event: Event) -> Iterator[MoveYield]:
        yield None, None

    # helpers for subclasses

    def _sink(self) -> tuple[str, int, dict[str, Any]]:
        """This fake as the Move Destination, so pynetdicom will send our final status."""
        return self.host, self._port, {
            "contexts": [build_context(SecondaryCaptureImageStorage)],
            "evt_handlers": NODELAY_HANDLERS,
        }

    def _wait_over(self, event: Event, seconds: float | None) -> bool:
        """Sleep up to ``seconds`` (None: for ever), waking early when the association is over.

        True means stop() began or the peer aborted, and the association has been ended
        from this thread (``BackgroundScp.end_if_over``): the handler must return.
        """
        remaining = seconds
        while remaining is None or remaining > 0:
            step = _POLL if remaining is None else min(_POLL, remaining)
            self._stopping.wait(step)
            if self._is_over(event):
                return True
            if remaining is not None:
                remaining -= step
        return self._is_over(event)

    def _is_over(self, event: Event) -> bool:
        return self._scp is not None and self._scp.end_if_over(event)


def _send_move_pending(event: Event, remaining: int, completed: int, failed: int = 0) -> None:
    """Send a C-MOVE Pending response by hand, without a C-STORE sub-operation behind it."""
    rsp = C_MOVE()
    rsp.MessageID = event.request.MessageID
    rsp.MessageIDBeingRespondedTo = event.request.MessageID
    rsp.AffectedSOPClassUID = event.request.AffectedSOPClassUID
    rsp.Status = PENDING
    rsp.NumberOfRemainingSuboperations = remaining
    rsp.NumberOfCompletedSuboperations = completed
    rsp.NumberOfFailedSuboperations = failed
    rsp.NumberOfWarningSuboperations = 0
    event.assoc.dimse.send_msg(rsp, event.context.context_id)


def _fake_match(event: Event, index: int) -> Dataset:
    """A made-up C-FIND match at the requested level."""
    identifier = event.identifier
    match = Dataset()
    match.SpecificCharacterSet = "ISO_IR 192"
    match.QueryRetrieveLevel = identifier.get("QueryRetrieveLevel", "STUDY")
    match.PatientID = f"FAKE{index:04d}"
    match.PatientName = f"Fake^Patient{index}"
    match.StudyInstanceUID = stable_uid("fake-study", str(index))
    return match


def _status(code: int, error_comment: str | None) -> Dataset:
    status = Dataset()
    status.Status = code
    if error_comment:
        status.ErrorComment = error_comment[:64]
    return status


class StallingScp(_FakeScp):
    """Sends ``stall_after_pending`` Pending responses, then never answers again until stop().

    The connection stays open and C-CANCEL is ignored: only our own timers can end the wait.
    """

    default_ae_title = "STALLING"

    def __init__(self, stall_after_pending: int = 0, ae_title: str | None = None) -> None:
        super().__init__(ae_title)
        self.stall_after_pending = stall_after_pending

    def _on_find(self, event: Event) -> Iterator[tuple[int | Dataset, Dataset | None]]:
        for index in range(self.stall_after_pending):
            yield PENDING, _fake_match(event, index)
        self._wait_over(event, None)

    def _on_move(self, event: Event) -> Iterator[MoveYield]:
        total = self.stall_after_pending + 10
        for index in range(self.stall_after_pending):
            _send_move_pending(event, remaining=total - index - 1, completed=index + 1)
        self._wait_over(event, None)
        yield None, None  # the association is gone by now, so pynetdicom sends nothing


class EndlessPendingScp(_FakeScp):
    """Sends Pending every ``interval`` seconds for ever; only C-CANCEL (0xFE00) ends it."""

    default_ae_title = "ENDLESS"

    def __init__(self, interval: float = 0.2, ae_title: str | None = None) -> None:
        super().__init__(ae_title)
        self.interval = interval

    def _on_find(self, event: Event) -> Iterator[tuple[int | Dataset, Dataset | None]]:
        index = 0
        while True:
            if event.is_cancelled:
                yield CANCEL, None
                return
            yield PENDING, _fake_match(event, index)
            index += 1
            if self._wait_over(event, self.interval):
                return

    def _on_move(self, event: Event) -> Iterator[MoveYield]:
        while not event.is_cancelled:
            _send_move_pending(event, remaining=10, completed=0)
            if self._wait_over(event, self.interval):
                yield None, None
                return
        yield self._sink()
        yield 10
        yield CANCEL, None  # pynetdicom adds remaining=10 and an empty failed-UID list


class AbortingScp(_FakeScp):
    """Sends ``after_pending`` Pending responses, then sends A-ABORT."""

    default_ae_title = "ABORTING"

    def __init__(self, after_pending: int = 1, ae_title: str | None = None) -> None:
        super().__init__(ae_title)
        self.after_pending = after_pending

    def _on_find(self, event: Event) -> Iterator[tuple[int | Dataset, Dataset | None]]:
        for index in range(self.after_pending):
            yield PENDING, _fake_match(event, index)
        event.assoc.abort()

    def _on_move(self, event: Event) -> Iterator[MoveYield]:
        total = self.after_pending + 10
        for index in range(self.after_pending):
            _send_move_pending(event, remaining=total - index - 1, completed=index + 1)
        event.assoc.abort()
        yield None, None  # not established any more, so pynetdicom sends nothing


class RejectingScp(_FakeScp):
    """Rejects every association whose calling AE title is not in ``allowed_calling_aets``.

    The rejection is permanent, from the service user, reason 3: calling AE title not
    recognised (PS3.8 9.3.4).
    """

    default_ae_title = "REJECTING"

    def __init__(
        self, allowed_calling_aets: Sequence[str] = ("NOBODY",), ae_title: str | None = None
    ) -> None:
        super().__init__(ae_title)
        self.allowed_calling_aets = list(allowed_calling_aets)

    def _configure_more(self, ae: AE) -> None:
        ae.require_calling_aet = self.allowed_calling_aets


class StatusScp(_FakeScp):
    """Ends every C-FIND and C-MOVE with ``final_status`` (e.g. 0xA801, 0xC000, 0xB000).

    C-MOVE: ``completed`` sub-operations really succeed first (into the sink), then the final
    response reports ``failed`` failures with their UIDs in FailedSOPInstanceUIDList. 0xA801 is
    answered at once; Success requires ``failed == 0``, every other status ``failed >= 1``.
    C-FIND: ``find_matches`` Pending matches, then the final status.
    """

    default_ae_title = "STATUS"

    def __init__(
        self,
        final_status: int,
        error_comment: str | None = None,
        *,
        completed: int = 2,
        failed: int = 1,
        find_matches: int = 0,
        ae_title: str | None = None,
    ) -> None:
        super().__init__(ae_title)
        if final_status in (PENDING, 0xFF01):
            raise ValueError("a final status cannot be Pending")
        if final_status == 0x0000 and failed:
            raise ValueError("Success cannot report failed sub-operations")
        if final_status not in (0x0000, 0xA801) and failed < 1:
            raise ValueError("pynetdicom only sends this status with sub-operations left")
        self.final_status = final_status
        self.error_comment = error_comment
        self.completed = completed
        self.failed = failed
        self.find_matches = find_matches
        spec = StudySpec(
            key=f"status-{final_status:04X}", patient_name="Fake^Status", patient_id="FAKE",
            modalities=("OT",), series_count=1, instances_per_series=completed + failed,
        )
        self.instances = [make_instance(spec, 0, i) for i in range(completed + failed)]

    @property
    def failed_uids(self) -> list[str]:
        """The SOP Instance UIDs the final C-MOVE response lists as failed."""
        return [str(ds.SOPInstanceUID) for ds in self.instances[self.completed:]]

    def _on_find(self, event: Event) -> Iterator[tuple[int | Dataset, Dataset | None]]:
        for index in range(self.find_matches):
            yield PENDING, _fake_match(event, index)
        if self.final_status != 0x0000:
            yield _status(self.final_status, self.error_comment), None

    def _on_move(self, event: Event) -> Iterator[MoveYield]:
        if self.final_status == 0xA801:
            yield None, None
            return
        yield self._sink()
        yield len(self.instances)
        for ds in self.instances[: self.completed]:
            yield PENDING, ds
        if self.failed:
            failures = Dataset()
            failures.FailedSOPInstanceUIDList = self.failed_uids
            # pynetdicom counts the sub-operations still remaining as failed
            yield _status(self.final_status, self.error_comment), failures


class SilentListener:
    """A TCP port that accepts connections and never says a word (a firewall-held port, or a
    service that is not DICOM and waits for its own protocol)."""

    ae_title = "SILENT"

    def __init__(self) -> None:
        import socket

        self._server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(8)
        self.port = int(self._server.getsockname()[1])
        self._held: list[Any] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        self._server.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except OSError:
                continue
            self._held.append(conn)

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for conn in self._held:
            conn.close()
        self._server.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
