"""Failure dialogs render the engine's catalogue, never block, and never flood the screen."""

from __future__ import annotations

import time

import pytest
import shiboken6
from PySide6.QtWidgets import QApplication, QDialog, QWidget
from pytestqt.qtbot import QtBot

from dicom_courier.core.config.profiles import PacsNode
from dicom_courier.core.jobs.queue import JobLabel, JobSnapshot, JobState
from dicom_courier.core.outcome.errors import MoveDestinationUnknown, PartialFailure, Peer
from dicom_courier.core.outcome.events import MoveOutcome, MoveResult
from dicom_courier.core.outcome.status import failure_for_status
from dicom_courier.core.qr.query import MoveRequest, MoveTarget
from dicom_courier.gui.failure_dialog import FailureDialog
from dicom_courier.gui.failure_policy import DEFAULT_WINDOW_MS, FailureReporter
from dicom_courier.gui.failure_report import summary_headline
from dicom_courier.gui.failure_summary import FailureSummaryDialog, FailureTableModel

PEER = Peer(calling_aet="COURIER", called_aet="ORTHANC", host="10.0.0.5", port=4242)
PACS = PacsNode(name="Main PACS", called_aet="ORTHANC", host="10.0.0.5", port=4242)
STUDY_UID = "1.2.826.0.1.3680043.8.498.1"
#: The reporter's burst window in these tests (the product's is DEFAULT_WINDOW_MS). A test
#: reports a burst without returning to the event loop, so it is one burst whatever the window.
WINDOW_MS = 50

# The offscreen platform warns whenever a top-level window with a minimum size is shown, and
# whenever a window is raised (show_details brings an open dialog to the front).
pytestmark = pytest.mark.qt_log_ignore("does not support propagateSizeHints",
                                       r"does not support raise\(\)")


def unknown_destination_job(job_id: int = 1, destination: str = "WS-3") -> JobSnapshot:
    """A real MoveDestinationUnknown, as the move operation builds it for 0xA801."""
    error = failure_for_status(0xA801, operation="send", peer=PEER, comment="Unknown AE",
                               destination=destination,
                               counts="0 images sent, 0 failed, 0 with warnings")
    assert isinstance(error, MoveDestinationUnknown)
    result = MoveResult(outcome=MoveOutcome.FAILED, total=None, completed=0, failed=0,
                        warning=0, status=0xA801, duration=0.2, error_comment="Unknown AE",
                        failed_sop_uids=(), error=error, destination=destination, peer=PEER)
    return _job(job_id, result, destination, JobState.FAILED)


def partial_job(job_id: int = 2) -> JobSnapshot:
    uids = tuple(f"{STUDY_UID}.1.{n}" for n in range(1, 16))
    error = failure_for_status(0xB000, operation="send", peer=PEER, destination="WS-3",
                               counts="45 of 60 images sent, 15 failed, 0 with warnings")
    assert isinstance(error, PartialFailure)
    result = MoveResult(outcome=MoveOutcome.PARTIAL, total=60, completed=45, failed=15,
                        warning=0, status=0xB000, duration=12.5, error_comment=None,
                        failed_sop_uids=uids, error=error, destination="WS-3", peer=PEER)
    return _job(job_id, result, "WS-3", JobState.PARTIAL)


def _job(job_id: int, result: MoveResult, destination: str, state: JobState) -> JobSnapshot:
    return JobSnapshot(
        job_id=job_id, pacs=PACS,
        request=MoveRequest(MoveTarget(f"{STUDY_UID}.{job_id}"), destination),
        label=JobLabel(patient=f"DOE^JANE{job_id}", study=f"CT chest {job_id}"),
        state=state, queued_at=time.monotonic(), result=result)


@pytest.fixture
def window(qtbot: QtBot) -> QWidget:
    widget = QWidget()
    qtbot.addWidget(widget)
    return widget


def _show(qtbot: QtBot, dialog: QDialog) -> QDialog:
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    return dialog


# --------------------------------------------------------------------------- FailureDialog


