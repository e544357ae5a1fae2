"""A bad settings value costs that value, never history; our files are owner-only; an
interrupted save leaves nothing behind at the next start."""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path

import pytest

from dicom_courier.core.config.app_settings import AppSettings, read_app_settings
from dicom_courier.core.config.atomic import remove_stale_temp_files, write_text_atomically
from dicom_courier.core.config.instance_lock import ProfileLock
from dicom_courier.core.jobs.history import export_csv, retention_at_start
from dicom_courier.core.jobs.store import JobStore

PACS_JSON = {"name": "Main", "called_aet": "PACS", "host": "h", "port": 104}
DAY = 86400.0


@pytest.mark.parametrize(("text", "bad_key"), [
    ('{"history_days": 3650, "result_limit": "lots", "moves_per_pacs": 3}', "result_limit"),
    ('{"history_days": 3650, "moves_per_pacs": 3, "confirm_over": -1}', "confirm_over"),
    ('{"history_days": 3650, "moves_per_pacs": 3, "result_limit": true}', "result_limit"),
    ('{\n  "history_days": 3650,\n  "moves_per_pacs": 3,\n  "result_li', "not complete JSON"),
])
def test_one_bad_value_costs_that_value_only(tmp_path: Path, text: str, bad_key: str) -> None:
    path = tmp_path / "settings.json"
    path.write_text(text, encoding="utf-8")
    loaded = read_app_settings(path)
    assert loaded.settings.history_days == 3650 and loaded.settings.moves_per_pacs == 3
    assert not loaded.complete and len(loaded.problems) == 1
    assert bad_key in loaded.problems[0]


def test_a_bad_value_is_kept_as_the_file_has_it_for_the_preferences(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text('{"history_days": 100000, "result_limit": "lots", "confirm_over": 3}',
                    encoding="utf-8")
    loaded = read_app_settings(path)
    assert loaded.rejected == {"history_days": 100000, "result_limit": "lots"}
    assert loaded.settings == AppSettings(confirm_over=3)
    assert read_app_settings(tmp_path / "none.json").rejected == {}


def test_a_good_or_missing_file_is_complete(tmp_path: Path) -> None:
    assert read_app_settings(tmp_path / "none.json").complete
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"history_days": 7}), encoding="utf-8")
    loaded = read_app_settings(path)
    assert loaded.complete and loaded.settings == AppSettings(history_days=7)


def _four_finished(store: JobStore, now: float) -> None:
    for age_days in (1, 200, 400, 1000):
        job = store.add(pacs_json=PACS_JSON, destination="WS", study_uid=f"1.{age_days}",
                        queued_at=now - age_days * DAY)
        store.finished(job, state="completed", total=1, completed=1, failed=0, warning=0,
                       status=0, error=None)
        store._db.execute("UPDATE jobs SET finished_at=? WHERE id=?",
                          (now - age_days * DAY, job))


def test_retention_never_runs_on_settings_it_could_not_read(tmp_path: Path) -> None:
    now = time.time()
    store = JobStore(tmp_path / "jobs.db")
    _four_finished(store, now)
    path = tmp_path / "settings.json"
    path.write_text('{"history_days": 3650, "result_limit": "x"}', encoding="utf-8")
    run = retention_at_start(store, read_app_settings(path), now=now)
    assert run.deleted == 0 and "could not be read completely" in run.skipped
    assert len(store.jobs()) == 4  # seen: 3 of 4 deleted by the default of 90 days
    path.write_text('{"history_days": 3650}', encoding="utf-8")
    assert retention_at_start(store, read_app_settings(path), now=now).deleted == 0
    path.write_text('{"history_days": 300}', encoding="utf-8")
    assert retention_at_start(store, read_app_settings(path), now=now).deleted == 2


def test_lock_settings_and_exports_are_owner_only(tmp_path: Path) -> None:
    os.umask(0o022)
    data = tmp_path / "profile" / "data"
    with ProfileLock(data) as lock:
        assert oct(lock.path.stat().st_mode & 0o777) == "0o600"
    assert oct(data.stat().st_mode & 0o777) == "0o700"
    write_text_atomically(tmp_path / "new" / "settings.json", "{}")
    assert oct((tmp_path / "new").stat().st_mode & 0o777) == "0o700"
    assert oct((tmp_path / "new" / "settings.json").stat().st_mode & 0o777) == "0o600"
    export_csv([], tmp_path / "new" / "sends.csv")
    assert oct((tmp_path / "new" / "sends.csv").stat().st_mode & 0o777) == "0o600"


def test_leftovers_of_an_interrupted_save_are_removed_at_the_next_start(
        tmp_path: Path) -> None:
    old = tmp_path / ".nodes.json.ab12_xyz.tmp"
    fresh = tmp_path / ".settings.json.q9w8e7r6.tmp"  # a save in progress right now
    other = tmp_path / "notes.tmp"  # not ours
    for item in (old, fresh, other):
        item.write_text("{", encoding="utf-8")
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    os.utime(other, (time.time() - 3600, time.time() - 3600))
    assert remove_stale_temp_files(tmp_path) == [old]
    assert fresh.exists() and other.exists() and not old.exists()


def test_the_lock_file_keeps_working_as_a_lock(tmp_path: Path) -> None:
    with ProfileLock(tmp_path) as lock, open(lock.path) as other, pytest.raises(  # noqa: PTH123
            BlockingIOError):
        fcntl.flock(other.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
