"""The window paints before the engine loads (issue 12 §3), and the engine is loaded right
after, before a person can click: pynetdicom, pydicom and the DIMSE engine are not imported
when the main window receives its first paint event, and they are once the loop has run on.

Runs the real start (``dicom_courier.__main__.main``) in a fresh interpreter, offscreen; this
test process has long imported everything. Functional, not timed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dicom_courier.gui.deferred_courier import DeferredCourier

_START = r"""
import json, sys
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QMainWindow

ENGINE = sys.argv[2]  # the module of the window's engine (COURIER_ENGINE)
HEAVY = ("pynetdicom", "pydicom", ENGINE)
seen = {}

class Watch(QObject):
    def eventFilter(self, obj, event):
        if (not seen and event.type() == QEvent.Type.Paint
                and isinstance(obj, QMainWindow)):
            seen["at_first_paint"] = [m for m in HEAVY if m in sys.modules]
            seen["title"] = obj.windowTitle()
            tries = [0]

            def later():  # the loop runs on: the engine is loaded without anyone asking
                tries[0] += 1
                if ENGINE in sys.modules or tries[0] > 400:
                    seen["after"] = [m for m in HEAVY if m in sys.modules]
                    obj.close()
                else:
                    QTimer.singleShot(25, later)

            QTimer.singleShot(0, later)
        return False

app = QApplication(sys.argv[:1])
watch = Watch()
app.installEventFilter(watch)
from dicom_courier.__main__ import main
code = main(["--config-dir", sys.argv[1]])
print("SEEN " + json.dumps([code, seen]))
"""


@pytest.mark.parametrize(("engine", "module"), [
    ("thread", "dicom_courier.core.dimse.engine"),
    ("process", "dicom_courier.core.dimse.process_courier")])  # issue 12 §2: the default
def test_the_window_paints_before_the_engine_loads_and_loads_it_right_after(
        tmp_path: Path, engine: str, module: str) -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", COURIER_ENGINE=engine)
    done = subprocess.run([sys.executable, "-c", _START, str(tmp_path / "profile"), module],
                          capture_output=True, text=True, timeout=60, env=env, check=False)
    line = [text for text in done.stdout.splitlines() if text.startswith("SEEN ")]
    assert line, done.stderr
    code, seen = json.loads(line[-1][len("SEEN "):])
    assert code == 0
    assert seen["title"] == "DICOM Courier"
    assert seen["at_first_paint"] == []
    assert seen["after"] == ["pynetdicom", "pydicom", module]


def test_a_deferred_courier_closed_unused_starts_nothing() -> None:
    courier = DeferredCourier(cancel_grace=2.5)
    assert courier.cancel_grace == 2.5 and not courier.loaded
    courier.close()
    courier.warm_up()  # the window closed before its first paint was followed up
    assert not courier.loaded


def test_a_deferred_courier_is_the_real_one_once_used() -> None:
    with DeferredCourier(cancel_grace=2.5) as courier:
        real = courier.load()
        assert courier.loaded and courier.load() is real
        assert real.cancel_grace == 2.5
        assert courier.running is real.running
