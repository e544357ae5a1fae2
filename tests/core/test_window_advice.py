"""Issue 11 §6: the advice a window user reads names only what the window can do; the command
line keeps its own words (``cli_action``)."""

from __future__ import annotations

import pytest

from dicom_courier.core.dimse.destination_check import (
    DestinationEcho,
    PeerFamily,
    Reach,
    verdict_for,
)
from dicom_courier.core.outcome.errors import Peer
from dicom_courier.core.outcome.events import MoveOutcome, MoveResult
from dicom_courier.core.outcome.status import failure_for_status

PEER = Peer("COURIER", "ORTHANC", "127.0.0.1", 4242)
#: What a window user cannot do: run a command, or pass an option.
COMMAND_LINE_WORDS = ("dicom-courier", "nodes test", " --")


def _window_words_are_clean(action: str) -> None:
    for words in COMMAND_LINE_WORDS:
        assert words not in action, action


@pytest.mark.parametrize("code", [0xA700, 0xA801, 0xA900, 0xB000, 0xC000, 0xC123, 0xFE00,
                                  0x0122, 0xA702])
@pytest.mark.parametrize("operation", ["send", "search"])
def test_no_status_advice_sends_a_window_user_to_the_command_line(code: int,
                                                                  operation: str) -> None:
    error = failure_for_status(code, operation=operation, peer=PEER, destination="WS3")
    _window_words_are_clean(error.action)


def test_unable_to_process_send_points_at_test_destination_in_each_surface() -> None:
    error = failure_for_status(0xC000, operation="send", peer=PEER, destination="WS3")
    assert "Test destination" in error.action
    assert "dicom-courier nodes test PROFILE" in error.command_line_action
    assert "Test destination" not in error.command_line_action


def test_undecided_destination_advice_has_a_window_and_a_command_line_variant() -> None:
    result = MoveResult(outcome=MoveOutcome.FAILED, total=None, completed=0, failed=0,
                        warning=0, status=0xC000, duration=0.1, error_comment=None,
                        failed_sop_uids=(), error=None, destination="WS3", peer=PEER)
    found = DestinationEcho(Reach.ANSWERS, "10.0.0.3:104", "it answered our C-ECHO")
    verdict = verdict_for(result, found, PeerFamily.ORTHANC)
    _window_words_are_clean(verdict.action)
    assert "Manage PACS and destinations" in verdict.action
    assert "Test destination" in verdict.action
    assert "dicom-courier nodes test PROFILE" in verdict.command_line_action
    # the shared part of the advice is the same in both
    assert verdict.action.split("Test it:")[0] == verdict.command_line_action.split("Test it:")[0]


def _store_and_profile_errors(tmp_path: object) -> list[object]:
    from pathlib import Path

    from dicom_courier.core.config.instance_lock import ProfileLock
    from dicom_courier.core.dimse.find import search_cut_short
    from dicom_courier.core.jobs.store_errors import StoreReadOnly, StoreTooNew
    from dicom_courier.core.outcome.errors import CourierError

    folder = Path(str(tmp_path))
    errors: list[object] = [StoreReadOnly(folder / "jobs.db"),
                            StoreTooNew(folder / "jobs.db", 9, 2),
                            search_cut_short(PEER, 12, for_move=True)]
    with ProfileLock(folder):
        try:
            with ProfileLock(folder):
                pass
        except CourierError as exc:
            errors.append(exc)
    return errors


def test_store_lock_and_look_up_advice_names_no_option_in_the_window(tmp_path: object) -> None:
    """Review of issue 11: a window user read "choose another folder with --config-dir",
    "start this one with another --config-dir" and "send by --study UID"."""
    errors = _store_and_profile_errors(tmp_path)
    assert len(errors) == 4
    for error in errors:
        _window_words_are_clean(error.action)  # type: ignore[attr-defined]
        assert " --" in error.command_line_action  # type: ignore[attr-defined]
