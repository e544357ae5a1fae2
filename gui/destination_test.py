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
from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QGridLayout,
    QGroupBox,
    QHeaderView,
    QLabel,
    QLineEdit,
    QRadioButton,
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
from dicom_courier.core.outcome.errors import CourierError, InvalidInput
from dicom_courier.core.qr.input_rules import validate_uid
from dicom_courier.gui.destinations_model import QUERYABLE
from dicom_courier.gui.plain_text import cell_text, make_plain, plain_tooltip

if TYPE_CHECKING:  # the doctor (and pynetdicom) load after the first paint
    from dicom_courier.core.dimse.doctor import ProbeReceiver


#: Seconds each step of a test may take at most (connect, associate, answer), whatever the
#: profile's own timeouts: a person is waiting for the answer.
TEST_STEP_DEADLINE = 15.0

#: Steps a test's list shows without scrolling (the doctor has up to 8).
STEPS_MAX_ROWS = 10

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

    async def destination(self, node: PacsNode, dest: Destination,
                          probe_study: str | None = None) -> DestinationTest:
        """The destination's checks and verdict; with ``probe_study`` (a Study Instance UID
        the person chose) also the probe move of that study's smallest instance and the
        check that it arrived (issue 13 §4). Nothing is sent without it."""
        ...


@dataclass(frozen=True)
class CourierTests:
    """:class:`NodeTests` over the window's one :class:`Courier` (its DIMSE workers).

    ``step_deadline``: seconds per step (:data:`TEST_STEP_DEADLINE`)."""

    courier: Courier
    step_deadline: float = TEST_STEP_DEADLINE

    def pacs(self, node: PacsNode) -> AsyncIterator[Check]:
        return pacs_checks(self.courier, node, step_deadline=self.step_deadline)

    async def destination(self, node: PacsNode, dest: Destination,
                          probe_study: str | None = None) -> DestinationTest:
        if probe_study is None:
            return await examine_destination(self.courier, node, dest,
                                             step_deadline=self.step_deadline)
        return await probe_destination(self.courier, node, dest, probe_study,
                                       step_deadline=self.step_deadline)


async def probe_destination(courier: Courier, node: PacsNode, dest: Destination,
                            probe_study: str | None, *, step_deadline: float | None = None,
                            receiver: ProbeReceiver | None = None) -> DestinationTest:
    """The destination doctor end to end (:func:`~dicom_courier.core.dimse.doctor.doctor`):
    ask, echo, move the smallest instance of ``probe_study`` (a Study Instance UID the person
    picked; None: nothing is moved) to ``dest`` and check that it arrived; its steps and
    one-line verdict as a :class:`DestinationTest` for :class:`DestinationTestPanel`.
    ``receiver``: the window's running receiver when ``dest`` is this computer (its AE title):
    the doctor checks that it runs and looks for the probe's file in its folder. Raises
    nothing for a network fault (each is a failed step)."""
    from dicom_courier.core.dimse.doctor import doctor  # the engine loads after first paint

    run = doctor(courier, node, dest, probe_study, step_deadline=step_deadline,
                 receiver=receiver)
    checks = tuple([check async for check in run])
    found = run.verdict
    if found is None or found.works is None:
        verdict = DestinationVerdict(Confidence.UNKNOWN, False,
                                     found.text if found else "cannot tell")
    else:
        verdict = DestinationVerdict(Confidence.CERTAIN, found.works, found.text)
    return DestinationTest(checks, verdict)


def destination_of(row: list[str]) -> Destination | None:
    """The destination a PACS manager row (AE title, host, port, label, can be queried)
    describes, or None while it breaks a rule (the row is marked in red then)."""
    ae, host, port, label = (cell.strip() for cell in row[:4])
    queryable = len(row) > 4 and row[4] == QUERYABLE
    try:
        return Destination(ae, host or None, int(port) if port else None, label,
                           queryable=queryable)
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
        # no horizontal scroll bar to eat the last row: a long answer is elided, and whole
        # in its tooltip
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._fit()

    def _fit(self) -> None:
        """As tall as its rows (every step in sight), up to :data:`STEPS_MAX_ROWS` rows;
        beyond that it scrolls."""
        rows = max(1, min(self.topLevelItemCount(), STEPS_MAX_ROWS))
        row = self.sizeHintForRow(0) if self.topLevelItemCount() else -1
        if row <= 0:
            row = self.fontMetrics().height() + 4
        height = self.header().sizeHint().height() + rows * row + 2 * self.frameWidth() + 2
        self.setFixedHeight(height)

    def clear(self) -> None:
        super().clear()
        self._fit()

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
        self._fit()

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

    def show_running(self, dest: str, *, probe: bool = False) -> None:
        self.verdict_label.setStyleSheet("color: palette(placeholder-text);")
        then = ", then moving one image of the chosen study and checking it" if probe else ""
        self.verdict_label.setText(f"Testing {dest}: asking the PACS, then {dest} itself"
                                   f"{then}…")
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


