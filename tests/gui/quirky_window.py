"""The real window on a saved profile that points at a :class:`~tests.fakes.quirky.QuirkyPacs`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pytestqt.qtbot import QtBot

from dicom_courier.core.config.profile_store import NodeStore
from dicom_courier.core.config.profiles import Destination, PacsNode, Timeouts
from dicom_courier.gui import create_main_window
from tests.fakes.quirky import QuirkyPacs


def save_profile(config: Path, pacs: QuirkyPacs, *, destination: str = "WORKSTATION",
                 timeouts: Timeouts | None = None) -> None:
    """Save the profile "quirky" (``pacs``'s AE title and port) in ``config``/nodes.json."""
    NodeStore(config / "nodes.json").put(PacsNode(
        name="quirky", called_aet=pacs.ae_title, host="127.0.0.1", port=pacs.port,
        timeouts=timeouts or Timeouts(idle=10), destinations=(Destination(destination),)))


def quirky_window(qtbot: QtBot, config: Path, pacs: QuirkyPacs) -> Any:
    """A main window on the profile "quirky" for ``pacs``, with its config in ``config``."""
    save_profile(config, pacs)
    window = create_main_window(config)
    qtbot.addWidget(window)
    window.reload_profiles(select="quirky")
    return window
