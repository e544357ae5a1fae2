"""Before a send: the one question box, and what a send will do in one line.

The plan, its summary and the questions are engine values (:mod:`dicom_courier.core.jobs
.send_checks`, which also decides what to ask and which answers there are); this module shows
them. :func:`ask_before_send` opens one non-modal box with a button per
:func:`~dicom_courier.core.jobs.send_checks.send_choices` answer ("Send all 5" / "Skip the 2
repeats, send 3") and Cancel; it keeps the window's old import path for ``SendPlan`` and
``describe_plan`` too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtWidgets import QAbstractButton, QMessageBox, QWidget

from dicom_courier.core.jobs.send_checks import (
    SendPlan,
    SendQuestion,
    describe_plan,
    send_choices,
)
from dicom_courier.gui.plain_text import PlainMessageBox

__all__ = ["SendPlan", "ask_before_send", "describe_plan"]


def ask_before_send(parent: QWidget, plan: SendPlan, questions: Sequence[SendQuestion],
                    send: Callable[[SendPlan], object]) -> QMessageBox:
    """Open (non-modal, ``open()``) the box asking ``questions`` about ``plan``; the button a
    person clicks calls ``send`` with its plan (all of it, or without the repeats); Cancel
    and Esc send nothing. Returns the box (object name ``confirmSend``): the first choice is
    its Yes button, a second one is named ``skipRepeats`` and is then the default (Enter never
    sends a repeat). Texts are plain."""
    choices = send_choices(plan, questions)
    box = PlainMessageBox(QMessageBox.Icon.Question, "Send studies?",
                          "\n\n".join(question.text for question in questions),
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
                          parent)
    box.setObjectName("confirmSend")
    plans: dict[QAbstractButton, SendPlan] = {}
    first = box.button(QMessageBox.StandardButton.Yes)
    first.setText(choices[0].label)
    plans[first] = choices[0].plan
    box.setDefaultButton(QMessageBox.StandardButton.Yes)
    for choice in choices[1:]:
        button = box.addButton(choice.label, QMessageBox.ButtonRole.AcceptRole)
        button.setObjectName("skipRepeats")
        plans[button] = choice.plan
        # Enter must never send a study twice: skipping the repeats is the default.
        box.setDefaultButton(button)
    box.setEscapeButton(QMessageBox.StandardButton.Cancel)

    def answered(_result: int) -> None:
        chosen = plans.get(box.clickedButton())
        if chosen is not None and chosen.matches:
            send(chosen)

    box.finished.connect(answered)
    box.open()
    return box
