"""Query and retrieve requests as values, and C-FIND answers as immutable rows.

A request is validated before any network work (unknown keyword, bad level, missing unique
key) so a person sees which field breaks which rule. Results are decoded here with their
Specific Character Set; a value that cannot be decoded is kept and marked, never raised.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import FrozenInstanceError, dataclass, field
from enum import IntEnum, StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from dicom_courier.core.outcome.errors import InvalidInput
from dicom_courier.core.qr.input_rules import (
    DECIMAL_VRS,
    INTEGER_VRS,
    check_date_match,
    check_number_match,
    check_text,
    check_time_match,
    validate_uid,
)

if TYPE_CHECKING:  # pydicom and pynetdicom load on first use, not at import
    from pydicom.dataset import Dataset


class QueryModel(StrEnum):
    """The Q/R information model (PS3.4 C.6)."""

    STUDY = "study"
    PATIENT = "patient"

    @property
    def find_uid(self) -> str:
        from pynetdicom.sop_class import (  # not at import: the window paints before pynetdicom
            PatientRootQueryRetrieveInformationModelFind,
            StudyRootQueryRetrieveInformationModelFind,
        )

        uid: str = (StudyRootQueryRetrieveInformationModelFind if self is QueryModel.STUDY
                    else PatientRootQueryRetrieveInformationModelFind)
        return uid

    @property
    def move_uid(self) -> str:
        from pynetdicom.sop_class import (
            PatientRootQueryRetrieveInformationModelMove,
            StudyRootQueryRetrieveInformationModelMove,
        )

        uid: str = (StudyRootQueryRetrieveInformationModelMove if self is QueryModel.STUDY
                    else PatientRootQueryRetrieveInformationModelMove)
        return uid

    @property
    def get_uid(self) -> str:
        """The C-GET SOP Class UID of this model (PS3.4 C.6.1.1.2, C.6.2.1.2)."""
        from pynetdicom.sop_class import (
            PatientRootQueryRetrieveInformationModelGet,
            StudyRootQueryRetrieveInformationModelGet,
        )

        uid: str = (StudyRootQueryRetrieveInformationModelGet if self is QueryModel.STUDY
                    else PatientRootQueryRetrieveInformationModelGet)
        return uid


class QueryLevel(StrEnum):
    PATIENT = "PATIENT"
    STUDY = "STUDY"
    SERIES = "SERIES"
    IMAGE = "IMAGE"

    @property
    def unique_key(self) -> str:
        return {
            QueryLevel.PATIENT: "PatientID",
            QueryLevel.STUDY: "StudyInstanceUID",
            QueryLevel.SERIES: "SeriesInstanceUID",
            QueryLevel.IMAGE: "SOPInstanceUID",
        }[self]


class Priority(IntEnum):
    """DIMSE priority values (PS3.7 9.1.1.1.4 / pynetdicom's ``priority``)."""

    LOW = 2
    MEDIUM = 0
    HIGH = 1


#: What a person wants to see at each level when they did not ask for more.
DEFAULT_RETURN_KEYS: Mapping[QueryLevel, tuple[str, ...]] = {
    QueryLevel.PATIENT: ("PatientName", "PatientID", "PatientBirthDate", "PatientSex",
                         "NumberOfPatientRelatedStudies"),
    QueryLevel.STUDY: ("PatientName", "PatientID", "PatientBirthDate", "PatientSex",
                       "StudyInstanceUID", "StudyDate", "StudyTime", "AccessionNumber",
                       "ModalitiesInStudy", "StudyDescription", "ReferringPhysicianName",
                       "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances"),
    QueryLevel.SERIES: ("StudyInstanceUID", "SeriesInstanceUID", "Modality", "SeriesNumber",
                        "SeriesDescription", "NumberOfSeriesRelatedInstances"),
    QueryLevel.IMAGE: ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID",
                       "SOPClassUID", "InstanceNumber"),
}

