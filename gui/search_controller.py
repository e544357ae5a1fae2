"""The window's searches: one STUDY-level C-FIND into the results grid, series lists on demand.

At most one grid search runs. A new one cancels the running one (C-CANCEL, A-ABORT after the
grace, :meth:`~dicom_courier.core.dimse.operation.DimseOperation.cancel`), and a replaced search
never touches the grid again: its late rows are dropped, and the count, the labels and the
cancel action belong to the newer search. Each search learns which Q/R model the PACS accepted
(Study or Patient Root, PS3.4 C.4.1) into the shared :class:`ModelMemory`, so the series list
and the sends use it too.

Runs on: the qasync loop (GUI thread); every network call runs on a DIMSE worker of the Courier.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QAbstractItemModel, QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QLabel

from dicom_courier.core.config.profiles import PacsNode
from dicom_courier.core.outcome.errors import CourierError, UnreadableResults
from dicom_courier.core.qr.distinct import noun as noun_of
from dicom_courier.core.qr.model_choice import ModelMemory, patient_id_of
from dicom_courier.core.qr.query import FindMatch, FindQuery, QueryLevel, QueryModel
from dicom_courier.gui.results_model import StudyResultsModel

if TYPE_CHECKING:  # the engine loads after the first paint (gui/deferred_courier.py)
    from dicom_courier.core.dimse.engine import Courier
    from dicom_courier.core.dimse.find import FindOperation, FindResult
    from dicom_courier.gui.series_dialog import SeriesDialog

#: Rows added to the grid between two paints of the window.
PAINT_EVERY = 200
#: Seconds between two additions to the grid while a search streams (s). Each addition costs
#: the grid a relayout and the count label an update on the GUI thread; rows that arrive in
#: between are gathered by the engine's channel and added together (issue 12: the window
#: must keep running while the engine's threads work). Still ten updates a second.
STREAM_INTERVAL = 0.1


class SearchController(QObject):
    """Runs the window's C-FINDs and keeps the grid, the count and the notices true.

    ``results_proxy`` is the grid's filtered view of ``results_model`` (what is shown);
    ``result_limit`` and ``current_pacs`` are read at each search (the settings and the chosen
    profile may change). ``show_error`` shows a search's error to the person (non-modal).
    """

    def __init__(self, courier: Courier, models: ModelMemory, *,
                 result_limit: Callable[[], int],
                 current_pacs: Callable[[], PacsNode | None],
                 show_error: Callable[[CourierError], None],
                 results_model: StudyResultsModel, results_proxy: QAbstractItemModel,
                 count_label: QLabel, truncated_label: QLabel, cancel_action: QAction,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._courier = courier
        self._models = models
        self._result_limit = result_limit
        self._current_pacs = current_pacs
        self._show_error = show_error
        self._results = results_model
        self._proxy = results_proxy
        self._count_label = count_label
        self._truncated_label = truncated_label
        self._cancel_action = cancel_action
        #: The search that owns the grid, None when none runs.
        self.running: FindOperation | None = None
        self._cancelling = False  # Esc pressed; the PACS has not ended the search yet
        for signal in (results_proxy.rowsInserted, results_proxy.rowsRemoved,
                       results_proxy.modelReset, results_proxy.layoutChanged):
            signal.connect(self.update_count)

    async def search(self, keys: dict[str, str]) -> FindResult | None:
        """Run one STUDY-level C-FIND into the grid (a new search cancels the running one).

        ``keys``: DICOM keyword → matching value, as the query form built them. Study Root and
        Patient Root are proposed together (the one that worked last first); the model the
        PACS accepted is remembered for the series list and the sends. Never raises for a
        PACS's fault: the rows received are kept and the error is shown. Returns the search's
        FindResult, None when no PACS is chosen or a newer search replaced this one."""
        pacs = self._current_pacs()
        if pacs is None:
            return None
        if self.running is not None:
            self.running.cancel()  # its late rows never reach the grid (see below)
        limit = self._result_limit()
        query = FindQuery(QueryLevel.STUDY, self._models.model_for(pacs), keys)
        operation = self._courier.find(pacs, query, limit=limit, raise_on_error=False,
                                       other_models=self._models.others(pacs))
        self.running = operation
        self._cancelling = False
        self._results.clear()
        self._truncated_label.hide()
        self._cancel_action.setEnabled(True)
        self._count_label.setText(f"Searching {pacs.called_aet}…")
        try:
            loop = asyncio.get_running_loop()
            added_at = float("-inf")
            async for batch in operation.batches():
                wait = added_at + STREAM_INTERVAL - loop.time()
                if wait > 0:  # rows come faster than a person reads: the next ones gather
                    await asyncio.sleep(wait)  # in the channel meanwhile (one batch later)
                for start in range(0, len(batch), PAINT_EVERY):
                    if self.running is not operation:
                        break  # a newer search owns the grid: this one's rows are dropped
                    self._results.append_matches(batch[start:start + PAINT_EVERY])
                    await asyncio.sleep(0)  # let the window paint between batches
                added_at = loop.time()
            result = operation.result
            self._models.learn(pacs, result.model)
        finally:
            replaced = self.running is not operation
            if not replaced:
                self.running = None
                self._cancelling = False
                self._cancel_action.setEnabled(False)
        if replaced:
            return None  # the grid, the count and the labels belong to the newer search
        if result.error is not None:
            shown = self._results.rowCount()
            title = result.error.title
            if result.unreadable and not isinstance(result.error, UnreadableResults):
                from dicom_courier.core.dimse.find import unreadable_summary

                title += f" {unreadable_summary(result.unreadable)}."  # both are true
            if shown:  # the rows received before the fault are kept: say how many
                self._count_label.setText(f"{shown} results shown; search incomplete: {title}")
            else:
                self._count_label.setText(f"Search failed: {title}")
            self._show_error(result.error)
        else:
            self.update_count()
            if limit and result.count >= limit:
                self._truncated_label.setText(
                    f"Results may be truncated: stopped at the limit of {limit}. "
                    "Narrow the search.")
                self._truncated_label.show()
            elif result.cancelled:
                self._truncated_label.setText("Search cancelled: the list is incomplete.")
                self._truncated_label.show()
        return result

    def cancel(self) -> None:
        """Esc: C-CANCEL the running search (A-ABORT after the grace); rows may still come."""
        if self.running is not None:
            self.running.cancel()
            self._cancelling = True
            self.update_count()

    def abort(self) -> None:
        """Closing the window: end the running search at once (A-ABORT)."""
        if self.running is not None:
            self.running.abort()

    def update_count(self, *args: object) -> None:
        """Say in the count label how many studies the grid lists and shows."""
        shown, total = self._proxy.rowCount(), self._results.rowCount()
        noun = "study" if total == 1 else "studies"
        text = f"{total} {noun}" if shown == total else f"{shown} of {total} {noun} shown"
        answers = self._results.answer_count
        note = answers.note()
        if note is not None:  # the PACS named the same study in several rows (one per image)
            distinct = f"{answers.distinct} distinct {noun_of(QueryLevel.STUDY, answers.distinct)}"
            text = (f"{note} (the PACS sent the same study more than once; each is sent once)"
                    if shown == total else f"{shown} of {total} answers shown; all {total} "
                    f"name {distinct}")
        if self._cancelling:  # rows may still arrive until the PACS confirms
            text = f"Cancelling the search… ({text} so far)"
        self._count_label.setText(text)

    async def load_series(self, pacs: PacsNode, study: FindMatch,
                          dialog: SeriesDialog) -> None:
        """List ``study``'s series (SERIES-level C-FIND, PS3.4 C.4.1) into ``dialog``.

        Asked in the model the search that listed the study used, with the Patient ID as the
        upper key in Patient Root (PS3.4 C.4.1.2.2.1). Closing the dialog cancels the search
        as every cancel does: C-CANCEL now, A-ABORT after the grace period."""
        model = self._models.model_for(pacs)  # as the search that listed the study
        keys = {"StudyInstanceUID": study.get("StudyInstanceUID")}
        patient_id = patient_id_of(study)
        if model is QueryModel.PATIENT and patient_id:  # the upper key (PS3.4 C.4.1.2.2.1)
            keys["PatientID"] = patient_id
        query = FindQuery(QueryLevel.SERIES, model, keys)
        operation = self._courier.find(pacs, query, raise_on_error=False,
                                       other_models=self._models.others(pacs))
        dialog.finished.connect(lambda *_: None if operation.finished else operation.cancel())
        series = [match async for match in operation]
        self._models.learn(pacs, operation.result.model)
        if operation.result.error is not None:
            dialog.show_error(operation.result.error)
        elif operation.result.cancelled:
            dialog.show_cancelled(len(series))
        else:
            dialog.show_series(series)
