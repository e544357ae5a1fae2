"""Preferences of the window (not PACS profiles): limits and confirmations, as readable JSON.

Kept apart from Qt's QSettings, which only holds window geometry and column layout.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from dicom_courier.core.config.atomic import write_text_atomically
from dicom_courier.core.config.small_files import UnusableFile, read_text_file
from dicom_courier.core.outcome.errors import InvalidInput


@dataclass(frozen=True)
class AppSettings:
    """``result_limit``: C-FIND stops (C-CANCEL) after this many; ``confirm_over``: ask before
    sending more than this many studies at once; ``moves_per_pacs``: concurrent moves."""

    result_limit: int = 1000
    confirm_over: int = 1
    moves_per_pacs: int = 2
    resend_warning_minutes: int = 60
    history_days: int = 90

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InvalidInput(item.name, "must be a whole number of at least 1", value)


@dataclass(frozen=True)
class LoadedSettings:
    """What :func:`read_app_settings` found.

    ``settings``: every valid value from the file, the default for the others.
    ``problems``: one plain line per value (or file) that could not be used, naming the key
    and the rule. ``complete``: True only if every value in the file was read and valid;
    anything destructive that depends on a value (retention) must not run otherwise.
    """

    settings: AppSettings
    problems: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        return not self.problems


#: A ``"key": number`` pair, to save what can be saved from a truncated file.
_PAIR = re.compile(r'"(?P<key>[A-Za-z_]+)"\s*:\s*(?P<value>-?[0-9]{1,18})\s*[,}\n]')


def read_app_settings(path: Path) -> LoadedSettings:
    """Read ``path`` key by key: a bad value costs that value, not the file; never raises.

    A missing file gives the defaults (complete). A truncated or non-JSON file keeps every
    ``"key": number`` pair it still holds. Each value that breaks its rule (a whole number of
    at least 1) is reported and replaced by its default for this run only.
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
    values: dict[str, int] = {}
    for item in fields(AppSettings):
        if item.name not in data:
            continue
        value = data[item.name]
        try:
            AppSettings(**{item.name: value})
        except InvalidInput as exc:
            problems.append(f"{path.name}: {exc.field} {exc.rule} (got {value!r}); the "
                            f"default {getattr(defaults, item.name)} is used this time")
            continue
        values[item.name] = value
    return LoadedSettings(AppSettings(**values), tuple(problems))


def load_app_settings(path: Path) -> AppSettings:
    """The settings of :func:`read_app_settings` (valid values kept); never raises."""
    return read_app_settings(path).settings


def save_app_settings(path: Path, settings: AppSettings) -> None:
    """Write ``settings`` atomically (0600). Raises OSError when it cannot be written."""
    write_text_atomically(path, json.dumps(asdict(settings), indent=2) + "\n")
