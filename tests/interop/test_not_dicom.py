"""A port that is not DICOM (a web port, a silent service) is named as such, within our
timeouts, and a cancel or deadline during connection set-up ends it at once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from dicom_courier.core.config.profiles import PacsNode, Timeouts
from dicom_courier.core.dimse.engine import Courier
from dicom_courier.core.outcome.errors import AssociationAborted, Cancelled, DeadlineExceeded
from dicom_courier.core.outcome.events import MoveOutcome
from dicom_courier.core.qr.query import FindQuery, MoveRequest, MoveTarget
from tests.fakes.misbehaving import SilentListener
from tests.interop.conftest import run


@pytest.fixture
def silent() -> Iterator[SilentListener]:
    with SilentListener() as listener:
        yield listener


def _node(port: int, **timeouts: float) -> PacsNode:
    return PacsNode(name="p", called_aet="PACS", host="127.0.0.1", port=port,
                    timeouts=Timeouts(**{"connect": 2, "idle": 30, **timeouts}))


def test_orthanc_web_port_is_named_as_not_dicom(courier: Courier, orthanc: Any) -> None:
    with pytest.raises(AssociationAborted) as info:
        run(courier.echo(_node(orthanc.http_port)))
    assert f"127.0.0.1:{orthanc.http_port} does not answer like a DICOM service" in \
        info.value.title
    assert "not its web port" in info.value.action


def test_silent_port_ends_at_the_idle_timeout(courier: Courier, silent: Any) -> None:
    started = time.monotonic()
    with pytest.raises(AssociationAborted) as info:
        run(courier.echo(_node(silent.port, idle=1.5)))
    assert time.monotonic() - started <= 2.5
    assert "sent no DICOM answer within 1.5 s" in info.value.explanation


def test_deadline_covers_connection_set_up(courier: Courier, silent: Any) -> None:
    async def scenario() -> Any:
        return await courier.move(_node(silent.port, total=1.0),
                                  MoveRequest(MoveTarget("1.2.3"), "X")).run()
    started = time.monotonic()
    result = run(scenario())
    assert time.monotonic() - started <= 2.0
    assert isinstance(result.error, DeadlineExceeded)


def test_cancel_during_connection_set_up_ends_at_once(courier: Courier, silent: Any) -> None:
    async def scenario() -> tuple[Any, float]:
        import asyncio

        op = courier.find(_node(silent.port), FindQuery(), raise_on_error=False)
        task = asyncio.ensure_future(op.run())
        await asyncio.sleep(0.5)
        cancelled_at = time.monotonic()
        op.cancel()
        result = await task
        return result, time.monotonic() - cancelled_at
    result, took = run(scenario())
    assert took < 1.0
    assert result.cancelled and result.error is None

    async def move() -> Any:
        import asyncio

        op = courier.move(_node(silent.port), MoveRequest(MoveTarget("1.2.3"), "X"))
        task = asyncio.ensure_future(op.run())
        await asyncio.sleep(0.5)
        op.cancel()
        return await task
    moved = run(move())
    assert moved.outcome is MoveOutcome.CANCELLED
    assert isinstance(moved.error, Cancelled)
    assert "Stopped before anything was sent" in moved.error.title
