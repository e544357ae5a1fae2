"""The embedded demo PACS: a real Query/Retrieve SCP serving generated studies from memory.

It plays the SCP roles of Verification (PS3.4 Annex A) and of the Patient Root and Study Root
Query/Retrieve FIND and MOVE SOP classes (PS3.4 Annex C), so the app, the CLI and the tests have
a PACS to talk to without third-party software. Matching follows PS3.4 C.2.2.2 closely enough
for a client to be tested against it: single value, wildcard, range and UID-list matching, with
universal matching for empty keys. Keys the SCP holds no value for are not used for matching
(PS3.4 C.2.2.1.1 lets an SCP ignore keys it does not support) and come back empty.
"""

from __future__ import annotations

import inspect
import logging
import re
import socketserver
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, build_context, evt
from pynetdicom.events import Event
from pynetdicom.presentation import PresentationContext
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    PatientRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelMove,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)
from pynetdicom.transport import ThreadedAssociationServer

from dicom_courier.core.demo.synthetic import StudySpec, demo_studies, iter_study
from dicom_courier.core.transport import NODELAY_HANDLERS, quiet_pynetdicom

LOGGER = logging.getLogger(__name__)

# Statuses from PS3.4 C.4.1.1.4 (C-FIND) and C.4.2.1.5 (C-MOVE).
_PENDING = 0xFF00
_CANCEL = 0xFE00
_IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS = 0xA900

_LEVELS = ("PATIENT", "STUDY", "SERIES", "IMAGE")
_UNIQUE_KEY = {
    "PATIENT": "PatientID",
    "STUDY": "StudyInstanceUID",
    "SERIES": "SeriesInstanceUID",
    "IMAGE": "SOPInstanceUID",
}
#: Attributes each level holds (PS3.4 C.6.1.1 / C.6.2.1); IMAGE records are the instances.
_LEVEL_KEYWORDS = {
    "PATIENT": ("PatientName", "PatientID", "PatientBirthDate", "PatientSex"),
    "STUDY": (
        "StudyInstanceUID", "StudyDate", "StudyTime", "AccessionNumber", "StudyDescription",
        "ReferringPhysicianName", "StudyID",
    ),
    "SERIES": ("SeriesInstanceUID", "SeriesNumber", "SeriesDescription", "Modality"),
}
#: Keys that are only ever returned, never matched.
_RETURN_ONLY = frozenset({
    "QueryRetrieveLevel", "SpecificCharacterSet", "RetrieveAETitle", "InstanceAvailability",
    "NumberOfPatientRelatedStudies", "NumberOfPatientRelatedSeries",
    "NumberOfPatientRelatedInstances", "NumberOfStudyRelatedSeries",
    "NumberOfStudyRelatedInstances", "NumberOfSeriesRelatedInstances",
})
_WILDCARD_VRS = frozenset({"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT"})
_RANGE_VRS = frozenset({"DA", "TM", "DT"})
_NUMERIC_VRS = frozenset({"IS", "DS", "US", "UL", "SS", "SL", "FL", "FD", "UV", "SV"})
_UNMATCHABLE_VRS = frozenset({"SQ", "OB", "OW", "OF", "OD", "OL", "OV", "UN"})

_FIND_MODELS = {
    PatientRootQueryRetrieveInformationModelFind: _LEVELS,
    StudyRootQueryRetrieveInformationModelFind: _LEVELS[1:],
}
_MOVE_MODELS = {
    PatientRootQueryRetrieveInformationModelMove: _LEVELS,
    StudyRootQueryRetrieveInformationModelMove: _LEVELS[1:],
}


# --- serving ------------------------------------------------------------------------------


class _QuickStopServer(ThreadedAssociationServer):
    """Notices shutdown() within 50 ms rather than socketserver's 500 ms."""

    def serve_forever(self, poll_interval: float = 0.05) -> None:
        super().serve_forever(poll_interval)

    def shutdown(self) -> None:
        # Not AssociationServer.shutdown(): that unlists us from AE._servers, where we are not.
        socketserver.BaseServer.shutdown(self)
        self.server_close()


