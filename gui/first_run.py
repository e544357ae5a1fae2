"""The window's empty first start: no PACS profile yet.

A person who starts DICOM Courier for the first time has nothing to search. Instead of an
empty grid and a Search button that leads nowhere, :class:`NoPacsState` is drawn over the
results grid: what is missing, and an **Add a PACS…** button that opens the PACS manager with
a new profile to fill in (then Test, then Save). It disappears as soon as a profile exists
(the PACS selector has an entry), and comes back if the last one is removed. The Search
button is disabled meanwhile, with the reason in its tooltip (:data:`NO_PACS_REASON`, set by
the query form). Runs on: the GUI thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFrame,
    QLabel,
    QPushButton,
    QVBoxLayout,
)

from dicom_courier.gui.query_form import NO_PACS_REASON

__all__ = ["NO_PACS_REASON", "NoPacsState"]


class NoPacsState(QFrame):
    """Over ``view``'s viewport while ``pacs_combo`` is empty; ``add_pacs`` opens the PACS
    manager with a new profile."""

    def __init__(self, view: QAbstractItemView, pacs_combo: QComboBox,
                 add_pacs: Callable[[], Any]) -> None:
        super().__init__(view.viewport())
        self.setObjectName("noPacsState")
        self.setAccessibleName("No PACS yet")
        self._view = view
        self._combo = pacs_combo
        heading = QLabel("No PACS yet", objectName="noPacsHeading")
        heading.setStyleSheet("font-size: 14pt; font-weight: bold;")
        text = QLabel("DICOM Courier searches a PACS and has it send studies to a workstation. "
                      "Add the PACS you work with: its AE title, host and port, our AE title "
                      "as the PACS knows it, and the destinations it may send to. Test it "
                      "there, then Save.", objectName="noPacsText")
        text.setWordWrap(True)
        for label in (heading, text):
            label.setTextFormat(Qt.TextFormat.PlainText)
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.add_button = QPushButton("Add a PACS…", objectName="addFirstPacs")
        self.add_button.setAccessibleName("Add a PACS")
        self.add_button.clicked.connect(add_pacs)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(32, 32, 32, 32)
        layout.addStretch(1)
        layout.addWidget(heading)
        layout.addWidget(text)
        layout.addSpacing(8)
        layout.addWidget(self.add_button, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addStretch(2)
        view.viewport().installEventFilter(self)
        model = pacs_combo.model()  # its signals fire even while the combo's are blocked
        for signal in (model.rowsInserted, model.rowsRemoved, model.modelReset):
            signal.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        """Shown exactly while there is no PACS profile to choose."""
        empty = self._combo.count() == 0
        if empty:
            self.setGeometry(self._view.viewport().rect())
            self.raise_()
        self.setVisible(empty)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Resize and self.isVisible():
            self.setGeometry(self._view.viewport().rect())
        return False


def add_first_pacs(open_manager: Callable[[], Any]) -> None:
    """Open the PACS manager (``open_manager`` returns the dialog) with a new profile to fill
    in, unless it already lists one (or cannot write its file)."""
    dialog = open_manager()
    if dialog is not None and dialog.add_button.isEnabled() and not dialog.profile_names():
        dialog.add_profile()
