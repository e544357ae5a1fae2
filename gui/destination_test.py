"""The admin's tests in the window: what runs them, and how their steps and verdicts are shown.

The tests are the engine's (:mod:`dicom_courier.core.dimse.diagnose`, the same steps as
``dicom-courier nodes test``): :func:`~dicom_courier.core.dimse.diagnose.pacs_checks` (C-ECHO,
then a C-FIND probe: an echo alone passes for a calling AE that Orthanc refuses at query
time) and :func:`~dicom_courier.core.dimse.diagnose.examine_destination` (a probe C-MOVE that
moves nothing, and a C-ECHO to the destination's own address). They run on the engine's DIMSE
workers and are awaited on the qasync loop; every step is capped by
:data:`TEST_STEP_DEADLINE` seconds and ends at once when its task is cancelled (Stop).

:class:`StepsView` lists the steps (step, result, time in ms); :class:`DestinationTestPanel`
shows a destination's verdict with its confidence above its steps. Everything shown is
plain text: AE titles and PACS answers are data, never markup.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Protocol

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from dicom_courier.core.config.profiles import Destination, PacsNode
from dicom_courier.core.dimse.destination_verdict import Confidence, DestinationVerdict
from dicom_courier.core.dimse.diagnose import (
    Check,
    DestinationTest,
    Verdict,
    examine_destination,
    pacs_checks,
)
from dicom_courier.core.dimse.engine import Courier
from dicom_courier.core.outcome.errors import CourierError
from dicom_courier.gui.plain_text import cell_text, make_plain, plain_tooltip

#: Seconds each step of a test may take at most (connect, associate, answer), whatever the
#: profile's own timeouts: a person is waiting for the answer.
TEST_STEP_DEADLINE = 15.0

_OK_COLOR = "#2e7d32"
_ERROR_COLOR = "#c62828"
_UNSURE_COLOR = "#8a4b00"
_MARKS = {Verdict.OK: ("✓ passed", _OK_COLOR), Verdict.FAILED: ("✗ failed", _ERROR_COLOR),
          Verdict.UNCLEAR: ("? unclear", _UNSURE_COLOR), Verdict.SKIPPED: ("– skipped", ""),
          Verdict.WARNING: ("! warning", _UNSURE_COLOR)}


class NodeTests(Protocol):
    """What the PACS manager runs when a person presses Test or Test destination."""

    def pacs(self, node: PacsNode) -> AsyncIterator[Check]:
        """The PACS's checks, each yielded as soon as it is answered."""
        ...

    async def destination(self, node: PacsNode, dest: Destination) -> DestinationTest:
        """The destination's checks and verdict."""
        ...


@dataclass(frozen=True)
class CourierTests:
    """:class:`NodeTests` over the window's one :class:`Courier` (its DIMSE workers).

    ``step_deadline``: seconds per step (:data:`TEST_STEP_DEADLINE`)."""

    courier: Courier
    step_deadline: float = TEST_STEP_DEADLINE

    def pacs(self, node: PacsNode) -> AsyncIterator[Check]:
        return pacs_checks(self.courier, node, step_deadline=self.step_deadline)

    async def destination(self, node: PacsNode, dest: Destination) -> DestinationTest:
        return await examine_destination(self.courier, node, dest,
                                         step_deadline=self.step_deadline)


def destination_of(row: list[str]) -> Destination | None:
    """The destination a PACS manager row (AE title, host, port, label) describes, or None
    while it breaks a rule (the row is marked in red then)."""
    ae, host, port, label = (cell.strip() for cell in row)
    try:
        return Destination(ae, host or None, int(port) if port else None, label)
    except (CourierError, ValueError):
        return None


