"""A catalogue over DIMSE status codes (PS3.4 Annex C.4, PS3.7 Annex C): category and plain words.

pynetdicom's ``status`` module knows the categories; this module adds what a person needs:
what the code means for *this* request and what to do about it, as a typed error from
:mod:`dicom_courier.core.outcome.errors`. Dialogs and the command line render from here only.
"""

from __future__ import annotations

from enum import StrEnum

from dicom_courier.core.outcome.errors import (
    Cancelled,
    DimseFailure,
    ErrorContext,
    IdentifierMismatch,
    MoveDestinationUnknown,
    NotSupported,
    OutOfResources,
    PartialFailure,
    Peer,
    UnableToProcess,
)


class Category(StrEnum):
    """PS3.7 status categories, as pynetdicom names them."""

    SUCCESS = "Success"
    PENDING = "Pending"
    WARNING = "Warning"
    CANCEL = "Cancel"
    FAILURE = "Failure"
    UNKNOWN = "Unknown"


def category_of(code: int) -> Category:
    """The category of ``code``; 0xB000 (sub-operations had failures) is a Warning."""
    from pynetdicom.status import code_to_category  # not at import: the window paints first

    try:
        return Category(code_to_category(code))
    except ValueError:
        return Category.UNKNOWN


def is_pending(code: int) -> bool:
    return category_of(code) is Category.PENDING


#: Where the window tests a destination (the PACS manager's "Test destination" button).
TEST_DESTINATION_IN_WINDOW = ("Manage PACS and destinations…, select the destination and "
                              "press Test destination")
#: The same on the command line.
TEST_DESTINATION_ON_COMMAND_LINE = "dicom-courier nodes test PROFILE"
#: Said of a destination with no address in the profile, after a failed send (``{dest}``).
SAVE_ADDRESS_HINT = (" (Save {dest}'s address as AET@HOST:PORT in the profile and Courier "
                     "checks whether it answers.)")


def _where_pacs_configures_destinations() -> str:
    return (
        "On the PACS, add the destination's AE title with its host and port to the list of "
        "known DICOM nodes (Orthanc: \"DicomModalities\" in its configuration; dcmqrscp: "
        "\"HostTable\"/\"AETable\"; commercial PACS: the DICOM nodes / AE configuration page), "
        "or pick a destination the PACS already knows."
    )


def _identifier_mismatch_action(model: str | None) -> str:
    """What to do after 0xA900, for the model in use (never "try" the model in use)."""
    keys = ("Add the unique key of every level above the one asked for (the Study Instance "
            "UID for a series, also the Series Instance UID for images")
    if model == "patient":
        return (keys + ", and the Patient ID), or use the Study Root model if the PACS offers "
                "it. Send the details to support if it persists.")
    if model == "study":
        return keys + "). Send the details to support if it persists."
    return (keys + "; with the Patient Root model also the Patient ID). Send the details to "
            "support if it persists.")


