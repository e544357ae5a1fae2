"""receiver.json (core/config/receiver_settings.py): defaults, round trip, a bad value costs
that value only, and the storage folder."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from dicom_courier.core.config.paths import app_paths
from dicom_courier.core.config.receiver_settings import (
    ReceiverSettings,
    load_receiver_settings,
    read_receiver_settings,
    save_receiver_settings,
)
from dicom_courier.core.outcome.errors import InvalidInput


def test_defaults_are_off_courier_11112_all_interfaces(tmp_path: Path) -> None:
    paths = app_paths(tmp_path)
    settings = load_receiver_settings(paths.receiver_file)
    assert paths.receiver_file == tmp_path.resolve() / "receiver.json"
    assert (settings.enabled, settings.ae_title, settings.port, settings.bind) == (
        False, "COURIER", 11112, "")
    assert settings.storage_folder(paths) == paths.data_dir / "received"


def test_round_trip_and_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "receiver.json"
    settings = ReceiverSettings(enabled=True, ae_title="WS1", port=4242, bind="127.0.0.1",
                                folder=str(tmp_path / "in"), allowed_aets=("A", "B"),
                                check_address=True)
    save_receiver_settings(path, settings)
    assert load_receiver_settings(path) == settings
    assert json.loads(path.read_text())["schema_version"] == 1
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_bad_value_costs_that_value_and_is_named(tmp_path: Path) -> None:
    path = tmp_path / "receiver.json"
    path.write_text(json.dumps({"enabled": True, "ae_title": "WAY_TOO_LONG_AE_TITLE",
                                "port": 0, "allowed_aets": ["OK", "BAD\\AE"]}))
    settings, problems = read_receiver_settings(path)
    assert settings.enabled is True
    assert (settings.ae_title, settings.port, settings.allowed_aets) == ("COURIER", 11112, None)
    words = "\n".join(problems)
    assert "receiver AE title must be at most 16 characters" in words
    assert "receiver port must be a whole number from 1 to 65535" in words
    assert "allowed AE title must not contain a backslash" in words
    assert "None" not in words  # a default is said in words, never as Python's None
    assert "the default (the PACS profiles' AE titles) is used this time" in words


def test_a_bad_folder_names_the_default_folder_in_words(tmp_path: Path) -> None:
    path = tmp_path / "receiver.json"
    path.write_text(json.dumps({"folder": 5}))
    _, problems = read_receiver_settings(path)
    assert problems == ("receiver.json: receiver folder must be a folder path (got 5); the "
                        "default (the data folder's 'received') is used this time",)


def test_an_unreadable_file_gives_defaults_with_a_reason(tmp_path: Path) -> None:
    path = tmp_path / "receiver.json"
    path.write_text("{not json")
    settings, problems = read_receiver_settings(path)
    assert settings == ReceiverSettings() and "cannot be read" in problems[0]


@pytest.mark.parametrize(("field", "value", "words"), [
    ("port", 70000, "receiver port"), ("bind", "a b", "receiver bind address"),
    ("ae_title", "", "receiver AE title"), ("folder", "", "receiver folder"),
    ("allowed_aets", "PACS", "allowed AE titles"),
])
def test_each_field_is_checked(field: str, value: object, words: str) -> None:
    with pytest.raises(InvalidInput) as error:
        ReceiverSettings(**{field: value})  # type: ignore[arg-type]
    assert error.value.field == words
