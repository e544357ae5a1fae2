"""Ctrl-C while ``find`` runs or ``move`` looks up its targets: the one cancel of issue 9 §4.

The first Ctrl-C cancels every running operation of the command's :class:`Courier` through
:meth:`.operation.DimseOperation.cancel` (C-CANCEL now, A-ABORT after the grace period, so a
PACS that ignores C-CANCEL cannot hold the terminal); operations created afterwards stop
before they send anything. The second Ctrl-C aborts at once. ``move`` itself keeps its own
handler (:class:`.move_cmd.MoveRunner`), which calls the same method on the running move.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # types only: the engine (pynetdicom) loads when a send starts
    from dicom_courier.core.dimse.engine import Courier


class Interrupt:
    """What Ctrl-C did to one command: ``pressed`` once the first one came."""

    def __init__(self, courier: Courier) -> None:
        self.courier = courier
        self.pressed = False

    def first(self) -> None:
        """C-CANCEL to every running operation, each with the grace period."""
        self.pressed = True
        from dicom_courier.core.cli.render import stderr  # rich: only once Ctrl-C is pressed
        from dicom_courier.core.cli.safe_text import literal

        if self.courier.running.cancel_all():
            stderr.print(literal(
                f"Cancelling: C-CANCEL sent, waiting up to {self.courier.cancel_grace:g} s "
                "for the PACS to confirm (Ctrl-C again to abort now)…"))
        else:
            stderr.print(literal("Cancelling…"))

    def second(self) -> None:
        """A-ABORT now."""
        self.courier.running.abort_all()


@contextmanager
def _ctrl_c_cancels(on_first: Callable[[], None], on_second: Callable[[], None]) -> Any:
    """First Ctrl-C: cancel politely. Second: abort now. Restores the handler afterwards.
    (Shared with ``move`` and ``queue run``, which import it from here.)"""
    loop = asyncio.get_running_loop()
    presses = 0

    def handler() -> None:
        nonlocal presses
        presses += 1
        (on_first if presses == 1 else on_second)()

    try:
        loop.add_signal_handler(signal.SIGINT, handler)
        installed = True
    except (NotImplementedError, RuntimeError):
        installed = False
    try:
        yield
    finally:
        if installed:
            loop.remove_signal_handler(signal.SIGINT)


@contextmanager
def ctrl_c_cancels_all(courier: Courier) -> Iterator[Interrupt]:
    """Within the block, Ctrl-C cancels (then aborts) ``courier``'s operations; yields the
    :class:`Interrupt` to read ``pressed`` from afterwards. Runs on: the asyncio loop."""
    interrupt = Interrupt(courier)
    with _ctrl_c_cancels(interrupt.first, interrupt.second):
        yield interrupt