#: Keys above the level that a hierarchical (non-relational) SCP needs.
_PARENT_KEYS: Mapping[QueryModel, Mapping[QueryLevel, tuple[str, ...]]] = {
    QueryModel.STUDY: {
        QueryLevel.STUDY: (),
        QueryLevel.SERIES: ("StudyInstanceUID",),
        QueryLevel.IMAGE: ("StudyInstanceUID", "SeriesInstanceUID"),
    },
    QueryModel.PATIENT: {
        QueryLevel.PATIENT: (),
        QueryLevel.STUDY: ("PatientID",),
        QueryLevel.SERIES: ("PatientID", "StudyInstanceUID"),
        QueryLevel.IMAGE: ("PatientID", "StudyInstanceUID", "SeriesInstanceUID"),
    },
}


def parse_level(value: str, field_name: str = "--level") -> QueryLevel:
    try:  # ASCII only: "ſtudy".upper() is "STUDY"
        return QueryLevel(value.strip().upper() if value.isascii() else "")
    except ValueError:
        raise InvalidInput(field_name, "must be one of PATIENT, STUDY, SERIES, IMAGE",
                           value) from None


def parse_model(value: str, field_name: str = "--model") -> QueryModel:
    try:
        return QueryModel(value.strip().lower() if value.isascii() else "")
    except ValueError:
        raise InvalidInput(field_name, "must be 'study' or 'patient'", value) from None


def check_level_in_model(level: QueryLevel, model: QueryModel) -> None:
    if level not in _PARENT_KEYS[model]:
        raise InvalidInput("--level", f"{level.value} is not a level of the {model.value} root "
                           "model (use --model patient for PATIENT level)", level.value)


def validate_keyword(keyword: str, field_name: str = "-k") -> str:
    """The DICOM keyword itself, or InvalidInput naming it (e.g. a typo like PatientNme)."""
    from pydicom.datadict import dictionary_VR, tag_for_keyword  # pydicom loads on first use

    keyword = keyword.strip()
    if not keyword or tag_for_keyword(keyword) is None:
        raise InvalidInput(field_name, f"{keyword!r} is not a DICOM keyword "
                           "(use names like PatientName, StudyDate, ModalitiesInStudy)")
    if dictionary_VR(keyword) == "SQ":
        raise InvalidInput(field_name, f"{keyword} is a sequence; sequence matching is not "
                           "supported")
    return keyword


_NOT_KEYS = {"QueryRetrieveLevel": "use --level", "SpecificCharacterSet": "it is set for you"}
_BINARY_VRS = frozenset({"OB", "OW", "OF", "OD", "OL", "OV", "UN"})
_MAX_LENGTH = {"AE": 16, "CS": 16, "SH": 16, "LO": 64, "PN": 64, "DA": 18, "TM": 28,
               "UI": 64, "IS": 12, "DS": 16, "AS": 4, "ST": 1024, "LT": 10240}


def validate_key_value(keyword: str, value: str, field_name: str = "-k", *,
                       typed: bool = True) -> str:
    """Check a matching value against its VR's rules before it is sent (PS3.5 6.2, PS3.4 C.2).

    Every value: no undecodable bytes, no control characters. DA and TM: real dates and times
    of day, ranges in order; numbers: ASCII, finite, in the VR's range. ``typed`` (a person
    typed it) also holds UIDs to PS3.5 9.1 (no empty component, no leading zero); UIDs a PACS
    sent back (``typed=False``) are sent back as they came, non-conformant or not.
    Returns ``value``; raises InvalidInput naming ``field_name``, the keyword and the rule.
    """
    from pydicom.datadict import dictionary_VR, tag_for_keyword

    if keyword in _NOT_KEYS:
        raise InvalidInput(field_name, f"{keyword} cannot be given as a key ({_NOT_KEYS[keyword]})")
    tag = tag_for_keyword(keyword)
    if tag is not None and (tag >> 16) in (0x0000, 0x0002):
        raise InvalidInput(field_name, f"{keyword} is not part of a query")
    vr = dictionary_VR(keyword)
    if any(part in _BINARY_VRS for part in vr.split(" or ")):
        raise InvalidInput(field_name, f"{keyword} holds binary data and cannot be a key")
    if not value:
        return value
    check_text(value, f"{field_name} {keyword}")
    if "\\" in value and vr not in ("UI", "CS", "AE"):
        raise InvalidInput(field_name, f"{keyword}: a backslash is only allowed in UID, code "
                           "or AE title lists", value)
    if vr == "DA":
        check_date_match(keyword, value, field_name)
    elif vr == "TM":
        check_time_match(keyword, value, field_name)
    elif vr == "UI" and typed:
        for uid in value.split("\\"):
            validate_uid(uid, f"{field_name} {keyword}")
    elif vr == "UI":  # the PACS's own UIDs go back as they came (see pacs_uids)
        pacs_uids(value.split("\\"), f"{field_name} {keyword}")
    elif vr in INTEGER_VRS or vr in DECIMAL_VRS:
        check_number_match(keyword, vr, value, field_name)
    limit = _MAX_LENGTH.get(vr)
    if limit is not None:
        parts = value.split("=") if vr == "PN" else value.split("\\")
        if any(len(part) > limit for part in parts):
            raise InvalidInput(field_name, f"{keyword} must be at most {limit} characters "
                               f"(DICOM {vr})", value)
    return value


