"""What "Retry" offers for a finished send, and whether it can help at all (Qt-free).

The failure dialog's Retry button and the window's handling of it both read
:func:`retry_choice`, so the button says what the click does and the click does what it said:

* **The failed images only** (:attr:`RetryKind.FAILED_IMAGES`): a partial send whose PACS
  listed every failed image (Failed SOP Instance UID List, PS3.4 C.4.2.1.4.2) and left no
  image unsent. Exactly those images are sent again (``MoveQueue.retry_failed_only``).
* **The whole send** (:attr:`RetryKind.WHOLE`): a partial send without a complete list (an
  image it cannot name would otherwise be missed), or a failure that may pass by itself, as
  the error catalogue says (:attr:`CourierError.retryable`, the same flag
  :class:`.retry.RetryPolicy` retries automatically by): timeouts, a refused or busy
  association, network errors, the PACS out of resources (0xA7xx), a destination that did not
  answer (:class:`~..dimse.destination_check.DestinationDown`).
* **Nothing** (:attr:`RetryKind.NONE`): the same request fails the same way until someone
  fixes the cause, e.g. 0xA801 (the PACS does not know the destination: its administrator
  must add it), a permanent association rejection, 0xA900; or every image arrived.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from dicom_courier.core.outcome.events import MoveOutcome, MoveResult


class RetryKind(StrEnum):
    """What a retry of a finished send re-sends."""

    NONE = "none"
    WHOLE = "whole"
    FAILED_IMAGES = "failed_images"


@dataclass(frozen=True)
class RetryChoice:
    """``kind``; ``label``: the button's words; ``reason``: one sentence for its tooltip."""

    kind: RetryKind
    label: str
    reason: str

    @property
    def helps(self) -> bool:
        """True when retrying can help (the button is enabled)."""
        return self.kind is not RetryKind.NONE


def failed_images_listed(result: MoveResult) -> tuple[str, ...] | None:
    """The failed images' SOP Instance UIDs when they are all the send missed, else None.

    All means: the PACS counted ``failed`` > 0 images, its list names at least that many
    distinct UIDs, and no image was left unsent (total known and sent + failed == total).
    """
    uids = tuple(dict.fromkeys(u for u in result.failed_sop_uids if u))
    if not result.counts_reported or not result.completed_reported or result.failed <= 0:
        return None
    if len(uids) < result.failed or result.total is None:
        return None
    if result.sent + result.failed != result.total:
        return None
    return uids


def retry_choice(result: MoveResult | None) -> RetryChoice:
    """What a retry of a send that ended with ``result`` re-sends (see the module docstring).

    ``result`` None (the send has not ended): nothing to retry. Never raises.
    """
    if result is None:
        return RetryChoice(RetryKind.NONE, "Retry", "The send has not ended yet.")
    outcome = result.outcome
    if outcome in (MoveOutcome.COMPLETED, MoveOutcome.COMPLETED_WITH_WARNINGS):
        return RetryChoice(RetryKind.NONE, "Retry", "Every image arrived: nothing to retry.")
    if outcome is MoveOutcome.CANCELLED:
        return RetryChoice(RetryKind.WHOLE, "Send again", "Queue the same send again.")
    if outcome is MoveOutcome.PARTIAL:
        uids = failed_images_listed(result)
        if uids is not None:
            noun = "image" if len(uids) == 1 else "images"
            return RetryChoice(RetryKind.FAILED_IMAGES, f"Retry the {len(uids)} failed {noun}",
                               f"Send only the {len(uids)} {noun} that did not arrive at "
                               f"{result.destination}; the {result.sent} that arrived are "
                               "not sent again.")
        return RetryChoice(RetryKind.WHOLE, "Send everything again",
                           "The PACS did not name every image that did not arrive, so the "
                           "whole send is repeated (images that arrived are sent again).")
    error = result.error
    if error is None or error.retryable:
        return RetryChoice(RetryKind.WHOLE, "Retry",
                           "Queue the same send again: this kind of fault often passes.")
    return RetryChoice(RetryKind.NONE, "Retry",
                       "Retrying will not help until the cause is fixed (see \"What to do\").")
