"""How the command line shows results and errors: rich tables for people, JSON/CSV for scripts."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from dicom_courier.core.outcome.errors import CourierError
from dicom_courier.core.qr.query import FindMatch
from dicom_courier.core.text.safe_text import display

if TYPE_CHECKING:
    from rich.console import Console

#: A pipe or file gets a wide table (no columns dropped); a terminal gets its own width.
#: Both print every ``str`` literally (no markup, no emoji); data goes in as ``Text``.
#: Made at first use (module ``__getattr__``), so JSON and CSV output never loads rich.
stdout: Console
stderr: Console

#: The width of a table written to a pipe or a file (characters).
PIPE_WIDTH = 250


def __getattr__(name: str) -> Console:
    """``stdout`` and ``stderr``: the rich consoles, made once, when first used."""
    if name == "stdout":
        return _stdout()
    if name == "stderr":
        return _stderr()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _stdout() -> Console:
    made = globals().get("stdout")
    if made is None:
        from dicom_courier.core.cli.safe_text import console

        made = globals()["stdout"] = console(
            width=None if sys.stdout.isatty() else PIPE_WIDTH)
    return made


def _stderr() -> Console:
    made = globals().get("stderr")
    if made is None:
        from dicom_courier.core.cli.safe_text import console

        made = globals()["stderr"] = console(stderr=True)
    return made


def print_error(error: CourierError) -> None:
    """Title, explanation, what to do, then the technical details, on stderr.

    Every part is literal text (an AE title ``AI[/]BOX`` or a PACS comment with ``ESC`` in it
    is shown as it is, escaped), each cut at :data:`.safe_text.MESSAGE_LIMIT` characters.
    """
    from dicom_courier.core.cli.safe_text import line, literal

    stderr = _stderr()
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
    """The columns to show: the ``preferred`` ones any match has, in that order, then every
    other keyword in the order it first appears (not QueryRetrieveLevel,
    SpecificCharacterSet, RetrieveAETitle). Each distinct key set is read once."""
    first_seen: dict[str, None] = {}
    key_sets: set[tuple[str, ...]] = set()
    for m in matches:
        keys = tuple(m.values)
        if keys not in key_sets:
            key_sets.add(keys)
            first_seen.update(dict.fromkeys(keys))
    seen = [c for c in preferred if c in first_seen]
    for key in first_seen:
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
        from dicom_courier.core.cli.match_output import json_rows

        sys.stdout.write(json_rows(matches, columns) + "\n")
    elif fmt == "csv":  # formula cells get a leading ', control characters are escaped
        from dicom_courier.core.cli.match_output import write_csv

        write_csv(sys.stdout, matches, columns)
    elif columns:  # worded for people as the window words them (names, dates, code lists);
        # literal cells, controls escaped, long values cut (64 MB prints at once)
        from rich.text import Text

        from dicom_courier.core.cli.match_output import table_cells
        from dicom_courier.core.cli.match_table import TableColumn, print_table
        from dicom_courier.core.cli.safe_text import cell

        heads = [TableColumn(cell(column), no_wrap=True, overflow="ignore")
                 if column.endswith("UID")  # kept whole: copied into 'move --study'
                 else TableColumn(cell(column), no_wrap=False, overflow="fold")
                 for column in columns]
        print_table(_stdout(), heads, table_cells(matches, columns),
                    lambda _index, plain: Text(plain))
