"""Rows picked from a search as sends (core.jobs.picked): the queue's label reads as a person
reads the study (PS3.5 PN and DA formatted, PACS text kept as it came), and the C-MOVE is
asked in the model the PACS accepted last, at the chosen priority."""

from __future__ import annotations

import pytest

from dicom_courier.core.config.profiles import PacsNode
from dicom_courier.core.jobs.job import JobLabel
from dicom_courier.core.jobs.picked import move_request, series_label, study_label
from dicom_courier.core.qr.model_choice import ModelMemory
from dicom_courier.core.qr.query import (
    FindMatch,
    MoveTarget,
    Priority,
    QueryLevel,
    QueryModel,
)

NODE = PacsNode(name="main", called_aet="PACS", host="127.0.0.1", port=104)
STUDY_UID = "1.2.826.0.1.3680043.8.498.77"


@pytest.mark.parametrize(("values", "label"), [
    ({"PatientName": "Doe^Jane", "StudyDate": "20240115", "StudyDescription": "CT ABD"},
     JobLabel("Doe, Jane", "2024-01-15 CT ABD")),
    ({"PatientName": "Doe^Jane", "StudyDescription": "CT ABD [/w contrast]"},
     JobLabel("Doe, Jane", "CT ABD [/w contrast]")),  # no date: no leading space
    ({"PatientName": "<b>x</b>", "StudyDate": "2024-13-45"},
     JobLabel("<b>x</b>", "2024-13-45")),  # data, never markup; a bad DA shown as it came
    ({}, JobLabel("", "")),
])
def test_a_study_label_reads_as_a_person_reads_it(values: dict[str, str],
                                                   label: JobLabel) -> None:
    assert study_label(FindMatch(QueryLevel.STUDY, values)) == label


def test_a_series_label_names_the_study_and_the_series() -> None:
    study = FindMatch(QueryLevel.STUDY, {"PatientName": "Yamada^Tarou=山田^太郎",
                                         "StudyDate": "20240301", "StudyDescription": "MR"})
    series = FindMatch(QueryLevel.SERIES, {"SeriesNumber": "3", "Modality": "MR"})
    label = series_label(study, series)
    assert label.patient == "Yamada, Tarou (山田 太郎)"
    assert label.study == "2024-03-01 MR · series 3 MR"


def test_a_move_is_asked_in_the_model_the_pacs_accepted_last() -> None:
    models = ModelMemory()
    target = MoveTarget(STUDY_UID, patient_id="P1")
    first = move_request(models, NODE, target, "WS", Priority.HIGH)
    assert (first.model, first.other_models) == (QueryModel.STUDY, (QueryModel.PATIENT,))
    assert (first.destination, first.priority, first.target) == ("WS", Priority.HIGH, target)
    models.learn(NODE, QueryModel.PATIENT)
    again = move_request(models, NODE, target, "WS")
    assert (again.model, again.other_models) == (QueryModel.PATIENT, (QueryModel.STUDY,))
    assert again.priority is Priority.MEDIUM
