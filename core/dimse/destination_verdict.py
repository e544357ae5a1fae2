"""What an admin's destination test adds up to, with how sure it is (pure; no network).

The window's "Test destination" asks two things (:func:`.diagnose.examine_destination`): does the
PACS know the destination (a probe C-MOVE of a study that does not exist, PS3.4 C.4.2), and
does the destination answer at its own address (C-ECHO, PS3.7 9.1.5)? PACS answer the first
question differently (some refuse an unknown destination with 0xA801, some only look at it
when something matches, Orthanc answers a comment-less 0xC000 for several causes), so the
verdict says how sure it is: "certain" only when no other reading of the facts is left,
"likely" when a real send is the only proof, "cannot tell" otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from dicom_courier.core.dimse.destination_check import DestinationEcho, Reach


class Known(StrEnum):
    """What the probe move said about the PACS knowing the destination."""

    NO = "refused"                 # 0xA801: the PACS does not know it
    NOT_REFUSED = "not refused"    # it accepted the probe (0x0000, nothing to send)
    UNTOLD = "cannot tell"         # its answer does not tell (0xC000 without comment, down)
    PROBE_FAILED = "probe failed"  # the probe itself failed (PACS down, refused us, ...)


class Confidence(StrEnum):
    CERTAIN = "certain"
    LIKELY = "likely"
    UNKNOWN = "cannot tell"


@dataclass(frozen=True)
class DestinationVerdict:
    """One line for a person: ``text`` starts with the confidence ("certain: ...") unless
    the confidence is only "likely" (then it reads as the facts: "WS3 answers; ...").
    ``usable``: a send to it can be expected to work (True only when nothing refused it and
    it answered, or its address is not saved)."""

    confidence: Confidence
    usable: bool
    text: str
    detail: str = ""


def destination_verdict(pacs: str, dest: str, known: Known, *, certain: bool,
                        found: DestinationEcho, probe_problem: str = "") -> DestinationVerdict:
    """The verdict from the facts: ``pacs``/``dest`` AE titles, what the probe said
    (``known``; ``certain`` whether that refusal has no other reading), what our C-ECHO to
    the destination found, and the probe's own failure title (``probe_problem``)."""
    where = found.address or ""
    if known is Known.NO:
        sure = Confidence.CERTAIN if certain else Confidence.LIKELY
        also = (f"; {dest} does not answer at {where} either" if found.reach is Reach.SILENT
                else "")
        detail = (f"{pacs} refused a probe move to it (0xA801, \"move destination unknown\"). "
                  f"On the PACS, add {dest} with its host and port to the list of known DICOM "
                  "nodes, or pick a destination the PACS already knows." if certain else
                  f"{pacs} refused it with 0xA801 (\"move destination unknown\"); a few PACS "
                  "also answer that when they cannot connect to a destination they know. "
                  f"Save {dest}'s address in the profile to tell the two apart.")
        return DestinationVerdict(sure, False,
                                  f"{sure.value}: the PACS {pacs} does not know {dest}{also}",
                                  detail)
    if known is Known.PROBE_FAILED:
        return DestinationVerdict(Confidence.UNKNOWN, False,
                                  f"cannot tell: the probe failed: {probe_problem}",
                                  "Test the PACS itself first (Test).")
    if found.reach is Reach.SILENT:
        told = (f"; {pacs} did not refuse it" if known is Known.NOT_REFUSED else
                f"; whether {pacs} knows it cannot be told while it does not answer")
        return DestinationVerdict(Confidence.CERTAIN, False,
                                  f"certain: {dest} does not answer at {where}{told}",
                                  f"{_sentence(found.finding)}. Start {dest} (or its DICOM "
                                  "receiver), check its port and the firewall, then test "
                                  "again.")
    if known is Known.NOT_REFUSED:
        if found.reach is Reach.ANSWERS:
            return DestinationVerdict(
                Confidence.LIKELY, True, f"{dest} answers; the PACS {pacs} did not refuse it",
                f"{_sentence(found.finding)}. Some PACS look at a destination only when something "
                "matches, so only a real send proves that the PACS knows it.")
        return DestinationVerdict(
            Confidence.LIKELY, True, f"the PACS {pacs} did not refuse {dest}",
            f"{dest}'s address is not saved in the profile, so whether it answers was not "
            "checked; only a real send proves that the PACS knows it.")
    answers = f"{dest} answers; " if found.reach is Reach.ANSWERS else ""
    return DestinationVerdict(
        Confidence.UNKNOWN, False,
        f"cannot tell: {answers}the PACS {pacs}'s answer does not say whether it knows {dest}",
        "Check the PACS's list of DICOM nodes for it, or send a small study.")


def _sentence(text: str) -> str:
    """``text`` as the start of a sentence (its first letter upper case)."""
    return text[:1].upper() + text[1:]
