"""DICOM values as a person reads them: names, dates, times and code lists (PS3.5 6.2).

One Qt-free place for the words the window's grids and the command line's tables show, so a
study reads the same in both: PN ``Yamada^Tarou=山田^太郎`` → "Yamada, Tarou (山田 太郎)",
DA ``20240301`` → "2024-03-01", TM ``140512.123`` → "14:05", a multi-valued CS such as
ModalitiesInStudy ``CT\\MR`` → "CT, MR".

Rules shared by every function here:

- They never raise on what a PACS sends: a value that is not of its VR's form (a date
  ``2024-13-45``, a time ``25:00``, free text in a DA) is shown as it came, stripped of its
  padding, so a person sees what the PACS really said.
- They are display only. CSV and JSON output, the keys sent back to a PACS and the sort and
  filter caches keep the raw value; :func:`date_digits` and :func:`time_digits` give the
  canonical digits a sort key is made of.
- They do no escaping: the caller's output road (``gui.plain_text.cell_text``,
  ``core.cli.safe_text.cell``) shows control characters escaped and cuts long values.
"""

from __future__ import annotations

from functools import lru_cache

__all__ = [
    "date_digits",
    "format_date",
    "format_multi_value",
    "format_person_name",
    "format_time",
    "format_value",
    "split_values",
    "time_digits",
]


def split_values(raw: str) -> list[str]:
    """A multi-valued element's values (PS3.5 6.4: backslash), stripped, empties dropped.

    ``"CT\\\\MR"`` → ``["CT", "MR"]``; ``"CT\\\\\\\\ MR "`` → ``["CT", "MR"]``; ``""`` → ``[]``.
    """
    return [v.strip() for v in raw.split("\\") if v.strip()]


# ------------------------------------------------------------------ PN (PS3.5 6.2.1)


def _format_pn_group(group: str, alphabetic: bool) -> str:
    """One component group, ``family^given^middle^prefix^suffix``, as "Family, Prefix Given
    Middle Suffix" (alphabetic) or "Family Given …" (ideographic and phonetic: no comma).
    Empty components are skipped; a group without ``^`` is shown as it is (stripped)."""
    if "^" not in group:
        return group.strip()
    parts = group.split("^")
    count = len(parts)
    family = parts[0].strip()
    rest = " ".join([p for p in (
        parts[3].strip() if count > 3 else "",  # prefix
        parts[1].strip(),  # given
        parts[2].strip() if count > 2 else "",  # middle
        parts[4].strip() if count > 4 else "",  # suffix
    ) if p])
    if family and rest:
        return f"{family}, {rest}" if alphabetic else f"{family} {rest}"
    return family or rest


def format_person_name(raw: str) -> str:
    """A PN value (PS3.5 6.2.1) as "Family, Given Middle", plus the ideographic form.

    Args:
        raw: the decoded PN value: up to three ``=``-separated component groups
            (alphabetic, ideographic, phonetic), each ``family^given^middle^prefix^suffix``;
            several values are separated by ``\\``.

    Returns:
        The first non-empty group; when that is the alphabetic one and an ideographic group
        exists, it follows in parentheses: "Yamada, Tarou (山田 太郎)". A phonetic group is
        shown only when it is the only one. Several values are joined with "; ". ``""`` for
        an empty value. Never raises.
    """
    if "\\" in raw:
        return "; ".join([t for t in map(format_person_name, raw.split("\\")) if t])
    if "=" not in raw:
        return _format_pn_group(raw, alphabetic=True)
    groups = raw.split("=")
    alphabetic = _format_pn_group(groups[0], alphabetic=True)
    ideographic = _format_pn_group(groups[1], alphabetic=False)
    if alphabetic:
        return f"{alphabetic} ({ideographic})" if ideographic else alphabetic
    if ideographic:
        return ideographic
    return _format_pn_group(groups[2], alphabetic=False) if len(groups) > 2 else ""


# ------------------------------------------------------------------ DA and TM (PS3.5 6.2)