def parse_key_value(text: str, field_name: str = "-k") -> tuple[str, str]:
    """``Keyword=Value`` or ``Keyword`` (a return key) into a validated pair."""
    keyword, _, value = text.partition("=")
    keyword = validate_keyword(keyword, field_name)
    return keyword, validate_key_value(keyword, value.strip(), field_name)


@dataclass(frozen=True)
class FindQuery:
    """A C-FIND request: level, model and keys (empty value = return key, otherwise matching)."""

    level: QueryLevel = QueryLevel.STUDY
    model: QueryModel = QueryModel.STUDY
    keys: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_level_in_model(self.level, self.model)
        for keyword, value in self.keys.items():  # typed keys were checked strictly already
            validate_key_value(validate_keyword(keyword), value, typed=False)
        object.__setattr__(self, "keys", MappingProxyType(dict(self.keys)))

    def to_identifier(self) -> Dataset:
        """The identifier dataset: default return keys for the level, then the person's keys."""
        from pydicom.dataset import Dataset

        ds = Dataset()
        ds.QueryRetrieveLevel = self.level.value
        ds.SpecificCharacterSet = "ISO_IR 192"
        for keyword in DEFAULT_RETURN_KEYS[self.level] + _PARENT_KEYS[self.model][self.level]:
            setattr(ds, keyword, "")
        for keyword, value in self.keys.items():
            set_value(ds, keyword, value)
        return ds


class FindMatchValues(Mapping[str, str]):
    """The read-only ``keyword -> text`` view of one :class:`FindMatch` (its ``.values``).

    Behaves as the mapping it was made from: same keys in the same order (the identifier's
    element order), ``==`` with any Mapping (a dict too) by items, order ignored. Built on
    demand over the match's shared key layout and its value tuple; holds no dict of its own.
    """

    __slots__ = ("_layout", "_values")

    def __init__(self, layout: _KeyLayout, values: tuple[str, ...]) -> None:
        self._layout = layout
        self._values = values

    def __getitem__(self, keyword: str) -> str:
        return self._values[self._layout.index[keyword]]

    def get(self, keyword: str, default: Any = None) -> Any:
        position = self._layout.index.get(keyword)
        return default if position is None else self._values[position]

    def __contains__(self, keyword: object) -> bool:
        return keyword in self._layout.index

    def __iter__(self) -> Iterator[str]:
        return iter(self._layout.keys)

    def __len__(self) -> int:
        return len(self._values)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FindMatchValues) and other._layout is self._layout:
            return self._values == other._values
        if not isinstance(other, Mapping):
            return NotImplemented
        return len(self) == len(other) and dict(self.items()) == dict(other.items())

    __hash__ = None  # type: ignore[assignment]  # a mapping, like dict: not hashable

    def __repr__(self) -> str:
        return repr(dict(self.items()))


class _KeyLayout:
    """One level and key order shared by every match that has them (a search's answers mostly
    share one): the keywords, their positions, which positions hold values worth sharing."""

    __slots__ = ("index", "keys", "level", "shared")

    def __init__(self, level: QueryLevel, keys: tuple[str, ...]) -> None:
        self.level = level
        self.keys = keys
        self.index = {keyword: position for position, keyword in enumerate(keys)}
        self.shared = tuple(_worth_sharing(keyword) for keyword in keys)


