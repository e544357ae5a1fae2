"""The raw command line, checked before argparse sees it: every argument must be UTF-8 text.

Python decodes ``argv`` with ``surrogateescape``: a byte that is not UTF-8 (``M\\xfcller*``
typed in a Latin-1 terminal) becomes a lone surrogate. Sent on, pydicom would write it as
``?`` (``M?ller*``: a different wildcard query), a profile name would never match, and a
write to the terminal or a file could crash. So such an argument is refused, by name, first.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from dicom_courier.core.qr.input_rules import has_undecodable


def _field_of(argv: Sequence[str], index: int) -> str:
    """The option an argument belongs to (``-k``, ``--pacs``), else its position."""
    arg = argv[index]
    if arg.startswith("--") and "=" in arg:
        return arg.partition("=")[0]
    if arg.startswith("-") and not arg.startswith("--") and len(arg) > 2:
        return arg[:2]  # -kPatientName=...
    previous = argv[index - 1] if index > 0 else ""
    if previous.startswith("-") and "=" not in previous and not arg.startswith("-"):
        return previous
    return f"argument {index + 1}"


def undecodable_argument(argv: Sequence[str], prog: str = "dicom-courier") -> str | None:
    """None if every argument is valid text, else the one-line error (no newline) naming the
    first argument that held bytes that are not UTF-8, e.g.
    ``dicom-courier: error: -k: is not valid UTF-8 text (b'PatientName=M\\xfcller*'); ...``.
    """
    for index, arg in enumerate(argv):
        if has_undecodable(arg):
            try:
                raw = os.fsencode(arg)  # the bytes as they came
            except UnicodeEncodeError:  # a surrogate no byte decodes to (an in-process caller)
                raw = arg.encode("utf-8", "backslashreplace")
            shown = repr(raw if len(raw) <= 80 else raw[:80] + b"...")
            return (f"{prog}: error: {_field_of(argv, index)}: is not valid UTF-8 text "
                    f"({shown}); arguments are read as UTF-8: re-type it in a UTF-8 terminal "
                    "or locale")
    return None
