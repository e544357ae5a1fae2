"""The receiver leaves no temporary files behind (issue 13 part G §6): at its start, the
writer's stale ``.XXXXXXXX.part`` files (a killed process between write and rename) are
removed from the storage tree; nothing else, nothing fresh, nothing outside the layout."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from dicom_courier.core.config.receiver_settings import AllowList, ReceiverSettings
from dicom_courier.core.dimse.arrival_hub import ArrivalHub
from dicom_courier.core.dimse.receiver import Receiver
from dicom_courier.core.dimse.store_leftovers import remove_stale_leftovers

OLD = time.time() - 3600


def _file(path: Path, *, old: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    if old:
        os.utime(path, (OLD, OLD))
    return path


def _tree(folder: Path) -> dict[str, Path]:
    series = folder / "PAT1" / "1.2.3" / "1.2.3.4"
    return {
        "stale": _file(series / ".ab12cd_9.part"),
        "stale_probe": _file(folder / ".probe.k2j4h5g6"),
        "fresh": _file(series / ".zz99yy88.part", old=False),   # a write under way
        "instance": _file(series / "1.2.3.4.5.dcm"),
        "other_hidden": _file(series / ".keepme.part"),          # not our pattern
        "user_file": _file(series / "notes.part"),
        "too_deep": _file(series / "sub" / ".qq11ww22.part"),    # outside the layout
    }


def test_only_stale_writer_temp_files_are_removed(tmp_path: Path) -> None:
    files = _tree(tmp_path)
    outside = _file(tmp_path.parent / f"{tmp_path.name}-x" / ".aa11bb22.part")
    link_target = _file(tmp_path.parent / "elsewhere" / "P" / ".cc33dd44.part")
    (tmp_path / "LINK").symlink_to(link_target.parent.parent, target_is_directory=True)

    removed = remove_stale_leftovers(tmp_path)

    assert sorted(removed) == sorted([files["stale"], files["stale_probe"]])
    assert not files["stale"].exists() and not files["stale_probe"].exists()
    for kept in ("fresh", "instance", "other_hidden", "user_file", "too_deep"):
        assert files[kept].exists(), kept
    assert outside.exists() and link_target.exists()  # symlinks not followed


def test_the_walk_is_bounded(tmp_path: Path) -> None:
    files = _tree(tmp_path)
    assert remove_stale_leftovers(tmp_path, max_entries=1) in ([], [files["stale_probe"]])
    assert files["stale"].exists()  # the budget ran out before the series folder


@pytest.mark.network
def test_receiver_start_removes_them(tmp_path: Path) -> None:
    files = _tree(tmp_path)
    receiver = Receiver(ReceiverSettings(enabled=True, port=0, bind="127.0.0.1"), tmp_path,
                        AllowList(frozenset({"PACS"}), None), ArrivalHub())
    receiver.start()
    try:
        assert not files["stale"].exists()
        assert files["fresh"].exists() and files["instance"].exists()
    finally:
        receiver.stop()
