"""The ``find`` table for people, drawn as rich draws it, at the cost of the rows' text.

rich lays a :class:`rich.table.Table` out exactly (column widths from every cell's
measurement, word wrap, folding, CJK widths), but at ~1 ms a row: 5,000 matches took 5 s to
print while the search itself took 0.4 s. This module prints the same bytes in a few
hundredths of that:

- **Widths and frame by rich.** A column's width depends on each cell only through the
  largest "shortest line" (longest word) and the largest "longest line" of its cells
  (:meth:`rich.text.Text.__rich_measure__`: both pass through monotone clamps). So rich lays
  out a *frame table*: the header and two rows holding, per column, the cell with the longest
  word and the cell with the longest text. Its top border gives the widths; its lines above
  the first row (border, header with its styles, separator) and its bottom border are printed
  as rich wrote them.
- **Rows by us, where it is plain.** Body cells carry no style, so a row line is the box's
  verticals around each cell's lines. A cell of printable ASCII (one terminal cell per
  character) is wrapped here exactly as :meth:`rich.text.Text.wrap` does (word wrap, long
  words folded, ``fold`` columns; cut at the width for ``no_wrap`` ones); any other cell
  (wide or combining characters, a width under one) is rendered by rich itself, cell by cell
  (:meth:`rich.console.Console.render_lines`). Equal cells are drawn once.

Anything outside this road (no heavy-head box: an ASCII-only terminal, legacy Windows
consoles, Jupyter) prints the rich table itself. Byte equality with rich is what the tests
check (tests/core/test_match_table.py), on random and hostile text and several widths.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich import box
from rich.console import Console
from rich.padding import Padding
from rich.style import Style
from rich.table import Table
from rich.text import Text

#: printable ASCII only: one terminal cell per character, ``\s`` is the space alone.
_PLAIN = re.compile(r"[\x20-\x7e]*")
_WORD = re.compile(r"\s*\S+\s*")  # rich._wrap.re_word
_TRAILING_SPACE = re.compile(r"\s+$")  # rich.text._re_whitespace


@dataclass(frozen=True)
class TableColumn:
    """One column: its header (data, literal) and how rich treats overflow in it.

    ``no_wrap=True, overflow="ignore"`` keeps a UID whole (cut at the column width only when
    the terminal is narrower than the UID); ``overflow="fold"`` word-wraps, folding words
    longer than the column.
    """

    header: Text
    no_wrap: bool
    overflow: str


def build_table(columns: Sequence[TableColumn], rows: Sequence[Sequence[Text]]) -> Table:
    """The rich table :func:`print_table` draws (the layout both roads share)."""
    table = Table(show_lines=False, header_style="bold")
    for column in columns:
        table.add_column(column.header, no_wrap=column.no_wrap, overflow=column.overflow)  # type: ignore[arg-type]
    for row in rows:
        table.add_row(*row)
    return table


def print_table(console: Console, columns: Sequence[TableColumn], rows: Sequence[Sequence[str]],
                to_text: Callable[[int, str], Text]) -> None:
    """Print ``rows`` under ``columns`` on ``console``: the bytes ``console.print(table)``
    writes for :func:`build_table` of the same cells, in one write.

    ``rows``: per row, per column, the cell's final plain text (already made printable and
    cut, marks appended). ``to_text(column_index, plain)``: the rich ``Text`` rich would be
    given for that cell (used where rich draws a cell or the whole table).
    """
    if not columns:
        return
    text = _fast_table(console, columns, rows, to_text)
    if text is None:  # outside the plain road: rich draws it all
        console.print(build_table(columns, [[to_text(i, v) for i, v in enumerate(row)]
                                            for row in rows]))
        return
    console.file.write(text)
    console.file.flush()


def _measure(plain: str) -> tuple[int, int]:
    """(longest word, longest line) in cells, as :meth:`Text.__rich_measure__` counts them."""
    if _PLAIN.fullmatch(plain):
        words = plain.split()
        return (max(map(len, words)) if words else len(plain)), len(plain)
    from rich.cells import cell_len

    lines = plain.splitlines()
    longest = max(map(cell_len, lines)) if lines else 0
    words = plain.split()
    return (max(map(cell_len, words)) if words else longest), longest


def _frame_rows(rows: Sequence[Sequence[str]], count: int) -> list[list[str]]:
    """Two rows holding, per column, the cell with the longest word and the longest cell."""
    best_min = [(-1, "")] * count
    best_max = [(-1, "")] * count
    seen: list[set[str]] = [set() for _ in range(count)]
    for row in rows:
        for index, plain in enumerate(row):
            if plain in seen[index]:
                continue
            seen[index].add(plain)
            low, high = _measure(plain)
            if low > best_min[index][0]:
                best_min[index] = (low, plain)
            if high > best_max[index][0]:
                best_max[index] = (high, plain)
    return [[plain for _, plain in best_min], [plain for _, plain in best_max]]


def _fast_table(console: Console, columns: Sequence[TableColumn],
                rows: Sequence[Sequence[str]],
                to_text: Callable[[int, str], Text]) -> str | None:
    """The whole table as ``console.print`` would write it, or None off the plain road."""
    if not rows or console.legacy_windows or console.is_jupyter:
        return None
    count = len(columns)
    frame_rows = [[to_text(i, v) for i, v in enumerate(row)]
                  for row in _frame_rows(rows, count)]
    with console.capture() as capture:
        console.print(build_table(columns, frame_rows))
    lines = capture.get().split("\n")
    heavy = box.HEAVY_HEAD
    top = lines[0]
    if not (top.startswith(heavy.top_left) and top.endswith(heavy.top_right)):
        return None  # another box (ASCII-only output) or styled borders
    widths = [len(part) for part in top[1:-1].split(heavy.top_divider)]
    if len(widths) != count or min(widths) < 3 or any(ch != heavy.top for ch in top[1:-1].replace(
            heavy.top_divider, "")):
        return None  # (or a column squeezed below one character: rich's own corner cases)
    try:
        below_head = next(i for i, line in enumerate(lines) if line.startswith(heavy.head_row_left))
    except StopIteration:
        return None
    head = "\n".join(lines[:below_head + 1]) + "\n"
    bottom = next((line for line in reversed(lines) if line), "")
    if not bottom.startswith(heavy.bottom_left):
        return None
    cells = _CellLines(console, columns, widths, to_text)
    out = [head]
    last = len(rows) - 1
    for number, row in enumerate(rows):
        left, divider, right = ((heavy.foot_left, heavy.foot_vertical, heavy.foot_right)
                                if number == last else
                                (heavy.mid_left, heavy.mid_vertical, heavy.mid_right))
        shaped = [cache.get(plain) or cells.lines(i, plain)
                  for i, (cache, plain) in enumerate(zip(cells.cache, row, strict=True))]
        height = max(map(len, shaped))
        if height == 1 and all(shaped):
            out.append(left + divider.join([c[0] for c in shaped]) + right + "\n")
            continue
        for line_no in range(height):
            out.append(left + divider.join([c[line_no] if line_no < len(c) else cells.blank[i]
                                            for i, c in enumerate(shaped)]) + right + "\n")
    out.append(bottom + "\n")
    return "".join(out)


class _CellLines:
    """Each cell's lines, padded to its column width (padding included), drawn once per
    distinct (column, text)."""

    def __init__(self, console: Console, columns: Sequence[TableColumn], widths: list[int],
                 to_text: Callable[[int, str], Text]) -> None:
        self.console, self.columns, self.widths, self.to_text = console, columns, widths, to_text
        self.blank = [" " * w for w in widths]
        self.cache: list[dict[str, list[str]]] = [{} for _ in widths]

    def lines(self, index: int, plain: str) -> list[str]:
        cached = self.cache[index].get(plain)
        if cached is None:
            cached = self.cache[index][plain] = self._draw(index, plain)
        return cached

    def _draw(self, index: int, plain: str) -> list[str]:
        width = self.widths[index] - 2  # the cell's padding: one space each side
        column = self.columns[index]
        if width >= 1 and _PLAIN.fullmatch(plain):
            if column.no_wrap and column.overflow == "ignore":  # one line, cut at the width
                return [" " + plain[:width].ljust(width) + " "]
            if column.overflow == "fold":
                return [" " + line + " " for line in _fold_plain(plain, width)]
        options = self.console.options.update(
            width=self.widths[index], justify="left", no_wrap=column.no_wrap,
            overflow=column.overflow, height=None, highlight=False)  # type: ignore[arg-type]
        rendered = self.console.render_lines(Padding(self.to_text(index, plain), (0, 1, 0, 1)),
                                             options, style=Style.null())
        # literal cells carry no style: their segments are their text
        return ["".join(segment.text for segment in line) for line in rendered]


def _fold_plain(text: str, width: int) -> list[str]:
    """Printable-ASCII ``text`` word-wrapped to ``width`` (>= 1) as rich's ``Text.wrap(...,
    justify="left", overflow="fold")`` does, each line padded to ``width``."""
    if len(text) <= width:
        return [text.ljust(width)]
    breaks: list[int] = []  # rich._wrap.divide_line, one cell per character
    offset = 0
    for match in _WORD.finditer(text):
        start, word = match.start(), match.group()
        length = len(word.rstrip())
        if width - offset >= length:
            offset += len(word)
        elif length > width:
            chunks = [word[i:i + width] for i in range(0, len(word), width)]
            for number, chunk in enumerate(chunks):
                if start:
                    breaks.append(start)
                if number == len(chunks) - 1:
                    offset = len(chunk)
                else:
                    start += len(chunk)
        elif offset and start:
            breaks.append(start)
            offset = len(word)
    out = []
    for begin, end in zip([0, *breaks], [*breaks, len(text)], strict=True):
        line = text[begin:end]
        if len(line) > width:  # Text.rstrip_end: trailing spaces beyond the width go
            space = _TRAILING_SPACE.search(line)
            if space is not None:
                line = line[:len(line) - min(len(space.group()), len(line) - width)]
        out.append(line[:width] if len(line) > width else line.ljust(width))
    return out
