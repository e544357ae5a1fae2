"""Every final status a PACS can send maps to a typed error with words a person can act on."""

from __future__ import annotations

import pytest

from dicom_courier.core.outcome import errors
from dicom_courier.core.outcome.errors import Peer
from dicom_courier.core.outcome.status import Category, category_of, failure_for_status

PEER = Peer(calling_aet="COURIER", called_aet="MAINPACS", host="10.1.2.3", port=104)


@pytest.mark.parametrize(
    ("code", "kind", "retryable"),
    [
        (0xA801, errors.MoveDestinationUnknown, False),
        (0xA701, errors.OutOfResources, True),
        (0xA702, errors.OutOfResources, True),
        (0xA900, errors.IdentifierMismatch, False),
        (0xC000, errors.UnableToProcess, False),
        (0xC123, errors.UnableToProcess, False),
        (0xB000, errors.PartialFailure, False),
        (0x0000, errors.PartialFailure, False),  # "success" although images failed
        (0x0122, errors.NotSupported, False),
    ],
)
def test_status_maps_to_typed_error(code: int, kind: type, retryable: bool) -> None:
    error = failure_for_status(code, operation="send", peer=PEER, destination="WS-3")
    assert type(error) is kind
    assert error.retryable is retryable
    assert error.details["DIMSE status"] == f"0x{code:04X}"
    assert error.details["PACS address"] == "10.1.2.3:104"
    assert error.action


def test_unknown_destination_names_destination_pacs_and_where_to_configure() -> None:
    error = failure_for_status(0xA801, operation="send", peer=PEER, destination="WS-3")
    text = error.render()
    assert "MAINPACS does not know the destination WS-3" in error.title
    assert "DicomModalities" in text and "AETable" in text
    assert "Our AE title (calling): COURIER" in text


def test_commentless_c000_on_a_send_lists_the_likely_causes_honestly() -> None:
    error = failure_for_status(0xC000, operation="send", peer=PEER, destination="WS-3")
    assert "without saying why" in error.explanation
    for cause in ("not in the PACS's list", "not reachable", "nothing matched",
                  "does not allow our AE title"):
        assert cause in error.explanation


def test_c000_with_a_comment_quotes_the_pacs() -> None:
    error = failure_for_status(0xC001, operation="send", peer=PEER, comment="disk full")
    assert '"disk full"' in error.explanation
    assert error.details["Error comment from the PACS"] == "disk full"


def test_categories() -> None:
    assert category_of(0xFF00) is Category.PENDING
    assert category_of(0xFF01) is Category.PENDING
    assert category_of(0x0000) is Category.SUCCESS
    assert category_of(0xFE00) is Category.CANCEL
    assert category_of(0xB000) is Category.WARNING
    assert category_of(0xA801) is Category.FAILURE
