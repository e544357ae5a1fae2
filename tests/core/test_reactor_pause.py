"""Two sends at once from the demo PACS both finish: a DIMSE response is never lost to
pynetdicom's reactor (:mod:`dicom_courier.core.dimse.reactor_pause`).

The flake this pins (tests/gui/test_window_durability.py, STAT send): under CPU load one of
two concurrent moves stopped at "10 of 30" for 30 s. The demo PACS's move handler was waiting
in ``send_c_store`` for a C-STORE response that its sub-association's reactor had taken off the
queue and dropped. The reactor wins that race when its thread is descheduled right after it
wakes from its pause checkpoint; ``_LateWaker`` makes that happen every time (20 ms), so the
race is hit on nearly every C-STORE instead of once in a few hundred moves.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pynetdicom.association import Association
from pynetdicom.dimse import DIMSEServiceProvider

from dicom_courier.core.config.profiles import PacsNode, Timeouts
from dicom_courier.core.demo.pacs import DemoPacs
from dicom_courier.core.demo.synthetic import StudySpec
from dicom_courier.core.demo.workstation import Workstation
from dicom_courier.core.dimse.engine import Courier
from dicom_courier.core.dimse.reactor_pause import install_reactor_pause_fix
from dicom_courier.core.outcome.events import MoveOutcome, MoveResult
from dicom_courier.core.qr.query import MoveRequest, MoveTarget

SPECS = [StudySpec(key=f"race-{n}", patient_name=f"Race^{n}", patient_id=f"R{n}",
                   series_count=1, instances_per_series=30) for n in (1, 2)]
ROUNDS = 2  # of two moves at once


class _LateWaker(threading.Event):
    """A reactor checkpoint whose waiter runs 20 ms late after being woken from a pause, as a
    thread on a busy machine does: the window in which pynetdicom's reactor can take a
    response. A wait that did not block (a reactor nobody paused) is not delayed."""

    def wait(self, timeout: float | None = None) -> bool:
        paused = not self.is_set()
        woken = super().wait(timeout)
        if paused:
            time.sleep(0.02)
        return woken


@pytest.fixture
def late_reactors(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every association created in this test gets a late-waking reactor checkpoint."""
    original = Association.__init__

    def init(self: Association, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self._reactor_checkpoint = _LateWaker()
        self._reactor_checkpoint.set()

    monkeypatch.setattr(Association, "__init__", init)


@pytest.fixture
def node(tmp_path: Path) -> Iterator[PacsNode]:
    """The demo PACS (no store delay, as in the window tests) and its workstation."""
    with Workstation(tmp_path / "ws", ae_title="WS") as ws, DemoPacs(
            SPECS, destinations={"WS": ("127.0.0.1", ws.port)}, store_delay=0.0) as pacs:
        # A lost C-STORE response would hold the PACS's send for its 30 s DIMSE timeout;
        # our idle timeout ends the move well before that.
        yield PacsNode(name="demo", called_aet=pacs.ae_title, host="127.0.0.1",
                       port=pacs.port, timeouts=Timeouts(connect=5, idle=3))


async def _move(courier: Courier, node: PacsNode, spec: StudySpec) -> MoveResult:
    operation = courier.move(node, MoveRequest(MoveTarget(spec.study_uid), "WS"))
    async for _ in operation:
        pass
    assert operation.result is not None
    return operation.result


def test_the_fix_is_installed_with_the_rest_of_our_pynetdicom_setup() -> None:
    with Courier():
        pass
    assert install_reactor_pause_fix()
    assert hasattr(DIMSEServiceProvider.get_msg, "__wrapped__")


@pytest.mark.network
def test_two_concurrent_moves_from_the_demo_pacs_both_complete(
        node: PacsNode, late_reactors: None) -> None:
    async def scenario() -> list[MoveResult]:
        results = []
        with Courier() as courier:
            for _ in range(ROUNDS):
                results += await asyncio.gather(*(_move(courier, node, spec) for spec in SPECS))
        return results

    results = asyncio.run(scenario())

    # Without the fix: ('failed', 16, 0) after the 3 s idle timeout, the PACS stuck mid-way.
    assert [(r.outcome, r.completed, r.failed) for r in results] == \
        [(MoveOutcome.COMPLETED, 30, 0)] * (2 * ROUNDS)
