"""The engine's front door: one DIMSE thread pool, and echo / find / move on any asyncio loop.

The command line and the window both compose exactly one :class:`Courier`. It owns the worker
pool (never the loop's default executor) and shuts it down in order.

Every failure these calls report is a :class:`~dicom_courier.core.outcome.errors.CourierError`
subclass; see :mod:`dicom_courier.core.outcome.errors` for when one is raised and when it is
reported in
a result instead. Times are seconds, from ``pacs.timeouts`` (``connect``, ``acse``, ``idle``
restarting on every response, ``total`` capping the whole operation; None: no cap).
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from dicom_courier.core.config.profiles import PacsNode
from dicom_courier.core.dimse.association import ABORT_BY_USER, ABORT_DEADLINE, OperationControl
from dicom_courier.core.dimse.echo import echo_blocking
from dicom_courier.core.dimse.find import FindOperation
from dicom_courier.core.dimse.get import GetOperation
from dicom_courier.core.dimse.move import MoveOperation
from dicom_courier.core.dimse.operation import DimseOperation
from dicom_courier.core.dimse.release import CLOSE_GRACE, Releaser
from dicom_courier.core.dimse.running import RunningOperations
from dicom_courier.core.dimse.transport import quiet_pynetdicom
from dicom_courier.core.outcome.events import EchoResult
from dicom_courier.core.qr.query import FindQuery, MoveRequest, QueryModel

if TYPE_CHECKING:
    from dicom_courier.core.dimse.arrival_hub import ArrivalHub

OpT = TypeVar("OpT", bound=DimseOperation[Any, Any])


class Courier:
    """Echo, find and move against PACS nodes; every association on a DIMSE worker thread."""

    def __init__(self, max_workers: int = 8, *, cancel_grace: float = 5.0) -> None:
        quiet_pynetdicom()
        self.cancel_grace = cancel_grace
        #: Every find and move made here: ``running.cancel_all()`` is a person's cancel (Ctrl-C).
        self.running = RunningOperations()
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="dimse")
        #: Ends associations after their final response, on threads of its own (issue 9 §3).
        self.releaser = Releaser()

    async def echo(self, pacs: PacsNode) -> EchoResult:
        """Verify that ``pacs`` is there and accepts us: associate, C-ECHO, release.

        Implements the Verification service (PS3.4 Annex A; C-ECHO, PS3.7 9.1.5) over one
        association (PS3.8 7.1, 7.2). Runs on a DIMSE worker thread; awaits on the loop.

        Args:
            pacs: the PACS profile (AE titles, address, TLS, timeouts in seconds; the
                ``total`` deadline covers connection set-up too).

        Returns:
            :class:`~dicom_courier.core.outcome.events.EchoResult`: the peer and the times taken, in
            milliseconds (association set-up, echo round trip). Only a success returns.

        Raises:
            ConnectionFailed: no TCP connection (refused, unreachable, unknown host, the
                ``connect`` timeout), or a failed secure connection (``tls.TlsError``).
            AssociationRejected: A-ASSOCIATE-RJ (``CallingAeNotRecognised``,
                ``CalledAeNotRecognised``; ``permanent`` says if retrying can help).
            NotSupported: the PACS accepted no Verification presentation context.
            AssociationAborted: A-ABORT, a dropped connection or no answer within ``idle``
                (``ProtocolViolation``, ``MessageTooLarge`` for bytes we refuse).
            DeadlineExceeded: our ``total`` deadline ended it.
            DimseFailure: the PACS answered with a non-success status.
            Cancelled: the operation was stopped before the PACS answered.
            (All in :mod:`dicom_courier.core.outcome.errors`.) Cancelling the awaiting task raises
            ``asyncio.CancelledError`` as usual and aborts a pending connection at once.
        """
        loop = asyncio.get_running_loop()
        control = OperationControl(self.releaser)
        total = pacs.timeouts.total  # the deadline covers connection set-up, as for find/move
        deadline = loop.call_later(total, control.abort, ABORT_DEADLINE) if total else None
        try:
            return await loop.run_in_executor(self._executor, echo_blocking, pacs, control)
        except asyncio.CancelledError:
            control.abort(ABORT_BY_USER)  # end a pending connection now, not at its timeout
            raise
        finally:
            if deadline is not None:
                deadline.cancel()

    def find(self, pacs: PacsNode, query: FindQuery, *, limit: int | None = None,
             raise_on_error: bool = True,
             other_models: tuple[QueryModel, ...] = ()) -> FindOperation:
        """A search (C-FIND, PS3.4 C.4.1; DIMSE PS3.7 9.1.2) on its own association.

        Nothing happens until it is iterated: ``async for match in courier.find(...)`` (or
        ``.batches()``), then read ``.result``. Iterate once; the association is made, used
        and released on one DIMSE worker thread.

        Args:
            pacs: the PACS profile; its timeouts (seconds) bound the search.
            query: level, Q/R model and keys (:class:`~dicom_courier.core.qr.query.FindQuery`).
            limit: stop after this many matches: a C-CANCEL (PS3.7 9.3.2.3), the search
                still a success; None: all of them.
            raise_on_error: True (the default): a failure is raised from the iteration after
                the matches that did arrive; False: it is only in ``result.error``.
            other_models: Q/R models the PACS may be asked in instead of ``query.model``,
                proposed in the same association (:mod:`.model_choice`).

        Returns:
            :class:`~dicom_courier.core.dimse.find.FindOperation`: yields
            :class:`~dicom_courier.core.qr.query.FindMatch` (text values, never a Dataset);
            afterwards ``result`` is a :class:`~dicom_courier.core.dimse.find.FindResult` (count,
            final status, duration in seconds, cancelled, error, the model used).
            ``.cancel()`` sends C-CANCEL, then A-ABORT after ``cancel_grace`` seconds.

        Raises:
            CourierError: from the iteration, with ``raise_on_error``: the same classes as
                :meth:`echo` for the association, plus the DIMSE failure statuses
                (:func:`~dicom_courier.core.outcome.status.failure_for_status`),
                ``UnreadableResults`` and ``SearchCutShort``. ``RuntimeError`` if iterated
                twice or ``result`` is read before the end (a bug of the caller).
        """
        return self.running.track(self._released_here(FindOperation(
            pacs, query, self._executor, limit=limit, cancel_grace=self.cancel_grace,
            raise_on_error=raise_on_error, other_models=other_models)))

    def move(self, pacs: PacsNode, request: MoveRequest) -> MoveOperation:
        """A send (C-MOVE, PS3.4 C.4.2; DIMSE PS3.7 9.1.4) on its own association.

        Nothing happens until it is iterated: ``async for progress in courier.move(...)``
        (or ``await op.run()``), then read ``.result``. Iterate once.

        Args:
            pacs: the PACS profile; its timeouts (seconds) bound the send: ``idle`` between
                two responses, ``total`` for the whole of it.
            request: what to send (study / series / image UIDs), the destination AE title,
                the Q/R model, other models the PACS may be asked in and the DIMSE priority
                (:class:`~dicom_courier.core.qr.query.MoveRequest`).

        Returns:
            :class:`~dicom_courier.core.dimse.move.MoveOperation`: yields one
            :class:`~dicom_courier.core.outcome.events.MoveProgress` per C-MOVE response (the
            sub-operation counts, PS3.4 C.4.2.1.6; ``elapsed`` in seconds); afterwards
            ``result`` is a :class:`~dicom_courier.core.outcome.events.MoveResult`: the outcome
            (completed, with warnings, partial, failed, cancelled, decided in
            :mod:`.outcome`), the counts, the failed SOP Instance UIDs and, unless it
            completed, the error. ``.cancel()`` sends C-CANCEL (PS3.7 9.3.4.3), then
            A-ABORT after ``cancel_grace`` seconds; ``.abort()`` ends it at once.

        Raises:
            Nothing for a failed send: every failure, the association's included (a
            ``MoveResult`` with ``request_sent=False``), is ``result.error``, a
            ``CourierError`` (a destination fault as a
            :class:`~dicom_courier.core.dimse.destination_check.DestinationFault` verdict).
            ``RuntimeError`` if iterated twice or ``result`` is read before the end.
        """
        return self.running.track(self._released_here(MoveOperation(
            pacs, request, self._executor, cancel_grace=self.cancel_grace)))

    def get(self, pacs: PacsNode, request: MoveRequest, *, folder: Path, our_aet: str,
            hub: ArrivalHub, max_instance_mb: int | None = None) -> GetOperation:
        """A retrieve to this computer (C-GET, PS3.4 C.4.3; DIMSE PS3.7 9.1.3) on one
        association: the PACS sends the images back over it as C-STORE sub-operations.

        Nothing happens until it is iterated, as :meth:`move`. First an IMAGE-level C-FIND
        (its own association) finds the study's Storage SOP classes, proposed with SCP/SCU
        Role Selection (PS3.7 D.3.3.4; a default set when the look-up tells nothing).

        Args:
            pacs: the PACS profile; its timeouts (seconds) bound the retrieve: ``idle``
                between two messages (a response or an image), ``total`` for all of it;
                ``max_message_mb`` caps each response.
            request: what to retrieve (:class:`~dicom_courier.core.qr.query.MoveRequest`;
                its ``destination`` is only recorded in the result, normally
                :data:`~dicom_courier.core.outcome.arrival.HERE`).
            folder: the storage folder; each image is written there by
                :func:`.store_files.write_instance` (Part 10, atomically).
            our_aet: our AE title as the receiving AE (logged with refusals).
            hub: each written image is published there as an
                :class:`~dicom_courier.core.outcome.arrival.Arrival` (on the worker
                thread), each refused one as a refusal.
            max_instance_mb: the largest image the PACS may send, in MB of 10^6 bytes (the
                receiver's ``max_instance_mb``; None: its default, 2048); a larger one ends
                the retrieve with ``MessageTooLarge``.

        Returns:
            :class:`~dicom_courier.core.dimse.get.GetOperation`: yields one
            :class:`~dicom_courier.core.outcome.events.MoveProgress` per C-GET response;
            then ``result`` is a :class:`~dicom_courier.core.outcome.events.MoveResult`
            decided by the C-MOVE's rules, in words about "this computer"; images our
            writer refused (disk full: answered 0xA700) are said in its error.
            ``.cancel()`` / ``.abort()`` as for :meth:`move`.

        Raises:
            Nothing for a failed retrieve (``result.error``, a ``CourierError``).
            ``RuntimeError`` if iterated twice or ``result`` is read before the end.
        """
        return self.running.track(self._released_here(GetOperation(
            pacs, request, self._executor, folder=folder, our_aet=our_aet, hub=hub,
            max_instance_mb=max_instance_mb, cancel_grace=self.cancel_grace)))

    def _released_here(self, operation: OpT) -> OpT:
        """``operation``, its association handed to our releaser after the final response."""
        operation.control.releaser = self.releaser
        return operation

    def close(self, *, wait: bool = True) -> None:
        """Shut the pool down; cancel or abort running operations first.

        Releases still under way end too: with ``wait`` they get ``CLOSE_GRACE`` seconds to
        finish (a command line exiting right after its result), then A-ABORT; without it
        (closing the window) they are aborted at once.
        """
        self._executor.shutdown(wait=wait, cancel_futures=True)
        self.releaser.close(CLOSE_GRACE if wait else 0.0)

    def __enter__(self) -> Courier:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        # After an interruption do not wait for workers: each ends within its own timeouts.
        self.close(wait=exc_type is None)
