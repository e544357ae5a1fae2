"""The embedded demo PACS: a real Query/Retrieve SCP serving generated studies from memory.

It plays the SCP roles of Verification (PS3.4 Annex A) and of the Patient Root and Study Root
Query/Retrieve FIND and MOVE SOP classes (PS3.4 Annex C), so the app, the CLI and the tests have
a PACS to talk to without third-party software. The archive and its matching rules are in
:mod:`.archive`, the background server in :mod:`.serving`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, build_context, evt
from pynetdicom.events import Event
from pynetdicom.presentation import PresentationContext
from pynetdicom.sop_class import (
    PatientRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelMove,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)

from dicom_courier.core.demo.archive import (
    LEVELS,
    UNIQUE_KEY,
    build_catalogue,
    level_of,
    matches,
    response_for,
)
from dicom_courier.core.demo.serving import BackgroundScp, ServedAe
from dicom_courier.core.demo.synthetic import StudySpec, demo_studies
from dicom_courier.core.dimse.transport import NODELAY_HANDLERS

LOGGER = logging.getLogger(__name__)

# Statuses from PS3.4 C.4.1.1.4 (C-FIND) and C.4.2.1.5 (C-MOVE).
_PENDING = 0xFF00
_CANCEL = 0xFE00
_IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS = 0xA900

_FIND_MODELS = {
    PatientRootQueryRetrieveInformationModelFind: LEVELS,
    StudyRootQueryRetrieveInformationModelFind: LEVELS[1:],
}
_MOVE_MODELS = {
    PatientRootQueryRetrieveInformationModelMove: LEVELS,
    StudyRootQueryRetrieveInformationModelMove: LEVELS[1:],
}


class _CancelWatch:
    """Latches C-CANCEL: pynetdicom's ``Event.is_cancelled`` is True only the first time."""

    def __init__(self, event: Event) -> None:
        self._event = event
        self._seen = False

    @property
    def requested(self) -> bool:
        self._seen = self._seen or self._event.is_cancelled
        return self._seen


# --- the SCP --------------------------------------------------------------------------------


class DemoPacs(ServedAe):
    """An in-process Q/R SCP (C-ECHO, C-FIND, C-MOVE) over generated studies.

    Runs in pynetdicom's own threads; ``start()`` returns at once. ``store_delay`` slows each
    C-STORE sub-operation so a demo or test move is slow enough to watch or cancel.
    """

    def __init__(
        self,
        studies: Sequence[StudySpec] | None = None,
        ae_title: str = "DEMOPACS",
        host: str = "127.0.0.1",
        port: int = 0,
        destinations: dict[str, tuple[str, int]] | None = None,
        store_delay: float = 0.0,
    ) -> None:
        if store_delay < 0:
            raise ValueError("store_delay must not be negative")
        super().__init__(ae_title, host, port)
        self.store_delay = store_delay
        self.studies: tuple[StudySpec, ...] = tuple(
            demo_studies() if studies is None else studies
        )
        self._catalogue = build_catalogue(self.studies)
        self._destinations: dict[str, tuple[str, int]] = dict(destinations or {})
        self._lock = threading.Lock()

    # lifecycle (start, stop, port, context manager: ServedAe)

    def _configure(self, ae: AE) -> None:
        ae.add_supported_context(Verification)
        for model in (*_FIND_MODELS, *_MOVE_MODELS):
            ae.add_supported_context(model)

    def _handlers(self, scp: BackgroundScp) -> list[evt.EventHandlerType]:
        return [
            (evt.EVT_C_ECHO, self._on_echo),
            (evt.EVT_C_FIND, scp.tracked(self._on_find), [scp]),
            (evt.EVT_C_MOVE, scp.tracked(self._on_move), [scp]),
        ]

    # configuration

    @property
    def destinations(self) -> dict[str, tuple[str, int]]:
        """A copy of the C-MOVE destination table: AE title -> (host, port)."""
        with self._lock:
            return dict(self._destinations)

    def add_destination(self, aet: str, host: str, port: int) -> None:
        """Make ``aet`` a known Move Destination (replacing any earlier address)."""
        with self._lock:
            self._destinations[aet.strip()] = (host, port)

    def remove_destination(self, aet: str) -> None:
        with self._lock:
            self._destinations.pop(aet.strip(), None)

    # handlers — Runs on: the association's pynetdicom thread

    def _on_echo(self, event: Event) -> int:
        return 0x0000

    def _on_find(
        self, event: Event, scp: BackgroundScp
    ) -> Iterator[tuple[int, Dataset | None]]:
        identifier = event.identifier
        level = level_of(identifier, _FIND_MODELS[event.request.AffectedSOPClassUID])
        if level is None:
            yield _IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS, None
            return
        cancel = _CancelWatch(event)
        for record in self._catalogue.records[level]:
            if scp.end_if_over(event):
                return
            if cancel.requested:
                yield _CANCEL, None
                return
            if matches(record, identifier):
                yield _PENDING, response_for(record, identifier, level, self.ae_title)

    def _on_move(self, event: Event, scp: BackgroundScp) -> Iterator[Any]:
        with self._lock:
            address = self._destinations.get(event.move_destination or "")
        if address is None:
            LOGGER.warning("C-MOVE to unknown destination %r refused", event.move_destination)
            yield None, None  # pynetdicom answers 0xA801
            return

        identifier = event.identifier
        instances = self._instances_to_move(event.request.AffectedSOPClassUID or "", identifier)
        # pynetdicom associates with the destination before it reads any status, so even an
        # identifier failure has to go through the destination (PS3.4 C.4.2.3 allows it).
        yield (*address, {"contexts": _store_contexts(instances or []),
                          "evt_handlers": NODELAY_HANDLERS})
        if instances is None:
            yield 1
            yield _IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS, None
            return
        LOGGER.info("C-MOVE to %s: %d instance(s)", event.move_destination, len(instances))
        yield len(instances)

        cancel = _CancelWatch(event)
        for ds in instances:
            if self.store_delay:
                self._pause(cancel, scp.stopping)
            if scp.end_if_over(event) or not event.assoc.is_established:
                return
            if cancel.requested:
                yield _CANCEL, None
                return
            yield _PENDING, ds

    def _instances_to_move(self, model: str, identifier: Dataset) -> list[Dataset] | None:
        """The instances a C-MOVE identifier selects, or None if it is not a valid one."""
        level = level_of(identifier, _MOVE_MODELS[model])
        if level is None or str(identifier.get(UNIQUE_KEY[level], "")).strip() == "":
            return None
        keys = [UNIQUE_KEY[name] for name in LEVELS[: LEVELS.index(level) + 1]]
        return [ds for ds in self._catalogue.instances if matches(ds, identifier, keys)]

    def _pause(self, cancel: _CancelWatch, stopping: threading.Event) -> None:
        """Wait ``store_delay`` seconds, waking early for C-CANCEL or stop()."""
        slices = max(1, round(self.store_delay / 0.02))
        for _ in range(slices):
            if cancel.requested or stopping.wait(self.store_delay / slices):
                return


def _store_contexts(instances: Iterable[Dataset]) -> list[PresentationContext]:
    """One context per SOP class to move, offering both uncompressed little-endian syntaxes."""
    sop_classes = dict.fromkeys(str(ds.SOPClassUID) for ds in instances)
    return [
        build_context(uid, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
        for uid in list(sop_classes)[:128]
    ] or [build_context(Verification)]
