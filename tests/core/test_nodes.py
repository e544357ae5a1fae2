"""Validation messages name the field and the rule, before anything touches the network."""

from __future__ import annotations

import pytest

from dicom_courier.core.config.profiles import Destination, PacsNode, Timeouts, validate_ae_title
from dicom_courier.core.outcome.errors import InvalidInput


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("", "must not be blank"),
        ("    ", "must not be blank"),
        ("A" * 17, "at most 16 characters"),
        ("BAD\\AE", "backslash"),
        ("BAD\tAE", "control characters"),
        ("ÄRZTE", "plain ASCII"),
    ],
)
def test_bad_ae_titles_are_refused_with_the_rule(value: str, rule: str) -> None:
    with pytest.raises(InvalidInput) as info:
        validate_ae_title(value, "PACS AE title")
    assert info.value.field == "PACS AE title"
    assert rule in str(info.value)


def test_ae_title_padding_is_stripped_and_16_characters_are_fine() -> None:
    assert validate_ae_title("  ORTHANC ") == "ORTHANC"
    assert validate_ae_title("A" * 16) == "A" * 16


@pytest.mark.parametrize("port", [0, 65536, -1, "abc", "12a", True])
def test_bad_ports_are_refused(port: object) -> None:
    with pytest.raises(InvalidInput, match="PACS port: must be a whole number from 1 to 65535"):
        PacsNode(name="p", called_aet="PACS", host="h", port=port)  # type: ignore[arg-type]


def test_empty_host_and_name_are_refused() -> None:
    with pytest.raises(InvalidInput, match="PACS host: must not be empty"):
        PacsNode(name="p", called_aet="PACS", host=" ", port=104)
    with pytest.raises(InvalidInput, match="PACS name: must not be empty"):
        PacsNode(name="", called_aet="PACS", host="h", port=104)


def test_timeouts_must_be_positive() -> None:
    with pytest.raises(InvalidInput, match="idle timeout"):
        Timeouts(idle=0)
    with pytest.raises(InvalidInput, match="total deadline"):
        Timeouts(total=-5)


def test_duplicate_destinations_are_refused() -> None:
    with pytest.raises(InvalidInput, match="unique"):
        PacsNode(name="p", called_aet="PACS", host="h", port=104,
                 destinations=(Destination("WS1"), Destination("WS1")))


def test_profile_round_trips_through_json() -> None:
    node = PacsNode(name="Main PACS", called_aet="PACS", host="pacs.example", port="104",
                    calling_aet="ME", timeouts=Timeouts(idle=30, total=600),
                    destinations=(Destination("WS1", "10.0.0.5", 11112, "Reading room"),
                                  Destination("AIBOX")))
    again = PacsNode.from_json(node.to_json())
    assert again == node
    assert again.port == 104
    assert again.default_destination == Destination("WS1", "10.0.0.5", 11112, "Reading room")
