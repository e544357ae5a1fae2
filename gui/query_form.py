"""The query form: what a person searches by, validated inline before anything is sent.

The form turns its fields into DICOM matching keys (PS3.4 C.2.2.2: wildcards for names and
text, a date range for the study date, a list for modalities). A field that breaks a rule is
marked red with the rule in words, and the form refuses to emit a search until it is fixed.

A plain patient name is searched as a prefix (``SMITH`` → ``SMITH*``, the rules of
:func:`dicom_courier.core.qr.name_match.name_key`), with a hint under the field saying what
will match; "Exact name" (Alt+X) sends it as typed. A Patient ID is always matched exactly
(the hint beside it says so). The study date starts at ``default_preset`` (the
``default_study_dates`` preference) and Clear returns to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from PySide6.QtCore import QDate, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from dicom_courier.core.config.app_settings import StudyDates
from dicom_courier.core.qr.name_match import NameKey, name_key, patient_id_hint
from dicom_courier.gui.plain_text import make_plain, plain_tooltip

MODALITIES = ("CT", "MR", "CR", "DX", "US", "MG", "NM", "PT", "XA", "RF", "OT", "SR")

WILDCARD_TIP = ("Use * for any characters and ? for one character, e.g. MÜLLER* or M?LLER. "
                "Matching is done by the PACS; most ignore case.")


class DatePreset(StrEnum):
    ANY = "Any date"
    TODAY = "Today"
    YESTERDAY = "Yesterday"
    LAST_7 = "Last 7 days"
    LAST_30 = "Last 30 days"
    RANGE = "From … to …"


#: The form's preset for each ``default_study_dates`` preference.
PRESET_FOR: dict[StudyDates, DatePreset] = {
    StudyDates.TODAY: DatePreset.TODAY,
    StudyDates.LAST_7_DAYS: DatePreset.LAST_7,
    StudyDates.LAST_30_DAYS: DatePreset.LAST_30,
    StudyDates.ANY: DatePreset.ANY,
}
_HINT_STYLE = "color: palette(placeholder-text);"


def preset_range(preset: DatePreset, today: date) -> tuple[date, date] | None:
    """The (from, to) dates a preset stands for; None for any date or a custom range."""
    return {
        DatePreset.TODAY: (today, today),
        DatePreset.YESTERDAY: (today - timedelta(days=1), today - timedelta(days=1)),
        DatePreset.LAST_7: (today - timedelta(days=6), today),
        DatePreset.LAST_30: (today - timedelta(days=29), today),
    }.get(preset)


@dataclass(frozen=True)
class FieldRule:
    """A text field's DICOM limits (PS3.5 6.2: VR length and the backslash delimiter)."""

    label: str
    max_length: int


_RULES = {
    "queryPatientName": FieldRule("Patient name", 64),
    "queryPatientId": FieldRule("Patient ID", 64),
    "queryAccession": FieldRule("Accession number", 16),
    "queryDescription": FieldRule("Study description", 64),
    "queryReferring": FieldRule("Referring physician", 64),
}
_KEYWORDS = {
    "queryPatientName": "PatientName",
    "queryPatientId": "PatientID",
    "queryAccession": "AccessionNumber",
    "queryDescription": "StudyDescription",
    "queryReferring": "ReferringPhysicianName",
}
_INVALID_STYLE = "border: 1px solid #c62828; background: #fff3f3;"


def text_field_problem(rule: FieldRule, text: str) -> str | None:
    if "\\" in text:
        return f"{rule.label}: must not contain a backslash (\\)"
    if len(text) > rule.max_length:
        return f"{rule.label}: must be at most {rule.max_length} characters"
    if any(ord(ch) < 0x20 for ch in text):
        return f"{rule.label}: must not contain control characters"
    return None


#: Why Search is disabled while there is no PACS profile.
NO_PACS_REASON = "Add a PACS first: there is no PACS to search yet."


