"""Memory of the results grid: process RSS with 50,000 study matches in the real main window.

Not a test: nothing here asserts on a size or a time, and pytest never collects it. Run it
from the repository root::

    .venv/bin/python benchmarks/rows_memory.py               # 3 repeats of each row
    .venv/bin/python benchmarks/rows_memory.py --repeats 5 --rows 50000

Rows (MB, VmRSS from ``/proc/self/status``, one fresh process per sample, offscreen Qt):

* ``rss_50k_rows_mb``: the real main window (``dicom_courier.gui.create_main_window``, shown
  offscreen, one saved PACS profile) after a search put ``--rows`` STUDY matches into its
  results grid, every event processed and the window painted.
* ``rss_empty_window_mb``: the same process shape (same imports, same window, same search
  path) with a search that returns no match.

The rows take the road a real search takes: ``MainWindow.search`` -> ``SearchController`` ->
``StudyResultsModel.append_matches`` (slices of ``PAINT_EVERY``) -> the sorting proxy and the
view. Only the network is replaced: ``courier.find`` returns a stand-in operation that yields
batches of 100 matches (as the engine's channel does), each decoded by the engine's own
decoder (``core.qr.decode.decode_match``) from raw data elements, so every value is a fresh
string as it is after a real C-FIND. Each match carries the 13 STUDY return keys
(``DEFAULT_RETURN_KEYS``) plus QueryRetrieveLevel, SpecificCharacterSet and RetrieveAETitle,
with realistic values: ~20,000 patients (names, 10-character IDs, birth dates), UIDs of
50-64 characters, 5 years of dates, study times, accession numbers, ~250 descriptions, ~300
referring physicians, modality lists.

A garbage collection runs before VmRSS is read (a real session collects on its own schedule;
this takes that noise out). The last line of stdout is one JSON object (benchmarks contract):
``{"measure": "rows_memory", "unit": "MB", "repeats": N, "rows": {...}, "info": {...}}``;
``info`` holds VmRSS again after glibc's ``malloc_trim(0)`` (how much is freed heap malloc
kept), the time spent inside ``append_matches`` (ms, includes the proxy's work that
runs in its rowsInserted slot), the rows seen by the model and its proxy, and a tracemalloc
breakdown (one extra process, not counted in the RSS rows: tracing costs memory itself):
Python bytes allocated per row and the top allocation sites. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROWS = 50_000
BATCH = 100  # the engine's channel hands matches to the loop in batches of this size

#: SpecificCharacterSet, QueryRetrieveLevel, RetrieveAETitle, then the 13 STUDY return keys.
_ELEMENTS: tuple[tuple[int, str, str], ...] = (
    (0x00080005, "CS", "SpecificCharacterSet"),
    (0x00080020, "DA", "StudyDate"),
    (0x00080030, "TM", "StudyTime"),
    (0x00080050, "SH", "AccessionNumber"),
    (0x00080052, "CS", "QueryRetrieveLevel"),
    (0x00080054, "AE", "RetrieveAETitle"),
    (0x00080061, "CS", "ModalitiesInStudy"),
    (0x00080090, "PN", "ReferringPhysicianName"),
    (0x00081030, "LO", "StudyDescription"),
    (0x00100010, "PN", "PatientName"),
    (0x00100020, "LO", "PatientID"),
    (0x00100030, "DA", "PatientBirthDate"),
    (0x00100040, "CS", "PatientSex"),
    (0x0020000D, "UI", "StudyInstanceUID"),
    (0x00201206, "IS", "NumberOfStudyRelatedSeries"),
    (0x00201208, "IS", "NumberOfStudyRelatedInstances"),
)

_FAMILY = ("MÜLLER", "SMITH", "GARCIA", "NGUYEN", "KOWALSKI", "ROSSI", "JOHANSSON", "DUBOIS",
           "OKAFOR", "TANAKA", "SILVA", "COHEN", "O'BRIEN", "VAN DER BERG", "IVANOVA", "PATEL",
           "SCHMIDT", "LEE", "ANDERSSON", "MARTIN", "HOFFMANN", "KIM", "LOPEZ", "WEBER")
_GIVEN = ("ANNA", "JOHN", "MARIA", "LUCAS", "SOFIA", "AHMED", "YUKI", "PETER", "ELENA",
          "DAVID", "CHLOE", "OMAR", "HANNA", "LIAM", "NOOR", "MATEO", "EVA", "JONAS")
_BODY = ("ABDOMEN", "CHEST", "HEAD", "PELVIS", "SPINE LUMBAR", "KNEE LEFT", "KNEE RIGHT",
         "SHOULDER", "NECK", "CARDIAC", "BREAST BILATERAL", "HIP RIGHT", "WRIST")
_HOW = ("W/O CONTRAST", "W CONTRAST", "W/WO CONTRAST", "ROUTINE", "FOLLOW-UP", "[/w contrast]",
        "2 VIEWS", "PROTOCOL A", "LOW DOSE", "ANGIO", "SCREENING", "", "TRAUMA", "STROKE", "")
_MODALITIES = ("CT", "MR", "CR", "DX", "US", "MG", "CT\\SR", "MR\\SR", "PT\\CT", "XA", "CR\\DX",
               "CT\\PR\\SR", "NM", "RF", "OT\\SR")
_DOCTORS = tuple(f"{_FAMILY[i % len(_FAMILY)]}^{_GIVEN[(i * 5) % len(_GIVEN)]}^^DR"
                 for i in range(300))
_PATIENTS = 20_000


def _study_values(index: int) -> dict[str, str]:
    """The 16 element values of study ``index`` (deterministic, realistic shapes)."""
    patient = (index * 7919) % _PATIENTS
    modalities = _MODALITIES[(index * 31) % len(_MODALITIES)]
    first = modalities.split("\\")[0]
    day = index % 1826
    year, rest = 2020 + day // 365, day % 365
    uid_tail = f"{patient}.{index}.{(index * 2654435761) % 10**12}"
    return {
        "SpecificCharacterSet": "ISO_IR 192",
        "StudyDate": f"{year}{rest // 31 % 12 + 1:02d}{rest % 28 + 1:02d}",
        "StudyTime": f"{7 + index % 12:02d}{index % 60:02d}{(index * 7) % 60:02d}"
                     + (".123456" if index % 3 == 0 else ""),
        "AccessionNumber": f"A{2020 + day // 365}{index:09d}",
        "QueryRetrieveLevel": "STUDY",
        "RetrieveAETitle": "ORTHANC",
        "ModalitiesInStudy": modalities,
        "ReferringPhysicianName": _DOCTORS[(index * 13) % len(_DOCTORS)],
        "StudyDescription": (f"{first} {_BODY[index % len(_BODY)]} "
                             f"{_HOW[(index // 7) % len(_HOW)]}").strip(),
        "PatientName": (f"{_FAMILY[patient % len(_FAMILY)]}^"
                        f"{_GIVEN[(patient // 24) % len(_GIVEN)]}^{chr(65 + patient % 26)}"
                        f"^^{patient % 1000}"),
        "PatientID": f"PID{patient:07d}",
        "PatientBirthDate": (f"19{30 + patient % 70:02d}{patient % 12 + 1:02d}"
                             f"{patient % 28 + 1:02d}"),
        "PatientSex": "MFO"[patient % 3] if patient % 41 else "",
        "StudyInstanceUID": f"1.2.826.0.1.3680043.8.498.{uid_tail}"[:64],
        "NumberOfStudyRelatedSeries": str(1 + index % 12),
        "NumberOfStudyRelatedInstances": str(1 + (index * 37) % 2400),
    }


def _raw_identifier(index: int) -> Any:
    """Study ``index`` as a pydicom Dataset of raw (undecoded) elements, as received."""
    from pydicom.dataelem import RawDataElement
    from pydicom.dataset import Dataset
    from pydicom.tag import Tag

    values = _study_values(index)
    elements = {}
    for tag, vr, keyword in _ELEMENTS:
        data = values[keyword].encode("utf-8")
        if len(data) % 2:
            data += b"\x00" if vr == "UI" else b" "
        elements[Tag(tag)] = RawDataElement(Tag(tag), vr, len(data), data, 0, False, True)
    return Dataset(elements)


def _child(rows: int, trace: bool) -> dict[str, Any]:
    """One sample: build the window, run a search of ``rows`` matches, measure."""
    import asyncio
    import gc
    import tempfile

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("QT_API", "pyside6")  # qasync must pick PySide6
    import qasync
    from PySide6.QtWidgets import QApplication

    from dicom_courier.core.config.app_settings import AppSettings
    from dicom_courier.core.config.profile_store import NodeStore
    from dicom_courier.core.config.profiles import PacsNode
    from dicom_courier.core.dimse.find import FindResult
    from dicom_courier.core.qr.decode import decode_match
    from dicom_courier.core.qr.query import QueryLevel
    from dicom_courier.gui import create_main_window

    app = QApplication(sys.argv[:1])
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    folder = tempfile.TemporaryDirectory(prefix="courier-rows-")
    config = Path(folder.name)
    NodeStore(config / "nodes.json").put(PacsNode(name="big", called_aet="BIG",
                                                  host="127.0.0.1", port=104))
    window = create_main_window(config)
    window.settings = AppSettings(result_limit=rows + 1)
    window.reload_profiles(select="big")
    window.resize(1280, 800)
    window.show()
    model = window.results_model
    append_seconds = [0.0]
    real_append = model.append_matches

    def timed_append(matches: Any) -> None:
        start = time.perf_counter()
        real_append(matches)
        append_seconds[0] += time.perf_counter() - start

    model.append_matches = timed_append  # type: ignore[method-assign]

    class StreamingFind:
        """The engine's FindOperation as the window sees it, without a network."""

        def __init__(self) -> None:
            self.result = FindResult(count=rows, status=0, duration=1.0, cancelled=False,
                                     error=None)

        def cancel(self) -> None:
            pass

        def abort(self) -> None:
            pass

        async def batches(self) -> Any:
            for start in range(0, rows, BATCH):
                await asyncio.sleep(0)
                yield [decode_match(_raw_identifier(i), QueryLevel.STUDY)
                       for i in range(start, min(rows, start + BATCH))]

    window.courier.find = lambda *args, **kwargs: StreamingFind()  # type: ignore[method-assign]

    async def settle() -> None:
        for _ in range(5):
            await asyncio.sleep(0.02)
            app.processEvents()

    info: dict[str, Any] = {}
    with loop:
        loop.run_until_complete(settle())
        if trace:
            import tracemalloc

            gc.collect()
            tracemalloc.start(1)
            before = tracemalloc.take_snapshot()
        loop.run_until_complete(window.search({"PatientName": "*"}))
        loop.run_until_complete(settle())
        window.grab()  # one full paint of the window with its rows
        gc.collect()
        rss = _vm_rss_mb()
        if trace:
            after = tracemalloc.take_snapshot()
            info["trace"] = _trace_report(before, after, rows)
        info.update(rss_mb=rss, rss_after_malloc_trim_mb=_rss_after_trim(),
                    append_ms=append_seconds[0] * 1000,
                    model_rows=model.rowCount(),
                    grid_rows=window.results_view.model().rowCount(),
                    count_label=window.count_label.text())
        loop.run_until_complete(window.shutdown())
    window.deleteLater()
    app.processEvents()
    folder.cleanup()
    app.shutdown()
    return info


