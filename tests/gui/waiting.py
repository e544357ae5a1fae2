"""GUI tests wait with the one polling helper of the suite (:mod:`tests.waiting`)."""

from tests.waiting import until, wait_until

__all__ = ["until", "wait_until"]
