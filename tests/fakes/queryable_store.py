"""A destination that stores (slowly, if asked) and answers C-FIND for what it stored.

Many workstations and PACS that a study is sent to also answer Study Root C-FIND (PS3.4
C.4.1) for what they hold; the arrival check (``core/dimse/arrival_check.py``) asks them.
:class:`QueryableStore` is the demo :class:`Workstation` (``store_delay`` per instance) plus a
Study Root FIND SCP over the instances stored so far: SERIES level with
NumberOfSeriesRelatedInstances (``series_counts=True``, as Orthanc does) or without it (as
dcmqrscp and many workstations do), and IMAGE level (SOP Instance UIDs).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from pynetdicom.events import Event
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind

from dicom_courier.core.demo.serving import BackgroundScp
from dicom_courier.core.demo.workstation import Workstation

_PENDING = 0xFF00


class QueryableStore(Workstation):
    """:class:`Workstation` that also answers Study Root C-FIND about what it stored."""

    def __init__(self, folder: Path, ae_title: str = "WORKSTATION", *, port: int = 0,
                 store_delay: float = 0.0, series_counts: bool = True) -> None:
        super().__init__(folder, ae_title=ae_title, port=port, store_delay=store_delay)
        self.series_counts = series_counts
        self._held: dict[str, tuple[str, str]] = {}  # SOP UID -> (study UID, series UID)
        self._held_lock = threading.Lock()
        self.finds = 0

    def _configure(self, ae: AE) -> None:
        super()._configure(ae)
        ae.add_supported_context(StudyRootQueryRetrieveInformationModelFind)

    def _handlers(self, scp: BackgroundScp) -> list[Any]:
        return [*super()._handlers(scp), (evt.EVT_C_FIND, self._on_find)]

    def _on_store(self, event: Event) -> int:
        status = super()._on_store(event)
        if status == 0x0000:
            ds = event.dataset
            with self._held_lock:
                self._held[str(ds.SOPInstanceUID)] = (str(ds.StudyInstanceUID),
                                                      str(ds.SeriesInstanceUID))
        return status

    def _on_find(self, event: Event) -> Iterator[tuple[int, Dataset | None]]:
        query = event.identifier
        level = str(query.get("QueryRetrieveLevel", ""))
        study = str(query.get("StudyInstanceUID", ""))
        series_key = str(query.get("SeriesInstanceUID", "") or "")
        with self._held_lock:
            self.finds += 1
            held = [(sop, st, se) for sop, (st, se) in self._held.items() if st == study]
        if level == "SERIES":
            per_series: dict[str, int] = {}
            for _sop, _study, series in held:
                per_series[series] = per_series.get(series, 0) + 1
            for series, count in per_series.items():
                if series_key and series != series_key:
                    continue
                answer = Dataset()
                answer.QueryRetrieveLevel = "SERIES"
                answer.StudyInstanceUID = study
                answer.SeriesInstanceUID = series
                if self.series_counts:
                    answer.NumberOfSeriesRelatedInstances = count
                yield _PENDING, answer
        elif level == "IMAGE":
            for sop, _study, series in held:
                if series_key and series != series_key:
                    continue
                answer = Dataset()
                answer.QueryRetrieveLevel = "IMAGE"
                answer.StudyInstanceUID = study
                answer.SeriesInstanceUID = series
                answer.SOPInstanceUID = sop
                yield _PENDING, answer
        yield 0x0000, None
