"""The PACS manager's "Secure connection (DICOM TLS)" group: switches, files, and a warning.

The three path fields are the dialog's own line edits (so its validation marks them like every
other field); this group adds the check boxes, a "Browse…" button per file (a non-modal
``QFileDialog``: ``open()``, never ``exec()``) and the warning shown while "Verify the PACS
certificate" is unchecked.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QWidget,
)

#: Shown next to an unverified profile (PACS manager and main window).
NO_VERIFY_WARNING = ("Warning: the PACS's certificate is not checked. Anyone on the network "
                     "can pose as this PACS and read what is sent. Use this for tests only.")
_WARNING_STYLE = "color: #8a4b00; background: #fff4e0; border: 1px solid #e0a040; padding: 4px;"
_PEM_FILTERS = ["PEM files (*.pem *.crt *.cer *.key)", "All files (*)"]


class TlsBox(QGroupBox):
    """DICOM TLS on/off, CA file, client certificate and key, verify (on by default)."""

    #: a person ticked or unticked "Use DICOM TLS" or "Verify the PACS certificate"
    switches_changed = Signal()

    def __init__(self, ca_edit: QLineEdit, cert_edit: QLineEdit, key_edit: QLineEdit,
                 parent: QWidget | None = None) -> None:
        super().__init__("Secure connection (DICOM TLS)", parent)
        self.setObjectName("pacsTlsBox")
        self.enabled_check = QCheckBox("Use DICOM TLS", objectName="pacsTls")
        self.enabled_check.setToolTip("Encrypt the connection to the PACS (PS3.15 B.1). The "
                                      "PACS must offer DICOM TLS on this port.")
        self.verify_check = QCheckBox("Verify the PACS certificate", objectName="pacsTlsVerify")
        self.verify_check.setChecked(True)
        self.verify_check.setToolTip("Check that the PACS's certificate is signed by the CA "
                                     "file (or a CA this computer trusts) and names the host.")
        self.warning_label = QLabel(NO_VERIFY_WARNING, objectName="pacsTlsWarning")
        self.warning_label.setTextFormat(Qt.TextFormat.PlainText)
        self.warning_label.setWordWrap(True)
        self.warning_label.setStyleSheet(_WARNING_STYLE)
        # Two lines at the narrowest editor width, never squeezed by the destinations table.
        self.warning_label.setMinimumHeight(2 * self.warning_label.fontMetrics().lineSpacing()
                                            + 12)
        self.warning_label.setSizePolicy(QSizePolicy.Policy.Preferred,
                                         QSizePolicy.Policy.Minimum)
        self.warning_label.hide()
        self._edits = {"ca": ca_edit, "cert": cert_edit, "key": key_edit}
        self.browse_buttons: dict[str, QPushButton] = {}
        captions = {"ca": "CA certificates of the PACS (PEM)",
                    "cert": "Our client certificate (PEM)", "key": "Our client key (PEM)"}
        form = QFormLayout(self)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow(self.enabled_check)
        labels = {"ca": "CA file", "cert": "Client certificate", "key": "Client key"}
        for key, edit in self._edits.items():
            button = QPushButton("Browse…", objectName=f"pacsTlsBrowse_{key}")
            button.setAccessibleName(f"Browse for the {labels[key].lower()}")
            button.clicked.connect(lambda _=False, k=key: self._browse(k, captions[k]))
            self.browse_buttons[key] = button
            row = QHBoxLayout()
            row.addWidget(edit, 1)
            row.addWidget(button)
            form.addRow(labels[key], row)
        form.addRow(self.verify_check)
        form.addRow(self.warning_label)
        self.enabled_check.toggled.connect(self._on_toggled)
        self.verify_check.toggled.connect(self._on_toggled)
        self._update()

    @property
    def tls_enabled(self) -> bool:
        return self.enabled_check.isChecked()

    @property
    def verify(self) -> bool:
        return self.verify_check.isChecked()

    def set_state(self, enabled: bool, verify: bool) -> None:
        """Show a profile's switches without emitting ``switches_changed``."""
        for check, value in ((self.enabled_check, enabled), (self.verify_check, verify)):
            check.blockSignals(True)
            check.setChecked(value)
            check.blockSignals(False)
        self._update()

    def _on_toggled(self) -> None:
        self._update()
        self.switches_changed.emit()

    def _update(self) -> None:
        on = self.tls_enabled
        for key, edit in self._edits.items():
            usable = on and (key != "ca" or self.verify)
            edit.setEnabled(usable)
            self.browse_buttons[key].setEnabled(usable)
        self._edits["ca"].setPlaceholderText(
            "not used: the certificate is not checked" if not self.verify
            else "blank: the CAs this computer trusts")
        self._edits["cert"].setPlaceholderText("only if the PACS requires one")
        self._edits["key"].setPlaceholderText("blank if inside the certificate file")
        self.verify_check.setEnabled(on)
        self.warning_label.setVisible(on and not self.verify)

    def _browse(self, key: str, caption: str) -> None:
        """A non-modal file dialog; the chosen path goes into the field (and its checks)."""
        dialog = QFileDialog(self, caption)
        dialog.setObjectName(f"pacsTlsFileDialog_{key}")
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.setNameFilters(_PEM_FILTERS)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        current = self._edits[key].text().strip()
        if current:
            dialog.selectFile(current)
        dialog.fileSelected.connect(self._edits[key].setText)
        dialog.open()
