"""The C-FIND results grid: one row per study, formatted on demand, sorted and filtered locally.

A search can return tens of thousands of studies, handed over in batches of a few hundred, and
50,000 of them must fit in a modest process (issue 12: <= 150 MB). A row is therefore only its
(lean) FindMatch: the text of a cell is worked out when a view asks for it and kept for the
rows recently asked about. Sorting and filtering
(:class:`~dicom_courier.gui.results_proxy.ResultsFilterProxy`, its own module) work on the
sort keys of the sorted column and on the filter texts, each worked out for every row on first
use and then per batch, with Python's own sort, because every call Qt makes into Python costs
microseconds and a sort made of such calls took seconds.

Values are shown as a person reads them (PS3.5 6.2: PN, DA, TM, multi-valued CS, worded by
:mod:`dicom_courier.core.text.people_text`, as the command line's tables are), and a value that
could not be decoded (``FindMatch.undecodable``) is shown marked, never raised.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
)

from dicom_courier.core.qr.distinct import AnswerCount, AnswerTally
from dicom_courier.core.qr.query import FindMatch, QueryLevel
from dicom_courier.core.text.people_text import (  # the formatters, re-exported for the window
    date_digits,
    format_date,
    format_multi_value,
    format_person_name,
    format_time,
    time_digits,
)
from dicom_courier.core.text.safe_text import printable
from dicom_courier.gui.plain_text import CELL_LIMIT, cell_text, plain_tooltip

#: Shown before a value that could not be decoded with the study's character set.
UNDECODABLE_MARK = "\u26a0 "
UNDECODABLE_TOOLTIP = "This value could not be decoded with the study's character set"
#: The tooltip of a marked value the PACS sent without declaring its character set.
UNDECLARED_TOOLTIP = ("Character set not declared: the PACS sent this value without a "
                      "Specific Character Set; it is read as UTF-8, or Latin-1 if not UTF-8, "
                      "and may show the wrong letters")

_ROOT = QModelIndex()
_Index = QModelIndex | QPersistentModelIndex
SortKey = str | int


class Column(IntEnum):
    """The grid's columns, in their default order."""

    PATIENT_NAME = 0
    PATIENT_ID = 1
    BIRTH_DATE = 2
    SEX = 3
    STUDY_DATE_TIME = 4
    ACCESSION = 5
    MODALITIES = 6
    DESCRIPTION = 7
    SERIES_COUNT = 8
    INSTANCE_COUNT = 9
    REFERRING = 10

    @property
    def title(self) -> str:
        """The header text."""
        return _SPECS[self].title

    @property
    def keywords(self) -> tuple[str, ...]:
        """The DICOM keywords this column is made from."""
        return _SPECS[self].keywords


class Role(IntEnum):
    """Data roles beyond Qt's own, for the proxy, the view and the main window."""

    MATCH_ROLE = int(Qt.ItemDataRole.UserRole)  # the row's FindMatch
    SORT_ROLE = int(Qt.ItemDataRole.UserRole) + 1  # casefolded str, YYYYMMDDHHMMSS str, or int
    STUDY_UID_ROLE = int(Qt.ItemDataRole.UserRole) + 2  # StudyInstanceUID as str


# --- Cells: DICOM value -> (display text, sort key). Never raises on odd input. -------------
# The words come from core.people_text (shared with the command line); these run for every
# row of every search, so they add only the sort key.


def _name_cell(raw: str) -> tuple[str, SortKey]:
    text = format_person_name(raw)
    return text, text.casefold()


def _text_cell(raw: str) -> tuple[str, SortKey]:
    text = raw.strip()
    return text, text.casefold()


def _modalities_cell(raw: str) -> tuple[str, SortKey]:
    text = format_multi_value(raw)
    return text, text.casefold()


def _date_cell(raw: str) -> tuple[str, SortKey]:
    """A DA value and its sort key (YYYYMMDD000000, a partial date padded with zeros; a value
    that is not a date sorts first)."""
    digits = date_digits(raw)
    return format_date(raw), (digits.ljust(8, "0") + "000000" if digits else "")


def _date_time_cell(date_raw: str, time_raw: str) -> tuple[str, SortKey]:
    """Study date and time in one cell; sort key YYYYMMDDHHMMSS ("" without a date)."""
    date_text, time_text = format_date(date_raw), format_time(time_raw)
    text = f"{date_text} {time_text}" if date_text and time_text else date_text or time_text
    digits = date_digits(date_raw)
    return text, (digits.ljust(8, "0") + (time_digits(time_raw) or "000000") if digits else "")


