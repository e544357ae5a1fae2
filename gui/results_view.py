"""The C-FIND results table: selection, type-ahead, copy, and a context menu that only asks.

The view does no network work: "Send to workstation" and "Show series" are signals the main
window answers, and both act on the SELECTED studies, never on a row computed from a point
(:mod:`.selection_menu`: right click, the Menu key and Shift+F10). Keyboard: the first Down
(or Up) with nothing selected selects the first row; Enter or a double click opens the
selected study's series. The columns fit the width the grid has (:mod:`.column_fit`) until a
person resizes one by hand. Header state (widths, order, sort) round-trips through ``save_state`` /
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
    QObject,
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
from dicom_courier.gui.column_fit import fit_widths
from dicom_courier.gui.results_model import Column, StudyResultsModel
from dicom_courier.gui.results_proxy import ResultsFilterProxy, results_as_tsv
from dicom_courier.gui.selection_menu import SelectionMenu, selected_rows

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
#: The least an elidable column gets when the grid is narrow (its cells and title elide).
_MIN_SAMPLES: dict[Column, str] = {
    Column.PATIENT_NAME: "Mustermann, Hans",
    Column.PATIENT_ID: "PID-000123",
    Column.ACCESSION: "ACC-2024-0",
    Column.DESCRIPTION: "CT Thorax/Ab",
    Column.REFERRING: "Dr Muster",
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
    #: "Show series" (menu, Enter or double click) for this FindMatch: the one selected study.
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
        self._natural_widths: dict[int, int] = {}
        self._minimum_widths: dict[int, int] = {}
        #: Columns follow the grid's width until a person resizes one (then theirs are kept).
        self.auto_fit_columns = True
        self._fitting = False
        self._apply_default_widths()
        header.sectionResized.connect(self._on_section_resized)
        #: True while a mouse button is down on the header: only then is a resize a person's.
        self._header_pressed = False
        header.viewport().installEventFilter(self)

        self.setSortingEnabled(True)
        self.sortByColumn(Column.STUDY_DATE_TIME, Qt.SortOrder.DescendingOrder)  # newest first

        # After the tab: the keys that do the same (shown by the menu, not bound here).
        self.send_action = QAction("Send to workstation\tCtrl+Enter", self)
        self.send_action.triggered.connect(self._on_send_triggered)
        self.expand_action = QAction("Show series\tEnter", self)
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
        # Right click, Menu key, Shift+F10: the menu acts on the selection, never on a point.
        self.selection_menu = SelectionMenu(self, self._menu, self._update_actions)
        self.doubleClicked.connect(self._on_double_clicked)

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

    @property
    def context_menu(self) -> QMenu:
        """The rows' context menu (Send to workstation, Show series, Copy)."""
        return self._menu

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
        self.auto_fit_columns = False  # the saved widths are the person's (see window_layout)
        return True

    def fit_columns(self) -> None:
        """Fit the visible columns into the viewport's width (:func:`.column_fit.fit_widths`):
        names and descriptions give up width first, dates and counts keep theirs."""
        header = self.horizontalHeader()
        visible = [c for c in self._natural_widths if not header.isSectionHidden(c)]
        widths = fit_widths({c: self._natural_widths[c] for c in visible},
                            self._minimum_widths, self.viewport().width())
        self._fitting = True
        try:
            for column, width in widths.items():
                if header.sectionSize(column) != width:
                    header.resizeSection(column, width)
        finally:
            self._fitting = False

    # --- Keyboard -------------------------------------------------------------------------

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Down or Up with nothing selected selects the FIRST row (Qt made row 0 current,
        unselected, when the grid got focus, so the first Down selected the second row);
        Enter opens the selected study's series."""
        key = event.key()
        plain = (event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
                 ) == Qt.KeyboardModifier.NoModifier
        if plain and key in (Qt.Key.Key_Down, Qt.Key.Key_Up) and not self._selected_count():
            first = self._proxy.index(0, Column.PATIENT_NAME)
            if first.isValid():
                self.selectionModel().setCurrentIndex(
                    first, QItemSelectionModel.SelectionFlag.ClearAndSelect
                    | QItemSelectionModel.SelectionFlag.Rows)
                self.scrollTo(first)
                event.accept()
                return
        if plain and key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self._on_expand_triggered()
            event.accept()
            return
        super().keyPressEvent(event)

    def moveCursor(self, action: QAbstractItemView.CursorAction,
                   modifiers: Qt.KeyboardModifier) -> QModelIndex:
        """Home and End go to the first and last STUDY (a QTableView moves them along the
        row's cells, which with whole-row selection selected the current row instead: End on
        a fresh grid selected the first study, not the last)."""
        if action in (QAbstractItemView.CursorAction.MoveHome,
                      QAbstractItemView.CursorAction.MoveEnd):
            modifiers = modifiers | Qt.KeyboardModifier.ControlModifier
        return super().moveCursor(action, modifiers)

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

    def _on_double_clicked(self, index: QModelIndex) -> None:
        """A double click on a study (its press selected it) opens that study's series."""
        if index.isValid() and self.selectionModel().isRowSelected(index.row()):
            self._on_expand_triggered()

    def _on_section_resized(self, column: int, _old: int, _new: int) -> None:
        """A person dragging a column's edge (not the stretched last one, not our fitting)
        turns fitting off: their widths are kept, here and in window.ini."""
        header = self.horizontalHeader()
        last = header.logicalIndex(header.count() - 1)
        if not self._fitting and column != last and self._header_pressed:
            self.auto_fit_columns = False

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Track a mouse button held on the header (a drag of a column's edge)."""
        if watched is self.horizontalHeader().viewport():
            if event.type() == QEvent.Type.MouseButtonPress:
                self._header_pressed = True
            elif event.type() == QEvent.Type.MouseButtonRelease:
                self._header_pressed = False
        return super().eventFilter(watched, event)

    def viewportEvent(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Resize and self.auto_fit_columns:
            self.fit_columns()
        return super().viewportEvent(event)

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
        """Show series of the one selected study (several or none: nothing to open)."""
        rows = self._selected_rows() if self._selected_count() == 1 else []
        if rows:
            self.expand_requested.emit(self._match_for_proxy_row(rows[0]))

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
            (self.expand_action, count == 1),
        )
        for action, enabled in wanted:
            if action.isEnabled() != enabled:
                action.setEnabled(enabled)

    def _selected_count(self) -> int:
        """Selected rows, from the ranges alone (cheap even with 20,000 rows selected)."""
        return sum(r.height() for r in self.selectionModel().selection())

    def _selected_rows(self) -> list[int]:
        """Selected proxy rows, in view order, from the ranges (no index per cell)."""
        return selected_rows(self)

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
            least = title.horizontalAdvance(column.title) + _SORT_ARROW_ROOM
            width = max(cell.horizontalAdvance(_WIDTH_SAMPLES[column]) + _CELL_PADDING, least)
            self._natural_widths[column] = width
            if column in _MIN_SAMPLES:  # its title may elide, its cells do anyway
                self._minimum_widths[column] = min(
                    width, cell.horizontalAdvance(_MIN_SAMPLES[column]) + _CELL_PADDING)
            header.resizeSection(column, width)
        self.auto_fit_columns = True
        if self.isVisible():
            self.fit_columns()
