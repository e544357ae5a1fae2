"""`queue purge` uses the history_days the person chose, never a default over it; a truncated
settings.json never keeps a number that was cut short.

Seen: with {"history_days": 3650}, `queue purge` deleted the 200-day-old history ("older than
90 days"); a file cut inside "history_days": 3650 was read as 36.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from dicom_courier.core.cli import main as cli_main
from dicom_courier.core.config.app_settings import read_app_settings
from dicom_courier.core.jobs.store import JobStore

PACS_JSON: dict[str, object] = {"name": "main", "called_aet": "PACS", "host": "127.0.0.1",
                                "port": 104}
DAY = 86_400


def _history(config: Path, ages_in_days: list[int]) -> None:
    store = JobStore(config / "data" / "jobs.db")
    now = time.time()
    for age in ages_in_days:
        job_id = store.add(pacs_json=PACS_JSON, destination="WS", study_uid=f"1.2.{age}")
        store.finished(job_id, state="completed", total=1, completed=1, failed=0, warning=0,
                       status=0, error=None)
        store._db.execute("UPDATE jobs SET finished_at=? WHERE id=?", (now - age * DAY, job_id))
        store._db.commit()
    store.close()


def _left(config: Path) -> int:
    store = JobStore(config / "data" / "jobs.db")
    try:
        return len(store.jobs())
    finally:
        store.close()


@pytest.mark.parametrize(("settings", "code", "left"), [
    ('{"history_days": 3650}', 0, 2),       # the person's choice: nothing is old enough
    ('{"history_days": 100}', 0, 1),        # the 200-day-old send goes
    ('{"history_days": "x"}', 1, 2),        # unreadable choice: nothing deleted
    ('{"result_limit": 50, "history_days": 36', 1, 2),  # cut short: nothing deleted
    (None, 0, 1),                           # no file: the documented default of 90 days
])
def test_purge_without_days_follows_settings(tmp_path: Path, settings: str | None, code: int,
                                             left: int, capsys: pytest.CaptureFixture[str]
                                             ) -> None:
    config = tmp_path / "cfg"
    _history(config, [200, 10])
    if settings is not None:
        (config / "settings.json").write_text(settings)
    assert cli_main.run(["--config-dir", str(config), "queue", "purge"]) == code
    assert _left(config) == left
    if code:
        assert "Nothing was deleted" in capsys.readouterr().err


def test_a_number_cut_short_at_the_end_of_a_truncated_file_is_not_kept(tmp_path: Path
                                                                       ) -> None:
    path = tmp_path / "settings.json"
    path.write_text('{"result_limit": 50, "history_days": 36')
    loaded = read_app_settings(path)
    assert not loaded.complete
    assert loaded.settings.result_limit == 50
    assert loaded.settings.history_days == 90  # the default for this run, not the cut 36
