"""What a typed patient name or ID is searched as, and the one line that says so.

Most PACS match a Patient Name key without ``*`` or ``?`` by single value matching (PS3.4
C.2.2.2.1): ``SMITH`` finds only a patient whose whole name is ``SMITH``, never
``SMITH^JOHN``, and the search "finds nothing". So the window searches a plain name as a
prefix with wild card matching (PS3.4 C.2.2.2.4): ``SMITH`` is sent as ``SMITH*``.

Rules of :func:`name_key` (``typed`` is stripped of surrounding spaces first; PS3.5 6.2 makes
leading and trailing spaces of a PN value insignificant):

- empty: no key at all (universal matching);
- text holding ``*`` or ``?``: sent as typed (the person wrote the pattern);
- plain text: one ``*`` is appended. ``SMITH^JOHN`` becomes ``SMITH^JOHN*``, as Horos and
  Weasis send it: it finds ``SMITH^JOHN``, ``SMITH^JOHNNY`` and ``SMITH^JOHN^PAUL``. We do not
  send ``SMITH*^JOHN*``: how a PACS matches ``*`` against the ``^`` component separator varies
  (PS3.4 C.2.2.2.4 leaves it open), and a star inside the family name finds ``SMITHSON^JOHN``
  too, which nobody typed;
- ``exact``: sent as typed. DICOM has no escape for ``*`` and ``?``, so they stay wild cards
  even then, and the hint says so;
- a value that would exceed the PN limit with the ``*`` (64 characters) is sent as typed.

Case is sent as typed: whether ``smith`` finds ``SMITH`` is the PACS's choice (most ignore case
for names; PS3.4 C.2.2.2.1 allows both). A Patient ID is never widened: an ID is an
identifier, single value matching is what is wanted (``12`` must not find ``123``), and
:func:`patient_id_hint` says so next to the field.

The command line does not use these rules: ``-k PatientName=SMITH`` is sent exactly as typed
(an admin's key is the key), and :func:`exact_name_note` is the hint it prints on stderr when
such a search finds nothing. Qt-free; the window shows the hints as plain text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

#: PS3.5 Table 6.2-1: a PN value is at most 64 characters per component group.
PN_MAX_LENGTH = 64
WILDCARDS = ("*", "?")


class NameMatching(StrEnum):
    """How a name key matches on the PACS."""

    NONE = "none"          # empty: no key, every name
    PREFIX = "prefix"      # plain text + "*": names starting with it
    PATTERN = "pattern"    # typed with * or ?: the person's own pattern
    EXACT = "exact"        # the whole name, exactly (PS3.4 C.2.2.2.1)


@dataclass(frozen=True)
class NameKey:
    """A typed name as searched.

    ``value``: the PatientName matching key to send ("" = leave the key out); ``matching``:
    how it matches; ``hint``: one plain line for the person ("Matches names starting with
    SMITH"), never empty.
    """

    value: str
    matching: NameMatching
    hint: str


def has_wildcard(text: str) -> bool:
    """True if ``text`` holds a DICOM wild card (``*`` or ``?``, PS3.4 C.2.2.2.4)."""
    return any(card in text for card in WILDCARDS)


def _comma_advice(text: str) -> str:
    """``Smith, John`` typed as people write it: DICOM writes ``Smith^John`` (PS3.5 6.2.1)."""
    if "," not in text or "^" in text:
        return ""
    family, _, given = (part.strip() for part in text.partition(","))
    if not family or not given:
        return ""
    return f" · names are stored FAMILY^GIVEN: try {family}^{given}"


def name_key(typed: str, *, exact: bool = False, max_length: int = PN_MAX_LENGTH) -> NameKey:
    """The PatientName key for ``typed`` (see the module's rules); never raises.

    ``exact``: the person asked for the whole name only. ``max_length``: the PN limit
    (characters); a prefix that would exceed it is sent as typed.
    """
    text = typed.strip()
    if not text:
        return NameKey("", NameMatching.NONE,
                       "Exact name: the whole name, FAMILY^GIVEN" if exact else
                       "Names starting with what you type (FAMILY^GIVEN); * and ? are wild "
                       "cards")
    advice = _comma_advice(text)
    if exact:
        if has_wildcard(text):
            return NameKey(text, NameMatching.PATTERN,
                           f"Matches {text}: * and ? stay wild cards even with Exact name"
                           + advice)
        return NameKey(text, NameMatching.EXACT, f"Matches only the name {text}, exactly"
                       + advice)
    if has_wildcard(text):
        return NameKey(text, NameMatching.PATTERN,
                       f"Matches {text} as typed: * any characters, ? one character" + advice)
    if len(text) + 1 > max_length:
        return NameKey(text, NameMatching.EXACT,
                       f"Matches only the name {text}, exactly (no room for * within "
                       f"{max_length} characters)" + advice)
    return NameKey(f"{text}*", NameMatching.PREFIX,
                   f"Matches names starting with {text}" + advice)


def patient_id_hint(typed: str) -> str:
    """One plain line saying how a typed Patient ID matches: exactly, unless it holds a wild
    card (PS3.4 C.2.2.2.1 / C.2.2.2.4). The ID itself is sent as typed (stripped)."""
    text = typed.strip()
    if not text:
        return "Patient ID: the whole ID, exactly"
    if has_wildcard(text):
        return f"IDs matching {text} (* and ? are wild cards)"
    return f"Only the ID {text}, exactly (no prefix search)"


def exact_name_note(keys: Mapping[str, str], found: int) -> str | None:
    """The command line's hint when a plain ``PatientName`` key found nothing; else None.

    ``keys``: the matching keys sent (keyword → value); ``found``: how many answers came.
    The CLI sends keys exactly as typed; most PACS then match the whole name only.
    """
    name = keys.get("PatientName", "").strip()
    if found or not name or has_wildcard(name):
        return None
    return (f"no match for PatientName={name}: without * or ? most PACS match the whole name "
            f"exactly; to find names starting with it use -k 'PatientName={name}*'")
