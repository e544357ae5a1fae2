"""The C-FIND results table: selection, type-ahead, copy, and a context menu that only asks.

The view does no network work: "Send to workstation" and "Show series" are signals the main
window answers. Header state (widths, order, sort) round-trips through ``save_state`` /
``restore_state`` so the window can keep it in QSettings. While a search streams rows in,
repaints are throttled (STREAM_REPAINT_INTERVAL_MS): a repaint costs more than a batch.
"""

from __future__ import annotations

from PySide6.QtCore import (
    QByteArray,
    QEvent,
    QItemSelection,
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QAction, QGuiApplication, QKeyEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QMenu,
    QProxyStyle,
    QStyle,
    QStyleOption,
    QTableView,
    QWidget,
)

from dicom_courier.core.qr.query import FindMatch
from dicom_courier.gui.results_model import Column, StudyResultsModel
from dicom_courier.gui.results_proxy import ResultsFilterProxy, results_as_tsv

#: Typical content per column; default widths fit these (or the title) in the current font.
_WIDTH_SAMPLES: dict[Column, str] = {
    Column.PATIENT_NAME: "Mustermann-Schmidt, Hans Jürgen",
    Column.PATIENT_ID: "PID-0001234567",
    Column.BIRTH_DATE: "0000-00-00",
    Column.SEX: "M",
    Column.STUDY_DATE_TIME: "0000-00-00 00:00",
    Column.ACCESSION: "ACC-2024-00012345",
    Column.MODALITIES: "CT, MR, PT",
    Column.DESCRIPTION: "CT Thorax/Abdomen/Becken mit KM",
    Column.SERIES_COUNT: "000",
    Column.INSTANCE_COUNT: "00000",
    Column.REFERRING: "Dr Mustermann, Erika",
}
_SORT_ARROW_ROOM = 24  # header: sort indicator plus margins
#: While results stream in, repaint the rows at most this often (a repaint costs far more
#: than inserting a batch, and a person cannot read faster anyway).
STREAM_REPAINT_INTERVAL_MS = 200
_TEXT_MARGIN = 5  # px each side of a cell's text (Fusion's is 3)
_CELL_PADDING = 2 * _TEXT_MARGIN + 8


class _RoomyCellsStyle(QProxyStyle):
    """Wider text margins in cells and header sections.

    Without them a right-aligned count ran into the name in the next column. A style sheet
    did the same but made every repaint ~40% dearer; a Python delegate would run paint() for
    every cell. Item views take their text margin from PM_FocusFrameHMargin (+1).
    """

    def pixelMetric(self, metric: QStyle.PixelMetric, option: QStyleOption | None = None,
                    widget: QWidget | None = None) -> int:
        if metric == QStyle.PixelMetric.PM_FocusFrameHMargin:
            return _TEXT_MARGIN - 1
        if metric == QStyle.PixelMetric.PM_HeaderMargin:
            return _TEXT_MARGIN
        return super().pixelMetric(metric, option, widget)