#: Keywords whose values name one object (one per row): sharing them saves nothing.
_ONE_PER_ROW = frozenset({"PatientID", "AccessionNumber", "StudyID", "OtherPatientIDs",
                          "IssuerOfAccessionNumberSequence", "SOPInstanceUID"})
_NOT_SHARED_VRS = frozenset({"UI", "TM", "DT", "SQ", "OB", "OW", "UN"})
#: At most this many distinct values are shared at a time (then the table starts over), and
#: only values this short: the table never keeps more than a few MB alive after a search.
_SHARED_LIMIT = 32_768
_SHARED_LENGTH = 64
_shared_values: dict[str, str] = {}
_layouts: dict[tuple[QueryLevel, tuple[str, ...]], _KeyLayout] = {}
_LAYOUT_LIMIT = 256
_NO_NAMES: frozenset[str] = frozenset()


def _worth_sharing(keyword: str) -> bool:
    """True for keywords whose values repeat across rows (dates, codes, counts, names,
    descriptions, AE titles), False for UIDs, times and per-object identifiers."""
    from pydicom.datadict import dictionary_VR  # once per key layout, not per match

    if keyword in _ONE_PER_ROW:
        return False
    try:
        vr = dictionary_VR(keyword)
    except (KeyError, ValueError):  # private or unknown (pydicom: ValueError for "(gggg,eeee)")
        return False
    return vr not in _NOT_SHARED_VRS


def _layout_for(level: QueryLevel, keys: tuple[str, ...]) -> _KeyLayout:
    layout = _layouts.get((level, keys))
    if layout is None:
        layout = _KeyLayout(level, keys)
        if len(_layouts) >= _LAYOUT_LIMIT:  # a peer inventing key sets: start over (bounded,
            _layouts.clear()                # and the next search's rows share again)
        _layouts[(level, keys)] = layout
    return layout


class FindMatch:
    """One C-FIND answer, decoded to text (see :mod:`.decode`); immutable.

    ``FindMatch(level, values, undecodable=frozenset(), undeclared_charset=frozenset())``:
    ``values`` maps DICOM keyword -> decoded text, in the identifier's element order (PS3.4
    C.4.1.1.3: the identifier of a C-FIND response). It is read back through ``.values``, a
    read-only Mapping (:class:`FindMatchValues`) equal to the one given, and ``.get``.

    ``undecodable`` names the values shown with U+FFFD marks because they could not be decoded.
    ``undeclared_charset`` names the values holding non-ASCII bytes although the answer
    declared no Specific Character Set (0008,0005): read as UTF-8, else Latin-1, and shown
    marked "character set not declared" (PS3.5 6.1.2.3: the default repertoire is ASCII).

    Stored lean, because a search may hold 50,000 of these: one key tuple shared by every
    match with the same keys, the values as one tuple, and values that repeat across rows
    (dates, codes, counts, names, descriptions; never UIDs) shared between matches. Two
    matches are equal when level, values (order ignored) and both name sets are; a match is
    hashable. Setting or deleting an attribute raises ``dataclasses.FrozenInstanceError``.
    """

    __slots__ = ("_layout", "_marks", "_values")

    _layout: _KeyLayout
    _values: tuple[str, ...]
    _marks: tuple[frozenset[str], frozenset[str]] | None  # (undecodable, undeclared_charset)

    def __init__(self, level: QueryLevel, values: Mapping[str, str],
                 undecodable: frozenset[str] = frozenset(),
                 undeclared_charset: frozenset[str] = frozenset()) -> None:
        if isinstance(values, FindMatchValues) and values._layout.level is level:
            layout, texts = values._layout, values._values
        else:
            layout = _layout_for(level, tuple(values))
            shared = _shared_values
            if len(shared) >= _SHARED_LIMIT:
                shared.clear()
            texts = tuple([
                shared.setdefault(text, text)
                if share and type(text) is str and len(text) <= _SHARED_LENGTH else text
                for text, share in zip(values.values(), layout.shared, strict=True)
            ])
        setter = object.__setattr__
        setter(self, "_layout", layout)
        setter(self, "_values", texts)
        setter(self, "_marks", (frozenset(undecodable), frozenset(undeclared_charset))
               if undecodable or undeclared_charset else None)

    @property
    def level(self) -> QueryLevel:
        """The query level this answer is at (the request's QueryRetrieveLevel)."""
        return self._layout.level

    @property
    def undecodable(self) -> frozenset[str]:
        """Keywords whose values could not be decoded (shown with U+FFFD marks)."""
        return _NO_NAMES if self._marks is None else self._marks[0]

    @property
    def undeclared_charset(self) -> frozenset[str]:
        """Keywords holding non-ASCII text although no character set was declared."""
        return _NO_NAMES if self._marks is None else self._marks[1]

    @property
    def values(self) -> FindMatchValues:
        """The decoded values, keyword -> text, as a read-only Mapping in element order."""
        return FindMatchValues(self._layout, self._values)

    def get(self, keyword: str, default: str = "") -> str:
        """The text of ``keyword``, or ``default`` when the answer does not hold it."""
        position = self._layout.index.get(keyword)
        return default if position is None else self._values[position]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FindMatch):
            return NotImplemented
        return (self.level == other.level and self.values == other.values
                and self.undecodable == other.undecodable
                and self.undeclared_charset == other.undeclared_charset)

    def __hash__(self) -> int:
        return hash((self.level, frozenset(zip(self._layout.keys, self._values, strict=True)),
                     self.undecodable, self.undeclared_charset))

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def __reduce__(self) -> tuple[Any, ...]:  # pickle and copy: rebuilt from its parts
        return (FindMatch, (self.level, dict(self.values.items()), self.undecodable,
                            self.undeclared_charset))

    def __repr__(self) -> str:
        return (f"FindMatch(level={self.level!r}, values={self.values!r}, "
                f"undecodable={self.undecodable!r}, "
                f"undeclared_charset={self.undeclared_charset!r})")


