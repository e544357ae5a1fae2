"""Preferences' "This computer (receiver)" section: the built-in receiver's settings.

The built-in receiver (a Storage SCP, PS3.4 Annex B; :mod:`dicom_courier.core.dimse.receiver`)
lets a PACS send studies to this computer. It listens on the network, so it is off until a
person turns it on here, and the section says so. Each value is checked by the same rules as
the PACS profiles (AE titles, ports, host names: :mod:`dicom_courier.core.config.profiles`)
and a bad value is named with its rule ("Our AE title: must be at most 16 characters (got
…)."); the dialog keeps Save disabled until every value is good. What is saved is a
:class:`~dicom_courier.core.config.receiver_settings.ReceiverSettings` (``receiver.json``).

Every control is reachable with Tab and has an access key (Alt+letter).
Runs on: the GUI thread.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

from dicom_courier.core.config.profiles import validate_ae_title, validate_host, validate_port
from dicom_courier.core.config.receiver_settings import ReceiverSettings
from dicom_courier.core.outcome.errors import InvalidInput

#: The section's sentence about the network (said before anyone turns it on).
LISTENS_NOTE = ("A PACS sends studies here over the network, so while this is on, Courier "
                "listens on the port below.\nThe PACS must know our AE title, this computer's "
                "address and that port.")
_INVALID_STYLE = "border: 1px solid #c62828; background: #fff3f3;"
#: Field keys in the order they are shown (and their problems listed).
FIELDS = ("ae_title", "port", "bind", "folder", "allowed_aets")
_LABELS = {"ae_title": "Our AE title", "port": "Receiver port", "bind": "Listen on address",
           "folder": "Storage folder", "allowed_aets": "Allowed senders"}


def split_aets(text: str) -> list[str]:
    """The AE titles typed in the allowed-senders field, separated by commas or whitespace
    ("ORTHANC DCMQRSCP" is two AE titles, each checked by the AE title rule; PACS AE titles
    with a space inside are rare enough that two titles typed with a space win)."""
    return text.replace(",", " ").split()


class ReceiverSettingsBox(QGroupBox):
    """Edit a :class:`ReceiverSettings`; ``changed`` fires on every edit (validate then).

    ``default_folder``: where files go when the folder is left blank (shown, not saved);
    ``profile_aets``: the AE titles of the saved PACS profiles (the allow-list when the
    field is left blank; shown).
    """

    changed = Signal()

    def __init__(self, settings: ReceiverSettings, *, default_folder: Path,
                 profile_aets: Iterable[str] = (), parent: QWidget | None = None) -> None:
        super().__init__("This computer (receiver)", parent)
        self.setObjectName("receiverSettings")
        self._default_folder = default_folder
        self._max_instance_mb = settings.max_instance_mb  # no field yet: kept as it was
        self._folder_dialog: QFileDialog | None = None
        self.enabled = QCheckBox("&Receive studies on this computer",
                                 objectName="receiverEnabled")
        self.enabled.setChecked(settings.enabled)
        note = QLabel(LISTENS_NOTE, objectName="receiverNote")  # two lines, no wrapping:
        # wrapped labels in a grid were cut off (preferences_dialog)
        note.setStyleSheet("color: palette(placeholder-text);")

        self.edits: dict[str, QLineEdit] = {}
        self.ae_title = self._edit("ae_title", settings.ae_title, "e.g. COURIER")
        self.port = self._edit("port", str(settings.port or ""), "11112")
        self.bind = self._edit("bind", settings.bind, "all network interfaces")
        self.folder = self._edit("folder", settings.folder or "", str(default_folder))
        aets = sorted({aet.strip() for aet in profile_aets if aet.strip()})
        shown = ", ".join(aets) if aets else "none yet"
        self.allowed = self._edit(
            "allowed_aets", ", ".join(settings.allowed_aets or ()),
            f"separated by commas or spaces; blank: the PACS profiles' AE titles: {shown}")
        self.allowed.setToolTip("AE titles allowed to send to this computer, separated by "
                                "commas or spaces. Blank: the AE titles of your PACS "
                                f"profiles ({shown}).")
        self.browse = QPushButton("&Browse…", objectName="receiverBrowse")
        self.browse.clicked.connect(self._on_browse)
        self.check_address = QCheckBox(
            "Also chec&k each sender's address (the host of its PACS profile)",
            objectName="receiverCheckAddress")
        self.check_address.setChecked(settings.check_address)

        grid = QGridLayout(self)
        grid.addWidget(self.enabled, 0, 0, 1, 3)
        grid.addWidget(note, 1, 0, 1, 3)
        rows = (("ae_title", "Our A&E title:"), ("port", "&Port:"),
                ("bind", "&Listen on address:"), ("folder", "Storage &folder:"),
                ("allowed_aets", "Allowed sen&ders:"))
        for row, (key, text) in enumerate(rows, start=2):
            label = QLabel(text)
            label.setBuddy(self.edits[key])
            grid.addWidget(label, row, 0)
            grid.addWidget(self.edits[key], row, 1, 1, 2 if key != "folder" else 1)
        grid.addWidget(self.browse, 5, 2)
        grid.addWidget(self.check_address, 7, 0, 1, 3)
        grid.setColumnStretch(1, 1)
        self.port.setMaximumWidth(120)
        self.enabled.toggled.connect(self._on_toggled)
        self.check_address.toggled.connect(lambda _on: self.changed.emit())
        self._on_toggled(settings.enabled)

    def _edit(self, key: str, text: str, placeholder: str) -> QLineEdit:
        edit = QLineEdit(text, objectName=f"receiver_{key}")
        edit.setAccessibleName(_LABELS[key])
        edit.setPlaceholderText(placeholder)
        edit.textChanged.connect(lambda _text: self.changed.emit())
        self.edits[key] = edit
        return edit

    def _on_toggled(self, on: bool) -> None:
        for widget in (*self.edits.values(), self.browse, self.check_address):
            widget.setEnabled(on)
        self.changed.emit()

    def _on_browse(self) -> None:
        """Browse…: a non-modal folder chooser (``open()``, never ``exec()``)."""
        start = self.folder.text().strip() or str(self._default_folder)
        dialog = QFileDialog(self, "Storage folder for received studies", start)
        dialog.setObjectName("receiverFolderDialog")
        dialog.setFileMode(QFileDialog.FileMode.Directory)
        dialog.setOption(QFileDialog.Option.ShowDirsOnly, True)
        dialog.fileSelected.connect(self.folder.setText)
        self._folder_dialog = dialog
        dialog.open()

    # ------------------------------------------------------------------ values

    def problems(self) -> dict[str, str]:
        """Field key → "Field: rule (got 'x')." for every value that breaks its rule. The
        values are checked while the receiver is off too (they are saved either way)."""
        found: dict[str, str] = {}
        for key in FIELDS:
            try:
                self._read(key)
            except InvalidInput as exc:
                found[key] = exc.title
        return found

    def _read(self, key: str) -> object:
        text = self.edits[key].text()
        if key == "ae_title":
            return validate_ae_title(text, "Our AE title")
        if key == "port":
            return validate_port(text.strip(), "Receiver port")
        if key == "bind":
            return validate_host(text, "Listen on address") if text.strip() else ""
        if key == "folder":
            folder = text.strip()
            if folder and not Path(folder).expanduser().is_absolute():
                raise InvalidInput("Storage folder", "must be a full path (from the top "
                                   "folder, e.g. /home/me/Received)", folder)
            return str(Path(folder).expanduser()) if folder else None
        aets = tuple(validate_ae_title(part, "Allowed senders") for part in split_aets(text))
        return aets or None

    def mark(self, problems: dict[str, str]) -> None:
        """Show ``problems`` (from :meth:`problems`) on their fields."""
        for key, edit in self.edits.items():
            edit.setStyleSheet(_INVALID_STYLE if key in problems else "")

    def settings(self) -> ReceiverSettings:
        """The values as typed; raises InvalidInput (the first bad value, field and rule)."""
        values = {key: self._read(key) for key in FIELDS}
        return ReceiverSettings(enabled=self.enabled.isChecked(),
                                check_address=self.check_address.isChecked(),
                                max_instance_mb=self._max_instance_mb,
                                **values)  # type: ignore[arg-type]

