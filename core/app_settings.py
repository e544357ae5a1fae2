"""Preferences of the window (not PACS profiles): limits and confirmations, as readable JSON.

Kept apart from Qt's QSettings, which only holds window geometry and column layout.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from dicom_courier.core.atomic import write_text_atomically
from dicom_courier.core.errors import InvalidInput


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


def load_app_settings(path: Path) -> AppSettings:
    """Read ``path``; a missing, unreadable or invalid file gives the defaults, never a crash."""
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
        known = {f.name for f in fields(AppSettings)}
        return AppSettings(**{k: v for k, v in data.items() if k in known})
    except (OSError, ValueError, TypeError, AttributeError, InvalidInput):
        return AppSettings()


def save_app_settings(path: Path, settings: AppSettings) -> None:
    write_text_atomically(path, json.dumps(asdict(settings), indent=2) + "\n")