def summary_of(checks: Iterable[Check]) -> tuple[bool, str]:
    """(passed, one line) for a PACS test: "Passed: C-ECHO 12 ms, C-FIND probe 9 ms" or
    "Failed at C-FIND probe: <its answer>"."""
    steps = [check for check in checks if check.step]
    failed = next((check for check in steps if check.verdict is Verdict.FAILED), None)
    if failed is not None:
        return False, f"Failed at {failed.step}: {failed.answer}"
    if not steps:
        return False, "Nothing was tested."
    return True, "Passed: " + ", ".join(f"{check.step} {_ms(check)}" for check in steps)


def _ms(check: Check) -> str:
    return "" if check.ms is None else f"{check.ms:.0f} ms"


class StepsView(QTreeWidget):
    """One row per check: step, result, time; the question and any error in the tooltip."""

    def __init__(self, object_name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(object_name)
        self.setAccessibleName("Test steps")
        self.setColumnCount(4)
        self.setHeaderLabels(["Step", "Result", "Time", "Answer"])
        self.setRootIsDecorated(False)
        self.setUniformRowHeights(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        header = self.header()
        header.setStretchLastSection(True)
        for column, width in ((0, 150), (1, 80), (2, 70)):
            self.setColumnWidth(column, width)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.setMaximumHeight(110)

    def show_checks(self, checks: Iterable[Check]) -> None:
        self.clear()
        for check in checks:
            self.add_check(check)

    def add_check(self, check: Check) -> None:
        mark, color = _MARKS[check.verdict]
        item = QTreeWidgetItem([cell_text(check.step or "setting"), mark, _ms(check),
                                cell_text(check.answer)])
        if color:
            item.setForeground(1, QBrush(QColor(color)))
        tip = f"{check.question}\n{check.answer}"
        if check.error is not None:
            tip += f"\n\n{check.error.explanation}\nWhat to do: {check.error.action}"
        for column in range(4):
            item.setToolTip(column, plain_tooltip(tip))
        item.setTextAlignment(2, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.addTopLevelItem(item)

    def rows(self) -> list[tuple[str, str, str, str]]:
        """The shown rows as text (step, result, time, answer)."""
        out = []
        for index in range(self.topLevelItemCount()):
            item = self.topLevelItem(index)
            out.append((item.text(0), item.text(1), item.text(2), item.text(3)))
        return out


class DestinationTestPanel(QWidget):
    """A destination test's verdict (with its confidence) above its steps."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("destinationTest")
        self.verdict_label = make_plain(QLabel(objectName="destinationVerdict"))
        self.verdict_label.setWordWrap(True)
        self.detail_label = make_plain(QLabel(objectName="destinationVerdictDetail"))
        self.detail_label.setWordWrap(True)
        self.steps = StepsView("destinationTestSteps", self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.verdict_label)
        layout.addWidget(self.detail_label)
        layout.addWidget(self.steps)
        self.clear()

    def clear(self) -> None:
        self.verdict_label.clear()
        self.detail_label.clear()
        self.steps.clear()
        self.hide()

    def show_running(self, dest: str) -> None:
        self.verdict_label.setStyleSheet("color: palette(placeholder-text);")
        self.verdict_label.setText(f"Testing {dest}: asking the PACS, then {dest} itself…")
        self.detail_label.clear()
        self.steps.clear()
        self.show()

    def show_result(self, result: DestinationTest) -> None:
        self.show_verdict(result.verdict)
        self.steps.show_checks(result.checks)

    def show_verdict(self, verdict: DestinationVerdict) -> None:
        color = (_OK_COLOR if verdict.usable else
                 _ERROR_COLOR if verdict.confidence is Confidence.CERTAIN else _UNSURE_COLOR)
        self.verdict_label.setStyleSheet(f"color: {color}; font-weight: bold;")
        self.verdict_label.setText(verdict.text)
        self.detail_label.setText(verdict.detail)
        self.show()

    def show_problem(self, text: str) -> None:
        self.verdict_label.setStyleSheet(f"color: {_ERROR_COLOR}; font-weight: bold;")
        self.verdict_label.setText(text)
        self.detail_label.clear()
        self.show()
