"""The engine in a worker process: the window's event loop never waits for DIMSE work.

:class:`ProcessCourier` has the surface of :class:`~.engine.Courier` that the window and the
move queue use (``find``, ``move``, ``echo``, ``running``, ``close``, a context manager), and
its operations have :class:`~.operation.DimseOperation`'s (``async for``, ``batches()``,
``run()``, ``result``, ``cancel()``, ``abort()``, ``cancel_requested``, ``finished``). The
work itself runs in one engine worker process (:mod:`.process_worker`: a real Courier on an
asyncio loop of its own), so pynetdicom's reader threads, our lean reader, match building and
their garbage never hold the window's interpreter lock (issue 12 §2). The same events cross
back: FindMatch and MoveProgress batches, then the FindResult, MoveResult or EchoResult;
CourierErrors pickle with every attribute (:meth:`.errors.CourierError.__reduce__`).

Timing is the worker's: a cancel's C-CANCEL, its grace period and A-ABORT, the idle timeout and
the total deadline all run there, unchanged. The process starts on first use (or on
:meth:`ProcessCourier.start`), with multiprocessing's "spawn" (a fresh interpreter: a process
with Qt threads is never forked). One thread here reads its events and hands them to each
operation's :class:`~.channel.Channel`: one loop wake-up per batch.

If the worker process ends while operations run (killed, crashed, out of memory), each ends at
once with :class:`EngineStopped` (retryable; a send is FAILED with the counts it reached), and
the next operation starts a new process. Closing ends the process within the close bounds
(:data:`CLOSE_WAIT`); it is a daemon process, and it closes itself when the window's process
is gone (its pipe closes): it never outlives the window.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import multiprocessing
import signal
import threading
import time
import weakref
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from dicom_courier.core.config.profiles import PacsNode
from dicom_courier.core.dimse.channel import Channel
from dicom_courier.core.dimse.process_worker import CLOSE_ABORT_WAIT, serve
from dicom_courier.core.outcome.errors import CourierError, Peer
from dicom_courier.core.outcome.events import EchoResult, MoveOutcome, MoveProgress, MoveResult
from dicom_courier.core.qr.query import FindMatch, FindQuery, MoveRequest, QueryModel

if TYPE_CHECKING:
    from dicom_courier.core.dimse.arrival_hub import ArrivalHub
    from dicom_courier.core.dimse.find import FindResult

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")
LOGGER = logging.getLogger(__name__)

#: Seconds :meth:`ProcessCourier.close` waits for the worker to end, beyond its own abort wait
#: and release grace; then it is terminated (SIGTERM), then killed.
CLOSE_WAIT = CLOSE_ABORT_WAIT + 1.5
#: The release grace (s) of ``close(wait=True)``, as ``release.CLOSE_GRACE``.
_RELEASE_GRACE = 0.5
#: Seconds of silence (no event, no heartbeat) after which a worker with operations
#: running is taken for stuck and killed; well above its 1 s heartbeat under any load.
STALL_LIMIT = 10.0
_STALL_CHECK = 0.5


class EngineStopped(CourierError):
    """The engine worker process ended while this operation ran (killed, crashed, out of
    memory): its association ended with it. Retryable: the next attempt starts a new one."""

    retryable = True


def _peer(pacs: PacsNode) -> Peer:
    return Peer(calling_aet=pacs.calling_aet, called_aet=pacs.called_aet, host=pacs.host,
                port=pacs.port)


def engine_stopped(peer: Peer, during: str, sofar: str, facts: str, *,
                   closed: bool = False) -> EngineStopped:
    """The error of an operation whose engine process ended: ``during`` names it ("during the
    search on ORTHANC"), ``sofar`` says what had arrived (a sentence), ``facts`` how the
    process ended; ``closed``: Courier itself closed the engine (the window closing)."""
    if closed:
        return EngineStopped(
            f"Stopped {during}: Courier's engine was closed.",
            f"The engine was closed before it finished. {sofar}",
            "Retry.", peer=peer, details={"Engine process": facts})
    return EngineStopped(
        f"The engine process stopped unexpectedly {during}.",
        f"The process that talks to {peer.called_aet} for this window ended ({facts}); its "
        f"connection to {peer.called_aet} closed with it. {sofar}".strip(),
        "Retry: Courier starts a new engine process. If it happens again, restart Courier "
        "and give the details to support.", peer=peer, details={"Engine process": facts})


class _Target(Protocol):
    """What the event reader hands an operation's events to. Runs on: the reader thread."""

    def deliver_items(self, items: list[Any]) -> None: ...

    def deliver_end(self, result: Any, info: dict[str, Any]) -> None: ...

    def deliver_raised(self, error: BaseException) -> None: ...

    def engine_lost(self, facts: str, closed: bool) -> None: ...


class RemoteControl:
    """The part of an operation's control the window reads after the end: the PACS's
    (Implementation Class UID, Version Name) from its A-ASSOCIATE-AC (PS3.7 D.3.3.2)."""

    def __init__(self) -> None:
        self.peer_implementation: tuple[str, str] = ("", "")


class _EngineLink:
    """One worker process, its pipe, and the thread that reads its events.

    Runs on: the loop thread (start, send, close) and the reader thread (events).
    """

    def __init__(self, max_workers: int, cancel_grace: float) -> None:
        context = multiprocessing.get_context("spawn")
        mine, theirs = context.Pipe(duplex=True)
        self.process = context.Process(target=serve, args=(theirs, max_workers, cancel_grace),
                                       name="courier-engine", daemon=True)
        self.process.start()
        theirs.close()  # or its end would stay open here, and a dead worker never read as EOF
        self._conn = mine
        self._targets: dict[int, _Target] = {}
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        #: One thread at a time waits for the process (two waitpid calls race).
        self._process_lock = threading.Lock()
        self._ids = itertools.count(1)
        self.closing = False
        self.lost = False
        self.stalled = False  # killed by the reader for not answering (see _read)
        self._reader = threading.Thread(target=self._read, name="engine-reader", daemon=True)
        self._reader.start()

    def start(self, target: _Target, command: tuple[Any, ...]) -> int:
        """Send ``command`` (its kind, then its arguments) for ``target``; its op id. A worker
        already gone ends ``target`` at once (:meth:`_Target.engine_lost`)."""
        op_id = next(self._ids)
        with self._lock:
            lost = self.lost
            if not lost:
                self._targets[op_id] = target
        if lost:
            target.engine_lost(self.exit_facts(), self.closing)
        elif not self.send((command[0], op_id, *command[1:])):
            with self._lock:
                mine = self._targets.pop(op_id, None) is not None
            if mine:
                target.engine_lost(self.exit_facts(), self.closing)
        return op_id

    def send(self, command: tuple[Any, ...]) -> bool:
        """Send one command; False if the worker is gone."""
        with self._send_lock:
            try:
                self._conn.send([command])
            except (OSError, ValueError):
                return False
        return True

    def forget(self, op_id: int) -> None:
        """Nobody waits for ``op_id`` any more: its events are dropped."""
        with self._lock:
            self._targets.pop(op_id, None)

    def exit_facts(self) -> str:
        """How the worker process ended, for the Details section."""
        code = self.process.exitcode
        pid = self.process.pid
        if self.stalled:
            return f"pid {pid}; it did not answer for {STALL_LIMIT:g} s, so Courier ended it"
        if code is None:
            return f"pid {pid}; its pipe closed"
        if code < 0:
            with contextlib.suppress(ValueError):
                return f"pid {pid}, ended by signal {signal.Signals(-code).name}"
        return f"pid {pid}, exit code {code}"

    def _read(self) -> None:
        """Runs on: the reader thread. Every event to its operation, until the pipe closes.

        The worker says something at least every :data:`.process_worker.HEARTBEAT` s; one
        that stays silent for :data:`STALL_LIMIT` s with operations running (stopped,
        deadlocked, swapped out) is killed, and its operations end as for a crash
        (:meth:`_Target.engine_lost`), so no cancel, abort or quit waits for it for ever."""
        heard = time.monotonic()
        try:
            while True:
                if not self._conn.poll(_STALL_CHECK):
                    with self._lock:
                        running = bool(self._targets)
                    if running and time.monotonic() - heard >= STALL_LIMIT:
                        self.stalled = True
                        LOGGER.error("the engine process did not answer for %g s; ending it",
                                     STALL_LIMIT)
                        with contextlib.suppress(OSError, ValueError):
                            self.process.kill()
                    elif not running:
                        heard = time.monotonic()
                    continue
                heard = time.monotonic()
                for event in self._conn.recv():
                    try:
                        self._dispatch(event)
                    except Exception:  # a bug here must not stop every other operation
                        LOGGER.exception("engine event %r could not be handled", event[:2])
        except (EOFError, OSError):
            pass
        finally:
            with self._process_lock:
                self.process.join(1.0)  # its exit code, for the Details section
            with self._lock:
                self.lost = True
                targets = list(self._targets.values())
                self._targets.clear()
            facts = self.exit_facts()
            if targets and not self.closing:
                LOGGER.error("the engine process ended (%s) with %d operation(s) running",
                             facts, len(targets))
            for target in targets:
                target.engine_lost(facts, self.closing)
            with contextlib.suppress(OSError):
                self._conn.close()

    def _dispatch(self, event: tuple[Any, ...]) -> None:
        kind, op_id = event[0], event[1]
        if kind == "beat":
            return
        if kind == "items":
            item_target = self._targets.get(op_id)
            if item_target is not None:
                item_target.deliver_items(event[2])
            return
        if kind in ("arrival", "refusal"):  # a C-GET's image, written or refused
            get_target = self._targets.get(op_id)
            if isinstance(get_target, RemoteGet):
                get_target.deliver_store(kind, event[2])
            return
        with self._lock:
            target = self._targets.pop(op_id, None)
        if target is None:
            return
        if kind == "end":
            target.deliver_end(event[2], event[3])
        else:
            target.deliver_raised(event[2])

    def close(self, *, wait: bool) -> None:
        """Ask the worker to close (it aborts what runs, closes its Courier), wait for it to
        end (at most :data:`CLOSE_WAIT` s more with ``wait``'s release grace), then
        terminate or kill it: no engine process outlives this call."""
        self.closing = True
        self.send(("close", wait))
        with self._process_lock:
            self.process.join(CLOSE_WAIT + (_RELEASE_GRACE if wait else 0.0))
            if self.process.exitcode is None:
                LOGGER.warning("the engine process did not close in time: terminated")
                self.process.terminate()
                self.process.join(1.0)
            if self.process.exitcode is None:
                self.process.kill()
                self.process.join(1.0)
        self._reader.join(1.0)


class RemoteOperation(Generic[ItemT, ResultT]):
    """One find or move running in the engine process; use as a :class:`.DimseOperation`:
    iterate once (``async for``, ``batches()`` or ``run()``), then read ``result``."""

    def __init__(self, courier: ProcessCourier, pacs: PacsNode,
                 command: tuple[Any, ...]) -> None:
        self.pacs = pacs
        self.control = RemoteControl()
        self.cancel_grace = courier.cancel_grace
        self._courier = courier
        self._command = command
        self._link: _EngineLink | None = None
        self._op_id: int | None = None
        self._told: list[str] = []  # cancel / abort asked before the operation started
        self._cancel_requested = False
        self._channel: Channel[ItemT] | None = None
        #: Set by the reader thread before it closes the channel: (result, raised).
        self._end: tuple[ResultT | None, BaseException | None] | None = None
        self._result: ResultT | None = None
        self._started = False
        self._began = time.monotonic()
        self._received = 0

    @property
    def result(self) -> ResultT:
        if self._result is None:
            raise RuntimeError("the operation has not finished yet")
        return self._result

    @property
    def cancel_requested(self) -> bool:
        return self._cancel_requested

    @property
    def finished(self) -> bool:
        """True once the result has arrived."""
        return self._result is not None

    def __aiter__(self) -> AsyncIterator[ItemT]:
        self._start_once()
        return self._iterate()

    def batches(self) -> AsyncIterator[list[ItemT]]:
        """The items in the batches the engine handed over (one loop wake-up each)."""
        self._start_once()
        return self._batches()

    async def run(self) -> ResultT:
        """Run to the end, ignoring the items; return the result."""
        async for _item in self:
            pass
        return self.result

    def _start_once(self) -> None:
        if self._started:
            raise RuntimeError("an operation can be iterated only once")
        self._started = True

    def cancel(self) -> None:
        """C-CANCEL now, A-ABORT after the grace (both timed in the engine process, with
        :meth:`.DimseOperation.cancel`'s rules); before the start: it ends without
        connecting. Nothing after the end."""
        if self._cancel_requested or self.finished:
            return
        self._cancel_requested = True
        self._tell("cancel")

    def abort(self) -> None:
        """A-ABORT at once (:meth:`.DimseOperation.abort`); nothing after the end."""
        if self.finished:
            return
        self._cancel_requested = True
        self._tell("abort")

    def _tell(self, what: str) -> None:
        if self._op_id is None:
            self._told.append(what)
        elif self._end is None and self._link is not None:
            self._link.send((what, self._op_id))

    async def _iterate(self) -> AsyncIterator[ItemT]:
        async for batch in self._batches():
            for item in batch:
                yield item

    async def _batches(self) -> AsyncIterator[list[ItemT]]:
        channel: Channel[ItemT] = Channel(asyncio.get_running_loop())
        self._channel = channel
        self._began = time.monotonic()
        link = self._link = self._courier.link()
        op_id = self._op_id = link.start(self, self._command)
        for what in self._told:  # in order, right after the start: as if asked before it
            link.send((what, op_id))
        try:
            async for batch in channel.batches():
                yield batch
        finally:
            if self._end is None:  # the consumer stopped early (break, or its task ended)
                link.forget(op_id)
                link.send(("gone", op_id))
        assert self._end is not None  # the reader thread set it before closing the channel
        result, raised = self._end
        if raised is not None:
            raise raised
        self._result = result

    # ---------------------------------------------------------------- from the reader thread

    def deliver_items(self, items: list[Any]) -> None:
        self._received += len(items)
        self._note_items(items)
        assert self._channel is not None
        self._channel.put_many(items)

    def _note_items(self, items: list[Any]) -> None:
        """Runs on: the reader thread. What a lost engine's result needs to know."""

    def deliver_end(self, result: Any, info: dict[str, Any]) -> None:
        self.control.peer_implementation = info.get("peer_implementation", ("", ""))
        self._cancel_requested = bool(info.get("cancel_requested", self._cancel_requested))
        self._finish((result, None))

    def deliver_raised(self, error: BaseException) -> None:
        self._finish((None, error))

    def engine_lost(self, facts: str, closed: bool) -> None:
        self._finish((self._lost_result(facts, closed), None))

    def _finish(self, end: tuple[ResultT | None, BaseException | None]) -> None:
        self._end = end
        if self._channel is not None:
            self._channel.close()

    def _lost_result(self, facts: str, closed: bool) -> ResultT:
        raise NotImplementedError


class RemoteFind(RemoteOperation[FindMatch, "FindResult"]):
    """A C-FIND (PS3.4 C.4.1) in the engine process, as :class:`.find.FindOperation`."""

    def __init__(self, courier: ProcessCourier, pacs: PacsNode, query: FindQuery, *,
                 limit: int | None, raise_on_error: bool,
                 other_models: tuple[QueryModel, ...]) -> None:
        keys = (query.level, query.model, dict(query.keys))  # its keys' view does not pickle
        super().__init__(courier, pacs, ("find", pacs, keys, {
            "limit": limit, "raise_on_error": raise_on_error, "other_models": other_models}))
        self.query = query
        self.limit = limit
        self.raise_on_error = raise_on_error

    async def _iterate(self) -> AsyncIterator[FindMatch]:
        async for match in super()._iterate():
            yield match
        if self.raise_on_error and self.result.error is not None:
            raise self.result.error

    def _lost_result(self, facts: str, closed: bool) -> FindResult:
        from dicom_courier.core.dimse.find import FindResult

        peer = _peer(self.pacs)
        count = self._received
        error = engine_stopped(
            peer, f"during the search on {peer.called_aet}",
            f"{count} result{'' if count == 1 else 's'} arrived before it stopped; the list "
            "may be incomplete.", facts, closed=closed)
        error.extra_details["Results received before"] = str(count)
        return FindResult(count=count, status=None, duration=time.monotonic() - self._began,
                          cancelled=False, error=error)


class RemoteMove(RemoteOperation[MoveProgress, MoveResult]):
    """A C-MOVE (PS3.4 C.4.2) in the engine process, as :class:`.move.MoveOperation`."""

    def __init__(self, courier: ProcessCourier, pacs: PacsNode, request: MoveRequest) -> None:
        super().__init__(courier, pacs, ("move", pacs, request))
        self.request = request
        self._last: MoveProgress | None = None

    def _note_items(self, items: list[Any]) -> None:
        self._last = items[-1]

    def _lost_result(self, facts: str, closed: bool) -> MoveResult:
        peer = _peer(self.pacs)
        last = self._last
        destination = self.request.destination
        if last is None:
            sofar = (f"No response had counted images yet; {peer.called_aet} may still send "
                     f"images to {destination}.")
        else:
            of = f" of {last.total}" if last.total is not None else ""
            sofar = (f"{last.sent}{of} images had arrived at {destination} (they stay there); "
                     f"{peer.called_aet} may still send the rest.")
        error = engine_stopped(peer, f"during the send from {peer.called_aet} to {destination}",
                               sofar, facts, closed=closed)
        return MoveResult(
            outcome=MoveOutcome.FAILED, total=last.total if last else None,
            completed=last.completed if last else 0, failed=last.failed if last else 0,
            warning=last.warning if last else 0, status=last.status if last else None,
            duration=time.monotonic() - self._began, error_comment=None, failed_sop_uids=(),
            error=error, destination=destination, peer=peer, counts_reported=last is not None,
            cancel_sent=self._cancel_requested,
            pending_counted=last is not None and not last.is_final and bool(
                last.remaining or last.sent))


class RemoteGet(RemoteMove):
    """A C-GET (PS3.4 C.4.3) in the engine process, as :class:`.get.GetOperation`: the
    engine writes the images; each :class:`~.arrival.Arrival` (and refusal) crosses the pipe
    and is published into ``hub``, the window's, on the event reader thread."""

    def __init__(self, courier: ProcessCourier, pacs: PacsNode, request: MoveRequest, *,
                 folder: Path, our_aet: str, hub: ArrivalHub,
                 max_instance_mb: int | None = None) -> None:
        RemoteOperation.__init__(self, courier, pacs,
                                 ("get", pacs, request, folder, our_aet, max_instance_mb))
        self.request = request
        self._last = None
        self.folder = folder
        self.hub = hub

    def deliver_store(self, kind: str, value: Any) -> None:
        """Runs on: the reader thread. Publish one arrival or refusal into the hub."""
        if kind == "arrival":
            self.hub.publish(value)
        else:
            self.hub.refused(value)

    def _lost_result(self, facts: str, closed: bool) -> MoveResult:
        result = super()._lost_result(facts, closed)
        peer = _peer(self.pacs)
        last = self._last
        sofar = ("No image had been counted yet." if last is None else
                 f"{last.sent} image(s) had arrived in {self.folder} (they stay there).")
        error = engine_stopped(peer, f"during the retrieve from {peer.called_aet}",
                               f"{sofar} Nothing more arrives: the retrieve's association "
                               "ended with the process.", facts, closed=closed)
        return replace(result, error=error)


class _RemoteEcho:
    """One C-ECHO in the engine process: its answer on a future of the loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, pacs: PacsNode) -> None:
        self.future: asyncio.Future[EchoResult] = loop.create_future()
        self._loop = loop
        self._pacs = pacs

    def _settle(self, result: EchoResult | None, error: BaseException | None) -> None:
        def settle() -> None:
            if self.future.done():
                return
            if error is not None:
                self.future.set_exception(error)
            else:
                self.future.set_result(result)  # type: ignore[arg-type]

        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
            self._loop.call_soon_threadsafe(settle)

    def deliver_items(self, items: list[Any]) -> None:
        return

    def deliver_end(self, result: Any, info: dict[str, Any]) -> None:
        self._settle(result, None)

    def deliver_raised(self, error: BaseException) -> None:
        self._settle(None, error)

    def engine_lost(self, facts: str, closed: bool) -> None:
        peer = _peer(self._pacs)
        self._settle(None, engine_stopped(peer, f"during the echo to {peer.called_aet}",
                                          "", facts, closed=closed))


class RemoteOperations:
    """The operations one ProcessCourier runs, so that one cancel reaches them all: the
    same rules as :class:`.running.RunningOperations` (an operation created after a cancel
    is cancelled at once). Runs on: the loop thread."""

    def __init__(self) -> None:
        self._live: weakref.WeakSet[RemoteOperation[Any, Any]] = weakref.WeakSet()
        self._stopping: str | None = None

    @property
    def stopping(self) -> bool:
        return self._stopping is not None

    def track(self, operation: RemoteOperation[Any, Any]) -> None:
        self._live.add(operation)
        if self._stopping == "abort":
            operation.abort()
        elif self._stopping == "cancel":
            operation.cancel()

    def cancel_all(self) -> int:
        """C-CANCEL every unfinished operation, each with its grace period; how many."""
        if self._stopping is None:
            self._stopping = "cancel"
        running = [op for op in list(self._live) if not op.finished]
        for operation in running:
            operation.cancel()
        return len(running)

    def abort_all(self) -> None:
        """A-ABORT every unfinished operation now."""
        self._stopping = "abort"
        for operation in list(self._live):
            if not operation.finished:
                operation.abort()


class ProcessCourier:
    """Echo, find and move against PACS nodes, every association in one engine process.

    ``max_workers`` and ``cancel_grace`` (seconds) are the worker's Courier's. Raises and
    reports exactly what :class:`~.engine.Courier` does (the same classes, attributes and
    words), plus :class:`EngineStopped` when the engine process ends under an operation.
    """

    def __init__(self, max_workers: int = 8, *, cancel_grace: float = 5.0) -> None:
        self.cancel_grace = cancel_grace
        self._max_workers = max_workers
        self._link: _EngineLink | None = None
        self._closed = False
        #: Every find and move made here: ``running.cancel_all()`` is a person's cancel.
        self.running = RemoteOperations()

    @property
    def pid(self) -> int | None:
        """The engine process's id, None before it started."""
        return self._link.process.pid if self._link is not None else None

    def start(self) -> None:
        """Start the engine process now (it imports the engine while the window idles)."""
        self.link()

    def link(self) -> _EngineLink:
        """The engine process, started now if there is none or the last one ended.

        Raises RuntimeError after :meth:`close`."""
        if self._closed:
            raise RuntimeError("the Courier was closed")
        if self._link is None or self._link.lost:
            self._link = _EngineLink(self._max_workers, self.cancel_grace)
        return self._link

    async def echo(self, pacs: PacsNode) -> EchoResult:
        """``Courier.echo`` (C-ECHO, PS3.7 9.1.5) in the engine process: the same
        :class:`~.events.EchoResult` (times in ms) and the same errors, or EngineStopped.
        Cancelling the awaiting task aborts the association (A-ABORT)."""
        call = _RemoteEcho(asyncio.get_running_loop(), pacs)
        link = self.link()
        op_id = link.start(call, ("echo", pacs))
        try:
            return await call.future
        except asyncio.CancelledError:
            link.forget(op_id)
            link.send(("abort", op_id))
            raise

    def find(self, pacs: PacsNode, query: FindQuery, *, limit: int | None = None,
             raise_on_error: bool = True,
             other_models: tuple[QueryModel, ...] = ()) -> RemoteFind:
        """``Courier.find`` (C-FIND, PS3.4 C.4.1; PS3.7 9.1.2) in the engine process: yields
        the same FindMatch rows, then ``result`` is the same FindResult; a lost engine is
        ``result.error`` (EngineStopped), raised after the rows with ``raise_on_error``."""
        operation = RemoteFind(self, pacs, query, limit=limit, raise_on_error=raise_on_error,
                               other_models=other_models)
        self.running.track(operation)
        return operation

    def move(self, pacs: PacsNode, request: MoveRequest) -> RemoteMove:
        """``Courier.move`` (C-MOVE, PS3.4 C.4.2; PS3.7 9.1.4) in the engine process: yields
        the same MoveProgress per response, then the same MoveResult. Never raises for a
        failed send; a lost engine is a FAILED result with EngineStopped."""
        operation = RemoteMove(self, pacs, request)
        self.running.track(operation)
        return operation

    def get(self, pacs: PacsNode, request: MoveRequest, *, folder: Path, our_aet: str,
            hub: ArrivalHub, max_instance_mb: int | None = None) -> RemoteGet:
        """``Courier.get`` (C-GET, PS3.4 C.4.3; PS3.7 9.1.3) in the engine process: the
        engine writes the images into ``folder``; each Arrival (and refusal) is published
        into ``hub`` here, on the event reader thread, before the result. Yields the same
        MoveProgress, then the same MoveResult; never raises for a failed retrieve (a lost
        engine is a FAILED result with EngineStopped)."""
        operation = RemoteGet(self, pacs, request, folder=folder, our_aet=our_aet, hub=hub,
                              max_instance_mb=max_instance_mb)
        self.running.track(operation)
        return operation

    def close(self, *, wait: bool = True) -> None:
        """Close the engine process (it aborts what still runs and closes its Courier; with
        ``wait`` releases get their grace). Returns once it ended: at most
        :data:`CLOSE_WAIT` s (plus the grace), then it is terminated. Idempotent."""
        self._closed = True
        if self._link is not None and not self._link.closing:
            self._link.close(wait=wait)

    def __enter__(self) -> ProcessCourier:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.close(wait=exc_type is None)
