"""Issue 8 §5-6 on the rig: answers that cannot be read, and the PACS's own UIDs sent back.

Each row is a PACS scripted at the PDU level (tests/fakes/pdu_peer.py) that does one thing
real archives were seen doing: a Pending that announces a match and sends none, a data set
cut off mid-element, names without a declared character set, bytes invalid in the declared
one, and a Series Instance UID with a letter prefix ("MR1.2.840.113619…", as some modalities
wrote them). Rows assert what a person notices: the rows kept, the words of the summary,
the exit code, and what the C-MOVE-RQ really carried.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from pydicom.dataset import Dataset

from dicom_courier.core.cli import render
from dicom_courier.core.cli.main import run
from dicom_courier.core.config.profiles import PacsNode, Timeouts
from dicom_courier.core.dimse.engine import Courier
from dicom_courier.core.dimse.find import FindResult
from dicom_courier.core.outcome.errors import InvalidInput, ProtocolViolation, UnreadableResults
from dicom_courier.core.qr.query import FindMatch, FindQuery, MoveTarget, QueryLevel, QueryModel
from dicom_courier.core.qr.resolve import resolve_matches
from dicom_courier.core.text.safe_text import csv_cell
from tests.fakes.pdu_peer import (
    PduPeer,
    PeerConnection,
    element,
    encode_dataset,
    find_answers,
    query_retrieve_script,
)

AET = "RIGPACS"
STUDY = "1.2.826.0.1.3680043.8.498.77"
ODD_SERIES = "MR1.2.840.113619.2.55.3.604688119.969.1268071029.320"
GOOD_SERIES = "1.2.840.113619.2.55.3.604688119.969.1268071029.321"


def _node(port: int) -> PacsNode:
    return PacsNode(name="rig", called_aet=AET, host="127.0.0.1", port=port,
                    timeouts=Timeouts(connect=3, acse=5, idle=3))


def _study(name: str = "GOOD^ONE", uid: str = STUDY) -> bytes:
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    ds.PatientName = name
    ds.StudyInstanceUID = uid
    return encode_dataset(ds)


def _series(uid: str) -> bytes:
    ds = Dataset()
    ds.QueryRetrieveLevel = "SERIES"
    ds.StudyInstanceUID = STUDY
    # written raw: pydicom would warn about the letter prefix (the modality wrote it so)
    return encode_dataset(ds) + element(0x0020, 0x000E, uid.encode() + b"\x00" * (len(uid) % 2))


#: A study answer whose last element, Study Instance UID, announces 999999 bytes: 2 came.
CUT_OFF = (element(0x0008, 0x0052, b"STUDY ") + element(0x0010, 0x0010, b"CUT^OFF ")
           + element(0x0020, 0x000D, b"AB", length=999999))


def _name_only(raw_name: bytes, charset: bytes | None = None) -> bytes:
    head = element(0x0008, 0x0005, charset) if charset is not None else b""
    return (head + element(0x0008, 0x0052, b"STUDY ")
            + element(0x0010, 0x0010, raw_name + b" " * (len(raw_name) % 2))
            + element(0x0020, 0x000D, STUDY.encode()))




def _search(script: Callable[[PeerConnection], None]) -> tuple[list[FindMatch], FindResult]:
    with PduPeer(script) as peer, Courier() as courier:
        async def scenario() -> tuple[list[FindMatch], FindResult]:
            op = courier.find(_node(peer.port), FindQuery(), raise_on_error=False)
            return [m async for m in op], op.result

        return asyncio.run(scenario())


# ---------------------------------------------------------------- §5 answers that cannot be read


@pytest.mark.network
def test_a_pending_announcing_a_match_and_sending_none_is_counted_and_named() -> None:
    started = time.monotonic()
    rows, result = _search(find_answers(_study("FIRST^ROW"), _study("NEVER^READ"), missing_after=1))
    assert time.monotonic() - started < 2, "ended at once, not at the idle timeout"
    assert [m.get("PatientName") for m in rows] == ["FIRST^ROW"]  # kept
    # The protocol fault wins the title (results after it are lost, not only this one) ...
    assert isinstance(result.error, ProtocolViolation), result.error
    assert result.error.title == f"{AET} sent data that is not valid DICOM."
    # ... and the answer that never came is counted too.
    assert result.unreadable == 1
    assert result.error.details["Answers that could not be read"] == "1"


@pytest.mark.network
def test_a_data_set_cut_off_mid_element_is_never_shown_or_offered_to_move() -> None:
    rows, result = _search(find_answers(_study("GOOD^ONE"), CUT_OFF, _study("GOOD^TWO")))
    assert [m.get("PatientName") for m in rows] == ["GOOD^ONE", "GOOD^TWO"]
    assert all(m.get("StudyInstanceUID") == STUDY for m in rows), "no 'AB' row"
    assert isinstance(result.error, UnreadableResults), result.error
    assert result.error.title == "1 answer from the PACS could not be read."
    assert result.unreadable == 1
    problem = result.error.details["First problem"]
    assert "StudyInstanceUID" in problem and "999999" in problem and "CUT" not in problem


@pytest.mark.parametrize(("raw", "charset", "shown", "undeclared", "undecodable"), [
    pytest.param("MÜLLER^ANNA".encode(), None, "MÜLLER^ANNA", True, False,
                 id="no charset, UTF-8 bytes"),
    pytest.param("MÜLLER^ANNA".encode("latin-1"), None, "MÜLLER^ANNA", True, False,
                 id="no charset, Latin-1 bytes"),
    pytest.param("MÜLLER^ANNA".encode("latin-1"), b"ISO_IR 192", "M\ufffdLLER^ANNA", False,
                 True, id="UTF-8 declared, Latin-1 bytes"),
    pytest.param(b"MULLER^ANNA", None, "MULLER^ANNA", False, False, id="ASCII, no charset"),
])
@pytest.mark.network
def test_character_sets_are_read_and_marked(raw: bytes, charset: bytes | None, shown: str,
                                            undeclared: bool, undecodable: bool) -> None:
    rows, result = _search(find_answers(_name_only(raw, charset)))
    assert result.error is None and result.unreadable == 0
    [match] = rows
    assert match.get("PatientName") == shown
    assert ("PatientName" in match.undeclared_charset) is undeclared
    assert ("PatientName" in match.undecodable) is undecodable


# ---------------------------------------------------------------- the command line


@pytest.fixture(autouse=True)
def wide_consoles(monkeypatch: pytest.MonkeyPatch) -> None:
    for console in (render.stdout, render.stderr):
        monkeypatch.setattr(console, "width", 2000)


def _cli(capsys: pytest.CaptureFixture[str], tmp_path: Path, port: int,
         *argv: str) -> tuple[int, str, str]:
    code = run(["--config-dir", str(tmp_path), argv[0], "--host", "127.0.0.1", "--port",
                str(port), "--aet", AET, *argv[1:]])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.network
def test_cli_find_says_an_answer_could_not_be_read_and_exits_3(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with PduPeer(find_answers(_study("GOOD^ONE"), CUT_OFF)) as peer:
        code, out, err = _cli(capsys, tmp_path, peer.port, "find")
    assert code == 3
    assert "GOOD, ONE" in out and "CUT" not in out  # the table words names for people
    assert "1 answer from the PACS could not be read" in err
    assert "Traceback" not in err


@pytest.mark.network
def test_cli_find_after_a_missing_match_names_the_fault_and_the_answer(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with PduPeer(find_answers(_study("FIRST^ROW"), _study("X"), missing_after=1)) as peer:
        code, out, err = _cli(capsys, tmp_path, peer.port, "find", "--format", "json")
    assert code == 1
    assert [row["PatientName"] for row in json.loads(out)] == ["FIRST^ROW"]
    assert "not valid DICOM" in err
    assert "1 answer from the PACS could not be read" in err


@pytest.mark.network
def test_cli_find_marks_a_value_whose_character_set_was_not_declared(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with PduPeer(find_answers(_name_only("MÜLLER^ANNA".encode()))) as peer:
        code, out, _ = _cli(capsys, tmp_path, peer.port, "find")
    assert code == 0
    assert "MÜLLER, ANNA (character set not declared)" in out


@pytest.mark.network
def test_control_characters_never_reach_a_csv_file(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert csv_cell("HEAD\x1b]0;owned\x07\x1b[2J") == "HEAD\\x1b]0;owned\\x07\\x1b[2J"
    assert csv_cell("one\r\ntwo\x85") == "one\\x0d\\x0atwo\\x85"
    with PduPeer(find_answers(_name_only(b"EVIL\x1b[2J^NAME"))) as peer:  # stdout is not a tty
        code, out, _ = _cli(capsys, tmp_path, peer.port, "find", "--format", "csv")
    assert code == 0
    assert "\x1b" not in out and "EVIL\\x1b[2J^NAME" in out


# ---------------------------------------------------------------- §6 the PACS's own UIDs


@pytest.mark.network
def test_a_series_uid_with_a_letter_prefix_is_sent_back_verbatim_with_a_warning(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    moves: list[Dataset] = []
    script = query_retrieve_script([_series(ODD_SERIES), _series(GOOD_SERIES)], moves)
    with PduPeer(script) as peer:
        code, _, err = _cli(capsys, tmp_path, peer.port, "move", "--level", "SERIES",
                            "-k", f"StudyInstanceUID={STUDY}", "--dest", "WS")
    assert code == 0, err  # was 2 (a usage error), and nothing was sent
    # the bytes on the wire, not pydicom's reading of them
    sent = sorted(bytes(ds.get_item(0x0020000E).value).rstrip(b"\x00") for ds in moves)
    assert sent == sorted([ODD_SERIES.encode(), GOOD_SERIES.encode()]), "both, verbatim"
    assert all(ds.QueryRetrieveLevel == "SERIES" and ds.StudyInstanceUID == STUDY
               for ds in moves)
    assert f"Warning: The PACS returned the Series Instance UID {ODD_SERIES}" in err
    assert "sent back exactly as the PACS returned it" in err


@pytest.mark.network
def test_move_by_keys_sends_the_readable_answers_and_says_one_was_not(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    moves: list[Dataset] = []
    with PduPeer(query_retrieve_script([_study("GOOD^ONE"), CUT_OFF], moves)) as peer:
        code, out, err = _cli(capsys, tmp_path, peer.port, "move", "-k", "PatientName=*",
                              "--dest", "WS", "--json")
    assert code == 3, err  # completed, but not everything the keys matched was sent
    assert [str(ds.StudyInstanceUID) for ds in moves] == [STUDY]
    events = [json.loads(text) for text in out.splitlines()]
    [resolved] = [e for e in events if e["event"] == "resolved"]
    assert resolved["unreadable_answers"] == 1 and resolved["targets"] == 1
    assert "1 answer from the PACS could not be read: it is not sent." in resolved["warnings"]


@pytest.mark.network
def test_move_by_keys_with_only_an_unreadable_answer_does_not_say_nothing_matched(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    moves: list[Dataset] = []
    with PduPeer(query_retrieve_script([CUT_OFF], moves)) as peer:
        code, _, err = _cli(capsys, tmp_path, peer.port, "move", "-k", "PatientName=*",
                            "--dest", "WS")
    assert code == 1 and not moves
    assert "Nothing could be sent: 1 answer from the PACS could not be read" in err
    assert "Nothing matched" not in err


def test_typed_uids_are_still_held_to_ps3_5(capsys: pytest.CaptureFixture[str],
                                            tmp_path: Path) -> None:
    with pytest.raises(InvalidInput):
        MoveTarget(study_uid=STUDY, series_uids=(ODD_SERIES,))
    code, _, err = _cli(capsys, tmp_path, 1, "move", "--study", STUDY, "--series", ODD_SERIES,
                        "--dest", "WS")
    assert code == 2 and "--series" in err


def test_only_what_cannot_be_encoded_is_left_out_and_the_rest_is_sent() -> None:
    def series(uid: str) -> FindMatch:
        return FindMatch(QueryLevel.SERIES, {"StudyInstanceUID": STUDY,
                                             "SeriesInstanceUID": uid})

    resolution = resolve_matches([series(ODD_SERIES), series(""), series("1.2\\3"),
                                  series("9" * 65), series("1.2\x1b[2J"), series(GOOD_SERIES)],
                                 QueryLevel.SERIES)
    assert [t.series_uids for t in resolution.targets] == [(ODD_SERIES,), (GOOD_SERIES,)]
    assert len(resolution.left_out) == 4 and resolution.incomplete
    assert all("\x1b" not in w for w in resolution.warnings)
    assert resolution.targets[0].to_identifier(QueryModel.STUDY).SeriesInstanceUID == ODD_SERIES
