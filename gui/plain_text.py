"""Data is never markup in the window: PACS values, error comments, AE titles and profile names
reach Qt widgets as plain text.

Qt guesses: a QLabel, a QMessageBox text and every tooltip whose text *looks like* HTML
(``Qt.mightBeRichText``: ``<b>x</b><img src=…>``) is rendered as rich text, and the message
box's informative label even opens links. So:

- labels that can show data are made with :func:`plain_label` or passed to :func:`make_plain`;
- message boxes are :class:`PlainMessageBox` (text and informative text plain; the detailed
  text is a plain-text view in Qt already);
- tooltips go through :func:`plain_tooltip`, which escapes text Qt would take for HTML;
- grid cells go through :func:`cell_text`, which cuts a huge value (a 64 MB description)
  to :data:`CELL_LIMIT` characters so painting and eliding stay fast.

Window titles, status-bar messages, item-view cells, combo and list items are plain text in
Qt already and need nothing but the length cap.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtGui import Qt as QtGuiNamespace
from PySide6.QtWidgets import QLabel, QMessageBox, QWidget

from dicom_courier.core.text.safe_text import display, shorten

#: The longest value a grid cell shows (characters); the cell elides long before that.
CELL_LIMIT = 500
#: The longest tooltip (characters), before an ellipsis.
TOOLTIP_LIMIT = 2000
_PLAIN = Qt.TextFormat.PlainText


def cell_text(text: str) -> str:
    """``text`` cut to :data:`CELL_LIMIT` characters with an ellipsis, control characters
    (bidi overrides such as U+202E, ESC, line breaks) shown escaped: display only."""
    return display(text.translate(_LINE_BREAKS_TO_SPACES), CELL_LIMIT)


#: A grid cell is one line: tabs and line breaks show as spaces (as Copy puts them too).
_LINE_BREAKS_TO_SPACES = str.maketrans({"\t": " ", "\n": " ", "\r": " "})


def plain_tooltip(text: str | None) -> str | None:
    """``text`` as a tooltip shown literally: cut to :data:`TOOLTIP_LIMIT` characters; if Qt
    would render it as rich text, HTML-escaped inside a ``pre-wrap`` paragraph (line breaks
    kept). None and "" are returned as they are."""
    if not text:
        return text
    text = shorten(text, TOOLTIP_LIMIT)
    if not QtGuiNamespace.mightBeRichText(text):
        return text
    return f"<p style='white-space:pre-wrap'>{html.escape(text, quote=False)}</p>"


def make_plain(label: QLabel) -> QLabel:
    """Make ``label`` show its text literally, whatever it looks like; returns it."""
    label.setTextFormat(_PLAIN)
    return label


def plain_label(text: str = "", object_name: str = "", parent: QWidget | None = None) -> QLabel:
    """A QLabel that shows ``text`` (and every later ``setText``) literally."""
    label = make_plain(QLabel(parent))
    if object_name:
        label.setObjectName(object_name)
    label.setText(text)
    return label


class PlainMessageBox(QMessageBox):
    """A QMessageBox whose text and informative text are plain text, never HTML or links.

    Takes the same arguments as QMessageBox. The informative label is created by Qt on the
    first ``setInformativeText`` (as rich-text-guessing, link-opening), so that call is
    followed by making it plain.
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[call-overload]
        self.setTextFormat(_PLAIN)

    def setInformativeText(self, text: str) -> None:
        super().setInformativeText(text)
        label = self.findChild(QLabel, "qt_msgbox_informativelabel")
        if label is not None:
            label.setOpenExternalLinks(False)
            make_plain(label)
