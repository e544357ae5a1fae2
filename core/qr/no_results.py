"""What to say when a search found nothing: what was searched, where, and what to try.

A grid that stays empty without a word makes a person conclude "this patient has no studies"
when the search was narrower than they thought (an exact name, the last 7 days, one
modality). :func:`no_results` turns the matching keys that were sent (PS3.4 C.2.2.2) into
one line naming each key as sent and the PACS, plus advice for each narrowing key. Values are
shown literally (control characters escaped): the window puts the text on a plain-text label.
Qt-free.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from dicom_courier.core.qr.name_match import NameMatching, has_wildcard
from dicom_courier.core.text.safe_text import display

#: Matching keys in the order a person reads them, with their words.
_WORDS = (
    ("PatientName", "name"),
    ("PatientID", "patient ID"),
    ("AccessionNumber", "accession"),
    ("StudyDescription", "description"),
    ("ReferringPhysicianName", "referring"),
)


@dataclass(frozen=True)
class NoResults:
    """``headline``: "No studies found for name SMITH* on ORTHANC, study date last 7 days";
    ``advice``: one plain sentence per key that narrowed the search."""

    headline: str
    advice: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        """The headline and the advice, one per line."""
        return "\n".join((self.headline, *self.advice))


def _dicom_date(value: str) -> str:
    """``20240611`` → ``2024-06-11`` (other text unchanged)."""
    return f"{value[:4]}-{value[4:6]}-{value[6:]}" if len(value) == 8 and value.isdigit() \
        else value


def date_words(study_date: str) -> str:
    """A StudyDate matching value in words: ``20240611-20240617`` → ``2024-06-11 to
    2024-06-17``; ``20240611-`` → ``from 2024-06-11``; a single date as a date."""
    if "-" not in study_date:
        return _dicom_date(study_date)
    start, _, end = study_date.partition("-")
    if start and end:
        return f"{_dicom_date(start)} to {_dicom_date(end)}"
    return f"from {_dicom_date(start)}" if start else f"until {_dicom_date(end)}"


def no_results(keys: Mapping[str, str], pacs: str, *, dates: str | None = None,
               name_matching: NameMatching | None = None) -> NoResults:
    """What a STUDY-level search that found nothing searched, and what to try.

    ``keys``: the matching keys sent (keyword → value, as in the C-FIND identifier);
    ``pacs``: the PACS as the person knows it (profile name, AE title); ``dates``: the study
    date as the form said it ("last 7 days (2024-06-11 to 2024-06-17)"), default the
    ``StudyDate`` key in words; ``name_matching``: how the name was matched, when the form
    knows it. Never raises.
    """
    parts = [f"{word} {display(keys[key])}" for key, word in _WORDS if keys.get(key)]
    modalities = keys.get("ModalitiesInStudy", "")
    if modalities:
        parts.append(f"modalities {display(', '.join(modalities.split(chr(92))))}")
    study_date = keys.get("StudyDate", "")
    if study_date:
        parts.append(f"study date {display(dates or date_words(study_date))}")
    where = f" on {display(pacs)}" if pacs else ""
    if parts:
        headline = f"No studies found for {parts[0]}{where}" + "".join(
            f", {part}" for part in parts[1:])
    else:
        headline = f"No studies found{where} (no criteria: every study was asked for)"
    advice: list[str] = []
    name = keys.get("PatientName", "")
    if name_matching is NameMatching.EXACT:
        advice.append("Exact name is on: only this whole name matches. Untick it to find "
                      "names starting with it.")
    elif name and not has_wildcard(name):
        advice.append("The name was matched exactly (no * or ?).")
    elif name:
        advice.append("Check the spelling; names are FAMILY^GIVEN, matched from the start.")
    patient_id = keys.get("PatientID", "")
    if patient_id and not has_wildcard(patient_id):
        advice.append("The patient ID must match exactly, with its leading zeros and prefix.")
    if study_date:
        advice.append("Only studies in this date range were searched: set Study date to "
                      "Any date for older ones.")
    if modalities:
        advice.append("Only studies with these modalities were searched: choose All "
                      "modalities to include the others.")
    return NoResults(headline, tuple(advice))
