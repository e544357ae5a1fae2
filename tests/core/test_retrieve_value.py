"""A bad "retrieve" value in nodes.json costs that value only (issue 13 part G §5): the
profile loads with C-MOVE to this computer, and ``nodes list`` says so; the file is kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dicom_courier.core.config.paths import app_paths
from dicom_courier.core.config.profile_store import NodeStore
from dicom_courier.core.config.retrieve_method import RetrieveMethod
from tests.cli_runner import run_cli


def _write(tmp_path: Path, retrieve: object) -> Path:
    path = app_paths(str(tmp_path)).nodes_file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"schema_version": 1, "pacs": [
        {"name": "main", "called_aet": "PACS", "host": "127.0.0.1", "port": 104,
         "retrieve": retrieve},
        {"name": "other", "called_aet": "OTHER", "host": "127.0.0.1", "port": 105,
         "retrieve": "get"}]}))
    return path


@pytest.mark.parametrize("bad", ["fetch", 3, None, "<b>x</b>"])
def test_a_bad_retrieve_value_costs_that_value_only(tmp_path: Path, bad: object) -> None:
    store = NodeStore(_write(tmp_path, bad))
    nodes = store.load()
    assert [n.retrieve for n in nodes] == [RetrieveMethod.MOVE, RetrieveMethod.GET]
    assert len(store.problems) == 1 and "'main'" in store.problems[0]
    assert "must be move, get or auto" in store.problems[0]

    listed = run_cli("nodes", "list", config_dir=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "Warning: PACS 'main': retrieve method" in listed.stderr
    assert "must be move, get or auto" in listed.stderr
    assert "main: PACS at 127.0.0.1:104" in listed.stdout
    assert "retrieve here by C-GET" in listed.stdout  # the other profile keeps its value


def test_a_good_value_says_nothing(tmp_path: Path) -> None:
    store = NodeStore(_write(tmp_path, "AUTO"))
    assert store.load()[0].retrieve is RetrieveMethod.AUTO
    assert store.problems == []
    assert "Warning" not in run_cli("nodes", "list", config_dir=tmp_path).stderr
