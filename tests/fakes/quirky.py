"""A Q/R SCP with the matching quirks of real archives, switched on one at a time (issue 9).

:class:`QuirkyPacs` is the demo PACS (real studies, real C-STORE sub-operations to a
destination) plus the habits seen in the field:

- ``rows_per_image``: a STUDY or SERIES C-FIND answers one row per *image* (the same study
  many times), as some archives do when they match on their instance table.
- ``uid_lists``: ``"refuse"`` answers 0xC320 to a UID key with several values; ``"no-match"``
  matches it as one literal value, so nothing matches (List-of-UID matching missing,
  PS3.4 C.2.2.2.2).
- ``hierarchical``: SERIES and IMAGE requests (C-FIND and C-MOVE) must carry every upper
  unique key, single-valued; otherwise 0xA900 (PS3.4 C.4.1.2.2.1 hierarchical search).
- ``hierarchical_moves``: only C-MOVE requests must carry every upper unique key (PS3.4
  C.4.2.2.1, retrieve without relational negotiation); C-FIND matches relationally.
- ``ignores_upper_keys``: a SERIES or IMAGE C-FIND does not match on attributes of the levels
  above it other than their unique keys (matching them there is relational search, PS3.4
  C.4.1.2.2.2, which dcmqrscp does not do): ``--level SERIES -k PatientID=P12`` answers every
  series, naming other patients. ``ignored_keys``: keywords never matched on, at any level
  (returned with the record's own value).
- ``models``: the Q/R information models offered (``{"patient"}``: Patient Root only).
- ``refuse_find_from``: calling AE titles whose C-FIND is ended by an A-ABORT before any
  answer, while their C-ECHO is answered: Orthanc's way with an AE title missing from its
  "DicomModalities" (echo is always allowed there, queries are not).
- ``ignore_cancel``: keeps answering after C-CANCEL; ``pace`` seconds between C-FIND answers.
  ``finds_cancelled`` counts the C-FINDs that saw a C-CANCEL (either way).

It records what it was asked: ``finds`` and ``moves`` (the identifiers, as dicts), and
``instances_sent`` (every C-STORE sub-operation it started, resends included), so a test can
prove that a study was sent exactly once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from pynetdicom.events import Event
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    PatientRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelMove,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)

from dicom_courier.core.demo.archive import LEVELS, UNIQUE_KEY, level_of, matches, response_for
from dicom_courier.core.demo.pacs import DemoPacs
from dicom_courier.core.demo.serving import BackgroundScp
from dicom_courier.core.demo.synthetic import StudySpec

PENDING = 0xFF00
CANCEL = 0xFE00
NOT_MATCHING_SOP_CLASS = 0xA900
UNABLE_TO_PROCESS = 0xC320

_MODELS = {
    "patient": (PatientRootQueryRetrieveInformationModelFind,
                PatientRootQueryRetrieveInformationModelMove),
    "study": (StudyRootQueryRetrieveInformationModelFind,
              StudyRootQueryRetrieveInformationModelMove),
}
#: Attributes of the levels above SERIES / IMAGE that are not unique keys.
_UPPER_ATTRIBUTES = {
    "STUDY": ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate",
              "StudyTime", "AccessionNumber", "StudyDescription", "ReferringPhysicianName",
              "StudyID", "ModalitiesInStudy"),
    "SERIES": ("Modality", "SeriesNumber", "SeriesDescription"),
}
_PATIENT_ROOT = (PatientRootQueryRetrieveInformationModelFind,
                 PatientRootQueryRetrieveInformationModelMove)


def _as_dict(identifier: Dataset) -> dict[str, str]:
    return {elem.keyword: str(elem.value if elem.value is not None else "")
            for elem in identifier if elem.keyword}


class QuirkyPacs(DemoPacs):
    """The demo PACS with field quirks; see the module docstring. Thread-safe records."""

    def __init__(self, studies: Sequence[StudySpec], *, ae_title: str = "QUIRKY",
                 destinations: dict[str, tuple[str, int]] | None = None,
                 rows_per_image: bool = False, uid_lists: str | None = None,
                 hierarchical: bool = False, models: frozenset[str] = frozenset(
                     {"patient", "study"}), ignore_cancel: bool = False,
                 pace: float = 0.0, hierarchical_moves: bool = False,
                 ignores_upper_keys: bool = False,
                 ignored_keys: frozenset[str] = frozenset(),
                 refuse_find_from: frozenset[str] = frozenset()) -> None:
        super().__init__(studies, ae_title=ae_title, destinations=destinations)
        self.rows_per_image, self.uid_lists, self.hierarchical = \
            rows_per_image, uid_lists, hierarchical
        self.models, self.ignore_cancel, self.pace = models, ignore_cancel, pace
        self.hierarchical_moves = hierarchical_moves
        self.ignores_upper_keys, self.ignored_keys = ignores_upper_keys, ignored_keys
        self.refuse_find_from = refuse_find_from
        self._records_lock = threading.Lock()
        self.finds: list[dict[str, str]] = []
        self.moves: list[dict[str, str]] = []
        self.instances_sent: list[str] = []
        self.finds_cancelled = 0

    def _configure(self, ae: AE) -> None:
        ae.add_supported_context(Verification)
        for model in self.models:
            for uid in _MODELS[model]:
                ae.add_supported_context(uid)

    def _handlers(self, scp: BackgroundScp) -> list[Any]:
        return [
            (evt.EVT_C_ECHO, self._on_echo),
            (evt.EVT_C_FIND, scp.tracked(self._on_quirky_find), [scp]),
            (evt.EVT_C_MOVE, scp.tracked(self._on_quirky_move), [scp]),
        ]

    # the quirks — Runs on: the association's pynetdicom thread

    def _refusal(self, identifier: Dataset, sop_class: str,
                 move: bool = False) -> int | None:
        """The status a quirk answers instead of matching, or None to match."""
        allowed = LEVELS if sop_class in _PATIENT_ROOT else LEVELS[1:]
        level = level_of(identifier, allowed)
        if level is None:
            return NOT_MATCHING_SOP_CLASS
        if self.uid_lists == "refuse" and self._has_uid_list(identifier):
            return UNABLE_TO_PROCESS
        if self.hierarchical or (move and self.hierarchical_moves):
            top = 0 if sop_class in _PATIENT_ROOT else 1
            for upper in LEVELS[top:LEVELS.index(level)]:
                value = str(identifier.get(UNIQUE_KEY[upper], "") or "").strip()
                if not value or "\\" in value:
                    return NOT_MATCHING_SOP_CLASS
        return None

    @staticmethod
    def _has_uid_list(identifier: Dataset) -> bool:
        return any(elem.VR == "UI" and elem.VM > 1 for elem in identifier)

    def _literal(self, identifier: Dataset) -> Dataset:
        """``uid_lists="no-match"``: a UID list is read as one value (matches nothing)."""
        if self.uid_lists != "no-match" or not self._has_uid_list(identifier):
            return identifier
        copy = Dataset()
        for elem in identifier:
            copy.add(elem)
        for elem in copy:
            if elem.VR == "UI" and elem.VM > 1:
                elem.value = "9.9.9.9.9"
        return copy

    def _without_upper_keys(self, identifier: Dataset, level: str,
                            patient_root: bool) -> Dataset:
        """The identifier without the matching values of ``ignored_keys`` and (with
        ``ignores_upper_keys``) of upper-level attributes that are not unique keys: they are
        then only returned."""
        ignored = set(self.ignored_keys)
        if self.ignores_upper_keys and level in ("SERIES", "IMAGE"):
            ignored |= set(_UPPER_ATTRIBUTES["STUDY"]) - ({"PatientID"} if patient_root
                                                          else set())
        if self.ignores_upper_keys and level == "IMAGE":
            ignored |= set(_UPPER_ATTRIBUTES["SERIES"])
        if not ignored:
            return identifier
        copy = Dataset()
        for elem in identifier:
            if elem.keyword in ignored:
                copy.add_new(elem.tag, elem.VR, None)
            else:
                copy.add(elem)
        return copy

    def _on_quirky_find(self, event: Event, scp: BackgroundScp) -> Iterator[tuple[int, Any]]:
        identifier = event.identifier
        with self._records_lock:
            self.finds.append(_as_dict(identifier))
        if str(event.assoc.requestor.ae_title).strip() in self.refuse_find_from:
            event.assoc.abort()  # as Orthanc does for a calling AE it does not know
            return
        refusal = self._refusal(identifier, event.request.AffectedSOPClassUID)
        if refusal is not None:
            yield refusal, None
            return
        level = str(identifier.QueryRetrieveLevel).strip().upper()
        query = self._without_upper_keys(self._literal(identifier), level,
                                         event.request.AffectedSOPClassUID in _PATIENT_ROOT)
        cancelled = False
        for record in self._catalogue.records[level]:
            if not matches(record, query):
                continue
            copies = 1
            if self.rows_per_image and level in ("STUDY", "SERIES"):
                copies = sum(1 for ds in self._catalogue.instances
                             if matches(ds, record, [UNIQUE_KEY[level]]))
            for _ in range(copies):
                if scp.end_if_over(event):
                    return
                if not cancelled and event.is_cancelled:  # True once only: latch it
                    cancelled = True
                    with self._records_lock:
                        self.finds_cancelled += 1
                if cancelled and not self.ignore_cancel:
                    yield CANCEL, None
                    return
                if self.pace:
                    time.sleep(self.pace)
                yield PENDING, response_for(record, identifier, level, self.ae_title)

    def _on_quirky_move(self, event: Event, scp: BackgroundScp) -> Iterator[Any]:
        identifier = event.identifier
        with self._records_lock:
            self.moves.append(_as_dict(identifier))
        refusal = self._refusal(identifier, event.request.AffectedSOPClassUID, move=True)
        if refusal is not None:
            with self._lock:
                address = self._destinations.get(event.move_destination or "")
            if address is None:
                yield None, None
                return
            yield (*address, {})
            yield 0
            yield refusal, None
            return
        query = self._literal(identifier)
        plain = _PlainEvent(event, query)
        for item in self._on_move(plain, scp):  # type: ignore[arg-type]
            if isinstance(item, tuple) and len(item) == 2 and item[0] == PENDING and \
                    item[1] is not None:
                with self._records_lock:
                    self.instances_sent.append(str(item[1].SOPInstanceUID))
            yield item


class _PlainEvent:
    """An event whose identifier is ``identifier``; everything else is the real event's."""

    def __init__(self, event: Event, identifier: Dataset) -> None:
        self._event, self.identifier = event, identifier

    def __getattr__(self, name: str) -> Any:
        return getattr(self._event, name)
