"""What the window's search form starts with next time: the last PACS, destination, modalities.

Kept in ``last_search.json`` in the configuration folder (owner-only, written atomically). On
purpose it holds no patient name, Patient ID, accession number or free text: a reading-room
PC is shared, and a form that opens with the previous user's patient in it invites searching
(and sending) the wrong patient with one Enter. The PACS, the destination and the modality
filter are the person's working setup, not patient data, and are remembered. The study date
is not remembered either: the form starts with the ``default_study_dates`` preference
(:mod:`.app_settings`), which the person sets in Preferences.

Reading never raises: a missing, damaged or foreign file gives an empty :class:`LastSearch`
(the window then starts as on a first run). Every value is re-checked when used (a PACS that
was deleted since is simply not selected).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dicom_courier.core.config.atomic import write_text_atomically
from dicom_courier.core.config.small_files import UnusableFile, read_json_file

FILE_NAME = "last_search.json"
SCHEMA_VERSION = 1
#: Longer values are not ours (a profile name, an AE title and a modality are short).
_MAX_TEXT = 200


@dataclass(frozen=True)
class LastSearch:
    """``pacs``: the profile name last searched ("" = none); ``destination``: the AE title
    last chosen; ``modalities``: the modality filter (``("CT", "MR")``)."""

    pacs: str = ""
    destination: str = ""
    modalities: tuple[str, ...] = ()


def _text(value: Any) -> str:
    return value if isinstance(value, str) and len(value) <= _MAX_TEXT else ""


def read_last_search(path: Path) -> LastSearch:
    """The remembered values in ``path``; an empty LastSearch if there are none. Never raises
    (a FIFO, a huge file, bad JSON, a newer schema or wrong types are all "nothing")."""
    try:
        data = read_json_file(path, max_bytes=64 * 1024)
    except (OSError, UnusableFile):
        return LastSearch()
    if not isinstance(data, dict) or data.get("schema_version") != SCHEMA_VERSION:
        return LastSearch()
    modalities = data.get("modalities")
    chosen = tuple(item for item in modalities if _text(item)) if isinstance(
        modalities, list) else ()
    return LastSearch(pacs=_text(data.get("pacs")), destination=_text(data.get("destination")),
                      modalities=chosen[:32])


def save_last_search(path: Path, last: LastSearch) -> None:
    """Write ``last`` to ``path`` atomically (0600; the folder 0700 if created).

    Raises OSError (read-only disk, disk full, permission denied)."""
    document = {"schema_version": SCHEMA_VERSION, "pacs": last.pacs,
                "destination": last.destination, "modalities": list(last.modalities)}
    write_text_atomically(path, json.dumps(document, indent=2, ensure_ascii=False) + "\n")