class QueryForm(QWidget):
    """Fields, date presets, modalities and the Search / Clear buttons."""

    search_requested = Signal(dict)
    cleared = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.pacs_combo = QComboBox(objectName="pacsCombo")
        self.pacs_combo.setAccessibleName("PACS")
        self.pacs_combo.setMinimumContentsLength(18)
        self.fields: dict[str, QLineEdit] = {}
        for name, rule in _RULES.items():
            edit = QLineEdit(objectName=name)
            edit.setAccessibleName(rule.label)
            edit.setClearButtonEnabled(True)
            edit.textChanged.connect(self.validate)
            edit.returnPressed.connect(self.request_search)
            self.fields[name] = edit
        self.fields["queryPatientName"].setToolTip(WILDCARD_TIP)
        self.fields["queryPatientName"].setPlaceholderText("e.g. MÜLLER*")
        self.fields["queryDescription"].setToolTip(WILDCARD_TIP)
        # How the typed name and ID will match, said beside them (plain text: they quote
        # what was typed).
        self.exact_name = QCheckBox("E&xact name", objectName="queryExactName")
        self.exact_name.setAccessibleName("Exact name")
        self.exact_name.setToolTip("Search for the whole name exactly as typed, instead of "
                                   "names starting with it.")
        self.exact_name.toggled.connect(self._update_hints)
        self.name_hint = make_plain(QLabel(objectName="queryNameHint"))
        self.id_hint = make_plain(QLabel(objectName="queryIdHint"))
        for hint in (self.name_hint, self.id_hint):
            hint.setStyleSheet(_HINT_STYLE)
        self.name_hint.setWordWrap(True)
        for name in ("queryPatientName", "queryPatientId"):
            self.fields[name].textChanged.connect(self._update_hints)
        #: The study date the form starts with and Clear returns to (a preference).
        self.default_preset = DatePreset.ANY

        self.date_preset = QComboBox(objectName="queryDatePreset")
        self.date_preset.setAccessibleName("Study date")
        self.date_preset.addItems([p.value for p in DatePreset])
        self.date_preset.currentTextChanged.connect(self._on_preset)
        self.date_from = QDateEdit(objectName="queryDateFrom", calendarPopup=True)
        self.date_to = QDateEdit(objectName="queryDateTo", calendarPopup=True)
        for edit, name in ((self.date_from, "Study date from"), (self.date_to, "Study date to")):
            edit.setAccessibleName(name)
            edit.setDisplayFormat("yyyy-MM-dd")
            edit.setDate(QDate.currentDate())
            edit.setEnabled(False)
            edit.dateChanged.connect(self.validate)

        self.modalities = QToolButton(objectName="queryModalities")
        self.modalities.setAccessibleName("Modalities")
        self.modalities.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self._modality_menu = QMenu(self.modalities)
        for modality in MODALITIES:
            action = self._modality_menu.addAction(modality)
            action.setCheckable(True)
            action.toggled.connect(self._update_modality_text)
        self.modalities.setMenu(self._modality_menu)
        self._update_modality_text()

        self.search_button = QPushButton("Search", objectName="searchButton")
        self.search_button.setAccessibleName("Search")
        self.search_button.setDefault(True)
        self.search_button.clicked.connect(self.request_search)
        self.clear_button = QPushButton("Clear", objectName="clearButton")
        self.clear_button.clicked.connect(self.clear)
        self.error_label = make_plain(QLabel(objectName="queryError"))  # quotes typed values
        self.error_label.setStyleSheet("color: #c62828;")
        self.error_label.setWordWrap(True)
        self.error_label.hide()
        self._build_layout()
        self._update_hints()

    def _build_layout(self) -> None:
        left, right = QFormLayout(), QFormLayout()
        left.addRow("PACS", self.pacs_combo)
        name_row = QHBoxLayout()
        name_row.addWidget(self.fields["queryPatientName"], 1)
        name_row.addWidget(self.exact_name)
        left.addRow("Patient name", name_row)
        left.addRow("", self.name_hint)
        id_row = QHBoxLayout()
        id_row.addWidget(self.fields["queryPatientId"], 1)
        id_row.addWidget(self.id_hint)
        left.addRow("Patient ID", id_row)
        left.addRow("Accession", self.fields["queryAccession"])
        dates = QHBoxLayout()
        dates.addWidget(self.date_preset)
        dates.addWidget(self.date_from)
        dates.addWidget(QLabel("to"))
        dates.addWidget(self.date_to)
        right.addRow("Study date", dates)
        right.addRow("Modalities", self.modalities)
        right.addRow("Description", self.fields["queryDescription"])
        right.addRow("Referring", self.fields["queryReferring"])
        columns = QHBoxLayout()
        columns.addLayout(left, 1)
        columns.addLayout(right, 1)
        buttons = QVBoxLayout()
        buttons.addWidget(self.search_button)
        buttons.addWidget(self.clear_button)
        buttons.addStretch(1)
        columns.addLayout(buttons)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 0)
        outer.addLayout(columns)
        outer.addWidget(self.error_label)

    # ------------------------------------------------------------------ state

    def selected_modalities(self) -> list[str]:
        return [a.text() for a in self._modality_menu.actions() if a.isChecked()]

    def set_modalities(self, modalities: list[str]) -> None:
        for action in self._modality_menu.actions():
            action.setChecked(action.text() in modalities)

    def set_date_preset(self, preset: DatePreset) -> None:
        self.date_preset.setCurrentText(preset.value)

    def set_default_dates(self, dates: StudyDates, *, apply: bool) -> None:
        """Make ``dates`` the study date the form starts with and Clear returns to;
        ``apply``: also set it now (at start; not under a person's running edit)."""
        self.default_preset = PRESET_FOR[StudyDates(dates)]
        if apply:
            self.set_date_preset(self.default_preset)

    def name_key(self) -> NameKey:
        """The typed name as it will be searched (:func:`core.qr.name_match.name_key`)."""
        return name_key(self.fields["queryPatientName"].text(),
                        exact=self.exact_name.isChecked(),
                        max_length=_RULES["queryPatientName"].max_length)

    def _update_hints(self) -> None:
        self.name_hint.setText(self.name_key().hint)
        id_text = self.fields["queryPatientId"].text()
        self.id_hint.setText("exact match" if not id_text.strip() or not any(
            card in id_text for card in "*?") else "wild cards")
        self.id_hint.setToolTip(plain_tooltip(patient_id_hint(id_text)))
        self.fields["queryPatientId"].setAccessibleDescription(patient_id_hint(id_text))
        self.fields["queryPatientName"].setAccessibleDescription(self.name_key().hint)

    def date_words(self) -> str | None:
        """The study date as the form says it ("last 7 days (2024-06-11 to 2024-06-17)");
        None for any date."""
        span = self.date_range()
        if span is None:
            return None
        start, end = (day.isoformat() for day in span)
        dates = start if start == end else f"{start} to {end}"
        preset = DatePreset(self.date_preset.currentText())
        if preset is DatePreset.RANGE:
            return dates
        return f"{preset.value.lower()} ({dates})"

    def _update_modality_text(self) -> None:
        chosen = self.selected_modalities()
        self.modalities.setText(", ".join(chosen) if chosen else "All modalities")

    def _on_preset(self, text: str) -> None:
        preset = DatePreset(text)
        span = preset_range(preset, date.today())
        custom = preset is DatePreset.RANGE
        for edit in (self.date_from, self.date_to):
            edit.setEnabled(custom)
        if span is not None:
            self.date_from.setDate(QDate(span[0]))
            self.date_to.setDate(QDate(span[1]))
        self.validate()

    def date_range(self) -> tuple[date, date] | None:
        if DatePreset(self.date_preset.currentText()) is DatePreset.ANY:
            return None
        return self.date_from.date().toPython(), self.date_to.date().toPython()

    # ------------------------------------------------------------------ validation

    def problems(self) -> dict[str, str]:
        """Field object name -> the rule it breaks, for every invalid field."""
        found: dict[str, str] = {}
        for name, edit in self.fields.items():
            problem = text_field_problem(_RULES[name], edit.text().strip())
            if problem:
                found[name] = problem
        span = self.date_range()
        if span is not None and span[0] > span[1]:
            found["queryDateFrom"] = "Study date: 'from' must not be after 'to'"
        return found

    def validate(self) -> bool:
        """Mark invalid fields and show their rules; True when the form may be searched."""
        problems = self.problems()
        for name, edit in self.fields.items():
            edit.setStyleSheet(_INVALID_STYLE if name in problems else "")
            edit.setToolTip(plain_tooltip(problems.get(name, WILDCARD_TIP if name in (
                "queryPatientName", "queryDescription") else "")))
        self.date_from.setStyleSheet(_INVALID_STYLE if "queryDateFrom" in problems else "")
        self.error_label.setText("\n".join(problems.values()))
        self.error_label.setVisible(bool(problems))
        no_pacs = self.pacs_combo.count() == 0  # the empty first start (first_run)
        self.search_button.setEnabled(not problems and not no_pacs)
        self.search_button.setToolTip(NO_PACS_REASON if no_pacs else "")
        return not problems

    # ------------------------------------------------------------------ output

    def query_keys(self) -> dict[str, str]:
        """The matching keys for a STUDY-level C-FIND (empty fields are left out)."""
        keys: dict[str, str] = {}
        for name, edit in self.fields.items():
            text = edit.text().strip()
            if name == "queryPatientName":
                text = self.name_key().value  # SMITH -> SMITH* unless Exact name
            if text:
                keys[_KEYWORDS[name]] = text
        span = self.date_range()
        if span is not None:
            start, end = (d.strftime("%Y%m%d") for d in span)
            keys["StudyDate"] = start if start == end else f"{start}-{end}"
        modalities = self.selected_modalities()
        if modalities:
            keys["ModalitiesInStudy"] = "\\".join(modalities)
        return keys

    def request_search(self) -> None:
        if self.validate():
            self.search_requested.emit(self.query_keys())

    def clear(self) -> None:
        for edit in self.fields.values():
            edit.clear()
        self.set_modalities([])
        self.exact_name.setChecked(False)
        self.set_date_preset(self.default_preset)
        self.validate()
        self.cleared.emit()
