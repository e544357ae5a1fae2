"""The sub-operation counts of one C-MOVE (PS3.4 C.4.2.1.6, PS3.7 C.4.2.1.6 / Table 9.3-x).

The one place that turns a PACS's responses into progress and final counts, whatever mix of
count elements it sends. Rules (also in ``docs/outcome-table.md``):

* **Absent and empty are the same.** pynetdicom drops a zero-length Number of ... Sub-operations
  element when it builds the status Dataset (``Association._check_received_status`` copies only
  values that are not None), so an empty element reaches us as an absent one. Either means "the
  PACS did not say", never 0.
* **No counts at all is not zero.** :attr:`SubOperationTally.reported` stays False until some
  response carries a count; only explicit zeros mean "nothing matched".
* **Pending totals are provisional.** remaining + completed + failed + warning of the latest
  Pending response; a remaining of 0xFFFF (the largest US value, which some PACS send for "not
  known yet") is read as unknown, so no bar ever shows "2 of 65535".
* **The final response wins.** Its counts replace the Pending estimate, up or down: a final
  0x0000 or Warning status means every sub-operation has finished, so the total is what the
  final response accounts for (completed + failed + warning, plus remaining if it reports any).
  A final 0x0000 that omits the completed count after Pending counts completes the images still
  remaining (0x0000 means none failed). A Failure or Cancel without a remaining count keeps the
  Pending total, so the images never attempted still show as not sent.
* **Counts do not go backwards.** Completed, failed and warning are cumulative (PS3.4
  C.4.2.1.6). A smaller value than one already seen is not taken at face value: the highest is
  kept (the PACS already said those images were handled) and the step back is noted in
  :attr:`SubOperationTally.remarks`, which the result's details show.
* **Progress never overshoots.** A total is never below the images already handled, and the
  "sent" figure never includes failed images.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dicom_courier.core.outcome.events import MoveProgress
from dicom_courier.core.outcome.status import Category, category_of, is_pending

if TYPE_CHECKING:  # a type only: pydicom loads with the engine, after the window's first paint
    from pydicom.dataset import Dataset

#: A remaining count of this value is read as "not known" (see the module docstring).
UNKNOWN_REMAINING = 0xFFFF

_KEYWORDS = (("remaining", "NumberOfRemainingSuboperations"),
             ("completed", "NumberOfCompletedSuboperations"),
             ("failed", "NumberOfFailedSuboperations"),
             ("warning", "NumberOfWarningSuboperations"))


def read_counts(status: Dataset) -> dict[str, int | None]:
    """The four counts of one response: an int, or None when absent or empty (not 0)."""
    out: dict[str, int | None] = {}
    for attr, keyword in _KEYWORDS:
        try:
            value = status.get(keyword)
            out[attr] = None if value is None or value == "" else int(value)
        except (TypeError, ValueError):  # a multi-valued or odd count: not a count
            out[attr] = None
    return out


def finishes_all(code: int) -> bool:
    """True if a final ``code`` says every sub-operation has finished (0x0000 or Warning)."""
    return code == 0x0000 or category_of(code) is Category.WARNING


@dataclass
class SubOperationTally:
    """The running tally of one move, updated from each C-MOVE response.

    ``completed``/``failed``/``warning`` are images (sub-operations); ``total`` is None while
    unknown; ``reported`` is False until any response carried a count.
    Runs on: DIMSE worker thread (one tally per move, never shared).
    """

    remaining: int | None = None
    completed: int = 0
    failed: int = 0
    warning: int = 0
    total: int | None = None
    status: int | None = None
    comment: str | None = None
    failed_uids: tuple[str, ...] = ()
    responses: int = 0
    failed_list_unreadable: bool = False
    reported: bool = False
    #: True when the final response counted failures but not completed images (so the
    #: number that arrived is unknown, never 0).
    completed_unknown: bool = False
    remarks: list[str] = field(default_factory=list)
    last_response_at: float = field(default_factory=time.monotonic)

    @property
    def done(self) -> int:
        """Images the PACS has finished with, whatever their fate."""
        return self.completed + self.failed + self.warning

    @property
    def sent(self) -> int:
        """Images that arrived at the destination (with or without warnings)."""
        return self.completed + self.warning

    def update(self, status: Dataset, identifier: Dataset | None, *,
               cancel_sent: bool = False) -> None:
        """Fold in one response: its Status Dataset and, if any, its identifier.

        ``cancel_sent`` is True once we asked for C-CANCEL (PS3.7 C.4.2.2): a final response
        then accounts only for the images sent before the PACS stopped.
        """
        self.responses += 1
        self.last_response_at = time.monotonic()
        code = self.status = int(status.Status)
        values = read_counts(status)
        if any(v is not None for v in values.values()):
            self.reported = True
        for attr in ("completed", "failed", "warning"):
            self._cumulative(attr, values[attr])
        remaining = values["remaining"]
        if remaining == UNKNOWN_REMAINING:
            self._remark("The PACS gave 65535 (0xFFFF) as the number of remaining images; "
                         "read as unknown.")
            remaining = None
        if is_pending(code):
            self.remaining = remaining
            if remaining is not None:
                self.total = remaining + self.done
        else:
            self._final(code, remaining, values, cancel_sent)
        if self.total is not None and self.total < self.done:
            self.total = self.done
        comment = status.get("ErrorComment")
        if comment:
            self.comment = str(comment)
        if identifier is not None:
            self._failed_list(identifier)

    def _final(self, code: int, remaining: int | None, values: dict[str, int | None],
               cancel_sent: bool) -> None:
        if finishes_all(code):
            if values["completed"] is None and remaining is None and values["failed"]:
                # A final that counts failures but not arrivals: how many of the
                # Pending total arrived is not known (absent is never 0).
                self.completed_unknown = True
                self.remaining = None
                return
            if code == 0x0000 and values["completed"] is None and self.total is not None \
                    and not cancel_sent:
                # 0x0000: every sub-operation finished and none failed; the ones still
                # remaining at the last Pending completed.
                self.completed = max(self.completed, self.total - self.failed - self.warning)
            if remaining is None and (code != 0x0000 or cancel_sent) \
                    and self.total is not None:
                # Not accounted for by the PACS: after our C-CANCEL (whatever the status) or
                # a Warning status, those images were not sent.
                remaining = max(0, self.total - self.done)
            self.remaining = remaining or 0
            if self.reported:
                self.total = self.remaining + self.done
            return
        self.remaining = remaining
        if remaining is not None:
            self.total = remaining + self.done
        elif self.total is None and any(values[a] is not None for a in
                                        ("completed", "failed", "warning")):
            self.total = self.done

    def _cumulative(self, attr: str, value: int | None) -> None:
        if value is None:
            return
        seen = int(getattr(self, attr))
        if value < seen:
            self._remark(f"The PACS's {attr} count went backwards ({seen}, then {value}); "
                         f"the higher is kept.")
            return
        setattr(self, attr, value)

    def _remark(self, text: str) -> None:
        if text not in self.remarks:
            self.remarks.append(text)

    def _failed_list(self, identifier: Dataset) -> None:
        try:
            value = identifier.get("FailedSOPInstanceUIDList")
            uids = [value] if isinstance(value, str) else list(value or [])
        except Exception:  # noqa: BLE001 - anything pydicom raises on a peer's bytes
            uids = []
            self.failed_list_unreadable = True
        if uids:
            self.failed_uids = tuple(str(u) for u in uids if u)

    def progress(self, elapsed: float) -> MoveProgress:
        """The last response as a :class:`MoveProgress` (``elapsed`` in seconds)."""
        code = self.status or 0
        return MoveProgress(remaining=self.remaining, completed=self.completed,
                            failed=self.failed, warning=self.warning, total=self.total,
                            status=code, elapsed=elapsed, is_final=not is_pending(code))

    def describe(self) -> str:
        """The counts in words: "2 of 3 images sent, 1 failed, 0 with warnings"."""
        if not self.reported:
            return "the PACS did not report image counts"
        if self.completed_unknown:
            of = "" if self.total is None else f" of {self.total}"
            return (f"{self.failed} failed, {self.warning} with warnings; the PACS did not say "
                    f"how many{of} arrived")
        sent = str(self.sent) if self.total is None else f"{self.sent} of {self.total}"
        return f"{sent} images sent, {self.failed} failed, {self.warning} with warnings"
