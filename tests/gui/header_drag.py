"""A person dragging a column's edge in a header, with real mouse events."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QHeaderView


def drag_column_edge(header: QHeaderView, logical: int, width: int) -> int:
    """Press on the right edge of column ``logical``, move in steps, release so the column is
    about ``width`` px wide; returns the width the header ended with."""
    viewport = header.viewport()
    left = header.sectionViewportPosition(logical)
    edge = left + header.sectionSize(logical) - 1
    y = header.height() // 2
    target = left + width - 1
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, pos=QPoint(edge, y))
    step = 20 if target >= edge else -20
    for x in range(edge, target, step):
        QTest.mouseMove(viewport, QPoint(x, y))
    QTest.mouseMove(viewport, QPoint(target, y))
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=QPoint(target, y))
    return header.sectionSize(logical)
