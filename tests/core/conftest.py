"""Fixtures shared by the receiver's tests (test_receiver, test_store_reader,
test_receiver_limits): the hub a receiver publishes into, and what it heard."""

from __future__ import annotations

import pytest

from dicom_courier.core.dimse.arrival_hub import ArrivalHub
from tests.core.test_receiver import Seen


@pytest.fixture
def hub() -> ArrivalHub:
    return ArrivalHub()


@pytest.fixture
def seen(hub: ArrivalHub) -> Seen:
    return Seen(hub)