class ResultsView(QTableView):
    """Study results: sortable, filterable, multi-select, with copy and a context menu."""

    #: "Send to workstation" was chosen; the window reads ``selected_matches()``.
    send_requested = Signal()
    #: "Show series" was chosen for this FindMatch (the row under the pointer, else current).
    expand_requested = Signal(object)
    #: The number of selected studies changed (for "Send 3 studies" labels).
    selection_changed_count = Signal(int)

    def __init__(self, model: StudyResultsModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("resultsView")
        self.setAccessibleName("Search results")
        self._results = model
        self._proxy = ResultsFilterProxy(self)
        self._proxy.setSourceModel(model)
        self.setModel(self._proxy)

        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setAlternatingRowColors(True)
        self.setShowGrid(False)
        self.setWordWrap(False)  # elide, never wrap into a fixed-height row
        self.setTabKeyNavigation(False)  # Tab leaves the table, as a person expects
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        # Room between a right-aligned count and the text beside it, and titles in line.
        self._style = _RoomyCellsStyle()
        self.setStyle(self._style)
        self.horizontalHeader().setStyle(self._style)

        rows = self.verticalHeader()
        rows.hide()
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)  # uniform: cheap at 20k rows
        rows.setDefaultSectionSize(self.fontMetrics().height() + 8)

        header = self.horizontalHeader()
        header.setSectionsMovable(True)
        header.setHighlightSections(False)
        header.setStretchLastSection(True)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self._apply_default_widths()

        self.setSortingEnabled(True)
        self.sortByColumn(Column.STUDY_DATE_TIME, Qt.SortOrder.DescendingOrder)  # newest first

        self.send_action = QAction("Send to workstation", self)
        self.send_action.triggered.connect(self._on_send_triggered)
        self.expand_action = QAction("Show series", self)
        self.expand_action.triggered.connect(self._on_expand_triggered)
        self.copy_action = QAction("Copy", self)
        self.copy_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Copy))
        self.copy_action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        self.copy_action.triggered.connect(self.copy_selection)
        self._menu = QMenu(self)
        self._menu.addAction(self.send_action)
        self._menu.addAction(self.expand_action)
        self._menu.addSeparator()
        self._menu.addAction(self.copy_action)
        self._context_index = QPersistentModelIndex()
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._on_context_menu_requested)

        self._repaint_timer = QTimer(self)
        self._repaint_timer.setSingleShot(True)
        self._repaint_timer.setInterval(STREAM_REPAINT_INTERVAL_MS)
        self._repaint_timer.timeout.connect(self._on_repaint_due)
        model.rowsInserted.connect(self._on_rows_streamed)

        self._last_count = 0
        self.selectionModel().selectionChanged.connect(self._on_selection_changed)
        # A reset (clear) drops the selection without selectionChanged.
        self._proxy.modelReset.connect(self._emit_selection_count)
        self._proxy.rowsRemoved.connect(self._emit_selection_count)
        self._update_actions()

    # --- Public API -----------------------------------------------------------------------

    @property
    def proxy(self) -> ResultsFilterProxy:
        """The sort/filter proxy (the window connects its filter box to set_filter_text)."""
        return self._proxy

    @property
    def results_model(self) -> StudyResultsModel:
        return self._results

    def selected_matches(self) -> list[FindMatch]:
        """The selected studies, top to bottom as shown."""
        return [self._match_for_proxy_row(row) for row in self._selected_rows()]

    def copy_selection(self) -> None:
        """Put the selected rows (visible columns, shown order) on the clipboard as TSV."""
        rows = self._selected_rows()
        if rows:
            text = results_as_tsv(self._proxy, rows, self._visible_columns())
            QGuiApplication.clipboard().setText(text)

    def save_state(self) -> bytes:
        """Header state (widths, order, hidden columns, sort) for QSettings."""
        return bytes(self.horizontalHeader().saveState().data())

    def restore_state(self, state: bytes) -> bool:
        """Apply what ``save_state`` returned; False (defaults kept) if it is unusable."""
        header = self.horizontalHeader()
        if not state or not header.restoreState(QByteArray(state)):
            return False
        if header.count() != len(Column):  # saved by a version with other columns
            self._apply_default_widths()
            return False
        self.sortByColumn(header.sortIndicatorSection(), header.sortIndicatorOrder())
        return True

    # --- Keyboard -------------------------------------------------------------------------

    def keyboardSearch(self, search: str) -> None:
        """Type-ahead always searches patient names, whichever cell is current."""
        current = self.currentIndex()
        if current.isValid() and current.column() != Column.PATIENT_NAME:
            self.selectionModel().setCurrentIndex(
                current.siblingAtColumn(Column.PATIENT_NAME),
                QItemSelectionModel.SelectionFlag.NoUpdate)
        super().keyboardSearch(search)

    def event(self, event: QEvent) -> bool:
        """Ctrl+C copies whole selected rows (QAbstractItemView copies only the current cell).

        ShortcutOverride is claimed so no window-wide Copy shortcut competes ("ambiguous
        shortcut"); handling it here rather than in keyPressEvent keeps ordinary keys from
        a Python round trip through the base class.
        """
        kind = event.type()
        if (kind in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress)
                and isinstance(event, QKeyEvent)
                and event.matches(QKeySequence.StandardKey.Copy)):
            if kind == QEvent.Type.KeyPress:
                self.copy_selection()
            event.accept()
            return True
        return super().event(event)

    # --- Slots ----------------------------------------------------------------------------

    def _on_context_menu_requested(self, pos: QPoint) -> None:
        index = self.indexAt(pos)
        if not index.isValid():
            index = self.currentIndex()  # menu key: act on the current row
        self._context_index = QPersistentModelIndex(index)
        self._update_actions()
        self._menu.popup(self.viewport().mapToGlobal(pos))  # non-modal: safe under qasync

    def _on_rows_streamed(self) -> None:
        """Throttle repaints during a search: the first batch shows at once, later ones at
        most every STREAM_REPAINT_INTERVAL_MS, all together."""
        viewport = self.viewport()
        if not self._repaint_timer.isActive():
            self._repaint_timer.start()
        elif viewport.updatesEnabled():
            viewport.setUpdatesEnabled(False)

    def _on_repaint_due(self) -> None:
        viewport = self.viewport()
        if not viewport.updatesEnabled():
            viewport.setUpdatesEnabled(True)  # repaints everything held back
            self._repaint_timer.start()  # and keeps the pace while batches still arrive

    def _on_send_triggered(self) -> None:
        if self._selected_rows():
            self.send_requested.emit()

    def _on_expand_triggered(self) -> None:
        index = QModelIndex(self._context_index)
        self._context_index = QPersistentModelIndex()
        if not index.isValid():
            index = self.currentIndex()
        if index.isValid():
            self.expand_requested.emit(self._match_for_proxy_row(index.row()))

    def _on_selection_changed(self, _selected: QItemSelection,
                              _deselected: QItemSelection) -> None:
        self._emit_selection_count()

    def _emit_selection_count(self) -> None:
        count = self._selected_count()
        self._update_actions(count)
        if count != self._last_count:
            self._last_count = count
            self.selection_changed_count.emit(count)

    # --- Helpers --------------------------------------------------------------------------

    def _update_actions(self, count: int | None = None) -> None:
        if count is None:
            count = self._selected_count()
        wanted = (
            (self.send_action, count > 0),
            (self.copy_action, count > 0),
            (self.expand_action, self._context_index.isValid()
             or self.currentIndex().isValid()),
        )
        for action, enabled in wanted:
            if action.isEnabled() != enabled:
                action.setEnabled(enabled)

    def _selected_count(self) -> int:
        """Selected rows, from the ranges alone (cheap even with 20,000 rows selected)."""
        return sum(r.height() for r in self.selectionModel().selection())

    def _selected_rows(self) -> list[int]:
        """Selected proxy rows, in view order, from the ranges (no index per cell)."""
        rows: set[int] = set()
        for selection_range in self.selectionModel().selection():
            rows.update(range(selection_range.top(), selection_range.bottom() + 1))
        return sorted(rows)

    def _match_for_proxy_row(self, row: int) -> FindMatch:
        return self._results.match_at(self._proxy.source_row(row))

    def _visible_columns(self) -> list[int]:
        header = self.horizontalHeader()
        logical = (header.logicalIndex(v) for v in range(header.count()))
        return [c for c in logical if not header.isSectionHidden(c)]

    def _apply_default_widths(self) -> None:
        header = self.horizontalHeader()
        cell = self.fontMetrics()
        title = header.fontMetrics()
        for column in Column:
            width = max(cell.horizontalAdvance(_WIDTH_SAMPLES[column]) + _CELL_PADDING,
                        title.horizontalAdvance(column.title) + _SORT_ARROW_ROOM)
            header.resizeSection(column, width)
