"""Where the window was and how its grid looked: geometry, docks and the results header.

Kept in ``window.ini`` in the configuration folder (QSettings, INI format) and nowhere else:
QSettings holds window layout only, never domain settings (those are in ``settings.json``,
:mod:`dicom_courier.core.config.app_settings`). A missing or unreadable value keeps Qt's
default layout for that part. The results columns follow the window's width until a person
resizes one by hand ("resultsColumnsFit", default true: a file from before it fits too).
Runs on: the GUI thread.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings
from PySide6.QtWidgets import QMainWindow

from dicom_courier.gui.results_view import ResultsView

LAYOUT_FILE = "window.ini"


def _settings(config_dir: Path) -> QSettings:
    return QSettings(str(config_dir / LAYOUT_FILE), QSettings.Format.IniFormat)


def restore_layout(window: QMainWindow, results_view: ResultsView, config_dir: Path) -> None:
    """Put ``window`` (geometry, toolbars, docks) and the results header back as saved."""
    settings = _settings(config_dir)
    geometry = settings.value("geometry")
    if geometry is not None:
        window.restoreGeometry(geometry)
    state = settings.value("state")
    if state is not None:
        window.restoreState(state)
    header = settings.value("resultsHeader")
    if header is not None:
        results_view.restore_state(bytes(header))
    # QSettings' INI format reads a bool back as the string "true" / "false".
    if str(settings.value("resultsColumnsFit", "true")).lower() != "false":
        results_view.auto_fit_columns = True
        results_view.fit_columns()


def save_layout(window: QMainWindow, results_view: ResultsView, config_dir: Path) -> None:
    """Write ``window``'s geometry, toolbars, docks and the results header to ``window.ini``."""
    settings = _settings(config_dir)
    settings.setValue("geometry", window.saveGeometry())
    settings.setValue("state", window.saveState())
    # As a QByteArray: plain Python bytes were stored as a pickled PySide object.
    settings.setValue("resultsHeader", QByteArray(results_view.save_state()))
    settings.setValue("resultsColumnsFit", results_view.auto_fit_columns)
