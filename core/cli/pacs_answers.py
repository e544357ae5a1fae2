"""What the command line tells a person about the PACS's answers themselves (issue 8, §5-6).

- ``find``: answers that could not be read are left out of the rows; one line on stderr
  ("1 answer from the PACS could not be read") and exit code 3 (partly completed) when that
  is the only fault; when the search also ended on another error, that error is printed and
  the line follows it (exit 1).
- ``move`` by ``-k`` keys: the resolving C-FIND's unreadable answers and answers whose UID
  cannot be sent are left out, the rest is sent. Each is said before the send (stderr, or
  one ``{"event": "resolved", ...}`` JSON line with ``unreadable_answers`` under ``--json``);
  a send that completed is then reported with exit code 3, since not everything the keys
  matched was sent. Answers that repeat a target (a PACS answering one row per image) are
  sent once: said in the verbose log and as ``repeated_answers`` of the JSON line. A
  non-conformant UID the PACS returned is sent back verbatim with a warning and changes no
  exit code.
"""

from __future__ import annotations

import logging
import sys

from dicom_courier.core.cli.parser import EXIT_FAILED, EXIT_OK, EXIT_PARTIAL
from dicom_courier.core.cli.render import print_error, stderr
from dicom_courier.core.cli.safe_text import line
from dicom_courier.core.dimse.find import FindResult, unreadable_summary
from dicom_courier.core.outcome.errors import CourierError, UnreadableResults
from dicom_courier.core.qr.resolve import Resolution
from dicom_courier.core.text.safe_text import json_text

logger = logging.getLogger(__name__)


def report_find(result: FindResult) -> int:
    """Print how a search ended beyond its rows (stderr) and return its exit code.

    0: ended normally; 3: only unreadable answers were left out; 1: another fault.
    """
    if result.error is None:
        return EXIT_OK
    print_error(result.error)
    if isinstance(result.error, UnreadableResults):
        return EXIT_PARTIAL
    if result.unreadable:
        stderr.print(line(("Also:", "bold"), " ", unreadable_summary(result.unreadable) + "."))
    return EXIT_FAILED


def report_resolution(resolution: Resolution, *, as_json: bool) -> None:
    """Say what a move by keys will not send, and every warning, before the first C-MOVE."""
    warnings = resolution.warnings
    if resolution.repeated:  # a PACS answering per image: said with -v, sent once anyway
        logger.info("The PACS named the same target in %d more answer(s): %d target(s) to "
                    "send, each once.", resolution.repeated, len(resolution.targets))
    if as_json:
        if warnings or resolution.incomplete or resolution.repeated:
            sys.stdout.write(json_text({
                "event": "resolved", "targets": len(resolution.targets),
                "left_out": len(resolution.left_out),  # sentences (kept for scripts)
                "not_found": len(resolution.not_found),  # typed UIDs not on the PACS
                "not_found_uids": list(resolution.not_found),
                "unreadable_answers": resolution.unreadable,
                "repeated_answers": resolution.repeated,
                "warnings": list(warnings)}) + "\n")
            sys.stdout.flush()
        return
    for warning in warnings:
        stderr.print(line(("Warning:", "bold yellow"), " ", warning))


def nothing_to_send(resolution: Resolution, called_aet: str) -> CourierError:
    """The error when a selection resolved to no target at all (exit 1)."""
    if resolution.incomplete:
        reasons = list(resolution.left_out)
        if resolution.unreadable:
            reasons.insert(0, unreadable_summary(resolution.unreadable) + ".")
        return CourierError(
            "Nothing could be sent: " + reasons[0][0].lower() + reasons[0][1:],
            f"{called_aet} answered the search, but no answer names a study that can be "
            "moved. " + " ".join(reasons[1:]),
            "Search with 'dicom-courier find' to see what the PACS returns, and give the "
            "details to the PACS administrator.")
    return CourierError(
        "Nothing matched: no study to send.",
        f"The search on {called_aet} found nothing for these keys.",
        "Check the keys with 'dicom-courier find' first.")


def move_exit_code(resolution: Resolution, code: int) -> int:
    """A send that completed, of a selection that left answers out, is partial (3)."""
    return EXIT_PARTIAL if code == EXIT_OK and resolution.incomplete else code
