"""The one road from a value to the terminal: rich ``Text`` built from data, never markup.

rich parses ``[...]`` in a plain ``str`` as markup (``CT ABD [/w contrast]`` raises
MarkupError; ``[link=…]`` becomes a hyperlink), replaces ``:name:`` with emoji and passes
``ESC`` sequences through to the terminal. Everything the command line prints is therefore
a :class:`rich.text.Text` made here: data parts are literal and :func:`.safe_text.display`-ed
(control characters escaped, long values cut); only the styles we choose are styles.
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import ProgressColumn, Task
from rich.text import Text

from dicom_courier.core.cli.log_format import PrintableFormatter
from dicom_courier.core.text.safe_text import MESSAGE_LIMIT, TABLE_CELL_LIMIT, display

__all__ = ["LiteralColumn", "Part", "PrintableFormatter", "cell", "console", "line", "literal"]

#: A styled piece we wrote (``("Error:", "bold red")``) or a plain piece of data (``str``).
Part = str | tuple[str, str] | Text


def literal(value: object, style: str = "", *, limit: int | None = MESSAGE_LIMIT,
            keep_newlines: bool = False) -> Text:
    """``value`` as literal terminal text: no markup, no emoji, controls escaped, cut at
    ``limit`` characters (None: never cut)."""
    return Text(display(value, limit, keep_newlines=keep_newlines), style=style)


def cell(value: object) -> Text:
    """A table cell: literal, cut at :data:`TABLE_CELL_LIMIT` characters."""
    return literal(value, limit=TABLE_CELL_LIMIT)


def line(*parts: Part) -> Text:
    """One line from parts: a ``str`` is data (literal), a ``(text, style)`` pair is our own
    styled words, a ``Text`` is taken as it is. ``line(("Error:", "bold red"), " ", title)``."""
    out = Text()
    for part in parts:
        if isinstance(part, Text):
            out.append_text(part)
        elif isinstance(part, tuple):
            out.append(display(part[0], None), style=part[1])
        else:
            out.append(display(part, MESSAGE_LIMIT))
    return out


def console(*, stderr: bool = False, width: int | None = None) -> Console:
    """A Console that treats every ``str`` as literal too (no markup, emoji or highlighting),
    so a forgotten ``Text`` still cannot turn data into markup."""
    return Console(stderr=stderr, markup=False, emoji=False, highlight=False, soft_wrap=True,
                   width=width)


class LiteralColumn(ProgressColumn):
    """A progress column showing ``task.description`` or ``task.fields[field]`` literally.

    A ``Text`` field (styles we chose, e.g. "[red]3 failed" built with :func:`line`) is shown
    as it is; anything else is data and goes through :func:`literal`.
    """

    def __init__(self, field: str | None = None, *, limit: int = TABLE_CELL_LIMIT) -> None:
        super().__init__()
        self.field, self.limit = field, limit

    def render(self, task: Task) -> Text:
        value = task.description if self.field is None else task.fields.get(self.field, "")
        return value if isinstance(value, Text) else literal(value, limit=self.limit)