def test_unknown_destination_dialog_explains_and_details(qtbot: QtBot) -> None:
    dialog = _show(qtbot, FailureDialog(unknown_destination_job()))
    assert dialog.objectName() == "failureDialog"
    assert not dialog.isModal()
    assert dialog.title_label.text() == "ORTHANC does not know the destination WS-3."
    assert dialog.title_label.font().bold()
    assert "0xA801" in dialog.explanation_label.text()
    assert dialog.action_label.text().startswith(
        "<b>What to do:</b> On the PACS, add the destination")
    assert dialog.counts_label.text() == "0 images sent, 0 failed, 0 with warnings"
    assert not dialog.icon_label.pixmap().isNull()
    # Not retryable: the PACS must be configured first.
    assert not dialog.retry_button.isEnabled()

    assert not dialog.details_view.isVisible()
    dialog.details_button.click()
    assert dialog.details_view.isVisible()
    details = dialog.details_view.toPlainText()
    for expected in ("DIMSE status:", "0xA801", "Unknown AE", "COURIER", "ORTHANC",
                     "10.0.0.5:4242", "Move destination:", "WS-3", f"{STUDY_UID}.1"):
        assert expected in details
    dialog.details_button.click()
    assert not dialog.details_view.isVisible()


def test_partial_failure_lists_counts_and_failed_uids_and_can_retry(qtbot: QtBot) -> None:
    dialog = _show(qtbot, FailureDialog(partial_job(7)))
    assert dialog.title_label.text() == "Only part of the send succeeded."
    assert dialog.counts_label.text() == "45 of 60 images sent, 15 failed, 0 with warnings"
    details = dialog.details_view.toPlainText()
    assert "Failed SOP Instance UIDs (15):" in details
    assert f"{STUDY_UID}.1.15" in details
    assert dialog.retry_button.isEnabled()
    with qtbot.waitSignal(dialog.retry_requested) as blocker:
        dialog.retry_button.click()
    assert blocker.args == [7]
    assert not dialog.retry_button.isEnabled()  # one click queues one retry


def test_copy_details_puts_status_and_ae_titles_on_clipboard(qtbot: QtBot) -> None:
    dialog = _show(qtbot, FailureDialog(unknown_destination_job()))
    assert dialog.copied_ms == 1500  # the product's moment; this test waits a shorter one
    dialog.copied_ms = 50
    QApplication.clipboard().clear()
    dialog.copy_button.click()
    text = QApplication.clipboard().text()
    assert text == dialog.report_text()
    for expected in ("ORTHANC does not know the destination WS-3.", "What to do:",
                     "DIMSE status:", "0xA801", "Our AE title (calling):", "COURIER",
                     "PACS AE title (called):", "ORTHANC", "10.0.0.5:4242", "WS-3"):
        assert expected in text
    assert "DOE^JANE" not in text  # reports get pasted into tickets: no patient names
    assert dialog.copy_button.text() == "Copied"
    qtbot.waitUntil(lambda: dialog.copy_button.text() == "Copy details", timeout=3000)


def test_dialog_from_result_without_job_cannot_retry(qtbot: QtBot) -> None:
    job = partial_job()
    assert job.result is not None
    dialog = _show(qtbot, FailureDialog.from_result(job.result, PACS, job.label,
                                                    study_uid=STUDY_UID))
    assert not dialog.retry_button.isEnabled()
    assert "Main PACS" in dialog.context_label.text()


# --------------------------------------------------------------------------- summary


def test_summary_shares_the_explanation_when_errors_agree(qtbot: QtBot,
                                                         qtmodeltester: object) -> None:
    jobs = [unknown_destination_job(i) for i in range(1, 9)]
    dialog = _show(qtbot, FailureSummaryDialog(jobs))
    assert not dialog.isModal()
    assert dialog.headline_label.text() == (
        "8 sends failed: ORTHANC does not know the destination WS-3.")
    assert "What to do:" in dialog.action_label.text()
    assert dialog.model.rowCount() == 8
    qtmodeltester.check(dialog.model)  # type: ignore[attr-defined]

    assert not dialog.details_button.isEnabled()
    dialog.table.selectRow(2)
    assert dialog.details_button.isEnabled()
    details = dialog.show_selected_details()
    assert isinstance(details, FailureDialog)
    assert details.isVisible() and not details.isModal()
    assert details.report.job_id == 3

    QApplication.clipboard().clear()
    dialog.copy_button.click()
    text = QApplication.clipboard().text()
    assert text.count("DIMSE status:") == 8 and "--- 8 of 8 ---" in text


