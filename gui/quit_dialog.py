"""Closing the window with sends running or waiting: ask first (issue 11, section 1).

:class:`QuitGuard` stands between the window's close (Ctrl+Q, File → Quit, the close box) and
the queue. With no send running or waiting the window closes at once, as before. Otherwise
the close is refused for now and :class:`QuitDialog` asks what :func:`.quit_question` decided
(counts, three answers); the window closes again by itself once the answer is to quit.

- Keep the window open (Esc, Alt+K, the default): nothing changes, the sends go on.
- Quit and resume them next time (Alt+R): :meth:`.MoveQueue.leave_interrupted` records them
  interrupted now and ends the running associations (A-ABORT); the next start offers them
  through the usual resume question (every unfinished send is offered:
  :func:`dicom_courier.core.jobs.resume.offered_for_resume`).
- Cancel them and quit (Alt+C): the window's shutdown cancels them, recorded cancelled.

The dialog is window-modal and opened with ``open()``: no nested event loop, so the qasync
loop keeps running the sends while it is shown (HOUSE_STYLE: no ``exec()``).

The session ending (logout, shutdown) is :meth:`QuitGuard.session_ending`, connected to
``QGuiApplication.commitDataRequest`` (a direct connection, as Qt asks). There is no time to
ask, so the sends are left interrupted, never cancelled, and the window closes (its queue is
stopped for good; if the logout is then cancelled, the next start offers the sends). After
the signal, when interaction is allowed, Qt 6 itself closes every window and cancels the
logout if one refuses: ours no longer refuses. What Qt lets us know:

- X11: with a session manager speaking XSMP (GNOME, KDE, Xfce), the xcb plugin emits
  commitDataRequest when the session is shutting down. Without a session manager nothing
  is said: the X connection just goes away (a crash, below).
- Wayland: Qt 6 has no session-management protocol there, so no signal comes; the process
  is ended by the compositor closing the connection or by SIGTERM. That is a crash: the
  running sends are left "running", which the next open marks interrupted and offers;
  sends still waiting stay queued, for ``queue run`` (not offered by the window).
- Windows: WM_QUERYENDSESSION reaches Qt as commitDataRequest; after WM_ENDSESSION the
  process may be ended at any moment, so everything is recorded synchronously in the slot.
- macOS: logging out sends a normal quit to the app, which is the close path above.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QCloseEvent, QGuiApplication, QSessionManager
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from dicom_courier.core.jobs.queue import MoveQueue
from dicom_courier.core.jobs.quit_question import QuitChoice, QuitQuestion, quit_question
from dicom_courier.gui.plain_text import plain_label


class QuitDialog(QDialog):
    """Shows a :class:`QuitQuestion`: its text and one button per choice, in its order, the
    first focused and default. ``finished`` carries the :class:`QuitChoice` value (Esc and
    the close box: KEEP_OPEN)."""

    def __init__(self, question: QuitQuestion, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("quitQuestion")
        self.setWindowTitle(question.title)
        self.setWindowModality(Qt.WindowModality.WindowModal)
        icon = QLabel()
        size = self.style().pixelMetric(QStyle.PixelMetric.PM_MessageBoxIconSize)
        icon.setPixmap(self.style().standardIcon(
            QStyle.StandardPixmap.SP_MessageBoxQuestion).pixmap(size, size))
        icon.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.text_label = plain_label(question.text, "quitQuestionText")
        self.text_label.setWordWrap(True)
        self.text_label.setMinimumWidth(420)
        top = QHBoxLayout()
        top.addWidget(icon)
        top.addWidget(self.text_label, 1)
        self.buttons: dict[QuitChoice, QPushButton] = {}
        row = QHBoxLayout()
        row.addStretch(1)
        for choice in question.choices:
            button = QPushButton(choice.label, self)
            button.setObjectName(f"quitChoice{choice.choice.name.title().replace('_', '')}")
            button.setToolTip(choice.explanation)
            button.setAutoDefault(True)
            button.clicked.connect(lambda _=False, c=choice.choice: self.done(int(c)))
            self.buttons[choice.choice] = button
            row.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addSpacing(8)
        layout.addLayout(row)
        first = self.buttons[question.choices[0].choice]
        first.setDefault(True)
        first.setFocus()

    def show_question(self, question: QuitQuestion | None) -> None:
        """Show the latest counts while it is open (sends finish as the person reads)."""
        quit_now = self.buttons.get(QuitChoice.CANCEL_AND_QUIT)
        resume = self.buttons.get(QuitChoice.QUIT_AND_RESUME)
        if question is not None:
            self.text_label.setText(question.text)
            for choice in question.choices:  # the sends' own words again
                button = self.buttons.get(choice.choice)
                if button is not None:
                    button.setText(choice.label)
                    button.setToolTip(choice.explanation)
                    button.show()
            return
        # Nothing left to resume or cancel: no button may say so (the answer is just "quit").
        self.text_label.setText("Every send has finished. You can quit now.")
        if resume is not None:
            resume.hide()
        if quit_now is not None:
            quit_now.setText("&Quit")
            quit_now.setToolTip("Every send has finished; nothing is cancelled.")

    def reject(self) -> None:
        """Esc and the close box: keep the window open."""
        self.done(int(QuitChoice.KEEP_OPEN))


class QuitGuard(QObject):
    """Asks before ``window`` closes with unfinished sends in ``queue``. ``on_left(count)``
    is told how many sends were left
    interrupted (the window says so in its status bar)."""

    #: The person chose (a QuitChoice value), after the dialog closed.
    answered = Signal(int)

    def __init__(self, window: QWidget, queue: MoveQueue,
                 on_left: Callable[[int], None] | None = None) -> None:
        super().__init__(window)
        self._window = window
        self._queue = queue
        self._on_left = on_left
        self._quitting = False
        self.dialog: QuitDialog | None = None
        app = QGuiApplication.instance()
        if isinstance(app, QGuiApplication):
            app.commitDataRequest.connect(self._on_commit_data,
                                          Qt.ConnectionType.DirectConnection)

    def holds(self, event: QCloseEvent) -> bool:
        """Called by the window's closeEvent: True if the close was refused for now (the
        question is shown, or raised if it already is); False to close as before."""
        if self._quitting:
            return False
        question = quit_question(self._queue.jobs())
        if question is None:
            return False
        event.ignore()
        if self.dialog is not None:
            self.dialog.raise_()
            self.dialog.activateWindow()
            return True
        self.dialog = QuitDialog(question, self._window)
        self.dialog.finished.connect(self._on_answer)
        self.dialog.open()
        return True

    def on_job_changed(self, _job: object) -> None:
        """A job changed: an open question shows the new counts. (A bound slot of this
        QObject, so Qt disconnects it when the window and its guard are deleted.)"""
        if self.dialog is not None:
            self.dialog.show_question(quit_question(self._queue.jobs()))

    def leave_for_next_start(self) -> list[int]:
        """Leave every running or waiting send interrupted (the next start offers them); the
        ids left. Returns at once."""
        left = self._queue.leave_interrupted()
        if left and self._on_left is not None:
            self._on_left(len(left))
        return left

    def session_ending(self) -> list[int]:
        """The session is ending: with sends running or waiting, leave them interrupted
        (never cancelled), close an open question and close the window without asking (its
        queue is stopped for good, so it must not stay open if the logout is cancelled
        later); the ids left. With none, nothing changes: Qt closes the window as before."""
        if quit_question(self._queue.jobs()) is None:
            return []
        self._quitting = True
        if self.dialog is not None:
            self.dialog.finished.disconnect(self._on_answer)
            self.dialog.close()
            self.dialog = None
        left = self.leave_for_next_start()
        self._window.close()
        return left

    def _on_commit_data(self, _manager: QSessionManager) -> None:
        self.session_ending()

    def _on_answer(self, answer: int) -> None:
        self.dialog = None
        try:
            choice = QuitChoice(answer)
        except ValueError:  # a result code we did not set: the safe answer
            choice = QuitChoice.KEEP_OPEN
        if choice is QuitChoice.QUIT_AND_RESUME:
            self.leave_for_next_start()
        if choice is not QuitChoice.KEEP_OPEN:
            self._quitting = True  # CANCEL_AND_QUIT: the shutdown cancels, as before
        self.answered.emit(int(choice))
        if self._quitting:
            self._window.close()
