"""Paints a job's progress in its cell: one bar, no widget per row.

A bar shows what a person needs at a glance: how much arrived (green), arrived with warnings
(amber), did not arrive (pale red, hatched, so it reads as "missing" and differs from green by
more than hue), and how much is left (empty). The bar is full only when every image arrived
(:func:`core.jobs.row_words.bar_shape`): a send short of even one image keeps a visible gap.
While the PACS has not said how many images there are, a running job gets a striped,
indeterminate bar rather than a made-up percentage, and a finished one an empty bar.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPointF, QRectF, QSize, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetricsF,
    QGradient,
    QLinearGradient,
    QPainter,
    QPainterPath,
)
from PySide6.QtWidgets import (
    QApplication,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
)

from dicom_courier.core.jobs.queue import JobState
from dicom_courier.core.jobs.row_words import BarShape, bar_shape
from dicom_courier.gui.queue_model import PROGRESS_ROLE, ProgressData, progress_text

_Index = QModelIndex | QPersistentModelIndex

COMPLETED_COLOUR = QColor("#66bb6a")
WARNING_COLOUR = QColor("#ffca28")
#: The failed segment's ground: pale, so a partial bar never reads as a full one.
FAILED_COLOUR = QColor("#ffcdd2")
_FAILED_HATCH = QColor("#c62828")
#: A bar that is not full keeps at least this gap (px) at its end, however close it is.
MIN_GAP = 3.0
_STRIPE_LIGHT = QColor("#c8e6c9")
_TROUGH = QColor("#f4f4f4")
_BORDER = QColor("#9e9e9e")
_TEXT = QColor("#202020")
_MUTED_TEXT = QColor("#6b6b6b")
_PILL = QColor(255, 255, 255, 205)

_ACTIVE = frozenset({JobState.RUNNING, JobState.CANCELLING})
_MIN_WIDTH = 110


class MoveProgressDelegate(QStyledItemDelegate):
    """Draws :data:`PROGRESS_ROLE` as a segmented bar with centred "done/total" text.

    Colours are fixed rather than taken from the palette: green/amber/red carry meaning and
    must read the same in every style; the bar draws its own light trough so that its dark
    text stays legible on a selected (highlighted) row too.
    """

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
        counts = index.data(PROGRESS_ROLE)
        if not isinstance(counts, ProgressData):
            super().paint(painter, option, index)
            return
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        opt.text = ""  # the style paints background and selection, we paint the rest
        widget = opt.widget
        style = widget.style() if widget is not None else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, widget)

        bar = QRectF(opt.rect).adjusted(4.5, 3.5, -4.5, -3.5)
        if bar.width() < 8 or bar.height() < 6:
            return
        painter.save()
        try:
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            outline = QPainterPath()
            outline.addRoundedRect(bar, 3, 3)
            painter.fillPath(outline, _TROUGH)
            painter.setClipPath(outline)
            filled = self._paint_fill(painter, bar, counts)
            painter.setClipping(False)
            painter.setPen(_BORDER)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawPath(outline)
            self._paint_text(painter, bar, opt.font, progress_text(counts), filled=filled,
                             muted=counts.state is JobState.QUEUED or counts.paused
                             or counts.done == 0)
        finally:
            painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index: _Index) -> QSize:
        size = super().sizeHint(option, index)
        return QSize(max(size.width(), _MIN_WIDTH), size.height() + 4)

    @staticmethod
    def _paint_text(painter: QPainter, bar: QRectF, font: QFont, text: str, *,
                    filled: bool, muted: bool) -> None:
        """Centred text; over a fill it sits on a pale pill, or hatching and stripes eat it."""
        painter.setFont(font)
        metrics = QFontMetricsF(font)
        if filled:
            width = min(bar.width() - 4, metrics.horizontalAdvance(text) + 10)
            height = min(bar.height() - 4, metrics.height())
            pill = QRectF(0, 0, width, height)
            pill.moveCenter(bar.center())
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(_PILL)
            painter.drawRoundedRect(pill, 3, 3)
        painter.setPen(_MUTED_TEXT if muted else _TEXT)
        painter.drawText(bar, Qt.AlignmentFlag.AlignCenter, text)

    @staticmethod
    def _paint_fill(painter: QPainter, bar: QRectF, counts: ProgressData) -> bool:
        """Paint the segments (or stripes); says whether anything was painted."""
        shape = counts.shape or bar_shape(counts.image_counts, active=counts.state in _ACTIVE)
        if shape.indeterminate:
            painter.fillRect(bar, _stripes(bar))
            return True
        widths = segment_widths(shape, bar.width())
        if not any(widths):
            return False
        x = bar.left()
        for width, colour in zip(widths, (COMPLETED_COLOUR, WARNING_COLOUR, FAILED_COLOUR),
                                 strict=True):
            if width <= 0:
                continue
            segment = QRectF(x, bar.top(), width, bar.height())
            painter.fillRect(segment, colour)
            if colour is FAILED_COLOUR:
                painter.fillRect(segment, QBrush(_FAILED_HATCH, Qt.BrushStyle.BDiagPattern))
            x += width
        return True


def segment_widths(shape: BarShape, width: float) -> tuple[float, float, float]:
    """(completed, warning, failed) widths in px of a bar ``width`` px wide. Unless the bar
    is full, the arrived part stops at least :data:`MIN_GAP` px short of the end (599 of 600
    must not look like 600), and the failed part stops there too."""
    completed, warning = shape.completed * width, shape.warning * width
    failed = shape.failed * width
    if not shape.full:
        room = max(0.0, width - MIN_GAP)
        arrived = completed + warning
        if arrived > room:
            scale = room / arrived
            completed, warning = completed * scale, warning * scale
        failed = min(failed, max(0.0, room - completed - warning))
    return completed, warning, failed


def _stripes(bar: QRectF) -> QBrush:
    """Diagonal green stripes: "working, amount unknown" (a still frame; no animation timer)."""
    gradient = QLinearGradient(bar.topLeft(), bar.topLeft() + QPointF(7, 7))
    gradient.setSpread(QGradient.Spread.RepeatSpread)
    gradient.setColorAt(0.0, COMPLETED_COLOUR)
    gradient.setColorAt(0.49, COMPLETED_COLOUR)
    gradient.setColorAt(0.5, _STRIPE_LIGHT)
    gradient.setColorAt(1.0, _STRIPE_LIGHT)
    return QBrush(gradient)