def _count_cell(raw: str) -> tuple[str, SortKey]:
    """An IS count; a missing or odd value sorts below zero."""
    try:
        number = int(raw)
    except ValueError:
        return raw.strip(), -1
    return str(number), number


@dataclass(frozen=True)
class _ColumnSpec:
    title: str
    keywords: tuple[str, ...]
    cell: Callable[..., tuple[str, SortKey]]
    is_name: bool = False
    is_count: bool = False


_SPECS: dict[Column, _ColumnSpec] = {
    Column.PATIENT_NAME: _ColumnSpec("Patient name", ("PatientName",), _name_cell, is_name=True),
    Column.PATIENT_ID: _ColumnSpec("Patient ID", ("PatientID",), _text_cell),
    Column.BIRTH_DATE: _ColumnSpec("Birth date", ("PatientBirthDate",), _date_cell),
    Column.SEX: _ColumnSpec("Sex", ("PatientSex",), _text_cell),
    Column.STUDY_DATE_TIME: _ColumnSpec("Study date/time", ("StudyDate", "StudyTime"),
                                        _date_time_cell),
    Column.ACCESSION: _ColumnSpec("Accession", ("AccessionNumber",), _text_cell),
    Column.MODALITIES: _ColumnSpec("Modalities", ("ModalitiesInStudy",), _modalities_cell),
    Column.DESCRIPTION: _ColumnSpec("Description", ("StudyDescription",), _text_cell),
    Column.SERIES_COUNT: _ColumnSpec("Series", ("NumberOfStudyRelatedSeries",), _count_cell,
                                     is_count=True),
    Column.INSTANCE_COUNT: _ColumnSpec("Images", ("NumberOfStudyRelatedInstances",),
                                       _count_cell, is_count=True),
    Column.REFERRING: _ColumnSpec("Referring physician", ("ReferringPhysicianName",),
                                  _name_cell, is_name=True),
}
_COLUMNS = tuple(Column)
_COLUMN_COUNT = len(_COLUMNS)
#: What the local filter looks at (formatted and raw, so "müller" and "müller^j" both match).
_FILTER_COLUMNS = (Column.PATIENT_NAME, Column.PATIENT_ID, Column.ACCESSION,
                   Column.DESCRIPTION, Column.MODALITIES)
_FILTER_RAW_KEYWORDS = ("PatientName", "ModalitiesInStudy")
_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
_LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter

_DISPLAY = int(Qt.ItemDataRole.DisplayRole)
_TOOLTIP = int(Qt.ItemDataRole.ToolTipRole)
_ALIGN = int(Qt.ItemDataRole.TextAlignmentRole)
_SERVED_ROLES = frozenset({_DISPLAY, _TOOLTIP, _ALIGN, *map(int, Role)})
#: The roles ``data()`` answers (the proxy returns None for others without asking the model).
SERVED_ROLES = _SERVED_ROLES
_COUNT_COLUMNS = frozenset(c for c in _COLUMNS if _SPECS[c].is_count)
#: Columns whose sort key is "" or 14 ASCII digits (see _date_cell, _date_time_cell).
_DATE_COLUMNS = frozenset({Column.BIRTH_DATE, Column.STUDY_DATE_TIME})
_ITEM_FLAGS = (Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
               | Qt.ItemFlag.ItemNeverHasChildren)
#: Every cell's flags: selectable, never editable, no children.
ITEM_FLAGS = _ITEM_FLAGS
_NO_FLAGS = Qt.ItemFlag.NoItemFlags


def _raw(match: FindMatch, keyword: str) -> str:
    value = match.values.get(keyword)
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


#: (column, keywords, cell formatter, sort key for a value that broke its formatter)
_PLAN = tuple((c, _SPECS[c].keywords, _SPECS[c].cell, -1 if _SPECS[c].is_count else "")
              for c in _COLUMNS)
#: How many rows keep their formatted texts (the rows on screen and around them).
DISPLAY_CACHE_ROWS = 1024


def _cell(match: FindMatch, column: int) -> tuple[str, SortKey]:
    """One cell's text (unmarked, uncut) and sort key; never raises on odd input."""
    _, keywords, cell, broken_key = _PLAN[column]
    raws = [_raw(match, k) for k in keywords]
    try:
        return cell(*raws)
    except Exception:  # one strange value must never break the whole grid
        return " ".join(raws).strip(), broken_key