def failure_for_status(
    code: int,
    *,
    operation: str,
    peer: Peer | None,
    comment: str | None = None,
    destination: str | None = None,
    counts: str | None = None,
    model: str | None = None,
) -> DimseFailure | Cancelled:
    """The typed error for a non-success final ``code`` of a C-FIND or C-MOVE.

    ``operation`` is "search" or "send"; ``destination`` is the move destination AE title;
    ``model`` the query model of the request ("study", "patient"; None: not known), so that
    advice never suggests the model already in use (0xA900).
    """
    pacs = peer.called_aet if peer else "the PACS"
    extra = {"Move destination": destination} if destination else {}
    if counts:
        extra["Images"] = counts
    common: ErrorContext = {"peer": peer, "status": code, "comment": comment, "details": extra}

    if code == 0xA801:
        return MoveDestinationUnknown(
            f"{pacs} does not know the destination {destination or '(none)'}.",
            f"The PACS answered \"move destination unknown\" (0xA801): it has no host and port "
            f"for the AE title {destination!r}, so it cannot send the images there. (A few PACS "
            "also answer 0xA801 when they know the destination but cannot connect to it.)",
            _where_pacs_configures_destinations(),
            **common,
        )
    if code in (0xA700, 0xA701, 0xA702):
        what = {
            0xA700: "was out of resources",
            0xA701: "was out of resources to work out the number of matches",
            0xA702: "was out of resources to send the images (no image could be sent)",
        }[code]
        return OutOfResources(
            f"{pacs} could not finish the {operation}: it {what}.",
            "The PACS is busy or short of memory, disk or connections right now.",
            "Try again in a few minutes. If it keeps happening, ask the PACS administrator "
            "to check the PACS's load and its limit of simultaneous associations.",
            **common,
        )
    if code == 0xA900:
        return IdentifierMismatch(
            f"{pacs} refused the {operation}: the request does not fit the query model.",
            "The PACS answered \"identifier does not match SOP class\" (0xA900): a key or level "
            "is not allowed in this information model, or a unique key of a level above the "
            "one asked for is missing (PS3.4 C.4.1.2.2.1)"
            + (", e.g. the Patient ID." if model == "patient" else
               ", e.g. the Study Instance UID of a series." if model == "study" else "."),
            _identifier_mismatch_action(model),
            **common,
        )
    if code == 0x0122:
        return NotSupported(
            f"{pacs} does not support this {operation}.",
            "The PACS answered \"SOP class not supported\" (0x0122).",
            "Choose the other query model (Study Root / Patient Root), or ask the PACS "
            "administrator which query/retrieve services are enabled for our AE title.",
            **common,
        )
    if operation == "search" and category_of(code) is Category.WARNING:
        return PartialFailure(
            f"{pacs} finished the search with a warning (0x{code:04X}).",
            "The results shown arrived, but the PACS says the search was not fully carried "
            "out as asked (for example a key it does not support, or more matches than it "
            "returns)" + (f": \"{comment}\"." if comment else "."),
            "Narrow the search (date range, modality) or use fewer keys, and search again if "
            "a study you expect is missing.",
            **common,
        )
    if code in (0x0000, 0xB000) or category_of(code) is Category.WARNING:
        # Sends decide these in core.outcome; this is the catalogue's fallback wording.
        return PartialFailure(
            f"Only part of the {operation} succeeded.",
            f"The PACS answered 0x{code:04X} and reported that some images failed or arrived "
            "with warnings.",
            "Check the destination's disk space and its log for rejected images, then retry "
            "the failed images.",
            **common,
        )
    if code == 0xFE00:
        return Cancelled(
            f"The {operation} was cancelled.",
            "The PACS confirmed the cancel (0xFE00). Images already sent stay at the destination.",
            "Send again if it was cancelled by mistake.",
            **common,
        )
    if (code & 0xF000) == 0xC000:
        if comment:
            explanation = f"The PACS answered 0x{code:04X} and said: \"{comment}\"."
        elif operation == "send":
            explanation = (
                f"The PACS answered \"unable to process\" (0x{code:04X}) without saying why. "
                "Some PACS (Orthanc among them) answer this for several different problems. "
                f"Likely causes: (1) the destination {destination!r} is not in the PACS's list of "
                f"DICOM nodes; (2) the destination is known but not reachable from the PACS "
                f"(not running, wrong host or port, firewall); (3) nothing matched the request; "
                f"(4) the PACS does not allow our AE title to retrieve."
            )
        else:
            explanation = (
                f"The PACS answered \"unable to process\" (0x{code:04X}) without saying why. "
                "Often the query uses a key or level the PACS does not support."
            )
        if operation == "send":
            then = (" and read the PACS's log to see which cause applies. "
                    + _where_pacs_configures_destinations())
            action = f"Test the destination ({TEST_DESTINATION_IN_WINDOW}){then}"
            cli_action: str | None = \
                f"Test the destination ({TEST_DESTINATION_ON_COMMAND_LINE}){then}"
        else:
            action = "Simplify the query (fewer keys, Study Root) and check the PACS's log."
            cli_action = None
        refused = UnableToProcess(f"{pacs} could not process the {operation}.", explanation,
                                  action, **common)
        refused.cli_action = cli_action
        return refused
    return DimseFailure(
        f"{pacs} answered the {operation} with status 0x{code:04X}.",
        f"The status is in the category \"{category_of(code).value}\".",
        "Check the PACS's log for this request; send the details to support.",
        **common,
    )
