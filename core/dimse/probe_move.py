"""The destination doctor's probe: the smallest instance of a study the person picked.

An IMAGE-level C-FIND (Study Root, PS3.4 C.4.1) of the study asks Rows (0028,0010), Columns
(0028,0011), BitsAllocated (0028,0100), SamplesPerPixel (0028,0002) and NumberOfFrames
(0028,0008) of each instance; the pixel data size is estimated from them and the smallest is
moved alone (IMAGE-level C-MOVE, PS3.4 C.4.2) so that a test of a destination costs little.
A PACS that returns none of these keys (or instances without pixels: SR, PDF) leaves the size
unknown: then the first instance is taken, and the words say so.
"""

from __future__ import annotations

from dataclasses import dataclass

from dicom_courier.core.config.profiles import PacsNode
from dicom_courier.core.dimse.engine import Courier
from dicom_courier.core.outcome.errors import NothingMatched
from dicom_courier.core.qr.query import FindMatch, FindQuery, MoveTarget, QueryLevel, QueryModel

#: At most this many instances of the probe study are looked at (C-CANCEL after).
MAX_LOOKED_AT = 10_000
_SIZE_KEYS = ("Rows", "Columns", "BitsAllocated", "SamplesPerPixel", "NumberOfFrames")


@dataclass(frozen=True)
class ProbeInstance:
    """The instance a probe move sends: its UIDs, its estimated size in bytes (None: not
    known), how many instances of the study were looked at, and ``how`` it was chosen, in
    words ("the smallest of 6: 64×64, 16 bit, about 8 KB")."""

    study_uid: str
    series_uid: str
    sop_uid: str
    size: int | None
    count: int
    how: str

    @property
    def target(self) -> MoveTarget:
        """The IMAGE-level move target of this one instance (the PACS's own UIDs)."""
        return MoveTarget(self.study_uid, (self.series_uid,), (self.sop_uid,), from_pacs=True)


def _number(match: FindMatch, keyword: str) -> int | None:
    text = match.get(keyword).strip()
    return int(text) if text.isascii() and text.isdigit() else None


def estimated_size(match: FindMatch) -> int | None:
    """Pixel data bytes from Rows × Columns × BitsAllocated/8 × SamplesPerPixel (1 when
    absent) × NumberOfFrames (1 when absent); None without Rows, Columns or BitsAllocated."""
    rows, columns, bits = (_number(match, key) for key in ("Rows", "Columns", "BitsAllocated"))
    if not rows or not columns or not bits:
        return None
    samples = _number(match, "SamplesPerPixel") or 1
    frames = _number(match, "NumberOfFrames") or 1
    return rows * columns * max(bits // 8, 1) * samples * frames


def _size_words(size: int) -> str:
    if size < 1024 * 1024:
        return f"about {max(size // 1024, 1)} KB"
    return f"about {size / (1024 * 1024):.1f} MB"


def _shape(match: FindMatch) -> str:
    frames = _number(match, "NumberOfFrames") or 1
    text = f"{match.get('Rows').strip()}×{match.get('Columns').strip()}, " \
           f"{match.get('BitsAllocated').strip()} bit"
    return text + (f", {frames} frames" if frames > 1 else "")


async def smallest_instance(courier: Courier, pacs: PacsNode, study_uid: str) -> ProbeInstance:
    """The smallest instance of ``study_uid`` on ``pacs`` (see the module's docstring).

    Raises NothingMatched when the PACS holds no instance of the study, and the search's
    CourierError when the C-FIND fails.
    """
    query = FindQuery(QueryLevel.IMAGE, QueryModel.STUDY,
                      {"StudyInstanceUID": study_uid, "SeriesInstanceUID": "",
                       "SOPInstanceUID": "", **dict.fromkeys(_SIZE_KEYS, "")})
    matches = [match async for match in courier.find(pacs, query, limit=MAX_LOOKED_AT)
               if match.get("SOPInstanceUID").strip() and match.get("SeriesInstanceUID").strip()]
    if not matches:
        raise NothingMatched(
            f"{pacs.called_aet} holds no instance of the probe study.",
            f"An IMAGE-level search of study {study_uid} on {pacs.called_aet} found no "
            "instance, so there is nothing to send as a probe.",
            "Pick a study the PACS holds (search for it first) and test again.")
    sized = [(size, match) for match in matches if (size := estimated_size(match)) is not None]
    count = len(matches)
    if sized:
        size, match = min(sized, key=lambda pair: pair[0])
        known = "" if len(sized) == count else f"; size known for {len(sized)} of them"
        how = (f"the smallest of {count} instance{'s' * (count != 1)}: {_shape(match)}, "
               f"{_size_words(size)}{known}")
    else:
        size, match = None, matches[0]
        how = (f"the first of {count} instance{'s' * (count != 1)} (their sizes are unknown: "
               f"{pacs.called_aet} did not return Rows, Columns and Bits Allocated)")
    return ProbeInstance(study_uid, match.get("SeriesInstanceUID").strip(),
                         match.get("SOPInstanceUID").strip(), size, count, how)
