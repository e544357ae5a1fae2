"""Preferences…: the values of ``settings.json`` in a dialog (Tools → Preferences…, Ctrl+,).

Each value is checked by the same rule that reads the file (:data:`NUMBER_RULES`,
:class:`StudyDates` in :mod:`dicom_courier.core.config.app_settings`): a bad value is marked and
named with its rule in words ("Sends at once per PACS: must be a whole number from 1 to 16"),
and Save stays disabled until every value is good. Saving writes the whole file atomically
(0600); a value the file held that this version does not know is kept. What applies at once
and what at the next start is said beside each value:

- result limit, confirmation threshold, repeated-send warning: the next search or send;
- sends at once per PACS: sends that start from now on;
- default study date: the next Clear and the next start (the form being edited is left alone);
- history days: at the next start (sends older than that are deleted then);
- arrival wait and re-check interval: the next send;
- "This computer (receiver)": at once (saved in ``receiver.json``; the receiver restarts
  only for a new AE title, port, address or folder: new allowed senders apply in place).

Runs on: the GUI thread. The dialog is opened with ``open()`` (never ``exec()``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from PySide6.QtCore import Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QLabel,
    QLayout,
    QLineEdit,
    QMainWindow,
    QMenu,
    QVBoxLayout,
    QWidget,
)

from dicom_courier.core.config.app_settings import (
    NUMBER_RULES,
    AppSettings,
    StudyDates,
    read_app_settings,
    save_app_settings,
)
from dicom_courier.core.outcome.errors import InvalidInput
from dicom_courier.gui.plain_text import make_plain

if TYPE_CHECKING:
    from dicom_courier.gui.receiver_settings_box import ReceiverSettingsBox

#: When each value takes effect, said beside it.
APPLIES: dict[str, str] = {
    "result_limit": "A search stops after this many. From the next search.",
    "confirm_over": "Ask first when sending more at once. From the next send.",
    "moves_per_pacs": "For sends that start from now on.",
    "resend_warning_minutes": "Same study to the same destination. From the next send.",
    "history_days": "Older sends are deleted. At the next start.",
    "arrival_wait": "At this computer, or a destination that can be queried. From the "
                    "next send.",
    "arrival_interval": "While waiting, ask again this often. From the next send.",
    "default_study_dates": "The form starts with it; Clear returns to it. From the next "
                           "Clear.",
}
#: The default study date range in words, in the order offered.
DATES_WORDS: dict[StudyDates, str] = {
    StudyDates.TODAY: "Today",
    StudyDates.LAST_7_DAYS: "Last 7 days (default)",
    StudyDates.LAST_30_DAYS: "Last 30 days",
    StudyDates.ANY: "Any date",
}
_INVALID_STYLE = "border: 1px solid #c62828; background: #fff3f3;"


def read_number(name: str, text: str) -> int:
    """The whole number typed for setting ``name``; raises InvalidInput naming the field (its
    label, "Sends at once per PACS") and the rule. Thousands separators are accepted."""
    rule = NUMBER_RULES[name]
    cleaned = text.strip().replace(",", "").replace("_", "").replace(" ", "")
    if not cleaned.isascii() or not cleaned.isdigit() or len(cleaned) > 12:
        raise InvalidInput(rule.label, rule.words, text.strip())
    value = int(cleaned)
    if not rule.low <= value <= rule.high:
        raise InvalidInput(rule.label, rule.words, text.strip())
    return value


class PreferencesDialog(QDialog):
    """Edit ``settings`` and save them to ``path``; ``saved`` carries what was written."""

    saved = Signal(object)  # AppSettings
    #: ReceiverSettings: the receiver section was saved (``receiver.json``)
    receiver_saved = Signal(object)

    def __init__(self, settings: AppSettings, path: Path,
                 parent: QWidget | None = None,
                 rejected: Mapping[str, object] | None = None, *,
                 receiver: ReceiverSettingsBox | None = None,
                 receiver_path: Path | None = None) -> None:
        """``rejected``: values ``settings.json`` holds that break their rule (see
        :attr:`LoadedSettings.rejected`); they are shown as the file has them, marked, and
        Save waits until they are corrected, so a save never replaces them by a default the
        person did not see (a default ``history_days`` deletes history at the next start).
        ``receiver``: the "This computer (receiver)" section, saved to ``receiver_path``."""
        super().__init__(parent)
        self.setObjectName("preferencesDialog")
        self.setWindowTitle("Preferences")
        self._path = path
        self.receiver = receiver
        self._receiver_path = receiver_path
        self.edits: dict[str, QLineEdit] = {}
        grid = QGridLayout()
        for row, (name, rule) in enumerate(NUMBER_RULES.items()):
            shown = rejected[name] if rejected and name in rejected else getattr(settings, name)
            edit = QLineEdit(str(shown), objectName=f"pref_{name}")
            edit.setAccessibleName(rule.label)
            edit.setMinimumWidth(100)
            edit.setMaximumWidth(120)
            edit.textChanged.connect(self.validate)
            label = QLabel(f"{rule.label}:")
            label.setBuddy(edit)
            self.edits[name] = edit
            grid.addWidget(label, row, 0)
            grid.addWidget(edit, row, 1)
            grid.addWidget(QLabel(f"{rule.unit}  ({rule.low:,}–{rule.high:,})"), row, 2)
            grid.addWidget(self._note(APPLIES.get(name, "")), row, 3)
        self.dates = QComboBox(objectName="pref_default_study_dates")
        self.dates.setAccessibleName("Study date at start")
        for value, words in DATES_WORDS.items():
            self.dates.addItem(words, value)
        self.dates.setCurrentIndex(self.dates.findData(settings.default_study_dates))
        dates_label = QLabel("Study date at start:")
        dates_label.setBuddy(self.dates)
        row = len(NUMBER_RULES)
        grid.addWidget(dates_label, row, 0)
        grid.addWidget(self.dates, row, 1, 1, 2)
        grid.addWidget(self._note(APPLIES["default_study_dates"]), row, 3)
        grid.setColumnStretch(3, 1)

        self.error_label = make_plain(QLabel(objectName="preferencesError"))  # quotes input
        self.error_label.setStyleSheet("color: #c62828;")
        self.error_label.setWordWrap(True)
        self.error_label.hide()
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        self.save_button = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.setSizeConstraint(QLayout.SizeConstraint.SetMinimumSize)  # wrapped notes fit
        layout.addWidget(make_plain(QLabel(f"Saved in {path}")))
        layout.addLayout(grid)
        if receiver is not None:
            receiver.setParent(self)
            receiver.changed.connect(self.validate)
            layout.addWidget(receiver)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)
        self.validate()  # a value the file holds against its rule is marked at once

    def _saved(self, write: Callable[[], object], path: Path, what: str) -> bool:
        """Run ``write``; a file that cannot be written is said in the dialog with ``what``
        was (not) changed, and False."""
        try:
            write()
        except OSError as exc:
            self.error_label.setText(f"The preferences could not be saved to {path}: "
                                     f"{exc.strerror or exc}. {what}")
            self.error_label.show()
            return False
        return True

    @staticmethod
    def _note(text: str) -> QLabel:
        note = QLabel(text)  # one line each: wrapped labels in a grid were cut off
        note.setStyleSheet("color: palette(placeholder-text);")
        return note

    def problems(self) -> dict[str, str]:
        """Setting name → "Label: rule (got 'x')." for every value that breaks its rule."""
        found: dict[str, str] = {}
        for name, edit in self.edits.items():
            try:
                read_number(name, edit.text())
            except InvalidInput as exc:
                found[name] = exc.title
        if self.receiver is not None:
            problems = self.receiver.problems()
            self.receiver.mark(problems)
            found.update({f"receiver.{key}": text for key, text in problems.items()})
        return found

    def validate(self) -> bool:
        """Mark the bad values and name their rules; True (Save enabled) when all are good."""
        problems = self.problems()
        for name, edit in self.edits.items():
            edit.setStyleSheet(_INVALID_STYLE if name in problems else "")
        self.error_label.setText("\n".join(problems.values()))
        self.error_label.setVisible(bool(problems))
        self.save_button.setEnabled(not problems)
        return not problems

    def settings(self) -> AppSettings:
        """The values as typed; raises InvalidInput (the first bad value)."""
        values: dict[str, Any] = {name: read_number(name, edit.text())
                                  for name, edit in self.edits.items()}
        return AppSettings(**values, default_study_dates=self.dates.currentData())

    def save(self) -> None:
        """Save (Enter or the Save button): write the file atomically, announce, close. A bad
        value or a file that cannot be written is said in the dialog, which stays open."""
        if not self.validate():
            return
        new = self.settings()
        try:
            receiver = self.receiver.settings() if self.receiver is not None else None
        except InvalidInput as exc:  # a rule of the settings as a whole (not one field)
            self.error_label.setText(exc.title)
            self.error_label.show()
            return
        if receiver is not None and self._receiver_path is not None:
            from dicom_courier.core.config.receiver_settings import save_receiver_settings

            if not self._saved(lambda: save_receiver_settings(self._receiver_path, receiver),
                               self._receiver_path, "Nothing was changed."):
                return
        if not self._saved(lambda: save_app_settings(self._path, new), self._path,
                           "Nothing was changed." if receiver is None else
                           "The receiver settings were saved; the others were not."):
            return
        self.saved.emit(new)
        if receiver is not None:
            self.receiver_saved.emit(receiver)
        self.accept()


class _Window(Protocol):
    """What the preferences change in a running window (``MainWindow`` has all of it)."""

    settings: AppSettings
    queue: Any
    form: Any
    paths: Any
    parts: Any
    view_menu: QMenu


def apply_preferences(window: _Window, new: AppSettings) -> None:
    """Make ``new`` the running window's settings where that can be done now (see the
    module's list); history retention waits for the next start."""
    window.settings = new  # read at each search (result limit) and send (confirmations)
    window.queue.per_pacs_limit = new.moves_per_pacs
    window.form.set_default_dates(new.default_study_dates, apply=False)
    window.queue.arrival_wait = float(new.arrival_wait)  # sends to this computer
    timing = window.parts.arrival_timing  # the arrival check of the next send
    if timing is not None:
        timing.update(new)