def test_summary_of_mixed_errors_has_no_shared_explanation() -> None:
    from dicom_courier.gui.failure_report import FailureReport

    reports = [FailureReport.from_job(unknown_destination_job(1)),
               FailureReport.from_job(partial_job(2))]
    headline, explanation, action = summary_headline(reports)
    assert headline == "2 sends did not complete with different problems."
    assert action == ""
    same_kind = [FailureReport.from_job(unknown_destination_job(1, "WS-3")),
                 FailureReport.from_job(unknown_destination_job(2, "WS-4"))]
    headline, _, action = summary_headline(same_kind)
    assert headline == "2 sends failed with the same kind of problem."
    assert action.startswith("On the PACS")


def test_model_replaces_a_job_reported_again(qtmodeltester: object) -> None:
    from dicom_courier.gui.failure_report import FailureReport

    model = FailureTableModel()
    model.add([FailureReport.from_job(unknown_destination_job(1)),
               FailureReport.from_job(partial_job(2))])
    model.add([FailureReport.from_job(partial_job(1))])
    assert model.rowCount() == 2
    assert model.reports()[0].is_partial
    qtmodeltester.check(model)  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- reporter


def _reporter_dialogs() -> list[QDialog]:
    return [w for w in QApplication.topLevelWidgets()
            if isinstance(w, FailureDialog | FailureSummaryDialog) and w.isVisible()]


def test_the_burst_window_of_the_product_is_400_ms(window: QWidget) -> None:
    assert FailureReporter(window).window_ms == DEFAULT_WINDOW_MS == 400
    assert FailureReporter(window, window_ms=WINDOW_MS).window_ms == WINDOW_MS


def test_one_failure_opens_one_dialog(qtbot: QtBot, window: QWidget) -> None:
    reporter = FailureReporter(window, window_ms=WINDOW_MS)
    reporter.report(unknown_destination_job(1))
    assert reporter.open_dialogs() == []  # waits for the batch window first
    assert reporter.collecting
    qtbot.waitUntil(lambda: len(reporter.open_dialogs()) == 1, timeout=3000)
    assert not reporter.collecting  # nothing else is on its way...
    qtbot.wait(2 * WINDOW_MS)  # ...and nothing else appears later
    dialogs = reporter.open_dialogs()
    assert len(dialogs) == 1 and isinstance(dialogs[0], FailureDialog)
    assert not dialogs[0].isModal()
    assert dialogs[0].parent() is window
    assert len(_reporter_dialogs()) == 1


def test_fifty_failures_make_one_summary_and_no_single_dialogs(qtbot: QtBot,
                                                               window: QWidget) -> None:
    reporter = FailureReporter(window, window_ms=WINDOW_MS)
    for job_id in range(1, 51):
        reporter.report(unknown_destination_job(job_id))
    qtbot.waitUntil(lambda: bool(reporter.open_dialogs()), timeout=3000)
    assert not reporter.collecting
    qtbot.wait(2 * WINDOW_MS)
    dialogs = reporter.open_dialogs()
    assert len(dialogs) == 1
    summary = dialogs[0]
    assert isinstance(summary, FailureSummaryDialog) and not summary.isModal()
    assert summary.model.rowCount() == 50
    assert summary.headline_label.text().startswith("50 sends failed: ORTHANC does not know")
    assert not any(isinstance(w, FailureDialog) for w in _reporter_dialogs())

    # More failures while the summary is open: the same summary grows.
    for job_id in range(51, 56):
        reporter.report(partial_job(job_id))
    qtbot.waitUntil(lambda: summary.model.rowCount() == 55, timeout=3000)
    assert reporter.open_dialogs() == [summary]
    assert summary.headline_label.text() == "55 sends did not complete with different problems."


