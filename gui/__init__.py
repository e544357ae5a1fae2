"""The desktop window. ``create_main_window(config_dir)`` builds it for tests and embedding."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dicom_courier.gui.main_window import MainWindow


def create_main_window(config_dir: Any = None, *, courier: Any = None,
                       busy_timeout: float = 5.0) -> MainWindow:
    """Build the main window over ``courier`` (a Courier; default: its own). Needs a running
    QApplication and qasync loop. ``busy_timeout`` (s): how long ``jobs.db`` waits for another
    process's lock (the product's 5 s unless a test passes a short one)."""
    from dicom_courier.gui.app import create_main_window as create

    return create(config_dir, courier=courier, busy_timeout=busy_timeout)