class BackgroundScp:
    """An AE listening in a daemon thread, with a stop() that never races a busy handler.

    Aborting an association from another thread while its handler is still answering makes
    pynetdicom's DUL thread die with InvalidEventError (a P-DATA after our own A-ABORT: Evt9
    in Sta13). So stop() raises ``stopping``, waits for busy handlers (wrapped by
    ``tracked``) to end their own associations through ``end_if_over``, and only then
    aborts the idle ones. Shared by the demo PACS, the workstation and the test fakes.
    """

    def __init__(self, ae: AE) -> None:
        self.ae = ae
        self.stopping = threading.Event()
        self._busy = 0
        self._idle = threading.Condition()
        self._ending: set[threading.Thread] = set()
        self._server: _QuickStopServer | None = None

    def start(self, host: str, port: int, evt_handlers: list[tuple[Any, Any]]) -> int:
        """Listen on (host, port), 0 picking a free port; returns the bound port."""
        self.stopping.clear()
        server = self.ae.make_server(
            (host, port), evt_handlers=evt_handlers, server_class=_QuickStopServer
        )
        assert isinstance(server, _QuickStopServer)
        thread = threading.Thread(target=server.serve_forever, name=f"{self.ae.ae_title}@{host}")
        thread.daemon = True
        thread.start()
        self._server = server
        return int(server.server_address[1])

    def tracked(self, handler: Callable[..., Any]) -> Callable[..., Any]:
        """``handler`` (plain or generator) counted as busy while it runs or is suspended."""
        if inspect.isgeneratorfunction(handler):

            def run_generator(event: Event, *args: Any) -> Iterator[Any]:
                with self._working():
                    yield from handler(event, *args)

            return run_generator

        def run(event: Event, *args: Any) -> Any:
            with self._working():
                return handler(event, *args)

        return run

    def end_if_over(self, event: Event) -> bool:
        """True once ``event``'s association is over for its handler, which must then return.

        If stop() has begun, the association is aborted here, from its own thread. If the peer
        has aborted, the association is killed: pynetdicom's reactor is this very thread, so
        it has not noticed yet and would otherwise answer into the closed connection.
        """
        assoc = event.assoc
        if assoc.acse.is_aborted():
            assoc.kill()
        elif self.stopping.is_set():
            if assoc.is_established:
                assoc.abort()
        else:
            return False
        with self._idle:
            self._ending = {t for t in self._ending if t.is_alive()}
            self._ending.add(threading.current_thread())
        return True

    def stop(self, grace: float = 5.0) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        deadline = time.monotonic() + grace
        server.shutdown()  # no new associations from here on
        self.stopping.set()
        with self._idle:
            self._idle.wait_for(lambda: self._busy == 0, timeout=grace)
            ending, self._ending = self._ending, set()
        for thread in ending:  # still tidying up, e.g. releasing a C-MOVE sub-association
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        threads = self.ae.active_associations
        self.ae.shutdown()  # the idle ones
        for thread in threads:
            thread.join(timeout=max(0.1, deadline - time.monotonic()))

    @contextmanager
    def _working(self) -> Iterator[None]:
        with self._idle:
            self._busy += 1
        try:
            yield
        finally:
            with self._idle:
                self._busy -= 1
                self._idle.notify_all()


# --- the in-memory archive ------------------------------------------------------------------


@dataclass(frozen=True)
class _Catalogue:
    """Every generated instance plus one record per patient, study and series."""

    records: dict[str, tuple[Dataset, ...]]

    @property
    def instances(self) -> tuple[Dataset, ...]:
        return self.records["IMAGE"]


def _record(source: Dataset, levels: Iterable[str], **computed: Any) -> Dataset:
    """A record holding ``source``'s attributes of ``levels`` plus computed return keys."""
    record = Dataset()
    record.SpecificCharacterSet = source.SpecificCharacterSet
    for level in levels:
        for keyword in _LEVEL_KEYWORDS[level]:
            if keyword in source:
                record.add(source[keyword])
    for keyword, value in computed.items():
        setattr(record, keyword, value)
    return record


