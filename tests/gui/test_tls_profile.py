"""DICOM TLS in the window: the PACS manager's fields and warning, the main window's warning."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QFileDialog
from pytestqt.qtbot import QtBot

from dicom_courier.core.config.profile_store import NodeStore
from dicom_courier.core.config.profiles import PacsNode, TlsSettings
from dicom_courier.core.outcome.events import EchoResult
from dicom_courier.gui import create_main_window
from dicom_courier.gui.main_window import MainWindow
from dicom_courier.gui.pacs_manager import PacsManagerDialog

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "raise")

PLAIN = PacsNode(name="Plain", called_aet="ORTHANC", host="127.0.0.1", port=4242)
LAB = PacsNode(name="Lab", called_aet="LAB", host="lab.local", port=2762,
               tls=TlsSettings(enabled=True, verify=False))


async def never_called(pacs: PacsNode) -> EchoResult:
    raise AssertionError("no echo expected in this test")


@pytest.fixture
def store(tmp_path: Path) -> NodeStore:
    store = NodeStore(tmp_path / "config" / "nodes.json")
    store.save([PLAIN, LAB])
    return store


@pytest.fixture
def manager(qtbot: QtBot, store: NodeStore) -> PacsManagerDialog:
    dialog = PacsManagerDialog(store, never_called, select="Plain")
    qtbot.addWidget(dialog)
    dialog.resize(960, 860)
    dialog.show()
    qtbot.waitExposed(dialog)
    return dialog


def test_tls_fields_switches_and_the_no_verify_warning(manager: PacsManagerDialog,
                                                       store: NodeStore, tmp_path: Path) -> None:
    box = manager.tls_box
    assert not box.enabled_check.isChecked() and box.verify_check.isChecked()
    assert not manager.fields["tls_ca"].isEnabled()
    assert not box.warning_label.isVisible()

    box.enabled_check.click()
    assert manager.fields["tls_ca"].isEnabled() and box.browse_buttons["ca"].isEnabled()
    assert box.verify_check.isChecked() and not box.warning_label.isVisible()

    manager.fields["tls_ca"].setText(str(tmp_path / "missing.pem"))
    assert "TLS CA file: must be an existing file: there is no such file" in \
        manager.error_label.text()
    assert "#c62828" in manager.fields["tls_ca"].styleSheet()
    assert not manager.save_button.isEnabled()

    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    manager.fields["tls_ca"].setText(str(ca))
    assert manager.save_button.isEnabled(), manager.error_label.text()
    manager.grab().save(str(tmp_path / "tls-verified.png"))

    box.verify_check.click()  # a person unticks "Verify the PACS certificate"
    assert box.warning_label.isVisible()
    assert "Anyone on the network can pose as this PACS" in box.warning_label.text()
    assert not manager.fields["tls_ca"].isEnabled()
    shot = os.environ.get("COURIER_SCREENSHOT_DIR")
    manager.grab().save(str(Path(shot) / "pacs-manager-tls-no-verify.png") if shot
                        else str(tmp_path / "tls-no-verify.png"))

    box.verify_check.click()
    assert manager.save()
    saved = {p["name"]: p["tls"] for p in json.loads(store.path.read_text())["pacs"]}
    assert saved["Plain"] == {"enabled": True, "ca_file": str(ca), "cert_file": "",
                              "key_file": "", "verify": True}
    assert saved["Lab"]["verify"] is False  # untouched profile kept as it was


def test_unverified_profile_shows_its_state_and_a_key_needs_a_certificate(
        manager: PacsManagerDialog, tmp_path: Path) -> None:
    assert manager.select_profile("Lab")
    box = manager.tls_box
    assert box.enabled_check.isChecked() and not box.verify_check.isChecked()
    assert box.warning_label.isVisible()
    key = tmp_path / "client.key"
    key.write_text("x")
    manager.fields["tls_key"].setText(str(key))
    assert "TLS client key: needs a client certificate file too" in manager.error_label.text()


def test_browse_opens_a_non_modal_file_dialog_that_fills_the_field(
        qtbot: QtBot, manager: PacsManagerDialog, tmp_path: Path) -> None:
    manager.tls_box.enabled_check.click()
    manager.tls_box.browse_buttons["cert"].click()
    dialog = manager.findChild(QFileDialog, "pacsTlsFileDialog_cert")
    assert dialog is not None and dialog.isVisible()  # open(), not exec(): we got here
    cert = tmp_path / "client.pem"
    cert.write_text("x")
    dialog.fileSelected.emit(str(cert))
    dialog.close()
    assert manager.fields["tls_cert"].text() == str(cert)


@pytest.fixture
def window(qtbot: QtBot, qasync_loop: Any, tmp_path: Path, store: NodeStore,
           run_async: Any) -> Iterator[MainWindow]:
    win = create_main_window(tmp_path / "config")
    qtbot.addWidget(win)
    yield win
    run_async(win.shutdown())


def test_main_window_warns_while_the_chosen_pacs_is_not_verified(window: MainWindow) -> None:
    window.reload_profiles(select="Lab")
    assert not window.tls_warning_label.isHidden()
    assert window.tls_warning_label.text() == "⚠ PACS certificate not verified"
    assert "not checked" in window.tls_warning_label.toolTip()
    window.reload_profiles(select="Plain")
    assert window.tls_warning_label.isHidden()
