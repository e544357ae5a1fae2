"""The results grid's empty state: a search that found nothing says so, and what it searched.

"No studies found for name SMITH* on ORTHANC, study date last 7 days (…)", with advice for each
narrowing key (:func:`dicom_courier.core.qr.no_results.no_results`), drawn over the empty grid.
Shown only when a search ended normally with no row: a cancelled search (the notice under the
grid says so) or a failed one (its error is shown) is not "nothing found". It goes away when a
row arrives, a new search starts or the form is cleared. Plain text: it quotes what was typed
and the PACS's name. Runs on: the GUI thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QAbstractItemView, QLabel

from dicom_courier.core.config.profiles import PacsNode
from dicom_courier.core.qr.name_match import NameMatching
from dicom_courier.core.qr.no_results import no_results
from dicom_courier.gui.plain_text import make_plain
from dicom_courier.gui.query_form import QueryForm

if TYPE_CHECKING:  # the engine loads after the first paint
    from dicom_courier.core.dimse.find import FindResult


@dataclass(frozen=True)
class SearchedFor:
    """What one search asked, captured when it started (the form may change meanwhile)."""

    keys: dict[str, str]
    pacs: str
    dates: str | None
    name_matching: NameMatching | None


def pacs_words(pacs: PacsNode | None) -> str:
    """The PACS as a person knows it: "ORTHANC", or "Main PACS (ORTHANC)"."""
    if pacs is None:
        return ""
    return pacs.called_aet if pacs.name == pacs.called_aet else \
        f"{pacs.name} ({pacs.called_aet})"


class EmptyResultsNotice(QLabel):
    """A plain-text label over ``view``'s viewport, shown when a search found nothing."""

    def __init__(self, view: QAbstractItemView, form: QueryForm) -> None:
        super().__init__(view.viewport())
        self.setObjectName("emptyResults")
        make_plain(self)
        self.setAccessibleName("No results")
        self.setWordWrap(True)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMargin(24)
        self.setStyleSheet("color: palette(text); font-size: 11pt;")
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self._view = view
        self._form = form
        view.viewport().installEventFilter(self)
        model = view.model()
        model.rowsInserted.connect(self._hide_if_rows)
        model.modelReset.connect(self._hide_if_rows)
        form.cleared.connect(self.hide)
        self.hide()

    def before_search(self, keys: dict[str, str], pacs: PacsNode | None) -> SearchedFor:
        """A search of ``keys`` on ``pacs`` starts: hide the notice and remember what was
        asked (in the form's words when the form asked it)."""
        self.hide()
        from_form = keys == self._form.query_keys()
        return SearchedFor(dict(keys), pacs_words(pacs),
                           self._form.date_words() if from_form else None,
                           self._form.name_key().matching if from_form else None)

    def after_search(self, searched: SearchedFor, result: FindResult | None) -> None:
        """The search ended: show the notice if it ended normally and the grid is empty.
        ``result`` None: it was replaced by a newer search (which owns the grid) or never
        ran."""
        if result is None or result.error is not None or result.cancelled:
            return
        if self._view.model().rowCount() or self._source_rows():
            return
        self.setText(no_results(searched.keys, searched.pacs, dates=searched.dates,
                                name_matching=searched.name_matching).text)
        self._fit()
        self.show()
        self.raise_()

    def _source_rows(self) -> int:
        """Rows behind the grid's filter (a filter hiding every row is not "none found")."""
        model = self._view.model()
        source = getattr(model, "sourceModel", None)
        return source().rowCount() if callable(source) and source() is not None else 0

    def _hide_if_rows(self, *args: object) -> None:
        if self._view.model().rowCount() or self._source_rows():
            self.hide()

    def _fit(self) -> None:
        self.setGeometry(self._view.viewport().rect())

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Resize and self.isVisible():
            self._fit()
        return False
