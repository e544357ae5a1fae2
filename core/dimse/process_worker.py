"""The engine worker process: a real :class:`~.engine.Courier` on an asyncio loop of its own.

Started by :class:`~.process_courier.ProcessCourier` (multiprocessing "spawn": a fresh
interpreter, never a fork of a process with Qt threads), it runs what the window asks for and
answers with the very events the in-process engine yields, over one multiprocessing Pipe.

Commands (one list of tuples per pipe message, each tuple a command):

* ``("find", op_id, pacs, (level, model, keys), options)``: ``Courier.find(pacs,
  FindQuery(level, model, keys), **options)`` (C-FIND, PS3.4 C.4.1), iterated at once;
  ``("move", op_id, pacs, request)``: ``Courier.move`` (C-MOVE, PS3.4 C.4.2);
  ``("get", op_id, pacs, request, folder, our_aet, max_instance_mb)``: ``Courier.get``
  (C-GET, PS3.4 C.4.3) into ``folder``, with a hub of its own whose arrivals and refusals
  are sent back;
  ``("echo", op_id, pacs)``: ``Courier.echo`` (C-ECHO, PS3.7 9.1.5).
* ``("cancel", op_id)`` / ``("abort", op_id)``: the operation's own ``cancel()`` (C-CANCEL
  now, A-ABORT after the grace period, timed here) / ``abort()``; ``("gone", op_id)``: its
  consumer stopped iterating (the operation's A-ABORT for a consumer gone).
* ``("close", wait)``: abort what still runs, close the Courier (``wait`` as
  ``Courier.close``), end the process.

Events (lists of tuples): ``("items", op_id, [FindMatch | MoveProgress, ...])`` as the
operation hands them over; ``("end", op_id, result, info)`` with the FindResult, MoveResult
or EchoResult and ``info`` = ``{"peer_implementation": (uid, version), "cancel_requested":
bool}``; ``("raised", op_id, exception)`` for what the call raised (an echo's CourierError,
or a bug); ``("arrival", op_id, Arrival)`` / ``("refusal", op_id, StoreRefusal)`` for each
image a C-GET wrote or refused, before its ``end``. Nothing else is written to the pipe.
The window's end closing (its process gone) is taken as ``close`` without waiting: the
process never outlives the window.

Runs on: the worker process only (its loop thread, one thread reading commands, one
writing events).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import pickle
import queue
import signal
import threading
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dicom_courier.core.config.profiles import PacsNode
    from dicom_courier.core.dimse.engine import Courier

#: Seconds the worker waits for aborted operations to end before it closes anyway.
CLOSE_ABORT_WAIT = 3.0
#: At most this many events go into one pipe message.
_EVENTS_PER_MESSAGE = 500
#: Seconds between "still alive" events while the worker has nothing else to send.
HEARTBEAT = 1.0
_PICKLE_ERRORS = (pickle.PicklingError, TypeError, AttributeError, RecursionError)

Message = tuple[Any, ...]


def serve(conn: Connection, max_workers: int, cancel_grace: float) -> None:
    """The worker process's entry: serve ``conn`` until told to close (or the window is gone).

    ``max_workers`` and ``cancel_grace`` (seconds) are the Courier's. Ctrl+C in the terminal
    reaches every process of the group: the window decides what it means (it closes, which
    closes this process), so SIGINT is ignored here.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    asyncio.run(_Worker(conn, max_workers, cancel_grace).main())


