"""The synthetic data benchmarks/run.py loads into Orthanc (through its REST API, in parallel).

Every study is generated from a :class:`~dicom_courier.core.demo.synthetic.StudySpec` (stable
UIDs, own patient, accession, date and description). Kinds:

* ``find``: single-instance studies (8x8 pixels) for the C-FIND rows; dates 2020-2024.
* ``fill``: more single-instance studies, uploaded only after the C-FIND rows ran, so the window
  rows see >= 10,000 studies while the C-FIND rows match exactly ``--studies``.
* ``move``: 1 series x ``--instances`` small images, for the 50 single-study moves.
* ``wmove``: 1 series x ``--window-images`` small images (8x8 pixels, ~1 KB files, so uploading
  4,000 of them takes seconds), the 4 studies the window moves while its search streams.
* ``big``: 1 series x ``--big-images`` images of 512 x 512 x 16 bits = 0.5 MiB of pixel data.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pydicom import dcmwrite
from pydicom.dataset import Dataset

from dicom_courier.core.demo.synthetic import StudySpec, make_instance

BIG_SIDE = 512  # pixels; 512 x 512 x 2 bytes = 524,288 bytes of pixel data per image


def spec_for(kind: str, index: int, *, instances: int) -> StudySpec:
    """Distinct study, patient and accession per kind and index; dates spread over 5 years."""
    return StudySpec(
        key=f"bench-{kind}-{index:05d}",
        patient_name=f"Bench{kind.capitalize()}^Patient{index:05d}",
        patient_id=f"{kind.upper()}{index:05d}",
        birth_date=f"19{40 + index % 60:02d}0{1 + index % 9}1{index % 10}",
        sex="MFO"[index % 3],
        study_date=f"202{index % 5}{1 + index % 12:02d}{1 + index % 28:02d}",
        study_time=f"{index % 24:02d}{index % 60:02d}00",
        accession=f"A{kind[0].upper()}{index:07d}",
        description=f"Benchmark {kind} study {index}",
        referring="Referrer^Bench",
        modalities=("CT",) if index % 2 else ("MR",),
        series_count=1,
        instances_per_series=instances,
    )


def make_big_instance(spec: StudySpec, instance_index: int) -> Dataset:
    """One image of ``spec`` with 0.5 MiB of (deterministic, incompressible-ish) pixel data."""
    ds = make_instance(spec, 0, instance_index)
    ds.Rows = BIG_SIDE
    ds.Columns = BIG_SIDE
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    seed = bytes(ds.SOPInstanceUID.encode()[-32:].ljust(32, b"0"))
    ds.PixelData = (seed * (BIG_SIDE * BIG_SIDE * 2 // 32 + 1))[: BIG_SIDE * BIG_SIDE * 2]
    return ds


def _bytes(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()


def _instances(specs: Sequence[StudySpec], big: bool) -> Iterator[tuple[StudySpec, int, bool]]:
    for spec in specs:
        for index in range(spec.instances_per_series):
            yield spec, index, big


def upload(orthanc: Any, specs: Sequence[StudySpec], workers: int, *, big: bool = False) -> int:
    """POST every instance of ``specs`` to Orthanc's REST API from ``workers`` threads.

    Instances (not studies) are spread over the threads, so one study of 1,000 images loads
    as fast as 1,000 studies of one. Returns the number of instances Orthanc accepted; raises
    RuntimeError if Orthanc refused one.
    """
    def one(item: tuple[StudySpec, int, bool]) -> int:
        spec, index, is_big = item
        ds = make_big_instance(spec, index) if is_big else make_instance(spec, 0, index)
        return len(orthanc.upload([_bytes(ds)]))

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="upload")
    try:
        return sum(pool.map(one, _instances(specs, big)))
    finally:
        # On Ctrl-C or an error, drop the queued uploads instead of finishing them.
        pool.shutdown(wait=True, cancel_futures=True)


def sop_uids(specs: Sequence[StudySpec]) -> set[str]:
    """Every SOP Instance UID of ``specs`` (storescp names files <modality>.<SOP UID>)."""
    return {s.sop_uid(0, i) for s in specs for i in range(s.instances_per_series)}