def test_late_second_failure_folds_the_open_dialog_into_a_summary(qtbot: QtBot,
                                                                  window: QWidget) -> None:
    reporter = FailureReporter(window, window_ms=WINDOW_MS)
    reporter.report(unknown_destination_job(1))
    qtbot.waitUntil(lambda: len(reporter.open_dialogs()) == 1, timeout=3000)
    single = reporter.open_dialogs()[0]
    reporter.report(unknown_destination_job(2))
    qtbot.waitUntil(lambda: isinstance((reporter.open_dialogs() or [None])[0],
                                       FailureSummaryDialog), timeout=3000)
    assert not shiboken6.isValid(single) or not single.isVisible()
    assert len(reporter.open_dialogs()) == 1
    summary = reporter.open_dialogs()[0]
    assert isinstance(summary, FailureSummaryDialog)
    assert [r.job_id for r in summary.reports()] == [1, 2]

    # Closed summary: the next failure starts afresh with a single dialog.
    summary.close()
    assert reporter.open_dialogs() == []
    reporter.report(partial_job(3))
    qtbot.waitUntil(lambda: len(reporter.open_dialogs()) == 1, timeout=3000)
    assert isinstance(reporter.open_dialogs()[0], FailureDialog)


def test_reporter_ignores_jobs_that_did_not_fail(qtbot: QtBot, window: QWidget) -> None:
    from dataclasses import replace

    reporter = FailureReporter(window, window_ms=WINDOW_MS)
    job = partial_job(1)
    reporter.report(replace(job, state=JobState.COMPLETED))
    reporter.report(replace(job, state=JobState.CANCELLED))
    reporter.report(replace(job, state=JobState.RUNNING, result=None))
    assert not reporter.collecting  # no burst started: no dialog can open
    qtbot.wait(2 * WINDOW_MS)
    assert reporter.open_dialogs() == []


def test_retry_from_a_reported_dialog_reaches_the_reporter(qtbot: QtBot,
                                                          window: QWidget) -> None:
    reporter = FailureReporter(window, window_ms=WINDOW_MS)
    reporter.report(partial_job(9))
    qtbot.waitUntil(lambda: len(reporter.open_dialogs()) == 1, timeout=3000)
    dialog = reporter.open_dialogs()[0]
    assert isinstance(dialog, FailureDialog)
    with qtbot.waitSignal(reporter.retry_requested) as blocker:
        dialog.retry_button.click()
    assert blocker.args == [9]


def test_show_details_opens_at_once_and_only_once_per_job(qtbot: QtBot, window: QWidget) -> None:
    from dataclasses import replace

    reporter = FailureReporter(window)
    job = partial_job(4)
    first = reporter.show_details(job)
    assert isinstance(first, FailureDialog) and first.isVisible() and not first.isModal()
    assert reporter.show_details(job) is first  # asked again: the same dialog, in front
    assert reporter.open_dialogs() == [first]
    assert reporter.show_details(replace(job, state=JobState.QUEUED, result=None)) is None
    first.close()
    assert reporter.open_dialogs() == []


def test_the_failure_modules_import_one_way() -> None:
    """Issue 10: failure_dialog and failure_summary imported each other (a TYPE_CHECKING
    import and one inside a method). Now: policy → summary → dialog, and nothing back."""
    import ast
    import importlib.util
    from pathlib import Path

    def imported(module: str) -> set[str]:
        spec = importlib.util.find_spec(f"dicom_courier.gui.{module}")
        assert spec is not None and spec.origin is not None
        tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
        return {node.module.rsplit(".", 1)[-1] for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.module}

    assert not imported("failure_dialog") & {"failure_summary", "failure_policy"}
    assert "failure_policy" not in imported("failure_summary")
    assert {"failure_dialog", "failure_summary"} <= imported("failure_policy")
