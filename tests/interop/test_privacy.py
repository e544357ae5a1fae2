"""No patient names or IDs reach the logs, even with our loggers and pynetdicom's at INFO."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from dicom_courier.core.dimse.engine import Courier
from dicom_courier.core.qr.query import FindQuery, MoveRequest, MoveTarget, QueryLevel, QueryModel
from tests.interop.conftest import node_for, run
from tests.peers import INTEROP_STUDIES


def test_find_and_move_log_no_patient_data(courier: Courier, orthanc: Any, storescp: Any,
                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="pynetdicom")  # as with `dicom-courier -v`
    node = node_for(orthanc)

    async def scenario() -> None:
        for model, level in ((QueryModel.STUDY, QueryLevel.STUDY),
                             (QueryModel.PATIENT, QueryLevel.PATIENT)):
            async for _ in courier.find(node, FindQuery(level, model, {"PatientName": "*"})):
                pass
        spec = INTEROP_STUDIES[0]
        await courier.move(node, MoveRequest(MoveTarget(spec.study_uid), "STORESCP")).run()
        await courier.move(node, MoveRequest(MoveTarget(spec.study_uid), "NOSUCHWS")).run()

    run(scenario())
    assert "Find Request" in caplog.text  # logging really was on (pynetdicom logs the request)
    for spec in INTEROP_STUDIES:
        family = spec.patient_name.split("^")[0]
        assert family not in caplog.text
        assert spec.patient_id not in caplog.text
