"""What a send will do, in one line: "3 studies · 27 series · 4,812 images → WS-3".

Studies are counted once each, however many rows of the grid name them (a PACS answering one
row per image): the series and image counts are those of each study's first row, never sums
over repeated rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from dicom_courier.core.distinct import distinct_matches
from dicom_courier.core.nodes import PacsNode
from dicom_courier.core.query import FindMatch, QueryLevel


@dataclass(frozen=True)
class SendPlan:
    """The studies a person chose and where they go (``matches``: the chosen rows; ``studies``:
    one row per distinct study, in the order chosen)."""

    pacs: PacsNode
    destination: str
    destination_label: str
    matches: tuple[FindMatch, ...]

    @property
    def studies(self) -> tuple[FindMatch, ...]:
        return tuple(distinct_matches(self.matches, QueryLevel.STUDY))


def _total(matches: tuple[FindMatch, ...], keyword: str) -> str:
    values = [m.get(keyword) for m in matches]
    if not values or any(not v.strip().isdigit() for v in values):
        return "?"
    return f"{sum(int(v) for v in values):,}"


def describe_plan(plan: SendPlan) -> str:
    """``"2 studies of 2 patients · 5 series · 76 images → WS3 (from PACS)"``, distinct studies
    only; a count is ``?`` when a study's row does not give it."""
    chosen = plan.studies
    studies = len(chosen)
    series = _total(chosen, "NumberOfStudyRelatedSeries")
    images = _total(chosen, "NumberOfStudyRelatedInstances")
    patients = {m.get("PatientID") for m in chosen}
    who = (f" of {len(patients)} patients" if len(patients) > 1 else "")
    return (f"{studies} {'study' if studies == 1 else 'studies'}{who} · {series} series · "
            f"{images} images → {plan.destination} (from {plan.pacs.called_aet})")