class ProbeChooser(QGroupBox):
    """Whether a destination test also moves one real image, and of which study.

    Off by default: "ask and echo only" sends nothing. The person may pick the study selected
    in the main window's grid (named, and offered only for the PACS it was found on) or type a
    Study Instance UID; the test then moves that study's smallest instance to the destination
    and checks that it arrived (issue 13 §4). Every choice has an access key.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Probe move (optional)", parent)
        self.setObjectName("probeChooser")
        self._selected: tuple[str, str, str] | None = None  # (PACS name, Study UID, label)
        self._pacs_name = ""
        self.none = QRadioButton("&No probe: ask the PACS and echo the destination; "
                                 "nothing is sent", objectName="probeNone")
        self.selected = QRadioButton(objectName="probeSelected")
        self.typed = QRadioButton("Move one image of the study with this Study &UID:",
                                  objectName="probeTyped")
        self.uid_edit = QLineEdit(objectName="probeStudyUid")
        self.uid_edit.setAccessibleName("Probe Study Instance UID")
        self.uid_edit.setPlaceholderText("e.g. 1.2.840.113619.2.55.3…")
        self.uid_edit.textChanged.connect(self._on_typed)
        self.group = QButtonGroup(self)
        for button in (self.none, self.selected, self.typed):
            self.group.addButton(button)
        self.none.setChecked(True)
        note = QLabel("The smallest image of that study is sent to the destination, then "
                      "Courier checks that it arrived.")
        note.setWordWrap(True)
        note.setStyleSheet("color: palette(placeholder-text);")
        self.error_label = make_plain(QLabel(objectName="probeError"))
        self.error_label.setStyleSheet(f"color: {_ERROR_COLOR};")
        self.error_label.hide()
        grid = QGridLayout(self)
        grid.addWidget(self.none, 0, 0, 1, 2)
        grid.addWidget(self.selected, 1, 0, 1, 2)
        grid.addWidget(self.typed, 2, 0)
        grid.addWidget(self.uid_edit, 2, 1)
        grid.addWidget(note, 3, 0, 1, 2)
        grid.addWidget(self.error_label, 4, 0, 1, 2)
        grid.setColumnStretch(1, 1)
        self.group.buttonToggled.connect(lambda *_: self._update())
        self._update()

    def offer_selected(self, pacs_name: str, study_uid: str, label: str) -> None:
        """The study selected in the main window (found on ``pacs_name``) may be the probe."""
        self._selected = (pacs_name, study_uid, label)
        self._update()

    def set_pacs(self, pacs_name: str) -> None:
        """The profile being tested: the selected study is offered only for its PACS."""
        self._pacs_name = pacs_name
        if not self._selected_usable() and self.selected.isChecked():
            self.none.setChecked(True)
        self._update()

    def _selected_usable(self) -> bool:
        return (self._selected is not None and bool(self._pacs_name)
                and self._selected[0].casefold() == self._pacs_name.casefold())

    def _on_typed(self, text: str) -> None:
        if text.strip() and not self.typed.isChecked():
            self.typed.setChecked(True)
        self._update()

    def _update(self) -> None:
        usable = self._selected_usable()
        if self._selected is not None and usable:
            label = cell_text(self._selected[2]).replace("&", "&&")  # data, not a mnemonic
            self.selected.setText(f"Move one image of the s&elected study: {label}")
        else:
            self.selected.setText("Move one image of the s&elected study (select a study of "
                                  "this PACS in the main window first)")
        self.selected.setEnabled(usable)
        problem = self.problem()
        self.error_label.setText(problem or "")
        self.error_label.setVisible(problem is not None)

    def problem(self) -> str | None:
        """Why the typed Study UID cannot be used (field and rule), or None."""
        if not self.typed.isChecked():
            return None
        try:
            validate_uid(self.uid_edit.text().strip(), "Probe Study UID")
        except InvalidInput as exc:
            return exc.title
        return None

    def probe_study(self) -> str | None:
        """The Study Instance UID the person chose to probe with; None: no probe (also while
        the typed UID breaks its rule, which :meth:`problem` names)."""
        if self.selected.isChecked() and self._selected_usable() and self._selected:
            return self._selected[1]
        if self.typed.isChecked() and self.problem() is None:
            return self.uid_edit.text().strip()
        return None

    def wants_probe(self) -> bool:
        """The person chose a probe (selected study or typed UID), usable or not."""
        return not self.none.isChecked()
