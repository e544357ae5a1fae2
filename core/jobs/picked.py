"""Rows a person picked from a search, as sends: what the queue calls them, what is asked.

A study row of the results grid, or a series row of a study's series list, becomes one send:
a :class:`~.job.JobLabel` a person recognises it by (never sent to the PACS) and a C-MOVE
request (PS3.4 C.4.2) in the Q/R model the PACS accepted last. The window uses these; the
command line names its sends from its own arguments.

Values are formatted for people (:mod:`dicom_courier.core.text.people_text`, PS3.5 PN and DA)
and never escaped here: each output road does its own escaping. Nothing here raises on what a
PACS sent.
"""

from __future__ import annotations

from dicom_courier.core.config.profiles import PacsNode
from dicom_courier.core.jobs.job import JobLabel
from dicom_courier.core.qr.model_choice import ModelMemory
from dicom_courier.core.qr.query import FindMatch, MoveRequest, MoveTarget, Priority
from dicom_courier.core.text.people_text import format_date, format_person_name

__all__ = ["move_request", "recorded_patient_id", "series_label", "study_label"]


def recorded_patient_id(study: FindMatch) -> str:
    """The Patient ID the PACS returned in ``study``, as ``jobs.db`` records it for the
    history (padding and NULs stripped, otherwise as it came; "" when absent). Unlike
    :func:`~dicom_courier.core.qr.model_choice.patient_id_of` it is kept even when a Patient
    Root move could not carry it (too long, a backslash): the audit trail names the patient."""
    return study.get("PatientID").strip(" \x00")


def study_label(study: FindMatch) -> JobLabel:
    """The label of a whole-study send: patient name, and study date and description, and
    the Patient ID for the record (:func:`recorded_patient_id`).

    ``study``: a STUDY-level C-FIND match. E.g. PN ``Doe^Jane``, DA ``20240115``,
    description ``CT ABD`` → ``JobLabel("Doe, Jane", "2024-01-15 CT ABD")``.
    """
    return JobLabel(patient=format_person_name(study.get("PatientName")),
                    study=" ".join(part for part in (format_date(study.get("StudyDate")),
                                                     study.get("StudyDescription")) if part),
                    patient_id=recorded_patient_id(study))


def series_label(study: FindMatch, series: FindMatch) -> JobLabel:
    """The label of a one-series send: the study's label with "· series <number> <modality>".

    ``study``: the STUDY-level match the series list was opened from; ``series``: a
    SERIES-level match of that study.
    """
    return JobLabel(patient=format_person_name(study.get("PatientName")),
                    study=" ".join(part for part in (
                        format_date(study.get("StudyDate")), study.get("StudyDescription"),
                        "· series", series.get("SeriesNumber"), series.get("Modality"))
                        if part),
                    patient_id=recorded_patient_id(study))


def move_request(models: ModelMemory, pacs: PacsNode, target: MoveTarget, destination: str,
                 priority: Priority = Priority.MEDIUM) -> MoveRequest:
    """The C-MOVE request (PS3.4 C.4.2) sending ``target`` from ``pacs`` to the AE title
    ``destination`` at DIMSE ``priority`` (PS3.7 9.1.1.1.4).

    Asked in the model ``pacs`` accepted last (Study Root if ``models`` knows none), with the
    other model proposed too; a Patient Root move without the target's Patient ID looks it
    up first (:func:`~dicom_courier.core.qr.model_choice.move_models_looking_up`). Never
    raises.
    """
    return MoveRequest(target, destination, model=models.model_for(pacs), priority=priority,
                       other_models=models.others(pacs))