def _build_catalogue(specs: Iterable[StudySpec]) -> _Catalogue:
    instances = [ds for spec in specs for ds in iter_study(spec)]
    by_patient: dict[str, list[Dataset]] = {}
    by_study: dict[str, list[Dataset]] = {}
    by_series: dict[str, list[Dataset]] = {}
    for ds in instances:
        by_patient.setdefault(ds.PatientID, []).append(ds)
        by_study.setdefault(ds.StudyInstanceUID, []).append(ds)
        by_series.setdefault(ds.SeriesInstanceUID, []).append(ds)

    def count(members: list[Dataset], keyword: str) -> int:
        return len({ds[keyword].value for ds in members})

    patients = tuple(
        _record(
            members[0], ["PATIENT"],
            NumberOfPatientRelatedStudies=count(members, "StudyInstanceUID"),
            NumberOfPatientRelatedSeries=count(members, "SeriesInstanceUID"),
            NumberOfPatientRelatedInstances=len(members),
        )
        for members in by_patient.values()
    )
    studies = tuple(
        _record(
            members[0], ["PATIENT", "STUDY"],
            ModalitiesInStudy=list(dict.fromkeys(ds.Modality for ds in members)),
            NumberOfStudyRelatedSeries=count(members, "SeriesInstanceUID"),
            NumberOfStudyRelatedInstances=len(members),
        )
        for members in by_study.values()
    )
    series = tuple(
        _record(
            members[0], ["PATIENT", "STUDY", "SERIES"],
            NumberOfSeriesRelatedInstances=len(members),
        )
        for members in by_series.values()
    )
    return _Catalogue(
        {"PATIENT": patients, "STUDY": studies, "SERIES": series, "IMAGE": tuple(instances)}
    )


# --- matching (PS3.4 C.2.2.2) ---------------------------------------------------------------


def _texts(elem: DataElement) -> list[str]:
    value = elem.value
    values = list(value) if isinstance(value, MultiValue | list | tuple) else [value]
    return [str(v).strip() for v in values if v is not None]


def _sortable(vr: str, text: str) -> str:
    """Dates and times as strings that compare in time order (TM '1015' == '101500')."""
    text = text.replace(":", "") if vr == "TM" else text.replace(".", "") if vr == "DA" else text
    if vr == "TM":
        whole, _, fraction = text.partition(".")
        return f"{whole.ljust(6, '0')}.{fraction.ljust(6, '0')}"
    if vr == "DT":
        return text.ljust(14, "0")
    return text


def _wildcard_matches(pattern: str, value: str, ignore_case: bool) -> bool:
    flags = re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL
    if "*" not in pattern and "?" not in pattern:
        return pattern.casefold() == value.casefold() if ignore_case else pattern == value
    regex = "".join(
        ".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern
    )
    return re.fullmatch(regex, value, flags) is not None


def _value_matches(vr: str, pattern: str, value: str) -> bool:
    if pattern in ("", "*"):
        return True
    if vr in _RANGE_VRS:
        if "-" in pattern:
            low, _, high = pattern.partition("-")
            key = _sortable(vr, value)
            return (not low or key >= _sortable(vr, low)) and (
                not high or key <= _sortable(vr, high)
            )
        return _sortable(vr, pattern) == _sortable(vr, value)
    if vr == "PN":
        # A name matches on the whole value or on any one component group (alphabetic,
        # ideographic, phonetic), ignoring case and trailing empty components.
        pattern = pattern.rstrip("^ ")
        groups = [value, *value.split("=")]
        return any(_wildcard_matches(pattern, g.rstrip("^ "), True) for g in groups)
    if vr in _WILDCARD_VRS:
        return _wildcard_matches(pattern, value, False)
    if vr in _NUMERIC_VRS:
        try:
            return float(pattern) == float(value)
        except ValueError:
            return False
    return pattern == value


def _matches(record: Dataset, identifier: Dataset, keywords: Iterable[str] | None = None) -> bool:
    """Whether ``record`` matches every matching key of ``identifier`` (or just ``keywords``)."""
    wanted = set(keywords) if keywords is not None else None
    for query in identifier:
        if query.tag.group in (0x0000, 0x0002) or query.keyword in _RETURN_ONLY:
            continue
        if wanted is not None and query.keyword not in wanted:
            continue
        if query.tag not in record or query.is_empty:
            continue
        held = record[query.tag]
        if held.VR in _UNMATCHABLE_VRS:
            continue
        patterns, values = _texts(query), _texts(held) or [""]
        if not any(_value_matches(held.VR, p, v) for p in patterns for v in values):
            return False
    return True


