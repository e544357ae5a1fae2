"""The window's one :class:`~dicom_courier.core.dimse.engine.Courier`, built when first needed.

Importing the DIMSE engine loads pynetdicom and pydicom (about half of the window's start
before issue 12). Nothing the window shows first needs them: the engine is first used when a
person searches, sends or tests a PACS, or when a queued send starts. So the window is
composed over a :class:`DeferredCourier`, which imports the engine and builds the real
Courier on its first use, or earlier: :func:`after_first_paint` runs :meth:`warm_up` as soon
as the window has been painted. Everything else (echo, find, move, ``running``,
``close``) is the real Courier's, with the same arguments, results and errors.

``engine``: :data:`~dicom_courier.core.dimse.engine_choice.THREAD` builds a
:class:`~dicom_courier.core.dimse.engine.Courier` (DIMSE threads in this process);
:data:`~dicom_courier.core.dimse.engine_choice.PROCESS` a
:class:`~dicom_courier.core.dimse.process_courier.ProcessCourier`, whose engine process
:meth:`DeferredCourier.warm_up` starts (issue 12 §2: the window never waits for the network).

Runs on: the GUI thread (the qasync loop).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QObject, QTimer

from dicom_courier.core.dimse.engine_choice import PROCESS, THREAD

if TYPE_CHECKING:
    from dicom_courier.core.config.profiles import PacsNode
    from dicom_courier.core.dimse.engine import Courier
    from dicom_courier.core.dimse.find import FindOperation
    from dicom_courier.core.dimse.move import MoveOperation
    from dicom_courier.core.dimse.process_courier import (
        ProcessCourier,
        RemoteFind,
        RemoteMove,
        RemoteOperations,
    )
    from dicom_courier.core.dimse.running import RunningOperations
    from dicom_courier.core.outcome.events import EchoResult
    from dicom_courier.core.qr.query import FindQuery, MoveRequest


class DeferredCourier:
    """A Courier that imports the engine and starts its worker pool on first use.

    ``max_workers`` and ``cancel_grace`` (seconds) are passed to the Courier unchanged;
    ``engine`` (:data:`THREAD` or :data:`PROCESS`) says which one is built. Closing one that
    was never used does nothing (there is no pool or process to shut down).
    """

    def __init__(self, max_workers: int = 8, *, cancel_grace: float = 5.0,
                 engine: str = THREAD) -> None:
        if engine not in (THREAD, PROCESS):
            raise ValueError(f"engine must be {THREAD!r} or {PROCESS!r}, not {engine!r}")
        self._max_workers = max_workers
        self.cancel_grace = cancel_grace
        self.engine = engine
        self._real: Courier | ProcessCourier | None = None
        self._closed = False

    @property
    def loaded(self) -> bool:
        """True once the real Courier exists (the engine is imported)."""
        return self._real is not None

    def load(self) -> Courier | ProcessCourier:
        """The real Courier, imported and built now if it was not yet (about 0.1-0.2 s once).

        Raises RuntimeError after :meth:`close` (a closed Courier takes no more work)."""
        if self._real is None:
            if self._closed:
                raise RuntimeError("the Courier was closed")
            if self.engine == PROCESS:
                from dicom_courier.core.dimse.process_courier import ProcessCourier

                self._real = ProcessCourier(self._max_workers, cancel_grace=self.cancel_grace)
            else:
                from dicom_courier.core.dimse.engine import Courier

                self._real = Courier(self._max_workers, cancel_grace=self.cancel_grace)
        return self._real

    def warm_up(self) -> None:
        """Load the engine now unless the Courier was closed (the window closed first); with
        the process engine, start its process and import here what its answers unpickle
        into (so the first search's answers are not held up by imports)."""
        if self._closed:
            return
        real = self.load()
        if self.engine == PROCESS:
            import dicom_courier.core.dimse.destination_check  # noqa: F401 (its verdicts)
            import dicom_courier.core.dimse.find  # noqa: F401 (FindResult, SearchCutShort)

            real.start()  # type: ignore[union-attr]

    @property
    def running(self) -> RunningOperations | RemoteOperations:
        """The real Courier's running finds and moves (see ``Courier.running``)."""
        return self.load().running

    async def echo(self, pacs: PacsNode) -> EchoResult:
        """``Courier.echo``: C-ECHO (PS3.7 9.1.5); the same result and errors."""
        return await self.load().echo(pacs)

    def find(self, pacs: PacsNode, query: FindQuery, **options: Any
             ) -> FindOperation | RemoteFind:
        """``Courier.find``: C-FIND (PS3.4 C.4.1) with the same keyword options."""
        return self.load().find(pacs, query, **options)

    def move(self, pacs: PacsNode, request: MoveRequest) -> MoveOperation | RemoteMove:
        """``Courier.move``: C-MOVE (PS3.4 C.4.2)."""
        return self.load().move(pacs, request)

    def get(self, pacs: PacsNode, request: MoveRequest, **options: Any) -> Any:
        """``Courier.get``: C-GET (PS3.4 C.4.3) into ``folder`` (keyword options ``folder``,
        ``our_aet``, ``hub`` as the real Courier takes them; issue 13 §2)."""
        return self.load().get(pacs, request, **options)  # type: ignore[union-attr]

    def close(self, *, wait: bool = True) -> None:
        """``Courier.close`` if it was built; nothing to do otherwise."""
        self._closed = True
        if self._real is not None:
            self._real.close(wait=wait)

    def __enter__(self) -> DeferredCourier:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.close(wait=exc_type is None)


class _FirstPaint(QObject):
    """Calls ``then`` once, on the loop turn after ``widget``'s first paint event."""

    def __init__(self, widget: QObject, then: Callable[[], object]) -> None:
        super().__init__(widget)
        self._then = then
        self._done = False

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        if not self._done and event.type() == QEvent.Type.Paint:
            self.fire()
        return False

    def fire(self) -> None:
        if self._done:
            return
        self._done = True
        self.parent().removeEventFilter(self)
        QTimer.singleShot(0, self._then)


def after_first_paint(widget: QObject, then: Callable[[], object], *,
                      at_most_ms: int = 2000) -> None:
    """Run ``then`` once on the GUI thread, right after ``widget`` is first painted, or after
    ``at_most_ms`` milliseconds if it is not painted by then (a window opened minimised)."""
    spy = _FirstPaint(widget, then)
    widget.installEventFilter(spy)
    QTimer.singleShot(at_most_ms, spy, spy.fire)
