"""The arrival check without a network (issue 13 §3): counting, re-checking, words, settings.

``check_arrival`` is driven by a scripted courier whose C-FIND answers change between looks
(a PACS that sends after its final response); ``check_files`` by files laid out as the
receiver writes them. The command line's refusals (``--queryable-dest``, ``--verify``) are
checked before anything would be sent (no TCP socket may open in these tests).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from dicom_courier.core.cli.main import run
from dicom_courier.core.config.app_settings import AppSettings, read_app_settings
from dicom_courier.core.config.profiles import Destination, PacsNode
from dicom_courier.core.dimse.arrival_check import check_arrival, check_files, source_counts
from dicom_courier.core.outcome.arrival import THIS_COMPUTER
from dicom_courier.core.outcome.errors import ConnectionFailed, InvalidInput
from dicom_courier.core.qr.query import FindMatch, FindQuery, QueryLevel

STUDY = "1.2.3.4"
S1, S2 = "1.2.3.4.1", "1.2.3.4.2"
PACS = PacsNode("main", "PACS", "10.0.0.1", 104)
WS3 = Destination("WS3", "10.0.0.9", 4006, queryable=True)


class ScriptedCourier:
    """``find`` answers from ``answers(query, look)``; ``look`` counts SERIES-level finds.
    ``fail`` raises ConnectionFailed from the iteration instead."""

    def __init__(self, answers: Callable[[FindQuery, int], list[Mapping[str, str]]],
                 fail: bool = False) -> None:
        self.answers, self.fail = answers, fail
        self.looks = 0
        self.queries: list[FindQuery] = []

    def find(self, pacs: PacsNode, query: FindQuery, *, limit: int | None = None
             ) -> AsyncIterator[FindMatch]:
        self.queries.append(query)
        if query.level is QueryLevel.SERIES:
            self.looks += 1
        return self._matches(pacs, query, self.looks)

    async def _matches(self, pacs: PacsNode, query: FindQuery, look: int
                       ) -> AsyncIterator[FindMatch]:
        if self.fail:
            raise ConnectionFailed("Could not connect to WS3.", "refused", "start it")
        for values in self.answers(query, look):
            yield FindMatch(query.level, values)


def _series(counts: Mapping[str, int | str]) -> list[Mapping[str, str]]:
    return [{"SeriesInstanceUID": uid, "NumberOfSeriesRelatedInstances": str(count)}
            for uid, count in counts.items()]


def _check(courier: ScriptedCourier, **kwargs: Any) -> Any:
    params: dict[str, Any] = {"expected": {S1: 4, S2: 4}, "expected_total": 8, "wait": 0.3,
                              "interval": 0.01, **kwargs}
    return asyncio.run(check_arrival(courier, PACS, WS3, STUDY,  # type: ignore[arg-type]
                                     **params))


def test_a_pacs_that_sends_late_is_verified_when_the_images_arrive() -> None:
    """8 of 8 "sent", the destination holds 1, then 5, then all 8: verified on the third look."""
    script = {1: {S1: 1}, 2: {S1: 4, S2: 1}}
    courier = ScriptedCourier(lambda q, look: _series(script.get(look, {S1: 4, S2: 4})))
    check = _check(courier, wait=5.0)
    assert check.verified and courier.looks == 3
    assert check.words() == "verified at destination: 8/8"


def test_images_that_never_arrive_are_said_after_the_wait() -> None:
    courier = ScriptedCourier(lambda q, look: _series({S1: 1}))
    check = _check(courier, wait=0.2, interval=0.05)
    assert not check.verified and check.found == 1 and courier.looks >= 2
    assert check.words() == "destination has 1 of 8 after 0 s"
    assert [(s.series_uid, s.expected, s.found) for s in check.series] == [(S1, 4, 1), (S2, 4, 0)]


def test_a_destination_without_series_counts_is_counted_image_by_image() -> None:
    def answers(query: FindQuery, look: int) -> list[Mapping[str, str]]:
        if query.level is QueryLevel.SERIES:
            return _series({S1: "", S2: ""})
        series = query.keys["SeriesInstanceUID"]
        return [{"SOPInstanceUID": f"{series}.{i}", "SeriesInstanceUID": series}
                for i in range(4 if series == S1 else 2)]
    check = _check(ScriptedCourier(answers), wait=0)
    assert (check.found, check.expected) == (6, 8)


def test_only_the_images_sent_count() -> None:
    """An image-level send: other images of the series already there do not make it whole."""
    def answers(query: FindQuery, look: int) -> list[Mapping[str, str]]:
        assert query.level is QueryLevel.IMAGE  # images are counted one by one
        return [{"SOPInstanceUID": uid, "SeriesInstanceUID": S1} for uid in ("9.1", "9.2")]
    check = _check(ScriptedCourier(answers), expected={S1: 2}, expected_total=2,
                   sop_uids=("9.2", "9.3"), wait=0)
    assert (check.found, check.expected, check.verified) == (1, 2, False)


def test_more_than_expected_counts_as_complete_never_more() -> None:
    courier = ScriptedCourier(lambda q, look: _series({S1: 9, S2: 4, "other": 3}))
    check = _check(courier)
    assert check.words() == "verified at destination: 8/8"


def test_only_the_pacs_count_known() -> None:
    courier = ScriptedCourier(lambda q, look: _series({S1: 3, S2: 3}))
    check = _check(courier, expected=None, expected_total=6)
    assert check.words() == "verified at destination: 6/6"


def test_no_count_from_the_pacs_is_never_verified() -> None:
    """A PACS that reported no count (0 sent) proves nothing: never "verified 0/0"."""
    courier = ScriptedCourier(lambda q, look: _series({S1: 2}))
    check = _check(courier, expected=None, expected_total=0)
    assert not check.verified and courier.looks == 1
    assert check.words() == "destination has 2 (the PACS reported no count)"


def test_a_destination_that_cannot_be_asked_is_named_never_raised() -> None:
    check = _check(ScriptedCourier(lambda q, look: [], fail=True))
    assert check.error is not None and not check.verified
    assert check.words().startswith("not checked: WS3 at 10.0.0.9:4006 could not be asked "
                                     "what arrived (we are COURIER): Could not connect")


@pytest.mark.parametrize(("dest", "why"), [
    (Destination("WS3"), "its address is not saved"),
    (Destination("WS3", "10.0.0.9", 4006), "it is not marked as answering queries"),
])
def test_a_destination_not_saved_as_queryable_says_how(dest: Destination, why: str) -> None:
    courier = ScriptedCourier(lambda q, look: [])
    check = asyncio.run(check_arrival(courier, PACS, dest, STUDY,  # type: ignore[arg-type]
                                      expected=None, expected_total=3))
    assert check.error is not None and why in check.error and "--queryable-dest WS3" in check.error
    assert courier.queries == []  # nothing asked


def test_source_counts_of_images_need_no_query() -> None:
    courier = ScriptedCourier(lambda q, look: [])
    counts = asyncio.run(source_counts(courier, PACS, STUDY, (S1,),  # type: ignore[arg-type]
                                       ("9.1", "9.2", "9.1")))
    assert counts == {S1: 2} and courier.queries == []


# --- this computer: the files on disk --------------------------------------------------------

def _write(folder: Path, patient: str, series: str, *names: str) -> None:
    where = folder / patient / STUDY / series
    where.mkdir(parents=True, exist_ok=True)
    for name in names:
        (where / name).write_bytes(b"x")


def test_files_on_disk_are_counted_across_patient_folders(tmp_path: Path) -> None:
    _write(tmp_path, "PID1", S1, "a.dcm", "b.dcm", ".incoming-c.part")
    _write(tmp_path, "PID-other-spelling", S2, "c.dcm")
    (tmp_path / "PID1" / "9.9.9").mkdir()  # another study
    check = check_files(tmp_path, STUDY, 4, expected={S1: 2, S2: 2}, waited=1.2)
    assert check.where == THIS_COMPUTER
    assert check.words() == "destination has 3 of 4 after 1 s"
    _write(tmp_path, "PID1", S2, "d.dcm")
    assert check_files(tmp_path, STUDY, 4, expected={S1: 2, S2: 2}).verified


def test_files_of_a_missing_folder_are_none(tmp_path: Path) -> None:
    check = check_files(tmp_path / "nowhere", STUDY, 2)
    assert (check.found, check.verified, check.error) == (0, False, None)


# --- settings and profiles ------------------------------------------------------------------

def test_arrival_settings_default_and_rules(tmp_path: Path) -> None:
    assert (AppSettings().arrival_wait, AppSettings().arrival_interval) == (30, 3)
    path = tmp_path / "settings.json"
    path.write_text('{"arrival_wait": 5000, "arrival_interval": 2}', encoding="utf-8")
    loaded = read_app_settings(path)
    assert (loaded.settings.arrival_wait, loaded.settings.arrival_interval) == (30, 2)
    assert any("arrival_wait" in problem for problem in loaded.problems)


def test_queryable_destination_round_trips_and_a_bad_value_costs_only_the_flag() -> None:
    node = PACS.with_changes(destinations=(WS3, Destination("WS4")))
    data = node.to_json()
    assert data["destinations"] == [{"ae_title": "WS3", "host": "10.0.0.9", "port": 4006,
                                     "queryable": True}, {"ae_title": "WS4"}]
    assert PacsNode.from_json(data) == node
    data["destinations"][0]["queryable"] = "yes"
    assert PacsNode.from_json(data).destinations[0].queryable is False
    with pytest.raises(InvalidInput, match="destination can be queried"):
        Destination("WS3", queryable="yes")  # type: ignore[arg-type]


# --- the command line: refused before anything is sent ---------------------------------------

def _cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = run(["--config-dir", str(tmp_path), *argv])
    out, err = capsys.readouterr()
    return code, out, " ".join(err.split())


ADD = ("nodes", "add", "main", "--host", "127.0.0.1", "--port", "1", "--aet", "PACS")


def test_nodes_add_queryable_dest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _cli(tmp_path, capsys, *ADD, "--dest", "WS3", "--queryable-dest", "WS3")
    assert code == 2 and "--queryable-dest" in err and "WS3@HOST:PORT" in err
    code, _, err = _cli(tmp_path, capsys, *ADD, "--dest", "WS3@h:4006",
                        "--queryable-dest", "WS9")
    assert code == 2 and "must name one of the --dest AE titles" in err
    code, _, _ = _cli(tmp_path, capsys, *ADD, "--dest", "WS3@h:4006", "--dest", "WS4",
                      "--queryable-dest", "WS3")
    assert code == 0
    saved = json.loads((tmp_path / "nodes.json").read_text(encoding="utf-8"))
    dests = saved["pacs"][0]["destinations"]
    assert [d.get("queryable", False) for d in dests] == [True, False]
    code, out, _ = _cli(tmp_path, capsys, "nodes", "list")
    assert "WS3@h:4006 (queryable) (default)" in " ".join(out.split())


@pytest.mark.parametrize(("dest", "words"), [
    ("WS4", "it is not marked as answering queries"),
    ("WS9", "needs the destination WS9 saved in a PACS profile"),
])
def test_move_verify_without_a_queryable_destination_sends_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], dest: str, words: str) -> None:
    """Refused with exit 2 before any association (a TCP connect would fail this test)."""
    assert _cli(tmp_path, capsys, *ADD, "--dest", "WS4@h:4006")[0] == 0
    code, _, err = _cli(tmp_path, capsys, "move", "--pacs", "main", "--dest", dest,
                        "--study", STUDY, "--verify")
    assert code == 2
    assert "--verify" in err and words in err and f"--queryable-dest {dest}" in err


def test_probe_study_needs_a_destination(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli(tmp_path, capsys, *ADD)[0] == 0
    code, _, err = _cli(tmp_path, capsys, "nodes", "test", "main", "--probe-study", STUDY)
    assert code == 2 and "--probe-study" in err and "needs --dest" in err
