"""Picked rows to move targets: "what the PACS sends back is not user input" (issue 8, §6).

A row of the results grid or the series dialog carries the PACS's own UIDs. They are sent back
verbatim (:class:`~dicom_courier.core.qr.query.MoveTarget` with ``from_pacs=True``); a
non-conformant one (``MR1.2.840.113619…``) is noted, and a row whose UID cannot be named in a
move request at all (empty, over 64 characters, a backslash or a control character) is left
out and said so. The other rows are sent. The notes end up in the window's status bar, as plain
text. Qt-free: the window uses it, and so could the command line.

Rows that name a study (series) already chosen in the same send — a PACS answering one row per
image — make no second move (issue 9 §1): :meth:`UidNotes.target` returns None for them and
the status line says how many.
"""

from __future__ import annotations

from dicom_courier.core.outcome.errors import InvalidInput
from dicom_courier.core.qr.distinct import target_key
from dicom_courier.core.qr.query import MoveTarget
from dicom_courier.core.text.safe_text import display


class UidNotes:
    """Builds targets from a PACS's UIDs and collects what the person must be told."""

    def __init__(self) -> None:
        self.warnings: list[str] = []
        self.left_out: list[str] = []
        self.repeated = 0  # rows naming a target already chosen
        self._chosen: set[tuple[str, tuple[str, ...], tuple[str, ...]]] = set()
        self._noun = "study"

    def __bool__(self) -> bool:
        return bool(self.warnings or self.left_out or self.repeated)

    def target(self, study_uid: str, series_uid: str | None = None,
               patient_id: str | None = None) -> MoveTarget | None:
        """The target for one row, or None (noted) when its UIDs cannot be sent or when an
        earlier row of this send named the same study (series). ``patient_id``: the row's
        Patient ID, for a Patient Root move (:func:`.model_choice.patient_id_of`)."""
        try:
            target = MoveTarget(study_uid=study_uid,
                                series_uids=(series_uid,) if series_uid is not None else (),
                                patient_id=patient_id, from_pacs=True)
        except InvalidInput as exc:
            self.left_out.append(exc.title)
            return None
        key = target_key(target)
        if key in self._chosen:
            self.repeated += 1
            self._noun = "series" if series_uid is not None else "study"
            return None
        self._chosen.add(key)
        self.warnings.extend(target.warnings)
        return target

    def status(self, queued: str) -> str:
        """``queued`` followed by what was left out and the warnings, on one line."""
        parts = [queued]
        if self.repeated:
            parts.append(f"{self.repeated} selected row{'s' if self.repeated > 1 else ''} "
                         f"named a {self._noun} already chosen: each {self._noun} is sent "
                         "once.")
        if self.left_out:
            parts.append(f"{len(self.left_out)} not sent: the PACS's UID cannot be named in a "
                         f"move request ({display(self.left_out[0], 200)}).")
        if self.warnings:
            more = len(self.warnings) - 1
            parts.append(display(self.warnings[0], 300)
                         + (f" ({more} more UID{'s' if more > 1 else ''} like it.)" if more
                            else ""))
        return " ".join(parts)
