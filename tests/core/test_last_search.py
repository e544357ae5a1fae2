"""Issue 11 §4/§8: the default study date is a preference with rules; the last PACS,
destination and modalities are remembered owner-only, and no patient name or ID is."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from dicom_courier.core.config.app_settings import (
    AppSettings,
    StudyDates,
    read_app_settings,
    save_app_settings,
)
from dicom_courier.core.config.last_search import (
    LastSearch,
    read_last_search,
    save_last_search,
)
from dicom_courier.core.outcome.errors import InvalidInput


def test_the_default_study_dates_are_the_last_7_days() -> None:
    assert AppSettings().default_study_dates is StudyDates.LAST_7_DAYS


def test_settings_round_trip_keeps_unknown_keys(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text('{"from_a_newer_version": [1, 2], "result_limit": 5}', encoding="utf-8")
    save_app_settings(path, AppSettings(result_limit=50, default_study_dates=StudyDates.ANY))
    loaded = read_app_settings(path)
    assert loaded.complete
    assert loaded.settings == AppSettings(result_limit=50, default_study_dates=StudyDates.ANY)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["from_a_newer_version"] == [1, 2] and data["default_study_dates"] == "any"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize(("text", "key", "rule"), [
    ('{"default_study_dates": "forever"}', "default_study_dates", "must be one of"),
    ('{"moves_per_pacs": 40}', "moves_per_pacs", "from 1 to 16"),
    ('{"history_days": 0}', "history_days", "from 1 to 36,500"),
])
def test_a_bad_value_costs_that_value_only(tmp_path: Path, text: str, key: str,
                                           rule: str) -> None:
    path = tmp_path / "settings.json"
    path.write_text(text[:-1] + ', "result_limit": 7}', encoding="utf-8")
    loaded = read_app_settings(path)
    assert loaded.settings.result_limit == 7
    assert getattr(loaded.settings, key) == getattr(AppSettings(), key)
    assert len(loaded.problems) == 1 and key in loaded.problems[0] and rule in loaded.problems[0]


def test_rules_raise_naming_the_key() -> None:
    with pytest.raises(InvalidInput, match="moves_per_pacs: must be a whole number from 1 to"):
        AppSettings(moves_per_pacs=17)


def test_last_search_round_trip_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "profile" / "last_search.json"
    save_last_search(path, LastSearch("Main PACS", "WS1", ("CT", "MR")))
    assert read_last_search(path) == LastSearch("Main PACS", "WS1", ("CT", "MR"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    data = json.loads(path.read_text(encoding="utf-8"))
    assert set(data) == {"schema_version", "pacs", "destination", "modalities"}  # no patient


@pytest.mark.parametrize("content", [
    "", "{", "[]", '{"schema_version": 99, "pacs": "X"}', '{"schema_version": 1, "pacs": 5}',
    '{"schema_version": 1, "modalities": "CT"}',
])
def test_a_damaged_last_search_is_nothing_never_an_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "last_search.json"
    path.write_text(content, encoding="utf-8")
    assert read_last_search(path) == LastSearch()


def test_a_fifo_or_missing_last_search_is_nothing(tmp_path: Path) -> None:
    assert read_last_search(tmp_path / "none.json") == LastSearch()
    fifo = tmp_path / "last_search.json"
    os.mkfifo(fifo)
    assert read_last_search(fifo) == LastSearch()
