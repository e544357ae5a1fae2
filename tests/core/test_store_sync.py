"""Issue 12: a progress checkpoint never waits for the disk on the window's thread.

benchmarks/window_gap.py found the window's event loop stalled up to 0.5 s while 4 sends
ran: every progress checkpoint of jobs.db (every 0.5 s per send) committed with
``synchronous=FULL``, an fsync on the loop thread while the disk was busy with arriving
images. A checkpoint is best effort (its counts are re-written at the end), so it commits
without an fsync; a queued send and every state change still commit with FULL.
"""

from __future__ import annotations

from pathlib import Path

from dicom_courier.core.jobs.store import JobStore

PACS_JSON: dict[str, object] = {"name": "p", "called_aet": "PACS", "host": "127.0.0.1",
                                "port": 104}


def test_a_checkpoint_commits_without_fsync_and_state_changes_with_it(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.db")
    levels: list[tuple[str, int]] = []
    original = store._transaction

    def recording_transaction():  # type: ignore[no-untyped-def]
        levels.append(("", int(store._db.execute("PRAGMA synchronous").fetchone()[0])))
        return original()

    store._transaction = recording_transaction  # type: ignore[method-assign]
    job = store.add(pacs_json=PACS_JSON, destination="WS1", study_uid="1.2.3")
    store.started(job)
    assert store.progress(job, total=10, completed=4, failed=0, warning=0, force=True)
    store.finished(job, state="completed", total=10, completed=10, failed=0, warning=0,
                   status=0, error=None)
    full, normal = 2, 1
    assert [level for _, level in levels] == [full, full, normal, full]
    # ... and the connection is back to FULL after the checkpoint
    assert int(store._db.execute("PRAGMA synchronous").fetchone()[0]) == full
    store.close()


def test_a_checkpoint_is_on_disk_for_the_next_start(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.db")
    job = store.add(pacs_json=PACS_JSON, destination="WS1", study_uid="1.2.3")
    store.started(job)
    assert store.progress(job, total=60, completed=25, failed=1, warning=0, force=True)
    store.close()
    again = JobStore(tmp_path / "jobs.db")
    record = again.get(job)
    assert (record.total, record.completed, record.failed) == (60, 25, 1)
    again.close()
