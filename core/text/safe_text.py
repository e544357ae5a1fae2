"""Data is never markup or control: how a PACS value, a typed value or a profile name is shown.

Pure string functions shared by the command line (:mod:`.cli.safe_text` wraps them in rich
``Text``), the window (``gui.plain_text``) and the CSV writers. Nothing here changes what is
sent, stored or written as JSON; these are only the *displayed* and *exported-to-a-spreadsheet*
forms of a value.

- :func:`printable`: control characters (C0, DEL, C1: ``ESC ] 0 ; x BEL``, ``ESC [ 2 J``, CR,
  backspace, NEL), Unicode bidi overrides/isolates and line/paragraph separators, and lone
  surrogates (an undecodable byte of a command-line argument) are shown escaped (``\\x1b``,
  ``\\u202e``, ``\\udcff``), so a value can neither drive the terminal nor reorder a line.
- :func:`shorten`: a long value is cut for display with an ellipsis (a 64 MB value costs the
  same as a 200-character one).
- :func:`csv_cell`: a cell a spreadsheet would run as a formula (starting with ``=``, ``+``,
  ``-``, ``@``, tab or CR; OWASP "CSV injection") gets a leading ``'``. A plain number such as
  ``-5`` or ``+1.5e3`` is left alone: a spreadsheet reads it as a number, never as a formula,
  and quoting it would turn counts into text. Control characters are written escaped
  (``\\x1b``) in a CSV *file* too, line breaks and tabs included: a file is ``cat``-ed to a
  terminal and ``grep``-ed line by line, and issue 8 holds that C0/C1 controls never reach a
  CSV file. Every other character (``Müller``, ``山田``) is written as it is.
"""

from __future__ import annotations

import re

#: The longest value a terminal table cell shows (characters), before the ellipsis.
TABLE_CELL_LIMIT = 200
#: The longest value one line of a message (error title, comment, detail) shows.
MESSAGE_LIMIT = 2000
#: What replaces the cut-off end of a long value.
ELLIPSIS = "…"

_CONTROL = re.compile(
    "[\x00-\x1f\x7f-\x9f"           # C0 (incl. ESC, BEL, CR, BS, TAB, LF), DEL, C1 (incl. CSI, NEL)
    "\u061c\u200e\u200f"            # Arabic letter mark, left-to-right / right-to-left marks
    "\u2028\u2029"                  # line and paragraph separators
    "\u202a-\u202e\u2066-\u2069"    # bidi embeddings, overrides and isolates
    "\ud800-\udfff]"                # lone surrogates (undecodable bytes): would crash a write
)
_CONTROL_BUT_NEWLINE = re.compile(_CONTROL.pattern.replace("\x00-\x1f", "\x00-\x09\x0b-\x1f"))
#: What json.dumps(ensure_ascii=False) leaves raw (it escapes C0 itself; a raw line break in
#: its output is indentation, not data).
_CONTROL_BEYOND_C0 = re.compile("[" + _CONTROL.pattern[1:].replace("\x00-\x1f\x7f", "\x7f"))
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` with every control character shown escaped (``"a\\x1b[2Jb"``).

    ``keep_newlines`` keeps ``\\n`` as a line break (for multi-line text we wrote ourselves,
    such as an explanation); a value from a PACS is shown on one line. The backslash itself is
    not escaped: DICOM uses it between the values of a multi-valued element.
    """
    pattern = _CONTROL_BUT_NEWLINE if keep_newlines else _CONTROL
    return pattern.sub(_escaped, text)


def shorten(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters (``limit >= 1``), the last one an ellipsis
    if anything was cut."""
    if len(text) <= limit:
        return text
    return text[:max(limit - 1, 0)] + ELLIPSIS


def display(value: object, limit: int | None = TABLE_CELL_LIMIT, *,
            keep_newlines: bool = False) -> str:
    """``value`` as a person should see it: ``str()``, cut to ``limit`` characters (None: no
    cut) and :func:`printable`. Cost is bounded by ``limit``, not by the size of ``value``."""
    text = "" if value is None else value if isinstance(value, str) else str(value)
    if limit is None:
        return printable(text, keep_newlines=keep_newlines)
    shown = printable(text[:limit + 1], keep_newlines=keep_newlines)
    return shorten(shown, limit) if len(text) > limit or len(shown) > limit else shown


def json_text(value: object, *, indent: int | None = None) -> str:
    """``value`` as JSON with the true characters, except those that could drive a terminal or
    reorder a line (DEL, C1, bidi controls, line separators) and lone surrogates, which are
    written as ``\\uXXXX`` escapes: still the same JSON value, safe on a terminal."""
    import json

    return terminal_safe_json(json.dumps(value, ensure_ascii=False, indent=indent))


def terminal_safe_json(text: str) -> str:
    """JSON ``text`` made by ``json.dumps(..., ensure_ascii=False)`` (which escapes C0
    itself) with DEL, C1, bidi and line-separator characters and lone surrogates written as
    ``\\uXXXX`` escapes, as :func:`json_text` writes them."""
    return _CONTROL_BEYOND_C0.sub(_json_escape, text)


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def csv_cell(value: object) -> str:
    """``value`` as a CSV cell a spreadsheet shows as text, never runs as a formula.

    Returns ``"'=HYPERLINK(…)"`` for ``"=HYPERLINK(…)"``; ``"-5"`` and ``""`` unchanged.
    Control characters are shown escaped (:func:`printable`: ``"a\\x1bb"``) whether the CSV
    goes to a terminal or a file (a file is shown on a terminal sooner or later).
    """
    text = printable("" if value is None else value if isinstance(value, str) else str(value))
    if text.startswith(_FORMULA_START) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text
