"""Issue 12 §2: start-up's objects leave the garbage collector's full passes, nothing else does.

``freeze_start_up`` runs once after the first paint (gui/app.py): what is alive then is frozen
(``gc.freeze``), so a full collection no longer walks it (a 25-175 ms stall of the window,
measured). What comes later (a search's rows, cleared from the grid) must still be collected:
freezing must never become a leak.
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from dicom_courier.core import process_tuning


class Row:
    """A stand-in for anything made after start-up that holds a reference cycle."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture(autouse=True)
def thawed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts unfrozen and leaves the test process as it found it."""
    monkeypatch.setattr(process_tuning, "_frozen", False)
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_start_up_is_frozen_once_after_its_last_step() -> None:
    steps: list[str] = []
    start_up_object = Row()
    frozen = process_tuning.freeze_start_up(lambda: steps.append("engine loaded"))
    assert steps == ["engine loaded"]
    assert frozen > 1000 and gc.get_freeze_count() > 1000
    assert start_up_object.me is start_up_object
    # A second call (another first paint) freezes nothing more: rows alive by then stay
    # collectable.
    later = Row()
    assert process_tuning.freeze_start_up(lambda: steps.append("again")) == 0
    assert steps == ["engine loaded", "again"]
    assert gc.get_freeze_count() <= frozen  # (frozen objects may still die by refcount)
    alive = weakref.ref(later)
    del later
    gc.collect()
    assert alive() is None


def test_what_arrives_after_start_up_is_still_collected() -> None:
    process_tuning.freeze_start_up()
    rows = [Row() for _ in range(1000)]  # a search's rows
    refs = [weakref.ref(row) for row in rows]
    del rows  # the grid is cleared
    gc.collect()
    assert all(ref() is None for ref in refs)


def test_a_failed_start_up_step_freezes_nothing() -> None:
    def broken() -> None:
        raise RuntimeError("engine failed to load")

    with pytest.raises(RuntimeError):
        process_tuning.freeze_start_up(broken)
    assert gc.get_freeze_count() == 0
