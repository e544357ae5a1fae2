"""``receive --allow`` replaces the PACS profiles' AE titles, and says so (issue 13 part C2
§7): in the help, in the start line and in the refusal a PACS admin reads; ``receive --help``
and ``nodes test --help`` list their exit codes as ``move --help`` does."""

from __future__ import annotations

import pytest

from dicom_courier.core.cli.parser import build_parser
from dicom_courier.core.config.profiles import PacsNode
from dicom_courier.core.config.receiver_settings import ReceiverSettings, allow_list

PROFILES = [PacsNode(name="main", called_aet="ORTHANC", host="127.0.0.1", port=4242)]


def test_a_listed_allow_list_refusal_says_the_list_replaces_the_profiles() -> None:
    allow = allow_list(ReceiverSettings(allowed_aets=("WS1",)), PROFILES)
    why = allow.refusal("ORTHANC", "127.0.0.1")  # a saved profile, but not on the list
    assert why is not None
    assert "ORTHANC at 127.0.0.1 may not send here" in why
    assert "replaces the PACS profiles' AE titles" in why and "--allow" in why, why
    assert "Add a PACS profile" not in why, why  # it would not help while the list is set
    assert allow.refusal("WS1", "10.0.0.9") is None


def test_without_a_list_the_profiles_decide_and_the_refusal_says_so() -> None:
    allow = allow_list(ReceiverSettings(), PROFILES)
    assert allow.refusal("ORTHANC", "127.0.0.1") is None
    why = allow.refusal("STRANGER", "127.0.0.1")
    assert why is not None and "Add a PACS profile" in why


def _help(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit):
        build_parser().parse_args([*argv, "--help"])
    return " ".join(capsys.readouterr().out.split())


def test_receive_help_says_allow_replaces_and_lists_exit_codes(
        capsys: pytest.CaptureFixture[str]) -> None:
    words = _help(capsys, "receive")
    assert "replaces the PACS profiles' AE titles" in words, words
    assert "exit codes: 0 stopped with Ctrl-C" in words and "1 the receiver could not start" \
        in words and "2 usage error" in words, words


def test_nodes_test_help_lists_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    words = _help(capsys, "nodes", "test")
    assert "exit codes: 0 every check passed" in words and "1 a check failed" in words, words
    assert "@here: this computer, the way the profile retrieves" in words, words
