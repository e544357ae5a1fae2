"""The arrival check (issue 13 §3): did a send's images really arrive at its destination?

A PACS's C-MOVE response only says what the PACS *sent* (PS3.4 C.4.2.1.6); some answer the
final response before their C-STOREs are done (Orthanc with ``"SynchronousCMove": false``).
So after a send to a destination that answers C-FIND itself (``Destination.queryable``), we
ask it (Study Root C-FIND, PS3.4 C.4.1) how many instances of each series it holds, compare
them with what the source PACS holds (:func:`source_counts`) and ask again every
``interval`` seconds until every series is complete or ``wait`` seconds have passed.

A destination that fills NumberOfSeriesRelatedInstances (0020,1209) at SERIES level (Orthanc,
most PACS) costs one C-FIND per look; one that does not (dcmqrscp, many workstations) is asked
at IMAGE level, one C-FIND per series, its SOP Instance UIDs counted (bounded by
:data:`MAX_COUNTED`). A send of some images only counts those images. "This computer" is
checked on disk instead (:func:`check_files`, the receiver's layout).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path

from dicom_courier.core.config.profiles import Destination, PacsNode
from dicom_courier.core.dimse.association import DESTINATION_PREFIX
from dicom_courier.core.dimse.engine import Courier
from dicom_courier.core.outcome.arrival import THIS_COMPUTER, ArrivalCheck, SeriesCount
from dicom_courier.core.outcome.arrival_rule import (
    NOTHING_SENT,
    expected_total,
    series_caps,
    worth_checking,
)
from dicom_courier.core.outcome.errors import CourierError
from dicom_courier.core.outcome.events import MoveResult
from dicom_courier.core.qr.query import FindQuery, MoveTarget, QueryLevel, QueryModel

#: At most this many IMAGE-level answers are counted per series (a C-CANCEL ends the rest).
MAX_COUNTED = 100_000
#: One look at the destination may take at most this long (s), whatever the profile allows.
QUERY_DEADLINE = 30.0
_COUNT_KEY = "NumberOfSeriesRelatedInstances"


def _query_node(node: PacsNode, seconds: float = QUERY_DEADLINE) -> PacsNode:
    """``node`` with its total deadline at most ``seconds``."""
    total = node.timeouts.total
    return replace(node, timeouts=replace(
        node.timeouts, total=seconds if total is None else min(total, seconds)))


def destination_node(pacs: PacsNode, dest: Destination) -> PacsNode:
    """A profile that calls ``dest`` at its own address, as ``pacs``'s calling AE title, with
    ``pacs``'s timeouts (the deadline capped at :data:`QUERY_DEADLINE`). Raises ValueError
    when ``dest`` has no host or port (a bug of the caller: check ``can_be_checked``)."""
    if dest.host is None or dest.port is None:
        raise ValueError(f"destination {dest.ae_title} has no address")
    return _query_node(PacsNode(
        name=f"{DESTINATION_PREFIX}{dest.ae_title}", called_aet=dest.ae_title,
        host=dest.host, port=dest.port, calling_aet=pacs.calling_aet,
        timeouts=pacs.timeouts, max_pdu=pacs.max_pdu, max_message_mb=pacs.max_message_mb))


async def _series_counts(courier: Courier, node: PacsNode, study_uid: str,
                         series_uids: tuple[str, ...], sop_uids: tuple[str, ...]
                         ) -> dict[str, int]:
    """Instances per series of ``study_uid`` on ``node`` (only ``series_uids`` if given; only
    ``sop_uids`` if given). Raises CourierError."""
    wanted = set(series_uids)
    counts: dict[str, int] = {}
    unknown: list[str] = []
    if sop_uids:  # some images: only those count, so look at the images themselves
        unknown = list(series_uids)
    else:
        query = FindQuery(QueryLevel.SERIES, QueryModel.STUDY,
                          {"StudyInstanceUID": study_uid, "SeriesInstanceUID": "",
                           _COUNT_KEY: ""})
        async for match in courier.find(node, query, limit=MAX_COUNTED):
            series = match.get("SeriesInstanceUID").strip()
            if not series or (wanted and series not in wanted) or series in counts:
                continue
            text = match.get(_COUNT_KEY).strip()
            if text.isascii() and text.isdigit():
                counts[series] = int(text)
            elif series not in unknown:
                unknown.append(series)  # this peer does not fill the count: count images
    only = set(sop_uids)
    for series in unknown:
        query = FindQuery(QueryLevel.IMAGE, QueryModel.STUDY,
                          {"StudyInstanceUID": study_uid, "SeriesInstanceUID": series,
                           "SOPInstanceUID": ""})
        seen: set[str] = set()
        async for match in courier.find(node, query, limit=MAX_COUNTED):
            sop = match.get("SOPInstanceUID").strip()
            if sop and (not only or sop in only):
                seen.add(sop)
        counts[series] = len(seen)
    return counts


async def source_counts(courier: Courier, pacs: PacsNode, study_uid: str,
                        series_uids: tuple[str, ...] = (), sop_uids: tuple[str, ...] = ()
                        ) -> dict[str, int]:
    """How many instances of each series the source PACS holds: what a send of
    ``study_uid`` (narrowed to ``series_uids``, or to the images ``sop_uids`` of the one
    series in ``series_uids``) is expected to deliver.

    Study Root C-FIND (PS3.4 C.4.1) at SERIES level with NumberOfSeriesRelatedInstances,
    IMAGE level for series whose count the PACS does not fill. Images named by ``sop_uids``
    are not looked up: each counts once. Returns Series Instance UID → instance count (empty
    when the PACS holds nothing of it). Raises CourierError (the search failed).
    """
    if sop_uids and len(series_uids) == 1:
        return {series_uids[0]: len(set(sop_uids))}
    return await _series_counts(courier, _query_node(pacs), study_uid, series_uids, ())


def _compare(expected: Mapping[str, int] | None, expected_total: int | None,
             found: Mapping[str, int], series_uids: tuple[str, ...]
             ) -> tuple[int | None, int, tuple[SeriesCount, ...]]:
    """(expected total, found of them, per-series rows), by the one rule
    (:mod:`..outcome.arrival_rule`): ``expected_total`` (what the PACS reported sent) is the
    number; ``expected`` (the source's per-series counts) says which series are short and is
    the number only when ``expected_total`` is not known. A series holding more than expected
    (images from an earlier send) counts as complete, never as more than expected."""
    if not expected_total:  # 0: a PACS that reported no count is no proof of "0 expected"
        expected_total = None
    if expected:
        rows = tuple(SeriesCount(uid, count, min(found.get(uid, 0), count))
                     for uid, count in expected.items())
        got = sum(row.found for row in rows)
        total = expected_total if expected_total is not None else (
            sum(expected.values()) or None)
        return total, got if total is None else min(got, total), rows
    relevant = series_uids or tuple(found)
    rows = tuple(SeriesCount(uid, None, found.get(uid, 0)) for uid in relevant)
    total = sum(row.found for row in rows)
    return expected_total, total if expected_total is None else min(total, expected_total), rows


def _complete(expected: int | None, found: int) -> bool:
    return expected is not None and found >= expected


async def check_arrival(courier: Courier, pacs: PacsNode, dest: Destination, study_uid: str, *,
                        expected: Mapping[str, int] | None, expected_total: int | None,
                        wait: float = 30.0, interval: float = 3.0,
                        sop_uids: tuple[str, ...] = (), series_uids: tuple[str, ...] = ()
                        ) -> ArrivalCheck:
    """Ask ``dest`` what it holds of a send and compare it with what was expected.

    Args:
        courier: the engine that runs the C-FINDs (PS3.4 C.4.1, Study Root, on ``dest``'s
            own host/port/AE title, as ``pacs``'s calling AE title).
        pacs: the source PACS's profile (our AE title, timeouts, message cap).
        dest: the destination; must be ``can_be_checked`` (else the answer's ``error`` says
            how to make it so).
        study_uid: the study sent.
        expected: Series Instance UID → instances the source holds (:func:`source_counts`):
            which series to count and which are short; the expected number only when
            ``expected_total`` is not known. None or empty: not known.
        expected_total: instances the PACS reported sent (the C-MOVE's completed + warning
            count): the number to find (:mod:`..outcome.arrival_rule`); None (or 0): use
            ``expected``'s sum; neither known: nothing can be verified (the words say what
            was found). Front ends call :func:`check_send`, which applies the rule.
        wait: seconds to keep asking until everything is there (0: ask once).
        interval: seconds between two looks.
        sop_uids: a send of some images only: only these are counted (IMAGE level).
        series_uids: a send of some series only: only these are counted.

    Returns:
        :class:`~dicom_courier.core.outcome.arrival.ArrivalCheck` (``where`` = the AE title,
        ``waited`` in seconds). Never raises for a network fault: a destination that cannot
        be asked gives an ``error`` naming both AE titles, host and port (or, after an earlier
        good look, that look's counts).
    """
    where = dest.ae_title
    if not dest.can_be_checked:
        how = ("its address is not saved" if dest.host is None or dest.port is None else
               "it is not marked as answering queries")
        return ArrivalCheck(where, expected_total, 0, 0.0, error=(
            f"{where} cannot be asked what arrived: {how}. Save it with its address and "
            f"mark it queryable (nodes add … --dest {where}@HOST:PORT --queryable-dest "
            f"{where}) if it answers C-FIND"))
    if expected:
        series_uids = tuple(expected)
    node = destination_node(pacs, dest)
    started = time.monotonic()
    deadline = started + max(0.0, wait)
    last: ArrivalCheck | None = None
    while True:
        try:
            found = await _series_counts(courier, node, study_uid, series_uids, sop_uids)
        except CourierError as exc:
            if last is not None:  # what the last good look found is still true
                return replace(last, waited=time.monotonic() - started)
            return ArrivalCheck(where, _compare(expected, expected_total, {}, series_uids)[0],
                                0, time.monotonic() - started,
                                error=(f"{dest.ae_title} at {dest.host}:{dest.port} could not be "
                                       f"asked what arrived (we are {pacs.calling_aet}): "
                                       f"{exc.title}"))
        total, got, rows = _compare(expected, expected_total, found, series_uids)
        last = ArrivalCheck(where, total, got, time.monotonic() - started, rows)
        now = time.monotonic()
        if _complete(total, got) or total is None or now >= deadline:
            return last
        await asyncio.sleep(min(max(interval, 0.05), deadline - now))


def _files_of(folder: Path, study_uid: str) -> dict[str, set[str]]:
    """SOP Instance UIDs per series on disk: ``folder/<PatientID>/<StudyUID>/<SeriesUID>/
    <SOPUID>.dcm`` (the receiver's layout), the study's folder under any patient folder.
    Hidden and temporary files (a write under way) are not counted."""
    found: dict[str, set[str]] = {}
    try:
        study_dirs = [patient / study_uid for patient in folder.iterdir()
                      if (patient / study_uid).is_dir()]
    except OSError:
        return found
    for study_dir in study_dirs:
        try:
            series_dirs = [entry for entry in study_dir.iterdir() if entry.is_dir()]
        except OSError:
            continue
        for series_dir in series_dirs:
            try:
                names = [entry.name for entry in series_dir.iterdir()]
            except OSError:
                continue
            found.setdefault(series_dir.name, set()).update(
                name[:-4] for name in names if name.endswith(".dcm") and not name.startswith("."))
    return found


def check_files(folder: Path, study_uid: str, expected_total: int | None, *,
                expected: Mapping[str, int] | None = None, series_uids: Iterable[str] = (),
                sop_uids: Iterable[str] = (), waited: float = 0.0) -> ArrivalCheck:
    """The arrival check for "This computer": count the study's files on disk.

    ``folder`` is the receiver's storage folder (layout
    ``<PatientID>/<StudyUID>/<SeriesUID>/<SOPUID>.dcm``, part 10 files written atomically, so
    every ``.dcm`` there is complete); ``expected``/``expected_total`` as in
    :func:`check_arrival`; ``series_uids``/``sop_uids`` narrow what counts; ``waited`` (s) is
    reported as given. Never raises: an unreadable folder counts as nothing found.
    """
    on_disk = _files_of(folder, study_uid)
    only = set(sop_uids)
    counts = {series: len(uids & only if only else uids) for series, uids in on_disk.items()}
    series = tuple(expected) if expected else tuple(series_uids)
    total, got, rows = _compare(expected, expected_total, counts, series)
    return ArrivalCheck(THIS_COMPUTER, total, got, waited, rows)


async def await_files(folder: Path, study_uid: str, expected_total: int | None, *,
                      expected: Mapping[str, int] | None = None,
                      series_uids: tuple[str, ...] = (), sop_uids: tuple[str, ...] = (),
                      wait: float = 30.0, interval: float = 0.2) -> ArrivalCheck:
    """:func:`check_files` again every ``interval`` s until everything is there or ``wait``
    s have passed (a PACS that sends after its final answer). Never raises."""
    started = time.monotonic()
    while True:
        check = check_files(folder, study_uid, expected_total, expected=expected,
                            series_uids=series_uids, sop_uids=sop_uids,
                            waited=time.monotonic() - started)
        remaining = started + wait - time.monotonic()
        if check.verified or check.expected is None or remaining <= 0:
            return check
        await asyncio.sleep(min(interval, remaining))


async def check_send(courier: Courier, pacs: PacsNode, dest: Destination, target: MoveTarget,
                     result: MoveResult, *, wait: float = 30.0, interval: float = 3.0
                     ) -> ArrivalCheck:
    """The arrival check of one finished send, by the one rule every front end uses
    (:mod:`..outcome.arrival_rule`: ``move --verify``, ``queue run``, the window's queue).

    Expected is what the PACS reported sent for ``target`` (completed + warning); the
    source's per-series counts (:func:`source_counts`, Study Root C-FIND, PS3.4 C.4.1) say
    which series are short and are the number when the PACS reported none. Then
    :func:`check_arrival` asks ``dest`` (``wait``/``interval`` in seconds).

    Returns the :class:`ArrivalCheck`; a send with nothing to look for (the request never
    reached the PACS, or nothing was sent) gets ``error`` =
    :data:`~..outcome.arrival_rule.NOTHING_SENT` without asking anyone. Never raises for a
    network fault (a source that cannot be asked only costs the per-series counts).
    """
    if not worth_checking(result):
        return ArrivalCheck(dest.ae_title, None, 0, 0.0, error=NOTHING_SENT)
    try:
        source: dict[str, int] | None = await source_counts(
            courier, pacs, target.study_uid, target.series_uids, target.sop_uids)
    except CourierError:
        source = None  # the PACS's own count is the number anyway
    return await check_arrival(
        courier, pacs, dest, target.study_uid, expected=series_caps(result, source),
        expected_total=expected_total(result, source), wait=wait, interval=interval,
        sop_uids=target.sop_uids, series_uids=target.series_uids)
