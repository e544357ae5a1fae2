"""How the command line shows results and errors: rich tables for people, JSON/CSV for scripts."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from dicom_courier.core.errors import CourierError
from dicom_courier.core.query import FindMatch

#: A pipe or file gets a wide table (no columns dropped); a terminal gets its own width.
stdout = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 250)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)


def print_error(error: CourierError) -> None:
    """Title, explanation, what to do, then the technical details, on stderr."""
    stderr.print(f"[bold red]Error:[/] {error.title}", markup=True)
    if error.explanation:
        stderr.print(error.explanation, markup=False)
    if error.action:
        stderr.print(f"[bold]What to do:[/] {error.action}", markup=True)
    for key, value in error.details.items():
        stderr.print(f"  {key}: {value}", markup=False)


def print_usage_error(command: str, error: CourierError) -> None:
    sys.stderr.write(f"dicom-courier {command}: error: {error.title}\n")


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
    """Print ``matches`` as a table, JSON or CSV; ``preferred`` columns come first."""
    columns = list(preferred) if only_preferred else columns_of(matches, preferred)
    if fmt == "json":
        rows = [{c: m.get(c) for c in columns} for m in matches]
        sys.stdout.write(json.dumps(rows, ensure_ascii=False, indent=1) + "\n")
    elif fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        for m in matches:
            writer.writerow([m.get(c) for c in columns])
    else:
        table = Table(show_lines=False, header_style="bold")
        for column in columns:
            if column.endswith("UID"):  # kept whole, so it can be copied into 'move --study'
                table.add_column(column, no_wrap=True, overflow="ignore")
            else:
                table.add_column(column, overflow="fold")
        for m in matches:
            table.add_row(*[m.get(c) + (" (undecodable)" if c in m.undecodable else "")
                            for c in columns])
        stdout.print(table)
