"""Send → Test destination… with "This computer" chosen: the destination doctor against the
window's own receiver (issue 13 §4).

:class:`HereTestDialog` runs :func:`~dicom_courier.gui.destination_test.probe_destination`
(the doctor, :mod:`dicom_courier.core.dimse.doctor`) with the window's running receiver: echo
and search the PACS, is the receiver running, does the PACS know its AE title (a C-MOVE that
matches nothing, PS3.4 C.4.2) and, only with a probe study the person picked, the smallest
instance of that study moved to this computer and looked for in the receiver's folder. Each
step with its result and time, then a one-line verdict. The test without a probe starts when
the dialog opens (nothing is sent); Test runs it again with the probe chosen.

Non-modal (``open()``, never ``exec()``); Stop cancels the running test (its association is
aborted); closing the dialog cancels it too. Every control has an access key.
Runs on: the GUI thread (the qasync loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

import shiboken6
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from dicom_courier.core.config.profiles import Destination, PacsNode
from dicom_courier.core.config.retrieve_method import RetrieveMethod
from dicom_courier.core.outcome.arrival import THIS_COMPUTER
from dicom_courier.gui.destination_test import (
    TEST_STEP_DEADLINE,
    DestinationTestPanel,
    ProbeChooser,
    probe_destination,
)
from dicom_courier.gui.plain_text import make_plain

if TYPE_CHECKING:  # the doctor (and pynetdicom) load after the first paint
    from dicom_courier.core.dimse.doctor import ProbeReceiver

LOGGER = logging.getLogger(__name__)


def c_get_note(pacs: PacsNode) -> str:
    """What the test proves for ``pacs``'s retrieve method ("" for C-MOVE)."""
    if pacs.retrieve is RetrieveMethod.GET:
        return (f"{pacs.name} retrieves with C-GET, which needs no receiver: this test checks "
                "the C-MOVE road (the PACS sending to the receiver) only.")
    if pacs.retrieve is RetrieveMethod.AUTO:
        return (f"{pacs.name} retrieves automatically: C-MOVE to the receiver, C-GET when the "
                "PACS does not know it. This test checks the C-MOVE road.")
    return ""


class HereTestDialog(QDialog):
    """The doctor for "This computer": ``courier`` runs the steps, ``receiver`` is the
    window's (``WindowReceiver``: ``ae_title``, ``folder``, ``running``)."""

    def __init__(self, courier: Any, pacs: PacsNode, receiver: ProbeReceiver,
                 parent: QWidget | None = None, *,
                 step_deadline: float = TEST_STEP_DEADLINE) -> None:
        super().__init__(parent)
        self.setObjectName("hereTest")
        self.setWindowTitle(f"Test {THIS_COMPUTER}")
        self.setModal(False)
        self._courier, self._pacs, self._receiver = courier, pacs, receiver
        self._step_deadline = step_deadline
        self._task: asyncio.Task[None] | None = None
        #: the last verdict's text ("" before one)
        self.verdict_text = ""

        heading = make_plain(QLabel(objectName="hereTestHeading"))
        heading.setText(f"Can {pacs.name} ({pacs.called_aet}) send to this computer's "
                        f"receiver {receiver.ae_title}?")
        heading.setWordWrap(True)
        self.method_note = make_plain(QLabel(c_get_note(pacs), objectName="hereTestMethod"))
        self.method_note.setWordWrap(True)
        self.method_note.setStyleSheet("color: palette(placeholder-text);")
        self.method_note.setVisible(bool(self.method_note.text()))
        self.probe_chooser = ProbeChooser(self)
        self.probe_chooser.set_pacs(pacs.name)
        self.result_panel = DestinationTestPanel(self)
        self.test_button = QPushButton("&Test", objectName="hereTestRun")
        self.test_button.setDefault(True)
        self.test_button.clicked.connect(self.run_test)
        self.stop_button = QPushButton("St&op", objectName="hereTestStop")
        self.stop_button.clicked.connect(self.stop)
        self.stop_button.hide()
        self.close_button = QPushButton("&Close", objectName="hereTestClose")
        self.close_button.setAutoDefault(False)
        self.close_button.clicked.connect(self.reject)

        buttons = QHBoxLayout()
        buttons.addWidget(self.test_button)
        buttons.addWidget(self.stop_button)
        buttons.addStretch(1)
        buttons.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addWidget(self.method_note)
        layout.addWidget(self.probe_chooser)
        layout.addWidget(self.result_panel)
        layout.addStretch(1)
        layout.addLayout(buttons)
        self.finished.connect(lambda _code: self.stop())
        self.resize(720, 520)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def run_test(self) -> bool:
        """Test: run the doctor with the probe chosen (none: nothing is sent); False when a
        probe was chosen but cannot be used (said in the panel) or a test runs."""
        if self.running:
            return False
        probe = self.probe_chooser.probe_study()
        if probe is None and self.probe_chooser.wants_probe():
            self.result_panel.show_problem(
                self.probe_chooser.problem() or "Choose the probe study first, or No probe.")
            return False
        self._task = asyncio.ensure_future(self._run(probe))
        return True

    def stop(self) -> None:
        """Stop the running test (its association is aborted)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()

    async def _run(self, probe: str | None) -> None:
        """Thin async slot: the doctor's steps and verdict into the panel."""
        name = self._receiver.ae_title
        self._set_running(True)
        self.result_panel.show_running(f"{THIS_COMPUTER} ({name})", probe=probe is not None)
        try:
            result = await probe_destination(
                self._courier, self._pacs, Destination(name), probe,
                step_deadline=self._step_deadline, receiver=self._receiver)
        except asyncio.CancelledError:
            self.verdict_text = f"Stopped: the test of {THIS_COMPUTER} did not finish."
            if shiboken6.isValid(self):
                self.result_panel.show_problem(self.verdict_text)
        except Exception as exc:  # a bug, not a network fault: say so, keep the dialog
            LOGGER.exception("The test of this computer failed unexpectedly")
            self.verdict_text = f"The test failed unexpectedly: {exc}"
            if shiboken6.isValid(self):
                self.result_panel.show_problem(self.verdict_text)
        else:
            self.verdict_text = result.verdict.text
            if shiboken6.isValid(self):
                self.result_panel.show_result(result)
        finally:
            if shiboken6.isValid(self):
                self._set_running(False)

    def _set_running(self, running: bool) -> None:
        self.test_button.setEnabled(not running)
        self.stop_button.setVisible(running)
        self.test_button.setText("Testing…" if running else "&Test")
        if not running:
            with contextlib.suppress(RuntimeError):
                self.test_button.setFocus()
