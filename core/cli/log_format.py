"""The command line's log lines on stderr: control characters shown escaped.

Kept apart from :mod:`.cli.safe_text` (rich) so setting logging up costs no rich import: a
``find --format json`` prints no rich text at all.
"""

from __future__ import annotations

import logging

from dicom_courier.core.text.safe_text import display


class PrintableFormatter(logging.Formatter):
    """A log formatter that shows control characters escaped (a tag value, an AE title or a
    peer's comment logged at WARNING must not reach the terminal raw); line breaks of
    tracebacks are kept."""

    def format(self, record: logging.LogRecord) -> str:
        return display(super().format(record), None, keep_newlines=True)