def add_preferences_action(window: QMainWindow, open_dialog: Callable[[], object]
                           ) -> QAction:
    """Add Tools → Preferences… (Ctrl+,) to ``window``'s menu bar, before View if it has
    one; ``open_dialog`` answers it. Returns the action."""
    action = QAction("&Preferences…", window, objectName="preferencesAction")
    action.setShortcut(QKeySequence("Ctrl+,"))
    action.setMenuRole(QAction.MenuRole.PreferencesRole)
    action.triggered.connect(lambda *_: open_dialog())
    window.addAction(action)
    menu = QMenu("&Tools", window, objectName="toolsMenu")
    menu.addAction(action)
    view_menu = getattr(window, "view_menu", None)
    bar = window.menuBar()
    if isinstance(view_menu, QMenu):
        bar.insertMenu(view_menu.menuAction(), menu)
    else:
        bar.addMenu(menu)
    return action


def open_preferences(window: Any) -> PreferencesDialog:
    """Open the dialog over ``window`` (non-modal-safe ``open()``); a save applies to it."""
    path = window.paths.settings_file
    receiver = window.receiver  # gui.receiver_control.WindowReceiver, or None
    box = None
    if receiver is not None:
        from dicom_courier.gui.receiver_settings_box import ReceiverSettingsBox

        box = ReceiverSettingsBox(receiver.settings, default_folder=receiver.default_folder,
                                  profile_aets=receiver.profile_aets())
    dialog = PreferencesDialog(window.settings, path, window,
                               rejected=read_app_settings(path).rejected, receiver=box,
                               receiver_path=window.paths.receiver_file)
    dialog.saved.connect(lambda new: apply_preferences(window, new))
    if receiver is not None:
        dialog.receiver_saved.connect(receiver.apply)
    dialog.open()
    return dialog
