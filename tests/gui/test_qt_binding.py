"""The pinned Qt binding keeps Python's reference counts straight through signals and calls.

PySide6 6.12.0 on CPython 3.11 dropped one reference to True on every Signal.emit() and one to
None on every void method call: the interpreter aborted ("bool_dealloc") after a few hundred
progress updates. The window emits a signal per engine event, so this is a release blocker.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, QTimer, Signal


class _Emitter(QObject):
    fired = Signal(int)


def test_emits_and_void_calls_keep_true_and_none_alive(qapp: object) -> None:
    emitter = _Emitter()
    received: list[int] = []
    emitter.fired.connect(received.append)
    timer = QTimer()
    before = sys.getrefcount(True), sys.getrefcount(None)
    for value in range(5000):
        emitter.fired.emit(value)
        timer.setInterval(value)
    after = sys.getrefcount(True), sys.getrefcount(None)
    assert len(received) == 5000
    assert abs(after[0] - before[0]) < 50 and abs(after[1] - before[1]) < 50, (before, after)