def _response(record: Dataset, identifier: Dataset, level: str, ae_title: str) -> Dataset:
    """The C-FIND response for ``record``: every requested key, empty where we hold no value."""
    response = Dataset()
    response.SpecificCharacterSet = record.SpecificCharacterSet
    response.QueryRetrieveLevel = level
    for query in identifier:
        if query.tag.group in (0x0000, 0x0002) or query.keyword in (
            "QueryRetrieveLevel", "SpecificCharacterSet", "RetrieveAETitle",
        ):
            continue
        if query.tag in record:
            response.add(record[query.tag])
        else:
            response.add_new(query.tag, query.VR, [] if query.VR == "SQ" else None)
    response.RetrieveAETitle = ae_title
    return response


def _level_of(identifier: Dataset, allowed: Sequence[str]) -> str | None:
    level = str(identifier.get("QueryRetrieveLevel", "")).strip().upper()
    return level if level in allowed else None


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


class DemoPacs:
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
        self.ae_title = ae_title
        self.host = host
        self.store_delay = store_delay
        self.studies: tuple[StudySpec, ...] = tuple(
            demo_studies() if studies is None else studies
        )
        self._requested_port = port
        self._port = port
        self._catalogue = _build_catalogue(self.studies)
        self._destinations: dict[str, tuple[str, int]] = dict(destinations or {})
        self._lock = threading.Lock()
        self._scp: BackgroundScp | None = None

    # lifecycle

    @property
    def port(self) -> int:
        """The listening port (the real one once started, even if constructed with 0)."""
        return self._port

    @property
    def is_running(self) -> bool:
        return self._scp is not None

    def start(self) -> Self:
        """Listen in the background; returns once the port is bound."""
        if self._scp is not None:
            return self
        quiet_pynetdicom()
        ae = AE(ae_title=self.ae_title)
        ae.add_supported_context(Verification)
        for model in (*_FIND_MODELS, *_MOVE_MODELS):
            ae.add_supported_context(model)
        ae.maximum_associations = 16
        ae.acse_timeout = 10  # also bounds how long an abort waits for the peer to hang up
        scp = BackgroundScp(ae)
        self._port = scp.start(
            self.host,
            self._requested_port,
            [
                *NODELAY_HANDLERS,
                (evt.EVT_C_ECHO, self._on_echo),
                (evt.EVT_C_FIND, scp.tracked(self._on_find), [scp]),
                (evt.EVT_C_MOVE, scp.tracked(self._on_move), [scp]),
            ],
        )
        self._scp = scp
        LOGGER.info("Demo PACS %s listening on %s:%d", self.ae_title, self.host, self._port)
        return self

    def stop(self) -> None:
        """Abort open associations (a cut-short move never says Success) and close the port."""
        if self._scp is None:
            return
        self._scp.stop()
        self._scp = None
        LOGGER.info("Demo PACS %s stopped", self.ae_title)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

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
        level = _level_of(identifier, _FIND_MODELS[event.request.AffectedSOPClassUID])
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
            if _matches(record, identifier):
                yield _PENDING, _response(record, identifier, level, self.ae_title)

    def _on_move(self, event: Event, scp: BackgroundScp) -> Iterator[Any]:
        with self._lock:
            address = self._destinations.get(event.move_destination or "")
        if address is None:
            LOGGER.warning("C-MOVE to unknown destination %r refused", event.move_destination)
            yield None, None  # pynetdicom answers 0xA801
            return

        identifier = event.identifier
        instances = self._instances_to_move(event.request.AffectedSOPClassUID, identifier)
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
        level = _level_of(identifier, _MOVE_MODELS[model])
        if level is None or str(identifier.get(_UNIQUE_KEY[level], "")).strip() == "":
            return None
        keys = [_UNIQUE_KEY[name] for name in _LEVELS[: _LEVELS.index(level) + 1]]
        return [ds for ds in self._catalogue.instances if _matches(ds, identifier, keys)]

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
