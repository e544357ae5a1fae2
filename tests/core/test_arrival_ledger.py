"""The arrival ledger: which instances the receiver wrote belong to which send to this computer.

No socket, no receiver: arrivals are published on a small in-test hub from worker threads,
as the receiver's association threads do, and the ledger hands them to the loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

from dicom_courier.core.jobs.arrivals import ArrivalLedger
from dicom_courier.core.outcome.arrival import Arrival
from dicom_courier.core.qr.query import MoveTarget

STUDY = "1.2.826.0.1.3680043.8.498.1"
OTHER_STUDY = "1.2.826.0.1.3680043.8.498.2"
SERIES_A = f"{STUDY}.1"
SERIES_B = f"{STUDY}.2"


class Hub:
    """The ArrivalHub's subscribe/publish surface (callbacks run on the publishing thread)."""

    def __init__(self) -> None:
        self.callbacks: list[Callable[[Arrival], None]] = []

    def subscribe(self, callback: Callable[[Arrival], None]) -> Callable[[], None]:
        self.callbacks.append(callback)
        return lambda: self.callbacks.remove(callback)

    def publish(self, arrival: Arrival) -> None:
        for callback in list(self.callbacks):
            callback(arrival)

    def publish_from_thread(self, arrivals: list[Arrival]) -> None:
        worker = threading.Thread(target=lambda: [self.publish(a) for a in arrivals])
        worker.start()
        worker.join()


def arrival(sop: str, *, study: str = STUDY, series: str = SERIES_A) -> Arrival:
    return Arrival(calling_aet="MAINPACS", patient_id="PAT-1", study_uid=study,
                   series_uid=series, sop_uid=sop, sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
                   path=f"/data/received/PAT-1/{study}/{series}/{sop}.dcm", size=1024)


async def settle(ledger: ArrivalLedger) -> None:
    """Let the thread-to-loop hop run, then count what was handed over."""
    await asyncio.sleep(0)
    ledger.flush()


def test_distinct_instances_counted_per_send_and_duplicates_once() -> None:
    hub = Hub()
    heard: list[tuple[int, int]] = []

    async def scenario() -> tuple[int, str | None]:
        ledger = ArrivalLedger(hub, interval=0.0)
        ledger.track(1, MoveTarget(STUDY), lambda job, n: heard.append((job, n)))
        hub.publish_from_thread([arrival(f"{STUDY}.1.{i}") for i in range(5)])
        hub.publish_from_thread([arrival(f"{STUDY}.1.{i}") for i in range(3)])  # again
        hub.publish_from_thread([arrival(f"{OTHER_STUDY}.1.1", study=OTHER_STUDY)])
        await settle(ledger)
        count, folder = ledger.received(1), ledger.folder(1)
        ledger.close()
        return count, folder

    count, folder = asyncio.run(scenario())
    assert count == 5  # five distinct instances; the resent three and the other study: not
    assert heard[-1] == (1, 5)
    assert folder == f"/data/received/PAT-1/{STUDY}"  # the study folder, for "Open folder"
    assert hub.callbacks == []  # close() unsubscribed


def test_two_sends_of_one_study_each_count_their_own_arrivals() -> None:
    """The second send starts after three instances came for the first: it counts only what
    arrives from then on (an instance sent again for it counts for it too)."""
    hub = Hub()

    async def scenario() -> tuple[int, int]:
        ledger = ArrivalLedger(hub, interval=0.0)
        ledger.track(1, MoveTarget(STUDY), lambda _job, _n: None)
        hub.publish_from_thread([arrival(f"{STUDY}.1.{i}") for i in range(3)])
        await settle(ledger)
        ledger.track(2, MoveTarget(STUDY), lambda _job, _n: None)
        hub.publish_from_thread([arrival(f"{STUDY}.1.{i}") for i in range(2, 6)])
        await settle(ledger)
        return ledger.received(1), ledger.received(2)

    assert asyncio.run(scenario()) == (6, 4)


def test_a_series_send_counts_its_series_and_an_image_send_its_images() -> None:
    hub = Hub()

    async def scenario() -> tuple[int, int]:
        ledger = ArrivalLedger(hub, interval=0.0)
        ledger.track(1, MoveTarget(STUDY, series_uids=(SERIES_B,)), lambda _j, _n: None)
        ledger.track(2, MoveTarget(STUDY, series_uids=(SERIES_A,),
                                   sop_uids=(f"{SERIES_A}.7", f"{SERIES_A}.8")),
                     lambda _j, _n: None)
        hub.publish_from_thread(
            [arrival(f"{SERIES_A}.{i}") for i in range(1, 10)]
            + [arrival(f"{SERIES_B}.{i}", series=SERIES_B) for i in range(1, 4)])
        await settle(ledger)
        return ledger.received(1), ledger.received(2)

    assert asyncio.run(scenario()) == (3, 2)


def test_counts_are_told_coalesced_and_the_last_count_always_arrives() -> None:
    """A burst of 200 arrivals is one hop to the loop and a few tellings, not 200; the last
    count is told once the interval has passed."""
    hub = Hub()
    heard: list[int] = []

    async def scenario() -> None:
        all_told = asyncio.Event()

        def sink(_job: int, count: int) -> None:
            heard.append(count)
            if count == 200:
                all_told.set()

        ledger = ArrivalLedger(hub, interval=0.05)
        ledger.track(1, MoveTarget(STUDY), sink)
        for i in range(200):
            hub.publish_from_thread([arrival(f"{STUDY}.1.{i}")])
            if i % 50 == 0:
                await asyncio.sleep(0)
        await all_told.wait()  # told by the ledger's own timer, no flush

    asyncio.run(asyncio.wait_for(scenario(), 5))
    assert heard[-1] == 200 and len(heard) < 10
    assert heard == sorted(heard)


def test_arrivals_for_no_send_are_dropped_and_untrack_stops_counting() -> None:
    hub = Hub()

    async def scenario() -> int:
        ledger = ArrivalLedger(hub, interval=0.0)
        hub.publish(arrival(f"{STUDY}.1.1"))  # before any send: not kept
        ledger.track(1, MoveTarget(STUDY), lambda _j, _n: None)
        ledger.untrack(1)
        hub.publish_from_thread([arrival(f"{STUDY}.1.2")])
        await settle(ledger)
        return ledger.received(1)

    assert asyncio.run(scenario()) == 0
