"""The window's status bar: messages in their own label, never painted over the result count.

Seen before this module: QStatusBar paints a temporary message (``showMessage``) across the
whole bar, and the demo's hint ("Demo: search, select a study…") was drawn on top of the result
count. Here every widget is a permanent one, laid out side by side: the result count and the
truncation notice on the left, then the message (elided to the room it has, the whole text in
its tooltip), then the warnings on the right. ``showMessage``, ``clearMessage``,
``currentMessage`` and timeouts keep Qt's meaning; only the painting moves into the label.
Runs on: the GUI thread.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPaintEvent, QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QStatusBar, QWidget

from dicom_courier.gui.plain_text import make_plain, plain_tooltip


class ElidedLabel(QLabel):
    """A one-line plain-text label that shows as much of its text as fits, ending in "…",
    with the whole text in its tooltip when it does not fit. ``full_text()`` is the text."""

    def __init__(self, object_name: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        make_plain(self)
        self.setObjectName(object_name)
        self._full = ""
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setMinimumWidth(1)

    def full_text(self) -> str:
        return self._full

    def set_full_text(self, text: str) -> None:
        self._full = text
        self._elide()

    def is_elided(self) -> bool:
        return self.text() != self._full

    def sizeHint(self) -> QSize:
        hint = super().sizeHint()
        return QSize(self.fontMetrics().horizontalAdvance(self._full) + 8, hint.height())

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        room = self.contentsRect().width()
        shown = self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideRight, room)
        if shown != self.text():
            super().setText(shown)
        self.setToolTip(plain_tooltip(self._full) if shown != self._full else "")


class CourierStatusBar(QStatusBar):
    """A QStatusBar whose temporary message is shown in :attr:`message_label`, beside (never
    over) the widgets added with :meth:`add_left` and ``addPermanentWidget``."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("statusBar")
        self.message_label = ElidedLabel("statusMessage", self)
        self._left = 0
        # All permanent: QStatusBar hides "normal" widgets while a message shows.
        self.addPermanentWidget(self.message_label, 1)
        self.messageChanged.connect(self.message_label.set_full_text)

    def add_left(self, widget: QWidget) -> None:
        """Put ``widget`` left of the message (in the order added); it is never covered."""
        self.insertPermanentWidget(self._left, widget)
        self._left += 1

    def paintEvent(self, event: QPaintEvent) -> None:
        """Qt's own painting would draw the message across the whole bar: the label shows
        it instead, so nothing is painted here but the background."""
        QWidget.paintEvent(self, event)
