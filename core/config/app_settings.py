"""Preferences of the window (not PACS profiles): limits and confirmations, as readable JSON.

Kept apart from Qt's QSettings, which only holds window geometry and column layout.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from pathlib import Path
from typing import Any

from dicom_courier.core.config.atomic import write_text_atomically
from dicom_courier.core.config.small_files import UnusableFile, read_text_file
from dicom_courier.core.outcome.errors import InvalidInput


class StudyDates(StrEnum):
    """The study date range the window's search form starts with (and returns to on Clear)."""

    TODAY = "today"
    LAST_7_DAYS = "last_7_days"
    LAST_30_DAYS = "last_30_days"
    ANY = "any"


@dataclass(frozen=True)
class NumberRule:
    """A whole-number setting: its name for people, its bounds (inclusive) and its unit."""

    label: str
    low: int
    high: int
    unit: str = ""

    @property
    def words(self) -> str:
        """The rule in words: "must be a whole number from 1 to 16"."""
        return f"must be a whole number from {self.low:,} to {self.high:,}"


#: Every number in ``settings.json``: the bounds a person may choose (the Preferences dialog
#: and the file are checked by the same rules). A value outside costs that value only.
NUMBER_RULES: dict[str, NumberRule] = {
    "result_limit": NumberRule("Result limit", 1, 1_000_000, "studies"),
    "confirm_over": NumberRule("Ask before sending more than", 1, 100_000, "studies"),
    "moves_per_pacs": NumberRule("Sends at once per PACS", 1, 16, "sends"),
    "resend_warning_minutes": NumberRule("Warn about a repeated send within", 1, 100_000,
                                         "minutes"),
    "history_days": NumberRule("Keep send history for", 1, 36_500, "days"),
    # issue 13 §3: after a send, wait this long for the images to show at the destination,
    # asking it again every arrival_interval seconds (a PACS may answer before it has sent)
    "arrival_wait": NumberRule("Wait for images at the destination", 0, 3_600, "seconds"),
    "arrival_interval": NumberRule("Check the destination again every", 1, 600, "seconds"),
}


@dataclass(frozen=True)
class AppSettings:
    """``result_limit``: C-FIND stops (C-CANCEL) after this many; ``confirm_over``: ask before
    sending more than this many studies at once; ``moves_per_pacs``: concurrent moves;
    ``resend_warning_minutes``: warn when the same study went to the same destination this
    recently; ``history_days``: sends older than this are deleted from the history at start;
    ``default_study_dates``: the study date range the search form starts with (default the
    last 7 days, so a blank search is not "every study on the PACS"); ``arrival_wait``:
    seconds the arrival check waits for a send's images to show at the destination (0: look
    once), asking again every ``arrival_interval`` seconds.

    Raises InvalidInput (naming the key and the rule) for a value outside its rule
    (:data:`NUMBER_RULES`, :class:`StudyDates`).
    """

    result_limit: int = 1000
    confirm_over: int = 1
    moves_per_pacs: int = 2
    resend_warning_minutes: int = 60
    history_days: int = 90
    default_study_dates: StudyDates = StudyDates.LAST_7_DAYS
    arrival_wait: int = 30
    arrival_interval: int = 3

    def __post_init__(self) -> None:
        for name, rule in NUMBER_RULES.items():
            value = getattr(self, name)
            if (not isinstance(value, int) or isinstance(value, bool)
                    or not rule.low <= value <= rule.high):
                raise InvalidInput(name, rule.words, value)
        dates = self.default_study_dates
        if not isinstance(dates, str) or dates not in {item.value for item in StudyDates}:
            raise InvalidInput("default_study_dates", "must be one of "
                               + ", ".join(item.value for item in StudyDates), dates)
        object.__setattr__(self, "default_study_dates", StudyDates(dates))


@dataclass(frozen=True)
class LoadedSettings:
    """What :func:`read_app_settings` found.

    ``settings``: every valid value from the file, the default for the others.
    ``problems``: one plain line per value (or file) that could not be used, naming the key
    and the rule. ``rejected``: setting name → the value the file held for it that breaks its
    rule, as read (the Preferences dialog shows it, so a save never puts a default in its
    place unseen). ``complete``: True only if every value in the file was read and valid;
    anything destructive that depends on a value (retention) must not run otherwise.
    """

    settings: AppSettings
    problems: tuple[str, ...] = ()
    rejected: Mapping[str, Any] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return not self.problems


#: A ``"key": number`` pair, to save what can be saved from a truncated file.
_PAIR = re.compile(r'"(?P<key>[A-Za-z_]+)"\s*:\s*(?P<value>-?[0-9]{1,18})\s*[,}\n]')


def read_app_settings(path: Path) -> LoadedSettings:
    """Read ``path`` key by key: a bad value costs that value, not the file; never raises.

    A missing file gives the defaults (complete). A truncated or non-JSON file keeps every
    ``"key": number`` pair it still holds. Each value that breaks its rule (a whole number
    within :data:`NUMBER_RULES`, a :class:`StudyDates` name) is reported and replaced by its
    default for this run only.
    """
    defaults = AppSettings()
    try:
        text = read_text_file(path)  # a FIFO, a device or 100 MB is refused, never read
    except FileNotFoundError:
        return LoadedSettings(defaults)
    except (OSError, UnusableFile) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        return LoadedSettings(defaults, (f"{path.name} cannot be read ({reason}); the "
                                         "defaults are used this time",))
    problems: list[str] = []
    try:
        data: Any = json.loads(text)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested 100,000 levels
        problems.append(f"{path.name} is not complete JSON ({exc}); the values it still "
                        "holds are kept")
        # Only pairs the file itself ends (a comma, brace or line break after the value): a
        # number at the very end may have been cut short ("history_days": 36 of 3650).
        data = {m["key"]: int(m["value"]) for m in _PAIR.finditer(text)}
    if not isinstance(data, dict):
        return LoadedSettings(defaults, (f"{path.name} must hold a JSON object; the "
                                         "defaults are used this time",))
    values: dict[str, Any] = {}
    rejected: dict[str, Any] = {}
    for item in fields(AppSettings):
        if item.name not in data:
            continue
        value = data[item.name]
        try:
            AppSettings(**{item.name: value})
        except InvalidInput as exc:
            problems.append(f"{path.name}: {exc.field} {exc.rule} (got {value!r}); the "
                            f"default {getattr(defaults, item.name)} is used this time")
            rejected[item.name] = value
            continue
        values[item.name] = value
    return LoadedSettings(AppSettings(**values), tuple(problems), rejected)


def load_app_settings(path: Path) -> AppSettings:
    """The settings of :func:`read_app_settings` (valid values kept); never raises."""
    return read_app_settings(path).settings


def save_app_settings(path: Path, settings: AppSettings) -> None:
    """Write ``settings`` atomically (0600). Keys of the existing file that this version does
    not know (a newer version's) are kept. Raises OSError when it cannot be written."""
    document: dict[str, Any] = {}
    try:
        existing = json.loads(read_text_file(path))
    except (OSError, UnusableFile, ValueError, RecursionError):
        existing = None
    if isinstance(existing, dict):
        known = {item.name for item in fields(AppSettings)}
        document.update((key, value) for key, value in existing.items() if key not in known)
    document.update(asdict(settings))
    write_text_atomically(path, json.dumps(document, indent=2) + "\n")