def _marked(match: FindMatch, column: int) -> bool:
    """True if a value of ``column`` is undecodable or in an undeclared character set."""
    if not (match.undecodable or match.undeclared_charset):
        return False
    keywords = _PLAN[column][1]
    return not (match.undecodable.isdisjoint(keywords)
                and match.undeclared_charset.isdisjoint(keywords))


def _display_cell(match: FindMatch, column: int) -> str:
    """What one cell of ``match``'s row shows: marked, one line, cut (``cell_text``)."""
    text = _cell(match, column)[0]
    if _marked(match, column):
        text = UNDECODABLE_MARK + text
    return cell_text(text)  # a 64 MB description is cut here


def _display_row(match: FindMatch) -> tuple[str, ...]:
    """What each cell of ``match``'s row shows (see :func:`_display_cell`)."""
    return tuple([_display_cell(match, column) for column in range(_COLUMN_COUNT)])


def _search_text(match: FindMatch) -> str:
    """The casefolded text the local filter matches for one row (see ``search_texts``): the
    filter columns as displayed, then the raw name and modalities, joined with U+001F."""
    raws = [_raw(match, k) for k in _FILTER_RAW_KEYWORDS]
    shown = [_cell(match, c)[0] for c in _FILTER_COLUMNS]
    lines = "\n".join(shown)
    # Fast road, same text: no mark, nothing to cut, no control character (one check for
    # all five cells), so each cell shows exactly its text (cell_text would return it).
    if (match.undecodable or match.undeclared_charset or lines.count("\n") != len(shown) - 1
            or max(map(len, shown)) > CELL_LIMIT
            or printable(lines, keep_newlines=True) != lines):
        shown = [_display_cell(match, c) for c in _FILTER_COLUMNS]
    return "\x1f".join(shown + raws).casefold()


