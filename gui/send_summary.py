"""What a send will do, in one line: "3 studies · 27 series · 4,812 images → WS-3"."""

from __future__ import annotations

from dataclasses import dataclass

from dicom_courier.core.nodes import PacsNode
from dicom_courier.core.query import FindMatch


@dataclass(frozen=True)
class SendPlan:
    """The studies a person chose and where they go."""

    pacs: PacsNode
    destination: str
    destination_label: str
    matches: tuple[FindMatch, ...]


def _total(matches: tuple[FindMatch, ...], keyword: str) -> str:
    values = [m.get(keyword) for m in matches]
    if not values or any(not v.strip().isdigit() for v in values):
        return "?"
    return f"{sum(int(v) for v in values):,}"


def describe_plan(plan: SendPlan) -> str:
    studies = len(plan.matches)
    series = _total(plan.matches, "NumberOfStudyRelatedSeries")
    images = _total(plan.matches, "NumberOfStudyRelatedInstances")
    patients = {m.get("PatientID") for m in plan.matches}
    who = (f" of {len(patients)} patients" if len(patients) > 1 else "")
    return (f"{studies} {'study' if studies == 1 else 'studies'}{who} · {series} series · "
            f"{images} images → {plan.destination} (from {plan.pacs.called_aet})")
