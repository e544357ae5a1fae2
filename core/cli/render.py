"""How the command line shows results and errors: rich tables for people, JSON/CSV for scripts."""

from __future__ import annotations

import csv
import sys
from collections.abc import Sequence

from rich.table import Table

from dicom_courier.core.cli.safe_text import cell, console, line, literal
from dicom_courier.core.outcome.errors import CourierError
from dicom_courier.core.qr.query import FindMatch
from dicom_courier.core.text.people_text import format_value
from dicom_courier.core.text.safe_text import csv_cell, display, json_text

#: A pipe or file gets a wide table (no columns dropped); a terminal gets its own width.
#: Both print every ``str`` literally (no markup, no emoji); data goes in as ``Text``.
stdout = console(width=None if sys.stdout.isatty() else 250)
stderr = console(stderr=True)


def print_error(error: CourierError) -> None:
    """Title, explanation, what to do, then the technical details, on stderr.

    Every part is literal text (an AE title ``AI[/]BOX`` or a PACS comment with ``ESC`` in it
    is shown as it is, escaped), each cut at :data:`.safe_text.MESSAGE_LIMIT` characters.
    """
    stderr.print(line(("Error:", "bold red"), " ", error.title))
    if error.explanation:
        stderr.print(literal(error.explanation, keep_newlines=True))
    if error.command_line_action:
        stderr.print(line(("What to do:", "bold"), " ",
                          literal(error.command_line_action, keep_newlines=True)))
    for key, value in error.details.items():
        stderr.print(line("  ", key, ": ", value))


def print_usage_error(command: str, error: CourierError) -> None:
    """One line on stderr; a typed value's control characters are shown escaped."""
    sys.stderr.write(f"dicom-courier {display(command, None)}: error: "
                     f"{display(error.title, None)}\n")


def columns_of(matches: Sequence[FindMatch], preferred: Sequence[str]) -> list[str]:
    seen = [c for c in preferred if any(c in m.values for m in matches)]
    for m in matches:
        for key in m.values:
            if key not in seen and key not in ("QueryRetrieveLevel", "SpecificCharacterSet",
                                               "RetrieveAETitle"):
                seen.append(key)
    return seen


def print_matches(matches: Sequence[FindMatch], fmt: str, preferred: Sequence[str], *,
                  only_preferred: bool = False) -> None:
    """Print ``matches`` as a table, JSON or CSV; ``preferred`` columns come first.

    JSON and CSV (for scripts) carry every value as the PACS sent it; the table (for people)
    shows names, dates, times and code lists as :func:`.people_text.format_value` words them
    (``Müller^Jürgen`` → "Müller, Jürgen", ``20240301`` → "2024-03-01", ``CT\\MR`` →
    "CT, MR"), and UIDs, IDs and text as they came.
    """
    columns = list(preferred) if only_preferred else columns_of(matches, preferred)
    if fmt == "json":
        rows = [{c: m.get(c) for c in columns} for m in matches]
        sys.stdout.write(json_text(rows, indent=1) + "\n")
    elif fmt == "csv":  # formula cells get a leading ', control characters are escaped
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow([csv_cell(c) for c in columns])
        for m in matches:
            writer.writerow([csv_cell(m.get(c)) for c in columns])
    elif columns:  # worded for people as the window words them (names, dates, code lists);
        # literal cells, controls escaped, long values cut (64 MB prints at once)
        table = Table(show_lines=False, header_style="bold")
        for column in columns:
            if column.endswith("UID"):  # kept whole, so it can be copied into 'move --study'
                table.add_column(cell(column), no_wrap=True, overflow="ignore")
            else:
                table.add_column(cell(column), overflow="fold")
        for m in matches:
            table.add_row(*[cell(format_value(c, m.get(c))) + _mark(m, c) for c in columns])
        stdout.print(table)


def _mark(match: FindMatch, keyword: str) -> str:
    """What a table cell adds after a value the PACS did not send readably."""
    if keyword in match.undecodable:
        return " (undecodable)"
    if keyword in match.undeclared_charset:
        return " (character set not declared)"
    return ""
