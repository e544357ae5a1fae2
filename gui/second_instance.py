"""A second window on a profile another DICOM Courier holds: say so where the person looks.

Started from a desktop launcher, the window has no terminal, so the refusal that used to go
only to stderr was never seen: the click seemed to do nothing. :func:`refuse_second_copy`
still writes it to stderr (for a terminal and for logs) and shows it in a message box (plain
text: the holder and the folder are data), then the caller exits 1. The command line's own
refusals (``queue run``) are unchanged (:mod:`dicom_courier.core.cli.queue_cmd`).

The box is shown with ``exec()``: it runs before the qasync loop exists (no coroutine is
running), which is the one place a modal ``exec()`` is safe.
"""

from __future__ import annotations

import sys
from typing import TextIO

from PySide6.QtWidgets import QMessageBox, QWidget

from dicom_courier.core.config.instance_lock import AlreadyRunning
from dicom_courier.gui.plain_text import PlainMessageBox

#: The exit status of a refused second copy (as before: 1).
EXIT_ALREADY_RUNNING = 1


def already_running_box(error: AlreadyRunning, parent: QWidget | None = None) -> QMessageBox:
    """The message box for ``error``: its title ("DICOM Courier is already running with this
    profile."), who holds the profile and where (the explanation names the process and the
    folder when the lock file says so), what to do, and the lock file in the details."""
    box = PlainMessageBox(QMessageBox.Icon.Warning, "DICOM Courier is already running",
                          error.title, QMessageBox.StandardButton.Ok, parent)
    box.setObjectName("alreadyRunning")
    box.setInformativeText(f"{error.explanation}\n\nWhat to do: {error.action}")
    box.setDetailedText("\n".join(f"{key}: {value}" for key, value in error.details.items()))
    return box


def refuse_second_copy(error: AlreadyRunning, *, stderr: TextIO | None = None) -> int:
    """Say ``error`` on ``stderr`` (default ``sys.stderr``) and in a message box, wait for the
    person to close it, and return :data:`EXIT_ALREADY_RUNNING`. Needs a QApplication and no
    running event loop."""
    (stderr or sys.stderr).write(error.render() + "\n")
    already_running_box(error).exec()
    return EXIT_ALREADY_RUNNING