def _vm_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def _rss_after_trim() -> float | None:
    """VmRSS after glibc's ``malloc_trim(0)`` (info only: how much of the RSS is freed heap
    that malloc had kept, not rows); None where there is no glibc."""
    import ctypes

    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        return None
    return _vm_rss_mb()


def _trace_report(before: Any, after: Any, rows: int) -> dict[str, Any]:
    """Bytes per row and the top allocation sites (lines) grown between two snapshots."""
    stats = after.compare_to(before, "lineno")
    grown = sum(s.size_diff for s in stats)
    top = [{"where": str(s.traceback[0]).replace(str(Path.cwd()) + "/", ""),
            "kb": round(s.size_diff / 1024), "blocks": s.count_diff}
           for s in stats[:15]]
    return {"traced_mb": round(grown / 2**20, 1),
            "bytes_per_row": round(grown / rows) if rows else None, "top": top}


def _run_child(rows: int, trace: bool = False) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", str(rows)] + (["--trace"] if trace else [])
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"child ({rows} rows) failed ({done.returncode}):\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the samples (fresh processes), print the contract JSON as the last stdout line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--no-trace", action="store_true",
                        help="skip the extra tracemalloc process")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        print(json.dumps(_child(args.child, args.trace)), flush=True)
        return 0
    samples: dict[str, list[float]] = {"rss_50k_rows_mb": [], "rss_empty_window_mb": []}
    append_ms: list[float] = []
    trimmed: list[list[float | None]] = []
    seen: list[dict[str, Any]] = []
    load = os.getloadavg()
    for repeat in range(args.repeats):  # interleaved, so background load hits both alike
        empty = _run_child(0)
        full = _run_child(args.rows)
        samples["rss_empty_window_mb"].append(round(empty["rss_mb"], 1))
        samples["rss_50k_rows_mb"].append(round(full["rss_mb"], 1))
        append_ms.append(round(full["append_ms"], 1))
        trimmed.append([empty["rss_after_malloc_trim_mb"], full["rss_after_malloc_trim_mb"]])
        seen.append({k: full[k] for k in ("model_rows", "grid_rows", "count_label")})
        _log(f"repeat {repeat + 1}/{args.repeats}: empty {empty['rss_mb']:.1f} MB, "
             f"{args.rows:,} rows {full['rss_mb']:.1f} MB, append {full['append_ms']:.0f} ms, "
             f"grid {full['grid_rows']:,} rows, label {full['count_label']!r}")
    info: dict[str, Any] = {
        "rows": args.rows, "seen": seen, "append_ms": append_ms,
        "rss_after_malloc_trim_mb_empty_full": trimmed,
        "append_us_per_row_median": round(statistics.median(append_ms) * 1000 / args.rows, 2)
        if args.rows else None,
        "load_average_at_start": load, "load_average_at_end": os.getloadavg(),
        "python": sys.version.split()[0],
    }
    if not args.no_trace:
        traced = _run_child(args.rows, trace=True)["trace"]
        info["tracemalloc"] = traced
        _log(f"tracemalloc: {traced['traced_mb']} MB of Python allocations for {args.rows:,} "
             f"rows = {traced['bytes_per_row']} bytes/row; top sites:")
        for site in traced["top"]:
            _log(f"  {site['kb']:>8} KB {site['blocks']:>8} blocks  {site['where']}")
    print(json.dumps({"measure": "rows_memory", "unit": "MB", "repeats": args.repeats,
                      "rows": samples, "info": info}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