class _Worker:
    """One Courier, the operations it runs for the window (by the window's op id)."""

    def __init__(self, conn: Connection, max_workers: int, cancel_grace: float) -> None:
        self._conn = conn
        self._max_workers = max_workers
        self._cancel_grace = cancel_grace
        self._outbox: queue.SimpleQueue[Message | None] = queue.SimpleQueue()
        self._operations: dict[int, Any] = {}
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._courier: Courier | None = None
        self._closing: asyncio.Task[None] | None = None

    async def main(self) -> None:
        from dicom_courier.core.dimse.engine import Courier  # the engine loads here only

        loop = asyncio.get_running_loop()
        self._courier = Courier(self._max_workers, cancel_grace=self._cancel_grace)
        gc.collect()  # the engine's imports stay out of every full GC pass from here on
        gc.freeze()   # (as core.process_tuning.freeze_start_up does in the window)
        stopped = asyncio.Event()
        self._stopped = stopped
        writer = threading.Thread(target=self._write, name="engine-events", daemon=True)
        writer.start()
        reader = threading.Thread(target=self._read, args=(loop,), name="engine-commands",
                                  daemon=True)
        reader.start()
        await stopped.wait()
        self._outbox.put(None)
        await asyncio.to_thread(writer.join, 2.0)

    # ---------------------------------------------------------------- the pipe

    def _read(self, loop: asyncio.AbstractEventLoop) -> None:
        """Runs on: the command thread. Hands each command to the loop, in order."""
        try:
            while True:
                for command in self._conn.recv():
                    loop.call_soon_threadsafe(self._handle, command)
        except (EOFError, OSError):  # the window's end is closed: its process is gone
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._handle, ("close", False))

    def _write(self) -> None:
        """Runs on: the event thread. Sends what the loop posted, many events per message."""
        while True:
            try:
                first = self._outbox.get(timeout=HEARTBEAT)
            except queue.Empty:  # nothing to say: say that we are alive (the window's
                first = ("beat", 0)  # reader ends a worker that stops answering)
            if first is None:
                return
            events = [first]
            while len(events) < _EVENTS_PER_MESSAGE:
                try:
                    event = self._outbox.get_nowait()
                except queue.Empty:
                    break
                if event is None:
                    self._send(events)
                    return
                events.append(event)
            if not self._send(events):
                return

    def _send(self, events: list[Message]) -> bool:
        """Runs on: the event thread. False once the window's end is gone."""
        try:
            try:
                self._conn.send(events)
            except _PICKLE_ERRORS:  # one event cannot cross: send the others, and say so
                for event in events:
                    try:
                        self._conn.send([event])
                    except _PICKLE_ERRORS as exc:
                        self._conn.send([("raised", event[1], RuntimeError(
                            f"the engine process could not hand over its answer "
                            f"({type(exc).__name__}: {exc})"))])
        except OSError:
            return False
        return True

    def _post(self, event: Message) -> None:
        self._outbox.put(event)

    # ---------------------------------------------------------------- commands

    def _handle(self, command: Message) -> None:
        """Runs on: the worker's loop thread."""
        kind = command[0]
        courier = self._courier
        assert courier is not None
        if kind == "find":
            from dicom_courier.core.qr.query import FindQuery

            _, op_id, pacs, (level, model, keys), options = command
            self._stream(op_id, courier.find(pacs, FindQuery(level, model, keys), **options))
        elif kind == "move":
            _, op_id, pacs, request = command
            self._stream(op_id, courier.move(pacs, request))
        elif kind == "get":
            self._stream(command[1], self._get(courier, *command[1:]))
        elif kind == "echo":
            self._start(command[1], self._echo(command[1], command[2]))
        elif kind in ("cancel", "abort"):
            operation = self._operations.get(command[1])
            if operation is not None:
                getattr(operation, kind)()
            elif kind == "abort" and command[1] in self._tasks:  # an echo
                self._tasks[command[1]].cancel()
        elif kind == "gone":
            task = self._tasks.get(command[1])
            if task is not None:
                task.cancel()
        elif kind == "close" and self._closing is None:
            self._closing = asyncio.get_running_loop().create_task(self._close(command[1]))

    def _get(self, courier: Courier, op_id: int, pacs: PacsNode, request: Any, folder: Any,
             our_aet: str, max_instance_mb: int | None = None) -> Any:
        """A C-GET whose arrivals and refusals cross the pipe as they happen (posted from
        its DIMSE worker thread, in order before its end)."""
        from dicom_courier.core.dimse.arrival_hub import ArrivalHub

        hub = ArrivalHub()
        hub.subscribe(lambda arrival: self._post(("arrival", op_id, arrival)))
        hub.subscribe_refusals(lambda refusal: self._post(("refusal", op_id, refusal)))
        return courier.get(pacs, request, folder=folder, our_aet=our_aet, hub=hub,
                           max_instance_mb=max_instance_mb)

    def _start(self, op_id: int, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work, name=f"engine-op-{op_id}")
        self._tasks[op_id] = task
        task.add_done_callback(lambda _task: self._forget(op_id))

    def _forget(self, op_id: int) -> None:
        self._tasks.pop(op_id, None)
        self._operations.pop(op_id, None)

    def _stream(self, op_id: int, operation: Any) -> None:
        self._operations[op_id] = operation
        self._start(op_id, self._run(op_id, operation))

    async def _run(self, op_id: int, operation: Any) -> None:
        """Iterate one find or move, posting its batches, then its result."""
        try:
            async for batch in operation.batches():
                self._post(("items", op_id, batch))
            info = {"peer_implementation": operation.control.peer_implementation,
                    "cancel_requested": operation.cancel_requested}
            self._post(("end", op_id, operation.result, info))
        except asyncio.CancelledError:
            raise  # the window stopped listening ("gone"): nobody waits for an answer
        except Exception as exc:  # noqa: BLE001 - a bug, raised again in the window
            self._post(("raised", op_id, exc))

    async def _echo(self, op_id: int, pacs: PacsNode) -> None:
        assert self._courier is not None
        try:
            result = await self._courier.echo(pacs)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - its CourierError (or a bug), for the window
            self._post(("raised", op_id, exc))
        else:
            self._post(("end", op_id, result, {}))

    async def _close(self, wait: bool) -> None:
        """Abort what still runs (the window is closing), let it end, close the Courier."""
        courier = self._courier
        assert courier is not None
        for operation in list(self._operations.values()):
            operation.abort()
        for op_id, task in list(self._tasks.items()):
            if op_id not in self._operations:
                task.cancel()  # an echo: cancelling it aborts its association
        if self._tasks:
            await asyncio.wait(list(self._tasks.values()), timeout=CLOSE_ABORT_WAIT)
        await asyncio.to_thread(courier.close, wait=wait)
        self._stopped.set()