def _uid_list(values: Iterable[str], field_name: str) -> tuple[str, ...]:
    out = []
    for value in values:
        uid = value.strip()
        if not uid or len(uid) > 64 or not all(ch.isdigit() or ch == "." for ch in uid):
            raise InvalidInput(field_name, "must be a DICOM UID (digits and dots, at most 64)",
                               value)
        out.append(uid)
    return tuple(out)


#: What no UI value can carry, whoever wrote it: a C0/C1 control, DEL, or anything beyond
#: ASCII (the UI repertoire, PS3.5 6.2; U+FFFD marks bytes that could not be decoded).
_NOT_IN_A_UID = re.compile("[^\x20-\x7e]")


def pacs_uid_problem(uid: str) -> str | None:
    """Why a UID that a PACS returned cannot be sent back, or None if it can.

    Only what cannot be encoded in a UI element is refused (PS3.5 6.2): an empty value, more
    than 64 characters, a backslash (it would split into two values), a control character or
    a character beyond ASCII. A non-conformant but encodable UID (``MR1.2.840.113619…``, a
    leading zero) is not a problem here: the PACS knows its objects by it.
    """
    if not uid:
        return "is empty"
    if len(uid) > 64:
        return f"is {len(uid)} characters long (a UID has at most 64)"
    if "\\" in uid:
        return "holds a backslash"
    if _NOT_IN_A_UID.search(uid):
        return "holds a control character or a character beyond ASCII"
    return None


def pacs_uids(values: Iterable[str], field_name: str) -> tuple[str, ...]:
    """UIDs a PACS returned, stripped of padding (spaces, NULs), to be sent back verbatim.

    Raises InvalidInput naming ``field_name`` for a UID :func:`pacs_uid_problem` refuses.
    Callers holding a PACS's answer catch it and leave that one answer out with a warning:
    a peer's value is never a usage error.
    """
    out = []
    for value in values:
        uid = value.strip(" \x00")
        problem = pacs_uid_problem(uid)
        if problem is not None:
            raise InvalidInput(field_name, f"the UID the PACS returned {problem}", value)
        out.append(uid)
    return tuple(out)


def nonconformant_uid_warning(name: str, uid: str) -> str | None:
    """A warning for a PACS-returned UID that breaks PS3.5 9.1, or None if it conforms."""
    try:
        validate_uid(uid, name)
    except InvalidInput:
        return (f"The PACS returned the {name} {uid}, which is not a valid DICOM UID "
                "(PS3.5 9.1); it is sent back exactly as the PACS returned it.")
    return None


