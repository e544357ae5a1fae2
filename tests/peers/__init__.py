"""Real third-party DICOM peers (Orthanc, dcmqrscp, storescp) for interop tests and benchmarks.

Plain Python, no pytest: ``tests/conftest.py`` wraps these in fixtures, benchmarks can use
them directly::

    from tests.peers import OrthancPeer, StorescpPeer, free_port, reserve_dead_port

The interop data set is fixed and small (4 studies x 2 series x 3 instances) and covers the
character sets the engine must decode: Latin-1, UTF-8, ISO 2022 (Japanese) and plain ASCII.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pydicom.dataset import Dataset

from dicom_courier.core.demo.synthetic import StudySpec, iter_studies, write_datasets

from .dcmtk import DcmqrscpPeer, StorescpPeer, dcmtk_binary, find_dcmtk, run_tool
from .orthanc import OrthancPeer
from .ports import (
    LOOPBACK,
    PeerProcess,
    PeerStartError,
    free_port,
    peer_env,
    port_accepts,
    reserve_dead_port,
    wait_for_port,
)

__all__ = [
    "INTEROP_INSTANCE_COUNT",
    "INTEROP_STUDIES",
    "LOOPBACK",
    "DcmqrscpPeer",
    "OrthancPeer",
    "PeerProcess",
    "PeerStartError",
    "StorescpPeer",
    "dcmtk_binary",
    "find_dcmtk",
    "free_port",
    "interop_datasets",
    "peer_env",
    "port_accepts",
    "reserve_dead_port",
    "run_tool",
    "wait_for_port",
    "write_interop_files",
]

#: The studies every interop peer holds. Different patients, CT and MR, four charsets.
INTEROP_STUDIES: list[StudySpec] = [
    StudySpec(
        key="interop-ct-utf8", patient_name="Müller^Jürgen", patient_id="IOP001",
        birth_date="19560312", sex="M", study_date="20240611", study_time="081500",
        accession="IOPACC1", description="Interop CT chest", referring="Becker^Anna",
        modalities=("CT",), charset="ISO_IR 192",
    ),
    StudySpec(
        key="interop-mr-latin1", patient_name="Dubois^Amélie", patient_id="IOP002",
        birth_date="19880704", sex="F", study_date="20240612", study_time="093000",
        accession="IOPACC2", description="Interop MR knee", referring="Martin^Paul",
        modalities=("MR",), charset="ISO_IR 100",
    ),
    StudySpec(
        key="interop-ct-jis", patient_name="Yamada^Tarou=山田^太郎=やまだ^たろう",
        patient_id="IOP003", birth_date="19700120", sex="M", study_date="20240613",
        study_time="104500", accession="IOPACC3", description="Interop CT head",
        referring="Sato^Ken", modalities=("CT",), charset=("", "ISO 2022 IR 87"),
    ),
    StudySpec(
        key="interop-mr-ascii", patient_name="Smith^John", patient_id="IOP004",
        birth_date="19930101", sex="M", study_date="20240614", study_time="160000",
        accession="IOPACC4", description="Interop MR and CT", referring="Jones^Mary",
        modalities=("MR", "CT"), charset="",
    ),
]

#: Total number of instances in INTEROP_STUDIES.
INTEROP_INSTANCE_COUNT = sum(spec.instance_count for spec in INTEROP_STUDIES)


def interop_datasets() -> Iterator[Dataset]:
    """Every instance of INTEROP_STUDIES, generated on the fly (deterministic UIDs)."""
    return iter_studies(INTEROP_STUDIES)


def write_interop_files(folder: Path) -> list[Path]:
    """Write INTEROP_STUDIES as ``<SOPInstanceUID>.dcm`` files under ``folder``."""
    return write_datasets(interop_datasets(), folder)
