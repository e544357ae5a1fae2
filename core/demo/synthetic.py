"""Small synthetic DICOM studies for the demo PACS, the tests and the benchmarks.

Every dataset is a valid Secondary Capture-like image with tiny pixel data, so that real peers
(Orthanc, dcmqrscp, storescp) store and serve it like clinical data while tests stay fast.
Names include non-ASCII characters in several character sets on purpose.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    UID,
    CTImageStorage,
    ExplicitVRLittleEndian,
    MRImageStorage,
    SecondaryCaptureImageStorage,
    generate_uid,
)

from dicom_courier import __version__

#: Our own UID root for generated studies (pydicom's prefix plus a stable suffix).
_UID_PREFIX = "1.2.826.0.1.3680043.8.498."

_SOP_CLASS_BY_MODALITY = {
    "CT": CTImageStorage,
    "MR": MRImageStorage,
}


def stable_uid(*parts: str) -> str:
    """A deterministic UID from ``parts``, so repeated runs produce the same studies."""
    return generate_uid(prefix=_UID_PREFIX, entropy_srcs=list(parts))


@dataclass(frozen=True)
class StudySpec:
    """What one generated study looks like. UIDs derive from ``key`` so they are stable."""

    key: str
    patient_name: str
    patient_id: str
    birth_date: str = "19700101"
    sex: str = "O"
    study_date: str = "20240115"
    study_time: str = "101500"
    accession: str = ""
    description: str = "Synthetic study"
    referring: str = ""
    modalities: Sequence[str] = ("CT",)
    series_count: int = 2
    instances_per_series: int = 3
    charset: str | tuple[str, ...] = "ISO_IR 192"
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def study_uid(self) -> str:
        return stable_uid("study", self.key)

    def series_uid(self, series_index: int) -> str:
        return stable_uid("series", self.key, str(series_index))

    def sop_uid(self, series_index: int, instance_index: int) -> str:
        return stable_uid("sop", self.key, str(series_index), str(instance_index))

    @property
    def instance_count(self) -> int:
        return self.series_count * self.instances_per_series


def make_instance(spec: StudySpec, series_index: int, instance_index: int) -> Dataset:
    """One image of ``spec``: patient/study/series/instance attributes and 8x8 pixels."""
    modality = spec.modalities[series_index % len(spec.modalities)]
    sop_class = _SOP_CLASS_BY_MODALITY.get(modality, SecondaryCaptureImageStorage)
    sop_uid = spec.sop_uid(series_index, instance_index)

    ds = Dataset()
    charset = spec.charset
    ds.SpecificCharacterSet = list(charset) if isinstance(charset, tuple) else charset
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.PatientName = spec.patient_name
    ds.PatientID = spec.patient_id
    ds.PatientBirthDate = spec.birth_date
    ds.PatientSex = spec.sex
    ds.StudyInstanceUID = spec.study_uid
    ds.StudyDate = spec.study_date
    ds.StudyTime = spec.study_time
    ds.AccessionNumber = spec.accession
    ds.StudyDescription = spec.description
    ds.ReferringPhysicianName = spec.referring
    ds.StudyID = spec.key[:16]
    ds.SeriesInstanceUID = spec.series_uid(series_index)
    ds.SeriesNumber = series_index + 1
    ds.SeriesDescription = f"{modality} series {series_index + 1}"
    ds.Modality = modality
    ds.InstanceNumber = instance_index + 1
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.ConversionType = "WSD"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = 8
    ds.Columns = 8
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    seed = hashlib.sha256(sop_uid.encode()).digest()
    ds.PixelData = (seed * 2)[:64]
    for keyword, value in spec.extra.items():
        setattr(ds, keyword, value)

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = UID(stable_uid("implementation"))
    meta.ImplementationVersionName = f"COURIER_{__version__}"[:16]
    ds.file_meta = meta
    return ds


def iter_study(spec: StudySpec) -> Iterator[Dataset]:
    """Every instance of ``spec``, series by series."""
    for series_index in range(spec.series_count):
        for instance_index in range(spec.instances_per_series):
            yield make_instance(spec, series_index, instance_index)


def iter_studies(specs: Iterable[StudySpec]) -> Iterator[Dataset]:
    for spec in specs:
        yield from iter_study(spec)


def write_datasets(datasets: Iterable[Dataset], folder: Path) -> list[Path]:
    """Write each dataset as ``<SOPInstanceUID>.dcm`` under ``folder``; returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for ds in datasets:
        path = folder / f"{ds.SOPInstanceUID}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def demo_studies() -> list[StudySpec]:
    """The demo PACS's patients: a few people, several modalities, names in several charsets."""
    return [
        StudySpec(
            key="demo-ct-chest", patient_name="Müller^Jürgen", patient_id="DEMO001",
            birth_date="19560312", sex="M", study_date="20240611", accession="ACC1001",
            description="CT chest with contrast", referring="Becker^Anna",
            modalities=("CT",), series_count=3, instances_per_series=20,
        ),
        StudySpec(
            key="demo-mr-knee", patient_name="Dubois^Amélie", patient_id="DEMO002",
            birth_date="19880704", sex="F", study_date="20240612", accession="ACC1002",
            description="MR knee left", referring="Martin^Paul",
            modalities=("MR",), series_count=4, instances_per_series=12,
            charset="ISO_IR 100",
        ),
        StudySpec(
            key="demo-ct-head", patient_name="Yamada^Tarou=山田^太郎=やまだ^たろう",
            patient_id="DEMO003", birth_date="19700120", sex="M", study_date="20240613",
            accession="ACC1003", description="CT head", referring="Sato^Ken",
            modalities=("CT",), series_count=2, instances_per_series=15,
        ),
        StudySpec(
            key="demo-mr-brain", patient_name="Nowak^Zofia", patient_id="DEMO004",
            birth_date="19931130", sex="F", study_date="20240614", accession="ACC1004",
            description="MR brain", referring="Kowalski^Jan",
            modalities=("MR", "OT"), series_count=3, instances_per_series=10,
        ),
        StudySpec(
            key="demo-ct-abdomen", patient_name="Müller^Jürgen", patient_id="DEMO001",
            birth_date="19560312", sex="M", study_date="20231102", accession="ACC0907",
            description="CT abdomen", referring="Becker^Anna",
            modalities=("CT",), series_count=2, instances_per_series=8,
        ),
    ]