def _is_digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def date_digits(raw: str) -> str:
    """The canonical digits of a DA value, or ``""`` if it is not a date.

    ``"20240301"`` and the ACR-NEMA form ``"2024.03.01"`` → ``"20240301"``; a partial date
    ``"202403"`` → ``"202403"``, ``"2024"`` → ``"2024"``; a month outside 01–12, a day outside
    01–31 or anything else (``"2024-03-01"``, ``"unknown"``) → ``""``. Digits sort as dates.
    """
    if len(raw) == 8 and _is_digits(raw):  # the common shape: no copies
        text = raw
    else:
        text = raw.strip()
        if len(text) == 10 and text[4] == "." and text[7] == ".":
            text = text.replace(".", "")
        if len(text) not in (4, 6, 8) or not _is_digits(text):
            return ""
    if len(text) >= 6 and not 1 <= int(text[4:6]) <= 12:
        return ""
    if len(text) == 8 and not 1 <= int(text[6:8]) <= 31:
        return ""
    return text


def format_date(raw: str) -> str:
    """A DA value (PS3.5 6.2) as ISO 8601: "20240301" → "2024-03-01".

    Partial dates keep their precision ("202403" → "2024-03", "2024" → "2024"); anything else
    is shown as it came, stripped ("2024-13-45" stays "2024-13-45"). Never raises.
    """
    digits = date_digits(raw)
    if not digits:
        return raw.strip()
    return "-".join(p for p in (digits[:4], digits[4:6], digits[6:8]) if p)


def time_digits(raw: str) -> str:
    """``HHMMSS`` (padded with zeros) from a TM value, or ``""`` if it is not a time.

    Accepts ``HH``, ``HHMM``, ``HHMMSS`` with an optional ``.FFFFFF`` (dropped) and the
    ACR-NEMA form ``HH:MM:SS``; hours 00–23, minutes 00–59, seconds 00–60 (a leap second).
    """
    text = raw.strip().replace(":", "").partition(".")[0]
    if len(text) not in (2, 4, 6) or not _is_digits(text):
        return ""
    text = text.ljust(6, "0")
    if int(text[:2]) > 23 or int(text[2:4]) > 59 or int(text[4:]) > 60:
        return ""
    return text


def format_time(raw: str) -> str:
    """A TM value (PS3.5 6.2) to the minute: "140512.123456" → "14:05", "09" → "09:00".

    Anything that is not a time is shown as it came, stripped ("25:00" stays "25:00").
    Never raises.
    """
    digits = time_digits(raw)
    return f"{digits[:2]}:{digits[2:4]}" if digits else raw.strip()


# ------------------------------------------------------------------ CS and any keyword


def format_multi_value(raw: str) -> str:
    """A multi-valued CS such as ModalitiesInStudy ``CT\\MR`` (PS3.5 6.4) as "CT, MR".

    Empty values are dropped (``CT\\\\\\\\MR`` → "CT, MR"); one value is shown stripped.
    """
    if "\\" not in raw:
        return raw.strip()
    return ", ".join(split_values(raw))


@lru_cache(maxsize=512)
def _vr_of(keyword: str) -> str:
    from pydicom.datadict import dictionary_VR  # pydicom loads with the first value shown

    try:
        return dictionary_VR(keyword)
    except (KeyError, ValueError):  # a private tag or unknown keyword: shown as it came
        return ""


def format_value(keyword: str, raw: str) -> str:
    """``raw``, the value of the DICOM attribute ``keyword``, as a person reads it.

    PN, DA, TM and CS values are formatted as above; every other VR (UIDs, IDs, text,
    numbers) and any keyword the DICOM dictionary does not know is returned unchanged, so a
    UID can still be copied from a table. Never raises.
    """
    vr = _vr_of(keyword)
    if vr == "PN":
        return format_person_name(raw)
    if vr == "DA":
        return ", ".join(map(format_date, split_values(raw))) if "\\" in raw else format_date(raw)
    if vr == "TM":
        return ", ".join(map(format_time, split_values(raw))) if "\\" in raw else format_time(raw)
    if vr == "CS":
        return format_multi_value(raw)
    return raw
