"""``find``'s matches as JSON, CSV and table cells, each value worked on once per column.

The bytes are those of the obvious code (``json_text([{column: value}...], indent=1)``, one
``csv_cell`` per cell, ``cell(format_value(...))`` per table cell); only the cost differs:
``json.dumps`` with an indent runs its pure-Python encoder over every row, while here each
value goes through the C string encoder once per distinct value of its column; CSV and
table cells are made once per distinct value of a column (a modality, a date, a referring
physician repeat across thousands of rows). No rich: JSON and CSV output loads none.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from json.encoder import encode_basestring
from typing import TextIO

from dicom_courier.core.qr.query import FindMatch
from dicom_courier.core.text.people_text import format_value
from dicom_courier.core.text.safe_text import (
    TABLE_CELL_LIMIT,
    csv_cell,
    display,
    json_text,
    terminal_safe_json,
)


def json_rows(matches: Sequence[FindMatch], columns: Sequence[str]) -> str:
    """``json_text([{c: m.get(c) for c in columns} for m in matches], indent=1)``, the same
    text, without its trailing newline. Worked column by column: each distinct value of a
    column is encoded once (C encoder), rows are joined."""
    if not matches or not columns:
        return json_text([{c: m.get(c) for c in columns} for m in matches], indent=1)
    encoded_columns = []
    for column in columns:
        values = [m.get(column) for m in matches]
        if not {type(v) for v in values} <= {str}:  # not a PACS's text: the plain road
            return json_text([{c: m.get(c) for c in columns} for m in matches], indent=1)
        key = "  " + encode_basestring(column) + ": "
        encoded = {v: key + encode_basestring(v) for v in set(values)}
        encoded_columns.append(list(map(encoded.__getitem__, values)))
    rows = map(",\n".join, zip(*encoded_columns, strict=True))
    return terminal_safe_json("[\n {\n" + "\n },\n {\n".join(rows) + "\n }\n]")


def write_csv(out: TextIO, matches: Sequence[FindMatch], columns: Sequence[str]) -> None:
    """A header of ``columns`` and one row per match, every cell :func:`.csv_cell`-ed
    (formula cells get a leading ``'``, controls escaped), ``\\n`` line ends. Each distinct
    value of a column is made a cell once."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([csv_cell(c) for c in columns])
    if not columns:  # one empty line per match, as the row-by-row writer wrote them
        writer.writerows([] for _ in matches)
        return
    cell_columns = []
    for column in columns:
        values = [m.get(column) for m in matches]
        cells = {v: csv_cell(v) for v in set(values)}
        cell_columns.append(list(map(cells.__getitem__, values)))
    writer.writerows(zip(*cell_columns, strict=True))


def table_cells(matches: Sequence[FindMatch], columns: Sequence[str]) -> list[list[str]]:
    """Per match, per column, the table cell's text: the value as a person reads it
    (:func:`.people_text.format_value`; an absent value is an empty cell), control characters
    escaped, cut at :data:`.TABLE_CELL_LIMIT`, then a mark if the PACS did not send it
    readably ("(undecodable)", "(character set not declared)")."""
    caches: list[dict[str | None, str]] = [{} for _ in columns]
    rows = []
    for match in matches:
        marked = bool(match.undecodable or match.undeclared_charset)
        cells = []
        for column, cache in zip(columns, caches, strict=True):
            value = match.get(column)
            text = cache.get(value)
            if text is None:
                text = cache[value] = display(
                    "" if value is None else format_value(column, value), TABLE_CELL_LIMIT)
            cells.append(text + mark(match, column) if marked else text)
        rows.append(cells)
    return rows


def mark(match: FindMatch, keyword: str) -> str:
    """What a table cell adds after a value the PACS did not send readably."""
    if keyword in match.undecodable:
        return " (undecodable)"
    if keyword in match.undeclared_charset:
        return " (character set not declared)"
    return ""
