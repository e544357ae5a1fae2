"""The main window for a keyboard: where focus starts and where Tab goes.

Focus starts in the patient name field (what a technologist types first). Tab walks the query
form in reading order (left column, then right), then Search, the results, the destination,
Send (Enter or Space presses it), and after those the priority, the results filter and the
form's Clear button. The results grid itself: the first Down selects the first row, Enter or a
double click opens the selected study's series, Ctrl+Enter sends the selection, the Menu key
or Shift+F10 opens the rows' menu at the selected row (:mod:`.results_view`,
:mod:`.selection_menu`).
Runs on: the GUI thread.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QAction, QKeyEvent
from PySide6.QtWidgets import QWidget

if TYPE_CHECKING:
    from dicom_courier.gui.main_window import MainWindow


def tab_chain(window: MainWindow) -> list[QWidget]:
    """The widgets Tab visits, in order (disabled or hidden ones are skipped by Qt)."""
    form = window.form
    fields = form.fields
    exact_name = getattr(form, "exact_name", None)  # "Exact name", beside the name field
    chain: list[QWidget | None] = [
        form.pacs_combo, fields["queryPatientName"], exact_name, fields["queryPatientId"],
        fields["queryAccession"], form.date_preset, form.date_from, form.date_to,
        form.modalities, fields["queryDescription"], fields["queryReferring"],
        form.search_button,
        window.results_view,
        window.destination_combo,
        window.send_button,
        window.priority_combo, window.filter_edit, form.clear_button,
    ]
    return [widget for widget in chain if widget is not None]


class _EnterPresses(QObject):
    """Enter or Return on a focused toolbar button triggers its action (a QToolButton only
    answers Space; seen in review: Tab to Send, Enter, and nothing was sent or said)."""

    def __init__(self, button: QWidget, action: QAction) -> None:
        super().__init__(button)
        self._action = action
        button.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent)
                and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
                and not event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
                and not event.isAutoRepeat()):
            if self._action.isEnabled():
                self._action.trigger()
            return True
        return super().eventFilter(watched, event)


def wire_keyboard(window: MainWindow) -> None:
    """Set ``window``'s Tab order (:func:`tab_chain`) and put focus in the patient name
    field (given when the window is first activated)."""
    # A toolbar button takes no focus by default: Send must be reachable with Tab.
    window.send_button.setFocusPolicy(Qt.FocusPolicy.TabFocus)
    _EnterPresses(window.send_button, window.send_action)  # and Enter presses it
    chain = tab_chain(window)
    for before, after in zip(chain, chain[1:], strict=False):
        QWidget.setTabOrder(before, after)
    window.form.fields["queryPatientName"].setFocus(Qt.FocusReason.OtherFocusReason)
