"""Preferences → This computer (receiver) keeps ``max_instance_mb`` (receiver.json), which it
has no field for yet: saving the section must not put a raised cap back to 2048 MB."""

from __future__ import annotations

from pathlib import Path

from pytestqt.qtbot import QtBot

from dicom_courier.core.config.receiver_settings import ReceiverSettings
from dicom_courier.gui.receiver_settings_box import ReceiverSettingsBox


def test_saving_the_section_keeps_the_size_cap(qtbot: QtBot, tmp_path: Path) -> None:
    box = ReceiverSettingsBox(ReceiverSettings(enabled=True, max_instance_mb=8000),
                              default_folder=tmp_path / "received", profile_aets=["ORTHANC"])
    qtbot.addWidget(box)
    box.edits["port"].setText("11113")
    saved = box.settings()
    assert saved.port == 11113 and saved.max_instance_mb == 8000