class StudyResultsModel(QAbstractTableModel):
    """C-FIND study matches as a table; append-only between searches, cleared for the next.

    Rows stay in arrival order. A row is its FindMatch and nothing else: a search may bring
    50,000 of them. What a cell shows is formatted when a view asks (``data()``,
    ``display_text``) and kept for the last :data:`DISPLAY_CACHE_ROWS` rows asked about. The
    sort keys of a column (``sort_keys``) and the filter texts (``search_texts``), which
    ``results_proxy.ResultsFilterProxy`` needs for every row, are worked out the first time
    they are asked for and then kept up to date as rows arrive: only the sorted column pays.
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._matches: list[FindMatch] = []
        self._display: dict[int, tuple[str, ...]] = {}  # row -> texts, bounded (see above)
        self._search: list[str] = []  # filled on first use, then per batch
        self._sort_keys: tuple[list[SortKey], ...] = tuple([] for _ in _COLUMNS)
        self._tally = AnswerTally(QueryLevel.STUDY)  # a PACS may name one study many times

    # --- Filling --------------------------------------------------------------------------

    def append_matches(self, matches: Iterable[FindMatch]) -> None:
        """Add one batch at the end, announced with one beginInsertRows."""
        new = list(matches)
        if not new:
            return
        first = len(self._matches)
        self.beginInsertRows(_ROOT, first, first + len(new) - 1)
        self._matches.extend(new)
        self._tally.add(new)
        self.endInsertRows()

    def clear(self) -> None:
        """Forget every row (a new search starts)."""
        if not self._matches:
            return
        self.beginResetModel()
        self._matches.clear()
        self._display.clear()
        self._search.clear()
        for column_keys in self._sort_keys:
            column_keys.clear()
        self._tally.clear()
        self.endResetModel()

    @property
    def answer_count(self) -> AnswerCount:
        """How many rows (answers) there are and how many distinct studies they name."""
        return self._tally.count

    # --- Lookups for the proxy, the view and the window -----------------------------------

    def match_at(self, row: int) -> FindMatch:
        """The FindMatch of a source row; IndexError outside 0..rowCount()-1."""
        if not 0 <= row < len(self._matches):
            raise IndexError(f"no result row {row}")
        return self._matches[row]

    def display_text(self, row: int, column: int) -> str:
        """What the cell shows; a plain call, so copying 20,000 rows skips data()."""
        return self._row_texts(row)[column]

    def _row_texts(self, row: int) -> tuple[str, ...]:
        texts = self._display.get(row)
        if texts is None:
            texts = _display_row(self._matches[row])
            if len(self._display) >= DISPLAY_CACHE_ROWS:
                del self._display[next(iter(self._display))]  # the oldest row asked about
            self._display[row] = texts
        return texts

    def sort_keys(self, column: int) -> Sequence[SortKey]:
        """Every row's sort key for ``column``, by source row (a live list: read only).

        Keys order rows exactly as their SORT_ROLE values do; they *are* those values, except
        in the date columns, where the 14-digit ``YYYYMMDDHHMMSS`` string is held as its int
        (``""``: -1), half the memory. Worked out for every row on the first call for
        ``column`` (repeated keys shared), then kept up to date as rows arrive.
        """
        keys = self._sort_keys[column]
        if len(keys) < len(self._matches):
            shared: dict[SortKey, SortKey] = {}
            new = (_cell(m, column)[1] for m in self._matches[len(keys):])
            if column in _DATE_COLUMNS:  # 14 ASCII digits or "": as ints, in the same order
                new = (int(key) if key else -1 for key in new)
            keys.extend(shared.setdefault(key, key) for key in new)
        return keys

    def search_texts(self) -> Sequence[str]:
        """Per source row, the casefolded text the local filter matches (a live list: read only).

        Patient name (as shown and as sent), ID, accession, description, modalities. Worked
        out on the first call, then kept up to date as rows arrive.
        """
        texts = self._search
        if len(texts) < len(self._matches):
            texts.extend(_search_text(m) for m in self._matches[len(texts):])
        return texts

    # --- Qt model interface ---------------------------------------------------------------

    def rowCount(self, parent: _Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._matches)

    def columnCount(self, parent: _Index = _ROOT) -> int:
        return 0 if parent.isValid() else _COLUMN_COUNT

    def data(self, index: _Index, role: int = _DISPLAY) -> Any:
        # Hot: each painted cell asks for ~7 roles; unserved ones return before anything else.
        if role not in _SERVED_ROLES:
            return None
        return self.cell_data(index.row(), index.column(), role)

    def cell_data(self, row: int, column: int, role: int) -> Any:
        """data() by row and column (an invalid index's row is -1: out of bounds, None)."""
        if not (0 <= row < len(self._matches) and 0 <= column < _COLUMN_COUNT):
            return None
        if role == _DISPLAY:
            return self._row_texts(row)[column]
        if role == _ALIGN:
            return _RIGHT if column in _COUNT_COLUMNS else None
        if role == Role.SORT_ROLE:
            keys = self._sort_keys[column]  # date columns hold ints there: ask the cell
            if row < len(keys) and column not in _DATE_COLUMNS:
                return keys[row]
            return _cell(self._matches[row], column)[1]
        if role == _TOOLTIP:  # names and descriptions are data, never HTML
            return plain_tooltip(self._tooltip(row, _COLUMNS[column]))
        if role == Role.MATCH_ROLE:
            return self._matches[row]
        if role == Role.STUDY_UID_ROLE:
            return _raw(self._matches[row], "StudyInstanceUID")
        return None

    def _tooltip(self, row: int, column: Column) -> str | None:
        spec = _SPECS[column]
        lines = []
        match = self._matches[row]
        if _marked(match, column):
            keywords = _SPECS[column].keywords
            if not match.undecodable.isdisjoint(keywords):
                lines.append(UNDECODABLE_TOOLTIP)
            if not match.undeclared_charset.isdisjoint(keywords):
                lines.append(UNDECLARED_TOOLTIP)
        if spec.is_name:
            raw = _raw(match, spec.keywords[0])
            if raw:
                lines.append(raw)
        elif column is Column.DESCRIPTION and self._row_texts(row)[column]:
            lines.append(self._row_texts(row)[column])  # often elided in the cell
        return "\n".join(lines) or None

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = _DISPLAY) -> Any:
        if orientation == Qt.Orientation.Vertical:
            return section + 1 if role == _DISPLAY else None
        if not 0 <= section < _COLUMN_COUNT:
            return None
        spec = _SPECS[_COLUMNS[section]]
        if role == _DISPLAY:
            return spec.title
        if role == _TOOLTIP:
            return "DICOM " + " + ".join(spec.keywords)
        if role == _ALIGN:  # titles line up with their cells
            return _RIGHT if spec.is_count else _LEFT
        return None

    def flags(self, index: _Index) -> Qt.ItemFlag:
        if 0 <= index.row() < len(self._matches) and 0 <= index.column() < _COLUMN_COUNT:
            return _ITEM_FLAGS
        return _NO_FLAGS
