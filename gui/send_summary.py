"""What a send will do, in one line: "3 studies · 27 series · 4,812 images → WS-3".

The plan and its summary are engine values now (:mod:`dicom_courier.core.jobs.send_checks`, which
also decides what to ask before a send); this module keeps the window's old import path.
"""

from __future__ import annotations

from dicom_courier.core.jobs.send_checks import SendPlan, describe_plan

__all__ = ["SendPlan", "describe_plan"]
