"""Hostile text: values a PACS, a user or a settings file can hand us that must stay data.

Shared by every test of "data is never markup or control" (issue 7, section 2) and by any
later test that needs a study description, AE title or profile name that fights back.
"""

from __future__ import annotations

#: Text rich would parse as markup (each one crashed or changed the output before issue 7).
RICH_MARKUP: dict[str, str] = {
    "closing tag in a study description": "CT ABD [/w contrast]",
    "bare closing tag in an AE title": "AI[/]BOX",
    "closing tag in a profile name": "Lab [/]PACS",
    "hyperlink": "[link=https://x]click[/link]",
    "style": "[bold red]URGENT[/]",
    "emoji code": ":warning: HEAD",
}

#: Text Qt would render as HTML (QLabel, QMessageBox and tooltips guess "rich text").
QT_HTML: dict[str, str] = {
    "bold and image": "<b>x</b><img src=x>",
    "link": "<a href='https://x'>click</a>",
}

#: Terminal control: each must be shown escaped, never reach the terminal raw.
CONTROL: dict[str, str] = {
    "OSC window title": "\x1b]0;x\x07",
    "clear screen": "\x1b[2J",
    "carriage return": "HEAD\rBODY",
    "backspace": "AB\x08C",
    "C1 CSI": "\x9b31m",
    "C1 NEL": "A\x85B",
    "bidi override": "abc\u202egpj.exe",
}

#: Spreadsheet formulas (CSV injection): a cell that starts with one is neutralised.
FORMULA: dict[str, str] = {
    "equals": "=HYPERLINK(\"https://x\",\"click\")",
    "plus": "+1+cmd|' /C calc'!A0",
    "minus": "-2+3",
    "at": "@SUM(A1:A2)",
    "tab": "\t=1+1",
    "carriage return": "\r=1+1",
}

#: Numbers that start with a sign: left alone in CSV (a spreadsheet reads a number, not a formula).
SIGNED_NUMBERS: tuple[str, ...] = ("-5", "+1.5", "-2e3")

#: Every hostile string above, for a table-driven "shown literally" test.
ALL_TEXT: dict[str, str] = {**RICH_MARKUP, **QT_HTML, **CONTROL, **FORMULA}

#: Raw control characters that must never appear in terminal output (ESC, BEL, CSI, NEL, BS,
#: CR, RLO); a test asserts none of them is in what was printed.
RAW_CONTROLS: tuple[str, ...] = ("\x1b", "\x07", "\x9b", "\x85", "\x08", "\r", "\u202e")


def huge(size: int = 4 * 1024 * 1024, unit: str = "A") -> str:
    """A value of ``size`` characters (default 4 MB) for "the renderer stays fast" tests."""
    return unit * size
