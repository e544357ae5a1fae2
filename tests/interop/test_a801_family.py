"""Real dcmqrscp: 0xA801 means "not in my HostTable", even when the destination is also down.

dcmqrscp answers 0xA801 only when it cannot map the AE title (``mapMoveDestination``); a
listed destination that is down gets 0xA702 (tests/interop/test_move.py). So an 0xA801 with a
destination that does not answer our echo either says both facts and is never retried.
"""

from __future__ import annotations

from typing import Any

from dicom_courier.core.config.profiles import Destination
from dicom_courier.core.dimse.destination_check import DestinationUnknown
from dicom_courier.core.dimse.engine import Courier
from dicom_courier.core.jobs.retry import RetryPolicy
from dicom_courier.core.outcome.events import MoveOutcome
from dicom_courier.core.qr.query import MoveTarget
from tests.interop.conftest import node_for
from tests.interop.test_move import SPEC, _move


def test_a801_from_dcmqrscp_for_a_down_destination_says_both_and_is_not_retried(
        courier: Courier, dcmqrscp: Any) -> None:
    where = f"127.0.0.1:{dcmqrscp.dead_port}"
    node = node_for(dcmqrscp, destinations=(
        Destination("NOSUCHWS", "127.0.0.1", dcmqrscp.dead_port),))
    _, result = _move(courier, node, MoveTarget(SPEC.study_uid), "NOSUCHWS")
    assert result.outcome is MoveOutcome.FAILED and result.status == 0xA801
    assert type(result.error) is DestinationUnknown, result.error
    assert result.error.title == (f"DCMQRSCP does not know the destination NOSUCHWS, and "
                                  f"NOSUCHWS does not answer at {where} either.")
    assert "HostTable" in result.error.action
    assert RetryPolicy().next_delay(result, 1) is None
