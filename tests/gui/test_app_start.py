"""``dicom-courier --demo`` starts the window on the demo PACS and exits cleanly when closed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import os, sys
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
app = QApplication([])
def close_main():  # polled: as soon as the shown window is there, not after a fixed sleep
    for widget in app.topLevelWidgets():
        if widget.objectName() == "mainWindow" and widget.isVisible():
            poll.stop()
            print("profiles:", widget.form.pacs_combo.currentText(), flush=True)
            widget.close()
poll = QTimer(interval=20)
poll.timeout.connect(close_main)
poll.start()
from dicom_courier.__main__ import main
sys.exit(main(["--demo", "--config-dir", sys.argv[1]]))
"""


def test_demo_window_opens_and_closes_cleanly(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "profiles: Demo PACS" in result.stdout
    assert "Fatal Python error" not in result.stderr
    assert (tmp_path / "data" / "demo-profile" / "nodes.json").exists()


SHOWN_SCRIPT = """
import os, sys
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
app = QApplication([])
def say_shown():
    for widget in app.topLevelWidgets():
        if widget.objectName() == "mainWindow" and widget.isVisible():
            poll.stop()
            print("shown", flush=True)
poll = QTimer(interval=20)
poll.timeout.connect(say_shown)
poll.start()
from dicom_courier.__main__ import main
sys.exit(main(["--demo", "--config-dir", sys.argv[1]]))
"""


def test_ctrl_c_in_the_terminal_closes_the_window(tmp_path: Path) -> None:
    """Review of issue 11: Ctrl+C (SIGINT) in the terminal that started ``--demo`` did
    nothing (Qt's loop kept Python from seeing it); now it closes the window like Ctrl+Q."""
    import signal

    with subprocess.Popen([sys.executable, "-c", SHOWN_SCRIPT, str(tmp_path)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as child:
        try:
            assert child.stdout is not None and child.stdout.readline().strip() == "shown"
            child.send_signal(signal.SIGINT)
            code = child.wait(timeout=10)
        finally:
            child.kill()
        stderr = child.stderr.read() if child.stderr else ""
    assert code == 0, stderr[-2000:]
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