#: Binary number VRs: their empty return key is a zero-length element, never the text "".
_NUMBER_VRS = frozenset({"US", "SS", "UL", "SL", "UV", "SV", "FL", "FD", "AT"})


def set_value(ds: Dataset, keyword: str, value: str) -> None:
    """``ds.<keyword> = value``; a UI value is set without pydicom's UID check, so a UID the
    PACS returned goes back byte for byte (and no warning reaches the terminal)."""
    from pydicom import config as pydicom_config
    from pydicom.datadict import dictionary_VR, tag_for_keyword
    from pydicom.dataelem import DataElement

    tag = tag_for_keyword(keyword)
    if tag is not None and dictionary_VR(tag) == "UI":
        ds.add(DataElement(tag, "UI", value, validation_mode=pydicom_config.IGNORE))
    elif tag is not None and value == "" and dictionary_VR(tag) in _NUMBER_VRS:
        ds.add(DataElement(tag, dictionary_VR(tag), None))  # a return key (Rows): empty
    else:
        setattr(ds, keyword, value)


@dataclass(frozen=True)
class MoveTarget:
    """What one C-MOVE retrieves, by unique keys only (never a name or an accession number).

    ``study_uid`` is always known; ``series_uids`` and ``sop_uids`` narrow it down. The level
    follows from what is given. ``patient_id`` is needed by the Patient Root model.

    ``from_pacs=True``: the UIDs are the PACS's own (a search answer, a stored job, a failed-
    image list). They are sent back verbatim; only what cannot be encoded is refused
    (:func:`pacs_uid_problem`), and each non-conformant UID adds a sentence to ``warnings``
    for the person. Otherwise (UIDs a person typed) digits and dots only. Raises InvalidInput.
    """

    study_uid: str
    series_uids: tuple[str, ...] = ()
    sop_uids: tuple[str, ...] = ()
    patient_id: str | None = None
    description: str = ""
    from_pacs: bool = False
    warnings: tuple[str, ...] = field(default=(), init=False, compare=False)

    def __post_init__(self) -> None:
        check = pacs_uids if self.from_pacs else _uid_list
        object.__setattr__(self, "study_uid", check([self.study_uid], "study UID")[0])
        object.__setattr__(self, "series_uids", check(self.series_uids, "series UID"))
        object.__setattr__(self, "sop_uids", check(self.sop_uids, "SOP Instance UID"))
        if self.from_pacs:
            named = [("Study Instance UID", self.study_uid),
                     *(("Series Instance UID", uid) for uid in self.series_uids),
                     *(("SOP Instance UID", uid) for uid in self.sop_uids)]
            found = (nonconformant_uid_warning(name, uid) for name, uid in named)
            object.__setattr__(self, "warnings", tuple(w for w in found if w))
        if self.sop_uids and len(self.series_uids) != 1:
            raise InvalidInput("SOP Instance UID", "images must name exactly one series")

    @property
    def level(self) -> QueryLevel:
        if self.sop_uids:
            return QueryLevel.IMAGE
        return QueryLevel.SERIES if self.series_uids else QueryLevel.STUDY

    def to_identifier(self, model: QueryModel) -> Dataset:
        from pydicom.dataset import Dataset

        ds = Dataset()
        ds.QueryRetrieveLevel = self.level.value
        if model is QueryModel.PATIENT:
            if not self.patient_id:
                raise InvalidInput("patient ID", "is required by the Patient Root model")
            ds.PatientID = self.patient_id
        set_value(ds, "StudyInstanceUID", self.study_uid)
        if self.series_uids:
            set_value(ds, "SeriesInstanceUID", "\\".join(self.series_uids))
        if self.sop_uids:
            set_value(ds, "SOPInstanceUID", "\\".join(self.sop_uids))
        return ds


@dataclass(frozen=True)
class MoveRequest:
    """A C-MOVE: what, to which destination AE title, with which model and priority.

    ``other_models``: models the PACS may be asked in instead when it does not offer
    ``model`` (proposed in the same association, see :mod:`.model_choice`); the window sets
    them, the command line does not (the person chose ``--model``).
    """

    target: MoveTarget
    destination: str
    model: QueryModel = QueryModel.STUDY
    priority: Priority = Priority.MEDIUM
    other_models: tuple[QueryModel, ...] = ()
